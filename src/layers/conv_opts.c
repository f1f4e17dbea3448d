/* The option checks Conv1d, Conv2d and ConvTranspose2d share (conv_impl.h). */
#include <stdio.h>

#include "layers/conv_impl.h"

int nn_conv_check_channels(const char *fn, int64_t in_channels, int64_t out_channels)
{
    if (in_channels <= 0 || out_channels <= 0)
        return nn_fail(NN_EINVAL, "%s: expected positive in_channels and out_channels, got %lld and %lld", fn,
                       (long long)in_channels, (long long)out_channels);
    return NN_OK;
}

const char *nn_conv_zero_rule(bool by_hand, const char *defaults_fn, char *buf, size_t n)
{
    if (by_hand)
        snprintf(buf, n, "0 means 1 in options written by hand");
    else
        snprintf(buf, n, "options from %s are taken as written; 0 means 1 only in options written by hand",
                 defaults_fn);
    return buf;
}

int nn_conv_check_stride_dilation(const char *fn, const char *why, int least, int stride_h, int stride_w,
                                  int dilation_h, int dilation_w)
{
    if (stride_h < least || stride_w < least)
        return nn_fail(NN_EINVAL, "%s: expected stride_h and stride_w >= %d (%s), got stride (%d, %d)", fn, least,
                       why, stride_h, stride_w);
    if (dilation_h < least || dilation_w < least)
        return nn_fail(NN_EINVAL, "%s: expected dilation_h and dilation_w >= %d (%s), got dilation (%d, %d)", fn,
                       least, why, dilation_h, dilation_w);
    return NN_OK;
}

int nn_conv_settle_groups(const char *fn, int64_t in_channels, int64_t out_channels, int *groups)
{
    if (!*groups)
        *groups = 1;
    if (in_channels % *groups != 0)
        return nn_fail(NN_EINVAL, "%s: in_channels must be divisible by groups, got in_channels=%lld, groups=%d", fn,
                       (long long)in_channels, *groups);
    if (out_channels % *groups != 0)
        return nn_fail(NN_EINVAL, "%s: out_channels must be divisible by groups, got out_channels=%lld, groups=%d",
                       fn, (long long)out_channels, *groups);
    return NN_OK;
}
