/* Select(dim, index): y = x.select(dim, index), torch.select as a layer (a
   libnn addition; PyTorch code writes out[:, -1, :]). dL/dx is g at the
   selected slice, zero elsewhere. */
#include <string.h>

#include "module/module_impl.h"

typedef struct {
    nn_module base;
    int dim;
    int64_t index;
    nn_tensor out, x_copy, grad;
    int in_ndim;
    int64_t in_shape[NN_MAX_DIMS];
    int64_t outer, size, inner, at; /* x as [outer, size, inner], the slice at */
} selectl;

static int select_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const selectl *s = (const selectl *)m;
    return snprintf(buf, size, "dim=%d, index=%lld", s->dim, (long long)s->index);
}

static nn_module *select_clone(const nn_module *m)
{
    const selectl *s = (const selectl *)m;
    return nn_select(s->dim, s->index);
}

static nn_tensor *select_forward(nn_module *m, const nn_tensor *x)
{
    selectl *s = (selectl *)m;
    char a[NN_SHAPE_STR_LEN];
    int nd = x->ndim;
    if (nd == 0)
        return nn_fail_null(NN_EINVAL, "nn_forward: Select(dim=%d, index=%lld): select() cannot be applied to a 0-dim tensor.",
                            s->dim, (long long)s->index);
    if (s->dim < -nd || s->dim >= nd)
        return nn_fail_null(NN_EINVAL, "nn_forward: Select(dim=%d, index=%lld): Dimension out of range (expected to be in "
                            "range of [%d, %d], but got %d)", s->dim, (long long)s->index, -nd, nd - 1, s->dim);
    int d = s->dim < 0 ? s->dim + nd : s->dim;
    int64_t size = x->shape[d];
    if (s->index < -size || s->index >= size)
        return nn_fail_null(NN_EINVAL, "nn_forward: Select(dim=%d, index=%lld): select(): index %lld out of range for "
                            "tensor of size %s at dimension %d", s->dim, (long long)s->index, (long long)s->index,
                            nn_tensor_shape_str(x, a), d);
    int64_t shape[NN_MAX_DIMS], outer = 1, inner = 1;
    for (int i = 0, j = 0; i < nd; i++) {
        if (i < d)
            outer *= x->shape[i];
        if (i > d)
            inner *= x->shape[i];
        if (i != d)
            shape[j++] = x->shape[i];
    }
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_reserve_dense(&s->x_copy, &src) < 0 || nn_tensor_resize(&s->out, nd - 1, shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    const float *xd = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, s->x_copy.data);
        xd = s->x_copy.data;
    }
    int64_t at = s->index < 0 ? s->index + size : s->index;
    for (int64_t o = 0; o < outer; o++)
        memcpy(s->out.data + o * inner, xd + (o * size + at) * inner, (size_t)inner * sizeof(float));
    nn_tensor_release(&src);
    s->in_ndim = nd;
    memcpy(s->in_shape, x->shape, sizeof s->in_shape);
    s->outer = outer;
    s->size = size;
    s->inner = inner;
    s->at = at;
    return &s->out;
}

static nn_tensor *select_backward(nn_module *m, const nn_tensor *g)
{
    selectl *s = (selectl *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!nn_tensor_same_shape(g, &s->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Select(dim=%d, index=%lld) expected grad_out of shape %s, got %s",
                            s->dim, (long long)s->index, nn_tensor_shape_str(&s->out, a), nn_tensor_shape_str(g, b));
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_reserve_dense(&s->x_copy, &src) < 0 || nn_tensor_resize(&s->grad, s->in_ndim, s->in_shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    const float *gd = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, s->x_copy.data);
        gd = s->x_copy.data;
    }
    int64_t n = nn_tensor_numel(&s->grad);
    memset(s->grad.data, 0, (size_t)n * sizeof(float));
    for (int64_t o = 0; o < s->outer; o++)
        memcpy(s->grad.data + (o * s->size + s->at) * s->inner, gd + o * s->inner, (size_t)s->inner * sizeof(float));
    nn_tensor_release(&src);
    return &s->grad;
}

static void select_destroy(nn_module *m)
{
    selectl *s = (selectl *)m;
    nn_tensor_release(&s->out);
    nn_tensor_release(&s->x_copy);
    nn_tensor_release(&s->grad);
}

static const nn_module_ops select_ops = {
    .type = "Select", .forward = select_forward, .backward = select_backward, .extra_repr = select_extra_repr,
    .destroy = select_destroy, .clone = select_clone,
};

nn_module *nn_select(int dim, int64_t index)
{
    selectl *s = nn_alloc_zeroed(1, sizeof *s);
    if (!s)
        return nn_fail_context_null("nn_select(%d, %lld)", dim, (long long)index);
    NN_MODULE_INIT(&s->base, &select_ops);
    s->dim = dim;
    s->index = index;
    return &s->base;
}
