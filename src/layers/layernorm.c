/* LayerNorm: per row i of x seen as [M, N] (N the product of
   normalized_shape), y = (x - mean_i) * rstd_i * weight + bias with rstd_i
   = 1 / sqrt(var_i + eps), var the biased variance; as torch.nn.LayerNorm
   (its CPU kernel's form: y = (x * rstd + (-rstd * mean)) * w + b).
   Backward as torch's: with a = rstd, dy' = dy * w,
   dx = a dy' + b x + c, b = (sum(dy' x) ... ) (see row_backward);
   dweight[j] += sum_i dy[i,j] (x[i,j] - mean_i) a_i, dbias[j] += sum_i dy[i,j].
   Rows are split over threads for y and dx, columns for dweight / dbias
   (each sums its rows in order), so the bits do not depend on the
   thread count. Moments and the backward's row sums in double. */
#include <math.h>
#include <string.h>

#include "base/parallel_impl.h"
#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_layernorm_opts o;
    int64_t n;          /* elements normalised together */
    nn_tensor input;    /* dense view of the last input */
    nn_tensor x_copy;   /* owned copy when it was strided */
    nn_tensor out;      /* forward result */
    nn_tensor stats;    /* backward's scratch: [2, M] mean and rstd per row (recomputed
                           there, bit for bit the forward's, so that a forward failing
                           midway cannot leave backward with another input's) */
    int64_t rows;       /* M of the last forward */
    nn_tensor g_keep;   /* dense view of grad_out during backward */
    nn_tensor g_copy;
    nn_tensor grad;     /* dL/dx */
} layernorm;

static int ln_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_layernorm_opts *o = &((const layernorm *)m)->o;
    char shape[NN_SHAPE_STR_LEN + 8], eps[NN_REPR_FLOAT_LEN];
    size_t k = 0;
    shape[k++] = '(';
    for (int d = 0; d < o->ndim; d++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, d ? ", %lld" : "%lld", (long long)o->normalized_shape[d]);
    snprintf(shape + k, sizeof shape - k, o->ndim == 1 ? ",)" : ")");
    return snprintf(buf, size, "%s, eps=%s, elementwise_affine=%s", shape, nn_repr_float(o->eps, eps),
                    o->elementwise_affine ? "True" : "False");
}

static const char *ln_name(const layernorm *l, char *buf, size_t size)
{
    char extra[NN_SHAPE_STR_LEN + 64];
    ln_extra_repr(&l->base, extra, sizeof extra);
    snprintf(buf, size, "LayerNorm(%s)", extra);
    return buf;
}

typedef struct {
    layernorm *l;
    const float *x, *dy, *w, *b;
    float *y, *dx, *dw, *db;
} ln_job;

/* Mean and 1 / sqrt(biased var + eps) of one row: sums in double, the
   last steps in float as torch's kernel. */
static void row_moments(const float *x, int64_t n, float eps, float *mean_out, float *rstd_out)
{
    double sum = 0.0, sq = 0.0;
    for (int64_t k = 0; k < n; k++)
        sum += x[k];
    double mean = sum / (double)n;
    for (int64_t k = 0; k < n; k++) {
        double d = (double)x[k] - mean;
        sq += d * d;
    }
    float var = (float)(sq / (double)n);
    *mean_out = (float)mean;
    *rstd_out = 1.0f / sqrtf(var + eps);
}

static void moments_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const layernorm *l = j->l;
    for (int64_t i = begin; i < end; i++)
        row_moments(j->x + i * l->n, l->n, l->o.eps, &l->stats.data[i], &l->stats.data[l->rows + i]);
}

static void forward_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const layernorm *l = j->l;
    const int64_t n = l->n;
    for (int64_t i = begin; i < end; i++) {
        const float *x = j->x + i * n;
        float *y = j->y + i * n;
        float m, rstd;
        row_moments(x, n, l->o.eps, &m, &rstd);
        float shift = -rstd * m;
        for (int64_t k = 0; k < n; k++) {
            float v = x[k] * rstd;
            v = v + shift;
            if (j->w) {
                v = v * j->w[k];
                v = v + j->b[k];
            }
            y[k] = v;
        }
    }
}

/* torch's LayerNormBackwardKernelImplInternal per row:
   ds = sum(dy w x), db = sum(dy w), s = 1/N,
   b = (db mean - ds) a^3 s, c = -b mean - db a s, dx = a dy w + b x + c */
static void backward_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const layernorm *l = j->l;
    const int64_t n = l->n;
    const float *mean_in = l->stats.data, *rstd_in = l->stats.data + l->rows;
    for (int64_t i = begin; i < end; i++) {
        const float *x = j->x + i * n, *dy = j->dy + i * n;
        float *dx = j->dx + i * n;
        double ds = 0.0, db = 0.0;
        for (int64_t k = 0; k < n; k++) {
            double g = (double)dy[k] * (j->w ? (double)j->w[k] : 1.0);
            ds += g * (double)x[k];
            db += g;
        }
        const double a = rstd_in[i], mean = mean_in[i], s = 1.0 / (double)n;
        const double bb = (db * mean - ds) * a * a * a * s;
        const double c = -bb * mean - db * a * s;
        for (int64_t k = 0; k < n; k++) {
            double g = (double)dy[k] * (j->w ? (double)j->w[k] : 1.0);
            dx[k] = (float)(a * g + bb * (double)x[k] + c);
        }
    }
}

static void param_columns(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const layernorm *l = j->l;
    const int64_t n = l->n, rows = l->rows;
    const float *mean_in = l->stats.data, *rstd_in = l->stats.data + rows;
    for (int64_t k = begin; k < end; k++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            double g = j->dy[i * n + k];
            sw += g * (((double)j->x[i * n + k] - (double)mean_in[i]) * (double)rstd_in[i]);
            sb += g;
        }
        j->dw[k] += (float)sw;
        j->db[k] += (float)sb;
    }
}

static int workers_for(int64_t elements)
{
    return elements >= (1 << 15) ? nn_get_num_threads() : 1;
}

static void run(nn_parallel_fn fn, int64_t n, int64_t grain, int workers, ln_job *j)
{
    if (workers > 1)
        nn_parallel_for(n, grain, workers, fn, j);
    else
        fn(j, 0, n, 0);
}

static nn_tensor *ln_forward(nn_module *m, const nn_tensor *x)
{
    layernorm *l = (layernorm *)m;
    const nn_layernorm_opts *o = &l->o;
    char name[NN_SHAPE_STR_LEN + 96], s[NN_SHAPE_STR_LEN], want[NN_SHAPE_STR_LEN];
    bool fits = x->ndim >= o->ndim;
    for (int d = 0; fits && d < o->ndim; d++)
        fits = x->shape[x->ndim - o->ndim + d] == o->normalized_shape[d];
    if (!fits) {
        nn_shape_str(o->ndim, o->normalized_shape, want); /* "[3, 4]" */
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s: Given normalized_shape=%s, expected input with shape "
                            "[*, %.*s], but got input of size %s",
                            ln_name(l, name, sizeof name), want, (int)strlen(want) - 2, want + 1,
                            nn_tensor_shape_str(x, s));
    }
    int64_t rows = 1;
    for (int d = 0; d < x->ndim - o->ndim; d++)
        rows *= x->shape[d];
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x); /* x may be our own slot */
    if (nn_tensor_reserve_dense(&l->x_copy, &src) < 0 || nn_tensor_resize(&l->out, x->ndim, x->shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    nn_tensor_commit_dense(&l->input, &l->x_copy, &src);
    nn_tensor_release(&src);
    l->rows = rows;
    ln_job j = {.l = l, .x = l->input.data, .y = l->out.data};
    if (o->elementwise_affine) {
        j.w = m->params[0].value->data;
        j.b = m->params[1].value->data;
    }
    run(forward_rows, rows, 1, workers_for(rows * l->n), &j);
    return &l->out;
}

static nn_tensor *ln_backward_ex(nn_module *m, const nn_tensor *g, bool need_dx)
{
    layernorm *l = (layernorm *)m;
    char name[NN_SHAPE_STR_LEN + 96], a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (l->input.ndim == 0) /* an input has at least one dimension */
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", ln_name(l, name, sizeof name));
    if (!nn_tensor_same_shape(g, &l->input))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            ln_name(l, name, sizeof name), nn_tensor_shape_str(&l->input, a),
                            nn_tensor_shape_str(g, b));
    if (need_dx && l->grad.storage == l->input.storage) /* forward was fed our own dx */
        nn_tensor_release(&l->grad);
    if (nn_tensor_keep_dense(&l->g_keep, &l->g_copy, g) < 0)
        return NULL;
    if (nn_tensor_resize(&l->stats, NN_SHAPE(2, l->rows), NULL) < 0 ||
        (need_dx && nn_tensor_resize(&l->grad, l->input.ndim, l->input.shape, &l->g_keep) < 0)) {
        nn_tensor_release(&l->g_keep);
        return NULL;
    }
    ln_job j = {.l = l, .x = l->input.data, .dy = l->g_keep.data, .dx = need_dx ? l->grad.data : NULL};
    const int workers = workers_for(l->rows * l->n);
    run(moments_rows, l->rows, 1, workers, &j);
    if (l->o.elementwise_affine) {
        j.w = m->params[0].value->data;
        j.dw = m->params[0].grad->data;
        j.db = m->params[1].grad->data;
        if (l->rows > 0)
            run(param_columns, l->n, 16, workers, &j);
    }
    if (need_dx)
        run(backward_rows, l->rows, 1, workers, &j);
    nn_tensor_release(&l->g_keep);
    return need_dx ? &l->grad : &l->out;
}

static nn_tensor *ln_backward(nn_module *m, const nn_tensor *g)
{
    return ln_backward_ex(m, g, true);
}

static void ln_destroy(nn_module *m)
{
    layernorm *l = (layernorm *)m;
    nn_tensor_release(&l->input);
    nn_tensor_release(&l->x_copy);
    nn_tensor_release(&l->out);
    nn_tensor_release(&l->stats);
    nn_tensor_release(&l->g_keep);
    nn_tensor_release(&l->g_copy);
    nn_tensor_release(&l->grad);
}

static const nn_module_ops ln_ops = {
    .type = "LayerNorm",
    .forward = ln_forward,
    .backward = ln_backward,
    .backward_ex = ln_backward_ex,
    .extra_repr = ln_extra_repr,
    .destroy = ln_destroy,
};

static nn_module *ln_new(const char *fn, const nn_layernorm_opts *opts)
{
    char s[NN_SHAPE_STR_LEN];
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: opts is NULL", fn);
    nn_layernorm_opts o = *opts;
    int by_hand = nn_opts_by_hand(fn, "nn_layernorm_opts", "nn_layernorm_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (o.ndim < 1 || o.ndim > NN_MAX_DIMS)
        return nn_fail_null(NN_EINVAL, "%s: expected normalized_shape of 1 to %d dimensions, got ndim %d", fn,
                            NN_MAX_DIMS, o.ndim);
    for (int d = 0; d < o.ndim; d++)
        if (o.normalized_shape[d] <= 0)
            return nn_fail_null(NN_EINVAL, "%s: expected positive normalized_shape sizes, got %s", fn,
                                nn_shape_str(o.ndim, o.normalized_shape, s));
    if (by_hand && o.eps == 0.0f)
        o.eps = 1e-5f;
    if (!(o.eps >= 0.0f) || isinf(o.eps))
        return nn_fail_null(NN_EINVAL, "%s: expected a finite eps >= 0, got %g", fn, (double)o.eps);
    int64_t n = nn_shape_numel(o.ndim, o.normalized_shape);
    if (n < 0)
        return nn_fail_null(NN_EINVAL, "%s: normalized_shape %s is too large", fn,
                            nn_shape_str(o.ndim, o.normalized_shape, s));
    for (int d = o.ndim; d < NN_MAX_DIMS; d++)
        o.normalized_shape[d] = 0;
    o.from_defaults = NN_OPTS_FROM_DEFAULTS;
    layernorm *l = nn_alloc_zeroed(1, sizeof *l);
    if (!l)
        return NULL;
    NN_MODULE_INIT(&l->base, &ln_ops);
    l->o = o;
    l->n = n;
    if (o.elementwise_affine) {
        nn_tensor *w = nn_module_add_param(&l->base, "weight", o.ndim, o.normalized_shape);
        nn_tensor *b = w ? nn_module_add_param(&l->base, "bias", o.ndim, o.normalized_shape) : NULL;
        if (!b) {
            nn_module_free(&l->base);
            return NULL;
        }
        nn_tensor_fill(w, 1.0f);
    }
    return &l->base;
}

nn_layernorm_opts nn_layernorm_defaults(int ndim, const int64_t *normalized_shape)
{
    nn_layernorm_opts o = {.ndim = ndim, .eps = 1e-5f, .elementwise_affine = true,
                           .from_defaults = NN_OPTS_FROM_DEFAULTS};
    for (int d = 0; normalized_shape && d < ndim && d < NN_MAX_DIMS; d++)
        o.normalized_shape[d] = normalized_shape[d];
    return o;
}

nn_module *nn_layernorm_ex(const nn_layernorm_opts *o)
{
    return ln_new("nn_layernorm_ex", o);
}

nn_module *nn_layernorm(int ndim, const int64_t *normalized_shape)
{
    if (!normalized_shape && ndim > 0)
        return nn_fail_null(NN_EINVAL, "nn_layernorm: normalized_shape is NULL");
    nn_layernorm_opts o = nn_layernorm_defaults(ndim, normalized_shape);
    return ln_new("nn_layernorm", &o);
}
