/* ReduceLROnPlateau against torch.optim.lr_scheduler.ReduceLROnPlateau
   (PyTorch 1.13, tests/gen_plateau.py): long metric sequences with
   plateaus in every mode / threshold_mode combination, cooldown, min_lr,
   the eps guard, factor 0, patience 0, negative, NaN and infinite metrics;
   the rate and torch's best / num_bad_epochs / cooldown_counter after
   every step, bit for bit. Also the options rule, a rate set by hand,
   mixing it up with the other schedules, and bad arguments. */
#include "testutil.h"
#include "fixtures/plateau.h"

static bool same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void run_case(const plateau_case *c, const nn_reduce_lr_on_plateau_opts *opts)
{
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = c->lr});
    nn_lr_scheduler *s = nn_reduce_lr_on_plateau(o, opts);
    if (!s)
        fail_msg("%s: %s", c->name, nn_last_error());
    assert_true(nn_lr_scheduler_get_last_lr(s) == (double)c->lr);
    for (int i = 0; i < c->n; i++) {
        assert_int_equal(nn_optim_step(o), NN_OK);
        assert_int_equal(nn_reduce_lr_on_plateau_step(s, c->metrics[i]), NN_OK);
        double lr = nn_lr_scheduler_get_last_lr(s);
        nn_reduce_lr_on_plateau_state st;
        assert_int_equal(nn_reduce_lr_on_plateau_get_state(s, &st), NN_OK);
        if (lr != c->lrs[i] || nn_optim_get_lr(o) != (float)c->lrs[i] || !same_double(st.best, c->best[i]) ||
            st.num_bad_epochs != c->bad[i] || st.cooldown_counter != c->cooldown[i] || st.last_epoch != i + 1)
            fail_msg("%s step %d (metric %.17g): lr %.17g best %.17g bad %lld cooldown %lld; torch: lr %.17g best "
                     "%.17g bad %lld cooldown %lld",
                     c->name, i + 1, c->metrics[i], lr, st.best, (long long)st.num_bad_epochs,
                     (long long)st.cooldown_counter, c->lrs[i], c->best[i], (long long)c->bad[i],
                     (long long)c->cooldown[i]);
    }
    nn_lr_scheduler_free(s);
    nn_optim_free(o);
    nn_module_free(m);
}

static void test_sequences_match_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof plateau_cases / sizeof *plateau_cases; k++)
        run_case(&plateau_cases[k], &plateau_cases[k].opts);
}

static const plateau_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof plateau_cases / sizeof *plateau_cases; i++)
        if (strcmp(plateau_cases[i].name, name) == 0)
            return &plateau_cases[i];
    fail_msg("no case %s", name);
    return NULL;
}

/* NULL, the defaults and an empty hand-written struct are torch's
   defaults; hand-written options take 0 as the default where torch's is
   not 0, and as written where it is. */
static void test_defaults_and_options_rule(void **state)
{
    (void)state;
    const plateau_case *c = find_case("defaults_down");
    run_case(c, NULL);
    run_case(c, &(nn_reduce_lr_on_plateau_opts){0});
    nn_reduce_lr_on_plateau_opts d = nn_reduce_lr_on_plateau_defaults();
    assert_true(d.mode == NN_PLATEAU_MIN && d.factor == 0.1 && d.patience == 10 && d.threshold == 1e-4 &&
                d.threshold_mode == NN_THRESHOLD_REL && d.cooldown == 0 && d.min_lr == 0.0 && d.eps == 1e-8 &&
                d.from_defaults == NN_OPTS_FROM_DEFAULTS);
    run_case(c, &d);
    /* by hand: patience 3 in rel min mode */
    run_case(find_case("min_rel"), &(nn_reduce_lr_on_plateau_opts){.patience = 3});
    run_case(find_case("max_abs"), &(nn_reduce_lr_on_plateau_opts){.mode = NN_PLATEAU_MAX,
                                                                     .threshold_mode = NN_THRESHOLD_ABS,
                                                                     .threshold = 0.005,
                                                                     .patience = 2,
                                                                     .cooldown = 3});
}

/* Written by hand, patience (factor, threshold, eps) 0 is torch's default. */
static void test_hand_written_zero_is_default(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 1.0f});
    nn_lr_scheduler *s = nn_reduce_lr_on_plateau(o, &(nn_reduce_lr_on_plateau_opts){.patience = 0});
    nn_reduce_lr_on_plateau_state st;
    assert_int_equal(nn_reduce_lr_on_plateau_get_state(s, &st), NN_OK);
    assert_true(st.opts.patience == 10 && st.opts.factor == 0.1 && st.opts.threshold == 1e-4 && st.opts.eps == 1e-8);
    assert_true(st.best == INFINITY && st.num_bad_epochs == 0 && st.cooldown_counter == 0 && st.last_epoch == 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(nn_reduce_lr_on_plateau_step(s, 1.0), NN_OK);
    assert_true(nn_lr_scheduler_get_last_lr(s) == 1.0); /* 9 bad epochs */
    assert_int_equal(nn_reduce_lr_on_plateau_step(s, 1.0), NN_OK);
    assert_true(nn_lr_scheduler_get_last_lr(s) == 1.0); /* 10 */
    assert_int_equal(nn_reduce_lr_on_plateau_step(s, 1.0), NN_OK);
    assert_true(nn_lr_scheduler_get_last_lr(s) == 0.1); /* 11 > patience */
    nn_lr_scheduler_free(s);
    /* max mode starts from -inf */
    nn_reduce_lr_on_plateau_opts mx = nn_reduce_lr_on_plateau_defaults();
    mx.mode = NN_PLATEAU_MAX;
    s = nn_reduce_lr_on_plateau(o, &mx);
    assert_int_equal(nn_reduce_lr_on_plateau_get_state(s, &st), NN_OK);
    assert_true(st.best == -INFINITY);
    nn_lr_scheduler_free(s);
    nn_optim_free(o);
    nn_module_free(m);
}

/* A rate set on the optimizer between steps is the one reduced. */
static void test_rate_set_by_hand(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 1.0f});
    nn_reduce_lr_on_plateau_opts p = nn_reduce_lr_on_plateau_defaults();
    p.patience = 0;
    p.factor = 0.5;
    nn_lr_scheduler *s = nn_reduce_lr_on_plateau(o, &p);
    assert_int_equal(nn_reduce_lr_on_plateau_step(s, 1.0), NN_OK); /* better */
    assert_int_equal(nn_optim_set_lr(o, 0.25f), NN_OK);
    assert_int_equal(nn_reduce_lr_on_plateau_step(s, 1.0), NN_OK); /* bad: 0.25 * 0.5 */
    assert_true(nn_lr_scheduler_get_last_lr(s) == 0.125 && nn_optim_get_lr(o) == 0.125f);
    nn_lr_scheduler_free(s);
    nn_optim_free(o);
    nn_module_free(m);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    nn_optim *o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.5f});
    nn_reduce_lr_on_plateau_opts p = nn_reduce_lr_on_plateau_defaults();
    p.factor = 1.0;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("nn_reduce_lr_on_plateau", "Factor should be < 1.0", "got factor 1");
    p.factor = -0.5;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    p.factor = NAN;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    p = nn_reduce_lr_on_plateau_defaults();
    p.mode = (nn_plateau_mode)2;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("nn_reduce_lr_on_plateau", "mode 2 is unknown");
    p = nn_reduce_lr_on_plateau_defaults();
    p.threshold_mode = (nn_threshold_mode)5;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("threshold mode 5 is unknown");
    p = nn_reduce_lr_on_plateau_defaults();
    p.patience = -1;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("patience -1");
    p = nn_reduce_lr_on_plateau_defaults();
    p.cooldown = -3;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("cooldown -3");
    p = nn_reduce_lr_on_plateau_defaults();
    p.min_lr = -1e-3;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("finite min_lr >= 0");
    p = nn_reduce_lr_on_plateau_defaults();
    p.eps = INFINITY;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("finite eps >= 0");
    p = nn_reduce_lr_on_plateau_defaults();
    p.threshold = NAN;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("threshold");
    p = nn_reduce_lr_on_plateau_defaults();
    p.from_defaults = 99;
    assert_null(nn_reduce_lr_on_plateau(o, &p));
    assert_error_mentions("nn_reduce_lr_on_plateau_opts.from_defaults is 99");
    assert_null(nn_reduce_lr_on_plateau(NULL, NULL));
    assert_error_mentions("nn_reduce_lr_on_plateau", "optimizer is NULL");

    /* the kinds do not mix */
    nn_lr_scheduler *pl = nn_reduce_lr_on_plateau(o, NULL);
    nn_lr_scheduler *st = nn_step_lr(o, 2, 0.5);
    assert_int_equal(nn_lr_scheduler_step(pl), NN_EINVAL);
    assert_error_mentions("nn_lr_scheduler_step", "nn_reduce_lr_on_plateau_step");
    assert_int_equal(nn_reduce_lr_on_plateau_step(st, 1.0), NN_EINVAL);
    assert_error_mentions("nn_reduce_lr_on_plateau_step", "nn_lr_scheduler_step");
    nn_reduce_lr_on_plateau_state s;
    assert_int_equal(nn_reduce_lr_on_plateau_get_state(st, &s), NN_EINVAL);
    assert_int_equal(nn_reduce_lr_on_plateau_get_state(pl, NULL), NN_EINVAL);
    assert_int_equal(nn_reduce_lr_on_plateau_step(NULL, 1.0), NN_EINVAL);
    assert_int_equal(nn_reduce_lr_on_plateau_get_state(pl, &s), NN_OK);
    assert_true(s.last_epoch == 0); /* refused steps changed nothing */
    assert_true(nn_optim_get_lr(o) == 0.5f);
    nn_lr_scheduler_free(st);
    nn_lr_scheduler_free(pl);
    nn_optim_free(o);
    nn_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences_match_torch),
        cmocka_unit_test(test_defaults_and_options_rule),
        cmocka_unit_test(test_hand_written_zero_is_default),
        cmocka_unit_test(test_rate_set_by_hand),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
