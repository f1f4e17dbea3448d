/* The elementwise losses with options -- L1Loss, SmoothL1Loss(beta),
   HuberLoss(delta), MSELoss and BCEWithLogitsLoss(weight, pos_weight) with
   every reduction -- against PyTorch 1.13 (tests/gen_losses3.py): 0-d to
   3-d inputs, contiguous and strided, ties at pred == target and
   |pred - target| == beta/delta, nn_loss_values and nn_loss_backward_ex,
   finite differences, the options rule (beta 0 by hand is the default,
   from the defaults it is L1), refusals with their messages, no
   allocation in steady state, out of memory. */
#include <stdlib.h>

#include "testutil.h"
#include "tensor/tensor_impl.h"
#include "fixtures/losses3.h"

#define RTOL 1e-5
#define ATOL 1e-6

static nn_loss *make_loss(const loss3_case *c)
{
    switch (c->kind) {
    case L3_MSE: {
        nn_mse_loss_opts o = nn_mse_loss_defaults();
        o.reduction = c->reduction;
        return nn_mse_loss_ex(&o);
    }
    case L3_L1: {
        nn_l1_loss_opts o = nn_l1_loss_defaults();
        o.reduction = c->reduction;
        return nn_l1_loss_ex(&o);
    }
    case L3_SMOOTH_L1: {
        nn_smooth_l1_loss_opts o = nn_smooth_l1_loss_defaults();
        o.reduction = c->reduction;
        o.beta = c->param;
        return nn_smooth_l1_loss_ex(&o);
    }
    case L3_HUBER: {
        nn_huber_loss_opts o = nn_huber_loss_defaults();
        o.reduction = c->reduction;
        o.delta = c->param;
        return nn_huber_loss_ex(&o);
    }
    default: {
        nn_bce_with_logits_loss_opts o = nn_bce_with_logits_loss_defaults();
        o.reduction = c->reduction;
        o.weight = c->weight;
        o.weight_count = c->weight_count;
        o.pos_weight = c->pos_weight;
        o.pos_weight_count = c->pos_weight_count;
        return nn_bce_with_logits_loss_ex(&o);
    }
    }
}

static void run_case(const loss3_case *c, bool strided)
{
    loss_ref r = {c->name, c->reduction, c->ndim, c->ndim, c->shape, c->shape, c->pred, c->target, c->upstream,
                  c->value, c->values, c->n_values, c->grad, c->grad_ex};
    check_loss_case(make_loss(c), &r, strided, false, RTOL, ATOL);
}

static void test_cases_match_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof loss3_cases / sizeof *loss3_cases; i++) {
        run_case(&loss3_cases[i], false);
        run_case(&loss3_cases[i], true);
    }
}

static const loss3_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof loss3_cases / sizeof *loss3_cases; i++)
        if (strcmp(loss3_cases[i].name, name) == 0)
            return &loss3_cases[i];
    fail_msg("no case %s", name);
    return NULL;
}

/* Central differences of nn_loss_forward's value against nn_loss_backward
   (away from the kinks: the cases without ties). */
static void test_gradient_finite_differences(void **state)
{
    (void)state;
    const char *names[] = {"smooth_l1_big_beta", "bce_both_sum", "bce_weight_mean", "mse_odd", "bce_pos_weight_none"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const loss3_case *c = find_case(names[k]);
        nn_loss *l = make_loss(c);
        nn_tensor *p = nn_tensor_from(c->pred, c->ndim, c->shape);
        nn_tensor *t = nn_tensor_from(c->target, c->ndim, c->shape);
        assert_false(isnan(nn_loss_forward(l, p, t)));
        int64_t n = nn_tensor_numel(p);
        float *analytic = malloc((size_t)n * sizeof *analytic);
        memcpy(analytic, nn_loss_backward(l)->data, (size_t)n * sizeof *analytic);
        const float h = 1e-2f;
        for (int64_t i = 0; i < n; i++) {
            float keep = p->data[i];
            p->data[i] = keep + h;
            double up = nn_loss_forward(l, p, t);
            p->data[i] = keep - h;
            double down = nn_loss_forward(l, p, t);
            p->data[i] = keep;
            double numeric = (up - down) / (2.0 * h);
            if (fabs(numeric - analytic[i]) > 2e-3 + 2e-2 * fabs(numeric))
                fail_msg("%s: d/dpred[%lld]: numeric %.6g, analytic %.6g", c->name, (long long)i, numeric,
                         (double)analytic[i]);
        }
        free(analytic);
        nn_tensor_free(t);
        nn_tensor_free(p);
        nn_loss_free(l);
    }
}

/* value of a loss on a case's data (contiguous) */
static float value_on(nn_loss *l, const loss3_case *c)
{
    assert_non_null(l);
    nn_tensor *p = nn_tensor_from(c->pred, c->ndim, c->shape);
    nn_tensor *t = nn_tensor_from(c->target, c->ndim, c->shape);
    float v = nn_loss_forward(l, p, t);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
    return v;
}

/* The no-argument constructors, NULL options and empty hand-written
   structs are the defaults; a hand-written beta/delta 0 is 1.0; from the
   defaults beta 0 is L1's value. */
static void test_defaults_and_options_rule(void **state)
{
    (void)state;
    struct {
        const char *name;
        nn_loss *ls[4];
    } sets[] = {
        {"mse_mean", {nn_mse_loss(), nn_mse_loss_ex(NULL), nn_mse_loss_ex(&(nn_mse_loss_opts){0}), NULL}},
        {"l1_mean", {nn_l1_loss(), nn_l1_loss_ex(NULL), nn_l1_loss_ex(&(nn_l1_loss_opts){0}), NULL}},
        {"smooth_l1_mean",
         {nn_smooth_l1_loss(), nn_smooth_l1_loss_ex(NULL), nn_smooth_l1_loss_ex(&(nn_smooth_l1_loss_opts){0}),
          nn_smooth_l1_loss_ex(&(nn_smooth_l1_loss_opts){.beta = 1.0f})}},
        {"huber_mean",
         {nn_huber_loss(), nn_huber_loss_ex(NULL), nn_huber_loss_ex(&(nn_huber_loss_opts){0}),
          nn_huber_loss_ex(&(nn_huber_loss_opts){.delta = 1.0f})}},
        {"bce_mean",
         {nn_bce_with_logits_loss(), nn_bce_with_logits_loss_ex(NULL),
          nn_bce_with_logits_loss_ex(&(nn_bce_with_logits_loss_opts){0}), NULL}},
    };
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        const loss3_case *c = find_case(sets[s].name);
        for (int k = 0; k < 4; k++)
            if (sets[s].ls[k]) {
                float v = value_on(sets[s].ls[k], c);
                close_nan(&v, &c->value, 1, RTOL, ATOL, "value", sets[s].name);
            }
    }
    /* hand-written reduction and beta */
    const loss3_case *c = find_case("smooth_l1_beta_sum");
    float v =
        value_on(nn_smooth_l1_loss_ex(&(nn_smooth_l1_loss_opts){.reduction = NN_REDUCTION_SUM, .beta = 0.5f}), c);
    close_nan(&v, &c->value, 1, RTOL, ATOL, "value", "hand-written beta 0.5");
    c = find_case("huber_delta_none");
    v = value_on(nn_huber_loss_ex(&(nn_huber_loss_opts){.reduction = NN_REDUCTION_NONE, .delta = 2.5f}), c);
    close_nan(&v, &c->value, 1, RTOL, ATOL, "value", "hand-written delta 2.5");
    /* beta 0 from the defaults: L1's value */
    c = find_case("smooth_l1_beta0_mean");
    nn_smooth_l1_loss_opts so = nn_smooth_l1_loss_defaults();
    so.beta = 0.0f;
    float l1 = value_on(nn_l1_loss(), c), sm = value_on(nn_smooth_l1_loss_ex(&so), c);
    assert_true(fabsf(l1 - sm) <= 1e-6f * fabsf(l1));
    /* by hand it is beta 1 */
    float one = value_on(nn_smooth_l1_loss_ex(&(nn_smooth_l1_loss_opts){.reduction = NN_REDUCTION_MEAN}), c);
    float one_d = value_on(nn_smooth_l1_loss(), c);
    assert_true(one == one_d && one != sm);

    nn_smooth_l1_loss_opts sd = nn_smooth_l1_loss_defaults();
    assert_true(sd.reduction == NN_REDUCTION_MEAN && sd.beta == 1.0f && sd.from_defaults == NN_OPTS_FROM_DEFAULTS);
    nn_huber_loss_opts hd = nn_huber_loss_defaults();
    assert_true(hd.reduction == NN_REDUCTION_MEAN && hd.delta == 1.0f && hd.from_defaults == NN_OPTS_FROM_DEFAULTS);
    nn_bce_with_logits_loss_opts bd = nn_bce_with_logits_loss_defaults();
    assert_true(bd.weight == NULL && bd.weight_count == 0 && bd.pos_weight == NULL && bd.pos_weight_count == 0 &&
                bd.reduction == NN_REDUCTION_MEAN && bd.from_defaults == NN_OPTS_FROM_DEFAULTS);
    assert_true(nn_mse_loss_defaults().reduction == NN_REDUCTION_MEAN);
    assert_true(nn_l1_loss_defaults().from_defaults == NN_OPTS_FROM_DEFAULTS);

    /* the weights are copied */
    c = find_case("bce_both_sum");
    float w[4], q[4];
    memcpy(w, c->weight, sizeof w);
    memcpy(q, c->pos_weight, sizeof q);
    nn_bce_with_logits_loss_opts bo = nn_bce_with_logits_loss_defaults();
    bo.weight = w, bo.weight_count = 4, bo.pos_weight = q, bo.pos_weight_count = 4;
    bo.reduction = NN_REDUCTION_SUM;
    nn_loss *bl = nn_bce_with_logits_loss_ex(&bo);
    w[0] = q[0] = 100.0f;
    v = value_on(bl, c);
    close_nan(&v, &c->value, 1, RTOL, ATOL, "value", "weights copied");
}

static void test_bad_options(void **state)
{
    (void)state;
    nn_smooth_l1_loss_opts s = nn_smooth_l1_loss_defaults();
    s.beta = -0.5f;
    assert_null(nn_smooth_l1_loss_ex(&s));
    assert_error_mentions("nn_smooth_l1_loss_ex", "negative values for beta", "-0.5");
    s.beta = NAN;
    assert_null(nn_smooth_l1_loss_ex(&s));
    assert_error_mentions("nn_smooth_l1_loss_ex", "nan");
    s.beta = INFINITY;
    assert_null(nn_smooth_l1_loss_ex(&s));
    nn_huber_loss_opts h = nn_huber_loss_defaults();
    h.delta = 0.0f;
    assert_null(nn_huber_loss_ex(&h));
    assert_error_mentions("nn_huber_loss_ex", "non-positive values for delta", "got 0");
    h.delta = -1.0f;
    assert_null(nn_huber_loss_ex(&h));
    h.delta = NAN;
    assert_null(nn_huber_loss_ex(&h));
    assert_null(nn_huber_loss_ex(&(nn_huber_loss_opts){.delta = -2.0f}));
    assert_error_mentions("nn_huber_loss_ex", "-2");
    nn_l1_loss_opts l = nn_l1_loss_defaults();
    l.reduction = (nn_reduction)3;
    assert_null(nn_l1_loss_ex(&l));
    assert_error_mentions("nn_l1_loss_ex", "reduction 3");
    assert_null(nn_mse_loss_ex(&(nn_mse_loss_opts){.reduction = (nn_reduction)-1}));
    assert_error_mentions("nn_mse_loss_ex", "reduction -1");
    nn_mse_loss_opts m = nn_mse_loss_defaults();
    m.from_defaults = 7;
    assert_null(nn_mse_loss_ex(&m));
    assert_error_mentions("nn_mse_loss_ex", "nn_mse_loss_opts.from_defaults is 7", "nn_mse_loss_defaults()");
    assert_null(nn_huber_loss_ex(&(nn_huber_loss_opts){.from_defaults = 1}));
    assert_error_mentions("nn_huber_loss_opts.from_defaults");
    float w[2] = {1, 2};
    nn_bce_with_logits_loss_opts b = nn_bce_with_logits_loss_defaults();
    b.weight_count = 2;
    assert_null(nn_bce_with_logits_loss_ex(&b));
    assert_error_mentions("nn_bce_with_logits_loss_ex", "weight NULL with weight_count 2");
    b = nn_bce_with_logits_loss_defaults();
    b.pos_weight = w;
    assert_null(nn_bce_with_logits_loss_ex(&b));
    assert_error_mentions("nn_bce_with_logits_loss_ex", "pos_weight set with pos_weight_count 0");
    b.pos_weight_count = -1;
    assert_null(nn_bce_with_logits_loss_ex(&b));
    assert_error_mentions("pos_weight_count -1");
    b = nn_bce_with_logits_loss_defaults();
    b.reduction = (nn_reduction)9;
    assert_null(nn_bce_with_logits_loss_ex(&b));
    assert_error_mentions("nn_bce_with_logits_loss_ex", "reduction 9");
}

#define EXPECT_FAIL(l, pred, target, ...)                           \
    do {                                                            \
        assert_true(isnan(nn_loss_forward((l), (pred), (target)))); \
        assert_error_mentions("nn_loss_forward", __VA_ARGS__);      \
    } while (0)

/* Shapes must match (no broadcasting), nothing empty, the BCE weights
   broadcast along the last dimension; a failure keeps the last result. */
static void test_bad_input(void **state)
{
    (void)state;
    const loss3_case *c = find_case("bce_both_none");
    nn_loss *l = make_loss(c);
    nn_tensor *p = nn_tensor_from(c->pred, c->ndim, c->shape);
    nn_tensor *t = nn_tensor_from(c->target, c->ndim, c->shape);
    assert_null(nn_loss_values(l));
    assert_error_mentions("nn_loss_values", "BCEWithLogitsLoss", "before");
    assert_false(isnan(nn_loss_forward(l, p, t)));
    nn_tensor *p5 = nn_tensor_new(NN_SHAPE(2, 5));
    EXPECT_FAIL(l, p5, p5, "BCEWithLogitsLoss", "weight of 4 values", "[2, 5]", "1 or the last dimension's 5");
    nn_tensor *t3 = nn_tensor_new(NN_SHAPE(2, 3, 1));
    EXPECT_FAIL(l, p, t3, "BCEWithLogitsLoss", "[2, 3, 4]", "[2, 3, 1]", "no broadcasting");
    nn_tensor *e = nn_tensor_new(NN_SHAPE(0, 4));
    EXPECT_FAIL(l, e, e, "empty");
    close_nan(nn_loss_values(l)->data, c->values, c->n_values, RTOL, ATOL, "values", "after failures");
    close_nan(nn_loss_backward(l)->data, c->grad, 24, RTOL, ATOL, "grad", "after failures");
    nn_tensor *u = nn_tensor_new(NN_SHAPE(2, 3));
    assert_null(nn_loss_backward_ex(l, u));
    assert_error_mentions("nn_loss_backward_ex", "[2, 3, 4]", "[2, 3]");

    nn_loss *h = nn_huber_loss();
    EXPECT_FAIL(h, p, t3, "HuberLoss", "no broadcasting");
    EXPECT_FAIL(h, e, e, "HuberLoss", "empty");
    nn_loss_free(h);
    nn_loss *s = nn_smooth_l1_loss();
    EXPECT_FAIL(s, p5, p, "SmoothL1Loss", "[2, 5]", "[2, 3, 4]");
    nn_loss_free(s);
    nn_loss *a = nn_l1_loss();
    EXPECT_FAIL(a, p, NULL, "target");
    assert_null(nn_loss_backward(a));
    assert_error_mentions("nn_loss_backward", "L1Loss", "before");
    nn_loss_free(a);
    nn_tensor_free(u);
    nn_tensor_free(e);
    nn_tensor_free(t3);
    nn_tensor_free(p5);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    const char *names[] = {"bce_both_none", "huber_3d_none", "smooth_l1_3d", "l1_mean", "mse_none"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const loss3_case *c = find_case(names[k]);
        nn_loss *l = make_loss(c);
        nn_tensor *po, *to, *uo;
        nn_tensor *p = spread_copy(c->pred, c->ndim, c->shape, &po);
        nn_tensor *t = spread_copy(c->target, c->ndim, c->shape, &to);
        int udim = c->reduction == NN_REDUCTION_NONE ? c->ndim : 0;
        nn_tensor *u = spread_copy(c->upstream, udim, c->shape, &uo);
        assert_false(isnan(nn_loss_forward(l, p, t)));
        assert_non_null(nn_loss_backward_ex(l, u));
        tu_allocs = 0;
        nn_set_allocator(tu_alloc, free);
        for (int i = 0; i < 3; i++) {
            assert_false(isnan(nn_loss_forward(l, p, t)));
            assert_non_null(nn_loss_backward(l));
            assert_non_null(nn_loss_values(l));
            assert_non_null(nn_loss_backward_ex(l, u));
        }
        nn_set_allocator(NULL, NULL);
        assert_int_equal(tu_allocs, 0);
        nn_tensor_free(u);
        nn_tensor_free(uo);
        nn_tensor_free(t);
        nn_tensor_free(to);
        nn_tensor_free(p);
        nn_tensor_free(po);
        nn_loss_free(l);
    }
}

/* Out of memory: constructors fail cleanly; a forward at a bigger shape
   changes nothing. */
static void test_out_of_memory(void **state)
{
    (void)state;
    float w[2] = {1, 2};
    nn_set_allocator(refusing_alloc, free);
    assert_null(nn_l1_loss());
    assert_null(nn_bce_with_logits_loss_ex(&(nn_bce_with_logits_loss_opts){.weight = w, .weight_count = 2}));
    nn_set_allocator(NULL, NULL);
    assert_error_mentions("out of memory");
    const loss3_case *c = find_case("huber_delta_none");
    nn_loss *l = make_loss(c);
    nn_tensor *p = nn_tensor_from(c->pred, c->ndim, c->shape);
    nn_tensor *t = nn_tensor_from(c->target, c->ndim, c->shape);
    assert_false(isnan(nn_loss_forward(l, p, t)));
    nn_tensor *big = nn_tensor_new(NN_SHAPE(300, 40));
    nn_set_allocator(refusing_alloc, free);
    assert_true(isnan(nn_loss_forward(l, big, big)));
    nn_set_allocator(NULL, NULL);
    assert_error_mentions("nn_loss_forward", "HuberLoss", "out of memory");
    assert_int_equal(nn_loss_values(l)->shape[0], 3);
    close_nan(nn_loss_values(l)->data, c->values, 12, RTOL, ATOL, "values", "after OOM");
    close_nan(nn_loss_backward(l)->data, c->grad, 12, RTOL, ATOL, "grad", "after OOM");
    nn_tensor_free(big);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_match_torch),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_defaults_and_options_rule),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
