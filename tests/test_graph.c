/* Graph containers: torchvision's BasicBlock and Bottleneck (without their
   BatchNorm), a ResNet-style stack and a two-level U-Net built with
   nn_graph_*, checked against PyTorch 1.13 (tests/gen_composition.py:
   print(model), state_dict keys, weights saved by PyTorch, forward,
   dL/dx and every parameter gradient), also on strided input and with 2
   threads; Upsample against torch; and the graph's own rules: gradients
   of a value used several times, cat slices, reuse of parameter-free
   modules, builder errors, failed calls that change nothing, allocation
   failures, no allocation once warm, nn_residual. */
#include "testutil.h"

#include "io/safetensors.h"
#include "nn/module_ops.h"

#include "fixtures/composition.h"

#define FIXDIR "tests/fixtures/composition/"
#define RTOL 1e-5

/* --- the models, as a user writes them ------------------------------------ */

static nn_module *conv3x3(int64_t in, int64_t out, int stride)
{
    nn_conv2d_opts o = {.in_channels = in, .out_channels = out, .kernel_h = 3, .kernel_w = 3,
                        .stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1};
    return nn_conv2d_ex(&o);
}

static nn_module *conv1x1(int64_t in, int64_t out, int stride)
{
    nn_conv2d_opts o = {.in_channels = in, .out_channels = out, .kernel_h = 1, .kernel_w = 1,
                        .stride_h = stride, .stride_w = stride};
    return nn_conv2d_ex(&o);
}

static nn_module *relu_inplace(void) { return nn_relu_ex(&(nn_relu_opts){.inplace = true}); }

/* Makes v the output of graph g, printed as cls; NULL (g freed) when any
   builder call on g failed: nn_last_error() says which first. */
static nn_module *finish(nn_module *g, int v, const char *cls)
{
    if (nn_graph_output(g, v) < 0 || nn_module_set_class_name(g, cls) < 0) {
        nn_module_free(g);
        return NULL;
    }
    return g;
}

/* Sequential(conv1x1): torchvision's downsample without its BatchNorm. */
static nn_module *downsample(int64_t in, int64_t out, int stride)
{
    nn_module *d = nn_sequential(), *c = conv1x1(in, out, stride);
    if (!d || nn_sequential_add(d, NULL, c) < 0) {
        nn_module_free(c);
        nn_module_free(d);
        return NULL;
    }
    return d;
}

/* torchvision's BasicBlock: relu(conv2(relu(conv1(x))) + identity), the
   identity going through a strided 1x1 conv when the shape changes (as
   torchvision's _make_layer gives it one). */
static nn_module *basic_block(int64_t inplanes, int64_t planes, int stride)
{
    nn_module *b = nn_graph();
    nn_graph_add(b, "conv1", conv3x3(inplanes, planes, stride));
    nn_graph_add(b, "relu", relu_inplace());
    nn_graph_add(b, "conv2", conv3x3(planes, planes, 1));
    int x = nn_graph_input(b), identity = x;
    if (stride != 1 || inplanes != planes) {
        nn_graph_add(b, "downsample", downsample(inplanes, planes, stride));
        identity = nn_graph_apply(b, "downsample", x);
    }
    int out = nn_graph_apply(b, "relu", nn_graph_apply(b, "conv1", x));
    out = nn_graph_sum(b, nn_graph_apply(b, "conv2", out), identity);
    return finish(b, nn_graph_apply(b, "relu", out), "BasicBlock");
}

/* torchvision's Bottleneck: 1x1 down to planes, 3x3 (the stride), 1x1 up
   to 4 * planes, plus the identity; one relu applied three times. */
static nn_module *bottleneck(int64_t inplanes, int64_t planes, int stride)
{
    nn_module *b = nn_graph();
    nn_graph_add(b, "conv1", conv1x1(inplanes, planes, 1));
    nn_graph_add(b, "conv2", conv3x3(planes, planes, stride));
    nn_graph_add(b, "conv3", conv1x1(planes, planes * 4, 1));
    nn_graph_add(b, "relu", relu_inplace());
    int x = nn_graph_input(b), identity = x;
    if (stride != 1 || inplanes != planes * 4) {
        nn_graph_add(b, "downsample", downsample(inplanes, planes * 4, stride));
        identity = nn_graph_apply(b, "downsample", x);
    }
    int out = nn_graph_apply(b, "relu", nn_graph_apply(b, "conv1", x));
    out = nn_graph_apply(b, "relu", nn_graph_apply(b, "conv2", out));
    out = nn_graph_sum(b, nn_graph_apply(b, "conv3", out), identity);
    return finish(b, nn_graph_apply(b, "relu", out), "Bottleneck");
}

static void add(nn_module *seq, const char *name, nn_module *child)
{
    assert_int_equal(nn_sequential_add(seq, name, child), NN_OK);
}

/* A stem, then layer1: two BasicBlocks, the second halving the size. */
static nn_module *resnet_stack(void)
{
    nn_module *layer1 = nn_sequential(), *net = nn_sequential();
    add(layer1, NULL, basic_block(8, 8, 1));
    add(layer1, NULL, basic_block(8, 16, 2));
    add(net, "conv1", conv3x3(3, 8, 1));
    add(net, "relu", relu_inplace());
    add(net, "layer1", layer1);
    return net;
}

/* Conv2d(in, out, 3, padding=1), ReLU(inplace=True) */
static nn_module *conv_relu(int64_t in, int64_t out)
{
    nn_module *s = nn_sequential();
    add(s, NULL, nn_conv2d(in, out, 3, 1, 1));
    add(s, NULL, relu_inplace());
    return s;
}

static int cat2(nn_module *g, int a, int b) { return nn_graph_cat(g, (int[]){a, b}, 2, 1); }

/* Two levels down (pool), two up (upsample), the skips concatenated. */
static nn_module *unet(int64_t in_channels, int64_t out_channels, int64_t w)
{
    nn_module *u = nn_graph();
    nn_graph_add(u, "enc1", conv_relu(in_channels, w));
    nn_graph_add(u, "enc2", conv_relu(w, 2 * w));
    nn_graph_add(u, "pool", nn_maxpool2d(2, 0));
    nn_graph_add(u, "bottleneck", conv_relu(2 * w, 4 * w));
    nn_graph_add(u, "up", nn_upsample(2));
    nn_graph_add(u, "dec2", conv_relu(4 * w + 2 * w, 2 * w));
    nn_graph_add(u, "dec1", conv_relu(2 * w + w, w));
    nn_graph_add(u, "head", nn_conv2d(w, out_channels, 1, 1, 0));
    int x = nn_graph_input(u);
    int e1 = nn_graph_apply(u, "enc1", x);
    int e2 = nn_graph_apply(u, "enc2", nn_graph_apply(u, "pool", e1));
    int b = nn_graph_apply(u, "bottleneck", nn_graph_apply(u, "pool", e2));
    int d2 = nn_graph_apply(u, "dec2", cat2(u, nn_graph_apply(u, "up", b), e2));
    int d1 = nn_graph_apply(u, "dec1", cat2(u, nn_graph_apply(u, "up", d2), e1));
    return finish(u, nn_graph_apply(u, "head", d1), "UNet");
}

/* the models of tests/gen_composition.py, by name */
static nn_module *build_case(const char *name)
{
    nn_module *m = !strcmp(name, "basic_block")       ? basic_block(8, 8, 1)
                   : !strcmp(name, "resnet_stack")    ? resnet_stack()
                   : !strcmp(name, "bottleneck")      ? bottleneck(32, 8, 1)
                   : !strcmp(name, "bottleneck_down") ? bottleneck(16, 8, 2)
                   : !strcmp(name, "unet")            ? unet(3, 2, 4)
                                                      : NULL;
    if (!m)
        fail_msg("building %s: %s", name, nn_last_error());
    return m;
}

/* --- helpers --------------------------------------------------------------- */

static void assert_print(const nn_module *m, const char *want)
{
    assert_string_equal(printed(m), want);
}

static float *values_of(const nn_tensor *t)
{
    int64_t n = nn_tensor_numel(t);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    assert_int_equal(nn_tensor_copy_out(t, v), NN_OK);
    return v;
}

/* |got - want| <= 1e-5 (|want| + max |want|): 1e-5 relative to the
   element, or to the tensor's scale for elements near zero (sums of
   terms of both signs) */
static void assert_near_at(const nn_tensor *t, const nn_tensor *want, const char *what, int line)
{
    assert_true(nn_tensor_same_shape(t, want));
    float *got = values_of(t), *w = values_of(want);
    int64_t n = nn_tensor_numel(want);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(w[i]));
    assert_true(scale > 0);
    assert_close_at(got, w, n, RTOL, RTOL * scale, what, __FILE__, line);
    free(got);
    free(w);
}
#define assert_near(t, want) assert_near_at((t), (want), #t, __LINE__)

static void assert_same_bits(const nn_tensor *a, const nn_tensor *b)
{
    assert_true(nn_tensor_same_shape(a, b));
    float *va = values_of(a), *vb = values_of(b);
    assert_memory_equal(va, vb, (size_t)nn_tensor_numel(a) * sizeof(float));
    free(va);
    free(vb);
}

/* Every parameter gradient of m, one after another. */
static float *grads_of(nn_module *m, int64_t *count)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    assert_true(n >= 0);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += nn_tensor_numel(p[i].grad);
    float *g = malloc((size_t)(total + 1) * sizeof *g), *at = g;
    assert_non_null(g);
    for (int i = 0; i < n; i++) {
        nn_tensor_copy_out(p[i].grad, at);
        at += nn_tensor_numel(p[i].grad);
    }
    *count = total;
    return g;
}

/* --- PyTorch's results: <name>_ref.safetensors ------------------------------ */

typedef struct {
    nn_tensor *x, *gy, *y, *dx;
    nn_tensor **grad; /* per parameter, in state_dict order */
    int n_params;
    st_entry *list;
    char **names;
} reference;

static int read_ref(FILE *f, int64_t size, void *ctx)
{
    reference *r = ctx;
    return st_read(f, size, true, r->list, 4 + r->n_params, NULL, 0, NULL, NULL, "reference");
}

static reference load_reference(const composition_case *c, nn_module *m)
{
    reference r = {0};
    nn_param *p;
    r.n_params = nn_module_params(m, &p);
    assert_int_equal(r.n_params, c->n_keys);
    r.x = nn_tensor_new(4, c->xshape);
    r.dx = nn_tensor_new(4, c->xshape);
    r.y = nn_tensor_new(4, c->yshape);
    r.gy = nn_tensor_new(4, c->yshape);
    r.grad = calloc((size_t)r.n_params, sizeof *r.grad);
    r.names = calloc((size_t)r.n_params, sizeof *r.names);
    r.list = calloc((size_t)r.n_params + 4, sizeof *r.list);
    assert_true(r.x && r.dx && r.y && r.gy && r.grad && r.names && r.list);
    r.list[0] = (st_entry){"x", NN_F32, r.x, NULL};
    r.list[1] = (st_entry){"gy", NN_F32, r.gy, NULL};
    r.list[2] = (st_entry){"y", NN_F32, r.y, NULL};
    r.list[3] = (st_entry){"dx", NN_F32, r.dx, NULL};
    for (int i = 0; i < r.n_params; i++) {
        r.grad[i] = nn_tensor_new(p[i].value->ndim, p[i].value->shape);
        r.names[i] = malloc(strlen(p[i].name) + 6);
        assert_true(r.grad[i] && r.names[i]);
        sprintf(r.names[i], "grad.%s", p[i].name);
        r.list[4 + i] = (st_entry){r.names[i], NN_F32, r.grad[i], NULL};
    }
    char path[256];
    snprintf(path, sizeof path, FIXDIR "%s_ref.safetensors", c->name);
    if (st_load_file(path, read_ref, &r, "load_reference") < 0)
        fail_msg("%s: %s", path, nn_last_error());
    return r;
}

static void free_reference(reference *r)
{
    for (int i = 0; i < r->n_params; i++) {
        nn_tensor_free(r->grad[i]);
        free(r->names[i]);
    }
    nn_tensor_free(r->x);
    nn_tensor_free(r->gy);
    nn_tensor_free(r->y);
    nn_tensor_free(r->dx);
    free(r->grad);
    free(r->names);
    free(r->list);
}

/* forward, backward from zero gradients; compares with PyTorch */
static void check_pass(nn_module *m, const reference *r, const nn_tensor *x, const nn_tensor *gy)
{
    nn_zero_grad(m);
    nn_tensor *y = nn_forward(m, x);
    if (!y)
        fail_msg("forward: %s", nn_last_error());
    assert_near(y, r->y);
    nn_tensor *dx = nn_backward(m, gy);
    if (!dx)
        fail_msg("backward: %s", nn_last_error());
    assert_near(dx, r->dx);
    nn_param *p;
    int n = nn_module_params(m, &p);
    for (int i = 0; i < n; i++)
        assert_near_at(p[i].grad, r->grad[i], p[i].name, __LINE__);
}

/* y, dx and the gradients of one pass, to compare bits */
typedef struct {
    float *y, *dx, *grads;
    int64_t ny, nx, ng;
} run_result;

static run_result run_once(nn_module *m, const nn_tensor *x, const nn_tensor *gy)
{
    run_result res;
    nn_zero_grad(m);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    res.y = values_of(y);
    res.ny = nn_tensor_numel(y);
    nn_tensor *dx = nn_backward(m, gy);
    assert_non_null(dx);
    res.dx = values_of(dx);
    res.nx = nn_tensor_numel(dx);
    res.grads = grads_of(m, &res.ng);
    return res;
}

static void assert_same_run(run_result *a, run_result *b)
{
    assert_int_equal(a->ny, b->ny);
    assert_int_equal(a->nx, b->nx);
    assert_int_equal(a->ng, b->ng);
    assert_memory_equal(a->y, b->y, (size_t)a->ny * sizeof(float));
    assert_memory_equal(a->dx, b->dx, (size_t)a->nx * sizeof(float));
    assert_memory_equal(a->grads, b->grads, (size_t)a->ng * sizeof(float));
    free(b->y);
    free(b->dx);
    free(b->grads);
}

static void free_run(run_result *a)
{
    free(a->y);
    free(a->dx);
    free(a->grads);
}

/* counting allocator */

/* --- the PyTorch models ------------------------------------------------------ */

static void check_case(const composition_case *c)
{
    nn_set_num_threads(1);
    nn_module *m = build_case(c->name);
    assert_print(m, c->print);
    nn_param *p;
    assert_int_equal(nn_module_params(m, &p), c->n_keys);
    for (int i = 0; i < c->n_keys; i++)
        assert_string_equal(p[i].name, c->keys[i]);

    char path[256];
    snprintf(path, sizeof path, FIXDIR "%s.safetensors", c->name);
    if (nn_load(m, path) < 0)
        fail_msg("nn_load %s: %s", path, nn_last_error());
    reference r = load_reference(c, m);
    check_pass(m, &r, r.x, r.gy);

    /* a transposed view as input, and as grad_out */
    nn_tensor *xs = strided_copy(r.x), *gs = strided_copy(r.gy);
    check_pass(m, &r, xs, r.gy);
    check_pass(m, &r, r.x, gs);

    /* two threads: the same bits as one */
    run_result one = run_once(m, r.x, r.gy);
    assert_int_equal(nn_set_num_threads(2), NN_OK);
    run_result two = run_once(m, r.x, r.gy);
    assert_same_run(&one, &two);
    nn_set_num_threads(1);

    /* once warm, a training step allocates nothing */
    nn_set_allocator(tu_alloc, tu_release);
    tu_allocs = 0;
    run_result again = run_once(m, r.x, r.gy);
    nn_set_allocator(NULL, NULL);
    assert_same_run(&one, &again);
    nn_zero_grad(m);
    nn_set_allocator(tu_alloc, tu_release);
    tu_allocs = 0;
    for (int i = 0; i < 2; i++) {
        assert_non_null(nn_forward(m, r.x));
        assert_non_null(nn_backward(m, r.gy));
    }
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);

    free_run(&one);
    nn_tensor_free(xs);
    nn_tensor_free(gs);
    free_reference(&r);
    nn_module_free(m);
}

static void test_torch_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof composition_cases / sizeof *composition_cases; i++) {
        printf("%s\n", composition_cases[i].name);
        check_case(&composition_cases[i]);
    }
}

/* the ReLU's second and third places are copies: printed and named once */
static void test_builders_need_no_cleanup(void **state)
{
    (void)state;
    nn_module *b = bottleneck(16, 8, 2);
    assert_non_null(b);
    assert_int_equal(b->n_children, 5);
    nn_module_free(b);
    /* a failed constructor inside: NULL and its message, no leak */
    assert_null(basic_block(0, 8, 2));
    assert_error_mentions("nn_graph_add", "(conv1)", "nn_conv2d");
}

/* --- Upsample ------------------------------------------------------------------ */

static void test_upsample_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof upsample_cases / sizeof *upsample_cases; k++) {
        const upsample_case *c = &upsample_cases[k];
        nn_upsample_opts o = {c->scale_h, c->scale_w};
        nn_module *u = c->pair ? nn_upsample_ex(&o) : nn_upsample(c->scale_w);
        assert_non_null(u);
        assert_print(u, c->print);
        nn_tensor *x = nn_tensor_from(c->x, c->ndim, c->xshape);
        nn_tensor *gy = nn_tensor_from(c->gy, c->ndim, c->yshape);
        nn_tensor *y0 = nn_tensor_from(c->y, c->ndim, c->yshape);
        nn_tensor *dx0 = nn_tensor_from(c->dx, c->ndim, c->xshape);
        for (int strided = 0; strided < 2; strided++) {
            nn_tensor *xi = strided ? strided_copy(x) : x, *gi = strided ? strided_copy(gy) : gy;
            nn_tensor *y = nn_forward(u, xi);
            assert_non_null(y);
            assert_same_bits(y, y0); /* copies: exact */
            nn_tensor *dx = nn_backward(u, gi);
            assert_non_null(dx);
            assert_near(dx, dx0);
            if (strided) {
                nn_tensor_free(xi);
                nn_tensor_free(gi);
            }
        }
        nn_tensor_free(x);
        nn_tensor_free(gy);
        nn_tensor_free(y0);
        nn_tensor_free(dx0);
        nn_module_free(u);
    }
}

static void test_upsample_errors(void **state)
{
    (void)state;
    assert_null(nn_upsample(0));
    assert_error_mentions("nn_upsample", "scale");
    assert_null(nn_upsample_ex(&(nn_upsample_opts){2, -1}));
    assert_error_mentions("nn_upsample_ex", "(2, -1)");
    assert_null(nn_upsample_ex(NULL));

    nn_module *u = nn_upsample(2), *pair = nn_upsample_ex(&(nn_upsample_opts){2, 3});
    nn_tensor *x2 = nn_tensor_new(NN_SHAPE(2, 3)), *x3 = nn_tensor_new(NN_SHAPE(1, 2, 3));
    nn_tensor *x4 = nn_tensor_new(NN_SHAPE(1, 1, 2, 3));
    assert_null(nn_forward(u, x2));
    assert_error_mentions("nn_forward", "Upsample(scale_factor=2.0, mode=nearest)", "[2, 3]");
    assert_null(nn_forward(pair, x3)); /* torch: a 3-D input has one size to scale */
    assert_error_mentions("4-D", "[1, 2, 3]");
    /* a failed call keeps the last results */
    nn_tensor *y = nn_forward(u, x4);
    assert_non_null(y);
    float *before = values_of(y);
    assert_null(nn_forward(u, x2));
    nn_tensor *g = nn_tensor_new(NN_SHAPE(1, 1, 4, 5));
    assert_null(nn_backward(u, g));
    assert_error_mentions("grad_out", "[1, 1, 4, 6]", "[1, 1, 4, 5]");
    nn_tensor *g_ok = nn_tensor_new(NN_SHAPE(1, 1, 4, 6));
    nn_tensor_fill(g_ok, 1.0f);
    nn_tensor *dx = nn_backward(u, g_ok);
    assert_non_null(dx);
    float four[6] = {4, 4, 4, 4, 4, 4}, *got = values_of(dx);
    assert_memory_equal(got, four, sizeof four);
    float *after = values_of(y);
    assert_memory_equal(after, before, 4 * 6 * sizeof(float));
    free(after);
    free(got);
    free(before);
    /* an empty batch */
    nn_tensor *e = nn_tensor_new(NN_SHAPE(0, 2, 2, 3)), *ge = nn_tensor_new(NN_SHAPE(0, 2, 4, 6));
    y = nn_forward(u, e);
    assert_non_null(y);
    assert_int_equal(y->shape[2], 4);
    assert_int_equal(nn_tensor_numel(y), 0);
    assert_non_null(nn_backward(u, ge));
    nn_tensor_free(e);
    nn_tensor_free(ge);
    /* h = up(h): its own output as input */
    nn_tensor *src = nn_tensor_from((const float[]){1, 2}, NN_SHAPE(1, 1, 1, 2));
    nn_module *v = nn_upsample(2);
    nn_tensor *h = nn_forward(v, src);
    h = nn_forward(v, h);
    assert_non_null(h);
    float *hv = values_of(h);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            assert_true(hv[i * 8 + j] == (j < 4 ? 1.0f : 2.0f));
    free(hv);
    nn_module_free(v);
    nn_tensor_free(src);
    nn_tensor_free(g);
    nn_tensor_free(g_ok);
    nn_tensor_free(x2);
    nn_tensor_free(x3);
    nn_tensor_free(x4);
    nn_module_free(u);
    nn_module_free(pair);
}

/* --- the graph's own rules -------------------------------------------------- */

static nn_tensor *input_of(int ndim, const int64_t *shape, unsigned seed)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    assert_non_null(t);
    srand(seed);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++) {
        float v = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
        t->data[i] = fabsf(v) < 0.05f ? v + 0.1f : v; /* off relu's kink */
    }
    return t;
}

/* loss = sum(y * r) in double */
static double loss_of(nn_module *m, const nn_tensor *x, const float *r)
{
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    float *v = values_of(y);
    double s = 0;
    for (int64_t i = 0; i < nn_tensor_numel(y); i++)
        s += (double)v[i] * r[i];
    free(v);
    return s;
}

/* central differences of the loss in each element of var against analytic */
static void fd_compare(nn_module *m, const nn_tensor *x, const float *r, float *var, int64_t n,
                       const float *analytic)
{
    const float h = 1e-2f;
    double norm = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = var[i];
        var[i] = keep + h;
        double up = loss_of(m, x, r);
        var[i] = keep - h;
        double down = loss_of(m, x, r);
        var[i] = keep;
        double numeric = (up - down) / (2.0 * h);
        norm += fabs(numeric);
        if (fabs(numeric - analytic[i]) > 1e-3 * (1.0 + fabs(numeric)))
            fail_msg("fd[%lld]: analytic %.7g numeric %.7g", (long long)i, (double)analytic[i], numeric);
    }
    assert_true(norm > 1e-3);
}

/* dL/dx and every parameter gradient of m at x against central differences */
static void fd_check(nn_module *m, nn_tensor *x)
{
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_tensor *r = input_of(y->ndim, y->shape, 99);
    nn_zero_grad(m);
    nn_tensor *dx = nn_backward(m, r);
    assert_non_null(dx);
    float *dxv = values_of(dx);
    int64_t ng;
    float *grads = grads_of(m, &ng), *at = grads;
    fd_compare(m, x, r->data, x->data, nn_tensor_numel(x), dxv);
    nn_param *p;
    int np = nn_module_params(m, &p);
    for (int i = 0; i < np; i++) {
        fd_compare(m, x, r->data, p[i].value->data, nn_tensor_numel(p[i].value), at);
        at += nn_tensor_numel(p[i].value);
    }
    free(grads);
    free(dxv);
    nn_tensor_free(r);
}

/* a = fc0(x) is read by fc1, fc2 and fc3; x by fc0 and the cat */
static void test_value_used_three_times(void **state)
{
    (void)state;
    nn_manual_seed(5);
    nn_module *g = nn_graph();
    nn_graph_add(g, "fc0", nn_linear(3, 4, true));
    nn_graph_add(g, "fc1", nn_linear(4, 3, true));
    nn_graph_add(g, "fc2", nn_linear(4, 3, false));
    nn_graph_add(g, "fc3", nn_linear(4, 2, true));
    int x = nn_graph_input(g), a = nn_graph_apply(g, "fc0", x);
    int s = nn_graph_sum(g, nn_graph_apply(g, "fc1", a), nn_graph_apply(g, "fc2", a));
    int out = nn_graph_cat(g, (int[]){s, nn_graph_apply(g, "fc3", a), x}, 3, -1);
    assert_int_equal(nn_graph_output(g, out), NN_OK);
    nn_tensor *in = input_of(NN_SHAPE(2, 3), 1);
    fd_check(g, in);
    nn_tensor_free(in);
    nn_module_free(g);
}

/* The gradient of a value used several times is the sum of its
   contributions in backward order, bit for bit, negative zeros included;
   a use that does not reach the output contributes nothing, and a value
   whose one contribution arrives takes it as it is. */
static void test_gradient_sums_exact(void **state)
{
    (void)state;
    nn_module *g = nn_graph();
    nn_graph_add(g, "relu", nn_relu());
    nn_graph_add(g, "dead", nn_relu());
    int x = nn_graph_input(g), r = nn_graph_apply(g, "relu", x);
    nn_graph_apply(g, "dead", x); /* reaches nothing */
    int s = nn_graph_sum(g, nn_graph_sum(g, x, r), x);
    assert_int_equal(nn_graph_output(g, s), NN_OK);
    nn_tensor *in = input_of(NN_SHAPE(3, 5), 6), *gy = input_of(NN_SHAPE(3, 5), 7);
    gy->data[0] = -0.0f;
    gy->data[1] = 0.0f;
    assert_non_null(nn_forward(g, in));
    nn_tensor *dx = nn_backward(g, gy);
    assert_non_null(dx);
    float *got = values_of(dx);
    for (int64_t i = 0; i < 15; i++) {
        /* backward order: the outer sum's x, then the inner sum's x, then relu */
        float want = gy->data[i] + gy->data[i];
        want = want + (in->data[i] > 0 ? gy->data[i] : 0.0f);
        assert_memory_equal(&got[i], &want, sizeof want);
    }
    free(got);
    nn_module_free(g);

    /* x used twice, one use dead: dx is relu's gradient as it is */
    g = nn_graph();
    nn_graph_add(g, "relu", nn_relu());
    nn_graph_add(g, "dead", nn_relu());
    x = nn_graph_input(g);
    nn_graph_apply(g, "dead", x);
    assert_int_equal(nn_graph_output(g, nn_graph_apply(g, "relu", x)), NN_OK);
    assert_non_null(nn_forward(g, in));
    dx = nn_backward(g, gy);
    assert_non_null(dx);
    got = values_of(dx);
    for (int64_t i = 0; i < 15; i++) {
        float want = in->data[i] > 0 ? gy->data[i] : 0.0f;
        assert_memory_equal(&got[i], &want, sizeof want);
    }
    free(got);
    nn_module_free(g);
    nn_tensor_free(in);
    nn_tensor_free(gy);
}

/* cat([x, cat([relu(x), x], d)], d): the pieces x, relu(x), x along d */
static void check_cat(int d, bool strided)
{
    nn_module *g = nn_graph();
    nn_graph_add(g, "relu", nn_relu());
    int x = nn_graph_input(g);
    int inner = nn_graph_cat(g, (int[]){nn_graph_apply(g, "relu", x), x}, 2, d);
    assert_int_equal(nn_graph_output(g, nn_graph_cat(g, (int[]){x, inner}, 2, d)), NN_OK);
    nn_tensor *x0 = input_of(NN_SHAPE(2, 3, 4), 3), *xin = strided ? strided_copy(x0) : x0;
    int dd = d < 0 ? d + 3 : d;
    int64_t outer = 1, mid = x0->shape[dd], in = 1;
    for (int k = 0; k < dd; k++)
        outer *= x0->shape[k];
    for (int k = dd + 1; k < 3; k++)
        in *= x0->shape[k];
    nn_tensor *y = nn_forward(g, xin);
    assert_non_null(y);
    assert_int_equal(y->shape[dd], 3 * mid);
    float *yv = values_of(y);
    nn_tensor *gy = input_of(y->ndim, y->shape, 4);
    nn_tensor *dx = nn_backward(g, gy);
    assert_non_null(dx);
    float *dxv = values_of(dx);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t m = 0; m < mid; m++)
            for (int64_t i = 0; i < in; i++) {
                float v = x0->data[(o * mid + m) * in + i];
                const int64_t at[3] = {(o * 3 * mid + m) * in + i, (o * 3 * mid + mid + m) * in + i,
                                       (o * 3 * mid + 2 * mid + m) * in + i};
                assert_true(yv[at[0]] == v && yv[at[1]] == (v > 0 ? v : 0) && yv[at[2]] == v);
                float want = gy->data[at[0]] + (v > 0 ? gy->data[at[1]] : 0.0f) + gy->data[at[2]];
                assert_float_equal(dxv[(o * mid + m) * in + i], want, 1e-6);
            }
    free(yv);
    free(dxv);
    nn_tensor_free(gy);
    if (strided)
        nn_tensor_free(xin);
    nn_tensor_free(x0);
    nn_module_free(g);
}

static void test_cat_dims(void **state)
{
    (void)state;
    const int dims[] = {1, 2, -1, -3, 0};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        check_cat(dims[i], false);
        check_cat(dims[i], true);
    }
    /* sizes that do not agree, and a dim out of range, fail at forward */
    nn_module *g = nn_graph();
    nn_graph_add(g, "pool", nn_maxpool2d(2, 0));
    int x = nn_graph_input(g);
    assert_int_equal(nn_graph_output(g, nn_graph_cat(g, (int[]){x, nn_graph_apply(g, "pool", x)}, 2, 1)), NN_OK);
    nn_tensor *t = nn_tensor_new(NN_SHAPE(1, 2, 4, 4));
    assert_null(nn_forward(g, t));
    assert_error_mentions("cat along dim 1", "[1, 2, 4, 4]", "[1, 2, 2, 2]");
    nn_module_free(g);
    g = nn_graph();
    x = nn_graph_input(g);
    assert_int_equal(nn_graph_output(g, nn_graph_cat(g, &x, 1, 4)), NN_OK);
    assert_null(nn_forward(g, t));
    assert_error_mentions("dim 4", "[1, 2, 4, 4]");
    nn_module_free(g);
    nn_tensor_free(t);
}

/* relu(relu(x) + x) with one ReLU at two places, and with two ReLUs */
static nn_module *relu_twice(bool separate)
{
    nn_module *g = nn_graph();
    nn_graph_add(g, "relu", nn_relu());
    if (separate)
        nn_graph_add(g, "relu2", nn_relu());
    int x = nn_graph_input(g);
    int s = nn_graph_sum(g, nn_graph_apply(g, "relu", x), x);
    return finish(g, nn_graph_apply(g, separate ? "relu2" : "relu", s), "Twice");
}

static void test_parameter_free_module_reused(void **state)
{
    (void)state;
    nn_module *one = relu_twice(false), *two = relu_twice(true);
    assert_non_null(one);
    assert_non_null(two);
    assert_print(one, "Twice(\n  (relu): ReLU()\n)\n");
    nn_tensor *x = input_of(NN_SHAPE(3, 5), 8), *gy = input_of(NN_SHAPE(3, 5), 9);
    run_result a = run_once(one, x, gy), b = run_once(two, x, gy);
    assert_same_run(&a, &b);
    /* relu(x) + x is 2x or x: check the values, not only the agreement */
    for (int i = 0; i < 15; i++) {
        float v = x->data[i];
        assert_true(a.y[i] == (v > 0 ? 2 * v : 0.0f));
        assert_true(a.dx[i] == (v > 0 ? 2 * gy->data[i] : 0.0f));
    }
    free_run(&a);
    /* eval mode reaches the copies too: Dropout(p=0.5) at two places is the identity */
    nn_module *g = nn_graph();
    nn_graph_add(g, "drop", nn_dropout(0.5f));
    int v = nn_graph_apply(g, "drop", nn_graph_apply(g, "drop", nn_graph_input(g)));
    assert_int_equal(nn_graph_output(g, v), NN_OK);
    nn_module_train(g, false);
    nn_tensor *y = nn_forward(g, x);
    assert_non_null(y);
    assert_same_bits(y, x);
    nn_module_free(g);
    nn_tensor_free(x);
    nn_tensor_free(gy);
    nn_module_free(one);
    nn_module_free(two);
}

static void test_module_with_parameters_applied_twice(void **state)
{
    (void)state;
    nn_module *g = nn_graph();
    nn_graph_add(g, "fc", nn_linear(3, 3, true));
    int x = nn_graph_input(g), a = nn_graph_apply(g, "fc", x);
    assert_true(a > 0);
    int b = nn_graph_apply(g, "fc", a);
    assert_true(b < 0);
    assert_error_mentions("nn_graph_apply", "(fc)", "Linear", "already used");
    assert_int_equal(nn_graph_output(g, b), b);
    assert_error_mentions("already used");
    nn_module_free(g);
}

static void test_builder_errors_are_sticky(void **state)
{
    (void)state;
    nn_module *g = nn_graph();
    nn_graph_add(g, "fc", nn_linear(3, 3, true));
    nn_graph_add(g, "relu", nn_relu());
    int x = nn_graph_input(g);
    int bad = nn_graph_apply(g, "nope", x);
    assert_true(bad < 0);
    assert_error_mentions("nn_graph_apply", "no child named \"nope\"");
    /* later calls pass the failure on, or fail on their own, which is not
       what nn_graph_output reports */
    assert_int_equal(nn_graph_apply(g, "relu", bad), bad);
    assert_int_equal(nn_graph_sum(g, x, bad), bad);
    assert_int_equal(nn_graph_cat(g, (int[]){x, bad}, 2, 0), bad);
    assert_true(nn_graph_apply(g, "other", x) < 0);
    assert_true(nn_graph_sum(g, x, 42) < 0);
    assert_error_mentions("value 42 does not exist");
    assert_true(nn_graph_cat(g, (int[]){x}, 0, 0) < 0);
    assert_error_mentions("nn_graph_cat", "1 to 8 values");
    assert_true(nn_graph_cat(g, (int[]){x, x, x, x, x, x, x, x, x}, 9, 0) < 0);
    assert_true(nn_graph_add(g, "fc", nn_linear(2, 2, true)) < 0); /* taken: freed */
    assert_error_mentions("nn_graph_add", "\"fc\"");
    int ok = nn_graph_apply(g, "fc", x);
    assert_true(ok > 0);
    assert_true(nn_graph_output(g, ok) < 0);
    assert_error_mentions("nn_graph_apply", "\"nope\"");
    assert_null(strstr(nn_last_error(), "other"));
    /* and forward says it was not built */
    nn_tensor *t = nn_tensor_new(NN_SHAPE(2, 3));
    assert_null(nn_forward(g, t));
    assert_error_mentions("nn_forward", "no output", "\"nope\"");
    assert_null(nn_backward(g, t));
    nn_tensor_free(t);
    nn_module_free(g);
    /* not a graph */
    nn_module *lin = nn_linear(2, 2, true);
    assert_true(nn_graph_apply(lin, "x", 0) < 0);
    assert_error_mentions("expected a Graph", "Linear");
    assert_true(nn_graph_add(lin, "r", nn_relu()) < 0); /* the child is freed */
    assert_true(nn_graph_output(NULL, 0) < 0);
    nn_module_free(lin);
}

/* x + flatten(x): fits for 2-D x only */
static void test_sum_shape_mismatch_changes_nothing(void **state)
{
    (void)state;
    nn_manual_seed(2);
    nn_module *g = nn_graph();
    nn_graph_add(g, "fc", nn_linear(3, 3, true));
    nn_graph_add(g, "flat", nn_flatten());
    int h = nn_graph_apply(g, "fc", nn_graph_input(g));
    assert_int_equal(nn_graph_output(g, nn_graph_sum(g, h, nn_graph_apply(g, "flat", h))), NN_OK);
    nn_tensor *x = input_of(NN_SHAPE(2, 3), 11), *bad = input_of(NN_SHAPE(2, 1, 3), 12);
    nn_tensor *gy = input_of(NN_SHAPE(2, 3), 13);
    nn_tensor *y = nn_forward(g, x);
    assert_non_null(y);
    float *before = values_of(y);
    assert_null(nn_forward(g, bad));
    assert_error_mentions("nn_forward", "sum", "[2, 1, 3]", "[2, 3]");
    /* the last result is as it was; backward refuses after the failure */
    float *after = values_of(y);
    assert_memory_equal(after, before, 6 * sizeof(float));
    free(after);
    assert_null(nn_backward(g, gy));
    assert_error_mentions("nn_backward", "forward failed");
    int64_t ng;
    float *grads = grads_of(g, &ng);
    for (int64_t i = 0; i < ng; i++)
        assert_true(grads[i] == 0.0f);
    free(grads);
    /* a forward that succeeds makes backward possible again */
    assert_non_null(nn_forward(g, x));
    assert_non_null(nn_backward(g, gy));
    free(before);
    nn_tensor_free(x);
    nn_tensor_free(bad);
    nn_tensor_free(gy);
    nn_module_free(g);
}

static void test_failed_backward_changes_nothing(void **state)
{
    (void)state;
    nn_manual_seed(3);
    nn_module *b = basic_block(2, 4, 2);
    assert_non_null(b);
    nn_tensor *x = input_of(NN_SHAPE(1, 2, 4, 4), 21), *gy = input_of(NN_SHAPE(1, 4, 2, 2), 22);
    nn_tensor *wrong = input_of(NN_SHAPE(1, 4, 2, 3), 23);
    run_result first = run_once(b, x, gy); /* gradients of one pass */
    for (int warm = 0; warm < 2; warm++) {
        assert_non_null(nn_forward(b, x));
        int64_t n0, n1;
        float *g0 = grads_of(b, &n0);
        assert_null(nn_backward(b, wrong));
        assert_error_mentions("nn_backward", "BasicBlock", "[1, 4, 2, 3]", "[1, 4, 2, 2]");
        float *g1 = grads_of(b, &n1);
        assert_memory_equal(g1, g0, (size_t)n0 * sizeof(float));
        free(g1);
        /* retried: adds one pass more */
        assert_non_null(nn_backward(b, gy));
        g1 = grads_of(b, &n1);
        for (int64_t i = 0; i < n1; i++)
            assert_float_equal(g1[i], g0[i] + first.grads[i], 1e-5);
        free(g0);
        free(g1);
        /* and a second backward needs a forward first */
        assert_null(nn_backward(b, gy));
        assert_error_mentions("second time");
    }
    free_run(&first);
    nn_tensor_free(x);
    nn_tensor_free(gy);
    nn_tensor_free(wrong);
    nn_module_free(b);
}

/* output = input, alone or beside a branch that does not reach the output */
static void check_output_is_input(bool branch)
{
    nn_module *g = nn_graph();
    nn_graph_add(g, "unused", nn_linear(3, 2, true));
    int x = nn_graph_input(g);
    if (branch)
        assert_true(nn_graph_apply(g, "unused", x) > 0);
    assert_int_equal(nn_graph_output(g, x), NN_OK);
    nn_tensor *in = input_of(NN_SHAPE(2, 3), 31), *gy = input_of(NN_SHAPE(2, 3), 32);
    nn_tensor *y = nn_forward(g, in);
    assert_non_null(y);
    assert_same_bits(y, in);
    nn_tensor *dx = nn_backward(g, gy);
    assert_non_null(dx);
    assert_ptr_not_equal(dx, gy); /* owned by the module, as every result */
    assert_same_bits(dx, gy);
    int64_t ng;
    float *grads = grads_of(g, &ng);
    for (int64_t i = 0; i < ng; i++)
        assert_true(grads[i] == 0.0f);
    free(grads);
    assert_non_null(nn_forward(g, in));
    assert_int_equal(nn_backward_params(g, gy), NN_OK);
    /* the caller's grad_out may go: dx lives until the next call */
    nn_tensor *gy2 = nn_tensor_contiguous(gy);
    assert_non_null(nn_forward(g, in));
    dx = nn_backward(g, gy2);
    assert_non_null(dx);
    nn_tensor_free(gy2);
    assert_same_bits(dx, gy);
    nn_tensor_free(in);
    nn_tensor_free(gy);
    nn_module_free(g);
}

static void test_output_is_input(void **state)
{
    (void)state;
    check_output_is_input(false);
    check_output_is_input(true);
}

/* h = g(h): the graph's own output as its next input */
static void test_own_output_as_input(void **state)
{
    (void)state;
    nn_manual_seed(4);
    nn_module *body = nn_linear(3, 3, true);
    nn_param *p;
    assert_int_equal(nn_module_params(body, &p), 2);
    float w[9], b[3];
    memcpy(w, p[0].value->data, sizeof w);
    memcpy(b, p[1].value->data, sizeof b);
    nn_module *g = nn_graph(); /* cat([fc(x) + x, x], -1)[..., :3] is not expressible: use two sums */
    nn_graph_add(g, "fc", body);
    int x = nn_graph_input(g);
    int s = nn_graph_sum(g, nn_graph_apply(g, "fc", x), x);
    assert_int_equal(nn_graph_output(g, nn_graph_sum(g, s, x)), NN_OK); /* fc(x) + 2x */
    nn_tensor *x0 = input_of(NN_SHAPE(2, 3), 41);
    nn_tensor *h = nn_forward(g, x0);
    assert_non_null(h);
    float h1[6], want[6];
    nn_tensor_copy_out(h, h1);
    h = nn_forward(g, h);
    assert_non_null(h);
    for (int r = 0; r < 2; r++)
        for (int o = 0; o < 3; o++) {
            double acc = b[o];
            for (int i = 0; i < 3; i++)
                acc += (double)w[o * 3 + i] * h1[r * 3 + i];
            want[r * 3 + o] = (float)(acc + 2.0 * h1[r * 3 + o]);
        }
    float *got = values_of(h);
    assert_close(got, want, 6, 1e-5, 1e-6);
    free(got);
    /* and backward uses that input: dL/dW = gy^T h1 */
    nn_tensor *gy = input_of(NN_SHAPE(2, 3), 42);
    nn_zero_grad(g);
    assert_non_null(nn_backward(g, gy));
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 3; i++) {
            double acc = 0;
            for (int r = 0; r < 2; r++)
                acc += (double)gy->data[r * 3 + o] * h1[r * 3 + i];
            assert_float_equal(p[0].grad->data[o * 3 + i], acc, 1e-5);
        }
    nn_tensor_free(gy);
    nn_tensor_free(x0);
    nn_module_free(g);
}

static void test_residual(void **state)
{
    (void)state;
    nn_manual_seed(6);
    nn_module *r = nn_residual(nn_linear(3, 3, true), NULL);
    assert_non_null(r);
    assert_print(r, "Residual(\n  (body): Linear(in_features=3, out_features=3, bias=True)\n)\n");
    nn_param *p;
    assert_int_equal(nn_module_params(r, &p), 2);
    assert_string_equal(p[0].name, "body.weight");
    nn_tensor *x = input_of(NN_SHAPE(4, 3), 51);
    nn_tensor *y = nn_forward(r, x);
    assert_non_null(y);
    for (int n = 0; n < 4; n++)
        for (int o = 0; o < 3; o++) {
            double acc = p[1].value->data[o];
            for (int i = 0; i < 3; i++)
                acc += (double)p[0].value->data[o * 3 + i] * x->data[n * 3 + i];
            assert_float_equal(nn_tensor_get(y, (int64_t[]){n, o}), acc + x->data[n * 3 + o], 1e-5);
        }
    fd_check(r, x);
    nn_module_free(r);

    nn_module *s = nn_residual(conv3x3(2, 3, 1), conv1x1(2, 3, 1));
    assert_non_null(s);
    assert_print(s, "Residual(\n  (body): Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
                    "  (shortcut): Conv2d(2, 3, kernel_size=(1, 1), stride=(1, 1), bias=False)\n)\n");
    assert_int_equal(nn_module_params(s, &p), 2);
    assert_string_equal(p[1].name, "shortcut.weight");
    nn_tensor *xi = input_of(NN_SHAPE(1, 2, 3, 3), 52);
    fd_check(s, xi);
    nn_module_free(s);
    /* a failed constructor: NULL, its message, nothing leaked */
    assert_null(nn_residual(nn_linear(0, 3, true), nn_relu()));
    assert_error_mentions("nn_residual", "nn_linear");
    nn_tensor_free(xi);
    nn_tensor_free(x);
}

/* --- allocation failures ------------------------------------------------------ */

static int failures;
static void failed(const char *step)
{
    if (!strstr(nn_last_error(), "out of memory"))
        fail_msg("%s failed with k = %ld but says \"%s\"", step, tu_fail_at, nn_last_error());
    failures++;
    tu_fail_at = -1;
}

/* every builder call checked once, at the end */
static nn_module *small_graph(void)
{
    nn_module *g = nn_graph();
    if (!g)
        return NULL;
    nn_graph_add(g, "conv", conv3x3(2, 2, 1));
    nn_graph_add(g, "relu", nn_relu());
    nn_graph_add(g, "up", nn_upsample(2));
    nn_graph_add(g, "pool", nn_maxpool2d(2, 0));
    int x = nn_graph_input(g);
    int a = nn_graph_apply(g, "relu", nn_graph_apply(g, "conv", x));
    int s = nn_graph_sum(g, a, x);
    int c = nn_graph_cat(g, (int[]){nn_graph_apply(g, "relu", s), x, s}, 3, 1);
    return finish(g, nn_graph_apply(g, "pool", nn_graph_apply(g, "up", c)), "Small");
}

static void sweep_scenario(void)
{
    nn_module *g;
    nn_tensor *x, *gy;
    while (!(g = small_graph()))
        failed("building");
    while (!(x = nn_tensor_from((const float[]){1, -2, 3, -4, 0.5f, 0.25f, -1, 2}, NN_SHAPE(1, 2, 2, 2))))
        failed("an input");
    while (!(gy = nn_tensor_from((const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -1, -2, -3, -4, -5, -6,
                                                 -7, -8, -9, -10, -11, -12},
                                  NN_SHAPE(1, 6, 2, 2))))
        failed("grad_out");
    nn_param *p;
    while (nn_module_params(g, &p) < 0)
        failed("listing parameters");
    for (int step = 0; step < 2; step++) {
        while (!nn_forward(g, x))
            failed("forward");
        int64_t n0, n1;
        float *g0 = grads_of(g, &n0);
        while (!nn_backward(g, gy)) {
            float *now = grads_of(g, &n1);
            assert_memory_equal(now, g0, (size_t)n0 * sizeof(float));
            free(now);
            failed("backward");
        }
        free(g0);
    }
    nn_tensor_free(gy);
    nn_tensor_free(x);
    nn_module_free(g);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    nn_set_num_threads(1);
    nn_set_allocator(tu_alloc, tu_release);
    tu_allocs = 0;
    tu_live = 0;
    tu_fail_at = -1;
    failures = 0;
    sweep_scenario();
    long total = tu_allocs;
    assert_int_equal(tu_live, 0);
    assert_int_equal(failures, 0);
    assert_true(total > 20);
    for (long k = 1; k <= total; k++) {
        tu_allocs = 0;
        tu_fail_at = k;
        failures = 0;
        sweep_scenario();
        if (failures != 1)
            fail_msg("allocation %ld of %ld failed but %d steps reported it", k, total, failures);
        if (tu_live != 0)
            fail_msg("allocation %ld failing leaked %ld blocks", k, tu_live);
    }
    nn_set_allocator(NULL, NULL);
    printf("swept %ld allocations\n", total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_models),
        cmocka_unit_test(test_builders_need_no_cleanup),
        cmocka_unit_test(test_upsample_torch),
        cmocka_unit_test(test_upsample_errors),
        cmocka_unit_test(test_value_used_three_times),
        cmocka_unit_test(test_cat_dims),
        cmocka_unit_test(test_parameter_free_module_reused),
        cmocka_unit_test(test_module_with_parameters_applied_twice),
        cmocka_unit_test(test_builder_errors_are_sticky),
        cmocka_unit_test(test_sum_shape_mismatch_changes_nothing),
        cmocka_unit_test(test_failed_backward_changes_nothing),
        cmocka_unit_test(test_gradient_sums_exact),
        cmocka_unit_test(test_output_is_input),
        cmocka_unit_test(test_own_output_as_input),
        cmocka_unit_test(test_residual),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
