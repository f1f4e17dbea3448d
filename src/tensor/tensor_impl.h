/* Internal: tensors embedded in modules, shape checks and row walks shared
   by every floor above this one (src/tensor/). Not installed. */
#ifndef NN_TENSOR_IMPL_H
#define NN_TENSOR_IMPL_H

#include "base/base.h"

/* --- tensors embedded in modules (tensor.c).
   A zero-initialised nn_tensor is an empty slot. */
struct nn_storage {
    float *data;
    int64_t capacity; /* elements */
    int refcount;
};
/* Makes t a contiguous tensor of the given shape on storage it holds,
   reusing its current storage when large enough and not avoid's storage
   (avoid may be NULL). New storage is not zeroed. On failure t is
   unchanged. */
int nn_tensor_resize(nn_tensor *t, int ndim, const int64_t *shape, const nn_tensor *avoid);
/* Makes dst a view of src (shares and retains src's storage). */
void nn_tensor_retain_into(nn_tensor *dst, const nn_tensor *src);
/* Drops t's storage reference and empties the slot. */
void nn_tensor_release(nn_tensor *t);
/* Allocates a stand-alone tensor header viewing t's storage. */
nn_tensor *nn_tensor_view_new(const nn_tensor *t);

/* Moves the elements of n contiguous tensors into one new storage, back to
   back in the given order, and re-points each tensor at its part (values
   kept; old storages dropped; no alignment padding between parts). Used to
   keep a model's parameters (and gradients) in one flat block. Tensors
   already laid out so are left alone. On failure nothing changes. */
int nn_tensor_pack(nn_tensor *const *ts, int n);
/* True when ts[0..n) lie back to back in one storage, as nn_tensor_pack leaves them. */
bool nn_tensor_is_packed(nn_tensor *const *ts, int n);

/* NN_OK when t is a usable tensor argument of public function fn (named
   `what` in the message): not NULL, 0..NN_MAX_DIMS dimensions, sizes >= 0
   whose product fits, data present unless empty. */
int nn_tensor_check(const char *fn, const char *what, const nn_tensor *t);
bool nn_tensor_same_shape(const nn_tensor *a, const nn_tensor *b);
void nn_tensor_set_contiguous_strides(nn_tensor *t);
/* Walks a (possibly strided) tensor one innermost row at a time, in
   row-major order: `for (nn_rows_begin(&r, t); nn_rows_next(&r);)` visits
   r.row[j * r.step] for j < r.n. A scalar is one row of one element. */
typedef struct {
    const nn_tensor *t;
    float *row;
    int64_t n, step, rows_left;
    int64_t idx[NN_MAX_DIMS];
} nn_rows;
void nn_rows_begin(nn_rows *r, const nn_tensor *t);
bool nn_rows_next(nn_rows *r);
/* Copies src's elements in row-major order into dst (numel floats). */
void nn_tensor_gather(const nn_tensor *src, float *dst);
/* Row-major contiguous data of x: x->data itself when contiguous, else a
   copy into the scratch slot (resized as needed). NULL on failure. */
const float *nn_tensor_dense(const nn_tensor *x, nn_tensor *scratch);
/* Makes cache a dense row-major view of x for a later backward: a retained
   view of x when x is contiguous (no copy), else a view of a copy made in
   the owned slot copy (never x's storage). On failure cache is emptied. */
int nn_tensor_keep_dense(nn_tensor *cache, nn_tensor *copy, const nn_tensor *x);
/* The same in two steps, so that a layer can make room for everything
   before it changes anything: reserve sizes the owned slot copy for a
   dense copy of x when x is strided (writes no data; on failure nothing
   the cache shows changed); commit, after every reservation succeeded,
   fills copy and points cache at x or copy. x must stay alive in between
   (retain it into a local slot when it may be one of the layer's own). */
int nn_tensor_reserve_dense(nn_tensor *copy, const nn_tensor *x);
void nn_tensor_commit_dense(nn_tensor *cache, nn_tensor *copy, const nn_tensor *x);

/* --- random (rng.c): n floats ~ N(mean, std) exactly as torch's CPU
   normal_ fills a contiguous float tensor of n elements (AVX2 build). */
void nn_random_normal_fill(float *data, int64_t n, double mean, double std);

#endif
