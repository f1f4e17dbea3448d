/* libnn: optimizers, with the update rules and defaults of torch.optim
   (PyTorch 1.13). An optimizer keeps pointers to the module's parameters:
   free it before the module. The caller owns what the constructors return.

   Options structs follow the one rule written in nn/opts.h. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "module.h"
#include "opts.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_optim nn_optim;

/* from_defaults: NN_OPTS_FROM_DEFAULTS from nn_<x>_defaults, else 0 (the
   rule in nn/opts.h). */
typedef struct {
    float lr, momentum, dampening, weight_decay;
    bool nesterov;
    uint32_t from_defaults;
} nn_sgd_opts;
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
    uint32_t from_defaults;
} nn_adam_opts;
/* AdamW: Adam's fields; weight_decay is decoupled (p *= 1 - lr * wd before
   the Adam update) and defaults to 1e-2. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
    uint32_t from_defaults;
} nn_adamw_opts;
typedef struct {
    float lr, alpha, eps, weight_decay, momentum;
    bool centered;
    uint32_t from_defaults;
} nn_rmsprop_opts;
typedef struct {
    float lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    uint32_t from_defaults;
} nn_adagrad_opts;

/* PyTorch's defaults, marked so that every field is taken as written. */
nn_sgd_opts nn_sgd_defaults(float lr);       /* momentum 0, dampening 0, wd 0 */
nn_adam_opts nn_adam_defaults(void);         /* lr 1e-3, betas (0.9, 0.999), eps 1e-8 */
nn_adamw_opts nn_adamw_defaults(void);       /* the same, weight_decay 1e-2 */
nn_rmsprop_opts nn_rmsprop_defaults(void);   /* lr 1e-2, alpha 0.99, eps 1e-8 */
nn_adagrad_opts nn_adagrad_defaults(void);   /* lr 1e-2, eps 1e-10 */

/* NULL opts: the defaults. SGD has no default learning rate (torch requires
   lr too): nn_sgd(m, NULL) fails, and so does a hand-written struct with lr
   0; pass &(nn_sgd_opts){.lr = 0.1f} or nn_sgd_defaults(lr). Hand-written
   structs get PyTorch's defaults as the rule at the top of this file says.
   The module must have parameters. Options are
   validated as torch does (negative lr/eps/momentum/weight_decay, betas
   outside [0, 1), nesterov without momentum > 0 and dampening 0, ...) and
   NaN or infinite values are refused too: NULL + nn_last_error(). The
   optimizer's state is allocated here, so steps allocate nothing.
   Construction also moves the module's parameters, then their gradients,
   into one contiguous block (values kept), so a step is one loop over the
   whole model: re-read param->value->data after creating an optimizer. */
nn_optim *nn_sgd(nn_module *m, const nn_sgd_opts *o);
nn_optim *nn_adam(nn_module *m, const nn_adam_opts *o);
nn_optim *nn_adamw(nn_module *m, const nn_adamw_opts *o); /* torch.optim.AdamW */
nn_optim *nn_rmsprop(nn_module *m, const nn_rmsprop_opts *o);
nn_optim *nn_adagrad(nn_module *m, const nn_adagrad_opts *o);

/* One update of every parameter from its .grad; NN_OK or a negative
   nn_status (NULL optimizer, a parameter whose size changed). */
int nn_optim_step(nn_optim *o);
/* Sets every parameter gradient to zero. NULL: no-op. */
void nn_optim_zero_grad(nn_optim *o);
void nn_optim_free(nn_optim *o); /* NULL: no-op */

/* The packed blocks construction made (see above): every parameter value
   of the model back to back in nn_module_params order, and every gradient
   likewise (the gradient block alone is one range: what a data-parallel
   run all-reduces, in one call or in buckets). Returns the first float
   and stores the count (the sum of the parameters' numel) in *n (n may
   be NULL). NULL when o is NULL or a parameter was re-pointed since
   (nn_tensor_pack no longer holds: use the parameters one by one); no
   error is recorded then. Valid until the optimizer or the module is
   freed. */
float *nn_optim_grad_block(nn_optim *o, int64_t *n);
float *nn_optim_param_block(nn_optim *o, int64_t *n);

/* The learning rate, as torch's optimizer.param_groups[0]["lr"]: read it,
   or change it between steps (what an lr scheduler does). set: a negative,
   NaN or infinite lr is refused with NN_EINVAL and nothing changes.
   get: NaN for a NULL optimizer. Every optimizer here has one lr. */
float nn_optim_get_lr(const nn_optim *o);
int nn_optim_set_lr(nn_optim *o, float lr);

/* Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_
   on model.parameters(): call between nn_backward and nn_optim_step.

   nn_clip_grad_norm: the total norm of order norm_type (> 0, or INFINITY)
   of all the module's gradients together -- computed as torch 1.13 does,
   one norm per parameter then the norm of those norms, in float -- and
   every gradient multiplied by min(max_norm / (total + 1e-6), 1) (always
   multiplied, as torch 1.13; a NaN or infinite total makes the gradients
   NaN or 0, as torch's). Returns the total norm (before clipping), 0 for a
   module without parameters. The norms follow the order of torch's CPU
   kernels (AVX2 build) and agree with it bit for bit, except for a
   gradient of 32768 elements or more with norm_type other than 2 and inf
   when torch runs several threads (then within an ulp or so).
   Bad arguments (NULL, max_norm < 0 or NaN, norm_type <= 0 or NaN; torch's
   p = 0 and negative p are not offered): NaN + nn_last_error(), nothing
   changed. nn_clip_grad_norm_ex with error_if_nonfinite true refuses a
   NaN or infinite total in the same way (torch's RuntimeError) and leaves
   the gradients as they were; with false (torch 1.13's default, and
   nn_clip_grad_norm's) a NaN return is a success: test it with isfinite.

   nn_clip_grad_value: every gradient element clamped to
   [-clip_value, clip_value] (NaN stays NaN). NN_OK, or NN_EINVAL (NULL,
   clip_value < 0 or NaN) with nothing changed. */
float nn_clip_grad_norm(nn_module *m, float max_norm, float norm_type);
float nn_clip_grad_norm_ex(nn_module *m, float max_norm, float norm_type, bool error_if_nonfinite);
int nn_clip_grad_value(nn_module *m, float clip_value);

/* Learning-rate schedules, as torch.optim.lr_scheduler: call
   nn_lr_scheduler_step after nn_optim_step, once per epoch (or per batch,
   as you count T_max and step_size). Each step computes the next rate from
   the current one in double precision, as torch does, and sets it on the
   optimizer; a rate you set with nn_optim_set_lr in between becomes the
   current one. A scheduler keeps a pointer to its optimizer (free the
   scheduler first, or at least never step it after); the caller owns it
   (nn_lr_scheduler_free). Bad arguments: NULL + nn_last_error().
     StepLR:            lr *= gamma every step_size steps
     ExponentialLR:     lr *= gamma every step
     CosineAnnealingLR: lr = eta_min + (lr0 - eta_min) (1 + cos(pi t / T_max)) / 2,
                        going back up after T_max as torch's does */
typedef struct nn_lr_scheduler nn_lr_scheduler;
nn_lr_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, double gamma);
nn_lr_scheduler *nn_exponential_lr(nn_optim *o, double gamma);
nn_lr_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t t_max, double eta_min);
/* NN_OK, or a negative nn_status (NULL; a rate that would be negative or
   not finite) with nothing changed. */
int nn_lr_scheduler_step(nn_lr_scheduler *s);
/* The rate the last step set (the initial one before any), unrounded as
   torch's get_last_lr(); NaN for NULL. */
double nn_lr_scheduler_get_last_lr(const nn_lr_scheduler *s);
void nn_lr_scheduler_free(nn_lr_scheduler *s); /* NULL: no-op */

/* ReduceLROnPlateau (torch.optim.lr_scheduler.ReduceLROnPlateau): an
   nn_lr_scheduler (get_last_lr and free as the others) that steps on a
   metric, once per epoch after validation:
       nn_reduce_lr_on_plateau_step(sched, val_loss);
   Each step, as torch 1.13's step(metrics):
     better = mode min: metric < best * (1 - threshold)  (rel)
                        metric < best - threshold        (abs)
              mode max: metric > best * (1 + threshold)  (rel)
                        metric > best + threshold        (abs)
     (best starts at +inf for min, -inf for max; a NaN metric is never
     better);
     better: best = metric, num_bad_epochs = 0; else num_bad_epochs += 1;
     if cooldown_counter > 0: cooldown_counter -= 1, num_bad_epochs = 0;
     if num_bad_epochs > patience: new = max(lr * factor, min_lr), set on
     the optimizer only if lr - new > eps; cooldown_counter = cooldown,
     num_bad_epochs = 0.
   The rate is kept in double as torch's group["lr"], starting from the
   optimizer's float rate (so it agrees with torch exactly when the initial
   rate is exact in float); a rate set by hand in between is the current
   one. nn_lr_scheduler_step refuses it (it needs the metric), and
   nn_reduce_lr_on_plateau_step refuses the other schedules.

   Options (rule: nn/opts.h; torch's keyword arguments, one parameter group
   so min_lr is one value, no verbose). Written by hand, factor, patience,
   threshold and eps left 0 take torch's defaults (0.1, 10, 1e-4, 1e-8): for
   a 0 there (patience 0 reduces after every epoch without improvement),
   start from nn_reduce_lr_on_plateau_defaults(). Validated: mode and
   threshold_mode in their enums, 0 <= factor < 1 (torch: factor < 1),
   patience and cooldown >= 0, threshold, min_lr and eps finite and >= 0
   (torch takes anything there); refusals: NULL + nn_last_error(). */
typedef enum { NN_PLATEAU_MIN = 0, NN_PLATEAU_MAX } nn_plateau_mode;
typedef enum { NN_THRESHOLD_REL = 0, NN_THRESHOLD_ABS } nn_threshold_mode;
typedef struct {
    nn_plateau_mode mode;
    double factor;
    int64_t patience;
    double threshold;
    nn_threshold_mode threshold_mode;
    int64_t cooldown;
    double min_lr;
    double eps;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_reduce_lr_on_plateau_defaults, else 0 */
} nn_reduce_lr_on_plateau_opts;
/* min, factor 0.1, patience 10, threshold 1e-4, rel, cooldown 0, min_lr 0, eps 1e-8 */
nn_reduce_lr_on_plateau_opts nn_reduce_lr_on_plateau_defaults(void);
/* NULL opts: the defaults. */
nn_lr_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, const nn_reduce_lr_on_plateau_opts *opts);
/* One epoch's metric (any double; NaN counts as no improvement). NN_OK,
   or NN_EINVAL (NULL, another kind of scheduler) with nothing changed. */
int nn_reduce_lr_on_plateau_step(nn_lr_scheduler *s, double metric);
/* torch's attributes after the last step: best, num_bad_epochs,
   cooldown_counter, last_epoch (steps taken), and the options in force. */
typedef struct {
    double best;
    int64_t num_bad_epochs, cooldown_counter, last_epoch;
    nn_reduce_lr_on_plateau_opts opts;
} nn_reduce_lr_on_plateau_state;
int nn_reduce_lr_on_plateau_get_state(const nn_lr_scheduler *s, nn_reduce_lr_on_plateau_state *out);

#ifdef __cplusplus
}
#endif
#endif
