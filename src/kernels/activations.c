/* Kernels of the pointwise activations with options or an input cache, and
   of Softmax / LogSoftmax. Plain loops over raw arrays: the select-only
   ones (LeakyReLU, Hardswish) vectorise as written; the others call libm
   (expf, erff, tanhf) once or twice per element. Every element goes
   through the same expression whatever the array length or its position,
   so results do not depend on how a caller splits the work. */
#include <math.h>
#include <stdint.h>

#include "activations.h"

/* the constants of torch's kernels, rounded to float as there */
#define SQRT1_2 0.70710678118654752440      /* M_SQRT1_2 */
#define SQRT2 1.41421356237309504880        /* M_SQRT2 */
#define TWO_SQRTPI 1.12837916709551257390   /* M_2_SQRTPI */

/* z[i] = f(x[i], y[i]) / y[i] = f(x[i]): one element at a time, each
   read before its result is written (in place is safe) */
#define MAP1(expr)                                                          \
    for (int64_t i = 0; i < n; i++) {                                       \
        const float v = x[i];                                               \
        y[i] = (expr);                                                      \
    }
#define MAP2(expr)                                                          \
    for (int64_t i = 0; i < n; i++) {                                       \
        const float v = x[i], gv = g[i];                                    \
        dx[i] = (expr);                                                     \
    }

void nn_leaky_relu_kernel(const float *x, float *y, int64_t n, float slope)
{
    MAP1(v > 0.0f ? v : v * slope)
}

void nn_leaky_relu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float slope)
{
    MAP2(v > 0.0f ? gv : gv * slope)
}

void nn_elu_kernel(const float *x, float *y, int64_t n, float alpha)
{
    MAP1(v <= 0.0f ? (expf(v) - 1.0f) * alpha : v)
}

void nn_elu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float alpha)
{
    MAP2(v <= 0.0f ? gv * alpha * expf(v) : gv)
}

void nn_elu_grad_from_output_kernel(const float *y, const float *g, float *dx, int64_t n, float alpha)
{
    const float *x = y;
    MAP2(v <= 0.0f ? gv * (v + alpha) : gv)
}

void nn_gelu_kernel(const float *x, float *y, int64_t n, float unused)
{
    (void)unused;
    const float k_alpha = (float)SQRT1_2;
    MAP1(v * 0.5f * (1.0f + erff(v * k_alpha)))
}

static inline float gelu_grad1(float v, float gv)
{
    const float k_alpha = (float)SQRT1_2, k_beta = (float)(TWO_SQRTPI * SQRT1_2 * 0.5);
    float cdf = 0.5f * (1.0f + erff(v * k_alpha));
    float pdf = k_beta * expf(v * v * -0.5f);
    return gv * (cdf + v * pdf);
}

void nn_gelu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused)
{
    (void)unused;
    MAP2(gelu_grad1(v, gv))
}

static inline float gelu_tanh1(float v)
{
    const float k_beta = (float)(SQRT2 * TWO_SQRTPI * 0.5), k_kappa = 0.044715f;
    float cube = v * v * v;
    float inner = k_beta * (v + k_kappa * cube);
    return 0.5f * v * (1.0f + tanhf(inner));
}

void nn_gelu_tanh_kernel(const float *x, float *y, int64_t n, float unused)
{
    (void)unused;
    MAP1(gelu_tanh1(v))
}

static inline float gelu_tanh_grad1(float v, float gv)
{
    const float k_beta = (float)(SQRT2 * TWO_SQRTPI * 0.5), k_kappa = 0.044715f;
    float sq = v * v, cube = sq * v;
    float inner = k_beta * (v + k_kappa * cube);
    float t = tanhf(inner);
    float left = 0.5f * v, right = 1.0f + t;
    float left_derivative = 0.5f * right;
    float tanh_derivative = 1.0f - t * t;
    float inner_derivative = k_beta * (1.0f + 3.0f * k_kappa * sq);
    float right_derivative = left * tanh_derivative * inner_derivative;
    return gv * (left_derivative + right_derivative);
}

void nn_gelu_tanh_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused)
{
    (void)unused;
    MAP2(gelu_tanh_grad1(v, gv))
}

void nn_silu_kernel(const float *x, float *y, int64_t n, float unused)
{
    (void)unused;
    MAP1(v / (1.0f + expf(-v)))
}

static inline float silu_grad1(float v, float gv)
{
    float s = 1.0f / (1.0f + expf(-v));
    return gv * s * (1.0f + v * (1.0f - s));
}

void nn_silu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused)
{
    (void)unused;
    MAP2(silu_grad1(v, gv))
}

/* min(max(t, 0), 6) keeping a NaN t (torch's vectorised minimum/maximum propagate it) */
static inline float relu6_nan(float t)
{
    t = t < 0.0f ? 0.0f : t;
    return t > 6.0f ? 6.0f : t;
}

void nn_hardswish_kernel(const float *x, float *y, int64_t n, float unused)
{
    (void)unused;
    MAP1(v * relu6_nan(v + 3.0f) / 6.0f)
}

void nn_hardswish_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused)
{
    (void)unused;
    MAP2(v < -3.0f ? 0.0f : v < 3.0f ? gv * (v / 3.0f + 0.5f) : gv)
}

/* --- softmax along the middle of [outer, dim, inner]: up to LANES
   adjacent columns at once (their elements are adjacent in memory), each
   lane a column of its own with its own running max and sum */
#define LANES 8

static inline float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

/* columns i0 .. i0 + w of the block starting at p (stride inner between rows) */
static void softmax_columns(const float *x, float *y, int64_t dim, int64_t inner, int w, bool log)
{
    float m[LANES], s[LANES];
    for (int k = 0; k < w; k++)
        m[k] = x[k];
    for (int64_t d = 1; d < dim; d++)
        for (int k = 0; k < w; k++)
            m[k] = max_nan(m[k], x[d * inner + k]);
    for (int k = 0; k < w; k++)
        s[k] = 0.0f;
    if (log) {
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                s[k] += expf(x[d * inner + k] - m[k]);
        for (int k = 0; k < w; k++)
            s[k] = logf(s[k]);
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                y[d * inner + k] = (x[d * inner + k] - m[k]) - s[k];
    } else {
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++) {
                float e = expf(x[d * inner + k] - m[k]);
                y[d * inner + k] = e;
                s[k] += e;
            }
        for (int k = 0; k < w; k++)
            s[k] = 1.0f / s[k];
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                y[d * inner + k] *= s[k];
    }
}

static void softmax_backward_columns(const float *y, const float *g, float *dx, int64_t dim, int64_t inner, int w,
                                     bool log)
{
    float s[LANES];
    for (int k = 0; k < w; k++)
        s[k] = 0.0f;
    if (log) {
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                s[k] += g[d * inner + k];
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                dx[d * inner + k] = g[d * inner + k] - expf(y[d * inner + k]) * s[k];
    } else {
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                s[k] += g[d * inner + k] * y[d * inner + k];
        for (int64_t d = 0; d < dim; d++)
            for (int k = 0; k < w; k++)
                dx[d * inner + k] = y[d * inner + k] * (g[d * inner + k] - s[k]);
    }
}

/* Calls f on runs of at most LANES columns of [c0, c1) that lie in one outer slice. */
#define FOR_COLUMN_RUNS(body)                                               \
    for (int64_t c = c0; c < c1;) {                                         \
        int64_t o = c / inner, i = c % inner;                               \
        int64_t w_ = inner - i < c1 - c ? inner - i : c1 - c;               \
        int w = w_ < LANES ? (int)w_ : LANES;                               \
        int64_t off = o * dim * inner + i;                                  \
        body;                                                               \
        c += w;                                                             \
    }

void nn_softmax_kernel(const float *x, float *y, int64_t dim, int64_t inner, int64_t c0, int64_t c1, bool log)
{
    if (dim <= 0 || inner <= 0)
        return;
    FOR_COLUMN_RUNS(softmax_columns(x + off, y + off, dim, inner, w, log))
}

void nn_softmax_backward_kernel(const float *y, const float *g, float *dx, int64_t dim, int64_t inner, int64_t c0,
                                int64_t c1, bool log)
{
    if (dim <= 0 || inner <= 0)
        return;
    FOR_COLUMN_RUNS(softmax_backward_columns(y + off, g + off, dx + off, dim, inner, w, log))
}
