/* Losses: values and gradients against PyTorch 1.13 (tests/gen_optim.py),
   strided inputs, large logits, every bad input with its message and an
   unchanged loss state, and no allocation in steady state. */
#include <stdlib.h>

#include "testutil.h"
#include "tensor/tensor_impl.h"
#include "fixtures/loss.h"

#define RTOL 1e-4
#define ATOL 1e-7

typedef nn_loss *(*loss_ctor)(void);

/* Forward + backward on pred (contiguous, or the transposed view of
   pred_t when given) and compare with torch. */
static void check_case(loss_ctor make, const float *pred, const float *pred_t, int ndim,
                       const int64_t *shape, const float *target, int tdim,
                       const int64_t *tshape, float want, const float *want_grad)
{
    nn_loss *l = make();
    assert_non_null(l);
    nn_tensor *p, *owner = NULL;
    if (pred_t) {
        owner = nn_tensor_from(pred_t, NN_SHAPE(shape[1], shape[0]));
        p = nn_tensor_transpose(owner, 0, 1);
        assert_false(nn_tensor_is_contiguous(p));
    } else {
        p = nn_tensor_from(pred, ndim, shape);
    }
    nn_tensor *t = nn_tensor_from(target, tdim, tshape);
    assert_non_null(p);
    assert_non_null(t);
    float v = nn_loss_forward(l, p, t);
    assert_close(&v, &want, 1, RTOL, ATOL);
    nn_tensor *g = nn_loss_backward(l);
    assert_non_null(g);
    assert_true(nn_tensor_same_shape(g, p));
    int64_t n = nn_tensor_numel(p);
    assert_close(g->data, want_grad, n, RTOL, ATOL);
    bool nonzero = false;
    for (int64_t i = 0; i < n; i++)
        nonzero |= g->data[i] != 0.0f;
    assert_true(nonzero);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_tensor_free(owner);
    nn_loss_free(l);
}

static void test_mse(void **state)
{
    (void)state;
    check_case(nn_mse_loss, mse_pred, NULL, NN_SHAPE(3, 4), mse_target, NN_SHAPE(3, 4),
               mse_value, mse_grad);
    check_case(nn_mse_loss, NULL, mse_pred_t, NN_SHAPE(3, 4), mse_target, NN_SHAPE(3, 4),
               mse_value, mse_grad);
}

static void test_cross_entropy(void **state)
{
    (void)state;
    check_case(nn_cross_entropy_loss, ce_pred, NULL, NN_SHAPE(5, 7), ce_target, NN_SHAPE(5),
               ce_value, ce_grad);
    check_case(nn_cross_entropy_loss, NULL, ce_pred_t, NN_SHAPE(5, 7), ce_target, NN_SHAPE(5),
               ce_value, ce_grad);
    check_case(nn_cross_entropy_loss, ce_big_pred, NULL, NN_SHAPE(3, 3), ce_big_target,
               NN_SHAPE(3), ce_big_value, ce_big_grad);
    check_case(nn_cross_entropy_loss, NULL, ce_big_pred_t, NN_SHAPE(3, 3), ce_big_target,
               NN_SHAPE(3), ce_big_value, ce_big_grad);
    check_case(nn_cross_entropy_loss, ce_single_pred, NULL, NN_SHAPE(6), ce_single_target, 0,
               NULL, ce_single_value, ce_single_grad);
}

static void test_bce_with_logits(void **state)
{
    (void)state;
    check_case(nn_bce_with_logits_loss, bce_pred, NULL, NN_SHAPE(2, 5), bce_target,
               NN_SHAPE(2, 5), bce_value, bce_grad);
    check_case(nn_bce_with_logits_loss, NULL, bce_pred_t, NN_SHAPE(2, 5), bce_target,
               NN_SHAPE(2, 5), bce_value, bce_grad);
    check_case(nn_bce_with_logits_loss, bce_rand_pred, NULL, NN_SHAPE(4, 3), bce_rand_target,
               NN_SHAPE(4, 3), bce_rand_value, bce_rand_grad);
}

/* A strided target (a column of a matrix) for cross-entropy and MSE. */
static void test_strided_target(void **state)
{
    (void)state;
    float cols[10];
    for (int i = 0; i < 5; i++) {
        cols[2 * i] = ce_target[i];
        cols[2 * i + 1] = -7.5f; /* garbage the view must skip */
    }
    nn_tensor *m = nn_tensor_from(cols, NN_SHAPE(5, 2));
    /* column 0 as a [5] view with stride 2 (borrowing m's storage) */
    nn_tensor col = *m;
    col.ndim = 1;
    col.shape[0] = 5;
    col.stride[0] = 2;
    nn_tensor *p = nn_tensor_from(ce_pred, NN_SHAPE(5, 7));
    nn_loss *l = nn_cross_entropy_loss();
    float v = nn_loss_forward(l, p, &col);
    assert_close(&v, &ce_value, 1, RTOL, ATOL);
    assert_close(nn_loss_backward(l)->data, ce_grad, 35, RTOL, ATOL);
    nn_loss_free(l);
    nn_tensor_free(p);
    nn_tensor_free(m);
}

/* Fills a loss with a first good result, then checks that a bad call
   fails with NaN, mentions every fragment and leaves the gradient alone. */
static void expect_unchanged(nn_loss *l, const float *want_grad, int64_t n)
{
    nn_tensor *g = nn_loss_backward(l);
    assert_non_null(g);
    assert_int_equal(nn_tensor_numel(g), n);
    assert_close(g->data, want_grad, n, RTOL, ATOL);
}

#define EXPECT_FAIL(l, pred, target, ...)                        \
    do {                                                        \
        assert_true(isnan(nn_loss_forward((l), (pred), (target)))); \
        assert_error_mentions("nn_loss_forward", __VA_ARGS__);  \
    } while (0)

static void test_cross_entropy_bad_input(void **state)
{
    (void)state;
    nn_loss *l = nn_cross_entropy_loss();
    nn_tensor *p = nn_tensor_from(ce_pred, NN_SHAPE(5, 7));
    nn_tensor *t = nn_tensor_from(ce_target, NN_SHAPE(5));
    assert_null(nn_loss_backward(l));
    assert_error_mentions("nn_loss_backward", "before");
    float v = nn_loss_forward(l, p, t);
    assert_false(isnan(v));

    nn_tensor *t4 = nn_tensor_from(ce_target, NN_SHAPE(4));
    EXPECT_FAIL(l, p, t4, "CrossEntropyLoss", "[5, 7]", "[4]", "[5]");
    nn_tensor *t2 = nn_tensor_from(ce_target, NN_SHAPE(5, 1));
    EXPECT_FAIL(l, p, t2, "[5, 1]");
    nn_tensor *p3 = nn_tensor_new(NN_SHAPE(2, 3, 4)); /* [N, C, d1] needs target [N, d1] */
    EXPECT_FAIL(l, p3, t, "[2, 3, 4]", "expected target of shape [2, 4]", "[5]");
    nn_tensor *p1 = nn_tensor_from(ce_pred, NN_SHAPE(7));
    EXPECT_FAIL(l, p1, t, "[7]", "[5]"); /* [C] logits need a scalar target */

    float bad[5];
    memcpy(bad, ce_target, sizeof bad);
    bad[3] = 7.0f; /* == C */
    nn_tensor *tb = nn_tensor_from(bad, NN_SHAPE(5));
    EXPECT_FAIL(l, p, tb, "target[3] = 7", "0..6", "[5, 7]");
    tb->data[3] = -1.0f;
    EXPECT_FAIL(l, p, tb, "target[3] = -1");
    tb->data[3] = 2.5f;
    EXPECT_FAIL(l, p, tb, "target[3] = 2.5", "class index");
    tb->data[3] = NAN;
    EXPECT_FAIL(l, p, tb, "target[3] = nan");
    tb->data[3] = 1e10f;
    EXPECT_FAIL(l, p, tb, "target[3]");

    nn_tensor *p0 = nn_tensor_new(NN_SHAPE(0, 7));
    nn_tensor *t0 = nn_tensor_new(NN_SHAPE(0));
    EXPECT_FAIL(l, p0, t0, "empty", "[0, 7]");

    EXPECT_FAIL(l, NULL, t, "prediction", "NULL");
    EXPECT_FAIL(l, p, NULL, "target", "NULL");
    assert_true(isnan(nn_loss_forward(NULL, p, t)));
    assert_error_mentions("nn_loss_forward", "loss is NULL");
    assert_null(nn_loss_backward(NULL));

    expect_unchanged(l, ce_grad, 35);
    nn_tensor_free(t0);
    nn_tensor_free(p0);
    nn_tensor_free(tb);
    nn_tensor_free(p1);
    nn_tensor_free(p3);
    nn_tensor_free(t2);
    nn_tensor_free(t4);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
    nn_loss_free(NULL);
}

static void test_elementwise_bad_input(void **state)
{
    (void)state;
    loss_ctor makes[2] = {nn_mse_loss, nn_bce_with_logits_loss};
    const char *names[2] = {"MSELoss", "BCEWithLogitsLoss"};
    for (int k = 0; k < 2; k++) {
        nn_loss *l = makes[k]();
        assert_null(nn_loss_backward(l));
        assert_error_mentions("nn_loss_backward", names[k]);
        nn_tensor *p = nn_tensor_from(mse_pred, NN_SHAPE(3, 4));
        nn_tensor *t = nn_tensor_from(mse_target, NN_SHAPE(3, 4));
        assert_false(isnan(nn_loss_forward(l, p, t)));
        float want[12];
        memcpy(want, nn_loss_backward(l)->data, sizeof want);

        nn_tensor *t12 = nn_tensor_from(mse_target, NN_SHAPE(12));
        EXPECT_FAIL(l, p, t12, names[k], "[3, 4]", "[12]", "broadcast");
        nn_tensor *t1 = nn_tensor_from(mse_target, NN_SHAPE(1, 4)); /* torch would broadcast */
        EXPECT_FAIL(l, p, t1, "[1, 4]");
        nn_tensor *e = nn_tensor_new(NN_SHAPE(3, 0));
        EXPECT_FAIL(l, e, e, "empty", "[3, 0]");
        EXPECT_FAIL(l, p, NULL, "NULL");
        expect_unchanged(l, want, 12);
        /* a new good call at another shape replaces the gradient */
        nn_tensor *p2 = nn_tensor_from(mse_pred, NN_SHAPE(2));
        assert_false(isnan(nn_loss_forward(l, p2, p2)));
        assert_int_equal(nn_tensor_numel(nn_loss_backward(l)), 2);
        nn_tensor_free(p2);
        nn_tensor_free(e);
        nn_tensor_free(t1);
        nn_tensor_free(t12);
        nn_tensor_free(t);
        nn_tensor_free(p);
        nn_loss_free(l);
    }
}

/* The last gradient passed back in as prediction or target (the loss
   writes its new gradient where that data lives) still gives torch's value. */
static void test_gradient_fed_back_as_input(void **state)
{
    (void)state;
    nn_loss *l = nn_mse_loss();
    nn_tensor *p = nn_tensor_from(mse_pred, NN_SHAPE(3, 4));
    nn_tensor *t = nn_tensor_from(mse_target, NN_SHAPE(3, 4));
    assert_false(isnan(nn_loss_forward(l, p, t)));
    nn_tensor *g = nn_loss_backward(l);
    float gd[12], want[12], want_grad[12];
    memcpy(gd, g->data, sizeof gd);
    double sum = 0.0;
    for (int i = 0; i < 12; i++) {
        double d = (double)mse_pred[i] - gd[i];
        sum += d * d;
        want_grad[i] = (float)(2.0 * d / 12.0);
    }
    float want_value = (float)(sum / 12.0);
    float v = nn_loss_forward(l, p, g); /* target = our own gradient */
    assert_close(&v, &want_value, 1, RTOL, ATOL);
    assert_close(nn_loss_backward(l)->data, want_grad, 12, RTOL, ATOL);
    memcpy(gd, nn_loss_backward(l)->data, sizeof gd);
    for (int i = 0; i < 12; i++)
        want[i] = (float)(2.0 * ((double)gd[i] - mse_target[i]) / 12.0);
    g = nn_loss_backward(l);
    assert_false(isnan(nn_loss_forward(l, g, t))); /* prediction = our own gradient */
    assert_close(nn_loss_backward(l)->data, want, 12, RTOL, ATOL);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

/* After the first call at a shape, forward + backward allocate nothing,
   also for strided inputs (scratch copies are reused). */
static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    loss_ctor makes[3] = {nn_mse_loss, nn_cross_entropy_loss, nn_bce_with_logits_loss};
    nn_tensor *owner = nn_tensor_from(ce_pred_t, NN_SHAPE(7, 5));
    nn_tensor *strided = nn_tensor_transpose(owner, 0, 1);
    nn_tensor *ce_t = nn_tensor_from(ce_target, NN_SHAPE(5));
    nn_tensor *soft = nn_tensor_new(NN_SHAPE(5, 7));
    nn_tensor_fill(soft, 0.25f);
    for (int k = 0; k < 3; k++) {
        nn_loss *l = makes[k]();
        const nn_tensor *t = k == 1 ? ce_t : soft;
        assert_false(isnan(nn_loss_forward(l, strided, t)));
        tu_allocs = 0;
        nn_set_allocator(tu_alloc, free);
        for (int i = 0; i < 3; i++) {
            assert_false(isnan(nn_loss_forward(l, strided, t)));
            assert_non_null(nn_loss_backward(l));
        }
        nn_set_allocator(NULL, NULL);
        assert_int_equal(tu_allocs, 0);
        nn_loss_free(l);
    }
    nn_tensor_free(soft);
    nn_tensor_free(ce_t);
    nn_tensor_free(strided);
    nn_tensor_free(owner);
}

/* An allocation failure in forward leaves the previous gradient. */
static void test_out_of_memory_keeps_state(void **state)
{
    (void)state;
    nn_loss *l = nn_mse_loss();
    nn_tensor *p = nn_tensor_from(mse_pred, NN_SHAPE(3, 4));
    nn_tensor *t = nn_tensor_from(mse_target, NN_SHAPE(3, 4));
    assert_false(isnan(nn_loss_forward(l, p, t)));
    nn_tensor *big = nn_tensor_new(NN_SHAPE(64, 64));
    nn_set_allocator(refusing_alloc, free);
    assert_true(isnan(nn_loss_forward(l, big, big)));
    nn_set_allocator(NULL, NULL);
    assert_error_mentions("out of memory");
    expect_unchanged(l, mse_grad, 12);
    assert_int_equal(nn_loss_backward(l)->shape[0], 3);
    nn_tensor_free(big);
    nn_tensor_free(t);
    nn_tensor_free(p);
    nn_loss_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_bce_with_logits),
        cmocka_unit_test(test_strided_target),
        cmocka_unit_test(test_cross_entropy_bad_input),
        cmocka_unit_test(test_elementwise_bad_input),
        cmocka_unit_test(test_gradient_fed_back_as_input),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_out_of_memory_keeps_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
