/* Sequential: runs its children in registration order. Naming, printing,
   zero_grad, train/eval and the failure rules are the module core's; what
   is a chain's own is here: the loop each way, and taking a pointwise
   child into the next one when that one can absorb it (ReLU -> MaxPool2d). */
#include <stdio.h>
#include <string.h>

#include "module_impl.h"

typedef struct {
    nn_module base;
    nn_tensor passthrough; /* an empty Sequential returns its input */
} sequential;

/* Child i is pointwise and child i + 1 absorbs it: the pair runs as one,
   child i's own forward and backward are skipped. */
static bool absorbed(const nn_module *m, int i)
{
    return i + 1 < m->n_children && nn_module_absorbs(m->children[i + 1].module, m->children[i].module);
}

static nn_tensor *seq_forward(nn_module *m, const nn_tensor *x)
{
    sequential *s = (sequential *)m;
    if (m->n_children == 0) {
        nn_tensor_retain_into(&s->passthrough, x);
        return &s->passthrough;
    }
    nn_tensor *h = (nn_tensor *)x;
    for (int i = 0; i < m->n_children && h; i++) {
        bool fused = absorbed(m, i);
        i += fused;
        h = nn_child_forward(m, &m->children[i], h, fused);
    }
    return h;
}

/* Children in reverse order; only the first child may skip its dL/dx
   (when the caller does not need ours). */
static nn_tensor *seq_backward_ex(nn_module *m, const nn_tensor *grad_out, bool need_dx)
{
    sequential *s = (sequential *)m;
    if (m->n_children == 0) {
        nn_tensor_retain_into(&s->passthrough, grad_out);
        return &s->passthrough;
    }
    nn_tensor *g = (nn_tensor *)grad_out;
    for (int i = m->n_children - 1; i >= 0 && g; i--) {
        bool fused = i > 0 && absorbed(m, i - 1); /* its dL/dx is the absorbed child's */
        g = nn_child_backward(m, &m->children[i], m->children[i].module, g, need_dx || i - fused > 0);
        i -= fused;
    }
    return g;
}

static nn_tensor *seq_backward(nn_module *m, const nn_tensor *grad_out)
{
    return seq_backward_ex(m, grad_out, true);
}

static void seq_destroy(nn_module *m)
{
    nn_tensor_release(&((sequential *)m)->passthrough);
}

/* a chain: child i + 1 alone reads child i's output */
static int seq_next_exclusive(const nn_module *m, int i) { return i + 1 < m->n_children ? i + 1 : -1; }

static const nn_module_ops seq_ops = {
    .type = "Sequential",
    .forward = seq_forward,
    .backward = seq_backward,
    .backward_ex = seq_backward_ex,
    .destroy = seq_destroy,
    .next_exclusive = seq_next_exclusive,
};

nn_module *nn_sequential(void)
{
    sequential *s = nn_alloc_zeroed(1, sizeof *s);
    if (!s)
        return nn_fail_context_null("nn_sequential");
    NN_MODULE_INIT(&s->base, &seq_ops);
    return &s->base;
}

static bool is_sequential(const nn_module *m) { return m && m->ops == &seq_ops; }

int nn_sequential_add(nn_module *seq, const char *name, nn_module *c)
{
    if (!is_sequential(seq))
        return nn_fail(NN_EINVAL, "nn_sequential_add: expected a Sequential, got %s", nn_module_type(seq));
    char index[24];
    if (!name) {
        snprintf(index, sizeof index, "%d", seq->n_children);
        name = index;
    }
    int rc = nn_module_add_child(seq, name, c);
    return rc < 0 ? nn_rename_failure(rc, "nn_module_add_child", "nn_sequential_add") : NN_OK;
}

int nn_sequential_set_class_name(nn_module *seq, const char *class_name)
{
    if (!is_sequential(seq))
        return nn_fail(NN_EINVAL, "nn_sequential_set_class_name: expected a Sequential, got %s",
                       nn_module_type(seq));
    int rc = nn_module_set_class_name(seq, class_name);
    return rc < 0 ? nn_rename_failure(rc, "nn_module_set_class_name", "nn_sequential_set_class_name") : NN_OK;
}
