/* The generic module tree: what a container written only against the
   public interface (nn/module_ops.h) gets from the core, fusion through
   declared ops instead of type tests, and the new-user traps of the
   composition issue (a NULL child's message, an optimizer over a model
   that grew, ReLU(inplace=True) printing). */
#include "testutil.h"

#include "nn/module_ops.h"

/* --- a user-written container: y = b(a(x)), nothing else written ------- */

typedef struct {
    nn_module base;
} pair;

static nn_tensor *pair_forward(nn_module *m, const nn_tensor *x)
{
    nn_tensor *h = nn_forward(m->children[0].module, x);
    return h ? nn_forward(m->children[1].module, h) : NULL;
}

static nn_tensor *pair_backward(nn_module *m, const nn_tensor *g)
{
    nn_tensor *h = nn_module_backward(m->children[1].module, g, true);
    return h ? nn_module_backward(m->children[0].module, h, true) : NULL;
}

static const nn_module_ops pair_ops = {.type = "Pair", .forward = pair_forward, .backward = pair_backward};

static nn_module *pair_new(nn_module *a, nn_module *b)
{
    pair *p = calloc(1, sizeof *p);
    assert_non_null(p);
    nn_module_init(&p->base, &pair_ops);
    assert_int_equal(nn_module_add_child(&p->base, "first", a), NN_OK);
    assert_int_equal(nn_module_add_child(&p->base, "second", b), NN_OK);
    return &p->base;
}

static void test_user_container_gets_everything(void **state)
{
    (void)state;
    nn_manual_seed(0);
    nn_module *inner = nn_sequential();
    assert_int_equal(nn_sequential_add(inner, NULL, nn_linear(3, 4, true)), NN_OK);
    assert_int_equal(nn_sequential_add(inner, NULL, nn_relu()), NN_OK);
    nn_module *net = pair_new(inner, nn_linear(4, 2, false));

    /* names as PyTorch's state_dict gives them */
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 3);
    assert_string_equal(p[0].name, "first.0.weight");
    assert_string_equal(p[1].name, "first.0.bias");
    assert_string_equal(p[2].name, "second.weight");

    /* printing as torch prints a custom nn.Module with these attributes */
    assert_string_equal(printed(net), "Pair(\n"
                                      "  (first): Sequential(\n"
                                      "    (0): Linear(in_features=3, out_features=4, bias=True)\n"
                                      "    (1): ReLU()\n"
                                      "  )\n"
                                      "  (second): Linear(in_features=4, out_features=2, bias=False)\n"
                                      ")\n");

    /* forward / backward, zero_grad, train/eval reach every module */
    nn_tensor *x = nn_tensor_from((float[]){0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f}, NN_SHAPE(2, 3));
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 2));
    nn_tensor_fill(g, 1.0f);
    assert_non_null(nn_backward(net, g));
    double total = 0; /* the check below must see gradients to clear */
    for (int i = 0; i < 3; i++)
        for (int64_t k = 0; k < nn_tensor_numel(p[i].grad); k++)
            total += fabs(p[i].grad->data[k]);
    assert_true(total > 0);
    nn_zero_grad(net);
    for (int i = 0; i < 3; i++)
        for (int64_t k = 0; k < nn_tensor_numel(p[i].grad); k++)
            assert_true(p[i].grad->data[k] == 0.0f);
    nn_module_train(net, false);
    assert_false(nn_module_child(inner, "1")->training);
    assert_false(nn_module_child(net, "second")->training);

    /* backward twice after one forward: refused, gradients untouched */
    assert_non_null(nn_forward(net, x));
    assert_non_null(nn_backward(net, g));
    float before[8];
    memcpy(before, p[2].grad->data, sizeof before);
    assert_null(nn_backward(net, g));
    assert_error_mentions("nn_backward", "second time");
    assert_memory_equal(p[2].grad->data, before, sizeof before);

    /* save and load without a line of io code in the container */
    char path[] = "/tmp/nn_tree_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(nn_save(net, path), NN_OK);
    nn_manual_seed(1);
    nn_module *inner2 = nn_sequential();
    assert_int_equal(nn_sequential_add(inner2, NULL, nn_linear(3, 4, true)), NN_OK);
    assert_int_equal(nn_sequential_add(inner2, NULL, nn_relu()), NN_OK);
    nn_module *twin = pair_new(inner2, nn_linear(4, 2, false));
    assert_int_equal(nn_load(twin, path), NN_OK);
    unlink(path);
    nn_tensor *y2 = nn_forward(twin, x);
    y = nn_forward(net, x);
    assert_memory_equal(y->data, y2->data, 4 * sizeof(float));

    /* a child belongs to its container */
    nn_module_free(inner);
    assert_error_mentions("nn_module_free", "belongs to Pair");
    nn_module_free(twin);
    nn_module_free(net);
    nn_tensor_free(x);
    nn_tensor_free(g);
}

/* --- fusion through declared ops: a pointwise layer and one that absorbs it */

typedef struct {
    nn_module base;
    nn_tensor *out, *dx;
    int forwards, backwards;
} negate;

static nn_tensor *neg_run(negate *n, const nn_tensor *x, nn_tensor **slot, int *count)
{
    nn_tensor_free(*slot);
    *slot = nn_tensor_contiguous(x);
    for (int64_t i = 0; i < nn_tensor_numel(*slot); i++)
        (*slot)->data[i] = -(*slot)->data[i];
    (void)n;
    ++*count;
    return *slot;
}

static nn_tensor *neg_forward(nn_module *m, const nn_tensor *x)
{
    negate *n = (negate *)m;
    return neg_run(n, x, &n->out, &n->forwards);
}

static nn_tensor *neg_backward(nn_module *m, const nn_tensor *g)
{
    negate *n = (negate *)m;
    return neg_run(n, g, &n->dx, &n->backwards);
}

static void neg_destroy(nn_module *m)
{
    negate *n = (negate *)m;
    nn_tensor_free(n->out);
    nn_tensor_free(n->dx);
}

static const nn_module_ops negate_ops = {
    .type = "Negate", .forward = neg_forward, .backward = neg_backward, .destroy = neg_destroy, .pointwise = "negate"};

/* y = 2 f(x); absorbs f = negate: y = -2x computed in one pass */
typedef struct {
    nn_module base;
    nn_tensor *out, *dx;
    int absorbed_forwards;
    bool absorbed;
} twice;

static nn_tensor *twice_run(twice *t, const nn_tensor *x, nn_tensor **slot, float k)
{
    nn_tensor_free(*slot);
    *slot = nn_tensor_contiguous(x);
    for (int64_t i = 0; i < nn_tensor_numel(*slot); i++)
        (*slot)->data[i] *= k;
    (void)t;
    return *slot;
}

static nn_tensor *twice_forward(nn_module *m, const nn_tensor *x)
{
    twice *t = (twice *)m;
    t->absorbed = false;
    return twice_run(t, x, &t->out, 2.0f);
}

static nn_tensor *twice_forward_absorbing(nn_module *m, const nn_tensor *x)
{
    twice *t = (twice *)m;
    t->absorbed = true;
    t->absorbed_forwards++;
    return twice_run(t, x, &t->out, -2.0f);
}

static nn_tensor *twice_backward(nn_module *m, const nn_tensor *g)
{
    twice *t = (twice *)m;
    return twice_run(t, g, &t->dx, t->absorbed ? -2.0f : 2.0f);
}

static void twice_destroy(nn_module *m)
{
    twice *t = (twice *)m;
    nn_tensor_free(t->out);
    nn_tensor_free(t->dx);
}

static const nn_module_ops twice_ops = {.type = "Twice",
                                        .forward = twice_forward,
                                        .backward = twice_backward,
                                        .destroy = twice_destroy,
                                        .absorbs = "negate",
                                        .forward_absorbing = twice_forward_absorbing};

static void test_sequential_fuses_through_ops(void **state)
{
    (void)state;
    negate *n = calloc(1, sizeof *n);
    twice *t = calloc(1, sizeof *t);
    nn_module_init(&n->base, &negate_ops);
    nn_module_init(&t->base, &twice_ops);
    nn_module *seq = nn_sequential();
    assert_int_equal(nn_sequential_add(seq, "neg", &n->base), NN_OK);
    assert_int_equal(nn_sequential_add(seq, "twice", &t->base), NN_OK);
    nn_tensor *x = nn_tensor_from((float[]){1, -2, 3}, NN_SHAPE(3));
    nn_tensor *y = nn_forward(seq, x);
    assert_non_null(y);
    assert_true(y->data[0] == -2.0f && y->data[1] == 4.0f && y->data[2] == -6.0f);
    assert_int_equal(t->absorbed_forwards, 1);
    assert_int_equal(n->forwards, 0); /* taken in: its own pass skipped */
    nn_tensor *g = nn_tensor_from((float[]){1, 1, 1}, NN_SHAPE(3));
    nn_tensor *dx = nn_backward(seq, g);
    assert_non_null(dx);
    assert_true(dx->data[0] == -2.0f);
    assert_int_equal(n->backwards, 0);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(seq);
}

/* --- new-user traps ------------------------------------------------------ */

static void test_null_child_keeps_constructor_message(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "fc1", nn_linear(2, 0, true)), NN_EINVAL);
    /* the constructor's own reason survives, and the add is named */
    assert_error_mentions("nn_sequential_add", "fc1", "nn_linear", "positive");
    nn_module *g = nn_graph();
    assert_true(nn_graph_add(g, "conv", nn_conv2d(0, 3, 3, 1, 0)) < 0);
    int v = nn_graph_apply(g, "conv", nn_graph_input(g));
    assert_true(v < 0);
    assert_true(nn_graph_output(g, v) < 0);
    assert_error_mentions("nn_graph_add", "conv", "nn_conv2d");
    nn_module_free(g);
    nn_module_free(net);
}

static void test_optimizer_refuses_grown_model(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "fc1", nn_linear(2, 3, true)), NN_OK);
    nn_optim *opt = nn_sgd(net, &(nn_sgd_opts){.lr = 0.1f});
    assert_non_null(opt);
    /* a parameter-free layer changes nothing to train: still fine */
    assert_int_equal(nn_sequential_add(net, "relu", nn_relu()), NN_OK);
    assert_int_equal(nn_optim_step(opt), NN_OK);
    /* a layer with parameters would silently never train: refused */
    assert_int_equal(nn_sequential_add(net, "fc2", nn_linear(3, 1, true)), NN_OK);
    nn_param *p;
    assert_int_equal(nn_module_params(net, &p), 4);
    float w = p[0].value->data[0];
    p[0].grad->data[0] = 1.0f;
    assert_int_equal(nn_optim_step(opt), NN_EINVAL);
    assert_error_mentions("nn_optim_step", "changed", "nn_sgd");
    assert_true(p[0].value->data[0] == w); /* nothing stepped */
    /* the same goes for a model nested deeper */
    nn_optim_free(opt);
    nn_module *inner = nn_sequential();
    assert_int_equal(nn_sequential_add(inner, NULL, nn_linear(1, 1, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "inner", inner), NN_OK);
    opt = nn_sgd(net, &(nn_sgd_opts){.lr = 0.1f});
    assert_non_null(opt);
    assert_int_equal(nn_sequential_add(inner, NULL, nn_linear(1, 1, true)), NN_OK);
    assert_int_equal(nn_optim_step(opt), NN_EINVAL);
    nn_optim_free(opt);
    nn_module_free(net);
}

static void test_relu_inplace_prints_as_torch(void **state)
{
    (void)state;
    nn_module *r = nn_relu_ex(&(nn_relu_opts){.inplace = true});
    assert_string_equal(printed(r), "ReLU(inplace=True)\n");
    nn_module_free(r);
    r = nn_relu_ex(NULL);
    assert_string_equal(printed(r), "ReLU()\n");
    nn_module_free(r);
}

static void test_names_checked_across_kinds(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "a", nn_relu()), NN_OK);
    nn_module *r = nn_relu();
    assert_int_equal(nn_sequential_add(net, "a", r), NN_EINVAL);
    assert_error_mentions("nn_sequential_add", "\"a\"");
    assert_int_equal(nn_sequential_add(net, "a.b", r), NN_EINVAL);
    assert_int_equal(nn_sequential_add(net, "", r), NN_EINVAL);
    /* a cycle and a second owner are refused; the caller still owns r */
    assert_int_equal(nn_sequential_add(net, "self", net), NN_EINVAL);
    assert_error_mentions("cycle");
    nn_module *other = nn_sequential();
    assert_int_equal(nn_sequential_add(other, "x", r), NN_OK);
    assert_int_equal(nn_sequential_add(net, "x", r), NN_EINVAL);
    assert_error_mentions("already belongs");
    nn_module_free(other);
    nn_module_free(net);
}

/* torch.flatten inside a graph's forward: a view when it can, a copy of a
   strided input otherwise, its gradient in the input's shape. */
static void test_graph_flatten(void **state)
{
    (void)state;
    nn_module *g = nn_graph();
    nn_graph_add(g, "fc", nn_linear(12, 2, true));
    int v = nn_graph_flatten(g, nn_graph_input(g), 1, -1);
    assert_int_equal(nn_graph_output(g, nn_graph_apply(g, "fc", v)), NN_OK);
    nn_module *ref = nn_sequential();
    assert_int_equal(nn_sequential_add(ref, NULL, nn_flatten()), NN_OK);
    float data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)(i % 7) - 3.0f;
    nn_tensor *x = nn_tensor_from(data, NN_SHAPE(2, 3, 4));
    nn_tensor *xt = nn_tensor_transpose(x, 1, 2); /* [2, 4, 3], strided */
    for (int pass = 0; pass < 2; pass++) {
        nn_tensor *in = pass ? xt : x;
        nn_tensor *flat = nn_forward(ref, in);
        assert_non_null(flat);
        nn_tensor *want = nn_forward(nn_module_child(g, "fc"), flat);
        float w[4];
        memcpy(w, want->data, sizeof w);
        nn_tensor *y = nn_forward(g, in);
        assert_non_null(y);
        assert_memory_equal(y->data, w, sizeof w);
        nn_tensor *gy = nn_tensor_new(NN_SHAPE(2, 2));
        nn_tensor_fill(gy, 1.0f);
        nn_tensor *dx = nn_backward(g, gy);
        assert_non_null(dx);
        assert_int_equal(dx->ndim, 3);
        assert_int_equal(dx->shape[1], in->shape[1]);
        nn_tensor_free(gy);
    }
    /* dims out of range or start after end: refused at forward */
    nn_module *bad = nn_graph();
    assert_int_equal(nn_graph_output(bad, nn_graph_flatten(bad, nn_graph_input(bad), 2, 1)), NN_OK);
    assert_null(nn_forward(bad, x));
    assert_error_mentions("flatten(start_dim=2, end_dim=1)", "[2, 3, 4]");
    nn_tensor_free(xt);
    nn_tensor_free(x);
    nn_module_free(bad);
    nn_module_free(ref);
    nn_module_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_container_gets_everything),
        cmocka_unit_test(test_sequential_fuses_through_ops),
        cmocka_unit_test(test_null_child_keeps_constructor_message),
        cmocka_unit_test(test_optimizer_refuses_grown_model),
        cmocka_unit_test(test_relu_inplace_prints_as_torch),
        cmocka_unit_test(test_names_checked_across_kinds),
        cmocka_unit_test(test_graph_flatten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
