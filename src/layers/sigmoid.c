/* Sigmoid: f(x) = 1 / (1 + exp(-x));  df/dx = f(x) (1 - f(x)), from the cached output. */
#include <math.h>

#include "module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out;  /* forward result; backward reads it */
    nn_tensor grad; /* dL/dx */
} sigmoid;

/* Never exponentiates a large positive number: exp(-|x|) is in (0, 1]. */
static float stable_sigmoid(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

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
    nn_tensor_gather(&src, y);
    nn_tensor_release(&src);
    int64_t n = nn_tensor_numel(&s->out);
    for (int64_t i = 0; i < n; i++)
        y[i] = stable_sigmoid(y[i]);
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
    nn_tensor_gather(&src, dx);
    nn_tensor_release(&src);
    const float *y = s->out.data;
    int64_t n = nn_tensor_numel(&s->grad);
    for (int64_t i = 0; i < n; i++)
        dx[i] = dx[i] * (1.0f - y[i]) * y[i];
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
        return NULL;
    nn_module_init(&s->base, &sigmoid_ops);
    return &s->base;
}
