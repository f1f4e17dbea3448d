/* libFuzzer harness for nn_cifar10_load (binary version). Input layout:
   byte 0 picks the form (bit 0: the training set of five files, else
   test_batch.bin; bit 1: inside cifar-10-batches-bin/), for the training
   set bytes 1..4 give four split points (steps of 3073/4 bytes, clamped) so
   that records and partial records fall into different files; the rest is
   the file data. Written into a private directory (tmpfs when there is
   one) and loaded through the public entry point. A crash, a sanitizer
   report, a refusal without a new message or that touched *out, or an
   accepted dataset that breaks the contract is a bug.
   Build and run: make fuzz. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/tensor_impl.h"
#include "nn.h"
#include "fuzz_dataset.h"

static char dir[64];

static void put(const char *sub, const char *name, const uint8_t *p, size_t n)
{
    char path[200];
    snprintf(path, sizeof path, "%s%s%s/%s", dir, *sub ? "/" : "", sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

/* Removes every file a previous input wrote, in both places. */
static void clean(void)
{
    static const char *names[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                  "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    char path[200];
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            snprintf(path, sizeof path, "%s%s/%s", dir, s ? "/cifar-10-batches-bin" : "", names[i]);
            unlink(path);
        }
}

/* The private directory goes when the fuzzer exits (libFuzzer calls exit). */
static void remove_dir(void)
{
    char sub[128];
    clean();
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    rmdir(sub);
    rmdir(dir);
}

static void check_dataset(const nn_dataset *d)
{
    check_dataset_values(d, 3);
    if (d->images->shape[2] != 32 || d->images->shape[3] != 32)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/nn_fuzz_cifar_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir))
            abort();
        char sub[128];
        snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
        if (mkdir(sub, 0700) != 0)
            abort();
        atexit(remove_dir);
    }
    if (size < 5)
        return 0;
    clean();
    bool train = data[0] & 1;
    const char *sub = data[0] & 2 ? "cifar-10-batches-bin" : "";
    size_t cut[6] = {0};
    const uint8_t *p = data + 5;
    size_t n = size - 5;
    if (train) {
        cut[5] = n;
        for (int i = 1; i < 5; i++) { /* split points, kept in order */
            size_t at = (size_t)data[i] * 3073 / 4 + cut[i - 1];
            cut[i] = at < n ? at : n;
        }
        static const char *names[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                       "data_batch_4.bin", "data_batch_5.bin"};
        for (int i = 0; i < 5; i++)
            put(sub, names[i], p + cut[i], cut[i + 1] - cut[i]);
    } else {
        put(sub, "test_batch.bin", p, n);
    }
    static int sentinel;
    nn_dataset d = {(nn_tensor *)&sentinel, (nn_tensor *)&sentinel};
    nn_fail(NN_EINVAL, "fuzz: no message yet");
    if (nn_cifar10_load(dir, train, &d) == NN_OK) {
        check_dataset(&d);
        nn_dataset_free(&d);
    } else if (d.images != (nn_tensor *)&sentinel || d.labels != (nn_tensor *)&sentinel ||
               !strcmp(nn_last_error(), "fuzz: no message yet")) {
        abort();
    }
    return 0;
}
