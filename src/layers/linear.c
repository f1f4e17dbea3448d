/* Linear: y = x W^T + b over the last dimension of x (any rank >= 1).
   dL/dx = g W;  dL/dW += g^T x;  dL/db += sum of g over all leading dims. */
#include <math.h>

#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "module/module_impl.h"

typedef struct {
    nn_module base;
    int64_t in_features, out_features;
    bool has_bias;
    nn_tensor input;  /* dense view of the last forward's input */
    nn_tensor x_copy; /* owned dense copy when that input was strided */
    nn_tensor out;    /* forward result */
    nn_tensor g_keep; /* dense view of grad_out during backward */
    nn_tensor g_copy; /* owned dense copy when grad_out is strided */
    nn_tensor grad;   /* dL/dx */
} linear;

/* Rows of a [..., features] tensor: the product of every dimension but the last. */
static int64_t leading_rows(const nn_tensor *t)
{
    int64_t rows = 1;
    for (int i = 0; i < t->ndim - 1; i++)
        rows *= t->shape[i];
    return rows;
}

static nn_tensor *linear_forward(nn_module *m, const nn_tensor *x)
{
    linear *l = (linear *)m;
    char s[NN_SHAPE_STR_LEN];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in_features)
        return nn_fail_null(NN_ESHAPE, "nn_forward: Linear(in_features=%lld) got input of shape %s",
                            (long long)l->in_features, nn_tensor_shape_str(x, s));
    int64_t shape[NN_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        shape[i] = x->shape[i];
    shape[x->ndim - 1] = l->out_features;
    /* x may be our own output slot: pin its storage while resizing that.
       Every allocation comes before the first change, so that a failure
       leaves the last forward (its output and what backward uses) intact. */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_reserve_dense(&l->x_copy, &src) < 0 ||
        nn_tensor_resize(&l->out, src.ndim, shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    nn_tensor_commit_dense(&l->input, &l->x_copy, &src);
    nn_tensor_release(&src);
    int64_t rows = leading_rows(&l->input), in = l->in_features, out = l->out_features;
    const float *w = m->params[0].value->data;
    float *y = l->out.data;
    nn_gemm(false, true, rows, out, in, 1.0f, l->input.data, in, w, in, 0.0f, y, out);
    if (l->has_bias) /* y[r, :] = (x W^T)[r, :] + b */
        nn_ew_add_rows(y, m->params[1].value->data, rows, out);
    return &l->out;
}

/* need_dx false: the parameter gradients only (dx left as it was). */
static nn_tensor *linear_backward_ex(nn_module *m, const nn_tensor *g, bool need_dx)
{
    linear *l = (linear *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (l->input.ndim == 0) /* an input has >= 1 dimension; its storage may be NULL (wrapped) */
        return nn_fail_null(NN_EINVAL, "nn_backward: Linear(in_features=%lld) called before forward",
                            (long long)l->in_features);
    const nn_tensor *x = &l->input;
    /* grad_out must be the input's shape with out_features last */
    bool same = g->ndim == x->ndim && g->shape[x->ndim - 1] == l->out_features;
    for (int i = 0; same && i < x->ndim - 1; i++)
        same = g->shape[i] == x->shape[i];
    if (!same) {
        int64_t want[NN_MAX_DIMS];
        for (int i = 0; i < x->ndim; i++)
            want[i] = x->shape[i];
        want[x->ndim - 1] = l->out_features;
        return nn_fail_null(NN_ESHAPE, "nn_backward: Linear(in_features=%lld) expected grad_out of shape %s, got %s",
                            (long long)l->in_features, nn_shape_str(x->ndim, want, a),
                            nn_tensor_shape_str(g, b));
    }
    /* dx lands neither on g (it may be our own dx slot: pinned, and resize
       avoids it) nor on the cached input (forward was fed our own dx: dx
       then goes to fresh storage). Every allocation before any change, so
       that a failure leaves the last dx and the gradients as they were. */
    nn_tensor src = {0}, fresh = {0};
    nn_tensor_retain_into(&src, g);
    bool on_input = need_dx && l->grad.storage && l->grad.storage == x->storage;
    nn_tensor *dst = on_input ? &fresh : &l->grad;
    if (nn_tensor_reserve_dense(&l->g_copy, &src) < 0 ||
        (need_dx && nn_tensor_resize(dst, x->ndim, x->shape, &src) < 0)) {
        nn_tensor_release(&src);
        return NULL;
    }
    if (on_input) { /* hand fresh's reference over to the slot */
        nn_tensor_release(&l->grad);
        l->grad = fresh;
    }
    nn_tensor_commit_dense(&l->g_keep, &l->g_copy, &src);
    nn_tensor_release(&src);
    const float *dy = l->g_keep.data;
    int64_t rows = leading_rows(x), in = l->in_features, out = l->out_features;
    const float *w = m->params[0].value->data;
    float *dw = m->params[0].grad->data;
    /* dx[rows,in] = g[rows,out] W[out,in] */
    if (need_dx)
        nn_gemm(false, false, rows, in, out, 1.0f, dy, out, w, in, 0.0f, l->grad.data, in);
    /* dW[out,in] += g^T[out,rows] x[rows,in] */
    nn_gemm(true, false, out, in, rows, 1.0f, dy, out, x->data, in, 1.0f, dw, in);
    if (l->has_bias)
        nn_ew_sum_rows(m->params[1].grad->data, dy, rows, out);
    nn_tensor_release(&l->g_keep); /* no need to pin the caller's storage */
    return &l->grad;
}

static nn_tensor *linear_backward(nn_module *m, const nn_tensor *g)
{
    return linear_backward_ex(m, g, true);
}

static int linear_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const linear *l = (const linear *)m;
    return snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s", (long long)l->in_features,
                    (long long)l->out_features, l->has_bias ? "True" : "False");
}

static void linear_destroy(nn_module *m)
{
    linear *l = (linear *)m;
    nn_tensor_release(&l->input);
    nn_tensor_release(&l->x_copy);
    nn_tensor_release(&l->out);
    nn_tensor_release(&l->g_keep);
    nn_tensor_release(&l->g_copy);
    nn_tensor_release(&l->grad);
}

static int linear_absorb_channel_affine(nn_module *m, const float *scale, const float *shift, int64_t channels)
{
    return nn_absorb_rows_affine(m, &((linear *)m)->has_bias, scale, shift, channels);
}

static const nn_module_ops linear_ops = {
    .type = "Linear",
    .forward = linear_forward,
    .backward = linear_backward,
    .backward_ex = linear_backward_ex,
    .extra_repr = linear_extra_repr,
    .destroy = linear_destroy,
    .absorb_channel_affine = linear_absorb_channel_affine,
};

nn_module *nn_linear(int64_t in_features, int64_t out_features, bool bias)
{
    if (in_features <= 0 || out_features <= 0)
        return nn_fail_null(NN_EINVAL, "nn_linear: expected positive in_features and out_features, got %lld and %lld",
                            (long long)in_features, (long long)out_features);
    if (nn_shape_numel(NN_SHAPE(out_features, in_features)) < 0)
        return nn_fail_null(NN_EINVAL, "nn_linear: weight of shape [%lld, %lld] (out_features, in_features) is too large",
                            (long long)out_features, (long long)in_features);
    linear *l = nn_alloc_zeroed(1, sizeof *l);
    if (!l)
        return nn_fail_context_null("nn_linear(%lld, %lld)", (long long)in_features, (long long)out_features);
    NN_MODULE_INIT(&l->base, &linear_ops);
    l->in_features = in_features;
    l->out_features = out_features;
    l->has_bias = bias;
    nn_tensor *w = nn_module_add_param(&l->base, "weight", NN_SHAPE(out_features, in_features));
    nn_tensor *b = w && bias ? nn_module_add_param(&l->base, "bias", NN_SHAPE(out_features)) : NULL;
    if (!w || (bias && !b)) {
        nn_module_free(&l->base);
        return nn_fail_context_null("nn_linear(%lld, %lld)", (long long)in_features, (long long)out_features);
    }
    nn_init_kaiming_uniform(w, b, (double)in_features);
    return &l->base;
}
