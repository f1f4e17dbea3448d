/* Internal: the losses' element loops on raw float arrays. No allocation,
   no knowledge of tensors or losses. */
#ifndef NN_LOSS_KERNELS_H
#define NN_LOSS_KERNELS_H

#include <stdint.h>

/* Squared error of p against t (n >= 1 floats each) summed in double and
   divided by den (n for the mean, 1 for the sum); writes its gradient
   grad[i] = 2 (p[i] - t[i]) / den. */
double nn_mse_kernel(const float *p, const float *t, float *grad, int64_t n, double den);

#endif
