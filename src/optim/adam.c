/* Adam as torch.optim.Adam (PyTorch 1.13, single-tensor path), step t:
     g = g + weight_decay * p
     m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
     amsgrad: v_max = max(v_max, v), used in place of v below
     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "optim_impl.h"
#include "kernels/optim_kernels.h"

typedef struct {
    nn_optim base;
    nn_adam_opts opts;
} adam;

int nn_adam_check(const char *fn, float lr, float eps, float beta1, float beta2, float weight_decay)
{
    int s;
    if ((s = nn_optim_check_nonneg(fn, "lr", lr)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "eps", eps)) < 0 ||
        (s = nn_optim_check_unit(fn, "beta1", beta1)) < 0 ||
        (s = nn_optim_check_unit(fn, "beta2", beta2)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "weight_decay", weight_decay)) < 0)
        return s;
    return NN_OK;
}

int nn_adam_keys(bool amsgrad, const char **keys)
{
    keys[0] = "exp_avg";
    keys[1] = "exp_avg_sq";
    if (!amsgrad)
        return 2;
    keys[2] = "max_exp_avg_sq";
    return 3;
}

static int adam_validate(const char *fn, const void *opts)
{
    const nn_adam_opts *o = opts;
    return nn_adam_check(fn, o->lr, o->eps, o->beta1, o->beta2, o->weight_decay);
}

static int adam_keys(const void *opts, const char **keys)
{
    return nn_adam_keys(((const nn_adam_opts *)opts)->amsgrad, keys);
}

/* The element loop is nn_adam_kernel (kernels/optim_kernels.h); the bias
   corrections are computed here, once per step. */
static void adam_update(const nn_optim *base, float *p, const float *g, float *const *bufs,
                        int64_t n)
{
    const nn_adam_opts *o = base->opts;
    /* bias corrections in double, as torch computes them in Python */
    double t = (double)base->step;
    double correction1 = 1.0 - pow(o->beta1, t), correction2 = 1.0 - pow(o->beta2, t);
    const nn_adam_coefs c = {
        .beta1 = o->beta1,
        .beta2 = o->beta2,
        .weight_decay = o->weight_decay,
        .eps = o->eps,
        .step_size = (float)(o->lr / correction1),
        .root_correction2 = (float)sqrt(correction2),
    };
    nn_adam_kernel(p, g, bufs[0], bufs[1], o->amsgrad ? bufs[2] : NULL, n, &c);
}

static const nn_optim_hparam_desc adam_hparams[] = {
    {"lr", offsetof(nn_adam_opts, lr), false},
    {"betas.0", offsetof(nn_adam_opts, beta1), false},
    {"betas.1", offsetof(nn_adam_opts, beta2), false},
    {"eps", offsetof(nn_adam_opts, eps), false},
    {"weight_decay", offsetof(nn_adam_opts, weight_decay), false},
    {"amsgrad", offsetof(nn_adam_opts, amsgrad), true},
};

static const nn_optim_ops adam_ops = {
    .type = "Adam",
    .constructor = "nn_adam",
    .opts_size = sizeof(nn_adam_opts),
    .hparams = adam_hparams,
    .n_hparams = (int)(sizeof adam_hparams / sizeof *adam_hparams),
    .has_step = true,
    .lazy_state = true,
    .validate = adam_validate,
    .keys = adam_keys,
    .update = adam_update,
};

nn_adam_opts nn_adam_defaults(void)
{
    return (nn_adam_opts){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                          .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_optim *nn_adam(nn_module *m, const nn_adam_opts *o)
{
    const nn_adam_opts d = nn_adam_defaults();
    nn_adam_opts r = o ? *o : d;
    int by_hand = nn_opts_by_hand("nn_adam", "nn_adam_opts", "nn_adam_defaults()", r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand) { /* weight_decay's default is 0 */
        nn_optim_default_if_zero(&r.lr, d.lr);
        nn_optim_default_if_zero(&r.beta1, d.beta1);
        nn_optim_default_if_zero(&r.beta2, d.beta2);
        nn_optim_default_if_zero(&r.eps, d.eps);
        r.from_defaults = NN_OPTS_FROM_DEFAULTS;
    }
    return nn_optim_create(&adam_ops, m, &r, sizeof(adam), offsetof(adam, opts));
}
