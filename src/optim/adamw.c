/* AdamW as torch.optim.AdamW (PyTorch 1.13, single-tensor path), step t:
     p = p * (1 - lr * weight_decay)          (decoupled weight decay, first)
     m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
     amsgrad: v_max = max(v_max, v), used in place of v below
     p = p + (-lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
   in torch's order of float operations: the scalars that torch computes in
   Python (1 - lr * wd, 1 - beta, the bias corrections, the step size) in
   double from the float options, then rounded to float as torch rounds a
   Python scalar for a float tensor. Plain C loops (no vector types). */
#include <math.h>
#include <stddef.h>

#include "optim_impl.h"

typedef struct {
    nn_optim base;
    nn_adamw_opts opts;
} adamw;

/* Adam's checks and state (adam.c) */
static int adamw_validate(const char *fn, const void *opts)
{
    const nn_adamw_opts *o = opts;
    return nn_adam_check(fn, o->lr, o->eps, o->beta1, o->beta2, o->weight_decay);
}

static int adamw_keys(const void *opts, const char **keys)
{
    return nn_adam_keys(((const nn_adamw_opts *)opts)->amsgrad, keys);
}

static void adamw_update(const nn_optim *base, float *p, const float *g, float *const *bufs, int64_t n)
{
    const nn_adamw_opts *o = base->opts;
    const double lr = o->lr, b1 = o->beta1, b2 = o->beta2;
    const float decay = (float)(1.0 - lr * (double)o->weight_decay);
    const float beta1 = o->beta1, beta2 = o->beta2, eps = o->eps;
    const float one_minus_b1 = (float)(1.0 - b1), one_minus_b2 = (float)(1.0 - b2);
    double t = (double)base->step;
    double correction1 = 1.0 - pow(b1, t), correction2 = 1.0 - pow(b2, t);
    const float neg_step_size = (float)-(lr / correction1);
    const float root_correction2 = (float)sqrt(correction2);
    float *m = bufs[0], *v = bufs[1], *v_max = o->amsgrad ? bufs[2] : NULL;
    for (int64_t j = 0; j < n; j++) {
        float pj = p[j] * decay;
        float mj = beta1 * m[j] + one_minus_b1 * g[j];
        float vj = beta2 * v[j] + one_minus_b2 * g[j] * g[j];
        m[j] = mj;
        v[j] = vj;
        if (v_max) {
            v_max[j] = v_max[j] > vj ? v_max[j] : vj;
            vj = v_max[j];
        }
        p[j] = pj + neg_step_size * mj / (sqrtf(vj) / root_correction2 + eps);
    }
}

static const nn_optim_hparam_desc adamw_hparams[] = {
    {"lr", offsetof(nn_adamw_opts, lr), false},
    {"betas.0", offsetof(nn_adamw_opts, beta1), false},
    {"betas.1", offsetof(nn_adamw_opts, beta2), false},
    {"eps", offsetof(nn_adamw_opts, eps), false},
    {"weight_decay", offsetof(nn_adamw_opts, weight_decay), false},
    {"amsgrad", offsetof(nn_adamw_opts, amsgrad), true},
};

static const nn_optim_ops adamw_ops = {
    .type = "AdamW",
    .constructor = "nn_adamw",
    .opts_size = sizeof(nn_adamw_opts),
    .hparams = adamw_hparams,
    .n_hparams = (int)(sizeof adamw_hparams / sizeof *adamw_hparams),
    .has_step = true,
    .lazy_state = true,
    .validate = adamw_validate,
    .keys = adamw_keys,
    .update = adamw_update,
};

nn_adamw_opts nn_adamw_defaults(void)
{
    return (nn_adamw_opts){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 1e-2f, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_optim *nn_adamw(nn_module *m, const nn_adamw_opts *o)
{
    const nn_adamw_opts d = nn_adamw_defaults();
    nn_adamw_opts r = o ? *o : d;
    int by_hand = nn_opts_by_hand("nn_adamw", "nn_adamw_opts", "nn_adamw_defaults()", r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand) { /* unlike Adam's, AdamW's weight_decay default is not 0 */
        nn_optim_default_if_zero(&r.lr, d.lr);
        nn_optim_default_if_zero(&r.beta1, d.beta1);
        nn_optim_default_if_zero(&r.beta2, d.beta2);
        nn_optim_default_if_zero(&r.eps, d.eps);
        nn_optim_default_if_zero(&r.weight_decay, d.weight_decay);
        r.from_defaults = NN_OPTS_FROM_DEFAULTS;
    }
    return nn_optim_create(&adamw_ops, m, &r, sizeof(adamw), offsetof(adamw, opts));
}
