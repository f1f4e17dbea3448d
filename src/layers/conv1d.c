/* Conv1d (cross-correlation, as torch.nn.Conv1d) on [N, C, L] or [C, L]:
   Conv2d's machinery (conv2d.c) on the input seen as [N, C, 1, L] with a
   1 x k kernel: the same im2col, packed GEMMs, thread split and
   bit-for-bit independence of the thread count. Weight [out, in/groups,
   k], bias [out], initialised as torch (fan_in in/groups*k). */
#include "layers/conv_impl.h"

/* torch's _ConvNd.extra_repr with one-element tuples: "4, 8,
   kernel_size=(3,), stride=(1,)", then padding, dilation, groups, bias
   when not their defaults */
static int conv1d_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_conv2d_opts *o = nn_conv_opts_of(m);
    char pad[48] = "", dil[48] = "", grp[32] = "";
    if (o->padding_same)
        snprintf(pad, sizeof pad, ", padding=same");
    else if (o->pad_w != 0)
        snprintf(pad, sizeof pad, ", padding=(%d,)", o->pad_w);
    if (o->dilation_w != 1)
        snprintf(dil, sizeof dil, ", dilation=(%d,)", o->dilation_w);
    if (o->groups != 1)
        snprintf(grp, sizeof grp, ", groups=%d", o->groups);
    return snprintf(buf, size, "%lld, %lld, kernel_size=(%d,), stride=(%d,)%s%s%s%s", (long long)o->in_channels,
                    (long long)o->out_channels, o->kernel_w, o->stride_w, pad, dil, grp,
                    o->bias ? "" : ", bias=False");
}

static const nn_module_ops conv1d_ops = {
    .type = "Conv1d",
    .forward = nn_conv_forward,
    .backward = nn_conv_backward,
    .backward_ex = nn_conv_backward_ex,
    .extra_repr = conv1d_extra_repr,
    .destroy = nn_conv_destroy,
    .absorb_channel_affine = nn_conv_absorb_channel_affine,
};

/* Options as the rule in nn/opts.h says: from nn_conv1d_defaults taken
   as written; written by hand, 0 stride, dilation and groups mean 1 and
   bias is as written. Checked here with Conv1d's field names, then handed
   to Conv2d's constructor complete. */
static nn_module *conv1d_new(const char *fn, const nn_conv1d_opts *opts)
{
    if (!opts)
        return nn_fail_null(NN_EINVAL, "%s: opts is NULL", fn);
    nn_conv1d_opts o = *opts;
    int by_hand = nn_opts_by_hand(fn, "nn_conv1d_opts", "nn_conv1d_defaults", o.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (nn_conv_check_channels(fn, o.in_channels, o.out_channels) < 0)
        return NULL;
    if (o.kernel_size <= 0)
        return nn_fail_null(NN_EINVAL, "%s: expected a positive kernel_size, got %d", fn, o.kernel_size);
    const int least = by_hand ? 0 : 1;
    char why[128];
    nn_conv_zero_rule(by_hand, "nn_conv1d_defaults", why, sizeof why);
    if (o.stride < least)
        return nn_fail_null(NN_EINVAL, "%s: expected stride >= %d (%s), got %d", fn, least, why, o.stride);
    if (o.dilation < least)
        return nn_fail_null(NN_EINVAL, "%s: expected dilation >= %d (%s), got %d", fn, least, why, o.dilation);
    if (o.groups < least)
        return nn_fail_null(NN_EINVAL, "%s: groups must be a positive integer (%s), got groups=%d", fn, why,
                            o.groups);
    if (o.padding < 0)
        return nn_fail_null(NN_EINVAL, "%s: expected non-negative padding, got %d", fn, o.padding);
    o.stride = o.stride ? o.stride : 1;
    o.dilation = o.dilation ? o.dilation : 1;
    if (nn_conv_settle_groups(fn, o.in_channels, o.out_channels, &o.groups) < 0)
        return NULL;
    if (o.padding_same && o.stride != 1)
        return nn_fail_null(NN_EINVAL,
                            "%s: padding_same (torch's padding='same') is not supported for strided convolutions, "
                            "got stride %d",
                            fn, o.stride);
    if (o.padding_same && o.padding != 0)
        return nn_fail_null(NN_EINVAL, "%s: padding_same computes the padding itself: expected padding 0, got %d",
                            fn, o.padding);
    nn_conv2d_opts c = {.in_channels = o.in_channels, .out_channels = o.out_channels, .kernel_h = 1,
                        .kernel_w = o.kernel_size, .stride_h = 1, .stride_w = o.stride, .pad_h = 0,
                        .pad_w = o.padding, .dilation_h = 1, .dilation_w = o.dilation, .bias = o.bias,
                        .groups = o.groups, .padding_same = o.padding_same,
                        .from_defaults = NN_OPTS_FROM_DEFAULTS};
    return nn_conv_create(fn, &c, 1, &conv1d_ops);
}

nn_conv1d_opts nn_conv1d_defaults(int64_t in_channels, int64_t out_channels, int kernel_size)
{
    return (nn_conv1d_opts){.in_channels = in_channels, .out_channels = out_channels,
                            .kernel_size = kernel_size, .stride = 1, .padding = 0, .dilation = 1, .groups = 1,
                            .bias = true, .padding_same = false, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_module *nn_conv1d_ex(const nn_conv1d_opts *o)
{
    return conv1d_new("nn_conv1d_ex", o);
}

nn_module *nn_conv1d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride, int padding,
                     int dilation)
{
    nn_conv1d_opts o = nn_conv1d_defaults(in_channels, out_channels, kernel_size);
    o.from_defaults = 0; /* stride and dilation 0 mean 1 here */
    o.stride = stride;
    o.padding = padding;
    o.dilation = dilation;
    return conv1d_new("nn_conv1d", &o);
}
