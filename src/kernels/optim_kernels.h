/* Internal: the optimizers' update loops on raw float arrays (a
   parameter block, its gradient and the optimizer's state buffers, all n
   floats). No allocation, no knowledge of modules or optimizers. */
#ifndef NN_OPTIM_KERNELS_H
#define NN_OPTIM_KERNELS_H

#include <stdint.h>

/* One step's coefficients of Adam; step_size = lr / (1 - beta1^t) and
   root_correction2 = sqrt(1 - beta2^t), both rounded to float by the caller. */
typedef struct {
    float beta1, beta2, weight_decay, eps;
    float step_size, root_correction2;
} nn_adam_coefs;

/* Adam (torch.optim.Adam's single-tensor path), element by element:
     d = g + weight_decay * p
     m = beta1 * m + (1 - beta1) * d;   v = beta2 * v + (1 - beta2) * d^2
     v_max = max(v_max, v) when v_max is not NULL (amsgrad), used for v below
     p = p - step_size * m / (sqrt(v) / root_correction2 + eps)
   Every element sees the same float operations in the same order, so the
   bits do not depend on n or on where a block starts. */
void nn_adam_kernel(float *p, const float *g, float *m, float *v, float *v_max, int64_t n,
                    const nn_adam_coefs *c);

#endif
