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

/* The pooling constructors' common checks (pool_opts.c), messages naming
   fn: the window in 1..65535 (2-D); the padding >= 0 and at most half the
   window (2-D); and all of a 1-D module's options, in the order kernel_size,
   stride, dilation (NULL: AvgPool1d has none), padding, with the options
   rule on type (its from_defaults) and defaults_fn. The 1-D check returns
   1 for options written by hand, 0 for options from defaults_fn; all, a
   negative status on failure. */
int nn_pool_check_kernel(const char *fn, int kernel_h, int kernel_w);
int nn_pool_check_padding(const char *fn, int kernel_h, int kernel_w, int pad_h, int pad_w);
int nn_pool1d_check(const char *fn, const char *type, const char *defaults_fn, uint32_t from_defaults,
                    int kernel_size, int stride, const int *dilation, int padding);

/* The output shape, [N,] C, [OH,] OW, of a pooling module of dims
   dimensions (1 or 2) on an input of ndim dimensions. */
void nn_pool_out_shape(int ndim, int dims, int64_t N, int64_t C, int64_t OH, int64_t OW, int64_t *oshape);

#endif
