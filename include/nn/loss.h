/* libnn: loss functions as in PyTorch (mean reduction unless options say
   otherwise).

   nn_loss_forward returns the loss value (NaN on error); nn_loss_backward
   returns the gradient of that value with respect to the prediction, owned
   by the loss object and valid until its next forward or its free; before
   a successful forward it is NULL + error. A failed forward leaves the loss
   as it was. Shapes must match exactly: where torch's L1Loss, MSELoss,
   SmoothL1Loss and HuberLoss warn and broadcast a target of another shape,
   libnn refuses it (NN_ESHAPE; BCEWithLogitsLoss refuses it in torch too).
   Strided inputs are fine, and an empty input is an error with every
   reduction (torch would return NaN for the mean, 0 for the sum). */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_loss nn_loss;

/* The no-argument constructors are the defaults (mean, no weights):
   nn_mse_loss() = nn_mse_loss_ex(NULL), nn_bce_with_logits_loss() =
   nn_bce_with_logits_loss_ex(NULL); the options are below. */

/* mean((pred - target)^2); target has pred's shape. */
nn_loss *nn_mse_loss(void);
/* mean over n of -log softmax(logits[n])[target[n]]; logits [N, C] (or [C],
   or [N, C, d1, ...]), target [N] (or a scalar, or [N, d1, ...]) of integer
   class indices stored as floats. The same as
   nn_cross_entropy_loss_ex(NULL): no weight, ignore_index -100, mean,
   no label smoothing. */
nn_loss *nn_cross_entropy_loss(void);
/* mean(max(x,0) - x*t + log(1 + exp(-|x|))); target has pred's shape. */
nn_loss *nn_bce_with_logits_loss(void);
/* mean(|pred - target|) (torch.nn.L1Loss()); gradient sign(pred - target),
   0 where they are equal. */
nn_loss *nn_l1_loss(void);
/* torch.nn.SmoothL1Loss(): with z = |pred - target| and beta 1,
   mean(z < beta ? 0.5 z^2 / beta : z - 0.5 beta). */
nn_loss *nn_smooth_l1_loss(void);
/* torch.nn.HuberLoss(): with z = |pred - target| and delta 1,
   mean(z < delta ? 0.5 z^2 : delta (z - 0.5 delta)). */
nn_loss *nn_huber_loss(void);

/* torch's reduction, which every loss takes in its options:
   NN_REDUCTION_MEAN (the default), NN_REDUCTION_SUM, or NN_REDUCTION_NONE
   (one loss per target element; see nn_loss_values). */
typedef enum { NN_REDUCTION_MEAN = 0, NN_REDUCTION_SUM, NN_REDUCTION_NONE } nn_reduction;

/* --- elementwise losses with options: MSELoss, L1Loss, SmoothL1Loss,
   HuberLoss, BCEWithLogitsLoss. The target has the prediction's shape;
   with NN_REDUCTION_NONE nn_loss_values has one loss per element, in that
   shape. Options rule: nn/opts.h; a reduction outside the enum or a bad
   from_defaults: NULL + nn_last_error(). */

/* torch.nn.MSELoss(reduction) and torch.nn.L1Loss(reduction). */
typedef struct {
    nn_reduction reduction;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_mse_loss_defaults, else 0 */
} nn_mse_loss_opts;
typedef struct {
    nn_reduction reduction;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_l1_loss_defaults, else 0 */
} nn_l1_loss_opts;

/* torch.nn.SmoothL1Loss(reduction, beta): z = |pred - target|,
   loss z < beta ? 0.5 z^2 / beta : z - 0.5 beta, gradient (of one element)
   d <= -beta ? -1 : d >= beta ? 1 : d / beta with d = pred - target, in
   that order as torch 1.13 (so beta 0 gives L1Loss's values, with the
   gradient -1 where pred == target, as torch's). beta must be finite and
   >= 0 (torch also takes inf). Written by hand (from_defaults 0) a beta of
   0 means torch's default 1.0: for beta 0 start from
   nn_smooth_l1_loss_defaults() and set .beta = 0. */
typedef struct {
    nn_reduction reduction;
    float beta;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_smooth_l1_loss_defaults, else 0 */
} nn_smooth_l1_loss_opts;

/* torch.nn.HuberLoss(reduction, delta): z = |pred - target|,
   loss z < delta ? 0.5 z^2 : delta (z - 0.5 delta), gradient
   d <= -delta ? -delta : d >= delta ? delta : d. delta must be finite and
   > 0 (as torch, which refuses delta <= 0); 0 written by hand is 1.0. */
typedef struct {
    nn_reduction reduction;
    float delta;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_huber_loss_defaults, else 0 */
} nn_huber_loss_opts;

/* torch.nn.BCEWithLogitsLoss(weight, reduction, pos_weight): with x the
   logit, t the target, w = weight and q = pos_weight (1 when NULL),
   loss w ((1 - t) x + (1 + (q - 1) t) log(1 + exp(-x))), evaluated
   without overflow; gradient w ((1 + (q - 1) t) sigmoid(x) - q t).
   weight and pos_weight (weight_count / pos_weight_count floats, copied
   by the constructor; NULL with count 0: none) broadcast as torch
   broadcasts a 1-D tensor: a count of 1, or one value per entry of the
   prediction's last dimension (the classes of an [N, C] prediction),
   checked at forward. The mean divides by the number of elements, weights
   or not (as torch). */
typedef struct {
    const float *weight;
    int64_t weight_count;
    nn_reduction reduction;
    const float *pos_weight;
    int64_t pos_weight_count;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_bce_with_logits_loss_defaults, else 0 */
} nn_bce_with_logits_loss_opts;

/* torch's defaults: mean; beta 1.0; delta 1.0; no weight, no pos_weight. */
nn_mse_loss_opts nn_mse_loss_defaults(void);
nn_l1_loss_opts nn_l1_loss_defaults(void);
nn_smooth_l1_loss_opts nn_smooth_l1_loss_defaults(void);
nn_huber_loss_opts nn_huber_loss_defaults(void);
nn_bce_with_logits_loss_opts nn_bce_with_logits_loss_defaults(void);

/* NULL options: the defaults. Bad options (see each struct; weight NULL
   with a count or a count < 0): NULL + nn_last_error(). */
nn_loss *nn_mse_loss_ex(const nn_mse_loss_opts *o);
nn_loss *nn_l1_loss_ex(const nn_l1_loss_opts *o);
nn_loss *nn_smooth_l1_loss_ex(const nn_smooth_l1_loss_opts *o);
nn_loss *nn_huber_loss_ex(const nn_huber_loss_opts *o);
nn_loss *nn_bce_with_logits_loss_ex(const nn_bce_with_logits_loss_opts *o);

/* --- class-index losses with options: NLLLoss and CrossEntropyLoss ------ */

/* Options of torch.nn.NLLLoss(weight, ignore_index, reduction).
   weight: per-class weights (weight_count floats, copied by the
   constructor; NULL with weight_count 0: every class weighs 1); at forward
   weight_count must be the number of classes C. Targets equal to
   ignore_index add nothing and get zero gradient; any other target must
   be a class index in 0..C-1. With weights, the mean divides by the sum of
   the weights of the targets not ignored (torch's weighted mean), so a
   batch whose targets are all ignored gives NaN for the mean (0 for the
   sum), with a zero gradient, as torch.
   Options rule: nn/opts.h. Written by hand (from_defaults 0),
   ignore_index 0 means torch's default -100: to ignore class 0 start from
   nn_nll_loss_defaults() and set .ignore_index = 0. */
typedef struct {
    const float *weight;
    int64_t weight_count;
    int64_t ignore_index;
    nn_reduction reduction;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_nll_loss_defaults, else 0 */
} nn_nll_loss_opts;

/* Options of torch.nn.CrossEntropyLoss(weight, ignore_index, reduction,
   label_smoothing): weight, ignore_index and reduction as NLLLoss's (same
   rule for a hand-written ignore_index 0). label_smoothing eps in [0, 1]
   (outside, or NaN, is refused): the loss of a target y is
     (1 - eps) * (-w[y] log p[y]) + eps / C * sum_c (-w[c] log p[c])
   with p = softmax(logits) and w the class weights (all 1 without weight),
   as PyTorch 1.13 computes it; the weighted mean divides both parts by the
   sum of w[y] over the targets not ignored. (torch 1.13 silently treats a
   negative label_smoothing as 0; here it is refused.) */
typedef struct {
    const float *weight;
    int64_t weight_count;
    int64_t ignore_index;
    nn_reduction reduction;
    float label_smoothing;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_cross_entropy_loss_defaults, else 0 */
} nn_cross_entropy_loss_opts;

/* No weight, ignore_index -100, mean, label_smoothing 0. */
nn_nll_loss_opts nn_nll_loss_defaults(void);
nn_cross_entropy_loss_opts nn_cross_entropy_loss_defaults(void);

/* -input[n][target[n]] (times weight[target[n]]), reduced: input holds
   log-probabilities [N, C] (or [C], or [N, C, d1, ...]; log_softmax
   output), target [N] (a scalar, [N, d1, ...]) of class indices stored as
   floats. nn_nll_loss() = nn_nll_loss_ex(NULL) = the defaults. Bad options
   (weight NULL with a count or a count < 0, a reduction outside the enum,
   label_smoothing outside [0, 1], from_defaults neither 0 nor the mark):
   NULL + nn_last_error(). */
nn_loss *nn_nll_loss(void);
nn_loss *nn_nll_loss_ex(const nn_nll_loss_opts *o);
nn_loss *nn_cross_entropy_loss_ex(const nn_cross_entropy_loss_opts *o);

/* A NaN in the prediction gives a NaN value from a successful call too:
   nn_last_error() only says why when the call failed.
   With NN_REDUCTION_NONE the value returned is the sum of the per-element
   losses (nn_loss_values has them), and nn_loss_backward's gradient is
   that sum's (torch's loss.sum().backward()). */
float nn_loss_forward(nn_loss *l, const nn_tensor *pred, const nn_tensor *target);
nn_tensor *nn_loss_backward(nn_loss *l);

/* The loss as torch returns it from the last successful forward: a 0-dim
   tensor holding the value (mean and sum), or, with NN_REDUCTION_NONE, one
   loss per target element in the target's shape (0 where the target is
   ignore_index).
   Owned by the loss, valid until its next forward or its free; NULL +
   error before a successful forward. */
nn_tensor *nn_loss_values(nn_loss *l);

/* The gradient with respect to the prediction for an upstream gradient
   grad_values of nn_loss_values' shape (a 0-dim or 1-element tensor for
   reduced losses): torch's values.backward(grad_values). Strided is fine.
   Owned by the loss, a different tensor from nn_loss_backward's (which
   stays as it was), valid until the next forward, nn_loss_backward_ex or
   free. A wrong shape, NULL, or no successful forward: NULL + error,
   nothing changed. */
nn_tensor *nn_loss_backward_ex(nn_loss *l, const nn_tensor *grad_values);

void nn_loss_free(nn_loss *l); /* NULL: no-op */

#ifdef __cplusplus
}
#endif
#endif
