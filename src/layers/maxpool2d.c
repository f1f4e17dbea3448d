/* MaxPool2d: y[n,c,i,j] = max over the window of x starting at
   (i*sh - ph, j*sw - pw), taps dilation apart; padding never wins.
   dL/dx[argmax] += dL/dy (first maximum on ties, a NaN wins, as PyTorch). */
#include <string.h>

#include "kernels/pool.h"
#include "layers/pool_impl.h"

typedef struct {
    nn_module base;
    nn_maxpool2d_opts o;
    int dims;          /* 2: MaxPool2d; 1: MaxPool1d, an [N, C, L] input run as [N, C, 1, L] */
    nn_tensor out;     /* forward result */
    nn_tensor grad;    /* dL/dx */
    nn_tensor scratch; /* dense copy of a strided input or grad_out */
    /* per output element, which input won: a uint8_t tap code 0..3 on the
       2x2 stride-2 path (fast), else an int64_t h*W+w inside its plane */
    void *argmax;
    size_t argmax_bytes;
    bool fast;
    int in_ndim;
    int64_t in_shape[4];
} maxpool2d;

/* "2" for equal sides, "(2, 3)" otherwise, as torch prints an int or a tuple */
static const char *side(char *buf, size_t size, int a, int b)
{
    if (a == b)
        snprintf(buf, size, "%d", a);
    else
        snprintf(buf, size, "(%d, %d)", a, b);
    return buf;
}

static int maxpool_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_maxpool2d_opts *o = &((const maxpool2d *)m)->o;
    char k[32], s[32], p[32], d[32];
    return snprintf(buf, size, "kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s",
                    side(k, sizeof k, o->kernel_h, o->kernel_w), side(s, sizeof s, o->stride_h, o->stride_w),
                    side(p, sizeof p, o->pad_h, o->pad_w), side(d, sizeof d, o->dilation_h, o->dilation_w),
                    o->ceil_mode ? "True" : "False");
}

/* One short description for error messages. */
static const char *maxpool_name(const maxpool2d *p, char *buf, size_t n)
{
    const nn_maxpool2d_opts *o = &p->o;
    if (p->dims == 1)
        snprintf(buf, n, "MaxPool1d(kernel_size=%d, stride=%d)", o->kernel_w, o->stride_w);
    else if (o->kernel_h == o->kernel_w && o->stride_h == o->stride_w)
        snprintf(buf, n, "MaxPool2d(kernel_size=%d, stride=%d)", o->kernel_h, o->stride_h);
    else
        snprintf(buf, n, "MaxPool2d(kernel_size=(%d, %d), stride=(%d, %d))", o->kernel_h, o->kernel_w,
                 o->stride_h, o->stride_w);
    return buf;
}

/* The common kernel 2, stride 2 case with whole windows only. */
static bool is_2x2(const nn_maxpool2d_opts *o, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    return o->kernel_h == 2 && o->kernel_w == 2 && o->stride_h == 2 && o->stride_w == 2 && o->pad_h == 0 &&
           o->pad_w == 0 && o->dilation_h == 1 && o->dilation_w == 1 && OH == H / 2 && OW == W / 2;
}

/* relu_first: pool relu(x) (forward_after_relu); the winners then mark
   windows whose gradient relu would stop, so backward needs no flag. */
static nn_tensor *maxpool_run(nn_module *m, const nn_tensor *x, bool relu_first)
{
    maxpool2d *p = (maxpool2d *)m;
    const nn_maxpool2d_opts *o = &p->o;
    char name[128], s[NN_SHAPE_STR_LEN];
    const int d = p->dims;
    if (x->ndim != d + 1 && x->ndim != d + 2)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected a %s input, got shape %s",
                            maxpool_name(p, name, sizeof name),
                            d == 1 ? "2-D [C, L] or 3-D [N, C, L]" : "3-D [C, H, W] or 4-D [N, C, H, W]",
                            nn_tensor_shape_str(x, s));
    int lead = x->ndim - d - 1;
    int64_t N = lead ? x->shape[0] : 1, C = x->shape[lead], H = d == 1 ? 1 : x->shape[lead + 1],
            W = x->shape[x->ndim - 1];
    int64_t OH = nn_pool_output_size(H, o->kernel_h, o->pad_h, o->stride_h, o->dilation_h, o->ceil_mode);
    int64_t OW = nn_pool_output_size(W, o->kernel_w, o->pad_w, o->stride_w, o->dilation_w, o->ceil_mode);
    if (OH < 1 || OW < 1 || N * C == 0)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s got input of shape %s: output size would be %lldx%lld (too small or empty)",
                            maxpool_name(p, name, sizeof name), nn_tensor_shape_str(x, s), (long long)OH, (long long)OW);
    int64_t oshape[4];
    nn_pool_out_shape(x->ndim, d, N, C, OH, OW, oshape);
    bool fast = is_2x2(o, H, W, OH, OW);
    size_t need = (size_t)(N * C * OH * OW) * (fast ? sizeof(uint8_t) : sizeof(int64_t));
    /* every allocation before any change: a failure leaves the last
       forward (its output and the winners backward uses) intact */
    void *grown = need > p->argmax_bytes ? nn_alloc_zeroed(need, 1) : NULL;
    if (need > p->argmax_bytes && !grown)
        return NULL;
    const float *xd = nn_tensor_dense(x, &p->scratch);
    if (!xd || nn_tensor_resize(&p->out, x->ndim, oshape, x) < 0) {
        nn_release(grown);
        return NULL;
    }
    if (grown) {
        nn_release(p->argmax);
        p->argmax = grown;
        p->argmax_bytes = need;
    }
    if (fast) {
        (relu_first ? nn_maxpool2x2_relu_forward : nn_maxpool2x2_forward)(xd, N * C, H, W, p->out.data,
                                                                          p->argmax);
    } else {
        nn_pool_geom g = {H, W, OH, OW, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w,
                          o->pad_h, o->pad_w, o->dilation_h, o->dilation_w};
        (relu_first ? nn_maxpool_relu_forward : nn_maxpool_forward)(&g, xd, N * C, p->out.data, p->argmax);
    }
    p->fast = fast;
    p->in_ndim = x->ndim;
    memcpy(p->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    return &p->out;
}

nn_tensor *nn_maxpool_module_forward(nn_module *m, const nn_tensor *x) { return maxpool_run(m, x, false); }

nn_tensor *nn_maxpool_forward_after_relu(nn_module *m, const nn_tensor *x) { return maxpool_run(m, x, true); }

nn_tensor *nn_maxpool_backward_m(nn_module *m, const nn_tensor *g)
{
    maxpool2d *p = (maxpool2d *)m;
    char name[128], a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!p->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", maxpool_name(p, name, sizeof name));
    if (!nn_tensor_same_shape(g, &p->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            maxpool_name(p, name, sizeof name), nn_tensor_shape_str(&p->out, a),
                            nn_tensor_shape_str(g, b));
    const float *gd = nn_tensor_dense(g, &p->scratch);
    if (!gd || nn_tensor_resize(&p->grad, p->in_ndim, p->in_shape, g) < 0)
        return NULL;
    const int d = p->dims, nd = p->in_ndim;
    int lead = nd - d - 1;
    int64_t planes = lead ? p->in_shape[0] * p->in_shape[1] : p->in_shape[0];
    int64_t H = d == 1 ? 1 : p->in_shape[nd - 2], W = p->in_shape[nd - 1];
    int64_t OH = d == 1 ? 1 : p->out.shape[nd - 2], OW = p->out.shape[nd - 1];
    const nn_maxpool2d_opts *o = &p->o;
    if (p->fast) {
        nn_maxpool2x2_backward(gd, p->argmax, planes, H, W, p->grad.data);
    } else {
        nn_pool_geom geom = {H, W, OH, OW, o->kernel_h, o->kernel_w,
                             o->stride_h, o->stride_w, o->pad_h, o->pad_w, o->dilation_h, o->dilation_w};
        nn_maxpool_backward(&geom, gd, p->argmax, planes, p->grad.data);
    }
    return &p->grad;
}

void nn_maxpool_destroy(nn_module *m)
{
    maxpool2d *p = (maxpool2d *)m;
    nn_tensor_release(&p->out);
    nn_tensor_release(&p->grad);
    nn_tensor_release(&p->scratch);
    nn_release(p->argmax);
}

static nn_module *maxpool_clone(const nn_module *m);

static const nn_module_ops maxpool_ops = {
    .type = "MaxPool2d",
    .forward = nn_maxpool_module_forward,
    .backward = nn_maxpool_backward_m,
    .extra_repr = maxpool_extra_repr,
    .destroy = nn_maxpool_destroy,
    .clone = maxpool_clone,
    /* max commutes with the non-decreasing relu: pool relu(x) in one pass */
    .absorbs = "relu",
    .forward_absorbing = nn_maxpool_forward_after_relu,
};

/* Options as the rule in nn/opts.h says: from
   nn_maxpool2d_defaults taken as written; written by hand, 0 stride is the
   kernel size and 0 dilation 1. */
static nn_module *pool_new(const char *fn, const nn_maxpool2d_opts *opts)
{
    return nn_maxpool_create(fn, opts, 2, &maxpool_ops);
}

const nn_maxpool2d_opts *nn_maxpool_opts_of(const nn_module *m)
{
    return &((const maxpool2d *)m)->o;
}

nn_module *nn_maxpool_create(const char *fn, const nn_maxpool2d_opts *opts, int dims, const nn_module_ops *ops)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    nn_maxpool2d_opts o = *opts;
    const int by_hand = nn_opts_by_hand(fn, "nn_maxpool2d_opts", "nn_maxpool2d_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (nn_pool_check_kernel(fn, o.kernel_h, o.kernel_w) < 0)
        return NULL;
    const int least = by_hand ? 0 : 1;
    const char *stride_why = by_hand ? "0 means the kernel size in options written by hand"
                                     : "options from nn_maxpool2d_defaults are taken as written; 0 means the "
                                       "kernel size only in options written by hand";
    const char *dilation_why = by_hand ? "0 means 1 in options written by hand"
                                       : "options from nn_maxpool2d_defaults are taken as written; 0 means 1 "
                                         "only in options written by hand";
    if (o.stride_h < least || o.stride_w < least)
        return nn_fail_null(NN_EINVAL, "%s: expected stride_h and stride_w >= %d (%s), got stride (%d, %d)", fn,
                            least, stride_why, o.stride_h, o.stride_w);
    if (o.dilation_h < least || o.dilation_w < least)
        return nn_fail_null(NN_EINVAL, "%s: expected dilation_h and dilation_w >= %d (%s), got dilation (%d, %d)",
                            fn, least, dilation_why, o.dilation_h, o.dilation_w);
    if (nn_pool_check_padding(fn, o.kernel_h, o.kernel_w, o.pad_h, o.pad_w) < 0)
        return NULL;
    if (!o.stride_h)
        o.stride_h = o.kernel_h;
    if (!o.stride_w)
        o.stride_w = o.kernel_w;
    if (!o.dilation_h)
        o.dilation_h = 1;
    if (!o.dilation_w)
        o.dilation_w = 1;
    o.from_defaults = NN_OPTS_FROM_DEFAULTS; /* complete now */
    maxpool2d *p = nn_alloc_zeroed(1, sizeof *p);
    if (!p)
        return NULL;
    NN_MODULE_INIT(&p->base, ops);
    p->o = o;
    p->dims = dims;
    return &p->base;
}

nn_maxpool2d_opts nn_maxpool2d_defaults(int kernel_size)
{
    return (nn_maxpool2d_opts){.kernel_h = kernel_size, .kernel_w = kernel_size, .stride_h = kernel_size,
                               .stride_w = kernel_size, .dilation_h = 1, .dilation_w = 1,
                               .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_maxpool2d_ex(const nn_maxpool2d_opts *opts)
{
    return pool_new("nn_maxpool2d_ex", opts);
}

nn_module *nn_maxpool2d(int kernel_size, int stride)
{
    if (stride < 0)
        return nn_fail_null(NN_EINVAL, "nn_maxpool2d: expected stride >= 0 (0: kernel_size), got %d", stride);
    /* written by hand: stride 0 is the kernel size */
    nn_maxpool2d_opts o = {.kernel_h = kernel_size, .kernel_w = kernel_size, .stride_h = stride, .stride_w = stride};
    return pool_new("nn_maxpool2d", &o);
}

static nn_module *maxpool_clone(const nn_module *m)
{
    return nn_maxpool_clone(m);
}

nn_module *nn_maxpool_clone(const nn_module *m)
{
    const maxpool2d *p = (const maxpool2d *)m;
    return nn_maxpool_create(p->dims == 1 ? "nn_maxpool1d_ex" : "nn_maxpool2d_ex", &p->o, p->dims, m->ops);
}
