/* Adagrad as torch.optim.Adagrad (PyTorch 1.13, single-tensor path), step t:
     g = g + weight_decay * p
     clr = lr / (1 + (t - 1) * lr_decay)
     s = s + g^2            (s starts at initial_accumulator_value)
     p = p - clr * g / (sqrt(s) + eps) */
#include <math.h>
#include <stddef.h>

#include "optim_impl.h"

typedef struct {
    nn_optim base;
    nn_adagrad_opts opts;
} adagrad;

static int adagrad_validate(const char *fn, const void *opts)
{
    const nn_adagrad_opts *o = opts;
    int s;
    if ((s = nn_optim_check_nonneg(fn, "lr", o->lr)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "lr_decay", o->lr_decay)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "weight_decay", o->weight_decay)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "initial_accumulator_value",
                                   o->initial_accumulator_value)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "eps", o->eps)) < 0)
        return s;
    return NN_OK;
}

static int adagrad_keys(const void *opts, const char **keys)
{
    (void)opts;
    keys[0] = "sum";
    return 1;
}

/* torch fills "sum" at construction, not lazily */
static void adagrad_init_state(nn_optim *base)
{
    const nn_adagrad_opts *o = base->opts;
    for (int64_t j = 0; j < base->total; j++)
        base->state[j] = o->initial_accumulator_value;
}

static void adagrad_update(const nn_optim *base, float *p, const float *g, float *const *bufs,
                           int64_t n)
{
    const nn_adagrad_opts *o = base->opts;
    const float wd = o->weight_decay, eps = o->eps;
    /* in double, as torch computes it in Python */
    const float clr = (float)(o->lr / (1.0 + (double)(base->step - 1) * o->lr_decay));
    float *sum = bufs[0];
    for (int64_t j = 0; j < n; j++) {
        float d = g[j] + wd * p[j];
        sum[j] += d * d;
        p[j] -= clr * d / (sqrtf(sum[j]) + eps);
    }
}

static const nn_optim_hparam_desc adagrad_hparams[] = {
    {"lr", offsetof(nn_adagrad_opts, lr), false},
    {"lr_decay", offsetof(nn_adagrad_opts, lr_decay), false},
    {"weight_decay", offsetof(nn_adagrad_opts, weight_decay), false},
    {"initial_accumulator_value", offsetof(nn_adagrad_opts, initial_accumulator_value), false},
    {"eps", offsetof(nn_adagrad_opts, eps), false},
};

static const nn_optim_ops adagrad_ops = {
    .type = "Adagrad",
    .constructor = "nn_adagrad",
    .opts_size = sizeof(nn_adagrad_opts),
    .hparams = adagrad_hparams,
    .n_hparams = (int)(sizeof adagrad_hparams / sizeof *adagrad_hparams),
    .has_step = true,
    .lazy_state = false,
    .validate = adagrad_validate,
    .keys = adagrad_keys,
    .init_state = adagrad_init_state,
    .update = adagrad_update,
};

nn_adagrad_opts nn_adagrad_defaults(void)
{
    return (nn_adagrad_opts){.lr = 1e-2f, .eps = 1e-10f, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_optim *nn_adagrad(nn_module *m, const nn_adagrad_opts *o)
{
    const nn_adagrad_opts d = nn_adagrad_defaults();
    nn_adagrad_opts r = o ? *o : d;
    int by_hand = nn_opts_by_hand("nn_adagrad", "nn_adagrad_opts", "nn_adagrad_defaults()",
                                        r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand) { /* lr_decay's, weight_decay's, initial_accumulator_value's are 0 */
        nn_optim_default_if_zero(&r.lr, d.lr);
        nn_optim_default_if_zero(&r.eps, d.eps);
        r.from_defaults = NN_OPTS_FROM_DEFAULTS;
    }
    return nn_optim_create(&adagrad_ops, m, &r, sizeof(adagrad), offsetof(adagrad, opts));
}
