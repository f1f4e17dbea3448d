/* examples/channel_scale.h, the layer written outside the library as users
   write theirs: its gradients against finite differences (strided input,
   2-d and 4-d), gradients accumulate, its failures change nothing (a wrong
   shape, an allocation that fails), and the core gives it names, printing
   and the Sequential's bookkeeping. Its training, saving and loading
   against PyTorch: tests/test_examples.c with tests/ref_custom_layer.py. */
#include "testutil.h"

#include "../examples/channel_scale.h"

/* An allocator that can be told to fail, installed before anything is
   allocated (nn_set_allocator's rule) and left in place. */
static bool fail_allocations;

static void *test_alloc(size_t n) { return fail_allocations ? NULL : malloc(n); }

/* Deterministic values in [-1, 1) from a counter. */
static float value_at(uint32_t k)
{
    k = k * 2654435761u + 12345u;
    return (float)((k >> 8) % 2000) / 1000.0f - 1.0f;
}

static void fill_values(nn_tensor *t, uint32_t salt)
{
    int64_t n = nn_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = value_at((uint32_t)i + salt * 1000u);
    assert_int_equal(nn_tensor_copy_in(t, v), NN_OK);
    free(v);
}

/* L = sum(r * layer(x)) in double. */
static double loss_of(nn_module *m, const nn_tensor *x, const float *r)
{
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    int64_t n = nn_tensor_numel(y);
    float *ys = malloc((size_t)n * sizeof *ys);
    assert_non_null(ys);
    nn_tensor_copy_out(y, ys);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)r[i] * ys[i];
    free(ys);
    return sum;
}

/* Central difference of loss_of in the element at *p. */
static double numeric(nn_module *m, const nn_tensor *x, const float *r, float *p)
{
    const float h = 1.0f / 64; /* exact steps: x +- h is what the layer sees */
    float keep = *p;
    *p = keep + h;
    double up = loss_of(m, x, r);
    *p = keep - h;
    double down = loss_of(m, x, r);
    *p = keep;
    return (up - down) / (2.0 * h);
}

static void check_close(double got, double want, const char *what, int64_t i)
{
    if (!(fabs(got - want) <= 1e-3 + 1e-3 * fabs(want)))
        fail_msg("%s[%lld]: analytic %.9g, finite differences %.9g", what, (long long)i, got, want);
}

/* x: a strided view (a transpose) of the given shape when strided. */
static void gradcheck(int ndim, const int64_t *shape, bool strided)
{
    nn_module *m = channel_scale_new(shape[1]);
    assert_non_null(m);
    nn_tensor *w = m->params[0].value, *b = m->params[1].value;
    fill_values(w, 1);
    fill_values(b, 2);

    nn_tensor *base = NULL, *x;
    if (strided) { /* allocate with the last two sizes swapped, then transpose */
        int64_t s[NN_MAX_DIMS];
        memcpy(s, shape, (size_t)ndim * sizeof *s);
        s[ndim - 1] = shape[ndim - 2];
        s[ndim - 2] = shape[ndim - 1];
        base = nn_tensor_new(ndim, s);
        x = nn_tensor_transpose(base, -1, -2);
        assert_false(nn_tensor_is_contiguous(x));
    } else {
        x = nn_tensor_new(ndim, shape);
    }
    fill_values(x, 3);
    int64_t n = nn_tensor_numel(x);
    nn_tensor *r = nn_tensor_new(ndim, shape);
    fill_values(r, 4);

    nn_zero_grad(m);
    assert_non_null(nn_forward(m, x));
    nn_tensor *dx = nn_backward(m, r);
    assert_non_null(dx);
    assert_true(nn_tensor_is_contiguous(dx));
    float *dxs = malloc((size_t)n * sizeof *dxs);
    assert_non_null(dxs);
    nn_tensor_copy_out(dx, dxs);
    float *gw = malloc((size_t)shape[1] * sizeof *gw), *gb = malloc((size_t)shape[1] * sizeof *gb);
    assert_non_null(gw);
    assert_non_null(gb);
    nn_tensor_copy_out(m->params[0].grad, gw);
    nn_tensor_copy_out(m->params[1].grad, gb);

    /* every element of x, walked in row-major order through its strides */
    for (int64_t i = 0; i < n; i++) {
        int64_t rest = i, off = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            off += (rest % x->shape[d]) * x->stride[d];
            rest /= x->shape[d];
        }
        check_close(dxs[i], numeric(m, x, r->data, x->data + off), "dL/dx", i);
    }
    for (int64_t c = 0; c < shape[1]; c++) {
        check_close(gw[c], numeric(m, x, r->data, w->data + c), "dL/dweight", c);
        check_close(gb[c], numeric(m, x, r->data, b->data + c), "dL/dbias", c);
    }
    free(dxs);
    free(gw);
    free(gb);
    nn_tensor_free(r);
    nn_tensor_free(x);
    nn_tensor_free(base);
    nn_module_free(m);
}

static void test_gradcheck(void **state)
{
    (void)state;
    gradcheck(4, (const int64_t[]){2, 3, 4, 5}, false);
    gradcheck(4, (const int64_t[]){2, 3, 4, 5}, true);
    gradcheck(2, (const int64_t[]){5, 3}, false);
    gradcheck(3, (const int64_t[]){2, 3, 4}, true);
}

/* A strided input gives the bits its contiguous copy gives; a second
   forward/backward pair adds into the gradients. */
static void test_strided_and_accumulation(void **state)
{
    (void)state;
    nn_module *m = channel_scale_new(3);
    fill_values(m->params[0].value, 5);
    fill_values(m->params[1].value, 6);
    nn_tensor *base = nn_tensor_new(NN_SHAPE(2, 3, 4, 3));
    fill_values(base, 7);
    nn_tensor *x = nn_tensor_transpose(base, 2, 3), *xc = nn_tensor_contiguous(x);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 3, 3, 4));
    fill_values(g, 8);
    float y1[72], y2[72], dx1[72], dx2[72], gw1[3], gb1[3], gw2[3], gb2[3];

    nn_zero_grad(m);
    nn_tensor_copy_out(nn_forward(m, x), y1);
    nn_tensor_copy_out(nn_backward(m, g), dx1);
    nn_tensor_copy_out(m->params[0].grad, gw1);
    nn_tensor_copy_out(m->params[1].grad, gb1);
    nn_zero_grad(m);
    nn_tensor_copy_out(nn_forward(m, xc), y2);
    nn_tensor_copy_out(nn_backward(m, g), dx2);
    nn_tensor_copy_out(m->params[0].grad, gw2);
    nn_tensor_copy_out(m->params[1].grad, gb2);
    assert_memory_equal(y1, y2, sizeof y1);
    assert_memory_equal(dx1, dx2, sizeof dx1);
    assert_memory_equal(gw1, gw2, sizeof gw1);
    assert_memory_equal(gb1, gb2, sizeof gb1);

    /* y = x * w + b, element by element as torch computes it */
    const float *w = m->params[0].value->data, *b = m->params[1].value->data;
    float xs[72];
    nn_tensor_copy_out(x, xs);
    for (int i = 0; i < 72; i++) {
        int c = (i / 12) % 3;
        float scaled = xs[i] * w[c];
        assert_true(y1[i] == scaled + b[c]);
    }

    assert_non_null(nn_forward(m, xc));
    assert_non_null(nn_backward(m, g));
    for (int c = 0; c < 3; c++) {
        assert_true(m->params[0].grad->data[c] == 2 * gw1[c]);
        assert_true(m->params[1].grad->data[c] == 2 * gb1[c]);
    }
    nn_tensor_free(g);
    nn_tensor_free(xc);
    nn_tensor_free(x);
    nn_tensor_free(base);
    nn_module_free(m);
}

/* Refused calls, and allocations that fail, change nothing: the last
   output, the gradients and what the next backward computes stay. */
static void test_failures_change_nothing(void **state)
{
    (void)state;
    nn_module *m = channel_scale_new(3);
    fill_values(m->params[0].value, 9);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 3, 2)), *g = nn_tensor_new(NN_SHAPE(2, 3, 2));
    fill_values(x, 10);
    fill_values(g, 11);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    float y0[12];
    nn_tensor_copy_out(y, y0);

    nn_tensor *bad = nn_tensor_new(NN_SHAPE(2, 4));
    assert_null(nn_forward(m, bad));
    assert_error_mentions("nn_forward: ChannelScale(num_channels=3) expected input [N, 3, ...], got [2, 4]");
    nn_tensor *flat = nn_tensor_new(NN_SHAPE(3));
    assert_null(nn_forward(m, flat));
    assert_error_mentions("got [3]");
    assert_memory_equal(y->data, y0, sizeof y0);

    /* a new shape whose slots cannot be allocated */
    nn_tensor *other = nn_tensor_new(NN_SHAPE(1, 3, 5));
    fail_allocations = true;
    assert_null(nn_forward(m, other));
    fail_allocations = false;
    assert_error_mentions("nn_forward: ChannelScale(num_channels=3): out of memory");
    assert_memory_equal(y->data, y0, sizeof y0);

    /* backward: a grad_out of the wrong shape, then a dx slot that cannot be
       allocated (the first backward allocates it) */
    assert_null(nn_backward(m, other));
    assert_error_mentions("nn_backward: ChannelScale(num_channels=3) expected grad_out of shape [2, 3, 2], got [1, 3, 5]");
    fail_allocations = true;
    assert_null(nn_backward(m, g));
    fail_allocations = false;
    assert_error_mentions("nn_backward: ChannelScale(num_channels=3): out of memory");
    for (int c = 0; c < 3; c++) {
        assert_true(m->params[0].grad->data[c] == 0.0f);
        assert_true(m->params[1].grad->data[c] == 0.0f);
    }
    /* the forward's caches still serve the one backward it allows */
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    float xs[12];
    nn_tensor_copy_out(x, xs);
    double gb0 = 0.0;
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        assert_true(dx->data[i] == g->data[i] * m->params[0].value->data[c]);
        if (c == 0)
            gb0 += g->data[i];
    }
    assert_true(m->params[1].grad->data[0] == (float)gb0);
    assert_null(nn_backward(m, g)); /* the core: one backward per forward */
    assert_error_mentions("nn_backward", "run a forward first");

    assert_null(channel_scale_new(0));
    assert_error_mentions("channel_scale_new: num_channels must be positive, got 0");
    fail_allocations = true;
    assert_null(channel_scale_new(3));
    fail_allocations = false;
    nn_tensor_free(other);
    nn_tensor_free(flat);
    nn_tensor_free(bad);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

/* What the core does for it: state_dict names, initial values, printing,
   zero_grad through a container. */
static void test_core_services(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(2, 3, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, channel_scale_new(3)), NN_OK);
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    assert_string_equal(p[2].name, "1.weight");
    assert_string_equal(p[3].name, "1.bias");
    for (int c = 0; c < 3; c++) {
        assert_true(p[2].value->data[c] == 1.0f);
        assert_true(p[3].value->data[c] == 0.0f);
    }
    assert_string_equal(nn_module_type(nn_module_child(net, "1")), "ChannelScale");

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    nn_module_print(net, f);
    fclose(f);
    assert_string_equal(text, "Sequential(\n"
                              "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                              "  (1): ChannelScale(num_channels=3)\n"
                              ")\n");
    free(text);

    nn_tensor *x = nn_tensor_from((const float[]){1, 2, 3, 4}, NN_SHAPE(2, 2));
    nn_tensor *g = nn_tensor_from((const float[]){1, 1, 1, 1, 1, 1}, NN_SHAPE(2, 3));
    assert_non_null(nn_forward(net, x));
    assert_non_null(nn_backward(net, g));
    assert_true(p[3].grad->data[1] == 2.0f); /* dL/dbias = sum of g over the batch */
    nn_zero_grad(net);
    assert_true(p[3].grad->data[1] == 0.0f);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(net);
}

int main(void)
{
    nn_set_allocator(test_alloc, free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_strided_and_accumulation),
        cmocka_unit_test(test_failures_change_nothing),
        cmocka_unit_test(test_core_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
