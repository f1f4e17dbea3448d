/* ELU: f(x) = x > 0 ? x : alpha * (exp(x) - 1);  df/dx = 1 where x > 0,
   alpha * exp(x) elsewhere (also at 0), as PyTorch 1.13's elu_backward on
   the input. With inplace=True torch differentiates through the result,
   g * (y + alpha) where y <= 0, and refuses a negative alpha there; so
   does this layer (inplace changes nothing else: libnn never writes into
   its input). Any alpha is accepted, as torch does. */
#include "activation.h"

static const char inplace_negative[] =
    "In-place elu backward calculation is triggered with a negative slope which is not supported. "
    "This is caused by calling in-place forward function with a negative slope, please call out-of-place "
    "version instead.";

static int elu_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_pointwise *p = (const nn_pointwise *)m;
    char s[NN_REPR_FLOAT_LEN];
    return snprintf(buf, size, "alpha=%s%s", nn_repr_float(p->arg, s), p->inplace ? ", inplace=True" : "");
}

static nn_module *elu_clone(const nn_module *m)
{
    const nn_pointwise *p = (const nn_pointwise *)m;
    nn_elu_opts o = nn_elu_defaults();
    o.alpha = p->arg;
    o.inplace = p->inplace;
    return nn_elu_ex(&o);
}

static const nn_module_ops elu_ops = {
    .type = "ELU",
    .forward = nn_pointwise_forward,
    .backward = nn_pointwise_backward,
    .extra_repr = elu_extra_repr,
    .destroy = nn_pointwise_destroy,
    .clone = elu_clone,
};

nn_elu_opts nn_elu_defaults(void)
{
    return (nn_elu_opts){.alpha = 1.0f, .inplace = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_elu_ex(const nn_elu_opts *opts)
{
    static const char fn[] = "nn_elu";
    nn_elu_opts o = opts ? *opts : nn_elu_defaults();
    int by_hand = nn_opts_by_hand(fn, "nn_elu_opts", "nn_elu_defaults()", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand && o.alpha == 0.0f)
        o.alpha = 1.0f;
    nn_pointwise *p = nn_pointwise_new(&elu_ops, nn_elu_kernel,
                                       o.inplace ? nn_elu_grad_from_output_kernel : nn_elu_grad_kernel, fn);
    if (!p)
        return NULL;
    p->arg = o.alpha;
    p->inplace = o.inplace;
    p->from_output = o.inplace;
    if (o.inplace && !(o.alpha >= 0.0f)) /* NaN too, as torch's alpha >= 0 check */
        p->refusal = inplace_negative;
    return &p->base;
}

nn_module *nn_elu(float alpha)
{
    nn_elu_opts o = nn_elu_defaults();
    o.alpha = alpha;
    return nn_elu_ex(&o);
}
