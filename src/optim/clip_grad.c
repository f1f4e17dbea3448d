/* Gradient clipping as torch.nn.utils.clip_grad_norm_ and clip_grad_value_
   (PyTorch 1.13), on the gradients of a module's parameters.

   clip_grad_norm_ computes one norm per gradient, then the norm of those
   norms, all in float, and scales every gradient by
   min(max_norm / (total + 1e-6), 1) evaluated as torch evaluates it:
   reciprocal(total + 1e-6f) * max_norm, then clamp(max=1) (NaN stays NaN),
   then a multiplication of every gradient even when the factor is 1.

   The norms reproduce the order of torch 1.13's CPU kernels (AVX2 build),
   so that the results agree bit for bit:
   - p = 2 (the vectorised "reduce last dim" path): eight lanes, each
     accumulating x*x with a fused multiply-add over the whole blocks of 8,
     the lanes summed left to right, then the remaining t < 8 elements in
     order -- the first 4*floor(t/4) of them as acc + x*x (rounded product;
     GCC vectorised that part of the tail loop with an in-order reduction),
     the rest with fused multiply-adds -- and sqrtf;
   - p = 1: acc + |x| in order; other p: acc + powf(|x|, p) in order, then
     powf(acc, 1/p) (torch's serial reduction; torch splits tensors of
     32768 elements and more across its threads when it runs several, which
     changes the rounding there by an ulp or so);
   - p = inf: max |x| (exact; NaN propagates). */
#include <math.h>

#include "optim_impl.h"

/* The offset of element i (row-major) of t from t->data. */
static int64_t offset_of(const nn_tensor *t, int64_t i)
{
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += i % t->shape[d] * t->stride[d];
        i /= t->shape[d];
    }
    return off;
}

/* torch's p = 2 reduction of a stream of floats (see the top). */
typedef struct {
    float lane[8];
    float pending[8];
    int n_pending;
} norm2_state;

static void norm2_push(norm2_state *s, float x)
{
    s->pending[s->n_pending++] = x;
    if (s->n_pending == 8) {
        for (int j = 0; j < 8; j++)
            s->lane[j] = fmaf(s->pending[j], s->pending[j], s->lane[j]);
        s->n_pending = 0;
    }
}

static float norm2_result(const norm2_state *s)
{
    float acc = s->lane[0];
    for (int j = 1; j < 8; j++)
        acc = acc + s->lane[j];
    int t = s->n_pending, q = t / 4 * 4, i = 0;
    for (; i < q; i++) {
        float sq = s->pending[i] * s->pending[i];
        acc = acc + sq;
    }
    for (; i < t; i++)
        acc = fmaf(s->pending[i], s->pending[i], acc);
    return sqrtf(acc);
}

/* A reduction of one stream for norm type p. */
typedef struct {
    float p;
    norm2_state two;
    float acc; /* p = 1, other p: the sum; inf: the max */
} norm_state;

static void norm_push(norm_state *s, float x)
{
    if (s->p == 2.0f) {
        norm2_push(&s->two, x);
    } else if (isinf(s->p)) {
        float a = fabsf(x);
        if (isnan(a) || a > s->acc) /* torch's max propagates NaN */
            s->acc = isnan(s->acc) ? s->acc : a;
    } else if (s->p == 1.0f) {
        s->acc = s->acc + fabsf(x);
    } else {
        s->acc = s->acc + powf(fabsf(x), s->p);
    }
}

static float norm_result(const norm_state *s)
{
    if (s->p == 2.0f)
        return norm2_result(&s->two);
    if (isinf(s->p) || s->p == 1.0f)
        return s->acc;
    return powf(s->acc, 1.0f / s->p);
}

/* The norm of one gradient tensor. */
static float tensor_norm(const nn_tensor *g, float p)
{
    norm_state s = {.p = p};
    int64_t n = nn_tensor_numel(g);
    if (nn_tensor_is_contiguous(g)) {
        const float *x = g->data;
        if (p == 2.0f) { /* the same as pushing one at a time, faster */
            int64_t i = 0;
            for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                    s.two.lane[j] = fmaf(x[i + j], x[i + j], s.two.lane[j]);
            for (; i < n; i++)
                s.two.pending[s.two.n_pending++] = x[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                norm_push(&s, x[i]);
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            norm_push(&s, g->data[offset_of(g, i)]);
    }
    return norm_result(&s);
}

float nn_clip_grad_norm_ex(nn_module *m, float max_norm, float norm_type, bool error_if_nonfinite)
{
    static const char fn[] = "nn_clip_grad_norm";
    if (!m)
        return nn_fail_nan(NN_EINVAL, "%s: module is NULL", fn);
    if (!(max_norm >= 0.0f))
        return nn_fail_nan(NN_EINVAL, "%s: expected max_norm >= 0, got %g", fn, (double)max_norm);
    if (!(norm_type > 0.0f))
        return nn_fail_nan(NN_EINVAL, "%s: expected norm_type > 0 (or INFINITY), got %g", fn, (double)norm_type);
    nn_param *params;
    int count = nn_module_params(m, &params);
    if (count < 0)
        return NAN;
    norm_state total = {.p = norm_type};
    int with_grad = 0;
    float first = 0.0f;
    for (int i = 0; i < count; i++) {
        if (!params[i].grad)
            continue;
        float v = tensor_norm(params[i].grad, norm_type);
        norm_push(&total, v);
        if (with_grad++ == 0)
            first = v;
    }
    if (with_grad == 0)
        return 0.0f; /* torch: tensor(0.) */
    /* torch: norms[0] for one inf-norm, else the norm of the norms */
    float total_norm = isinf(norm_type) && with_grad == 1 ? first : norm_result(&total);
    if (error_if_nonfinite && !isfinite(total_norm))
        return nn_fail_nan(NN_EINVAL,
                           "%s: The total norm of order %g for gradients from `parameters` is non-finite (%g), so "
                           "it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set error_if_nonfinite=false",
                           fn, (double)norm_type, (double)total_norm);
    float coef = 1.0f / (total_norm + 1e-6f); /* float steps, as torch's */
    coef = coef * max_norm;
    if (coef > 1.0f)
        coef = 1.0f;
    for (int i = 0; i < count; i++) {
        nn_tensor *g = params[i].grad;
        if (!g)
            continue;
        int64_t n = nn_tensor_numel(g);
        if (nn_tensor_is_contiguous(g)) {
            for (int64_t k = 0; k < n; k++)
                g->data[k] *= coef;
        } else {
            for (int64_t k = 0; k < n; k++)
                g->data[offset_of(g, k)] *= coef;
        }
    }
    return total_norm;
}

float nn_clip_grad_norm(nn_module *m, float max_norm, float norm_type)
{
    return nn_clip_grad_norm_ex(m, max_norm, norm_type, false);
}

int nn_clip_grad_value(nn_module *m, float clip_value)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_clip_grad_value: module is NULL");
    if (!(clip_value >= 0.0f))
        return nn_fail(NN_EINVAL, "nn_clip_grad_value: expected clip_value >= 0, got %g", (double)clip_value);
    nn_param *params;
    int count = nn_module_params(m, &params);
    if (count < 0)
        return count;
    for (int i = 0; i < count; i++) {
        nn_tensor *g = params[i].grad;
        if (!g)
            continue;
        int64_t n = nn_tensor_numel(g);
        bool contiguous = nn_tensor_is_contiguous(g);
        for (int64_t k = 0; k < n; k++) {
            float *x = g->data + (contiguous ? k : offset_of(g, k));
            float v = *x < -clip_value ? -clip_value : *x; /* torch's clamp: NaN stays NaN */
            *x = v > clip_value ? clip_value : v;
        }
    }
    return NN_OK;
}
