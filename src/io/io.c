/* nn_save / nn_load: a module's state_dict (parameters and persistent
   buffers) as one safetensors file. */
#include <stdio.h>

#include "module/module_impl.h"
#include "safetensors.h"

/* HF tooling reads "format" to tell torch files apart. */
static const st_meta model_meta[] = {{"format", "pt"}};

/* What torch's state_dict() holds: every parameter and every persistent
   buffer, under their full names. *out is nn_alloc'ed (NULL when empty). */
static int state_of(nn_module *m, st_entry **out, const char *where)
{
    *out = NULL;
    if (!m)
        return nn_fail(NN_EINVAL, "%s: module is NULL", where);
    nn_param *p;
    nn_buffer *b;
    int np = nn_module_params(m, &p);
    if (np < 0)
        return np;
    int nb = nn_module_buffers(m, &b);
    if (nb < 0)
        return nb;
    int n = np;
    for (int i = 0; i < nb; i++)
        n += b[i].persistent;
    st_entry *e = n ? nn_alloc_zeroed((size_t)n, sizeof *e) : NULL;
    if (n && !e)
        return NN_ENOMEM;
    int k = 0;
    for (int i = 0; i < np; i++)
        e[k++] = (st_entry){p[i].name, NN_F32, p[i].value, NULL};
    for (int i = 0; i < nb; i++)
        if (b[i].persistent)
            e[k++] = (st_entry){b[i].name, b[i].dtype, b[i].value, b[i].int_value};
    *out = e;
    return n;
}

typedef struct {
    nn_module *m;
    const char *where;
    bool exact;
} job;

static int write_module(FILE *f, void *ctx)
{
    job *j = ctx;
    st_entry *e;
    int n = state_of(j->m, &e, j->where);
    if (n < 0)
        return n;
    int rc = st_write(f, e, n, model_meta, 1, j->where);
    nn_release(e);
    return rc;
}

static int read_module(FILE *f, int64_t size, void *ctx)
{
    job *j = ctx;
    st_entry *e;
    int n = state_of(j->m, &e, j->where);
    if (n < 0)
        return n;
    int rc = st_read(f, size, j->exact, e, n, NULL, 0, NULL, NULL, j->where);
    nn_release(e);
    return rc;
}

int nn_save(nn_module *m, const char *path)
{
    char where[320];
    snprintf(where, sizeof where, "nn_save: %s", path ? path : "(null)");
    if (!m)
        return nn_fail(NN_EINVAL, "nn_save: module is NULL");
    job j = {m, where, true};
    return st_name_oom(nn_write_atomically(path, write_module, &j, "nn_save"), where);
}

int nn_load(nn_module *m, const char *path)
{
    char where[320];
    snprintf(where, sizeof where, "nn_load: %s", path ? path : "(null)");
    if (!m)
        return nn_fail(NN_EINVAL, "nn_load: module is NULL");
    job j = {m, where, true};
    return st_name_oom(st_load_file(path, read_module, &j, "nn_load"), where);
}

int nn_save_fp(nn_module *m, FILE *f)
{
    job j = {m, "nn_save_fp", true};
    if (!f)
        return nn_fail(NN_EINVAL, "nn_save_fp: stream is NULL");
    return st_name_oom(write_module(f, &j), j.where);
}

int nn_load_fp(nn_module *m, FILE *f)
{
    job j = {m, "nn_load_fp", false};
    if (!f)
        return nn_fail(NN_EINVAL, "nn_load_fp: stream is NULL");
    return st_name_oom(read_module(f, st_stream_remaining(f), &j), j.where);
}
