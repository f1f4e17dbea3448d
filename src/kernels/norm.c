/* Batch-normalisation kernels (norm.h): one channel of [N, C, S] at a time. */
#include <stdbool.h>

#include "kernels/norm.h"

void nn_bn_channel_stats(const nn_bn_shape *s, const float *x, int64_t c, double *mean, double *var_sum)
{
    double sum = 0;
    for (int64_t n = 0; n < s->N; n++) {
        const float *p = x + (n * s->C + c) * s->S;
        for (int64_t i = 0; i < s->S; i++)
            sum += p[i];
    }
    int64_t count = s->N * s->S;
    double m = count ? sum / (double)count : 0.0, v = 0;
    for (int64_t n = 0; n < s->N; n++) {
        const float *p = x + (n * s->C + c) * s->S;
        for (int64_t i = 0; i < s->S; i++) {
            double d = p[i] - m;
            v += d * d;
        }
    }
    *mean = m;
    *var_sum = v;
}

void nn_bn_channel_apply(const nn_bn_shape *s, const float *x, int64_t c, float mean, float invstd, float w,
                         float b, float *y)
{
    float alpha = invstd * w, beta = b - mean * alpha;
    for (int64_t n = 0; n < s->N; n++) {
        int64_t at = (n * s->C + c) * s->S;
        for (int64_t i = 0; i < s->S; i++)
            y[at + i] = x[at + i] * alpha + beta;
    }
}

void nn_bn_channel_grad_sums(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean,
                             double *sum_dy, double *dotp)
{
    double sd = 0, dp = 0;
    for (int64_t n = 0; n < s->N; n++) {
        int64_t at = (n * s->C + c) * s->S;
        for (int64_t i = 0; i < s->S; i++) {
            sd += dy[at + i];
            dp += ((double)x[at + i] - mean) * dy[at + i];
        }
    }
    *sum_dy = sd;
    *dotp = dp;
}

void nn_bn_channel_dx(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean, float invstd,
                      float w, bool batch_stats, double sum_dy, double dotp, float *dx)
{
    int64_t count = s->N * s->S;
    if (!batch_stats) {
        float k = invstd * w;
        for (int64_t n = 0; n < s->N; n++) {
            int64_t at = (n * s->C + c) * s->S;
            for (int64_t i = 0; i < s->S; i++)
                dx[at + i] = dy[at + i] * k;
        }
        return;
    }
    float k = (float)(dotp * invstd * invstd / (double)count);
    float grad_mean = (float)(sum_dy / (double)count);
    float scale = invstd * w;
    for (int64_t n = 0; n < s->N; n++) {
        int64_t at = (n * s->C + c) * s->S;
        for (int64_t i = 0; i < s->S; i++)
            dx[at + i] = (dy[at + i] - grad_mean - (x[at + i] - mean) * k) * scale;
    }
}
