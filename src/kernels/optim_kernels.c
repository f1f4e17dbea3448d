/* The optimizers' update loops. Adam runs four lanes at a time in
   GCC/Clang vector extensions (simd.h): the scalar loop's libm sqrtf call,
   kept for errno, stops the compiler from vectorising it. Every lane does
   the scalar tail's operations in the same order, so the bits do not depend
   on where the vector part ends. */
#include <math.h>

#include "optim_kernels.h"
#include "simd.h"

void nn_adam_kernel(float *p, const float *g, float *m, float *v, float *v_max, int64_t n,
                    const nn_adam_coefs *c)
{
    const float b1 = c->beta1, b2 = c->beta2, wd = c->weight_decay, eps = c->eps;
    const float step_size = c->step_size, root_correction2 = c->root_correction2;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        v4f pj = loadu4(p + j), d = loadu4(g + j) + wd * pj;
        v4f mj = b1 * loadu4(m + j) + (1.0f - b1) * d;
        v4f vj = b2 * loadu4(v + j) + (1.0f - b2) * d * d;
        storeu4(m + j, mj);
        storeu4(v + j, vj);
        v4f second = vj;
        if (v_max) {
            v4f old = loadu4(v_max + j);
            second = select4(old > vj, old, vj);
            storeu4(v_max + j, second);
        }
        storeu4(p + j, pj - step_size * mj / (sqrt4(second) / root_correction2 + eps));
    }
    for (; j < n; j++) {
        float d = g[j] + wd * p[j];
        m[j] = b1 * m[j] + (1.0f - b1) * d;
        v[j] = b2 * v[j] + (1.0f - b2) * d * d;
        float second = v[j];
        if (v_max) {
            v_max[j] = v_max[j] > v[j] ? v_max[j] : v[j];
            second = v_max[j];
        }
        p[j] -= step_size * m[j] / (sqrtf(second) / root_correction2 + eps);
    }
}
