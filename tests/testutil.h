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
        /* in this program's byte order: localedef may be the build
           machine's (a big-endian program run under an emulator) */
        const char *order = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? "--big-endian" : "--little-endian";
        snprintf(cmd, sizeof cmd, "mkdir -p %s && localedef %s -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
                 comma_locale_dir_, order, comma_locale_dir_);
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
   (non-contiguous unless one of them is 1 or it is empty); a 1-D one at
   every other float of a longer buffer; a 0-D one as a view. Free it as
   usual. */
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

/* --- losses against torch --------------------------------------------- */

/* One case of a loss against torch's numbers: pred [ndim: shape], target
   [tdim: tshape], torch's value, values (n_values of them: reduction none,
   the target's shape, else one), the gradient of the value, and the
   gradient for the given upstream (the target's shape for reduction none,
   else a 0-dim one). */
typedef struct {
    const char *name;
    nn_reduction reduction;
    int ndim, tdim;
    const int64_t *shape, *tshape;
    const float *pred, *target, *upstream;
    float value;
    const float *values;
    int64_t n_values;
    const float *grad, *grad_ex;
} loss_ref;

/* l on c's inputs (strided: spread_copy of each) gives c's numbers
   (close_nan with rtol, atol); with scalar_1d, a reduced loss also takes
   its upstream as a [1] tensor. Frees l. */
static inline void check_loss_case(nn_loss *l, const loss_ref *c, bool strided, bool scalar_1d, double rtol,
                                   double atol)
{
    if (!l)
        fail_msg("%s: %s", c->name, nn_last_error());
    nn_tensor *po = NULL, *to = NULL, *p, *t;
    if (strided) {
        p = spread_copy(c->pred, c->ndim, c->shape, &po);
        t = spread_copy(c->target, c->tdim, c->tshape, &to);
    } else {
        p = nn_tensor_from(c->pred, c->ndim, c->shape);
        t = nn_tensor_from(c->target, c->tdim, c->tshape);
    }
    float v = nn_loss_forward(l, p, t);
    close_nan(&v, &c->value, 1, rtol, atol, "value", c->name);
    nn_tensor *vals = nn_loss_values(l);
    assert_non_null(vals);
    assert_int_equal(nn_tensor_numel(vals), c->n_values);
    if (c->reduction == NN_REDUCTION_NONE) {
        assert_int_equal(vals->ndim, c->tdim);
        for (int d = 0; d < c->tdim; d++)
            assert_int_equal(vals->shape[d], c->tshape[d]);
    } else {
        assert_int_equal(vals->ndim, 0);
    }
    close_nan(vals->data, c->values, c->n_values, rtol, atol, "values", c->name);
    int64_t n = nn_tensor_numel(p);
    nn_tensor *g = nn_loss_backward(l);
    assert_non_null(g);
    assert_shape(g, c->ndim, c->shape);
    close_nan(g->data, c->grad, n, rtol, atol, "grad", c->name);

    /* the upstream gradient, strided too when possible */
    nn_tensor *uo = NULL, *u;
    int udim = c->reduction == NN_REDUCTION_NONE ? c->tdim : 0;
    u = strided ? spread_copy(c->upstream, udim, c->tshape, &uo) : nn_tensor_from(c->upstream, udim, c->tshape);
    nn_tensor *gx = nn_loss_backward_ex(l, u);
    if (!gx)
        fail_msg("%s: %s", c->name, nn_last_error());
    assert_true(gx != g);
    close_nan(gx->data, c->grad_ex, n, rtol, atol, "grad_ex", c->name);
    close_nan(nn_loss_backward(l)->data, c->grad, n, rtol, atol, "grad after backward_ex", c->name);
    if (scalar_1d && udim == 0 && c->tdim > 0) {
        nn_tensor *u1 = nn_tensor_from(c->upstream, NN_SHAPE(1));
        close_nan(nn_loss_backward_ex(l, u1)->data, c->grad_ex, n, rtol, atol, "grad_ex [1]", c->name);
        nn_tensor_free(u1);
    }
    nn_tensor_free(u);
    nn_tensor_free(uo);
    nn_tensor_free(t);
    nn_tensor_free(to);
    nn_tensor_free(p);
    nn_tensor_free(po);
    nn_loss_free(l);
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

/* --- one pass of a layer ---------------------------------------------- */

/* A tensor of the given shape, uniform in [-1, 1] from rand() seeded with
   seed. */
static inline nn_tensor *random_tensor(int ndim, const int64_t *shape, unsigned seed)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    assert_non_null(t);
    srand(seed);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        t->data[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return t;
}

/* y, dx, and the first two parameters' gradients (dW, db; none: 0
   elements) of one zero_grad + forward + backward, copied out. */
typedef struct {
    float *y, *dx, *dw, *db;
    int64_t ny, nx, nw, nb;
} layer_run;

/* One pass of m on x with the upstream gradient random_tensor(gseed). */
static inline layer_run run_layer_once(nn_module *m, const nn_tensor *x, unsigned gseed)
{
    layer_run r = {0};
    nn_zero_grad(m);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_tensor *gy = random_tensor(y->ndim, y->shape, gseed);
    r.ny = nn_tensor_numel(y);
    r.y = malloc((size_t)(r.ny + 1) * sizeof(float));
    nn_tensor_copy_out(y, r.y);
    nn_tensor *dx = nn_backward(m, gy);
    assert_non_null(dx);
    r.nx = nn_tensor_numel(dx);
    r.dx = malloc((size_t)(r.nx + 1) * sizeof(float));
    nn_tensor_copy_out(dx, r.dx);
    nn_param *p;
    int np = nn_module_params(m, &p);
    r.nw = np > 0 ? nn_tensor_numel(p[0].grad) : 0;
    r.dw = malloc((size_t)(r.nw + 1) * sizeof(float));
    if (np > 0)
        memcpy(r.dw, p[0].grad->data, (size_t)r.nw * sizeof(float));
    r.nb = np > 1 ? nn_tensor_numel(p[1].grad) : 0;
    r.db = malloc((size_t)(r.nb + 1) * sizeof(float));
    if (np > 1)
        memcpy(r.db, p[1].grad->data, (size_t)r.nb * sizeof(float));
    nn_tensor_free(gy);
    return r;
}

static inline void free_layer_run(layer_run *r)
{
    free(r->y);
    free(r->dx);
    free(r->dw);
    free(r->db);
}

/* Two warm-up steps of m on x and g, then three more (forward, backward,
   forward, backward_params) must allocate nothing. */
static inline void assert_steady_state(nn_module *m, const nn_tensor *x, const nn_tensor *g)
{
    for (int i = 0; i < 2; i++) {
        assert_non_null(nn_forward(m, x));
        assert_non_null(nn_backward(m, g));
    }
    tu_allocs = 0;
    nn_set_allocator(tu_alloc, free);
    for (int i = 0; i < 3; i++) {
        nn_forward(m, x);
        nn_backward(m, g);
        nn_forward(m, x);
        nn_backward_params(m, g);
    }
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);
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
