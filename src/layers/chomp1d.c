/* Chomp1d (a libnn addition, the TCN code's module): y = x[..., :L - c],
   dL/dx = g with zeros in the dropped entries. */
#include <string.h>

#include "module/module_impl.h"

typedef struct {
    nn_module base;
    int64_t chomp;
    nn_tensor out, grad, scratch;
    int in_ndim;
    int64_t in_shape[NN_MAX_DIMS];
} chomp1d;

static int chomp_extra_repr(const nn_module *m, char *buf, size_t size)
{
    return snprintf(buf, size, "chomp_size=%lld", (long long)((const chomp1d *)m)->chomp);
}

static nn_tensor *chomp_forward(nn_module *m, const nn_tensor *x)
{
    chomp1d *c = (chomp1d *)m;
    char s[NN_SHAPE_STR_LEN];
    if (x->ndim < 1 || x->shape[x->ndim - 1] <= c->chomp)
        return nn_fail_null(NN_ESHAPE, "nn_forward: Chomp1d(chomp_size=%lld) expected an input whose last dimension "
                            "is larger than %lld, got shape %s",
                            (long long)c->chomp, (long long)c->chomp, nn_tensor_shape_str(x, s));
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    const int64_t L = x->shape[x->ndim - 1], keep = L - c->chomp;
    shape[x->ndim - 1] = keep;
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    const float *xd = nn_tensor_dense(&src, &c->scratch);
    if (!xd || nn_tensor_resize(&c->out, x->ndim, shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    const int64_t rows = nn_tensor_numel(x) / L;
    for (int64_t r = 0; r < rows; r++)
        memcpy(c->out.data + r * keep, xd + r * L, (size_t)keep * sizeof(float));
    nn_tensor_release(&src);
    c->in_ndim = x->ndim;
    memcpy(c->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    return &c->out;
}

static nn_tensor *chomp_backward(nn_module *m, const nn_tensor *g)
{
    chomp1d *c = (chomp1d *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!c->in_ndim)
        return nn_fail_null(NN_EINVAL, "nn_backward: Chomp1d(chomp_size=%lld) called before forward",
                            (long long)c->chomp);
    if (!nn_tensor_same_shape(g, &c->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Chomp1d(chomp_size=%lld) expected grad_out of shape %s, got %s",
                            (long long)c->chomp, nn_tensor_shape_str(&c->out, a), nn_tensor_shape_str(g, b));
    nn_tensor keep_g = {0};
    nn_tensor_retain_into(&keep_g, g);
    const float *gd = nn_tensor_dense(&keep_g, &c->scratch);
    if (!gd || nn_tensor_resize(&c->grad, c->in_ndim, c->in_shape, &keep_g) < 0) {
        nn_tensor_release(&keep_g);
        return NULL;
    }
    const int64_t L = c->in_shape[c->in_ndim - 1], keep = L - c->chomp;
    const int64_t rows = nn_tensor_numel(&c->grad) / L;
    for (int64_t r = 0; r < rows; r++) {
        memcpy(c->grad.data + r * L, gd + r * keep, (size_t)keep * sizeof(float));
        memset(c->grad.data + r * L + keep, 0, (size_t)c->chomp * sizeof(float));
    }
    nn_tensor_release(&keep_g);
    return &c->grad;
}

static void chomp_destroy(nn_module *m)
{
    chomp1d *c = (chomp1d *)m;
    nn_tensor_release(&c->out);
    nn_tensor_release(&c->grad);
    nn_tensor_release(&c->scratch);
}

static nn_module *chomp_clone(const nn_module *m)
{
    return nn_chomp1d(((const chomp1d *)m)->chomp);
}

static const nn_module_ops chomp_ops = {
    .type = "Chomp1d",
    .forward = chomp_forward,
    .backward = chomp_backward,
    .extra_repr = chomp_extra_repr,
    .destroy = chomp_destroy,
    .clone = chomp_clone,
};

nn_module *nn_chomp1d(int64_t chomp_size)
{
    if (chomp_size < 1)
        return nn_fail_null(NN_EINVAL, "nn_chomp1d: expected chomp_size >= 1, got %lld", (long long)chomp_size);
    chomp1d *c = nn_alloc_zeroed(1, sizeof *c);
    if (!c)
        return NULL;
    NN_MODULE_INIT(&c->base, &chomp_ops);
    c->chomp = chomp_size;
    return &c->base;
}
