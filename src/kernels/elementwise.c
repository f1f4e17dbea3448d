/* Elementwise kernels written so that GCC -O2 and Clang vectorise them:
   every loop runs over blocks of BLOCK elements that are first loaded into
   local arrays (so an in-place call is safe and the compiler needs no
   overlap check), with a fixed-length inner loop (GCC's -O2 cost model
   leaves loops of unknown length scalar), and no calls or branches inside
   (exp is our own polynomial, choices are selects). */
#include <stdint.h>
#include <string.h>

#include "elementwise.h"
#include "kernels.h"
#include "simd.h"
#include "base/parallel_impl.h"

#define BLOCK 8

/* y[i] = f(x[i]) */
#define MAP1(f, x, y, n)                                                    \
    do {                                                                    \
        int64_t i_ = 0;                                                     \
        for (; i_ + BLOCK <= (n); i_ += BLOCK) {                            \
            float a_[BLOCK];                                                \
            for (int k_ = 0; k_ < BLOCK; k_++)                              \
                a_[k_] = (x)[i_ + k_];                                      \
            for (int k_ = 0; k_ < BLOCK; k_++)                              \
                (y)[i_ + k_] = f(a_[k_]);                                   \
        }                                                                   \
        for (; i_ < (n); i_++)                                              \
            (y)[i_] = f((x)[i_]);                                           \
    } while (0)

/* z[i] = f(x[i], y[i]) */
#define MAP2(f, x, y, z, n)                                                 \
    do {                                                                    \
        int64_t i_ = 0;                                                     \
        for (; i_ + BLOCK <= (n); i_ += BLOCK) {                            \
            float a_[BLOCK], b_[BLOCK];                                     \
            for (int k_ = 0; k_ < BLOCK; k_++) {                            \
                a_[k_] = (x)[i_ + k_];                                      \
                b_[k_] = (y)[i_ + k_];                                      \
            }                                                               \
            for (int k_ = 0; k_ < BLOCK; k_++)                              \
                (z)[i_ + k_] = f(a_[k_], b_[k_]);                           \
        }                                                                   \
        for (; i_ < (n); i_++)                                              \
            (z)[i_] = f((x)[i_], (y)[i_]);                                  \
    } while (0)

/* Sigmoid and tanh need exp, which the compiler would call from libm one
   element at a time (and it sinks the selects below into branches it then
   cannot vectorise): they use explicit 4-float vectors (GCC/Clang vector
   extensions, simd.h: SSE2 on x86-64, scalar code elsewhere). */
static inline v4f abs4(v4f x) { return (v4f)((v4i)x & (v4i){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}); }

/* e^x for x <= 0, down to the subnormal range (0 below -104); NaN stays
   NaN. x = n ln2 + r with |r| <= ln2/2, so e^x = 2^n e^r: e^r from its
   Taylor polynomial to r^6 (relative error under 2e-7), 2^n applied as two
   normal powers of two so that results below 2^-126 round as subnormals. */
static inline v4f exp_nonpositive(v4f x)
{
    x = select4(x < splat4(-104.0f), splat4(-104.0f), x);
    /* adding 1.5 * 2^23 rounds x log2(e) to the integer n, held in t's low bits */
    v4f t = x * splat4(1.44269504f) + splat4(12582912.0f);
    v4f n = t - splat4(12582912.0f);
    v4f r = (x - n * splat4(0.693359375f)) + n * splat4(2.12194440e-4f); /* ln 2 = 0.693359375 - 2.12194440e-4 */
    v4f p = splat4(1.0f / 720);
    p = p * r + splat4(1.0f / 120);
    p = p * r + splat4(1.0f / 24);
    p = p * r + splat4(1.0f / 6);
    p = p * r + splat4(0.5f);
    p = p * r + splat4(1.0f);
    p = p * r + splat4(1.0f);
    v4i k = (v4i)t - (v4i){0x4B400000, 0x4B400000, 0x4B400000, 0x4B400000}; /* n, in [-150, 0] */
    v4i half = k >> 1, bias = {127, 127, 127, 127};
    v4f s1 = (v4f)((half + bias) << 23), s2 = (v4f)((k - half + bias) << 23);
    return p * s1 * s2;
}

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: only e^-|x| is formed */
static inline v4f sigmoid4(v4f x)
{
    v4f e = exp_nonpositive(-abs4(x));
    return select4(x >= splat4(0.0f), splat4(1.0f), e) / (splat4(1.0f) + e);
}

/* Small |x|: the odd Taylor series to x^13 (relative error < 4e-7 below
   0.55); else sign(x) (1 - e^-2|x|) / (1 + e^-2|x|), free of cancellation there. */
static inline v4f tanh4(v4f x)
{
    v4f a = abs4(x), s = x * x;
    v4f p = splat4(21844.0f / 6081075);
    p = p * s + splat4(-1382.0f / 155925);
    p = p * s + splat4(62.0f / 2835);
    p = p * s + splat4(-17.0f / 315);
    p = p * s + splat4(2.0f / 15);
    p = p * s + splat4(-1.0f / 3);
    p = (p * s + splat4(1.0f)) * x;
    v4f e = exp_nonpositive(splat4(-2.0f) * a);
    v4f q = (splat4(1.0f) - e) / (splat4(1.0f) + e);
    q = (v4f)((v4i)q | ((v4i)x & (v4i){INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN})); /* sign of x */
    return select4(a < splat4(0.55f), p, q);
}

/* y[i] = f(x[i]), the tail through a zero-padded block so that every
   element sees the same arithmetic */
#define MAP_V4(f, x, y, n)                                                  \
    do {                                                                    \
        int64_t i_ = 0;                                                     \
        for (; i_ + 4 <= (n); i_ += 4)                                      \
            *(v4f *)((y) + i_) = f(*(const v4f *)((x) + i_));               \
        if (i_ < (n)) {                                                     \
            float t_[4] = {0.0f, 0.0f, 0.0f, 0.0f};                         \
            memcpy(t_, (x) + i_, (size_t)((n) - i_) * sizeof(float));       \
            *(v4f *)t_ = f(*(const v4f *)t_);                               \
            memcpy((y) + i_, t_, (size_t)((n) - i_) * sizeof(float));       \
        }                                                                   \
    } while (0)

static inline float sigmoid_grad1(float y, float g) { return g * (1.0f - y) * y; }

static inline float tanh_grad1(float y, float g) { return g * (1.0f - y * y); }

/* ReLU with explicit vectors (memory bound: 128 bits is enough) */
void nn_relu_backward_kernel(const float *y, const float *g, float *dx, int64_t n)
{
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4f ya = *(const v4f *)(y + i), yb = *(const v4f *)(y + i + 4);
        v4f ga = *(const v4f *)(g + i), gb = *(const v4f *)(g + i + 4);
        /* keep the gradient where y > 0 */
        *(v4f *)(dx + i) = (v4f)((v4i)ga & (v4i)(ya > zero));
        *(v4f *)(dx + i + 4) = (v4f)((v4i)gb & (v4i)(yb > zero));
    }
    for (; i < n; i++)
        dx[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

/* The eight lanes of two comparison results (all ones or zero) as the
   bits of one byte, lane k of lo at bit k, of hi at bit 4 + k. */
static inline uint8_t sign_bits(v4i lo, v4i hi)
{
#if defined(__SSE2__) /* one instruction per half instead of a horizontal OR */
    return (uint8_t)(_mm_movemask_ps((__m128)lo) | _mm_movemask_ps((__m128)hi) << 4);
#else
    const v4i bits_lo = {1, 2, 4, 8}, bits_hi = {16, 32, 64, 128};
    v4i m = (lo & bits_lo) | (hi & bits_hi);
    return (uint8_t)(m[0] | m[1] | m[2] | m[3]);
#endif
}

void nn_relu_mask_kernel(const float *x, float *y, uint8_t *mask, int64_t n)
{
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4f a = *(const v4f *)(x + i), b = *(const v4f *)(x + i + 4);
        *(v4f *)(y + i) = (v4f)((v4i)a & ~(v4i)(a < zero));
        *(v4f *)(y + i + 4) = (v4f)((v4i)b & ~(v4i)(b < zero));
        /* y > 0 exactly where x > 0 (NaN neither) */
        mask[i / 8] = sign_bits(a > zero, b > zero);
    }
    if (i < n) {
        uint8_t last = 0;
        for (int k = 0; i + k < n; k++) {
            float v = x[i + k];
            y[i + k] = v < 0.0f ? 0.0f : v;
            last |= (uint8_t)((v > 0.0f) << k);
        }
        mask[i / 8] = last;
    }
}

void nn_relu_backward_mask_kernel(const uint8_t *mask, const float *g, float *dx, int64_t n)
{
    const v4i bits_lo = {1, 2, 4, 8}, bits_hi = {16, 32, 64, 128}, none = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int32_t b = mask[i / 8];
        v4i m = {b, b, b, b};
        v4f ga = *(const v4f *)(g + i), gb = *(const v4f *)(g + i + 4);
        /* keep the gradient where the bit is set */
        *(v4f *)(dx + i) = (v4f)((v4i)ga & ((m & bits_lo) != none));
        *(v4f *)(dx + i + 4) = (v4f)((v4i)gb & ((m & bits_hi) != none));
    }
    for (int k = 0; i < n; i++, k++)
        dx[i] = mask[i / 8] >> k & 1 ? g[i] : 0.0f;
}

void nn_ew_sigmoid(const float *x, float *y, int64_t n) { MAP_V4(sigmoid4, x, y, n); }
void nn_ew_sigmoid_grad(const float *y, const float *g, float *dx, int64_t n) { MAP2(sigmoid_grad1, y, g, dx, n); }
void nn_ew_tanh(const float *x, float *y, int64_t n) { MAP_V4(tanh4, x, y, n); }
void nn_ew_tanh_grad(const float *y, const float *g, float *dx, int64_t n) { MAP2(tanh_grad1, y, g, dx, n); }

void nn_ew_fill(float *x, int64_t n, float v)
{
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (int k = 0; k < BLOCK; k++)
            x[i + k] = v;
    for (; i < n; i++)
        x[i] = v;
}

static inline float add1(float a, float b) { return a + b; }
void nn_ew_add(float *dst, const float *src, int64_t n) { MAP2(add1, dst, src, dst, n); }
void nn_ew_add_pair(const float *a, const float *b, float *y, int64_t n) { MAP2(add1, a, b, y, n); }

float nn_ew_sum(const float *x, int64_t n)
{
    float acc[BLOCK] = {0};
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (int k = 0; k < BLOCK; k++)
            acc[k] += x[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* --- rows: a [rows, n] array against one row of n. Narrow rows (n <= 8,
   a small Linear's features) go four at a time: 4n floats, n whole
   vectors; n is made a compile-time constant so that the vectors stay in
   registers. Wider rows are nn_ew_add row by row. */
#define NARROW 8
#define INLINE static inline __attribute__((always_inline))

/* y[r, :] += b for each of rows rows of width n */
INLINE void add_rows_n(float *y, const float *b, int64_t rows, int n)
{
    float pattern[4 * NARROW]; /* b four times */
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < n; j++)
            pattern[r * n + j] = b[j];
    v4f p[NARROW];
    for (int v = 0; v < n; v++)
        p[v] = *(const v4f *)(pattern + 4 * v);
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4, y += 4 * n)
#pragma GCC unroll 8
        for (int v = 0; v < n; v++)
            *(v4f *)(y + 4 * v) += p[v];
    for (; r < rows; r++, y += n)
        for (int j = 0; j < n; j++)
            y[j] += b[j];
}

/* db[j] += sum over rows of g[r, j] (rows r = 0, 1, 2, 3 mod 4 summed
   apart, then added in that order) */
INLINE void sum_rows_n(float *db, const float *g, int64_t rows, int n)
{
    v4f acc[NARROW];
    for (int v = 0; v < n; v++)
        acc[v] = (v4f){0.0f, 0.0f, 0.0f, 0.0f};
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4, g += 4 * n)
#pragma GCC unroll 8
        for (int v = 0; v < n; v++)
            acc[v] += *(const v4f *)(g + 4 * v);
    float part[4 * NARROW];
    for (int v = 0; v < n; v++)
        *(v4f *)(part + 4 * v) = acc[v];
    for (int j = 0; j < n; j++) {
        float sum = ((part[j] + part[n + j]) + part[2 * n + j]) + part[3 * n + j];
        for (int64_t t = r; t < rows; t++)
            sum += g[(t - r) * n + j];
        db[j] += sum;
    }
}

#define NARROW_CASES(f, ...)                \
    switch (n) {                            \
    case 1: f(__VA_ARGS__, 1); return;      \
    case 2: f(__VA_ARGS__, 2); return;      \
    case 3: f(__VA_ARGS__, 3); return;      \
    case 4: f(__VA_ARGS__, 4); return;      \
    case 5: f(__VA_ARGS__, 5); return;      \
    case 6: f(__VA_ARGS__, 6); return;      \
    case 7: f(__VA_ARGS__, 7); return;      \
    case 8: f(__VA_ARGS__, 8); return;      \
    default: break;                         \
    }

void nn_ew_add_rows(float *y, const float *b, int64_t rows, int64_t n)
{
    NARROW_CASES(add_rows_n, y, b, rows)
    for (int64_t r = 0; r < rows; r++)
        nn_ew_add(y + r * n, b, n);
}

void nn_ew_sum_rows(float *db, const float *g, int64_t rows, int64_t n)
{
    NARROW_CASES(sum_rows_n, db, g, rows)
    for (int64_t r = 0; r < rows; r++)
        nn_ew_add(db, g + r * n, n);
}

/* --- threads: chunks of EW_GRAIN elements (a multiple of every block
   width), only for arrays worth waking the pool for */
#define EW_GRAIN ((int64_t)1 << 14)
#define EW_PARALLEL_MIN ((int64_t)1 << 17)

typedef struct {
    nn_ew_unary_fn f1;
    nn_ew_binary_fn f2;
    const float *a, *b;
    float *y;
} ew_job;

static void ew_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    const ew_job *j = ctx;
    (void)tid;
    if (j->f1)
        j->f1(j->a + begin, j->y + begin, end - begin);
    else
        j->f2(j->a + begin, j->b + begin, j->y + begin, end - begin);
}

static void ew_run(const ew_job *j, int64_t n)
{
    int parts = n < EW_PARALLEL_MIN ? 1 : nn_get_num_threads();
    if (parts > 1)
        nn_parallel_for(n, EW_GRAIN, parts, ew_chunk, (void *)j);
    else
        ew_chunk((void *)j, 0, n, 0);
}

void nn_ew_run_unary(nn_ew_unary_fn f, const float *x, float *y, int64_t n)
{
    ew_job j = {f, NULL, x, NULL, y};
    ew_run(&j, n);
}

void nn_ew_run_binary(nn_ew_binary_fn f, const float *a, const float *b, float *y, int64_t n)
{
    ew_job j = {NULL, f, a, b, y};
    ew_run(&j, n);
}
