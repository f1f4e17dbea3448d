/* libnn: threads. Large kernels (GEMM, and through it Linear and Conv2d)
   split their output over a small pool of worker threads created on first
   need. Results are bit-identical for any thread count: work is split over
   output tiles, never over a reduction. */
#ifndef NN_PARALLEL_H
#define NN_PARALLEL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Largest thread count nn_set_num_threads accepts. */
#define NN_MAX_THREADS 256

/* Use up to n threads (the calling thread included) from now on.
   n in [1, NN_MAX_THREADS]: returns NN_OK. Otherwise returns NN_EINVAL,
   records why, and keeps the current setting. The default, before any call,
   is the NN_NUM_THREADS environment variable when it holds a whole number
   in range, else the number of online cores. If worker threads cannot be
   created, work continues on the threads that exist (at least the caller's).
   The setting is process-wide; call it from one thread at a time.
   Each thread that runs a large GEMM keeps a packing workspace, allocated
   once through the allocator of nn_set_allocator (so worker threads call
   it too, never two at a time) and released when the thread ends. */
int nn_set_num_threads(int n);

/* The current setting (>= 1). */
int nn_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
