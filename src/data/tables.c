/* Tables and series as datasets: copies of the caller's arrays, train /
   validation / test splits (torch.utils.data.random_split's lengths and
   torch.randperm's draws) and sliding windows over a series. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_impl.h"
#include "nn/data.h"
#include "nn/random.h"

int nn_dataset_from_arrays(const float *x, int x_ndim, const int64_t *x_shape, const float *y, int y_ndim,
                           const int64_t *y_shape, nn_dataset *out)
{
    const char *fn = "nn_dataset_from_arrays";
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!x || !y || !x_shape || !y_shape || !out)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn,
                       !x ? "x" : !y ? "y" : !x_shape ? "x_shape" : !y_shape ? "y_shape" : "out");
    if (x_ndim < 1 || x_ndim > NN_MAX_DIMS || y_ndim < 1 || y_ndim > NN_MAX_DIMS)
        return nn_fail(NN_ESHAPE, "%s: expected 1..%d dimensions for x and y, got %d and %d", fn, NN_MAX_DIMS,
                       x_ndim, y_ndim);
    if (x_shape[0] != y_shape[0])
        return nn_fail(NN_ESHAPE, "%s: x %s and y %s must have the same first dimension (the items)", fn,
                       nn_shape_str(x_ndim, x_shape, a), nn_shape_str(y_ndim, y_shape, b));
    nn_tensor *tx = nn_tensor_from(x, x_ndim, x_shape);
    if (!tx)
        return nn_fail_context(nn_last_status(), "%s: x", fn);
    nn_tensor *ty = nn_tensor_from(y, y_ndim, y_shape);
    if (!ty) {
        nn_tensor_free(tx);
        return nn_fail_context(nn_last_status(), "%s: y", fn);
    }
    out->images = tx;
    out->labels = ty;
    return NN_OK;
}

/* Items idx[0..n) of src [N, ...] (any strides) into a new contiguous [n, ...]. */
static nn_tensor *take_items(const nn_tensor *src, const int64_t *idx, int64_t n)
{
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, src->shape, (size_t)src->ndim * sizeof *shape);
    shape[0] = n;
    nn_tensor *t = nn_tensor_new(src->ndim, shape);
    if (!t)
        return NULL;
    nn_tensor item = {.ndim = src->ndim - 1, .storage = src->storage};
    memcpy(item.shape, src->shape + 1, (size_t)item.ndim * sizeof *item.shape);
    memcpy(item.stride, src->stride + 1, (size_t)item.ndim * sizeof *item.stride);
    int64_t size = nn_tensor_numel(&item);
    for (int64_t i = 0; i < n && size; i++) {
        item.data = src->data + idx[i] * src->stride[0];
        nn_tensor_gather(&item, t->data + i * size);
    }
    return t;
}

int nn_dataset_split(const nn_dataset *d, const double fractions[3], bool shuffle, nn_dataset *train,
                     nn_dataset *val, nn_dataset *test)
{
    const char *fn = "nn_dataset_split";
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!d || !d->images || !d->labels || !fractions || !train)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn,
                       !d ? "dataset" : !d->images ? "dataset's images" : !d->labels ? "dataset's labels"
                       : !fractions ? "fractions" : "train");
    int rc = nn_tensor_check(fn, "images", d->images);
    if (rc >= 0)
        rc = nn_tensor_check(fn, "labels", d->labels);
    if (rc < 0)
        return rc;
    if (d->images->ndim < 1 || d->labels->ndim < 1 || d->images->shape[0] != d->labels->shape[0])
        return nn_fail(NN_ESHAPE, "%s: images %s and labels %s must have the same first dimension", fn,
                       nn_tensor_shape_str(d->images, a), nn_tensor_shape_str(d->labels, b));
    double sum = 0;
    for (int k = 0; k < 3; k++) {
        if (!(fractions[k] >= 0 && fractions[k] <= 1))
            return nn_fail(NN_EINVAL, "%s: fractions[%d] = %g: expected a fraction in [0, 1]", fn, k, fractions[k]);
        sum += fractions[k];
    }
    if (fabs(sum - 1) > 1e-6)
        return nn_fail(NN_EINVAL, "%s: fractions %g, %g, %g sum to %.9g, expected 1", fn, fractions[0], fractions[1],
                       fractions[2], sum);
    const int64_t n = d->images->shape[0];
    int64_t len[3], total = 0;
    for (int k = 0; k < 3; k++)
        total += len[k] = (int64_t)floor((double)n * fractions[k]);
    for (int64_t i = 0; i < n - total; i++) /* random_split's remainder, round robin */
        len[i % 3]++;
    int64_t *idx = nn_alloc_zeroed((size_t)(n ? n : 1), sizeof *idx);
    if (!idx)
        return nn_fail_context(NN_ENOMEM, "%s", fn);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    uint8_t state[NN_RANDOM_STATE_BYTES];
    if (shuffle) {
        nn_random_get_state(state); /* put back if a copy fails: a failed call changes nothing */
        for (int64_t i = 0; i + 1 < n; i++) { /* torch.randperm, CPU */
            int64_t z = (int64_t)(nn_random_u32() % (uint64_t)(n - i));
            int64_t t = idx[i];
            idx[i] = idx[i + z];
            idx[i + z] = t;
        }
    }
    nn_dataset parts[3] = {{0}};
    nn_dataset *outs[3] = {train, val, test};
    int64_t at = 0;
    rc = NN_OK;
    for (int k = 0; k < 3 && rc == NN_OK; at += len[k], k++) {
        if (!outs[k])
            continue;
        parts[k].images = take_items(d->images, idx + at, len[k]);
        parts[k].labels = parts[k].images ? take_items(d->labels, idx + at, len[k]) : NULL;
        if (!parts[k].labels)
            rc = nn_fail_context(NN_ENOMEM, "%s", fn);
    }
    nn_release(idx);
    if (rc != NN_OK) {
        for (int k = 0; k < 3; k++)
            nn_dataset_free(&parts[k]);
        if (shuffle)
            nn_random_set_state(state);
        return rc;
    }
    for (int k = 0; k < 3; k++)
        if (outs[k])
            *outs[k] = parts[k];
    return NN_OK;
}

nn_window_opts nn_window_defaults(int64_t input_len)
{
    return (nn_window_opts){.input_len = input_len, .horizon = 1, .stride = 1, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

static int check_columns(const char *fn, const char *field, const int *cols, int n, int64_t f)
{
    if (n < 0 || (n > 0 && !cols) || (n == 0 && cols))
        return nn_fail(NN_EINVAL, "%s: nn_window_opts.%s: expected num_%s > 0 with the array, or 0 with NULL (every column); got %d%s",
                       fn, field, field, n, cols ? " with an array" : " with NULL");
    for (int k = 0; k < n; k++)
        if (cols[k] < 0 || cols[k] >= f)
            return nn_fail(NN_EINVAL, "%s: nn_window_opts.%s[%d] = %d: expected a column index below %lld", fn, field,
                           k, cols[k], (long long)f);
    return NN_OK;
}

int nn_sliding_windows(const nn_tensor *series, const nn_window_opts *o, nn_dataset *out)
{
    const char *fn = "nn_sliding_windows";
    char a[NN_SHAPE_STR_LEN];
    if (!o || !out)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn, !o ? "options (input_len has no default)" : "out");
    int rc = nn_tensor_check(fn, "series", series);
    if (rc < 0)
        return rc;
    if (series->ndim != 2)
        return nn_fail(NN_ESHAPE, "%s: expected a series [T, F], got %s", fn, nn_tensor_shape_str(series, a));
    int by_hand = nn_opts_by_hand(fn, "nn_window_opts", "nn_window_defaults", o->from_defaults);
    if (by_hand < 0)
        return by_hand;
    int64_t len = o->input_len, h = o->horizon, stride = o->stride;
    if (by_hand) {
        h = h ? h : 1;
        stride = stride ? stride : 1;
    }
    if (len < 1 || h < 1 || stride < 1)
        return nn_fail(NN_EINVAL, "%s: nn_window_opts.%s: expected at least 1, got %lld", fn,
                       len < 1 ? "input_len" : h < 1 ? "horizon" : "stride",
                       (long long)(len < 1 ? len : h < 1 ? h : stride));
    const int64_t t = series->shape[0], f = series->shape[1];
    if ((rc = check_columns(fn, "input_columns", o->input_columns, o->num_input_columns, f)) < 0 ||
        (rc = check_columns(fn, "target_columns", o->target_columns, o->num_target_columns, f)) < 0)
        return rc;
    if (len > t || h > t - len)
        return nn_fail(NN_ESHAPE, "%s: a series of %lld steps is shorter than input_len %lld + horizon %lld", fn,
                       (long long)t, (long long)len, (long long)h);
    const int64_t n = (t - len - h) / stride + 1;
    const int64_t fin = o->num_input_columns ? o->num_input_columns : f;
    const int64_t fout = o->num_target_columns ? o->num_target_columns : f;
    int64_t hf;
    if (nn_mul_overflows(h, fout, &hf))
        return nn_fail(NN_ENOMEM, "%s: horizon * target columns overflows", fn);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(n, len, fin));
    if (!x)
        return nn_fail_context(nn_last_status(), "%s: inputs", fn);
    nn_tensor *y = nn_tensor_new(NN_SHAPE(n, hf));
    if (!y) {
        nn_tensor_free(x);
        return nn_fail_context(nn_last_status(), "%s: targets", fn);
    }
    const float *s = series->data;
    const int64_t s0 = series->stride[0], s1 = series->stride[1];
    float *px = x->data, *py = y->data;
    for (int64_t i = 0; i < n; i++) {
        const int64_t start = i * stride;
        for (int64_t r = start; r < start + len; r++)
            for (int64_t j = 0; j < fin; j++)
                *px++ = s[r * s0 + (o->num_input_columns ? o->input_columns[j] : j) * s1];
        for (int64_t r = start + len; r < start + len + h; r++)
            for (int64_t j = 0; j < fout; j++)
                *py++ = s[r * s0 + (o->num_target_columns ? o->target_columns[j] : j) * s1];
    }
    out->images = x;
    out->labels = y;
    return NN_OK;
}
