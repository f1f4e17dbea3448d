/* Test support: the reference GEMM, built into the tests that need it
   (test_gemm, test_conv_gemm), not into libnn.a. */
#ifndef NN_TEST_GEMM_REF_H
#define NN_TEST_GEMM_REF_H

#include <stdbool.h>
#include <stdint.h>

/* The plain triple loop with nn_gemm's contract (kernels/kernels.h),
   accumulating in double: the yardstick the tests hold every faster path
   against. */
void nn_gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc);

#endif
