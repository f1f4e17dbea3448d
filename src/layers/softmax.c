/* Softmax and LogSoftmax along one dimension (negative: from the end) of
   an input of any rank, as torch.nn.Softmax(dim) / LogSoftmax(dim):
   softmax(x)_i = exp(x_i - max) / sum_j exp(x_j - max), log_softmax(x)_i =
   (x_i - max) - log(sum_j exp(x_j - max)). Backward from the cached
   output: softmax dx = y (g - sum(g y)), log_softmax dx = g - exp(y)
   sum(g). The dimension is checked against the input's rank at forward
   with torch's message (a 0-dim input counts as rank 1). Work is split
   over the columns along dim, never over a column's sums, so results do
   not depend on the thread count. */
#include "kernels/activations.h"
#include "module/module_impl.h"
#include "base/parallel_impl.h"

#define SOFTMAX_GRAIN ((int64_t)1 << 14) /* elements per chunk, roughly */
#define SOFTMAX_PARALLEL_MIN ((int64_t)1 << 16)

typedef struct {
    nn_module base;
    int dim;
    bool log;
    nn_tensor out;  /* forward result; backward reads it */
    nn_tensor grad; /* dL/dx */
} softmax;

static int softmax_extra_repr(const nn_module *m, char *buf, size_t size)
{
    return snprintf(buf, size, "dim=%d", ((const softmax *)m)->dim);
}

/* [outer, D, inner] of a tensor of shape t along s->dim (already checked) */
static void split_of(const softmax *s, const nn_tensor *t, int64_t *outer, int64_t *D, int64_t *inner)
{
    int rank = t->ndim ? t->ndim : 1;
    int d = s->dim < 0 ? s->dim + rank : s->dim;
    *outer = *inner = 1;
    *D = t->ndim ? t->shape[d] : 1;
    for (int i = 0; i < d; i++)
        *outer *= t->shape[i];
    for (int i = d + 1; i < t->ndim; i++)
        *inner *= t->shape[i];
}

typedef struct {
    const float *a, *b; /* forward: x; backward: y, g */
    float *y;
    int64_t D, inner;
    bool log, backward;
} softmax_job;

static void softmax_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    const softmax_job *j = ctx;
    (void)tid;
    if (j->backward)
        nn_softmax_backward_kernel(j->a, j->b, j->y, j->D, j->inner, begin, end, j->log);
    else
        nn_softmax_kernel(j->a, j->y, j->D, j->inner, begin, end, j->log);
}

static void softmax_run(softmax_job *j, int64_t outer)
{
    int64_t columns = outer * j->inner, n = columns * j->D;
    if (n == 0) /* empty: nothing to compute (and D may be 0) */
        return;
    int parts = n < SOFTMAX_PARALLEL_MIN ? 1 : nn_get_num_threads();
    int64_t grain = j->D >= SOFTMAX_GRAIN ? 1 : SOFTMAX_GRAIN / j->D;
    if (parts > 1)
        nn_parallel_for(columns, grain, parts, softmax_chunk, j);
    else
        softmax_chunk(j, 0, columns, 0);
}

static nn_tensor *softmax_forward(nn_module *m, const nn_tensor *x)
{
    softmax *s = (softmax *)m;
    int rank = x->ndim ? x->ndim : 1;
    if (s->dim < -rank || s->dim >= rank) {
        char a[NN_SHAPE_STR_LEN];
        return nn_fail_null(NN_ESHAPE,
                            "nn_forward: %s(dim=%d) got input of shape %s: Dimension out of range (expected to be "
                            "in range of [%d, %d], but got %d)",
                            m->ops->type, s->dim, nn_tensor_shape_str(x, a), -rank, rank - 1, s->dim);
    }
    /* x may be our own output slot: hold its storage while resizing that */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&s->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    softmax_job j = {.a = src.data, .y = s->out.data, .log = s->log};
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, s->out.data);
        j.a = s->out.data;
    }
    int64_t outer;
    split_of(s, &s->out, &outer, &j.D, &j.inner);
    softmax_run(&j, outer);
    nn_tensor_release(&src);
    return &s->out;
}

static nn_tensor *softmax_backward(nn_module *m, const nn_tensor *g)
{
    softmax *s = (softmax *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!s->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s(dim=%d) called before forward", m->ops->type, s->dim);
    if (!nn_tensor_same_shape(g, &s->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s(dim=%d) expected grad_out of shape %s, got %s",
                            m->ops->type, s->dim, nn_tensor_shape_str(&s->out, a), nn_tensor_shape_str(g, b));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&s->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    softmax_job j = {.a = s->out.data, .b = src.data, .y = s->grad.data, .log = s->log, .backward = true};
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, s->grad.data);
        j.b = s->grad.data;
    }
    int64_t outer;
    split_of(s, &s->out, &outer, &j.D, &j.inner);
    softmax_run(&j, outer);
    nn_tensor_release(&src);
    return &s->grad;
}

static void softmax_destroy(nn_module *m)
{
    softmax *s = (softmax *)m;
    nn_tensor_release(&s->out);
    nn_tensor_release(&s->grad);
}

static nn_module *softmax_clone(const nn_module *m);

static const nn_module_ops softmax_ops = {
    .type = "Softmax",
    .forward = softmax_forward,
    .backward = softmax_backward,
    .extra_repr = softmax_extra_repr,
    .destroy = softmax_destroy,
    .clone = softmax_clone,
};

static const nn_module_ops log_softmax_ops = {
    .type = "LogSoftmax",
    .forward = softmax_forward,
    .backward = softmax_backward,
    .extra_repr = softmax_extra_repr,
    .destroy = softmax_destroy,
    .clone = softmax_clone,
};

static nn_module *softmax_new(int dim, uint32_t from_defaults, bool log)
{
    const char *fn = log ? "nn_log_softmax" : "nn_softmax";
    if (nn_opts_by_hand(fn, log ? "nn_log_softmax_opts" : "nn_softmax_opts",
                        log ? "nn_log_softmax_defaults(dim)" : "nn_softmax_defaults(dim)", from_defaults) < 0)
        return NULL;
    softmax *s = nn_alloc_zeroed(1, sizeof *s);
    if (!s)
        return nn_fail_context_null("%s", fn);
    NN_MODULE_INIT(&s->base, log ? &log_softmax_ops : &softmax_ops);
    s->dim = dim;
    s->log = log;
    return &s->base;
}

static nn_module *softmax_clone(const nn_module *m)
{
    const softmax *s = (const softmax *)m;
    return softmax_new(s->dim, NN_OPTS_FROM_DEFAULTS, s->log);
}

nn_softmax_opts nn_softmax_defaults(int dim)
{
    return (nn_softmax_opts){.dim = dim, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_log_softmax_opts nn_log_softmax_defaults(int dim)
{
    return (nn_log_softmax_opts){.dim = dim, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_softmax_ex(const nn_softmax_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "nn_softmax: options are NULL (dim has no default)");
    return softmax_new(o->dim, o->from_defaults, false);
}

nn_module *nn_log_softmax_ex(const nn_log_softmax_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "nn_log_softmax: options are NULL (dim has no default)");
    return softmax_new(o->dim, o->from_defaults, true);
}

nn_module *nn_softmax(int dim) { return softmax_new(dim, NN_OPTS_FROM_DEFAULTS, false); }
nn_module *nn_log_softmax(int dim) { return softmax_new(dim, NN_OPTS_FROM_DEFAULTS, true); }
