/* Elementwise kernels written with vector extensions (128-bit: the x86-64
   baseline; these loops are bound by memory, not arithmetic). Each is safe
   in place (output == input). */
#include "kernels.h"

typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4), may_alias));

void nn_relu_kernel(const float *x, float *y, int64_t n)
{
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4f a = *(const v4f *)(x + i), b = *(const v4f *)(x + i + 4);
        /* clear the lanes below zero; NaN compares false and stays */
        *(v4f *)(y + i) = (v4f)((v4i)a & ~(v4i)(a < zero));
        *(v4f *)(y + i + 4) = (v4f)((v4i)b & ~(v4i)(b < zero));
    }
    for (; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

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
