/* Flatten(start_dim=1, end_dim=-1): [N, d1, ..., dk] -> [N, d1*...*dk];
   backward reshapes the gradient back. A view of a contiguous input, a
   copy into an owned slot otherwise. */
#include <string.h>

#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out_view, out_copy;   /* forward result: one of the two */
    nn_tensor grad_view, grad_copy; /* dL/dx: one of the two */
    int in_ndim;
    int64_t in_shape[NN_MAX_DIMS];
    int64_t out_shape[2];
} flatten;

/* Shape `shape` of src as a view when contiguous (into view), else as a copy
   (into copy, never onto src's storage). The unused slot is emptied so a
   view never pins storage another module may reuse. */
static nn_tensor *reshape_into(const nn_tensor *src, int ndim, const int64_t *shape, nn_tensor *view,
                               nn_tensor *copy)
{
    if (nn_tensor_is_contiguous(src)) {
        nn_tensor_retain_into(view, src);
        view->ndim = ndim;
        memcpy(view->shape, shape, (size_t)ndim * sizeof *shape);
        nn_tensor_set_contiguous_strides(view);
        return view;
    }
    if (nn_tensor_resize(copy, ndim, shape, src) < 0)
        return NULL; /* the last result (view or copy) as it was */
    nn_tensor_release(view);
    nn_tensor_gather(src, copy->data);
    return copy;
}

static nn_tensor *flatten_forward(nn_module *m, const nn_tensor *x)
{
    flatten *f = (flatten *)m;
    char s[NN_SHAPE_STR_LEN];
    if (x->ndim < 1)
        return nn_fail_null(NN_ESHAPE, "nn_forward: Flatten(start_dim=1, end_dim=-1) expected an input with at least 1 dimension, got shape %s",
                            nn_tensor_shape_str(x, s));
    if (x->ndim < 2) /* torch: start_dim 1 is out of range for a 1-D input */
        return nn_fail_null(NN_ESHAPE, "nn_forward: Flatten(start_dim=1, end_dim=-1) expected at least 2 dimensions [N, ...], got shape %s",
                            nn_tensor_shape_str(x, s));
    int64_t rest = 1;
    for (int d = 1; d < x->ndim; d++)
        rest *= x->shape[d];
    int64_t shape[2] = {x->shape[0], rest};
    nn_tensor *y = reshape_into(x, 2, shape, &f->out_view, &f->out_copy);
    if (!y)
        return NULL;
    f->in_ndim = x->ndim;
    memcpy(f->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    memcpy(f->out_shape, shape, sizeof shape);
    return y;
}

static nn_tensor *flatten_backward(nn_module *m, const nn_tensor *g)
{
    flatten *f = (flatten *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!f->in_ndim)
        return nn_fail_null(NN_EINVAL, "nn_backward: Flatten(start_dim=1, end_dim=-1) called before forward");
    if (g->ndim != 2 || g->shape[0] != f->out_shape[0] || g->shape[1] != f->out_shape[1])
        return nn_fail_null(NN_ESHAPE, "nn_backward: Flatten(start_dim=1, end_dim=-1) expected grad_out of shape %s, got %s",
                            nn_shape_str(2, f->out_shape, a), nn_tensor_shape_str(g, b));
    return reshape_into(g, f->in_ndim, f->in_shape, &f->grad_view, &f->grad_copy);
}

static int flatten_extra_repr(const nn_module *m, char *buf, size_t size)
{
    (void)m;
    return snprintf(buf, size, "start_dim=1, end_dim=-1");
}

static nn_module *flatten_clone(const nn_module *m)
{
    (void)m;
    return nn_flatten();
}

static void flatten_destroy(nn_module *m)
{
    flatten *f = (flatten *)m;
    nn_tensor_release(&f->out_view);
    nn_tensor_release(&f->out_copy);
    nn_tensor_release(&f->grad_view);
    nn_tensor_release(&f->grad_copy);
}

static const nn_module_ops flatten_ops = {
    .type = "Flatten",
    .forward = flatten_forward,
    .backward = flatten_backward,
    .extra_repr = flatten_extra_repr,
    .destroy = flatten_destroy,
    .clone = flatten_clone,
};

nn_module *nn_flatten(void)
{
    flatten *f = nn_alloc_zeroed(1, sizeof *f);
    if (!f)
        return NULL;
    NN_MODULE_INIT(&f->base, &flatten_ops);
    return &f->base;
}
