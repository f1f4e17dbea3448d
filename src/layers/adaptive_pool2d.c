/* AdaptiveAvgPool2d and AdaptiveMaxPool2d: output [.., out_h, out_w]
   whatever the input's H x W; output (i, j) pools input rows
   [floor(i*H/out_h), ceil((i+1)*H/out_h)) and the columns likewise
   (windows overlap when the sizes do not divide, repeat when the output is
   larger).
   - Avg: the window's mean; dL/dx: each tap of a window gets dL/dy / its
     size.
   - Max: the window's max; dL/dx[argmax] += dL/dy (first maximum on ties,
     a NaN wins, as PyTorch). */
#include <stdbool.h>
#include <string.h>

#include "kernels/pool.h"
#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_adaptive_avgpool2d_opts o; /* nn_adaptive_maxpool2d_opts is the same type */
    bool max;                     /* AdaptiveMaxPool2d */
    nn_tensor out;                /* forward result */
    nn_tensor grad;               /* dL/dx */
    nn_tensor scratch;            /* dense copy of a strided input or grad_out */
    int64_t *argmax;              /* Max: per output element, h*W + w of the winner in its plane */
    size_t argmax_bytes;
    int in_ndim;
    int64_t in_shape[4];
} adaptive_pool2d;

/* output_size=7 for an int, output_size=(7, 7) for a tuple, as torch */
static int adaptive_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_adaptive_avgpool2d_opts *o = &((const adaptive_pool2d *)m)->o;
    if (o->size_is_int)
        return snprintf(buf, size, "output_size=%d", o->out_h);
    return snprintf(buf, size, "output_size=(%d, %d)", o->out_h, o->out_w);
}

static const char *adaptive_name(const adaptive_pool2d *p, char *buf, size_t n)
{
    char extra[64];
    adaptive_extra_repr(&p->base, extra, sizeof extra);
    snprintf(buf, n, "%s(%s)", p->base.ops->type, extra);
    return buf;
}

static nn_tensor *adaptive_forward(nn_module *m, const nn_tensor *x)
{
    adaptive_pool2d *p = (adaptive_pool2d *)m;
    char name[96], s[NN_SHAPE_STR_LEN];
    if (x->ndim != 3 && x->ndim != 4)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape %s",
                            adaptive_name(p, name, sizeof name), nn_tensor_shape_str(x, s));
    int lead = x->ndim - 3;
    int64_t N = lead ? x->shape[0] : 1, C = x->shape[lead], H = x->shape[lead + 1], W = x->shape[lead + 2];
    /* torch's adaptive_max_pool2d: every size but the first must not be
       empty; adaptive_avg_pool2d: only H and W */
    if (p->max && ((lead && C == 0) || H == 0 || W == 0))
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected non-zero sizes but for the first dimension, got "
                            "input of shape %s",
                            adaptive_name(p, name, sizeof name), nn_tensor_shape_str(x, s));
    if (H == 0 || W == 0)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected H and W > 0 (N and C may be 0), got input of shape %s",
                            adaptive_name(p, name, sizeof name), nn_tensor_shape_str(x, s));
    int64_t OH = p->o.out_h, OW = p->o.out_w;
    int64_t oshape[4] = {N, C, OH, OW};
    if (!lead) {
        oshape[0] = C;
        oshape[1] = OH;
        oshape[2] = OW;
    }
    size_t need = p->max ? (size_t)(N * C * OH * OW) * sizeof(int64_t) : 0;
    /* every allocation before any change: a failure leaves the last
       forward (its output and the winners backward uses) intact */
    int64_t *grown = need > p->argmax_bytes ? nn_alloc_zeroed(need, 1) : NULL;
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
    nn_pool_geom g = {.H = H, .W = W, .OH = OH, .OW = OW};
    if (p->max)
        nn_adaptive_maxpool_forward(&g, xd, N * C, p->out.data, p->argmax);
    else
        nn_adaptive_avgpool_forward(&g, xd, N * C, p->out.data);
    p->in_ndim = x->ndim;
    memcpy(p->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    return &p->out;
}

static nn_tensor *adaptive_backward(nn_module *m, const nn_tensor *g)
{
    adaptive_pool2d *p = (adaptive_pool2d *)m;
    char name[96], a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!p->in_ndim)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", adaptive_name(p, name, sizeof name));
    if (!nn_tensor_same_shape(g, &p->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            adaptive_name(p, name, sizeof name), nn_tensor_shape_str(&p->out, a),
                            nn_tensor_shape_str(g, b));
    /* torch's adaptive_avg_pool2d_backward refuses no channels (a global
       1x1 pooling is a mean there, whose backward takes it) */
    if (!p->max && p->in_ndim == 4 && p->in_shape[1] == 0 && !(p->o.out_h == 1 && p->o.out_w == 1))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out with non-zero sizes but for the first "
                            "dimension, got %s (as torch's adaptive_avg_pool2d_backward)",
                            adaptive_name(p, name, sizeof name), nn_tensor_shape_str(g, b));
    const float *gd = nn_tensor_dense(g, &p->scratch);
    if (!gd || nn_tensor_resize(&p->grad, p->in_ndim, p->in_shape, g) < 0)
        return NULL;
    int lead = p->in_ndim - 3;
    int64_t planes = lead ? p->in_shape[0] * p->in_shape[1] : p->in_shape[0];
    nn_pool_geom geom = {.H = p->in_shape[lead + 1], .W = p->in_shape[lead + 2], .OH = p->o.out_h, .OW = p->o.out_w};
    if (p->max)
        nn_maxpool_backward(&geom, gd, p->argmax, planes, p->grad.data);
    else
        nn_adaptive_avgpool_backward(&geom, gd, planes, p->grad.data);
    return &p->grad;
}

static void adaptive_destroy(nn_module *m)
{
    adaptive_pool2d *p = (adaptive_pool2d *)m;
    nn_tensor_release(&p->out);
    nn_tensor_release(&p->grad);
    nn_tensor_release(&p->scratch);
    nn_release(p->argmax);
}

static nn_module *adaptive_clone(const nn_module *m);

static const nn_module_ops adaptive_avg_ops = {
    .type = "AdaptiveAvgPool2d",
    .forward = adaptive_forward,
    .backward = adaptive_backward,
    .extra_repr = adaptive_extra_repr,
    .destroy = adaptive_destroy,
    .clone = adaptive_clone,
};

static const nn_module_ops adaptive_max_ops = {
    .type = "AdaptiveMaxPool2d",
    .forward = adaptive_forward,
    .backward = adaptive_backward,
    .extra_repr = adaptive_extra_repr,
    .destroy = adaptive_destroy,
    .clone = adaptive_clone,
};

static nn_module *adaptive_new(const char *fn, bool max, const nn_adaptive_avgpool2d_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    if (nn_opts_by_hand(fn, max ? "nn_adaptive_maxpool2d_opts" : "nn_adaptive_avgpool2d_opts",
                        max ? "nn_adaptive_maxpool2d_defaults" : "nn_adaptive_avgpool2d_defaults", o->from_defaults) < 0)
        return NULL;
    /* torch makes an empty result for a size 0; the issue refuses it */
    if (o->out_h < 1 || o->out_w < 1 || o->out_h > 65535 || o->out_w > 65535)
        return nn_fail_null(NN_EINVAL, "%s: expected output sizes (out_h, out_w) in 1..65535 (adaptive output "
                            "sizes of 0 are refused), got (%d, %d)",
                            fn, o->out_h, o->out_w);
    if (o->size_is_int && o->out_h != o->out_w)
        return nn_fail_null(NN_EINVAL, "%s: size_is_int (torch's output_size as one int) needs out_h == out_w, got "
                            "(%d, %d)",
                            fn, o->out_h, o->out_w);
    adaptive_pool2d *p = nn_alloc_zeroed(1, sizeof *p);
    if (!p)
        return NULL;
    NN_MODULE_INIT(&p->base, max ? &adaptive_max_ops : &adaptive_avg_ops);
    p->max = max;
    p->o = *o;
    p->o.from_defaults = NN_OPTS_FROM_DEFAULTS;
    return &p->base;
}

nn_adaptive_avgpool2d_opts nn_adaptive_avgpool2d_defaults(int output_size)
{
    return (nn_adaptive_avgpool2d_opts){.out_h = output_size, .out_w = output_size, .size_is_int = true,
                                        .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_adaptive_maxpool2d_opts nn_adaptive_maxpool2d_defaults(int output_size)
{
    return nn_adaptive_avgpool2d_defaults(output_size);
}

nn_module *nn_adaptive_avgpool2d_ex(const nn_adaptive_avgpool2d_opts *o)
{
    return adaptive_new("nn_adaptive_avgpool2d_ex", false, o);
}

nn_module *nn_adaptive_maxpool2d_ex(const nn_adaptive_maxpool2d_opts *o)
{
    return adaptive_new("nn_adaptive_maxpool2d_ex", true, o);
}

nn_module *nn_adaptive_avgpool2d(int out_h, int out_w)
{
    return adaptive_new("nn_adaptive_avgpool2d", false, &(nn_adaptive_avgpool2d_opts){.out_h = out_h, .out_w = out_w});
}

nn_module *nn_adaptive_maxpool2d(int out_h, int out_w)
{
    return adaptive_new("nn_adaptive_maxpool2d", true, &(nn_adaptive_maxpool2d_opts){.out_h = out_h, .out_w = out_w});
}

static nn_module *adaptive_clone(const nn_module *m)
{
    const adaptive_pool2d *p = (const adaptive_pool2d *)m;
    return p->max ? nn_adaptive_maxpool2d_ex(&p->o) : nn_adaptive_avgpool2d_ex(&p->o);
}
