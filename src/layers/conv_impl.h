/* Internal: Conv2d's machinery (src/layers/conv2d.c) shared with Conv1d
   (src/layers/conv1d.c), which runs a [N, C, L] input as a [N, C, 1, L]
   image through the same im2col and packed GEMMs. Not installed. */
#ifndef NN_CONV_IMPL_H
#define NN_CONV_IMPL_H

#include "module/module_impl.h"

/* A convolution module with complete options o (from_defaults
   NN_OPTS_FROM_DEFAULTS; they are validated again, messages naming fn)
   and the given ops, whose forward / backward / backward_ex / destroy are
   the functions below. dims 1: the input is [N, C, L] or [C, L]; o's
   kernel_h, stride_h, dilation_h must be 1 and pad_h 0; the weight is
   [out, in/groups, kernel_w]. Messages name ops->type. */
nn_module *nn_conv_create(const char *fn, const nn_conv2d_opts *o, int dims, const nn_module_ops *ops);
/* The options in force (0 -> 1 resolved). */
const nn_conv2d_opts *nn_conv_opts_of(const nn_module *m);
nn_tensor *nn_conv_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_conv_backward(nn_module *m, const nn_tensor *gy);
nn_tensor *nn_conv_backward_ex(nn_module *m, const nn_tensor *gy, bool need_dx);
void nn_conv_destroy(nn_module *m);
/* Folding (nn_fold_batchnorm): output channel c's weights scaled, bias
   set to bias * scale + shift (added when there was none). */
int nn_conv_absorb_channel_affine(nn_module *m, const float *scale, const float *shift, int64_t channels);

/* The option checks Conv1d, Conv2d and ConvTranspose2d share (conv_opts.c),
   messages naming fn; each NN_OK or a negative status:
   - in_channels and out_channels positive;
   - zero_rule: why a 0 stride, dilation or groups is taken as 1 (by_hand)
     or refused (options from defaults_fn), into buf, returned;
   - stride and dilation >= least (0: written by hand), why as above;
   - groups: 0 becomes 1, then it must divide both channel counts. */
int nn_conv_check_channels(const char *fn, int64_t in_channels, int64_t out_channels);
const char *nn_conv_zero_rule(bool by_hand, const char *defaults_fn, char *buf, size_t n);
int nn_conv_check_stride_dilation(const char *fn, const char *why, int least, int stride_h, int stride_w,
                                  int dilation_h, int dilation_w);
int nn_conv_settle_groups(const char *fn, int64_t in_channels, int64_t out_channels, int *groups);

#endif
