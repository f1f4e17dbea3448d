/* A small pthread pool, created on first need and kept until the process
   exits (then its workers are stopped and joined, so leak checkers see
   nothing alive). One parallel region runs at a time: a region that finds the pool
   busy (another thread's region, or a nested call) runs serially instead of
   waiting, so nothing can deadlock. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core.h"
#include "parallel_impl.h"

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

/* --- the pool */
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER; /* held for a whole region */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;        /* guards the fields below */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static pthread_t workers[NN_MAX_THREADS];
static int num_workers;   /* created so far; worker i runs chunk i + 1 */
static unsigned long generation; /* bumped for each region */
static int pending;       /* chunks of the current region not yet finished by workers */
static atomic_bool quitting; /* set at exit: workers return, regions run serially */
static struct {
    nn_parallel_fn fn;
    void *ctx;
    int64_t n, grain, units;
    int parts;
} job;

static _Thread_local int in_region; /* nesting guard for the calling thread */

static void run_chunk(int part)
{
    int64_t u0 = job.units * part / job.parts, u1 = job.units * (part + 1) / job.parts;
    int64_t begin = u0 * job.grain, end = u1 * job.grain;
    if (end > job.n)
        end = job.n;
    if (begin < end)
        job.fn(job.ctx, begin, end, part);
}

static void *worker_main(void *arg)
{
    int part = (int)(intptr_t)arg;
    unsigned long seen = 0;
    in_region = 1; /* a worker's chunk never starts a region of its own */
    pthread_mutex_lock(&lock);
    for (;;) {
        while (generation == seen && !quitting)
            pthread_cond_wait(&wake, &lock);
        if (quitting)
            break;
        seen = generation;
        if (part >= job.parts)
            continue;
        pthread_mutex_unlock(&lock);
        run_chunk(part);
        pthread_mutex_lock(&lock);
        if (--pending == 0)
            pthread_cond_signal(&done);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

__attribute__((destructor)) static void stop_pool(void)
{
    pthread_mutex_lock(&lock);
    quitting = true;
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
        parts = 1 + (grow_pool(parts - 1) < parts - 1 ? num_workers : parts - 1);
        if (parts > 1) {
            in_region = 1;
            pthread_mutex_lock(&lock);
            job.fn = fn;
            job.ctx = ctx;
            job.n = n;
            job.grain = grain;
            job.units = units;
            job.parts = parts;
            pending = parts - 1;
            generation++;
            pthread_cond_broadcast(&wake);
            pthread_mutex_unlock(&lock);
            run_chunk(0);
            pthread_mutex_lock(&lock);
            while (pending > 0)
                pthread_cond_wait(&done, &lock);
            pthread_mutex_unlock(&lock);
            in_region = 0;
            pthread_mutex_unlock(&region_lock);
            return;
        }
        pthread_mutex_unlock(&region_lock);
    }
    fn(ctx, 0, n, 0);
}
