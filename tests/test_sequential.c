/* Sequential: composition against PyTorch 1.13 (tests/fixtures/layers.h),
   parameter names as state_dict() gives them, counts, zero_grad, child
   names, print(model), the empty Sequential. */
#include "testutil.h"

#include <stdlib.h>

#include "fixtures/layers.h"

#define RTOL 1e-4
#define ATOL 1e-5

static void add_ok(nn_module *seq, const char *name, nn_module *child)
{
    assert_non_null(child);
    assert_int_equal(nn_sequential_add(seq, name, child), NN_OK);
}

/* torch.manual_seed(0); Sequential(fc1=Linear(2, 5), relu=ReLU(), fc2=Linear(5, 3)) */
static nn_module *tutorial_net(void)
{
    nn_manual_seed(0);
    nn_module *net = nn_sequential();
    add_ok(net, "fc1", nn_linear(2, 5, true));
    add_ok(net, "relu", nn_relu());
    add_ok(net, "fc2", nn_linear(5, 3, true));
    return net;
}

static void test_matches_torch(void **state)
{
    (void)state;
    nn_module *net = tutorial_net();
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(p[i].name, seq_names[i]);
        /* same seed, same initial weights, bit for bit */
        assert_memory_equal(p[i].value->data, seq_values[i],
                            (size_t)nn_tensor_numel(p[i].value) * sizeof(float));
    }
    nn_tensor *x = nn_tensor_from(seq_x, NN_SHAPE(6, 2));
    nn_tensor *gy = nn_tensor_from(seq_gy, NN_SHAPE(6, 3));
    nn_zero_grad(net);
    for (int pass = 1; pass <= 2; pass++) {
        nn_tensor *y = nn_forward(net, x);
        assert_non_null(y);
        assert_int_equal(y->ndim, 2);
        assert_int_equal(y->shape[1], 3);
        assert_close(y->data, seq_y, 18, RTOL, ATOL);
        nn_tensor *dx = nn_backward(net, gy);
        assert_non_null(dx);
        assert_close(dx->data, seq_dx, 12, RTOL, ATOL);
        for (int i = 0; i < 4; i++) {
            int64_t n = nn_tensor_numel(p[i].grad);
            float want[16];
            for (int64_t j = 0; j < n; j++)
                want[j] = (float)pass * seq_grads[i][j]; /* gradients accumulate */
            assert_close(p[i].grad->data, want, n, RTOL, ATOL * pass);
        }
    }
    nn_zero_grad(net);
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < nn_tensor_numel(p[i].grad); j++)
            assert_true(p[i].grad->data[j] == 0.0f);
    nn_tensor_free(gy);
    nn_tensor_free(x);
    nn_module_free(net);
}

static void test_unnamed_children_and_print(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    add_ok(net, NULL, nn_linear(2, 5, true));
    add_ok(net, NULL, nn_relu());
    add_ok(net, NULL, nn_linear(5, 1, true));
    nn_param *p;
    assert_int_equal(nn_module_params(net, NULL), 4);
    assert_int_equal(nn_module_params(net, &p), 4);
    assert_string_equal(p[0].name, "0.weight");
    assert_string_equal(p[1].name, "0.bias");
    assert_string_equal(p[2].name, "2.weight");
    assert_string_equal(p[3].name, "2.bias");
    assert_string_equal(printed(net), unnamed_print);
    assert_int_equal(nn_sequential_set_class_name(net, "SimpleNet"), NN_OK);
    char want[1024];
    snprintf(want, sizeof want, "SimpleNet(%s", unnamed_print + strlen("Sequential("));
    assert_string_equal(printed(net), want);
    nn_module_free(net);
}

static nn_module *nested_net(void)
{
    nn_module *block = nn_sequential();
    add_ok(block, NULL, nn_conv2d(1, 20, 5, 1, 0));
    add_ok(block, NULL, nn_relu());
    add_ok(block, NULL,
           nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 20, .out_channels = 64, .kernel_h = 5,
                                          .kernel_w = 5, .pad_h = 2, .pad_w = 2}));
    nn_module *inner = nn_sequential();
    add_ok(inner, NULL, nn_tanh());
    add_ok(block, NULL, inner);
    nn_module *net = nn_sequential();
    add_ok(net, "block", block);
    add_ok(net, "fc", nn_linear(64, 10, true));
    add_ok(net, "empty", nn_sequential());
    add_ok(net, "out", nn_sigmoid());
    return net;
}

static void test_nested_names_counts_print(void **state)
{
    (void)state;
    nn_module *net = nested_net();
    nn_param *p;
    int n = nn_module_params(net, &p);
    assert_int_equal(n, (int)(sizeof nested_names / sizeof *nested_names));
    for (int i = 0; i < n; i++)
        assert_string_equal(p[i].name, nested_names[i]);
    assert_int_equal(nn_tensor_numel(p[2].value), 64 * 20 * 5 * 5);
    assert_string_equal(printed(net), nested_print);
    /* the list is rebuilt when the tree grows */
    add_ok(net, "head", nn_linear(10, 2, false));
    assert_int_equal(nn_module_params(net, &p), n + 1);
    assert_string_equal(p[n].name, "head.weight");
    /* zero_grad reaches every nested parameter */
    for (int i = 0; i <= n; i++)
        p[i].grad->data[0] = 1.0f;
    nn_zero_grad(net);
    for (int i = 0; i <= n; i++)
        assert_true(p[i].grad->data[0] == 0.0f);
    nn_module_free(net);
}

static void test_empty_sequential(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_string_equal(printed(net), empty_print);
    assert_int_equal(nn_module_params(net, NULL), 0);
    nn_zero_grad(net);
    nn_tensor *x = nn_tensor_from((const float[]){1, 2, 3}, NN_SHAPE(3));
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    assert_true(y->data[0] == 1.0f && y->data[2] == 3.0f);
    nn_tensor *dx = nn_backward(net, x);
    assert_non_null(dx);
    assert_true(dx->data[1] == 2.0f);
    nn_tensor_free(x);
    nn_module_free(net);
}

static void test_child_name_errors(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    nn_module *lin = nn_linear(2, 2, true);
    add_ok(net, "fc", lin);
    nn_module *other = nn_relu();
    assert_int_equal(nn_sequential_add(net, "fc", other), NN_EINVAL);
    assert_error_mentions("nn_sequential_add: Sequential already has a parameter, buffer or child named \"fc\"");
    assert_int_equal(nn_sequential_add(net, "", other), NN_EINVAL);
    assert_error_mentions("nn_sequential_add", "non-empty");
    assert_int_equal(nn_sequential_add(net, "a.b", other), NN_EINVAL);
    assert_error_mentions("nn_sequential_add", "a.b");
    assert_int_equal(nn_sequential_add(net, "again", lin), NN_EINVAL);
    assert_error_mentions("nn_sequential_add: this Linear was already added as (fc)");
    assert_int_equal(nn_sequential_add(net, "self", net), NN_EINVAL);
    assert_error_mentions("nn_sequential_add: adding Sequential to Sequential would make a cycle");
    assert_int_equal(nn_sequential_add(net, "null", NULL), NN_EINVAL);
    assert_error_mentions("nn_sequential_add: child (null) of Sequential is NULL");
    assert_int_equal(nn_sequential_add(other, "x", lin), NN_EINVAL);
    assert_error_mentions("expected a Sequential, got ReLU");
    nn_module *net2 = nn_sequential();
    assert_int_equal(nn_sequential_add(net2, "fc", lin), NN_EINVAL);
    assert_error_mentions("nn_sequential_add: this Linear already belongs to Sequential");
    assert_int_equal(nn_module_params(net2, NULL), 0);
    nn_module_free(net2);
    /* an unnamed child after named ones gets its index */
    add_ok(net, NULL, other);
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 2);
    assert_string_equal(printed(net),
                        "Sequential(\n  (fc): Linear(in_features=2, out_features=2, bias=True)\n  (1): ReLU()\n)\n");
    nn_module_free(net);
}

static void *no_memory(size_t n)
{
    (void)n;
    return NULL;
}

/* nn_zero_grad allocates nothing, so it cannot fail: with no memory left
   it still zeroes every gradient of a nested container. */
static void test_zero_grad_needs_no_memory(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    nn_module *inner = nn_sequential();
    add_ok(inner, "fc", nn_linear(2, 3, true));
    add_ok(net, "block", inner);
    add_ok(net, "out", nn_linear(3, 1, false));
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 2));
    nn_tensor_fill(x, 1.0f);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 1));
    nn_tensor_fill(g, 1.0f);
    assert_non_null(nn_forward(net, x));
    assert_non_null(nn_backward(net, g));
    nn_set_allocator(no_memory, free);
    nn_zero_grad(net);
    nn_set_allocator(NULL, NULL);
    nn_param *p;
    int n = nn_module_params(net, &p);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < nn_tensor_numel(p[i].grad); j++)
            assert_true(p[i].grad->data[j] == 0.0f);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(net);
}

/* Freeing a child the container owns would free it twice: refused. */
static void test_free_of_owned_child_refused(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    nn_module *inner = nn_sequential();
    nn_module *lin = nn_linear(2, 2, true);
    add_ok(inner, "fc", lin);
    add_ok(net, "block", inner);
    nn_module_free(lin);
    assert_error_mentions("nn_module_free: this Linear belongs to Sequential, which frees it");
    nn_module_free(inner);
    assert_error_mentions("nn_module_free: this Sequential belongs to Sequential, which frees it");
    assert_int_equal(nn_module_params(net, NULL), 2); /* still there, still usable */
    nn_tensor *x = nn_tensor_new(NN_SHAPE(1, 2));
    assert_non_null(nn_forward(net, x));
    nn_tensor_free(x);
    nn_module_free(net); /* frees both, once */
}

static void test_child_errors_name_the_child(void **state)
{
    (void)state;
    nn_module *net = tutorial_net();
    nn_tensor *x = nn_tensor_new(NN_SHAPE(4, 3));
    assert_null(nn_forward(net, x));
    assert_error_mentions("nn_forward: Linear(in_features=2) got input of shape [4, 3]", "(fc1)");
    nn_tensor *ok = nn_tensor_new(NN_SHAPE(4, 2));
    assert_non_null(nn_forward(net, ok));
    nn_tensor *bad_g = nn_tensor_new(NN_SHAPE(4, 2));
    assert_null(nn_backward(net, bad_g));
    assert_error_mentions("nn_backward: Linear(in_features=5) expected grad_out of shape [4, 3], got [4, 2]",
                          "(fc2)");
    nn_tensor_free(bad_g);
    nn_tensor_free(ok);
    nn_tensor_free(x);
    nn_module_free(net);
}

/* A forward that fails after earlier children ran leaves their caches from
   the new input and the later ones' from the old: backward refuses until a
   forward succeeds, and then works as usual. */
static void test_backward_after_failed_forward(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "conv", nn_conv2d(1, 1, 1, 1, 0)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "flat", nn_flatten()), NN_OK);
    assert_int_equal(nn_sequential_add(net, "fc", nn_linear(4, 1, true)), NN_OK);
    nn_tensor *good = nn_tensor_from((float[]){1, 2, 3, 4}, NN_SHAPE(1, 1, 2, 2));
    nn_tensor *bad = nn_tensor_new(NN_SHAPE(1, 1, 3, 3));
    nn_tensor *g = nn_tensor_from((float[]){1}, NN_SHAPE(1, 1));
    assert_non_null(nn_forward(net, good));
    assert_non_null(nn_backward(net, g));
    assert_null(nn_forward(net, bad)); /* conv and flatten ran, fc refused */
    assert_error_mentions("Linear(in_features=4)", "(fc)");
    assert_null(nn_backward(net, g));
    assert_error_mentions("nn_backward: Sequential: the last forward failed in child (fc)", "run a forward that succeeds");
    assert_null(strstr(nn_last_error(), "Sequential: Sequential"));
    assert_int_equal(nn_backward_params(net, g), NN_EINVAL);
    nn_zero_grad(net);
    assert_non_null(nn_forward(net, good));
    nn_tensor *dx = nn_backward(net, g);
    assert_non_null(dx);
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    /* fc.weight.grad = the flattened conv output (gradient 1), added once */
    float w = p[0].value->data[0], b = p[1].value->data[0];
    for (int j = 0; j < 4; j++)
        assert_float_equal(p[2].grad->data[j], w * (float)(j + 1) + b, 1e-6);
    nn_tensor_free(g);
    nn_tensor_free(bad);
    nn_tensor_free(good);
    nn_module_free(net);
}

/* Each backward needs its own forward, as in PyTorch ("Trying to backward
   through the graph a second time"): a second nn_backward after one
   forward is refused and changes no gradient; a forward makes one
   backward possible again, and its gradients add to the first. */
static void test_backward_twice_refused(void **state)
{
    (void)state;
    nn_module *net = tutorial_net();
    nn_tensor *x = nn_tensor_from(seq_x, NN_SHAPE(6, 2));
    nn_tensor *gy = nn_tensor_from(seq_gy, NN_SHAPE(6, 3));
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    nn_zero_grad(net);
    assert_non_null(nn_forward(net, x));
    nn_tensor *dx = nn_backward(net, gy);
    assert_non_null(dx);
    assert_close(dx->data, seq_dx, 12, RTOL, ATOL);
    float dx_first[12], grads[4][16];
    nn_tensor_copy_out(dx, dx_first);
    for (int i = 0; i < 4; i++)
        nn_tensor_copy_out(p[i].grad, grads[i]);

    for (int again = 0; again < 2; again++) { /* a refused call does not allow the next one */
        assert_null(nn_backward(net, gy));
        assert_error_mentions("nn_backward: Sequential: no forward since the last backward", "second time",
                              "run a forward first");
        for (int i = 0; i < 4; i++)
            assert_memory_equal(p[i].grad->data, grads[i], (size_t)nn_tensor_numel(p[i].grad) * sizeof(float));
        assert_memory_equal(dx->data, dx_first, sizeof dx_first);
    }

    /* a forward allows one backward again: the same dx, the gradients twice */
    assert_non_null(nn_forward(net, x));
    dx = nn_backward(net, gy);
    assert_non_null(dx);
    assert_memory_equal(dx->data, dx_first, sizeof dx_first);
    for (int i = 0; i < 4; i++) {
        int64_t n = nn_tensor_numel(p[i].grad);
        float want[16];
        for (int64_t j = 0; j < n; j++)
            want[j] = 2.0f * seq_grads[i][j];
        assert_close(p[i].grad->data, want, n, RTOL, 2 * ATOL);
    }
    assert_null(nn_backward(net, gy));
    assert_error_mentions("second time");
    nn_tensor_free(gy);
    nn_tensor_free(x);
    nn_module_free(net);
}

/* The tutorial's Conv2d(1, 20, 1) -> ReLU -> Conv2d(20, 20, 5) on a 1x1x5x5
   image, initialised from the same seed as torch: weights, output, dx and
   every parameter gradient. */
static void test_conv_stack_matches_torch(void **state)
{
    (void)state;
    nn_manual_seed(3);
    nn_module *net = nn_sequential();
    add_ok(net, NULL, nn_conv2d(1, 20, 1, 1, 0));
    add_ok(net, NULL, nn_relu());
    add_ok(net, NULL, nn_conv2d(20, 20, 5, 1, 0));
    assert_string_equal(printed(net), chain_print);
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    assert_string_equal(p[2].name, "2.weight");
    for (int i = 0; i < 4; i++)
        assert_memory_equal(p[i].value->data, chain_values[i],
                            (size_t)nn_tensor_numel(p[i].value) * sizeof(float));
    nn_tensor *x = nn_tensor_from(chain_x, NN_SHAPE(1, 1, 5, 5));
    nn_tensor *gy = nn_tensor_from(chain_gy, NN_SHAPE(1, 20, 1, 1));
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[1], 20);
    assert_int_equal(y->shape[2], 1);
    assert_int_equal(y->shape[3], 1);
    assert_close(y->data, chain_y, 20, RTOL, ATOL);
    nn_tensor *dx = nn_backward(net, gy);
    assert_non_null(dx);
    assert_close(dx->data, chain_dx, 25, RTOL, ATOL);
    for (int i = 0; i < 4; i++)
        assert_close(p[i].grad->data, chain_grads[i], nn_tensor_numel(p[i].grad), RTOL, ATOL);
    nn_tensor_free(gy);
    nn_tensor_free(x);
    nn_module_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
        cmocka_unit_test(test_unnamed_children_and_print),
        cmocka_unit_test(test_nested_names_counts_print),
        cmocka_unit_test(test_empty_sequential),
        cmocka_unit_test(test_child_name_errors),
        cmocka_unit_test(test_zero_grad_needs_no_memory),
        cmocka_unit_test(test_free_of_owned_child_refused),
        cmocka_unit_test(test_child_errors_name_the_child),
        cmocka_unit_test(test_backward_after_failed_forward),
        cmocka_unit_test(test_conv_stack_matches_torch),
        cmocka_unit_test(test_backward_twice_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
