/* Dropout: training y = x * m / (1 - p) with m ~ Bernoulli(1 - p) drawn from
   the library generator; evaluation y = x. dL/dx = dL/dy * the same mask. */
#include <math.h>
#include <stdlib.h>

#include "module/module_impl.h"
#include "nn/random.h"

typedef struct {
    nn_module base;
    float p;
    nn_tensor out;    /* forward result */
    nn_tensor mask;   /* 0 or 1/(1-p) per element, from the last training forward */
    nn_tensor grad;   /* dL/dx */
    bool masked;      /* last forward ran in training mode */
    bool forwarded;
} dropout;

static int dropout_extra_repr(const nn_module *m, char *buf, size_t size)
{
    char p[NN_REPR_FLOAT_LEN];
    return snprintf(buf, size, "p=%s, inplace=False", nn_repr_float(((const dropout *)m)->p, p));
}

static nn_module *dropout_clone(const nn_module *m)
{
    return nn_dropout(((const dropout *)m)->p);
}

static nn_tensor *dropout_forward(nn_module *m, const nn_tensor *x)
{
    dropout *d = (dropout *)m;
    bool train = m->training && d->p > 0.0f;
    if (nn_tensor_resize(&d->out, x->ndim, x->shape, x) < 0 ||
        (train && nn_tensor_resize(&d->mask, x->ndim, x->shape, x) < 0))
        return NULL;
    float *y = d->out.data;
    nn_tensor_gather(x, y);
    int64_t n = nn_tensor_numel(x);
    if (train) {
        float *mk = d->mask.data;
        float scale = d->p < 1.0f ? 1.0f / (1.0f - d->p) : 0.0f; /* p = 1: all zeros, as torch */
        for (int64_t i = 0; i < n; i++) {
            double u = (double)(nn_random_u32() & 0xFFFFFFu) / 16777216.0; /* U[0, 1) */
            mk[i] = u < (double)d->p ? 0.0f : scale;
            y[i] *= mk[i];
        }
    }
    d->masked = train;
    d->forwarded = true;
    return &d->out;
}

static nn_tensor *dropout_backward(nn_module *m, const nn_tensor *g)
{
    dropout *d = (dropout *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!d->forwarded)
        return nn_fail_null(NN_EINVAL, "nn_backward: Dropout() called before forward");
    if (!nn_tensor_same_shape(g, &d->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: Dropout() expected grad_out of shape %s, got %s",
                            nn_tensor_shape_str(&d->out, a), nn_tensor_shape_str(g, b));
    if (nn_tensor_resize(&d->grad, g->ndim, g->shape, g) < 0)
        return NULL;
    float *dx = d->grad.data;
    nn_tensor_gather(g, dx);
    if (d->masked) {
        const float *mk = d->mask.data;
        int64_t n = nn_tensor_numel(g);
        for (int64_t i = 0; i < n; i++)
            dx[i] *= mk[i];
    }
    return &d->grad;
}

static void dropout_destroy(nn_module *m)
{
    dropout *d = (dropout *)m;
    nn_tensor_release(&d->out);
    nn_tensor_release(&d->mask);
    nn_tensor_release(&d->grad);
}

static const nn_module_ops dropout_ops = {
    .type = "Dropout",
    .forward = dropout_forward,
    .backward = dropout_backward,
    .extra_repr = dropout_extra_repr,
    .clone = dropout_clone,
    .destroy = dropout_destroy,
};

nn_module *nn_dropout(float p)
{
    if (!(p >= 0.0f && p <= 1.0f))
        return nn_fail_null(NN_EINVAL, "nn_dropout: dropout probability has to be between 0 and 1, but got %g", (double)p);
    dropout *d = nn_alloc_zeroed(1, sizeof *d);
    if (!d)
        return NULL;
    NN_MODULE_INIT(&d->base, &dropout_ops);
    d->p = p;
    return &d->base;
}
