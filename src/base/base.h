/* Internal: the ground floor every part of the library stands on:
   allocation, error recording, C-locale numbers, checked arithmetic, CRC-32
   and atomic file writes. Knows nothing of tensors beyond their public
   header. Not installed. */
#ifndef NN_BASE_H
#define NN_BASE_H

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

/* --- allocation (alloc.c): everything goes through the user's allocator */
void *nn_alloc(size_t bytes);                 /* NULL + error on failure */
void *nn_alloc_zeroed(size_t count, size_t size); /* overflow-checked calloc */
void nn_release(void *p);                     /* NULL: no-op */
char *nn_strdup(const char *s);
/* The release function that matches allocations made now (the user's or
   free): memory that may outlive an nn_set_allocator call, such as a
   per-thread GEMM workspace, keeps it and releases itself with it. */
typedef void (*nn_release_fn)(void *);
nn_release_fn nn_current_release(void);

/* --- errors (error.c); each returns its status so callers can
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

/* --- numbers in text (c_locale.c): printing, SVG and checkpoint
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

/* --- options structs (opts.c; the rule in nn/opts.h): how constructor
   fn reads the from_defaults of its options struct (named type, made by
   defaults_fn): 1 when written by hand, 0 when from defaults_fn, else a
   negative nn_status from nn_fail naming fn and the field. */
int nn_opts_by_hand(const char *fn, const char *type, const char *defaults_fn, uint32_t from_defaults);

/* --- checked arithmetic */
bool nn_mul_overflows(int64_t a, int64_t b, int64_t *out);
/* numel of shape, -1 if negative dims, overflow, or more than fits in memory
   (empty dimensions counted as 1 for that, so that strides fit too) */
int64_t nn_shape_numel(int ndim, const int64_t *shape);

/* "[4, 3]"; buf should hold NN_SHAPE_STR_LEN chars */
#define NN_SHAPE_STR_LEN 192
const char *nn_shape_str(int ndim, const int64_t *shape, char *buf);
const char *nn_tensor_shape_str(const nn_tensor *t, char *buf);

/* CRC-32 (reflected 0xEDB88320, as gzip and PNG) of n bytes, continuing
   from crc (0 to start). crc32.c. */
uint32_t nn_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Replaces path atomically with what write(f, ctx) writes (it returns
   NN_OK or a negative status it recorded): temporary file in the same
   directory, fflush + fsync, rename, fsync of the directory. On failure the
   previous file is intact and the temporary removed; errors name fn.
   (file_atomic.c) */
int nn_write_atomically(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, const char *fn);

#endif
