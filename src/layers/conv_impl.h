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

#endif
