/* Shared helpers for the cmocka tests. */
#ifndef NN_TESTUTIL_H
#define NN_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn.h"

/* |got - want| <= atol + rtol * |want| for every element, with a message
   naming the first element that is off. */
static inline void assert_close_at(const float *got, const float *want, int64_t n, double rtol,
                                   double atol, const char *what, const char *file, int line)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= atol + rtol * fabs((double)want[i]))) {
            fprintf(stderr, "%s:%d: %s[%lld]: got %.9g, want %.9g\n", file, line, what,
                    (long long)i, got[i], want[i]);
            fail();
        }
    }
}
#define assert_close(got, want, n, rtol, atol) \
    assert_close_at((got), (want), (n), (rtol), (atol), #got, __FILE__, __LINE__)

/* The message of the last error must mention every given fragment. */
#define assert_error_mentions(...)                                                 \
    do {                                                                           \
        const char *frags_[] = {__VA_ARGS__};                                      \
        for (size_t i_ = 0; i_ < sizeof frags_ / sizeof *frags_; i_++) {          \
            if (!strstr(nn_last_error(), frags_[i_])) {                            \
                fprintf(stderr, "error \"%s\" lacks \"%s\"\n", nn_last_error(),     \
                        frags_[i_]);                                               \
                fail();                                                            \
            }                                                                      \
        }                                                                          \
    } while (0)

/* A comma-decimal LC_NUMERIC (de_DE) for checking that the library's text
   keeps '.' decimals, found through LOCPATH, so no installed locale is
   needed, only the locales package's sources (make test installs them).
   make test compiles it once into $(BUILD)/locale and names that directory
   in NN_TEST_LOCPATH; a test program run by hand without it compiles its
   own with glibc's localedef into a temporary directory. Fails the test
   when that cannot be done; checks that printf really writes "0,5" then. */
static char comma_locale_dir_[512];
static bool comma_locale_own_; /* compiled here, removed by comma_locale_end */

static inline void comma_locale_begin(void)
{
    const char *ready = getenv("NN_TEST_LOCPATH");
    comma_locale_own_ = !ready || !*ready;
    if (!comma_locale_own_) {
        if (snprintf(comma_locale_dir_, sizeof comma_locale_dir_, "%s", ready) >= (int)sizeof comma_locale_dir_)
            fail_msg("NN_TEST_LOCPATH is longer than %d bytes", (int)sizeof comma_locale_dir_ - 1);
    } else {
        char cmd[sizeof comma_locale_dir_ * 2 + 100];
        snprintf(comma_locale_dir_, sizeof comma_locale_dir_, "/tmp/nn_test_locale_%ld", (long)getpid());
        snprintf(cmd, sizeof cmd, "mkdir -p %s && localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
                 comma_locale_dir_, comma_locale_dir_);
        if (system(cmd) != 0)
            fail_msg("localedef -i de_DE failed: install the locales package (apt-get install locales)");
    }
    setenv("LOCPATH", comma_locale_dir_, 1);
    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8"))
        fail_msg("no de_DE.UTF-8 locale in %s", comma_locale_dir_);
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 0.5);
    assert_string_equal(probe, "0,5"); /* the locale is in force */
}

static inline void comma_locale_end(void)
{
    char cmd[sizeof comma_locale_dir_ + 16];
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    if (!comma_locale_own_)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf %s", comma_locale_dir_);
    assert_int_equal(system(cmd), 0);
}

/* --- tensors ---------------------------------------------------------- */

/* nn_tensor_from(data, ndim, shape), which must succeed. */
static inline nn_tensor *tensor_of(const float *data, int ndim, const int64_t *shape)
{
    nn_tensor *t = nn_tensor_from(data, ndim, shape);
    assert_non_null(t);
    return t;
}

/* t has the given shape. */
static inline void assert_shape(const nn_tensor *t, int ndim, const int64_t *shape)
{
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(t->shape[i], shape[i]);
}

/* The product of shape[0..ndim), counted here, not by the library. */
static inline int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* A tensor equal to src (contiguous) but not laid out contiguously: from
   2-D on, stored with its last two dimensions swapped and viewed back
   (non-contiguous unless one of them is 1 or it is empty); a 1-D one at every other float
   of a longer buffer; a 0-D one as a view. Free it as usual. */
static inline nn_tensor *strided_copy(const nn_tensor *src)
{
    if (src->ndim >= 2) {
        nn_tensor *swapped = nn_tensor_transpose(src, -1, -2);
        nn_tensor *buf = nn_tensor_contiguous(swapped);
        nn_tensor *out = nn_tensor_transpose(buf, -1, -2);
        assert_non_null(out);
        if (src->shape[src->ndim - 1] > 1 && src->shape[src->ndim - 2] > 1 && nn_tensor_numel(src) > 0)
            assert_false(nn_tensor_is_contiguous(out));
        nn_tensor_free(swapped);
        nn_tensor_free(buf);
        return out;
    }
    int64_t n = nn_tensor_numel(src);
    nn_tensor *buf = nn_tensor_new(NN_SHAPE(2 * n + 1));
    assert_non_null(buf);
    for (int64_t i = 0; i < n; i++)
        buf->data[2 * i] = src->data[i];
    nn_tensor *out = nn_tensor_reshape(buf, 1, (int64_t[]){2 * n + 1}); /* a view */
    assert_non_null(out);
    out->ndim = src->ndim;
    if (src->ndim == 1) {
        out->shape[0] = n;
        out->stride[0] = 2;
    }
    nn_tensor_free(buf);
    return out;
}

/* A strided copy of data in the given shape: the last dimension lives at
   every other float of a buffer twice the size, the gaps -12345 (a view;
   free it, then *owner, NULL for a 0-dim shape). */
static inline nn_tensor *spread_copy(const float *data, int ndim, const int64_t *shape, nn_tensor **owner)
{
    int64_t big[NN_MAX_DIMS] = {0};
    for (int d = 0; d < ndim; d++)
        big[d] = shape[d];
    if (ndim == 0) {
        *owner = NULL;
        return nn_tensor_from(data, 0, shape);
    }
    big[ndim - 1] *= 2;
    *owner = nn_tensor_new(ndim, big);
    assert_non_null(*owner);
    int64_t n = numel_of(ndim, shape);
    for (int64_t i = 0; i < n; i++)
        (*owner)->data[2 * i] = data[i], (*owner)->data[2 * i + 1] = -12345.0f;
    nn_tensor *v = nn_tensor_reshape(*owner, ndim, big); /* a view */
    assert_non_null(v);
    for (int d = 0; d < ndim; d++)
        v->shape[d] = shape[d], v->stride[d] = (*owner)->stride[d];
    v->stride[ndim - 1] = 2;
    assert_false(nn_tensor_is_contiguous(v));
    return v;
}

/* t holds n elements, each close to want (assert_close) in row-major order. */
static inline void assert_tensor_close(const nn_tensor *t, const float *want, int64_t n, double rtol, double atol)
{
    assert_int_equal(nn_tensor_numel(t), n);
    float *got = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    assert_non_null(got);
    assert_int_equal(nn_tensor_copy_out(t, got), NN_OK);
    assert_close(got, want, n, rtol, atol);
    free(got);
}

/* assert_close where a NaN must meet a NaN and an infinity itself; the
   message names the case (name) and the array (what). */
static inline void close_nan(const float *got, const float *want, int64_t n, double rtol, double atol,
                             const char *what, const char *name)
{
    for (int64_t i = 0; i < n; i++) {
        if ((isnan(want[i]) && isnan(got[i])) || got[i] == want[i])
            continue;
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= atol + rtol * fabs((double)want[i])))
            fail_msg("%s: %s[%lld]: got %.9g, want %.9g", name, what, (long long)i, got[i], want[i]);
    }
}

/* --- printing --------------------------------------------------------- */

/* nn_module_print's text of m, in a buffer the next call reuses. */
static char printed_buf_[16384];

static inline const char *printed(const nn_module *m)
{
    memset(printed_buf_, 0, sizeof printed_buf_);
    FILE *f = fmemopen(printed_buf_, sizeof printed_buf_, "w");
    assert_non_null(f);
    nn_module_print(m, f);
    assert_int_equal(fclose(f), 0);
    assert_true(strlen(printed_buf_) < sizeof printed_buf_ - 1); /* it all fit */
    return printed_buf_;
}

/* m prints as want (torch's repr) and a newline. */
static inline void assert_repr(const nn_module *m, const char *want)
{
    size_t n = strlen(want);
    char *line = malloc(n + 2);
    assert_non_null(line);
    memcpy(line, want, n);
    memcpy(line + n, "\n", 2);
    assert_string_equal(printed(m), line);
    free(line);
}

/* --- allocators for nn_set_allocator ---------------------------------- */

/* tu_alloc counts its calls in tu_allocs, refuses call number tu_fail_at
   (counted from 1; -1: none) and counts the blocks it gave that
   tu_release has not taken back in tu_live. */
static long tu_allocs, tu_fail_at = -1, tu_live;

static inline void *tu_alloc(size_t n)
{
    if (++tu_allocs == tu_fail_at)
        return NULL;
    void *p = malloc(n);
    tu_live += p != NULL;
    return p;
}

static inline void tu_release(void *p)
{
    tu_live -= p != NULL;
    free(p);
}

/* An allocator that refuses everything. */
static inline void *refusing_alloc(size_t n)
{
    (void)n;
    return NULL;
}

/* --- files ------------------------------------------------------------ */

static inline void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The first 64 KiB of the file at path (malloc'd), its size in *n. */
static inline unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

#endif
