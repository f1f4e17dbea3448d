/* BatchNorm1d / BatchNorm2d against PyTorch 1.13 (tests/gen_batchnorm.py):
   every option, training and evaluation, running statistics over steps,
   strided input, threads, buffers' names, errors, and no allocation in a
   second step. */
#include "testutil.h"

#include "fixtures/batchnorm.h"
#include "kernels/norm.h"

#define RTOL 1e-5
#define ATOL 1e-6

static nn_module *make(const bn_case *c)
{
    nn_batchnorm2d_opts o = nn_batchnorm2d_defaults(c->shape[1]);
    o.eps = c->eps;
    o.momentum = c->momentum;
    o.momentum_none = c->momentum_none;
    o.affine = c->affine;
    o.track_running_stats = c->track;
    nn_module *m = c->dims == 1 ? nn_batchnorm1d_ex(&o) : nn_batchnorm2d_ex(&o);
    assert_non_null(m);
    return m;
}

/* Sets weight, bias and the running statistics as the case had them
   before its recorded step. */
static void load_state(nn_module *m, const bn_case *c)
{
    int64_t C = c->shape[1];
    nn_param *p;
    int np = nn_module_params(m, &p);
    assert_int_equal(np, c->affine ? 2 : 0);
    if (c->affine) {
        assert_string_equal(p[0].name, "weight");
        assert_string_equal(p[1].name, "bias");
        nn_tensor_copy_in(p[0].value, c->w);
        nn_tensor_copy_in(p[1].value, c->b);
    }
    nn_buffer *b;
    int nb = nn_module_buffers(m, &b);
    assert_int_equal(nb, c->track ? 3 : 0);
    if (c->track) {
        assert_string_equal(b[0].name, "running_mean");
        assert_string_equal(b[1].name, "running_var");
        assert_string_equal(b[2].name, "num_batches_tracked");
        assert_int_equal(b[2].dtype, NN_I64);
        assert_true(b[0].persistent && b[1].persistent && b[2].persistent);
        assert_int_equal(nn_tensor_numel(b[0].value), C);
        nn_tensor_copy_in(b[0].value, c->rm0);
        nn_tensor_copy_in(b[1].value, c->rv0);
        *b[2].int_value = c->nbt_before;
    }
}

static nn_tensor *strided_like(const bn_case *c, const float *data)
{
    /* a transposed copy viewed back: same values, non-contiguous strides */
    nn_tensor *t = nn_tensor_from(data, c->ndim, c->shape);
    nn_tensor *tt = nn_tensor_transpose(t, 0, c->ndim - 1);
    nn_tensor *dense_t = nn_tensor_contiguous(tt);
    nn_tensor *back = nn_tensor_transpose(dense_t, 0, c->ndim - 1);
    assert_false(nn_tensor_is_contiguous(back));
    nn_tensor_free(t);
    nn_tensor_free(tt);
    nn_tensor_free(dense_t);
    return back;
}

static void check_case(const bn_case *c, bool strided, int threads)
{
    nn_set_num_threads(threads);
    nn_module *m = make(c);
    assert_string_equal(c->repr, c->repr); /* printed in test_print_matches_torch */
    load_state(m, c);
    nn_module_train(m, c->train);
    int64_t n = numel_of(c->ndim, c->shape), C = c->shape[1];
    nn_tensor *x = strided ? strided_like(c, c->x) : nn_tensor_from(c->x, c->ndim, c->shape);
    nn_tensor *gy = strided ? strided_like(c, c->gy) : nn_tensor_from(c->gy, c->ndim, c->shape);
    nn_tensor *y = nn_forward(m, x);
    if (!y)
        fail_msg("%s: %s", c->repr, nn_last_error());
    assert_close(y->data, c->y, n, RTOL, ATOL);
    nn_zero_grad(m);
    nn_tensor *dx = nn_backward(m, gy);
    assert_non_null(dx);
    assert_close(dx->data, c->dx, n, RTOL, 1e-5);
    nn_param *p;
    nn_module_params(m, &p);
    if (c->affine) {
        assert_close(p[0].grad->data, c->dw, C, RTOL, 1e-5);
        assert_close(p[1].grad->data, c->db, C, RTOL, 1e-5);
    }
    if (c->track) {
        nn_buffer *b;
        nn_module_buffers(m, &b);
        assert_close(b[0].value->data, c->rm, C, RTOL, ATOL);
        assert_close(b[1].value->data, c->rv, C, RTOL, ATOL);
        assert_int_equal(*b[2].int_value, c->nbt_after);
    }
    nn_tensor_free(x);
    nn_tensor_free(gy);
    nn_module_free(m);
    nn_set_num_threads(1);
}

static void test_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bn_cases / sizeof *bn_cases; i++) {
        check_case(&bn_cases[i], false, 1);
        check_case(&bn_cases[i], true, 1);
    }
}

static void test_print_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bn_cases / sizeof *bn_cases; i++) {
        nn_module *m = make(&bn_cases[i]);
        assert_repr(m, bn_cases[i].repr);
        nn_module_free(m);
    }
}

/* Results do not depend on the thread count: channels are split, never a
   sum. Slabs of 144 floats (per channel) and of 1 (row by row). */
static void threads_bit_identical(int ndim, const int64_t *shape)
{
    int64_t C = shape[1];
    nn_tensor *x = nn_tensor_new(ndim, shape), *g = nn_tensor_new(ndim, shape);
    for (int64_t i = 0; i < nn_tensor_numel(x); i++) {
        x->data[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
        g->data[i] = (float)((i * 104729) % 997) / 500.0f - 1.0f;
    }
    float *y1 = NULL, *dx1 = NULL, *dw1 = NULL;
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_num_threads(threads);
        nn_module *m = ndim == 4 ? nn_batchnorm2d(C) : nn_batchnorm1d(C);
        nn_tensor *y = nn_forward(m, x);
        nn_tensor *dx = nn_backward(m, g);
        nn_param *p;
        nn_module_params(m, &p);
        size_t ny = (size_t)nn_tensor_numel(y) * sizeof(float), nw = (size_t)C * sizeof(float);
        if (threads == 1) {
            y1 = malloc(ny);
            dx1 = malloc(ny);
            dw1 = malloc(nw);
            memcpy(y1, y->data, ny);
            memcpy(dx1, dx->data, ny);
            memcpy(dw1, p[0].grad->data, nw);
        } else {
            assert_memory_equal(y1, y->data, ny);
            assert_memory_equal(dx1, dx->data, ny);
            assert_memory_equal(dw1, p[0].grad->data, nw);
        }
        nn_module_free(m);
    }
    nn_set_num_threads(1);
    free(y1);
    free(dx1);
    free(dw1);
    nn_tensor_free(x);
    nn_tensor_free(g);
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    threads_bit_identical(4, (int64_t[]){8, 16, 12, 12});
    threads_bit_identical(2, (int64_t[]){600, 1100});
}

/* One training step and one evaluation step of BatchNorm2d(C) on x, g:
   y, dx, the weight and bias gradients, the running statistics and the
   evaluation's y and dx in out (4 numel + 4 C floats); the kernels'
   mean, var_sum, sum_dy and dotp of each channel in extra (4 C). */
static void isa_run(const nn_tensor *x, const nn_tensor *g, float *out, double *extra)
{
    int64_t n = nn_tensor_numel(x), C = x->shape[1];
    size_t nb = (size_t)n * sizeof(float), cb = (size_t)C * sizeof(float);
    nn_module *m = nn_batchnorm2d(C);
    nn_param *p;
    nn_module_params(m, &p);
    nn_buffer *b;
    nn_module_buffers(m, &b);
    for (int64_t c = 0; c < C; c++) { /* weight and bias away from 1 and 0 */
        p[0].value->data[c] = 0.75f + 0.125f * (float)c;
        p[1].value->data[c] = 0.25f - 0.5f * (float)c;
    }
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    memcpy(out, y->data, nb);
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    memcpy(out + n, dx->data, nb);
    memcpy(out + 2 * n, p[0].grad->data, cb);
    memcpy(out + 2 * n + C, p[1].grad->data, cb);
    memcpy(out + 2 * n + 2 * C, b[0].value->data, cb);
    memcpy(out + 2 * n + 3 * C, b[1].value->data, cb);
    /* the kernels' sums in double, which the float results may round away */
    nn_bn_shape s = {x->shape[0], C, x->shape[2] * x->shape[3]};
    for (int64_t c = 0; c < C; c++) {
        double d[4];
        nn_bn_channel_stats(&s, x->data, c, &d[0], &d[1]);
        nn_bn_channel_grad_sums(&s, x->data, g->data, c, (float)d[0], &d[2], &d[3]);
        memcpy(extra + 4 * c, d, sizeof d);
    }
    nn_module_train(m, false);
    y = nn_forward(m, x);
    assert_non_null(y);
    memcpy(out + 2 * n + 4 * C, y->data, nb);
    dx = nn_backward(m, g);
    assert_non_null(dx);
    memcpy(out + 3 * n + 4 * C, dx->data, nb);
    nn_module_free(m);
}

/* Every instruction-set variant of the kernels gives the generic one's
   bits: slabs with and without a tail past the vector loops, one shorter
   than a vector. */
static void test_isa_variants_bit_identical(void **state)
{
    (void)state;
    static const int64_t shapes[][4] = {{5, 3, 7, 9}, {3, 2, 16, 16}, {4, 3, 3, 5}, {2, 2, 17, 2}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        nn_tensor *x = nn_tensor_new(4, shapes[sh]), *g = nn_tensor_new(4, shapes[sh]);
        int64_t n = nn_tensor_numel(x), C = shapes[sh][1];
        for (int64_t i = 0; i < n; i++) {
            x->data[i] = (float)((i * 7919) % 1000) / 250.0f + 3.0f;
            g->data[i] = (float)((i * 104729) % 997) / 500.0f - 1.0f;
        }
        size_t size = (size_t)(4 * n + 4 * C) * sizeof(float), dsize = (size_t)(4 * C) * sizeof(double);
        float *want = malloc(size), *got = malloc(size);
        double *dwant = malloc(dsize), *dgot = malloc(dsize);
        assert_true(want && got && dwant && dgot);
        assert_true(nn_bn_force_isa(NN_GEMM_ISA_GENERIC));
        isa_run(x, g, want, dwant);
        for (int isa = NN_GEMM_ISA_GENERIC + 1; isa < NN_GEMM_ISA_COUNT; isa++) {
            if (!nn_bn_force_isa((nn_gemm_isa)isa))
                continue;
            isa_run(x, g, got, dgot);
            assert_memory_equal(want, got, size);
            assert_memory_equal(dwant, dgot, dsize);
        }
        assert_true(nn_bn_force_isa(NN_GEMM_ISA_AUTO));
        free(want);
        free(got);
        free(dwant);
        free(dgot);
        nn_tensor_free(x);
        nn_tensor_free(g);
    }
    assert_false(nn_bn_force_isa(NN_GEMM_ISA_COUNT));
}

/* The row-by-row kernels (slabs shorter than NN_BN_ROW_S) give the
   per-channel kernels' bits, the sums in double included. */
static void test_rows_match_channels(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {{37, 5, 1}, {6, 3, 4}, {4, 2, 15}, {3, 70, 9}, {2, 600, 1}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        nn_bn_shape s = {shapes[sh][0], shapes[sh][1], shapes[sh][2]};
        int64_t n = s.N * s.C * s.S, c0 = s.C > 2 ? 1 : 0;
        int64_t c1 = s.C - c0 > NN_BN_ROW_BLOCK / s.S ? c0 + NN_BN_ROW_BLOCK / s.S : s.C;
        float *x = malloc((size_t)n * sizeof *x), *g = malloc((size_t)n * sizeof *g);
        float *want = calloc((size_t)n, sizeof *want), *got = calloc((size_t)n, sizeof *got);
        float *mean = malloc((size_t)s.C * sizeof *mean), *invstd = malloc((size_t)s.C * sizeof *invstd);
        float *w = malloc((size_t)s.C * sizeof *w), *b = malloc((size_t)s.C * sizeof *b);
        double *d = malloc((size_t)(4 * s.C) * sizeof *d), *e = malloc((size_t)(4 * s.C) * sizeof *e);
        assert_true(x && g && want && got && mean && invstd && w && b && d && e);
        for (int64_t i = 0; i < n; i++) {
            x[i] = (float)((i * 7919) % 1000) / 250.0f + 3.0f;
            g[i] = (float)((i * 104729) % 997) / 500.0f - 1.0f;
        }
        for (int64_t c = 0; c < s.C; c++) {
            w[c] = 0.75f + 0.125f * (float)c;
            b[c] = 0.25f - 0.5f * (float)c;
        }
        /* per channel */
        for (int64_t c = c0; c < c1; c++) {
            nn_bn_channel_stats(&s, x, c, &d[c], &d[s.C + c]);
            mean[c] = (float)d[c];
            invstd[c] = (float)(1.0 / sqrt(d[s.C + c] / (double)(s.N * s.S) + 1e-5));
            nn_bn_channel_apply(&s, x, c, mean[c], invstd[c], w[c], b[c], want);
        }
        nn_bn_rows_stats(&s, x, c0, c1, e + c0, e + s.C + c0);
        nn_bn_rows_apply(&s, x, c0, c1, mean + c0, invstd + c0, w + c0, b + c0, got);
        assert_memory_equal(d + c0, e + c0, (size_t)(c1 - c0) * sizeof *d);
        assert_memory_equal(d + s.C + c0, e + s.C + c0, (size_t)(c1 - c0) * sizeof *d);
        assert_memory_equal(want, got, (size_t)n * sizeof *want);
        for (int batch = 0; batch <= 1; batch++) {
            for (int64_t c = c0; c < c1; c++) {
                nn_bn_channel_grad_sums(&s, x, g, c, mean[c], &d[2 * s.C + c], &d[3 * s.C + c]);
                nn_bn_channel_dx(&s, x, g, c, mean[c], invstd[c], w[c], batch, d[2 * s.C + c], d[3 * s.C + c], want);
            }
            nn_bn_rows_grad_sums(&s, x, g, c0, c1, mean + c0, e + 2 * s.C + c0, e + 3 * s.C + c0);
            nn_bn_rows_dx(&s, x, g, c0, c1, mean + c0, invstd + c0, w + c0, batch, e + 2 * s.C + c0,
                          e + 3 * s.C + c0, got);
            assert_memory_equal(d + 2 * s.C + c0, e + 2 * s.C + c0, (size_t)(c1 - c0) * sizeof *d);
            assert_memory_equal(d + 3 * s.C + c0, e + 3 * s.C + c0, (size_t)(c1 - c0) * sizeof *d);
            assert_memory_equal(want, got, (size_t)n * sizeof *want);
        }
        free(x);
        free(g);
        free(want);
        free(got);
        free(mean);
        free(invstd);
        free(w);
        free(b);
        free(d);
        free(e);
    }
}

static void test_second_step_allocates_nothing(void **state)
{
    (void)state;
    nn_module *m = nn_batchnorm2d(4);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(3, 4, 5, 5)), *g = nn_tensor_new(NN_SHAPE(3, 4, 5, 5));
    for (int64_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = g->data[i] = (float)(i % 13) - 6.0f;
    assert_non_null(nn_forward(m, x));
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

static void test_errors_change_nothing(void **state)
{
    (void)state;
    assert_null(nn_batchnorm2d(0));
    assert_error_mentions("nn_batchnorm2d", "num_features");
    nn_batchnorm2d_opts o = nn_batchnorm2d_defaults(3);
    o.eps = -1.0f;
    assert_null(nn_batchnorm2d_ex(&o));
    assert_error_mentions("nn_batchnorm2d", "eps");
    o = nn_batchnorm2d_defaults(3);
    o.momentum = 1.5f;
    assert_null(nn_batchnorm2d_ex(&o));
    assert_error_mentions("momentum");

    nn_module *m = nn_batchnorm1d(3);
    nn_buffer *b;
    nn_module_buffers(m, &b);
    /* one value per channel in training: PyTorch's error, stats untouched */
    nn_tensor *one = nn_tensor_new(NN_SHAPE(1, 3));
    nn_tensor_fill(one, 2.0f);
    assert_null(nn_forward(m, one));
    assert_error_mentions("nn_forward", "BatchNorm1d(3)", "more than 1 value per channel", "[1, 3]");
    assert_int_equal(*b[2].int_value, 0);
    assert_true(b[0].value->data[0] == 0.0f && b[1].value->data[0] == 1.0f);
    /* ... which evaluation mode accepts (running statistics) */
    nn_module_train(m, false);
    assert_non_null(nn_forward(m, one));
    nn_module_train(m, true);
    /* wrong channel count and rank */
    nn_tensor *bad = nn_tensor_new(NN_SHAPE(4, 5));
    assert_null(nn_forward(m, bad));
    assert_error_mentions("nn_forward", "BatchNorm1d(3)", "3 channels", "[4, 5]");
    nn_tensor *bad4 = nn_tensor_new(NN_SHAPE(2, 3, 2, 2));
    assert_null(nn_forward(m, bad4));
    assert_error_mentions("2D or 3D", "[2, 3, 2, 2]");
    nn_module *m2 = nn_batchnorm2d(3);
    nn_tensor *bad3 = nn_tensor_new(NN_SHAPE(3, 2, 2));
    assert_null(nn_forward(m2, bad3));
    assert_error_mentions("BatchNorm2d(3)", "4D", "[3, 2, 2]");
    assert_int_equal(*b[2].int_value, 0);
    nn_tensor_free(one);
    nn_tensor_free(bad);
    nn_tensor_free(bad4);
    nn_tensor_free(bad3);
    nn_module_free(m);
    nn_module_free(m2);
}

/* Inside a container the buffers get full names; optimizers never see them. */
static void test_buffers_in_a_tree(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "conv", nn_conv2d(1, 2, 3, 1, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "bn1", nn_batchnorm2d(2)), NN_OK);
    nn_buffer *b;
    assert_int_equal(nn_module_buffers(net, &b), 3);
    assert_string_equal(b[0].name, "bn1.running_mean");
    assert_string_equal(b[2].name, "bn1.num_batches_tracked");
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    assert_string_equal(p[2].name, "bn1.weight");
    nn_optim *opt = nn_sgd(net, &(nn_sgd_opts){.lr = 0.1f, .momentum = 0.9f});
    assert_non_null(opt);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 1, 4, 4));
    for (int i = 0; i < 32; i++)
        x->data[i] = (float)(i % 5);
    nn_tensor *y = nn_forward(net, x);
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    nn_tensor_fill(g, 0.5f);
    assert_non_null(nn_backward(net, g));
    float rm = b[0].value->data[0], rv = b[1].value->data[0];
    assert_int_equal(nn_optim_step(opt), NN_OK);
    assert_true(b[0].value->data[0] == rm && b[1].value->data[0] == rv);
    assert_int_equal(*b[2].int_value, 1);
    nn_optim_free(opt);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
        cmocka_unit_test(test_print_matches_torch),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_isa_variants_bit_identical),
        cmocka_unit_test(test_rows_match_channels),
        cmocka_unit_test(test_second_step_allocates_nothing),
        cmocka_unit_test(test_errors_change_nothing),
        cmocka_unit_test(test_buffers_in_a_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
