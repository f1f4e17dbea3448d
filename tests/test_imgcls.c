/* MaxPool2d, Flatten and Dropout: forward/backward against PyTorch 1.13
   (tests/gen_imgcls.py), finite differences, strided inputs, train/eval
   mode, steady-state allocations and bad input. */
#include <stdlib.h>

#include "testutil.h"
#include "fixtures/imgcls.h"

/* --- helpers */

static char *repr_of(const nn_module *m)
{
    static char buf[512];
    FILE *f = tmpfile();
    assert_non_null(f);
    nn_module_print(m, f);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n && buf[n - 1] == '\n')
        buf[n - 1] = 0;
    return buf;
}

static long allowed; /* allocations failing_alloc still grants */
static void *failing_alloc(size_t n) { return allowed-- > 0 ? malloc(n) : NULL; }

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Central differences of L(x) = sum(forward(x) * g) against backward(g);
   reseed keeps a dropout mask fixed between evaluations. */
static void check_gradient(nn_module *m, nn_tensor *x, const float *g, bool reseed)
{
    int64_t n = nn_tensor_numel(x);
    if (reseed)
        nn_manual_seed(7);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    int64_t ny = nn_tensor_numel(y);
    nn_tensor *gt = nn_tensor_from(g, y->ndim, y->shape);
    nn_tensor *dx = nn_backward(m, gt);
    assert_non_null(dx);
    float *analytic = malloc((size_t)n * sizeof *analytic);
    nn_tensor_copy_out(dx, analytic);
    double biggest = 0;
    const double h = 1e-3;
    for (int64_t i = 0; i < n; i++) {
        float keep = x->data[i];
        x->data[i] = keep + (float)h;
        if (reseed)
            nn_manual_seed(7);
        double up = dot(nn_forward(m, x)->data, g, ny);
        x->data[i] = keep - (float)h;
        if (reseed)
            nn_manual_seed(7);
        double down = dot(nn_forward(m, x)->data, g, ny);
        x->data[i] = keep;
        double numeric = (up - down) / (2 * h);
        biggest = fmax(biggest, fabs(numeric));
        if (fabs(numeric - analytic[i]) > 1e-2 * (1 + fabs(numeric))) {
            fprintf(stderr, "d/dx[%lld]: finite difference %g, backward %g\n", (long long)i, numeric,
                    analytic[i]);
            fail();
        }
    }
    assert_true(biggest > 0.1); /* the check saw a real gradient */
    free(analytic);
    nn_tensor_free(gt);
}

static nn_module *pool_for(const maxpool_case *c)
{
    nn_maxpool2d_opts o = {.kernel_h = c->o.kh, .kernel_w = c->o.kw, .stride_h = c->o.sh, .stride_w = c->o.sw,
                           .pad_h = c->o.ph, .pad_w = c->o.pw, .dilation_h = c->o.dh, .dilation_w = c->o.dw,
                           .ceil_mode = c->o.ceil_mode};
    return nn_maxpool2d_ex(&o);
}

/* --- MaxPool2d */

static void test_maxpool_matches_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof maxpool_cases / sizeof *maxpool_cases; k++) {
        const maxpool_case *c = &maxpool_cases[k];
        fprintf(stderr, "  case %s\n", c->name);
        nn_module *m = pool_for(c);
        assert_non_null(m);
        assert_string_equal(repr_of(m), c->repr);
        nn_tensor *x = nn_tensor_from(c->x, c->x_ndim, c->x_shape);
        nn_tensor *y = nn_forward(m, x);
        assert_non_null(y);
        assert_int_equal(y->ndim, c->y_ndim);
        for (int d = 0; d < c->y_ndim; d++)
            assert_int_equal(y->shape[d], c->y_shape[d]);
        int64_t ny = nn_tensor_numel(y), nx = nn_tensor_numel(x);
        assert_close(y->data, c->y, ny, 0, 0); /* a max is exact */
        nn_tensor *g = nn_tensor_from(c->g, y->ndim, y->shape);
        nn_tensor *dx = nn_backward(m, g);
        assert_non_null(dx);
        assert_int_equal(dx->ndim, c->x_ndim);
        assert_close(dx->data, c->dx, nx, 1e-5, 1e-6);

        /* the same through strided views of x and grad_out */
        nn_tensor *xs = strided_copy(x), *gs = strided_copy(g);
        y = nn_forward(m, xs);
        assert_close(y->data, c->y, ny, 0, 0);
        dx = nn_backward(m, gs);
        assert_close(dx->data, c->dx, nx, 1e-5, 1e-6);
        nn_tensor_free(xs);
        nn_tensor_free(gs);
        nn_tensor_free(g);
        nn_tensor_free(x);
        nn_module_free(m);
    }
}

static void test_maxpool_ties_take_first_index(void **state)
{
    (void)state;
    float x[4] = {1, 1, 1, 1}; /* one 2x2 window, all equal */
    nn_module *m = nn_maxpool2d(2, 0);
    nn_tensor *t = nn_tensor_from(x, NN_SHAPE(1, 2, 2));
    nn_forward(m, t);
    nn_tensor *g = nn_tensor_from((float[]){5}, NN_SHAPE(1, 1, 1));
    nn_tensor *dx = nn_backward(m, g);
    assert_close(dx->data, ((float[]){5, 0, 0, 0}), 4, 0, 0);
    nn_tensor_free(g);
    nn_tensor_free(t);
    nn_module_free(m);
}

static void test_maxpool_nan_propagates(void **state)
{
    (void)state;
    nn_module *m = nn_maxpool2d(2, 2);
    nn_tensor *t = nn_tensor_from((float[]){1, NAN, 3, 2}, NN_SHAPE(1, 1, 2, 2));
    nn_tensor *y = nn_forward(m, t);
    assert_true(isnan(y->data[0]));
    nn_tensor_free(t);
    nn_module_free(m);
}

/* NaNs at every tap of 2x2 windows (and two in one window): the same NaN
   outputs and the same winners (dL/dx) as PyTorch, with 1 and 2 threads. */
static void test_maxpool_nan_matches_torch(void **state)
{
    (void)state;
    int saved = nn_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(nn_set_num_threads(t), NN_OK);
        nn_module *m = nn_maxpool2d(2, 0);
        nn_tensor *x = nn_tensor_from(mp_nan_x, NN_SHAPE(1, 2, 4, 10));
        nn_tensor *y = nn_forward(m, x);
        assert_non_null(y);
        int64_t ny = nn_tensor_numel(y);
        assert_int_equal(ny, sizeof mp_nan_y / sizeof *mp_nan_y);
        for (int64_t i = 0; i < ny; i++) {
            assert_int_equal(isnan(y->data[i]), isnan(mp_nan_y[i]));
            if (!isnan(mp_nan_y[i]))
                assert_true(y->data[i] == mp_nan_y[i]);
        }
        nn_tensor *g = nn_tensor_from(mp_nan_g, y->ndim, y->shape);
        nn_tensor *dx = nn_backward(m, g);
        assert_non_null(dx);
        assert_close(dx->data, mp_nan_dx, 80, 0, 0);
        nn_tensor_free(g);
        nn_tensor_free(x);
        nn_module_free(m);
    }
    assert_int_equal(nn_set_num_threads(saved), NN_OK);
}

/* A forward that runs out of memory (for the winners of a larger input)
   leaves the last forward's output and what backward scatters to. */
static void test_maxpool_failed_forward_changes_nothing(void **state)
{
    (void)state;
    for (int k = 2; k <= 3; k++) { /* the 2x2 path and a generic window */
        nn_module *m = nn_maxpool2d(k, 2);
        nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 3, 8, 8)), *big = nn_tensor_new(NN_SHAPE(4, 3, 16, 16));
        for (int64_t i = 0; i < nn_tensor_numel(x); i++)
            x->data[i] = (float)((i * 37) % 101);
        nn_tensor *y = nn_forward(m, x);
        assert_non_null(y);
        int64_t ny = nn_tensor_numel(y), nx = nn_tensor_numel(x);
        float *y_before = malloc((size_t)ny * sizeof *y_before), *dx_before = malloc((size_t)nx * sizeof *dx_before);
        memcpy(y_before, y->data, (size_t)ny * sizeof *y_before);
        nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
        for (int64_t i = 0; i < ny; i++)
            g->data[i] = (float)i;
        nn_tensor *dx = nn_backward(m, g);
        memcpy(dx_before, dx->data, (size_t)nx * sizeof *dx_before);
        for (long grant = 0; grant <= 1; grant++) { /* the winners' buffer, then the output */
            /* each backward needs its own forward: the same one again */
            y = nn_forward(m, x);
            assert_non_null(y);
            assert_memory_equal(y->data, y_before, (size_t)ny * sizeof *y_before);
            allowed = grant;
            nn_set_allocator(failing_alloc, free);
            assert_null(nn_forward(m, big));
            nn_set_allocator(NULL, NULL);
            assert_memory_equal(y->data, y_before, (size_t)ny * sizeof *y_before);
            dx = nn_backward(m, g);
            assert_non_null(dx);
            assert_memory_equal(dx->data, dx_before, (size_t)nx * sizeof *dx_before);
        }
        /* that backward was taken: a failed forward does not give another */
        allowed = 0;
        nn_set_allocator(failing_alloc, free);
        assert_null(nn_forward(m, big));
        nn_set_allocator(NULL, NULL);
        assert_null(nn_backward(m, g));
        assert_error_mentions("nn_backward: MaxPool2d: no forward since the last backward", "second time");
        assert_memory_equal(dx->data, dx_before, (size_t)nx * sizeof *dx_before);
        free(y_before);
        free(dx_before);
        nn_tensor_free(g);
        nn_tensor_free(x);
        nn_tensor_free(big);
        nn_module_free(m);
    }
}

static void test_maxpool_finite_differences(void **state)
{
    (void)state;
    nn_manual_seed(3);
    /* distinct values well apart, so a +-h step never changes the argmax */
    int64_t n = 2 * 2 * 7 * 7;
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 2, 7, 7));
    for (int64_t i = 0; i < n; i++)
        x->data[i] = (float)((i * 37) % n) * 0.05f - 4.0f;
    nn_maxpool2d_opts o = {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    nn_module *m = nn_maxpool2d_ex(&o);
    float g[2 * 2 * 4 * 4];
    for (int i = 0; i < 64; i++)
        g[i] = 0.5f + (float)(i % 5) * 0.25f;
    check_gradient(m, x, g, false);
    nn_tensor_free(x);
    nn_module_free(m);
}

static void test_maxpool_bad_input(void **state)
{
    (void)state;
    nn_module *m = nn_maxpool2d(2, 0);
    nn_tensor *flat = nn_tensor_new(NN_SHAPE(4, 4));
    assert_null(nn_forward(m, flat));
    assert_error_mentions("nn_forward", "MaxPool2d(kernel_size=2, stride=2)", "[4, 4]");
    nn_tensor *tiny = nn_tensor_new(NN_SHAPE(1, 3, 1, 5));
    assert_null(nn_forward(m, tiny));
    assert_error_mentions("MaxPool2d", "[1, 3, 1, 5]", "0x2");
    nn_tensor *g = nn_tensor_new(NN_SHAPE(1, 1, 2, 2));
    assert_null(nn_backward(m, g));
    assert_error_mentions("nn_backward", "before forward");
    nn_tensor *x = nn_tensor_new(NN_SHAPE(1, 1, 4, 4));
    assert_non_null(nn_forward(m, x));
    nn_tensor *wrong = nn_tensor_new(NN_SHAPE(1, 1, 3, 2));
    assert_null(nn_backward(m, wrong));
    assert_error_mentions("nn_backward", "[1, 1, 2, 2]", "[1, 1, 3, 2]");
    assert_non_null(nn_backward(m, g));

    assert_null(nn_maxpool2d(0, 0));
    assert_error_mentions("nn_maxpool2d", "kernel_size");
    assert_null(nn_maxpool2d(2, -1));
    assert_error_mentions("nn_maxpool2d", "stride");
    assert_null(nn_maxpool2d_ex(&(nn_maxpool2d_opts){.kernel_h = 2, .kernel_w = 2, .pad_h = 2}));
    assert_error_mentions("nn_maxpool2d", "half");
    assert_null(nn_maxpool2d_ex(NULL));
    nn_tensor_free(flat);
    nn_tensor_free(tiny);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_tensor_free(wrong);
    nn_module_free(m);
}

/* --- Flatten */

static void test_flatten(void **state)
{
    (void)state;
    float v[24];
    for (int i = 0; i < 24; i++)
        v[i] = (float)i;
    nn_tensor *x = nn_tensor_from(v, NN_SHAPE(2, 3, 2, 2));
    nn_module *m = nn_flatten();
    nn_tensor *y = nn_forward(m, x);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 12);
    assert_true(y->data == x->data); /* a view of a contiguous input */
    nn_tensor *g = nn_tensor_from(v, NN_SHAPE(2, 12));
    nn_tensor *dx = nn_backward(m, g);
    assert_int_equal(dx->ndim, 4);
    assert_int_equal(dx->shape[1], 3);
    assert_close(dx->data, v, 24, 0, 0);

    /* strided input: a copy in row-major order of the logical elements */
    nn_tensor *xs = strided_copy(x);
    y = nn_forward(m, xs);
    assert_true(nn_tensor_is_contiguous(y));
    assert_close(y->data, v, 24, 0, 0);
    nn_tensor *gs = strided_copy(g);
    dx = nn_backward(m, gs);
    float back[24];
    nn_tensor_copy_out(dx, back);
    assert_close(back, v, 24, 0, 0);

    /* 3-D [N, L, F] -> [N, L*F]; 2-D stays */
    nn_tensor *x3 = nn_tensor_from(v, NN_SHAPE(4, 3, 2));
    y = nn_forward(m, x3);
    assert_int_equal(y->shape[0], 4);
    assert_int_equal(y->shape[1], 6);

    nn_tensor *x1 = nn_tensor_from(v, NN_SHAPE(5));
    assert_null(nn_forward(m, x1));
    assert_error_mentions("nn_forward", "Flatten(start_dim=1, end_dim=-1)", "[5]");
    assert_null(nn_backward(m, x1));
    assert_error_mentions("nn_backward", "[4, 6]", "[5]");
    nn_tensor_free(gs);
    nn_tensor_free(x1);
    nn_tensor_free(x3);
    nn_tensor_free(xs);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

/* --- Dropout */

static void test_dropout_eval_is_identity(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    nn_module *d = nn_dropout(0.5f);
    nn_sequential_add(net, NULL, d);
    nn_module_train(net, false);
    float v[6] = {1, -2, 3, -4, 5, -6};
    nn_tensor *x = nn_tensor_from(v, NN_SHAPE(2, 3));
    nn_tensor *y = nn_forward(net, x);
    assert_close(y->data, v, 6, 0, 0);
    nn_tensor *dx = nn_backward(net, x);
    assert_close(dx->data, v, 6, 0, 0);
    nn_module_train(net, true); /* reaches the child again */
    nn_tensor *big = nn_tensor_new(NN_SHAPE(1000));
    nn_tensor_fill(big, 1.0f);
    y = nn_forward(net, big);
    int zeros = 0;
    for (int i = 0; i < 1000; i++)
        zeros += y->data[i] == 0.0f;
    assert_true(zeros > 400 && zeros < 600);
    nn_tensor_free(big);
    nn_tensor_free(x);
    nn_module_free(net);
}

/* A Sequential runs ReLU -> MaxPool2d as one pass (MaxPool2d's
   forward_after_relu); output and dL/dx must be bit for bit those of the
   two modules called one after the other, with the special values that
   make relu and max disagree about ties: NaN, +0, -0 (first or later in a
   window), all-negative windows, equal maxima. */
static uint32_t lcg_state;
static float special_value(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    uint32_t r = lcg_state >> 8;
    switch (r % 16) {
    case 0: return NAN;
    case 1: case 2: return 0.0f;
    case 3: case 4: return -0.0f;
    default: return (float)((int)(r / 16 % 9) - 5) * 0.25f; /* few levels: ties; mostly <= 0 */
    }
}

static bool has_negative_zero(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (v[i] == 0.0f && signbit(v[i]))
            return true;
    return false;
}

static void check_relu_pool_pair(const nn_maxpool2d_opts *o, int64_t n, int64_t c, int64_t h, int64_t w)
{
    nn_tensor *x = nn_tensor_new(NN_SHAPE(n, c, h, w));
    for (int64_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = special_value();
    nn_module *seq = nn_sequential(), *relu = nn_relu(), *pool = nn_maxpool2d_ex(o);
    assert_int_equal(nn_sequential_add(seq, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(seq, NULL, nn_maxpool2d_ex(o)), NN_OK);
    nn_tensor *y1 = nn_forward(seq, x), *r = nn_forward(relu, x), *y2 = r ? nn_forward(pool, r) : NULL;
    assert_non_null(y1);
    assert_non_null(y2);
    assert_int_equal(y1->ndim, y2->ndim);
    assert_memory_equal(y1->shape, y2->shape, (size_t)y1->ndim * sizeof *y1->shape);
    int64_t ny = nn_tensor_numel(y1);
    assert_memory_equal(y1->data, y2->data, (size_t)ny * sizeof(float));
    int nans = 0, zeros = 0;
    for (int64_t i = 0; i < ny; i++) {
        nans += isnan(y1->data[i]);
        zeros += y1->data[i] == 0.0f;
    }
    assert_true(nans > 0 && zeros > 0 && has_negative_zero(y1->data, ny)); /* the cases were hit */
    nn_tensor *g = nn_tensor_new(y1->ndim, y1->shape);
    for (int64_t i = 0; i < ny; i++)
        g->data[i] = i % 7 == 0 ? -0.0f : (float)(i % 5) - 1.5f;
    nn_tensor *d1 = nn_backward(seq, g), *dp = nn_backward(pool, g), *d2 = dp ? nn_backward(relu, dp) : NULL;
    assert_non_null(d1);
    assert_non_null(d2);
    assert_memory_equal(d1->data, d2->data, (size_t)nn_tensor_numel(x) * sizeof(float));
    nn_tensor_free(g);
    nn_module_free(pool);
    nn_module_free(relu);
    nn_module_free(seq);
    nn_tensor_free(x);
}

static void test_relu_maxpool_pair_is_exact(void **state)
{
    (void)state;
    lcg_state = 12345;
    nn_maxpool2d_opts two = {.kernel_h = 2, .kernel_w = 2};
    check_relu_pool_pair(&two, 2, 3, 8, 10);   /* 2x2 path, rows of 5: vector + overlap */
    check_relu_pool_pair(&two, 2, 3, 7, 9);    /* odd sides */
    check_relu_pool_pair(&two, 3, 4, 6, 6);    /* rows of 3: scalar only */
    check_relu_pool_pair(&two, 4, 16, 32, 32); /* big enough for the threads */
    nn_maxpool2d_opts k3 = {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    check_relu_pool_pair(&k3, 2, 3, 9, 8); /* overlapping windows, padding */
    nn_maxpool2d_opts dil = {.kernel_h = 2, .kernel_w = 3, .stride_h = 1, .stride_w = 2, .dilation_h = 2,
                             .ceil_mode = true};
    check_relu_pool_pair(&dil, 2, 2, 9, 11);
}

/* torch's repr keeps its '.' under a comma-decimal locale. */
static void test_dropout_repr_comma_locale(void **state)
{
    (void)state;
    nn_module *m = nn_dropout(0.3f);
    comma_locale_begin();
    char got[64];
    snprintf(got, sizeof got, "%s", repr_of(m));
    comma_locale_end();
    assert_string_equal(got, "Dropout(p=0.3, inplace=False)");
    nn_module_free(m);
}

static void test_dropout_training_statistics(void **state)
{
    (void)state;
    const int64_t n = 200000;
    const float p = 0.3f;
    nn_manual_seed(11);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(400, 500));
    for (int64_t i = 0; i < n; i++)
        x->data[i] = 1.0f + (float)(i % 7);
    nn_module *m = nn_dropout(p);
    assert_string_equal(repr_of(m), "Dropout(p=0.3, inplace=False)");
    nn_tensor *y = nn_forward(m, x);
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y->data[i] == 0.0f) {
            zeros++;
            continue;
        }
        assert_float_equal(y->data[i], x->data[i] * (1.0f / (1.0f - p)), 1e-5 * x->data[i]);
    }
    double frac = (double)zeros / (double)n; /* sd ~0.001 */
    assert_true(fabs(frac - p) < 0.006);
    /* backward multiplies by the same mask */
    nn_tensor *g = nn_tensor_new(NN_SHAPE(400, 500));
    nn_tensor_fill(g, 2.0f);
    nn_tensor *dx = nn_backward(m, g);
    for (int64_t i = 0; i < n; i++)
        assert_float_equal(dx->data[i], y->data[i] == 0.0f ? 0.0f : 2.0f / (1.0f - p), 1e-5);
    /* a second forward draws a new mask */
    float first = 0;
    for (int64_t i = 0; i < 100; i++)
        first += y->data[i] == 0.0f ? (float)i : 0.0f;
    y = nn_forward(m, x);
    float second = 0;
    for (int64_t i = 0; i < 100; i++)
        second += y->data[i] == 0.0f ? (float)i : 0.0f;
    assert_true(first != second);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

static void test_dropout_edges_and_gradient(void **state)
{
    (void)state;
    float v[4] = {1, 2, 3, 4};
    nn_tensor *x = nn_tensor_from(v, NN_SHAPE(4));
    nn_module *all = nn_dropout(1.0f), *none = nn_dropout(0.0f);
    nn_tensor *y = nn_forward(all, x);
    assert_close(y->data, ((float[]){0, 0, 0, 0}), 4, 0, 0);
    y = nn_forward(none, x);
    assert_close(y->data, v, 4, 0, 0);

    nn_module *m = nn_dropout(0.4f);
    nn_tensor *xs = nn_tensor_new(NN_SHAPE(6, 5));
    for (int i = 0; i < 30; i++)
        xs->data[i] = (float)i * 0.1f - 1.0f;
    float g[30];
    for (int i = 0; i < 30; i++)
        g[i] = 1.0f + (float)(i % 3);
    check_gradient(m, xs, g, true);

    /* strided input gives the elements in logical order */
    nn_tensor *st = strided_copy(xs);
    nn_module_train(m, false);
    y = nn_forward(m, st);
    assert_close(y->data, xs->data, 30, 0, 0);

    assert_null(nn_dropout(-0.1f));
    assert_error_mentions("nn_dropout", "between 0 and 1", "-0.1");
    assert_null(nn_dropout(1.5f));
    assert_error_mentions("nn_dropout", "1.5");
    assert_null(nn_dropout(NAN));
    nn_module *fresh = nn_dropout(0.5f);
    assert_null(nn_backward(fresh, x));
    assert_error_mentions("nn_backward", "before forward");
    nn_forward(fresh, x);
    assert_null(nn_backward(fresh, xs));
    assert_error_mentions("nn_backward", "[4]", "[6, 5]");
    nn_module_free(fresh);
    nn_tensor_free(st);
    nn_tensor_free(xs);
    nn_tensor_free(x);
    nn_module_free(m);
    nn_module_free(all);
    nn_module_free(none);
}

/* --- together */

static void test_reprs(void **state)
{
    (void)state;
#define CHECK_REPR(ctor, want)                     \
    do {                                           \
        nn_module *m_ = ctor;                      \
        assert_non_null(m_);                       \
        assert_string_equal(repr_of(m_), want);    \
        nn_module_free(m_);                        \
    } while (0);
    IMGCLS_REPRS(CHECK_REPR)
#undef CHECK_REPR
}

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    nn_sequential_add(net, NULL, nn_maxpool2d(2, 0));
    nn_sequential_add(net, NULL, nn_dropout(0.2f));
    nn_sequential_add(net, NULL, nn_flatten());
    nn_tensor *x = nn_tensor_new(NN_SHAPE(4, 3, 8, 8));
    for (int i = 0; i < 4 * 3 * 64; i++)
        x->data[i] = (float)((i * 13) % 17);
    nn_tensor *xs = strided_copy(x);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(4, 48));
    nn_tensor_fill(g, 1.0f);
    for (int round = 0; round < 3; round++) {
        if (round == 2)
            nn_set_allocator(tu_alloc, free);
        tu_allocs = 0;
        assert_non_null(nn_forward(net, round % 2 ? xs : x));
        assert_non_null(nn_backward(net, g));
    }
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);
    assert_string_equal(repr_of(net), "Sequential(\n"
                                      "  (0): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
                                      "  (1): Dropout(p=0.2, inplace=False)\n"
                                      "  (2): Flatten(start_dim=1, end_dim=-1)\n"
                                      ")");
    nn_tensor_free(g);
    nn_tensor_free(xs);
    nn_tensor_free(x);
    nn_module_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_repr_comma_locale),
        cmocka_unit_test(test_relu_maxpool_pair_is_exact),
        cmocka_unit_test(test_maxpool_matches_torch),
        cmocka_unit_test(test_maxpool_ties_take_first_index),
        cmocka_unit_test(test_maxpool_nan_propagates),
        cmocka_unit_test(test_maxpool_nan_matches_torch),
        cmocka_unit_test(test_maxpool_failed_forward_changes_nothing),
        cmocka_unit_test(test_maxpool_finite_differences),
        cmocka_unit_test(test_maxpool_bad_input),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_dropout_eval_is_identity),
        cmocka_unit_test(test_dropout_training_statistics),
        cmocka_unit_test(test_dropout_edges_and_gradient),
        cmocka_unit_test(test_reprs),
        cmocka_unit_test(test_steady_state_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
