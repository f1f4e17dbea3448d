/* Internal: the parallel-for every kernel uses (parallel.c). */
#ifndef NN_PARALLEL_IMPL_H
#define NN_PARALLEL_IMPL_H

#include <stdint.h>

#include "nn/parallel.h"

/* Runs one contiguous chunk [begin, end) of a parallel loop; tid in
   [0, parts) tells chunks of one call apart. */
typedef void (*nn_parallel_fn)(void *ctx, int64_t begin, int64_t end, int tid);

/* Splits [0, n) into at most max_parts contiguous chunks (each a multiple
   of grain long, except the last) and runs them at once, the caller taking
   chunk 0; returns when all are done. Runs the whole range as one call on
   the caller's thread when only one chunk makes sense, when called from
   inside a parallel region (no nesting), or while another thread's region
   holds the pool. So fn must give the same results whatever the split. */
void nn_parallel_for(int64_t n, int64_t grain, int max_parts, nn_parallel_fn fn, void *ctx);

#endif
