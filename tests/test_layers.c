/* Layers: Linear, Conv2d, Sigmoid, Tanh against PyTorch 1.13
   (tests/fixtures/layers.h from tests/gen_layers.py), central finite
   differences, strided inputs, gradient accumulation, initial weights per
   seed, reprs, bad input and steady-state allocation counts. */
#include "testutil.h"

#include <stdlib.h>

#include "fixtures/layers.h"

#define RTOL 1e-4
#define ATOL 1e-5

/* --- helpers ------------------------------------------------------------ */

static nn_param *params_of(nn_module *m, int expect)
{
    nn_param *p = NULL;
    assert_int_equal(nn_module_params(m, &p), expect);
    return p;
}

static void set_param(nn_module *m, int i, const float *data)
{
    nn_param *p;
    assert_true(nn_module_params(m, &p) > i);
    memcpy(p[i].value->data, data, (size_t)nn_tensor_numel(p[i].value) * sizeof(float));
}

/* A tensor snapshot to check that a failed call changed nothing. */
typedef struct {
    const nn_tensor *t;
    nn_tensor shape_only;
    float *data;
} snapshot;

static snapshot snap(const nn_tensor *t)
{
    snapshot s = {t, *t, malloc((size_t)(nn_tensor_numel(t) + 1) * sizeof(float))};
    assert_non_null(s.data);
    nn_tensor_copy_out(t, s.data);
    return s;
}

static void assert_unchanged(snapshot *s)
{
    assert_int_equal(s->t->ndim, s->shape_only.ndim);
    assert_memory_equal(s->t->shape, s->shape_only.shape, (size_t)s->t->ndim * sizeof(int64_t));
    assert_ptr_equal(s->t->data, s->shape_only.data);
    int64_t n = nn_tensor_numel(s->t);
    float *now = malloc((size_t)(n + 1) * sizeof(float));
    nn_tensor_copy_out(s->t, now);
    assert_memory_equal(now, s->data, (size_t)n * sizeof(float));
    free(now);
    free(s->data);
}

/* --- counting allocator for the steady-state check ---------------------- */

/* --- central finite differences ----------------------------------------- */

/* loss = sum(out * r) in double, r fixed. */
static double loss_of(nn_module *m, const nn_tensor *x, const float *r)
{
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    int64_t n = nn_tensor_numel(y);
    float *v = malloc((size_t)(n + 1) * sizeof(float));
    nn_tensor_copy_out(y, v);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)v[i] * r[i];
    free(v);
    return s;
}

/* Compares an analytic gradient with central differences of the loss in
   each element of `var` (contiguous), which the module reads. */
static void fd_compare(nn_module *m, const nn_tensor *x, const float *r, float *var, int64_t n,
                       const float *analytic, float h, double tol)
{
    double norm = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = var[i];
        var[i] = keep + h;
        double up = loss_of(m, x, r);
        var[i] = keep - h;
        double down = loss_of(m, x, r);
        var[i] = keep;
        double numeric = (up - down) / (2.0 * (double)h);
        norm += fabs(numeric);
        if (fabs(numeric - analytic[i]) > tol * (1.0 + fabs(numeric))) {
            fprintf(stderr, "fd[%lld]: analytic %.7g numeric %.7g\n", (long long)i, analytic[i], numeric);
            fail();
        }
    }
    assert_true(norm > 1e-3); /* the checked gradient is not all zero */
}

/* Checks dL/dx and every parameter gradient of m at x by finite differences. */
static void fd_check_module(nn_module *m, nn_tensor *x, float h, double tol)
{
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    int64_t ny = nn_tensor_numel(y), nx = nn_tensor_numel(x);
    float *r = malloc((size_t)ny * sizeof(float));
    srand(7);
    for (int64_t i = 0; i < ny; i++)
        r[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    nn_tensor *g = tensor_of(r, y->ndim, y->shape);
    nn_zero_grad(m);
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    float *dxv = malloc((size_t)nx * sizeof(float));
    nn_tensor_copy_out(dx, dxv);
    fd_compare(m, x, r, x->data, nx, dxv, h, tol);
    nn_param *p;
    int np = nn_module_params(m, &p);
    for (int i = 0; i < np; i++)
        fd_compare(m, x, r, p[i].value->data, nn_tensor_numel(p[i].value), p[i].grad->data, h, tol);
    free(dxv);
    free(r);
    nn_tensor_free(g);
}

/* Inputs in [-1, 1] from a fixed sequence, kept off ReLU-like kinks. */
static nn_tensor *random_input(int ndim, const int64_t *shape, unsigned seed)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    srand(seed);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++) {
        float v = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
        t->data[i] = fabsf(v) < 0.05f ? v + 0.1f : v;
    }
    return t;
}

/* --- generic forward/backward check against torch ----------------------- */

typedef struct {
    const float *x, *gy, *y, *dx, *dw, *db;
    int ndim;
    const int64_t *xshape;
} reference;

/* Forward, backward, then a second forward and backward (each backward
   needs its own forward, as in PyTorch) that must double the parameter
   gradients (they accumulate) and give the same y and dx. */
static void check_against_torch(nn_module *m, const reference *ref, bool strided)
{
    nn_tensor *x = tensor_of(ref->x, ref->ndim, ref->xshape);
    nn_tensor *xs = strided ? strided_copy(x) : NULL;
    nn_tensor *y = nn_forward(m, strided ? xs : x);
    assert_non_null(y);
    assert_tensor_close(y, ref->y, nn_tensor_numel(y), RTOL, ATOL);
    nn_tensor *gy = tensor_of(ref->gy, y->ndim, y->shape);
    nn_tensor *gys = strided && y->ndim >= 2 ? strided_copy(gy) : NULL;
    nn_zero_grad(m);
    nn_param *p;
    int np = nn_module_params(m, &p);
    for (int pass = 1; pass <= 2; pass++) {
        if (pass == 2) {
            y = nn_forward(m, strided ? xs : x);
            assert_non_null(y);
            assert_tensor_close(y, ref->y, nn_tensor_numel(y), RTOL, ATOL);
        }
        nn_tensor *dx = nn_backward(m, gys ? gys : gy);
        assert_non_null(dx);
        assert_shape(dx, ref->ndim, ref->xshape);
        assert_tensor_close(dx, ref->dx, numel_of(ref->ndim, ref->xshape), RTOL, ATOL);
        for (int i = 0; i < np; i++) {
            int64_t n = nn_tensor_numel(p[i].grad);
            const float *want = i == 0 ? ref->dw : ref->db;
            float *scaled = malloc((size_t)n * sizeof(float));
            for (int64_t j = 0; j < n; j++)
                scaled[j] = (float)pass * want[j];
            assert_close(p[i].grad->data, scaled, n, RTOL, ATOL * pass);
            free(scaled);
        }
    }
    nn_tensor_free(gys);
    nn_tensor_free(gy);
    nn_tensor_free(xs);
    nn_tensor_free(x);
}

/* --- Linear ------------------------------------------------------------- */

static nn_module *linear_from_case(const linear_case *c)
{
    nn_module *m = nn_linear(c->in, c->out, c->bias);
    assert_non_null(m);
    params_of(m, c->bias ? 2 : 1);
    set_param(m, 0, c->w);
    if (c->bias)
        set_param(m, 1, c->b);
    return m;
}

static void test_linear_matches_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof linear_cases / sizeof *linear_cases; k++) {
        const linear_case *c = &linear_cases[k];
        for (int strided = 0; strided <= (c->ndim >= 2); strided++) {
            nn_module *m = linear_from_case(c);
            reference ref = {c->x, c->gy, c->y, c->dx, c->dw, c->db, c->ndim, c->xshape};
            check_against_torch(m, &ref, strided);
            assert_repr(m, c->repr);
            nn_module_free(m);
        }
    }
}

static void test_linear_params_and_repr(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 5, true);
    nn_param *p = params_of(m, 2);
    assert_string_equal(p[0].name, "weight");
    assert_string_equal(p[1].name, "bias");
    assert_shape(p[0].value, NN_SHAPE(5, 2));
    assert_shape(p[1].value, NN_SHAPE(5));
    assert_shape(p[0].grad, NN_SHAPE(5, 2));
    assert_string_equal(printed(m), "Linear(in_features=2, out_features=5, bias=True)\n");
    assert_string_equal(nn_module_type(m), "Linear");
    nn_module_free(m);
    m = nn_linear(3, 1, false);
    p = params_of(m, 1);
    assert_string_equal(p[0].name, "weight");
    assert_string_equal(printed(m), "Linear(in_features=3, out_features=1, bias=False)\n");
    nn_module_free(m);
}

static void test_linear_finite_differences(void **state)
{
    (void)state;
    const struct {
        int64_t in, out;
        bool bias;
        int ndim;
        int64_t shape[3];
    } cases[] = {{3, 4, true, 1, {3}}, {3, 2, true, 2, {5, 3}}, {2, 3, false, 3, {2, 2, 2}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        nn_manual_seed(k);
        nn_module *m = nn_linear(cases[k].in, cases[k].out, cases[k].bias);
        nn_tensor *x = random_input(cases[k].ndim, cases[k].shape, 11 + (unsigned)k);
        fd_check_module(m, x, 0.05f, 1e-3);
        nn_tensor_free(x);
        nn_module_free(m);
    }
}

static void test_linear_zero_batch(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 5, true);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(0, 2));
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    assert_shape(y, NN_SHAPE(0, 5));
    nn_tensor *g = nn_tensor_new(NN_SHAPE(0, 5));
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    assert_shape(dx, NN_SHAPE(0, 2));
    nn_param *p = params_of(m, 2);
    for (int i = 0; i < 10; i++)
        assert_true(p[0].grad->data[i] == 0.0f);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

static void test_init_matches_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof init_seeds / sizeof *init_seeds; k++) {
        nn_manual_seed(init_seeds[k]);
        nn_module *a = nn_linear(3, 4, true);
        nn_module *c = nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 2, .out_channels = 3, .kernel_h = 2,
                                                      .kernel_w = 3, .bias = true});
        nn_module *b = nn_linear(5, 2, false);
        nn_param *p = params_of(a, 2);
        assert_memory_equal(p[0].value->data, init_lin_w[k], 12 * sizeof(float));
        assert_memory_equal(p[1].value->data, init_lin_b[k], 4 * sizeof(float));
        p = params_of(c, 2);
        assert_memory_equal(p[0].value->data, init_conv_w[k], 36 * sizeof(float));
        assert_memory_equal(p[1].value->data, init_conv_b[k], 3 * sizeof(float));
        p = params_of(b, 1);
        assert_memory_equal(p[0].value->data, init_lin2_w[k], 10 * sizeof(float));
        nn_module_free(b);
        nn_module_free(c);
        nn_module_free(a);
    }
}

static void test_linear_errors(void **state)
{
    (void)state;
    assert_null(nn_linear(0, 5, true));
    assert_error_mentions("nn_linear", "0");
    assert_null(nn_linear(2, -1, true));
    assert_error_mentions("nn_linear", "-1");

    nn_module *m = nn_linear(2, 5, true);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(4, 5));
    assert_null(nn_backward(m, g));
    assert_error_mentions("nn_backward: Linear: called before forward");

    nn_tensor *x = random_input(NN_SHAPE(4, 2), 3);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    /* each backward needs its own forward: one for the backward below */
    y = nn_forward(m, x);
    assert_non_null(y);
    nn_param *p = params_of(m, 2);
    snapshot sy = snap(y), sdx = snap(dx), sw = snap(p[0].value), sgw = snap(p[0].grad),
             sgb = snap(p[1].grad);

    nn_tensor *bad = nn_tensor_new(NN_SHAPE(4, 3));
    assert_null(nn_forward(m, bad));
    assert_error_mentions("nn_forward: Linear(in_features=2) got input of shape [4, 3]");
    nn_tensor *scalar = nn_tensor_new(0, NULL);
    assert_null(nn_forward(m, scalar));
    assert_error_mentions("nn_forward: Linear(in_features=2) got input of shape []");
    assert_null(nn_forward(m, NULL));
    assert_error_mentions("nn_forward", "NULL");

    nn_tensor *bad_g = nn_tensor_new(NN_SHAPE(4, 4));
    assert_null(nn_backward(m, bad_g));
    assert_error_mentions("nn_backward: Linear(in_features=2) expected grad_out of shape [4, 5], got [4, 4]");
    nn_tensor *bad_g2 = nn_tensor_new(NN_SHAPE(3, 5));
    assert_null(nn_backward(m, bad_g2));
    assert_error_mentions("[4, 5]", "[3, 5]");

    assert_unchanged(&sy);
    assert_unchanged(&sdx);
    assert_unchanged(&sw);
    assert_unchanged(&sgw);
    assert_unchanged(&sgb);
    /* still usable */
    assert_non_null(nn_backward(m, g));
    nn_tensor_free(bad_g2);
    nn_tensor_free(bad_g);
    nn_tensor_free(scalar);
    nn_tensor_free(bad);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);
}

/* Feeding a layer's own output back in (y = lin(lin(x))) stays correct. */
static void test_linear_reuses_own_output(void **state)
{
    (void)state;
    nn_module *m = nn_linear(3, 3, true);
    nn_tensor *x = random_input(NN_SHAPE(2, 3), 5);
    nn_tensor *y1 = nn_forward(m, x);
    float first[6];
    nn_tensor_copy_out(y1, first);
    nn_tensor *x1 = tensor_of(first, NN_SHAPE(2, 3));
    nn_module *ref = nn_linear(3, 3, true);
    nn_param *p = params_of(m, 2), *q = params_of(ref, 2);
    memcpy(q[0].value->data, p[0].value->data, 9 * sizeof(float));
    memcpy(q[1].value->data, p[1].value->data, 3 * sizeof(float));
    nn_tensor *y2 = nn_forward(m, y1);
    nn_tensor *want = nn_forward(ref, x1);
    assert_tensor_close(y2, want->data, nn_tensor_numel(want), 0, 0);
    nn_tensor *dx = nn_backward(m, y2); /* grad_out aliasing the output */
    nn_tensor *want_dx = nn_backward(ref, want);
    assert_tensor_close(dx, want_dx->data, nn_tensor_numel(want_dx), 0, 0);
    assert_memory_equal(p[0].grad->data, q[0].grad->data, 9 * sizeof(float));
    /* grad_out aliasing our own dx (after a forward of the same values:
       each backward needs its own forward) */
    assert_non_null(nn_forward(m, x1));
    assert_non_null(nn_forward(ref, x1));
    dx = nn_backward(m, dx);
    want_dx = nn_backward(ref, want_dx);
    assert_non_null(dx);
    assert_tensor_close(dx, want_dx->data, nn_tensor_numel(want_dx), 0, 0);
    nn_tensor_free(x1);
    nn_tensor_free(x);
    nn_module_free(ref);
    nn_module_free(m);
}

static void test_linear_steady_state(void **state)
{
    (void)state;
    nn_module *m = nn_linear(4, 3, true);
    nn_tensor *x = random_input(NN_SHAPE(5, 4), 1);
    nn_tensor *g = random_input(NN_SHAPE(5, 3), 2);
    assert_steady_state(m, x, g);
    nn_tensor *xs = strided_copy(x), *gs = strided_copy(g);
    assert_steady_state(m, xs, gs);
    nn_tensor_free(xs);
    nn_tensor_free(gs);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);
}


/* --- Conv2d ------------------------------------------------------------- */

static nn_conv2d_opts opts_of(const conv_case *c)
{
    return (nn_conv2d_opts){.in_channels = c->in, .out_channels = c->out, .kernel_h = c->kh,
                            .kernel_w = c->kw, .stride_h = c->sh, .stride_w = c->sw,
                            .pad_h = c->ph, .pad_w = c->pw, .dilation_h = c->dil_h,
                            .dilation_w = c->dil_w, .bias = c->bias};
}

static void test_conv_matches_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof conv_cases / sizeof *conv_cases; k++) {
        const conv_case *c = &conv_cases[k];
        for (int strided = 0; strided <= 1; strided++) {
            nn_conv2d_opts o = opts_of(c);
            nn_module *m = nn_conv2d_ex(&o);
            assert_non_null(m);
            nn_param *p = params_of(m, c->bias ? 2 : 1);
            assert_shape(p[0].value, NN_SHAPE(c->out, c->in, c->kh, c->kw));
            set_param(m, 0, c->w);
            if (c->bias)
                set_param(m, 1, c->b);
            reference ref = {c->x, c->gy, c->y, c->dx, c->dw, c->db, c->ndim, c->xshape};
            nn_tensor *x = tensor_of(c->x, c->ndim, c->xshape);
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            assert_shape(y, c->ndim, c->yshape);
            nn_tensor_free(x);
            check_against_torch(m, &ref, strided);
            assert_repr(m, c->repr);
            nn_module_free(m);
        }
    }
}

static void test_conv_reprs(void **state)
{
    (void)state;
    nn_module *m = nn_conv2d(1, 20, 1, 0, 0); /* stride 0 means 1 */
    assert_repr(m, "Conv2d(1, 20, kernel_size=(1, 1), stride=(1, 1))");
    assert_string_equal(nn_module_type(m), "Conv2d");
    nn_param *p = params_of(m, 2);
    assert_string_equal(p[0].name, "weight");
    assert_string_equal(p[1].name, "bias");
    assert_shape(p[0].value, NN_SHAPE(20, 1, 1, 1));
    assert_shape(p[1].value, NN_SHAPE(20));
    nn_module_free(m);
    m = nn_conv2d(3, 8, 3, 2, 1);
    assert_repr(m, "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))");
    nn_module_free(m);
    m = nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 2, .out_channels = 3, .kernel_h = 3, .kernel_w = 2,
                                       .pad_w = 1, .dilation_h = 2});
    assert_repr(m, "Conv2d(2, 3, kernel_size=(3, 2), stride=(1, 1), padding=(0, 1), dilation=(2, 1), bias=False)");
    nn_module_free(m);
}

static void test_conv_finite_differences(void **state)
{
    (void)state;
    const struct {
        nn_conv2d_opts o;
        int ndim;
        int64_t shape[4];
    } cases[] = {
        {{.in_channels = 2, .out_channels = 3, .kernel_h = 2, .kernel_w = 3, .stride_h = 2, .stride_w = 1,
          .pad_h = 1, .pad_w = 2, .dilation_h = 1, .dilation_w = 2, .bias = true},
         4, {2, 2, 5, 6}},
        {{.in_channels = 3, .out_channels = 2, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
          .pad_h = 1, .pad_w = 1},
         3, {3, 5, 4}},
        {{.in_channels = 2, .out_channels = 2, .kernel_h = 1, .kernel_w = 1, .bias = true}, 4, {2, 2, 3, 2}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        nn_manual_seed(k + 5);
        nn_module *m = nn_conv2d_ex(&cases[k].o);
        assert_non_null(m);
        nn_tensor *x = random_input(cases[k].ndim, cases[k].shape, 21 + (unsigned)k);
        fd_check_module(m, x, 0.05f, 1e-3);
        nn_tensor_free(x);
        nn_module_free(m);
    }
}

static void test_conv_zero_batch(void **state)
{
    (void)state;
    nn_module *m = nn_conv2d(1, 2, 3, 1, 0);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(0, 1, 5, 5));
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    assert_shape(y, NN_SHAPE(0, 2, 3, 3));
    nn_tensor *g = nn_tensor_new(NN_SHAPE(0, 2, 3, 3));
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    assert_shape(dx, NN_SHAPE(0, 1, 5, 5));
    nn_param *p = params_of(m, 2);
    for (int i = 0; i < 18; i++)
        assert_true(p[0].grad->data[i] == 0.0f);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

static void test_conv_errors(void **state)
{
    (void)state;
    assert_null(nn_conv2d_ex(NULL));
    assert_error_mentions("nn_conv2d_ex", "NULL");
    assert_null(nn_conv2d(1, 2, 0, 1, 0));
    assert_error_mentions("nn_conv2d:", "kernel", "(0, 0)");
    assert_null(nn_conv2d(0, 2, 3, 1, 0));
    assert_error_mentions("nn_conv2d:", "in_channels");
    assert_null(nn_conv2d(1, -2, 3, 1, 0));
    assert_error_mentions("nn_conv2d:", "-2");
    assert_null(nn_conv2d(1, 2, 3, -1, 0));
    assert_error_mentions("nn_conv2d:", "stride", "-1");
    assert_null(nn_conv2d(1, 2, 3, 1, -1));
    assert_error_mentions("nn_conv2d:", "padding", "-1");
    assert_null(nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 1, .kernel_h = 3, .kernel_w = -3}));
    assert_error_mentions("nn_conv2d_ex:", "(3, -3)");
    assert_null(nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 1, .kernel_h = 3, .kernel_w = 3,
                                               .dilation_w = -1}));
    assert_error_mentions("nn_conv2d_ex:", "dilation");

    nn_module *m = nn_conv2d(1, 2, 3, 1, 0);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 2, 3, 3));
    assert_null(nn_backward(m, g));
    assert_error_mentions("nn_backward: Conv2d: called before forward");
    nn_tensor *x = random_input(NN_SHAPE(2, 1, 5, 5), 4);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    /* each backward needs its own forward: one for the backward below */
    y = nn_forward(m, x);
    assert_non_null(y);
    nn_param *p = params_of(m, 2);
    snapshot sy = snap(y), sdx = snap(dx), sw = snap(p[0].value), sgw = snap(p[0].grad),
             sgb = snap(p[1].grad);

    nn_tensor *bad = nn_tensor_new(NN_SHAPE(2, 3, 5, 5));
    assert_null(nn_forward(m, bad));
    assert_error_mentions("nn_forward: Conv2d(in_channels=1) expected input of shape [N, 1, H, W] or [1, H, W], got [2, 3, 5, 5]");
    nn_tensor *flat = nn_tensor_new(NN_SHAPE(5, 5));
    assert_null(nn_forward(m, flat));
    assert_error_mentions("got [5, 5]");
    nn_tensor *five = nn_tensor_new(NN_SHAPE(1, 1, 1, 5, 5));
    assert_null(nn_forward(m, five));
    assert_error_mentions("got [1, 1, 1, 5, 5]");
    nn_tensor *small = nn_tensor_new(NN_SHAPE(1, 1, 2, 5));
    assert_null(nn_forward(m, small));
    assert_error_mentions("nn_forward: Conv2d(in_channels=1)", "larger than the padded input (2, 5)", "[1, 1, 2, 5]");
    nn_tensor *empty = nn_tensor_new(NN_SHAPE(1, 0, 5));
    assert_null(nn_forward(m, empty));
    assert_error_mentions("[1, 0, 5]");

    nn_tensor *bad_g = nn_tensor_new(NN_SHAPE(2, 2, 3, 4));
    assert_null(nn_backward(m, bad_g));
    assert_error_mentions("nn_backward: Conv2d(in_channels=1) expected grad_out of shape [2, 2, 3, 3], got [2, 2, 3, 4]");
    nn_tensor *bad_g2 = nn_tensor_new(NN_SHAPE(2, 3, 3));
    assert_null(nn_backward(m, bad_g2));
    assert_error_mentions("[2, 2, 3, 3]", "[2, 3, 3]");

    assert_unchanged(&sy);
    assert_unchanged(&sdx);
    assert_unchanged(&sw);
    assert_unchanged(&sgw);
    assert_unchanged(&sgb);
    assert_non_null(nn_backward(m, g));
    nn_tensor_free(bad_g2);
    nn_tensor_free(bad_g);
    nn_tensor_free(empty);
    nn_tensor_free(small);
    nn_tensor_free(five);
    nn_tensor_free(flat);
    nn_tensor_free(bad);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);

    /* dilation makes the kernel too large; padding makes it fit */
    m = nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 1, .kernel_h = 3, .kernel_w = 3,
                                       .dilation_h = 3, .dilation_w = 3});
    x = nn_tensor_new(NN_SHAPE(1, 6, 7));
    assert_null(nn_forward(m, x));
    assert_error_mentions("(7, 7)", "(6, 7)");
    nn_module_free(m);
    m = nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 1, .kernel_h = 3, .kernel_w = 3,
                                       .dilation_h = 3, .dilation_w = 3, .pad_h = 1});
    y = nn_forward(m, x);
    assert_non_null(y);
    assert_shape(y, NN_SHAPE(1, 2, 1));
    nn_tensor_free(x);
    nn_module_free(m);
}

static void test_conv_steady_state(void **state)
{
    (void)state;
    nn_module *m = nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 2, .out_channels = 3, .kernel_h = 3,
                                                  .kernel_w = 2, .stride_h = 2, .pad_w = 1, .bias = true});
    nn_tensor *x = random_input(NN_SHAPE(2, 2, 6, 5), 1);
    nn_tensor *y = nn_forward(m, x);
    nn_tensor *g = random_input(y->ndim, y->shape, 2);
    assert_steady_state(m, x, g);
    nn_tensor *xs = strided_copy(x), *gs = strided_copy(g);
    assert_steady_state(m, xs, gs);
    nn_tensor_free(xs);
    nn_tensor_free(gs);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);
}

/* Conv2d the plainest way, in double: y = conv(x) + b, and the gradients
   dx, dW, db for grad_out gy. */
typedef struct {
    int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
} conv_dims;

static void conv_reference(const conv_dims *d, const float *x, const float *w, const float *b,
                           const float *gy, float *y, float *dx, float *dw, float *db)
{
    int64_t in = d->c * d->h * d->w, out = d->o * d->oh * d->ow, nw = d->o * d->c * d->kh * d->kw;
    double *ay = calloc((size_t)(d->n * out), sizeof(double));
    double *adx = calloc((size_t)(d->n * in), sizeof(double));
    double *adw = calloc((size_t)nw, sizeof(double));
    assert_true(ay && adx && adw);
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t o = 0; o < d->o; o++)
            for (int64_t oy = 0; oy < d->oh; oy++)
                for (int64_t ox = 0; ox < d->ow; ox++) {
                    int64_t yi = n * out + (o * d->oh + oy) * d->ow + ox;
                    ay[yi] = b[o];
                    for (int64_t c = 0; c < d->c; c++)
                        for (int64_t i = 0; i < d->kh; i++)
                            for (int64_t j = 0; j < d->kw; j++) {
                                int64_t iy = oy * d->sh - d->ph + i * d->dh, ix = ox * d->sw - d->pw + j * d->dw;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
                                    continue;
                                int64_t xi = n * in + (c * d->h + iy) * d->w + ix;
                                int64_t wi = ((o * d->c + c) * d->kh + i) * d->kw + j;
                                ay[yi] += (double)w[wi] * x[xi];
                                adx[xi] += (double)w[wi] * gy[yi];
                                adw[wi] += (double)gy[yi] * x[xi];
                            }
                }
    for (int64_t k = 0; k < d->n * out; k++)
        y[k] = (float)ay[k];
    for (int64_t k = 0; k < d->n * in; k++)
        dx[k] = (float)adx[k];
    for (int64_t k = 0; k < nw; k++)
        dw[k] = (float)adw[k];
    for (int64_t o = 0; o < d->o; o++) {
        double s = 0.0;
        for (int64_t n = 0; n < d->n; n++)
            for (int64_t p = 0; p < d->oh * d->ow; p++)
                s += gy[n * out + o * d->oh * d->ow + p];
        db[o] = (float)s;
    }
    free(ay);
    free(adx);
    free(adw);
}

/* Batches big enough to split over threads, uneven image groups for the
   weight gradient, the copy-free 1x1 path and strided/dilated kernels:
   every thread count gives the same bits, and they match the plain loops.
   Two backward calls accumulate. */
static void test_conv_threads_match_reference(void **state)
{
    (void)state;
    static const conv_dims dims[] = {
        /* n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw */
        {7, 8, 14, 14, 16, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0},
        {5, 16, 24, 24, 32, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
        {3, 6, 17, 19, 10, 3, 2, 2, 1, 2, 0, 1, 2, 0, 0},
        {19, 4, 9, 9, 24, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0},
        {1, 16, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, /* one image: threads inside the GEMMs */
        {2, 16, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, /* fewer images than threads */
    };
    int saved = nn_get_num_threads();
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        conv_dims d = dims[k];
        d.oh = (d.h + 2 * d.ph - d.dh * (d.kh - 1) - 1) / d.sh + 1;
        d.ow = (d.w + 2 * d.pw - d.dw * (d.kw - 1) - 1) / d.sw + 1;
        nn_conv2d_opts o = {.in_channels = d.c, .out_channels = d.o, .kernel_h = (int)d.kh,
                            .kernel_w = (int)d.kw, .stride_h = (int)d.sh, .stride_w = (int)d.sw,
                            .pad_h = (int)d.ph, .pad_w = (int)d.pw, .dilation_h = (int)d.dh,
                            .dilation_w = (int)d.dw, .bias = true};
        nn_tensor *x = random_input(NN_SHAPE(d.n, d.c, d.h, d.w), 40 + (unsigned)k);
        nn_tensor *gy = random_input(NN_SHAPE(d.n, d.o, d.oh, d.ow), 50 + (unsigned)k);
        int64_t ny = nn_tensor_numel(gy), nx = nn_tensor_numel(x), nw = d.o * d.c * d.kh * d.kw;
        float *want = malloc((size_t)(ny + nx + nw + d.o) * sizeof(float));
        float *first = malloc((size_t)(ny + nx + nw + d.o) * sizeof(float));
        assert_true(want && first);
        nn_module *ms[3];
        for (int t = 1; t <= 3; t++) {
            assert_int_equal(nn_set_num_threads(t), NN_OK);
            nn_manual_seed(100 + k); /* the same initial weights for every thread count */
            nn_module *m = ms[t - 1] = nn_conv2d_ex(&o);
            assert_non_null(m);
            nn_param *p = params_of(m, 2);
            if (t == 1)
                conv_reference(&d, x->data, p[0].value->data, p[1].value->data, gy->data, want,
                               want + ny, want + ny + nx, want + ny + nx + nw);
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            assert_close(y->data, want, ny, 1e-4, 1e-4);
            nn_tensor *dx = nn_backward(m, gy);
            assert_non_null(dx);
            assert_close(dx->data, want + ny, nx, 1e-4, 1e-4);
            assert_close(p[0].grad->data, want + ny + nx, nw, 1e-4, 1e-4);
            assert_close(p[1].grad->data, want + ny + nx + nw, d.o, 1e-4, 1e-4);
            if (t == 1) {
                memcpy(first, y->data, (size_t)ny * sizeof(float));
                memcpy(first + ny, dx->data, (size_t)nx * sizeof(float));
                memcpy(first + ny + nx, p[0].grad->data, (size_t)nw * sizeof(float));
                memcpy(first + ny + nx + nw, p[1].grad->data, (size_t)d.o * sizeof(float));
            } else {
                assert_memory_equal(dx->data, first + ny, (size_t)nx * sizeof(float));
                assert_memory_equal(y->data, first, (size_t)ny * sizeof(float));
                assert_memory_equal(p[0].grad->data, first + ny + nx, (size_t)nw * sizeof(float));
                assert_memory_equal(p[1].grad->data, first + ny + nx + nw, (size_t)d.o * sizeof(float));
            }
            /* a second forward and backward (each backward needs its own
               forward) adds the same gradient again */
            y = nn_forward(m, x);
            assert_non_null(y);
            assert_close(y->data, want, ny, 1e-4, 1e-4);
            assert_non_null(nn_backward(m, gy));
            for (int64_t i = 0; i < nw; i++)
                want[ny + nx + i] *= 2.0f;
            for (int64_t i = 0; i < d.o; i++)
                want[ny + nx + nw + i] *= 2.0f;
            assert_close(p[0].grad->data, want + ny + nx, nw, 1e-4, 1e-4);
            assert_close(p[1].grad->data, want + ny + nx + nw, d.o, 1e-4, 1e-4);
            for (int64_t i = 0; i < nw; i++)
                want[ny + nx + i] *= 0.5f;
            for (int64_t i = 0; i < d.o; i++)
                want[ny + nx + nw + i] *= 0.5f;
            if (t == 2)
                assert_steady_state(m, x, gy);
        }
        for (int t = 0; t < 3; t++)
            nn_module_free(ms[t]);
        free(want);
        free(first);
        nn_tensor_free(x);
        nn_tensor_free(gy);
    }
    assert_int_equal(nn_set_num_threads(saved), NN_OK);
}

/* --- Sigmoid, Tanh (and ReLU's aliasing) -------------------------------- */

typedef struct {
    nn_module *(*make)(void);
    const char *repr;
    const float *y, *dx;
} activation;

static const activation activations[] = {
    {nn_sigmoid, "Sigmoid()", sigmoid_y, sigmoid_dx},
    {nn_tanh, "Tanh()", tanh_y, tanh_dx},
};

static void test_activations_match_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof activations / sizeof *activations; k++) {
        const activation *a = &activations[k];
        for (int strided = 0; strided <= 1; strided++) {
            nn_module *m = a->make();
            assert_non_null(m);
            params_of(m, 0);
            assert_repr(m, a->repr);
            reference ref = {act_x, act_gy, a->y, a->dx, NULL, NULL, 2, (const int64_t[]){3, 6}};
            check_against_torch(m, &ref, strided);
            /* large |x| saturates cleanly: no NaN, exactly within [0, 1] / [-1, 1] */
            nn_tensor *x = tensor_of(act_x, NN_SHAPE(3, 6));
            nn_tensor *y = nn_forward(m, x);
            for (int i = 0; i < 18; i++)
                assert_true(y->data[i] >= -1.0f && y->data[i] <= 1.0f);
            nn_tensor_free(x);
            nn_module_free(m);
        }
    }
}

static void test_sigmoid_extremes(void **state)
{
    (void)state;
    nn_module *m = nn_sigmoid();
    const float xs[4] = {-1000.0f, 1000.0f, -INFINITY, INFINITY};
    nn_tensor *x = tensor_of(xs, NN_SHAPE(4));
    nn_tensor *y = nn_forward(m, x);
    assert_true(y->data[0] == 0.0f);
    assert_true(y->data[1] == 1.0f);
    assert_true(y->data[2] == 0.0f);
    assert_true(y->data[3] == 1.0f);
    nn_tensor *g = tensor_of((const float[]){1, 1, 1, 1}, NN_SHAPE(4));
    nn_tensor *dx = nn_backward(m, g);
    for (int i = 0; i < 4; i++)
        assert_true(dx->data[i] == 0.0f);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

static void test_activations_finite_differences(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof activations / sizeof *activations; k++) {
        nn_module *m = activations[k].make();
        nn_tensor *x = random_input(NN_SHAPE(3, 4), 31);
        for (int i = 0; i < 12; i++)
            x->data[i] *= 3.0f;
        fd_check_module(m, x, 1e-2f, 2e-3);
        nn_tensor_free(x);
        nn_module_free(m);
    }
}

static void test_activation_errors(void **state)
{
    (void)state;
    nn_module *(*makers[])(void) = {nn_sigmoid, nn_tanh, nn_relu};
    const char *names[] = {"Sigmoid()", "Tanh()", "ReLU()"};
    const char *before[] = {"nn_backward: Sigmoid: called before forward",
                            "nn_backward: Tanh: called before forward",
                            "nn_backward: ReLU: called before forward"};
    for (int k = 0; k < 3; k++) {
        nn_module *m = makers[k]();
        nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 3));
        assert_null(nn_backward(m, g));
        assert_error_mentions(before[k]);
        nn_tensor *x = random_input(NN_SHAPE(2, 3), 8);
        nn_tensor *y = nn_forward(m, x);
        nn_tensor *dx = nn_backward(m, g);
        assert_non_null(dx);
        /* each backward needs its own forward: one for the backward below */
        y = nn_forward(m, x);
        assert_non_null(y);
        snapshot sy = snap(y), sdx = snap(dx);
        nn_tensor *bad = nn_tensor_new(NN_SHAPE(3, 2));
        assert_null(nn_backward(m, bad));
        assert_error_mentions("nn_backward:", names[k], "expected grad_out of shape [2, 3], got [3, 2]");
        assert_unchanged(&sy);
        assert_unchanged(&sdx);
        assert_non_null(nn_backward(m, g)); /* a failed backward can be retried */
        nn_tensor_free(bad);
        nn_tensor_free(x);
        nn_tensor_free(g);
        nn_module_free(m);
    }
}

/* h = f(h) with the same module, and backward fed its own dx: the layer
   must not free what it is reading. */
static void test_activations_reuse_own_slots(void **state)
{
    (void)state;
    nn_module *(*makers[])(void) = {nn_sigmoid, nn_tanh, nn_relu};
    for (int k = 0; k < 3; k++) {
        nn_module *m = makers[k](), *ref = makers[k]();
        nn_tensor *x = random_input(NN_SHAPE(2, 5), 9);
        nn_tensor *h = nn_forward(m, x);
        nn_tensor *r = nn_forward(ref, x);
        nn_tensor *r_copy = nn_tensor_contiguous(r);
        h = nn_forward(m, h);
        r = nn_forward(ref, r_copy);
        assert_non_null(h);
        assert_tensor_close(h, r->data, nn_tensor_numel(r), 0, 0);
        nn_tensor *g = random_input(NN_SHAPE(2, 5), 10);
        nn_tensor *d = nn_backward(m, g);
        nn_tensor *rd = nn_backward(ref, g);
        nn_tensor *rd_copy = nn_tensor_contiguous(rd);
        /* each backward needs its own forward: the same h = f(h) again */
        h = nn_forward(m, x);
        h = nn_forward(m, h);
        assert_non_null(h);
        assert_tensor_close(h, r->data, nn_tensor_numel(r), 0, 0);
        assert_non_null(nn_forward(ref, r_copy));
        d = nn_backward(m, d);
        rd = nn_backward(ref, rd_copy);
        assert_non_null(d);
        assert_tensor_close(d, rd->data, nn_tensor_numel(rd), 0, 0);
        nn_tensor_free(rd_copy);
        nn_tensor_free(r_copy);
        nn_tensor_free(g);
        nn_tensor_free(x);
        nn_module_free(ref);
        nn_module_free(m);
    }
}

static void test_activations_steady_state(void **state)
{
    (void)state;
    nn_module *(*makers[])(void) = {nn_sigmoid, nn_tanh, nn_relu};
    for (int k = 0; k < 3; k++) {
        nn_module *m = makers[k]();
        nn_tensor *x = random_input(NN_SHAPE(4, 3), 1), *g = random_input(NN_SHAPE(4, 3), 2);
        assert_steady_state(m, x, g);
        nn_tensor *xs = strided_copy(x), *gs = strided_copy(g);
        assert_steady_state(m, xs, gs);
        nn_tensor_free(xs);
        nn_tensor_free(gs);
        nn_tensor_free(x);
        nn_tensor_free(g);
        nn_module_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_matches_torch),
        cmocka_unit_test(test_linear_params_and_repr),
        cmocka_unit_test(test_linear_finite_differences),
        cmocka_unit_test(test_linear_zero_batch),
        cmocka_unit_test(test_init_matches_torch),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_linear_reuses_own_output),
        cmocka_unit_test(test_linear_steady_state),
        cmocka_unit_test(test_conv_matches_torch),
        cmocka_unit_test(test_conv_reprs),
        cmocka_unit_test(test_conv_finite_differences),
        cmocka_unit_test(test_conv_zero_batch),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_conv_steady_state),
        cmocka_unit_test(test_conv_threads_match_reference),
        cmocka_unit_test(test_activations_match_torch),
        cmocka_unit_test(test_sigmoid_extremes),
        cmocka_unit_test(test_activations_finite_differences),
        cmocka_unit_test(test_activation_errors),
        cmocka_unit_test(test_activations_reuse_own_slots),
        cmocka_unit_test(test_activations_steady_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
