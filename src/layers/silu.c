/* SiLU: f(x) = x sigmoid(x) = x / (1 + exp(-x));
   df/dx = s (1 + x (1 - s)), s = sigmoid(x), as PyTorch 1.13. inplace=True
   is printed only: libnn never writes into its input (torch's in-place
   backward is the same formula). */
#include "activation.h"

static int silu_extra_repr(const nn_module *m, char *buf, size_t size)
{
    return snprintf(buf, size, "%s", ((const nn_pointwise *)m)->inplace ? "inplace=True" : "");
}

static nn_module *silu_clone(const nn_module *m)
{
    nn_silu_opts o = nn_silu_defaults();
    o.inplace = ((const nn_pointwise *)m)->inplace;
    return nn_silu_ex(&o);
}

static const nn_module_ops silu_ops = {
    .type = "SiLU",
    .forward = nn_pointwise_forward,
    .backward = nn_pointwise_backward,
    .extra_repr = silu_extra_repr,
    .destroy = nn_pointwise_destroy,
    .clone = silu_clone,
};

nn_silu_opts nn_silu_defaults(void)
{
    return (nn_silu_opts){.inplace = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_silu_ex(const nn_silu_opts *opts)
{
    static const char fn[] = "nn_silu";
    nn_silu_opts o = opts ? *opts : nn_silu_defaults();
    if (nn_opts_by_hand(fn, "nn_silu_opts", "nn_silu_defaults()", o.from_defaults) < 0)
        return NULL;
    nn_pointwise *p = nn_pointwise_new(&silu_ops, nn_silu_kernel, nn_silu_grad_kernel, fn);
    if (!p)
        return NULL;
    p->inplace = o.inplace;
    return &p->base;
}

nn_module *nn_silu(void)
{
    return nn_silu_ex(NULL);
}
