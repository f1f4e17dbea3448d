/* LeakyReLU, ELU, GELU, SiLU, Hardswish, Softmax, LogSoftmax and Identity
   against PyTorch 1.13 (tests/gen_activations.py): forward, dL/dx, every
   option, 0-dim / 1-D / 4-D / empty shapes, special values, printing;
   strided input and grad_out, 1 and 2 threads bit-identical, no allocation
   in a second step, clones, options and errors. */
#include "testutil.h"

#include "nn/module_ops.h"

#include "fixtures/activations.h"

#define RTOL 1e-5
#define ATOL 1e-6
#define N_CASES (sizeof act_cases / sizeof *act_cases)

static nn_module *make(int kind, float arg, bool inplace)
{
    nn_module *m = NULL;
    switch (kind) {
    case ACT_LEAKY_RELU: {
        nn_leaky_relu_opts o = nn_leaky_relu_defaults();
        o.negative_slope = arg;
        o.inplace = inplace;
        m = nn_leaky_relu_ex(&o);
        break;
    }
    case ACT_ELU: {
        nn_elu_opts o = nn_elu_defaults();
        o.alpha = arg;
        o.inplace = inplace;
        m = nn_elu_ex(&o);
        break;
    }
    case ACT_GELU:
        m = nn_gelu_ex(&(nn_gelu_opts){.approximate = arg != 0.0f ? NN_GELU_TANH : NN_GELU_NONE});
        break;
    case ACT_SILU:
        m = nn_silu_ex(&(nn_silu_opts){.inplace = inplace});
        break;
    case ACT_HARDSWISH:
        m = nn_hardswish_ex(&(nn_hardswish_opts){.inplace = inplace});
        break;
    case ACT_SOFTMAX:
        m = nn_softmax((int)arg);
        break;
    case ACT_LOG_SOFTMAX:
        m = nn_log_softmax((int)arg);
        break;
    default:
        m = nn_identity();
    }
    if (!m)
        fail_msg("make(%d): %s", kind, nn_last_error());
    return m;
}

static nn_module *make_case(const act_case *c) { return make(c->kind, c->arg, c->inplace); }

/* the same values in a non-contiguous tensor: a transposed copy viewed back */
static nn_tensor *transposed_copy(int ndim, const int64_t *shape, const float *data)
{
    nn_tensor *t = nn_tensor_from(data, ndim, shape);
    nn_tensor *tt = nn_tensor_transpose(t, 0, ndim - 1);
    nn_tensor *dense_t = nn_tensor_contiguous(tt);
    nn_tensor *back = nn_tensor_transpose(dense_t, 0, ndim - 1);
    assert_false(nn_tensor_is_contiguous(back));
    nn_tensor_free(t);
    nn_tensor_free(tt);
    nn_tensor_free(dense_t);
    return back;
}

/* |got - want| <= ATOL + RTOL |want|, failing with the case named */
static void check_close(const float *got, const float *want, int64_t n, const char *what, const act_case *c,
                        bool strided)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= ATOL + RTOL * fabs((double)want[i])))
            fail_msg("case %d %s%s: %s[%lld] (x = %.9g): got %.9g, want %.9g", (int)(c - act_cases), c->repr,
                     strided ? " strided" : "", what, (long long)i, (double)c->x[i], (double)got[i],
                     (double)want[i]);
    }
}

static void check_case(const act_case *c, bool strided)
{
    nn_module *m = make_case(c);
    int64_t n = numel_of(c->ndim, c->shape);
    nn_tensor *x = strided ? transposed_copy(c->ndim, c->shape, c->x) : nn_tensor_from(c->x, c->ndim, c->shape);
    nn_tensor *gy = strided ? transposed_copy(c->ndim, c->shape, c->gy) : nn_tensor_from(c->gy, c->ndim, c->shape);
    assert_non_null(x);
    assert_non_null(gy);
    nn_tensor *y = nn_forward(m, x);
    if (!y)
        fail_msg("%s: %s", c->repr, nn_last_error());
    assert_int_equal(y->ndim, c->ndim);
    for (int i = 0; i < c->ndim; i++)
        assert_int_equal(y->shape[i], c->shape[i]);
    assert_true(nn_tensor_is_contiguous(y));
    check_close(y->data, c->y, n, "y", c, strided);
    nn_tensor *dx = nn_backward(m, gy);
    if (!dx)
        fail_msg("%s: %s", c->repr, nn_last_error());
    check_close(dx->data, c->dx, n, "dx", c, strided);
    nn_tensor_free(x);
    nn_tensor_free(gy);
    nn_module_free(m);
}

static void test_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        const act_case *c = &act_cases[i];
        check_case(c, false);
        if (c->ndim >= 2 && c->shape[0] > 1 && numel_of(c->ndim, c->shape) > 0)
            check_case(c, true);
    }
}

static void test_print_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        nn_module *m = make_case(&act_cases[i]);
        assert_repr(m, act_cases[i].repr);
        /* a graph's clone prints (and computes) the same */
        nn_module *cl = m->ops->clone(m);
        assert_non_null(cl);
        assert_repr(cl, act_cases[i].repr);
        nn_module_free(cl);
        nn_module_free(m);
    }
}

/* Every layer on a tensor large enough for the thread pool, and softmax
   along each dimension: 1 and 2 threads give the same bits. */
static void test_threads_bit_identical(void **state)
{
    (void)state;
    const int64_t shape[3] = {8, 96, 112}; /* 86016 elements */
    nn_tensor *x = nn_tensor_new(3, shape), *g = nn_tensor_new(3, shape);
    int64_t n = nn_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        x->data[i] = (float)((i * 7919) % 2001) / 100.0f - 10.0f;
        g->data[i] = (float)((i * 104729) % 997) / 500.0f - 1.0f;
    }
    struct {
        int kind;
        float arg;
        bool inplace;
    } layers[] = {{ACT_LEAKY_RELU, 0.1f, false}, {ACT_ELU, 1.0f, false}, {ACT_ELU, 0.7f, true},
                  {ACT_GELU, 0.0f, false},       {ACT_GELU, 1.0f, false}, {ACT_SILU, 0.0f, false},
                  {ACT_HARDSWISH, 0.0f, false},  {ACT_SOFTMAX, 0.0f, false}, {ACT_SOFTMAX, 1.0f, false},
                  {ACT_SOFTMAX, -1.0f, false},   {ACT_LOG_SOFTMAX, 0.0f, false},
                  {ACT_LOG_SOFTMAX, 1.0f, false}, {ACT_LOG_SOFTMAX, 2.0f, false}, {ACT_IDENTITY, 0.0f, false}};
    size_t bytes = (size_t)n * sizeof(float);
    float *y1 = malloc(bytes), *dx1 = malloc(bytes);
    for (size_t k = 0; k < sizeof layers / sizeof *layers; k++) {
        for (int threads = 1; threads <= 2; threads++) {
            nn_set_num_threads(threads);
            nn_module *m = make(layers[k].kind, layers[k].arg, layers[k].inplace);
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            nn_tensor *dx = nn_backward(m, g);
            assert_non_null(dx);
            if (threads == 1) {
                memcpy(y1, y->data, bytes);
                memcpy(dx1, dx->data, bytes);
            } else {
                assert_memory_equal(y1, y->data, bytes);
                assert_memory_equal(dx1, dx->data, bytes);
            }
            nn_module_free(m);
        }
    }
    nn_set_num_threads(1);
    free(y1);
    free(dx1);
    nn_tensor_free(x);
    nn_tensor_free(g);
}

/* A second forward / backward at the same shape allocates nothing, plain
   or strided. */
static void test_second_step_allocates_nothing(void **state)
{
    (void)state;
    const int64_t shape[3] = {3, 4, 5};
    float data[60];
    for (int i = 0; i < 60; i++)
        data[i] = (float)(i % 13) - 6.0f;
    for (int kind = ACT_LEAKY_RELU; kind <= ACT_IDENTITY; kind++) {
        for (int strided = 0; strided <= 1; strided++) {
            nn_module *m = make(kind, kind == ACT_SOFTMAX || kind == ACT_LOG_SOFTMAX ? 1.0f : 0.5f, false);
            nn_tensor *x = strided ? transposed_copy(3, shape, data) : nn_tensor_from(data, 3, shape);
            nn_tensor *g = strided ? transposed_copy(3, shape, data) : nn_tensor_from(data, 3, shape);
            assert_non_null(nn_forward(m, x));
            assert_non_null(nn_backward(m, g));
            tu_allocs = 0;
            nn_set_allocator(tu_alloc, free);
            assert_non_null(nn_forward(m, x));
            assert_non_null(nn_backward(m, g));
            nn_set_allocator(NULL, NULL);
            if (tu_allocs != 0)
                fail_msg("%s (strided %d): %ld allocations in a second step", nn_module_type(m), strided, tu_allocs);
            nn_tensor_free(x);
            nn_tensor_free(g);
            nn_module_free(m);
        }
    }
}

/* h = f(h) with the module's own result, and the result of backward fed
   back as input: the same values as from a fresh copy. */
static void test_own_slots_as_input(void **state)
{
    (void)state;
    float data[12];
    for (int i = 0; i < 12; i++)
        data[i] = 0.5f * (float)i - 3.0f;
    for (int kind = ACT_LEAKY_RELU; kind <= ACT_IDENTITY; kind++) {
        nn_module *m = make(kind, 1.0f, false), *twin = make(kind, 1.0f, false);
        nn_tensor *x = nn_tensor_from(data, NN_SHAPE(3, 4));
        nn_tensor *y = nn_forward(m, x);
        assert_non_null(y);
        nn_tensor *copy = nn_tensor_contiguous(y);
        nn_tensor *y2 = nn_forward(m, y); /* own output as input */
        nn_tensor *t1 = nn_forward(twin, x), *t2 = nn_forward(twin, copy);
        assert_non_null(y2);
        assert_non_null(t1);
        assert_memory_equal(y2->data, t2->data, 12 * sizeof(float));
        nn_tensor *dx = nn_backward(m, y2); /* own output as grad_out */
        nn_tensor *tdx = nn_backward(twin, t2);
        assert_memory_equal(dx->data, tdx->data, 12 * sizeof(float));
        nn_tensor *dcopy = nn_tensor_contiguous(dx);
        assert_non_null(nn_forward(m, dx)); /* own dx as input, then a backward */
        assert_non_null(nn_forward(twin, dcopy));
        nn_tensor *dx2 = nn_backward(m, x), *tdx2 = nn_backward(twin, x);
        assert_non_null(dx2);
        assert_memory_equal(dx2->data, tdx2->data, 12 * sizeof(float));
        nn_tensor_free(copy);
        nn_tensor_free(dcopy);
        nn_tensor_free(x);
        nn_module_free(m);
        nn_module_free(twin);
    }
}

static void test_options(void **state)
{
    (void)state;
    /* written by hand: a float left 0 is torch's default */
    nn_module *m = nn_leaky_relu_ex(&(nn_leaky_relu_opts){.inplace = true});
    assert_string_equal(printed(m), "LeakyReLU(negative_slope=0.01, inplace=True)\n");
    nn_module_free(m);
    m = nn_leaky_relu(0.0f); /* taken as written */
    assert_string_equal(printed(m), "LeakyReLU(negative_slope=0.0)\n");
    nn_module_free(m);
    m = nn_leaky_relu_ex(NULL);
    assert_string_equal(printed(m), "LeakyReLU(negative_slope=0.01)\n");
    nn_module_free(m);
    m = nn_leaky_relu(NAN); /* torch accepts any float */
    assert_string_equal(printed(m), "LeakyReLU(negative_slope=nan)\n");
    nn_module_free(m);
    m = nn_elu_ex(&(nn_elu_opts){.alpha = 0.0f});
    assert_string_equal(printed(m), "ELU(alpha=1.0)\n");
    nn_module_free(m);
    m = nn_elu(0.25f);
    assert_string_equal(printed(m), "ELU(alpha=0.25)\n");
    nn_module_free(m);
    m = nn_gelu();
    assert_string_equal(printed(m), "GELU(approximate='none')\n");
    nn_module_free(m);
    m = nn_silu();
    assert_string_equal(printed(m), "SiLU()\n");
    nn_module_free(m);
    m = nn_hardswish_ex(&(nn_hardswish_opts){.inplace = true});
    assert_string_equal(printed(m), "Hardswish()\n");
    nn_module_free(m);
    m = nn_softmax_ex(&(nn_softmax_opts){.dim = 0});
    assert_string_equal(printed(m), "Softmax(dim=0)\n");
    nn_module_free(m);
    nn_log_softmax_opts lo = nn_log_softmax_defaults(-2);
    m = nn_log_softmax_ex(&lo);
    assert_string_equal(printed(m), "LogSoftmax(dim=-2)\n");
    nn_module_free(m);
    m = nn_identity();
    assert_string_equal(printed(m), "Identity()\n");
    nn_module_free(m);

    /* the defaults */
    assert_true(nn_leaky_relu_defaults().negative_slope == 0.01f && !nn_leaky_relu_defaults().inplace);
    assert_true(nn_elu_defaults().alpha == 1.0f && !nn_elu_defaults().inplace);
    assert_int_equal(nn_gelu_defaults().approximate, NN_GELU_NONE);
    assert_int_equal(nn_softmax_defaults(3).dim, 3);
    assert_int_equal(nn_leaky_relu_defaults().from_defaults, NN_OPTS_FROM_DEFAULTS);

    /* refused: an uninitialised struct, an unknown approximation, no dim */
    assert_null(nn_leaky_relu_ex(&(nn_leaky_relu_opts){.from_defaults = 12345}));
    assert_error_mentions("nn_leaky_relu", "nn_leaky_relu_opts.from_defaults", "12345");
    assert_null(nn_elu_ex(&(nn_elu_opts){.from_defaults = 7}));
    assert_error_mentions("nn_elu", "from_defaults");
    assert_null(nn_silu_ex(&(nn_silu_opts){.from_defaults = 7}));
    assert_error_mentions("nn_silu", "from_defaults");
    assert_null(nn_hardswish_ex(&(nn_hardswish_opts){.from_defaults = 7}));
    assert_error_mentions("nn_hardswish", "from_defaults");
    assert_null(nn_gelu_ex(&(nn_gelu_opts){.from_defaults = 7}));
    assert_error_mentions("nn_gelu", "from_defaults");
    assert_null(nn_gelu_ex(&(nn_gelu_opts){.approximate = (nn_gelu_approximate)2}));
    assert_error_mentions("nn_gelu", "approximate argument must be either none or tanh", "got 2");
    assert_null(nn_softmax_ex(NULL));
    assert_error_mentions("nn_softmax", "dim");
    assert_null(nn_log_softmax_ex(NULL));
    assert_error_mentions("nn_log_softmax", "dim");
    assert_null(nn_softmax_ex(&(nn_softmax_opts){.dim = 1, .from_defaults = 3}));
    assert_error_mentions("nn_softmax", "nn_softmax_opts.from_defaults");
}

/* A failed call changes nothing: the next backward still answers the last
   successful forward. */
static void test_errors_change_nothing(void **state)
{
    (void)state;
    float data[6] = {-2.0f, -0.5f, 0.0f, 0.5f, 1.0f, 3.0f};
    nn_tensor *x = nn_tensor_from(data, NN_SHAPE(2, 3));
    nn_tensor *g = nn_tensor_from(data, NN_SHAPE(2, 3));
    nn_tensor *g_bad = nn_tensor_from(data, NN_SHAPE(3, 2));
    nn_tensor *x1 = nn_tensor_from(data, NN_SHAPE(3, 2));

    /* softmax dim out of range for the rank, at forward, torch's text */
    nn_module *s = nn_softmax(2), *ls = nn_log_softmax(-3);
    assert_null(nn_forward(s, x));
    assert_error_mentions("nn_forward", "Softmax(dim=2)", "[2, 3]",
                          "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    assert_null(nn_forward(ls, x));
    assert_error_mentions("LogSoftmax(dim=-3)", "expected to be in range of [-2, 1], but got -3");
    nn_tensor *scalar = nn_tensor_from(data, 0, NULL);
    nn_module *s1 = nn_softmax(1);
    assert_null(nn_forward(s1, scalar));
    assert_error_mentions("expected to be in range of [-1, 0], but got 1");
    nn_module_free(s1);
    /* ... which a 3-D input accepts */
    nn_tensor *x3 = nn_tensor_from(data, NN_SHAPE(1, 2, 3));
    assert_non_null(nn_forward(s, x3));
    nn_tensor *g3 = nn_tensor_from(data, NN_SHAPE(1, 2, 3));
    nn_tensor *dx = nn_backward(s, g3);
    assert_non_null(dx);
    float want[6];
    memcpy(want, dx->data, sizeof want);
    assert_non_null(nn_forward(s, x3));
    assert_null(nn_forward(s, x)); /* fails: the cache of x3 stays */
    dx = nn_backward(s, g3);
    assert_non_null(dx);
    assert_memory_equal(dx->data, want, sizeof want);
    nn_module_free(s);
    nn_module_free(ls);

    for (int kind = ACT_LEAKY_RELU; kind <= ACT_IDENTITY; kind++) {
        nn_module *m = make(kind, 1.0f, false);
        char type[32];
        snprintf(type, sizeof type, "%s(", nn_module_type(m));
        assert_non_null(nn_forward(m, x));
        /* grad_out of another shape: refused, named */
        assert_null(nn_backward(m, g_bad));
        assert_error_mentions("nn_backward", type, "[2, 3]", "[3, 2]");
        nn_module_free(m);
        /* the result of a forward at x survives a forward that fails later
           (a Sequential around it refuses the mismatched backward) */
        m = make(kind, 1.0f, false);
        nn_tensor *y = nn_forward(m, x);
        float y_was[6];
        memcpy(y_was, y->data, sizeof y_was);
        nn_tensor *dxm = nn_backward(m, g);
        assert_non_null(dxm);
        float dx_was[6];
        memcpy(dx_was, dxm->data, sizeof dx_was);
        assert_non_null(nn_forward(m, x1)); /* another shape works */
        y = nn_forward(m, x);
        assert_memory_equal(y->data, y_was, sizeof y_was);
        dxm = nn_backward(m, g);
        assert_memory_equal(dxm->data, dx_was, sizeof dx_was);
        nn_module_free(m);
    }

    /* torch refuses the in-place backward with a negative slope / alpha;
       the forward is fine */
    nn_leaky_relu_opts lo = nn_leaky_relu_defaults();
    lo.negative_slope = -0.5f;
    lo.inplace = true;
    nn_module *lr = nn_leaky_relu_ex(&lo);
    assert_non_null(nn_forward(lr, x));
    assert_null(nn_backward(lr, g));
    assert_error_mentions("nn_backward", "LeakyReLU(negative_slope=-0.5, inplace=True)",
                          "In-place leakyReLu backward calculation is triggered with a negative slope");
    nn_module_free(lr);
    nn_elu_opts eo = nn_elu_defaults();
    eo.alpha = -1.0f;
    eo.inplace = true;
    nn_module *elu = nn_elu_ex(&eo);
    assert_non_null(nn_forward(elu, x));
    assert_null(nn_backward(elu, g));
    assert_error_mentions("nn_backward", "ELU(alpha=-1.0, inplace=True)",
                          "In-place elu backward calculation is triggered with a negative slope");
    nn_module_free(elu);
    /* out of place, both are fine with negative values */
    nn_module *ok = nn_leaky_relu(-0.5f);
    assert_non_null(nn_forward(ok, x));
    assert_non_null(nn_backward(ok, g));
    nn_module_free(ok);

    nn_tensor_free(x);
    nn_tensor_free(x1);
    nn_tensor_free(x3);
    nn_tensor_free(g);
    nn_tensor_free(g3);
    nn_tensor_free(g_bad);
    nn_tensor_free(scalar);
}

/* In containers: Sequential trains through them, a Graph applies one
   instance at two places (clone), and the parameter list stays empty. */
static void test_in_containers(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(4, 6, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_gelu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_identity()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(6, 3, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_log_softmax(1)), NN_OK);
    assert_string_equal(printed(net), "Sequential(\n"
                             "  (0): Linear(in_features=4, out_features=6, bias=True)\n"
                             "  (1): GELU(approximate='none')\n"
                             "  (2): Identity()\n"
                             "  (3): Linear(in_features=6, out_features=3, bias=True)\n"
                             "  (4): LogSoftmax(dim=1)\n"
                             ")\n");
    nn_tensor *x = nn_tensor_new(NN_SHAPE(5, 4));
    for (int i = 0; i < 20; i++)
        x->data[i] = (float)(i % 7) * 0.3f - 1.0f;
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    for (int r = 0; r < 5; r++) { /* rows of log-probabilities */
        double s = 0;
        for (int c = 0; c < 3; c++)
            s += exp((double)y->data[r * 3 + c]);
        assert_true(fabs(s - 1.0) < 1e-6);
    }
    nn_tensor *g = nn_tensor_new(NN_SHAPE(5, 3));
    nn_tensor_fill(g, 1.0f);
    assert_non_null(nn_backward(net, g));
    nn_tensor_free(g);
    nn_module_free(net);

    /* one SiLU applied at two places in a graph */
    nn_module *b = nn_graph();
    nn_graph_add(b, "act", nn_silu());
    int in = nn_graph_input(b);
    int out = nn_graph_sum(b, nn_graph_apply(b, "act", nn_graph_apply(b, "act", in)), in);
    assert_int_equal(nn_graph_output(b, out), NN_OK);
    y = nn_forward(b, x);
    assert_non_null(y);
    for (int i = 0; i < 20; i++) {
        float v = x->data[i], s1 = v / (1.0f + expf(-v)), s2 = s1 / (1.0f + expf(-s1));
        assert_true(fabsf(y->data[i] - (s2 + v)) < 1e-6f);
    }
    g = nn_tensor_new(NN_SHAPE(5, 4));
    nn_tensor_fill(g, 1.0f);
    assert_non_null(nn_backward(b, g));
    nn_tensor_free(g);
    nn_module_free(b);
    nn_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
        cmocka_unit_test(test_print_matches_torch),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_second_step_allocates_nothing),
        cmocka_unit_test(test_own_slots_as_input),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_errors_change_nothing),
        cmocka_unit_test(test_in_containers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
