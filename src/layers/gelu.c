/* GELU: approximate NN_GELU_NONE (torch's 'none'): f(x) = x * Phi(x) =
   0.5 x (1 + erf(x / sqrt 2)), df/dx = Phi(x) + x phi(x);
   NN_GELU_TANH (torch's 'tanh'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
   x^3))) and its derivative, both as PyTorch 1.13 computes them. */
#include "activation.h"

static int gelu_extra_repr(const nn_module *m, char *buf, size_t size)
{
    bool tanh_form = ((const nn_pointwise *)m)->forward == nn_gelu_tanh_kernel;
    return snprintf(buf, size, "approximate='%s'", tanh_form ? "tanh" : "none");
}

static nn_module *gelu_clone(const nn_module *m)
{
    nn_gelu_opts o = nn_gelu_defaults();
    if (((const nn_pointwise *)m)->forward == nn_gelu_tanh_kernel)
        o.approximate = NN_GELU_TANH;
    return nn_gelu_ex(&o);
}

static const nn_module_ops gelu_ops = {
    .type = "GELU",
    .forward = nn_pointwise_forward,
    .backward = nn_pointwise_backward,
    .extra_repr = gelu_extra_repr,
    .destroy = nn_pointwise_destroy,
    .clone = gelu_clone,
};

nn_gelu_opts nn_gelu_defaults(void)
{
    return (nn_gelu_opts){.approximate = NN_GELU_NONE, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_gelu_ex(const nn_gelu_opts *opts)
{
    static const char fn[] = "nn_gelu";
    nn_gelu_opts o = opts ? *opts : nn_gelu_defaults();
    if (nn_opts_by_hand(fn, "nn_gelu_opts", "nn_gelu_defaults()", o.from_defaults) < 0)
        return NULL;
    if (o.approximate != NN_GELU_NONE && o.approximate != NN_GELU_TANH) /* torch's message */
        return nn_fail_null(NN_EINVAL, "%s: approximate argument must be either none or tanh (NN_GELU_NONE or "
                            "NN_GELU_TANH), got %d", fn, (int)o.approximate);
    bool tanh_form = o.approximate == NN_GELU_TANH;
    nn_pointwise *p = nn_pointwise_new(&gelu_ops, tanh_form ? nn_gelu_tanh_kernel : nn_gelu_kernel,
                                       tanh_form ? nn_gelu_tanh_grad_kernel : nn_gelu_grad_kernel, fn);
    return p ? &p->base : NULL;
}

nn_module *nn_gelu(void)
{
    return nn_gelu_ex(NULL);
}
