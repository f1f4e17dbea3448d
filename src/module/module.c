/* The module core: what every module gets without writing it. Children,
   parameters and buffers live in the base (nn/module_ops.h); naming,
   gathering, zero_grad, train/eval, printing, freeing and the rules for
   forward/backward sequencing and failures are here, once, for leaves and
   containers alike. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "module_impl.h"
#include "nn/parallel.h"
#include "nn/random.h"

/* run_state: what the next backward may do */
enum {
    RUN_NEVER = 0,  /* no forward yet: refuse */
    RUN_READY = 1,  /* a forward succeeded: one backward may run */
    RUN_BROKEN = 2, /* a container's forward failed after children ran */
    RUN_IDLE = 3,   /* no forward since the last backward: refuse */
};

void nn_module_init_alloc(nn_module *m, const nn_module_ops *ops, void (*release)(void *))
{
    memset(m, 0, sizeof *m);
    m->ops = ops;
    m->training = true;
    m->release = release;
    m->version = 1;
}

void nn_module_init(nn_module *m, const nn_module_ops *ops)
{
    nn_module_init_alloc(m, ops, free);
}

int nn_set_error(nn_status s, const char *fmt, ...)
{
    char msg[512] = "";
    va_list ap;
    msg[0] = '\0';
    va_start(ap, fmt);
    if (fmt)
        vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_fail(s < 0 ? s : NN_EINVAL, "%s", msg);
}

const char *nn_module_class(const nn_module *m)
{
    return m->class_name ? m->class_name : m->ops->type;
}

void nn_module_touch(nn_module *m)
{
    for (; m; m = m->parent)
        m->version++;
}

uint64_t nn_module_version(const nn_module *m)
{
    return m ? m->version : 0;
}

/* --- structure: parameters, buffers, children ------------------------- */

bool nn_module_is_within(const nn_module *m, const nn_module *a)
{
    for (const nn_module *up = m; up; up = up->parent)
        if (up == a)
            return true;
    return false;
}

int nn_rename_failure(int rc, const char *from, const char *to)
{
    size_t n = strlen(from);
    if (strncmp(nn_last_error(), from, n) == 0 && nn_last_error()[n] == ':')
        return nn_fail(rc, "%s%s", to, nn_last_error() + n);
    return nn_fail_context(rc, "%s", to);
}

static bool name_taken(const nn_module *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name))
            return true;
    for (int i = 0; i < m->n_buffers; i++)
        if (!strcmp(m->buffers[i].name, name))
            return true;
    for (int i = 0; i < m->n_children; i++)
        if (!strcmp(m->children[i].name, name))
            return true;
    return false;
}

/* A name PyTorch would give an attribute: non-empty, no '.', not taken. */
static int check_name(const char *fn, const nn_module *m, const char *what, const char *name)
{
    if (!m)
        return nn_fail(NN_EINVAL, "%s: module is NULL", fn);
    if (!name || !*name || strchr(name, '.'))
        return nn_fail(NN_EINVAL, "%s: %s name must be non-empty and contain no '.', got \"%s\"", fn, what,
                       name ? name : "(null)");
    if (name_taken(m, name))
        return nn_fail(NN_EINVAL, "%s: %s already has a parameter, buffer or child named \"%s\"", fn,
                       nn_module_class(m), name);
    return NN_OK;
}

/* Grows *arr (of *n items of size bytes) by one; NULL on failure. */
static void *grow(void *arr, int n, size_t size)
{
    char *grown = nn_alloc((size_t)(n + 1) * size);
    if (!grown)
        return NULL;
    if (n)
        memcpy(grown, arr, (size_t)n * size);
    return grown;
}

nn_tensor *nn_module_add_param(nn_module *m, const char *name, int ndim, const int64_t *shape)
{
    if (check_name("nn_module_add_param", m, "parameter", name) < 0)
        return NULL;
    nn_param *grown = grow(m->params, m->n_params, sizeof *grown);
    char *copy = grown ? nn_strdup(name) : NULL;
    nn_tensor *value = copy ? nn_tensor_new(ndim, shape) : NULL;
    nn_tensor *grad = value ? nn_tensor_new(ndim, shape) : NULL;
    if (!grad) {
        nn_tensor_free(value);
        nn_release(copy);
        nn_release(grown);
        return nn_fail_context_null("nn_module_add_param: %s", name);
    }
    grown[m->n_params] = (nn_param){copy, value, grad};
    nn_release(m->params);
    m->params = grown;
    m->n_params++;
    nn_module_touch(m);
    return value;
}

static nn_buffer *add_buffer(nn_module *m, const char *name, nn_dtype dtype, int ndim, const int64_t *shape,
                             bool persistent, const char *fn)
{
    if (check_name(fn, m, "buffer", name) < 0)
        return NULL;
    nn_buffer *grown = grow(m->buffers, m->n_buffers, sizeof *grown);
    char *copy = grown ? nn_strdup(name) : NULL;
    nn_tensor *value = copy && dtype == NN_F32 ? nn_tensor_new(ndim, shape) : NULL;
    int64_t *iv = copy && dtype == NN_I64 ? nn_alloc_zeroed(1, sizeof *iv) : NULL;
    if (!value && !iv) {
        nn_release(copy);
        nn_release(grown);
        return nn_fail_context_null("%s: %s", fn, name);
    }
    grown[m->n_buffers] = (nn_buffer){copy, dtype, value, iv, persistent};
    nn_release(m->buffers);
    m->buffers = grown;
    nn_module_touch(m);
    return &m->buffers[m->n_buffers++];
}

nn_tensor *nn_module_add_buffer(nn_module *m, const char *name, int ndim, const int64_t *shape, bool persistent)
{
    nn_buffer *b = add_buffer(m, name, NN_F32, ndim, shape, persistent, "nn_module_add_buffer");
    return b ? b->value : NULL;
}

int64_t *nn_module_add_int_buffer(nn_module *m, const char *name, bool persistent)
{
    nn_buffer *b = add_buffer(m, name, NN_I64, 0, NULL, persistent, "nn_module_add_int_buffer");
    return b ? b->int_value : NULL;
}

int nn_module_add_child(nn_module *m, const char *name, nn_module *child)
{
    const char *fn = "nn_module_add_child";
    if (!m)
        return nn_fail(NN_EINVAL, "%s: module is NULL", fn);
    if (!child) { /* keep what the child's constructor said */
        char why[400];
        snprintf(why, sizeof why, "%s", nn_last_error());
        if (*why) /* most likely its constructor's: say it, as the last error */
            return nn_fail(NN_EINVAL, "%s: child (%s) of %s is NULL (the last error: %s)", fn,
                           name ? name : "?", nn_module_class(m), why);
        return nn_fail(NN_EINVAL, "%s: child (%s) of %s is NULL", fn, name ? name : "?", nn_module_class(m));
    }
    if (nn_module_is_within(m, child))
        return nn_fail(NN_EINVAL, "%s: adding %s to %s would make a cycle", fn, nn_module_class(child),
                       nn_module_class(m));
    for (int i = 0; i < m->n_children; i++)
        if (m->children[i].module == child)
            return nn_fail(NN_EINVAL, "%s: this %s was already added as (%s)", fn, nn_module_class(child),
                           m->children[i].name);
    if (child->parent) /* a second owner would free it twice */
        return nn_fail(NN_EINVAL, "%s: this %s already belongs to %s", fn, nn_module_class(child),
                       nn_module_class(child->parent));
    if (check_name(fn, m, "child", name) < 0)
        return NN_EINVAL;
    nn_child *grown = grow(m->children, m->n_children, sizeof *grown);
    char *copy = grown ? nn_strdup(name) : NULL;
    if (!copy) {
        nn_release(grown);
        return nn_fail_context(NN_ENOMEM, "%s", fn);
    }
    grown[m->n_children] = (nn_child){copy, child};
    nn_release(m->children);
    m->children = grown;
    m->n_children++;
    child->parent = m;
    m->warm = false; /* the new child's first backward may allocate */
    nn_module_touch(m);
    return NN_OK;
}

nn_module *nn_module_child(const nn_module *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (int i = 0; i < m->n_children; i++)
        if (!strcmp(m->children[i].name, name))
            return m->children[i].module;
    return NULL;
}

int nn_module_set_class_name(nn_module *m, const char *class_name)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_module_set_class_name: module is NULL");
    if (!class_name || !*class_name)
        return nn_fail(NN_EINVAL, "nn_module_set_class_name: expected a non-empty name");
    char *copy = nn_strdup(class_name);
    if (!copy)
        return nn_fail_context(NN_ENOMEM, "nn_module_set_class_name");
    nn_release(m->class_name);
    m->class_name = copy;
    return NN_OK;
}

/* --- gathering: the subtree's parameters and buffers, named as
   PyTorch's named_parameters() / named_buffers() order and name them:
   a module's own first, then each child's under "<child>." */

static int gather(nn_module *m);

/* Sizes of the gathered lists of m (children gathered first). */
static int gather_sizes(nn_module *m, int *np, int *nb, size_t *bytes)
{
    *np = m->n_params;
    *nb = m->n_buffers;
    *bytes = 0;
    for (int i = 0; i < m->n_params; i++)
        *bytes += strlen(m->params[i].name) + 1;
    for (int i = 0; i < m->n_buffers; i++)
        *bytes += strlen(m->buffers[i].name) + 1;
    for (int c = 0; c < m->n_children; c++) {
        nn_module *k = m->children[c].module;
        int rc = gather(k);
        if (rc < 0)
            return rc;
        size_t prefix = strlen(m->children[c].name) + 1;
        *np += k->n_all_params;
        *nb += k->n_all_buffers;
        for (int i = 0; i < k->n_all_params; i++)
            *bytes += prefix + strlen(k->all_params[i].name) + 1;
        for (int i = 0; i < k->n_all_buffers; i++)
            *bytes += prefix + strlen(k->all_buffers[i].name) + 1;
    }
    if (*np > INT32_MAX / 2 || *nb > INT32_MAX / 2)
        return nn_fail(NN_EINVAL, "nn_module_params: too many parameters");
    return NN_OK;
}

static char *put_name(char *at, const char *prefix, const char *name, const char **out)
{
    *out = at;
    return at + (prefix ? sprintf(at, "%s.%s", prefix, name) : sprintf(at, "%s", name)) + 1;
}

/* Rebuilds m's gathered lists when its structure changed since; a leaf
   without children uses its own arrays. */
static int gather(nn_module *m)
{
    if (m->n_children == 0) {
        m->n_all_params = m->n_params;
        m->n_all_buffers = m->n_buffers;
        m->all_params = m->params;
        m->all_buffers = m->buffers;
        m->gathered = m->version;
        return NN_OK;
    }
    if (m->gathered == m->version)
        return NN_OK;
    int np, nb;
    size_t bytes;
    int rc = gather_sizes(m, &np, &nb, &bytes);
    if (rc < 0)
        return rc;
    nn_param *ps = np ? nn_alloc_zeroed((size_t)np, sizeof *ps) : NULL;
    nn_buffer *bs = nb ? nn_alloc_zeroed((size_t)nb, sizeof *bs) : NULL;
    char *names = bytes ? nn_alloc(bytes) : NULL;
    if ((np && !ps) || (nb && !bs) || (bytes && !names)) {
        nn_release(ps);
        nn_release(bs);
        nn_release(names);
        return NN_ENOMEM;
    }
    char *at = names;
    int ip = 0, ib = 0;
    for (int i = 0; i < m->n_params; i++, ip++) {
        ps[ip] = m->params[i];
        at = put_name(at, NULL, m->params[i].name, &ps[ip].name);
    }
    for (int i = 0; i < m->n_buffers; i++, ib++) {
        bs[ib] = m->buffers[i];
        at = put_name(at, NULL, m->buffers[i].name, &bs[ib].name);
    }
    for (int c = 0; c < m->n_children; c++) {
        const nn_module *k = m->children[c].module;
        for (int i = 0; i < k->n_all_params; i++, ip++) {
            ps[ip] = k->all_params[i];
            at = put_name(at, m->children[c].name, k->all_params[i].name, &ps[ip].name);
        }
        for (int i = 0; i < k->n_all_buffers; i++, ib++) {
            bs[ib] = k->all_buffers[i];
            at = put_name(at, m->children[c].name, k->all_buffers[i].name, &bs[ib].name);
        }
    }
    nn_release(m->all_params);
    nn_release(m->all_buffers);
    nn_release(m->all_names);
    m->all_params = ps;
    m->all_buffers = bs;
    m->all_names = names;
    m->n_all_params = np;
    m->n_all_buffers = nb;
    m->gathered = m->version;
    return NN_OK;
}

int nn_module_params(nn_module *m, nn_param **params)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_module_params: module is NULL");
    int rc = gather(m);
    if (rc < 0)
        return nn_fail_context(rc, "nn_module_params: %s", nn_module_class(m));
    if (params)
        *params = m->all_params;
    return m->n_all_params;
}

int nn_module_buffers(nn_module *m, nn_buffer **buffers)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_module_buffers: module is NULL");
    int rc = gather(m);
    if (rc < 0)
        return nn_fail_context(rc, "nn_module_buffers: %s", nn_module_class(m));
    if (buffers)
        *buffers = m->all_buffers;
    return m->n_all_buffers;
}

/* --- the walks every module gets ---------------------------------------- */

void nn_zero_grad(nn_module *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_params; i++)
        nn_tensor_fill(m->params[i].grad, 0.0f);
    for (int c = 0; c < m->n_children; c++)
        nn_zero_grad(m->children[c].module);
}

void nn_module_train(nn_module *m, bool training)
{
    if (!m)
        return;
    m->training = training;
    if (m->ops->set_training)
        m->ops->set_training(m, training);
    for (int c = 0; c < m->n_children; c++)
        nn_module_train(m->children[c].module, training);
}

const char *nn_module_type(const nn_module *m)
{
    return m ? m->ops->type : "NULL";
}

/* PyTorch's Module.__repr__: "Name(extra)" for a one-line extra_repr and
   no children; otherwise the extra_repr's lines, then "(child): repr"
   lines, each indented two more spaces, and ")" at the module's indent. */
static void print_module(const nn_module *m, FILE *f, int indent)
{
    char small[256], *extra = small;
    int n = m->ops->extra_repr ? m->ops->extra_repr(m, small, sizeof small) : 0;
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof small) {
        extra = nn_alloc((size_t)n + 1);
        if (extra)
            m->ops->extra_repr(m, extra, (size_t)n + 1);
        else
            extra = small; /* truncated rather than nothing */
    } else {
        small[n] = '\0';
    }
    fprintf(f, "%s(", nn_module_class(m));
    if (m->n_children == 0 && !strchr(extra, '\n')) {
        fputs(extra, f);
    } else if (*extra || m->n_children) {
        for (const char *line = extra; *extra && line;) {
            const char *end = strchr(line, '\n');
            int len = end ? (int)(end - line) : (int)strlen(line);
            fprintf(f, "\n%*s%.*s", indent + 2, "", len, line);
            line = end ? end + 1 : NULL;
        }
        for (int c = 0; c < m->n_children; c++) {
            fprintf(f, "\n%*s(%s): ", indent + 2, "", m->children[c].name);
            print_module(m->children[c].module, f, indent + 2);
        }
        fprintf(f, "\n%*s", indent, "");
    }
    fputc(')', f);
    if (extra != small)
        nn_release(extra);
}

const char *nn_repr_float(float v, char *buf)
{
    if (isfinite(v) && v == floorf(v) && fabsf(v) < 1e16f) { /* Python: "2.0", "100000.0" */
        snprintf(buf, NN_REPR_FLOAT_LEN, "%.1f", (double)v);
        return buf;
    }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, NN_REPR_FLOAT_LEN, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return buf;
}

void nn_module_print(const nn_module *m, FILE *f)
{
    if (!m || !f)
        return;
    nn_c_numbers cn; /* Dropout(p=0.5) with a '.' whatever setlocale chose */
    nn_c_numbers_begin(&cn, "nn_module_print");
    print_module(m, f, 0);
    fputc('\n', f);
    nn_c_numbers_end(&cn);
}

static void free_tree(nn_module *m)
{
    if (m->ops->destroy)
        m->ops->destroy(m);
    for (int c = 0; c < m->n_children; c++) {
        free_tree(m->children[c].module);
        nn_release((void *)m->children[c].name);
    }
    for (int i = 0; i < m->n_params; i++) {
        nn_tensor_free(m->params[i].value);
        nn_tensor_free(m->params[i].grad);
        nn_release((void *)m->params[i].name);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        nn_tensor_free(m->buffers[i].value);
        nn_release(m->buffers[i].int_value);
        nn_release((void *)m->buffers[i].name);
    }
    if (m->n_children) { /* a leaf's gathered lists are its own arrays */
        nn_release(m->all_params);
        nn_release(m->all_buffers);
        nn_release(m->all_names);
    }
    nn_release(m->children);
    nn_release(m->params);
    nn_release(m->buffers);
    nn_release(m->class_name);
    void (*release)(void *) = m->release ? m->release : free;
    release(m);
}

void nn_module_free(nn_module *m)
{
    if (!m)
        return;
    if (m->parent) { /* its container frees it; freeing it here would free it twice */
        nn_fail(NN_EINVAL, "nn_module_free: this %s belongs to %s, which frees it", nn_module_class(m),
                nn_module_class(m->parent));
        return;
    }
    free_tree(m);
}

/* --- forward and backward: checks, sequencing, failure rules ------------ */

/* A layer names the public function in its own errors; failures of
   internal helpers (allocation, sizes) get "fn: Type: " put in front. */
static bool names_fn(const char *fn)
{
    size_t n = strlen(fn);
    return strncmp(nn_last_error(), fn, n) == 0 && nn_last_error()[n] == ':';
}

static nn_tensor *named_failure(const char *fn, const nn_module *m)
{
    return names_fn(fn) ? NULL : nn_fail_context_null("%s: %s", fn, nn_module_class(m));
}

static nn_tensor *run_forward(nn_module *m, const nn_tensor *x, bool absorbing)
{
    if (!m)
        return nn_fail_null(NN_EINVAL, "nn_forward: module is NULL");
    if (nn_tensor_check("nn_forward", "input", x) < 0)
        return NULL;
    m->children_run = 0;
    m->failed_child = NULL;
    nn_tensor *y = absorbing ? m->ops->forward_absorbing(m, x) : m->ops->forward(m, x);
    if (!y) {
        /* a leaf's failed call changed nothing, nor a container's that
           failed before any child ran; otherwise the children that ran
           hold caches that no longer match the rest */
        if (m->children_run)
            m->run_state = RUN_BROKEN;
        for (int i = 0; m->parent && i < m->parent->n_children; i++)
            if (m->parent->children[i].module == m)
                m->parent->failed_child = m->parent->children[i].name;
        return named_failure("nn_forward", m);
    }
    if (m->parent) /* the container that ran m now holds m's new caches */
        m->parent->children_run++;
    /* only containers save gradients on a cold backward (container_backward) */
    if (m->n_children &&
        (x->ndim != m->warm_ndim || memcmp(x->shape, m->warm_shape, (size_t)x->ndim * sizeof *x->shape))) {
        m->warm = false; /* a new shape: the next backward may allocate */
        m->warm_ndim = x->ndim;
        memcpy(m->warm_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    }
    m->run_state = RUN_READY;
    return y;
}

nn_tensor *nn_forward(nn_module *m, const nn_tensor *x)
{
    return run_forward(m, x, false);
}

bool nn_module_absorbs(const nn_module *next, const nn_module *prev)
{
    return next && prev && next->ops->absorbs && next->ops->forward_absorbing && prev->ops->pointwise &&
           prev->n_params == 0 && !strcmp(next->ops->absorbs, prev->ops->pointwise);
}

nn_tensor *nn_module_forward_absorbing(nn_module *m, const nn_tensor *x)
{
    return run_forward(m, x, true);
}

/* Copies every gradient of the subtree into one new block (*out; NULL
   when there are none), or back from it (restore). */
static int grads_copy(nn_module *m, float **out, bool restore)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    if (n < 0)
        return n;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += nn_tensor_numel(p[i].grad);
    if (!restore) {
        *out = total ? nn_alloc((size_t)total * sizeof(float)) : NULL;
        if (total && !*out)
            return NN_ENOMEM;
    }
    float *at = *out;
    for (int i = 0; i < n; i++) {
        if (restore)
            nn_tensor_copy_in(p[i].grad, at);
        else
            nn_tensor_copy_out(p[i].grad, at);
        at += nn_tensor_numel(p[i].grad);
    }
    return NN_OK;
}

void nn_module_rearm(nn_module *m)
{
    if (!m)
        return;
    if (m->run_state == RUN_IDLE)
        m->run_state = RUN_READY;
    for (int c = 0; c < m->n_children; c++)
        nn_module_rearm(m->children[c].module);
}

static nn_tensor *call_backward(nn_module *m, const nn_tensor *g, bool need_dx)
{
    return !need_dx && m->ops->backward_ex ? m->ops->backward_ex(m, g, false) : m->ops->backward(m, g);
}

/* A container's first backward at an input shape (or thread count) may
   allocate, and running out of memory there comes after later children
   added into their gradients: those are saved first and put back, so a
   failed call changes nothing. Warm ones allocate nothing and cannot
   fail midway (unless a caller ran a child by hand at another shape in
   between, which regrows its slots). */
static nn_tensor *container_backward(nn_module *m, const nn_tensor *g, bool need_dx)
{
    int threads = nn_get_num_threads();
    bool warm = m->warm && m->warm_threads == threads;
    float *saved = NULL;
    if (!warm && grads_copy(m, &saved, false) < 0)
        return nn_fail_context_null("nn_backward: %s: saving the gradients", nn_module_class(m));
    nn_tensor *dx = call_backward(m, g, need_dx);
    if (!dx) { /* children that ran their backward may run it again */
        if (!warm)
            grads_copy(m, &saved, true);
        for (int c = 0; c < m->n_children; c++)
            nn_module_rearm(m->children[c].module);
    }
    nn_release(saved);
    m->warm = dx != NULL;
    m->warm_threads = threads;
    return dx;
}

int nn_module_set_backward_hook(nn_module *m, nn_backward_hook fn, void *ctx)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_module_set_backward_hook: module is NULL");
    m->backward_hook = fn;
    m->backward_hook_ctx = fn ? ctx : NULL;
    return NN_OK;
}

/* m's own parameter gradients are final: tell the nearest hook up. */
static void backward_done(nn_module *m)
{
    for (nn_module *up = m; up; up = up->parent)
        if (up->backward_hook) {
            up->backward_hook(up->backward_hook_ctx, m, m->params, m->n_params);
            return;
        }
}

nn_tensor *nn_module_backward(nn_module *m, const nn_tensor *grad_out, bool need_dx)
{
    if (!m)
        return nn_fail_null(NN_EINVAL, "nn_backward: module is NULL");
    if (nn_tensor_check("nn_backward", "grad_out", grad_out) < 0)
        return NULL;
    if (m->run_state == RUN_BROKEN)
        return nn_fail_null(NN_EINVAL,
                            "nn_backward: %s: the last forward failed %s%s%safter earlier children had run; run a "
                            "forward that succeeds before backward",
                            nn_module_class(m), m->failed_child ? "in child (" : "",
                            m->failed_child ? m->failed_child : "", m->failed_child ? ") " : "");
    if (m->run_state == RUN_NEVER)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s: called before forward", nn_module_class(m));
    if (m->run_state != RUN_READY)
        return nn_fail_null(NN_EINVAL,
                            "nn_backward: %s: no forward since the last backward (PyTorch: \"Trying to "
                            "backward through the graph a second time\"); run a forward first",
                            nn_module_class(m));
    nn_tensor *dx = m->n_children ? container_backward(m, grad_out, need_dx) : call_backward(m, grad_out, need_dx);
    if (!dx)
        return named_failure("nn_backward", m);
    m->run_state = RUN_IDLE;
    if (m->n_params)
        backward_done(m);
    return dx;
}

nn_tensor *nn_backward(nn_module *m, const nn_tensor *grad_out)
{
    return nn_module_backward(m, grad_out, true);
}

int nn_backward_params(nn_module *m, const nn_tensor *grad_out)
{
    if (nn_module_backward(m, grad_out, false))
        return NN_OK;
    nn_status why = nn_last_status();
    int st = why < 0 ? (int)why : NN_EINVAL;
    /* the messages name nn_backward: name this function instead */
    return nn_rename_failure(st, "nn_backward", "nn_backward_params");
}

/* --- containers' calls of their children -------------------------------- */

static nn_tensor *in_child(const nn_module *parent, const nn_child *c)
{
    char why[400];
    snprintf(why, sizeof why, "%s", nn_last_error());
    nn_status st = nn_last_status();
    return nn_fail_null(st < 0 ? st : NN_ESHAPE, "%s (in child (%s) of %s)", why, c->name, nn_module_class(parent));
}

nn_tensor *nn_child_forward(nn_module *parent, const nn_child *c, const nn_tensor *x, bool absorbing)
{
    nn_tensor *y = absorbing ? nn_module_forward_absorbing(c->module, x) : nn_forward(c->module, x);
    if (!c->module->parent) { /* a graph's copy: counted here, not by run_forward */
        parent->children_run += y != NULL;
        if (!y)
            parent->failed_child = c->name;
    }
    return y ? y : in_child(parent, c);
}

nn_tensor *nn_child_backward(const nn_module *parent, const nn_child *c, nn_module *m, const nn_tensor *g,
                             bool need_dx)
{
    nn_tensor *dx = nn_module_backward(m, g, need_dx);
    return dx ? dx : in_child(parent, c);
}

/* --- initialisation ------------------------------------------------------ */

void nn_init_uniform(nn_tensor *t, double bound)
{
    int64_t n = nn_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = nn_random_uniform(-bound, bound);
}

void nn_init_normal(nn_tensor *t, double mean, double std)
{
    nn_random_normal_fill(t->data, nn_tensor_numel(t), mean, std);
}

void nn_init_kaiming_uniform(nn_tensor *weight, nn_tensor *bias, double fan_in)
{
    /* the bound in double exactly as torch computes it; a*a is
       5.000000000000001 there too */
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1.0 + a * a));
    double std = gain / sqrt(fan_in);
    nn_init_uniform(weight, sqrt(3.0) * std);
    if (bias)
        nn_init_uniform(bias, 1.0 / sqrt(fan_in));
}
