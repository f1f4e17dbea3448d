/* The losses' element loops. MSE goes four elements at a time in double
   vectors (simd.h): lane k sums the elements i = k mod 4, the scalar tail
   adds to lane 0, and the lanes are added pairwise at the end. */
#include "loss_kernels.h"
#include "simd.h"

double nn_mse_kernel(const float *p, const float *t, float *grad, int64_t n, double den)
{
    const double scale = 2.0 / den;
    const v4d vscale = {scale, scale, scale, scale};
    v4d s = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4d d = __builtin_convertvector(*(const v4f *)(p + i), v4d) -
                __builtin_convertvector(*(const v4f *)(t + i), v4d);
        s += d * d;
        *(v4f *)(grad + i) = __builtin_convertvector(vscale * d, v4f);
    }
    for (; i < n; i++) {
        double d = (double)p[i] - (double)t[i];
        s[0] += d * d;
        grad[i] = (float)(scale * d);
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) / den;
}
