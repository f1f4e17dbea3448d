/* Allocation-failure sweep: a scenario (build a model, a loss and an
   optimizer, two training steps, save the model to a file and a stream and
   the optimizer to a file, load all of them into fresh objects, one more
   step on both) is run once per k with the k-th allocation failing. Every
   failure must come back as an error with a
   message; the objects must stay usable (the failed step is then retried
   with memory available and everything must succeed) and freeable; no
   byte may leak (counted here, and LeakSanitizer under SANITIZE=1); a
   failed save leaves the previous file intact, a failed load leaves the
   weights intact. */
#define _GNU_SOURCE /* mkdtemp, open_memstream */
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "param_module.h"
#include "optim/optim_impl.h"

static char dir[64], path[128], optim_path[128];
static const char old_content[] = "previous file";

static int count_dir_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static bool file_is_old(void)
{
    char buf[64] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    return n == sizeof old_content - 1 && !memcmp(buf, old_content, n);
}

static void reset_file(void)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(old_content, f);
    fclose(f);
    f = fopen(optim_path, "wb");
    assert_non_null(f);
    fclose(f);
}

/* Records a failure: the step reported an error with a message, and from
   now on memory is available again. */
static int failures;
static void failed(const char *step)
{
    if (!strstr(nn_last_error(), "out of memory"))
        fail_msg("%s failed with k = %ld but says \"%s\"", step, tu_fail_at, nn_last_error());
    failures++;
    tu_fail_at = -1;
}

static float *snapshot(nn_module *m, size_t *count)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    assert_true(n >= 0);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)nn_tensor_numel(p[i].value);
    float *s = malloc(total * sizeof *s), *at = s;
    for (int i = 0; i < n; i++) {
        nn_tensor_copy_out(p[i].value, at);
        at += nn_tensor_numel(p[i].value);
    }
    *count = total;
    return s;
}

/* A small net of real layers on [N, 1, 3, 2] input: Conv2d(1, 2, 3,
   padding 1), ReLU, Conv2d(2, 1, (3, 2)) -> [N, 1, 1, 1], Linear(1, 1) over
   the last dimension; NULL when an allocation fails. */
static nn_module *build(void)
{
    nn_manual_seed(7);
    nn_module *net = nn_sequential();
    if (!net)
        return NULL;
    nn_conv2d_opts last = {.in_channels = 2, .out_channels = 1, .kernel_h = 3, .kernel_w = 2, .bias = true};
    if (pm_add(net, "conv1", nn_conv2d(1, 2, 3, 1, 1)) < 0 || pm_add(net, "relu", nn_relu()) < 0 ||
        pm_add(net, "conv2", nn_conv2d_ex(&last)) < 0 || pm_add(net, "fc", nn_linear(1, 1, true)) < 0) {
        nn_module_free(net);
        return NULL;
    }
    return net;
}

static nn_optim *adam(nn_module *net)
{
    nn_adam_opts o = nn_adam_defaults();
    o.amsgrad = true;
    return nn_adam(net, &o);
}

/* Every gradient of net is zero (a failed backward added nothing). */
static void assert_grads_zero(nn_module *net)
{
    nn_param *p;
    int n = nn_module_params(net, &p);
    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < nn_tensor_numel(p[i].grad); j++)
            if (p[i].grad->data[j] != 0.0f)
                fail_msg("k = %ld: after a failed backward, %s.grad[%lld] = %g", tu_fail_at, p[i].name,
                         (long long)j, (double)p[i].grad->data[j]);
}

/* A failed forward or loss redoes the step from zero_grad; a failed
   backward must have changed no gradient, so it is simply called again. */
static void train_step(nn_module *net, nn_loss *mse, nn_optim *opt, const nn_tensor *x, const nn_tensor *y)
{
    for (;;) {
        nn_tensor *out, *g;
        nn_optim_zero_grad(opt);
        if (!(out = nn_forward(net, x))) {
            failed("forward");
            continue;
        }
        if (isnan(nn_loss_forward(mse, out, y))) {
            failed("loss forward");
            continue;
        }
        if (!(g = nn_loss_backward(mse))) {
            failed("loss backward");
            continue;
        }
        while (!nn_backward(net, g)) {
            assert_grads_zero(net);
            failed("backward");
        }
        if (nn_optim_step(opt) < 0) {
            failed("optimizer step");
            continue;
        }
        return;
    }
}

/* One pass; retries each failed step once with memory available. */
static void scenario(void)
{
    nn_module *net, *copy;
    nn_loss *mse;
    nn_optim *opt, *opt2;
    nn_tensor *x, *y;
    while (!(net = build()))
        failed("building a model");
    while (!(copy = build()))
        failed("building a second model");
    while (!(mse = nn_mse_loss()))
        failed("creating a loss");
    while (!(opt = adam(net)))
        failed("creating an optimizer");
    while (!(opt2 = adam(copy)))
        failed("creating a second optimizer");
    while (!(x = nn_tensor_from((const float[]){1, -2, 3, -4, 0.5f, 0.25f, -1, 2, 0.5f, 1.5f, -0.5f, 1},
                                NN_SHAPE(2, 1, 3, 2))))
        failed("creating an input");
    while (!(y = nn_tensor_from((const float[]){1, -1}, NN_SHAPE(2, 1, 1, 1))))
        failed("creating a target");
    nn_param *p;
    while (nn_module_params(copy, &p) < 0) /* the list is built on first use */
        failed("listing parameters");
    while (nn_module_params(net, &p) < 0)
        failed("listing parameters");
    train_step(net, mse, opt, x, y);
    train_step(net, mse, opt, x, y);

    int rc;
    while ((rc = nn_save(net, path)) < 0) {
        assert_int_equal(rc, NN_ENOMEM);
        assert_non_null(strstr(nn_last_error(), "nn_save: "));
        assert_true(file_is_old());
        assert_int_equal(count_dir_entries(), 2);
        failed("nn_save");
    }
    while ((rc = nn_optim_save(opt, optim_path)) < 0) {
        assert_int_equal(rc, NN_ENOMEM);
        assert_int_equal(count_dir_entries(), 2);
        failed("nn_optim_save");
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len); /* libc's memory, not counted */
    assert_non_null(f);
    while ((rc = nn_save_fp(net, f)) < 0) {
        assert_int_equal(rc, NN_ENOMEM);
        failed("nn_save_fp");
        rewind(f);
    }
    fclose(f);

    size_t n_before;
    float *before = snapshot(copy, &n_before);
    while ((rc = nn_load(copy, path)) < 0) {
        size_t n_now;
        float *now = snapshot(copy, &n_now);
        assert_int_equal(rc, NN_ENOMEM);
        assert_non_null(strstr(nn_last_error(), "nn_load: "));
        assert_memory_equal(now, before, n_before * sizeof(float));
        free(now);
        failed("nn_load");
    }
    while ((rc = nn_optim_load(opt2, optim_path)) < 0) {
        assert_int_equal(rc, NN_ENOMEM);
        assert_int_equal(nn_optim_get_step(opt2), 0);
        failed("nn_optim_load");
    }
    assert_int_equal(nn_optim_get_step(opt2), 2);
    nn_tensor_fill(p[0].value, 7.0f);
    free(before);
    before = snapshot(net, &n_before);
    for (;;) {
        f = fmemopen(buf, len, "rb");
        rc = nn_load_fp(net, f);
        fclose(f);
        if (rc == NN_OK)
            break;
        size_t n_now;
        float *now = snapshot(net, &n_now);
        assert_int_equal(rc, NN_ENOMEM);
        assert_memory_equal(now, before, n_before * sizeof(float));
        free(now);
        failed("nn_load_fp");
    }
    free(before);
    free(buf);

    /* both models hold the trained weights, and train on alike */
    train_step(net, mse, opt, x, y);
    train_step(copy, mse, opt2, x, y);
    size_t na, nb;
    float *a = snapshot(net, &na), *b = snapshot(copy, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(float));
    free(a);
    free(b);

    nn_tensor_free(y);
    nn_tensor_free(x);
    nn_optim_free(opt2);
    nn_optim_free(opt);
    nn_loss_free(mse);
    nn_module_free(copy);
    nn_module_free(net);
}

/* The sweep runs the scenario some 170 times, each saving two files with
   two fsyncs apiece (the file, its directory): ~700 fsyncs. It checks what
   a failure leaves behind, not durability (test_io and test_checkpoint
   save to the disk), so its files go to a memory file system (tmpfs, where
   fsync has nothing to do) when there is one, else to /tmp. */
static void make_dir(void)
{
    static const char *const bases[] = {"/dev/shm", "/tmp"};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        snprintf(dir, sizeof dir, "%s/nn_alloc_fail_XXXXXX", bases[i]);
        if (mkdtemp(dir))
            return;
    }
    fail_msg("cannot create a directory in /dev/shm or /tmp");
}

static void test_every_allocation_fails_once(void **state)
{
    (void)state;
    make_dir();
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(optim_path, sizeof optim_path, "%s/optim.safetensors", dir);
    nn_set_allocator(tu_alloc, tu_release);

    reset_file();
    tu_allocs = 0;
    tu_fail_at = -1;
    scenario();
    long total = tu_allocs;
    assert_int_equal(tu_live, 0);
    assert_int_equal(failures, 0);
    assert_true(total > 20);

    for (long k = 1; k <= total; k++) {
        reset_file();
        tu_allocs = 0;
        tu_fail_at = k;
        failures = 0;
        scenario();
        if (failures != 1)
            fail_msg("allocation %ld of %ld failed but %d steps reported it", k, total, failures);
        if (tu_live != 0)
            fail_msg("allocation %ld failing leaked %ld blocks", k, tu_live);
    }
    nn_set_allocator(NULL, NULL);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(optim_path), 0);
    assert_int_equal(rmdir(dir), 0);
    printf("swept %ld allocations\n", total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
