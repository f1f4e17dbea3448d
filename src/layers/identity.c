/* Identity: y = x, dL/dx = g, as torch.nn.Identity. The result is the
   layer's own dense copy (forward results are owned by the module). */
#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out, grad;
} identity;

/* dst := dense copy of src (src may be dst's own storage: held meanwhile) */
static nn_tensor *copy_into(nn_tensor *dst, const nn_tensor *x)
{
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(dst, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    nn_tensor_gather(&src, dst->data);
    nn_tensor_release(&src);
    return dst;
}

static nn_tensor *identity_forward(nn_module *m, const nn_tensor *x)
{
    return copy_into(&((identity *)m)->out, x);
}

static nn_tensor *identity_backward(nn_module *m, const nn_tensor *g)
{
    identity *id = (identity *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!id->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: Identity() called before forward");
    if (!nn_tensor_same_shape(g, &id->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Identity() expected grad_out of shape %s, got %s",
                            nn_tensor_shape_str(&id->out, a), nn_tensor_shape_str(g, b));
    return copy_into(&id->grad, g);
}

static void identity_destroy(nn_module *m)
{
    identity *id = (identity *)m;
    nn_tensor_release(&id->out);
    nn_tensor_release(&id->grad);
}

static nn_module *identity_clone(const nn_module *m)
{
    (void)m;
    return nn_identity();
}

static const nn_module_ops identity_ops = {
    .type = "Identity",
    .forward = identity_forward,
    .backward = identity_backward,
    .destroy = identity_destroy,
    .clone = identity_clone,
};

nn_module *nn_identity(void)
{
    identity *id = nn_alloc_zeroed(1, sizeof *id);
    if (!id)
        return nn_fail_context_null("nn_identity");
    NN_MODULE_INIT(&id->base, &identity_ops);
    return &id->base;
}
