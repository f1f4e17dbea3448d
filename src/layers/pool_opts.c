/* The checks and shapes the pooling modules share (pool_impl.h). */
#include "layers/pool_impl.h"

int nn_pool_check_kernel(const char *fn, int kernel_h, int kernel_w)
{
    if (kernel_h < 1 || kernel_w < 1 || kernel_h > 65535 || kernel_w > 65535)
        return nn_fail(NN_EINVAL, "%s: expected kernel_size (kernel_h, kernel_w) in 1..65535, got (%d, %d)", fn,
                       kernel_h, kernel_w);
    return NN_OK;
}

int nn_pool_check_padding(const char *fn, int kernel_h, int kernel_w, int pad_h, int pad_w)
{
    if (pad_h < 0 || pad_w < 0)
        return nn_fail(NN_EINVAL, "%s: expected padding (pad_h, pad_w) >= 0, got (%d, %d)", fn, pad_h, pad_w);
    if (pad_h > kernel_h / 2 || pad_w > kernel_w / 2)
        return nn_fail(NN_EINVAL, "%s: padding should be at most half of kernel size, got padding=(%d, %d) for kernel_size=(%d, %d)",
                       fn, pad_h, pad_w, kernel_h, kernel_w);
    return NN_OK;
}

int nn_pool1d_check(const char *fn, const char *type, const char *defaults_fn, uint32_t from_defaults,
                    int kernel_size, int stride, const int *dilation, int padding)
{
    int by_hand = nn_opts_by_hand(fn, type, defaults_fn, from_defaults);
    if (by_hand < 0)
        return by_hand;
    if (kernel_size < 1 || kernel_size > 65535)
        return nn_fail(NN_EINVAL, "%s: expected kernel_size in 1..65535, got %d", fn, kernel_size);
    const int least = by_hand ? 0 : 1;
    if (stride < least || stride > 65535)
        return nn_fail(NN_EINVAL, "%s: expected stride in %d..65535 (%s%s%s), got %d", fn, least,
                       by_hand ? "0 means the kernel size in options written by hand" : "options from ",
                       by_hand ? "" : defaults_fn, by_hand ? "" : " are taken as written", stride);
    if (dilation && (*dilation < least || *dilation > 65535))
        return nn_fail(NN_EINVAL, "%s: expected dilation in %d..65535 (%s%s%s), got %d", fn, least,
                       by_hand ? "0 means 1 in options written by hand" : "options from ",
                       by_hand ? "" : defaults_fn, by_hand ? "" : " are taken as written", *dilation);
    if (padding < 0 || padding > kernel_size / 2)
        return nn_fail(NN_EINVAL, "%s: padding should be at most half of kernel size (and >= 0), got padding=%d for kernel_size=%d",
                       fn, padding, kernel_size);
    return by_hand;
}

void nn_pool_out_shape(int ndim, int dims, int64_t N, int64_t C, int64_t OH, int64_t OW, int64_t *oshape)
{
    int k = 0;
    if (ndim == dims + 2)
        oshape[k++] = N;
    oshape[k++] = C;
    if (dims == 2)
        oshape[k++] = OH;
    oshape[k++] = OW;
}
