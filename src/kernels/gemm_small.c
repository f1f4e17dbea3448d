/* Small GEMM (the demos' shapes: 64x5x2, 5x2x64, ...): no threads, no
   heap. C goes in chunks of at most eight columns:
     C[i, j0:j0+w] = alpha * sum_k op(A)[i,k] * op(B)[k, j0:j0+w] + beta * C[i, j0:j0+w]
   one 8-float vector per row (AVX2 + FMA, when nn_gemm's variant is AVX2
   or AVX-512) or two 4-float vectors (generic), each k a broadcast of
   op(A)[i,k] times op(B)[k, j0:j0+w]. With many rows that chunk of op(B)
   is first copied k-major into a zero-padded stack buffer and rows go
   several at a time; with few rows it is read in place when its rows are
   contiguous. When C has few columns but op(A) is stored transposed (a
   weight gradient g^T x), the same loops run on C^T = op(B)^T op(A)^T,
   which fills the vectors better. Each element is one sum over k in
   order; the result depends on the variant, never on the thread count. */
#include <string.h>

#include "gemm_internal.h"
#include "gemm_small.h"
#include "simd.h"

#define SMALL_CHUNK 8   /* columns per pass */
#define SMALL_MAX_K 256 /* the buffer holds SMALL_MAX_K x SMALL_CHUNK floats */
#define INLINE static inline __attribute__((always_inline))

/* x in every lane. Scalars meet vectors only through this: where floats are
   evaluated in double (FLT_EVAL_METHOD 1: s390x), a scalar float operand of
   a vector operation would be a double, which no vector of floats takes. */
INLINE v4f splat(float x)
{
    return (v4f){x, x, x, x};
}

/* out[i*rs + j*cs] = alpha * sum_k P[i,k] Q[k,j] + beta * out[...], for
   i < rows, j < cols; P[i,k] = p[i*pi + k*pk], Q[k,j] = q[k*qk + j*qj]. */
typedef struct {
    int64_t rows, cols, K;
    const float *p, *q;
    int64_t pi, pk, qk, qj;
    float *out;
    int64_t rs, cs;
    float alpha, beta;
} small_job;

/* n contiguous floats (1 <= n <= 4) as a vector, lanes past n zero */
INLINE v4f load_lanes(const float *src, int n)
{
    if (n >= 4)
        return *(const v4f *)src;
    v4f x = {src[0], 0.0f, 0.0f, 0.0f};
    if (n > 1)
        x[1] = src[1];
    if (n > 2)
        x[2] = src[2];
    return x;
}

/* Q[0:K, j0:j0+n] into buf[k * 4V + j], lanes n..4V zero (n <= 4V). */
INLINE void pack_chunk(const small_job *s, int64_t j0, int n, int V, float *buf)
{
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    const int64_t qj = s->qj;
    for (int64_t k = 0; k < s->K; k++) {
        const float *src = s->q + k * s->qk + j0 * qj;
        v4f *d = (v4f *)(buf + k * 4 * V);
        if (qj == 1) {
            d[0] = load_lanes(src, n < 4 ? n : 4);
            if (V == 2)
                d[1] = n > 4 ? load_lanes(src + 4, n - 4) : zero;
            continue;
        }
        d[0] = zero;
        if (V == 2)
            d[1] = zero;
        for (int j = 0; j < n; j++)
            buf[k * 4 * V + j] = src[j * qj];
    }
}

/* c[j*cs] = alpha * x[j] + beta * c[j*cs] for j < n <= 4 (beta 0: c is
   not read). */
INLINE void store4(float *c, int64_t cs, int n, v4f x, float alpha, float beta)
{
    x *= splat(alpha);
    if (n == 4 && cs == 1) {
        if (beta != 0.0f)
            x += splat(beta) * *(v4f *)c;
        *(v4f *)c = x;
        return;
    }
    if (beta != 0.0f) {
        x[0] += beta * c[0];
        if (n > 1)
            x[1] += beta * c[cs];
        if (n > 2)
            x[2] += beta * c[2 * cs];
        if (n > 3)
            x[3] += beta * c[3 * cs];
    }
    c[0] = x[0];
    if (n > 1)
        c[cs] = x[1];
    if (n > 2)
        c[2 * cs] = x[2];
    if (n > 3)
        c[3 * cs] = x[3];
}

/* unit: the output's columns are contiguous (cs == 1), known at compile time */
INLINE void store_row(const small_job *s, bool unit, float *c, int n, int V, v4f lo, v4f hi)
{
    const int64_t cs = unit ? 1 : s->cs;
    store4(c, cs, n < 4 ? n : 4, lo, s->alpha, s->beta);
    if (V == 2)
        store4(c + 4 * cs, cs, n - 4, hi, s->alpha, s->beta);
}

/* Every row, four at a time, against the packed chunk (width 4V, n real
   columns, at column j0). */
INLINE void rows_packed(const small_job *s, bool unit, int V, const float *buf, int64_t j0, int n)
{
    const int64_t K = s->K, pk = s->pk, pi = s->pi, rs = s->rs;
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    float *out = s->out + j0 * s->cs;
    int64_t i = 0;
    for (; i + 4 <= s->rows; i += 4) {
        const float *a0 = s->p + i * pi, *a1 = a0 + pi, *a2 = a1 + pi, *a3 = a2 + pi;
        v4f c00 = zero, c10 = zero, c20 = zero, c30 = zero;
        v4f c01 = zero, c11 = zero, c21 = zero, c31 = zero;
        const v4f *b = (const v4f *)buf;
        for (int64_t k = 0; k < K; k++, b += V) {
            const v4f x0 = splat(a0[k * pk]), x1 = splat(a1[k * pk]), x2 = splat(a2[k * pk]),
                      x3 = splat(a3[k * pk]);
            c00 += x0 * b[0];
            c10 += x1 * b[0];
            c20 += x2 * b[0];
            c30 += x3 * b[0];
            if (V == 2) {
                c01 += x0 * b[1];
                c11 += x1 * b[1];
                c21 += x2 * b[1];
                c31 += x3 * b[1];
            }
        }
        float *c = out + i * rs;
        store_row(s, unit, c, n, V, c00, c01);
        store_row(s, unit, c + rs, n, V, c10, c11);
        store_row(s, unit, c + 2 * rs, n, V, c20, c21);
        store_row(s, unit, c + 3 * rs, n, V, c30, c31);
    }
    for (; i < s->rows; i++) {
        const float *a = s->p + i * pi;
        v4f c0 = zero, c1 = zero;
        const v4f *b = (const v4f *)buf;
        for (int64_t k = 0; k < K; k++, b += V) {
            const v4f x = splat(a[k * pk]);
            c0 += x * b[0];
            if (V == 2)
                c1 += x * b[1];
        }
        store_row(s, unit, out + i * rs, n, V, c0, c1);
    }
}

/* Every row against Q read in place (contiguous rows: qj == 1). */
INLINE void rows_direct(const small_job *s, bool unit, int V, int64_t j0, int n)
{
    const int64_t K = s->K, pk = s->pk, qk = s->qk;
    const int n0 = n < 4 ? n : 4, n1 = n - 4;
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t i = 0; i < s->rows; i++) {
        const float *a = s->p + i * s->pi, *q = s->q + j0;
        v4f c0 = zero, c1 = zero;
        for (int64_t k = 0; k < K; k++, q += qk) {
            const v4f x = splat(a[k * pk]);
            c0 += x * load_lanes(q, n0);
            if (V == 2)
                c1 += x * load_lanes(q + 4, n1);
        }
        store_row(s, unit, s->out + i * s->rs + j0 * s->cs, n, V, c0, c1);
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* --- AVX2 + FMA (when nn_gemm's variant is AVX2 or AVX-512): eight
   columns in one 256-bit vector, fused multiply-adds. */
#include <immintrin.h>
#define SMALL_AVX2 1
#define AVX2 __attribute__((target("avx2,fma")))

/* store4 for 8 lanes. mode 1: alpha 1, beta 0; mode 2: alpha 1, beta 1;
   0: any (the common cases known at compile time) */
AVX2 INLINE void store8(const small_job *s, bool unit, int mode, float *c, int n, __m256 x)
{
    const int64_t cs = unit ? 1 : s->cs;
    const float alpha = mode ? 1.0f : s->alpha, beta = mode == 0 ? s->beta : mode == 2 ? 1.0f : 0.0f;
    if (unit && n == 8) {
        if (mode == 0)
            x = _mm256_mul_ps(x, _mm256_set1_ps(alpha));
        if (beta != 0.0f)
            x = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), x);
        _mm256_storeu_ps(c, x);
        return;
    }
    v4f lo = (v4f)_mm256_castps256_ps128(x), hi = (v4f)_mm256_extractf128_ps(x, 1);
    store4(c, cs, n < 4 ? n : 4, lo, alpha, beta);
    if (n > 4)
        store4(c + 4 * cs, cs, n - 4, hi, alpha, beta);
}

/* Every row, eight (then four, then one) at a time, against the packed
   chunk (8 wide). */
#define FMA_ROW(r) c##r = _mm256_fmadd_ps(_mm256_set1_ps(a##r[k * pk]), bk, c##r)
AVX2 INLINE void rows_avx2(const small_job *s, bool unit, int mode, bool pk1, const float *buf,
                           int64_t j0, int n)
{
    /* pk1: op(A) rows contiguous, known at compile time, so that the rows
       share one index instead of each stepping its own pointer */
    const int64_t K = s->K, pk = pk1 ? 1 : s->pk, pi = s->pi, rs = s->rs;
    float *out = s->out + j0 * s->cs;
    int64_t i = 0;
    for (; i + 8 <= s->rows; i += 8) {
        const float *a0 = s->p + i * pi, *a1 = a0 + pi, *a2 = a1 + pi, *a3 = a2 + pi;
        const float *a4 = a3 + pi, *a5 = a4 + pi, *a6 = a5 + pi, *a7 = a6 + pi;
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
               c7 = c0;
        const float *b = buf;
        for (int64_t k = 0; k < K; k++, b += 8) {
            const __m256 bk = _mm256_load_ps(b);
            FMA_ROW(0); FMA_ROW(1); FMA_ROW(2); FMA_ROW(3);
            FMA_ROW(4); FMA_ROW(5); FMA_ROW(6); FMA_ROW(7);
        }
        float *c = out + i * rs;
        store8(s, unit, mode, c, n, c0);
        store8(s, unit, mode, c + rs, n, c1);
        store8(s, unit, mode, c + 2 * rs, n, c2);
        store8(s, unit, mode, c + 3 * rs, n, c3);
        store8(s, unit, mode, c + 4 * rs, n, c4);
        store8(s, unit, mode, c + 5 * rs, n, c5);
        store8(s, unit, mode, c + 6 * rs, n, c6);
        store8(s, unit, mode, c + 7 * rs, n, c7);
    }
    for (; i + 4 <= s->rows; i += 4) {
        const float *a0 = s->p + i * pi, *a1 = a0 + pi, *a2 = a1 + pi, *a3 = a2 + pi;
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
        const float *b = buf;
        for (int64_t k = 0; k < K; k++, b += 8) {
            const __m256 bk = _mm256_load_ps(b);
            FMA_ROW(0); FMA_ROW(1); FMA_ROW(2); FMA_ROW(3);
        }
        float *c = out + i * rs;
        store8(s, unit, mode, c, n, c0);
        store8(s, unit, mode, c + rs, n, c1);
        store8(s, unit, mode, c + 2 * rs, n, c2);
        store8(s, unit, mode, c + 3 * rs, n, c3);
    }
    for (; i < s->rows; i++) {
        const float *a0 = s->p + i * pi;
        __m256 c0 = _mm256_setzero_ps();
        const float *b = buf;
        for (int64_t k = 0; k < K; k++, b += 8) {
            const __m256 bk = _mm256_load_ps(b);
            FMA_ROW(0);
        }
        store8(s, unit, mode, out + i * rs, n, c0);
    }
}
#undef FMA_ROW

AVX2 INLINE void rows_avx2_modes(const small_job *s, int mode, bool pk1, const float *buf,
                                 int64_t j0, int n)
{
    if (s->cs != 1)
        rows_avx2(s, false, 0, pk1, buf, j0, n);
    else if (mode == 1)
        rows_avx2(s, true, 1, pk1, buf, j0, n);
    else if (mode == 2)
        rows_avx2(s, true, 2, pk1, buf, j0, n);
    else
        rows_avx2(s, true, 0, pk1, buf, j0, n);
}

/* Few rows (packing would not pay), Q read in place: its rows contiguous
   and at least four wide; tail (0..4) lanes past the first four, known at
   compile time. */
AVX2 INLINE void rows_direct_avx2(const small_job *s, int tail, int64_t j0)
{
    const int64_t K = s->K, pk = s->pk, qk = s->qk;
    const int n = 4 + tail;
    for (int64_t i = 0; i < s->rows; i++) {
        const float *a = s->p + i * s->pi, *q = s->q + j0;
        __m256 c0 = _mm256_setzero_ps();
        for (int64_t k = 0; k < K; k++, q += qk) {
            __m256 b;
            if (tail == 4)
                b = _mm256_loadu_ps(q);
            else if (tail == 0) /* upper lanes unused */
                b = _mm256_insertf128_ps(_mm256_setzero_ps(), _mm_loadu_ps(q), 0);
            else
                b = _mm256_set_m128((__m128)load_lanes(q + 4, tail), _mm_loadu_ps(q));
            c0 = _mm256_fmadd_ps(_mm256_set1_ps(a[k * pk]), b, c0);
        }
        float *c = s->out + i * s->rs + j0 * s->cs;
        if (s->cs == 1)
            store8(s, true, 0, c, n, c0);
        else
            store8(s, false, 0, c, n, c0);
    }
}

AVX2 static void run_avx2(const small_job *s)
{
    float buf[SMALL_MAX_K * SMALL_CHUNK] __attribute__((aligned(32)));
    const int mode = s->alpha != 1.0f ? 0 : s->beta == 0.0f ? 1 : s->beta == 1.0f ? 2 : 0;
    for (int64_t j0 = 0; j0 < s->cols; j0 += SMALL_CHUNK) {
        int n = s->cols - j0 < SMALL_CHUNK ? (int)(s->cols - j0) : SMALL_CHUNK;
        if (s->rows < 4 && s->qj == 1 && n >= 4) {
            switch (n - 4) {
            case 0: rows_direct_avx2(s, 0, j0); break;
            case 1: rows_direct_avx2(s, 1, j0); break;
            case 2: rows_direct_avx2(s, 2, j0); break;
            case 3: rows_direct_avx2(s, 3, j0); break;
            default: rows_direct_avx2(s, 4, j0); break;
            }
            continue;
        }
        pack_chunk(s, j0, n, 2, buf);
        if (s->pk == 1)
            rows_avx2_modes(s, mode, true, buf, j0, n);
        else
            rows_avx2_modes(s, mode, false, buf, j0, n);
    }
}

/* Whether nn_gemm's variant is a wide one (AVX2 or AVX-512) and this CPU
   runs AVX2 + FMA; remembered for the last variant seen. */
static bool wide_variant(const nn_gemm_arch *arch)
{
    static const nn_gemm_arch *_Atomic seen;
    static _Atomic bool seen_wide;
    if (arch == seen) /* a stale pair only costs a recheck */
        return seen_wide;
    bool wide = strcmp(arch->name, "generic") != 0 && nn_gemm_isa_supported(NN_GEMM_ISA_AVX2);
    seen = NULL;
    seen_wide = wide;
    seen = arch;
    return wide;
}
#else
#define SMALL_AVX2 0
#endif

INLINE void run_chunk(const small_job *s, bool unit, bool direct, float *buf, int64_t j0, int n)
{
    if (direct && n > 4)
        rows_direct(s, unit, 2, j0, n);
    else if (direct)
        rows_direct(s, unit, 1, j0, n);
    else if (n > 4) {
        pack_chunk(s, j0, n, 2, buf);
        rows_packed(s, unit, 2, buf, j0, n);
    } else {
        pack_chunk(s, j0, n, 1, buf);
        rows_packed(s, unit, 1, buf, j0, n);
    }
}

static void run(const small_job *s)
{
    float buf[SMALL_MAX_K * SMALL_CHUNK] __attribute__((aligned(16)));
    const bool direct = s->qj == 1 && s->rows < 8; /* packing would not pay */
    for (int64_t j0 = 0; j0 < s->cols; j0 += SMALL_CHUNK) {
        int n = s->cols - j0 < SMALL_CHUNK ? (int)(s->cols - j0) : SMALL_CHUNK;
        if (s->cs == 1)
            run_chunk(s, true, direct, buf, j0, n);
        else
            run_chunk(s, false, direct, buf, j0, n);
    }
}

/* Share of vector lanes n columns use. */
static double lanes_used(int64_t n)
{
    return (double)n / (double)(n > SMALL_CHUNK ? SMALL_CHUNK * ((n + 7) / 8) : 4 * ((n + 3) / 4));
}

bool nn_gemm_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc)
{
    if (K > SMALL_MAX_K)
        return false;
    /* op(A)[i,k] = A[i*ai + k*ak], op(B)[k,j] = B[k*bk + j*bj] */
    const int64_t ai = ta ? 1 : lda, ak = ta ? lda : 1;
    const int64_t bk = tb ? 1 : ldb, bj = tb ? ldb : 1;
    small_job s;
    if (ta && N <= 4 && lanes_used(M) > lanes_used(N)) /* C^T: op(A)^T has contiguous rows */
        s = (small_job){N, M, K, B, A, bj, bk, ak, ai, C, 1, ldc, alpha, beta};
    else
        s = (small_job){M, N, K, A, B, ai, ak, bk, bj, C, ldc, 1, alpha, beta};
#if SMALL_AVX2
    /* the variant nn_gemm runs: the tests force each one */
    if (wide_variant(nn_gemm_current_arch())) {
        run_avx2(&s);
        return true;
    }
#endif
    run(&s);
    return true;
}
