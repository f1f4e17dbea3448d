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
    /* augmentation of every image: crop (crop_h 0: none) after zero
       padding, then a horizontal flip with probability flip_p */
    int crop_h, crop_w, pad;
    bool flip; /* draws for every image, even at p 0, as torchvision does */
    float flip_p;
    /* DistributedSampler: world 0 when not sharded; perm holds the
       epoch's permutation of all n items (seed + epoch), count the
       rank's items per epoch */
    int rank, world;
    uint64_t seed;
    int64_t epoch, count;
    bool shard_drop_last;
    int64_t *perm;
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

/* torch.utils.data.DistributedSampler's __iter__: the permutation of
   seed + epoch (or 0 .. n-1 unshuffled), padded with its own start up to
   total_size (or cut to it with drop_last), then every world-th item from
   rank on. Item i of the padded list is perm[i % n]. */
static void shard_order(nn_dataloader *dl)
{
    if (dl->shuffle)
        nn_randperm(dl->n, dl->seed + (uint64_t)dl->epoch, dl->perm);
    else
        for (int64_t i = 0; i < dl->n; i++)
            dl->perm[i] = i;
    for (int64_t k = 0; k < dl->count; k++)
        dl->order[k] = dl->perm[(dl->rank + k * dl->world) % dl->n];
}

static void reshuffle(nn_dataloader *dl)
{
    if (dl->world) {
        shard_order(dl);
        return;
    }
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
    int64_t n = dl->world ? dl->count : dl->n;
    return dl->drop_last ? n / dl->batch_size : (n + dl->batch_size - 1) / dl->batch_size;
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

static int resize_batch(nn_tensor *slot, const nn_tensor *src, int64_t count, int crop_h, int crop_w)
{
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, src->shape, (size_t)src->ndim * sizeof *shape);
    shape[0] = count;
    if (crop_h) {
        shape[2] = crop_h;
        shape[3] = crop_w;
    }
    return nn_tensor_resize(slot, src->ndim, shape, src);
}

/* torch.randint(0, n, (1,)) on the library generator: random() % n */
static int64_t randint_below(int64_t n) { return (int64_t)(nn_random_u32() % (uint32_t)n); }

static bool augmenting(const nn_dataloader *dl) { return dl->crop_h || dl->flip; }

/* Items order[0 .. count) of images [N, C, H, W] (any strides) into dst
   [count, C, OH, OW], each as torchvision's RandomCrop(size, padding)
   then RandomHorizontalFlip(p) make it: the padded image's window at
   (i, j) drawn uniformly (i first), zeros where it covers padding, then
   mirrored left-right when a uniform draw is below p. */
static void augment_items(const nn_dataloader *dl, const int64_t *order, int64_t count, float *dst)
{
    const nn_tensor *src = &dl->images;
    int64_t C = src->shape[1], H = src->shape[2], W = src->shape[3];
    int64_t OH = dl->crop_h ? dl->crop_h : H, OW = dl->crop_w ? dl->crop_w : W;
    int64_t pad = dl->crop_h ? dl->pad : 0;
    for (int64_t k = 0; k < count; k++) {
        int64_t top = 0, left = 0;
        if (dl->crop_h) { /* torchvision draws nothing when the window fills the image */
            int64_t room_h = H + 2 * pad - OH + 1, room_w = W + 2 * pad - OW + 1;
            if (room_h > 1 || room_w > 1) {
                top = randint_below(room_h);
                left = randint_below(room_w);
            }
        }
        bool flip = dl->flip && nn_random_uniform(0.0, 1.0) < dl->flip_p;
        const float *img = src->data + order[k] * src->stride[0];
        float *out = dst + k * C * OH * OW;
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < OH; y++) {
                int64_t sy = y + top - pad;
                float *row = out + (c * OH + y) * OW;
                for (int64_t x = 0; x < OW; x++) {
                    int64_t sx = (flip ? OW - 1 - x : x) + left - pad;
                    bool inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
                    row[x] = inside ? img[c * src->stride[1] + sy * src->stride[2] + sx * src->stride[3]] : 0.0f;
                }
            }
    }
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
    int64_t left = (dl->world ? dl->count : dl->n) - dl->cursor;
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
    int rc = resize_batch(&dl->x, &dl->images, count, dl->crop_h, dl->crop_w);
    if (rc == NN_OK)
        rc = resize_batch(&dl->y, &dl->labels, count, 0, 0);
    if (rc < 0) {
        dl->status = nn_fail_context(rc, "nn_dataloader_next: batch of %lld items", (long long)count);
        return false;
    }
    if (augmenting(dl))
        augment_items(dl, dl->order + dl->cursor, count, dl->x.data);
    else
        gather_items(&dl->images, dl->order + dl->cursor, count, dl->x.data);
    gather_items(&dl->labels, dl->order + dl->cursor, count, dl->y.data);
    dl->cursor += count;
    *x = &dl->x;
    *y = &dl->y;
    dl->status = NN_OK;
    return true;
}

nn_random_crop_opts nn_random_crop_defaults(int size)
{
    return (nn_random_crop_opts){.size_h = size, .size_w = size, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

/* Augmentation works on [N, C, H, W] images. */
static int check_images(const nn_dataloader *dl, const char *fn)
{
    char a[NN_SHAPE_STR_LEN];
    if (!dl)
        return nn_fail(NN_EINVAL, "%s: loader is NULL", fn);
    if (dl->images.ndim != 4)
        return nn_fail(NN_ESHAPE, "%s: expected images [N, C, H, W], got shape %s", fn,
                       nn_tensor_shape_str(&dl->images, a));
    return NN_OK;
}

int nn_dataloader_random_crop(nn_dataloader *dl, const nn_random_crop_opts *o)
{
    const char *fn = "nn_dataloader_random_crop";
    int rc = check_images(dl, fn);
    if (rc < 0)
        return rc;
    if (!o)
        return nn_fail(NN_EINVAL, "%s: options are NULL", fn);
    rc = nn_opts_by_hand(fn, "nn_random_crop_opts", "nn_random_crop_defaults", o->from_defaults);
    if (rc < 0)
        return rc;
    if (o->size_h < 1 || o->size_w < 1 || o->padding < 0)
        return nn_fail(NN_EINVAL, "%s: expected a positive size and padding >= 0, got size (%d, %d), padding %d", fn,
                       o->size_h, o->size_w, o->padding);
    int64_t ph = dl->images.shape[2] + 2 * (int64_t)o->padding, pw = dl->images.shape[3] + 2 * (int64_t)o->padding;
    if (o->size_h > ph || o->size_w > pw) /* torchvision: "Required crop size ... is larger than input image size" */
        return nn_fail(NN_ESHAPE, "%s: required crop size (%d, %d) is larger than the padded image size (%lld, %lld)",
                       fn, o->size_h, o->size_w, (long long)ph, (long long)pw);
    if (dl->in_epoch && (o->size_h != dl->x.shape[2] || o->size_w != dl->x.shape[3]))
        return nn_fail(NN_EINVAL, "%s: the batch size changes mid-epoch; set it between epochs", fn);
    dl->crop_h = o->size_h;
    dl->crop_w = o->size_w;
    dl->pad = o->padding;
    return NN_OK;
}

int nn_dataloader_random_horizontal_flip(nn_dataloader *dl, float p)
{
    const char *fn = "nn_dataloader_random_horizontal_flip";
    int rc = check_images(dl, fn);
    if (rc < 0)
        return rc;
    if (!(p >= 0.0f && p <= 1.0f))
        return nn_fail(NN_EINVAL, "%s: expected 0 <= p <= 1, got %g", fn, (double)p);
    dl->flip = true;
    dl->flip_p = p;
    return NN_OK;
}

int nn_dataloader_set_shard(nn_dataloader *dl, int rank, int world_size, uint64_t seed, bool drop_last)
{
    const char *fn = "nn_dataloader_set_shard";
    if (!dl)
        return nn_fail(NN_EINVAL, "%s: loader is NULL", fn);
    if (world_size < 1 || rank < 0 || rank >= world_size)
        return nn_fail(NN_EINVAL, "%s: expected 0 <= rank < world_size, got rank %d, world_size %d", fn, rank,
                       world_size);
    if (dl->in_epoch)
        return nn_fail(NN_EINVAL, "%s: the loader is in the middle of an epoch; call it between epochs", fn);
    /* torch: num_samples = ceil((n - w) / w) when dropping an uneven
       tail, else ceil(n / w) */
    int64_t n = dl->n, w = world_size;
    int64_t count = drop_last && n % w ? (n - w + w - 1) / w : (n + w - 1) / w;
    if (count < 0)
        count = 0;
    if (count > 0 && !dl->perm) {
        dl->perm = nn_alloc_zeroed((size_t)n, sizeof *dl->perm);
        if (!dl->perm)
            return nn_fail_context(NN_ENOMEM, "%s", fn);
    }
    dl->rank = rank;
    dl->world = world_size;
    dl->seed = seed;
    dl->shard_drop_last = drop_last;
    dl->count = count;
    return NN_OK;
}

int nn_dataloader_set_epoch(nn_dataloader *dl, int64_t epoch)
{
    if (!dl)
        return nn_fail(NN_EINVAL, "nn_dataloader_set_epoch: loader is NULL");
    if (epoch < 0)
        return nn_fail(NN_EINVAL, "nn_dataloader_set_epoch: expected epoch >= 0, got %lld", (long long)epoch);
    dl->epoch = epoch;
    return NN_OK;
}

int nn_dataloader_no_augmentation(nn_dataloader *dl)
{
    if (!dl)
        return nn_fail(NN_EINVAL, "nn_dataloader_no_augmentation: loader is NULL");
    if (dl->in_epoch && dl->crop_h)
        return nn_fail(NN_EINVAL, "nn_dataloader_no_augmentation: the batch size changes mid-epoch; call it "
                                  "between epochs");
    dl->crop_h = dl->crop_w = dl->pad = 0;
    dl->flip = false;
    dl->flip_p = 0.0f;
    return NN_OK;
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
    nn_release(dl->perm);
    nn_release(dl);
}
