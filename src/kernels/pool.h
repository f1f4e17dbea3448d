/* Internal: max-pooling kernels on raw [planes, H, W] float arrays. No
   allocation. Ties keep the first maximum in window order (row by row), a
   NaN wins (the last NaN of a window, as PyTorch's CPU kernel). */
#ifndef NN_POOL_H
#define NN_POOL_H

#include <stdbool.h>
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

/* --- average and adaptive pooling (pool_avg_adaptive.c): plain loops over
   one plane at a time, planes split over the threads. */

/* PyTorch's pooling_output_shape: the window count along one side, floor
   or ceil; with ceil_mode the last window must start inside the input or
   its left padding. <= 0 when the (dilated) window is larger than the
   padded input. Shared by MaxPool2d and AvgPool2d. */
int64_t nn_pool_output_size(int64_t in, int k, int pad, int stride, int dilation, bool ceil_mode);

/* Average of each window of g (dilation 1) as torch's avg_pool2d CPU
   kernel: the float sum of the taps inside the input, row by row, divided
   by divisor when it is not 0, else by the window's size clipped to the
   padded input (count_include_pad: the padding counts, the ceil_mode
   overhang past it does not) or to the input (count_include_pad false). */
void nn_avgpool_forward(const nn_pool_geom *g, bool count_include_pad, int divisor, const float *x,
                        int64_t planes, float *y);
/* dx = 0, then each window's taps inside the input += dL/dy / divisor,
   in output order. */
void nn_avgpool_backward(const nn_pool_geom *g, bool count_include_pad, int divisor, const float *gy,
                         int64_t planes, float *dx);

/* Adaptive windows: output row i covers input rows [floor(i*H/OH),
   ceil((i+1)*H/OH)), columns likewise; any OH, OW >= 1 (larger than the
   input too). Only g->H, W, OH, OW are read. */
void nn_adaptive_avgpool_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y);
void nn_adaptive_avgpool_backward(const nn_pool_geom *g, const float *gy, int64_t planes, float *dx);
/* Max of each adaptive window; arg as nn_maxpool_forward's (first maximum,
   the last NaN); backward: nn_maxpool_backward with the same g. */
void nn_adaptive_maxpool_forward(const nn_pool_geom *g, const float *x, int64_t planes, float *y,
                                 int64_t *arg);

#endif
