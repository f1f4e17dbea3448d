/* Batch-normalisation kernels (norm.h): one channel of [N, C, S] at a time.
   Sums run in 16 double lanes (a fixed order, so the same bits on every
   thread count, machine and instruction set), added up lane by lane at the
   end. The first pass over a channel reads memory slab by slab (S floats
   every C * S), so it prefetches the slabs ahead; the passes after it find
   the channel in cache. Compiled once per instruction set
   (norm_kernel.inc) and chosen at run time, as the GEMM kernels are. */
#include <stdbool.h>
#include <string.h>

#include "kernels/norm.h"
#include "kernels/simd.h"

#if defined(__x86_64__) || defined(__i386__)
#define NORM_X86 1
#include <immintrin.h>
#else
#define NORM_X86 0
#endif

#define LANES 16

static inline double lanes_total(const double *l)
{
    double q[4];
    for (int k = 0; k < 4; k++)
        q[k] = (l[4 * k] + l[4 * k + 1]) + (l[4 * k + 2] + l[4 * k + 3]);
    return (q[0] + q[1]) + (q[2] + q[3]);
}

static inline const float *slab(const nn_bn_shape *s, const float *x, int64_t c, int64_t n)
{
    return x + (n * s->C + c) * s->S;
}

/* Prefetch this far ahead of the slab being read (a slab of 256 floats
   is 1 KiB: four slabs ahead). On a Xeon with AVX-512 the prefetches made
   BatchNorm2d on [64, 64, 16, 16] ~10% faster; 2 KiB or 8 KiB ahead
   measured the same, prefetching the slabs a pass writes no better. */
#define AHEAD_BYTES 4096

/* Slabs ahead: AHEAD_BYTES' worth, at least one. */
static inline int64_t ahead_slabs(const nn_bn_shape *s)
{
    int64_t bytes = s->S * (int64_t)sizeof(float);
    return bytes ? (AHEAD_BYTES + bytes - 1) / bytes : 1;
}

/* The slab dist slabs after slab n of channel c in reading order (the
   next channels' first ones after the last), or slab n itself when none. */
static inline const float *ahead(const nn_bn_shape *s, const float *x, int64_t c, int64_t n, int64_t dist)
{
    int64_t j = n + dist;
    if (j < s->N)
        return slab(s, x, c, j);
    int64_t cc = c + j / s->N;
    return cc < s->C ? slab(s, x, cc, j % s->N) : slab(s, x, c, n);
}

#define SPLAT2(x) {x, x}
#define SPLAT4(x) {x, x, x, x}
#define SPLAT8(x) {x, x, x, x, x, x, x, x}
#define SPLAT16(x) {x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}

#define REP2(M) M(0) M(1)
#define REP4(M) REP2(M) M(2) M(3)
#define REP8(M) REP4(M) M(4) M(5) M(6) M(7)

/* --- generic: 128-bit vectors (SSE2 on x86-64, scalar code elsewhere) */
/* LANES values from p, the first r < LANES of them read, the rest 0, as
   doubles in t[0 .. LANES / W) */
static inline void tail_generic(v2d *t, const float *p, int64_t r)
{
    double d[LANES];
    for (int64_t j = 0; j < LANES; j++)
        d[j] = j < r ? p[j] : 0.0;
    memcpy(t, d, sizeof d);
}

#if defined(__SSE2__)
static inline v2d load2d(const float *p)
{
    return (v2d)_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}
#else
static inline v2d load2d(const float *p) { return (v2d){p[0], p[1]}; }
#endif
#define NS(name) name##_generic
#define ATTR
#define W 2
#define VD v2d
#define LOADD(p) load2d(p)
#define SPLATD(x) ((v2d)SPLAT2(x))
#define TAILD(t, p, r) tail_generic(t, p, r)
#define REP REP8
#define WF 4
#define VF v4f
#define SPLATF(x) ((v4f)SPLAT4(x))
#include "norm_kernel.inc" /* #undefs its parameters */

#if NORM_X86
/* the masked lanes are neither read nor faulted on */
__attribute__((target("avx2"))) static inline void tail_avx2(v4d *t, const float *p, int64_t r)
{
    const __m256i rv = _mm256_set1_epi32((int)r);
    __m256 lo = _mm256_maskload_ps(p, _mm256_cmpgt_epi32(rv, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    __m256 hi = _mm256_maskload_ps(p + 8, _mm256_cmpgt_epi32(rv, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15)));
    t[0] = (v4d)_mm256_cvtps_pd(_mm256_castps256_ps128(lo));
    t[1] = (v4d)_mm256_cvtps_pd(_mm256_extractf128_ps(lo, 1));
    t[2] = (v4d)_mm256_cvtps_pd(_mm256_castps256_ps128(hi));
    t[3] = (v4d)_mm256_cvtps_pd(_mm256_extractf128_ps(hi, 1));
}

__attribute__((target("avx512f"))) static inline void tail_avx512(v8d *t, const float *p, int64_t r)
{
    __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << r) - 1u), p);
    t[0] = (v8d)_mm512_cvtps_pd(_mm512_castps512_ps256(v));
    t[1] = (v8d)_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* --- AVX2 */
#define NS(name) name##_avx2
#define ATTR __attribute__((target("avx2")))
#define W 4
#define VD v4d
#define LOADD(p) ((v4d)_mm256_cvtps_pd(_mm_loadu_ps(p)))
#define SPLATD(x) ((v4d)SPLAT4(x))
#define TAILD(t, p, r) tail_avx2(t, p, r)
#define REP REP4
#define WF 8
#define VF v8f
#define SPLATF(x) ((v8f)SPLAT8(x))
#include "norm_kernel.inc" /* #undefs its parameters */

/* --- AVX-512F */
#define NS(name) name##_avx512
#define ATTR __attribute__((target("avx512f")))
#define W 8
#define VD v8d
#define LOADD(p) ((v8d)_mm512_cvtps_pd(_mm256_loadu_ps(p)))
#define SPLATD(x) ((v8d)SPLAT8(x))
#define TAILD(t, p, r) tail_avx512(t, p, r)
#define REP REP2
#define WF 16
#define VF v16f
#define SPLATF(x) ((v16f)SPLAT16(x))
#include "norm_kernel.inc" /* #undefs its parameters */
#endif

typedef struct {
    void (*stats)(const nn_bn_shape *s, const float *x, int64_t c, double *mean, double *var_sum);
    void (*apply)(const nn_bn_shape *s, const float *x, int64_t c, float alpha, float beta, float *y);
    void (*grad_sums)(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean,
                      double *sum_dy, double *dotp);
    void (*dx)(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, bool batch, float mean, float k,
               float grad_mean, float scale, float *dx);
} bn_kernels;

static const bn_kernels variants[NN_GEMM_ISA_COUNT] = {
    [NN_GEMM_ISA_GENERIC] = {stats_generic, apply_generic, grad_sums_generic, dx_generic},
#if NORM_X86
    [NN_GEMM_ISA_AVX2] = {stats_avx2, apply_avx2, grad_sums_avx2, dx_avx2},
    [NN_GEMM_ISA_AVX512] = {stats_avx512, apply_avx512, grad_sums_avx512, dx_avx512},
#endif
};

/* Written once from any thread; every writer stores the same value. */
static const bn_kernels *_Atomic current;

static const bn_kernels *kernels(void)
{
    const bn_kernels *k = current;
    if (!k) {
        k = &variants[nn_gemm_best_isa()];
        current = k;
    }
    return k;
}

bool nn_bn_force_isa(nn_gemm_isa isa)
{
    if (isa < 0 || isa >= NN_GEMM_ISA_COUNT || !nn_gemm_isa_supported(isa))
        return false;
    current = &variants[isa == NN_GEMM_ISA_AUTO ? nn_gemm_best_isa() : isa];
    return true;
}

/* y = x * alpha + beta's coefficients */
static inline void affine_of(float mean, float invstd, float w, float b, float *alpha, float *beta)
{
    float a = invstd * w;
    float t = mean * a;
    *alpha = a;
    *beta = b - t;
}

/* dx's coefficients: dx = (dy - grad_mean - (x - mean) * k) * scale */
static inline void dx_coeffs(int64_t count, float invstd, float w, bool batch_stats, double sum_dy, double dotp,
                             float *k, float *grad_mean, float *scale)
{
    *k = batch_stats ? (float)(dotp * invstd * invstd / (double)count) : 0.0f;
    *grad_mean = batch_stats ? (float)(sum_dy / (double)count) : 0.0f;
    *scale = invstd * w;
}

void nn_bn_channel_stats(const nn_bn_shape *s, const float *x, int64_t c, double *mean, double *var_sum)
{
    kernels()->stats(s, x, c, mean, var_sum);
}

void nn_bn_channel_apply(const nn_bn_shape *s, const float *x, int64_t c, float mean, float invstd, float w,
                         float b, float *y)
{
    float alpha, beta;
    affine_of(mean, invstd, w, b, &alpha, &beta);
    kernels()->apply(s, x, c, alpha, beta, y);
}

void nn_bn_channel_grad_sums(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean,
                             double *sum_dy, double *dotp)
{
    kernels()->grad_sums(s, x, dy, c, mean, sum_dy, dotp);
}

void nn_bn_channel_dx(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean, float invstd,
                      float w, bool batch_stats, double sum_dy, double dotp, float *dx)
{
    float k, grad_mean, scale;
    dx_coeffs(s->N * s->S, invstd, w, batch_stats, sum_dy, dotp, &k, &grad_mean, &scale);
    kernels()->dx(s, x, dy, c, batch_stats, mean, k, grad_mean, scale, dx);
}

/* --- small slabs, row by row. Value i of channel c's slabs is in lane i
   (S < LANES) of the per-channel kernels, the other lanes stay +0: here
   each (c, i) has its own sum, added to in the same order (n = 0, 1, ...),
   and the lanes are totalled as there. */

/* the lanes_total of S sums, the other lanes +0 */
static double total_of(const double *a, int64_t S)
{
    double l[LANES] = {0};
    memcpy(l, a, (size_t)S * sizeof *a);
    return lanes_total(l);
}

static const float *row(const nn_bn_shape *s, const float *x, int64_t c0, int64_t n)
{
    return x + (n * s->C + c0) * s->S;
}

void nn_bn_rows_stats(const nn_bn_shape *s, const float *x, int64_t c0, int64_t c1, double *mean, double *var_sum)
{
    const int64_t S = s->S, len = (c1 - c0) * S, count = s->N * S;
    double acc[NN_BN_ROW_BLOCK], md[NN_BN_ROW_BLOCK];
    for (int64_t j = 0; j < len; j++)
        acc[j] = 0.0;
    for (int64_t n = 0; n < s->N; n++) {
        const float *r = row(s, x, c0, n);
        for (int64_t j = 0; j < len; j++)
            acc[j] += r[j];
    }
    for (int64_t c = 0; c < c1 - c0; c++) {
        mean[c] = count ? total_of(acc + c * S, S) / (double)count : 0.0;
        for (int64_t i = 0; i < S; i++)
            md[c * S + i] = mean[c];
    }
    for (int64_t j = 0; j < len; j++)
        acc[j] = 0.0;
    for (int64_t n = 0; n < s->N; n++) {
        const float *r = row(s, x, c0, n);
        for (int64_t j = 0; j < len; j++) {
            double d = r[j] - md[j];
            double q = d * d;
            acc[j] += q;
        }
    }
    for (int64_t c = 0; c < c1 - c0; c++)
        var_sum[c] = total_of(acc + c * S, S);
}

void nn_bn_rows_apply(const nn_bn_shape *s, const float *x, int64_t c0, int64_t c1, const float *mean,
                      const float *invstd, const float *w, const float *b, float *y)
{
    const int64_t S = s->S, len = (c1 - c0) * S;
    float ae[NN_BN_ROW_BLOCK], be[NN_BN_ROW_BLOCK];
    for (int64_t c = 0; c < c1 - c0; c++) {
        float alpha, beta;
        affine_of(mean[c], invstd[c], w ? w[c] : 1.0f, b ? b[c] : 0.0f, &alpha, &beta);
        for (int64_t i = 0; i < S; i++) {
            ae[c * S + i] = alpha;
            be[c * S + i] = beta;
        }
    }
    for (int64_t n = 0; n < s->N; n++) {
        const float *r = row(s, x, c0, n);
        float *o = y + (r - x);
        for (int64_t j = 0; j < len; j++) {
            float t = r[j] * ae[j];
            o[j] = t + be[j];
        }
    }
}

void nn_bn_rows_grad_sums(const nn_bn_shape *s, const float *x, const float *dy, int64_t c0, int64_t c1,
                          const float *mean, double *sum_dy, double *dotp)
{
    const int64_t S = s->S, len = (c1 - c0) * S;
    double sd[NN_BN_ROW_BLOCK], dp[NN_BN_ROW_BLOCK], md[NN_BN_ROW_BLOCK];
    for (int64_t j = 0; j < len; j++) {
        sd[j] = dp[j] = 0.0;
        md[j] = mean[j / S];
    }
    for (int64_t n = 0; n < s->N; n++) {
        const float *r = row(s, x, c0, n), *g = row(s, dy, c0, n);
        for (int64_t j = 0; j < len; j++) {
            double gd = g[j];
            double d = r[j] - md[j];
            double e = d * gd;
            sd[j] += gd;
            dp[j] += e;
        }
    }
    for (int64_t c = 0; c < c1 - c0; c++) {
        sum_dy[c] = total_of(sd + c * S, S);
        dotp[c] = total_of(dp + c * S, S);
    }
}

void nn_bn_rows_dx(const nn_bn_shape *s, const float *x, const float *dy, int64_t c0, int64_t c1,
                   const float *mean, const float *invstd, const float *w, bool batch_stats, const double *sum_dy,
                   const double *dotp, float *dx)
{
    const int64_t S = s->S, len = (c1 - c0) * S;
    float me[NN_BN_ROW_BLOCK], ke[NN_BN_ROW_BLOCK], ge[NN_BN_ROW_BLOCK], se[NN_BN_ROW_BLOCK];
    for (int64_t c = 0; c < c1 - c0; c++) {
        float k, grad_mean, scale;
        dx_coeffs(s->N * S, invstd[c], w ? w[c] : 1.0f, batch_stats, sum_dy[c], dotp[c], &k, &grad_mean, &scale);
        for (int64_t i = 0; i < S; i++) {
            me[c * S + i] = mean[c];
            ke[c * S + i] = k;
            ge[c * S + i] = grad_mean;
            se[c * S + i] = scale;
        }
    }
    for (int64_t n = 0; n < s->N; n++) {
        const float *r = row(s, x, c0, n), *g = row(s, dy, c0, n);
        float *o = dx + (r - x);
        if (batch_stats)
            for (int64_t j = 0; j < len; j++) {
                float d = r[j] - me[j];
                d *= ke[j];
                float t = g[j] - ge[j];
                t -= d;
                o[j] = t * se[j];
            }
        else
            for (int64_t j = 0; j < len; j++)
                o[j] = g[j] * se[j];
    }
}
