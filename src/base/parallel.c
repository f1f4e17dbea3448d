/* A small pthread pool, created on first need and kept until the process
   exits (then its workers are stopped and joined, so leak checkers see
   nothing alive). One parallel region runs at a time: a region that finds the pool
   busy (another thread's region, or a nested call) runs serially instead of
   waiting, so nothing can deadlock. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/parallel_impl.h"

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static atomic_int num_threads;

/* NN_NUM_THREADS when it is a whole number in [1, NN_MAX_THREADS], else
   the number of online cores. */
static void read_config(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores < 1 ? 1 : cores > NN_MAX_THREADS ? NN_MAX_THREADS : (int)cores;
    const char *env = getenv("NN_NUM_THREADS");
    if (env && *env) {
        char *end = NULL;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (errno == 0 && end != env && *end == '\0' && v >= 1 && v <= NN_MAX_THREADS)
            n = (int)v;
    }
    atomic_store(&num_threads, n);
}

int nn_set_num_threads(int n)
{
    pthread_once(&config_once, read_config);
    if (n < 1 || n > NN_MAX_THREADS)
        return nn_fail(NN_EINVAL, "nn_set_num_threads: expected a thread count in [1, %d], got %d",
                       NN_MAX_THREADS, n);
    atomic_store(&num_threads, n);
    return NN_OK;
}

int nn_get_num_threads(void)
{
    pthread_once(&config_once, read_config);
    return atomic_load(&num_threads);
}

/* --- the pool. A region publishes a new `ticket` (generation and chunk
   count in one atomic word, so a worker left out of a region never reads
   the job another region may be writing). Waiting threads first poll for
   a while, then sleep on a condition variable: waking a sleeping thread
   (an idle virtual CPU) costs tens of microseconds. A worker awaiting the
   next region polls with a pause instruction for WORKER_SPIN_NS; the
   caller awaiting the workers polls for CALLER_SPIN_NS yielding the CPU
   at each poll, which keeps an oversubscribed machine's other runnable
   threads (often the very worker it waits for) going. Measured with
   build/bench on 2 vCPUs: workers that yielded too ran a two-thread 256^3
   GEMM at one-thread speed (71-104 GF/s, against 172) when the program
   started after the machine had idled for 0.5 s; workers pausing for
   200 us instead made two two-thread CNN steps at once 10% slower than
   yielding did; 50 us costs 3% there and keeps the 172. */
#define CALLER_SPIN_NS 200000
#define WORKER_SPIN_NS 50000

static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER; /* held for a whole region */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;        /* for sleeping and waking */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static pthread_t workers[NN_MAX_THREADS];
static int num_workers;               /* created so far; worker i runs chunk i + 1 */
static atomic_ullong ticket;          /* generation << 16 | parts of the latest region */
static atomic_int pending;            /* chunks of the current region still running on workers */
static int sleepers;                  /* workers waiting on `wake` (under lock) */
static bool caller_sleeping;          /* the region's caller waits on `done` (under lock) */
static atomic_bool quitting;          /* set at exit: workers return, regions run serially */
static struct {
    nn_parallel_fn fn;
    void *ctx;
    int64_t n, grain, units;
    int parts;
} job; /* written before the ticket is published; read only by the region's threads */

static _Thread_local int in_region; /* nesting guard for the calling thread */

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void run_chunk(int part)
{
    int64_t u0 = job.units * part / job.parts, u1 = job.units * (part + 1) / job.parts;
    int64_t begin = u0 * job.grain, end = u1 * job.grain;
    if (end > job.n)
        end = job.n;
    if (begin < end)
        job.fn(job.ctx, begin, end, part);
}

/* The first ticket whose generation differs from seen's, or 0 when quitting. */
static unsigned long long await_region(unsigned long long seen)
{
    for (int64_t start = now_ns(); now_ns() - start < WORKER_SPIN_NS;) {
        unsigned long long t = atomic_load_explicit(&ticket, memory_order_acquire);
        if (t >> 16 != seen >> 16)
            return t;
        if (atomic_load_explicit(&quitting, memory_order_relaxed))
            return 0;
        cpu_pause();
    }
    pthread_mutex_lock(&lock);
    sleepers++;
    while (atomic_load(&ticket) >> 16 == seen >> 16 && !atomic_load(&quitting))
        pthread_cond_wait(&wake, &lock);
    sleepers--;
    pthread_mutex_unlock(&lock);
    return atomic_load(&quitting) ? 0 : atomic_load(&ticket);
}

static void *worker_main(void *arg)
{
    int part = (int)(intptr_t)arg;
    unsigned long long seen = 0;
    in_region = 1; /* a worker's chunk never starts a region of its own */
    while ((seen = await_region(seen)) != 0) {
        if (part >= (int)(seen & 0xffff))
            continue; /* not needed this time */
        run_chunk(part);
        if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&lock);
            if (caller_sleeping)
                pthread_cond_signal(&done);
            pthread_mutex_unlock(&lock);
        }
    }
    return NULL;
}

__attribute__((destructor)) static void stop_pool(void)
{
    pthread_mutex_lock(&lock);
    atomic_store(&quitting, true);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < num_workers; i++)
        pthread_join(workers[i], NULL);
    num_workers = 0;
}

/* Makes sure `want` workers exist, as far as the system lets us; returns
   how many do. Workers block all signals so the user's handlers run on
   the user's threads. */
static int grow_pool(int want)
{
    if (want > NN_MAX_THREADS - 1)
        want = NN_MAX_THREADS - 1;
    if (num_workers >= want)
        return num_workers;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (num_workers < want) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker_main, (void *)(intptr_t)(num_workers + 1)) != 0)
            break; /* continue with the workers we have */
        workers[num_workers++] = t;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return num_workers;
}

static void run_region(int parts)
{
    static unsigned long long generation;
    generation++;
    atomic_store_explicit(&pending, parts - 1, memory_order_relaxed);
    atomic_store_explicit(&ticket, generation << 16 | (unsigned)parts, memory_order_release);
    pthread_mutex_lock(&lock);
    if (sleepers)
        pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    run_chunk(0);
    for (int64_t start = now_ns(); now_ns() - start < CALLER_SPIN_NS;) {
        if (atomic_load_explicit(&pending, memory_order_acquire) == 0)
            return;
        sched_yield();
    }
    pthread_mutex_lock(&lock);
    caller_sleeping = true;
    while (atomic_load(&pending) > 0)
        pthread_cond_wait(&done, &lock);
    caller_sleeping = false;
    pthread_mutex_unlock(&lock);
}

void nn_parallel_for(int64_t n, int64_t grain, int max_parts, nn_parallel_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t units = (n + grain - 1) / grain;
    int parts = max_parts < 1 ? 1 : max_parts;
    if (parts > units)
        parts = (int)units;
    if (parts > 1 && !in_region && !atomic_load(&quitting) &&
        pthread_mutex_trylock(&region_lock) == 0) {
        int workers_now = grow_pool(parts - 1);
        if (parts - 1 > workers_now)
            parts = workers_now + 1;
        if (parts > 1) {
            job.fn = fn;
            job.ctx = ctx;
            job.n = n;
            job.grain = grain;
            job.units = units;
            job.parts = parts;
            in_region = 1;
            run_region(parts);
            in_region = 0;
            pthread_mutex_unlock(&region_lock);
            return;
        }
        pthread_mutex_unlock(&region_lock);
    }
    fn(ctx, 0, n, 0);
}
