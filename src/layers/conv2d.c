/* Conv2d (cross-correlation, as PyTorch): per image,
   y[o] = b[o] + sum_{c,i,j} W[o,c,i,j] x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw],
   computed as Y[O, L] = W[O, C*kh*kw] * im2col(x)[C*kh*kw, L] (L = out_h*out_w).
   Backward: dW += dY im2col(x)^T;  db += sum of dY over images and pixels;
   dx = col2im(W^T dY). */
#include "kernels/im2col.h"
#include "kernels/kernels.h"
#include "module_impl.h"
#include "parallel_impl.h"

typedef struct {
    nn_module base;
    nn_conv2d_opts o;       /* stride and dilation already 0 -> 1 */
    nn_conv_geometry geom;  /* of the last successful forward */
    int64_t batch;          /* images in it */
    nn_tensor input;        /* dense view of that forward's input */
    nn_tensor x_copy;       /* owned dense copy when the input was strided */
    nn_tensor out;          /* forward result */
    nn_tensor col;          /* im2col scratch, one image */
    nn_tensor g_keep;       /* dense view of grad_out during backward */
    nn_tensor g_copy;       /* owned dense copy when grad_out is strided */
    nn_tensor grad;         /* dL/dx */
} conv2d;

/* A 1x1 kernel with unit stride and no padding reads the image as it is. */
static bool im2col_is_identity(const nn_conv_geometry *g)
{
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
           g->pad_h == 0 && g->pad_w == 0;
}

/* Validates x and fills the geometry; NN_OK or a recorded error. */
static int conv_geometry_of(const conv2d *c, const nn_tensor *x, nn_conv_geometry *g, int64_t *batch)
{
    char s[NN_SHAPE_STR_LEN];
    const nn_conv2d_opts *o = &c->o;
    bool batched = x->ndim == 4;
    if ((x->ndim != 3 && x->ndim != 4) || x->shape[x->ndim - 3] != o->in_channels)
        return nn_fail(NN_ESHAPE,
                       "nn_forward: Conv2d(in_channels=%lld) expected input of shape [N, %lld, H, W] or [%lld, H, W], got %s",
                       (long long)o->in_channels, (long long)o->in_channels, (long long)o->in_channels,
                       nn_tensor_shape_str(x, s));
    *g = (nn_conv_geometry){
        .channels = o->in_channels, .h = x->shape[x->ndim - 2], .w = x->shape[x->ndim - 1],
        .kernel_h = o->kernel_h, .kernel_w = o->kernel_w, .stride_h = o->stride_h,
        .stride_w = o->stride_w, .pad_h = o->pad_h, .pad_w = o->pad_w,
        .dil_h = o->dilation_h, .dil_w = o->dilation_w};
    int64_t span_h = g->dil_h * (g->kernel_h - 1) + 1, span_w = g->dil_w * (g->kernel_w - 1) + 1;
    int64_t padded_h = g->h + 2 * g->pad_h, padded_w = g->w + 2 * g->pad_w;
    if (span_h > padded_h || span_w > padded_w)
        return nn_fail(NN_ESHAPE,
                       "nn_forward: Conv2d(in_channels=%lld) kernel of extent (%lld, %lld) (size times dilation) is larger than the padded input (%lld, %lld) of input shape %s",
                       (long long)o->in_channels, (long long)span_h, (long long)span_w,
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
    if (ndim == 4)
        shape[k++] = batch;
    shape[k++] = c->o.out_channels;
    shape[k++] = g->out_h;
    shape[k++] = g->out_w;
    return k;
}

/* Images are independent in the forward pass and in dx: with several
   threads, each takes whole images (its own im2col scratch, its GEMMs on one
   thread) instead of every small per-image GEMM being split. A value never
   depends on the split, so results match any thread count bit for bit. */
static int image_parts(int64_t batch)
{
    int t = nn_get_num_threads();
    return batch < 2 ? 1 : (int)(batch < t ? batch : t);
}

typedef struct {
    const conv2d *c;
    const nn_conv_geometry *g;
    const float *w, *b, *dy; /* dy: backward only */
    float *col;              /* parts x [rows, pixels] scratch */
    int64_t rows, pixels;
} image_job;

/* y_n = W im2col(x_n) + b */
static void forward_images(void *ctx, int64_t begin, int64_t end, int tid)
{
    const image_job *j = ctx;
    const nn_conv_geometry *g = j->g;
    const int64_t oc = j->c->o.out_channels, in_size = g->channels * g->h * g->w;
    float *scratch = j->col + (int64_t)tid * j->rows * j->pixels;
    for (int64_t n = begin; n < end; n++) {
        const float *image = j->c->input.data + n * in_size;
        float *y = j->c->out.data + n * oc * j->pixels;
        const float *col = image;
        if (!im2col_is_identity(g)) {
            nn_im2col(g, image, scratch);
            col = scratch;
        }
        nn_gemm(false, false, oc, j->pixels, j->rows, 1.0f, j->w, j->rows, col, j->pixels, 0.0f, y,
                j->pixels);
        for (int64_t o = 0; j->b && o < oc; o++)
            for (int64_t p = 0; p < j->pixels; p++)
                y[o * j->pixels + p] += j->b[o];
    }
}

static nn_tensor *conv_forward(nn_module *m, const nn_tensor *x)
{
    conv2d *c = (conv2d *)m;
    nn_conv_geometry g;
    int64_t batch = 0, shape[4];
    if (conv_geometry_of(c, x, &g, &batch) < 0)
        return NULL;
    int ndim = out_shape(c, &g, batch, x->ndim, shape);
    int64_t rows = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
    int parts = image_parts(batch);
    /* x may be our own output slot: keep its storage before resizing that */
    if (nn_tensor_keep_dense(&c->input, &c->x_copy, x) < 0)
        return NULL;
    if (nn_tensor_resize(&c->out, ndim, shape, &c->input) < 0 ||
        (!im2col_is_identity(&g) &&
         nn_tensor_resize(&c->col, NN_SHAPE(parts, rows, pixels), NULL) < 0)) {
        nn_tensor_release(&c->input);
        return NULL;
    }
    c->geom = g;
    c->batch = batch;
    image_job job = {c, &g, m->params[0].value->data, c->o.bias ? m->params[1].value->data : NULL,
                     NULL, c->col.data, rows, pixels};
    nn_parallel_for(batch, 1, parts, forward_images, &job);
    return &c->out;
}

/* dx_n = col2im(W^T dy_n) */
static void input_grad_images(void *ctx, int64_t begin, int64_t end, int tid)
{
    const image_job *j = ctx;
    const nn_conv_geometry *g = j->g;
    const int64_t oc = j->c->o.out_channels, in_size = g->channels * g->h * g->w;
    float *scratch = j->col + (int64_t)tid * j->rows * j->pixels;
    for (int64_t n = begin; n < end; n++) {
        const float *dy = j->dy + n * oc * j->pixels;
        float *dx = j->c->grad.data + n * in_size;
        if (im2col_is_identity(g)) {
            nn_gemm(true, false, j->rows, j->pixels, oc, 1.0f, j->w, j->rows, dy, j->pixels, 0.0f,
                    dx, j->pixels);
        } else {
            nn_gemm(true, false, j->rows, j->pixels, oc, 1.0f, j->w, j->rows, dy, j->pixels, 0.0f,
                    scratch, j->pixels);
            for (int64_t i = 0; i < in_size; i++)
                dx[i] = 0.0f;
            nn_col2im(g, scratch, dx);
        }
    }
}

static nn_tensor *conv_backward(nn_module *m, const nn_tensor *gy)
{
    conv2d *c = (conv2d *)m;
    char a[NN_SHAPE_STR_LEN], s[NN_SHAPE_STR_LEN];
    if (!c->input.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: Conv2d(in_channels=%lld) called before forward",
                            (long long)c->o.in_channels);
    const nn_conv_geometry g = c->geom;
    const nn_tensor *x = &c->input;
    int64_t want[4];
    int ndim = out_shape(c, &g, c->batch, x->ndim, want);
    nn_tensor expected = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        expected.shape[i] = want[i];
    if (!nn_tensor_same_shape(gy, &expected))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Conv2d(in_channels=%lld) expected grad_out of shape %s, got %s",
                            (long long)c->o.in_channels, nn_shape_str(ndim, want, a),
                            nn_tensor_shape_str(gy, s));
    int64_t rows = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
    bool identity = im2col_is_identity(&g);
    if (c->grad.storage == x->storage) /* forward was fed our own dx */
        nn_tensor_release(&c->grad);
    /* gy may be our own dx slot: keep its storage before resizing that */
    if (nn_tensor_keep_dense(&c->g_keep, &c->g_copy, gy) < 0)
        return NULL;
    int parts = image_parts(c->batch);
    if (nn_tensor_resize(&c->grad, x->ndim, x->shape, &c->g_keep) < 0 ||
        (!identity && nn_tensor_resize(&c->col, NN_SHAPE(parts, rows, pixels), NULL) < 0)) {
        nn_tensor_release(&c->g_keep);
        return NULL;
    }
    const int64_t oc = c->o.out_channels, in_size = g.channels * g.h * g.w;
    const float *w = m->params[0].value->data;
    float *dw = m->params[0].grad->data;
    float *db = c->o.bias ? m->params[1].grad->data : NULL;
    /* dW and db sum over images: in image order, each GEMM split over its
       own output tiles */
    for (int64_t n = 0; n < c->batch; n++) {
        const float *image = x->data + n * in_size;
        const float *dy = c->g_keep.data + n * oc * pixels;
        const float *col = image;
        if (!identity) {
            nn_im2col(&g, image, c->col.data);
            col = c->col.data;
        }
        /* dW[O, rows] += dY[O, L] col^T[L, rows] */
        nn_gemm(false, true, oc, rows, pixels, 1.0f, dy, pixels, col, pixels, 1.0f, dw, rows);
        for (int64_t o = 0; db && o < oc; o++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < pixels; p++)
                sum += dy[o * pixels + p];
            db[o] += sum;
        }
    }
    /* dcol[rows, L] = W^T[rows, O] dY[O, L], folded back onto each image */
    image_job job = {c, &g, w, NULL, c->g_keep.data, c->col.data, rows, pixels};
    nn_parallel_for(c->batch, 1, parts, input_grad_images, &job);
    nn_tensor_release(&c->g_keep); /* no need to pin the caller's storage */
    return &c->grad;
}

/* "(3, 5)" */
static void print_pair(FILE *f, const char *key, int a, int b)
{
    fprintf(f, ", %s=(%d, %d)", key, a, b);
}

static void conv_repr(const nn_module *m, FILE *f, int indent)
{
    const nn_conv2d_opts *o = &((const conv2d *)m)->o;
    (void)indent;
    fprintf(f, "Conv2d(%lld, %lld", (long long)o->in_channels, (long long)o->out_channels);
    print_pair(f, "kernel_size", o->kernel_h, o->kernel_w);
    print_pair(f, "stride", o->stride_h, o->stride_w);
    if (o->pad_h != 0 || o->pad_w != 0)
        print_pair(f, "padding", o->pad_h, o->pad_w);
    if (o->dilation_h != 1 || o->dilation_w != 1)
        print_pair(f, "dilation", o->dilation_h, o->dilation_w);
    if (!o->bias)
        fputs(", bias=False", f);
    fputc(')', f);
}

static void conv_destroy(nn_module *m)
{
    conv2d *c = (conv2d *)m;
    nn_tensor_release(&c->input);
    nn_tensor_release(&c->x_copy);
    nn_tensor_release(&c->out);
    nn_tensor_release(&c->col);
    nn_tensor_release(&c->g_keep);
    nn_tensor_release(&c->g_copy);
    nn_tensor_release(&c->grad);
}

static const nn_module_ops conv_ops = {
    .type = "Conv2d",
    .forward = conv_forward,
    .backward = conv_backward,
    .repr = conv_repr,
    .destroy = conv_destroy,
};

static nn_module *conv_new(const char *fn, const nn_conv2d_opts *opts)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: opts is NULL", fn);
    nn_conv2d_opts o = *opts;
    if (o.in_channels <= 0 || o.out_channels <= 0)
        return nn_fail_null(NN_EINVAL, "%s: expected positive in_channels and out_channels, got %lld and %lld",
                            fn, (long long)o.in_channels, (long long)o.out_channels);
    if (o.kernel_h <= 0 || o.kernel_w <= 0)
        return nn_fail_null(NN_EINVAL, "%s: expected a positive kernel size, got (%d, %d)", fn, o.kernel_h,
                            o.kernel_w);
    if (o.stride_h < 0 || o.stride_w < 0 || o.dilation_h < 0 || o.dilation_w < 0)
        return nn_fail_null(NN_EINVAL, "%s: expected non-negative stride and dilation (0 means 1), got stride (%d, %d) and dilation (%d, %d)",
                            fn, o.stride_h, o.stride_w, o.dilation_h, o.dilation_w);
    if (o.pad_h < 0 || o.pad_w < 0)
        return nn_fail_null(NN_EINVAL, "%s: expected non-negative padding, got (%d, %d)", fn, o.pad_h, o.pad_w);
    o.stride_h = o.stride_h ? o.stride_h : 1;
    o.stride_w = o.stride_w ? o.stride_w : 1;
    o.dilation_h = o.dilation_h ? o.dilation_h : 1;
    o.dilation_w = o.dilation_w ? o.dilation_w : 1;
    conv2d *c = nn_alloc_zeroed(1, sizeof *c);
    if (!c)
        return NULL;
    nn_module_init(&c->base, &conv_ops);
    c->o = o;
    nn_tensor *w = nn_module_add_param(&c->base, "weight",
                                       NN_SHAPE(o.out_channels, o.in_channels, o.kernel_h, o.kernel_w));
    nn_tensor *b = w && o.bias ? nn_module_add_param(&c->base, "bias", NN_SHAPE(o.out_channels)) : NULL;
    if (!w || (o.bias && !b)) {
        nn_module_free(&c->base);
        return NULL;
    }
    nn_init_kaiming_uniform(w, b, (double)o.in_channels * o.kernel_h * o.kernel_w);
    return &c->base;
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
                        .dilation_h = 1, .dilation_w = 1, .bias = true};
    return conv_new("nn_conv2d", &o);
}
