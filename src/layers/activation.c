/* Forward and backward shared by the output-cached activations. */
#include "activation.h"

nn_tensor *nn_activation_forward(nn_module *m, const nn_tensor *x)
{
    nn_activation *a = (nn_activation *)m;
    /* x may be our own output slot: hold its storage while resizing that */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&a->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = a->out.data;
    const float *in = src.data; /* read in place when dense, else gathered into y first */
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, y);
        in = y;
    }
    nn_ew_run_unary(a->k->forward, in, y, nn_tensor_numel(&a->out));
    nn_tensor_release(&src);
    return &a->out;
}

nn_tensor *nn_activation_backward(nn_module *m, const nn_tensor *g)
{
    nn_activation *a = (nn_activation *)m;
    char s1[NN_SHAPE_STR_LEN], s2[NN_SHAPE_STR_LEN];
    if (!a->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s() called before forward", m->ops->type);
    if (!nn_tensor_same_shape(g, &a->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s() expected grad_out of shape %s, got %s",
                            m->ops->type, nn_tensor_shape_str(&a->out, s1), nn_tensor_shape_str(g, s2));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&a->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *dx = a->grad.data;
    const float *g_in = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, dx);
        g_in = dx;
    }
    nn_ew_run_binary(a->k->backward, a->out.data, g_in, dx, nn_tensor_numel(&a->grad));
    nn_tensor_release(&src);
    return &a->grad;
}

void nn_activation_destroy(nn_module *m)
{
    nn_activation *a = (nn_activation *)m;
    nn_tensor_release(&a->out);
    nn_tensor_release(&a->grad);
}

nn_module *nn_activation_new(const nn_module_ops *ops, const nn_activation_kernels *k,
                             const char *ctor_name)
{
    nn_activation *a = nn_alloc_zeroed(1, sizeof *a);
    if (!a)
        return nn_fail_context_null("%s", ctor_name);
    NN_MODULE_INIT(&a->base, ops);
    a->k = k;
    return &a->base;
}

/* --- nn_pointwise: an option and an input cache ---------------------- */

#include "base/parallel_impl.h"

/* Chunks of PW_GRAIN elements, only for arrays worth waking the pool for
   (elementwise: the result does not depend on the split). */
#define PW_GRAIN ((int64_t)1 << 14)
#define PW_PARALLEL_MIN ((int64_t)1 << 16)

typedef struct {
    nn_act_fn f1;
    nn_act_grad_fn f2;
    const float *a, *b;
    float *y;
    float arg;
} pw_job;

static void pw_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    const pw_job *j = ctx;
    (void)tid;
    if (j->f1)
        j->f1(j->a + begin, j->y + begin, end - begin, j->arg);
    else
        j->f2(j->a + begin, j->b + begin, j->y + begin, end - begin, j->arg);
}

static void pw_run(pw_job *j, int64_t n)
{
    int parts = n < PW_PARALLEL_MIN ? 1 : nn_get_num_threads();
    if (parts > 1)
        nn_parallel_for(n, PW_GRAIN, parts, pw_chunk, j);
    else
        pw_chunk(j, 0, n, 0);
}

const char *nn_module_label(const nn_module *m, char *buf)
{
    char extra[NN_LABEL_LEN - 32];
    extra[0] = '\0';
    nn_c_numbers cn;
    nn_c_numbers_begin(&cn, "nn_module_label");
    if (m->ops->extra_repr)
        m->ops->extra_repr(m, extra, sizeof extra);
    nn_c_numbers_end(&cn);
    snprintf(buf, NN_LABEL_LEN, "%.29s(%s)", nn_module_class(m), extra); /* fits: 29 + 2 + 95 < 128 */
    return buf;
}

nn_tensor *nn_pointwise_forward(nn_module *m, const nn_tensor *x)
{
    nn_pointwise *p = (nn_pointwise *)m;
    /* x may be our own output slot: hold its storage while resizing that */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    /* make room for everything first: a failure changes nothing */
    if ((!p->from_output && nn_tensor_reserve_dense(&p->in_copy, &src) < 0) ||
        nn_tensor_resize(&p->out, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *y = p->out.data;
    const float *in;
    if (!p->from_output) {
        nn_tensor_commit_dense(&p->in, &p->in_copy, &src);
        in = p->in.data;
    } else if (nn_tensor_is_contiguous(&src)) {
        in = src.data;
    } else {
        nn_tensor_gather(&src, y);
        in = y;
    }
    pw_job j = {.f1 = p->forward, .a = in, .y = y, .arg = p->arg};
    pw_run(&j, nn_tensor_numel(&p->out));
    nn_tensor_release(&src);
    return &p->out;
}

nn_tensor *nn_pointwise_backward(nn_module *m, const nn_tensor *g)
{
    nn_pointwise *p = (nn_pointwise *)m;
    char s1[NN_SHAPE_STR_LEN], s2[NN_SHAPE_STR_LEN], label[NN_LABEL_LEN];
    if (!p->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", nn_module_label(m, label));
    if (!nn_tensor_same_shape(g, &p->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s",
                            nn_module_label(m, label), nn_tensor_shape_str(&p->out, s1), nn_tensor_shape_str(g, s2));
    if (p->refusal)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s: %s", nn_module_label(m, label), p->refusal);
    /* forward may have been given our own dx slot: its cached input then
       lives there, so dx goes elsewhere */
    if (!p->from_output && p->grad.storage && p->grad.storage == p->in.storage)
        nn_tensor_release(&p->grad);
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&p->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    float *dx = p->grad.data;
    const float *g_in = src.data;
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, dx);
        g_in = dx;
    }
    pw_job j = {.f2 = p->backward, .a = p->from_output ? p->out.data : p->in.data, .b = g_in, .y = dx,
                .arg = p->arg};
    pw_run(&j, nn_tensor_numel(&p->grad));
    nn_tensor_release(&src);
    return &p->grad;
}

void nn_pointwise_destroy(nn_module *m)
{
    nn_pointwise *p = (nn_pointwise *)m;
    nn_tensor_release(&p->in);
    nn_tensor_release(&p->in_copy);
    nn_tensor_release(&p->out);
    nn_tensor_release(&p->grad);
}

nn_pointwise *nn_pointwise_new(const nn_module_ops *ops, nn_act_fn forward, nn_act_grad_fn backward,
                               const char *ctor_name)
{
    nn_pointwise *p = nn_alloc_zeroed(1, sizeof *p);
    if (!p)
        return nn_fail_context_null("%s", ctor_name);
    NN_MODULE_INIT(&p->base, ops);
    p->forward = forward;
    p->backward = backward;
    return p;
}
