/* Internal: MaxPool2d's and AvgPool2d's modules (maxpool2d.c,
   avgpool2d.c) shared with MaxPool1d and AvgPool1d (pool1d.c), which run
   an [N, C, L] input as [N, C, 1, L] through the same pooling kernels.
   Not installed. */
#ifndef NN_POOL_IMPL_H
#define NN_POOL_IMPL_H

#include "module/module_impl.h"

/* A pooling module with the given ops (forward / backward / destroy /
   clone the functions below) and options o, checked (messages naming fn)
   and completed as the 2-D constructors do. dims 1: the input is
   [N, C, L] or [C, L]; o's kernel_h, stride_h (and dilation_h) must be 1
   and pad_h 0. Messages name ops->type. */
nn_module *nn_maxpool_create(const char *fn, const nn_maxpool2d_opts *o, int dims, const nn_module_ops *ops);
const nn_maxpool2d_opts *nn_maxpool_opts_of(const nn_module *m);
nn_tensor *nn_maxpool_module_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_maxpool_forward_after_relu(nn_module *m, const nn_tensor *x);
nn_tensor *nn_maxpool_backward_m(nn_module *m, const nn_tensor *g);
void nn_maxpool_destroy(nn_module *m);
nn_module *nn_maxpool_clone(const nn_module *m);

nn_module *nn_avgpool_create(const char *fn, const nn_avgpool2d_opts *o, int dims, const nn_module_ops *ops);
const nn_avgpool2d_opts *nn_avgpool_opts_of(const nn_module *m);
nn_tensor *nn_avgpool_module_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_avgpool_backward_m(nn_module *m, const nn_tensor *g);
void nn_avgpool_destroy(nn_module *m);
nn_module *nn_avgpool_clone(const nn_module *m);

#endif
