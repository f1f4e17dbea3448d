/* DataLoader: mini-batches gathered from a dataset in order or in a random
   permutation (Fisher-Yates over the library generator, redrawn every
   epoch). Batch tensors are slots resized on the first batch and reused.
   Each call of nn_dataloader_next records its outcome in status, so that
   the caller can tell its false at the end of an epoch from its false on a
   failure (nn_dataloader_status). */
#include <string.h>

#include "tensor/tensor_impl.h"
#include "nn/data.h"
#include "nn/random.h"

struct nn_dataloader {
    nn_tensor images, labels; /* views holding a reference to the dataset */
    int64_t n, batch_size, cursor;
    bool shuffle, drop_last, in_epoch;
    int64_t *order; /* item indices of the current epoch */
    nn_tensor x, y; /* the current batch */
    nn_status status; /* of the last nn_dataloader_next: NN_OK or why it failed */
};

/* Uniform in [0, bound) without modulo bias. */
static uint64_t random_below(uint64_t bound)
{
    if (bound <= UINT32_MAX) {
        uint32_t b = (uint32_t)bound, limit = UINT32_MAX - UINT32_MAX % b;
        uint32_t r;
        do
            r = nn_random_u32();
        while (r >= limit);
        return r % b;
    }
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound, r;
    do
        r = (uint64_t)nn_random_u32() << 32 | nn_random_u32();
    while (r >= limit);
    return r % bound;
}

static void reshuffle(nn_dataloader *dl)
{
    for (int64_t i = 0; i < dl->n; i++)
        dl->order[i] = i;
    if (!dl->shuffle)
        return;
    for (int64_t i = dl->n - 1; i > 0; i--) {
        int64_t j = (int64_t)random_below((uint64_t)i + 1);
        int64_t t = dl->order[i];
        dl->order[i] = dl->order[j];
        dl->order[j] = t;
    }
}

nn_dataloader *nn_dataloader_new(const nn_dataset *d, int64_t batch_size, bool shuffle, bool drop_last)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!d || !d->images || !d->labels)
        return nn_fail_null(NN_EINVAL, "nn_dataloader_new: dataset %s is NULL",
                            !d ? "" : !d->images ? "images" : "labels");
    if (d->images->ndim < 1 || d->labels->ndim < 1 || d->images->shape[0] != d->labels->shape[0])
        return nn_fail_null(NN_ESHAPE, "nn_dataloader_new: images %s and labels %s must have the same first dimension",
                            nn_tensor_shape_str(d->images, a), nn_tensor_shape_str(d->labels, b));
    if (batch_size < 1)
        return nn_fail_null(NN_EINVAL, "nn_dataloader_new: batch_size must be positive, got %lld",
                            (long long)batch_size);
    nn_dataloader *dl = nn_alloc_zeroed(1, sizeof *dl);
    if (!dl)
        return NULL;
    dl->n = d->images->shape[0];
    dl->order = nn_alloc_zeroed((size_t)(dl->n ? dl->n : 1), sizeof *dl->order);
    if (!dl->order) {
        nn_release(dl);
        return NULL;
    }
    nn_tensor_retain_into(&dl->images, d->images);
    nn_tensor_retain_into(&dl->labels, d->labels);
    dl->batch_size = batch_size;
    dl->shuffle = shuffle;
    dl->drop_last = drop_last;
    dl->status = NN_OK;
    return dl;
}

int64_t nn_dataloader_len(const nn_dataloader *dl)
{
    if (!dl)
        return -1;
    return dl->drop_last ? dl->n / dl->batch_size : (dl->n + dl->batch_size - 1) / dl->batch_size;
}

/* Copies items order[from .. from+count) of src (any strides) into dst rows. */
static void gather_items(const nn_tensor *src, const int64_t *order, int64_t count, float *dst)
{
    nn_tensor item = {.ndim = src->ndim - 1, .storage = src->storage};
    memcpy(item.shape, src->shape + 1, (size_t)item.ndim * sizeof *item.shape);
    memcpy(item.stride, src->stride + 1, (size_t)item.ndim * sizeof *item.stride);
    int64_t size = nn_tensor_numel(&item);
    for (int64_t i = 0; i < count; i++) {
        item.data = src->data + order[i] * src->stride[0];
        nn_tensor_gather(&item, dst + i * size);
    }
}

static int resize_batch(nn_tensor *slot, const nn_tensor *src, int64_t count)
{
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, src->shape, (size_t)src->ndim * sizeof *shape);
    shape[0] = count;
    return nn_tensor_resize(slot, src->ndim, shape, src);
}

bool nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y)
{
    if (!dl) {
        nn_fail(NN_EINVAL, "nn_dataloader_next: loader is NULL");
        return false;
    }
    if (!x || !y) {
        dl->status = nn_fail(NN_EINVAL, "nn_dataloader_next: output pointer %s is NULL", !x ? "x" : "y");
        return false;
    }
    if (!dl->in_epoch) {
        reshuffle(dl);
        dl->cursor = 0;
        dl->in_epoch = true;
    }
    int64_t left = dl->n - dl->cursor;
    int64_t count = left < dl->batch_size ? left : dl->batch_size;
    if (count == 0 || (dl->drop_last && count < dl->batch_size)) {
        dl->in_epoch = false;
        dl->status = NN_OK;
        nn_clear_error(); /* a clean end: no failure left to report */
        return false;
    }
    /* the first batch is the largest: later ones reuse its storage. A
       failure leaves cursor and order as they were: the next call retries
       this batch. */
    int rc = resize_batch(&dl->x, &dl->images, count);
    if (rc == NN_OK)
        rc = resize_batch(&dl->y, &dl->labels, count);
    if (rc < 0) {
        dl->status = nn_fail_context(rc, "nn_dataloader_next: batch of %lld items", (long long)count);
        return false;
    }
    gather_items(&dl->images, dl->order + dl->cursor, count, dl->x.data);
    gather_items(&dl->labels, dl->order + dl->cursor, count, dl->y.data);
    dl->cursor += count;
    *x = &dl->x;
    *y = &dl->y;
    dl->status = NN_OK;
    return true;
}

nn_status nn_dataloader_status(const nn_dataloader *dl)
{
    if (!dl)
        return (nn_status)nn_fail(NN_EINVAL, "nn_dataloader_status: loader is NULL");
    return dl->status;
}

void nn_dataloader_free(nn_dataloader *dl)
{
    if (!dl)
        return;
    nn_tensor_release(&dl->images);
    nn_tensor_release(&dl->labels);
    nn_tensor_release(&dl->x);
    nn_tensor_release(&dl->y);
    nn_release(dl->order);
    nn_release(dl);
}
