/* Internal: max-pooling kernels on raw [planes, H, W] float arrays. No
   allocation. Ties keep the first maximum in window order (row by row), a
   NaN wins (the last NaN of a window, as PyTorch's CPU kernel). */
#ifndef NN_POOL_H
#define NN_POOL_H

#include <stdint.h>

/* Window 2x2, stride 2, no padding or dilation; OH = H/2, OW = W/2 (a last
   odd row or column is never read). y[p, i, j] = max of x[p, 2i:2i+2,
   2j:2j+2]; code[p, i, j] in 0..3 says which tap won (2*row + column). */
void nn_maxpool2x2_forward(const float *x, int64_t planes, int64_t H, int64_t W, float *y,
                           uint8_t *code);
/* Max-pooling of relu(x) without making relu(x) (relu(v) = v < 0 ? +0 : v,
   NaN kept, as the ReLU kernel), bit for bit what pooling relu(x) then
   backpropagating through both gives: where the result is > 0 or NaN the
   raw window's winner is relu's winner too; elsewhere every relu(tap) is
   +0 or -0, the first tap wins and no tap gets a gradient (relu's is 0),
   so y = relu(first tap) and code = 4 (backward writes zeros). */
void nn_maxpool2x2_relu_forward(const float *x, int64_t planes, int64_t H, int64_t W, float *y,
                                uint8_t *code);
/* dx[p] = dL/dy scattered to the winning taps, 0 elsewhere (the whole
   [planes, H, W] array is written; -0 gradients become +0 as 0 + g; code 4:
   no winner). */
void nn_maxpool2x2_backward(const float *g, const uint8_t *code, int64_t planes, int64_t H,
                            int64_t W, float *dx);

/* Any window: kernel (kh, kw), stride (sh, sw), padding (ph, pw), dilation
   (dh, dw), output [planes, OH, OW]; arg[p, i, j] = h*W + w of the winner
   inside its plane (-1 for a window lying wholly in padding). */
typedef struct {
    int64_t H, W, OH, OW;
    int kh, kw, sh, sw, ph, pw, dh, dw;
} nn_pool_geom;
void nn_maxpool_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y, int64_t *arg);
/* Of relu(x), as nn_maxpool2x2_relu_forward ("no winner": arg -1). */
void nn_maxpool_relu_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y, int64_t *arg);
/* dx = 0, then dx[p, arg] += dL/dy (overlapping windows accumulate). */
void nn_maxpool_backward(const nn_pool_geom *g, const float *gy, const int64_t *arg, int64_t planes,
                         float *dx);

#endif
