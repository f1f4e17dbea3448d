/* libnn: strided float32 tensors.

   Row-major, NCHW for images. shape[] and stride[] are in elements; a view
   (reshape when possible, transpose) shares the reference-counted storage
   of its source, so freeing either one first is fine.

   A tensor may also be filled in by hand to wrap the caller's own floats
   (storage NULL, e.g. {.data = buf, .ndim = 2, .shape = {4, 3},
   .stride = {3, 1}}) and passed wherever a const nn_tensor * is taken;
   the caller keeps buf alive as long as a module may read it (a layer
   keeps reading its last input until its next forward or its free). A
   tensor with impossible fields (ndim outside 0..NN_MAX_DIMS, negative
   sizes, sizes whose product overflows, NULL data when not empty) is
   refused with NN_EINVAL. Never pass a hand-made tensor to nn_tensor_free. */
#ifndef NN_TENSOR_H
#define NN_TENSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MAX_DIMS 8

typedef struct nn_tensor {
    float *data;                 /* first element */
    int ndim;                    /* 0 (a scalar) .. NN_MAX_DIMS */
    int64_t shape[NN_MAX_DIMS];
    int64_t stride[NN_MAX_DIMS]; /* in elements */
    struct nn_storage *storage;  /* shared, reference counted */
} nn_tensor;

/* NN_SHAPE(2, 3) expands to the two arguments: 2, (const int64_t[]){2, 3} */
#define NN_SHAPE(...)                                                    \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),    \
        (const int64_t[]){__VA_ARGS__}

/* New zero-filled contiguous tensor; caller owns it (nn_tensor_free).
   Dimensions may be 0; NULL on negative sizes or overflow. */
nn_tensor *nn_tensor_new(int ndim, const int64_t *shape);

/* New contiguous tensor holding a copy of numel(shape) floats from data;
   caller owns it. NULL on NULL data or a bad shape (as nn_tensor_new). */
nn_tensor *nn_tensor_from(const float *data, int ndim, const int64_t *shape);

/* Releases the tensor; the storage goes when its last view goes. NULL: no-op.
   Never call it on a tensor a module or loss returned (they own those). */
void nn_tensor_free(nn_tensor *t);

/* Number of elements (product of the shape; 1 for a scalar). -1 on NULL
   or impossible fields. */
int64_t nn_tensor_numel(const nn_tensor *t);

/* True when the elements are laid out densely in row-major order
   (dimensions of size 1 may have any stride). */
bool nn_tensor_is_contiguous(const nn_tensor *t);

/* Like torch.reshape: a view sharing t's storage when the strides allow it,
   otherwise a contiguous copy. One dimension may be -1 (inferred).
   Caller owns the result. */
nn_tensor *nn_tensor_reshape(const nn_tensor *t, int ndim, const int64_t *shape);

/* View with dimensions d0 and d1 swapped (negative: counted from the end).
   Caller owns the result. */
nn_tensor *nn_tensor_transpose(const nn_tensor *t, int d0, int d1);

/* New contiguous copy of t (always a copy); caller owns it. */
nn_tensor *nn_tensor_contiguous(const nn_tensor *t);

/* Element at the given indices (one per dimension); NaN when out of range. */
float nn_tensor_get(const nn_tensor *t, const int64_t *index);

/* Copies the elements of t in row-major order into out (numel floats).
   NN_OK or a negative nn_status. */
int nn_tensor_copy_out(const nn_tensor *t, float *out);
/* The reverse: sets the elements of t, in row-major order, from src
   (numel floats; honours strides). NN_OK or a negative nn_status. */
int nn_tensor_copy_in(nn_tensor *t, const float *src);

/* Sets every element to value (honours strides). NN_OK or a negative
   nn_status. */
int nn_tensor_fill(nn_tensor *t, float value);

/* True when no element of t is NaN or +-Inf (honours strides; an empty
   tensor is finite). False for NULL. Like bool(torch.isfinite(t).all()). */
bool nn_tensor_all_finite(const nn_tensor *t);

/* Prints t the way PyTorch's print(tensor) does. */
void nn_tensor_print(const nn_tensor *t, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
