/* Internal: a single-threaded GEMM whose left operand is packed once and
   reused, for Conv2d, which multiplies the same weights by every image of
   a batch (nn_gemm would repack them for each image). Built from the
   packed GEMM's micro-kernel and B packer (gemm_internal.h). */
#ifndef NN_CONV_GEMM_H
#define NN_CONV_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "gemm_internal.h"

/* K steps per block: K split into equal blocks of at most ar->kc. */
int64_t nn_conv_gemm_kc(const nn_gemm_arch *ar, int64_t K);
/* Floats of a packed A: M rounded up to GEMM_MR, times K. */
int64_t nn_conv_gemm_a_floats(int64_t M, int64_t K);
/* Floats of the B panel scratch nn_conv_gemm needs. */
int64_t nn_conv_gemm_b_floats(const nn_gemm_arch *ar, int64_t K);

/* Packs op(A) [M, K] (A stored [M, K] with row pitch lda, or when trans
   [K, M]) into dst (nn_conv_gemm_a_floats) in the order nn_conv_gemm
   reads it: per K block, micro-panels of GEMM_MR rows, rows past M zero. */
void nn_conv_gemm_pack_a(const nn_gemm_arch *ar, bool trans, int64_t M, int64_t K,
                         const float *A, int64_t lda, float *dst);

/* C[M, N] = op(A) B + beta C (beta == 0: C is not read) with op(A) packed
   by nn_conv_gemm_pack_a under the same ar; B stored [K, N] (ldb).
   bpanel: nn_conv_gemm_b_floats scratch. Each element of C sees the same
   operations in the same order on every call. */
void nn_conv_gemm(const nn_gemm_arch *ar, int64_t M, int64_t N, int64_t K, const float *apack,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc, float *bpanel);

#endif
