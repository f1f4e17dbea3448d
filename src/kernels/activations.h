/* Internal: the kernels of the parameterised and input-cached pointwise
   activations (LeakyReLU, ELU, GELU, SiLU, Hardswish) and of Softmax /
   LogSoftmax along one dimension. Raw float arrays, no allocation, plain C
   loops; each element is computed by the same arithmetic wherever it
   falls, so any split of the work gives the same bits. Outputs may be the
   very same array as an input (in place) but must not otherwise overlap.
   The formulas are PyTorch 1.13's CPU kernels, in float. */
#ifndef NN_ACTIVATIONS_KERNELS_H
#define NN_ACTIVATIONS_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* y = f(x; arg) and dx = g * f'(x; arg) for n elements. arg is the
   layer's one float option (negative_slope, alpha) or unused. */
typedef void (*nn_act_fn)(const float *x, float *y, int64_t n, float arg);
typedef void (*nn_act_grad_fn)(const float *x, const float *g, float *dx, int64_t n, float arg);

/* LeakyReLU: x > 0 ? x : x * slope;  dx = x > 0 ? g : g * slope. */
void nn_leaky_relu_kernel(const float *x, float *y, int64_t n, float slope);
void nn_leaky_relu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float slope);
/* ELU: x <= 0 ? (exp(x) - 1) * alpha : x (torch 1.13 forms exp - 1, not
   expm1);  dx = x <= 0 ? g * alpha * exp(x) : g. The _from_output form
   is torch's in-place one (is_result): y <= 0 ? g * (y + alpha) : g. */
void nn_elu_kernel(const float *x, float *y, int64_t n, float alpha);
void nn_elu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float alpha);
void nn_elu_grad_from_output_kernel(const float *y, const float *g, float *dx, int64_t n, float alpha);
/* GELU, exact: x * 0.5 * (1 + erf(x / sqrt 2));
   dx = g * (cdf + x * exp(-x^2 / 2) / sqrt(2 pi)). */
void nn_gelu_kernel(const float *x, float *y, int64_t n, float unused);
void nn_gelu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused);
/* GELU, approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
   and its derivative as torch writes it. */
void nn_gelu_tanh_kernel(const float *x, float *y, int64_t n, float unused);
void nn_gelu_tanh_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused);
/* SiLU: x / (1 + exp(-x));  dx = g * s * (1 + x * (1 - s)), s = sigmoid(x). */
void nn_silu_kernel(const float *x, float *y, int64_t n, float unused);
void nn_silu_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused);
/* Hardswish: x * min(max(x + 3, 0), 6) / 6;  dx = 0 below -3, g (x / 3 +
   0.5) on [-3, 3) (so -g/2 at -3), g from 3 on: torch 1.13's vectorised
   kernel (its scalar loop, used for the last n % 16 elements of a
   contiguous tensor, gives 3g/2 at exactly 3). */
void nn_hardswish_kernel(const float *x, float *y, int64_t n, float unused);
void nn_hardswish_grad_kernel(const float *x, const float *g, float *dx, int64_t n, float unused);

/* Softmax (log_softmax when log) of x viewed as [outer, dim, inner], along
   the middle dimension, for the columns c in [c0, c1) of the outer * inner
   ones (column c = o * inner + i holds elements o * dim * inner + i + d *
   inner, d < dim). Numerically stable: the column's maximum is subtracted
   (a NaN in a column makes it all NaN). softmax: y = e / sum(e), e =
   exp(x - max); log_softmax: y = (x - max) - log(sum(e)). */
void nn_softmax_kernel(const float *x, float *y, int64_t dim, int64_t inner, int64_t c0, int64_t c1, bool log);
/* dL/dx from the forward result y and g over the same columns:
   softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g). */
void nn_softmax_backward_kernel(const float *y, const float *g, float *dx, int64_t dim, int64_t inner, int64_t c0,
                                int64_t c1, bool log);

#endif
