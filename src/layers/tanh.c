/* Tanh: f(x) = tanh(x);  df/dx = 1 - f(x)^2, from the cached output. */
#include "activation.h"

static nn_module *tanh_clone(const nn_module *m)
{
    (void)m;
    return nn_tanh();
}

static const nn_activation_kernels tanh_kernels = {nn_ew_tanh, nn_ew_tanh_grad};

static const nn_module_ops tanh_ops = {
    .type = "Tanh",
    .forward = nn_activation_forward,
    .backward = nn_activation_backward,
    .clone = tanh_clone,
    .destroy = nn_activation_destroy,
};

nn_module *nn_tanh(void)
{
    return nn_activation_new(&tanh_ops, &tanh_kernels, "nn_tanh");
}
