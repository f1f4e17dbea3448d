/* Internal: the packed GEMM's pieces (src/kernels/gemm*.c) and the hooks
   the tests use to force each instruction-set variant. */
#ifndef NN_GEMM_INTERNAL_H
#define NN_GEMM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Register tile: every micro-kernel computes GEMM_MR rows by nr columns. */
#define GEMM_MR 6

/* C[0:m, 0:n] = alpha * sum_k a[k][0:MR] (x) b[k][0:nr] + beta * C (beta == 0:
   C is not read). a: kc x MR packed, b: kc x nr packed, both zero padded;
   m <= MR, n <= nr. Whole and partial tiles go through the same vector
   arithmetic, so a value does not depend on where its tile lies. */
typedef void (*nn_gemm_ukernel)(int64_t kc, const float *a, const float *b, float *c,
                                int64_t ldc, float alpha, float beta, int m, int n);

/* Packs one micro-panel of op(B) (kc x nr, k-major, columns past n zero)
   from src = op(B)[p0, j0]. */
typedef void (*nn_gemm_pack_b)(const float *src, int64_t ld, bool trans, int64_t kc, int n,
                               float *dst);

/* Packs one micro-panel of op(A) (GEMM_MR x kc, stored k-major, rows past
   m zero) from src = op(A)[i0, p0]. */
typedef void (*nn_gemm_pack_a)(const float *src, int64_t ld, bool trans, int64_t kc, int m,
                               float *dst);

typedef enum {
    NN_GEMM_ISA_AUTO = 0, /* the best the CPU supports */
    NN_GEMM_ISA_GENERIC,  /* 128-bit vectors, baseline of the target (SSE2 on x86-64) */
    NN_GEMM_ISA_AVX2,     /* AVX2 + FMA */
    NN_GEMM_ISA_AVX512,   /* AVX-512F */
    NN_GEMM_ISA_COUNT
} nn_gemm_isa;

typedef struct {
    const char *name;
    nn_gemm_ukernel kernel;
    nn_gemm_pack_b pack_b;
    nn_gemm_pack_a pack_a;
    int nr;             /* register tile columns */
    int64_t kc, mc, nc; /* cache blocks: K per pass, rows of A packed, columns of B packed */
} nn_gemm_arch;

/* Whether this build has the variant and this CPU can run it. */
bool nn_gemm_isa_supported(nn_gemm_isa isa);
/* the widest variant this CPU runs (AVX-512, else AVX2 + FMA, else generic) */
nn_gemm_isa nn_gemm_best_isa(void);
/* The variant nn_gemm uses now, and which one that is (never AUTO). */
const nn_gemm_arch *nn_gemm_current_arch(void);
nn_gemm_isa nn_gemm_current_isa(void);
/* Tests: make nn_gemm use isa (AUTO: back to detection). Returns false
   (nothing changed) when the variant is not supported. Not thread-safe. */
bool nn_gemm_force_isa(nn_gemm_isa isa);

#endif
