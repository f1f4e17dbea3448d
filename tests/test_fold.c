/* nn_fold_batchnorm against PyTorch 1.13 (tests/gen_fold.py): models with
   BatchNorm after Conv2d and Linear, state (parameters and buffers) from
   torch's safetensors files, evaluation outputs before and after folding
   equal torch's (and torch's own fuse_conv_bn_eval result) to 1e-5; and
   the ResNet example's model as PyTorch trained it, in evaluation mode. */
#include "testutil.h"

#include "io/safetensors.h"
#include "../examples/resnet_model.h"

#define FIXDIR "tests/fixtures/fold/"

typedef struct {
    nn_tensor *x, *y, *y_fused;
} reference;

static int read_ref(FILE *f, int64_t size, void *ctx)
{
    reference *r = ctx;
    st_entry e[3] = {{"x", NN_F32, r->x, NULL}, {"y", NN_F32, r->y, NULL}, {"y_fused", NN_F32, r->y_fused, NULL}};
    return st_read(f, size, true, e, 3, NULL, 0, NULL, NULL, "reference");
}

static reference load_ref(const char *name, int xndim, const int64_t *xshape, int yndim, const int64_t *yshape)
{
    reference r = {nn_tensor_new(xndim, xshape), nn_tensor_new(yndim, yshape), nn_tensor_new(yndim, yshape)};
    char path[256];
    snprintf(path, sizeof path, FIXDIR "%s_ref.safetensors", name);
    if (st_load_file(path, read_ref, &r, "test") < 0)
        fail_msg("%s: %s", path, nn_last_error());
    return r;
}

static void add(nn_module *seq, const char *name, nn_module *m)
{
    assert_int_equal(nn_sequential_add(seq, name, m), NN_OK);
}

static nn_module *conv_ex(int64_t in, int64_t out, int k, int stride, int pad, bool bias)
{
    nn_conv2d_opts o = nn_conv2d_defaults(in, out, k);
    o.stride_h = o.stride_w = stride;
    o.pad_h = o.pad_w = pad;
    o.bias = bias;
    return nn_conv2d_ex(&o);
}

static nn_module *chain(void)
{
    nn_module *s = nn_sequential();
    add(s, NULL, conv_ex(3, 8, 3, 1, 1, false));
    add(s, NULL, nn_batchnorm2d(8));
    add(s, NULL, nn_relu());
    add(s, NULL, conv_ex(8, 4, 3, 1, 0, true));
    nn_batchnorm2d_opts b = nn_batchnorm2d_defaults(4);
    b.momentum_none = true;
    add(s, NULL, nn_batchnorm2d_ex(&b));
    add(s, NULL, nn_flatten());
    add(s, NULL, nn_linear(4 * 6 * 6, 6, true));
    nn_batchnorm1d_opts b1 = nn_batchnorm1d_defaults(6);
    b1.eps = 1e-3f;
    add(s, NULL, nn_batchnorm1d_ex(&b1));
    return s;
}

static nn_module *downsample_block(int64_t inplanes, int64_t planes, int stride)
{
    nn_module *b = nn_graph();
    nn_module_set_class_name(b, "BasicBlock");
    nn_graph_add(b, "conv1", conv_ex(inplanes, planes, 3, stride, 1, false));
    nn_graph_add(b, "bn1", nn_batchnorm2d(planes));
    nn_graph_add(b, "relu", nn_relu_ex(&(nn_relu_opts){.inplace = true}));
    nn_graph_add(b, "conv2", conv_ex(planes, planes, 3, 1, 1, false));
    nn_graph_add(b, "bn2", nn_batchnorm2d(planes));
    nn_module *ds = nn_sequential();
    add(ds, NULL, conv_ex(inplanes, planes, 1, stride, 0, false));
    add(ds, NULL, nn_batchnorm2d(planes));
    nn_graph_add(b, "downsample", ds);
    int x = nn_graph_input(b);
    int identity = nn_graph_apply(b, "downsample", x);
    int out = nn_graph_apply(b, "relu", nn_graph_apply(b, "bn1", nn_graph_apply(b, "conv1", x)));
    out = nn_graph_apply(b, "bn2", nn_graph_apply(b, "conv2", out));
    out = nn_graph_apply(b, "relu", nn_graph_sum(b, out, identity));
    assert_int_equal(nn_graph_output(b, out), NN_OK);
    return b;
}

static void check(nn_module *m, const char *name, int xndim, const int64_t *xs, int yndim, const int64_t *ys,
                  int want_folded, int want_params)
{
    char path[256];
    snprintf(path, sizeof path, FIXDIR "%s.safetensors", name);
    if (nn_load(m, path) < 0) /* torch's file: parameters, running stats, int64 counters */
        fail_msg("%s", nn_last_error());
    /* and saved again, the file is torch's byte for byte */
    char out[] = "/tmp/nn_fold_XXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(nn_save(m, out), NN_OK);
    FILE *fa = fopen(path, "rb"), *fb = fopen(out, "rb");
    assert_true(fa && fb);
    for (int ca, cb;;) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        assert_int_equal(ca, cb);
        if (ca == EOF)
            break;
    }
    fclose(fa);
    fclose(fb);
    unlink(out);
    reference r = load_ref(name, xndim, xs, yndim, ys);
    int64_t n = nn_tensor_numel(r.y);
    /* folding is for evaluation: refused in training mode, nothing changed */
    assert_int_equal(nn_fold_batchnorm(m), NN_EINVAL);
    assert_error_mentions("nn_fold_batchnorm", "training");
    nn_module_train(m, false);
    nn_tensor *y = nn_forward(m, r.x);
    assert_non_null(y);
    assert_close(y->data, r.y->data, n, 1e-5, 1e-6);
    assert_int_equal(nn_fold_batchnorm(m), want_folded);
    y = nn_forward(m, r.x);
    assert_non_null(y);
    assert_close(y->data, r.y->data, n, 1e-5, 2e-6);
    assert_close(y->data, r.y_fused->data, n, 1e-5, 2e-6);
    /* every BatchNorm is gone, its place printed as torch's Identity() */
    nn_buffer *b;
    assert_int_equal(nn_module_buffers(m, &b), 0);
    assert_int_equal(nn_module_params(m, NULL), want_params); /* weights and (new) biases */
    assert_int_equal(nn_fold_batchnorm(m), 0); /* nothing left to fold */
    nn_tensor_free(r.x);
    nn_tensor_free(r.y);
    nn_tensor_free(r.y_fused);
}

static void test_chain(void **state)
{
    (void)state;
    nn_module *m = chain();
    check(m, "chain", 4, (int64_t[]){2, 3, 8, 8}, 2, (int64_t[]){2, 6}, 3, 6);
    assert_non_null(strstr(printed(m), "(1): Identity()"));
    assert_non_null(strstr(printed(m), "(0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"));
    nn_param *p;
    nn_module_params(m, &p);
    assert_string_equal(p[1].name, "0.bias"); /* the bias the fold added */
    nn_module_free(m);
}

static void test_basic_block(void **state)
{
    (void)state;
    nn_module *m = downsample_block(4, 8, 2);
    check(m, "basic_block", 4, (int64_t[]){2, 4, 8, 8}, 4, (int64_t[]){2, 8, 4, 4}, 3, 6);
    assert_non_null(strstr(printed(m), "(bn1): Identity()"));
    assert_non_null(strstr(printed(m), "    (1): Identity()"));
    nn_module_free(m);
}

/* The ResNet example's model (width 8) trained by PyTorch on Fashion-MNIST
   (150 AdamW steps): its file loads, evaluation gives torch's outputs, and
   folding its nine BatchNorms keeps them. */
static void test_trained_resnet(void **state)
{
    (void)state;
    nn_module *m = resnet_model_width(8);
    assert_non_null(m);
    check(m, "resnet_trained", 4, (int64_t[]){8, 1, 28, 28}, 2, (int64_t[]){8, 10}, 9, 20);
    nn_module_free(m);
}

/* Pairs a container cannot vouch for stay: a conv whose output is also
   read elsewhere, a BatchNorm without running statistics. */
static void test_what_does_not_fold(void **state)
{
    (void)state;
    nn_module *g = nn_graph();
    nn_graph_add(g, "conv", conv_ex(2, 2, 1, 1, 0, true));
    nn_graph_add(g, "bn", nn_batchnorm2d(2));
    int c = nn_graph_apply(g, "conv", nn_graph_input(g));
    assert_int_equal(nn_graph_output(g, nn_graph_sum(g, nn_graph_apply(g, "bn", c), c)), NN_OK);
    nn_module_train(g, false);
    assert_int_equal(nn_fold_batchnorm(g), 0);

    nn_module *s = nn_sequential();
    add(s, NULL, conv_ex(2, 2, 1, 1, 0, true));
    nn_batchnorm2d_opts o = nn_batchnorm2d_defaults(2);
    o.track_running_stats = false;
    add(s, NULL, nn_batchnorm2d_ex(&o));
    add(s, NULL, nn_linear(3, 2, true)); /* a Linear then a pool: no pair */
    nn_module_train(s, false);
    assert_int_equal(nn_fold_batchnorm(s), 0);
    assert_int_equal(nn_fold_batchnorm(NULL), NN_EINVAL);
    nn_module_free(g);
    nn_module_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_basic_block),
        cmocka_unit_test(test_trained_resnet),
        cmocka_unit_test(test_what_does_not_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
