/* libFuzzer harness for nn_optim_load_fp: arbitrary bytes into an Adam
   (amsgrad) optimizer over a fixed SimpleNet layout. A refused file must
   leave step, hyperparameters and every state buffer as they were, with a
   message; an accepted one must leave hyperparameters the optimizer would
   accept. Build and run: make fuzz. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "optim/optim_impl.h"
#include "param_module.h"

static nn_module *net;
static nn_optim *opt;
static nn_adam_opts defaults;

static void reset(void)
{
    nn_optim_set_step(opt, 0);
    memcpy(opt->opts, &defaults, sizeof defaults);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!net) {
        net = pm_simplenet();
        defaults = nn_adam_defaults();
        defaults.amsgrad = true;
        opt = net ? nn_adam(net, &defaults) : NULL;
        if (!opt)
            abort();
    }
    if (size == 0)
        return 0;
    reset();
    size_t n = (size_t)opt->n_keys * (size_t)opt->total;
    static float before[64];
    if (n > 64)
        abort();
    memcpy(before, opt->state, n * sizeof(float));
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    int rc = nn_optim_load_fp(opt, f);
    fclose(f);
    if (rc < 0) {
        if (memcmp(before, opt->state, n * sizeof(float)) != 0 || nn_optim_get_step(opt) != 0 ||
            memcmp(opt->opts, &defaults, sizeof defaults) != 0 || !nn_last_error()[0])
            abort();
    } else if (opt->ops->validate("fuzz", opt->opts) < 0) {
        abort();
    }
    return 0;
}
