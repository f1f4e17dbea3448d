/* ReLU: f(x) = max{0, x};  df/dx = 1 where x > 0 (0 at the kink, as PyTorch). */
#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out;  /* forward result; backward reads its sign */
    nn_tensor grad; /* dL/dx */
} relu;

static nn_tensor *relu_forward(nn_module *m, const nn_tensor *x)
{
    relu *r = (relu *)m;
    /* x may be our own output slot (h = relu(h)): hold its storage while
       resizing that, or the resize would free what we are about to read */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&r->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = r->out.data;
    int64_t n = nn_tensor_numel(&r->out);
    if (nn_tensor_is_contiguous(&src)) {
        nn_ew_run_unary(nn_relu_kernel, src.data, y, n); /* one pass, in place when src is out */
    } else {
        nn_tensor_gather(&src, y);
        nn_ew_run_unary(nn_relu_kernel, y, y, n);
    }
    nn_tensor_release(&src);
    return &r->out;
}

static nn_tensor *relu_backward(nn_module *m, const nn_tensor *g)
{
    relu *r = (relu *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!r->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: ReLU() called before forward");
    if (!nn_tensor_same_shape(g, &r->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: ReLU() expected grad_out of shape %s, got %s",
                            nn_tensor_shape_str(&r->out, a), nn_tensor_shape_str(g, b));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&r->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *dx = r->grad.data;
    int64_t n = nn_tensor_numel(&r->grad);
    if (nn_tensor_is_contiguous(&src)) {
        nn_ew_run_binary(nn_relu_backward_kernel, r->out.data, src.data, dx, n);
    } else {
        nn_tensor_gather(&src, dx);
        nn_ew_run_binary(nn_relu_backward_kernel, r->out.data, dx, dx, n);
    }
    nn_tensor_release(&src);
    return &r->grad;
}

static void relu_repr(const nn_module *m, FILE *f, int indent)
{
    (void)m;
    (void)indent;
    fputs("ReLU()", f);
}

static void relu_destroy(nn_module *m)
{
    relu *r = (relu *)m;
    nn_tensor_release(&r->out);
    nn_tensor_release(&r->grad);
}

static const nn_module_ops relu_ops = {
    .type = "ReLU",
    .forward = relu_forward,
    .backward = relu_backward,
    .repr = relu_repr,
    .destroy = relu_destroy,
};

nn_module *nn_relu(void)
{
    relu *r = nn_alloc_zeroed(1, sizeof *r);
    if (!r)
        return nn_fail_context_null("nn_relu");
    nn_module_init(&r->base, &relu_ops);
    return &r->base;
}
