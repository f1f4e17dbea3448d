/* Max pooling over [planes, H, W]. Planes are independent (no reduction
   across them), so large inputs split over the threads plane by plane and
   the result does not depend on the split.

   The 2x2 stride-2 path uses selects instead of branches. Its window order
   a b / c d is reduced as max(max(a, b), max(c, d)) with "later wins when
   greater or NaN" at each step, which picks the same tap as the sequential
   scan a, b, c, d: the first maximum, or the last NaN. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "base/parallel_impl.h"
#include "pool.h"
#include "simd.h"

#define POOL_GRAIN ((int64_t)1 << 14)        /* input elements per chunk, at least */
#define POOL_PARALLEL_MIN ((int64_t)1 << 16) /* below this, one thread */

/* later wins when greater, or NaN */
static inline int takes(float later, float best) { return (later > best) | (later != later); }

/* --- 2x2, stride 2: four outputs at a time in explicit 4-float vectors
   (GCC/Clang vector extensions, simd.h: SSE2 on x86-64), deinterleaving
   the even and odd columns of each input row with shuffles. */
static inline v4i takes4(v4f later, v4f best) { return (later > best) | (later != later); }
static inline v4i select4i(v4i mask, v4i a, v4i b) { return (a & mask) | (b & ~mask); }

/* Rows of 4 outputs or more end with one block overlapping the previous
   one (rewriting the same values) instead of a scalar tail. relu: the
   window's winner as if relu(x) had been pooled (see
   nn_maxpool2x2_relu_forward): an output that is not > 0 becomes relu of
   the window's first tap and gets code 4 (no tap takes its gradient). */
static void pool2x2_row(const float *r0, const float *r1, int64_t OW, float *y, uint8_t *code, bool relu)
{
    int64_t j = 0;
    for (; j < OW && OW >= 4; j += 4) {
        if (j + 4 > OW)
            j = OW - 4;
        v4f p0 = loadu4(r0 + 2 * j), q0 = loadu4(r0 + 2 * j + 4);
        v4f p1 = loadu4(r1 + 2 * j), q1 = loadu4(r1 + 2 * j + 4);
        v4f a = SHUFFLE4(p0, q0, 0, 2, 4, 6), b = SHUFFLE4(p0, q0, 1, 3, 5, 7);
        v4f c = SHUFFLE4(p1, q1, 0, 2, 4, 6), d = SHUFFLE4(p1, q1, 1, 3, 5, 7);
        v4i tb = takes4(b, a), td = takes4(d, c);
        v4f top = select4(tb, b, a), bottom = select4(td, d, c);
        v4i tr = takes4(bottom, top);
        v4f out = select4(tr, bottom, top);
        v4i one = {1, 1, 1, 1}, two = {2, 2, 2, 2};
        v4i cv = (tr & (two | (td & one))) | (~tr & tb & one);
        if (relu) {
            v4f zero = {0, 0, 0, 0};
            v4i none = ~(out > zero), keep_nan = out != out;
            v4f first = select4(a < zero, zero, a); /* relu(a): -0 stays -0, as the ReLU kernel */
            out = select4(none & ~keep_nan, first, out);
            cv = select4i(none, (v4i){4, 4, 4, 4}, cv);
        }
        storeu4(y + j, out);
        for (int k = 0; k < 4; k++)
            code[j + k] = (uint8_t)cv[k];
    }
    for (; j < OW; j++) {
        float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        int tb = takes(b, a), td = takes(d, c);
        float top = tb ? b : a, bottom = td ? d : c;
        int tr = takes(bottom, top);
        y[j] = tr ? bottom : top;
        code[j] = (uint8_t)(tr ? 2 + td : tb);
        if (relu && !(y[j] > 0.0f)) {
            if (y[j] == y[j])
                y[j] = a < 0.0f ? 0.0f : a;
            code[j] = 4;
        }
    }
}

typedef struct {
    const float *x, *g;
    float *y, *dx;
    const uint8_t *ccode;
    uint8_t *code;
    int64_t H, W;
    bool relu;
} pool2x2_job;

static void pool2x2_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const pool2x2_job *jb = ctx;
    int64_t H = jb->H, W = jb->W, OH = H / 2, OW = W / 2;
    for (int64_t p = begin; p < end; p++)
        for (int64_t i = 0; i < OH; i++) {
            const float *r0 = jb->x + (p * H + 2 * i) * W;
            int64_t o = (p * OH + i) * OW;
            pool2x2_row(r0, r0 + W, OW, jb->y + o, jb->code + o, jb->relu);
        }
}

/* Splits planes over the threads when the input is large. */
static void run_planes(int64_t planes, int64_t plane_size, nn_parallel_fn fn, void *ctx)
{
    int parts = planes * plane_size < POOL_PARALLEL_MIN ? 1 : nn_get_num_threads();
    if (parts > 1) {
        int64_t grain = plane_size >= POOL_GRAIN ? 1 : POOL_GRAIN / plane_size;
        nn_parallel_for(planes, grain, parts, fn, ctx);
    } else {
        fn(ctx, 0, planes, 0);
    }
}

void nn_maxpool2x2_forward(const float *x, int64_t planes, int64_t H, int64_t W, float *y, uint8_t *code)
{
    pool2x2_job jb = {.x = x, .y = y, .code = code, .H = H, .W = W};
    run_planes(planes, H * W, pool2x2_chunk, &jb);
}

void nn_maxpool2x2_relu_forward(const float *x, int64_t planes, int64_t H, int64_t W, float *y, uint8_t *code)
{
    pool2x2_job jb = {.x = x, .y = y, .code = code, .H = H, .W = W, .relu = true};
    run_planes(planes, H * W, pool2x2_chunk, &jb);
}

/* dx of one output row pair: each tap gets 0 + g when it won, else 0 */
static void unpool2x2_row(const float *g, const uint8_t *code, int64_t OW, float *r0, float *r1)
{
    int64_t j = 0;
    v4f zero = {0, 0, 0, 0};
    for (; j < OW && OW >= 4; j += 4) {
        if (j + 4 > OW)
            j = OW - 4;
        v4f gv = loadu4(g + j) + zero;
        v4i cv = {code[j], code[j + 1], code[j + 2], code[j + 3]};
        v4f e0 = select4(cv == 0, gv, zero), e1 = select4(cv == 1, gv, zero);
        v4f e2 = select4(cv == 2, gv, zero), e3 = select4(cv == 3, gv, zero);
        storeu4(r0 + 2 * j, SHUFFLE4(e0, e1, 0, 4, 1, 5));
        storeu4(r0 + 2 * j + 4, SHUFFLE4(e0, e1, 2, 6, 3, 7));
        storeu4(r1 + 2 * j, SHUFFLE4(e2, e3, 0, 4, 1, 5));
        storeu4(r1 + 2 * j + 4, SHUFFLE4(e2, e3, 2, 6, 3, 7));
    }
    for (; j < OW; j++) {
        float gj = g[j] + 0.0f;
        r0[2 * j] = code[j] == 0 ? gj : 0.0f;
        r0[2 * j + 1] = code[j] == 1 ? gj : 0.0f;
        r1[2 * j] = code[j] == 2 ? gj : 0.0f;
        r1[2 * j + 1] = code[j] == 3 ? gj : 0.0f;
    }
}

static void unpool2x2_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const pool2x2_job *jb = ctx;
    int64_t H = jb->H, W = jb->W, OH = H / 2, OW = W / 2;
    for (int64_t p = begin; p < end; p++) {
        float *plane = jb->dx + p * H * W;
        for (int64_t i = 0; i < OH; i++) {
            float *r0 = plane + 2 * i * W;
            int64_t o = (p * OH + i) * OW;
            unpool2x2_row(jb->g + o, jb->ccode + o, OW, r0, r0 + W);
            if (W & 1) { /* the last column no window reads */
                r0[W - 1] = 0.0f;
                r0[2 * W - 1] = 0.0f;
            }
        }
        if (H & 1)
            memset(plane + (H - 1) * W, 0, (size_t)W * sizeof *plane);
    }
}

void nn_maxpool2x2_backward(const float *g, const uint8_t *code, int64_t planes, int64_t H, int64_t W,
                            float *dx)
{
    pool2x2_job jb = {.g = g, .ccode = code, .dx = dx, .H = H, .W = W};
    run_planes(planes, H * W, unpool2x2_chunk, &jb);
}

/* --- any window */
typedef struct {
    const nn_pool_geom *geom;
    const float *x;
    float *y;
    int64_t *arg;
    const int64_t *carg;
    bool relu;
} pool_job;

/* The taps t in [0, k) with 0 <= start + t*dil < size: [*lo, *hi). */
static void valid_taps(int64_t start, int k, int dil, int64_t size, int *lo, int *hi)
{
    int a = 0, b = k;
    while (a < b && start + (int64_t)a * dil < 0)
        a++;
    while (b > a && start + (int64_t)(b - 1) * dil >= size)
        b--;
    *lo = a;
    *hi = b;
}

/* relu: as pool2x2_row's; the first tap is the first valid one in window
   order, and the "no winner" mark is arg -1. */
static void pool_plane(const nn_pool_geom *g, const float *x, float *y, int64_t *arg, bool relu)
{
    for (int64_t i = 0; i < g->OH; i++) {
        int64_t h0 = i * g->sh - g->ph;
        int alo, ahi;
        valid_taps(h0, g->kh, g->dh, g->H, &alo, &ahi);
        for (int64_t j = 0; j < g->OW; j++) {
            int64_t w0 = j * g->sw - g->pw;
            int blo, bhi;
            valid_taps(w0, g->kw, g->dw, g->W, &blo, &bhi);
            float best = -INFINITY;
            int64_t at = -1;
            for (int a = alo; a < ahi; a++) {
                const float *row = x + (h0 + (int64_t)a * g->dh) * g->W;
                for (int b = blo; b < bhi; b++) {
                    int64_t w = w0 + (int64_t)b * g->dw;
                    if (at < 0 || takes(row[w], best)) {
                        best = row[w];
                        at = (h0 + (int64_t)a * g->dh) * g->W + w;
                    }
                }
            }
            if (relu && at >= 0 && !(best > 0.0f)) {
                if (best == best) {
                    float first = x[(h0 + (int64_t)alo * g->dh) * g->W + w0 + (int64_t)blo * g->dw];
                    best = first < 0.0f ? 0.0f : first;
                }
                at = -1;
            }
            y[i * g->OW + j] = best;
            arg[i * g->OW + j] = at;
        }
    }
}

static void pool_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const pool_job *jb = ctx;
    const nn_pool_geom *g = jb->geom;
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    for (int64_t p = begin; p < end; p++)
        pool_plane(g, jb->x + p * in, jb->y + p * out, jb->arg + p * out, jb->relu);
}

void nn_maxpool_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y, int64_t *arg)
{
    pool_job jb = {.geom = g, .x = x, .y = y, .arg = arg};
    run_planes(planes, g->H * g->W, pool_chunk, &jb);
}

void nn_maxpool_relu_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y, int64_t *arg)
{
    pool_job jb = {.geom = g, .x = x, .y = y, .arg = arg, .relu = true};
    run_planes(planes, g->H * g->W, pool_chunk, &jb);
}

static void unpool_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const pool_job *jb = ctx;
    const nn_pool_geom *g = jb->geom;
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    for (int64_t p = begin; p < end; p++) {
        float *dp = jb->y + p * in;
        const float *gp = jb->x + p * out;
        const int64_t *ap = jb->carg + p * out;
        memset(dp, 0, (size_t)in * sizeof *dp);
        for (int64_t k = 0; k < out; k++)
            if (ap[k] >= 0)
                dp[ap[k]] += gp[k];
    }
}

void nn_maxpool_backward(const nn_pool_geom *g, const float *gy, const int64_t *arg, int64_t planes, float *dx)
{
    pool_job jb = {.geom = g, .x = gy, .y = dx, .carg = arg};
    run_planes(planes, g->H * g->W, unpool_chunk, &jb);
}
