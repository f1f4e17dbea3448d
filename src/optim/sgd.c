/* SGD as torch.optim.SGD (PyTorch 1.13, single-tensor path):
     d = g + weight_decay * p
     with momentum: b = d at the first step, else b = momentum * b + (1 - dampening) * d;
                    d = nesterov ? d + momentum * b : b
     p = p - lr * d */
#include <math.h>
#include <stddef.h>

#include "optim_impl.h"

typedef struct {
    nn_optim base;
    nn_sgd_opts opts;
} sgd;

static int sgd_validate(const char *fn, const void *opts)
{
    const nn_sgd_opts *o = opts;
    int s;
    if ((s = nn_optim_check_nonneg(fn, "lr", o->lr)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "momentum", o->momentum)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "weight_decay", o->weight_decay)) < 0)
        return s;
    if (!isfinite(o->dampening)) /* torch does not check it; NaN would poison every step */
        return nn_fail(NN_EINVAL, "%s: invalid dampening %g (expected a finite number)", fn,
                       (double)o->dampening);
    if (o->nesterov && (o->momentum <= 0.0f || o->dampening != 0.0f))
        return nn_fail(NN_EINVAL,
                       "%s: nesterov requires momentum > 0 and dampening 0, got momentum %g, "
                       "dampening %g",
                       fn, (double)o->momentum, (double)o->dampening);
    return NN_OK;
}

static int sgd_keys(const void *opts, const char **keys)
{
    const nn_sgd_opts *o = opts;
    if (o->momentum == 0.0f)
        return 0;
    keys[0] = "momentum_buffer";
    return 1;
}

static void sgd_update(const nn_optim *base, float *p, const float *g, float *const *bufs,
                       int64_t n)
{
    const nn_sgd_opts *o = base->opts;
    const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
    const float keep = 1.0f - o->dampening;
    if (mu == 0.0f) {
        for (int64_t j = 0; j < n; j++)
            p[j] -= lr * (g[j] + wd * p[j]);
        return;
    }
    float *b = bufs[0];
    const bool first = base->step == 1;
    for (int64_t j = 0; j < n; j++) {
        float d = g[j] + wd * p[j];
        b[j] = first ? d : mu * b[j] + keep * d;
        p[j] -= lr * (o->nesterov ? d + mu * b[j] : b[j]);
    }
}

static const nn_optim_hparam_desc sgd_hparams[] = {
    {"lr", offsetof(nn_sgd_opts, lr), false},
    {"momentum", offsetof(nn_sgd_opts, momentum), false},
    {"dampening", offsetof(nn_sgd_opts, dampening), false},
    {"weight_decay", offsetof(nn_sgd_opts, weight_decay), false},
    {"nesterov", offsetof(nn_sgd_opts, nesterov), true},
};

static const nn_optim_ops sgd_ops = {
    .type = "SGD",
    .constructor = "nn_sgd",
    .opts_size = sizeof(nn_sgd_opts),
    .hparams = sgd_hparams,
    .n_hparams = (int)(sizeof sgd_hparams / sizeof *sgd_hparams),
    .has_step = false,
    .lazy_state = true,
    .validate = sgd_validate,
    .keys = sgd_keys,
    .update = sgd_update,
};

nn_sgd_opts nn_sgd_defaults(float lr)
{
    return (nn_sgd_opts){.lr = lr, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_optim *nn_sgd(nn_module *m, const nn_sgd_opts *o)
{
    if (!o)
        return nn_fail_null(NN_EINVAL,
                            "nn_sgd: options are NULL; SGD has no default learning rate "
                            "(pass nn_sgd_defaults(lr))");
    nn_sgd_opts r = *o;
    int by_hand = nn_opts_by_hand("nn_sgd", "nn_sgd_opts", "nn_sgd_defaults(lr)", r.from_defaults);
    if (by_hand < 0)
        return NULL;
    /* momentum, dampening and weight_decay default to 0: nothing to fill */
    if (by_hand && r.lr == 0.0f)
        return nn_fail_null(NN_EINVAL,
                            "nn_sgd: lr is 0 in an nn_sgd_opts written by hand, and SGD has no "
                            "default learning rate: set .lr, or start from nn_sgd_defaults(lr) "
                            "(which takes lr 0 as written)");
    r.from_defaults = NN_OPTS_FROM_DEFAULTS;
    return nn_optim_create(&sgd_ops, m, &r, sizeof(sgd), offsetof(sgd, opts));
}
