/* libnn benchmark: GFLOP/s (or time per step) of the kernels and steps our
   users run, with 1 and 2 threads. Medians over repeated timed runs.

   build/bench                 the whole table
   build/bench --raw           one machine-readable line per case
   build/bench --only NAME     only cases whose name contains NAME
   build/bench --exact         with --only: the case named exactly NAME
   build/bench --list          the case names, one a line
   build/bench --threads T     only with T threads
   build/bench --reps R        timed repetitions per case (default 7)

   Timing lives here, never in the tests. The machine may be shared: read
   the numbers as medians of a noisy process. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"

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

/* A case: setup once, run(state) is one timed unit of work. */
typedef struct {
    const char *name;
    double flops;                 /* per run; 0: report time only */
    void *(*setup)(const void *arg);
    int (*run)(void *state);
    void (*teardown)(void *state);
    const void *arg;
    /* optional: FLOPs per run known only after setup (overrides flops) */
    double (*flops_of)(const void *state);
    bool one_thread; /* the case never uses the thread pool */
} bench_case;

/* --- sgemm */
typedef struct { int64_t M, N, K; } gemm_shape;
typedef struct { gemm_shape s; float *A, *B, *C; } gemm_state;

static float *random_floats(int64_t n)
{
    float *p = malloc((size_t)n * sizeof *p);
    if (!p)
        return NULL;
    uint32_t x = 2463534242u;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    return p;
}

static void *gemm_setup(const void *arg)
{
    gemm_state *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->s = *(const gemm_shape *)arg;
    g->A = random_floats(g->s.M * g->s.K);
    g->B = random_floats(g->s.K * g->s.N);
    g->C = random_floats(g->s.M * g->s.N);
    if (!g->A || !g->B || !g->C) {
        free(g->A); free(g->B); free(g->C); free(g);
        return NULL;
    }
    return g;
}

static int gemm_run(void *state)
{
    gemm_state *g = state;
    nn_gemm(false, false, g->s.M, g->s.N, g->s.K, 1.0f, g->A, g->s.K, g->B, g->s.N, 0.0f, g->C,
            g->s.N);
    return 0;
}

static void gemm_teardown(void *state)
{
    gemm_state *g = state;
    free(g->A); free(g->B); free(g->C); free(g);
}

/* --- layers and training steps */
typedef struct {
    nn_module *net;
    nn_loss *loss;
    nn_optim *opt;
    nn_tensor *x, *y, *g; /* input, target (steps) or grad_out (fwd+bwd) */
} net_state;

static nn_tensor *random_tensor(int ndim, const int64_t *shape, float scale)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    if (!t)
        return NULL;
    float *r = random_floats(nn_tensor_numel(t));
    if (!r) {
        nn_tensor_free(t);
        return NULL;
    }
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        t->data[i] = scale * r[i];
    free(r);
    return t;
}

static void net_teardown(void *state)
{
    net_state *s = state;
    nn_optim_free(s->opt);
    nn_loss_free(s->loss);
    nn_module_free(s->net);
    nn_tensor_free(s->x);
    nn_tensor_free(s->y);
    nn_tensor_free(s->g);
    free(s);
}

static void *net_checked(net_state *s, bool ok)
{
    if (ok && s->net && s->x)
        return s;
    net_teardown(s);
    return NULL;
}

/* forward + backward of one layer: the output gradient is given */
static int fwd_bwd_run(void *state)
{
    net_state *s = state;
    if (!nn_forward(s->net, s->x))
        return -1;
    return nn_backward(s->net, s->g) ? 0 : -1;
}

static void *linear_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = nn_linear(1024, 1024, true);
    s->x = random_tensor(NN_SHAPE(1024, 1024), 1.0f);
    s->g = random_tensor(NN_SHAPE(1024, 1024), 1.0f);
    return net_checked(s, s->g != NULL);
}

static void *conv_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = nn_conv2d(32, 64, 3, 1, 1);
    s->x = random_tensor(NN_SHAPE(64, 32, 16, 16), 1.0f);
    s->g = random_tensor(NN_SHAPE(64, 64, 16, 16), 1.0f);
    return net_checked(s, s->g != NULL);
}

/* Conv1d(32, 64, 3, padding=2, dilation=2) on [64, 32, 256]: a TCN layer
   (length kept; a causal one would chomp the padding after) */
static void *conv1d_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = nn_conv1d(32, 64, 3, 1, 2, 2);
    s->x = random_tensor(NN_SHAPE(64, 32, 256), 1.0f);
    s->g = random_tensor(NN_SHAPE(64, 64, 256), 1.0f);
    return net_checked(s, s->g != NULL);
}

/* BatchNorm2d(64) in training mode on [64, 64, 16, 16] */
static void *batchnorm_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = nn_batchnorm2d(64);
    s->x = random_tensor(NN_SHAPE(64, 64, 16, 16), 1.0f);
    s->g = random_tensor(NN_SHAPE(64, 64, 16, 16), 1.0f);
    return net_checked(s, s->g != NULL);
}

/* LSTM / GRU(32, 128), one layer, on [48, 64, 32] (sequence 48, batch 64) */
static void *recurrent_setup(bool lstm)
{
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = lstm ? nn_lstm(32, 128) : nn_gru(32, 128);
    s->x = random_tensor(NN_SHAPE(48, 64, 32), 1.0f);
    s->g = random_tensor(NN_SHAPE(48, 64, 128), 1.0f);
    return net_checked(s, s->g != NULL);
}

static void *lstm_setup(const void *arg)
{
    (void)arg;
    return recurrent_setup(true);
}

static void *gru_setup(const void *arg)
{
    (void)arg;
    return recurrent_setup(false);
}

/* one training step: zero_grad, forward, loss, backward, optimizer step */
static int step_run(void *state)
{
    net_state *s = state;
    nn_optim_zero_grad(s->opt);
    nn_tensor *out = nn_forward(s->net, s->x);
    if (!out || isnan(nn_loss_forward(s->loss, out, s->y)))
        return -1;
    if (!nn_backward(s->net, nn_loss_backward(s->loss)))
        return -1;
    return nn_optim_step(s->opt) < 0 ? -1 : 0;
}

static bool add(nn_module *seq, nn_module *m)
{
    return m && nn_sequential_add(seq, NULL, m) == NN_OK;
}

/* SimpleNet: Linear(2,5) ReLU Linear(5,1), batch 64, MSE, SGD(0.01) */
static void *simplenet_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = nn_sequential();
    bool ok = s->net && add(s->net, nn_linear(2, 5, true)) && add(s->net, nn_relu()) &&
              add(s->net, nn_linear(5, 1, true));
    s->x = random_tensor(NN_SHAPE(64, 2), 1.0f);
    s->y = random_tensor(NN_SHAPE(64, 1), 1.0f);
    s->loss = nn_mse_loss();
    nn_sgd_opts so = nn_sgd_defaults(0.01f);
    s->opt = ok ? nn_sgd(s->net, &so) : NULL;
    return net_checked(s, ok && s->y && s->loss && s->opt);
}

#if defined(__has_include)
#if __has_include("layers/maxpool2d.c") && __has_include("layers/flatten.c")
#define HAVE_POOLING 1
#endif
#endif

#ifdef HAVE_POOLING
/* The Fashion-MNIST CNN: Conv2d(1,32,3,1,1) ReLU MaxPool2d(2) Conv2d(32,64,3,1,1) ReLU
   MaxPool2d(2) Flatten Linear(3136,128) ReLU Linear(128,10); batch 64,
   cross-entropy, Adam(1e-3) */
static void *cnn_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = nn_sequential();
    bool ok = s->net && add(s->net, nn_conv2d(1, 32, 3, 1, 1)) && add(s->net, nn_relu()) &&
              add(s->net, nn_maxpool2d(2, 0)) && add(s->net, nn_conv2d(32, 64, 3, 1, 1)) &&
              add(s->net, nn_relu()) && add(s->net, nn_maxpool2d(2, 0)) &&
              add(s->net, nn_flatten()) && add(s->net, nn_linear(3136, 128, true)) &&
              add(s->net, nn_relu()) && add(s->net, nn_linear(128, 10, true));
    s->x = random_tensor(NN_SHAPE(64, 1, 28, 28), 0.5f);
    s->y = nn_tensor_new(NN_SHAPE(64));
    for (int i = 0; s->y && i < 64; i++)
        s->y->data[i] = (float)(i * 7 % 10);
    s->loss = nn_cross_entropy_loss();
    s->opt = ok ? nn_adam(s->net, NULL) : NULL;
    return net_checked(s, ok && s->y && s->loss && s->opt);
}
#endif

#if defined(__has_include)
#if __has_include("../../examples/resnet_model.h") && __has_include("layers/batchnorm.c")
#define HAVE_RESNET 1
#include "../../examples/resnet_model.h"
#endif
#endif

#ifdef HAVE_RESNET
/* The ResNet example's model (308k parameters) on a Fashion-MNIST batch of
   64, cross-entropy, AdamW(2e-3, weight decay 5e-4): one training step */
static void *resnet_setup(const void *arg)
{
    (void)arg;
    net_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->net = resnet_model();
    s->x = random_tensor(NN_SHAPE(64, 1, 28, 28), 1.0f);
    s->y = nn_tensor_new(NN_SHAPE(64));
    for (int i = 0; s->y && i < 64; i++)
        s->y->data[i] = (float)(i * 3 % 10);
    s->loss = nn_cross_entropy_loss();
    nn_adamw_opts w = nn_adamw_defaults();
    w.lr = 2e-3f;
    w.weight_decay = 5e-4f;
    s->opt = s->net ? nn_adamw(s->net, &w) : NULL;
    return net_checked(s, s->y && s->loss && s->opt);
}
#endif

static const gemm_shape g256 = {256, 256, 256}, g1024 = {1024, 1024, 1024},
                        gconv = {64, 3136, 128};

/* --- the micro-kernel alone: a ceiling for every GEMM above. Packed
   panels as gemm.c lays them out, B (kc x nr) staying in L1 and 24 A
   panels (kc x 6) streaming from L2, C tiles in L1; no packing, no edges.
   What the loops, packing and edges of a whole GEMM cost is the gap
   between this row and the sgemm rows. */
#define UK_A_PANELS 24
#define UK_CALLS 2400
typedef struct { const nn_gemm_arch *ar; float *a, *b, *c; } ukernel_state;

static void ukernel_teardown(void *state)
{
    ukernel_state *s = state;
    if (s) {
        free(s->a);
        free(s->b);
        free(s->c);
        free(s);
    }
}

static void *ukernel_setup(const void *arg)
{
    (void)arg;
    ukernel_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ar = nn_gemm_current_arch();
    int64_t kc = s->ar->kc, nr = s->ar->nr;
    s->a = random_floats(UK_A_PANELS * kc * GEMM_MR);
    s->b = random_floats(kc * nr);
    s->c = random_floats(4 * GEMM_MR * nr);
    if (!s->a || !s->b || !s->c) {
        ukernel_teardown(s);
        return NULL;
    }
    return s;
}

static int ukernel_run(void *state)
{
    ukernel_state *s = state;
    int64_t kc = s->ar->kc, nr = s->ar->nr;
    for (int i = 0; i < UK_CALLS; i++) /* beta 0: C stays finite */
        s->ar->kernel(kc, s->a + (i % UK_A_PANELS) * kc * GEMM_MR, s->b, s->c + (i % 4) * GEMM_MR * nr,
                      nr, 1.0f, 0.0f, GEMM_MR, (int)nr);
    return 0;
}

static double ukernel_flops(const void *state)
{
    const ukernel_state *s = state;
    return 2.0 * GEMM_MR * (double)s->ar->nr * (double)s->ar->kc * UK_CALLS;
}

static double gemm_flops(const void *state)
{
    const gemm_state *g = state;
    return 2.0 * (double)g->s.M * (double)g->s.N * (double)g->s.K;
}

/* (FLOPs from the state: clang does not take a const struct's fields as
   constant initializers) */
#define GEMM_CASE(name, s) {name, 0, gemm_setup, gemm_run, gemm_teardown, &(s), gemm_flops, false}

static const bench_case cases[] = {
    {"gemm micro-kernel in cache", 0, ukernel_setup, ukernel_run, ukernel_teardown, NULL, ukernel_flops, true},
    GEMM_CASE("sgemm 256x256x256", g256),
    GEMM_CASE("sgemm 1024x1024x1024", g1024),
    GEMM_CASE("sgemm 64x3136x128", gconv),
    {"linear 1024 fwd+bwd", 3 * 2.0 * 1024 * 1024 * 1024, linear_setup, fwd_bwd_run, net_teardown, NULL, NULL, false},
    {"conv 32->64 fwd+bwd", 3 * 2.0 * 64 * 64 * 32 * 9 * 16 * 16, conv_setup, fwd_bwd_run,
     net_teardown, NULL, NULL, false},
    {"conv1d 32->64 k3 d2 L256 b64 fwd+bwd", 3 * 2.0 * 64 * 64 * 32 * 3 * 256, conv1d_setup, fwd_bwd_run,
     net_teardown, NULL, NULL, false},
    {"batchnorm2d 64x64x16x16 fwd+bwd", 0, batchnorm_setup, fwd_bwd_run, net_teardown, NULL, NULL, false},
    {"lstm 32x128 seq48 b64 fwd+bwd", 0, lstm_setup, fwd_bwd_run, net_teardown, NULL, NULL, false},
    {"gru 32x128 seq48 b64 fwd+bwd", 0, gru_setup, fwd_bwd_run, net_teardown, NULL, NULL, false},
#ifdef HAVE_POOLING
    {"cnn step", 0, cnn_setup, step_run, net_teardown, NULL, NULL, false},
#endif
#ifdef HAVE_RESNET
    {"resnet step", 0, resnet_setup, step_run, net_teardown, NULL, NULL, false},
#endif
    {"simplenet step", 0, simplenet_setup, step_run, net_teardown, NULL, NULL, false},
};

/* Median seconds per run: repeats runs until each timed sample lasts at
   least ~20 ms, reps samples. */
static double time_case(const bench_case *c, void *st, int reps)
{
    double t0 = now();
    if (c->run(st) != 0)
        return -1.0;
    double once = now() - t0;
    int inner = once > 0.02 ? 1 : (int)(0.02 / (once > 1e-9 ? once : 1e-9)) + 1;
    double samples[64];
    if (reps > 64)
        reps = 64;
    for (int r = 0; r < reps; r++) {
        t0 = now();
        for (int i = 0; i < inner; i++)
            if (c->run(st) != 0)
                return -1.0;
        samples[r] = (now() - t0) / inner;
    }
    qsort(samples, (size_t)reps, sizeof *samples, cmp_double);
    return samples[reps / 2];
}

int main(int argc, char **argv)
{
    int reps = 7, only_threads = 0;
    bool raw = false, exact = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--raw"))
            raw = true;
        else if (!strcmp(argv[i], "--exact"))
            exact = true;
        else if (!strcmp(argv[i], "--list")) {
            for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
                printf("%s\n", cases[c].name);
            return 0;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            only_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--raw] [--list] [--only NAME [--exact]] [--threads T] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    if (!raw)
        printf("libnn bench, GEMM kernel: %s; median of %d\n%-28s %8s %12s %10s\n",
               nn_gemm_current_arch()->name, reps, "case", "threads", "time", "GFLOP/s");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bench_case *c = &cases[i];
        if (only && (exact ? strcmp(c->name, only) != 0 : !strstr(c->name, only)))
            continue;
        void *st = c->setup(c->arg);
        if (!st) {
            fprintf(stderr, "%s: setup failed: %s\n", c->name, nn_last_error());
            return 1;
        }
        for (int t = 1; t <= 2; t++) {
            if ((only_threads && t != only_threads) || (c->one_thread && t > 1))
                continue;
            if (nn_set_num_threads(t) != NN_OK)
                return 1;
            double s = time_case(c, st, reps);
            if (s < 0) {
                fprintf(stderr, "%s: run failed: %s\n", c->name, nn_last_error());
                return 1;
            }
            double flops = c->flops_of ? c->flops_of(st) : c->flops;
            double gf = flops > 0 ? flops / s * 1e-9 : 0.0;
            if (raw)
                printf("%s\t%d\t%.9f\t%.3f\n", c->name, t, s, gf);
            else {
                char rate[32] = "-";
                if (gf > 0)
                    snprintf(rate, sizeof rate, "%.1f", gf);
                if (s < 1e-3)
                    printf("%-28s %8d %9.1f us %10s\n", c->name, t, s * 1e6, rate);
                else
                    printf("%-28s %8d %9.3f ms %10s\n", c->name, t, s * 1e3, rate);
            }
            fflush(stdout);
        }
        c->teardown(st);
    }
    return 0;
}
