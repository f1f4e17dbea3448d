/* Strided tensors over reference-counted storage. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_impl.h"

#define NN_ALIGN 64
/* Largest element count we ever allocate: keeps bytes inside ptrdiff_t. */
#define NN_MAX_NUMEL ((int64_t)(PTRDIFF_MAX / (ptrdiff_t)sizeof(float)) - NN_ALIGN)

/* nn_mul_overflows inlined: these helpers run on every call of every layer */
static inline bool mul_overflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

int64_t nn_shape_numel(int ndim, const int64_t *shape)
{
    /* extent: the product with empty dimensions counted as 1, which the
       contiguous strides reach; it must fit even when numel is 0 */
    int64_t n = 1, extent = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || mul_overflows(n, shape[i], &n) ||
            mul_overflows(extent, shape[i] ? shape[i] : 1, &extent))
            return -1;
    }
    return extent > NN_MAX_NUMEL ? -1 : n;
}

/* One allocation: header, then the data aligned for vector loads. */
static struct nn_storage *storage_new(int64_t numel)
{
    size_t bytes = sizeof(struct nn_storage) + NN_ALIGN + (size_t)numel * sizeof(float);
    unsigned char *raw = nn_alloc(bytes);
    if (!raw)
        return NULL;
    struct nn_storage *s = (struct nn_storage *)raw;
    uintptr_t p = (uintptr_t)(raw + sizeof *s);
    p = (p + NN_ALIGN - 1) & ~(uintptr_t)(NN_ALIGN - 1);
    s->data = (float *)p;
    s->capacity = numel;
    s->refcount = 1;
    return s;
}

static void storage_drop(struct nn_storage *s)
{
    if (s && --s->refcount == 0)
        nn_release(s);
}

void nn_tensor_set_contiguous_strides(nn_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = st;
        st *= t->shape[i] > 1 ? t->shape[i] : 1;
    }
}

static int check_shape(const char *fn, int ndim, const int64_t *shape, int64_t *numel)
{
    *numel = -1;
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_fail(NN_EINVAL, "%s: expected 0..%d dimensions, got %d", fn, NN_MAX_DIMS, ndim);
    if (ndim > 0 && !shape)
        return nn_fail(NN_EINVAL, "%s: shape is NULL", fn);
    *numel = nn_shape_numel(ndim, shape);
    if (*numel < 0) {
        char b[NN_SHAPE_STR_LEN];
        return nn_fail(NN_EINVAL, "%s: expected non-negative sizes whose product fits in memory, got %s",
                       fn, nn_shape_str(ndim, shape, b));
    }
    return NN_OK;
}

static nn_tensor *tensor_alloc(const char *fn, int ndim, const int64_t *shape)
{
    int64_t numel;
    if (check_shape(fn, ndim, shape, &numel) < 0)
        return NULL;
    nn_tensor *t = nn_alloc_zeroed(1, sizeof *t);
    if (!t)
        return nn_fail_context_null("%s", fn);
    t->storage = storage_new(numel);
    if (!t->storage) {
        nn_release(t);
        return nn_fail_context_null("%s", fn);
    }
    t->data = t->storage->data;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    nn_tensor_set_contiguous_strides(t);
    return t;
}

nn_tensor *nn_tensor_new(int ndim, const int64_t *shape)
{
    nn_tensor *t = tensor_alloc("nn_tensor_new", ndim, shape);
    if (t)
        memset(t->data, 0, (size_t)nn_tensor_numel(t) * sizeof(float));
    return t;
}

nn_tensor *nn_tensor_from(const float *data, int ndim, const int64_t *shape)
{
    if (!data)
        return nn_fail_null(NN_EINVAL, "nn_tensor_from: data is NULL");
    nn_tensor *t = tensor_alloc("nn_tensor_from", ndim, shape);
    if (t)
        memcpy(t->data, data, (size_t)nn_tensor_numel(t) * sizeof(float));
    return t;
}

void nn_tensor_free(nn_tensor *t)
{
    if (!t)
        return;
    storage_drop(t->storage);
    nn_release(t);
}

int64_t nn_tensor_numel(const nn_tensor *t)
{
    if (!t || t->ndim < 0 || t->ndim > NN_MAX_DIMS)
        return -1;
    int64_t n = 1; /* checked: a hand-filled tensor may hold anything */
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0 || mul_overflows(n, t->shape[i], &n))
            return -1;
    return n;
}

bool nn_tensor_is_contiguous(const nn_tensor *t)
{
    if (!t || t->ndim < 0 || t->ndim > NN_MAX_DIMS)
        return false;
    /* one pass: an empty tensor (any size 0) is contiguous whatever else */
    bool ok = true;
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        int64_t n = t->shape[i];
        if (n == 0)
            return true;
        if (ok && (n < 0 || (n != 1 && t->stride[i] != expected) ||
                   mul_overflows(expected, n, &expected)))
            ok = false;
    }
    return ok;
}

int nn_tensor_check(const char *fn, const char *what, const nn_tensor *t)
{
    char s[NN_SHAPE_STR_LEN];
    if (!t)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn, what);
    if (t->ndim < 0 || t->ndim > NN_MAX_DIMS)
        return nn_fail(NN_EINVAL, "%s: %s has %d dimensions, expected 0..%d", fn, what, t->ndim,
                       NN_MAX_DIMS);
    int64_t numel = nn_shape_numel(t->ndim, t->shape);
    if (numel < 0)
        return nn_fail(NN_EINVAL, "%s: %s has shape %s, expected non-negative sizes whose product fits in memory",
                       fn, what, nn_tensor_shape_str(t, s));
    if (numel > 0 && !t->data)
        return nn_fail(NN_EINVAL, "%s: %s of shape %s has no data (data is NULL)", fn, what,
                       nn_tensor_shape_str(t, s));
    return NN_OK;
}

bool nn_tensor_same_shape(const nn_tensor *a, const nn_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

nn_tensor *nn_tensor_view_new(const nn_tensor *t)
{
    nn_tensor *v = nn_alloc(sizeof *v);
    if (!v)
        return NULL;
    *v = *t;
    if (v->storage)
        v->storage->refcount++;
    return v;
}

/* Strides for viewing a tensor of (shape, stride) as new_shape without a
   copy, or false when the memory layout does not allow it. Dimensions are
   grouped into runs that are contiguous with each other; each run of the
   old shape must be covered exactly by a run of new dimensions. */
static bool view_strides(const nn_tensor *t, int nd, const int64_t *ns, int64_t *out)
{
    if (nn_tensor_numel(t) == 0 || t->ndim == 0) {
        nn_tensor tmp = {.ndim = nd};
        memcpy(tmp.shape, ns, (size_t)nd * sizeof *ns);
        nn_tensor_set_contiguous_strides(&tmp);
        memcpy(out, tmp.stride, (size_t)nd * sizeof *out);
        return true;
    }
    int v = nd - 1;
    int64_t base = t->stride[t->ndim - 1], run = 1, vrun = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        run *= t->shape[d];
        bool run_ends = d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != run * base);
        if (!run_ends)
            continue;
        while (v >= 0 && (vrun < run || ns[v] == 1)) {
            out[v] = vrun * base;
            vrun *= ns[v];
            v--;
        }
        if (vrun != run)
            return false;
        if (d > 0) {
            base = t->stride[d - 1];
            run = vrun = 1;
        }
    }
    return v == -1;
}

nn_tensor *nn_tensor_reshape(const nn_tensor *t, int ndim, const int64_t *shape)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (nn_tensor_check("nn_tensor_reshape", "tensor", t) < 0)
        return NULL;
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_fail_null(NN_EINVAL, "nn_tensor_reshape: expected 0..%d dimensions, got %d", NN_MAX_DIMS, ndim);
    if (ndim > 0 && !shape)
        return nn_fail_null(NN_EINVAL, "nn_tensor_reshape: shape is NULL");
    int64_t ns[NN_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        ns[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0 || mul_overflows(known, shape[i], &known))
            return nn_fail_null(NN_EINVAL,
                                "nn_tensor_reshape: expected sizes >= 0 (one may be -1) whose product fits, got %s",
                                nn_shape_str(ndim, shape, a));
    }
    int64_t numel = nn_tensor_numel(t);
    if (infer >= 0) {
        if (known == 0 || numel % known)
            return nn_fail_null(NN_ESHAPE, "nn_tensor_reshape: shape %s is invalid for input of shape %s",
                                nn_shape_str(ndim, shape, a), nn_tensor_shape_str(t, b));
        ns[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return nn_fail_null(NN_ESHAPE, "nn_tensor_reshape: shape %s is invalid for input of shape %s",
                            nn_shape_str(ndim, shape, a), nn_tensor_shape_str(t, b));
    int64_t st[NN_MAX_DIMS];
    if (view_strides(t, ndim, ns, st)) {
        nn_tensor *v = nn_tensor_view_new(t);
        if (!v)
            return nn_fail_context_null("nn_tensor_reshape");
        v->ndim = ndim;
        memcpy(v->shape, ns, (size_t)ndim * sizeof *ns);
        memcpy(v->stride, st, (size_t)ndim * sizeof *st);
        return v;
    }
    nn_tensor *c = tensor_alloc("nn_tensor_reshape", ndim, ns);
    if (c)
        nn_tensor_gather(t, c->data);
    return c;
}

nn_tensor *nn_tensor_transpose(const nn_tensor *t, int d0, int d1)
{
    if (nn_tensor_check("nn_tensor_transpose", "tensor", t) < 0)
        return NULL;
    int n = t->ndim > 0 ? t->ndim : 1;
    int a = d0 < 0 ? d0 + n : d0, b = d1 < 0 ? d1 + n : d1;
    if (a < 0 || a >= n || b < 0 || b >= n) {
        char s[NN_SHAPE_STR_LEN];
        return nn_fail_null(NN_EINVAL, "nn_tensor_transpose: dimensions (%d, %d) out of range for shape %s",
                            d0, d1, nn_tensor_shape_str(t, s));
    }
    nn_tensor *v = nn_tensor_view_new(t);
    if (!v)
        return nn_fail_context_null("nn_tensor_transpose");
    if (t->ndim == 0)
        return v;
    int64_t sh = v->shape[a], st = v->stride[a];
    v->shape[a] = v->shape[b];
    v->stride[a] = v->stride[b];
    v->shape[b] = sh;
    v->stride[b] = st;
    return v;
}

void nn_rows_begin(nn_rows *r, const nn_tensor *t)
{
    int64_t numel = nn_tensor_numel(t);
    memset(r, 0, sizeof *r);
    r->t = t;
    r->n = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
    r->step = t->ndim > 0 ? t->stride[t->ndim - 1] : 1;
    r->rows_left = numel > 0 ? numel / r->n : 0;
}

/* Advances an odometer over all but the last dimension. */
bool nn_rows_next(nn_rows *r)
{
    if (r->rows_left == 0)
        return false;
    r->rows_left--;
    if (!r->row) {
        r->row = r->t->data;
        return true;
    }
    const nn_tensor *t = r->t;
    for (int d = t->ndim - 2; d >= 0; d--) {
        r->row += t->stride[d];
        if (++r->idx[d] < t->shape[d])
            break;
        r->row -= t->stride[d] * t->shape[d];
        r->idx[d] = 0;
    }
    return true;
}

void nn_tensor_gather(const nn_tensor *src, float *dst)
{
    int64_t numel = nn_tensor_numel(src);
    if (numel == 0)
        return;
    if (nn_tensor_is_contiguous(src)) {
        memcpy(dst, src->data, (size_t)numel * sizeof(float));
        return;
    }
    nn_rows r;
    for (nn_rows_begin(&r, src); nn_rows_next(&r);)
        for (int64_t j = 0; j < r.n; j++)
            *dst++ = r.row[j * r.step];
}

nn_tensor *nn_tensor_contiguous(const nn_tensor *t)
{
    if (nn_tensor_check("nn_tensor_contiguous", "tensor", t) < 0)
        return NULL;
    nn_tensor *c = tensor_alloc("nn_tensor_contiguous", t->ndim, t->shape);
    if (c)
        nn_tensor_gather(t, c->data);
    return c;
}

float nn_tensor_get(const nn_tensor *t, const int64_t *index)
{
    if (nn_tensor_check("nn_tensor_get", "tensor", t) < 0)
        return NAN;
    if (t->ndim > 0 && !index)
        return nn_fail_nan(NN_EINVAL, "nn_tensor_get: index is NULL");
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (index[i] < 0 || index[i] >= t->shape[i]) {
            char s[NN_SHAPE_STR_LEN];
            return nn_fail_nan(NN_EINVAL, "nn_tensor_get: index %lld out of range for dimension %d of shape %s",
                               (long long)index[i], i, nn_tensor_shape_str(t, s));
        }
        off += index[i] * t->stride[i];
    }
    return t->data[off];
}

int nn_tensor_copy_out(const nn_tensor *t, float *out)
{
    int status = nn_tensor_check("nn_tensor_copy_out", "tensor", t);
    if (status < 0)
        return status;
    if (!out)
        return nn_fail(NN_EINVAL, "nn_tensor_copy_out: output is NULL");
    nn_tensor_gather(t, out);
    return NN_OK;
}

int nn_tensor_copy_in(nn_tensor *t, const float *src)
{
    int status = nn_tensor_check("nn_tensor_copy_in", "tensor", t);
    if (status < 0)
        return status;
    if (!src)
        return nn_fail(NN_EINVAL, "nn_tensor_copy_in: source is NULL");
    nn_rows r;
    for (nn_rows_begin(&r, t); nn_rows_next(&r); src += r.n)
        for (int64_t j = 0; j < r.n; j++)
            r.row[j * r.step] = src[j];
    return NN_OK;
}

int nn_tensor_fill(nn_tensor *t, float value)
{
    int status = nn_tensor_check("nn_tensor_fill", "tensor", t);
    if (status < 0)
        return status;
    nn_rows r;
    for (nn_rows_begin(&r, t); nn_rows_next(&r);)
        for (int64_t j = 0; j < r.n; j++)
            r.row[j * r.step] = value;
    return NN_OK;
}

/* --- slots embedded in modules --- */

int nn_tensor_resize(nn_tensor *t, int ndim, const int64_t *shape, const nn_tensor *avoid)
{
    int64_t numel = nn_shape_numel(ndim, shape);
    if (ndim < 0 || ndim > NN_MAX_DIMS || numel < 0) {
        char b[NN_SHAPE_STR_LEN];
        return nn_fail(NN_ENOMEM, "a result of shape %s does not fit in memory",
                       nn_shape_str(ndim < 0 ? 0 : ndim > NN_MAX_DIMS ? NN_MAX_DIMS : ndim, shape, b));
    }
    struct nn_storage *s = t->storage;
    bool reuse = s && s->capacity >= numel && !(avoid && avoid->storage == s);
    if (!reuse) {
        s = storage_new(numel);
        if (!s)
            return NN_ENOMEM;
        storage_drop(t->storage);
        t->storage = s;
    }
    t->data = s->data;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    nn_tensor_set_contiguous_strides(t);
    return NN_OK;
}

void nn_tensor_retain_into(nn_tensor *dst, const nn_tensor *src)
{
    if (src->storage)
        src->storage->refcount++;
    storage_drop(dst->storage);
    *dst = *src;
}

void nn_tensor_release(nn_tensor *t)
{
    storage_drop(t->storage);
    memset(t, 0, sizeof *t);
}

const float *nn_tensor_dense(const nn_tensor *x, nn_tensor *scratch)
{
    if (nn_tensor_is_contiguous(x))
        return x->data;
    if (nn_tensor_resize(scratch, x->ndim, x->shape, x) < 0)
        return NULL;
    nn_tensor_gather(x, scratch->data);
    return scratch->data;
}

/* --- one flat block for many tensors (a model's parameters) --- */

bool nn_tensor_is_packed(nn_tensor *const *ts, int n)
{
    if (n <= 0 || !ts[0]->storage)
        return false;
    const float *next = ts[0]->data;
    for (int i = 0; i < n; i++) {
        const nn_tensor *t = ts[i];
        if (t->storage != ts[0]->storage || t->data != next || t->ndim < 0 || t->ndim > NN_MAX_DIMS)
            return false;
        /* contiguous (sizes of 1 have any stride), and its numel, in one
           pass; anything unusual (an empty tensor) the long way */
        int64_t numel = 1;
        bool plain = true;
        for (int d = t->ndim - 1; d >= 0 && plain; d--)
            plain = t->shape[d] >= 0 && (t->shape[d] <= 1 || t->stride[d] == numel) &&
                    !mul_overflows(numel, t->shape[d], &numel);
        if (!plain) {
            if (!nn_tensor_is_contiguous(t))
                return false;
            numel = nn_tensor_numel(t);
        }
        next += numel;
    }
    return true;
}

int nn_tensor_pack(nn_tensor *const *ts, int n)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!ts[i] || !nn_tensor_is_contiguous(ts[i]))
            return nn_fail(NN_EINVAL, "nn_tensor_pack: tensor %d is %s", i,
                           ts[i] ? "not contiguous" : "NULL");
        total += nn_tensor_numel(ts[i]); /* each numel < NN_MAX_NUMEL: checked below */
        if (total > NN_MAX_NUMEL)
            return nn_fail(NN_ENOMEM, "nn_tensor_pack: %d tensors are too large together", n);
    }
    if (n == 0 || nn_tensor_is_packed(ts, n))
        return NN_OK;
    struct nn_storage *s = storage_new(total);
    if (!s)
        return NN_ENOMEM;
    float *at = s->data;
    for (int i = 0; i < n; i++) {
        int64_t numel = nn_tensor_numel(ts[i]);
        if (numel)
            memcpy(at, ts[i]->data, (size_t)numel * sizeof(float));
        s->refcount++;
        storage_drop(ts[i]->storage);
        ts[i]->storage = s;
        ts[i]->data = at;
        nn_tensor_set_contiguous_strides(ts[i]);
        at += numel;
    }
    storage_drop(s); /* the tensors hold it now */
    return NN_OK;
}

int nn_tensor_reserve_dense(nn_tensor *copy, const nn_tensor *x)
{
    if (nn_tensor_is_contiguous(x))
        return NN_OK;
    return nn_tensor_resize(copy, x->ndim, x->shape, x);
}

void nn_tensor_commit_dense(nn_tensor *cache, nn_tensor *copy, const nn_tensor *x)
{
    if (nn_tensor_is_contiguous(x)) {
        nn_tensor_retain_into(cache, x);
        nn_tensor_set_contiguous_strides(cache);
        return;
    }
    nn_tensor_gather(x, copy->data);
    nn_tensor_retain_into(cache, copy);
}

int nn_tensor_keep_dense(nn_tensor *cache, nn_tensor *copy, const nn_tensor *x)
{
    if (nn_tensor_is_contiguous(x)) {
        nn_tensor_retain_into(cache, x);
        nn_tensor_set_contiguous_strides(cache);
        return NN_OK;
    }
    /* cache may view copy's storage: let go first so a resize in place
       never leaves cache describing half-written data */
    nn_tensor_release(cache);
    if (nn_tensor_resize(copy, x->ndim, x->shape, x) < 0)
        return NN_ENOMEM;
    nn_tensor_gather(x, copy->data);
    nn_tensor_retain_into(cache, copy);
    return NN_OK;
}
