/* Learning-rate schedules as torch.optim.lr_scheduler (PyTorch 1.13): each
   step computes the next rate from the current one in double precision, by
   the same expressions torch's "chainable" get_lr() evaluates, and hands it
   to the optimizer (whose rate is a float). */
#include <math.h>

#include "optim_impl.h"

typedef enum { SCHED_STEP, SCHED_EXPONENTIAL, SCHED_COSINE } sched_kind;

struct nn_lr_scheduler {
    nn_optim *opt;
    sched_kind kind;
    int64_t last_epoch; /* steps taken, as torch's last_epoch */
    int64_t step_size, t_max;
    double gamma, eta_min, base_lr;
    double lr; /* the rate last handed to the optimizer, unrounded */
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

int nn_lr_scheduler_step(nn_lr_scheduler *s)
{
    if (!s)
        return nn_fail(NN_EINVAL, "nn_lr_scheduler_step: scheduler is NULL");
    /* a rate set on the optimizer meanwhile (nn_optim_set_lr) is the new current one */
    double lr = (float)s->lr == nn_optim_get_lr(s->opt) ? s->lr : (double)nn_optim_get_lr(s->opt);
    double next = next_lr(s, s->last_epoch + 1, lr);
    if (!(next >= 0.0) || isinf(next) || nn_optim_set_lr(s->opt, (float)next) < 0)
        return nn_fail(NN_EINVAL, "nn_lr_scheduler_step: the schedule gives lr %g at step %lld", next,
                       (long long)(s->last_epoch + 1));
    s->last_epoch++;
    s->lr = next;
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
