/* Losses with mean reduction, as torch.nn's MSELoss, CrossEntropyLoss and
   BCEWithLogitsLoss. Forward validates everything first, then computes the
   value and the gradient d(loss)/d(pred) in one pass (accumulating in
   double); backward only hands out that gradient. Strided inputs are
   gathered into scratch slots the loss owns, so after the first call at a
   given shape nothing is allocated.

   Unlike torch (which returns NaN), an empty input is an error: a mean over
   nothing is almost always a bug upstream. */
#include <math.h>

#include "tensor/tensor_impl.h"
#include "kernels/loss_kernels.h"
#include "nn/loss.h"

typedef struct nn_loss_ops {
    const char *type;        /* "MSELoss", named in error messages */
    const char *constructor; /* "nn_mse_loss" */
    /* NN_OK, or an nn_fail status naming what is wrong with the inputs */
    int (*check)(const nn_tensor *pred, const nn_tensor *target);
    /* loss value; writes d(loss)/d(pred) into grad (pred's numel floats) */
    double (*compute)(const nn_tensor *pred, const float *p, const float *t, float *grad);
} nn_loss_ops;

struct nn_loss {
    const nn_loss_ops *ops;
    nn_tensor grad;        /* d(loss)/d(pred), handed out by backward */
    nn_tensor pred_dense;  /* row-major copies of strided inputs */
    nn_tensor target_dense;
    bool has_forward;
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

/* --- MSELoss ---------------------------------------------------------- */

static int mse_check(const nn_tensor *pred, const nn_tensor *target)
{
    int s = check_same_shape("MSELoss", pred, target);
    return s < 0 ? s : check_not_empty("MSELoss", pred);
}

/* L = mean((p - t)^2);  dL/dp = 2 (p - t) / n (kernels/loss_kernels.h) */
static double mse_compute(const nn_tensor *pred, const float *p, const float *t, float *grad)
{
    return nn_mse_kernel(p, t, grad, nn_tensor_numel(pred));
}

static const nn_loss_ops mse_ops = {"MSELoss", "nn_mse_loss", mse_check, mse_compute};

/* --- BCEWithLogitsLoss ------------------------------------------------ */

static int bce_check(const nn_tensor *pred, const nn_tensor *target)
{
    int s = check_same_shape("BCEWithLogitsLoss", pred, target);
    return s < 0 ? s : check_not_empty("BCEWithLogitsLoss", pred);
}

/* sigmoid(x) = 1 / (1 + exp(-x)), evaluated without overflow */
static double stable_sigmoid(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* L = mean(max(x,0) - x t + log(1 + exp(-|x|)));  dL/dx = (sigmoid(x) - t) / n */
static double bce_compute(const nn_tensor *pred, const float *p, const float *t, float *grad)
{
    int64_t n = nn_tensor_numel(pred);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double x = p[i], y = t[i];
        sum += (x > 0.0 ? x : 0.0) - x * y + log1p(exp(-fabs(x)));
        grad[i] = (float)((stable_sigmoid(x) - y) / (double)n);
    }
    return sum / (double)n;
}

static const nn_loss_ops bce_ops = {"BCEWithLogitsLoss", "nn_bce_with_logits_loss", bce_check, bce_compute};

/* --- CrossEntropyLoss ------------------------------------------------- */

/* logits [N, C] with target [N], or logits [C] with a scalar target */
static int ce_check(const nn_tensor *pred, const nn_tensor *target)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    bool batched = pred->ndim == 2;
    if (pred->ndim != 1 && !batched)
        return nn_fail(NN_ESHAPE,
                       "nn_loss_forward: CrossEntropyLoss expected logits of shape [N, C] or [C], got %s",
                       nn_tensor_shape_str(pred, a));
    int64_t rows = batched ? pred->shape[0] : 1, classes = pred->shape[pred->ndim - 1];
    bool ok = batched ? target->ndim == 1 && target->shape[0] == rows : target->ndim == 0;
    if (!ok) {
        char want[NN_SHAPE_STR_LEN];
        return nn_fail(NN_ESHAPE,
                       "nn_loss_forward: CrossEntropyLoss with logits of shape %s expected target of shape %s, got %s",
                       nn_tensor_shape_str(pred, a), nn_shape_str(batched ? 1 : 0, &rows, want),
                       nn_tensor_shape_str(target, b));
    }
    if (rows == 0 || classes == 0)
        return check_not_empty("CrossEntropyLoss", pred);
    /* every target must be an integral class index in [0, C) */
    const float *t = target->data;
    int64_t step = batched ? target->stride[0] : 0;
    for (int64_t n = 0; n < rows; n++) {
        float v = t[n * step];
        if (!(v >= 0.0f && v < (float)classes) || v != floorf(v))
            return nn_fail(NN_EINVAL,
                           "nn_loss_forward: CrossEntropyLoss target[%lld] = %g is not a class index "
                           "in 0..%lld (logits of shape %s, target of shape %s)",
                           (long long)n, (double)v, (long long)(classes - 1),
                           nn_tensor_shape_str(pred, a), nn_tensor_shape_str(target, b));
    }
    return NN_OK;
}

/* per row: L_n = logsumexp(x) - x[y], shifted by max(x) for stability;
   dL/dx = (softmax(x) - onehot(y)) / N */
static double ce_compute(const nn_tensor *pred, const float *p, const float *t, float *grad)
{
    int64_t rows = pred->ndim == 2 ? pred->shape[0] : 1, classes = pred->shape[pred->ndim - 1];
    double total = 0.0, inv_rows = 1.0 / (double)rows;
    for (int64_t n = 0; n < rows; n++) {
        const float *x = p + n * classes;
        float *g = grad + n * classes;
        int64_t y = (int64_t)t[n];
        double max = x[0];
        for (int64_t c = 1; c < classes; c++)
            max = x[c] > max ? x[c] : max;
        double sum = 0.0;
        for (int64_t c = 0; c < classes; c++)
            sum += exp((double)x[c] - max);
        double log_sum = log(sum), target_logit = x[y];
        total += max + log_sum - target_logit;
        for (int64_t c = 0; c < classes; c++) {
            double prob = exp((double)x[c] - max - log_sum);
            g[c] = (float)((prob - (c == y ? 1.0 : 0.0)) * inv_rows);
        }
    }
    return total * inv_rows;
}

static const nn_loss_ops ce_ops = {"CrossEntropyLoss", "nn_cross_entropy_loss", ce_check, ce_compute};

/* --- the public entry points ------------------------------------------ */

static nn_loss *loss_new(const nn_loss_ops *ops)
{
    nn_loss *l = nn_alloc_zeroed(1, sizeof *l);
    if (!l)
        return nn_fail_context_null("%s", ops->constructor);
    l->ops = ops;
    return l;
}

nn_loss *nn_mse_loss(void) { return loss_new(&mse_ops); }
nn_loss *nn_cross_entropy_loss(void) { return loss_new(&ce_ops); }
nn_loss *nn_bce_with_logits_loss(void) { return loss_new(&bce_ops); }

/* Row-major data of an input; copied into scratch when it lives in our own
   gradient (a caller passing the last gradient back in), which the
   computation is about to overwrite. */
static const float *dense_input(const nn_loss *l, const nn_tensor *x, nn_tensor *scratch)
{
    if (!x->storage || x->storage != l->grad.storage)
        return nn_tensor_dense(x, scratch);
    if (nn_tensor_resize(scratch, x->ndim, x->shape, x) < 0)
        return NULL;
    nn_tensor_gather(x, scratch->data);
    return scratch->data;
}

float nn_loss_forward(nn_loss *l, const nn_tensor *pred, const nn_tensor *target)
{
    if (!l)
        return nn_fail_nan(NN_EINVAL, "nn_loss_forward: loss is NULL");
    if (nn_tensor_check("nn_loss_forward", "prediction", pred) < 0 ||
        nn_tensor_check("nn_loss_forward", "target", target) < 0)
        return NAN;
    if (l->ops->check(pred, target) < 0)
        return NAN;
    /* Everything that can fail (allocation) happens before grad is
       touched, and grad's resize last: a failure leaves the last gradient. */
    const float *p = dense_input(l, pred, &l->pred_dense);
    const float *t = p ? dense_input(l, target, &l->target_dense) : NULL;
    if (!t || nn_tensor_resize(&l->grad, pred->ndim, pred->shape, NULL) < 0) {
        nn_fail_context(NN_ENOMEM, "nn_loss_forward: %s", l->ops->type);
        return NAN;
    }
    double value = l->ops->compute(pred, p, t, l->grad.data);
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

void nn_loss_free(nn_loss *l)
{
    if (!l)
        return;
    nn_tensor_release(&l->grad);
    nn_tensor_release(&l->pred_dense);
    nn_tensor_release(&l->target_dense);
    nn_release(l);
}
