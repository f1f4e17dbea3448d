/* The tutorial's MyData net in C: Conv2d(1, 20, 1) -> ReLU ->
   Conv2d(20, 20, 5) -> ReLU on one 5x5 grey image (0.1 everywhere, 0.5 in
   the last column). Prints the net, the input, the shape after every layer
   and the output exactly as PyTorch does for the same seed
   (tests/ref_two_conv.py is the Python twin).

   usage: two_conv [--seed N|random] */
#include <stdio.h>
#include <string.h>

#include <nn.h>

#include "demo_args.h"

static const char *usage = "usage: two_conv [--seed N|random]\n";

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
static nn_module *my_data(nn_module *layers[4])
{
    nn_module *net = nn_sequential();
    if (!net || nn_sequential_set_class_name(net, "MyData") < 0) {
        nn_module_free(net);
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        nn_module *m = i == 0 ? nn_conv2d(1, 20, 1, 1, 0)
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

int main(int argc, char **argv)
{
    uint64_t seed = NN_DEFAULT_SEED;
    bool random_seed = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc && demo_parse_seed(argv[i + 1], &seed, &random_seed)) {
            i++;
            continue;
        }
        fputs(usage, stderr);
        return 2;
    }
    nn_manual_seed(seed);
    nn_module *layers[4];
    nn_module *net = my_data(layers);
    float pixels[25];
    for (int i = 0; i < 25; i++)
        pixels[i] = i % 5 == 4 ? 0.5f : 0.1f; /* the last column is brighter */
    nn_tensor *x = net ? nn_tensor_from(pixels, NN_SHAPE(1, 1, 5, 5)) : NULL;
    if (!x) {
        fprintf(stderr, "two_conv: setting up failed: %s\n", nn_last_error());
        nn_module_free(net);
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
    nn_tensor_free(x);
    nn_module_free(net);
    return out ? 0 : 1;
}
