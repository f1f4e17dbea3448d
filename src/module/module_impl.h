/* Internal: the module interface. Every layer is a struct whose first member
   is nn_module; the container only calls through the ops table. */
#ifndef NN_MODULE_IMPL_H
#define NN_MODULE_IMPL_H

#include "tensor/tensor_impl.h"
#include "nn/module.h"

typedef struct nn_module_ops {
    const char *type; /* "Linear" */
    nn_tensor *(*forward)(nn_module *, const nn_tensor *x);
    nn_tensor *(*backward)(nn_module *, const nn_tensor *grad_out);
    /* optional: backward that may skip dL/dx when need_dx is false (then
       it returns any non-NULL tensor on success, contents unspecified;
       NULL on failure, as backward). With need_dx true: as backward. */
    nn_tensor *(*backward_ex)(nn_module *, const nn_tensor *grad_out, bool need_dx);
    /* One line for leaves; containers print their children, indenting
       nested lines by indent + 2 spaces as PyTorch does. */
    void (*repr)(const nn_module *, FILE *, int indent);
    void (*destroy)(nn_module *); /* frees what the layer owns besides base */
    /* optional, for containers: gather children's parameters / propagate mode */
    int (*params)(nn_module *, nn_param **);
    void (*set_training)(nn_module *, bool);
    /* optional, for containers: zero the children's gradients (without
       allocating, as gathering the parameters might) */
    void (*zero_grad)(nn_module *);
    /* optional: forward of relu(x) without making relu(x), its result and
       the dL/dx of the next backward bit for bit those of a ReLU followed
       by this module. A Sequential runs ReLU -> this module through it,
       sparing the larger tensor two passes (MaxPool2d). */
    nn_tensor *(*forward_after_relu)(nn_module *, const nn_tensor *x);
} nn_module_ops;

struct nn_module {
    const nn_module_ops *ops;
    nn_param *params; /* leaves: their own parameters, names "weight", "bias" */
    int n_params;
    bool training;
    bool owned; /* added to a container, which frees it (nn_module_free
                   refuses it until the container clears this) */
};

/* nn_backward, or with need_dx false the module's backward_ex that may
   skip dL/dx (containers call this for their children). */
nn_tensor *nn_module_backward(nn_module *m, const nn_tensor *grad_out, bool need_dx);

/* nn_forward of relu(x) through m's forward_after_relu (which it must
   have), with nn_forward's checks and error naming. */
nn_tensor *nn_module_forward_after_relu(nn_module *m, const nn_tensor *x);
/* Whether m is a ReLU (src/layers/relu.c). */
bool nn_module_is_relu(const nn_module *m);

/* Initialises the base of a freshly allocated layer. */
void nn_module_init(nn_module *m, const nn_module_ops *ops);
/* Adds a zero-initialised parameter of the given shape with its gradient.
   name must be a string literal (not copied). */
nn_tensor *nn_module_add_param(nn_module *m, const char *name, int ndim, const int64_t *shape);
/* Fills t with U(-bound, bound) from the library generator, in memory order. */
void nn_init_uniform(nn_tensor *t, double bound);
/* torch.nn.Linear / Conv2d reset_parameters: weight ~ kaiming_uniform_(a=sqrt(5)),
   then bias (may be NULL) ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void nn_init_kaiming_uniform(nn_tensor *weight, nn_tensor *bias, double fan_in);

#endif
