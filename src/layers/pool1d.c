/* MaxPool1d and AvgPool1d as torch.nn's, on [N, C, L] or [C, L]: the 2-D
   modules (maxpool2d.c, avgpool2d.c) with a 1 x k window on the input
   seen as [N, C, 1, L], as torch's max_pool1d / avg_pool1d run
   max_pool2d / avg_pool2d on the unsqueezed input. Same kernels, ties,
   NaN handling, ceil_mode and count_include_pad rules. */
#include "layers/pool_impl.h"

/* torch's MaxPool1d prints ints: "kernel_size=2, stride=2, padding=0,
   dilation=1, ceil_mode=False" */
static int maxpool1d_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_maxpool2d_opts *o = nn_maxpool_opts_of(m);
    return snprintf(buf, size, "kernel_size=%d, stride=%d, padding=%d, dilation=%d, ceil_mode=%s", o->kernel_w,
                    o->stride_w, o->pad_w, o->dilation_w, o->ceil_mode ? "True" : "False");
}

static const nn_module_ops maxpool1d_ops = {
    .type = "MaxPool1d",
    .forward = nn_maxpool_module_forward,
    .backward = nn_maxpool_backward_m,
    .extra_repr = maxpool1d_extra_repr,
    .destroy = nn_maxpool_destroy,
    .clone = nn_maxpool_clone,
    .absorbs = "relu",
    .forward_absorbing = nn_maxpool_forward_after_relu,
};

/* torch's AvgPool1d keeps its arguments as one-element tuples:
   "kernel_size=(3,), stride=(3,), padding=(0,)" */
static int avgpool1d_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_avgpool2d_opts *o = nn_avgpool_opts_of(m);
    return snprintf(buf, size, "kernel_size=(%d,), stride=(%d,), padding=(%d,)", o->kernel_w, o->stride_w,
                    o->pad_w);
}

static const nn_module_ops avgpool1d_ops = {
    .type = "AvgPool1d",
    .forward = nn_avgpool_module_forward,
    .backward = nn_avgpool_backward_m,
    .extra_repr = avgpool1d_extra_repr,
    .destroy = nn_avgpool_destroy,
    .clone = nn_avgpool_clone,
};

/* The options rule (nn/opts.h), with MaxPool1d's field names; the 2-D
   constructor then checks the padding against the window. */
static nn_module *maxpool1d_new(const char *fn, const nn_maxpool1d_opts *opts)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    nn_maxpool1d_opts o = *opts;
    if (nn_pool1d_check(fn, "nn_maxpool1d_opts", "nn_maxpool1d_defaults", o.from_defaults, o.kernel_size, o.stride,
                        &o.dilation, o.padding) < 0)
        return NULL;
    nn_maxpool2d_opts c = {.kernel_h = 1, .kernel_w = o.kernel_size, .stride_h = 1,
                           .stride_w = o.stride ? o.stride : o.kernel_size, .pad_h = 0, .pad_w = o.padding,
                           .dilation_h = 1, .dilation_w = o.dilation ? o.dilation : 1, .ceil_mode = o.ceil_mode,
                           .from_defaults = NN_OPTS_FROM_DEFAULTS};
    return nn_maxpool_create(fn, &c, 1, &maxpool1d_ops);
}

nn_maxpool1d_opts nn_maxpool1d_defaults(int kernel_size)
{
    return (nn_maxpool1d_opts){.kernel_size = kernel_size, .stride = kernel_size, .padding = 0, .dilation = 1,
                               .ceil_mode = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_maxpool1d_ex(const nn_maxpool1d_opts *o)
{
    return maxpool1d_new("nn_maxpool1d_ex", o);
}

nn_module *nn_maxpool1d(int kernel_size, int stride)
{
    if (stride < 0)
        return nn_fail_null(NN_EINVAL, "nn_maxpool1d: expected stride >= 0 (0: kernel_size), got %d", stride);
    return maxpool1d_new("nn_maxpool1d", &(nn_maxpool1d_opts){.kernel_size = kernel_size, .stride = stride});
}

static nn_module *avgpool1d_new(const char *fn, const nn_avgpool1d_opts *opts)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: options are NULL", fn);
    nn_avgpool1d_opts o = *opts;
    if (nn_pool1d_check(fn, "nn_avgpool1d_opts", "nn_avgpool1d_defaults", o.from_defaults, o.kernel_size, o.stride,
                        NULL, o.padding) < 0)
        return NULL;
    nn_avgpool2d_opts c = {.kernel_h = 1, .kernel_w = o.kernel_size, .stride_h = 1,
                           .stride_w = o.stride ? o.stride : o.kernel_size, .pad_h = 0, .pad_w = o.padding,
                           .ceil_mode = o.ceil_mode, .count_include_pad = o.count_include_pad,
                           .from_defaults = NN_OPTS_FROM_DEFAULTS};
    return nn_avgpool_create(fn, &c, 1, &avgpool1d_ops);
}

nn_avgpool1d_opts nn_avgpool1d_defaults(int kernel_size)
{
    return (nn_avgpool1d_opts){.kernel_size = kernel_size, .stride = kernel_size, .padding = 0,
                               .ceil_mode = false, .count_include_pad = true,
                               .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_avgpool1d_ex(const nn_avgpool1d_opts *o)
{
    return avgpool1d_new("nn_avgpool1d_ex", o);
}

nn_module *nn_avgpool1d(int kernel_size, int stride)
{
    if (stride < 0)
        return nn_fail_null(NN_EINVAL, "nn_avgpool1d: expected stride >= 0 (0: kernel_size), got %d", stride);
    nn_avgpool1d_opts o = nn_avgpool1d_defaults(kernel_size);
    if (stride)
        o.stride = stride;
    return avgpool1d_new("nn_avgpool1d", &o);
}
