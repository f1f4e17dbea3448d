/* Internal: the small-product path of nn_gemm (src/kernels/gemm_small.c). */
#ifndef NN_GEMM_SMALL_H
#define NN_GEMM_SMALL_H

#include <stdbool.h>
#include <stdint.h>

/* nn_gemm's contract for a small product (no threads, no allocation).
   Returns false, touching nothing, when K is too long for its stack
   buffer; the caller then takes another path. */
bool nn_gemm_small(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc);

#endif
