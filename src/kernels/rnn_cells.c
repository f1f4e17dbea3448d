/* Gate arithmetic of RNN / LSTM / GRU steps (rnn_cells.h): rnn_cells.inc
   compiled once per vector width (target attributes, as the GEMM's
   micro-kernels), the variant the one nn_gemm uses (so the tests that
   force a GEMM variant also run the matching cells). */
#include "kernels/rnn_cells.h"

#include <math.h>

#include "gemm_internal.h"
#include "simd.h"

#if defined(__x86_64__) || defined(__i386__)
#define RC_X86 1
#else
#define RC_X86 0
#endif

#define SPLAT4(x) {x, x, x, x}
#define SPLAT8(x) {x, x, x, x, x, x, x, x}
#define SPLAT16(x) {x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}

/* --- generic: 128-bit vectors */
#define RC(name) name##_generic
#define RC_ATTR
#define RC_W 4
#define RC_V v4f
#define RC_VI v4i
#define RC_SPLAT(x) ((v4f)SPLAT4((float)(x)))
#define RC_SPLATI(x) ((v4i)SPLAT4((int32_t)(x)))
#include "rnn_cells.inc" /* #undefs its parameters */

#if RC_X86
/* --- AVX2: 256-bit vectors */
#define RC(name) name##_avx2
#define RC_ATTR __attribute__((target("avx2,fma")))
#define RC_W 8
#define RC_V v8f
#define RC_VI v8i
#define RC_SPLAT(x) ((v8f)SPLAT8((float)(x)))
#define RC_SPLATI(x) ((v8i)SPLAT8((int32_t)(x)))
#include "rnn_cells.inc" /* #undefs its parameters */

/* --- AVX-512F: 512-bit vectors */
#define RC(name) name##_avx512
#define RC_ATTR __attribute__((target("avx512f")))
#define RC_W 16
#define RC_V v16f
#define RC_VI v16i
#define RC_SPLAT(x) ((v16f)SPLAT16((float)(x)))
#define RC_SPLATI(x) ((v16i)SPLAT16((int32_t)(x)))
#include "rnn_cells.inc" /* #undefs its parameters */
#define PICK(name, ...)                                                                                              \
    do {                                                                                                             \
        switch (nn_gemm_current_isa()) {                                                                             \
        case NN_GEMM_ISA_AVX512:                                                                                     \
            name##_avx512(__VA_ARGS__);                                                                              \
            return;                                                                                                  \
        case NN_GEMM_ISA_AVX2:                                                                                       \
            name##_avx2(__VA_ARGS__);                                                                                \
            return;                                                                                                  \
        default:                                                                                                     \
            name##_generic(__VA_ARGS__);                                                                             \
            return;                                                                                                  \
        }                                                                                                            \
    } while (0)
#else
#define PICK(name, ...) name##_generic(__VA_ARGS__)
#endif

void nn_rnn_cell_forward(int64_t rows, int64_t H, const float *xw, const float *b_ih, const float *gh,
                         const float *b_hh, bool relu, float *h, int64_t ldh)
{
    PICK(rnn_forward, rows, H, xw, b_ih, gh, b_hh, relu, h, ldh);
}

void nn_rnn_cell_backward(int64_t rows, int64_t H, const float *h, int64_t ldh, const float *dh, bool relu, float *dg)
{
    for (int64_t r = 0; r < rows; r++, h += ldh, dh += H, dg += H) {
        if (relu)
            for (int64_t i = 0; i < H; i++)
                dg[i] = h[i] > 0.0f ? dh[i] : 0.0f;
        else
            for (int64_t i = 0; i < H; i++)
                dg[i] = dh[i] * (1.0f - h[i] * h[i]);
    }
}

void nn_lstm_cell_forward(int64_t rows, int64_t H, const float *xw, const float *b_ih, const float *gh,
                          const float *b_hh, const float *c_prev, float *cache, float *c, float *h, int64_t ldh)
{
    PICK(lstm_forward, rows, H, xw, b_ih, gh, b_hh, c_prev, cache, c, h, ldh);
}

void nn_lstm_cell_backward(int64_t rows, int64_t H, const float *cache, const float *c_prev, const float *dh,
                           float *dc, float *dg)
{
    PICK(lstm_backward, rows, H, cache, c_prev, dh, dc, dg);
}

void nn_gru_cell_forward(int64_t rows, int64_t H, const float *xw, const float *b_ih, const float *gh,
                         const float *b_hh, const float *h_prev, float *cache, float *h, int64_t ldh, float *y,
                         int64_t ldy)
{
    PICK(gru_forward, rows, H, xw, b_ih, gh, b_hh, h_prev, cache, h, ldh, y, ldy);
}

void nn_gru_cell_backward(int64_t rows, int64_t H, const float *cache, const float *h_prev, int64_t ldh,
                          const float *dy, int64_t ldy, float *dh, float *dg)
{
    PICK(gru_backward, rows, H, cache, h_prev, ldh, dy, ldy, dh, dg);
}
