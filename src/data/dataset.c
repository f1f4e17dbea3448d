/* Shared by the dataset loaders: whole-file reading, nn_dataset_free. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>

#include "data_impl.h"
#include "nn/data.h"

int nn_read_whole_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len, int *err)
{
    *err = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = errno;
        return NN_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        *err = S_ISDIR(st.st_mode) ? EISDIR : errno;
        fclose(f);
        return NN_EIO;
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return NN_EFORMAT;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = nn_alloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return NN_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int read_err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (got != n || read_err) {
        *err = read_err ? read_err : EIO; /* the file shrank under us */
        nn_release(buf);
        return NN_EIO;
    }
    *out = buf;
    *len = n;
    return NN_OK;
}

void nn_dataset_free(nn_dataset *d)
{
    if (!d)
        return;
    nn_tensor_free(d->images);
    nn_tensor_free(d->labels);
    d->images = NULL;
    d->labels = NULL;
}

int nn_dataset_normalize(nn_dataset *d, int channels, const float *mean, const float *std)
{
    const char *fn = "nn_dataset_normalize";
    char shape[NN_SHAPE_STR_LEN];
    if (!d || !d->images || !mean || !std)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn,
                       !d ? "dataset" : !d->images ? "dataset's images" : !mean ? "mean" : "std");
    nn_tensor *x = d->images;
    if (x->ndim < 2 || x->shape[1] != channels || !nn_tensor_is_contiguous(x))
        return nn_fail(NN_ESHAPE, "%s: expected contiguous images [N, %d, ...], got %s%s", fn, channels,
                       nn_tensor_shape_str(x, shape), nn_tensor_is_contiguous(x) ? "" : " (not contiguous)");
    for (int c = 0; c < channels; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || std[c] == 0.0f)
            return nn_fail(NN_EINVAL, "%s: channel %d: expected a finite mean and a finite nonzero std, got mean %g std %g",
                           fn, c, (double)mean[c], (double)std[c]);
    int64_t plane = 1;
    for (int i = 2; i < x->ndim; i++)
        plane *= x->shape[i];
    float *p = x->data;
    for (int64_t n = 0; n < x->shape[0]; n++)
        for (int c = 0; c < channels; c++, p += plane) {
            const float m = mean[c], s = std[c];
            for (int64_t i = 0; i < plane; i++) /* sub then div, as Normalize does */
                p[i] = (p[i] - m) / s;
        }
    return NN_OK;
}
