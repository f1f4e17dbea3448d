/* The generic module entry points; they dispatch through the ops table. */
#include <math.h>
#include <string.h>

#include "module/module_impl.h"
#include "nn/random.h"

void nn_module_init(nn_module *m, const nn_module_ops *ops)
{
    m->ops = ops;
    m->params = NULL;
    m->n_params = 0;
    m->training = true;
    m->owned = false;
}

nn_tensor *nn_module_add_param(nn_module *m, const char *name, int ndim, const int64_t *shape)
{
    nn_param *grown = nn_alloc((size_t)(m->n_params + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    nn_tensor *value = nn_tensor_new(ndim, shape);
    nn_tensor *grad = value ? nn_tensor_new(ndim, shape) : NULL;
    if (!grad) {
        nn_tensor_free(value);
        nn_release(grown);
        return NULL;
    }
    if (m->n_params)
        memcpy(grown, m->params, (size_t)m->n_params * sizeof *grown);
    grown[m->n_params] = (nn_param){name, value, grad};
    nn_release(m->params);
    m->params = grown;
    m->n_params++;
    return value;
}

void nn_init_uniform(nn_tensor *t, double bound)
{
    int64_t n = nn_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = nn_random_uniform(-bound, bound);
}

void nn_init_kaiming_uniform(nn_tensor *weight, nn_tensor *bias, double fan_in)
{
    /* the bound in double exactly as torch computes it; a*a is
       5.000000000000001 there too */
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1.0 + a * a));
    double std = gain / sqrt(fan_in);
    nn_init_uniform(weight, sqrt(3.0) * std);
    if (bias)
        nn_init_uniform(bias, 1.0 / sqrt(fan_in));
}

/* A layer names the public function in its own errors; failures of
   internal helpers (allocation, sizes) get "fn: Type: " put in front. */
static bool names_fn(const char *fn)
{
    size_t n = strlen(fn);
    return strncmp(nn_last_error(), fn, n) == 0 && nn_last_error()[n] == ':';
}

static nn_tensor *named_failure(const char *fn, const nn_module *m)
{
    return names_fn(fn) ? NULL : nn_fail_context_null("%s: %s", fn, m->ops->type);
}

nn_tensor *nn_forward(nn_module *m, const nn_tensor *x)
{
    if (!m)
        return nn_fail_null(NN_EINVAL, "nn_forward: module is NULL");
    if (nn_tensor_check("nn_forward", "input", x) < 0)
        return NULL;
    nn_tensor *y = m->ops->forward(m, x);
    return y ? y : named_failure("nn_forward", m);
}

nn_tensor *nn_module_forward_after_relu(nn_module *m, const nn_tensor *x)
{
    if (nn_tensor_check("nn_forward", "input", x) < 0)
        return NULL;
    nn_tensor *y = m->ops->forward_after_relu(m, x);
    return y ? y : named_failure("nn_forward", m);
}

nn_tensor *nn_module_backward(nn_module *m, const nn_tensor *grad_out, bool need_dx)
{
    if (!m)
        return nn_fail_null(NN_EINVAL, "nn_backward: module is NULL");
    if (nn_tensor_check("nn_backward", "grad_out", grad_out) < 0)
        return NULL;
    nn_tensor *g = !need_dx && m->ops->backward_ex ? m->ops->backward_ex(m, grad_out, false)
                                                   : m->ops->backward(m, grad_out);
    return g ? g : named_failure("nn_backward", m);
}

nn_tensor *nn_backward(nn_module *m, const nn_tensor *grad_out)
{
    return nn_module_backward(m, grad_out, true);
}

int nn_backward_params(nn_module *m, const nn_tensor *grad_out)
{
    if (nn_module_backward(m, grad_out, false))
        return NN_OK;
    nn_status why = nn_last_status();
    int st = why < 0 ? (int)why : NN_EINVAL;
    /* the messages name nn_backward: name this function instead */
    if (names_fn("nn_backward"))
        return nn_fail(st, "nn_backward_params%s", nn_last_error() + strlen("nn_backward"));
    return nn_fail_context(st, "nn_backward_params");
}

int nn_module_params(nn_module *m, nn_param **params)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_module_params: module is NULL");
    if (m->ops->params) {
        int n = m->ops->params(m, params);
        if (n < 0 && !names_fn("nn_module_params"))
            nn_fail_context(n, "nn_module_params: %s", m->ops->type);
        return n;
    }
    if (params)
        *params = m->params;
    return m->n_params;
}

void nn_zero_grad(nn_module *m)
{
    if (!m)
        return;
    if (m->ops->zero_grad) {
        m->ops->zero_grad(m);
        return;
    }
    nn_param *p = m->params; /* a leaf's own list: nothing to gather */
    int n = m->ops->params ? nn_module_params(m, &p) : m->n_params;
    for (int i = 0; i < n; i++)
        nn_tensor_fill(p[i].grad, 0.0f);
}

void nn_module_train(nn_module *m, bool training)
{
    if (!m)
        return;
    m->training = training;
    if (m->ops->set_training)
        m->ops->set_training(m, training);
}

const char *nn_module_type(const nn_module *m)
{
    return m ? m->ops->type : "NULL";
}

void nn_module_print(const nn_module *m, FILE *f)
{
    if (!m || !f)
        return;
    nn_c_numbers cn; /* Dropout(p=0.5) with a '.' whatever setlocale chose */
    nn_c_numbers_begin(&cn, "nn_module_print");
    m->ops->repr(m, f, 0);
    fputc('\n', f);
    nn_c_numbers_end(&cn);
}

void nn_module_free(nn_module *m)
{
    if (!m)
        return;
    if (m->owned) { /* its container frees it; freeing it here would free it twice */
        nn_fail(NN_EINVAL, "nn_module_free: this %s belongs to a container, which frees it", m->ops->type);
        return;
    }
    if (m->ops->destroy)
        m->ops->destroy(m);
    for (int i = 0; i < m->n_params; i++) {
        nn_tensor_free(m->params[i].value);
        nn_tensor_free(m->params[i].grad);
    }
    nn_release(m->params);
    nn_release(m);
}
