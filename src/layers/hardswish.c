/* Hardswish: f(x) = x relu6(x + 3) / 6;  df/dx = 0 below -3, x / 3 + 1/2
   on [-3, 3) (-1/2 at -3), 1 from 3 on, as PyTorch 1.13's vectorised
   kernel, which computes all but the last n % 16 elements of a contiguous
   tensor (its scalar loop for those gives 3/2 at exactly 3). torch
   prints Hardswish() whatever its inplace flag, and so does this layer
   (libnn never writes into its input). */
#include "activation.h"

static nn_module *hardswish_clone(const nn_module *m)
{
    nn_hardswish_opts o = nn_hardswish_defaults();
    o.inplace = ((const nn_pointwise *)m)->inplace;
    return nn_hardswish_ex(&o);
}

static const nn_module_ops hardswish_ops = {
    .type = "Hardswish",
    .forward = nn_pointwise_forward,
    .backward = nn_pointwise_backward,
    .destroy = nn_pointwise_destroy,
    .clone = hardswish_clone,
};

nn_hardswish_opts nn_hardswish_defaults(void)
{
    return (nn_hardswish_opts){.inplace = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_hardswish_ex(const nn_hardswish_opts *opts)
{
    static const char fn[] = "nn_hardswish";
    nn_hardswish_opts o = opts ? *opts : nn_hardswish_defaults();
    if (nn_opts_by_hand(fn, "nn_hardswish_opts", "nn_hardswish_defaults()", o.from_defaults) < 0)
        return NULL;
    nn_pointwise *p = nn_pointwise_new(&hardswish_ops, nn_hardswish_kernel, nn_hardswish_grad_kernel, fn);
    if (!p)
        return NULL;
    p->inplace = o.inplace;
    return &p->base;
}

nn_module *nn_hardswish(void)
{
    return nn_hardswish_ex(NULL);
}
