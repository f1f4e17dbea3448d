/* Tanh: f(x) = tanh(x);  df/dx = 1 - f(x)^2, from the cached output. */
#include "kernels/elementwise.h"
#include "module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out;  /* forward result; backward reads it */
    nn_tensor grad; /* dL/dx */
} tanh_layer;

static nn_tensor *tanh_forward(nn_module *m, const nn_tensor *x)
{
    tanh_layer *t = (tanh_layer *)m;
    /* x may be our own output slot: hold its storage while resizing that */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&t->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = t->out.data;
    const float *in = src.data; /* read in place when dense, else gathered into y first */
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, y);
        in = y;
    }
    nn_ew_run_unary(nn_ew_tanh, in, y, nn_tensor_numel(&t->out));
    nn_tensor_release(&src);
    return &t->out;
}

static nn_tensor *tanh_backward(nn_module *m, const nn_tensor *g)
{
    tanh_layer *t = (tanh_layer *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!t->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: Tanh() called before forward");
    if (!nn_tensor_same_shape(g, &t->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Tanh() expected grad_out of shape %s, got %s",
                            nn_tensor_shape_str(&t->out, a), nn_tensor_shape_str(g, b));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&t->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *dx = t->grad.data;
    const float *g_in = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, dx);
        g_in = dx;
    }
    nn_ew_run_binary(nn_ew_tanh_grad, t->out.data, g_in, dx, nn_tensor_numel(&t->grad));
    nn_tensor_release(&src);
    return &t->grad;
}

static void tanh_repr(const nn_module *m, FILE *f, int indent)
{
    (void)m;
    (void)indent;
    fputs("Tanh()", f);
}

static void tanh_destroy(nn_module *m)
{
    tanh_layer *t = (tanh_layer *)m;
    nn_tensor_release(&t->out);
    nn_tensor_release(&t->grad);
}

static const nn_module_ops tanh_ops = {
    .type = "Tanh",
    .forward = tanh_forward,
    .backward = tanh_backward,
    .repr = tanh_repr,
    .destroy = tanh_destroy,
};

nn_module *nn_tanh(void)
{
    tanh_layer *t = nn_alloc_zeroed(1, sizeof *t);
    if (!t)
        return nn_fail_context_null("nn_tanh");
    nn_module_init(&t->base, &tanh_ops);
    return &t->base;
}
