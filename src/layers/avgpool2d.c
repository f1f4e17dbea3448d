/* AvgPool2d: y[n,c,i,j] = sum of x over the window starting at
   (i*sh - ph, j*sw - pw) inside the input, divided by divisor_override, or
   the window's size clipped to the padded input (count_include_pad) or to
   the input. dL/dx: each tap of a window gets dL/dy / divisor. */
#include <string.h>

#include "kernels/pool.h"
#include "layers/pool_impl.h"

typedef struct {
    nn_module base;
    nn_avgpool2d_opts o;
    int dims;          /* 2: AvgPool2d; 1: AvgPool1d, an [N, C, L] input run as [N, C, 1, L] */
    nn_tensor out;     /* forward result */
    nn_tensor grad;    /* dL/dx */
    nn_tensor scratch; /* dense copy of a strided input or grad_out */
    int in_ndim;
    int64_t in_shape[4];
} avgpool2d;

/* "2" for equal sides, "(2, 3)" otherwise, as torch prints an int or a tuple */
static const char *side(char *buf, size_t size, int a, int b)
{
    if (a == b)
        snprintf(buf, size, "%d", a);
    else
        snprintf(buf, size, "(%d, %d)", a, b);
    return buf;
}

/* torch's extra_repr: kernel_size, stride and padding only */
static int avgpool_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_avgpool2d_opts *o = &((const avgpool2d *)m)->o;
    char k[32], s[32], p[32];
    return snprintf(buf, size, "kernel_size=%s, stride=%s, padding=%s", side(k, sizeof k, o->kernel_h, o->kernel_w),
                    side(s, sizeof s, o->stride_h, o->stride_w), side(p, sizeof p, o->pad_h, o->pad_w));
}

static const char *avgpool_name(const avgpool2d *p, char *buf, size_t n)
{
    char extra[128];
    p->base.ops->extra_repr(&p->base, extra, sizeof extra);
    snprintf(buf, n, "%s(%s)", p->base.ops->type, extra);
    return buf;
}

static nn_pool_geom geom_of(const avgpool2d *p, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    const nn_avgpool2d_opts *o = &p->o;
    return (nn_pool_geom){H, W, OH, OW, o->kernel_h, o->kernel_w, o->stride_h, o->stride_w, o->pad_h, o->pad_w, 1, 1};
}

nn_tensor *nn_avgpool_module_forward(nn_module *m, const nn_tensor *x)
{
    avgpool2d *p = (avgpool2d *)m;
    const nn_avgpool2d_opts *o = &p->o;
    char name[192], s[NN_SHAPE_STR_LEN];
    const int d = p->dims;
    if (x->ndim != d + 1 && x->ndim != d + 2)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected a %s input, got shape %s",
                            avgpool_name(p, name, sizeof name),
                            d == 1 ? "2-D [C, L] or 3-D [N, C, L]" : "3-D [C, H, W] or 4-D [N, C, H, W]",
                            nn_tensor_shape_str(x, s));
    int lead = x->ndim - d - 1;
    int64_t N = lead ? x->shape[0] : 1, C = x->shape[lead], H = d == 1 ? 1 : x->shape[lead + 1],
            W = x->shape[x->ndim - 1];
    /* torch: only the batch may be empty */
    if (C == 0 || H == 0 || W == 0)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected %s > 0 (only the batch N may be 0), got input of shape %s",
                            avgpool_name(p, name, sizeof name), d == 1 ? "C and L" : "C, H and W",
                            nn_tensor_shape_str(x, s));
    int64_t OH = nn_pool_output_size(H, o->kernel_h, o->pad_h, o->stride_h, 1, o->ceil_mode);
    int64_t OW = nn_pool_output_size(W, o->kernel_w, o->pad_w, o->stride_w, 1, o->ceil_mode);
    if (OH < 1 || OW < 1)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s got input of shape %s: the %dx%d window is larger than the "
                            "padded input (%lldx%lld); output size would be %lldx%lld",
                            avgpool_name(p, name, sizeof name), nn_tensor_shape_str(x, s), o->kernel_h, o->kernel_w,
                            (long long)(H + 2 * o->pad_h), (long long)(W + 2 * o->pad_w), (long long)(OH < 0 ? 0 : OH),
                            (long long)(OW < 0 ? 0 : OW));
    int64_t oshape[4];
    nn_pool_out_shape(x->ndim, d, N, C, OH, OW, oshape);
    const float *xd = nn_tensor_dense(x, &p->scratch);
    if (!xd || nn_tensor_resize(&p->out, x->ndim, oshape, x) < 0)
        return NULL;
    nn_pool_geom g = geom_of(p, H, W, OH, OW);
    nn_avgpool_forward(&g, o->count_include_pad, o->divisor_override, xd, N * C, p->out.data);
    p->in_ndim = x->ndim;
    memcpy(p->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    return &p->out;
}

nn_tensor *nn_avgpool_backward_m(nn_module *m, const nn_tensor *g)
{
    avgpool2d *p = (avgpool2d *)m;
    char name[192], a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!p->in_ndim)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", avgpool_name(p, name, sizeof name));
    if (!nn_tensor_same_shape(g, &p->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            avgpool_name(p, name, sizeof name), nn_tensor_shape_str(&p->out, a),
                            nn_tensor_shape_str(g, b));
    const float *gd = nn_tensor_dense(g, &p->scratch);
    if (!gd || nn_tensor_resize(&p->grad, p->in_ndim, p->in_shape, g) < 0)
        return NULL;
    const int d = p->dims, nd = p->in_ndim;
    int lead = nd - d - 1;
    int64_t planes = lead ? p->in_shape[0] * p->in_shape[1] : p->in_shape[0];
    nn_pool_geom geom = geom_of(p, d == 1 ? 1 : p->in_shape[nd - 2], p->in_shape[nd - 1],
                                d == 1 ? 1 : p->out.shape[nd - 2], p->out.shape[nd - 1]);
    nn_avgpool_backward(&geom, p->o.count_include_pad, p->o.divisor_override, gd, planes, p->grad.data);
    return &p->grad;
}

void nn_avgpool_destroy(nn_module *m)
{
    avgpool2d *p = (avgpool2d *)m;
    nn_tensor_release(&p->out);
    nn_tensor_release(&p->grad);
    nn_tensor_release(&p->scratch);
}

static nn_module *avgpool_clone(const nn_module *m);

static const nn_module_ops avgpool_ops = {
    .type = "AvgPool2d",
    .forward = nn_avgpool_module_forward,
    .backward = nn_avgpool_backward_m,
    .extra_repr = avgpool_extra_repr,
    .destroy = nn_avgpool_destroy,
    .clone = avgpool_clone,
};

/* Options as the rule in nn/opts.h says: from
   nn_avgpool2d_defaults taken as written; written by hand, 0 stride is the
   kernel size. */
static nn_module *avgpool_new(const char *fn, const nn_avgpool2d_opts *opts)
{
    return nn_avgpool_create(fn, opts, 2, &avgpool_ops);
}

const nn_avgpool2d_opts *nn_avgpool_opts_of(const nn_module *m)
{
    return &((const avgpool2d *)m)->o;
}

nn_module *nn_avgpool_create(const char *fn, const nn_avgpool2d_opts *opts, int dims, const nn_module_ops *ops)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    nn_avgpool2d_opts o = *opts;
    const int by_hand = nn_opts_by_hand(fn, "nn_avgpool2d_opts", "nn_avgpool2d_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (nn_pool_check_kernel(fn, o.kernel_h, o.kernel_w) < 0)
        return NULL;
    const int least = by_hand ? 0 : 1;
    const char *stride_why = by_hand ? "0 means the kernel size in options written by hand"
                                     : "options from nn_avgpool2d_defaults are taken as written; 0 means the "
                                       "kernel size only in options written by hand";
    if (o.stride_h < least || o.stride_w < least || o.stride_h > 65535 || o.stride_w > 65535)
        return nn_fail_null(NN_EINVAL, "%s: expected stride_h and stride_w in %d..65535 (%s), got stride (%d, %d)",
                            fn, least, stride_why, o.stride_h, o.stride_w);
    if (nn_pool_check_padding(fn, o.kernel_h, o.kernel_w, o.pad_h, o.pad_w) < 0)
        return NULL;
    if (!o.stride_h)
        o.stride_h = o.kernel_h;
    if (!o.stride_w)
        o.stride_w = o.kernel_w;
    o.from_defaults = NN_OPTS_FROM_DEFAULTS; /* complete now */
    avgpool2d *p = nn_alloc_zeroed(1, sizeof *p);
    if (!p)
        return NULL;
    NN_MODULE_INIT(&p->base, ops);
    p->o = o;
    p->dims = dims;
    return &p->base;
}

nn_avgpool2d_opts nn_avgpool2d_defaults(int kernel_size)
{
    return (nn_avgpool2d_opts){.kernel_h = kernel_size, .kernel_w = kernel_size, .stride_h = kernel_size,
                               .stride_w = kernel_size, .count_include_pad = true,
                               .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_avgpool2d_ex(const nn_avgpool2d_opts *opts)
{
    return avgpool_new("nn_avgpool2d_ex", opts);
}

nn_module *nn_avgpool2d(int kernel_size, int stride)
{
    if (stride < 0)
        return nn_fail_null(NN_EINVAL, "nn_avgpool2d: expected stride >= 0 (0: kernel_size), got %d", stride);
    nn_avgpool2d_opts o = nn_avgpool2d_defaults(kernel_size);
    if (stride)
        o.stride_h = o.stride_w = stride;
    return avgpool_new("nn_avgpool2d", &o);
}

static nn_module *avgpool_clone(const nn_module *m)
{
    return nn_avgpool_clone(m);
}

nn_module *nn_avgpool_clone(const nn_module *m)
{
    const avgpool2d *p = (const avgpool2d *)m;
    return nn_avgpool_create(p->dims == 1 ? "nn_avgpool1d_ex" : "nn_avgpool2d_ex", &p->o, p->dims, m->ops);
}
