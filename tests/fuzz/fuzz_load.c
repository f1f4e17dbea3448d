/* libFuzzer harness for nn_load_fp: arbitrary bytes into a fixed SimpleNet
   layout (fc1 [5,2]+[5], fc2 [1,5]+[1]), through a seekable stream
   (fmemopen) and a non-seekable one (fopencookie), which take different
   paths. Any crash, sanitizer report, or a refused file that changed the
   weights or left no message, is a bug. Build and run: make fuzz. */
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

static nn_module *net;
static float before[21], after[21];

static void snapshot(float *out)
{
    nn_param *p;
    int n = nn_module_params(net, &p);
    for (int i = 0; i < n; i++) {
        nn_tensor_copy_out(p[i].value, out);
        out += nn_tensor_numel(p[i].value);
    }
}

static void load_and_check(FILE *f)
{
    if (!f)
        return;
    snapshot(before);
    int rc = nn_load_fp(net, f);
    fclose(f);
    if (rc < 0) {
        snapshot(after);
        if (memcmp(before, after, sizeof before) != 0 || !nn_last_error()[0])
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!net)
        net = pm_simplenet();
    if (!net)
        abort();
    if (size > 0)
        load_and_check(fmemopen((void *)data, size, "rb"));
    cursor c = {data, size, 0};
    load_and_check(fopencookie(&c, "rb", (cookie_io_functions_t){.read = cursor_read}));
    return 0;
}
