/* NLLLoss and CrossEntropyLoss with options (weight, ignore_index,
   reduction, label_smoothing) against PyTorch 1.13 (tests/gen_losses2.py):
   every option and their combinations, [C], [N, C] and [N, C, d1, d2]
   inputs, contiguous and strided, torch's NaN cases, nn_loss_values and
   nn_loss_backward_ex, finite-difference gradient checks, the options rule
   (from_defaults), and every refusal with its message. */
#include <stdlib.h>

#include "testutil.h"
#include "tensor/tensor_impl.h"
#include "fixtures/losses2.h"

#define RTOL 1e-5
#define ATOL 1e-6

static nn_loss *make_loss(const loss2_case *c)
{
    if (c->nll) {
        nn_nll_loss_opts o = nn_nll_loss_defaults();
        o.weight = c->weight;
        o.weight_count = c->weight_count;
        o.ignore_index = c->ignore_index;
        o.reduction = c->reduction;
        return nn_nll_loss_ex(&o);
    }
    nn_cross_entropy_loss_opts o = nn_cross_entropy_loss_defaults();
    o.weight = c->weight;
    o.weight_count = c->weight_count;
    o.ignore_index = c->ignore_index;
    o.reduction = c->reduction;
    o.label_smoothing = c->label_smoothing;
    return nn_cross_entropy_loss_ex(&o);
}

static void run_case(const loss2_case *c, bool strided)
{
    loss_ref r = {c->name, c->reduction, c->ndim, c->tdim, c->shape, c->tshape, c->pred, c->target, c->upstream,
                  c->value, c->values, c->n_values, c->grad, c->grad_ex};
    check_loss_case(make_loss(c), &r, strided, true, RTOL, ATOL);
}

static void test_cases_match_torch(void **state)
{
    (void)state;
    size_t n = sizeof loss2_cases / sizeof *loss2_cases;
    for (size_t i = 0; i < n; i++) {
        run_case(&loss2_cases[i], false);
        run_case(&loss2_cases[i], true);
    }
}

static const loss2_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof loss2_cases / sizeof *loss2_cases; i++)
        if (strcmp(loss2_cases[i].name, name) == 0)
            return &loss2_cases[i];
    fail_msg("no case %s", name);
    return NULL;
}

/* Central differences in float of nn_loss_forward's value against
   nn_loss_backward, for cases with every option. */
static void test_gradient_finite_differences(void **state)
{
    (void)state;
    const char *names[] = {"ce_ls_weight_ignore", "ce_kdim", "ce_ls_weight_ignore_sum", "nll_kdim",
                           "ce_ls_none", "nll_weight_ignore_sum", "ce_single"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const loss2_case *c = find_case(names[k]);
        nn_loss *l = make_loss(c);
        nn_tensor *p = nn_tensor_from(c->pred, c->ndim, c->shape);
        nn_tensor *t = nn_tensor_from(c->target, c->tdim, c->tshape);
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

/* nn_cross_entropy_loss() is the defaults: the old fixture cases agree, and
   so do NULL options and a hand-written empty struct. */
static void test_defaults(void **state)
{
    (void)state;
    const loss2_case *c = find_case("ce_default");
    nn_loss *ls[4] = {nn_cross_entropy_loss(), nn_cross_entropy_loss_ex(NULL),
                      nn_cross_entropy_loss_ex(&(nn_cross_entropy_loss_opts){0}),
                      nn_cross_entropy_loss_ex(&(nn_cross_entropy_loss_opts){.ignore_index = 0})};
    nn_tensor *p = nn_tensor_from(c->pred, c->ndim, c->shape);
    nn_tensor *t = nn_tensor_from(c->target, c->tdim, c->tshape);
    for (int k = 0; k < 4; k++) {
        assert_non_null(ls[k]);
        float v = nn_loss_forward(ls[k], p, t);
        close_nan(&v, &c->value, 1, RTOL, ATOL, "value", "ce defaults");
        close_nan(nn_loss_backward(ls[k])->data, c->grad, 35, RTOL, ATOL, "grad", "ce defaults");
        nn_loss_free(ls[k]);
    }
    const loss2_case *d = find_case("nll_default");
    nn_loss *ns[3] = {nn_nll_loss(), nn_nll_loss_ex(NULL), nn_nll_loss_ex(&(nn_nll_loss_opts){0})};
    nn_tensor *pn = nn_tensor_from(d->pred, d->ndim, d->shape);
    nn_tensor *tn = nn_tensor_from(d->target, d->tdim, d->tshape);
    for (int k = 0; k < 3; k++) {
        assert_non_null(ns[k]);
        float v = nn_loss_forward(ns[k], pn, tn);
        close_nan(&v, &d->value, 1, RTOL, ATOL, "value", "nll defaults");
        nn_loss_free(ns[k]);
    }
    nn_nll_loss_opts no = nn_nll_loss_defaults();
    assert_true(no.weight == NULL && no.weight_count == 0 && no.ignore_index == -100 &&
                no.reduction == NN_REDUCTION_MEAN && no.from_defaults == NN_OPTS_FROM_DEFAULTS);
    nn_cross_entropy_loss_opts co = nn_cross_entropy_loss_defaults();
    assert_true(co.weight == NULL && co.weight_count == 0 && co.ignore_index == -100 &&
                co.reduction == NN_REDUCTION_MEAN && co.label_smoothing == 0.0f &&
                co.from_defaults == NN_OPTS_FROM_DEFAULTS);
    nn_tensor_free(tn);
    nn_tensor_free(pn);
    nn_tensor_free(t);
    nn_tensor_free(p);
}

/* Written by hand, ignore_index 0 is torch's -100; from the defaults, 0
   ignores class 0. The weight is copied. */
static void test_options_rule(void **state)
{
    (void)state;
    float x[6] = {0.5f, -1.0f, 2.0f, 1.0f, 0.0f, -0.5f}, y[2] = {0.0f, 2.0f};
    nn_tensor *p = nn_tensor_from(x, NN_SHAPE(2, 3));
    nn_tensor *t = nn_tensor_from(y, NN_SHAPE(2));
    nn_loss *hand = nn_cross_entropy_loss_ex(&(nn_cross_entropy_loss_opts){.reduction = NN_REDUCTION_NONE});
    nn_cross_entropy_loss_opts o = nn_cross_entropy_loss_defaults();
    o.ignore_index = 0;
    o.reduction = NN_REDUCTION_NONE;
    nn_loss *zero = nn_cross_entropy_loss_ex(&o);
    assert_false(isnan(nn_loss_forward(hand, p, t)));
    assert_false(isnan(nn_loss_forward(zero, p, t)));
    assert_true(nn_loss_values(hand)->data[0] > 0.0f); /* class 0 counted */
    assert_true(nn_loss_values(zero)->data[0] == 0.0f); /* class 0 ignored */
    assert_true(nn_loss_values(zero)->data[1] == nn_loss_values(hand)->data[1]);
    for (int c = 0; c < 3; c++)
        assert_true(nn_loss_backward(zero)->data[c] == 0.0f);

    float w[3] = {1.0f, 2.0f, 3.0f};
    nn_nll_loss_opts no = nn_nll_loss_defaults();
    no.weight = w;
    no.weight_count = 3;
    nn_loss *nl = nn_nll_loss_ex(&no);
    w[2] = 100.0f; /* copied: no effect */
    float v = nn_loss_forward(nl, p, t);
    float want = (float)(-(1.0 * 0.5 + 3.0 * -0.5) / 4.0); /* weighted mean over w[0] + w[2] */
    assert_true(fabsf(v - want) < 1e-7f);
    nn_loss_free(nl);
    nn_loss_free(zero);
    nn_loss_free(hand);
    nn_tensor_free(t);
    nn_tensor_free(p);
}

#define EXPECT_FAIL(l, pred, target, ...)                           \
    do {                                                            \
        assert_true(isnan(nn_loss_forward((l), (pred), (target)))); \
        assert_error_mentions("nn_loss_forward", __VA_ARGS__);      \
    } while (0)

static void test_bad_options(void **state)
{
    (void)state;
    float w[3] = {1, 1, 1};
    nn_cross_entropy_loss_opts o = nn_cross_entropy_loss_defaults();
    o.label_smoothing = 1.5f;
    assert_null(nn_cross_entropy_loss_ex(&o));
    assert_error_mentions("nn_cross_entropy_loss_ex", "label_smoothing must be between 0.0 and 1.0. Got: 1.5");
    o.label_smoothing = -0.1f;
    assert_null(nn_cross_entropy_loss_ex(&o));
    assert_error_mentions("label_smoothing", "-0.1");
    o.label_smoothing = NAN;
    assert_null(nn_cross_entropy_loss_ex(&o));
    assert_error_mentions("label_smoothing", "nan");
    o.label_smoothing = 1.0f;
    nn_loss *ok = nn_cross_entropy_loss_ex(&o);
    assert_non_null(ok);
    nn_loss_free(ok);

    nn_nll_loss_opts n = nn_nll_loss_defaults();
    n.weight_count = 3;
    assert_null(nn_nll_loss_ex(&n));
    assert_error_mentions("nn_nll_loss_ex", "weight NULL with weight_count 3");
    n.weight = w;
    n.weight_count = 0;
    assert_null(nn_nll_loss_ex(&n));
    assert_error_mentions("nn_nll_loss_ex", "weight set with weight_count 0");
    n.weight_count = -2;
    assert_null(nn_nll_loss_ex(&n));
    assert_error_mentions("weight_count -2");
    n = nn_nll_loss_defaults();
    n.reduction = (nn_reduction)7;
    assert_null(nn_nll_loss_ex(&n));
    assert_error_mentions("nn_nll_loss_ex", "reduction 7");
    n = nn_nll_loss_defaults();
    n.from_defaults = 12345;
    assert_null(nn_nll_loss_ex(&n));
    assert_error_mentions("nn_nll_loss_ex", "nn_nll_loss_opts.from_defaults is 12345", "nn_nll_loss_defaults()");
    o = nn_cross_entropy_loss_defaults();
    o.from_defaults = 1;
    assert_null(nn_cross_entropy_loss_ex(&o));
    assert_error_mentions("nn_cross_entropy_loss_opts.from_defaults");
}

static void test_bad_input(void **state)
{
    (void)state;
    const loss2_case *c = find_case("ce_ls_weight_ignore");
    nn_cross_entropy_loss_opts o = nn_cross_entropy_loss_defaults();
    o.weight = c->weight;
    o.weight_count = 7;
    o.label_smoothing = 0.25f;
    nn_loss *l = nn_cross_entropy_loss_ex(&o);
    nn_tensor *p = nn_tensor_from(c->pred, NN_SHAPE(6, 7));
    nn_tensor *t = nn_tensor_from(c->target, NN_SHAPE(6));
    assert_null(nn_loss_values(l));
    assert_error_mentions("nn_loss_values", "CrossEntropyLoss", "before");
    assert_null(nn_loss_backward_ex(l, t));
    assert_error_mentions("nn_loss_backward_ex", "before");
    assert_false(isnan(nn_loss_forward(l, p, t)));

    /* weight of 7 for 6 classes */
    nn_tensor *p6 = nn_tensor_from(c->pred, NN_SHAPE(7, 6));
    nn_tensor *t7 = nn_tensor_new(NN_SHAPE(7));
    EXPECT_FAIL(l, p6, t7, "CrossEntropyLoss", "weight", "all 6 classes", "7 weights");
    /* out of range, not ignore_index */
    float bad[6];
    memcpy(bad, c->target, sizeof bad);
    bad[2] = 7.0f;
    nn_tensor *tb = nn_tensor_from(bad, NN_SHAPE(6));
    EXPECT_FAIL(l, p, tb, "target[2] = 7", "0..6", "ignore_index -100");
    tb->data[2] = -1.0f;
    EXPECT_FAIL(l, p, tb, "target[2] = -1");
    tb->data[2] = -100.5f;
    EXPECT_FAIL(l, p, tb, "target[2] = -100.5");
    tb->data[2] = -100.0f; /* ignored */
    assert_false(isnan(nn_loss_forward(l, p, tb)));
    assert_false(isnan(nn_loss_forward(l, p, t))); /* the good result checked below */
    /* K-dim: the multi-index */
    nn_tensor *pk = nn_tensor_new(NN_SHAPE(2, 7, 3));
    nn_tensor *tk = nn_tensor_new(NN_SHAPE(2, 3));
    tk->data[4] = 9.0f;
    EXPECT_FAIL(l, pk, tk, "target[1, 1] = 9", "[2, 7, 3]", "[2, 3]");
    nn_tensor *tk2 = nn_tensor_new(NN_SHAPE(2, 4));
    EXPECT_FAIL(l, pk, tk2, "logits of shape [2, 7, 3] expected target of shape [2, 3], got [2, 4]");
    nn_tensor *p0 = nn_tensor_new(0, NULL);
    EXPECT_FAIL(l, p0, p0, "[C], [N, C] or [N, C, d1, ...]", "got []");
    nn_tensor *pe = nn_tensor_new(NN_SHAPE(2, 7, 0));
    nn_tensor *te = nn_tensor_new(NN_SHAPE(2, 0));
    EXPECT_FAIL(l, pe, te, "empty");

    nn_loss *nll = nn_nll_loss();
    EXPECT_FAIL(nll, p0, p0, "NLLLoss", "log-probabilities");
    tb->data[2] = 7.0f;
    EXPECT_FAIL(nll, p, tb, "NLLLoss", "target[2] = 7", "log-probabilities of shape [6, 7]");
    nn_loss_free(nll);

    /* the last good result stands */
    close_nan(nn_loss_backward(l)->data, c->grad, 42, RTOL, ATOL, "grad", "after failures");
    close_nan(nn_loss_values(l)->data, c->values, 1, RTOL, ATOL, "values", "after failures");

    /* backward_ex: wrong shapes */
    nn_tensor *u2 = nn_tensor_new(NN_SHAPE(2));
    assert_null(nn_loss_backward_ex(l, u2));
    assert_error_mentions("nn_loss_backward_ex", "CrossEntropyLoss", "[]", "one element", "[2]");
    assert_null(nn_loss_backward_ex(l, NULL));
    assert_error_mentions("nn_loss_backward_ex", "grad_values");
    assert_null(nn_loss_backward_ex(NULL, u2));
    assert_null(nn_loss_values(NULL));

    nn_tensor_free(u2);
    nn_tensor_free(te);
    nn_tensor_free(pe);
    nn_tensor_free(p0);
    nn_tensor_free(tk2);
    nn_tensor_free(tk);
    nn_tensor_free(pk);
    nn_tensor_free(tb);
    nn_tensor_free(t7);
    nn_tensor_free(p6);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

/* reduction none: a [5] upstream of the wrong shape is refused; our own
   values fed back as the upstream gradient work. */
static void test_none_upstream(void **state)
{
    (void)state;
    const loss2_case *c = find_case("ce_ls_none");
    nn_cross_entropy_loss_opts o = nn_cross_entropy_loss_defaults();
    o.reduction = NN_REDUCTION_NONE;
    o.label_smoothing = 0.3f;
    nn_loss *l = nn_cross_entropy_loss_ex(&o);
    nn_tensor *p = nn_tensor_from(c->pred, NN_SHAPE(5, 7));
    nn_tensor *t = nn_tensor_from(c->target, NN_SHAPE(5));
    assert_false(isnan(nn_loss_forward(l, p, t)));
    nn_tensor *u = nn_tensor_new(NN_SHAPE(5, 1));
    assert_null(nn_loss_backward_ex(l, u));
    assert_error_mentions("nn_loss_backward_ex", "[5]", "[5, 1]");
    nn_tensor *vals = nn_loss_values(l);
    float want[35];
    for (int r = 0; r < 5; r++)
        for (int k = 0; k < 7; k++)
            want[r * 7 + k] = c->grad[r * 7 + k] * c->values[r];
    nn_tensor *gx = nn_loss_backward_ex(l, vals);
    assert_non_null(gx);
    close_nan(gx->data, want, 35, RTOL, ATOL, "grad_ex", "values fed back");
    /* the last backward_ex result fed back (as a [5] view of its first
       row... of its first 5 floats): read before it is overwritten */
    float first[5];
    memcpy(first, gx->data, sizeof first);
    nn_tensor *gv = nn_tensor_view_new(gx);
    gv->ndim = 1;
    gv->shape[0] = 5;
    gv->stride[0] = 1;
    for (int r = 0; r < 5; r++)
        for (int k = 0; k < 7; k++)
            want[r * 7 + k] = c->grad[r * 7 + k] * first[r];
    close_nan(nn_loss_backward_ex(l, gv)->data, want, 35, RTOL, ATOL, "grad_ex", "grad_ex fed back");
    nn_tensor_free(gv);
    nn_tensor_free(u);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    const char *names[] = {"ce_ls_weight_ignore_none", "nll_kdim", "ce_kdim"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const loss2_case *c = find_case(names[k]);
        nn_loss *l = make_loss(c);
        nn_tensor *po, *to, *uo;
        nn_tensor *p = spread_copy(c->pred, c->ndim, c->shape, &po);
        nn_tensor *t = spread_copy(c->target, c->tdim, c->tshape, &to);
        int udim = c->reduction == NN_REDUCTION_NONE ? c->tdim : 0;
        nn_tensor *u = spread_copy(c->upstream, udim, c->tshape, &uo);
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

/* Out of memory in forward (a bigger batch) or backward_ex: nothing changes. */
static void test_out_of_memory_keeps_state(void **state)
{
    (void)state;
    const loss2_case *c = find_case("ce_ls_weight_ignore_none");
    nn_loss *l = make_loss(c);
    nn_tensor *p = nn_tensor_from(c->pred, NN_SHAPE(6, 7));
    nn_tensor *t = nn_tensor_from(c->target, NN_SHAPE(6));
    assert_false(isnan(nn_loss_forward(l, p, t)));
    nn_tensor *bp = nn_tensor_new(NN_SHAPE(600, 7));
    nn_tensor *bt = nn_tensor_new(NN_SHAPE(600));
    nn_tensor *bu = nn_tensor_new(NN_SHAPE(600));
    nn_set_allocator(refusing_alloc, free);
    assert_true(isnan(nn_loss_forward(l, bp, bt)));
    nn_set_allocator(NULL, NULL);
    assert_error_mentions("out of memory");
    assert_int_equal(nn_loss_values(l)->shape[0], 6);
    close_nan(nn_loss_values(l)->data, c->values, 6, RTOL, ATOL, "values", "after OOM");
    close_nan(nn_loss_backward(l)->data, c->grad, 42, RTOL, ATOL, "grad", "after OOM");
    nn_tensor *u = nn_tensor_from(c->upstream, NN_SHAPE(6));
    nn_set_allocator(refusing_alloc, free);
    assert_null(nn_loss_backward_ex(l, u));
    nn_set_allocator(NULL, NULL);
    assert_error_mentions("nn_loss_backward_ex", "out of memory");
    close_nan(nn_loss_backward_ex(l, u)->data, c->grad_ex, 42, RTOL, ATOL, "grad_ex", "after OOM");
    nn_tensor_free(u);
    nn_tensor_free(bu);
    nn_tensor_free(bt);
    nn_tensor_free(bp);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

/* The MSE and BCE losses (no options) have 0-dim values and take a scalar
   upstream gradient too. */
static void test_values_of_other_losses(void **state)
{
    (void)state;
    float a[4] = {1, 2, 3, 4}, b[4] = {0, 2, 5, 4};
    nn_tensor *p = nn_tensor_from(a, NN_SHAPE(2, 2)), *t = nn_tensor_from(b, NN_SHAPE(2, 2));
    nn_loss *l = nn_mse_loss();
    float v = nn_loss_forward(l, p, t);
    assert_true(v == 1.25f);
    assert_int_equal(nn_loss_values(l)->ndim, 0);
    assert_true(nn_loss_values(l)->data[0] == 1.25f);
    float two = 2.0f;
    nn_tensor *u = nn_tensor_from(&two, 0, NULL);
    nn_tensor *gx = nn_loss_backward_ex(l, u);
    float want[4] = {1.0f, 0.0f, -2.0f, 0.0f}; /* 2 * 2 (p - t) / 4 */
    assert_close(gx->data, want, 4, 0.0, 0.0);
    nn_tensor_free(u);
    nn_loss_free(l);
    nn_tensor_free(t);
    nn_tensor_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_match_torch),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_options_rule),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_none_upstream),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_out_of_memory_keeps_state),
        cmocka_unit_test(test_values_of_other_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
