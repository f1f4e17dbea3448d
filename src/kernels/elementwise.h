/* Internal: elementwise kernels on raw float arrays (activations, fills,
   sums). No allocation. Outputs may be the very same array as an input
   (in place) but must not otherwise overlap one. */
#ifndef NN_ELEMENTWISE_H
#define NN_ELEMENTWISE_H

#include <stdint.h>

/* (ReLU's kernels, nn_relu_mask_kernel and the backward ones, are in kernels.h.) */
/* y = 1 / (1 + exp(-x)), never overflowing; NaN stays NaN. */
void nn_ew_sigmoid(const float *x, float *y, int64_t n);
/* dx = g (1 - y) y. */
void nn_ew_sigmoid_grad(const float *y, const float *g, float *dx, int64_t n);
/* y = tanh(x); NaN stays NaN. */
void nn_ew_tanh(const float *x, float *y, int64_t n);
/* dx = g (1 - y^2). */
void nn_ew_tanh_grad(const float *y, const float *g, float *dx, int64_t n);

/* f over [0, n), in contiguous chunks over the threads when n is large
   (elementwise: the result does not depend on the split). */
typedef void (*nn_ew_unary_fn)(const float *x, float *y, int64_t n);
typedef void (*nn_ew_binary_fn)(const float *a, const float *b, float *y, int64_t n);
void nn_ew_run_unary(nn_ew_unary_fn f, const float *x, float *y, int64_t n);
void nn_ew_run_binary(nn_ew_binary_fn f, const float *a, const float *b, float *y, int64_t n);

/* x[0:n] = v. */
void nn_ew_fill(float *x, int64_t n, float v);
/* dst[0:n] += src[0:n]. */
void nn_ew_add(float *dst, const float *src, int64_t n);
/* y[0:n] = a[0:n] + b[0:n] (a copy of a then nn_ew_add of b, in one pass). */
void nn_ew_add_pair(const float *a, const float *b, float *y, int64_t n);
/* sum of x[0:n] in a fixed order (eight interleaved partial sums). */
float nn_ew_sum(const float *x, int64_t n);

/* y[r, :] += b[0:n] for each row r < rows of y [rows, n] (a bias). */
void nn_ew_add_rows(float *y, const float *b, int64_t rows, int64_t n);
/* db[0:n] += the sum over rows of g[r, :], g [rows, n] (a bias gradient),
   in a fixed order that depends only on rows and n. */
void nn_ew_sum_rows(float *db, const float *g, int64_t rows, int64_t n);

#endif
