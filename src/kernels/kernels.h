/* Internal: raw float kernels. Arrays in, arrays out; no allocation, no
   knowledge of tensors or modules. Row-major throughout. */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* C[M,N] = alpha * op(A) op(B) + beta * C, op(A) [M,K], op(B) [K,N].
   A is stored [M,K] (lda >= K) or, when trans_a, [K,M] (lda >= M); B is
   stored [K,N] (ldb >= N) or, when trans_b, [N,K] (ldb >= K).
   beta == 0 overwrites C without reading it. */
void nn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc);

/* (The tests' reference, nn_gemm_ref, is in tests/support/gemm_ref.c.) */

/* ReLU backward: dx = g where y > 0, else 0. May run in place. */
void nn_relu_backward_kernel(const float *y, const float *g, float *dx, int64_t n);
/* ReLU with the signs kept as bits: nn_relu_mask_kernel writes
   y = max{0, x} (NaN stays NaN, -0 stays -0, as torch.relu) and sets bit
   i % 8 of mask[i / 8] to y[i] > 0 (mask: (n + 7) / 8 bytes, the unused
   bits of the last byte cleared); nn_relu_backward_mask_kernel reads them
   instead of y, an eighth of a float per element instead of a float.
   Both may run in place (y == x, dx == g). */
void nn_relu_mask_kernel(const float *x, float *y, uint8_t *mask, int64_t n);
void nn_relu_backward_mask_kernel(const uint8_t *mask, const float *g, float *dx, int64_t n);

#endif
