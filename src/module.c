/* The generic module entry points; they dispatch through the ops table. */
#include <math.h>
#include <string.h>

#include "module_impl.h"
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

nn_tensor *nn_forward(nn_module *m, const nn_tensor *x)
{
    if (!m || !x)
        return nn_fail_null(NN_EINVAL, "nn_forward: %s is NULL", m ? "input" : "module");
    return m->ops->forward(m, x);
}

nn_tensor *nn_backward(nn_module *m, const nn_tensor *grad_out)
{
    if (!m || !grad_out)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s is NULL", m ? "grad_out" : "module");
    return m->ops->backward(m, grad_out);
}

int nn_module_params(nn_module *m, nn_param **params)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_module_params: module is NULL");
    if (m->ops->params)
        return m->ops->params(m, params);
    if (params)
        *params = m->params;
    return m->n_params;
}

void nn_zero_grad(nn_module *m)
{
    nn_param *p;
    int n = m ? nn_module_params(m, &p) : 0;
    for (int i = 0; i < n; i++)
        memset(p[i].grad->data, 0, (size_t)nn_tensor_numel(p[i].grad) * sizeof(float));
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
    m->ops->repr(m, f, 0);
    fputc('\n', f);
}

void nn_module_free(nn_module *m)
{
    if (!m)
        return;
    if (m->ops->destroy)
        m->ops->destroy(m);
    for (int i = 0; i < m->n_params; i++) {
        nn_tensor_free(m->params[i].value);
        nn_tensor_free(m->params[i].grad);
    }
    nn_release(m->params);
    nn_release(m);
}
