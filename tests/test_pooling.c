/* AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d and Flatten(start_dim,
   end_dim) against PyTorch 1.13 (tests/gen_pooling.py): forward and dL/dx
   in every option, plain and strided input, the reprs, 1 and 2 threads bit
   for bit, no allocation in a second step, clones, and the bad inputs
   (messages naming the module and the shapes; a failed call changes
   nothing). */
#include "testutil.h"
#include "nn/module_ops.h"

#include "fixtures/pooling.h"

/* The sums run in torch's order, so most results are the same bits; a
   global 1x1 AdaptiveAvgPool2d is torch's mean, whose vectorised sum
   adds in another order (a few ulp on a large plane). */
#define RTOL 2e-6
#define ATOL 1e-7

#define N_CASES (sizeof pool_cases / sizeof *pool_cases)
#define N_FLATTEN (sizeof flatten_cases / sizeof *flatten_cases)

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

static nn_module *make(const pool_case *c)
{
    nn_module *m = NULL;
    if (c->kind == POOL_AVG) {
        nn_avgpool2d_opts o = nn_avgpool2d_defaults(c->kh);
        o.kernel_w = c->kw;
        o.stride_h = c->sh;
        o.stride_w = c->sw;
        o.pad_h = c->ph;
        o.pad_w = c->pw;
        o.ceil_mode = c->ceil_mode;
        o.count_include_pad = c->count_include_pad;
        o.divisor_override = c->divisor;
        m = nn_avgpool2d_ex(&o);
    } else if (c->size_is_int) {
        m = c->kind == POOL_ADAPTIVE_AVG ? nn_adaptive_avgpool2d_ex(&(nn_adaptive_avgpool2d_opts){
                                               .out_h = c->out_h, .out_w = c->out_w, .size_is_int = true})
                                         : nn_adaptive_maxpool2d_ex(&(nn_adaptive_maxpool2d_opts){
                                               .out_h = c->out_h, .out_w = c->out_w, .size_is_int = true});
    } else {
        m = c->kind == POOL_ADAPTIVE_AVG ? nn_adaptive_avgpool2d(c->out_h, c->out_w)
                                         : nn_adaptive_maxpool2d(c->out_h, c->out_w);
    }
    if (!m)
        fail_msg("%s: %s", c->repr, nn_last_error());
    return m;
}

/* The same values in a non-contiguous layout (a transposed copy viewed
   back), or NULL when every such view is contiguous (sizes 0 or 1). */
static nn_tensor *strided_from(const float *data, int ndim, const int64_t *shape)
{
    nn_tensor *t = nn_tensor_from(data, ndim, shape);
    nn_tensor *tt = nn_tensor_transpose(t, 0, ndim - 1);
    nn_tensor *dense = nn_tensor_contiguous(tt);
    nn_tensor *back = nn_tensor_transpose(dense, 0, ndim - 1);
    nn_tensor_free(t);
    nn_tensor_free(tt);
    nn_tensor_free(dense);
    if (nn_tensor_is_contiguous(back)) {
        nn_tensor_free(back);
        return NULL;
    }
    return back;
}

static void check_case(const pool_case *c, bool strided)
{
    int64_t nx = numel(c->ndim, c->shape), ny = numel(c->out_ndim, c->out_shape);
    nn_tensor *x = strided ? strided_from(c->x, c->ndim, c->shape) : nn_tensor_from(c->x, c->ndim, c->shape);
    nn_tensor *g = strided ? strided_from(c->gy, c->out_ndim, c->out_shape)
                           : nn_tensor_from(c->gy, c->out_ndim, c->out_shape);
    if (!x || !g) { /* no strided layout of this shape */
        nn_tensor_free(x);
        nn_tensor_free(g);
        return;
    }
    nn_module *m = make(c);
    nn_tensor *y = nn_forward(m, x);
    if (!y)
        fail_msg("%s: %s", c->repr, nn_last_error());
    assert_int_equal(y->ndim, c->out_ndim);
    for (int d = 0; d < c->out_ndim; d++)
        assert_int_equal(y->shape[d], c->out_shape[d]);
    assert_true(nn_tensor_is_contiguous(y));
    close_nan(y->data, c->y, ny, RTOL, ATOL, "y", c->repr);
    nn_tensor *dx = nn_backward(m, g);
    if (!dx)
        fail_msg("%s: %s", c->repr, nn_last_error());
    assert_int_equal(dx->ndim, c->ndim);
    for (int d = 0; d < c->ndim; d++)
        assert_int_equal(dx->shape[d], c->shape[d]);
    close_nan(dx->data, c->dx, nx, RTOL, ATOL, "dx", c->repr);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);
}

static void test_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        check_case(&pool_cases[i], false);
        check_case(&pool_cases[i], true);
    }
}

/* Printing as torch, and each module's clone prints (and computes) alike. */
static void test_print_matches_torch(void **state)
{
    (void)state;
    char want[260];
    for (size_t i = 0; i < N_CASES; i++) {
        nn_module *m = make(&pool_cases[i]);
        snprintf(want, sizeof want, "%s\n", pool_cases[i].repr);
        assert_string_equal(printed(m), want);
        assert_non_null(m->ops->clone);
        nn_module *c = m->ops->clone(m);
        assert_non_null(c);
        assert_string_equal(printed(c), want);
        nn_module_free(c);
        nn_module_free(m);
    }
    for (size_t i = 0; i < N_FLATTEN; i++) {
        nn_module *m = nn_flatten_ex(flatten_cases[i].start_dim, flatten_cases[i].end_dim);
        assert_non_null(m);
        snprintf(want, sizeof want, "%s\n", flatten_cases[i].repr);
        assert_string_equal(printed(m), want);
        nn_module *c = m->ops->clone(m);
        assert_string_equal(printed(c), want);
        nn_module_free(c);
        nn_module_free(m);
    }
    nn_module *m = nn_avgpool2d(3, 0);
    assert_string_equal(printed(m), "AvgPool2d(kernel_size=3, stride=3, padding=0)\n");
    nn_module_free(m);
    m = nn_flatten();
    assert_string_equal(printed(m), "Flatten(start_dim=1, end_dim=-1)\n");
    nn_module_free(m);
    m = nn_adaptive_avgpool2d_ex(&(nn_adaptive_avgpool2d_opts){.out_h = 7, .out_w = 7});
    assert_string_equal(printed(m), "AdaptiveAvgPool2d(output_size=(7, 7))\n");
    nn_module_free(m);
    nn_adaptive_maxpool2d_opts mo = nn_adaptive_maxpool2d_defaults(5);
    m = nn_adaptive_maxpool2d_ex(&mo);
    assert_string_equal(printed(m), "AdaptiveMaxPool2d(output_size=5)\n");
    nn_module_free(m);
}

static void test_flatten_dims(void **state)
{
    (void)state;
    float v[120];
    for (int i = 0; i < 120; i++)
        v[i] = (float)i * 0.5f - 7.0f;
    for (size_t i = 0; i < N_FLATTEN; i++) {
        const flatten_case *c = &flatten_cases[i];
        for (int strided = 0; strided < 2; strided++) {
            nn_tensor *x = strided && c->ndim > 1 ? strided_from(v, c->ndim, c->shape)
                                                  : nn_tensor_from(v, c->ndim, c->shape);
            if (!x)
                continue;
            nn_module *m = nn_flatten_ex(c->start_dim, c->end_dim);
            nn_tensor *y = nn_forward(m, x);
            if (!y)
                fail_msg("%s: %s", c->repr, nn_last_error());
            assert_int_equal(y->ndim, c->out_ndim);
            for (int d = 0; d < c->out_ndim; d++)
                assert_int_equal(y->shape[d], c->out_shape[d]);
            int64_t n = numel(c->ndim, c->shape);
            float got[120];
            nn_tensor_copy_out(y, got);
            assert_memory_equal(got, v, (size_t)n * sizeof(float));
            if (!strided)
                assert_true(n == 0 || y->data == x->data); /* a view */
            nn_tensor *g = nn_tensor_from(v, y->ndim, y->shape);
            nn_tensor *dx = nn_backward(m, g);
            assert_non_null(dx);
            assert_int_equal(dx->ndim, c->ndim);
            for (int d = 0; d < c->ndim; d++)
                assert_int_equal(dx->shape[d], c->shape[d]);
            nn_tensor_copy_out(dx, got);
            assert_memory_equal(got, v, (size_t)n * sizeof(float));
            nn_tensor_free(g);
            nn_tensor_free(x);
            nn_module_free(m);
        }
    }
}

/* --- threads */

static nn_module *large_module(int which)
{
    switch (which) {
    case 0: {
        nn_avgpool2d_opts o = nn_avgpool2d_defaults(3);
        o.stride_h = 2;
        o.stride_w = 1;
        o.pad_h = o.pad_w = 1;
        o.ceil_mode = true;
        o.count_include_pad = false;
        return nn_avgpool2d_ex(&o);
    }
    case 1:
        return nn_avgpool2d(2, 0);
    case 2:
        return nn_adaptive_avgpool2d(5, 7);
    case 3:
        return nn_adaptive_avgpool2d(1, 1);
    case 4:
        return nn_adaptive_maxpool2d(5, 7);
    default:
        return nn_flatten_ex(1, 2);
    }
}

/* Planes split over the threads, never a sum: the same bits. */
static void test_threads_bit_identical(void **state)
{
    (void)state;
    int64_t shape[4] = {4, 16, 33, 35}; /* above the one-thread threshold */
    nn_tensor *x = nn_tensor_new(4, shape);
    for (int64_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
    for (int which = 0; which < 6; which++) {
        float *y1 = NULL, *dx1 = NULL;
        size_t ny = 0, nx = (size_t)nn_tensor_numel(x) * sizeof(float);
        for (int threads = 1; threads <= 2; threads++) {
            assert_int_equal(nn_set_num_threads(threads), NN_OK);
            nn_module *m = large_module(which);
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
            for (int64_t i = 0; i < nn_tensor_numel(g); i++)
                g->data[i] = (float)((i * 104729) % 997) / 500.0f - 1.0f;
            nn_tensor *dx = nn_backward(m, g);
            assert_non_null(dx);
            ny = (size_t)nn_tensor_numel(y) * sizeof(float);
            if (threads == 1) {
                y1 = malloc(ny);
                dx1 = malloc(nx);
                memcpy(y1, y->data, ny);
                memcpy(dx1, dx->data, nx);
            } else {
                assert_memory_equal(y1, y->data, ny);
                assert_memory_equal(dx1, dx->data, nx);
            }
            nn_tensor_free(g);
            nn_module_free(m);
        }
        free(y1);
        free(dx1);
    }
    nn_set_num_threads(1);
    nn_tensor_free(x);
}

/* --- no allocation in a second step at the same shape, strided or not */

static void test_second_step_allocates_nothing(void **state)
{
    (void)state;
    float v[2 * 3 * 9 * 8];
    for (int i = 0; i < 2 * 3 * 9 * 8; i++)
        v[i] = (float)(i % 13) - 6.0f;
    for (int strided = 0; strided < 2; strided++)
        for (int which = 0; which < 6; which++) {
            nn_module *m = large_module(which);
            nn_tensor *x = strided ? strided_from(v, NN_SHAPE(2, 3, 9, 8)) : nn_tensor_from(v, NN_SHAPE(2, 3, 9, 8));
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            nn_tensor *g = strided ? strided_from(v, y->ndim, y->shape) : nn_tensor_from(v, y->ndim, y->shape);
            assert_non_null(nn_backward(m, g));
            tu_allocs = 0;
            nn_set_allocator(tu_alloc, free);
            assert_non_null(nn_forward(m, x));
            assert_non_null(nn_backward(m, g));
            nn_set_allocator(NULL, NULL);
            assert_int_equal(tu_allocs, 0);
            nn_tensor_free(x);
            nn_tensor_free(g);
            nn_module_free(m);
        }
}


/* The k-th allocation of a forward or backward at a new shape fails, for
   every k: an error with a message, the last results untouched, nothing
   leaked, and the retry succeeds. */

static void test_allocation_failures_change_nothing(void **state)
{
    (void)state;
    float v[2 * 3 * 9 * 8];
    for (int i = 0; i < 2 * 3 * 9 * 8; i++)
        v[i] = (float)((i * 37) % 19) - 9.0f;
    for (int which = 0; which < 6; which++) {
        nn_module *probe = large_module(which);
        nn_tensor *big = strided_from(v, NN_SHAPE(2, 3, 9, 8));
        nn_tensor *y0 = nn_forward(probe, big);
        assert_non_null(y0);
        nn_tensor *g = strided_from(v, y0->ndim, y0->shape);
        assert_non_null(g);
        nn_module_free(probe);
        nn_tensor *small = nn_tensor_from(v, NN_SHAPE(1, 3, 6, 5));
        for (long k = 1;; k++) {
            nn_module *m = large_module(which);
            nn_tensor *y = nn_forward(m, small);
            assert_non_null(y);
            float before[256];
            int64_t ny = nn_tensor_numel(y);
            memcpy(before, y->data, (size_t)ny * sizeof(float));
            tu_allocs = 0;
            tu_live = 0;
            tu_fail_at = k;
            nn_set_allocator(tu_alloc, tu_release);
            nn_tensor *y2 = nn_forward(m, big);
            nn_tensor *dx = y2 ? nn_backward(m, g) : NULL;
            nn_set_allocator(NULL, NULL);
            tu_fail_at = -1;
            if (!y2) {
                assert_error_mentions("nn_forward");
                assert_memory_equal(before, y->data, (size_t)ny * sizeof(float));
                assert_non_null(nn_forward(m, big)); /* the retry */
            } else if (!dx) {
                assert_error_mentions("nn_backward");
                assert_non_null(nn_backward(m, g));
            }
            nn_module_free(m);
            if (y2 && dx) {
                assert_true(k > 1 || which == 5); /* the new shape needed memory */
                break;
            }
        }
        nn_tensor_free(g);
        nn_tensor_free(small);
        nn_tensor_free(big);
    }
}

/* --- bad input */

static void test_constructors_refuse(void **state)
{
    (void)state;
    assert_null(nn_avgpool2d(0, 0));
    assert_error_mentions("nn_avgpool2d", "kernel_size");
    assert_null(nn_avgpool2d(2, -1));
    assert_error_mentions("nn_avgpool2d", "stride");
    assert_null(nn_avgpool2d_ex(NULL));
    assert_error_mentions("nn_avgpool2d_ex", "NULL");
    nn_avgpool2d_opts o = nn_avgpool2d_defaults(2);
    o.pad_h = 2;
    assert_null(nn_avgpool2d_ex(&o));
    assert_error_mentions("nn_avgpool2d_ex", "at most half of kernel size", "padding=(2, 0)");
    o = nn_avgpool2d_defaults(2);
    o.stride_w = 0; /* taken as written from the defaults */
    assert_null(nn_avgpool2d_ex(&o));
    assert_error_mentions("nn_avgpool2d_ex", "stride");
    o.from_defaults = 12345;
    assert_null(nn_avgpool2d_ex(&o));
    assert_error_mentions("from_defaults", "uninitialised");
    /* written by hand: stride 0 is the kernel; count_include_pad as written */
    nn_module *m = nn_avgpool2d_ex(&(nn_avgpool2d_opts){.kernel_h = 3, .kernel_w = 2, .pad_h = 1});
    assert_non_null(m);
    assert_string_equal(printed(m), "AvgPool2d(kernel_size=(3, 2), stride=(3, 2), padding=(1, 0))\n");
    nn_tensor *x = nn_tensor_new(NN_SHAPE(1, 1, 3, 2));
    nn_tensor_fill(x, 3.0f);
    nn_tensor *y = nn_forward(m, x); /* rows -1..1 of a 3-row input: padding not counted */
    assert_non_null(y);
    assert_int_equal(y->shape[2], 1);
    assert_true(y->data[0] == 3.0f);
    nn_tensor_free(x);
    nn_module_free(m);

    assert_null(nn_adaptive_avgpool2d(0, 3));
    assert_error_mentions("nn_adaptive_avgpool2d", "adaptive output sizes of 0", "(0, 3)");
    assert_null(nn_adaptive_maxpool2d(2, 0));
    assert_error_mentions("nn_adaptive_maxpool2d", "adaptive output sizes of 0", "(2, 0)");
    assert_null(nn_adaptive_avgpool2d(-1, 1));
    assert_error_mentions("nn_adaptive_avgpool2d", "(-1, 1)");
    nn_adaptive_avgpool2d_opts ao = nn_adaptive_avgpool2d_defaults(0);
    assert_null(nn_adaptive_avgpool2d_ex(&ao));
    assert_error_mentions("nn_adaptive_avgpool2d_ex", "adaptive output sizes of 0");
    ao = nn_adaptive_avgpool2d_defaults(3);
    ao.out_w = 4;
    assert_null(nn_adaptive_avgpool2d_ex(&ao));
    assert_error_mentions("nn_adaptive_avgpool2d_ex", "size_is_int", "(3, 4)");
    assert_null(nn_adaptive_maxpool2d_ex(NULL));
    assert_error_mentions("nn_adaptive_maxpool2d_ex", "NULL");

    assert_null(nn_flatten_ex(2, 1));
    assert_error_mentions("nn_flatten_ex", "start_dim cannot come after end_dim");
    assert_null(nn_flatten_ex(-1, -2));
    assert_error_mentions("nn_flatten_ex", "start_dim cannot come after end_dim");
    assert_null(nn_flatten_ex(9, 10));
    assert_error_mentions("nn_flatten_ex", "start_dim=9");
}

/* A failed forward leaves the last result and what backward computes. */
static void expect_forward_fails(nn_module *m, const nn_tensor *good, const nn_tensor *bad, const char *a,
                                 const char *b, const char *c)
{
    nn_tensor *y = nn_forward(m, good);
    assert_non_null(y);
    int64_t ny = nn_tensor_numel(y);
    float *before = malloc((size_t)ny * sizeof(float) + 1);
    memcpy(before, y->data, (size_t)ny * sizeof(float));
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    nn_tensor_fill(g, 1.0f);
    assert_null(nn_forward(m, bad));
    assert_error_mentions("nn_forward", a, b, c);
    assert_memory_equal(before, y->data, (size_t)ny * sizeof(float));
    nn_tensor *dx = nn_backward(m, g); /* the good input's backward */
    assert_non_null(dx);
    assert_true(dx->ndim == good->ndim && dx->shape[dx->ndim - 1] == good->shape[good->ndim - 1]);
    free(before);
    nn_tensor_free(g);
}

static void test_bad_input(void **state)
{
    (void)state;
    nn_tensor *good = nn_tensor_new(NN_SHAPE(2, 3, 6, 6));
    for (int i = 0; i < 216; i++)
        good->data[i] = (float)(i % 11);
    nn_tensor *flat = nn_tensor_new(NN_SHAPE(6, 6));
    nn_tensor *five = nn_tensor_new(NN_SHAPE(1, 2, 3, 6, 6));
    nn_tensor *tiny = nn_tensor_new(NN_SHAPE(2, 3, 2, 2));
    nn_tensor *no_c = nn_tensor_new(NN_SHAPE(2, 0, 6, 6));
    nn_tensor *no_h = nn_tensor_new(NN_SHAPE(2, 3, 0, 6));
    nn_tensor *no_c3 = nn_tensor_new(NN_SHAPE(0, 6, 6));

    nn_module *m = nn_avgpool2d(3, 0);
    const char *avg = "AvgPool2d(kernel_size=3, stride=3, padding=0)";
    expect_forward_fails(m, good, flat, avg, "[6, 6]", "4-D");
    expect_forward_fails(m, good, five, avg, "[1, 2, 3, 6, 6]", "3-D");
    expect_forward_fails(m, good, tiny, avg, "[2, 3, 2, 2]", "larger than the padded input");
    expect_forward_fails(m, good, no_c, avg, "[2, 0, 6, 6]", "only the batch");
    expect_forward_fails(m, good, no_h, avg, "[2, 3, 0, 6]", "only the batch");
    expect_forward_fails(m, good, no_c3, avg, "[0, 6, 6]", "only the batch");
    nn_module_free(m);

    m = nn_adaptive_maxpool2d(2, 3);
    const char *amax = "AdaptiveMaxPool2d(output_size=(2, 3))";
    expect_forward_fails(m, good, flat, amax, "[6, 6]", "4-D");
    expect_forward_fails(m, good, no_c, amax, "[2, 0, 6, 6]", "non-zero");
    expect_forward_fails(m, good, no_h, amax, "[2, 3, 0, 6]", "non-zero");
    nn_module_free(m);

    m = nn_adaptive_avgpool2d(2, 3);
    const char *aavg = "AdaptiveAvgPool2d(output_size=(2, 3))";
    expect_forward_fails(m, good, five, aavg, "[1, 2, 3, 6, 6]", "4-D");
    expect_forward_fails(m, good, no_h, aavg, "[2, 3, 0, 6]", "H and W");
    /* no channels: forward as torch, and its backward error unless 1x1 */
    nn_tensor *y = nn_forward(m, no_c);
    assert_non_null(y);
    assert_int_equal(nn_tensor_numel(y), 0);
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    assert_null(nn_backward(m, g));
    assert_error_mentions("nn_backward", aavg, "[2, 0, 2, 3]");
    nn_tensor_free(g);
    /* grad_out of the wrong shape */
    assert_non_null(nn_forward(m, good));
    g = nn_tensor_new(NN_SHAPE(2, 3, 3, 2));
    assert_null(nn_backward(m, g));
    assert_error_mentions("nn_backward", aavg, "[2, 3, 2, 3]", "[2, 3, 3, 2]");
    nn_tensor_free(g);
    nn_module_free(m);

    m = nn_flatten_ex(1, 2);
    const char *fl = "Flatten(start_dim=1, end_dim=2)";
    expect_forward_fails(m, good, flat, fl, "[6, 6]", "end_dim 2 is out of range");
    nn_module_free(m);
    m = nn_flatten_ex(-3, 0); /* fine for 3-D input, start after end for 4-D */
    nn_tensor *three = nn_tensor_new(NN_SHAPE(3, 6, 6));
    expect_forward_fails(m, three, good, "Flatten(start_dim=-3, end_dim=0)", "[2, 3, 6, 6]",
                         "start_dim cannot come after end_dim");
    nn_module_free(m);
    m = nn_flatten();
    nn_tensor *scalar = nn_tensor_new(0, NULL);
    expect_forward_fails(m, good, scalar, "Flatten(start_dim=1, end_dim=-1)", "[]", "start_dim 1 is out of range");
    nn_module_free(m);

    nn_tensor_free(scalar);
    nn_tensor_free(three);
    nn_tensor_free(good);
    nn_tensor_free(flat);
    nn_tensor_free(five);
    nn_tensor_free(tiny);
    nn_tensor_free(no_c);
    nn_tensor_free(no_h);
    nn_tensor_free(no_c3);
}

/* A modern CNN's head: conv -> batchnorm -> relu -> avgpool -> adaptive
   pool -> flatten -> linear, its backward reaching every parameter. */
static void test_in_a_network(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, NULL, nn_conv2d(3, 8, 3, 1, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_batchnorm2d(8)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_avgpool2d(2, 2)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_adaptive_maxpool2d(3, 3)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_adaptive_avgpool2d(1, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_flatten()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(8, 4, true)), NN_OK);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 3, 13, 11));
    for (int64_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = sinf((float)i);
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[1], 4);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 4));
    nn_tensor_fill(g, 1.0f);
    nn_tensor *dx = nn_backward(net, g);
    assert_non_null(dx);
    assert_int_equal(dx->shape[2], 13);
    nn_param *p;
    int np = nn_module_params(net, &p);
    assert_int_equal(np, 6);
    float s = 0;
    for (int64_t i = 0; i < nn_tensor_numel(p[0].grad); i++)
        s += fabsf(p[0].grad->data[i]);
    assert_true(s > 0);
    assert_string_equal(printed(net),
                        "Sequential(\n"
                        "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
                        "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
                        "  (2): ReLU()\n"
                        "  (3): AvgPool2d(kernel_size=2, stride=2, padding=0)\n"
                        "  (4): AdaptiveMaxPool2d(output_size=(3, 3))\n"
                        "  (5): AdaptiveAvgPool2d(output_size=(1, 1))\n"
                        "  (6): Flatten(start_dim=1, end_dim=-1)\n"
                        "  (7): Linear(in_features=8, out_features=4, bias=True)\n"
                        ")\n");
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
        cmocka_unit_test(test_print_matches_torch),
        cmocka_unit_test(test_flatten_dims),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_second_step_allocates_nothing),
        cmocka_unit_test(test_allocation_failures_change_nothing),
        cmocka_unit_test(test_constructors_refuse),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_in_a_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
