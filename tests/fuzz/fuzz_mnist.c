/* libFuzzer harness for nn_mnist_load (IDX images + labels, raw or .gz)
   and the inflater behind it. Input layout: byte 0 picks the form (bit 0:
   labels gzipped, bit 1: images gzipped, bit 2: train or t10k names),
   bytes 1..4 the labels file's length L (little-endian, clamped), then L
   bytes of labels file and the rest as the images file. Both are written
   into a private directory (tmpfs when there is one) and loaded through
   the public entry point; the whole input also goes through nn_gunzip
   directly. A crash, a sanitizer report, a refusal without a new message,
   a refusal that touched *out, or an accepted dataset that breaks the
   contract (shapes, pixels in [0, 1], labels 0..9) is a bug.
   Build and run: make fuzz. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data_impl.h"
#include "nn.h"
#include "fuzz_dataset.h"

static char dir[64];

static void write_file(const char *name, bool gz, const uint8_t *p, size_t n)
{
    char path[160], other[160];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
    snprintf(other, sizeof other, "%s/%s%s", dir, name, gz ? "" : ".gz");
    unlink(other); /* the raw name wins when both exist */
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

/* The private directory goes when the fuzzer exits (libFuzzer calls exit). */
static void remove_dir(void)
{
    static const char *names[] = {"train-labels-idx1-ubyte", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte"};
    char path[160];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        for (int gz = 0; gz < 2; gz++) {
            snprintf(path, sizeof path, "%s/%s%s", dir, names[i], gz ? ".gz" : "");
            unlink(path);
        }
    rmdir(dir);
}

static void check_dataset(const nn_dataset *d)
{
    check_dataset_values(d, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/nn_fuzz_mnist_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
    }
    /* the inflater on its own, in memory */
    uint8_t *out_buf = NULL;
    size_t out_len = 0;
    const char *why = NULL;
    if (nn_gunzip(data, size, (size_t)1 << 24, &out_buf, &out_len, &why) == NN_OK)
        nn_release(out_buf);
    else if (!why || out_buf)
        abort();

    if (size < 5)
        return 0;
    uint8_t form = data[0];
    size_t lab_len = (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16 | (size_t)data[4] << 24;
    data += 5, size -= 5;
    if (lab_len > size)
        lab_len = size;
    bool train = form & 4;
    char lab_name[64], img_name[64];
    snprintf(lab_name, sizeof lab_name, "%s-labels-idx1-ubyte", train ? "train" : "t10k");
    snprintf(img_name, sizeof img_name, "%s-images-idx3-ubyte", train ? "train" : "t10k");
    write_file(lab_name, form & 1, data, lab_len);
    write_file(img_name, form & 2, data + lab_len, size - lab_len);

    static int sentinel;
    nn_dataset d = {(nn_tensor *)&sentinel, (nn_tensor *)&sentinel};
    nn_fail(NN_EINVAL, "fuzz: no message yet");
    if (nn_mnist_load(dir, train, &d) == NN_OK) {
        check_dataset(&d);
        nn_dataset_free(&d);
    } else if (d.images != (nn_tensor *)&sentinel || d.labels != (nn_tensor *)&sentinel ||
               !strcmp(nn_last_error(), "fuzz: no message yet")) {
        abort();
    }
    return 0;
}
