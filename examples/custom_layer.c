/* A layer written outside the library: ChannelScale (examples/channel_scale.h),
   a learnable per-channel scale and shift, built with the installed headers
   only. It trains inside a Sequential
       Conv2d(1, 4, 3, padding=1) -> ChannelScale(4) -> ReLU -> Flatten -> Linear(100, 3)
   and inside a Graph (ScaledSkip: relu(scale(conv(x)) + conv(x)) -> flatten -> fc),
   and each trained model is saved, loaded into a freshly built one and checked
   to give the same outputs. Prints what tests/ref_custom_layer.py, the PyTorch
   twin, prints for the same seed (tests/fixtures/custom_layer.out).

   usage: custom_layer [--seed N] */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nn.h>
#include <nn/module_ops.h>

#include "channel_scale.h"

#define STEPS 20
#define N 6 /* images of 1 x 5 x 5, classes n % 3 */

static const char *usage = "usage: custom_layer [--seed N]\n";

/* Built in the order of torch's __init__, so the random draws match. */
static nn_module *sequential_model(void)
{
    nn_module *net = nn_sequential();
    nn_module *layers[] = {nn_conv2d(1, 4, 3, 1, 1), channel_scale_new(4), nn_relu(), nn_flatten(),
                           nn_linear(100, 3, true)};
    bool ok = net != NULL;
    for (int i = 0; i < 5; i++) {
        if (ok && nn_sequential_add(net, NULL, layers[i]) == NN_OK)
            continue;
        ok = false;
        nn_module_free(layers[i]); /* not added: still ours */
    }
    if (!ok) {
        nn_module_free(net);
        return NULL;
    }
    return net;
}

/* ScaledSkip: h = conv(x); fc(flatten(relu(scale(h) + h))). */
static nn_module *graph_model(void)
{
    nn_module *g = nn_graph();
    if (!g)
        return NULL;
    /* the graph owns each child from nn_graph_add on, also when it fails:
       the first failure comes back from nn_graph_output */
    nn_module_set_class_name(g, "ScaledSkip");
    nn_graph_add(g, "conv", nn_conv2d(1, 4, 3, 1, 1));
    nn_graph_add(g, "scale", channel_scale_new(4));
    nn_graph_add(g, "relu", nn_relu());
    nn_graph_add(g, "flatten", nn_flatten());
    nn_graph_add(g, "fc", nn_linear(100, 3, true));
    int h = nn_graph_apply(g, "conv", nn_graph_input(g));
    int s = nn_graph_sum(g, nn_graph_apply(g, "scale", h), h);
    int out = nn_graph_apply(g, "fc", nn_graph_apply(g, "flatten", nn_graph_apply(g, "relu", s)));
    if (nn_graph_output(g, out) < 0) {
        nn_module_free(g);
        return NULL;
    }
    return g;
}

/* SGD with momentum and cross-entropy for STEPS steps, printing the loss
   every 5 steps and at the last one. */
static bool train(nn_module *net, const nn_tensor *x, const nn_tensor *y)
{
    nn_loss *ce = nn_cross_entropy_loss();
    nn_sgd_opts so = nn_sgd_defaults(0.01f);
    so.momentum = 0.9f;
    nn_optim *opt = ce ? nn_sgd(net, &so) : NULL;
    bool ok = opt != NULL;
    for (int step = 0; ok && step < STEPS; step++) {
        nn_optim_zero_grad(opt);
        nn_tensor *out = nn_forward(net, x);
        float loss = out ? nn_loss_forward(ce, out, y) : NAN;
        ok = loss == loss && nn_backward(net, nn_loss_backward(ce)) && nn_optim_step(opt) == NN_OK;
        if (ok && (step % 5 == 0 || step == STEPS - 1))
            printf("step %d loss %.4f\n", step, loss);
    }
    if (!ok)
        fprintf(stderr, "custom_layer: training failed: %s\n", nn_last_error());
    nn_optim_free(opt);
    nn_loss_free(ce);
    return ok;
}

static void print_scale(const char *name, nn_module *scale)
{
    const nn_tensor *w = scale->params[0].value; /* the layer's own parameters, in order */
    printf("%s after training:", name);
    for (int64_t c = 0; c < w->shape[0]; c++)
        printf(" %.4f", w->data[c]);
    printf("\n");
}

/* Saves net, loads the file into a fresh model (built with other random
   weights) and compares both models' outputs on x, bit for bit. */
static bool save_and_reload(nn_module *net, nn_module *(*build)(void), uint64_t seed, const nn_tensor *x)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/custom_layer_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("custom_layer: mkdtemp");
        return false;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    nn_manual_seed(seed + 1);
    nn_module *fresh = build();
    bool ok = fresh && nn_save(net, path) == NN_OK && nn_load(fresh, path) == NN_OK;
    if (!ok)
        fprintf(stderr, "custom_layer: saving or loading failed: %s\n", nn_last_error());
    remove(path);
    rmdir(dir);
    nn_tensor *a = ok ? nn_forward(net, x) : NULL;
    float *want = a ? malloc((size_t)nn_tensor_numel(a) * sizeof *want) : NULL;
    if (want) {
        nn_tensor_copy_out(a, want);
        nn_tensor *b = nn_forward(fresh, x);
        bool same = b && nn_tensor_numel(b) == nn_tensor_numel(a) &&
                    !memcmp(b->data, want, (size_t)nn_tensor_numel(a) * sizeof *want);
        printf("saved, loaded into a fresh model: outputs %s\n", same ? "equal" : "DIFFER");
        ok = same;
    } else if (ok) {
        fprintf(stderr, "custom_layer: comparing the outputs failed: %s\n", nn_last_error());
        ok = false;
    }
    free(want);
    nn_module_free(fresh);
    return ok;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--seed") && i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (!*end && errno == 0)
                continue;
        }
        fputs(usage, stderr);
        return 2;
    }

    float xs[N * 25], ys[N];
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                xs[n * 25 + i * 5 + j] = (float)((n * 7 + i * 3 + j * 5) % 11 - 5) / 8.0f;
        ys[n] = (float)(n % 3);
    }
    nn_tensor *x = nn_tensor_from(xs, 4, (const int64_t[]){N, 1, 5, 5});
    nn_tensor *y = nn_tensor_from(ys, 1, (const int64_t[]){N});
    if (!x || !y) {
        fprintf(stderr, "custom_layer: %s\n", nn_last_error());
        return 1;
    }

    int rc = 1;
    nn_manual_seed(seed);
    nn_module *seq = sequential_model();
    nn_module *graph = NULL;
    if (!seq) {
        fprintf(stderr, "custom_layer: building the Sequential failed: %s\n", nn_last_error());
        goto done;
    }
    nn_module_print(seq, stdout);
    if (!train(seq, x, y))
        goto done;
    print_scale("ChannelScale weight", nn_module_child(seq, "1"));
    if (!save_and_reload(seq, sequential_model, seed, x))
        goto done;

    nn_manual_seed(seed);
    graph = graph_model();
    if (!graph) {
        fprintf(stderr, "custom_layer: building the graph failed: %s\n", nn_last_error());
        goto done;
    }
    printf("\n");
    nn_module_print(graph, stdout);
    if (!train(graph, x, y))
        goto done;
    print_scale("ChannelScale weight", nn_module_child(graph, "scale"));
    if (!save_and_reload(graph, graph_model, seed, x))
        goto done;
    rc = 0;
done:
    nn_module_free(graph);
    nn_module_free(seq);
    nn_tensor_free(x);
    nn_tensor_free(y);
    return rc;
}
