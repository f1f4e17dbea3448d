/* Average pooling and adaptive (average and max) pooling over [planes, H, W],
   in plain loops that follow PyTorch 1.13's CPU kernels step for step: the
   same taps summed in the same order (row by row, in float), divided the
   same way, and backward scattering dL/dy / divisor in output order. Planes
   are independent, so large inputs split over the threads plane by plane
   and the result does not depend on the split. */
#include <math.h>
#include <string.h>

#include "base/parallel_impl.h"
#include "pool.h"

#define POOL_GRAIN ((int64_t)1 << 14)        /* input elements per chunk, at least */
#define POOL_PARALLEL_MIN ((int64_t)1 << 16) /* below this, one thread */

int64_t nn_pool_output_size(int64_t in, int k, int pad, int stride, int dilation, bool ceil_mode)
{
    int64_t span = in + 2 * (int64_t)pad - (int64_t)dilation * (k - 1) - 1;
    if (span < 0)
        return 0;
    int64_t out = (span + (ceil_mode ? stride - 1 : 0)) / stride + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad)
        out--;
    return out;
}

typedef struct {
    const nn_pool_geom *g;
    const float *src; /* x forward, dL/dy backward */
    float *dst;       /* y forward, dL/dx backward */
    int64_t *arg;
    bool count_include_pad;
    int divisor;
} job;

/* Splits planes over the threads when the input is large (as pool.c). */
static void run_planes(int64_t planes, const nn_pool_geom *g, nn_parallel_fn fn, job *jb)
{
    int64_t plane_size = g->H * g->W > g->OH * g->OW ? g->H * g->W : g->OH * g->OW;
    int parts = planes * plane_size < POOL_PARALLEL_MIN ? 1 : nn_get_num_threads();
    if (parts > 1) {
        int64_t grain = plane_size >= POOL_GRAIN ? 1 : POOL_GRAIN / plane_size;
        nn_parallel_for(planes, grain, parts, fn, jb);
    } else {
        fn(jb, 0, planes, 0);
    }
}

/* --- AvgPool2d */

/* Window (i, j) clipped to the input: rows [*h0, *h1), columns [*w0, *w1),
   and torch's divide_factor. */
static int64_t avg_window(const job *jb, int64_t i, int64_t j, int64_t *h0, int64_t *h1, int64_t *w0,
                          int64_t *w1)
{
    const nn_pool_geom *g = jb->g;
    int64_t a0 = i * g->sh - g->ph, b0 = j * g->sw - g->pw;
    int64_t a1 = a0 + g->kh < g->H + g->ph ? a0 + g->kh : g->H + g->ph;
    int64_t b1 = b0 + g->kw < g->W + g->pw ? b0 + g->kw : g->W + g->pw;
    int64_t padded = (a1 - a0) * (b1 - b0); /* the ceil_mode overhang left out */
    *h0 = a0 < 0 ? 0 : a0;
    *w0 = b0 < 0 ? 0 : b0;
    *h1 = a1 < g->H ? a1 : g->H;
    *w1 = b1 < g->W ? b1 : g->W;
    if (jb->divisor)
        return jb->divisor;
    return jb->count_include_pad ? padded : (*h1 - *h0) * (*w1 - *w0);
}

static void avg_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const job *jb = ctx;
    const nn_pool_geom *g = jb->g;
    for (int64_t p = begin; p < end; p++) {
        const float *x = jb->src + p * g->H * g->W;
        float *y = jb->dst + p * g->OH * g->OW;
        for (int64_t i = 0; i < g->OH; i++)
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t h0, h1, w0, w1;
                int64_t div = avg_window(jb, i, j, &h0, &h1, &w0, &w1);
                float sum = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++)
                        sum += x[h * g->W + w];
                y[i * g->OW + j] = h0 < h1 && w0 < w1 ? sum / (float)div : 0.0f;
            }
    }
}

static void avg_back_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const job *jb = ctx;
    const nn_pool_geom *g = jb->g;
    for (int64_t p = begin; p < end; p++) {
        const float *gy = jb->src + p * g->OH * g->OW;
        float *dx = jb->dst + p * g->H * g->W;
        memset(dx, 0, (size_t)(g->H * g->W) * sizeof *dx);
        for (int64_t i = 0; i < g->OH; i++)
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t h0, h1, w0, w1;
                int64_t div = avg_window(jb, i, j, &h0, &h1, &w0, &w1);
                float d = gy[i * g->OW + j] / (float)div;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++)
                        dx[h * g->W + w] += d;
            }
    }
}

void nn_avgpool_forward(const nn_pool_geom *g, bool count_include_pad, int divisor, const float *x,
                        int64_t planes, float *y)
{
    job jb = {.g = g, .src = x, .dst = y, .count_include_pad = count_include_pad, .divisor = divisor};
    run_planes(planes, g, avg_chunk, &jb);
}

void nn_avgpool_backward(const nn_pool_geom *g, bool count_include_pad, int divisor, const float *gy,
                         int64_t planes, float *dx)
{
    job jb = {.g = g, .src = gy, .dst = dx, .count_include_pad = count_include_pad, .divisor = divisor};
    run_planes(planes, g, avg_back_chunk, &jb);
}

/* --- adaptive windows: [floor(i*in/out), ceil((i+1)*in/out)) */

static int64_t start_index(int64_t i, int64_t out, int64_t in) { return (i / out) * in + ((i % out) * in) / out; }
static int64_t end_index(int64_t i, int64_t out, int64_t in) { return 1 + ((i + 1) * in - 1) / out; }

static void adaptive_avg_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const job *jb = ctx;
    const nn_pool_geom *g = jb->g;
    /* global pooling: torch takes the mean over H and W (one division) */
    bool global = g->OH == 1 && g->OW == 1;
    for (int64_t p = begin; p < end; p++) {
        const float *x = jb->src + p * g->H * g->W;
        float *y = jb->dst + p * g->OH * g->OW;
        for (int64_t i = 0; i < g->OH; i++) {
            int64_t h0 = start_index(i, g->OH, g->H), h1 = end_index(i, g->OH, g->H);
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t w0 = start_index(j, g->OW, g->W), w1 = end_index(j, g->OW, g->W);
                float sum = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++)
                        sum += x[h * g->W + w];
                y[i * g->OW + j] = global ? sum / (float)(g->H * g->W) : sum / (float)(h1 - h0) / (float)(w1 - w0);
            }
        }
    }
}

static void adaptive_avg_back_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const job *jb = ctx;
    const nn_pool_geom *g = jb->g;
    bool global = g->OH == 1 && g->OW == 1;
    for (int64_t p = begin; p < end; p++) {
        const float *gy = jb->src + p * g->OH * g->OW;
        float *dx = jb->dst + p * g->H * g->W;
        memset(dx, 0, (size_t)(g->H * g->W) * sizeof *dx);
        for (int64_t i = 0; i < g->OH; i++) {
            int64_t h0 = start_index(i, g->OH, g->H), h1 = end_index(i, g->OH, g->H);
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t w0 = start_index(j, g->OW, g->W), w1 = end_index(j, g->OW, g->W);
                float v = gy[i * g->OW + j];
                float d = global ? v / (float)(g->H * g->W) : v / (float)(h1 - h0) / (float)(w1 - w0);
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++)
                        dx[h * g->W + w] += d;
            }
        }
    }
}

void nn_adaptive_avgpool_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y)
{
    job jb = {.g = g, .src = x, .dst = y};
    run_planes(planes, g, adaptive_avg_chunk, &jb);
}

void nn_adaptive_avgpool_backward(const nn_pool_geom *g, const float *gy, int64_t planes, float *dx)
{
    job jb = {.g = g, .src = gy, .dst = dx};
    run_planes(planes, g, adaptive_avg_back_chunk, &jb);
}

/* later wins when greater, or NaN (pool.c's rule) */
static inline bool takes(float later, float best) { return later > best || later != later; }

static void adaptive_max_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const job *jb = ctx;
    const nn_pool_geom *g = jb->g;
    for (int64_t p = begin; p < end; p++) {
        const float *x = jb->src + p * g->H * g->W;
        float *y = jb->dst + p * g->OH * g->OW;
        int64_t *arg = jb->arg + p * g->OH * g->OW;
        for (int64_t i = 0; i < g->OH; i++) {
            int64_t h0 = start_index(i, g->OH, g->H), h1 = end_index(i, g->OH, g->H);
            for (int64_t j = 0; j < g->OW; j++) {
                int64_t w0 = start_index(j, g->OW, g->W), w1 = end_index(j, g->OW, g->W);
                int64_t at = h0 * g->W + w0;
                float best = -INFINITY;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++)
                        if (takes(x[h * g->W + w], best)) {
                            best = x[h * g->W + w];
                            at = h * g->W + w;
                        }
                y[i * g->OW + j] = best;
                arg[i * g->OW + j] = at;
            }
        }
    }
}

void nn_adaptive_maxpool_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y,
                                 int64_t *arg)
{
    job jb = {.g = g, .src = x, .dst = y, .arg = arg};
    run_planes(planes, g, adaptive_max_chunk, &jb);
}
