/* libnn: loss functions, mean reduction as in PyTorch.

   nn_loss_forward returns the loss value (NaN on error); nn_loss_backward
   returns the gradient of that value with respect to the prediction, owned
   by the loss object and valid until its next forward or its free; before
   a successful forward it is NULL + error. A failed forward leaves the loss
   as it was. Shapes must match exactly (no broadcasting), strided inputs
   are fine, and an empty input is an error (torch would return NaN). */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_loss nn_loss;

/* mean((pred - target)^2); target has pred's shape. */
nn_loss *nn_mse_loss(void);
/* mean over n of -log softmax(logits[n])[target[n]]; logits [N, C] (or [C]),
   target [N] (or a scalar) of integer class indices stored as floats. */
nn_loss *nn_cross_entropy_loss(void);
/* mean(max(x,0) - x*t + log(1 + exp(-|x|))); target has pred's shape. */
nn_loss *nn_bce_with_logits_loss(void);

/* A NaN in the prediction gives a NaN value from a successful call too:
   nn_last_error() only says why when the call failed. */
float nn_loss_forward(nn_loss *l, const nn_tensor *pred, const nn_tensor *target);
nn_tensor *nn_loss_backward(nn_loss *l);
void nn_loss_free(nn_loss *l); /* NULL: no-op */

#ifdef __cplusplus
}
#endif
#endif
