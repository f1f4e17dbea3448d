/* LeakyReLU: f(x) = x > 0 ? x : negative_slope * x;  df/dx = 1 where x > 0,
   negative_slope elsewhere (also at 0, as PyTorch). Any slope is accepted,
   as torch does; inplace=True is printed, and, as torch's in-place
   backward, refused at backward with a negative slope. */
#include "activation.h"

static const char inplace_negative[] =
    "In-place leakyReLu backward calculation is triggered with a negative slope which is not supported. "
    "This is caused by calling in-place forward function with a negative slope, please call out-of-place "
    "version instead.";

static int leaky_relu_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_pointwise *p = (const nn_pointwise *)m;
    char s[NN_REPR_FLOAT_LEN];
    return snprintf(buf, size, "negative_slope=%s%s", nn_repr_float(p->arg, s), p->inplace ? ", inplace=True" : "");
}

static nn_module *leaky_relu_clone(const nn_module *m)
{
    const nn_pointwise *p = (const nn_pointwise *)m;
    nn_leaky_relu_opts o = nn_leaky_relu_defaults();
    o.negative_slope = p->arg;
    o.inplace = p->inplace;
    return nn_leaky_relu_ex(&o);
}

static const nn_module_ops leaky_relu_ops = {
    .type = "LeakyReLU",
    .forward = nn_pointwise_forward,
    .backward = nn_pointwise_backward,
    .extra_repr = leaky_relu_extra_repr,
    .destroy = nn_pointwise_destroy,
    .clone = leaky_relu_clone,
};

nn_leaky_relu_opts nn_leaky_relu_defaults(void)
{
    return (nn_leaky_relu_opts){.negative_slope = 0.01f, .inplace = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_leaky_relu_ex(const nn_leaky_relu_opts *opts)
{
    static const char fn[] = "nn_leaky_relu";
    nn_leaky_relu_opts o = opts ? *opts : nn_leaky_relu_defaults();
    int by_hand = nn_opts_by_hand(fn, "nn_leaky_relu_opts", "nn_leaky_relu_defaults()", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand && o.negative_slope == 0.0f)
        o.negative_slope = 0.01f;
    nn_pointwise *p = nn_pointwise_new(&leaky_relu_ops, nn_leaky_relu_kernel, nn_leaky_relu_grad_kernel, fn);
    if (!p)
        return NULL;
    p->arg = o.negative_slope;
    p->inplace = o.inplace;
    if (o.inplace && !(o.negative_slope >= 0.0f)) /* NaN too, as torch's check */
        p->refusal = inplace_negative;
    return &p->base;
}

nn_module *nn_leaky_relu(float negative_slope)
{
    nn_leaky_relu_opts o = nn_leaky_relu_defaults();
    o.negative_slope = negative_slope;
    return nn_leaky_relu_ex(&o);
}
