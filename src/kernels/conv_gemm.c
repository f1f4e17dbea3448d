/* The loops of a packed GEMM (gemm.c) without the packing of A: per K
   block, each nr-column panel of B is packed once into a buffer that stays
   in L1 and swept by every GEMM_MR-row panel of the pre-packed A (in L2). */
#include "conv_gemm.h"

int64_t nn_conv_gemm_kc(const nn_gemm_arch *ar, int64_t K)
{
    int64_t blocks = (K + ar->kc - 1) / ar->kc;
    return blocks < 1 ? 1 : (K + blocks - 1) / blocks;
}

int64_t nn_conv_gemm_a_floats(int64_t M, int64_t K)
{
    return (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR * K;
}

int64_t nn_conv_gemm_b_floats(const nn_gemm_arch *ar, int64_t K)
{
    return nn_conv_gemm_kc(ar, K) * ar->nr;
}

/* Block [k0, k0 + kc) of op(A) starts at k0 * Mpad; in it, the panel of
   rows [ir, ir + MR) at ir * kc, element (r, k) at k * MR + r. */
void nn_conv_gemm_pack_a(const nn_gemm_arch *ar, bool trans, int64_t M, int64_t K,
                         const float *A, int64_t lda, float *dst)
{
    const int64_t kc_max = nn_conv_gemm_kc(ar, K), m_pad = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    for (int64_t k0 = 0; k0 < K; k0 += kc_max) {
        int64_t kc = K - k0 < kc_max ? K - k0 : kc_max;
        float *block = dst + k0 * m_pad;
        for (int64_t ir = 0; ir < m_pad; ir += GEMM_MR) {
            float *panel = block + ir * kc;
            for (int64_t k = 0; k < kc; k++)
                for (int r = 0; r < GEMM_MR; r++) {
                    int64_t i = ir + r;
                    panel[k * GEMM_MR + r] = i >= M ? 0.0f
                                             : trans ? A[(k0 + k) * lda + i]
                                                     : A[i * lda + k0 + k];
                }
        }
    }
}

void nn_conv_gemm(const nn_gemm_arch *ar, int64_t M, int64_t N, int64_t K, const float *apack,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc, float *bpanel)
{
    const int64_t kc_max = nn_conv_gemm_kc(ar, K), m_pad = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    const int nr = ar->nr;
    for (int64_t k0 = 0; k0 < K; k0 += kc_max) {
        int64_t kc = K - k0 < kc_max ? K - k0 : kc_max;
        float b = k0 == 0 ? beta : 1.0f; /* later K blocks add to C */
        const float *block = apack + k0 * m_pad;
        for (int64_t jr = 0; jr < N; jr += nr) {
            int n = N - jr < nr ? (int)(N - jr) : nr;
            ar->pack_b(B + k0 * ldb + jr, ldb, false, kc, n, bpanel);
            for (int64_t ir = 0; ir < M; ir += GEMM_MR) {
                int m = M - ir < GEMM_MR ? (int)(M - ir) : GEMM_MR;
                ar->kernel(kc, block + ir * kc, bpanel, C + ir * ldc + jr, ldc, 1.0f, b, m, n);
            }
        }
    }
}
