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

/* --- Tables and series: datasets from arrays, splits, scalers, windows */

/* A dataset holding copies of the caller's arrays: images = x with shape
   x_shape (x_ndim >= 1 dims, the first one N), labels = y with shape
   y_shape (first dim N too): features [N, F] and targets [N, T] or [N]
   (class indices for cross-entropy), or any shapes with the same first
   dimension. Pass shapes with NN_SHAPE:
       nn_dataset_from_arrays(x, NN_SHAPE(100, 3), y, NN_SHAPE(100, 1), &d);
   The DataLoader batches it as any dataset ([B, F] and [B, T]). NN_OK and
   *out filled, or a negative nn_status and *out untouched. */
int nn_dataset_from_arrays(const float *x, int x_ndim, const int64_t *x_shape, const float *y, int y_ndim,
                           const int64_t *y_shape, nn_dataset *out);

/* Splits d into train, validation and test parts (new datasets: copies,
   d is unchanged) of sizes from fractions[3] (each in [0, 1], summing to
   1 within 1e-6) as torch.utils.data.random_split computes lengths from
   fractions: floor(N * fraction) each, then the remaining items one at a
   time to train, val, test, train, ... in turn. Not shuffled (the
   chronological split for series: train is the first part, test the
   last), items keep their order; shuffled: the items are permuted first
   as torch.randperm(N) on the CPU draws it from the library generator
   (for i < N - 1: swap item i with item i + u32 % (N - i)), so
   nn_manual_seed(s) makes the split reproducible. A part may be empty
   (first dimension 0). On failure nothing is allocated and the three
   outputs are untouched. val and test may be NULL to drop those parts. */
int nn_dataset_split(const nn_dataset *d, const double fractions[3], bool shuffle, nn_dataset *train,
                     nn_dataset *val, nn_dataset *test);

/* Scalers, per column (the last dimension of the tensors, all the leading
   dimensions being rows), as scikit-learn's:
   - nn_standard_scaler: StandardScaler: fit stores mean and the
     population standard deviation (ddof 0), computed in double; a
     constant column (variance within rounding of 0) gets scale 1;
     transform x = (x - mean) / scale, inverse x = x * scale + mean.
   - nn_minmax_scaler(lo, hi): MinMaxScaler(feature_range=(lo, hi)), lo <
     hi: scale = (hi - lo) / (max - min) (1 for a constant column), offset =
     lo - min * scale, in float as scikit-learn does for float32 data;
     transform x = x * scale + offset, inverse x = (x - offset) / scale.
   Fit on the training part only, then transform every part; inverse
   transform predictions back to the data's units. NaN cells are ignored by
   fit and stay NaN, as scikit-learn does; an infinite cell, or a column
   with no number, is refused. transform and inverse_transform work in
   place on any (strided) tensor whose last dimension is the number of
   fitted columns. The _columns forms take a tensor whose last dimension
   holds only the fitted columns columns[0..n) (predictions of the target
   columns of a scaled series, say). Each returns NN_OK or a negative
   nn_status and changes nothing; refit replaces the previous fit. */
typedef struct nn_scaler nn_scaler;
nn_scaler *nn_standard_scaler(void);
nn_scaler *nn_minmax_scaler(float lo, float hi);
int nn_scaler_fit(nn_scaler *s, const nn_tensor *x);
int nn_scaler_transform(const nn_scaler *s, nn_tensor *x);
int nn_scaler_inverse_transform(const nn_scaler *s, nn_tensor *x);
int nn_scaler_transform_columns(const nn_scaler *s, nn_tensor *x, const int *columns, int n);
int nn_scaler_inverse_transform_columns(const nn_scaler *s, nn_tensor *x, const int *columns, int n);
/* Number of fitted columns: 0 before a fit, -1 on NULL. */
int64_t nn_scaler_num_features(const nn_scaler *s);
void nn_scaler_free(nn_scaler *s); /* NULL: no-op */

/* Sliding windows over a series [T, F] (rows are time steps, oldest
   first) as a dataset: window i starts at row s = i * stride and gives
   images [N, input_len, F_in] = rows s .. s+input_len-1 of the input
   columns, and labels [N, horizon * F_out] = rows s+input_len ..
   s+input_len+horizon-1 of the target columns, flattened time-major
   (element h * F_out + j is step h of target column j), so a model's
   [B, horizon * F_out] output compares with it directly (reshape to
   [N, horizon, F_out] if wanted: contiguous). N = (T - input_len -
   horizon) / stride + 1, which must be at least 1. Options rule
   nn/opts.h: by hand, horizon 0 means 1, stride 0 means 1, input_columns
   NULL with num_input_columns 0 means every column, and so do the target
   ones; input_len has no default (0 is refused). */
typedef struct {
    int64_t input_len, horizon, stride;
    const int *input_columns;
    int num_input_columns;
    const int *target_columns;
    int num_target_columns;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_window_defaults, else 0 */
} nn_window_opts;
nn_window_opts nn_window_defaults(int64_t input_len); /* horizon 1, stride 1, every column both ways */
int nn_sliding_windows(const nn_tensor *series, const nn_window_opts *o, nn_dataset *out);

/* --- Helpers for evaluating a classifier */

/* Index of the largest element of each row of x [N, C] (the first one on
   ties, NaN counting as the largest, as torch.argmax), as floats [N]
   (class indices, like the datasets' labels). New tensor; NULL on error. */
nn_tensor *nn_argmax(const nn_tensor *x);
/* Fraction of rows of logits [N, C] whose argmax equals labels [N] (class
   indices as floats); NaN on error (shapes, N == 0). */
float nn_accuracy(const nn_tensor *logits, const nn_tensor *labels);
/* Softmax of each row of x [N, C] (torch.softmax(x, dim=1): max
   subtracted, exp, divided by the sum), as a new contiguous tensor; NULL
   on error. */
nn_tensor *nn_softmax_rows(const nn_tensor *x);

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
