/* libnn: datasets (MNIST / Fashion-MNIST, CIFAR-10) and a DataLoader that
   yields mini-batches, like torchvision's datasets + torch.utils.data. */
#ifndef NN_DATA_H
#define NN_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "opts.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* images [N, C, H, W] floats in [0, 1] (byte / 255, as ToTensor()),
   labels [N] class indices stored as floats. Both owned by the dataset:
   release them with nn_dataset_free. */
typedef struct {
    nn_tensor *images;
    nn_tensor *labels;
} nn_dataset;

/* MNIST / Fashion-MNIST IDX files in dir, named as shipped:
   train-images-idx3-ubyte + train-labels-idx1-ubyte (train) or t10k-... (test),
   each raw or with .gz appended (decompressed in-process, no zlib, no child
   process). Images come out as [N, 1, rows, cols]. Returns NN_OK and fills
   *out, or a negative nn_status with a message naming the file and the
   problem; on failure *out is left untouched. */
int nn_mnist_load(const char *dir, bool train, nn_dataset *out);

/* CIFAR-10 binary version: data_batch_1.bin .. data_batch_5.bin (train) or
   test_batch.bin, in dir or in dir/cifar-10-batches-bin. Images
   [N, 3, 32, 32]. Same status and failure contract as nn_mnist_load. */
int nn_cifar10_load(const char *dir, bool train, nn_dataset *out);

/* In place, every image: x[c] = (x[c] - mean[c]) / std[c] for each channel
   c < channels, as torchvision's transforms.Normalize(mean, std) (the
   tutorial's CIFAR-10 loader uses 0.5 and 0.5 for every channel: values
   land in [-1, 1]). channels must equal images->shape[1]; mean finite,
   std finite and nonzero; the images contiguous (as the loaders make
   them). Otherwise a negative nn_status and nothing changes. Loaders
   already made from d share its images and see the change. */
int nn_dataset_normalize(nn_dataset *d, int channels, const float *mean, const float *std);

/* Frees both tensors and sets them to NULL. NULL or an empty dataset: no-op. */
void nn_dataset_free(nn_dataset *d);

/* Mini-batches over a dataset. The loader keeps its own reference to the
   dataset's tensors (freeing the dataset first is safe). Shuffling draws
   from the library generator (nn_manual_seed) and happens again at the
   start of every epoch. The last partial batch is kept unless drop_last.
   The caller owns the loader (nn_dataloader_free). */
typedef struct nn_dataloader nn_dataloader;
nn_dataloader *nn_dataloader_new(const nn_dataset *d, int64_t batch_size, bool shuffle, bool drop_last);

/* Stores the next batch in *x ([B, ...image dims]) and *y ([B, ...label dims]),
   both owned by the loader and valid until its next call or free, and
   returns true. Returns false when there is no batch: at the end of an
   epoch (the call after that starts a new one), or on a failure (NULL
   arguments, no memory for the first batch). nn_dataloader_status tells
   the two apart; the loop:

       nn_tensor *x, *y;
       while (nn_dataloader_next(dl, &x, &y)) {
           ... one training step on x, y ...
       }
       if (nn_dataloader_status(dl) < 0)
           ... nn_last_error() says what failed ...

   A clean end of an epoch also clears this thread's last error
   (nn_clear_error), so nn_last_error() is "" right after the loop unless
   something failed. A failed call changes nothing: the next call retries
   the same batch. After the first batch it allocates nothing. */
bool nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y);

/* Outcome of the loader's last nn_dataloader_next: NN_OK while batches
   come, after a clean end of an epoch and before the first call; the
   negative nn_status of the failure when that call failed (its message is
   in nn_last_error()). NULL loader: NN_EINVAL (a NULL loader passed to
   nn_dataloader_next has no status to keep: that call's false is always
   a failure). */
nn_status nn_dataloader_status(const nn_dataloader *dl);

/* Number of batches per epoch, like len(loader); -1 on NULL. */
int64_t nn_dataloader_len(const nn_dataloader *dl);

/* Augmentation of every image the loader hands out (images [N, C, H, W]),
   as torchvision's transforms applied per sample, in this order:
   RandomCrop(size, padding): zeros added on every side, then a window of
   size_h x size_w at a uniformly drawn place (the batch tensor then has
   that size); RandomHorizontalFlip(p): each image mirrored left-right
   with probability p. The draws come from the library generator, image by
   image (crop row, crop column, flip), so a seeded run reproduces and a
   run resumed with nn_random_set_state continues exactly. Labels are
   unchanged; nothing is allocated per batch. Options rule:
   nn/opts.h (written by hand: padding 0 means none). A crop larger than
   the padded image is refused; so is p outside [0, 1]. Set them between
   epochs (a crop size change mid-epoch is refused). Like the transforms,
   a flip with p 0 still draws its number per image, and a crop the size
   of the padded image draws none; nn_dataloader_no_augmentation turns
   both off. */
typedef struct {
    int size_h, size_w; /* the crop */
    int padding;        /* zeros on each side before cropping */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_random_crop_defaults, else 0 */
} nn_random_crop_opts;
nn_random_crop_opts nn_random_crop_defaults(int size); /* square, padding 0 */
int nn_dataloader_random_crop(nn_dataloader *dl, const nn_random_crop_opts *o);
int nn_dataloader_random_horizontal_flip(nn_dataloader *dl, float p);
int nn_dataloader_no_augmentation(nn_dataloader *dl);

/* Data-parallel training: this loader yields only rank's share of every
   epoch, as DataLoader(d, batch_size, sampler=DistributedSampler(d,
   num_replicas=world_size, rank=rank, shuffle=<the loader's shuffle>,
   seed=seed, drop_last=drop_last), drop_last=<the loader's drop_last>)
   does in torch 1.13, index for index. Each epoch's order is one
   permutation of the whole dataset shared by all ranks: torch.randperm(n)
   from a generator seeded seed + epoch (nn_randperm; the library generator
   is not used, so augmentation still draws from it), or 0 .. n-1 when the
   loader does not shuffle. With drop_last false it is padded with its own
   start to a multiple of world_size (each rank gets ceil(n / world_size)
   items), with drop_last true cut to one (floor); rank takes the items at
   rank, rank + world_size, ... So the ranks' shares are disjoint (but for
   the padding) and equal, and rank r's batch k of every rank together is
   the single loader's batch k of world_size times the size with
   nn_dataloader_set_shard(dl, 0, 1, seed, false). world_size 1 works
   (the whole permutation). Call it between epochs; NN_OK, or NN_EINVAL
   for rank outside [0, world_size) / mid-epoch, NN_ENOMEM (one array of n
   indices, allocated here: epochs allocate nothing). The epoch number
   starts at 0; nn_dataloader_set_epoch(dl, e) before epoch e, as torch's
   sampler.set_epoch(e) (otherwise every epoch has the same order): it
   takes effect when the next epoch starts. nn_dataloader_len then counts
   the rank's batches. */
int nn_dataloader_set_shard(nn_dataloader *dl, int rank, int world_size, uint64_t seed, bool drop_last);
int nn_dataloader_set_epoch(nn_dataloader *dl, int64_t epoch);

void nn_dataloader_free(nn_dataloader *dl); /* NULL: no-op */

#ifdef __cplusplus
}
#endif
#endif
