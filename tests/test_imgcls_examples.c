/* End to end: build/examples/fashion_mnist and cifar10 on tiny data sets
   (the committed gzip fixtures; CIFAR-10 files written here): epochs,
   test accuracy lines, confusion matrix, SVG, the NaN stop and the
   messages for a missing data set and bad flags; two_conv --cifar10. */
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

/* Runs <bin_dir>/program with plain-word arguments, stdout and stderr
   together; through the emulator NN_TEST_RUN names, if any (make test RUN=...). */
static result run(const char *program, const char *args)
{
    char cmd[4096];
    const char *emulator = getenv("NN_TEST_RUN");
    snprintf(cmd, sizeof cmd, "%s '%s/%s' %s 2>&1 </dev/null", emulator ? emulator : "", bin_dir,
             program, args);
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

/* One run that must end with status and print fragment. */
static void run_expect(const char *program, const char *args, int status, const char *fragment)
{
    result r = run(program, args);
    assert_int_equal(r.status, status);
    expect_in(&r, fragment);
    free(r.out);
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
    expect_in(&r, "20 training and 6 test images of shape [1, 28, 28]\nthreads: ");
    expect_in(&r, "(2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
    expect_in(&r, "(6): Flatten(start_dim=1, end_dim=-1)");
    assert_int_equal(count_of(r.out, "test accuracy: 0."), 2);
    expect_in(&r, "epoch 2/2 step 3/3 loss");
    expect_in(&r, "inputs: Normalize(0.5, 0.5), pixels in [-1, 1]\n");
    expect_in(&r, "confusion matrix");
    expect_in(&r, " 9 Ankle boot");
    struct stat st;
    assert_int_equal(stat(svg, &st), 0);
    assert_true(st.st_size > 500);

    /* --normalize off: the same run on [0, 1] pixels trains differently */
    snprintf(args, sizeof args, "--data tests/fixtures/data/mnist_gz --epochs 2 --batch-size 8 --seed 3 "
                                "--normalize off --svg %s", svg);
    result raw = run("fashion_mnist", args);
    assert_int_equal(raw.status, 0);
    assert_null(strstr(raw.out, "inputs: Normalize"));
    const char *mark = "epoch 2/2 step 3/3 loss ";
    const char *a = strstr(r.out, mark), *b = strstr(raw.out, mark);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(strtod(a + strlen(mark), NULL) != strtod(b + strlen(mark), NULL));
    free(raw.out);
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
    run_expect("fashion_mnist", "--epochs 0", 2, "--epochs expects an integer >= 1");
    run_expect("fashion_mnist", "--threads 300", 2, "--threads 300: nn_set_num_threads: expected a thread count in [1, 256], got 300");
    run_expect("fashion_mnist", "--normalize maybe", 2, "--normalize expects on or off, got \"maybe\"");
    run_expect("fashion_mnist", "--bogus 1", 2, "unknown flag --bogus");
    /* an absurd learning rate blows the loss up: a clear stop naming the step */
    r = run("fashion_mnist", "--data tests/fixtures/data/mnist_gz --epochs 3 --batch-size 4 --lr 1e30 --svg /dev/null");
    assert_int_equal(r.status, 1);
    expect_in(&r, "stopping: the loss became");
    expect_in(&r, "at epoch 1 step 2");
    free(r.out);
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    fseek(fa, 0, SEEK_END);
    fseek(fb, 0, SEEK_END);
    bool same = ftell(fa) == ftell(fb) && ftell(fa) > 0;
    rewind(fa);
    rewind(fb);
    for (int ca = 0, cb = 0; same && ca != EOF; same = ca == cb) {
        ca = fgetc(fa);
        cb = fgetc(fb);
    }
    fclose(fa);
    fclose(fb);
    return same;
}

/* The line "test accuracy: ..." after "epoch <e>:" in out, copied to buf. */
static void accuracy_of_epoch(const char *out, int e, char *buf, size_t size)
{
    char head[32];
    snprintf(head, sizeof head, "\nepoch %d: ", e);
    const char *p = strstr(out, head);
    assert_non_null(p);
    p = strstr(p, "test accuracy: ");
    assert_non_null(p);
    size_t n = strcspn(p, "\n");
    assert_true(n < size);
    memcpy(buf, p, n);
    buf[n] = 0;
}

/* --save / --resume: 3 epochs straight and 1 epoch + resume for 2 more end
   with byte-identical model, Adam state and generator state, and print the
   same accuracies. The shuffle of epochs 2 and 3 draws from the generator,
   so this holds only because the checkpoint carries its state. */
static void test_fashion_mnist_save_resume(void **state)
{
    (void)state;
    char a[128], b[128], fa[160], fb[160], args[1024], acc_a[64], acc_b[64];
    const char *data = "--data tests/fixtures/data/mnist_gz --batch-size 8 --seed 5 --svg /dev/null";
    snprintf(a, sizeof a, "%s/straight", tmp);
    snprintf(b, sizeof b, "%s/resumed", tmp);
    snprintf(args, sizeof args, "%s --epochs 3 --threads 1 --save %s", data, a);
    result straight = run("fashion_mnist", args);
    assert_int_equal(straight.status, 0);
    expect_in(&straight, "checkpoint: ");
    snprintf(args, sizeof args, "%s --epochs 1 --save %s", data, b);
    result r = run("fashion_mnist", args);
    assert_int_equal(r.status, 0);
    free(r.out);
    snprintf(args, sizeof args, "%s --epochs 3 --threads 2 --resume %s --save %s", data, b, b); /* any thread count */
    r = run("fashion_mnist", args);
    assert_int_equal(r.status, 0);
    expect_in(&r, "after epoch 1");
    assert_null(strstr(r.out, "\nepoch 1: "));
    for (int e = 2; e <= 3; e++) {
        accuracy_of_epoch(straight.out, e, acc_a, sizeof acc_a);
        accuracy_of_epoch(r.out, e, acc_b, sizeof acc_b);
        assert_string_equal(acc_a, acc_b);
    }
    expect_in(&r, "confusion matrix");
    free(r.out);
    assert_true(same_file(a, b));
    for (int i = 0; i < 2; i++) {
        const char *suffix = i ? ".state" : ".optim";
        snprintf(fa, sizeof fa, "%s%s", a, suffix);
        snprintf(fb, sizeof fb, "%s%s", b, suffix);
        assert_true(same_file(fa, fb));
    }
    /* already done: nothing to train */
    snprintf(args, sizeof args, "%s --epochs 3 --resume %s", data, a);
    r = run("fashion_mnist", args);
    assert_int_equal(r.status, 0);
    expect_in(&r, "already has 3 epoch(s); nothing to do");
    free(r.out);
    /* no checkpoint there, or a damaged state file: a clear refusal */
    snprintf(args, sizeof args, "%s --resume %s/none", data, tmp);
    r = run("fashion_mnist", args);
    assert_int_equal(r.status, 1);
    expect_in(&r, "cannot resume: ");
    expect_in(&r, "/none.state: No such file or directory");
    free(r.out);
    snprintf(fa, sizeof fa, "%s.state", a);
    FILE *f = fopen(fa, "r+");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    fputc('z', f);
    fclose(f);
    snprintf(args, sizeof args, "%s --resume %s", data, a);
    r = run("fashion_mnist", args);
    assert_int_equal(r.status, 1);
    expect_in(&r, "is not a checkpoint state written by --save");
    free(r.out);
    free(straight.out);
}

/* The ResNet example: prints the model exactly as PyTorch prints the same
   structure (tests/gen_resnet_print.py), trains with augmentation, AdamW
   and the cosine schedule on the tiny set, and resumes bit-identically
   (the schedule replayed, the generator restored). */
static void test_resnet_tiny_run(void **state)
{
    (void)state;
    FILE *f = fopen("tests/fixtures/resnet_print.txt", "r");
    assert_non_null(f);
    char *want = slurp(f);
    fclose(f);
    char args[1024], ckpt[128];
    const char *data = "--data tests/fixtures/data/mnist_gz --batch-size 8 --seed 4 --svg /dev/null";
    snprintf(args, sizeof args, "%s --epochs 2", data);
    result whole = run("resnet_fashion_mnist", args);
    assert_int_equal(whole.status, 0);
    expect_in(&whole, want);
    expect_in(&whole, "augmentation: RandomCrop(28, padding=2), RandomHorizontalFlip(0.5)");
    expect_in(&whole, "epoch 2: ");
    free(want);
    f = fopen("tests/fixtures/resnet_print_w24.txt", "r");
    assert_non_null(f);
    want = slurp(f);
    fclose(f);
    snprintf(args, sizeof args, "%s --epochs 1 --limit 16 --width 24", data);
    result wide = run("resnet_fashion_mnist", args);
    assert_int_equal(wide.status, 0);
    expect_in(&wide, want);
    free(wide.out);
    snprintf(ckpt, sizeof ckpt, "%s/resnet_ckpt", tmp);
    snprintf(args, sizeof args, "%s --epochs 1 --save %s", data, ckpt);
    result first = run("resnet_fashion_mnist", args);
    assert_int_equal(first.status, 0);
    snprintf(args, sizeof args, "%s --epochs 2 --resume %s", data, ckpt);
    result resumed = run("resnet_fashion_mnist", args);
    assert_int_equal(resumed.status, 0);
    /* the second epoch's accuracy line is the uninterrupted run's */
    const char *a = strstr(whole.out, "epoch 2: "), *b = strstr(resumed.out, "epoch 2: ");
    assert_non_null(a);
    assert_non_null(b);
    a = strstr(a, "test accuracy: ");
    b = strstr(b, "test accuracy: ");
    assert_true(a && b);
    assert_memory_equal(a, b, strlen("test accuracy: 0.0000"));
    free(want);
    free(whole.out);
    free(first.out);
    free(resumed.out);
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
    run_expect("cifar10", "--data /nonexistent", 1, "/nonexistent/cifar-10-batches-bin/data_batch_1.bin");
}

/* two_conv --cifar10: a test set of 144 images is 2 full batches of 64 and
   one of 16, as CIFAR-10's 10000 are 156 and one of 16. */
static void test_two_conv_cifar10(void **state)
{
    (void)state;
    char dir[128], path[256], args[512];
    snprintf(dir, sizeof dir, "%s/two_conv_cifar", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    uint8_t rec[3073];
    for (int r = 0; r < 144; r++) {
        rec[0] = (uint8_t)(r % 10);
        for (int i = 1; i < 3073; i++)
            rec[i] = (uint8_t)(i * (r + 1));
        assert_int_equal(fwrite(rec, 1, sizeof rec, out), sizeof rec);
    }
    assert_int_equal(fclose(out), 0);
    snprintf(args, sizeof args, "--seed 0 --cifar10 %s", dir);
    result r = run("two_conv", args);
    assert_int_equal(r.status, 0);
    expect_in(&r, "Output, shape [1, 20, 1, 1]:"); /* the 5x5 demo still comes first */
    expect_in(&r, "CIFAR-10 test set: 144 images, DataLoader(batch_size=64): 3 batches");
    expect_in(&r, "error: nn_forward: Conv2d(in_channels=1) expected input of shape [N, 1, H, W] or [1, H, W], "
                  "got [64, 3, 32, 32]");
    expect_in(&r, "batches 1-2:     [64, 3, 32, 32] -> [64, 20, 28, 28]\n");
    expect_in(&r, "batch 3:         [16, 3, 32, 32] -> [16, 20, 28, 28]\n");
    expect_in(&r, "3 batches, 144 images");
    free(r.out);
    /* a missing directory: one line, non-zero exit, nothing else printed */
    r = run("two_conv", "--cifar10 /nonexistent/cifar");
    assert_int_equal(r.status, 1);
    expect_in(&r, "two_conv: --cifar10: nn_cifar10_load: cannot open /nonexistent/cifar");
    assert_int_equal(count_of(r.out, "\n"), 1);
    free(r.out);
    run_expect("two_conv", "--cifar10", 2, "usage: two_conv [--seed N|random] [--cifar10 DIR]");
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
        cmocka_unit_test(test_fashion_mnist_save_resume),
        cmocka_unit_test(test_resnet_tiny_run),
        cmocka_unit_test(test_cifar10_tiny_run),
        cmocka_unit_test(test_two_conv_cifar10),
    };
    return cmocka_run_group_tests(tests, NULL, rm_tmp);
}
