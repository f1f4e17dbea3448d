/* libFuzzer harness for nn_load_fp: arbitrary bytes into a fixed SimpleNet
   layout (fc1 [5,2]+[5], fc2 [1,5]+[1]) and into a layout with float and
   int64 buffers (tests/gen_buffers.py's), through a seekable stream
   (fmemopen) and a non-seekable one (fopencookie), which take different
   paths. Any crash, sanitizer report, or a refused file that changed the
   weights or buffers or left no message, is a bug. Build and run: make fuzz. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "nn.h"
#include "param_module.h"

typedef struct {
    const uint8_t *p;
    size_t n, at;
} cursor;

static ssize_t cursor_read(void *c, char *buf, size_t size)
{
    cursor *cur = c;
    size_t k = cur->n - cur->at < size ? cur->n - cur->at : size;
    memcpy(buf, cur->p + cur->at, k);
    cur->at += k;
    return (ssize_t)k;
}

/* The state of a model: parameters, float buffers, int64 buffers. */
typedef struct {
    float f[64];
    int64_t i[4];
} state;

static nn_module *net, *bufnet;
static state before, after;

static void snapshot(nn_module *m, state *s)
{
    memset(s, 0, sizeof *s);
    nn_param *p;
    nn_buffer *b;
    int np = nn_module_params(m, &p), nb = nn_module_buffers(m, &b);
    float *out = s->f;
    int64_t *ints = s->i;
    for (int i = 0; i < np; i++) {
        nn_tensor_copy_out(p[i].value, out);
        out += nn_tensor_numel(p[i].value);
    }
    for (int i = 0; i < nb; i++) {
        if (b[i].dtype == NN_I64) {
            *ints++ = *b[i].int_value;
        } else {
            nn_tensor_copy_out(b[i].value, out);
            out += nn_tensor_numel(b[i].value);
        }
    }
}

static void load_and_check(nn_module *m, FILE *f)
{
    if (!f)
        return;
    snapshot(m, &before);
    int rc = nn_load_fp(m, f);
    fclose(f);
    if (rc < 0) {
        snapshot(m, &after);
        if (memcmp(&before, &after, sizeof before) != 0 || !nn_last_error()[0])
            abort();
    }
}

/* tests/gen_buffers.py's layout: features.0 and head, each with weight,
   bias, running_mean, running_var, tmp (not persistent) and an int64
   num_batches_tracked. */
static nn_module *stats(int64_t c)
{
    const pm_spec params[] = {{"weight", 1, {c}}, {"bias", 1, {c}}};
    const pm_buffer_spec bufs[] = {{"running_mean", false, true, 1, {c}},
                                   {"running_var", false, true, 1, {c}},
                                   {"tmp", false, false, 1, {2}},
                                   {"num_batches_tracked", true, true, 0, {0}}};
    return pm_new_buffers(2, params, 4, bufs);
}

static nn_module *buffers_net(void)
{
    nn_module *features = nn_sequential(), *m = nn_sequential();
    if (!features || !m || pm_add(features, NULL, stats(3)) < 0 || pm_add(m, "features", features) < 0) {
        nn_module_free(features);
        nn_module_free(m);
        return NULL;
    }
    if (pm_add(m, "head", stats(2)) < 0) {
        nn_module_free(m);
        return NULL;
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!net)
        net = pm_simplenet();
    if (!bufnet)
        bufnet = buffers_net();
    if (!net || !bufnet)
        abort();
    nn_module *models[2] = {net, bufnet};
    for (int k = 0; k < 2; k++) {
        if (size > 0)
            load_and_check(models[k], fmemopen((void *)data, size, "rb"));
        cursor c = {data, size, 0};
        load_and_check(models[k], fopencookie(&c, "rb", (cookie_io_functions_t){.read = cursor_read}));
    }
    return 0;
}
