/* libnn: optimizers, with the update rules and defaults of torch.optim
   (PyTorch 1.13). An optimizer keeps pointers to the module's parameters:
   free it before the module. The caller owns what the constructors return.

   OPTIONS STRUCTS: the one rule for all of them -- nn_sgd_opts,
   nn_adam_opts, nn_rmsprop_opts, nn_adagrad_opts below, nn_conv2d_opts,
   nn_conv_transpose2d_opts and nn_maxpool2d_opts (and the later layers')
   in nn/module.h.

   Each ends with `uint32_t from_defaults`. nn_<x>_defaults(...) fills the
   struct with PyTorch's defaults and sets from_defaults to
   NN_OPTS_FROM_DEFAULTS (nn/module.h); C leaves it 0 in a struct you write
   yourself with designated initialisers. The constructor then reads it so:

   1. From nn_<x>_defaults (from_defaults == NN_OPTS_FROM_DEFAULTS): every
      field is taken as written. Start here to set 0 where PyTorch's default
      is not 0:
          nn_adam_opts o = nn_adam_defaults();
          o.lr = 2e-4f;
          o.beta1 = 0.0f;           (a GAN recipe: betas (0, 0.999))
          nn_optim *opt = nn_adam(net, &o);
   2. Written by hand (from_defaults == 0), e.g. &(nn_adam_opts){.lr = 1e-3f}:
      a field you leave out is 0, and 0 means "PyTorch's default":
      - a float field that is 0 takes PyTorch's default where that is not 0:
          Adam     lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8
          RMSprop  lr 1e-2, alpha 0.99, eps 1e-8
          Adagrad  lr 1e-2, eps 1e-10
        (weight_decay, momentum, dampening, lr_decay and
        initial_accumulator_value default to 0 anyway). So
        &(nn_adam_opts){.lr = 1e-3f} is exactly nn_adam_defaults().
      - where PyTorch has no default, 0 is refused with a message naming
        the function and the field: SGD's lr (set .lr, or use
        nn_sgd_defaults(lr), which may be 0); Conv2d's channels and kernel
        sizes; MaxPool2d's kernel sizes.
      - int fields of the layers: stride 0 means 1 (Conv2d,
        ConvTranspose2d) or the kernel size (MaxPool2d), dilation and
        groups 0 mean 1, padding and output padding 0 are 0.
      - bool fields (nesterov, amsgrad, centered, ceil_mode, padding_same,
        Conv2d's and ConvTranspose2d's bias)
        cannot tell "left out" from false, so they are taken as written.
        PyTorch's default is false for all of them except Conv2d's bias:
        a hand-written nn_conv2d_opts without .bias = true makes a
        convolution WITHOUT bias.
   3. Any other from_defaults (an uninitialised struct, most likely) is
      refused with a message naming the field.
   4. NULL options: the defaults (nn_adam, nn_rmsprop, nn_adagrad); refused
      where there are none (nn_sgd, nn_conv2d_ex, nn_maxpool2d_ex).
   The values are then validated as PyTorch does (below); every refusal
   returns NULL and nn_last_error() names the function and the field.
   Checkpoints (nn_optim_save / nn_optim_load) hold the values in force
   after this and restore them as written. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_optim nn_optim;

/* from_defaults: NN_OPTS_FROM_DEFAULTS from nn_<x>_defaults, else 0 (the
   rule above). */
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
nn_optim *nn_rmsprop(nn_module *m, const nn_rmsprop_opts *o);
nn_optim *nn_adagrad(nn_module *m, const nn_adagrad_opts *o);

/* One update of every parameter from its .grad; NN_OK or a negative
   nn_status (NULL optimizer, a parameter whose size changed). */
int nn_optim_step(nn_optim *o);
/* Sets every parameter gradient to zero. NULL: no-op. */
void nn_optim_zero_grad(nn_optim *o);
void nn_optim_free(nn_optim *o); /* NULL: no-op */

/* The learning rate, as torch's optimizer.param_groups[0]["lr"]: read it,
   or change it between steps (what an lr scheduler does). set: a negative,
   NaN or infinite lr is refused with NN_EINVAL and nothing changes.
   get: NaN for a NULL optimizer. Every optimizer here has one lr. */
float nn_optim_get_lr(const nn_optim *o);
int nn_optim_set_lr(nn_optim *o, float lr);

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

#ifdef __cplusplus
}
#endif
#endif
