/* The tutorial's MyData net in C: Conv2d(1, 20, 1) -> ReLU ->
   Conv2d(20, 20, 5) -> ReLU on one 5x5 grey image (0.1 everywhere, 0.5 in
   the last column). Prints the net, the input, the shape after every layer
   and the output exactly as PyTorch does for the same seed
   (tests/ref_two_conv.py is the Python twin).

   With --cifar10 DIR it then does what the tutorial does next: loads the
   CIFAR-10 test set (binary version) through a DataLoader of batch 64,
   shows the error the 1-channel net gives on 3-channel images, and runs a
   3-channel variant (Conv2d(3, 20, 1) first) over every batch.

   usage: two_conv [--seed N|random] [--cifar10 DIR] */
#include <stdio.h>
#include <string.h>

#include <nn.h>

#include "demo_args.h"

static const char *usage = "usage: two_conv [--seed N|random] [--cifar10 DIR]\n";

static const struct {
    const char *name, *what;
} steps[4] = {
    {"conv1", "1x1 kernel: each pixel scaled and shifted into 20 channels"},
    {"relu1", "negative values become 0"},
    {"conv2", "5x5 kernel over all 20 channels: one value per output channel"},
    {"relu2", "negative values become 0"},
};

/* "[1, 20, 5, 5]", as Python prints list(t.shape) */
static const char *shape_str(const nn_tensor *t, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

/* Built in the order of MyData.__init__, so the random draws match. */
static nn_module *my_data(nn_module *layers[4], int64_t in_channels)
{
    nn_module *net = nn_sequential();
    if (!net || nn_sequential_set_class_name(net, "MyData") < 0) {
        nn_module_free(net);
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        nn_module *m = i == 0 ? nn_conv2d(in_channels, 20, 1, 1, 0)
                     : i == 2 ? nn_conv2d(20, 20, 5, 1, 0)
                              : nn_relu();
        if (nn_sequential_add(net, steps[i].name, m) < 0) {
            nn_module_free(m);
            nn_module_free(net);
            return NULL;
        }
        layers[i] = m; /* owned by net; kept to run the layers one by one */
    }
    return net;
}

/* Prints "  batches 1-156: [64, 3, 32, 32] -> [64, 20, 28, 28]" for a run
   of batches with the same shapes. */
static void print_run(long first, long last, const char *in, const char *out)
{
    char range[64];
    if (first == last)
        snprintf(range, sizeof range, "batch %ld:", first);
    else
        snprintf(range, sizeof range, "batches %ld-%ld:", first, last);
    printf("  %-16s %s -> %s\n", range, in, out);
}

/* The tutorial's next step: CIFAR-10 through a DataLoader of batch 64.
   net is the 1-channel MyData; returns the exit code. */
static int cifar10_part(nn_module *net, nn_dataset *test)
{
    char shape[NN_MAX_DIMS * 24], in_shape[NN_MAX_DIMS * 24], out_shape[NN_MAX_DIMS * 24];
    char run_in[NN_MAX_DIMS * 24] = "", run_out[NN_MAX_DIMS * 24] = "";
    nn_dataloader *dl = nn_dataloader_new(test, 64, false, false);
    nn_module *layers[4];
    nn_module *net3 = dl ? my_data(layers, 3) : NULL;
    nn_tensor *x, *y;
    if (!net3 || !nn_dataloader_next(dl, &x, &y)) {
        fprintf(stderr, "two_conv: setting up CIFAR-10 failed: %s\n", nn_last_error());
        nn_dataloader_free(dl);
        return 1;
    }
    printf("\nCIFAR-10 test set: %lld images, DataLoader(batch_size=64): %lld batches\n",
           (long long)test->images->shape[0], (long long)nn_dataloader_len(dl));
    printf("\nThe 1-channel net on the first batch, shape %s:\n", shape_str(x, shape, sizeof shape));
    if (nn_forward(net, x)) {
        fprintf(stderr, "two_conv: the 1-channel net accepted 3-channel images\n");
        nn_module_free(net3);
        nn_dataloader_free(dl);
        return 1;
    }
    printf("  error: %s\n", nn_last_error());
    printf("\nA 3-channel variant, Conv2d(3, 20, kernel_size=(1, 1)) first, over every batch:\n");
    long batch = 0, run_first = 1;
    do {
        nn_tensor *out = nn_forward(net3, x);
        if (!out) {
            fprintf(stderr, "two_conv: forward failed on batch %ld: %s\n", batch + 1, nn_last_error());
            nn_module_free(net3);
            nn_dataloader_free(dl);
            return 1;
        }
        batch++;
        shape_str(x, in_shape, sizeof in_shape);
        shape_str(out, out_shape, sizeof out_shape);
        if (batch > 1 && (strcmp(in_shape, run_in) || strcmp(out_shape, run_out))) {
            print_run(run_first, batch - 1, run_in, run_out);
            run_first = batch;
        }
        memcpy(run_in, in_shape, sizeof run_in);
        memcpy(run_out, out_shape, sizeof run_out);
    } while (nn_dataloader_next(dl, &x, &y));
    print_run(run_first, batch, run_in, run_out);
    printf("  %ld batches, %lld images\n", batch, (long long)test->images->shape[0]);
    nn_module_free(net3);
    nn_dataloader_free(dl);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = NN_DEFAULT_SEED;
    bool random_seed = false;
    const char *cifar_dir = NULL;
    if (demo_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc && demo_parse_seed(argv[i + 1], &seed, &random_seed)) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--cifar10") && i + 1 < argc) {
            cifar_dir = argv[++i];
            continue;
        }
        fputs(usage, stderr);
        return 2;
    }
    nn_dataset test = {0};
    if (cifar_dir && nn_cifar10_load(cifar_dir, false, &test) < 0) { /* fail before printing anything */
        fprintf(stderr, "two_conv: --cifar10: %s\n", nn_last_error());
        return 1;
    }
    nn_manual_seed(seed);
    nn_module *layers[4];
    nn_module *net = my_data(layers, 1);
    float pixels[25];
    for (int i = 0; i < 25; i++)
        pixels[i] = i % 5 == 4 ? 0.5f : 0.1f; /* the last column is brighter */
    nn_tensor *x = net ? nn_tensor_from(pixels, NN_SHAPE(1, 1, 5, 5)) : NULL;
    if (!x) {
        fprintf(stderr, "two_conv: setting up failed: %s\n", nn_last_error());
        nn_module_free(net);
        nn_dataset_free(&test);
        return 1;
    }
    char shape[NN_MAX_DIMS * 24];
    printf("Seed: %llu%s\n\n", (unsigned long long)seed, random_seed ? " (random)" : "");
    nn_module_print(net, stdout);
    printf("\nInput, shape %s (batch, channels, height, width):\n", shape_str(x, shape, sizeof shape));
    nn_tensor_print(x, stdout);

    printf("\nStep by step:\n  %-6s %s\n", "input", shape_str(x, shape, sizeof shape));
    const nn_tensor *h = x;
    for (int i = 0; i < 4 && h; i++) {
        h = nn_forward(layers[i], h);
        if (h)
            printf("  %-6s %-14s %s\n", steps[i].name, shape_str(h, shape, sizeof shape), steps[i].what);
    }
    nn_tensor *out = h ? nn_forward(net, x) : NULL; /* the whole net at once, as model(x) */
    if (out) {
        printf("\nOutput, shape %s:\n", shape_str(out, shape, sizeof shape));
        nn_tensor_print(out, stdout);
    } else {
        fprintf(stderr, "two_conv: forward failed: %s\n", nn_last_error());
    }
    int rc = out ? 0 : 1;
    if (rc == 0 && cifar_dir)
        rc = cifar10_part(net, &test);
    nn_tensor_free(x);
    nn_module_free(net);
    nn_dataset_free(&test);
    return rc;
}
