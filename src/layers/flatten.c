/* Flatten(start_dim, end_dim): dimensions start_dim..end_dim (negative:
   from the end) become one, [N, d1, ..., dk] -> [N, d1*...*dk] by default;
   backward reshapes the gradient back. A view of a contiguous input, a
   copy into an owned slot otherwise. */
#include <string.h>

#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor out_view, out_copy;   /* forward result: one of the two */
    nn_tensor grad_view, grad_copy; /* dL/dx: one of the two */
    int start_dim, end_dim;         /* as given */
    int in_ndim, out_ndim;          /* in_ndim -1: no forward yet */
    int64_t in_shape[NN_MAX_DIMS];
    int64_t out_shape[NN_MAX_DIMS];
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

static const char *flatten_name(const flatten *f, char *buf, size_t n)
{
    snprintf(buf, n, "Flatten(start_dim=%d, end_dim=%d)", f->start_dim, f->end_dim);
    return buf;
}

/* dim wrapped as torch does for a tensor of ndim dimensions (a 0-D one
   counts as 1-D); -1 + error when out of range */
static int wrap_dim(const flatten *f, const nn_tensor *x, const char *what, int dim)
{
    int nd = x->ndim > 0 ? x->ndim : 1;
    if (dim >= -nd && dim < nd)
        return dim < 0 ? dim + nd : dim;
    char name[96], s[NN_SHAPE_STR_LEN];
    nn_set_error(NN_ESHAPE, "nn_forward: %s got input of shape %s: %s %d is out of range (expected to be in range of [%d, %d])",
                 flatten_name(f, name, sizeof name), nn_tensor_shape_str(x, s), what, dim, -nd, nd - 1);
    return -1;
}

static nn_tensor *flatten_forward(nn_module *m, const nn_tensor *x)
{
    flatten *f = (flatten *)m;
    char name[96], s[NN_SHAPE_STR_LEN];
    int a = wrap_dim(f, x, "start_dim", f->start_dim);
    if (a < 0)
        return NULL;
    int b = wrap_dim(f, x, "end_dim", f->end_dim);
    if (b < 0)
        return NULL;
    if (a > b)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s got input of shape %s: start_dim cannot come after end_dim",
                            flatten_name(f, name, sizeof name), nn_tensor_shape_str(x, s));
    int64_t shape[NN_MAX_DIMS];
    int ndim = 0;
    if (x->ndim == 0) {
        shape[ndim++] = 1;
    } else {
        for (int d = 0; d < a; d++)
            shape[ndim++] = x->shape[d];
        int64_t merged = 1;
        for (int d = a; d <= b; d++)
            merged *= x->shape[d];
        shape[ndim++] = merged;
        for (int d = b + 1; d < x->ndim; d++)
            shape[ndim++] = x->shape[d];
    }
    nn_tensor *y = reshape_into(x, ndim, shape, &f->out_view, &f->out_copy);
    if (!y)
        return NULL;
    f->in_ndim = x->ndim;
    memcpy(f->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    f->out_ndim = ndim;
    memcpy(f->out_shape, shape, (size_t)ndim * sizeof *shape);
    return y;
}

static nn_tensor *flatten_backward(nn_module *m, const nn_tensor *g)
{
    flatten *f = (flatten *)m;
    char name[96], a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (f->in_ndim < 0)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", flatten_name(f, name, sizeof name));
    bool same = g->ndim == f->out_ndim;
    for (int d = 0; same && d < g->ndim; d++)
        same = g->shape[d] == f->out_shape[d];
    if (!same)
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            flatten_name(f, name, sizeof name), nn_shape_str(f->out_ndim, f->out_shape, a),
                            nn_tensor_shape_str(g, b));
    return reshape_into(g, f->in_ndim, f->in_shape, &f->grad_view, &f->grad_copy);
}

static int flatten_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const flatten *f = (const flatten *)m;
    return snprintf(buf, size, "start_dim=%d, end_dim=%d", f->start_dim, f->end_dim);
}

static nn_module *flatten_clone(const nn_module *m)
{
    const flatten *f = (const flatten *)m;
    return nn_flatten_ex(f->start_dim, f->end_dim);
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

nn_module *nn_flatten_ex(int start_dim, int end_dim)
{
    /* both counted from one end: start after end fails for every input */
    if ((start_dim < 0) == (end_dim < 0) && start_dim > end_dim)
        return nn_fail_null(NN_EINVAL, "nn_flatten_ex: start_dim cannot come after end_dim, got start_dim=%d, "
                            "end_dim=%d", start_dim, end_dim);
    if (start_dim < -NN_MAX_DIMS || start_dim >= NN_MAX_DIMS || end_dim < -NN_MAX_DIMS || end_dim >= NN_MAX_DIMS)
        return nn_fail_null(NN_EINVAL, "nn_flatten_ex: expected start_dim and end_dim in [%d, %d] (tensors have at "
                            "most NN_MAX_DIMS dimensions), got start_dim=%d, end_dim=%d",
                            -NN_MAX_DIMS, NN_MAX_DIMS - 1, start_dim, end_dim);
    flatten *f = nn_alloc_zeroed(1, sizeof *f);
    if (!f)
        return NULL;
    NN_MODULE_INIT(&f->base, &flatten_ops);
    f->start_dim = start_dim;
    f->end_dim = end_dim;
    f->in_ndim = -1;
    return &f->base;
}

nn_module *nn_flatten(void)
{
    nn_module *m = nn_flatten_ex(1, -1);
    if (!m)
        nn_fail_context_null("nn_flatten");
    return m;
}
