/* Internal to src/data: whole-file reading and gzip decompression. */
#ifndef NN_DATA_IMPL_H
#define NN_DATA_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor_impl.h"

/* Deflate never expands more than about 1032:1; a gzip member claiming
   more output than this bound is corrupt. */
#define NN_INFLATE_MAX_RATIO 1032u

/* Decompresses one gzip member held in in[0..in_len). The output buffer
   (nn_alloc, caller releases) has exactly the size the trailer announces,
   which must be at most max_out and justified by in_len; the CRC-32 and
   size in the trailer are checked. Returns NN_OK, or NN_EFORMAT /
   NN_ENOMEM with *why set to a static description (no error recorded). */
int nn_gunzip(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out, size_t *out_len,
              const char **why);

/* Reads a whole regular file (at most max_bytes) into a new buffer (caller
   releases). Returns NN_OK, NN_EIO (*err = errno, 0 if not a regular file),
   NN_EFORMAT (larger than max_bytes) or NN_ENOMEM. Records no error. */
int nn_read_whole_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len, int *err);

#endif
