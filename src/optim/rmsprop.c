/* RMSprop as torch.optim.RMSprop (PyTorch 1.13, single-tensor path):
     g = g + weight_decay * p
     s = alpha * s + (1 - alpha) * g^2
     centered: a = alpha * a + (1 - alpha) * g;  r = sqrt(s - a^2) + eps
     else:     r = sqrt(s) + eps
     momentum > 0: b = momentum * b + g / r;  p = p - lr * b
     else:         p = p - lr * g / r */
#include <math.h>
#include <stddef.h>

#include "optim_impl.h"

typedef struct {
    nn_optim base;
    nn_rmsprop_opts opts;
} rmsprop;

static int rmsprop_validate(const char *fn, const void *opts)
{
    const nn_rmsprop_opts *o = opts;
    int s;
    if ((s = nn_optim_check_nonneg(fn, "lr", o->lr)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "eps", o->eps)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "momentum", o->momentum)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "weight_decay", o->weight_decay)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "alpha", o->alpha)) < 0)
        return s;
    return NN_OK;
}

/* torch's order: square_avg, momentum_buffer, grad_avg */
static int rmsprop_keys(const void *opts, const char **keys)
{
    const nn_rmsprop_opts *o = opts;
    int n = 0;
    keys[n++] = "square_avg";
    if (o->momentum > 0.0f)
        keys[n++] = "momentum_buffer";
    if (o->centered)
        keys[n++] = "grad_avg";
    return n;
}

static void rmsprop_update(const nn_optim *base, float *p, const float *g, float *const *bufs,
                           int64_t n)
{
    const nn_rmsprop_opts *o = base->opts;
    const float alpha = o->alpha, wd = o->weight_decay, eps = o->eps, lr = o->lr;
    const float mu = o->momentum;
    int k = 0;
    float *sq = bufs[k++];
    float *b = mu > 0.0f ? bufs[k++] : NULL;
    float *avg = o->centered ? bufs[k++] : NULL;
    for (int64_t j = 0; j < n; j++) {
        float d = g[j] + wd * p[j];
        sq[j] = alpha * sq[j] + (1.0f - alpha) * d * d;
        float r;
        if (avg) {
            avg[j] = alpha * avg[j] + (1.0f - alpha) * d;
            r = sqrtf(sq[j] - avg[j] * avg[j]) + eps;
        } else {
            r = sqrtf(sq[j]) + eps;
        }
        if (b) {
            b[j] = mu * b[j] + d / r;
            p[j] -= lr * b[j];
        } else {
            p[j] -= lr * d / r;
        }
    }
}

static const nn_optim_hparam_desc rmsprop_hparams[] = {
    {"lr", offsetof(nn_rmsprop_opts, lr), false},
    {"alpha", offsetof(nn_rmsprop_opts, alpha), false},
    {"eps", offsetof(nn_rmsprop_opts, eps), false},
    {"weight_decay", offsetof(nn_rmsprop_opts, weight_decay), false},
    {"momentum", offsetof(nn_rmsprop_opts, momentum), false},
    {"centered", offsetof(nn_rmsprop_opts, centered), true},
};

static const nn_optim_ops rmsprop_ops = {
    .type = "RMSprop",
    .constructor = "nn_rmsprop",
    .opts_size = sizeof(nn_rmsprop_opts),
    .hparams = rmsprop_hparams,
    .n_hparams = (int)(sizeof rmsprop_hparams / sizeof *rmsprop_hparams),
    .has_step = true,
    .lazy_state = true,
    .validate = rmsprop_validate,
    .keys = rmsprop_keys,
    .update = rmsprop_update,
};

nn_rmsprop_opts nn_rmsprop_defaults(void)
{
    return (nn_rmsprop_opts){.lr = 1e-2f, .alpha = 0.99f, .eps = 1e-8f,
                             .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_optim *nn_rmsprop(nn_module *m, const nn_rmsprop_opts *o)
{
    const nn_rmsprop_opts d = nn_rmsprop_defaults();
    nn_rmsprop_opts r = o ? *o : d;
    int by_hand = nn_opts_by_hand("nn_rmsprop", "nn_rmsprop_opts", "nn_rmsprop_defaults()",
                                        r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand) { /* weight_decay's and momentum's defaults are 0 */
        nn_optim_default_if_zero(&r.lr, d.lr);
        nn_optim_default_if_zero(&r.alpha, d.alpha);
        nn_optim_default_if_zero(&r.eps, d.eps);
        r.from_defaults = NN_OPTS_FROM_DEFAULTS;
    }
    return nn_optim_create(&rmsprop_ops, m, &r, sizeof(rmsprop), offsetof(rmsprop, opts));
}
