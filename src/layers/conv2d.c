/* Conv2d (cross-correlation, as PyTorch): per image,
   y[o] = b[o] + sum_{c,i,j} W[o,c,i,j] x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw],
   computed as Y[O, L] = W[O, C*kh*kw] * im2col(x)[C*kh*kw, L] (L = out_h*out_w).
   Backward: dW += dY im2col(x)^T;  db += sum of dY over images and pixels;
   dx = col2im(W^T dY).
   With groups G (torch's groups), channel group g's rows of im2col(x) and
   of Y are contiguous blocks, so each product above splits into G of them:
   Y_g[O/G, L] = W_g[O/G, C/G*kh*kw] * im2col(x)_g; G == 1 is the plain case.
   padding_same (torch's padding='same', unit stride): total padding
   dilation*(k-1) per dimension, the odd one at the bottom / right. The
   geometry's pad is the top / left part; im2col reads outside the image
   (and so past the bottom / right) as zeros, so only out_h / out_w see the
   asymmetry.

   One image at a time: its im2col matrix stays in cache between the
   im2col and the GEMM that reads it (folding the whole batch into one GEMM
   makes a matrix of batch times that size and was slower here), and the
   scratch never exceeds one image's matrix per thread. With several
   threads the images are split among them, each running its own
   single-threaded GEMMs (one wake-up per layer instead of per GEMM); a
   single image leaves the splitting to the GEMM.
   The weight gradient is a sum over images: it is summed per fixed group
   of images, then the groups in order, so its bits do not depend on how
   the groups were spread over threads.

   The weights are packed for the GEMM micro-kernel once per call
   (kernels/conv_gemm.c), not once per image as nn_gemm would. The bias
   rides in the GEMMs: im2col gets an extra row of ones and the
   weights an extra column holding b, so the forward GEMM adds b without a
   separate pass (and writes y without reading it). */
#include <string.h>

#include "layers/conv_impl.h"
#include "kernels/conv_gemm.h"
#include "kernels/elementwise.h"
#include "kernels/im2col.h"
#include "kernels/kernels.h"
#include "module/module_impl.h"
#include "base/parallel_impl.h"

/* Groups of images the weight gradient is summed in (at most). */
#define CONV_MAX_GROUPS 16
/* Floats the groups' partial weight gradients may take together (at most). */
#define CONV_PARTIAL_BUDGET ((int64_t)1 << 22)
/* Layer calls with fewer multiply-adds stay on the calling thread. */
#define CONV_PARALLEL_MIN_MACS ((double)(1 << 20))

typedef struct {
    nn_module base;
    nn_conv2d_opts o;       /* stride, dilation and groups already 0 -> 1 */
    int dims;               /* 2: Conv2d; 1: Conv1d, run as a [N, C, 1, L] image */
    nn_conv_geometry geom;  /* of the last successful forward */
    int64_t batch;          /* images in it */
    nn_tensor input;        /* dense view of that forward's input */
    nn_tensor x_copy;       /* owned dense copy when the input was strided */
    nn_tensor out;          /* forward result */
    nn_tensor col;          /* per worker: one image's im2col matrix, a B panel */
    nn_tensor w_bias;       /* [W | b], the forward GEMM's left operand when biased */
    nn_tensor w_packed;     /* that operand (backward: W^T) packed for the micro-kernel */
    nn_tensor partial;      /* per image group: [dW^T, db] of its images */
    nn_tensor g_keep;       /* dense view of grad_out during backward */
    nn_tensor g_copy;       /* owned dense copy when grad_out is strided */
    nn_tensor grad;         /* dL/dx */
} conv2d;

/* What the per-image workers share. */
typedef struct {
    const nn_conv_geometry *g;
    /* oc: out channels of one channel group, rows: that group's im2col rows
       (C/G*kh*kw), cgroups: G; groups: the backward's image groups */
    int64_t batch, oc, rows, pixels, in_size, groups, cgroups;
    int64_t ones;   /* 1 when the columns carry a row of ones for the bias (G == 1) */
    bool identity;
    const nn_gemm_arch *arch;
    const float *w_packed;
    const float *x, *w, *b, *dy;
    float *y, *col, *dx, *dw, *db, *partial; /* backward: dx NULL when not needed */
} conv_job;

/* A 1x1 kernel with unit stride and no padding reads the image as it is. */
static bool im2col_is_identity(const nn_conv_geometry *g)
{
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
           g->pad_h == 0 && g->pad_w == 0;
}

/* Threads that take whole images (or image groups): up to one per unit
   when the call is worth waking them. A single image runs on the calling
   thread and its GEMMs split themselves over the threads. */
static int image_workers(int64_t units, const conv_job *j)
{
    int threads = nn_get_num_threads();
    double macs = (double)j->batch * (double)j->cgroups * (double)j->oc * (double)j->pixels * (double)j->rows;
    if (j->batch < 2 || threads <= 1 || macs < CONV_PARALLEL_MIN_MACS)
        return 1;
    return units < threads ? (int)units : threads;
}

/* Whether the weights are packed once for all images (units: images, or
   backward's image groups): with two or more. A single unit takes nn_gemm,
   which splits each product over the threads. A function of the batch and
   the layer only, so the bits never depend on the thread count. */
static bool packs_weights(int64_t units)
{
    return units >= 2;
}

/* Floats of one channel group's packed weights (forward or backward). */
static int64_t packed_floats(const conv_job *j, bool trans)
{
    return trans ? nn_conv_gemm_a_floats(j->rows, j->oc) : nn_conv_gemm_a_floats(j->oc, j->rows + j->ones);
}

/* C[M, N] = op(W_cg) B + beta C, op(W_cg) channel group cg's [W | b] or W
   (M = out channels of a group) or the backward's W^T (trans). */
static void weights_times(const conv_job *j, int64_t cg, bool trans, int64_t M, int64_t N, int64_t K,
                          const float *B, float beta, float *C, float *panel)
{
    if (j->w_packed)
        nn_conv_gemm(j->arch, M, N, K, j->w_packed + cg * packed_floats(j, trans), B, N, beta, C, N, panel);
    else
        nn_gemm(trans, false, M, N, K, 1.0f, j->w + cg * (M * K), trans ? M : K, B, N, beta, C, N);
}

/* Validates x and fills the geometry; NN_OK or a recorded error. */
static int conv_geometry_of(const conv2d *c, const nn_tensor *x, nn_conv_geometry *g, int64_t *batch)
{
    char s[NN_SHAPE_STR_LEN];
    const nn_conv2d_opts *o = &c->o;
    const char *cls = c->base.ops->type;
    const int d = c->dims;
    bool batched = x->ndim == d + 2;
    if ((x->ndim != d + 1 && x->ndim != d + 2) || x->shape[x->ndim - d - 1] != o->in_channels)
        return nn_fail(NN_ESHAPE, "nn_forward: %s(in_channels=%lld) expected input of shape [N, %lld, %s] or [%lld, %s], got %s",
                       cls, (long long)o->in_channels, (long long)o->in_channels, d == 1 ? "L" : "H, W",
                       (long long)o->in_channels, d == 1 ? "L" : "H, W", nn_tensor_shape_str(x, s));
    /* Conv1d: an image of one row (its kernel_h, stride_h, dilation_h are 1, pad_h 0) */
    *g = (nn_conv_geometry){
        .channels = o->in_channels, .h = d == 1 ? 1 : x->shape[x->ndim - 2], .w = x->shape[x->ndim - 1],
        .kernel_h = o->kernel_h, .kernel_w = o->kernel_w, .stride_h = o->stride_h,
        .stride_w = o->stride_w, .pad_h = o->pad_h, .pad_w = o->pad_w,
        .dil_h = o->dilation_h, .dil_w = o->dilation_w};
    /* int operands: these fit in int64 */
    int64_t span_h = g->dil_h * (g->kernel_h - 1) + 1, span_w = g->dil_w * (g->kernel_w - 1) + 1;
    int64_t total_h = 2 * g->pad_h, total_w = 2 * g->pad_w; /* padding on both sides together */
    if (o->padding_same) { /* torch: the left / top half rounded down */
        total_h = span_h - 1;
        total_w = span_w - 1;
        g->pad_h = total_h / 2;
        g->pad_w = total_w / 2;
    }
    /* an empty batch allows any image size: every size used later must fit */
    int64_t padded_h, padded_w, pixels, image, col, out;
    if (__builtin_add_overflow(g->h, total_h, &padded_h) ||
        __builtin_add_overflow(g->w, total_w, &padded_w) ||
        nn_mul_overflows(g->channels * g->h, g->w, &image) ||
        nn_mul_overflows((padded_h - span_h) / g->stride_h + 1, (padded_w - span_w) / g->stride_w + 1, &pixels) ||
        nn_mul_overflows(g->channels * g->kernel_h * g->kernel_w, pixels, &col) ||
        nn_mul_overflows(o->out_channels, pixels, &out))
        return nn_fail(NN_ESHAPE, "nn_forward: %s(in_channels=%lld) sizes for input of shape %s are too large",
                       cls, (long long)o->in_channels, nn_tensor_shape_str(x, s));
    if (d == 1 && span_w > padded_w)
        return nn_fail(NN_ESHAPE,
                       "nn_forward: %s(in_channels=%lld) kernel of extent %lld (size times dilation) is larger than the padded input (%lld) of input shape %s",
                       cls, (long long)o->in_channels, (long long)span_w, (long long)padded_w,
                       nn_tensor_shape_str(x, s));
    if (span_h > padded_h || span_w > padded_w)
        return nn_fail(NN_ESHAPE,
                       "nn_forward: %s(in_channels=%lld) kernel of extent (%lld, %lld) (size times dilation) is larger than the padded input (%lld, %lld) of input shape %s",
                       cls, (long long)o->in_channels, (long long)span_h, (long long)span_w,
                       (long long)padded_h, (long long)padded_w, nn_tensor_shape_str(x, s));
    g->out_h = (padded_h - span_h) / g->stride_h + 1;
    g->out_w = (padded_w - span_w) / g->stride_w + 1;
    *batch = batched ? x->shape[0] : 1;
    return NN_OK;
}

/* Shape of the output for an input of `ndim` dimensions. */
static int out_shape(const conv2d *c, const nn_conv_geometry *g, int64_t batch, int ndim, int64_t *shape)
{
    int k = 0;
    if (ndim == c->dims + 2)
        shape[k++] = batch;
    shape[k++] = c->o.out_channels;
    if (c->dims == 2)
        shape[k++] = g->out_h;
    shape[k++] = g->out_w;
    return k;
}

/* The matrix the GEMMs read for image n: the image itself, or its im2col
   (plus the row of ones) in this worker's scratch. */
static const float *columns_of(const conv_job *j, int64_t n, float *col)
{
    const float *image = j->x + n * j->in_size;
    if (j->identity)
        return image;
    nn_im2col(j->g, image, col);
    if (j->ones)
        nn_ew_fill(col + j->rows * j->pixels, j->pixels, 1.0f);
    return col;
}

/* Rows of one image's columns: every channel group's, and the row of ones. */
static int64_t col_rows(const conv_job *j)
{
    return j->cgroups * j->rows + j->ones;
}

/* Scratch floats per worker: one image's columns (and the row of ones). */
static int64_t col_floats(const conv_job *j)
{
    return j->identity ? 0 : col_rows(j) * j->pixels;
}

/* ... then the B panel of the packed-weight GEMMs (K: forward or backward).
   INT64_MAX when that does not fit (an empty batch allows any image size):
   the scratch's resize then fails cleanly. */
static int64_t worker_floats(const conv_job *j)
{
    int64_t kf = nn_conv_gemm_b_floats(j->arch, j->rows + j->ones);
    int64_t kb = nn_conv_gemm_b_floats(j->arch, j->oc), cols, total;
    if (j->identity)
        cols = 0;
    else if (nn_mul_overflows(col_rows(j), j->pixels, &cols))
        return INT64_MAX;
    if (__builtin_add_overflow(cols, kf > kb ? kf : kb, &total))
        return INT64_MAX;
    return total;
}

/* Y_n = [W | b] [col_n; 1] (per channel group: Y_g = W_g col_g); without
   the row of ones (1x1 kernels read the image itself; several channel
   groups) the output starts as the bias and the GEMM adds to it. */
static void forward_images(void *ctx, int64_t begin, int64_t end, int tid)
{
    const conv_job *j = ctx;
    float *col = j->col + tid * worker_floats(j), *panel = col + col_floats(j);
    const int64_t k = j->rows + j->ones, oc_all = j->cgroups * j->oc;
    bool bias_first = j->b && !j->ones;
    for (int64_t n = begin; n < end; n++) {
        const float *src = columns_of(j, n, col);
        float *y = j->y + n * oc_all * j->pixels;
        for (int64_t o = 0; bias_first && o < oc_all; o++)
            nn_ew_fill(y + o * j->pixels, j->pixels, j->b[o]);
        for (int64_t cg = 0; cg < j->cgroups; cg++)
            weights_times(j, cg, false, j->oc, j->pixels, k, src + cg * j->rows * j->pixels,
                          bias_first ? 1.0f : 0.0f, y + cg * j->oc * j->pixels, panel);
    }
}

/* The job of a layer call at geometry g (batch images). */
static conv_job job_of(const conv2d *c, const nn_conv_geometry *g, int64_t batch)
{
    const int64_t cgroups = c->o.groups;
    conv_job j = {.g = g, .batch = batch, .oc = c->o.out_channels / cgroups,
                  .rows = g->channels / cgroups * g->kernel_h * g->kernel_w, .pixels = g->out_h * g->out_w,
                  .in_size = g->channels * g->h * g->w, .cgroups = cgroups, .identity = im2col_is_identity(g)};
    j.ones = c->o.bias && !j.identity && cgroups == 1;
    j.arch = nn_gemm_current_arch();
    return j;
}

nn_tensor *nn_conv_forward(nn_module *m, const nn_tensor *x)
{
    conv2d *c = (conv2d *)m;
    nn_conv_geometry g;
    int64_t batch = 0, shape[4];
    if (conv_geometry_of(c, x, &g, &batch) < 0)
        return NULL;
    int ndim = out_shape(c, &g, batch, x->ndim, shape);
    conv_job j = job_of(c, &g, batch);
    int workers = image_workers(batch, &j);
    /* x may be our own output slot: pin its storage while resizing that.
       Every allocation comes before the first change, so that a failure
       leaves the last forward (its output and what backward uses) intact. */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_reserve_dense(&c->x_copy, &src) < 0 ||
        (j.batch > 0 && nn_tensor_resize(&c->col, NN_SHAPE(workers, worker_floats(&j)), NULL) < 0) ||
        (packs_weights(batch) &&
         nn_tensor_resize(&c->w_packed, NN_SHAPE(j.cgroups * packed_floats(&j, false)), NULL) < 0) ||
        (j.ones && nn_tensor_resize(&c->w_bias, NN_SHAPE(j.oc, j.rows + 1), NULL) < 0) ||
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
    if (j.ones) { /* [W | b] */
        for (int64_t o = 0; o < j.oc; o++) {
            memcpy(c->w_bias.data + o * (j.rows + 1), j.w + o * j.rows, (size_t)j.rows * sizeof(float));
            c->w_bias.data[o * (j.rows + 1) + j.rows] = j.b[o];
        }
        j.w = c->w_bias.data;
    }
    if (packs_weights(batch)) {
        const int64_t k = j.rows + j.ones;
        for (int64_t cg = 0; cg < j.cgroups; cg++)
            nn_conv_gemm_pack_a(j.arch, false, j.oc, k, j.w + cg * j.oc * k, k,
                                c->w_packed.data + cg * packed_floats(&j, false));
        j.w_packed = c->w_packed.data;
    }
    j.y = c->out.data;
    j.col = c->col.data;
    if (workers > 1)
        nn_parallel_for(batch, 1, workers, forward_images, &j);
    else
        forward_images(&j, 0, batch, 0);
    return &c->out;
}

/* Images [first, end) of group k (groups split the batch evenly). */
static void group_range(const conv_job *j, int64_t k, int64_t *first, int64_t *end)
{
    *first = j->batch * k / j->groups;
    *end = j->batch * (k + 1) / j->groups;
}

/* Per image of group k: dW_k^T += col dY^T, db_k += sum of dY over pixels
   (a ones column in the GEMM would cost a whole extra register tile of
   columns), dx = col2im(W^T dY). dW^T rather than dW: its rows are the
   C*kh*kw kernel taps and its columns the out_channels, which fill whole
   register tiles for the usual channel counts (64 rows of dW would leave
   a 4-row tile). The group's first image overwrites its partial sums
   [dW_k^T, db_k] (dW_k^T: one [rows, oc] block per channel group). */
static void backward_groups(void *ctx, int64_t begin, int64_t end, int tid)
{
    const conv_job *j = ctx;
    const int64_t oc = j->oc, rows = j->rows, pixels = j->pixels, cgroups = j->cgroups;
    const int64_t oc_all = cgroups * oc, part_floats = oc_all * (rows + (j->db ? 1 : 0));
    float *col = j->col + tid * worker_floats(j), *panel = col + col_floats(j);
    for (int64_t k = begin; k < end; k++) {
        float *part = j->partial + k * part_floats, *part_db = part + rows * oc_all;
        int64_t first, stop;
        group_range(j, k, &first, &stop);
        for (int64_t n = first; n < stop; n++) {
            float beta = n == first ? 0.0f : 1.0f;
            const float *dy = j->dy + n * oc_all * pixels;
            float *dx = j->dx ? j->dx + n * j->in_size : NULL;
            const float *src = columns_of(j, n, col);
            for (int64_t cg = 0; cg < cgroups; cg++)
                nn_gemm(false, true, rows, oc, pixels, 1.0f, src + cg * rows * pixels, pixels,
                        dy + cg * oc * pixels, pixels, beta, part + cg * rows * oc, oc);
            for (int64_t o = 0; j->db && o < oc_all; o++) {
                float sum = nn_ew_sum(dy + o * pixels, pixels);
                part_db[o] = n == first ? sum : part_db[o] + sum;
            }
            /* dcol[rows, L] = W^T[rows, O] dY[O, L] per channel group,
               folded back onto the image */
            if (!j->dx)
                continue;
            float *dcol = j->identity ? dx : col;
            for (int64_t cg = 0; cg < cgroups; cg++)
                weights_times(j, cg, true, rows, pixels, oc, dy + cg * oc * pixels, 0.0f,
                              dcol + cg * rows * pixels, panel);
            if (!j->identity)
                nn_col2im_set(j->g, col, dx, NULL);
        }
    }
}

/* Groups for the weight-gradient sum: a function of the batch and the
   layer only, never of the thread count. */
static int64_t gradient_groups(int64_t batch, int64_t grad_floats)
{
    int64_t groups = batch < CONV_MAX_GROUPS ? batch : CONV_MAX_GROUPS;
    int64_t fit = CONV_PARTIAL_BUDGET / grad_floats;
    if (groups > fit)
        groups = fit;
    return groups < 1 ? 1 : groups;
}

/* need_dx false: the parameter gradients only (dx left as it was). */
nn_tensor *nn_conv_backward_ex(nn_module *m, const nn_tensor *gy, bool need_dx)
{
    conv2d *c = (conv2d *)m;
    char a[NN_SHAPE_STR_LEN], s[NN_SHAPE_STR_LEN];
    if (c->input.ndim == 0) /* an input has 2 to 4 dimensions; its storage may be NULL (wrapped) */
        return nn_fail_null(NN_EINVAL, "nn_backward: %s(in_channels=%lld) called before forward",
                            m->ops->type, (long long)c->o.in_channels);
    const nn_conv_geometry g = c->geom;
    const nn_tensor *x = &c->input;
    int64_t want[4];
    int ndim = out_shape(c, &g, c->batch, x->ndim, want);
    nn_tensor expected = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        expected.shape[i] = want[i];
    if (!nn_tensor_same_shape(gy, &expected))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s(in_channels=%lld) expected grad_out of shape %s, got %s",
                            m->ops->type, (long long)c->o.in_channels, nn_shape_str(ndim, want, a),
                            nn_tensor_shape_str(gy, s));
    conv_job j = job_of(c, &g, c->batch);
    const int64_t oc_all = c->o.out_channels;
    int64_t ldp = j.rows + (c->o.bias ? 1 : 0), grad_floats = oc_all * ldp;
    j.groups = gradient_groups(j.batch, grad_floats);
    int workers = image_workers(j.groups, &j);
    bool packs = need_dx && packs_weights(j.groups); /* W^T only serves dx */
    if (need_dx && c->grad.storage == x->storage) /* forward was fed our own dx */
        nn_tensor_release(&c->grad);
    /* gy may be our own dx slot: keep its storage before resizing that */
    if (nn_tensor_keep_dense(&c->g_keep, &c->g_copy, gy) < 0)
        return NULL;
    /* the scratch first: once dx is resized nothing may fail */
    if ((j.batch > 0 && nn_tensor_resize(&c->col, NN_SHAPE(workers, worker_floats(&j)), NULL) < 0) ||
        (packs && nn_tensor_resize(&c->w_packed, NN_SHAPE(j.cgroups * packed_floats(&j, true)), NULL) < 0) ||
        nn_tensor_resize(&c->partial, NN_SHAPE(j.groups, grad_floats), NULL) < 0 ||
        (need_dx && nn_tensor_resize(&c->grad, x->ndim, x->shape, &c->g_keep) < 0)) {
        nn_tensor_release(&c->g_keep);
        return NULL;
    }
    j.x = x->data;
    j.w = m->params[0].value->data;
    if (packs) {
        for (int64_t cg = 0; cg < j.cgroups; cg++) /* W_g^T */
            nn_conv_gemm_pack_a(j.arch, true, j.rows, j.oc, j.w + cg * j.oc * j.rows, j.rows,
                                c->w_packed.data + cg * packed_floats(&j, true));
        j.w_packed = c->w_packed.data;
    }
    j.dy = c->g_keep.data;
    j.dx = need_dx ? c->grad.data : NULL;
    j.col = c->col.data;
    j.dw = m->params[0].grad->data;
    j.db = c->o.bias ? m->params[1].grad->data : NULL;
    j.partial = c->partial.data;
    if (workers > 1)
        nn_parallel_for(j.groups, 1, workers, backward_groups, &j);
    else
        backward_groups(&j, 0, j.groups, 0);
    /* the groups' partial sums, in group order, then added (transposed
       back) to the gradients */
    float *sum = j.partial;
    for (int64_t k = 1; k < j.groups && j.batch > 0; k++)
        nn_ew_add(sum, j.partial + k * grad_floats, grad_floats);
    for (int64_t cg = 0; cg < j.cgroups && j.batch > 0; cg++) {
        const float *block = sum + cg * j.rows * j.oc;
        float *dw = j.dw + cg * j.oc * j.rows;
        for (int64_t r = 0; r < j.rows; r++)
            for (int64_t o = 0; o < j.oc; o++)
                dw[o * j.rows + r] += block[r * j.oc + o];
    }
    for (int64_t o = 0; j.db && o < oc_all && j.batch > 0; o++)
        j.db[o] += sum[j.rows * oc_all + o];
    nn_tensor_release(&c->g_keep); /* no need to pin the caller's storage */
    return &c->grad;
}

nn_tensor *nn_conv_backward(nn_module *m, const nn_tensor *gy)
{
    return nn_conv_backward_ex(m, gy, true);
}

/* torch's Conv2d extra_repr: "1, 20, kernel_size=(5, 5), stride=(1, 1)"
   then padding ("padding=same" for padding='same'), dilation, groups and
   bias only when not their defaults */
static int conv_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_conv2d_opts *o = &((const conv2d *)m)->o;
    char pad[48] = "", dil[48] = "", grp[32] = "";
    if (o->padding_same)
        snprintf(pad, sizeof pad, ", padding=same");
    else if (o->pad_h != 0 || o->pad_w != 0)
        snprintf(pad, sizeof pad, ", padding=(%d, %d)", o->pad_h, o->pad_w);
    if (o->dilation_h != 1 || o->dilation_w != 1)
        snprintf(dil, sizeof dil, ", dilation=(%d, %d)", o->dilation_h, o->dilation_w);
    if (o->groups != 1)
        snprintf(grp, sizeof grp, ", groups=%d", o->groups);
    return snprintf(buf, size, "%lld, %lld, kernel_size=(%d, %d), stride=(%d, %d)%s%s%s%s",
                    (long long)o->in_channels, (long long)o->out_channels, o->kernel_h, o->kernel_w, o->stride_h,
                    o->stride_w, pad, dil, grp, o->bias ? "" : ", bias=False");
}

void nn_conv_destroy(nn_module *m)
{
    conv2d *c = (conv2d *)m;
    nn_tensor_release(&c->input);
    nn_tensor_release(&c->x_copy);
    nn_tensor_release(&c->out);
    nn_tensor_release(&c->col);
    nn_tensor_release(&c->partial);
    nn_tensor_release(&c->w_bias);
    nn_tensor_release(&c->w_packed);
    nn_tensor_release(&c->g_keep);
    nn_tensor_release(&c->g_copy);
    nn_tensor_release(&c->grad);
}

int nn_conv_absorb_channel_affine(nn_module *m, const float *scale, const float *shift, int64_t channels)
{
    return nn_absorb_rows_affine(m, &((conv2d *)m)->o.bias, scale, shift, channels);
}

static const nn_module_ops conv_ops = {
    .type = "Conv2d",
    .forward = nn_conv_forward,
    .backward = nn_conv_backward,
    .backward_ex = nn_conv_backward_ex,
    .extra_repr = conv_extra_repr,
    .destroy = nn_conv_destroy,
    .absorb_channel_affine = nn_conv_absorb_channel_affine,
};

/* Options as the rule in nn/opts.h says: from
   nn_conv2d_defaults taken as written; written by hand, 0 stride,
   dilation and groups mean 1 and bias is as written. */
static nn_module *conv_new(const char *fn, const nn_conv2d_opts *opts)
{
    return nn_conv_create(fn, opts, 2, &conv_ops);
}

const nn_conv2d_opts *nn_conv_opts_of(const nn_module *m)
{
    return &((const conv2d *)m)->o;
}

nn_module *nn_conv_create(const char *fn, const nn_conv2d_opts *opts, int dims, const nn_module_ops *ops)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: opts is NULL", fn);
    nn_conv2d_opts o = *opts;
    const int by_hand = nn_opts_by_hand(fn, "nn_conv2d_opts", "nn_conv2d_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (nn_conv_check_channels(fn, o.in_channels, o.out_channels) < 0)
        return NULL;
    if (o.kernel_h <= 0 || o.kernel_w <= 0)
        return nn_fail_null(NN_EINVAL, "%s: expected a positive kernel size (kernel_h, kernel_w), got (%d, %d)",
                            fn, o.kernel_h, o.kernel_w);
    const int least = by_hand ? 0 : 1;
    char why[128];
    nn_conv_zero_rule(by_hand, "nn_conv2d_defaults", why, sizeof why);
    if (nn_conv_check_stride_dilation(fn, why, least, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w) < 0)
        return NULL;
    if (o.pad_h < 0 || o.pad_w < 0)
        return nn_fail_null(NN_EINVAL, "%s: expected non-negative padding (pad_h, pad_w), got (%d, %d)", fn,
                            o.pad_h, o.pad_w);
    if (o.groups < least)
        return nn_fail_null(NN_EINVAL, "%s: groups must be a positive integer (%s), got groups=%d", fn,
                            by_hand ? "0 means 1 in options written by hand"
                                    : "options from nn_conv2d_defaults are taken as written",
                            o.groups);
    o.stride_h = o.stride_h ? o.stride_h : 1;
    o.stride_w = o.stride_w ? o.stride_w : 1;
    o.dilation_h = o.dilation_h ? o.dilation_h : 1;
    o.dilation_w = o.dilation_w ? o.dilation_w : 1;
    if (nn_conv_settle_groups(fn, o.in_channels, o.out_channels, &o.groups) < 0)
        return NULL;
    if (o.padding_same && (o.stride_h != 1 || o.stride_w != 1))
        return nn_fail_null(NN_EINVAL,
                            "%s: padding_same (torch's padding='same') is not supported for strided convolutions, "
                            "got stride (%d, %d)",
                            fn, o.stride_h, o.stride_w);
    if (o.padding_same && (o.pad_h != 0 || o.pad_w != 0))
        return nn_fail_null(NN_EINVAL,
                            "%s: padding_same computes the padding itself: expected pad_h and pad_w 0, got (%d, %d)",
                            fn, o.pad_h, o.pad_w);
    o.from_defaults = NN_OPTS_FROM_DEFAULTS; /* complete now */
    const int64_t in_per_group = o.in_channels / o.groups;
    if (nn_shape_numel(NN_SHAPE(o.out_channels, in_per_group, o.kernel_h, o.kernel_w)) < 0 ||
        nn_shape_numel(NN_SHAPE(o.in_channels, o.kernel_h, o.kernel_w)) < 0) /* im2col's rows */
        return nn_fail_null(NN_EINVAL, "%s: weight of shape [%lld, %lld, %d, %d] is too large", fn,
                            (long long)o.out_channels, (long long)in_per_group, o.kernel_h, o.kernel_w);
    conv2d *c = nn_alloc_zeroed(1, sizeof *c);
    if (!c)
        return NULL;
    NN_MODULE_INIT(&c->base, ops);
    c->o = o;
    c->dims = dims;
    /* Conv1d: weight [out, in/groups, k] as torch; the kernels read only its data */
    nn_tensor *w = dims == 1 ? nn_module_add_param(&c->base, "weight", NN_SHAPE(o.out_channels, in_per_group, o.kernel_w))
                             : nn_module_add_param(&c->base, "weight",
                                                   NN_SHAPE(o.out_channels, in_per_group, o.kernel_h, o.kernel_w));
    nn_tensor *b = w && o.bias ? nn_module_add_param(&c->base, "bias", NN_SHAPE(o.out_channels)) : NULL;
    if (!w || (o.bias && !b)) {
        nn_module_free(&c->base);
        return NULL;
    }
    nn_init_kaiming_uniform(w, b, (double)in_per_group * o.kernel_h * o.kernel_w);
    return &c->base;
}

nn_conv2d_opts nn_conv2d_defaults(int64_t in_channels, int64_t out_channels, int kernel_size)
{
    return (nn_conv2d_opts){.in_channels = in_channels, .out_channels = out_channels,
                            .kernel_h = kernel_size, .kernel_w = kernel_size, .stride_h = 1, .stride_w = 1,
                            .dilation_h = 1, .dilation_w = 1, .bias = true, .groups = 1,
                            .padding_same = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_conv2d_ex(const nn_conv2d_opts *o)
{
    return conv_new("nn_conv2d_ex", o);
}

nn_module *nn_conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride, int padding)
{
    nn_conv2d_opts o = {.in_channels = in_channels, .out_channels = out_channels,
                        .kernel_h = kernel_size, .kernel_w = kernel_size,
                        .stride_h = stride, .stride_w = stride, .pad_h = padding, .pad_w = padding,
                        .dilation_h = 1, .dilation_w = 1, .bias = true, .groups = 1};
    return conv_new("nn_conv2d", &o);
}
