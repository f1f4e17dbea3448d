/* Sequential: runs named children in order; parameters are named
   "<child>.<param>" exactly as PyTorch's state_dict names them. */
#include <stdio.h>
#include <string.h>

#include "module/module_impl.h"
#include "nn/parallel.h"

typedef struct {
    char *name;
    nn_module *module;
} child;

typedef struct {
    nn_module base;
    child *children;
    int n_children;
    char *class_name;   /* NULL: "Sequential" */
    nn_param *all;      /* gathered parameters of the whole subtree */
    char *all_names;    /* one block holding every name in `all` */
    int n_all;
    nn_tensor passthrough; /* an empty Sequential returns its input */
    /* the last forward failed after earlier children had run: their caches
       no longer match the later ones', so backward refuses (index + 1 of
       the failing child, 0: consistent) */
    int broken_at;
    /* a backward succeeded since the input shape last changed, with
       warm_threads threads: the next one at that shape and thread count
       allocates nothing, so it cannot fail midway (unless the caller ran a
       child by hand at another shape in between, which regrows its slots) */
    bool backward_warm;
    int warm_threads;
    int last_ndim;
    int64_t last_shape[NN_MAX_DIMS];
} sequential;

static int seq_params(nn_module *m, nn_param **out);

/* Child i is a ReLU the next child can take in (forward_after_relu): the
   pair runs as one, ReLU's own forward and backward are skipped. */
static bool fuses_relu(const sequential *s, int i)
{
    return i + 1 < s->n_children && nn_module_is_relu(s->children[i].module) &&
           s->children[i + 1].module->ops->forward_after_relu;
}

static nn_tensor *seq_forward(nn_module *m, const nn_tensor *x)
{
    sequential *s = (sequential *)m;
    if (s->n_children == 0) {
        nn_tensor_retain_into(&s->passthrough, x);
        return &s->passthrough;
    }
    if (x->ndim != s->last_ndim || memcmp(x->shape, s->last_shape, (size_t)x->ndim * sizeof *x->shape)) {
        s->backward_warm = false;
        s->last_ndim = x->ndim;
        memcpy(s->last_shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    }
    nn_tensor *h = (nn_tensor *)x;
    for (int i = 0; i < s->n_children; i++) {
        bool fused = fuses_relu(s, i);
        h = fused ? nn_module_forward_after_relu(s->children[++i].module, h) : nn_forward(s->children[i].module, h);
        if (!h) {
            char why[400];
            snprintf(why, sizeof why, "%s", nn_last_error());
            if (i - fused > 0)
                s->broken_at = i + 1;
            s->backward_warm = false;
            return nn_fail_null(NN_ESHAPE, "%s (in child (%s) of %s)", why, s->children[i].name,
                                s->class_name ? s->class_name : "Sequential");
        }
    }
    s->broken_at = 0;
    return h;
}

/* Copies every gradient of the subtree into one new block (*out; NULL
   when there are none), or back from it (restore). */
static int grads_copy(nn_module *m, float **out, bool restore)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    if (n < 0)
        return n;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += nn_tensor_numel(p[i].grad);
    if (!restore) {
        *out = total ? nn_alloc((size_t)total * sizeof(float)) : NULL;
        if (total && !*out)
            return NN_ENOMEM;
    }
    float *at = *out;
    for (int i = 0; i < n; i++) {
        int64_t k = nn_tensor_numel(p[i].grad);
        if (restore)
            nn_tensor_copy_in(p[i].grad, at);
        else
            nn_tensor_copy_out(p[i].grad, at);
        at += k;
    }
    return NN_OK;
}

static nn_tensor *seq_children_backward(sequential *s, const nn_tensor *grad_out, bool need_dx)
{
    nn_tensor *g = (nn_tensor *)grad_out;
    for (int i = s->n_children - 1; i >= 0; i--) {
        bool fused = i > 0 && fuses_relu(s, i - 1); /* its dL/dx is the ReLU's */
        g = nn_module_backward(s->children[i].module, g, need_dx || i - fused > 0);
        if (!g) {
            char why[400];
            snprintf(why, sizeof why, "%s", nn_last_error());
            nn_status st = nn_last_status();
            return nn_fail_null(st < 0 ? st : NN_ESHAPE, "%s (in child (%s) of %s)", why, s->children[i].name,
                                s->class_name ? s->class_name : "Sequential");
        }
        i -= fused;
    }
    return g;
}

/* Children in reverse order; only the first child may skip its dL/dx
   (when the caller does not need ours). The first backward at an input
   shape may allocate, and running out of memory there would come after
   the later children added into their gradients: those are saved first
   and put back, so that a failed call changes nothing. */
static nn_tensor *seq_backward_ex(nn_module *m, const nn_tensor *grad_out, bool need_dx)
{
    sequential *s = (sequential *)m;
    const char *name = s->class_name ? s->class_name : "Sequential";
    if (s->n_children == 0) {
        nn_tensor_retain_into(&s->passthrough, grad_out);
        return &s->passthrough;
    }
    if (s->broken_at)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s: the last forward failed in child (%s) after earlier "
                                       "children had run; run a forward that succeeds before backward",
                            name, s->children[s->broken_at - 1].name);
    if (s->backward_warm && s->warm_threads == nn_get_num_threads())
        return seq_children_backward(s, grad_out, need_dx);
    float *saved = NULL;
    int rc = grads_copy(m, &saved, false);
    if (rc < 0)
        return nn_fail_context_null("nn_backward: %s: saving the gradients", name);
    nn_tensor *g = seq_children_backward(s, grad_out, need_dx);
    if (!g)
        grads_copy(m, &saved, true);
    nn_release(saved);
    s->backward_warm = g != NULL;
    s->warm_threads = nn_get_num_threads();
    return g;
}

static nn_tensor *seq_backward(nn_module *m, const nn_tensor *grad_out)
{
    return seq_backward_ex(m, grad_out, true);
}

static void seq_repr(const nn_module *m, FILE *f, int indent)
{
    const sequential *s = (const sequential *)m;
    fprintf(f, "%s(", s->class_name ? s->class_name : "Sequential");
    if (s->n_children == 0) {
        fputc(')', f);
        return;
    }
    fputc('\n', f);
    for (int i = 0; i < s->n_children; i++) {
        fprintf(f, "%*s(%s): ", indent + 2, "", s->children[i].name);
        nn_module *c = s->children[i].module;
        c->ops->repr(c, f, indent + 2);
        fputc('\n', f);
    }
    fprintf(f, "%*s)", indent, "");
}

static void seq_set_training(nn_module *m, bool training)
{
    sequential *s = (sequential *)m;
    for (int i = 0; i < s->n_children; i++)
        nn_module_train(s->children[i].module, training);
}

static void seq_zero_grad(nn_module *m)
{
    sequential *s = (sequential *)m;
    for (int i = 0; i < s->n_children; i++)
        nn_zero_grad(s->children[i].module);
}

static void seq_destroy(nn_module *m)
{
    sequential *s = (sequential *)m;
    for (int i = 0; i < s->n_children; i++) {
        s->children[i].module->owned = false; /* let go, so that it can be freed */
        nn_module_free(s->children[i].module);
        nn_release(s->children[i].name);
    }
    nn_release(s->children);
    nn_release(s->class_name);
    nn_release(s->all);
    nn_release(s->all_names);
    nn_tensor_release(&s->passthrough);
}

static const nn_module_ops seq_ops = {
    .type = "Sequential",
    .forward = seq_forward,
    .backward = seq_backward,
    .backward_ex = seq_backward_ex,
    .repr = seq_repr,
    .destroy = seq_destroy,
    .params = seq_params,
    .set_training = seq_set_training,
    .zero_grad = seq_zero_grad,
};

/* Rebuilds the gathered list when the subtree's parameter count changed:
   children are only ever added, so the count changes exactly when the list
   does. */
static int seq_params(nn_module *m, nn_param **out)
{
    sequential *s = (sequential *)m;
    int total = 0;
    size_t name_bytes = 0;
    for (int i = 0; i < s->n_children; i++) {
        nn_param *cp;
        int n = nn_module_params(s->children[i].module, &cp);
        if (n < 0)
            return n;
        total += n;
        for (int j = 0; j < n; j++)
            name_bytes += strlen(s->children[i].name) + 1 + strlen(cp[j].name) + 1;
    }
    if (total != s->n_all || (total && !s->all)) {
        nn_param *all = nn_alloc_zeroed((size_t)total, sizeof *all);
        char *names = all ? nn_alloc(name_bytes) : NULL;
        if (!names) {
            nn_release(all);
            return NN_ENOMEM;
        }
        int k = 0;
        char *at = names;
        for (int i = 0; i < s->n_children; i++) {
            nn_param *cp;
            int n = nn_module_params(s->children[i].module, &cp);
            for (int j = 0; j < n; j++, k++) {
                all[k] = cp[j];
                all[k].name = at;
                at += sprintf(at, "%s.%s", s->children[i].name, cp[j].name) + 1;
            }
        }
        nn_release(s->all);
        nn_release(s->all_names);
        s->all = all;
        s->all_names = names;
        s->n_all = total;
    }
    if (out)
        *out = s->all;
    return total;
}

nn_module *nn_sequential(void)
{
    sequential *s = nn_alloc_zeroed(1, sizeof *s);
    if (!s)
        return nn_fail_context_null("nn_sequential");
    nn_module_init(&s->base, &seq_ops);
    return &s->base;
}

static bool is_sequential(const nn_module *m) { return m && m->ops == &seq_ops; }

static bool contains(const nn_module *tree, const nn_module *m)
{
    if (tree == m)
        return true;
    if (!is_sequential(tree))
        return false;
    const sequential *s = (const sequential *)tree;
    for (int i = 0; i < s->n_children; i++)
        if (contains(s->children[i].module, m))
            return true;
    return false;
}

int nn_sequential_add(nn_module *seq, const char *name, nn_module *c)
{
    if (!is_sequential(seq))
        return nn_fail(NN_EINVAL, "nn_sequential_add: expected a Sequential, got %s", nn_module_type(seq));
    if (!c)
        return nn_fail(NN_EINVAL, "nn_sequential_add: child is NULL");
    sequential *s = (sequential *)seq;
    if (contains(c, seq))
        return nn_fail(NN_EINVAL, "nn_sequential_add: adding %s would make a cycle", nn_module_type(c));
    for (int i = 0; i < s->n_children; i++)
        if (s->children[i].module == c)
            return nn_fail(NN_EINVAL, "nn_sequential_add: this %s was already added as (%s)",
                           nn_module_type(c), s->children[i].name);
    if (c->owned) /* a second owner would free it twice */
        return nn_fail(NN_EINVAL, "nn_sequential_add: this %s already belongs to another container",
                       nn_module_type(c));
    char index[24];
    if (!name) {
        snprintf(index, sizeof index, "%d", s->n_children);
        name = index;
    }
    if (!*name || strchr(name, '.'))
        return nn_fail(NN_EINVAL, "nn_sequential_add: child name must be non-empty and contain no '.', got \"%s\"",
                       name);
    for (int i = 0; i < s->n_children; i++)
        if (!strcmp(s->children[i].name, name))
            return nn_fail(NN_EINVAL, "nn_sequential_add: a child named \"%s\" already exists", name);
    child *grown = nn_alloc((size_t)(s->n_children + 1) * sizeof *grown);
    char *copy = grown ? nn_strdup(name) : NULL;
    if (!copy) {
        nn_release(grown);
        return nn_fail_context(NN_ENOMEM, "nn_sequential_add");
    }
    if (s->n_children)
        memcpy(grown, s->children, (size_t)s->n_children * sizeof *grown);
    grown[s->n_children] = (child){copy, c};
    nn_release(s->children);
    s->children = grown;
    s->n_children++;
    s->backward_warm = false; /* the new child's first backward may allocate */
    c->owned = true;
    return NN_OK;
}

int nn_sequential_set_class_name(nn_module *seq, const char *class_name)
{
    if (!is_sequential(seq))
        return nn_fail(NN_EINVAL, "nn_sequential_set_class_name: expected a Sequential, got %s",
                       nn_module_type(seq));
    if (!class_name || !*class_name)
        return nn_fail(NN_EINVAL, "nn_sequential_set_class_name: expected a non-empty name");
    char *copy = nn_strdup(class_name);
    if (!copy)
        return nn_fail_context(NN_ENOMEM, "nn_sequential_set_class_name");
    nn_release(((sequential *)seq)->class_name);
    ((sequential *)seq)->class_name = copy;
    return NN_OK;
}
