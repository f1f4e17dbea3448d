/* Internal: the shared bodies of elementwise activations. Each such layer
   is one file giving its kernels, name, printing and constructor.
   - nn_activation: the derivative is a function of the output (Sigmoid,
     Tanh): forward caches y, backward computes dx = g * f'(y).
   - nn_pointwise: one float option and a derivative of the input
     (LeakyReLU, ELU, GELU, SiLU, Hardswish): forward keeps a dense view of
     x (a copy only when x is strided), backward computes dx = g * f'(x),
     or from y where torch's in-place variant does (ELU). */
#ifndef NN_ACTIVATION_H
#define NN_ACTIVATION_H

#include "kernels/activations.h"
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

typedef struct {
    nn_module base;
    nn_act_fn forward;
    nn_act_grad_fn backward;   /* called as (x, g, dx, n, arg), or (y, ...) when from_output */
    bool from_output;          /* backward reads the forward result, not x */
    float arg;                 /* the option the kernels take (negative_slope, alpha) */
    bool inplace;              /* printed only: libnn never writes into its input */
    const char *refusal;       /* when set, backward fails with this text (torch's refusals) */
    nn_tensor in;              /* x, dense: a view of x, or of in_copy when x was strided */
    nn_tensor in_copy;         /* owned dense copy of a strided x */
    nn_tensor out;             /* forward result */
    nn_tensor grad;            /* dL/dx */
} nn_pointwise;

nn_tensor *nn_pointwise_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_pointwise_backward(nn_module *m, const nn_tensor *g);
void nn_pointwise_destroy(nn_module *m);
/* Allocates the layer with its kernels; NULL and an error naming ctor_name
   on failure. */
nn_pointwise *nn_pointwise_new(const nn_module_ops *ops, nn_act_fn forward, nn_act_grad_fn backward,
                               const char *ctor_name);

/* "Type(extra)" of m for messages, '.' decimals; buf of NN_LABEL_LEN chars. */
#define NN_LABEL_LEN 128
const char *nn_module_label(const nn_module *m, char *buf);

#endif
