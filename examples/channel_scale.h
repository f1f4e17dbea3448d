/* ChannelScale: a user-defined layer written against the installed headers
   only (<nn.h> and <nn/module_ops.h>), the way PyTorch users write an
   nn.Module: a learnable per-channel scale and shift

       y[n, c, ...] = x[n, c, ...] * weight[c] + bias[c]

   on input [N, C, ...] (any rank >= 2, any strides), weight initialised to
   1 and bias to 0. In PyTorch (tests/ref_custom_layer.py):

       class ChannelScale(nn.Module):
           def __init__(self, num_channels):
               super().__init__()
               self.num_channels = num_channels
               self.weight = nn.Parameter(torch.ones(num_channels))
               self.bias = nn.Parameter(torch.zeros(num_channels))
           def forward(self, x):
               view = (1, -1) + (1,) * (x.dim() - 2)
               return x * self.weight.view(view) + self.bias.view(view)
           def extra_repr(self):
               return "num_channels=%d" % self.num_channels

   The module core (nn/module_ops.h) names the parameters in state_dicts
   ("1.weight"), saves and loads them, zeroes their gradients, hands them
   to optimizers, prints the layer and frees it; the layer only computes.
   Header only, so that tests can include it: examples/custom_layer.c is
   the program that uses it. */
#ifndef CHANNEL_SCALE_H
#define CHANNEL_SCALE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nn.h>
#include <nn/module_ops.h>

typedef struct {
    nn_module base; /* first: the core sees a ChannelScale as an nn_module */
    int64_t channels;
    nn_tensor *x;  /* the last input, a contiguous copy: backward needs it */
    nn_tensor *y;  /* the last output */
    nn_tensor *dx; /* the last dL/dx */
} channel_scale;

static bool cs_same_shape(const nn_tensor *a, const nn_tensor *b)
{
    return a && b && a->ndim == b->ndim && !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape);
}

/* "[2, 3, 4]" */
static const char *cs_shape(const nn_tensor *t, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

/* A new tensor shaped as like into *slot, unless *slot has that shape
   already (then nothing is allocated: warm steps allocate nothing). On
   failure *slot is left as it was. */
static bool cs_fit(nn_tensor **slot, const nn_tensor *like)
{
    if (cs_same_shape(*slot, like))
        return true;
    nn_tensor *t = nn_tensor_new(like->ndim, like->shape);
    if (!t)
        return false;
    nn_tensor_free(*slot);
    *slot = t;
    return true;
}

/* Elements per (n, c) block: the product of the dimensions after C. */
static int64_t cs_inner(const nn_tensor *t)
{
    int64_t inner = 1;
    for (int d = 2; d < t->ndim; d++)
        inner *= t->shape[d];
    return inner;
}

static nn_tensor *cs_forward(nn_module *m, const nn_tensor *x)
{
    channel_scale *s = (channel_scale *)m;
    char got[NN_MAX_DIMS * 24];
    if (x->ndim < 2 || x->shape[1] != s->channels) {
        nn_set_error(NN_ESHAPE, "nn_forward: ChannelScale(num_channels=%lld) expected input [N, %lld, ...], got %s",
                     (long long)s->channels, (long long)s->channels, cs_shape(x, got, sizeof got));
        return NULL;
    }
    /* both slots first: a failure here leaves the last results as they were */
    nn_tensor *old_x = s->x;
    if (!cs_fit(&s->x, x) || !cs_fit(&s->y, x)) {
        if (s->x != old_x) { /* undo the first */
            nn_tensor_free(s->x);
            s->x = old_x;
        }
        nn_set_error(NN_ENOMEM, "nn_forward: ChannelScale(num_channels=%lld): out of memory", (long long)s->channels);
        return NULL;
    }
    /* from here on nothing fails */
    nn_tensor_copy_out(x, s->x->data); /* honours x's strides */
    const nn_tensor *w = m->params[0].value, *b = m->params[1].value;
    int64_t n = x->shape[0], c_n = s->channels, inner = cs_inner(x);
    const float *xs = s->x->data;
    float *ys = s->y->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < c_n; c++) {
            float wc = w->data[c * w->stride[0]], bc = b->data[c * b->stride[0]];
            const float *xr = xs + (i * c_n + c) * inner;
            float *yr = ys + (i * c_n + c) * inner;
            for (int64_t k = 0; k < inner; k++) {
                float scaled = xr[k] * wc; /* as torch: x * w, then + b */
                yr[k] = scaled + bc;
            }
        }
    return s->y;
}

static nn_tensor *cs_backward(nn_module *m, const nn_tensor *g)
{
    channel_scale *s = (channel_scale *)m;
    char got[NN_MAX_DIMS * 24], want[NN_MAX_DIMS * 24];
    if (!cs_same_shape(g, s->x)) {
        nn_set_error(NN_ESHAPE, "nn_backward: ChannelScale(num_channels=%lld) expected grad_out of shape %s, got %s",
                     (long long)s->channels, cs_shape(s->x, want, sizeof want), cs_shape(g, got, sizeof got));
        return NULL;
    }
    if (!cs_fit(&s->dx, g)) {
        nn_set_error(NN_ENOMEM, "nn_backward: ChannelScale(num_channels=%lld): out of memory", (long long)s->channels);
        return NULL;
    }
    /* from here on nothing fails: the gradients change only now */
    nn_tensor_copy_out(g, s->dx->data); /* dx holds g, then becomes g * w */
    nn_param *w = &m->params[0], *b = &m->params[1];
    int64_t n = g->shape[0], c_n = s->channels, inner = cs_inner(g);
    for (int64_t c = 0; c < c_n; c++) {
        double gw = 0.0, gb = 0.0; /* dL/dw[c] = sum g x, dL/db[c] = sum g */
        float wc = w->value->data[c * w->value->stride[0]];
        for (int64_t i = 0; i < n; i++) {
            const float *xr = s->x->data + (i * c_n + c) * inner;
            float *gr = s->dx->data + (i * c_n + c) * inner;
            for (int64_t k = 0; k < inner; k++) {
                gw += (double)gr[k] * xr[k];
                gb += gr[k];
                gr[k] *= wc;
            }
        }
        w->grad->data[c * w->grad->stride[0]] += (float)gw; /* backward adds */
        b->grad->data[c * b->grad->stride[0]] += (float)gb;
    }
    return s->dx;
}

static int cs_extra_repr(const nn_module *m, char *buf, size_t size)
{
    return snprintf(buf, size, "num_channels=%lld", (long long)((const channel_scale *)m)->channels);
}

static void cs_destroy(nn_module *m)
{
    channel_scale *s = (channel_scale *)m;
    nn_tensor_free(s->x);
    nn_tensor_free(s->y);
    nn_tensor_free(s->dx);
}

static const nn_module_ops channel_scale_ops = {
    .type = "ChannelScale",
    .forward = cs_forward,
    .backward = cs_backward,
    .extra_repr = cs_extra_repr,
    .destroy = cs_destroy,
};

/* A new ChannelScale over num_channels channels, or NULL + nn_last_error(). */
static inline nn_module *channel_scale_new(int64_t num_channels)
{
    if (num_channels <= 0) {
        nn_set_error(NN_EINVAL, "channel_scale_new: num_channels must be positive, got %lld", (long long)num_channels);
        return NULL;
    }
    channel_scale *s = calloc(1, sizeof *s);
    if (!s) {
        nn_set_error(NN_ENOMEM, "channel_scale_new: out of memory");
        return NULL;
    }
    nn_module_init(&s->base, &channel_scale_ops); /* nn_module_free frees s with free() */
    s->channels = num_channels;
    nn_tensor *w = nn_module_add_param(&s->base, "weight", 1, (const int64_t[]){num_channels});
    nn_tensor *b = w ? nn_module_add_param(&s->base, "bias", 1, (const int64_t[]){num_channels}) : NULL;
    if (!b) { /* nn_last_error() says why */
        nn_module_free(&s->base);
        return NULL;
    }
    nn_tensor_fill(w, 1.0f); /* bias stays 0 */
    return &s->base;
}

#endif
