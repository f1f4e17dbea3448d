/* Internal: allocation, error recording and tensor helpers shared by every
   part of the library. Not installed. */
#ifndef NN_CORE_H
#define NN_CORE_H

#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nn/error.h"
#include "nn/tensor.h"

#if defined(__GNUC__) || defined(__clang__)
#define NN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NN_PRINTF(a, b)
#endif

/* --- allocation (src/alloc.c): everything goes through the user's allocator */
void *nn_alloc(size_t bytes);                 /* NULL + error on failure */
void *nn_alloc_zeroed(size_t count, size_t size); /* overflow-checked calloc */
void nn_release(void *p);                     /* NULL: no-op */
char *nn_strdup(const char *s);
/* The release function that matches allocations made now (the user's or
   free): memory that may outlive an nn_set_allocator call, such as a
   per-thread GEMM workspace, keeps it and releases itself with it. */
typedef void (*nn_release_fn)(void *);
nn_release_fn nn_current_release(void);

/* --- errors (src/error.c); each returns its status so callers can
   `return nn_fail(NN_EINVAL, "...")`. */
int nn_fail(nn_status s, const char *fmt, ...) NN_PRINTF(2, 3);
void *nn_fail_null(nn_status s, const char *fmt, ...) NN_PRINTF(2, 3);
float nn_fail_nan(nn_status s, const char *fmt, ...) NN_PRINTF(2, 3);
/* Prepends "<fmt...>: " to the message an internal helper (nn_alloc,
   nn_tensor_resize, ...) just recorded, so that it names the public
   function; returns s / NULL. */
int nn_fail_context(nn_status s, const char *fmt, ...) NN_PRINTF(2, 3);
void *nn_fail_context_null(const char *fmt, ...) NN_PRINTF(1, 2);
/* The status the last nn_fail / nn_fail_null / nn_fail_nan of this thread
   recorded (a context prepended later keeps it): what a function that got
   NULL from a helper returns as its own status. */
nn_status nn_last_status(void);

/* --- numbers in text (src/c_locale.c): printing, SVG and checkpoint
   metadata write (and read) '.' decimals whatever the program chose with
   setlocale; a German LC_NUMERIC would write 0,5. begin switches the
   calling thread to the "C" locale (POSIX 2008 uselocale) until end.
   begin fails (NN_ENOMEM, message naming fn) only when the locale object
   cannot be made; end is then a no-op, so a caller may go on regardless. */
typedef struct {
    locale_t c, old;
} nn_c_numbers;
int nn_c_numbers_begin(nn_c_numbers *n, const char *fn);
void nn_c_numbers_end(nn_c_numbers *n);

/* --- checked arithmetic */
bool nn_mul_overflows(int64_t a, int64_t b, int64_t *out);
/* numel of shape, -1 if negative dims, overflow, or more than fits in memory
   (empty dimensions counted as 1 for that, so that strides fit too) */
int64_t nn_shape_numel(int ndim, const int64_t *shape);

/* "[4, 3]"; buf should hold NN_SHAPE_STR_LEN chars */
#define NN_SHAPE_STR_LEN 192
const char *nn_shape_str(int ndim, const int64_t *shape, char *buf);
const char *nn_tensor_shape_str(const nn_tensor *t, char *buf);

/* --- tensors embedded in modules (src/tensor.c).
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

/* CRC-32 (reflected 0xEDB88320, as gzip and PNG) of n bytes, continuing
   from crc (0 to start). src/crc32.c. */
uint32_t nn_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Replaces path atomically with what write(f, ctx) writes (it returns
   NN_OK or a negative status it recorded): temporary file in the same
   directory, fflush + fsync, rename, fsync of the directory. On failure the
   previous file is intact and the temporary removed; errors name fn.
   (src/file_atomic.c) */
int nn_write_atomically(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, const char *fn);

#endif
