/* The part every optimizer shares: gathering the parameters, the state
   block, step / zero_grad / free, and the generic state view used by
   checkpointing. The update rules live in sgd.c, adam.c, adamw.c,
   rmsprop.c and adagrad.c. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "module/module_impl.h"
#include "optim_impl.h"
#include "base/parallel_impl.h"

/* Updates of at least this many elements split over the threads in
   contiguous chunks of OPTIM_GRAIN: every rule is elementwise, so the
   bits do not depend on the split. */
#define OPTIM_PARALLEL_MIN ((int64_t)1 << 16)
#define OPTIM_GRAIN ((int64_t)1 << 13)

/* Every parameter must be a dense float array with a gradient of its size
   (dense: known when the caller just found them packed). */
static int check_params_known(const char *fn, const nn_param *p, int n, bool dense)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    for (int i = 0; i < n; i++) {
        if (!p[i].value || !p[i].grad)
            return nn_fail(NN_EINVAL, "%s: parameter %s has no %s", fn, p[i].name,
                           p[i].value ? "gradient" : "value");
        if (!nn_tensor_same_shape(p[i].value, p[i].grad) ||
            (!dense && (!nn_tensor_is_contiguous(p[i].value) || !nn_tensor_is_contiguous(p[i].grad))))
            return nn_fail(NN_ESHAPE,
                           "%s: parameter %s of shape %s needs a contiguous gradient of the same "
                           "shape, got %s",
                           fn, p[i].name, nn_tensor_shape_str(p[i].value, a),
                           nn_tensor_shape_str(p[i].grad, b));
    }
    return NN_OK;
}

static int check_params(const char *fn, const nn_param *p, int n)
{
    return check_params_known(fn, p, n, false);
}

static bool gather_params(nn_optim *o, nn_module *m, const char *fn)
{
    nn_param *src;
    int n = nn_module_params(m, &src);
    if (n < 0) {
        nn_fail_context(n, "%s", fn);
        return false;
    }
    if (n == 0) {
        nn_fail(NN_EINVAL, "%s: module %s has no parameters to optimize", fn, nn_module_type(m));
        return false;
    }
    if (check_params(fn, src, n) < 0)
        return false;
    /* names are copied (behind the array): a container frees its name
       block when it grows */
    size_t name_bytes = 0;
    for (int i = 0; i < n; i++)
        name_bytes += strlen(src[i].name) + 1;
    o->params = nn_alloc((size_t)n * sizeof *o->params + name_bytes);
    o->numel = nn_alloc_zeroed((size_t)n, sizeof *o->numel);
    o->offset = nn_alloc_zeroed((size_t)n, sizeof *o->offset);
    o->tensors = nn_alloc_zeroed(2 * (size_t)n, sizeof *o->tensors);
    if (!o->params || !o->numel || !o->offset || !o->tensors) {
        nn_fail_context(NN_ENOMEM, "%s", fn);
        return false;
    }
    memcpy(o->params, src, (size_t)n * sizeof *src);
    o->n_params = n;
    o->module = m;
    o->module_version = nn_module_version(m);
    char *at = (char *)(o->params + n);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(src[i].name) + 1;
        memcpy(at, src[i].name, len);
        o->params[i].name = at;
        at += len;
        o->numel[i] = nn_tensor_numel(src[i].value);
        o->offset[i] = o->total;
        o->total += o->numel[i];
        o->tensors[i] = src[i].value;
        o->tensors[n + i] = src[i].grad;
    }
    return true;
}

/* Still in the flat block (nobody re-pointed a parameter since)? */
static bool is_packed(const nn_optim *o)
{
    return nn_tensor_is_packed(o->tensors, 2 * o->n_params);
}

static void destroy(nn_optim *o)
{
    nn_release(o->tensors);
    nn_release(o->state);
    nn_release(o->offset);
    nn_release(o->numel);
    nn_release(o->params);
    nn_release(o);
}

nn_optim *nn_optim_create(const nn_optim_ops *ops, nn_module *m, const void *opts,
                          size_t size, size_t opts_offset)
{
    const char *fn = ops->constructor;
    if (!m)
        return nn_fail_null(NN_EINVAL, "%s: module is NULL", fn);
    if (ops->validate(fn, opts) < 0)
        return NULL;
    nn_optim *o = nn_alloc_zeroed(1, size);
    if (!o)
        return nn_fail_context_null("%s", fn);
    o->ops = ops;
    o->opts = (char *)o + opts_offset;
    memcpy(o->opts, opts, ops->opts_size);
    o->n_keys = ops->keys(o->opts, o->keys);
    if (!gather_params(o, m, fn)) {
        destroy(o);
        return NULL; /* gather_params names fn */
    }
    if (o->n_keys > 0) {
        o->state = nn_alloc_zeroed((size_t)o->n_keys * (size_t)o->total, sizeof(float));
        if (!o->state) {
            destroy(o);
            return nn_fail_context_null("%s", fn);
        }
        if (ops->init_state)
            ops->init_state(o);
    }
    /* Last, and one allocation, so that a failure leaves the module
       untouched: all values then all gradients, back to back in one block
       (the gradients alone are then one range, for an all-reduce say).
       The numbers stay; only where they live changes. */
    if (nn_tensor_pack(o->tensors, 2 * o->n_params) < 0) {
        destroy(o);
        return nn_fail_context_null("%s", fn);
    }
    return o;
}

float *nn_optim_buffer(const nn_optim *o, int i, int k)
{
    return o->state + (int64_t)k * o->total + o->offset[i];
}

typedef struct {
    const nn_optim *o;
    float *p;
    const float *g;
    float *const *bufs;
} update_job;

static void update_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const update_job *j = ctx;
    float *bufs[NN_OPTIM_MAX_KEYS];
    for (int k = 0; k < j->o->n_keys; k++)
        bufs[k] = j->bufs[k] + begin;
    j->o->ops->update(j->o, j->p + begin, j->g + begin, bufs, end - begin);
}

/* One update of n elements, over the threads when large. */
static void run_update(const nn_optim *o, float *p, const float *g, float *const *bufs, int64_t n)
{
    update_job j = {o, p, g, bufs};
    int parts = n < OPTIM_PARALLEL_MIN ? 1 : nn_get_num_threads();
    if (parts > 1)
        nn_parallel_for(n, OPTIM_GRAIN, parts, update_chunk, &j);
    else
        o->ops->update(o, p, g, bufs, n);
}

/* The model's parameter list is still the one gathered at construction
   (a layer added since would silently never train). */
static int check_same_params(nn_optim *o)
{
    if (nn_module_version(o->module) == o->module_version)
        return NN_OK;
    nn_param *p;
    int n = nn_module_params(o->module, &p);
    if (n < 0)
        return nn_fail_context(n, "nn_optim_step");
    bool same = n == o->n_params;
    for (int i = 0; same && i < n; i++)
        same = p[i].value == o->params[i].value && p[i].grad == o->params[i].grad;
    if (!same)
        return nn_fail(NN_EINVAL,
                       "nn_optim_step: the model's parameters changed since %s was created (%d then, %d now: "
                       "a layer added?); create the optimizer after building the model",
                       o->ops->constructor, o->n_params, n);
    o->module_version = nn_module_version(o->module); /* e.g. a ReLU was added: nothing to train */
    return NN_OK;
}

int nn_optim_step(nn_optim *o)
{
    if (!o)
        return nn_fail(NN_EINVAL, "nn_optim_step: optimizer is NULL");
    int same = check_same_params(o);
    if (same < 0)
        return same;
    /* the module may have been changed since: re-check before touching anything */
    for (int i = 0; i < o->n_params; i++)
        if (nn_tensor_numel(o->params[i].value) != o->numel[i])
            return nn_fail(NN_ESHAPE, "nn_optim_step: %s parameter %s changed size from %lld to %lld",
                           o->ops->type, o->params[i].name, (long long)o->numel[i],
                           (long long)nn_tensor_numel(o->params[i].value));
    /* packed implies every value and gradient is contiguous */
    bool packed = is_packed(o);
    if (check_params_known("nn_optim_step", o->params, o->n_params, packed) < 0)
        return NN_ESHAPE;
    o->step++;
    float *bufs[NN_OPTIM_MAX_KEYS];
    if (packed) { /* one loop over every element of the model */
        for (int k = 0; k < o->n_keys; k++)
            bufs[k] = nn_optim_buffer(o, 0, k);
        run_update(o, o->params[0].value->data, o->params[0].grad->data, bufs, o->total);
        return NN_OK;
    }
    for (int i = 0; i < o->n_params; i++) {
        for (int k = 0; k < o->n_keys; k++)
            bufs[k] = nn_optim_buffer(o, i, k);
        /* read the data pointers now: parameters may have been re-pointed */
        run_update(o, o->params[i].value->data, o->params[i].grad->data, bufs, o->numel[i]);
    }
    return NN_OK;
}

static float *block(nn_optim *o, int64_t *n, bool grads)
{
    if (n)
        *n = 0;
    if (!o || !is_packed(o))
        return NULL;
    if (n)
        *n = o->total;
    return grads ? o->params[0].grad->data : o->params[0].value->data;
}

float *nn_optim_grad_block(nn_optim *o, int64_t *n)
{
    return block(o, n, true);
}

float *nn_optim_param_block(nn_optim *o, int64_t *n)
{
    return block(o, n, false);
}

void nn_optim_zero_grad(nn_optim *o)
{
    if (!o)
        return;
    if (is_packed(o)) {
        memset(o->params[0].grad->data, 0, (size_t)o->total * sizeof(float));
        return;
    }
    for (int i = 0; i < o->n_params; i++) /* as the tensor is now, strides and all */
        nn_tensor_fill(o->params[i].grad, 0.0f);
}

void nn_optim_free(nn_optim *o)
{
    if (o)
        destroy(o);
}

/* --- generic state view ----------------------------------------------- */

int nn_optim_state_count(const nn_optim *o)
{
    return o ? o->n_params * o->n_keys : 0;
}

int nn_optim_state_at(const nn_optim *o, int index, nn_optim_state_entry *out)
{
    if (!o || !out || index < 0 || index >= nn_optim_state_count(o))
        return nn_fail(NN_EINVAL, "nn_optim_state_at: index %d out of range (%d entries)", index,
                       nn_optim_state_count(o));
    int i = index / o->n_keys, k = index % o->n_keys;
    *out = (nn_optim_state_entry){
        .param = i,
        .param_name = o->params[i].name,
        .key = o->keys[k],
        .data = nn_optim_buffer(o, i, k),
        .length = o->numel[i],
        .present = !o->ops->lazy_state || o->step > 0,
    };
    return NN_OK;
}

int nn_optim_state_name(const nn_optim_state_entry *e, char *buf, size_t size)
{
    int n = snprintf(buf, size, "state.%d.%s", e->param, e->key);
    return n < 0 || (size_t)n >= size ? NN_EINVAL : NN_OK;
}

bool nn_optim_has_step(const nn_optim *o)
{
    return o && o->ops->has_step;
}

int64_t nn_optim_get_step(const nn_optim *o)
{
    return o ? o->step : 0;
}

int nn_optim_set_step(nn_optim *o, int64_t step)
{
    if (!o || step < 0)
        return nn_fail(NN_EINVAL, "nn_optim_set_step: %s", o ? "negative step" : "optimizer is NULL");
    o->step = step;
    if (step == 0 && o->ops->lazy_state && o->state)
        memset(o->state, 0, (size_t)o->n_keys * (size_t)o->total * sizeof(float));
    return NN_OK;
}

int nn_optim_hparam_count(const nn_optim *o)
{
    return o ? o->ops->n_hparams : 0;
}

static double hparam_read(const void *opts, const nn_optim_hparam_desc *d)
{
    const char *field = (const char *)opts + d->offset;
    if (d->is_bool) {
        bool b;
        memcpy(&b, field, sizeof b);
        return b ? 1.0 : 0.0;
    }
    float f;
    memcpy(&f, field, sizeof f);
    return f;
}

int nn_optim_hparam_at(const nn_optim *o, int index, const char **name, double *value)
{
    if (!o || !name || !value || index < 0 || index >= o->ops->n_hparams)
        return nn_fail(NN_EINVAL, "nn_optim_hparam_at: index %d out of range (%d hyperparameters)",
                       index, nn_optim_hparam_count(o));
    *name = o->ops->hparams[index].name;
    *value = hparam_read(o->opts, &o->ops->hparams[index]);
    return NN_OK;
}

/* Options structs are a handful of floats and a bool. */
#define OPTS_MAX 64

int nn_optim_hparam_set(nn_optim *o, const char *name, double value)
{
    if (!o || !name)
        return nn_fail(NN_EINVAL, "nn_optim_hparam_set: %s is NULL", o ? "name" : "optimizer");
    const nn_optim_hparam_desc *d = NULL;
    for (int i = 0; i < o->ops->n_hparams && !d; i++)
        if (strcmp(o->ops->hparams[i].name, name) == 0)
            d = &o->ops->hparams[i];
    if (!d)
        return nn_fail(NN_EINVAL, "nn_optim_hparam_set: %s has no hyperparameter \"%s\"",
                       o->ops->type, name);
    if (d->is_bool && value != 0.0 && value != 1.0)
        return nn_fail(NN_EINVAL, "nn_optim_hparam_set: %s %s must be 0 or 1, got %g",
                       o->ops->type, name, value);
    _Alignas(max_align_t) char copy[OPTS_MAX];
    if (o->ops->opts_size > sizeof copy)
        return nn_fail(NN_EINVAL, "nn_optim_hparam_set: options too large");
    memcpy(copy, o->opts, o->ops->opts_size);
    if (d->is_bool) {
        bool b = value != 0.0;
        memcpy(copy + d->offset, &b, sizeof b);
    } else {
        float f = (float)value;
        memcpy(copy + d->offset, &f, sizeof f);
    }
    if (o->ops->validate("nn_optim_hparam_set", copy) < 0)
        return NN_EINVAL;
    const char *keys[NN_OPTIM_MAX_KEYS];
    int n_keys = o->ops->keys(copy, keys);
    bool same = n_keys == o->n_keys;
    for (int k = 0; same && k < n_keys; k++)
        same = strcmp(keys[k], o->keys[k]) == 0;
    if (!same)
        return nn_fail(NN_EINVAL,
                       "nn_optim_hparam_set: %s %s = %g would change which state buffers exist; "
                       "create a new optimizer instead",
                       o->ops->type, name, value);
    memcpy(o->opts, copy, o->ops->opts_size);
    return NN_OK;
}

/* Every options struct starts with its float lr (nn_*_opts in nn/optim.h). */
_Static_assert(offsetof(nn_sgd_opts, lr) == 0 && offsetof(nn_adam_opts, lr) == 0 &&
                   offsetof(nn_rmsprop_opts, lr) == 0 && offsetof(nn_adagrad_opts, lr) == 0,
               "lr leads every options struct");
float nn_optim_get_lr(const nn_optim *o)
{
    if (!o) {
        nn_fail(NN_EINVAL, "nn_optim_get_lr: optimizer is NULL");
        return NAN;
    }
    float lr;
    memcpy(&lr, o->opts, sizeof lr);
    return lr;
}

int nn_optim_set_lr(nn_optim *o, float lr)
{
    if (!o)
        return nn_fail(NN_EINVAL, "nn_optim_set_lr: optimizer is NULL");
    if (!(lr >= 0.0f) || isinf(lr))
        return nn_fail(NN_EINVAL, "nn_optim_set_lr: invalid lr %g (expected a finite lr >= 0)",
                       (double)lr);
    memcpy(o->opts, &lr, sizeof lr);
    return NN_OK;
}

/* --- validation helpers used by every optimizer ------------------------ */

int nn_optim_check_nonneg(const char *fn, const char *name, float v)
{
    if (!(v >= 0.0f) || isinf(v))
        return nn_fail(NN_EINVAL, "%s: invalid %s %g (expected a finite %s >= 0)", fn, name,
                       (double)v, name);
    return NN_OK;
}

int nn_optim_check_unit(const char *fn, const char *name, float v)
{
    if (!(v >= 0.0f && v < 1.0f))
        return nn_fail(NN_EINVAL, "%s: invalid %s %g (expected 0 <= %s < 1)", fn, name, (double)v,
                       name);
    return NN_OK;
}
