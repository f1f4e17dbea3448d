/* Sigmoid: f(x) = 1 / (1 + exp(-x));  df/dx = f(x) (1 - f(x)), from the cached output. */
#include "kernels/elementwise.h"
#include "module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out;  /* forward result; backward reads it */
    nn_tensor grad; /* dL/dx */
} sigmoid;

static nn_tensor *sigmoid_forward(nn_module *m, const nn_tensor *x)
{
    sigmoid *s = (sigmoid *)m;
    /* x may be our own output slot: hold its storage while resizing that */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&s->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = s->out.data;
    const float *in = src.data; /* read in place when dense, else gathered into y first */
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, y);
        in = y;
    }
    nn_ew_run_unary(nn_ew_sigmoid, in, y, nn_tensor_numel(&s->out));
    nn_tensor_release(&src);
    return &s->out;
}

static nn_tensor *sigmoid_backward(nn_module *m, const nn_tensor *g)
{
    sigmoid *s = (sigmoid *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!s->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: Sigmoid() called before forward");
    if (!nn_tensor_same_shape(g, &s->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Sigmoid() expected grad_out of shape %s, got %s",
                            nn_tensor_shape_str(&s->out, a), nn_tensor_shape_str(g, b));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&s->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *dx = s->grad.data;
    const float *g_in = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, dx);
        g_in = dx;
    }
    nn_ew_run_binary(nn_ew_sigmoid_grad, s->out.data, g_in, dx, nn_tensor_numel(&s->grad));
    nn_tensor_release(&src);
    return &s->grad;
}

static void sigmoid_repr(const nn_module *m, FILE *f, int indent)
{
    (void)m;
    (void)indent;
    fputs("Sigmoid()", f);
}

static void sigmoid_destroy(nn_module *m)
{
    sigmoid *s = (sigmoid *)m;
    nn_tensor_release(&s->out);
    nn_tensor_release(&s->grad);
}

static const nn_module_ops sigmoid_ops = {
    .type = "Sigmoid",
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .repr = sigmoid_repr,
    .destroy = sigmoid_destroy,
};

nn_module *nn_sigmoid(void)
{
    sigmoid *s = nn_alloc_zeroed(1, sizeof *s);
    if (!s)
        return nn_fail_context_null("nn_sigmoid");
    nn_module_init(&s->base, &sigmoid_ops);
    return &s->base;
}
