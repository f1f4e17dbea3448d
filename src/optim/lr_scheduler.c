/* Learning-rate schedules as torch.optim.lr_scheduler (PyTorch 1.13): each
   step computes the next rate from the current one in double precision, by
   the same expressions torch's "chainable" get_lr() evaluates, and hands it
   to the optimizer (whose rate is a float). ReduceLROnPlateau follows its
   step(metrics) line by line: is_better, num_bad_epochs, the cooldown
   counter, and _reduce_lr's eps guard. */
#include <math.h>

#include "optim_impl.h"

typedef enum { SCHED_STEP, SCHED_EXPONENTIAL, SCHED_COSINE, SCHED_PLATEAU } sched_kind;

struct nn_lr_scheduler {
    nn_optim *opt;
    sched_kind kind;
    int64_t last_epoch; /* steps taken, as torch's last_epoch */
    int64_t step_size, t_max;
    double gamma, eta_min, base_lr;
    double lr; /* the rate last handed to the optimizer, unrounded */
    /* ReduceLROnPlateau: its options and state, as torch's attributes */
    nn_reduce_lr_on_plateau_opts plateau;
    double best;
    int64_t num_bad_epochs, cooldown_counter;
};

/* A scheduler of o from its current rate; shape holds the kind and the
   kind's settings (validated by the caller). */
static nn_lr_scheduler *sched_new(const char *fn, nn_optim *o, nn_lr_scheduler shape)
{
    if (!o)
        return nn_fail_null(NN_EINVAL, "%s: optimizer is NULL", fn);
    nn_lr_scheduler *s = nn_alloc(sizeof *s);
    if (!s)
        return nn_fail_context_null("%s", fn);
    *s = shape;
    s->opt = o;
    s->last_epoch = 0;
    s->base_lr = s->lr = nn_optim_get_lr(o);
    return s;
}

nn_lr_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, double gamma)
{
    if (step_size < 1 || !(gamma >= 0.0) || isinf(gamma))
        return nn_fail_null(NN_EINVAL, "nn_step_lr: expected step_size >= 1 and a finite gamma >= 0, got %lld and %g",
                            (long long)step_size, gamma);
    return sched_new("nn_step_lr", o, (nn_lr_scheduler){.kind = SCHED_STEP, .step_size = step_size, .gamma = gamma});
}

nn_lr_scheduler *nn_exponential_lr(nn_optim *o, double gamma)
{
    if (!(gamma >= 0.0) || isinf(gamma))
        return nn_fail_null(NN_EINVAL, "nn_exponential_lr: expected a finite gamma >= 0, got %g", gamma);
    return sched_new("nn_exponential_lr", o, (nn_lr_scheduler){.kind = SCHED_EXPONENTIAL, .gamma = gamma});
}

nn_lr_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t t_max, double eta_min)
{
    if (t_max < 1 || !(eta_min >= 0.0) || isinf(eta_min))
        return nn_fail_null(NN_EINVAL,
                            "nn_cosine_annealing_lr: expected T_max >= 1 and a finite eta_min >= 0, got %lld and %g",
                            (long long)t_max, eta_min);
    return sched_new("nn_cosine_annealing_lr", o,
                     (nn_lr_scheduler){.kind = SCHED_COSINE, .t_max = t_max, .eta_min = eta_min});
}

/* torch's get_lr() for last_epoch e, from the group's current rate lr */
static double next_lr(const nn_lr_scheduler *s, int64_t e, double lr)
{
    const double pi = 3.141592653589793; /* math.pi */
    switch (s->kind) {
    case SCHED_STEP:
        return e == 0 || e % s->step_size != 0 ? lr : lr * s->gamma;
    case SCHED_EXPONENTIAL:
        return e == 0 ? lr : lr * s->gamma;
    default: {
        double T = (double)s->t_max;
        if (e == 0)
            return lr;
        if ((e - 1 - s->t_max) % (2 * s->t_max) == 0) /* the restart step after a minimum */
            return lr + (s->base_lr - s->eta_min) * (1 - cos(pi / T)) / 2;
        return (1 + cos(pi * (double)e / T)) / (1 + cos(pi * (double)(e - 1) / T)) * (lr - s->eta_min) + s->eta_min;
    }
    }
}

/* The current rate: a rate set on the optimizer meanwhile
   (nn_optim_set_lr) is the new current one, as torch's group["lr"]. */
static double current_lr(const nn_lr_scheduler *s)
{
    return (float)s->lr == nn_optim_get_lr(s->opt) ? s->lr : (double)nn_optim_get_lr(s->opt);
}

int nn_lr_scheduler_step(nn_lr_scheduler *s)
{
    if (!s)
        return nn_fail(NN_EINVAL, "nn_lr_scheduler_step: scheduler is NULL");
    if (s->kind == SCHED_PLATEAU)
        return nn_fail(NN_EINVAL,
                       "nn_lr_scheduler_step: ReduceLROnPlateau steps on a metric: call "
                       "nn_reduce_lr_on_plateau_step(scheduler, metric)");
    double lr = current_lr(s);
    double next = next_lr(s, s->last_epoch + 1, lr);
    if (!(next >= 0.0) || isinf(next) || nn_optim_set_lr(s->opt, (float)next) < 0)
        return nn_fail(NN_EINVAL, "nn_lr_scheduler_step: the schedule gives lr %g at step %lld", next,
                       (long long)(s->last_epoch + 1));
    s->last_epoch++;
    s->lr = next;
    return NN_OK;
}

/* --- ReduceLROnPlateau ------------------------------------------------ */

nn_reduce_lr_on_plateau_opts nn_reduce_lr_on_plateau_defaults(void)
{
    return (nn_reduce_lr_on_plateau_opts){.mode = NN_PLATEAU_MIN,
                                          .factor = 0.1,
                                          .patience = 10,
                                          .threshold = 1e-4,
                                          .threshold_mode = NN_THRESHOLD_REL,
                                          .cooldown = 0,
                                          .min_lr = 0.0,
                                          .eps = 1e-8,
                                          .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

nn_lr_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, const nn_reduce_lr_on_plateau_opts *opts)
{
    static const char fn[] = "nn_reduce_lr_on_plateau";
    nn_reduce_lr_on_plateau_opts r = opts ? *opts : nn_reduce_lr_on_plateau_defaults();
    int by_hand = nn_opts_by_hand(fn, "nn_reduce_lr_on_plateau_opts", "nn_reduce_lr_on_plateau_defaults()",
                                  r.from_defaults);
    if (by_hand < 0)
        return NULL;
    if (by_hand) { /* 0 is torch's default */
        nn_reduce_lr_on_plateau_opts d = nn_reduce_lr_on_plateau_defaults();
        if (r.factor == 0.0)
            r.factor = d.factor;
        if (r.patience == 0)
            r.patience = d.patience;
        if (r.threshold == 0.0)
            r.threshold = d.threshold;
        if (r.eps == 0.0)
            r.eps = d.eps;
    }
    r.from_defaults = NN_OPTS_FROM_DEFAULTS; /* as in force */
    if ((int)r.mode != NN_PLATEAU_MIN && (int)r.mode != NN_PLATEAU_MAX)
        return nn_fail_null(NN_EINVAL, "%s: mode %d is unknown! (expected NN_PLATEAU_MIN or NN_PLATEAU_MAX)", fn,
                            (int)r.mode);
    if ((int)r.threshold_mode != NN_THRESHOLD_REL && (int)r.threshold_mode != NN_THRESHOLD_ABS)
        return nn_fail_null(NN_EINVAL,
                            "%s: threshold mode %d is unknown! (expected NN_THRESHOLD_REL or NN_THRESHOLD_ABS)", fn,
                            (int)r.threshold_mode);
    if (!(r.factor >= 0.0 && r.factor < 1.0))
        return nn_fail_null(NN_EINVAL, "%s: Factor should be < 1.0 (and >= 0), got factor %g", fn, r.factor);
    if (r.patience < 0 || r.cooldown < 0)
        return nn_fail_null(NN_EINVAL, "%s: expected patience >= 0 and cooldown >= 0, got patience %lld, cooldown %lld",
                            fn, (long long)r.patience, (long long)r.cooldown);
    const char *names[3] = {"threshold", "min_lr", "eps"};
    double values[3] = {r.threshold, r.min_lr, r.eps};
    for (int k = 0; k < 3; k++)
        if (!(values[k] >= 0.0) || isinf(values[k]))
            return nn_fail_null(NN_EINVAL, "%s: expected a finite %s >= 0, got %g", fn, names[k], values[k]);
    nn_lr_scheduler *s = sched_new(fn, o, (nn_lr_scheduler){.kind = SCHED_PLATEAU, .plateau = r});
    if (s) { /* torch's _reset() */
        s->best = r.mode == NN_PLATEAU_MIN ? INFINITY : -INFINITY;
        s->num_bad_epochs = 0;
        s->cooldown_counter = 0;
    }
    return s;
}

/* torch's is_better(a, best) */
static bool plateau_is_better(const nn_reduce_lr_on_plateau_opts *o, double a, double best)
{
    if (o->mode == NN_PLATEAU_MIN)
        return o->threshold_mode == NN_THRESHOLD_REL ? a < best * (1.0 - o->threshold) : a < best - o->threshold;
    return o->threshold_mode == NN_THRESHOLD_REL ? a > best * (o->threshold + 1.0) : a > best + o->threshold;
}

int nn_reduce_lr_on_plateau_step(nn_lr_scheduler *s, double metric)
{
    if (!s)
        return nn_fail(NN_EINVAL, "nn_reduce_lr_on_plateau_step: scheduler is NULL");
    if (s->kind != SCHED_PLATEAU)
        return nn_fail(NN_EINVAL,
                       "nn_reduce_lr_on_plateau_step: expected a scheduler from nn_reduce_lr_on_plateau, got "
                       "another schedule (step it with nn_lr_scheduler_step)");
    const nn_reduce_lr_on_plateau_opts *o = &s->plateau;
    double lr = current_lr(s);
    /* everything decided before anything changes */
    double best = s->best;
    int64_t bad = s->num_bad_epochs, cooldown = s->cooldown_counter;
    if (plateau_is_better(o, metric, best)) {
        best = metric;
        bad = 0;
    } else {
        bad++;
    }
    if (cooldown > 0) {
        cooldown--;
        bad = 0; /* ignore any bad epochs in cooldown */
    }
    double next = lr;
    if (bad > o->patience) {
        double reduced = lr * o->factor;
        reduced = reduced >= o->min_lr ? reduced : o->min_lr; /* Python's max(lr * factor, min_lr) */
        if (lr - reduced > o->eps) {
            if (nn_optim_set_lr(s->opt, (float)reduced) < 0)
                return nn_fail(NN_EINVAL, "nn_reduce_lr_on_plateau_step: the reduced lr %g was refused", reduced);
            next = reduced;
        }
        cooldown = o->cooldown;
        bad = 0;
    }
    s->last_epoch++;
    s->best = best;
    s->num_bad_epochs = bad;
    s->cooldown_counter = cooldown;
    s->lr = next;
    return NN_OK;
}

int nn_reduce_lr_on_plateau_get_state(const nn_lr_scheduler *s, nn_reduce_lr_on_plateau_state *out)
{
    if (!s || !out)
        return nn_fail(NN_EINVAL, "nn_reduce_lr_on_plateau_get_state: %s is NULL", s ? "out" : "scheduler");
    if (s->kind != SCHED_PLATEAU)
        return nn_fail(NN_EINVAL,
                       "nn_reduce_lr_on_plateau_get_state: expected a scheduler from nn_reduce_lr_on_plateau");
    *out = (nn_reduce_lr_on_plateau_state){.best = s->best,
                                           .num_bad_epochs = s->num_bad_epochs,
                                           .cooldown_counter = s->cooldown_counter,
                                           .last_epoch = s->last_epoch,
                                           .opts = s->plateau};
    return NN_OK;
}

double nn_lr_scheduler_get_last_lr(const nn_lr_scheduler *s)
{
    if (!s) {
        nn_fail(NN_EINVAL, "nn_lr_scheduler_get_last_lr: scheduler is NULL");
        return NAN;
    }
    return s->lr;
}

void nn_lr_scheduler_free(nn_lr_scheduler *s)
{
    nn_release(s);
}
