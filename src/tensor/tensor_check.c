/* Checks on tensor values: finiteness, for stopping training on NaN/Inf. */
#include <math.h>

#include "tensor/tensor_impl.h"

/* all_i isfinite(t[i]) */
bool nn_tensor_all_finite(const nn_tensor *t)
{
    if (!t)
        return false;
    nn_rows r;
    for (nn_rows_begin(&r, t); nn_rows_next(&r);)
        for (int64_t j = 0; j < r.n; j++)
            if (!isfinite(r.row[j * r.step]))
                return false;
    return true;
}
