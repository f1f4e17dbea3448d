/* Optimizer checkpoints: every state buffer as a tensor named like torch's
   optimizer state_dict ("state.0.exp_avg", shaped as its parameter), the
   optimizer type, step count and hyperparameters in __metadata__. All
   buffers are saved, also lazy ones before the first step (zeros then), so
   the set of keys depends only on the optimizer's options. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_impl.h"
#include "safetensors.h"

#define NAME_LEN 64              /* "state.<int>.<key>" */
#define MAX_HPARAMS 14           /* metadata: optimizer, step, then these */
#define VALUE_LEN 32             /* "%.17g" of a double, an int64 */

/* The state buffers seen as named tensors with their parameters' shapes. */
typedef struct {
    st_entry *list;
    nn_tensor *views;
    char *names;
    int n;
} state_view;

static void view_free(state_view *v)
{
    nn_release(v->list);
    nn_release(v->views);
    nn_release(v->names);
}

static int view_build(nn_optim *o, state_view *v, const char *where)
{
    memset(v, 0, sizeof *v);
    v->n = nn_optim_state_count(o);
    v->list = nn_alloc_zeroed((size_t)v->n, sizeof *v->list);
    v->views = v->list ? nn_alloc_zeroed((size_t)v->n, sizeof *v->views) : NULL;
    v->names = v->views ? nn_alloc_zeroed((size_t)v->n, NAME_LEN) : NULL;
    if (!v->names) {
        view_free(v);
        return NN_ENOMEM;
    }
    for (int e = 0; e < v->n; e++) {
        nn_optim_state_entry en;
        char *name = v->names + (size_t)e * NAME_LEN;
        nn_tensor *t = &v->views[e];
        if (nn_optim_state_at(o, e, &en) < 0 || nn_optim_state_name(&en, name, NAME_LEN) < 0) {
            view_free(v);
            return nn_fail(NN_EINVAL, "%s: cannot name state entry %d", where, e);
        }
        const nn_tensor *p = o->params[en.param].value;
        t->data = en.data;
        t->ndim = 1;
        t->shape[0] = en.length;
        if (nn_tensor_numel(p) == en.length) { /* as torch: the parameter's shape */
            t->ndim = p->ndim;
            memcpy(t->shape, p->shape, sizeof t->shape);
        }
        nn_tensor_set_contiguous_strides(t);
        v->list[e] = (st_entry){name, NN_F32, t, NULL};
    }
    return NN_OK;
}

/* ---------------------------------------------------------------- saving */

typedef struct {
    nn_optim *o;
    const char *where;
} job;

static int write_optim(FILE *f, void *ctx)
{
    job *j = ctx;
    nn_optim *o = j->o;
    int n_h = nn_optim_hparam_count(o);
    if (n_h > MAX_HPARAMS)
        return nn_fail(NN_EINVAL, "%s: %s has %d hyperparameters, at most %d fit", j->where,
                       o->ops->type, n_h, MAX_HPARAMS);
    st_meta meta[2 + MAX_HPARAMS];
    char values[1 + MAX_HPARAMS][VALUE_LEN];
    meta[0] = (st_meta){"optimizer", o->ops->type};
    snprintf(values[0], VALUE_LEN, "%lld", (long long)nn_optim_get_step(o));
    meta[1] = (st_meta){"step", values[0]};
    nn_c_numbers cn; /* '.' decimals whatever setlocale chose */
    if (nn_c_numbers_begin(&cn, j->where) < 0)
        return NN_ENOMEM;
    for (int i = 0; i < n_h; i++) {
        double v;
        nn_optim_hparam_at(o, i, &meta[2 + i].key, &v);
        snprintf(values[1 + i], VALUE_LEN, "%.17g", v); /* exact round trip */
        meta[2 + i].value = values[1 + i];
    }
    nn_c_numbers_end(&cn);
    state_view view;
    int rc = view_build(o, &view, j->where);
    if (rc < 0)
        return rc;
    rc = st_write(f, view.list, view.n, meta, 2 + n_h, j->where);
    view_free(&view);
    return rc;
}

/* ---------------------------------------------------------------- loading */

typedef struct {
    nn_optim *o;
    st_meta_want want[2 + MAX_HPARAMS];
    char values[2 + MAX_HPARAMS][VALUE_LEN];
    int n_want;
    const char *where;
} load_job;

static void load_job_init(load_job *l, nn_optim *o, const char *where)
{
    memset(l, 0, sizeof *l);
    l->o = o;
    l->where = where;
    int n_h = nn_optim_hparam_count(o);
    l->n_want = 2 + (n_h > MAX_HPARAMS ? MAX_HPARAMS : n_h);
    l->want[0].key = "optimizer";
    l->want[1].key = "step";
    for (int i = 0; i + 2 < l->n_want; i++) {
        double unused;
        nn_optim_hparam_at(o, i, &l->want[2 + i].key, &unused);
    }
    for (int i = 0; i < l->n_want; i++) {
        l->want[i].value = l->values[i];
        l->want[i].cap = VALUE_LEN;
    }
}

/* A decimal number as "%.17g" writes it: no hex, inf or nan. */
static bool parse_double(const char *s, double *out)
{
    if (strspn(s, "0123456789+-.eE") != strlen(s))
        return false;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && !*end && errno == 0;
}

/* Runs once the file is known good: check the metadata, then apply the
   hyperparameters and step (rolled back if one is refused). */
static int commit_optim(void *ctx)
{
    load_job *l = ctx;
    nn_optim *o = l->o;
    for (int i = 0; i < l->n_want; i++)
        if (!l->want[i].found)
            return nn_fail(NN_EFORMAT, "%s: metadata lacks \"%s\"", l->where, l->want[i].key);
    if (strcmp(l->values[0], o->ops->type) != 0)
        return nn_fail(NN_EINVAL, "%s: the file holds %s state, the optimizer is %s", l->where,
                       l->values[0], o->ops->type);
    const char *s = l->values[1];
    char *end;
    errno = 0;
    long long step = strtoll(s, &end, 10);
    if (!*s || *end || errno != 0 || step < 0 || (*s < '0' || *s > '9'))
        return nn_fail(NN_EFORMAT, "%s: step \"%s\" is not a non-negative integer", l->where, s);
    double v[MAX_HPARAMS];
    nn_c_numbers cn;
    if (nn_c_numbers_begin(&cn, l->where) < 0)
        return NN_ENOMEM;
    int bad = -1;
    for (int i = 2; i < l->n_want && bad < 0; i++)
        if (!parse_double(l->values[i], &v[i - 2]))
            bad = i;
    nn_c_numbers_end(&cn);
    if (bad >= 0)
        return nn_fail(NN_EFORMAT, "%s: hyperparameter %s = \"%s\" is not a number", l->where,
                       l->want[bad].key, l->values[bad]);

    unsigned char saved[256];
    if (o->ops->opts_size > sizeof saved)
        return nn_fail(NN_EINVAL, "%s: options of %s too large", l->where, o->ops->type);
    memcpy(saved, o->opts, o->ops->opts_size);
    for (int i = 2; i < l->n_want; i++) {
        if (nn_optim_hparam_set(o, l->want[i].key, v[i - 2]) < 0) {
            char why[300];
            snprintf(why, sizeof why, "%s", nn_last_error());
            memcpy(o->opts, saved, o->ops->opts_size);
            return nn_fail(NN_EINVAL, "%s: %s", l->where, why);
        }
    }
    nn_optim_set_step(o, (int64_t)step); /* cannot fail: step >= 0 */
    return NN_OK;
}

typedef struct {
    load_job lj;
    bool exact;
} file_job;

static int read_optim(FILE *f, int64_t size, void *ctx)
{
    file_job *fj = ctx;
    load_job *l = &fj->lj;
    state_view view;
    int rc = view_build(l->o, &view, l->where);
    if (rc < 0)
        return rc;
    rc = st_read(f, size, fj->exact, view.list, view.n, l->want, l->n_want, commit_optim, l, l->where);
    view_free(&view);
    return rc;
}

int nn_optim_save(nn_optim *o, const char *path)
{
    char where[320];
    snprintf(where, sizeof where, "nn_optim_save: %s", path ? path : "(null)");
    if (!o)
        return nn_fail(NN_EINVAL, "nn_optim_save: optimizer is NULL");
    job j = {o, where};
    return st_name_oom(nn_write_atomically(path, write_optim, &j, "nn_optim_save"), where);
}

int nn_optim_save_fp(nn_optim *o, FILE *f)
{
    if (!o || !f)
        return nn_fail(NN_EINVAL, "nn_optim_save_fp: %s is NULL", o ? "stream" : "optimizer");
    job j = {o, "nn_optim_save_fp"};
    return st_name_oom(write_optim(f, &j), j.where);
}

int nn_optim_load(nn_optim *o, const char *path)
{
    char where[320];
    snprintf(where, sizeof where, "nn_optim_load: %s", path ? path : "(null)");
    if (!o)
        return nn_fail(NN_EINVAL, "nn_optim_load: optimizer is NULL");
    file_job fj = {.exact = true};
    load_job_init(&fj.lj, o, where);
    return st_name_oom(st_load_file(path, read_optim, &fj, "nn_optim_load"), where);
}

int nn_optim_load_fp(nn_optim *o, FILE *f)
{
    if (!o || !f)
        return nn_fail(NN_EINVAL, "nn_optim_load_fp: %s is NULL", o ? "stream" : "optimizer");
    file_job fj = {.exact = false};
    load_job_init(&fj.lj, o, "nn_optim_load_fp");
    return st_name_oom(read_optim(f, st_stream_remaining(f), &fj), "nn_optim_load_fp");
}
