/* Internal: reading and writing one safetensors image of named tensors:
   float32 ones (F32) and int64 scalars (I64, shape [], as torch stores
   BatchNorm's num_batches_tracked). Used by nn_save/nn_load and by the
   optimizer checkpoints.

   Layout: 8-byte little-endian header length N, N bytes of JSON
   {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [...],
   "data_offsets": [begin, end]}, ...} padded with spaces to a multiple of 8,
   then the raw little-endian data; offsets are relative to the data start. */
#ifndef NN_IO_SAFETENSORS_H
#define NN_IO_SAFETENSORS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/tensor_impl.h"
#include "nn/module.h"

/* Largest header we accept (the reference implementation's limit). */
#define ST_MAX_HEADER 100000000u
/* Most metadata entries we accept. */
#define ST_MAX_META 64

typedef struct {
    const char *key;
    const char *value;
} st_meta;

/* A metadata entry the reader should copy out: value gets at most cap-1
   bytes plus a NUL; found tells whether the file had the key. */
typedef struct {
    const char *key;
    char *value;
    size_t cap;
    bool found;
} st_meta_want;

/* One named tensor of a file: dtype NN_F32 reads and writes value (any
   shape, contiguous), NN_I64 the 0-dim scalar *int_value. */
typedef struct {
    const char *name;
    nn_dtype dtype;
    nn_tensor *value;
    int64_t *int_value;
} st_entry;

/* Writes tensors in the reference implementation's order: by dtype,
   larger alignment first (I64 before F32), then by name; the metadata
   first, in the given order. where prefixes error messages
   ("nn_save: path"). Does not close or seek f; flushes it. */
int st_write(FILE *f, const st_entry *tensors, int n, const st_meta *meta, int n_meta,
             const char *where);

/* Reads one image from f into the values of tensors, all or nothing:
   the file must name exactly these tensors with exactly their dtypes and
   shapes. avail
   is the number of bytes left in f (-1: unknown); exact: the data must end
   exactly there. Unknown metadata keys are validated and ignored; wanted
   ones are copied out while parsing, even if the load then fails. When
   everything is valid, commit(ctx) (may be NULL) runs as the last step
   that may fail, before the tensors are written: it applies what goes
   with them (an optimizer's step count) or refuses the file. */
int st_read(FILE *f, int64_t avail, bool exact, const st_entry *tensors, int n,
            st_meta_want *want, int n_want, int (*commit)(void *ctx), void *ctx,
            const char *where);


/* Opens path and calls read(f, size, ctx) with the file's size. */
int st_load_file(const char *path, int (*read)(FILE *f, int64_t size, void *ctx), void *ctx,
                 const char *fn);

/* Bytes left in f from its position, or -1 when it cannot seek. */
int64_t st_stream_remaining(FILE *f);

/* Out-of-memory messages come from nn_alloc; prefix them with the public
   call (`where`, e.g. "nn_save: model.st"). Other statuses pass through. */
int st_name_oom(int rc, const char *where);

#endif
