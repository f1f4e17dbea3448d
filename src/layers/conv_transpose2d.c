/* ConvTranspose2d, as torch.nn.ConvTranspose2d: the adjoint (gradient
   with respect to its input) of a Conv2d from the output's shape to the
   input's. Per image, with x [Cin, L] (L = H*W), weight W [Cin, Cout/G*kh*kw]
   and channel groups g:
       col_g[Cout/G*kh*kw, L] = W_g^T x_g,   y = b + col2im(col)
   where col2im folds with the geometry of the Conv2d that maps y's shape
   [Cout, OH, OW] to x's [Cin, H, W] (channels Cout, h OH, out_h H, ...).
   Backward: col = im2col(dy) with that geometry;
       dx_g = W_g col_g;  dW_g += x_g col_g^T;  db += sum of dy.
   OH = (H-1)*stride - 2*pad + dilation*(k-1) + output_padding + 1: the
   output_padding rows sit at the bottom / right, where no input pixel
   reaches past the others, so they get the bias only; col2im stops at
   OH, OW (im2col reads them as zeros).

   As Conv2d: images are split among the threads, each running its own
   single-threaded GEMMs (a single image leaves the splitting to the GEMM,
   which gives the same bits for any split); the weight gradient is summed
   per fixed group of images, then the groups in order, so its bits do not
   depend on the thread count. */
#include <string.h>

#include "kernels/elementwise.h"
#include "kernels/im2col.h"
#include "kernels/kernels.h"
#include "layers/conv_impl.h"
#include "module/module_impl.h"
#include "base/parallel_impl.h"

/* Groups of images the weight gradient is summed in (at most). */
#define CONVT_MAX_GROUPS 16
/* Floats the groups' partial weight gradients may take together (at most). */
#define CONVT_PARTIAL_BUDGET ((int64_t)1 << 22)
/* Layer calls with fewer multiply-adds stay on the calling thread. */
#define CONVT_PARALLEL_MIN_MACS ((double)(1 << 20))

typedef struct {
    nn_module base;
    nn_conv_transpose2d_opts o; /* stride, dilation and groups already 0 -> 1 */
    nn_conv_geometry geom;      /* of the last successful forward (see the top) */
    int64_t batch;              /* images in it */
    nn_tensor input;            /* dense view of that forward's input */
    nn_tensor x_copy;           /* owned dense copy when the input was strided */
    nn_tensor out;              /* forward result */
    nn_tensor col;              /* per worker: one image's column matrix */
    nn_tensor partial;          /* per image group: [dW, db] of its images */
    nn_tensor g_keep;           /* dense view of grad_out during backward */
    nn_tensor g_copy;           /* owned dense copy when grad_out is strided */
    nn_tensor grad;             /* dL/dx */
} convt;

/* What the per-image workers share. */
typedef struct {
    const nn_conv_geometry *g;
    /* cin, cout: channels per channel group; rows = cout*kh*kw; pixels:
       the input's H*W; groups: the backward's image groups */
    int64_t batch, cgroups, cin, cout, rows, pixels, in_size, out_size, out_pixels, groups;
    const float *x, *w, *b, *dy;
    float *y, *col, *dx, *partial; /* backward: dx NULL when not needed */
    bool db;
} convt_job;

static convt_job job_of(const convt *c, const nn_conv_geometry *g, int64_t batch)
{
    const int64_t cgroups = c->o.groups;
    convt_job j = {.g = g, .batch = batch, .cgroups = cgroups, .cin = c->o.in_channels / cgroups,
                   .cout = c->o.out_channels / cgroups, .pixels = g->out_h * g->out_w,
                   .out_pixels = g->h * g->w};
    j.rows = j.cout * g->kernel_h * g->kernel_w;
    j.in_size = c->o.in_channels * j.pixels;
    j.out_size = c->o.out_channels * j.out_pixels;
    return j;
}

/* Scratch floats per worker: one image's columns, every channel group's. */
static int64_t col_floats(const convt_job *j)
{
    return j->cgroups * j->rows * j->pixels;
}

/* Threads that take whole images (or image groups): up to one per unit
   when the call is worth waking them. */
static int image_workers(int64_t units, const convt_job *j)
{
    int threads = nn_get_num_threads();
    double macs = (double)j->batch * (double)j->cgroups * (double)j->cin * (double)j->rows * (double)j->pixels;
    if (j->batch < 2 || threads <= 1 || macs < CONVT_PARALLEL_MIN_MACS)
        return 1;
    return units < threads ? (int)units : threads;
}

/* Validates x and fills the geometry; NN_OK or a recorded error. */
static int geometry_of(const convt *c, const nn_tensor *x, nn_conv_geometry *g, int64_t *batch)
{
    char s[NN_SHAPE_STR_LEN];
    const nn_conv_transpose2d_opts *o = &c->o;
    if ((x->ndim != 3 && x->ndim != 4) || x->shape[x->ndim - 3] != o->in_channels)
        return nn_fail(NN_ESHAPE,
                       "nn_forward: ConvTranspose2d(in_channels=%lld) expected input of shape [N, %lld, H, W] or [%lld, H, W], got %s",
                       (long long)o->in_channels, (long long)o->in_channels, (long long)o->in_channels,
                       nn_tensor_shape_str(x, s));
    const int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    *g = (nn_conv_geometry){.channels = o->out_channels, .out_h = h, .out_w = w, .kernel_h = o->kernel_h,
                            .kernel_w = o->kernel_w, .stride_h = o->stride_h, .stride_w = o->stride_w,
                            .pad_h = o->pad_h, .pad_w = o->pad_w, .dil_h = o->dilation_h,
                            .dil_w = o->dilation_w};
    /* (h-1)*stride - 2*pad + dilation*(k-1) + output_padding + 1; the int
       terms fit in int64 */
    int64_t extra_h = -2 * (int64_t)o->pad_h + (int64_t)o->dilation_h * (o->kernel_h - 1) + o->output_pad_h + 1;
    int64_t extra_w = -2 * (int64_t)o->pad_w + (int64_t)o->dilation_w * (o->kernel_w - 1) + o->output_pad_w + 1;
    int64_t oh, ow, pixels, cols, out;
    if (h < 1 || w < 1)
        return nn_fail(NN_ESHAPE, "nn_forward: ConvTranspose2d(in_channels=%lld) expected a non-empty image, got input of shape %s",
                       (long long)o->in_channels, nn_tensor_shape_str(x, s));
    if (nn_mul_overflows(h - 1, o->stride_h, &oh) || __builtin_add_overflow(oh, extra_h, &oh) ||
        nn_mul_overflows(w - 1, o->stride_w, &ow) || __builtin_add_overflow(ow, extra_w, &ow) ||
        nn_mul_overflows(h, w, &pixels) || nn_mul_overflows(o->in_channels, pixels, &cols) ||
        nn_mul_overflows((int64_t)o->out_channels * o->kernel_h * o->kernel_w, pixels, &cols) ||
        (oh > 0 && ow > 0 && (nn_mul_overflows(oh, ow, &out) || nn_mul_overflows(o->out_channels, out, &out))))
        return nn_fail(NN_ESHAPE, "nn_forward: ConvTranspose2d(in_channels=%lld) sizes for input of shape %s are too large",
                       (long long)o->in_channels, nn_tensor_shape_str(x, s));
    if (oh < 1 || ow < 1)
        return nn_fail(NN_ESHAPE,
                       "nn_forward: ConvTranspose2d(in_channels=%lld) given input of shape %s, the calculated output size per channel (%lld x %lld) is too small",
                       (long long)o->in_channels, nn_tensor_shape_str(x, s), (long long)oh, (long long)ow);
    g->h = oh;
    g->w = ow;
    *batch = x->ndim == 4 ? x->shape[0] : 1;
    return NN_OK;
}

static int out_shape(const convt *c, const nn_conv_geometry *g, int64_t batch, int ndim, int64_t *shape)
{
    int k = 0;
    if (ndim == 4)
        shape[k++] = batch;
    shape[k++] = c->o.out_channels;
    shape[k++] = g->h;
    shape[k++] = g->w;
    return k;
}

/* y_n = b + col2im(W^T x_n), per channel group. */
static void forward_images(void *ctx, int64_t begin, int64_t end, int tid)
{
    const convt_job *j = ctx;
    float *col = j->col + tid * col_floats(j);
    for (int64_t n = begin; n < end; n++) {
        const float *x = j->x + n * j->in_size;
        float *y = j->y + n * j->out_size;
        for (int64_t cg = 0; cg < j->cgroups; cg++)
            nn_gemm(true, false, j->rows, j->pixels, j->cin, 1.0f, j->w + cg * j->cin * j->rows, j->rows,
                    x + cg * j->cin * j->pixels, j->pixels, 0.0f, col + cg * j->rows * j->pixels, j->pixels);
        nn_col2im_set(j->g, col, y, j->b); /* y = b, then the sums */
    }
}

static nn_tensor *convt_forward(nn_module *m, const nn_tensor *x)
{
    convt *c = (convt *)m;
    nn_conv_geometry g;
    int64_t batch = 0, shape[4];
    if (geometry_of(c, x, &g, &batch) < 0)
        return NULL;
    int ndim = out_shape(c, &g, batch, x->ndim, shape);
    convt_job j = job_of(c, &g, batch);
    int workers = image_workers(batch, &j);
    /* x may be our own output slot: pin its storage while resizing that.
       Every allocation comes before the first change. */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_reserve_dense(&c->x_copy, &src) < 0 ||
        (batch > 0 && nn_tensor_resize(&c->col, NN_SHAPE(workers, col_floats(&j)), NULL) < 0) ||
        nn_tensor_resize(&c->out, ndim, shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    nn_tensor_commit_dense(&c->input, &c->x_copy, &src);
    nn_tensor_release(&src);
    c->geom = g;
    c->batch = batch;
    j.x = c->input.data;
    j.w = m->params[0].value->data;
    j.b = c->o.bias ? m->params[1].value->data : NULL;
    j.y = c->out.data;
    j.col = c->col.data;
    if (workers > 1)
        nn_parallel_for(batch, 1, workers, forward_images, &j);
    else
        forward_images(&j, 0, batch, 0);
    return &c->out;
}

/* Images [first, end) of group k (groups split the batch evenly). */
static void group_range(const convt_job *j, int64_t k, int64_t *first, int64_t *end)
{
    *first = j->batch * k / j->groups;
    *end = j->batch * (k + 1) / j->groups;
}

/* Per image of group k: col = im2col(dy), dW_k += x col^T, db_k += sums
   of dy, dx = W col (per channel group). The group's first image
   overwrites its partial sums [dW_k, db_k] (dW_k laid out as W). */
static void backward_groups(void *ctx, int64_t begin, int64_t end, int tid)
{
    const convt_job *j = ctx;
    const int64_t cin = j->cin, rows = j->rows, pixels = j->pixels, oc_all = j->cgroups * j->cout;
    const int64_t w_floats = j->cgroups * cin * rows, part_floats = w_floats + (j->db ? oc_all : 0);
    float *col = j->col + tid * col_floats(j);
    for (int64_t k = begin; k < end; k++) {
        float *part = j->partial + k * part_floats, *part_db = part + w_floats;
        int64_t first, stop;
        group_range(j, k, &first, &stop);
        for (int64_t n = first; n < stop; n++) {
            float beta = n == first ? 0.0f : 1.0f;
            const float *dy = j->dy + n * j->out_size, *x = j->x + n * j->in_size;
            nn_im2col(j->g, dy, col);
            for (int64_t cg = 0; cg < j->cgroups; cg++) {
                const float *col_g = col + cg * rows * pixels;
                nn_gemm(false, true, cin, rows, pixels, 1.0f, x + cg * cin * pixels, pixels, col_g, pixels, beta,
                        part + cg * cin * rows, rows);
                if (j->dx)
                    nn_gemm(false, false, cin, pixels, rows, 1.0f, j->w + cg * cin * rows, rows, col_g, pixels,
                            0.0f, j->dx + n * j->in_size + cg * cin * pixels, pixels);
            }
            for (int64_t o = 0; j->db && o < oc_all; o++) {
                float sum = nn_ew_sum(dy + o * j->out_pixels, j->out_pixels);
                part_db[o] = n == first ? sum : part_db[o] + sum;
            }
        }
    }
}

/* Groups for the weight-gradient sum: a function of the batch and the
   layer only, never of the thread count. */
static int64_t gradient_groups(int64_t batch, int64_t grad_floats)
{
    int64_t groups = batch < CONVT_MAX_GROUPS ? batch : CONVT_MAX_GROUPS;
    int64_t fit = CONVT_PARTIAL_BUDGET / grad_floats;
    if (groups > fit)
        groups = fit;
    return groups < 1 ? 1 : groups;
}

/* need_dx false: the parameter gradients only (dx left as it was). */
static nn_tensor *convt_backward_ex(nn_module *m, const nn_tensor *gy, bool need_dx)
{
    convt *c = (convt *)m;
    char a[NN_SHAPE_STR_LEN], s[NN_SHAPE_STR_LEN];
    if (c->input.ndim == 0)
        return nn_fail_null(NN_EINVAL, "nn_backward: ConvTranspose2d(in_channels=%lld) called before forward",
                            (long long)c->o.in_channels);
    const nn_conv_geometry g = c->geom;
    const nn_tensor *x = &c->input;
    int64_t want[4];
    int ndim = out_shape(c, &g, c->batch, x->ndim, want);
    nn_tensor expected = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        expected.shape[i] = want[i];
    if (!nn_tensor_same_shape(gy, &expected))
        return nn_fail_null(NN_ESHAPE,
                            "nn_backward: ConvTranspose2d(in_channels=%lld) expected grad_out of shape %s, got %s",
                            (long long)c->o.in_channels, nn_shape_str(ndim, want, a), nn_tensor_shape_str(gy, s));
    convt_job j = job_of(c, &g, c->batch);
    j.db = c->o.bias;
    const int64_t grad_floats = nn_tensor_numel(m->params[0].value) + (c->o.bias ? c->o.out_channels : 0);
    j.groups = gradient_groups(j.batch, grad_floats);
    int workers = image_workers(j.groups, &j);
    if (need_dx && c->grad.storage == x->storage) /* forward was fed our own dx */
        nn_tensor_release(&c->grad);
    /* gy may be our own dx slot: keep its storage before resizing that */
    if (nn_tensor_keep_dense(&c->g_keep, &c->g_copy, gy) < 0)
        return NULL;
    /* the scratch first: once dx is resized nothing may fail */
    if ((j.batch > 0 && nn_tensor_resize(&c->col, NN_SHAPE(workers, col_floats(&j)), NULL) < 0) ||
        nn_tensor_resize(&c->partial, NN_SHAPE(j.groups, grad_floats), NULL) < 0 ||
        (need_dx && nn_tensor_resize(&c->grad, x->ndim, x->shape, &c->g_keep) < 0)) {
        nn_tensor_release(&c->g_keep);
        return NULL;
    }
    j.x = x->data;
    j.w = m->params[0].value->data;
    j.dy = c->g_keep.data;
    j.dx = need_dx ? c->grad.data : NULL;
    j.col = c->col.data;
    j.partial = c->partial.data;
    if (j.batch > 0) {
        if (workers > 1)
            nn_parallel_for(j.groups, 1, workers, backward_groups, &j);
        else
            backward_groups(&j, 0, j.groups, 0);
        /* the groups' partial sums in group order, then into the gradients */
        float *sum = j.partial;
        for (int64_t k = 1; k < j.groups; k++)
            nn_ew_add(sum, j.partial + k * grad_floats, grad_floats);
        nn_ew_add(m->params[0].grad->data, sum, nn_tensor_numel(m->params[0].grad));
        if (c->o.bias)
            nn_ew_add(m->params[1].grad->data, sum + nn_tensor_numel(m->params[0].grad), c->o.out_channels);
    }
    nn_tensor_release(&c->g_keep); /* no need to pin the caller's storage */
    return &c->grad;
}

static nn_tensor *convt_backward(nn_module *m, const nn_tensor *gy)
{
    return convt_backward_ex(m, gy, true);
}

/* torch's _ConvNd extra_repr: "16, 8, kernel_size=(2, 2), stride=(2, 2)"
   then padding, dilation, output_padding, groups and bias only when not
   their defaults */
static int convt_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_conv_transpose2d_opts *o = &((const convt *)m)->o;
    char pad[48] = "", dil[48] = "", opad[56] = "", grp[32] = "";
    if (o->pad_h != 0 || o->pad_w != 0)
        snprintf(pad, sizeof pad, ", padding=(%d, %d)", o->pad_h, o->pad_w);
    if (o->dilation_h != 1 || o->dilation_w != 1)
        snprintf(dil, sizeof dil, ", dilation=(%d, %d)", o->dilation_h, o->dilation_w);
    if (o->output_pad_h != 0 || o->output_pad_w != 0)
        snprintf(opad, sizeof opad, ", output_padding=(%d, %d)", o->output_pad_h, o->output_pad_w);
    if (o->groups != 1)
        snprintf(grp, sizeof grp, ", groups=%d", o->groups);
    return snprintf(buf, size, "%lld, %lld, kernel_size=(%d, %d), stride=(%d, %d)%s%s%s%s%s",
                    (long long)o->in_channels, (long long)o->out_channels, o->kernel_h, o->kernel_w, o->stride_h,
                    o->stride_w, pad, dil, opad, grp, o->bias ? "" : ", bias=False");
}

static void convt_destroy(nn_module *m)
{
    convt *c = (convt *)m;
    nn_tensor_release(&c->input);
    nn_tensor_release(&c->x_copy);
    nn_tensor_release(&c->out);
    nn_tensor_release(&c->col);
    nn_tensor_release(&c->partial);
    nn_tensor_release(&c->g_keep);
    nn_tensor_release(&c->g_copy);
    nn_tensor_release(&c->grad);
}

static const nn_module_ops convt_ops = {
    .type = "ConvTranspose2d",
    .forward = convt_forward,
    .backward = convt_backward,
    .backward_ex = convt_backward_ex,
    .extra_repr = convt_extra_repr,
    .destroy = convt_destroy,
};

/* Options as the rule in nn/opts.h says: from
   nn_conv_transpose2d_defaults taken as written; written by hand, 0
   stride, dilation and groups mean 1 and bias is as written. */
static nn_module *convt_new(const char *fn, const nn_conv_transpose2d_opts *opts)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: opts is NULL", fn);
    nn_conv_transpose2d_opts o = *opts;
    const int by_hand = nn_opts_by_hand(fn, "nn_conv_transpose2d_opts", "nn_conv_transpose2d_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (nn_conv_check_channels(fn, o.in_channels, o.out_channels) < 0)
        return NULL;
    if (o.kernel_h <= 0 || o.kernel_w <= 0)
        return nn_fail_null(NN_EINVAL, "%s: expected a positive kernel size (kernel_h, kernel_w), got (%d, %d)",
                            fn, o.kernel_h, o.kernel_w);
    const int least = by_hand ? 0 : 1;
    char why[128];
    nn_conv_zero_rule(by_hand, "nn_conv_transpose2d_defaults", why, sizeof why);
    if (nn_conv_check_stride_dilation(fn, why, least, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w) < 0)
        return NULL;
    if (o.groups < least)
        return nn_fail_null(NN_EINVAL, "%s: groups must be a positive integer (%s), got groups=%d", fn, why,
                            o.groups);
    if (o.pad_h < 0 || o.pad_w < 0)
        return nn_fail_null(NN_EINVAL, "%s: expected non-negative padding (pad_h, pad_w), got (%d, %d)", fn,
                            o.pad_h, o.pad_w);
    if (o.output_pad_h < 0 || o.output_pad_w < 0)
        return nn_fail_null(NN_EINVAL,
                            "%s: expected non-negative output padding (output_pad_h, output_pad_w), got (%d, %d)",
                            fn, o.output_pad_h, o.output_pad_w);
    o.stride_h = o.stride_h ? o.stride_h : 1;
    o.stride_w = o.stride_w ? o.stride_w : 1;
    o.dilation_h = o.dilation_h ? o.dilation_h : 1;
    o.dilation_w = o.dilation_w ? o.dilation_w : 1;
    if (nn_conv_settle_groups(fn, o.in_channels, o.out_channels, &o.groups) < 0)
        return NULL;
    /* torch checks this at forward; it depends on the options only */
    if (!((o.output_pad_h < o.stride_h || o.output_pad_h < o.dilation_h) &&
          (o.output_pad_w < o.stride_w || o.output_pad_w < o.dilation_w)))
        return nn_fail_null(NN_EINVAL,
                            "%s: output padding must be smaller than either stride or dilation, but got "
                            "output_padding_height: %d output_padding_width: %d stride_height: %d stride_width: %d "
                            "dilation_height: %d dilation_width: %d",
                            fn, o.output_pad_h, o.output_pad_w, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w);
    o.from_defaults = NN_OPTS_FROM_DEFAULTS; /* complete now */
    const int64_t out_per_group = o.out_channels / o.groups;
    if (nn_shape_numel(NN_SHAPE(o.in_channels, out_per_group, o.kernel_h, o.kernel_w)) < 0 ||
        nn_shape_numel(NN_SHAPE(o.out_channels, o.kernel_h, o.kernel_w)) < 0) /* the columns' rows */
        return nn_fail_null(NN_EINVAL, "%s: weight of shape [%lld, %lld, %d, %d] is too large", fn,
                            (long long)o.in_channels, (long long)out_per_group, o.kernel_h, o.kernel_w);
    convt *c = nn_alloc_zeroed(1, sizeof *c);
    if (!c)
        return NULL;
    NN_MODULE_INIT(&c->base, &convt_ops);
    c->o = o;
    nn_tensor *w = nn_module_add_param(&c->base, "weight",
                                       NN_SHAPE(o.in_channels, out_per_group, o.kernel_h, o.kernel_w));
    nn_tensor *b = w && o.bias ? nn_module_add_param(&c->base, "bias", NN_SHAPE(o.out_channels)) : NULL;
    if (!w || (o.bias && !b)) {
        nn_module_free(&c->base);
        return NULL;
    }
    /* torch's fan_in of a [in, out/groups, kh, kw] weight: size(1) * kh * kw */
    nn_init_kaiming_uniform(w, b, (double)out_per_group * o.kernel_h * o.kernel_w);
    return &c->base;
}

nn_conv_transpose2d_opts nn_conv_transpose2d_defaults(int64_t in_channels, int64_t out_channels, int kernel_size)
{
    return (nn_conv_transpose2d_opts){.in_channels = in_channels, .out_channels = out_channels,
                                      .kernel_h = kernel_size, .kernel_w = kernel_size, .stride_h = 1,
                                      .stride_w = 1, .dilation_h = 1, .dilation_w = 1, .groups = 1,
                                      .bias = true, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_conv_transpose2d_ex(const nn_conv_transpose2d_opts *o)
{
    return convt_new("nn_conv_transpose2d_ex", o);
}

nn_module *nn_conv_transpose2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride,
                               int padding)
{
    nn_conv_transpose2d_opts o = {.in_channels = in_channels, .out_channels = out_channels,
                                  .kernel_h = kernel_size, .kernel_w = kernel_size, .stride_h = stride,
                                  .stride_w = stride, .pad_h = padding, .pad_w = padding, .dilation_h = 1,
                                  .dilation_w = 1, .groups = 1, .bias = true};
    return convt_new("nn_conv_transpose2d", &o);
}
