/* GEMM: loop orders chosen so the innermost loop runs over contiguous
   memory and vectorises. The speed work replaces this with packed kernels. */
#include <string.h>

#include "kernels.h"

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++)
                c[j] *= beta;
    }
}

void nn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc)
{
    scale_c(M, N, beta, C, ldc);
    if (alpha == 0.0f || K == 0)
        return;
    if (trans_b) {
        /* C[i,j] += alpha * dot(op(A)[i,:], B[j,:]) */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                const float *b = B + j * ldb;
                float acc = 0.0f;
                if (!trans_a) {
                    const float *a = A + i * lda;
                    for (int64_t k = 0; k < K; k++)
                        acc += a[k] * b[k];
                } else {
                    for (int64_t k = 0; k < K; k++)
                        acc += A[k * lda + i] * b[k];
                }
                C[i * ldc + j] += alpha * acc;
            }
        return;
    }
    /* C[i,:] += alpha * op(A)[i,k] * B[k,:] */
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
            const float *b = B + k * ldb;
            for (int64_t j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}
