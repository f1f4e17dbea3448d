/* The GEMM micro-kernel compiled once per instruction set (target
   attributes, so the portable build carries them all) and the run-time
   choice among them with __builtin_cpu_supports. */
#include <stddef.h>
#include <string.h>

#include "gemm_internal.h"
#include "simd.h"

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_X86 1
#include <immintrin.h>
#else
#define GEMM_X86 0
#endif

#define SPLAT4(x) {x, x, x, x}
#define SPLAT8(x) {x, x, x, x, x, x, x, x}
#define SPLAT16(x) {x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}

/* --- generic: 128-bit vectors; multiply then add (no FMA in the baseline) */
#define UK_NAME ukernel_generic
#define UK_PACK_B pack_b_generic
#define UK_PACK_A pack_a_generic
#define UK_EDGE ukernel_edge_generic
#define UK_ATTR static
#define UK_W 4
#define UK_V v4f
#define UK_SPLAT(x) ((v4f)SPLAT4(x))
#define UK_FMA(a, b, c) ((a) * (b) + (c))
#include "gemm_ukernel.inc"
#undef UK_NAME
#undef UK_PACK_B
#undef UK_PACK_A
#undef UK_EDGE
#undef UK_ATTR
#undef UK_W
#undef UK_V
#undef UK_SPLAT
#undef UK_FMA

#if GEMM_X86
/* dst[r * ldd + c] = src[c * lds + r] for an 8 x 8 block: the transposed
   packing of B (weight gradients read B as [N, K]). */
__attribute__((target("avx2"))) static inline void transpose8(const float *src, int64_t lds,
                                                               float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#define UK_TRANSPOSE8 transpose8

/* dst[k * 6 + r] = src[r * lds + k] for r < 6, k < 8: the packing of A
   stored [M, K]. An 8 x 8 transpose with two zero rows; each result row's
   last two lanes are covered by the next row's store, the eighth row is
   stored as 4 + 2. */
__attribute__((target("avx2"))) static inline void transpose6x8(const float *src, int64_t lds,
                                                                 float *dst)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 z = _mm256_setzero_ps();
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, z, 0x44), u5 = _mm256_shuffle_ps(t4, z, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, z, 0x44), u7 = _mm256_shuffle_ps(t5, z, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 6, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 12, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 18, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 30, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 36, _mm256_permute2f128_ps(u2, u6, 0x31));
    __m256 last = _mm256_permute2f128_ps(u3, u7, 0x31);
    _mm_storeu_ps(dst + 42, _mm256_castps256_ps128(last));
    _mm_storel_pi((__m64 *)(dst + 46), _mm256_extractf128_ps(last, 1));
}
#define UK_TRANSPOSE6X8 transpose6x8

/* --- AVX2 + FMA: 256-bit vectors, fused multiply-add */
#define UK_NAME ukernel_avx2
#define UK_PACK_B pack_b_avx2
#define UK_PACK_A pack_a_avx2
#define UK_EDGE ukernel_edge_avx2
#define UK_ATTR static __attribute__((target("avx2,fma")))
#define UK_W 8
#define UK_V v8f
#define UK_SPLAT(x) ((v8f)SPLAT8(x))
#define UK_FMA(a, b, c) ((v8f)_mm256_fmadd_ps((a), (b), (c)))
#include "gemm_ukernel.inc"
#undef UK_NAME
#undef UK_PACK_B
#undef UK_PACK_A
#undef UK_EDGE
#undef UK_ATTR
#undef UK_W
#undef UK_V
#undef UK_SPLAT
#undef UK_FMA

/* --- AVX-512F: 512-bit vectors */
#define UK_NAME ukernel_avx512
#define UK_PACK_B pack_b_avx512
#define UK_PACK_A pack_a_avx512
#define UK_EDGE ukernel_edge_avx512
#define UK_ATTR static __attribute__((target("avx512f")))
#define UK_W 16
#define UK_V v16f
#define UK_SPLAT(x) ((v16f)SPLAT16(x))
#define UK_FMA(a, b, c) ((v16f)_mm512_fmadd_ps((a), (b), (c)))
#include "gemm_ukernel.inc"
#endif

/* Cache blocks: kc * nr floats of B stay in L1 while a tile is computed,
   mc * kc of A in L2, kc * nc of B in L3. AVX2's kc of 384 (24 KiB of B
   in Zen 3's 32 KiB L1; K blocks of 342 at K = 1024) measured ~1% faster
   than 256 and keeps a 3x3 convolution's K of 289 in one block. */
static const nn_gemm_arch archs[NN_GEMM_ISA_COUNT] = {
    [NN_GEMM_ISA_GENERIC] = {"generic", ukernel_generic, pack_b_generic, pack_a_generic, 8, 256, 96, 2048},
#if GEMM_X86
    [NN_GEMM_ISA_AVX2] = {"avx2", ukernel_avx2, pack_b_avx2, pack_a_avx2, 16, 384, 144, 2048},
    [NN_GEMM_ISA_AVX512] = {"avx512", ukernel_avx512, pack_b_avx512, pack_a_avx512, 32, 256, 144, 2048},
#endif
};

bool nn_gemm_isa_supported(nn_gemm_isa isa)
{
    switch (isa) {
    case NN_GEMM_ISA_AUTO:
    case NN_GEMM_ISA_GENERIC:
        return true;
#if GEMM_X86
    case NN_GEMM_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NN_GEMM_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return false;
    }
}

nn_gemm_isa nn_gemm_best_isa(void)
{
    if (nn_gemm_isa_supported(NN_GEMM_ISA_AVX512))
        return NN_GEMM_ISA_AVX512;
    if (nn_gemm_isa_supported(NN_GEMM_ISA_AVX2))
        return NN_GEMM_ISA_AVX2;
    return NN_GEMM_ISA_GENERIC;
}

/* Written once from any thread; every writer stores the same value. */
static const nn_gemm_arch *_Atomic current;

const nn_gemm_arch *nn_gemm_current_arch(void)
{
    const nn_gemm_arch *a = current;
    if (!a) {
        a = &archs[nn_gemm_best_isa()];
        current = a;
    }
    return a;
}

nn_gemm_isa nn_gemm_current_isa(void) { return (nn_gemm_isa)(nn_gemm_current_arch() - archs); }

bool nn_gemm_force_isa(nn_gemm_isa isa)
{
    if (isa < 0 || isa >= NN_GEMM_ISA_COUNT || !nn_gemm_isa_supported(isa))
        return false;
    current = &archs[isa == NN_GEMM_ISA_AUTO ? nn_gemm_best_isa() : isa];
    return true;
}
