/* Adam as torch.optim.Adam (PyTorch 1.13, single-tensor path), step t:
     g = g + weight_decay * p
     m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
     amsgrad: v_max = max(v_max, v), used in place of v below
     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "optim_impl.h"

typedef struct {
    nn_optim base;
    nn_adam_opts opts;
} adam;

static int adam_validate(const char *fn, const void *opts)
{
    const nn_adam_opts *o = opts;
    int s;
    if ((s = nn_optim_check_nonneg(fn, "lr", o->lr)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "eps", o->eps)) < 0 ||
        (s = nn_optim_check_unit(fn, "beta1", o->beta1)) < 0 ||
        (s = nn_optim_check_unit(fn, "beta2", o->beta2)) < 0 ||
        (s = nn_optim_check_nonneg(fn, "weight_decay", o->weight_decay)) < 0)
        return s;
    return NN_OK;
}

static int adam_keys(const void *opts, const char **keys)
{
    const nn_adam_opts *o = opts;
    keys[0] = "exp_avg";
    keys[1] = "exp_avg_sq";
    if (!o->amsgrad)
        return 2;
    keys[2] = "max_exp_avg_sq";
    return 3;
}

/* Four lanes at a time in GCC/Clang vector extensions (the scalar loop's
   libm sqrtf call, kept for errno, stops the compiler from vectorising);
   every lane does the scalar tail's operations in the same order, so the
   bits do not depend on where the vector part ends. */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4), may_alias));

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

static inline v4f sqrt4(v4f x)
{
#if defined(__SSE2__)
    return (v4f)_mm_sqrt_ps((__m128)x);
#else
    return (v4f){sqrtf(x[0]), sqrtf(x[1]), sqrtf(x[2]), sqrtf(x[3])};
#endif
}

static void adam_update(const nn_optim *base, float *p, const float *g, float *const *bufs,
                        int64_t n)
{
    const nn_adam_opts *o = base->opts;
    const float b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay, eps = o->eps;
    /* bias corrections in double, as torch computes them in Python */
    double t = (double)base->step;
    double correction1 = 1.0 - pow(b1, t), correction2 = 1.0 - pow(b2, t);
    const float step_size = (float)(o->lr / correction1);
    const float root_correction2 = (float)sqrt(correction2);
    float *m = bufs[0], *v = bufs[1], *v_max = o->amsgrad ? bufs[2] : NULL;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        v4f pj = load4(p + j), d = load4(g + j) + wd * pj;
        v4f mj = b1 * load4(m + j) + (1.0f - b1) * d;
        v4f vj = b2 * load4(v + j) + (1.0f - b2) * d * d;
        store4(m + j, mj);
        store4(v + j, vj);
        v4f second = vj;
        if (v_max) {
            v4f old = load4(v_max + j);
            v4i keep = old > vj;
            second = (v4f)(((v4i)old & keep) | ((v4i)vj & ~keep));
            store4(v_max + j, second);
        }
        store4(p + j, pj - step_size * mj / (sqrt4(second) / root_correction2 + eps));
    }
    for (; j < n; j++) {
        float d = g[j] + wd * p[j];
        m[j] = b1 * m[j] + (1.0f - b1) * d;
        v[j] = b2 * v[j] + (1.0f - b2) * d * d;
        float second = v[j];
        if (v_max) {
            v_max[j] = v_max[j] > v[j] ? v_max[j] : v[j];
            second = v_max[j];
        }
        p[j] -= step_size * m[j] / (sqrtf(second) / root_correction2 + eps);
    }
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
