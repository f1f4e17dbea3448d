/* Test-only module holding parameters (and buffers) of given shapes, so io
   tests can build models with any state_dict layout without depending on
   real layers. Forward and backward pass their input through. */
#ifndef NN_TEST_PARAM_MODULE_H
#define NN_TEST_PARAM_MODULE_H

#include "module/module_impl.h"
#include "nn.h"

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
} pm_spec;

typedef struct {
    nn_module base;
    nn_tensor out;
} param_module;

static nn_tensor *pm_pass(nn_module *m, const nn_tensor *x)
{
    param_module *p = (param_module *)m;
    nn_tensor_retain_into(&p->out, x);
    return &p->out;
}


static void pm_destroy(nn_module *m) { nn_tensor_release(&((param_module *)m)->out); }

static const nn_module_ops pm_ops = {
    .type = "Params", .forward = pm_pass, .backward = pm_pass, .destroy = pm_destroy,
};

/* NULL when an allocation fails (nothing leaks). */
static inline nn_module *pm_new(int n, const pm_spec *specs)
{
    param_module *p = nn_alloc_zeroed(1, sizeof *p);
    if (!p)
        return NULL;
    NN_MODULE_INIT(&p->base, &pm_ops);
    for (int i = 0; i < n; i++)
        if (!nn_module_add_param(&p->base, specs[i].name, specs[i].ndim, specs[i].shape)) {
            nn_module_free(&p->base);
            return NULL;
        }
    return &p->base;
}

/* A buffer: float32 of the given shape, or (int64) a 0-dim int64 scalar
   as torch's num_batches_tracked. */
typedef struct {
    const char *name;
    bool int64;
    bool persistent;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
} pm_buffer_spec;

/* Parameters then buffers, registered in the given order; NULL when an
   allocation fails (nothing leaks). */
static inline nn_module *pm_new_buffers(int n, const pm_spec *specs, int nb, const pm_buffer_spec *bufs)
{
    nn_module *m = pm_new(n, specs);
    for (int i = 0; m && i < nb; i++) {
        bool ok = bufs[i].int64 ? nn_module_add_int_buffer(m, bufs[i].name, bufs[i].persistent) != NULL
                                : nn_module_add_buffer(m, bufs[i].name, bufs[i].ndim, bufs[i].shape,
                                                       bufs[i].persistent) != NULL;
        if (!ok) {
            nn_module_free(m);
            m = NULL;
        }
    }
    return m;
}

/* Adds child to seq; frees it when that fails. */
static inline int pm_add(nn_module *seq, const char *name, nn_module *child)
{
    if (!child)
        return NN_ENOMEM;
    int rc = nn_sequential_add(seq, name, child);
    if (rc < 0)
        nn_module_free(child);
    return rc;
}

/* The parameter layout of SimpleNet: fc1 Linear(2,5), relu, fc2 Linear(5,1). */
static inline nn_module *pm_simplenet(void)
{
    static const pm_spec fc1[] = {{"weight", 2, {5, 2}}, {"bias", 1, {5}}};
    static const pm_spec fc2[] = {{"weight", 2, {1, 5}}, {"bias", 1, {1}}};
    nn_module *net = nn_sequential();
    if (!net)
        return NULL;
    if (pm_add(net, "fc1", pm_new(2, fc1)) < 0 || pm_add(net, "relu", nn_relu()) < 0 ||
        pm_add(net, "fc2", pm_new(2, fc2)) < 0) {
        nn_module_free(net);
        return NULL;
    }
    return net;
}

#endif
