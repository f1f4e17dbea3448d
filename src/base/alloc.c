/* The one door to the heap, replaceable with nn_set_allocator() so tests can
   count allocations and make the Nth one fail. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static void *(*user_alloc)(size_t) = NULL;
static void (*user_release)(void *) = NULL;

void nn_set_allocator(void *(*alloc)(size_t), void (*release)(void *))
{
    if (alloc && release) {
        user_alloc = alloc;
        user_release = release;
    } else {
        user_alloc = NULL;
        user_release = NULL;
    }
}

void *nn_alloc(size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    void *p = user_alloc ? user_alloc(bytes) : malloc(bytes);
    if (!p)
        nn_fail(NN_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *nn_alloc_zeroed(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        nn_fail(NN_ENOMEM, "out of memory: %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    size_t bytes = count * size;
    void *p = nn_alloc(bytes);
    if (p && bytes)
        memset(p, 0, bytes);
    return p;
}

void nn_release(void *p)
{
    if (!p)
        return;
    if (user_release)
        user_release(p);
    else
        free(p);
}

nn_release_fn nn_current_release(void)
{
    return user_release ? user_release : free;
}

char *nn_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = nn_alloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

bool nn_mul_overflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
