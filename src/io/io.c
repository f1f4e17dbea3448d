/* nn_save / nn_load: a module's parameters as one safetensors file. */
#include <stdio.h>

#include "module/module_impl.h"
#include "safetensors.h"

/* HF tooling reads "format" to tell torch files apart. */
static const st_meta model_meta[] = {{"format", "pt"}};

typedef struct {
    nn_module *m;
    const char *where;
} job;

static int params_of(nn_module *m, nn_param **p, const char *fn)
{
    if (!m)
        return nn_fail(NN_EINVAL, "%s: module is NULL", fn);
    return nn_module_params(m, p);
}

static int write_module(FILE *f, void *ctx)
{
    job *j = ctx;
    nn_param *p;
    int n = params_of(j->m, &p, j->where);
    return n < 0 ? n : st_write(f, p, n, model_meta, 1, j->where);
}

static int read_module(FILE *f, int64_t size, void *ctx)
{
    job *j = ctx;
    nn_param *p;
    int n = params_of(j->m, &p, j->where);
    return n < 0 ? n : st_read(f, size, true, p, n, NULL, 0, NULL, NULL, j->where);
}

int nn_save(nn_module *m, const char *path)
{
    char where[320];
    snprintf(where, sizeof where, "nn_save: %s", path ? path : "(null)");
    if (!m)
        return nn_fail(NN_EINVAL, "nn_save: module is NULL");
    job j = {m, where};
    return st_name_oom(nn_write_atomically(path, write_module, &j, "nn_save"), where);
}

int nn_load(nn_module *m, const char *path)
{
    char where[320];
    snprintf(where, sizeof where, "nn_load: %s", path ? path : "(null)");
    if (!m)
        return nn_fail(NN_EINVAL, "nn_load: module is NULL");
    job j = {m, where};
    return st_name_oom(st_load_file(path, read_module, &j, "nn_load"), where);
}

int nn_save_fp(nn_module *m, FILE *f)
{
    job j = {m, "nn_save_fp"};
    if (!f)
        return nn_fail(NN_EINVAL, "nn_save_fp: stream is NULL");
    return st_name_oom(write_module(f, &j), j.where);
}

int nn_load_fp(nn_module *m, FILE *f)
{
    job j = {m, "nn_load_fp"};
    nn_param *p;
    if (!f)
        return nn_fail(NN_EINVAL, "nn_load_fp: stream is NULL");
    int n = params_of(m, &p, j.where);
    if (n < 0)
        return st_name_oom(n, j.where);
    return st_name_oom(st_read(f, st_stream_remaining(f), false, p, n, NULL, 0, NULL, NULL, j.where), j.where);
}
