/* End to end: build/examples/fashion_mnist and cifar10 on tiny data sets
   (the committed gzip fixtures; CIFAR-10 files written here): epochs,
   test accuracy lines, confusion matrix, SVG, the NaN stop and the
   messages for a missing data set and bad flags. */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char bin_dir[1024], tmp[64];

typedef struct {
    char *out;
    int status;
} result;

static char *slurp(FILE *f)
{
    size_t cap = 1 << 16, len = 0, got;
    char *s = malloc(cap);
    while ((got = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            s = realloc(s, cap);
        }
    }
    s[len] = 0;
    return s;
}

/* Runs <bin_dir>/program with plain-word arguments, stdout and stderr together. */
static result run(const char *program, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/%s' %s 2>&1 </dev/null", bin_dir, program, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    result r = {slurp(p), -1};
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

static void expect_in(const result *r, const char *fragment)
{
    if (!strstr(r->out, fragment)) {
        fprintf(stderr, "output lacks \"%s\":\n%s\n", fragment, r->out);
        fail();
    }
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_fashion_mnist_tiny_run(void **state)
{
    (void)state;
    char args[512], svg[128];
    snprintf(svg, sizeof svg, "%s/curves.svg", tmp);
    snprintf(args, sizeof args, "--data tests/fixtures/data/mnist_gz --epochs 2 --batch-size 8 --seed 3 --svg %s", svg);
    result r = run("fashion_mnist", args);
    assert_int_equal(r.status, 0);
    expect_in(&r, "20 training and 6 test images of shape [1, 28, 28]");
    expect_in(&r, "(2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
    expect_in(&r, "(6): Flatten(start_dim=1, end_dim=-1)");
    assert_int_equal(count_of(r.out, "test accuracy: 0."), 2);
    expect_in(&r, "epoch 2/2 step 3/3 loss");
    expect_in(&r, "confusion matrix");
    expect_in(&r, " 9 Ankle boot");
    struct stat st;
    assert_int_equal(stat(svg, &st), 0);
    assert_true(st.st_size > 500);
    free(r.out);
}

static void test_fashion_mnist_errors(void **state)
{
    (void)state;
    result r = run("fashion_mnist", "--data /nonexistent/fashion");
    assert_int_equal(r.status, 1);
    expect_in(&r, "/nonexistent/fashion/train-labels-idx1-ubyte.gz");
    expect_in(&r, "apt-get install dataset-fashion-mnist");
    free(r.out);
    r = run("fashion_mnist", "--epochs 0");
    assert_int_equal(r.status, 2);
    expect_in(&r, "--epochs expects an integer >= 1");
    free(r.out);
    r = run("fashion_mnist", "--bogus 1");
    assert_int_equal(r.status, 2);
    expect_in(&r, "unknown flag --bogus");
    free(r.out);
    /* an absurd learning rate blows the loss up: a clear stop naming the step */
    r = run("fashion_mnist", "--data tests/fixtures/data/mnist_gz --epochs 3 --batch-size 4 --lr 1e30 --svg /dev/null");
    assert_int_equal(r.status, 1);
    expect_in(&r, "stopping: the loss became");
    expect_in(&r, "at epoch 1 step 2");
    free(r.out);
}

static void test_cifar10_tiny_run(void **state)
{
    (void)state;
    char dir[128], path[256], args[512];
    snprintf(dir, sizeof dir, "%s/cifar-10-batches-bin", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    uint8_t rec[3073];
    for (int f = 0; f <= 5; f++) {
        if (f < 5)
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f + 1);
        else
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        FILE *out = fopen(path, "wb");
        for (int r = 0; r < 3; r++) {
            rec[0] = (uint8_t)((f * 3 + r) % 10);
            for (int i = 1; i < 3073; i++)
                rec[i] = (uint8_t)(i * (rec[0] + 1));
            fwrite(rec, 1, sizeof rec, out);
        }
        fclose(out);
    }
    snprintf(args, sizeof args, "--data %s --epochs 1 --batch-size 5 --svg %s/c.svg", tmp, tmp);
    result r = run("cifar10", args);
    assert_int_equal(r.status, 0);
    expect_in(&r, "15 training and 3 test images of shape [3, 32, 32]");
    expect_in(&r, "Linear(in_features=4096, out_features=128, bias=True)");
    expect_in(&r, "test accuracy: ");
    expect_in(&r, " 9 truck");
    free(r.out);
    r = run("cifar10", "--data /nonexistent");
    assert_int_equal(r.status, 1);
    expect_in(&r, "/nonexistent/cifar-10-batches-bin/data_batch_1.bin");
    free(r.out);
}

static int rm_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* the examples are built next to the tests: <BUILD>/tests/../examples */
    const char *slash = strrchr(argv[0], '/');
    snprintf(bin_dir, sizeof bin_dir, "%.*s/../examples", slash ? (int)(slash - argv[0]) : 1,
             slash ? argv[0] : ".");
    snprintf(tmp, sizeof tmp, "/tmp/nn_imgcls_ex_XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mnist_tiny_run),
        cmocka_unit_test(test_fashion_mnist_errors),
        cmocka_unit_test(test_cifar10_tiny_run),
    };
    return cmocka_run_group_tests(tests, NULL, rm_tmp);
}
