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

/* The same product with op(B) packed once and used for many A (a
   recurrent layer's W_hh, one product per time step), on the calling
   thread only, no allocation. nn_gemm_prepack_b writes op(B) [K,N] in the
   layout the current GEMM variant reads (nn_gemm_packed_b_size floats);
   nn_gemm_prepacked computes C[M,N] = alpha * op(A) Bp + beta * C with
   that variant (the one current when Bp was packed), packing A into ws
   (nn_gemm_prepacked_ws_size floats). Each element of C goes through the
   same operations whatever M, and whichever rows a call gets, so a
   caller may split the rows over threads with bit-identical results. */
int64_t nn_gemm_packed_b_size(int64_t K, int64_t N);
void nn_gemm_prepack_b(bool trans_b, int64_t K, int64_t N, const float *B, int64_t ldb, float *Bp);
int64_t nn_gemm_prepacked_ws_size(int64_t M, int64_t K);
void nn_gemm_prepacked(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *Bp, float beta, float *C, int64_t ldc, float *ws);
/* The same with A = [A1 | A2] side by side, A1 [M,K1], A2 [M,K2] (not
   transposed), K = K1 + K2, alpha 1: a recurrent step's [x_t | h_prev]. */
void nn_gemm_prepacked_cat(int64_t M, int64_t N, int64_t K1, const float *A1, int64_t lda1, int64_t K2,
                           const float *A2, int64_t lda2, const float *Bp, float beta, float *C, int64_t ldc,
                           float *ws);

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
