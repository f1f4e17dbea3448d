/* Losses as torch.nn's MSELoss, L1Loss, SmoothL1Loss, HuberLoss,
   BCEWithLogitsLoss (weight, pos_weight), and NLLLoss and CrossEntropyLoss
   (weight, ignore_index, label_smoothing), all with torch's reduction.
   Forward validates everything first, then computes the value and the
   gradient d(loss)/d(pred) in one pass (accumulating in double); backward
   only hands out that gradient, and backward_ex scales it by an upstream
   gradient. Strided inputs are gathered into scratch
   slots the loss owns, so after the first call at a given shape nothing is
   allocated.

   Unlike torch (which returns NaN), an empty input is an error: a mean over
   nothing is almost always a bug upstream. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_impl.h"
#include "kernels/loss_kernels.h"
#include "nn/loss.h"
#include "nn/module.h" /* NN_OPTS_FROM_DEFAULTS */

typedef struct nn_loss_ops {
    const char *type;        /* "MSELoss", named in error messages */
    const char *constructor; /* "nn_mse_loss_ex" */
    /* NN_OK, or an nn_fail status naming what is wrong with the inputs */
    int (*check)(const struct nn_loss *l, const nn_tensor *pred, const nn_tensor *target);
    /* Elementwise losses (target of pred's shape): the loss value, reduced
       by l->reduction, over the n elements of p and t; writes
       d(value)/d(pred) into grad and, with NN_REDUCTION_NONE, the
       per-element losses into values (both n floats). NULL: a class-index
       loss (NLLLoss, CrossEntropyLoss), done by class_check and
       class_compute. */
    double (*compute)(const struct nn_loss *l, const nn_tensor *pred, const float *p, const float *t, float *grad,
                      float *values);
} nn_loss_ops;

struct nn_loss {
    const nn_loss_ops *ops;
    nn_tensor grad;        /* d(loss)/d(pred), handed out by backward */
    nn_tensor pred_dense;  /* row-major copies of strided inputs */
    nn_tensor target_dense;
    bool has_forward;
    /* torch's output: 0-dim, or the target's shape (NN_REDUCTION_NONE) */
    nn_tensor values;
    nn_tensor grad_ex;       /* nn_loss_backward_ex's result */
    nn_tensor upstream_dense; /* its upstream gradient, row-major */
    /* class-index losses: pred is [N, C, inner] (inner = d1 * d2 ...; N = 1
       for [C]), set by the last successful forward */
    int64_t classes, inner;
    /* options (class-index losses; BCEWithLogitsLoss's weight and
       pos_weight, along the last dimension) */
    float *weight; /* weight_count floats, owned; NULL: all 1 */
    int64_t weight_count;
    float *pos_weight; /* BCEWithLogitsLoss; pos_weight_count floats, owned; NULL: none */
    int64_t pos_weight_count;
    float beta;        /* SmoothL1Loss's beta, HuberLoss's delta */
    int64_t ignore_index;
    nn_reduction reduction;
    float label_smoothing;
};

/* --- shared checks ---------------------------------------------------- */

static int check_same_shape(const char *type, const nn_tensor *pred, const nn_tensor *target)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!nn_tensor_same_shape(pred, target))
        return nn_fail(NN_ESHAPE,
                       "nn_loss_forward: %s expected target of the prediction's shape %s, got %s "
                       "(no broadcasting)",
                       type, nn_tensor_shape_str(pred, a), nn_tensor_shape_str(target, b));
    return NN_OK;
}

static int check_not_empty(const char *type, const nn_tensor *pred)
{
    char a[NN_SHAPE_STR_LEN];
    if (nn_tensor_numel(pred) == 0)
        return nn_fail(NN_ESHAPE, "nn_loss_forward: %s got an empty prediction of shape %s",
                       type, nn_tensor_shape_str(pred, a));
    return NN_OK;
}

/* --- elementwise losses: MSELoss, L1Loss, SmoothL1Loss, HuberLoss,
   BCEWithLogitsLoss. The target has the prediction's shape (no
   broadcasting); the value is the mean (divided by den = n), the sum
   (den = 1) or, with NN_REDUCTION_NONE, the sum of the per-element losses
   written to values (den = 1). */

static int elementwise_check(const nn_loss *l, const nn_tensor *pred, const nn_tensor *target)
{
    int s = check_same_shape(l->ops->type, pred, target);
    return s < 0 ? s : check_not_empty(l->ops->type, pred);
}

static double denominator(const nn_loss *l, int64_t n)
{
    return l->reduction == NN_REDUCTION_MEAN ? (double)n : 1.0;
}

/* L = (p - t)^2;  dL/dp = 2 (p - t) / den (kernels/loss_kernels.h) */
static double mse_compute(const nn_loss *l, const nn_tensor *pred, const float *p, const float *t, float *grad,
                          float *values)
{
    int64_t n = nn_tensor_numel(pred);
    double sum = nn_mse_kernel(p, t, grad, n, denominator(l, n));
    if (l->reduction == NN_REDUCTION_NONE)
        for (int64_t i = 0; i < n; i++) {
            double d = (double)p[i] - (double)t[i];
            values[i] = (float)(d * d);
        }
    return sum;
}

/* The smooth losses branch on d = p - t rounded to float, as torch
   computes it, so that ties at |d| = beta (delta) fall as torch's do. */

/* L = |d|;  dL/dp = sign(d) (0 at d = 0, and for a NaN d, as torch's sgn) */
static double l1_compute(const nn_loss *l, const nn_tensor *pred, const float *p, const float *t, float *grad,
                         float *values)
{
    int64_t n = nn_tensor_numel(pred);
    const double den = denominator(l, n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float d = p[i] - t[i];
        sum += fabsf(d);
        grad[i] = (float)((d > 0.0f ? 1.0 : d < 0.0f ? -1.0 : 0.0) / den);
        if (values)
            values[i] = fabsf(d);
    }
    return sum / den;
}

/* z = |d|:  L = z < beta ? z^2 / (2 beta) : z - beta / 2;
   dL/dp = d <= -beta ? -1 : d >= beta ? 1 : d / beta (torch's order of the
   tests: beta 0 gives L1's value, and -1 for d = 0) */
static double smooth_l1_compute(const nn_loss *l, const nn_tensor *pred, const float *p, const float *t,
                                float *grad, float *values)
{
    int64_t n = nn_tensor_numel(pred);
    const double den = denominator(l, n);
    const float beta = l->beta;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float d = p[i] - t[i], z = fabsf(d);
        double v = z < beta ? 0.5 * (double)z * (double)z / (double)beta : (double)z - 0.5 * (double)beta;
        double g = d <= -beta ? -1.0 : d >= beta ? 1.0 : (double)d / (double)beta;
        sum += v;
        grad[i] = (float)(g / den);
        if (values)
            values[i] = (float)v;
    }
    return sum / den;
}

/* z = |d|:  L = z < delta ? z^2 / 2 : delta (z - delta / 2);
   dL/dp = d <= -delta ? -delta : d >= delta ? delta : d */
static double huber_compute(const nn_loss *l, const nn_tensor *pred, const float *p, const float *t, float *grad,
                            float *values)
{
    int64_t n = nn_tensor_numel(pred);
    const double den = denominator(l, n);
    const float delta = l->beta;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float d = p[i] - t[i], z = fabsf(d);
        double v = z < delta ? 0.5 * (double)z * (double)z : (double)delta * ((double)z - 0.5 * (double)delta);
        double g = d <= -delta ? -(double)delta : d >= delta ? (double)delta : (double)d;
        sum += v;
        grad[i] = (float)(g / den);
        if (values)
            values[i] = (float)v;
    }
    return sum / den;
}

/* BCEWithLogitsLoss's weight and pos_weight: 1 or one per entry of the
   prediction's last dimension (torch broadcasting a [C] tensor). */
static int bce_check(const nn_loss *l, const nn_tensor *pred, const nn_tensor *target)
{
    char a[NN_SHAPE_STR_LEN];
    int s = elementwise_check(l, pred, target);
    if (s < 0)
        return s;
    int64_t last = pred->ndim > 0 ? pred->shape[pred->ndim - 1] : 1;
    const char *names[2] = {"weight", "pos_weight"};
    int64_t counts[2] = {l->weight ? l->weight_count : 1, l->pos_weight ? l->pos_weight_count : 1};
    for (int k = 0; k < 2; k++)
        if (counts[k] != 1 && counts[k] != last)
            return nn_fail(NN_ESHAPE,
                           "nn_loss_forward: BCEWithLogitsLoss %s of %lld values does not broadcast to the "
                           "prediction of shape %s (expected 1 or the last dimension's %lld)",
                           names[k], (long long)counts[k], nn_tensor_shape_str(pred, a), (long long)last);
    return NN_OK;
}

/* sigmoid(x) = 1 / (1 + exp(-x)), evaluated without overflow */
static double stable_sigmoid(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* Without pos_weight: L = w (max(x,0) - x t + log(1 + exp(-|x|))),
   dL/dx = w (sigmoid(x) - t).
   With pos_weight q: lw = 1 + (q - 1) t,
   L = w ((1 - t) x + lw (max(-x,0) + log(1 + exp(-|x|)))),
   dL/dx = w (lw sigmoid(x) - q t). w and q indexed by the last dimension. */
static double bce_compute(const nn_loss *l, const nn_tensor *pred, const float *p, const float *t, float *grad,
                          float *values)
{
    int64_t n = nn_tensor_numel(pred);
    const double den = denominator(l, n);
    const int64_t last = pred->ndim > 0 ? pred->shape[pred->ndim - 1] : 1;
    const bool per_w = l->weight && l->weight_count > 1, per_q = l->pos_weight && l->pos_weight_count > 1;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double x = p[i], y = t[i], v, g;
        int64_t c = last > 1 ? i % last : 0;
        if (!l->pos_weight) {
            v = (x > 0.0 ? x : 0.0) - x * y + log1p(exp(-fabs(x)));
            g = stable_sigmoid(x) - y;
        } else {
            double q = l->pos_weight[per_q ? c : 0], lw = 1.0 + (q - 1.0) * y;
            v = (1.0 - y) * x + lw * ((x < 0.0 ? -x : 0.0) + log1p(exp(-fabs(x))));
            g = lw * stable_sigmoid(x) - q * y;
        }
        if (l->weight) {
            double w = l->weight[per_w ? c : 0];
            v *= w;
            g *= w;
        }
        sum += v;
        grad[i] = (float)(g / den);
        if (values)
            values[i] = (float)v;
    }
    return sum / den;
}

static const nn_loss_ops mse_ops = {"MSELoss", "nn_mse_loss_ex", elementwise_check, mse_compute};
static const nn_loss_ops l1_ops = {"L1Loss", "nn_l1_loss_ex", elementwise_check, l1_compute};
static const nn_loss_ops smooth_l1_ops = {"SmoothL1Loss", "nn_smooth_l1_loss_ex", elementwise_check,
                                          smooth_l1_compute};
static const nn_loss_ops huber_ops = {"HuberLoss", "nn_huber_loss_ex", elementwise_check, huber_compute};
static const nn_loss_ops bce_ops = {"BCEWithLogitsLoss", "nn_bce_with_logits_loss_ex", bce_check, bce_compute};

/* --- NLLLoss and CrossEntropyLoss ------------------------------------ */

/* What the class-index losses call their input in messages. */
static const char *class_input(const nn_loss *l)
{
    return strcmp(l->ops->type, "NLLLoss") == 0 ? "log-probabilities" : "logits";
}

/* "[3]" or "[1, 2]": the index of target element k (row-major) */
static const char *target_index_str(const nn_tensor *target, int64_t k, char *buf)
{
    int64_t idx[NN_MAX_DIMS];
    for (int d = target->ndim - 1; d >= 0; d--) {
        idx[d] = k % target->shape[d];
        k /= target->shape[d];
    }
    return nn_shape_str(target->ndim, idx, buf);
}

/* Is v the ignore_index (a whole number equal to it)? */
static bool is_ignored(float v, int64_t ignore_index)
{
    return v == floorf(v) && fabsf(v) < 9.2e18f && (int64_t)v == ignore_index;
}

/* input [C] with a scalar target, [N, C] with [N], or [N, C, d1, ...] with
   [N, d1, ...]; targets class indices in 0..C-1 or ignore_index; weight of C */
static int class_check(const nn_loss *l, const nn_tensor *pred, const nn_tensor *target)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN], want[NN_SHAPE_STR_LEN];
    const char *type = l->ops->type;
    if (pred->ndim < 1)
        return nn_fail(NN_ESHAPE,
                       "nn_loss_forward: %s expected %s of shape [C], [N, C] or [N, C, d1, ...], got %s",
                       type, class_input(l), nn_tensor_shape_str(pred, a));
    /* the target's shape: pred's without the class dimension (1) */
    int64_t tshape[NN_MAX_DIMS];
    int tdim = 0;
    for (int d = 0; d < pred->ndim; d++)
        if (d != (pred->ndim == 1 ? 0 : 1))
            tshape[tdim++] = pred->shape[d];
    bool ok = target->ndim == tdim;
    for (int d = 0; ok && d < tdim; d++)
        ok = target->shape[d] == tshape[d];
    if (!ok)
        return nn_fail(NN_ESHAPE, "nn_loss_forward: %s with %s of shape %s expected target of shape %s, got %s",
                       type, class_input(l), nn_tensor_shape_str(pred, a), nn_shape_str(tdim, tshape, want),
                       nn_tensor_shape_str(target, b));
    if (nn_tensor_numel(pred) == 0)
        return check_not_empty(type, pred);
    int64_t classes = pred->shape[pred->ndim == 1 ? 0 : 1];
    if (l->weight && l->weight_count != classes)
        return nn_fail(NN_EINVAL,
                       "nn_loss_forward: %s weight should be defined either for all %lld classes or no "
                       "classes but got %lld weights (%s of shape %s)",
                       type, (long long)classes, (long long)l->weight_count, class_input(l),
                       nn_tensor_shape_str(pred, a));
    /* every target an integral class index in [0, C), or ignore_index */
    int64_t n = nn_tensor_numel(target);
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0, rest = k;
        for (int d = target->ndim - 1; d >= 0; d--) {
            off += rest % target->shape[d] * target->stride[d];
            rest /= target->shape[d];
        }
        float v = target->data[off];
        if (is_ignored(v, l->ignore_index))
            continue;
        if (!(v >= 0.0f && v < (float)classes) || v != floorf(v)) {
            char at[NN_SHAPE_STR_LEN];
            return nn_fail(NN_EINVAL,
                           "nn_loss_forward: %s target%s = %g is not a class index in 0..%lld nor "
                           "ignore_index %lld (%s of shape %s, target of shape %s)",
                           type, target_index_str(target, k, at), (double)v, (long long)(classes - 1),
                           (long long)l->ignore_index, class_input(l), nn_tensor_shape_str(pred, a),
                           nn_tensor_shape_str(target, b));
        }
    }
    return NN_OK;
}

/* Writes the per-element values with NN_REDUCTION_NONE (into values,
   target's numel floats).
   Per target element (n, s) with class y and weight w[y] (1 without
   weights), over the C entries x[c] = pred[n, c, s]:
     NLLLoss:          L = -w[y] x[y]
     CrossEntropyLoss: logp = log_softmax(x) (shifted by max(x)),
                       L = (1 - eps) (-w[y] logp[y]) + eps / C sum_c (-w[c] logp[c])
   reduced by mean (divided by D = sum of w[y] over targets not ignored, as
   torch's weighted mean), sum, or kept (none). The gradient is r dL/dx
   with r = 1/D (mean) or 1; for the cross-entropy, with L = sum_c a_c
   logp[c], dL/dx[k] = a_k - softmax(x)[k] sum_c a_c. Ignored targets have
   L = 0 and zero gradient. D = 0 (everything ignored, or zero weights)
   gives torch's NaN. */
static double class_compute(const nn_loss *l, const nn_tensor *pred, const float *p, const float *t,
                            float *grad, float *values)
{
    const bool ce = strcmp(l->ops->type, "CrossEntropyLoss") == 0;
    const int64_t classes = pred->shape[pred->ndim == 1 ? 0 : 1];
    const int64_t rows = pred->ndim == 1 ? 1 : pred->shape[0];
    const int64_t inner = nn_tensor_numel(pred) / (rows * classes);
    const float *w = l->weight;
    const double eps = ce ? l->label_smoothing : 0.0;
    double weight_all = (double)classes; /* sum_c w[c] */
    if (w) {
        weight_all = 0.0;
        for (int64_t c = 0; c < classes; c++)
            weight_all += w[c];
    }
    double denom = 0.0;
    for (int64_t k = 0; k < rows * inner; k++)
        if (!is_ignored(t[k], l->ignore_index))
            denom += w ? (double)w[(int64_t)t[k]] : 1.0;
    const double r = l->reduction == NN_REDUCTION_MEAN ? 1.0 / denom : 1.0;
    double total = 0.0;
    for (int64_t n = 0; n < rows; n++) {
        for (int64_t s = 0; s < inner; s++) {
            const float *x = p + n * classes * inner + s; /* x[c * inner] */
            float *g = grad + n * classes * inner + s;
            float tv = t[n * inner + s];
            double loss = 0.0;
            if (is_ignored(tv, l->ignore_index)) {
                for (int64_t c = 0; c < classes; c++)
                    g[c * inner] = 0.0f;
            } else {
                int64_t y = (int64_t)tv;
                double wy = w ? (double)w[y] : 1.0;
                if (!ce) {
                    loss = -wy * (double)x[y * inner];
                    for (int64_t c = 0; c < classes; c++)
                        g[c * inner] = 0.0f;
                    g[y * inner] = (float)(-wy * r);
                } else {
                    double max = x[0];
                    for (int64_t c = 1; c < classes; c++)
                        max = x[c * inner] > max ? x[c * inner] : max;
                    double sum = 0.0;
                    for (int64_t c = 0; c < classes; c++)
                        sum += exp((double)x[c * inner] - max);
                    double log_sum = log(sum);
                    double nll = -wy * ((double)x[y * inner] - max - log_sum);
                    double smooth = 0.0;
                    if (eps > 0.0)
                        for (int64_t c = 0; c < classes; c++)
                            smooth -= (w ? (double)w[c] : 1.0) * ((double)x[c * inner] - max - log_sum);
                    loss = eps > 0.0 ? (1.0 - eps) * nll + eps / (double)classes * smooth : nll;
                    /* a_c = -(1 - eps) w[y] [c == y] - eps / C w[c] */
                    double sum_a = -(1.0 - eps) * wy - eps / (double)classes * weight_all;
                    for (int64_t c = 0; c < classes; c++) {
                        double prob = exp((double)x[c * inner] - max - log_sum);
                        double a_c = -eps / (double)classes * (w ? (double)w[c] : 1.0);
                        if (c == y)
                            a_c -= (1.0 - eps) * wy;
                        g[c * inner] = (float)(r * (a_c - prob * sum_a));
                    }
                }
            }
            if (l->reduction == NN_REDUCTION_NONE)
                values[n * inner + s] = (float)loss;
            total += loss;
        }
    }
    return l->reduction == NN_REDUCTION_MEAN ? total / denom : total;
}

static const nn_loss_ops ce_ops = {"CrossEntropyLoss", "nn_cross_entropy_loss_ex", class_check, NULL};
static const nn_loss_ops nll_ops = {"NLLLoss", "nn_nll_loss_ex", class_check, NULL};

/* --- the public entry points ------------------------------------------ */

static nn_loss *loss_new(const nn_loss_ops *ops)
{
    nn_loss *l = nn_alloc_zeroed(1, sizeof *l);
    if (!l)
        return nn_fail_context_null("%s", ops->constructor);
    l->ops = ops;
    l->ignore_index = -100;
    return l;
}

/* --- the elementwise losses' options (the rule in nn/opts.h) ---------- */

/* from_defaults and reduction, shared by every elementwise loss: 1 when
   written by hand, 0 from the defaults, else a negative status. */
static int elementwise_opts(const nn_loss_ops *ops, const char *opts_type, const char *defaults_fn,
                            nn_reduction reduction, uint32_t from_defaults)
{
    int by_hand = nn_opts_by_hand(ops->constructor, opts_type, defaults_fn, from_defaults);
    if (by_hand < 0)
        return by_hand;
    if ((int)reduction < (int)NN_REDUCTION_MEAN || (int)reduction > (int)NN_REDUCTION_NONE)
        return nn_fail(NN_EINVAL,
                       "%s: invalid reduction %d (expected NN_REDUCTION_MEAN, NN_REDUCTION_SUM or "
                       "NN_REDUCTION_NONE)",
                       ops->constructor, (int)reduction);
    return by_hand;
}

static nn_loss *elementwise_new(const nn_loss_ops *ops, nn_reduction reduction, float beta)
{
    nn_loss *l = loss_new(ops);
    if (l) {
        l->reduction = reduction;
        l->beta = beta;
    }
    return l;
}

nn_mse_loss_opts nn_mse_loss_defaults(void)
{
    return (nn_mse_loss_opts){.reduction = NN_REDUCTION_MEAN, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_l1_loss_opts nn_l1_loss_defaults(void)
{
    return (nn_l1_loss_opts){.reduction = NN_REDUCTION_MEAN, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_smooth_l1_loss_opts nn_smooth_l1_loss_defaults(void)
{
    return (nn_smooth_l1_loss_opts){.reduction = NN_REDUCTION_MEAN, .beta = 1.0f,
                                    .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_huber_loss_opts nn_huber_loss_defaults(void)
{
    return (nn_huber_loss_opts){.reduction = NN_REDUCTION_MEAN, .delta = 1.0f,
                                .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_bce_with_logits_loss_opts nn_bce_with_logits_loss_defaults(void)
{
    return (nn_bce_with_logits_loss_opts){.reduction = NN_REDUCTION_MEAN, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_loss *nn_mse_loss_ex(const nn_mse_loss_opts *o)
{
    nn_mse_loss_opts r = o ? *o : nn_mse_loss_defaults();
    if (elementwise_opts(&mse_ops, "nn_mse_loss_opts", "nn_mse_loss_defaults()", r.reduction, r.from_defaults) < 0)
        return NULL;
    return elementwise_new(&mse_ops, r.reduction, 0.0f);
}

nn_loss *nn_l1_loss_ex(const nn_l1_loss_opts *o)
{
    nn_l1_loss_opts r = o ? *o : nn_l1_loss_defaults();
    if (elementwise_opts(&l1_ops, "nn_l1_loss_opts", "nn_l1_loss_defaults()", r.reduction, r.from_defaults) < 0)
        return NULL;
    return elementwise_new(&l1_ops, r.reduction, 0.0f);
}

nn_loss *nn_smooth_l1_loss_ex(const nn_smooth_l1_loss_opts *o)
{
    nn_smooth_l1_loss_opts r = o ? *o : nn_smooth_l1_loss_defaults();
    int by_hand = elementwise_opts(&smooth_l1_ops, "nn_smooth_l1_loss_opts", "nn_smooth_l1_loss_defaults()",
                                   r.reduction, r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand && r.beta == 0.0f)
        r.beta = 1.0f; /* torch's default */
    if (!(r.beta >= 0.0f) || isinf(r.beta))
        return nn_fail_null(NN_EINVAL,
                            "nn_smooth_l1_loss_ex: smooth_l1_loss does not support negative values for beta "
                            "(expected a finite beta >= 0, got %g)",
                            (double)r.beta);
    return elementwise_new(&smooth_l1_ops, r.reduction, r.beta);
}

nn_loss *nn_huber_loss_ex(const nn_huber_loss_opts *o)
{
    nn_huber_loss_opts r = o ? *o : nn_huber_loss_defaults();
    int by_hand = elementwise_opts(&huber_ops, "nn_huber_loss_opts", "nn_huber_loss_defaults()", r.reduction,
                                   r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand && r.delta == 0.0f)
        r.delta = 1.0f; /* torch's default */
    if (!(r.delta > 0.0f) || isinf(r.delta))
        return nn_fail_null(NN_EINVAL,
                            "nn_huber_loss_ex: huber_loss does not support non-positive values for delta "
                            "(expected a finite delta > 0, got %g)",
                            (double)r.delta);
    return elementwise_new(&huber_ops, r.reduction, r.delta);
}

/* A copy of count floats into *dst (NULL for none), named what in messages */
static int copy_weights(const char *fn, const char *what, const float *src, int64_t count, float **dst)
{
    *dst = NULL;
    if (count < 0 || (count > 0) != (src != NULL))
        return nn_fail(NN_EINVAL,
                       "%s: expected %s NULL with %s_count 0, or %s with %s_count > 0, got %s %s with %s_count %lld",
                       fn, what, what, what, what, what, src ? "set" : "NULL", what, (long long)count);
    if (!src)
        return NN_OK;
    if ((uint64_t)count > SIZE_MAX / sizeof(float) || !(*dst = nn_alloc((size_t)count * sizeof(float))))
        return nn_fail_context(NN_ENOMEM, "%s", fn);
    memcpy(*dst, src, (size_t)count * sizeof(float));
    return NN_OK;
}

nn_loss *nn_bce_with_logits_loss_ex(const nn_bce_with_logits_loss_opts *o)
{
    const char *fn = bce_ops.constructor;
    nn_bce_with_logits_loss_opts r = o ? *o : nn_bce_with_logits_loss_defaults();
    if (elementwise_opts(&bce_ops, "nn_bce_with_logits_loss_opts", "nn_bce_with_logits_loss_defaults()",
                         r.reduction, r.from_defaults) < 0)
        return NULL;
    float *w, *q;
    if (copy_weights(fn, "weight", r.weight, r.weight_count, &w) < 0)
        return NULL;
    if (copy_weights(fn, "pos_weight", r.pos_weight, r.pos_weight_count, &q) < 0) {
        nn_release(w);
        return NULL;
    }
    nn_loss *l = elementwise_new(&bce_ops, r.reduction, 0.0f);
    if (!l) {
        nn_release(q);
        nn_release(w);
        return NULL;
    }
    l->weight = w;
    l->weight_count = r.weight_count;
    l->pos_weight = q;
    l->pos_weight_count = r.pos_weight_count;
    return l;
}

nn_loss *nn_mse_loss(void) { return nn_mse_loss_ex(NULL); }
nn_loss *nn_l1_loss(void) { return nn_l1_loss_ex(NULL); }
nn_loss *nn_smooth_l1_loss(void) { return nn_smooth_l1_loss_ex(NULL); }
nn_loss *nn_huber_loss(void) { return nn_huber_loss_ex(NULL); }
nn_loss *nn_bce_with_logits_loss(void) { return nn_bce_with_logits_loss_ex(NULL); }

nn_nll_loss_opts nn_nll_loss_defaults(void)
{
    return (nn_nll_loss_opts){.ignore_index = -100, .reduction = NN_REDUCTION_MEAN,
                              .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_cross_entropy_loss_opts nn_cross_entropy_loss_defaults(void)
{
    return (nn_cross_entropy_loss_opts){.ignore_index = -100, .reduction = NN_REDUCTION_MEAN,
                                        .label_smoothing = 0.0f,
                                        .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

/* The options both class-index losses share, checked (the rule at the top
   of nn/optim.h), into a new loss. */
static nn_loss *class_loss_new(const nn_loss_ops *ops, const char *opts_type, const char *defaults_fn,
                               const float *weight, int64_t weight_count, int64_t ignore_index,
                               nn_reduction reduction, float label_smoothing, uint32_t from_defaults)
{
    const char *fn = ops->constructor;
    if (nn_opts_by_hand(fn, opts_type, defaults_fn, from_defaults) < 0)
        return NULL;
    if (from_defaults == 0 && ignore_index == 0)
        ignore_index = -100; /* torch's default */
    if (weight_count < 0 || (weight_count > 0) != (weight != NULL))
        return nn_fail_null(NN_EINVAL,
                            "%s: expected weight NULL with weight_count 0, or weight with weight_count > 0 "
                            "(one per class), got weight %s with weight_count %lld",
                            fn, weight ? "set" : "NULL", (long long)weight_count);
    if ((int)reduction < (int)NN_REDUCTION_MEAN || (int)reduction > (int)NN_REDUCTION_NONE)
        return nn_fail_null(NN_EINVAL,
                            "%s: invalid reduction %d (expected NN_REDUCTION_MEAN, NN_REDUCTION_SUM or "
                            "NN_REDUCTION_NONE)",
                            fn, (int)reduction);
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return nn_fail_null(NN_EINVAL, "%s: label_smoothing must be between 0.0 and 1.0. Got: %g", fn,
                            (double)label_smoothing);
    nn_loss *l = loss_new(ops);
    if (!l)
        return NULL;
    if (weight) {
        l->weight = nn_alloc((size_t)weight_count * sizeof *l->weight);
        if (!l->weight) {
            nn_release(l);
            return nn_fail_context_null("%s", fn);
        }
        memcpy(l->weight, weight, (size_t)weight_count * sizeof *l->weight);
    }
    l->weight_count = weight_count;
    l->ignore_index = ignore_index;
    l->reduction = reduction;
    l->label_smoothing = label_smoothing;
    return l;
}

nn_loss *nn_nll_loss_ex(const nn_nll_loss_opts *o)
{
    nn_nll_loss_opts r = o ? *o : nn_nll_loss_defaults();
    return class_loss_new(&nll_ops, "nn_nll_loss_opts", "nn_nll_loss_defaults()", r.weight, r.weight_count,
                          r.ignore_index, r.reduction, 0.0f, r.from_defaults);
}

nn_loss *nn_cross_entropy_loss_ex(const nn_cross_entropy_loss_opts *o)
{
    nn_cross_entropy_loss_opts r = o ? *o : nn_cross_entropy_loss_defaults();
    return class_loss_new(&ce_ops, "nn_cross_entropy_loss_opts", "nn_cross_entropy_loss_defaults()", r.weight,
                          r.weight_count, r.ignore_index, r.reduction, r.label_smoothing, r.from_defaults);
}

nn_loss *nn_nll_loss(void) { return nn_nll_loss_ex(NULL); }
nn_loss *nn_cross_entropy_loss(void) { return nn_cross_entropy_loss_ex(NULL); }

/* Does x live in one of the loss's own result tensors (a caller passing
   the last gradient or values back in)? */
static bool is_own(const nn_loss *l, const nn_tensor *x)
{
    return x->storage && (x->storage == l->grad.storage || x->storage == l->values.storage ||
                          x->storage == l->grad_ex.storage);
}

/* Row-major data of an input; copied into scratch when it lives in one of
   our own results, which the computation is about to overwrite. */
static const float *dense_input(const nn_loss *l, const nn_tensor *x, nn_tensor *scratch)
{
    if (!is_own(l, x))
        return nn_tensor_dense(x, scratch);
    if (nn_tensor_resize(scratch, x->ndim, x->shape, x) < 0)
        return NULL;
    nn_tensor_gather(x, scratch->data);
    return scratch->data;
}

static bool has_room(const nn_tensor *t, int ndim, const int64_t *shape)
{
    return t->storage && t->storage->capacity >= nn_shape_numel(ndim, shape);
}

/* Resizes a and b to the given shapes, both or neither: new storage for
   either is allocated before anything changes. */
/* t (the loss's own result, only ever shaped by nn_tensor_resize) has this
   shape already: resizing would change nothing */
static bool has_shape(const nn_tensor *t, int ndim, const int64_t *shape)
{
    return t->storage && t->data == t->storage->data && t->ndim == ndim &&
           !memcmp(t->shape, shape, (size_t)ndim * sizeof *shape);
}

static int resize_both(nn_tensor *a, int an, const int64_t *ashape, nn_tensor *b, int bn,
                       const int64_t *bshape)
{
    if (has_shape(a, an, ashape) && has_shape(b, bn, bshape)) /* every step after the first */
        return NN_OK;
    nn_tensor na = {0}, nb = {0};
    if (!has_room(a, an, ashape) && nn_tensor_resize(&na, an, ashape, NULL) < 0)
        return NN_ENOMEM;
    if (!has_room(b, bn, bshape) && nn_tensor_resize(&nb, bn, bshape, NULL) < 0) {
        nn_tensor_release(&na);
        return NN_ENOMEM;
    }
    if (na.storage) {
        nn_tensor_release(a);
        *a = na;
    } else {
        (void)nn_tensor_resize(a, an, ashape, NULL); /* fits: cannot fail */
    }
    if (nb.storage) {
        nn_tensor_release(b);
        *b = nb;
    } else {
        (void)nn_tensor_resize(b, bn, bshape, NULL);
    }
    return NN_OK;
}

float nn_loss_forward(nn_loss *l, const nn_tensor *pred, const nn_tensor *target)
{
    if (!l)
        return nn_fail_nan(NN_EINVAL, "nn_loss_forward: loss is NULL");
    if (nn_tensor_check("nn_loss_forward", "prediction", pred) < 0 ||
        nn_tensor_check("nn_loss_forward", "target", target) < 0)
        return NAN;
    if (l->ops->check(l, pred, target) < 0)
        return NAN;
    /* Everything that can fail (allocation) happens before the results
       are touched, and their resize last: a failure leaves the last ones. */
    const float *p = dense_input(l, pred, &l->pred_dense);
    const float *t = p ? dense_input(l, target, &l->target_dense) : NULL;
    bool per_element = l->reduction == NN_REDUCTION_NONE;
    if (!t || resize_both(&l->grad, pred->ndim, pred->shape, &l->values, per_element ? target->ndim : 0,
                          target->shape) < 0) {
        nn_fail_context(NN_ENOMEM, "nn_loss_forward: %s", l->ops->type);
        return NAN;
    }
    double value = l->ops->compute
                       ? l->ops->compute(l, pred, p, t, l->grad.data, per_element ? l->values.data : NULL)
                       : class_compute(l, pred, p, t, l->grad.data, l->values.data);
    if (!per_element)
        l->values.data[0] = (float)value;
    if (!l->ops->compute) {
        l->classes = pred->shape[pred->ndim == 1 ? 0 : 1];
        l->inner = nn_tensor_numel(pred) / ((pred->ndim == 1 ? 1 : pred->shape[0]) * l->classes);
    } else { /* one loss per prediction element */
        l->classes = 1;
        l->inner = nn_tensor_numel(pred);
    }
    l->has_forward = true;
    return (float)value;
}

nn_tensor *nn_loss_backward(nn_loss *l)
{
    if (!l)
        return nn_fail_null(NN_EINVAL, "nn_loss_backward: loss is NULL");
    if (!l->has_forward)
        return nn_fail_null(NN_EINVAL, "nn_loss_backward: %s called before a successful nn_loss_forward",
                            l->ops->type);
    return &l->grad;
}

nn_tensor *nn_loss_values(nn_loss *l)
{
    if (!l)
        return nn_fail_null(NN_EINVAL, "nn_loss_values: loss is NULL");
    if (!l->has_forward)
        return nn_fail_null(NN_EINVAL, "nn_loss_values: %s called before a successful nn_loss_forward",
                            l->ops->type);
    return &l->values;
}

nn_tensor *nn_loss_backward_ex(nn_loss *l, const nn_tensor *grad_values)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!l)
        return nn_fail_null(NN_EINVAL, "nn_loss_backward_ex: loss is NULL");
    if (!l->has_forward)
        return nn_fail_null(NN_EINVAL, "nn_loss_backward_ex: %s called before a successful nn_loss_forward",
                            l->ops->type);
    if (nn_tensor_check("nn_loss_backward_ex", "grad_values", grad_values) < 0)
        return NULL;
    bool scalar = l->values.ndim == 0;
    if (scalar ? nn_tensor_numel(grad_values) != 1 : !nn_tensor_same_shape(grad_values, &l->values))
        return nn_fail_null(NN_ESHAPE,
                            "nn_loss_backward_ex: %s expected grad_values of the loss values' shape %s%s, got %s",
                            l->ops->type, nn_tensor_shape_str(&l->values, a), scalar ? " (or one element)" : "",
                            nn_tensor_shape_str(grad_values, b));
    const float *up = dense_input(l, grad_values, &l->upstream_dense);
    if (!up || nn_tensor_resize(&l->grad_ex, l->grad.ndim, l->grad.shape, NULL) < 0)
        return nn_fail_context_null("nn_loss_backward_ex: %s", l->ops->type);
    int64_t n = nn_tensor_numel(&l->grad);
    const float *g = l->grad.data;
    float *out = l->grad_ex.data;
    if (scalar) {
        float u = up[0];
        for (int64_t i = 0; i < n; i++)
            out[i] = g[i] * u;
    } else { /* pred [N, C, inner], values [N, inner] */
        int64_t classes = l->classes, inner = l->inner, rows = n / (classes * inner);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < classes; c++)
                for (int64_t s = 0; s < inner; s++)
                    out[(r * classes + c) * inner + s] = g[(r * classes + c) * inner + s] * up[r * inner + s];
    }
    return &l->grad_ex;
}

void nn_loss_free(nn_loss *l)
{
    if (!l)
        return;
    nn_tensor_release(&l->grad);
    nn_tensor_release(&l->pred_dense);
    nn_tensor_release(&l->target_dense);
    nn_tensor_release(&l->values);
    nn_tensor_release(&l->grad_ex);
    nn_tensor_release(&l->upstream_dense);
    nn_release(l->weight);
    nn_release(l->pos_weight);
    nn_release(l);
}
