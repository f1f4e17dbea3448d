/* Private timing of the Fashion-MNIST CNN train step (the pooling/optimizer
   owner's yardstick; build/bench is the official table).
   cc -O2 -Iinclude -Isrc tests/bench/cnn_step.c build/libnn.a -lm -lpthread
   cnn_step [threads [reps [breakdown]]]
   Prints the median wall and CPU (process) time per step; with breakdown=1
   also the median time of each layer's forward and backward. The machine is
   shared: read CPU time for one thread, medians always. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void die(const char *what)
{
    fprintf(stderr, "cnn_step: %s: %s\n", what, nn_last_error());
    exit(1);
}

#define N_LAYERS 10

static void make_layers(nn_module **l)
{
    l[0] = nn_conv2d(1, 32, 3, 1, 1);
    l[1] = nn_relu();
    l[2] = nn_maxpool2d(2, 0);
    l[3] = nn_conv2d(32, 64, 3, 1, 1);
    l[4] = nn_relu();
    l[5] = nn_maxpool2d(2, 0);
    l[6] = nn_flatten();
    l[7] = nn_linear(3136, 128, true);
    l[8] = nn_relu();
    l[9] = nn_linear(128, 10, true);
    for (int i = 0; i < N_LAYERS; i++)
        if (!l[i])
            die("layer");
}

static nn_tensor *inputs(nn_tensor **y)
{
    nn_tensor *x = nn_tensor_new(NN_SHAPE(64, 1, 28, 28));
    *y = nn_tensor_new(NN_SHAPE(64));
    if (!x || !*y)
        die("tensor");
    uint32_t r = 2463534242u;
    for (int64_t i = 0; i < nn_tensor_numel(x); i++) {
        r ^= r << 13; r ^= r >> 17; r ^= r << 5;
        x->data[i] = 0.5f * ((float)(r >> 8) / 8388608.0f - 1.0f);
    }
    for (int i = 0; i < 64; i++)
        (*y)->data[i] = (float)(i * 7 % 10);
    return x;
}

static int step(nn_module *net, nn_loss *loss, nn_optim *opt, const nn_tensor *x, const nn_tensor *y)
{
    nn_optim_zero_grad(opt);
    nn_tensor *out = nn_forward(net, x);
    if (!out)
        return -1;
    float v = nn_loss_forward(loss, out, y);
    if (v != v)
        return -1;
    nn_tensor *g = nn_loss_backward(loss);
#ifdef NO_BACKWARD_PARAMS
    if (!g || !nn_backward(net, g))
        return -1;
#else
    if (!g || nn_backward_params(net, g) < 0)
        return -1;
#endif
    return nn_optim_step(opt);
}

static void breakdown(int reps)
{
    nn_module *l[N_LAYERS];
    make_layers(l);
    nn_tensor *y, *x = inputs(&y);
    nn_tensor *h[N_LAYERS + 1];
    double fw[N_LAYERS][64], bw[N_LAYERS][64];
    for (int r = 0; r < reps; r++) {
        h[0] = x;
        for (int i = 0; i < N_LAYERS; i++) {
            double t = clock_s(CLOCK_MONOTONIC);
            h[i + 1] = nn_forward(l[i], h[i]);
            fw[i][r] = clock_s(CLOCK_MONOTONIC) - t;
            if (!h[i + 1])
                die("forward");
        }
        nn_tensor *g = h[N_LAYERS]; /* any gradient of the right shape */
        for (int i = N_LAYERS - 1; i >= 0; i--) {
            double t = clock_s(CLOCK_MONOTONIC);
#ifndef NO_BACKWARD_PARAMS
            if (i == 0) { /* as the step does: no dL/dx for the input */
                if (nn_backward_params(l[i], g) < 0)
                    die("backward");
                bw[i][r] = clock_s(CLOCK_MONOTONIC) - t;
                continue;
            }
#endif
            g = nn_backward(l[i], g);
            bw[i][r] = clock_s(CLOCK_MONOTONIC) - t;
            if (!g)
                die("backward");
        }
    }
    for (int i = 0; i < N_LAYERS; i++) {
        printf("  %-10s fwd %7.3f ms  bwd %7.3f ms\n", nn_module_type(l[i]), 1e3 * median(fw[i], reps),
               1e3 * median(bw[i], reps));
        nn_module_free(l[i]);
    }
    nn_tensor_free(x);
    nn_tensor_free(y);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int reps = argc > 2 ? atoi(argv[2]) : 31;
    if (reps < 1 || reps > 64)
        reps = 31;
    if (nn_set_num_threads(threads) < 0)
        die("threads");
    nn_module *l[N_LAYERS], *net = nn_sequential();
    make_layers(l);
    for (int i = 0; i < N_LAYERS; i++)
        if (nn_sequential_add(net, NULL, l[i]) < 0)
            die("add");
    nn_tensor *y, *x = inputs(&y);
    nn_loss *loss = nn_cross_entropy_loss();
    nn_optim *opt = nn_adam(net, NULL);
    if (!loss || !opt)
        die("setup");
    for (int i = 0; i < 3; i++)
        if (step(net, loss, opt, x, y) < 0)
            die("step");
    double wall[64], cpu[64];
    for (int r = 0; r < reps; r++) {
        double w = clock_s(CLOCK_MONOTONIC), c = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (step(net, loss, opt, x, y) < 0)
            die("step");
        wall[r] = clock_s(CLOCK_MONOTONIC) - w;
        cpu[r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c;
    }
    double wall_med = median(wall, reps), wall_min = wall[0], cpu_med = median(cpu, reps);
    printf("cnn step, %d thread(s): wall %.2f ms (min %.2f), cpu %.2f ms  [median of %d]\n", threads,
           1e3 * wall_med, 1e3 * wall_min, 1e3 * cpu_med, reps);
    if (argc > 3 && atoi(argv[3]))
        breakdown(reps);
    nn_optim_free(opt);
    nn_loss_free(loss);
    nn_module_free(net);
    nn_tensor_free(x);
    nn_tensor_free(y);
    return 0;
}
