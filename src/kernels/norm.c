/* Batch-normalisation kernels (norm.h): one channel of [N, C, S] at a time.
   Sums run in 8 double lanes (a fixed order, so the same bits on every
   thread count and machine, and loops the compiler can vectorise), added
   up lane by lane at the end. */
#include <stdbool.h>

#include "kernels/norm.h"

#define LANES 8

static double lanes_total(const double *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/* sum of p[0 .. n) in lanes, added into acc */
static void sum_into(double *restrict acc, const float *restrict p, int64_t n)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += p[i + k];
    for (; i < n; i++)
        acc[i % LANES] += p[i];
}

static void sq_dev_into(double *restrict acc, const float *restrict p, int64_t n, double m)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            double d = p[i + k] - m;
            acc[k] += d * d;
        }
    for (; i < n; i++) {
        double d = p[i] - m;
        acc[i % LANES] += d * d;
    }
}

void nn_bn_channel_stats(const nn_bn_shape *s, const float *x, int64_t c, double *mean, double *var_sum)
{
    double acc[LANES] = {0};
    for (int64_t n = 0; n < s->N; n++)
        sum_into(acc, x + (n * s->C + c) * s->S, s->S);
    int64_t count = s->N * s->S;
    double m = count ? lanes_total(acc) / (double)count : 0.0;
    double sq[LANES] = {0};
    for (int64_t n = 0; n < s->N; n++)
        sq_dev_into(sq, x + (n * s->C + c) * s->S, s->S, m);
    *mean = m;
    *var_sum = lanes_total(sq);
}

static void affine(float *restrict y, const float *restrict x, int64_t n, float a, float b)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * a + b;
}

void nn_bn_channel_apply(const nn_bn_shape *s, const float *x, int64_t c, float mean, float invstd, float w,
                         float b, float *y)
{
    float alpha = invstd * w, beta = b - mean * alpha;
    for (int64_t n = 0; n < s->N; n++) {
        int64_t at = (n * s->C + c) * s->S;
        affine(y + at, x + at, s->S, alpha, beta);
    }
}

static void grad_sums_into(double *restrict sd, double *restrict dp, const float *restrict x,
                           const float *restrict dy, int64_t n, double m)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            sd[k] += dy[i + k];
            dp[k] += (x[i + k] - m) * dy[i + k];
        }
    for (; i < n; i++) {
        sd[i % LANES] += dy[i];
        dp[i % LANES] += (x[i] - m) * dy[i];
    }
}

void nn_bn_channel_grad_sums(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean,
                             double *sum_dy, double *dotp)
{
    double sd[LANES] = {0}, dp[LANES] = {0};
    for (int64_t n = 0; n < s->N; n++) {
        int64_t at = (n * s->C + c) * s->S;
        grad_sums_into(sd, dp, x + at, dy + at, s->S, mean);
    }
    *sum_dy = lanes_total(sd);
    *dotp = lanes_total(dp);
}

static void dx_batch(float *restrict dx, const float *restrict x, const float *restrict dy, int64_t n, float mean,
                     float k, float grad_mean, float scale)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = (dy[i] - grad_mean - (x[i] - mean) * k) * scale;
}

static void dx_fixed(float *restrict dx, const float *restrict dy, int64_t n, float k)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * k;
}

void nn_bn_channel_dx(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean, float invstd,
                      float w, bool batch_stats, double sum_dy, double dotp, float *dx)
{
    int64_t count = s->N * s->S;
    float k = batch_stats ? (float)(dotp * invstd * invstd / (double)count) : 0.0f;
    float grad_mean = batch_stats ? (float)(sum_dy / (double)count) : 0.0f;
    for (int64_t n = 0; n < s->N; n++) {
        int64_t at = (n * s->C + c) * s->S;
        if (batch_stats)
            dx_batch(dx + at, x + at, dy + at, s->S, mean, k, grad_mean, invstd * w);
        else
            dx_fixed(dx + at, dy + at, s->S, invstd * w);
    }
}
