/* nn_backward_params: the parameter gradients bit for bit equal to those of
   nn_backward (bare Linear and Conv2d, a CNN in a Sequential, a nested
   Sequential whose first child is itself a Sequential, 1 and 2 threads),
   the dL/dx nn_backward returns afterwards still right, no allocation in
   the steady state, and statuses and messages for bad input. */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"

static void fill(nn_tensor *t, uint32_t seed)
{
    for (int64_t i = 0; i < nn_tensor_numel(t); i++) {
        seed = seed * 1664525u + 1013904223u;
        t->data[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
    }
}

/* Concatenated parameter gradients after one backward of either kind. */
static float *grads_after(nn_module *m, const nn_tensor *x, bool params_only, int64_t *n)
{
    nn_zero_grad(m);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    assert_non_null(g);
    fill(g, 99);
    if (params_only)
        assert_int_equal(nn_backward_params(m, g), NN_OK);
    else
        assert_non_null(nn_backward(m, g));
    nn_tensor_free(g);
    nn_param *p;
    int np = nn_module_params(m, &p);
    assert_true(np > 0);
    int64_t total = 0;
    for (int i = 0; i < np; i++)
        total += nn_tensor_numel(p[i].grad);
    float *out = malloc((size_t)total * sizeof *out);
    assert_non_null(out);
    int64_t at = 0;
    for (int i = 0; i < np; i++) {
        memcpy(out + at, p[i].grad->data, (size_t)nn_tensor_numel(p[i].grad) * sizeof *out);
        at += nn_tensor_numel(p[i].grad);
    }
    *n = total;
    return out;
}

static void check_same(nn_module *m, const nn_tensor *x)
{
    int saved = nn_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(nn_set_num_threads(t), NN_OK);
        int64_t n1, n2;
        float *full = grads_after(m, x, false, &n1);
        float *only = grads_after(m, x, true, &n2);
        assert_int_equal(n1, n2);
        bool any = false;
        for (int64_t i = 0; i < n1; i++)
            any |= full[i] != 0.0f;
        assert_true(any); /* the gradients checked are not all zero */
        assert_memory_equal(full, only, (size_t)n1 * sizeof *full);
        free(full);
        free(only);
    }
    assert_int_equal(nn_set_num_threads(saved), NN_OK);
}

static bool add(nn_module *seq, nn_module *m) { return m && nn_sequential_add(seq, NULL, m) == NN_OK; }

static nn_module *small_cnn(void)
{
    nn_module *s = nn_sequential();
    assert_true(add(s, nn_conv2d(2, 8, 3, 1, 1)) && add(s, nn_relu()) && add(s, nn_maxpool2d(2, 0)) &&
                add(s, nn_conv2d(8, 16, 3, 1, 1)) && add(s, nn_relu()) && add(s, nn_flatten()) &&
                add(s, nn_linear(16 * 6 * 6, 10, true)));
    return s;
}

static void test_bare_layers(void **state)
{
    (void)state;
    nn_tensor *x = nn_tensor_new(NN_SHAPE(5, 7));
    fill(x, 1);
    nn_module *lin = nn_linear(7, 3, true);
    check_same(lin, x);
    nn_tensor *xi = nn_tensor_new(NN_SHAPE(4, 3, 9, 9));
    fill(xi, 2);
    nn_module *conv = nn_conv2d(3, 6, 3, 2, 1);
    check_same(conv, xi);
    nn_module *conv1 = nn_conv2d(3, 6, 1, 1, 0); /* the 1x1 path that reads the image */
    check_same(conv1, xi);
    nn_module_free(lin);
    nn_module_free(conv);
    nn_module_free(conv1);
    nn_tensor_free(x);
    nn_tensor_free(xi);
}

static void test_sequential_cnn(void **state)
{
    (void)state;
    nn_tensor *x = nn_tensor_new(NN_SHAPE(6, 2, 12, 12));
    fill(x, 3);
    nn_module *net = small_cnn();
    check_same(net, x);
    /* nested: the first child is a Sequential whose own first child skips */
    nn_module *outer = nn_sequential();
    assert_true(add(outer, small_cnn()) && add(outer, nn_relu()) && add(outer, nn_linear(10, 4, true)));
    check_same(outer, x);

    /* a later nn_backward still returns the right dL/dx */
    nn_tensor *y = nn_forward(net, x);
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    fill(g, 5);
    nn_tensor *dx = nn_backward(net, g);
    float *want = malloc((size_t)nn_tensor_numel(dx) * sizeof *want);
    memcpy(want, dx->data, (size_t)nn_tensor_numel(dx) * sizeof *want);
    nn_forward(net, x);
    assert_int_equal(nn_backward_params(net, g), NN_OK);
    nn_forward(net, x);
    dx = nn_backward(net, g);
    assert_memory_equal(dx->data, want, (size_t)nn_tensor_numel(dx) * sizeof *want);
    free(want);
    nn_tensor_free(g);
    nn_module_free(net);
    nn_module_free(outer);
    nn_tensor_free(x);
}

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    nn_tensor *x = nn_tensor_new(NN_SHAPE(6, 2, 12, 12));
    fill(x, 3);
    nn_module *net = small_cnn();
    nn_tensor *y = nn_forward(net, x);
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    fill(g, 5);
    assert_int_equal(nn_backward_params(net, g), NN_OK);
    nn_set_allocator(tu_alloc, free);
    tu_allocs = 0;
    for (int i = 0; i < 3; i++) {
        nn_forward(net, x);
        assert_int_equal(nn_backward_params(net, g), NN_OK);
    }
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);
    nn_tensor_free(g);
    nn_module_free(net);
    nn_tensor_free(x);
}

static void test_bad_input(void **state)
{
    (void)state;
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 3));
    fill(g, 1);
    assert_int_equal(nn_backward_params(NULL, g), NN_EINVAL);
    assert_error_mentions("nn_backward_params", "NULL");
    nn_module *lin = nn_linear(4, 5, true);
    assert_int_equal(nn_backward_params(lin, g), NN_EINVAL);
    assert_error_mentions("nn_backward_params", "before forward");
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 4));
    fill(x, 2);
    assert_non_null(nn_forward(lin, x));
    assert_int_equal(nn_backward_params(lin, g), NN_ESHAPE);
    assert_error_mentions("nn_backward_params", "Linear", "[2, 5]", "[2, 3]");
    assert_int_equal(nn_backward_params(lin, NULL), NN_EINVAL);
    assert_error_mentions("nn_backward_params");
    nn_module *net = nn_sequential();
    assert_true(add(net, nn_linear(4, 5, true)) && add(net, nn_relu()));
    assert_non_null(nn_forward(net, x));
    assert_int_equal(nn_backward_params(net, g), NN_ESHAPE);
    assert_error_mentions("nn_backward_params", "ReLU", "(in child (1) of Sequential)");
    nn_module_free(net);
    nn_module_free(lin);
    nn_tensor_free(x);
    nn_tensor_free(g);
}

/* Each backward needs its own forward, as in PyTorch ("Trying to backward
   through the graph a second time"): a second nn_backward_params after one
   forward is refused (so is an nn_backward) and changes no gradient; a
   forward makes one possible again, and its gradients add to the first. */
static void test_backward_params_twice_refused(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_true(add(net, nn_linear(7, 5, true)) && add(net, nn_relu()) && add(net, nn_linear(5, 3, true)));
    nn_tensor *x = nn_tensor_new(NN_SHAPE(4, 7));
    fill(x, 11);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(4, 3));
    fill(g, 12);
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    nn_zero_grad(net);
    assert_non_null(nn_forward(net, x));
    assert_int_equal(nn_backward_params(net, g), NN_OK);
    float first[4][35];
    bool any = false;
    for (int i = 0; i < 4; i++) {
        assert_true(nn_tensor_numel(p[i].grad) <= 35);
        nn_tensor_copy_out(p[i].grad, first[i]);
        for (int64_t j = 0; j < nn_tensor_numel(p[i].grad); j++)
            any |= first[i][j] != 0.0f;
    }
    assert_true(any); /* the gradients checked are not all zero */

    for (int again = 0; again < 2; again++) { /* a refused call does not allow the next one */
        assert_int_equal(nn_backward_params(net, g), NN_EINVAL);
        assert_error_mentions("nn_backward_params: Sequential: no forward since the last backward", "second time",
                              "run a forward first");
        assert_null(nn_backward(net, g));
        assert_error_mentions("nn_backward: Sequential: no forward since the last backward", "second time");
        for (int i = 0; i < 4; i++)
            assert_memory_equal(p[i].grad->data, first[i], (size_t)nn_tensor_numel(p[i].grad) * sizeof(float));
    }

    /* a forward allows one again: the gradients twice */
    assert_non_null(nn_forward(net, x));
    assert_int_equal(nn_backward_params(net, g), NN_OK);
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < nn_tensor_numel(p[i].grad); j++)
            assert_float_equal(p[i].grad->data[j], 2.0f * first[i][j], 1e-5 * (1.0 + fabs(2.0 * first[i][j])));
    assert_int_equal(nn_backward_params(net, g), NN_EINVAL);
    assert_error_mentions("second time");
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_layers),
        cmocka_unit_test(test_sequential_cnn),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_backward_params_twice_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
