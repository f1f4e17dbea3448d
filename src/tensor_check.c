/* Checks on tensor values: finiteness, for stopping training on NaN/Inf. */
#include <math.h>

#include "core.h"

/* all_i isfinite(t[i]), walking strided tensors with an odometer */
bool nn_tensor_all_finite(const nn_tensor *t)
{
    if (!t)
        return false;
    int64_t numel = nn_tensor_numel(t);
    if (numel == 0)
        return true;
    if (t->ndim == 0)
        return isfinite(t->data[0]);
    int last = t->ndim - 1;
    int64_t idx[NN_MAX_DIMS] = {0}, n = t->shape[last], s = t->stride[last];
    const float *p = t->data;
    for (int64_t done = 0; done < numel; done += n) {
        for (int64_t j = 0; j < n; j++)
            if (!isfinite(p[j * s]))
                return false;
        for (int d = last - 1; d >= 0; d--) {
            p += t->stride[d];
            if (++idx[d] < t->shape[d])
                break;
            p -= t->stride[d] * t->shape[d];
            idx[d] = 0;
        }
    }
    return true;
}
