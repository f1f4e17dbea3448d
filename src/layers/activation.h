/* Internal: the shared body of elementwise activations whose derivative is
   a function of their output (Sigmoid, Tanh). Each such layer is one file
   giving its kernels, name and constructor; forward caches y, backward
   computes dx = g * f'(y). */
#ifndef NN_ACTIVATION_H
#define NN_ACTIVATION_H

#include "kernels/elementwise.h"
#include "module/module_impl.h"

typedef struct {
    nn_ew_unary_fn forward;   /* y = f(x) */
    nn_ew_binary_fn backward; /* dx = g * f'(y), called as (y, g, dx, n) */
} nn_activation_kernels;

typedef struct {
    nn_module base;
    const nn_activation_kernels *k;
    nn_tensor out;  /* forward result; backward reads it */
    nn_tensor grad; /* dL/dx */
} nn_activation;

nn_tensor *nn_activation_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_activation_backward(nn_module *m, const nn_tensor *g);
void nn_activation_destroy(nn_module *m);
/* Allocates the layer; ops must use the three functions above. NULL and an
   error naming ctor_name on failure. */
nn_module *nn_activation_new(const nn_module_ops *ops, const nn_activation_kernels *k,
                             const char *ctor_name);

#endif
