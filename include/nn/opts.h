/* libnn: options structs.

   OPTIONS STRUCTS: the one rule for all of them -- the optimizers'
   (nn_sgd_opts, nn_adam_opts, ... in nn/optim.h), the layers' (nn_conv2d_opts,
   nn_maxpool2d_opts, nn_batchnorm2d_opts, ... in nn/module.h), the losses'
   (nn/loss.h) and the DataLoader's (nn_random_crop_opts in nn/data.h).

   Each ends with `uint32_t from_defaults`. nn_<x>_defaults(...) fills the
   struct with PyTorch's defaults and sets from_defaults to
   NN_OPTS_FROM_DEFAULTS (below); C leaves it 0 in a struct you write
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
          AdamW    lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8,
                   weight_decay 1e-2 (so AdamW without weight decay is
                   nn_adamw_defaults() with .weight_decay = 0)
          RMSprop  lr 1e-2, alpha 0.99, eps 1e-8
          Adagrad  lr 1e-2, eps 1e-10
          NLLLoss / CrossEntropyLoss: ignore_index -100 (to ignore class
                   0, start from the defaults)
          SmoothL1Loss beta 1.0 (beta 0, which torch allows and which is
                   L1Loss's value, needs the defaults); HuberLoss delta 1.0
          ReduceLROnPlateau factor 0.1, patience 10, threshold 1e-4,
                   eps 1e-8 (for patience 0 or factor 0, start from the
                   defaults)
          BatchNorm eps 1e-5, momentum 0.1
        (weight_decay except AdamW's, momentum, dampening, lr_decay and
        initial_accumulator_value default to 0 anyway). So
        &(nn_adam_opts){.lr = 1e-3f} is exactly nn_adam_defaults().
      - where PyTorch has no default, 0 is refused with a message naming
        the function and the field: SGD's lr (set .lr, or use
        nn_sgd_defaults(lr), which may be 0); Conv2d's channels and kernel
        sizes; MaxPool2d's and AvgPool2d's kernel sizes; the adaptive
        pools' output sizes; Softmax's dim.
      - int fields of the layers: stride 0 means 1 (Conv2d) or the kernel
        size (MaxPool2d, AvgPool2d), dilation and groups 0 mean 1, padding
        0 is 0, divisor_override 0 is none.
      - bool fields (nesterov, amsgrad, centered, ceil_mode, Conv2d's bias,
        count_include_pad, size_is_int, BatchNorm's affine and
        track_running_stats, the inplace flags) cannot tell "left out" from
        false, so they are taken as written. PyTorch's default is false for
        all of them except Conv2d's bias, AvgPool2d's count_include_pad and
        BatchNorm's two: a hand-written nn_conv2d_opts without .bias = true
        makes a convolution WITHOUT bias.
   3. Any other from_defaults (an uninitialised struct, most likely) is
      refused with a message naming the field.
   4. NULL options: the defaults (nn_adam, nn_rmsprop, nn_adagrad); refused
      where there are none (nn_sgd, nn_conv2d_ex, nn_maxpool2d_ex).
   5. Enums (a loss's reduction, ReduceLROnPlateau's mode and
      threshold_mode) have torch's default as their 0 value.
   The values are then validated as PyTorch does; every refusal
   returns NULL and nn_last_error() names the function and the field.
   Checkpoints (nn_optim_save / nn_optim_load) hold the values in force
   after this and restore them as written. */
#ifndef NN_OPTS_H
#define NN_OPTS_H

#define NN_OPTS_FROM_DEFAULTS 0x6E6E6466u /* "nndf" */

#endif
