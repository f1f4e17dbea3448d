/* Internal: batch-normalisation kernels on one channel c of a raw
   [N, C, S] float array (S: the spatial size, 1 for [N, C]). Sums are
   accumulated in double, as PyTorch's CPU kernel does for float. No
   allocation; channels are independent, so splitting them over threads
   gives the same bits, and every instruction-set variant gives the same
   bits as the others. */
#ifndef NN_KERNELS_NORM_H
#define NN_KERNELS_NORM_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/gemm_internal.h"

typedef struct {
    int64_t N, C, S;
} nn_bn_shape;

/* mean = sum(x) / n and var_sum = sum((x - mean)^2) over n = N*S values. */
void nn_bn_channel_stats(const nn_bn_shape *s, const float *x, int64_t c, double *mean, double *var_sum);
/* y = (x - mean) * invstd * w + b, as y = x * alpha + beta with
   alpha = invstd * w and beta = b - mean * alpha. */
void nn_bn_channel_apply(const nn_bn_shape *s, const float *x, int64_t c, float mean, float invstd, float w,
                         float b, float *y);
/* sum_dy = sum(dy), dotp = sum((x - mean) * dy). */
void nn_bn_channel_grad_sums(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean,
                             double *sum_dy, double *dotp);
/* dx for batch statistics (batch_stats) or fixed ones:
   batch: dx = (dy - sum_dy/n - (x - mean) * dotp * invstd^2 / n) * invstd * w
   fixed: dx = dy * invstd * w */
void nn_bn_channel_dx(const nn_bn_shape *s, const float *x, const float *dy, int64_t c, float mean, float invstd,
                      float w, bool batch_stats, double sum_dy, double dotp, float *dx);

/* Slabs shorter than NN_BN_ROW_S (S = 1 for [N, C]): channels [c0, c1)
   at once, (c1 - c0) * S <= NN_BN_ROW_BLOCK, reading x row by row (the
   block's values of one n are contiguous) instead of a slab at a time,
   with the per-channel kernels' bits. Per-channel arrays are indexed by
   c - c0; w and b may be NULL (1 and 0). The same sums and formulas as
   the per-channel kernels. */
#define NN_BN_ROW_S 16
#define NN_BN_ROW_BLOCK 512
void nn_bn_rows_stats(const nn_bn_shape *s, const float *x, int64_t c0, int64_t c1, double *mean, double *var_sum);
void nn_bn_rows_apply(const nn_bn_shape *s, const float *x, int64_t c0, int64_t c1, const float *mean,
                      const float *invstd, const float *w, const float *b, float *y);
void nn_bn_rows_grad_sums(const nn_bn_shape *s, const float *x, const float *dy, int64_t c0, int64_t c1,
                          const float *mean, double *sum_dy, double *dotp);
void nn_bn_rows_dx(const nn_bn_shape *s, const float *x, const float *dy, int64_t c0, int64_t c1,
                   const float *mean, const float *invstd, const float *w, bool batch_stats, const double *sum_dy,
                   const double *dotp, float *dx);

/* Tests: use the variant for isa (the GEMM's names; AUTO: back to
   detection). Returns false (nothing changed) when the variant is not
   supported. Not thread-safe. */
bool nn_bn_force_isa(nn_gemm_isa isa);

#endif
