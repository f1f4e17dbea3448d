/* Shared by the dataset harnesses: what every accepted dataset must hold. */
#ifndef NN_FUZZ_DATASET_H
#define NN_FUZZ_DATASET_H

#include <stdlib.h>

#include "nn.h"

/* images [N, channels, H, W] with N >= 1 and pixels in [0, 1]; labels [N] in 0..9. */
static void check_dataset_values(const nn_dataset *d, int64_t channels)
{
    const nn_tensor *img = d->images, *lab = d->labels;
    if (!img || !lab || img->ndim != 4 || lab->ndim != 1 || img->shape[0] != lab->shape[0] ||
        img->shape[0] < 1 || img->shape[1] != channels)
        abort();
    int64_t n = nn_tensor_numel(img);
    for (int64_t i = 0; i < n; i++)
        if (!(img->data[i] >= 0.0f && img->data[i] <= 1.0f))
            abort();
    for (int64_t i = 0; i < lab->shape[0]; i++)
        if (!(lab->data[i] >= 0.0f && lab->data[i] <= 9.0f))
            abort();
}

#endif
