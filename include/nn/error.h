/* libnn: status codes, error messages and the replaceable allocator. */
#ifndef NN_ERROR_H
#define NN_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible function returns NULL, a negative nn_status or NaN and
   records a message for nn_last_error(). */
typedef enum {
    NN_OK = 0,
    NN_EINVAL = -1,  /* invalid argument (NULL, out of range, ...) */
    NN_ESHAPE = -2,  /* shape mismatch */
    NN_ENOMEM = -3,  /* allocation failed or size overflow */
    NN_EIO = -4,     /* file system error */
    NN_EFORMAT = -5  /* malformed file contents */
} nn_status;

/* Message of the last failure on this thread, e.g.
   "nn_forward: Linear(in_features=2) got input of shape [4, 3]".
   Returns "" when nothing failed yet. The string is owned by the library
   and stays valid until the next failing call on this thread. */
const char *nn_last_error(void);

/* Forgets the last failure of this thread: nn_last_error() returns "" again
   (and the status behind it is NN_OK). For loops that read nn_last_error()
   to tell "something failed" from "nothing did"; nn_dataloader_next calls it
   at a clean end of an epoch. */
void nn_clear_error(void);

/* Static description of a status: "shape mismatch", ... Never NULL. */
const char *nn_status_str(nn_status s);

/* Route every heap allocation of the library through alloc/release
   (both NULL, or either one NULL: back to malloc/free for both). alloc must
   return memory aligned as malloc's, or NULL when it cannot (the calling
   libnn function then fails with NN_ENOMEM and changes nothing). Change it
   only while no libnn object is alive and no other thread calls libnn:
   memory is released by the function that allocated it. */
void nn_set_allocator(void *(*alloc)(size_t), void (*release)(void *));

#ifdef __cplusplus
}
#endif
#endif
