/* The packed-weight GEMM Conv2d uses (kernels/conv_gemm.c) against
   nn_gemm_ref (double accumulation): every instruction-set variant this
   CPU runs, op(A) plain and transposed, beta 0 and 1, sizes around the
   register tile and across K blocks, padded leading dimensions, and the
   same bits on every call. */
#include <stdlib.h>

#include "testutil.h"
#include "kernels/conv_gemm.h"
#include "kernels/kernels.h"
#include "support/gemm_ref.h"

static uint32_t rng_state = 99u;
static float rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static void check(const nn_gemm_arch *ar, bool trans, int64_t M, int64_t N, int64_t K, float beta)
{
    int64_t lda = (trans ? M : K) + 3, ldb = N + 2, ldc = N;
    int64_t arows = trans ? K : M;
    float *A = malloc((size_t)(arows * lda) * sizeof(float));
    float *B = malloc((size_t)(K * ldb) * sizeof(float));
    float *C = malloc((size_t)(M * ldc + 1) * sizeof(float));
    float *want = malloc((size_t)(M * ldc) * sizeof(float));
    float *again = malloc((size_t)(M * ldc) * sizeof(float));
    float *ap = malloc((size_t)nn_conv_gemm_a_floats(M, K) * sizeof(float));
    float *bp = malloc((size_t)nn_conv_gemm_b_floats(ar, K) * sizeof(float));
    assert_true(A && B && C && want && again && ap && bp);
    for (int64_t i = 0; i < arows * lda; i++)
        A[i] = rnd();
    for (int64_t i = 0; i < K * ldb; i++)
        B[i] = rnd();
    for (int64_t i = 0; i < M * ldc; i++)
        C[i] = want[i] = again[i] = beta == 0.0f ? NAN : rnd(); /* beta 0 must not read C */
    C[M * ldc] = 7.0f;
    if (beta == 0.0f)
        for (int64_t i = 0; i < M * ldc; i++)
            want[i] = 0.0f;
    nn_gemm_ref(trans, false, M, N, K, 1.0f, A, lda, B, ldb, beta, want, ldc);
    nn_conv_gemm_pack_a(ar, trans, M, K, A, lda, ap);
    nn_conv_gemm(ar, M, N, K, ap, B, ldb, beta, C, ldc, bp);
    nn_conv_gemm(ar, M, N, K, ap, B, ldb, beta, again, ldc, bp);
    assert_close(C, want, M * ldc, 1e-5, 1e-5 * (double)K);
    assert_memory_equal(C, again, (size_t)(M * ldc) * sizeof(float));
    assert_true(C[M * ldc] == 7.0f); /* nothing written past C */
    free(A);
    free(B);
    free(C);
    free(want);
    free(again);
    free(ap);
    free(bp);
}

static void test_conv_gemm_matches_reference(void **state)
{
    (void)state;
    static const int64_t sizes[][3] = {
        {1, 1, 1}, {5, 7, 3}, {6, 16, 9}, {7, 17, 10}, {64, 196, 289}, {32, 784, 10},
        {13, 33, 300}, {288, 37, 64}, {9, 50, 513}, {12, 64, 257},
    };
    for (int isa = NN_GEMM_ISA_GENERIC; isa < NN_GEMM_ISA_COUNT; isa++) {
        if (!nn_gemm_force_isa((nn_gemm_isa)isa))
            continue;
        const nn_gemm_arch *ar = nn_gemm_current_arch();
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
            for (int trans = 0; trans <= 1; trans++)
                for (int b = 0; b <= 1; b++)
                    check(ar, trans, sizes[k][0], sizes[k][1], sizes[k][2], (float)b);
    }
    assert_true(nn_gemm_force_isa(NN_GEMM_ISA_AUTO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_gemm_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
