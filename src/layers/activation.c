/* Forward and backward shared by the output-cached activations. */
#include "activation.h"

nn_tensor *nn_activation_forward(nn_module *m, const nn_tensor *x)
{
    nn_activation *a = (nn_activation *)m;
    /* x may be our own output slot: hold its storage while resizing that */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&a->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = a->out.data;
    const float *in = src.data; /* read in place when dense, else gathered into y first */
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, y);
        in = y;
    }
    nn_ew_run_unary(a->k->forward, in, y, nn_tensor_numel(&a->out));
    nn_tensor_release(&src);
    return &a->out;
}

nn_tensor *nn_activation_backward(nn_module *m, const nn_tensor *g)
{
    nn_activation *a = (nn_activation *)m;
    char s1[NN_SHAPE_STR_LEN], s2[NN_SHAPE_STR_LEN];
    if (!a->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s() called before forward", m->ops->type);
    if (!nn_tensor_same_shape(g, &a->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s() expected grad_out of shape %s, got %s",
                            m->ops->type, nn_tensor_shape_str(&a->out, s1), nn_tensor_shape_str(g, s2));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&a->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *dx = a->grad.data;
    const float *g_in = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, dx);
        g_in = dx;
    }
    nn_ew_run_binary(a->k->backward, a->out.data, g_in, dx, nn_tensor_numel(&a->grad));
    nn_tensor_release(&src);
    return &a->grad;
}

void nn_activation_destroy(nn_module *m)
{
    nn_activation *a = (nn_activation *)m;
    nn_tensor_release(&a->out);
    nn_tensor_release(&a->grad);
}

nn_module *nn_activation_new(const nn_module_ops *ops, const nn_activation_kernels *k,
                             const char *ctor_name)
{
    nn_activation *a = nn_alloc_zeroed(1, sizeof *a);
    if (!a)
        return nn_fail_context_null("%s", ctor_name);
    NN_MODULE_INIT(&a->base, ops);
    a->k = k;
    return &a->base;
}
