/* Sigmoid: f(x) = 1 / (1 + exp(-x));  df/dx = f(x) (1 - f(x)), from the cached output. */
#include "activation.h"

static nn_module *sigmoid_clone(const nn_module *m)
{
    (void)m;
    return nn_sigmoid();
}

static const nn_activation_kernels sigmoid_kernels = {nn_ew_sigmoid, nn_ew_sigmoid_grad};

static const nn_module_ops sigmoid_ops = {
    .type = "Sigmoid",
    .forward = nn_activation_forward,
    .backward = nn_activation_backward,
    .clone = sigmoid_clone,
    .destroy = nn_activation_destroy,
};

nn_module *nn_sigmoid(void)
{
    return nn_activation_new(&sigmoid_ops, &sigmoid_kernels, "nn_sigmoid");
}
