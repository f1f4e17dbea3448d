/* Upsample(scale_factor=s, mode='nearest'): y[.., i, j] = x[.., src(i), src(j)]
   with PyTorch's source index min(floorf(i * (float)(1.0 / s)), in - 1)
   (for a few large s that is not i / s: torch's rounding is kept); dL/dx
   sums dL/dy over the outputs each input element was copied to. A 4-D
   input [N, C, H, W] is scaled in H and W; a 3-D one is [N, C, L], scaled
   in L only, as torch does. */
#include <math.h>
#include <string.h>

#include "module/module_impl.h"

#define UPSAMPLE_MAX_SCALE 65535

typedef struct {
    nn_module base;
    nn_upsample_opts o;
    bool pair;         /* built from (h, w): printed as a tuple, 4-D only */
    nn_tensor out;     /* forward result */
    nn_tensor grad;    /* dL/dx */
    nn_tensor scratch; /* dense copy of a strided input or grad_out */
    int in_ndim;
    int64_t in_shape[4];
} upsample;

static int upsample_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const upsample *u = (const upsample *)m;
    char h[NN_REPR_FLOAT_LEN], w[NN_REPR_FLOAT_LEN];
    nn_repr_float((float)u->o.scale_h, h);
    nn_repr_float((float)u->o.scale_w, w);
    if (u->pair)
        return snprintf(buf, size, "scale_factor=(%s, %s), mode=nearest", h, w);
    return snprintf(buf, size, "scale_factor=%s, mode=nearest", w);
}

static const char *upsample_name(const upsample *u, char *buf, size_t size)
{
    int n = snprintf(buf, size, "Upsample(");
    n += upsample_extra_repr(&u->base, buf + n, size - (size_t)n);
    snprintf(buf + n, size - (size_t)n, ")");
    return buf;
}

/* torch's nearest_idx for an output of in * s elements */
static int64_t source_index(int64_t i, int64_t in, int s)
{
    if (s == 1)
        return i;
    if (s == 2)
        return i >> 1;
    float scale = (float)(1.0 / s);
    int64_t k = (int64_t)floorf((float)i * scale);
    return k < in - 1 ? k : in - 1;
}

/* planes of H x W, scale (sh, sw): 4-D [N, C, H, W] or 3-D [N, C, L] as 1 x L */
typedef struct {
    int64_t planes, H, W;
    int sh, sw;
} geom;

static geom geom_of(const upsample *u, int ndim, const int64_t *shape)
{
    geom g = {shape[0] * shape[1], ndim == 4 ? shape[2] : 1, shape[ndim - 1], ndim == 4 ? u->o.scale_h : 1,
              u->o.scale_w};
    return g;
}

static nn_tensor *upsample_forward(nn_module *m, const nn_tensor *x)
{
    upsample *u = (upsample *)m;
    char name[128], s[NN_SHAPE_STR_LEN];
    if (x->ndim != 4 && (x->ndim != 3 || u->pair))
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected a 4-D [N, C, H, W]%s input, got shape %s",
                            upsample_name(u, name, sizeof name), u->pair ? "" : " or 3-D [N, C, L]",
                            nn_tensor_shape_str(x, s));
    geom g = geom_of(u, x->ndim, x->shape);
    if (g.H > INT64_MAX / g.sh || g.W > INT64_MAX / g.sw)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s got input of shape %s: the output would be too large",
                            upsample_name(u, name, sizeof name), nn_tensor_shape_str(x, s));
    int64_t oshape[4];
    memcpy(oshape, x->shape, (size_t)x->ndim * sizeof *oshape);
    int64_t OH = g.H * g.sh, OW = g.W * g.sw;
    oshape[x->ndim - 1] = OW;
    if (x->ndim == 4)
        oshape[2] = OH;
    /* x may be our own output (h = up(h)): hold it while out is resized */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    const float *xd = nn_tensor_dense(&src, &u->scratch);
    if (!xd || nn_tensor_resize(&u->out, x->ndim, oshape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = u->out.data;
    for (int64_t p = 0; p < g.planes; p++) {
        const float *plane = xd + p * g.H * g.W;
        for (int64_t i = 0; i < OH; i++, y += OW) {
            const float *row = plane + source_index(i, g.H, g.sh) * g.W;
            for (int64_t j = 0; j < OW; j++)
                y[j] = row[source_index(j, g.W, g.sw)];
        }
    }
    nn_tensor_release(&src);
    u->in_ndim = x->ndim;
    memcpy(u->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    return &u->out;
}

static nn_tensor *upsample_backward(nn_module *m, const nn_tensor *gy)
{
    upsample *u = (upsample *)m;
    char name[128], a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!nn_tensor_same_shape(gy, &u->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            upsample_name(u, name, sizeof name), nn_tensor_shape_str(&u->out, a),
                            nn_tensor_shape_str(gy, b));
    nn_tensor src = {0}; /* gy may be our own dx slot */
    nn_tensor_retain_into(&src, gy);
    const float *gd = nn_tensor_dense(&src, &u->scratch);
    if (!gd || nn_tensor_resize(&u->grad, u->in_ndim, u->in_shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    geom g = geom_of(u, u->in_ndim, u->in_shape);
    int64_t OH = g.H * g.sh, OW = g.W * g.sw;
    float *dx = u->grad.data;
    memset(dx, 0, (size_t)(g.planes * g.H * g.W) * sizeof *dx);
    for (int64_t p = 0; p < g.planes; p++, dx += g.H * g.W) /* in output order, as torch adds */
        for (int64_t i = 0; i < OH; i++, gd += OW) {
            float *row = dx + source_index(i, g.H, g.sh) * g.W;
            for (int64_t j = 0; j < OW; j++)
                row[source_index(j, g.W, g.sw)] += gd[j];
        }
    nn_tensor_release(&src);
    return &u->grad;
}

static void upsample_destroy(nn_module *m)
{
    upsample *u = (upsample *)m;
    nn_tensor_release(&u->out);
    nn_tensor_release(&u->grad);
    nn_tensor_release(&u->scratch);
}

static nn_module *upsample_clone(const nn_module *m);

static const nn_module_ops upsample_ops = {
    .type = "Upsample",
    .forward = upsample_forward,
    .backward = upsample_backward,
    .extra_repr = upsample_extra_repr,
    .destroy = upsample_destroy,
    .clone = upsample_clone,
};

static nn_module *upsample_new(const nn_upsample_opts *o, bool pair, const char *fn)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    if (o->scale_h < 1 || o->scale_w < 1 || o->scale_h > UPSAMPLE_MAX_SCALE || o->scale_w > UPSAMPLE_MAX_SCALE)
        return nn_fail_null(NN_EINVAL, "%s: expected scale factors from 1 to %d, got (%d, %d)", fn,
                            UPSAMPLE_MAX_SCALE, o->scale_h, o->scale_w);
    upsample *u = nn_alloc_zeroed(1, sizeof *u);
    if (!u)
        return nn_fail_context_null("%s", fn);
    NN_MODULE_INIT(&u->base, &upsample_ops);
    u->o = *o;
    u->pair = pair;
    return &u->base;
}

nn_module *nn_upsample(int scale_factor)
{
    return upsample_new(&(nn_upsample_opts){scale_factor, scale_factor}, false, "nn_upsample");
}

nn_module *nn_upsample_ex(const nn_upsample_opts *o)
{
    return upsample_new(o, true, "nn_upsample_ex");
}

static nn_module *upsample_clone(const nn_module *m)
{
    const upsample *u = (const upsample *)m;
    return upsample_new(&u->o, u->pair, "nn_upsample");
}
