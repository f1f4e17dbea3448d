/* Embedding: out[pos, :] = weight[index[pos], :] for every position of an
   index tensor (whole-number floats); backward adds g[pos, :] into
   weight.grad's row index[pos], positions in order (as torch's
   index_add_), skipping padding_idx. As torch.nn.Embedding. */
#include <math.h>
#include <string.h>

#include "base/parallel_impl.h"
#include "module/module_impl.h"

typedef struct {
    nn_module base;
    nn_embedding_opts o;  /* padding_idx made non-negative */
    int64_t *index;       /* the last forward's indices, in row-major order */
    int64_t index_cap;    /* int64s index holds */
    int64_t n;            /* positions in the last forward */
    int in_ndim;          /* -1 before the first forward */
    int64_t in_shape[NN_MAX_DIMS];
    nn_tensor out;        /* forward result */
    nn_tensor g_copy;     /* dense copy of a strided grad_out */
    nn_tensor grad;       /* dL/dindices: zeros */
} embedding;

static int emb_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_embedding_opts *o = &((const embedding *)m)->o;
    char pad[48] = "";
    if (o->has_padding_idx)
        snprintf(pad, sizeof pad, ", padding_idx=%lld", (long long)o->padding_idx);
    return snprintf(buf, size, "%lld, %lld%s", (long long)o->num_embeddings, (long long)o->embedding_dim, pad);
}

/* "[1, 2]": the multi-index of flat position pos in shape */
static const char *position_str(int ndim, const int64_t *shape, int64_t pos, char *buf)
{
    int64_t idx[NN_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? pos % shape[d] : 0;
        pos = shape[d] ? pos / shape[d] : 0;
    }
    return nn_shape_str(ndim, idx, buf);
}

/* Columns [begin, end) of every position's row: out[pos, j] = W[index, j]. */
typedef struct {
    embedding *e;
    const float *g;
    float *w, *dw;
} emb_job;

static void gather_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const emb_job *j = ctx;
    const embedding *e = j->e;
    const int64_t dim = e->o.embedding_dim;
    for (int64_t p = begin; p < end; p++)
        memcpy(e->out.data + p * dim, j->w + e->index[p] * dim, (size_t)dim * sizeof(float));
}

/* Columns [begin, end) of weight.grad: each gets its positions in order,
   so the bits do not depend on how the columns are split. */
static void scatter_columns(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const emb_job *j = ctx;
    const embedding *e = j->e;
    const int64_t dim = e->o.embedding_dim;
    for (int64_t p = 0; p < e->n; p++) {
        int64_t row = e->index[p];
        if (e->o.has_padding_idx && row == e->o.padding_idx)
            continue;
        float *dst = j->dw + row * dim;
        const float *src = j->g + p * dim;
        for (int64_t c = begin; c < end; c++)
            dst[c] += src[c];
    }
}

static int workers_for(int64_t work)
{
    return work >= (1 << 16) ? nn_get_num_threads() : 1;
}

static nn_tensor *emb_forward(nn_module *m, const nn_tensor *x)
{
    embedding *e = (embedding *)m;
    const nn_embedding_opts *o = &e->o;
    char s[NN_SHAPE_STR_LEN], at[NN_SHAPE_STR_LEN];
    if (x->ndim >= NN_MAX_DIMS)
        return nn_fail_null(NN_ESHAPE, "nn_forward: Embedding(%lld, %lld) expected indices of at most %d dimensions "
                            "(the output adds one), got shape %s",
                            (long long)o->num_embeddings, (long long)o->embedding_dim, NN_MAX_DIMS - 1,
                            nn_tensor_shape_str(x, s));
    const int64_t n = nn_tensor_numel(x), dim = o->embedding_dim;
    int64_t oshape[NN_MAX_DIMS], out_numel;
    memcpy(oshape, x->shape, (size_t)x->ndim * sizeof *oshape);
    oshape[x->ndim] = dim;
    if (nn_mul_overflows(n, dim, &out_numel) || nn_shape_numel(x->ndim + 1, oshape) < 0)
        return nn_fail_null(NN_ESHAPE, "nn_forward: Embedding(%lld, %lld) output for indices of shape %s is too large",
                            (long long)o->num_embeddings, (long long)dim, nn_tensor_shape_str(x, s));
    /* check every index before anything changes */
    int64_t pos = 0;
    nn_rows r;
    for (nn_rows_begin(&r, x); nn_rows_next(&r);)
        for (int64_t k = 0; k < r.n; k++, pos++) {
            float v = r.row[k * r.step];
            if (!(v == floorf(v)) || v < 0.0f || v >= (float)o->num_embeddings || (double)v >= (double)o->num_embeddings)
                return nn_fail_null(NN_EINVAL, "nn_forward: Embedding(%lld, %lld): index out of range or not a whole "
                                    "number: %.9g at position %s of input of shape %s (expected whole numbers in [0, %lld))",
                                    (long long)o->num_embeddings, (long long)dim, (double)v,
                                    position_str(x->ndim, x->shape, pos, at), nn_tensor_shape_str(x, s),
                                    (long long)o->num_embeddings);
        }
    int64_t *grown = NULL;
    if (n > e->index_cap) {
        grown = nn_alloc_zeroed((size_t)n, sizeof *grown);
        if (!grown)
            return nn_fail_context_null("nn_forward: Embedding(%lld, %lld)", (long long)o->num_embeddings,
                                        (long long)dim);
    }
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x); /* x may be our own slot */
    if (nn_tensor_resize(&e->out, x->ndim + 1, oshape, &src) < 0) {
        nn_tensor_release(&src);
        nn_release(grown);
        return NULL;
    }
    if (grown) {
        nn_release(e->index);
        e->index = grown;
        e->index_cap = n;
    }
    pos = 0;
    for (nn_rows_begin(&r, &src); nn_rows_next(&r);)
        for (int64_t k = 0; k < r.n; k++)
            e->index[pos++] = (int64_t)r.row[k * r.step];
    nn_tensor_release(&src);
    e->n = n;
    e->in_ndim = x->ndim;
    memcpy(e->in_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    emb_job j = {.e = e, .w = m->params[0].value->data};
    int workers = workers_for(out_numel);
    if (workers > 1)
        nn_parallel_for(n, 1, workers, gather_rows, &j);
    else
        gather_rows(&j, 0, n, 0);
    return &e->out;
}

static nn_tensor *emb_backward_ex(nn_module *m, const nn_tensor *g, bool need_dx)
{
    embedding *e = (embedding *)m;
    const nn_embedding_opts *o = &e->o;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (e->in_ndim < 0)
        return nn_fail_null(NN_EINVAL, "nn_backward: Embedding(%lld, %lld) called before forward",
                            (long long)o->num_embeddings, (long long)o->embedding_dim);
    if (!nn_tensor_same_shape(g, &e->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Embedding(%lld, %lld) expected grad_out of shape %s, got %s",
                            (long long)o->num_embeddings, (long long)o->embedding_dim,
                            nn_tensor_shape_str(&e->out, a), nn_tensor_shape_str(g, b));
    nn_tensor keep = {0};
    nn_tensor_retain_into(&keep, g); /* g may be our own slot */
    const float *gd = nn_tensor_dense(&keep, &e->g_copy);
    if (!gd || (need_dx && nn_tensor_resize(&e->grad, e->in_ndim, e->in_shape, &keep) < 0)) {
        nn_tensor_release(&keep);
        return NULL;
    }
    emb_job j = {.e = e, .g = gd, .dw = m->params[0].grad->data};
    int workers = workers_for(e->n * o->embedding_dim);
    if (workers > 1 && o->embedding_dim >= 2 * 16)
        nn_parallel_for(o->embedding_dim, 16, workers, scatter_columns, &j);
    else
        scatter_columns(&j, 0, o->embedding_dim, 0);
    nn_tensor_release(&keep);
    if (!need_dx)
        return &e->out;
    memset(e->grad.data, 0, (size_t)e->n * sizeof(float));
    return &e->grad;
}

static nn_tensor *emb_backward(nn_module *m, const nn_tensor *g)
{
    return emb_backward_ex(m, g, true);
}

static void emb_destroy(nn_module *m)
{
    embedding *e = (embedding *)m;
    nn_release(e->index);
    nn_tensor_release(&e->out);
    nn_tensor_release(&e->g_copy);
    nn_tensor_release(&e->grad);
}

static const nn_module_ops emb_ops = {
    .type = "Embedding",
    .forward = emb_forward,
    .backward = emb_backward,
    .backward_ex = emb_backward_ex,
    .extra_repr = emb_extra_repr,
    .destroy = emb_destroy,
};

static nn_module *emb_new(const char *fn, const nn_embedding_opts *opts)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: opts is NULL", fn);
    nn_embedding_opts o = *opts;
    if (nn_opts_by_hand(fn, "nn_embedding_opts", "nn_embedding_defaults", o.from_defaults) < 0)
        return NULL;
    if (o.num_embeddings <= 0 || o.embedding_dim <= 0)
        return nn_fail_null(NN_EINVAL, "%s: expected positive num_embeddings and embedding_dim, got %lld and %lld",
                            fn, (long long)o.num_embeddings, (long long)o.embedding_dim);
    if (o.num_embeddings > ((int64_t)1 << 24))
        return nn_fail_null(NN_EINVAL, "%s: num_embeddings %lld is more than 2^24: indices are floats, which hold "
                            "whole numbers exactly only up to 2^24",
                            fn, (long long)o.num_embeddings);
    if (o.has_padding_idx) {
        if (o.padding_idx >= o.num_embeddings || o.padding_idx < -o.num_embeddings)
            return nn_fail_null(NN_EINVAL, "%s: Padding_idx must be within num_embeddings: padding_idx %lld for "
                                "num_embeddings %lld",
                                fn, (long long)o.padding_idx, (long long)o.num_embeddings);
        if (o.padding_idx < 0)
            o.padding_idx += o.num_embeddings;
    } else {
        o.padding_idx = 0;
    }
    o.from_defaults = NN_OPTS_FROM_DEFAULTS;
    if (nn_shape_numel(NN_SHAPE(o.num_embeddings, o.embedding_dim)) < 0)
        return nn_fail_null(NN_EINVAL, "%s: weight of shape [%lld, %lld] is too large", fn,
                            (long long)o.num_embeddings, (long long)o.embedding_dim);
    embedding *e = nn_alloc_zeroed(1, sizeof *e);
    if (!e)
        return NULL;
    NN_MODULE_INIT(&e->base, &emb_ops);
    e->o = o;
    e->in_ndim = -1;
    nn_tensor *w = nn_module_add_param(&e->base, "weight", NN_SHAPE(o.num_embeddings, o.embedding_dim));
    if (!w) {
        nn_module_free(&e->base);
        return NULL;
    }
    nn_init_normal(w, 0.0, 1.0); /* torch: init.normal_(weight), then the padding row zeroed */
    if (o.has_padding_idx)
        memset(w->data + o.padding_idx * o.embedding_dim, 0, (size_t)o.embedding_dim * sizeof(float));
    return &e->base;
}

nn_embedding_opts nn_embedding_defaults(int64_t num_embeddings, int64_t embedding_dim)
{
    return (nn_embedding_opts){.num_embeddings = num_embeddings, .embedding_dim = embedding_dim,
                               .has_padding_idx = false, .padding_idx = 0,
                               .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_embedding_ex(const nn_embedding_opts *o)
{
    return emb_new("nn_embedding_ex", o);
}

nn_module *nn_embedding(int64_t num_embeddings, int64_t embedding_dim)
{
    nn_embedding_opts o = nn_embedding_defaults(num_embeddings, embedding_dim);
    return emb_new("nn_embedding", &o);
}
