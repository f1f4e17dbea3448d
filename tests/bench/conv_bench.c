/* Private timing for Conv2d and the activations (the conv owner's
   before/after yardstick; build/bench is the official table).
   cc -O2 -Iinclude -Isrc tests/bench/conv_bench.c build/libnn.a -lm -lpthread
   conv_bench [reps [case [threads]]]
   Medians of repeated runs; the machine is shared, read them as noisy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static nn_tensor *random_tensor(int ndim, const int64_t *shape)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    if (!t)
        exit(1);
    uint32_t x = 2463534242u;
    int64_t n = nn_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        t->data[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    return t;
}

/* A chain of modules run forward then backward (grad_out random). */
typedef struct {
    nn_module *m[8];
    int n;
    nn_tensor *x, *gy;
} chain;

static void chain_run(chain *c)
{
    const nn_tensor *h = c->x;
    for (int i = 0; i < c->n; i++)
        if (!(h = nn_forward(c->m[i], h))) {
            fprintf(stderr, "forward: %s\n", nn_last_error());
            exit(1);
        }
    const nn_tensor *g = c->gy;
    for (int i = c->n - 1; i >= 0; i--)
        if (!(g = nn_backward(c->m[i], g))) {
            fprintf(stderr, "backward: %s\n", nn_last_error());
            exit(1);
        }
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double last_min; /* fastest sample of the last time_chain */
static double last_cpu; /* process CPU seconds per run (all threads) over the samples */

static double time_chain(chain *c, int reps)
{
    chain_run(c);
    double t0 = now();
    chain_run(c);
    double once = now() - t0;
    int inner = once > 0.05 ? 1 : (int)(0.05 / (once > 1e-9 ? once : 1e-9)) + 1;
    double s[64], c0 = cpu_now();
    for (int r = 0; r < reps; r++) {
        t0 = now();
        for (int i = 0; i < inner; i++)
            chain_run(c);
        s[r] = (now() - t0) / inner;
    }
    last_cpu = (cpu_now() - c0) / (reps * inner);
    qsort(s, (size_t)reps, sizeof *s, cmp_double);
    last_min = s[0];
    return s[reps / 2];
}

static void report(const char *name, int threads, double sec, double flops)
{
    if (flops > 0)
        printf("%-34s %d  median %7.2f ms %5.1f GF/s  min %7.2f ms %5.1f GF/s  cpu/thr %7.2f ms %5.1f GF/s\n",
               name, threads, sec * 1e3, flops / sec * 1e-9, last_min * 1e3, flops / last_min * 1e-9,
               last_cpu / threads * 1e3, flops / (last_cpu / threads) * 1e-9);
    else
        printf("%-34s %d  median %7.2f ms  min %7.2f ms  cpu/thr %7.2f ms\n", name, threads, sec * 1e3,
               last_min * 1e3, last_cpu / threads * 1e3);
    fflush(stdout);
}

static double conv_flops(double n, double c, double o, double oh, double ow, double kk)
{
    return 3.0 * 2.0 * n * o * oh * ow * c * kk; /* forward + two backward products */
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    const char *only = argc > 2 ? argv[2] : NULL;
    int only_threads = argc > 3 ? atoi(argv[3]) : 0; /* 0: 1 and 2 */
    if (reps < 1 || reps > 64)
        reps = 7;
    for (int t = 1; t <= 2; t++) {
        if (only_threads && t != only_threads)
            continue;
        nn_set_num_threads(t);
        if (!only || strstr("conv32", only)) {
            chain c = {.n = 1};
            c.m[0] = nn_conv2d(32, 64, 3, 1, 1);
            c.x = random_tensor(NN_SHAPE(64, 32, 16, 16));
            c.gy = random_tensor(NN_SHAPE(64, 64, 16, 16));
            report("conv 32->64 3x3 64x32x16x16 f+b", t, time_chain(&c, reps),
                   conv_flops(64, 32, 64, 16, 16, 9));
            nn_module_free(c.m[0]);
            nn_tensor_free(c.x);
            nn_tensor_free(c.gy);
        }
        if (!only || strstr("cnn1", only)) {
            chain c = {.n = 2};
            c.m[0] = nn_conv2d(1, 32, 3, 1, 1);
            c.m[1] = nn_relu();
            c.x = random_tensor(NN_SHAPE(64, 1, 28, 28));
            c.gy = random_tensor(NN_SHAPE(64, 32, 28, 28));
            report("cnn conv1(1->32)+relu 28x28 f+b", t, time_chain(&c, reps), 0);
            nn_module_free(c.m[0]);
            nn_module_free(c.m[1]);
            nn_tensor_free(c.x);
            nn_tensor_free(c.gy);
        }
        if (!only || strstr("cnn2", only)) {
            chain c = {.n = 2};
            c.m[0] = nn_conv2d(32, 64, 3, 1, 1);
            c.m[1] = nn_relu();
            c.x = random_tensor(NN_SHAPE(64, 32, 14, 14));
            c.gy = random_tensor(NN_SHAPE(64, 64, 14, 14));
            double s = time_chain(&c, reps);
            report("cnn conv2(32->64)+relu 14x14 f+b", t, s, conv_flops(64, 32, 64, 14, 14, 9));
            nn_module_free(c.m[0]);
            nn_module_free(c.m[1]);
            nn_tensor_free(c.x);
            nn_tensor_free(c.gy);
        }
        if (!only || strstr("cnnfc", only)) {
            chain c = {.n = 3};
            c.m[0] = nn_linear(3136, 128, true);
            c.m[1] = nn_relu();
            c.m[2] = nn_linear(128, 10, true);
            c.x = random_tensor(NN_SHAPE(64, 3136));
            c.gy = random_tensor(NN_SHAPE(64, 10));
            report("cnn fc 3136-128-10 f+b", t, time_chain(&c, reps), 0);
            for (int i = 0; i < 3; i++)
                nn_module_free(c.m[i]);
            nn_tensor_free(c.x);
            nn_tensor_free(c.gy);
        }
        const char *act_names[] = {"relu", "sigmoid", "tanh"};
        for (int a = 0; a < 3; a++) {
            if (only && !strstr(act_names[a], only))
                continue;
            chain c = {.n = 1};
            c.m[0] = a == 0 ? nn_relu() : a == 1 ? nn_sigmoid() : nn_tanh();
            c.x = random_tensor(NN_SHAPE(64, 32, 28, 28));
            c.gy = random_tensor(NN_SHAPE(64, 32, 28, 28));
            char name[64];
            snprintf(name, sizeof name, "%s 64x32x28x28 f+b", act_names[a]);
            report(name, t, time_chain(&c, reps), 0);
            nn_module_free(c.m[0]);
            nn_tensor_free(c.x);
            nn_tensor_free(c.gy);
        }
    }
    return 0;
}
