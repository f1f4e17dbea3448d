/* Learning-rate schedulers against torch.optim.lr_scheduler (PyTorch 1.13,
   tests/gen_lr_scheduler.py): the rate after every step of StepLR,
   ExponentialLR and CosineAnnealingLR (past T_max, where it climbs back),
   an SGD run driven by StepLR, a rate set by hand in between, bad
   arguments. */
#include "testutil.h"
#include "fixtures/lr_scheduler.h"

/* torch keeps the rate as a double from its double initial value; ours
   starts from the optimizer's float, so the two agree to float precision */
static void check_sequence(nn_optim *o, nn_lr_scheduler *s, const double *want, int n, const char *what)
{
    assert_non_null(o);
    assert_non_null(s);
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            assert_int_equal(nn_optim_step(o), NN_OK);
            assert_int_equal(nn_lr_scheduler_step(s), NN_OK);
        }
        double got = nn_lr_scheduler_get_last_lr(s);
        if (!(fabs(got - want[i]) <= 1e-7 * fabs(want[i]) + 1e-12))
            fail_msg("%s step %d: lr %.17g, torch %.17g", what, i, got, want[i]);
        if (!(fabs((double)nn_optim_get_lr(o) - want[i]) <= 1e-7 * fabs(want[i]) + 1e-12))
            fail_msg("%s step %d: the optimizer has lr %.9g, torch %.17g", what, i, (double)nn_optim_get_lr(o),
                     want[i]);
    }
    nn_lr_scheduler_free(s);
    nn_optim_free(o);
}

static void test_sequences_match_torch(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f});
    check_sequence(o, nn_step_lr(o, 3, 0.1), lr_step, 13, "StepLR");
    o = nn_adam(m, NULL);
    check_sequence(o, nn_exponential_lr(o, 0.9), lr_exponential, 13, "ExponentialLR");
    o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f});
    check_sequence(o, nn_cosine_annealing_lr(o, 5, 1e-4), lr_cosine, 24, "CosineAnnealingLR");
    o = nn_adam(m, NULL);
    check_sequence(o, nn_cosine_annealing_lr(o, 4, 0.0), lr_cosine_zero, 11, "CosineAnnealingLR eta_min 0");
    nn_module_free(m);
}

/* SGD(momentum 0.9) with StepLR(2, 0.5) on fixed gradients, 7 steps */
static void test_sgd_with_step_lr_follows_torch(void **state)
{
    (void)state;
    nn_module *m = nn_linear(5, 1, false); /* weight [1, 5] */
    nn_param *p;
    assert_int_equal(nn_module_params(m, &p), 1);
    const float start[5] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f};
    memcpy(p[0].value->data, start, sizeof start);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.2f, .momentum = 0.9f});
    nn_lr_scheduler *s = nn_step_lr(o, 2, 0.5);
    assert_non_null(s);
    for (int step = 0; step < 7; step++) {
        memcpy(p[0].grad->data, sgd_steplr_grad, sizeof sgd_steplr_grad);
        assert_int_equal(nn_optim_step(o), NN_OK);
        assert_int_equal(nn_lr_scheduler_step(s), NN_OK);
        assert_close(p[0].value->data, sgd_steplr_params + 5 * step, 5, 1e-6, 1e-7);
    }
    nn_lr_scheduler_free(s);
    nn_optim_free(o);
    nn_module_free(m);
}

/* A rate set by hand becomes the current one, as torch's group["lr"]. */
static void test_rate_set_by_hand(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f});
    nn_lr_scheduler *s = nn_step_lr(o, 2, 0.5);
    assert_int_equal(nn_lr_scheduler_step(s), NN_OK); /* step 1: unchanged */
    assert_true(nn_optim_get_lr(o) == 0.1f);
    assert_int_equal(nn_optim_set_lr(o, 0.25f), NN_OK);
    assert_int_equal(nn_lr_scheduler_step(s), NN_OK); /* step 2: 0.25 * 0.5 */
    assert_true(nn_optim_get_lr(o) == 0.125f);
    assert_true(nn_lr_scheduler_get_last_lr(s) == 0.125);
    nn_lr_scheduler_free(s);
    nn_optim_free(o);
    nn_module_free(m);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f});
    assert_null(nn_step_lr(o, 0, 0.1f));
    assert_error_mentions("nn_step_lr", "step_size >= 1", "got 0");
    assert_null(nn_step_lr(o, 2, -1.0f));
    assert_null(nn_exponential_lr(o, NAN));
    assert_error_mentions("nn_exponential_lr", "gamma");
    assert_null(nn_cosine_annealing_lr(o, 0, 0.0f));
    assert_error_mentions("nn_cosine_annealing_lr", "T_max >= 1");
    assert_null(nn_cosine_annealing_lr(o, 5, INFINITY));
    assert_null(nn_step_lr(NULL, 2, 0.1f));
    assert_error_mentions("nn_step_lr", "optimizer is NULL");
    assert_int_equal(nn_lr_scheduler_step(NULL), NN_EINVAL);
    assert_true(isnan(nn_lr_scheduler_get_last_lr(NULL)));
    nn_lr_scheduler_free(NULL);
    assert_true(nn_optim_get_lr(o) == 0.1f); /* nothing changed it */
    nn_optim_free(o);
    nn_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences_match_torch),
        cmocka_unit_test(test_sgd_with_step_lr_follows_torch),
        cmocka_unit_test(test_rate_set_by_hand),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
