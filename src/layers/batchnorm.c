/* BatchNorm1d / BatchNorm2d: per channel c of x viewed as [N, C, S],
   y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c. In training
   (or without running statistics) mean and the biased var come from the
   batch, and the running ones move toward them (running_var toward the
   unbiased var) by momentum, or by 1/num_batches_tracked for momentum None;
   in evaluation the running ones are used. As torch.nn.BatchNorm{1,2}d. */
#include <math.h>
#include <string.h>

#include "base/parallel_impl.h"
#include "kernels/norm.h"
#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_batchnorm2d_opts o;
    int dims;           /* 1 or 2: which class */
    nn_tensor *weight, *bias;              /* affine, else NULL */
    nn_tensor *running_mean, *running_var; /* track_running_stats, else NULL */
    int64_t *num_batches_tracked;
    nn_tensor input;    /* dense view of the last input, for backward */
    nn_tensor x_copy;   /* owned copy when that input was strided */
    nn_tensor out;      /* forward result */
    nn_tensor stats;    /* [2, C]: the mean and invstd the forward used */
    bool batch_stats;   /* the forward used the batch's statistics */
    nn_tensor g_copy;   /* dense copy of a strided grad_out */
    nn_tensor grad;     /* dL/dx */
} batchnorm;

static const char *class_of(const batchnorm *b) { return b->dims == 1 ? "BatchNorm1d" : "BatchNorm2d"; }

static int bn_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_batchnorm2d_opts *o = &((const batchnorm *)m)->o;
    char eps[NN_REPR_FLOAT_LEN], mom[NN_REPR_FLOAT_LEN];
    return snprintf(buf, size, "%lld, eps=%s, momentum=%s, affine=%s, track_running_stats=%s",
                    (long long)o->num_features, nn_repr_float(o->eps, eps),
                    o->momentum_none ? "None" : nn_repr_float(o->momentum, mom), o->affine ? "True" : "False",
                    o->track_running_stats ? "True" : "False");
}

/* [N, C, S] of x, or a message: BatchNorm1d takes [N, C] or [N, C, L],
   BatchNorm2d [N, C, H, W], as torch's _check_input_dim. */
static int view_of(const batchnorm *b, const nn_tensor *x, nn_bn_shape *s, const char *fn)
{
    char a[NN_SHAPE_STR_LEN];
    bool ok = b->dims == 1 ? x->ndim == 2 || x->ndim == 3 : x->ndim == 4;
    if (!ok)
        return nn_fail(NN_ESHAPE, "%s: %s(%lld) expected %s input, got shape %s", fn, class_of(b),
                       (long long)b->o.num_features, b->dims == 1 ? "2D or 3D" : "4D", nn_tensor_shape_str(x, a));
    if (x->shape[1] != b->o.num_features)
        return nn_fail(NN_ESHAPE, "%s: %s(%lld) expected %lld channels (dim 1), got input of shape %s", fn,
                       class_of(b), (long long)b->o.num_features, (long long)b->o.num_features,
                       nn_tensor_shape_str(x, a));
    s->N = x->shape[0];
    s->C = x->shape[1];
    s->S = 1;
    for (int i = 2; i < x->ndim; i++)
        s->S *= x->shape[i];
    return NN_OK;
}

typedef struct {
    batchnorm *b;
    nn_bn_shape s;
    const float *x, *dy;
    float *y, *dx;
    double factor; /* weight of the batch in the running averages */
    bool update;   /* move the running statistics */
    bool need_dx;
} bn_job;

static float weight_of(const batchnorm *b, int64_t c) { return b->weight ? b->weight->data[c] : 1.0f; }

/* Channel c's mean and invstd for the forward (from the batch's mean m and
   var_sum, or the running ones), the running ones moved. */
static void channel_stats(bn_job *j, int64_t c, double m, double var_sum)
{
    batchnorm *b = j->b;
    float *mean = b->stats.data, *invstd = b->stats.data + j->s.C;
    if (b->batch_stats) {
        int64_t n = j->s.N * j->s.S;
        mean[c] = (float)m;
        invstd[c] = (float)(1.0 / sqrt(var_sum / (double)n + (double)b->o.eps));
        if (j->update) {
            double unbiased = n > 1 ? var_sum / (double)(n - 1) : (double)NAN;
            float *rm = b->running_mean->data, *rv = b->running_var->data;
            rm[c] = (float)(j->factor * m + (1.0 - j->factor) * rm[c]);
            rv[c] = (float)(j->factor * unbiased + (1.0 - j->factor) * rv[c]);
        }
    } else {
        mean[c] = b->running_mean->data[c];
        invstd[c] = (float)(1.0 / sqrt((double)b->running_var->data[c] + (double)b->o.eps));
    }
}

/* Slabs shorter than NN_BN_ROW_S: blocks of channels, row by row. */
static void forward_rows(bn_job *j, int64_t begin, int64_t end)
{
    batchnorm *b = j->b;
    const float *mean = b->stats.data, *invstd = b->stats.data + j->s.C;
    const int64_t per = NN_BN_ROW_BLOCK / j->s.S;
    for (int64_t c0 = begin; c0 < end; c0 += per) {
        int64_t c1 = end - c0 < per ? end : c0 + per;
        double m[NN_BN_ROW_BLOCK] = {0}, var_sum[NN_BN_ROW_BLOCK] = {0};
        if (b->batch_stats)
            nn_bn_rows_stats(&j->s, j->x, c0, c1, m, var_sum);
        for (int64_t c = c0; c < c1; c++)
            channel_stats(j, c, m[c - c0], var_sum[c - c0]);
        nn_bn_rows_apply(&j->s, j->x, c0, c1, mean + c0, invstd + c0, b->weight ? b->weight->data + c0 : NULL,
                         b->bias ? b->bias->data + c0 : NULL, j->y);
    }
}

static void forward_channels(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    bn_job *j = ctx;
    batchnorm *b = j->b;
    if (j->s.S < NN_BN_ROW_S) {
        forward_rows(j, begin, end);
        return;
    }
    const float *mean = b->stats.data, *invstd = b->stats.data + j->s.C;
    for (int64_t c = begin; c < end; c++) {
        double m = 0.0, var_sum = 0.0;
        if (b->batch_stats)
            nn_bn_channel_stats(&j->s, j->x, c, &m, &var_sum);
        channel_stats(j, c, m, var_sum);
        nn_bn_channel_apply(&j->s, j->x, c, mean[c], invstd[c], weight_of(b, c), b->bias ? b->bias->data[c] : 0.0f,
                            j->y);
    }
}

/* Channels per thread chunk: enough values to be worth a wake-up. */
static int64_t grain_of(const nn_bn_shape *s)
{
    int64_t per = s->N * s->S;
    return per >= 16384 ? 1 : 16384 / (per ? per : 1);
}

static nn_tensor *bn_forward(nn_module *m, const nn_tensor *x)
{
    batchnorm *b = (batchnorm *)m;
    char a[NN_SHAPE_STR_LEN];
    nn_bn_shape s;
    if (view_of(b, x, &s, "nn_forward") < 0)
        return NULL;
    bool batch_stats = m->training || !b->o.track_running_stats;
    if (batch_stats && s.N * s.S == 1) /* torch's _verify_batch_size */
        return nn_fail_null(NN_EINVAL, "nn_forward: %s(%lld): expected more than 1 value per channel when training, "
                            "got input of shape %s", class_of(b), (long long)b->o.num_features,
                            nn_tensor_shape_str(x, a));
    /* every allocation before the first change (running statistics
       included), so that a failure leaves everything as it was */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_reserve_dense(&b->x_copy, &src) < 0 || nn_tensor_resize(&b->out, src.ndim, src.shape, &src) < 0 ||
        nn_tensor_resize(&b->stats, 2, (int64_t[]){2, s.C}, NULL) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    nn_tensor_commit_dense(&b->input, &b->x_copy, &src);
    nn_tensor_release(&src);
    bool update = m->training && b->o.track_running_stats;
    double factor = b->o.momentum;
    if (update) { /* torch counts the batch first, then uses 1/count for momentum None */
        ++*b->num_batches_tracked;
        if (b->o.momentum_none)
            factor = 1.0 / (double)*b->num_batches_tracked;
    }
    b->batch_stats = batch_stats;
    bn_job j = {.b = b, .s = s, .x = b->input.data, .y = b->out.data, .factor = factor, .update = update};
    if (s.N * s.S > 0)
        nn_parallel_for(s.C, grain_of(&s), nn_get_num_threads(), forward_channels, &j);
    return &b->out;
}

static void backward_rows(bn_job *j, int64_t begin, int64_t end)
{
    batchnorm *b = j->b;
    const float *mean = b->stats.data, *invstd = b->stats.data + j->s.C;
    const int64_t per = NN_BN_ROW_BLOCK / j->s.S;
    for (int64_t c0 = begin; c0 < end; c0 += per) {
        int64_t c1 = end - c0 < per ? end : c0 + per;
        double sum_dy[NN_BN_ROW_BLOCK], dotp[NN_BN_ROW_BLOCK];
        nn_bn_rows_grad_sums(&j->s, j->x, j->dy, c0, c1, mean + c0, sum_dy, dotp);
        if (j->need_dx)
            nn_bn_rows_dx(&j->s, j->x, j->dy, c0, c1, mean + c0, invstd + c0,
                          b->weight ? b->weight->data + c0 : NULL, b->batch_stats, sum_dy, dotp, j->dx);
        for (int64_t c = c0; b->weight && c < c1; c++) { /* own channels: no other chunk writes here */
            b->base.params[0].grad->data[c] += (float)(dotp[c - c0] * invstd[c]);
            b->base.params[1].grad->data[c] += (float)sum_dy[c - c0];
        }
    }
}

static void backward_channels(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    bn_job *j = ctx;
    batchnorm *b = j->b;
    if (j->s.S < NN_BN_ROW_S) {
        backward_rows(j, begin, end);
        return;
    }
    const float *mean = b->stats.data, *invstd = b->stats.data + j->s.C;
    for (int64_t c = begin; c < end; c++) {
        double sum_dy, dotp;
        nn_bn_channel_grad_sums(&j->s, j->x, j->dy, c, mean[c], &sum_dy, &dotp);
        if (j->need_dx)
            nn_bn_channel_dx(&j->s, j->x, j->dy, c, mean[c], invstd[c], weight_of(b, c), b->batch_stats, sum_dy,
                             dotp, j->dx);
        if (b->weight) { /* own channel: no other chunk writes here */
            b->base.params[0].grad->data[c] += (float)(dotp * invstd[c]);
            b->base.params[1].grad->data[c] += (float)sum_dy;
        }
    }
}

static nn_tensor *bn_backward_ex(nn_module *m, const nn_tensor *g, bool need_dx)
{
    batchnorm *b = (batchnorm *)m;
    char a[NN_SHAPE_STR_LEN], c[NN_SHAPE_STR_LEN];
    if (!nn_tensor_same_shape(g, &b->input))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s(%lld) expected grad_out of shape %s, got %s", class_of(b),
                            (long long)b->o.num_features, nn_tensor_shape_str(&b->input, a),
                            nn_tensor_shape_str(g, c));
    nn_bn_shape s;
    view_of(b, &b->input, &s, "nn_backward");
    /* dx never lands on g (pinned, avoided) nor on the cached input */
    nn_tensor src = {0}, fresh = {0};
    nn_tensor_retain_into(&src, g);
    bool on_input = need_dx && b->grad.storage && b->grad.storage == b->input.storage;
    nn_tensor *dst = on_input ? &fresh : &b->grad;
    const float *dy = nn_tensor_dense(&src, &b->g_copy);
    if (!dy || (need_dx && nn_tensor_resize(dst, src.ndim, src.shape, &src) < 0)) {
        nn_tensor_release(&src);
        return NULL;
    }
    if (on_input) {
        nn_tensor_release(&b->grad);
        b->grad = fresh;
    }
    bn_job j = {.b = b, .s = s, .x = b->input.data, .dy = dy, .dx = b->grad.data, .need_dx = need_dx};
    if (s.N * s.S > 0)
        nn_parallel_for(s.C, grain_of(&s), nn_get_num_threads(), backward_channels, &j);
    nn_tensor_release(&src);
    return &b->grad;
}

static nn_tensor *bn_backward(nn_module *m, const nn_tensor *g) { return bn_backward_ex(m, g, true); }

static void bn_destroy(nn_module *m)
{
    batchnorm *b = (batchnorm *)m;
    nn_tensor_release(&b->input);
    nn_tensor_release(&b->x_copy);
    nn_tensor_release(&b->out);
    nn_tensor_release(&b->stats);
    nn_tensor_release(&b->g_copy);
    nn_tensor_release(&b->grad);
}

/* In evaluation mode with running statistics, y = x * scale + shift per
   channel: scale = weight / sqrt(running_var + eps), shift = bias -
   running_mean * scale (torch's fuse_conv_bn_weights, in double here). */
static int64_t bn_channel_affine(const nn_module *m, float *scale, float *shift)
{
    const batchnorm *b = (const batchnorm *)m;
    if (m->training || !b->o.track_running_stats)
        return NN_EINVAL;
    int64_t c = b->o.num_features;
    for (int64_t i = 0; scale && i < c; i++) {
        double s = (b->weight ? b->weight->data[i] : 1.0) / sqrt((double)b->running_var->data[i] + b->o.eps);
        scale[i] = (float)s;
        shift[i] = (float)((b->bias ? b->bias->data[i] : 0.0) - b->running_mean->data[i] * s);
    }
    return c;
}

static const nn_module_ops bn1d_ops = {
    .type = "BatchNorm1d", .forward = bn_forward, .backward = bn_backward, .backward_ex = bn_backward_ex,
    .extra_repr = bn_extra_repr, .destroy = bn_destroy, .channel_affine = bn_channel_affine,
};
static const nn_module_ops bn2d_ops = {
    .type = "BatchNorm2d", .forward = bn_forward, .backward = bn_backward, .backward_ex = bn_backward_ex,
    .extra_repr = bn_extra_repr, .destroy = bn_destroy, .channel_affine = bn_channel_affine,
};

nn_batchnorm2d_opts nn_batchnorm2d_defaults(int64_t num_features)
{
    return (nn_batchnorm2d_opts){.num_features = num_features, .eps = 1e-5f, .momentum = 0.1f, .affine = true,
                               .track_running_stats = true, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_batchnorm1d_opts nn_batchnorm1d_defaults(int64_t num_features) { return nn_batchnorm2d_defaults(num_features); }

static nn_module *bn_new(const nn_batchnorm2d_opts *opts, int dims, const char *fn)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    nn_batchnorm2d_opts o = *opts;
    int by_hand = nn_opts_by_hand(fn, dims == 1 ? "nn_batchnorm1d_opts" : "nn_batchnorm2d_opts",
                                  dims == 1 ? "nn_batchnorm1d_defaults" : "nn_batchnorm2d_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand) { /* 0 means torch's default */
        if (o.eps == 0.0f)
            o.eps = 1e-5f;
        if (o.momentum == 0.0f && !o.momentum_none)
            o.momentum = 0.1f;
    }
    if (o.num_features <= 0 || o.num_features > ((int64_t)1 << 40))
        return nn_fail_null(NN_EINVAL, "%s: expected num_features > 0, got %lld", fn, (long long)o.num_features);
    if (!(o.eps > 0.0f) || isinf(o.eps))
        return nn_fail_null(NN_EINVAL, "%s: expected a finite eps > 0, got %g", fn, (double)o.eps);
    if (!o.momentum_none && !(o.momentum >= 0.0f && o.momentum <= 1.0f))
        return nn_fail_null(NN_EINVAL, "%s: expected 0 <= momentum <= 1 (or momentum_none), got %g", fn,
                            (double)o.momentum);
    batchnorm *b = nn_alloc_zeroed(1, sizeof *b);
    if (!b)
        return nn_fail_context_null("%s", fn);
    NN_MODULE_INIT(&b->base, dims == 1 ? &bn1d_ops : &bn2d_ops);
    b->o = o;
    b->dims = dims;
    int64_t c = o.num_features;
    bool ok = true;
    if (o.affine) { /* reset_parameters: weight 1, bias 0 */
        b->weight = nn_module_add_param(&b->base, "weight", NN_SHAPE(c));
        b->bias = b->weight ? nn_module_add_param(&b->base, "bias", NN_SHAPE(c)) : NULL;
        ok = b->bias != NULL;
        if (ok)
            nn_tensor_fill(b->weight, 1.0f);
    }
    if (ok && o.track_running_stats) {
        b->running_mean = nn_module_add_buffer(&b->base, "running_mean", NN_SHAPE(c), true);
        b->running_var = b->running_mean ? nn_module_add_buffer(&b->base, "running_var", NN_SHAPE(c), true) : NULL;
        b->num_batches_tracked = b->running_var ? nn_module_add_int_buffer(&b->base, "num_batches_tracked", true)
                                                : NULL;
        ok = b->num_batches_tracked != NULL;
        if (ok)
            nn_tensor_fill(b->running_var, 1.0f);
    }
    if (!ok) {
        nn_module_free(&b->base);
        return nn_fail_context_null("%s", fn);
    }
    return &b->base;
}

nn_module *nn_batchnorm1d_ex(const nn_batchnorm1d_opts *o) { return bn_new(o, 1, "nn_batchnorm1d"); }
nn_module *nn_batchnorm2d_ex(const nn_batchnorm2d_opts *o) { return bn_new(o, 2, "nn_batchnorm2d"); }

nn_module *nn_batchnorm1d(int64_t num_features)
{
    nn_batchnorm2d_opts o = nn_batchnorm2d_defaults(num_features);
    return bn_new(&o, 1, "nn_batchnorm1d");
}

nn_module *nn_batchnorm2d(int64_t num_features)
{
    nn_batchnorm2d_opts o = nn_batchnorm2d_defaults(num_features);
    return bn_new(&o, 2, "nn_batchnorm2d");
}
