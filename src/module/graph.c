/* Graph: a container whose children are wired as a directed acyclic graph
   of values. Value 0 is the input; every node makes one new value from
   earlier ones: a child applied to a value, an elementwise sum, or a
   concatenation. Backward runs the nodes in reverse and sums the
   gradients of a value used by several nodes. Naming, printing and the
   failure rules are the module core's. */
#include <string.h>

#include "module_impl.h"
#include "kernels/elementwise.h"

typedef enum { NODE_APPLY, NODE_SUM, NODE_CAT, NODE_FLATTEN } node_kind;

typedef struct {
    node_kind kind;
    int child;         /* APPLY: index of the registered child */
    nn_module *clone;  /* APPLY at a second place: own instance (owned) */
    int in[NN_GRAPH_MAX_INPUTS];
    int n_in;
    int dim;           /* CAT, FLATTEN's start: as given (negative: from the end) */
    int end_dim;       /* FLATTEN */
    nn_tensor out;     /* SUM / CAT result */
    nn_tensor scratch; /* CAT: dense copy of a strided input */
    nn_tensor views[NN_GRAPH_MAX_INPUTS]; /* CAT backward: slices of dL/dy */
} node;

typedef struct {
    nn_tensor *val;       /* forward result (owned by whoever made it) */
    const nn_tensor *grad; /* dL/d(value) during backward, NULL: none yet */
    nn_tensor acc;        /* sum of the contributions when several */
    int consumers;        /* inputs of nodes naming it (+1 for the output) */
    int received;         /* contributions to grad so far in this backward */
} value;

typedef struct {
    nn_module base;
    node *nodes;
    int n_nodes;
    value *values; /* n_nodes + 1 */
    int output;    /* value id; -1 while unset */
    /* the first builder error, given again by nn_graph_output */
    int error;
    char error_msg[400];
    nn_tensor input;       /* value 0: a view of forward's x, holding its storage */
    nn_tensor passthrough; /* output = input */
    nn_tensor dx_view;     /* dL/dx when it is grad_out itself (output = input) */
    nn_tensor zero_dx;     /* dL/dx when the output does not depend on x */
} graph;

static const nn_module_ops graph_ops;

static graph *as_graph(nn_module *m) { return m && m->ops == &graph_ops ? (graph *)m : NULL; }

/* Records the first builder failure; returns the status. */
static int builder_fail(graph *g, int status)
{
    if (g && !g->error) {
        g->error = status;
        snprintf(g->error_msg, sizeof g->error_msg, "%s", nn_last_error());
    }
    return status;
}

static int check_value(graph *g, const char *fn, int v)
{
    if (v < 0) /* an earlier call failed: pass its status on */
        return v;
    if (v > g->n_nodes)
        return builder_fail(g, nn_fail(NN_EINVAL, "%s: value %d does not exist (the graph has %d)", fn, v,
                                       g->n_nodes + 1));
    return NN_OK;
}

/* Appends a node reading ins; returns the id of the value it makes. */
static int add_node(graph *g, const char *fn, node n)
{
    node *nodes = nn_alloc((size_t)(g->n_nodes + 1) * sizeof *nodes);
    value *values = nodes ? nn_alloc_zeroed((size_t)g->n_nodes + 2, sizeof *values) : NULL;
    if (!values) {
        nn_release(nodes);
        nn_module_free(n.clone);
        return builder_fail(g, nn_fail_context(NN_ENOMEM, "%s", fn));
    }
    if (g->n_nodes)
        memcpy(nodes, g->nodes, (size_t)g->n_nodes * sizeof *nodes);
    memcpy(values, g->values, (size_t)(g->n_nodes + 1) * sizeof *values);
    nodes[g->n_nodes] = n;
    for (int i = 0; i < n.n_in; i++)
        values[n.in[i]].consumers++;
    nn_release(g->nodes);
    nn_release(g->values);
    g->nodes = nodes;
    g->values = values;
    g->n_nodes++;
    g->base.warm = false; /* the new node's first backward may allocate */
    nn_module_touch(&g->base);
    return g->n_nodes;
}

nn_module *nn_graph(void)
{
    graph *g = nn_alloc_zeroed(1, sizeof *g);
    value *v = g ? nn_alloc_zeroed(1, sizeof *v) : NULL;
    if (!v) {
        nn_release(g);
        return nn_fail_context_null("nn_graph");
    }
    NN_MODULE_INIT(&g->base, &graph_ops);
    g->values = v;
    g->output = -1;
    return &g->base;
}

int nn_graph_add(nn_module *m, const char *name, nn_module *child)
{
    graph *g = as_graph(m);
    if (!g) {
        int rc = nn_fail(NN_EINVAL, "nn_graph_add: expected a Graph, got %s", nn_module_type(m));
        if (child && !child->parent)
            nn_module_free(child);
        return rc;
    }
    int rc = nn_module_add_child(m, name, child);
    if (rc < 0) {
        nn_rename_failure(rc, "nn_module_add_child", "nn_graph_add");
        if (child && !child->parent && !nn_module_is_within(m, child)) /* ours to free, as documented */
            nn_module_free(child);
        return builder_fail(g, rc);
    }
    return NN_OK;
}

int nn_graph_input(nn_module *m)
{
    return as_graph(m) ? 0 : nn_fail(NN_EINVAL, "nn_graph_input: expected a Graph, got %s", nn_module_type(m));
}

int nn_graph_apply(nn_module *m, const char *name, int x)
{
    const char *fn = "nn_graph_apply";
    graph *g = as_graph(m);
    if (!g)
        return nn_fail(NN_EINVAL, "%s: expected a Graph, got %s", fn, nn_module_type(m));
    int rc = check_value(g, fn, x);
    if (rc < 0)
        return rc;
    int c = -1;
    for (int i = 0; i < m->n_children && name; i++)
        if (!strcmp(m->children[i].name, name))
            c = i;
    if (c < 0)
        return builder_fail(g, nn_fail(NN_EINVAL, "%s: %s has no child named \"%s\" (add it with nn_graph_add)",
                                       fn, nn_module_class(m), name ? name : "(null)"));
    node n = {.kind = NODE_APPLY, .child = c, .in = {x}, .n_in = 1};
    for (int k = 0; k < g->n_nodes; k++) {
        if (g->nodes[k].kind != NODE_APPLY || g->nodes[k].child != c)
            continue;
        /* a second place: it needs a forward cache of its own */
        nn_module *orig = m->children[c].module;
        if (!orig->ops->clone || orig->n_children)
            return builder_fail(g, nn_fail(NN_EINVAL,
                                           "%s: child (%s), a %s, is already used; only a module with a clone "
                                           "op (the parameter-free layers) can be applied at several places",
                                           fn, name, nn_module_class(orig)));
        n.clone = orig->ops->clone(orig);
        if (!n.clone)
            return builder_fail(g, nn_fail_context(NN_ENOMEM, "%s: copying (%s)", fn, name));
        nn_module_train(n.clone, orig->training);
        break;
    }
    return add_node(g, fn, n);
}

static int add_multi(nn_module *m, const char *fn, node_kind kind, const int *values, int n_values, int dim)
{
    graph *g = as_graph(m);
    if (!g)
        return nn_fail(NN_EINVAL, "%s: expected a Graph, got %s", fn, nn_module_type(m));
    if (!values || n_values < 1 || n_values > NN_GRAPH_MAX_INPUTS)
        return builder_fail(g, nn_fail(NN_EINVAL, "%s: expected 1 to %d values, got %d", fn, NN_GRAPH_MAX_INPUTS,
                                       values ? n_values : 0));
    node n = {.kind = kind, .n_in = n_values, .dim = dim};
    for (int i = 0; i < n_values; i++) {
        int rc = check_value(g, fn, values[i]);
        if (rc < 0)
            return rc;
        n.in[i] = values[i];
    }
    return add_node(g, fn, n);
}

int nn_graph_sum(nn_module *m, int a, int b)
{
    return add_multi(m, "nn_graph_sum", NODE_SUM, (int[]){a, b}, 2, 0);
}

int nn_graph_cat(nn_module *m, const int *values, int n, int dim)
{
    return add_multi(m, "nn_graph_cat", NODE_CAT, values, n, dim);
}

int nn_graph_flatten(nn_module *m, int v, int start_dim, int end_dim)
{
    int rc = add_multi(m, "nn_graph_flatten", NODE_FLATTEN, &v, 1, start_dim);
    if (rc > 0)
        ((graph *)m)->nodes[rc - 1].end_dim = end_dim;
    return rc;
}

int nn_graph_output(nn_module *m, int v)
{
    graph *g = as_graph(m);
    if (!g)
        return nn_fail(NN_EINVAL, "nn_graph_output: expected a Graph, got %s", nn_module_type(m));
    if (g->error) /* the first failure, as it was said */
        return nn_fail(g->error, "%s", g->error_msg);
    int rc = check_value(g, "nn_graph_output", v);
    if (rc < 0)
        return rc;
    if (g->output >= 0)
        g->values[g->output].consumers--;
    g->output = v;
    g->values[v].consumers++;
    return NN_OK;
}

/* --- forward -------------------------------------------------------------- */

/* x: the graph's input, which may be a node's own result from the last
   forward (h = g(h)): a node's result then moves to new storage rather
   than overwrite x, which later nodes and the children's caches read. */
static nn_tensor *sum_forward(const nn_module *m, node *n, nn_tensor *const *in, const nn_tensor *x)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    for (int i = 1; i < n->n_in; i++)
        if (!nn_tensor_same_shape(in[0], in[i]))
            return nn_fail_null(NN_ESHAPE, "nn_forward: %s: sum of tensors of shapes %s and %s", nn_module_class(m),
                                nn_tensor_shape_str(in[0], a), nn_tensor_shape_str(in[i], b));
    if (nn_tensor_resize(&n->out, in[0]->ndim, in[0]->shape, x) < 0)
        return NULL;
    float *y = n->out.data;
    int i = 1;
    if (n->n_in > 1 && nn_tensor_is_contiguous(in[0]) && nn_tensor_is_contiguous(in[1])) {
        /* y = in0 + in1 in one pass: the same sums as the copy and add below */
        nn_ew_add_pair(in[0]->data, in[1]->data, y, nn_tensor_numel(in[0]));
        i = 2;
    } else {
        nn_tensor_gather(in[0], y);
    }
    for (; i < n->n_in; i++) {
        nn_rows r;
        int64_t at = 0;
        for (nn_rows_begin(&r, in[i]); nn_rows_next(&r); at += r.n)
            for (int64_t j = 0; j < r.n; j++)
                y[at + j] += r.row[j * r.step];
    }
    return &n->out;
}

/* dim as given (negative from the end) checked against ndim; -1 if out of range */
static int resolve_dim(int dim, int ndim)
{
    int d = dim < 0 ? dim + ndim : dim;
    return d >= 0 && d < ndim ? d : -1;
}

static nn_tensor *cat_forward(const nn_module *m, node *n, nn_tensor *const *in, const nn_tensor *x)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    const nn_tensor *x0 = in[0];
    int d = resolve_dim(n->dim, x0->ndim);
    if (d < 0)
        return nn_fail_null(NN_EINVAL, "nn_forward: %s: cat along dim %d of a tensor of shape %s", nn_module_class(m),
                            n->dim, nn_tensor_shape_str(x0, a));
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n->n_in; i++) {
        bool fits = in[i]->ndim == x0->ndim;
        for (int k = 0; fits && k < x0->ndim; k++)
            fits = k == d || in[i]->shape[k] == x0->shape[k];
        if (!fits)
            return nn_fail_null(NN_ESHAPE, "nn_forward: %s: cat along dim %d of tensors of shapes %s and %s",
                                nn_module_class(m), n->dim, nn_tensor_shape_str(x0, a), nn_tensor_shape_str(in[i], b));
        shape[d] += in[i]->shape[d];
    }
    if (nn_shape_numel(x0->ndim, shape) < 0)
        return nn_fail_null(NN_EINVAL, "nn_forward: %s: cat result too large", nn_module_class(m));
    if (nn_tensor_resize(&n->out, x0->ndim, shape, x) < 0)
        return NULL;
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < d; k++)
        outer *= shape[k];
    for (int k = d + 1; k < x0->ndim; k++)
        inner *= shape[k];
    int64_t row = shape[d] * inner, offset = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t part = in[i]->shape[d] * inner;
        const float *src = nn_tensor_dense(in[i], &n->scratch);
        if (!src)
            return NULL;
        for (int64_t o = 0; o < outer && part; o++)
            memcpy(n->out.data + o * row + offset, src + o * part, (size_t)part * sizeof(float));
        offset += part;
    }
    return &n->out;
}

/* torch.flatten(x, start_dim, end_dim): a view of x when it is
   contiguous, else a dense copy in the node's own slot. */
static nn_tensor *flatten_forward(const nn_module *m, node *n, const nn_tensor *x, const nn_tensor *avoid)
{
    char a[NN_SHAPE_STR_LEN];
    int nd = x->ndim ? x->ndim : 1, s = resolve_dim(n->dim, nd), e = resolve_dim(n->end_dim, nd);
    if (s < 0 || e < 0 || s > e)
        return nn_fail_null(NN_EINVAL, "nn_forward: %s: flatten(start_dim=%d, end_dim=%d) of a tensor of shape %s",
                            nn_module_class(m), n->dim, n->end_dim, nn_tensor_shape_str(x, a));
    int64_t shape[NN_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i > s && i <= e)
            shape[k - 1] *= x->shape[i];
        else
            shape[k++] = x->shape[i];
    }
    if (x->ndim == 0)
        shape[k++] = 1;
    if (nn_tensor_is_contiguous(x)) {
        nn_tensor *v = &n->views[0];
        nn_tensor_retain_into(v, x);
        v->ndim = k;
        memcpy(v->shape, shape, (size_t)k * sizeof *shape);
        nn_tensor_set_contiguous_strides(v);
        return v;
    }
    if (nn_tensor_resize(&n->out, k, shape, avoid) < 0)
        return NULL;
    nn_tensor_gather(x, n->out.data);
    return &n->out;
}

/* dL/dx of a flatten: dL/dy in x's shape */
static const nn_tensor *flatten_backward(node *n, const nn_tensor *gy, const nn_tensor *x)
{
    const float *d = nn_tensor_dense(gy, &n->scratch);
    if (!d)
        return NULL;
    nn_tensor *v = &n->views[1];
    nn_tensor_retain_into(v, d == gy->data ? gy : &n->scratch);
    v->data = (float *)d;
    v->ndim = x->ndim;
    memcpy(v->shape, x->shape, (size_t)x->ndim * sizeof *x->shape);
    nn_tensor_set_contiguous_strides(v);
    return v;
}

static nn_tensor *apply_forward(nn_module *m, node *n, nn_tensor *x)
{
    const nn_child *c = &m->children[n->child];
    if (!n->clone)
        return nn_child_forward(m, c, x, false);
    nn_child as = {c->name, n->clone};
    return nn_child_forward(m, &as, x, false);
}

static nn_tensor *graph_forward(nn_module *m, const nn_tensor *x)
{
    graph *g = (graph *)m;
    if (g->output < 0)
        return nn_fail_null(NN_EINVAL, "nn_forward: %s: no output (nn_graph_output)%s%s", nn_module_class(m),
                            g->error ? ": the graph was not built: " : "", g->error ? g->error_msg : "");
    nn_tensor_retain_into(&g->input, x); /* x may be a node's result, resized below */
    g->values[0].val = &g->input;
    for (int k = 0; k < g->n_nodes; k++) {
        node *n = &g->nodes[k];
        nn_tensor *in[NN_GRAPH_MAX_INPUTS] = {0};
        for (int i = 0; i < n->n_in; i++)
            in[i] = g->values[n->in[i]].val;
        nn_tensor *y = n->kind == NODE_APPLY     ? apply_forward(m, n, in[0])
                       : n->kind == NODE_SUM     ? sum_forward(m, n, in, &g->input)
                       : n->kind == NODE_FLATTEN ? flatten_forward(m, n, in[0], &g->input)
                                                 : cat_forward(m, n, in, &g->input);
        if (!y)
            return NULL;
        g->values[k + 1].val = y;
    }
    if (g->output == 0) {
        nn_tensor_retain_into(&g->passthrough, &g->input);
        return &g->passthrough;
    }
    return g->values[g->output].val;
}

/* --- backward ------------------------------------------------------------- */

/* acc += t, in t's row-major order */
static void add_into(nn_tensor *acc, const nn_tensor *t)
{
    if (nn_tensor_is_contiguous(t)) {
        nn_ew_add(acc->data, t->data, nn_tensor_numel(t));
        return;
    }
    nn_rows r;
    int64_t at = 0;
    for (nn_rows_begin(&r, t); nn_rows_next(&r); at += r.n)
        for (int64_t j = 0; j < r.n; j++)
            acc->data[at + j] += r.row[j * r.step];
}

/* Adds t into value v's gradient: taken as is while it is the only
   contribution (no backward writes into a gradient it was given, so the
   first one stays valid until the next arrives); the second is summed
   with the first into v's own slot, later ones are added there. The sums
   are those of copying the first contribution and adding each later one. */
static int accumulate(value *v, const nn_tensor *t)
{
    if (v->received++ == 0) {
        v->grad = t;
        return NN_OK;
    }
    if (v->received == 2) {
        const nn_tensor *first = v->grad;
        if (nn_tensor_resize(&v->acc, first->ndim, first->shape, first) < 0) {
            v->received--;
            return NN_ENOMEM;
        }
        if (nn_tensor_same_shape(first, t) && nn_tensor_is_contiguous(first) && nn_tensor_is_contiguous(t)) {
            nn_ew_add_pair(first->data, t->data, v->acc.data, nn_tensor_numel(t));
        } else {
            nn_tensor_gather(first, v->acc.data);
            add_into(&v->acc, t);
        }
        v->grad = &v->acc;
        return NN_OK;
    }
    add_into(&v->acc, t);
    return NN_OK;
}

/* Slices of gy along the cat dimension, one view per input. */
static void cat_views(graph *g, node *n, const nn_tensor *gy)
{
    int d = resolve_dim(n->dim, gy->ndim);
    int64_t offset = 0;
    for (int i = 0; i < n->n_in; i++) {
        nn_tensor *v = &n->views[i];
        nn_tensor_retain_into(v, gy);
        v->shape[d] = g->values[n->in[i]].val->shape[d];
        v->data = gy->data + offset * gy->stride[d];
        offset += v->shape[d];
    }
}

static int run_nodes_backward(nn_module *m, bool need_dx)
{
    graph *g = (graph *)m;
    for (int k = g->n_nodes - 1; k >= 0; k--) {
        node *n = &g->nodes[k];
        const nn_tensor *gy = g->values[k + 1].grad;
        if (!gy) /* its value does not reach the output */
            continue;
        if (n->kind == NODE_APPLY) {
            int in = n->in[0];
            bool need = in != 0 || need_dx;
            const nn_child *c = &m->children[n->child];
            nn_child as = {c->name, n->clone ? n->clone : c->module};
            nn_tensor *dx = nn_child_backward(m, &as, as.module, gy, need);
            if (!dx)
                return nn_last_status() < 0 ? (int)nn_last_status() : NN_EINVAL;
            if (need && accumulate(&g->values[in], dx) < 0)
                return nn_fail_context(NN_ENOMEM, "nn_backward: %s", nn_module_class(m));
            continue;
        }
        if (n->kind == NODE_FLATTEN) {
            const nn_tensor *dx = flatten_backward(n, gy, g->values[n->in[0]].val);
            if (!dx || accumulate(&g->values[n->in[0]], dx) < 0)
                return nn_fail_context(NN_ENOMEM, "nn_backward: %s", nn_module_class(m));
            continue;
        }
        if (n->kind == NODE_CAT)
            cat_views(g, n, gy);
        for (int i = 0; i < n->n_in; i++)
            if (accumulate(&g->values[n->in[i]], n->kind == NODE_CAT ? &n->views[i] : gy) < 0)
                return nn_fail_context(NN_ENOMEM, "nn_backward: %s", nn_module_class(m));
    }
    return NN_OK;
}

/* dL/dx is zero when the output does not depend on x */
static nn_tensor *zeros_like(graph *g, const nn_tensor *x)
{
    if (nn_tensor_resize(&g->zero_dx, x->ndim, x->shape, NULL) < 0)
        return nn_fail_context_null("nn_backward: %s", nn_module_class(&g->base));
    nn_tensor_fill(&g->zero_dx, 0.0f);
    return &g->zero_dx;
}

static nn_tensor *graph_backward_ex(nn_module *m, const nn_tensor *grad_out, bool need_dx)
{
    graph *g = (graph *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    const nn_tensor *y = g->output == 0 ? &g->passthrough : g->values[g->output].val;
    if (!nn_tensor_same_shape(y, grad_out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s: grad_out of shape %s for an output of shape %s",
                            nn_module_class(m), nn_tensor_shape_str(grad_out, a), nn_tensor_shape_str(y, b));
    for (int v = 0; v <= g->n_nodes; v++) {
        g->values[v].grad = NULL;
        g->values[v].received = 0;
    }
    int rc = accumulate(&g->values[g->output], grad_out) < 0
                 ? nn_fail_context(NN_ENOMEM, "nn_backward: %s", nn_module_class(m))
                 : run_nodes_backward(m, need_dx);
    if (rc < 0) { /* the core puts the gradients and the children back; the copies are ours */
        for (int k = 0; k < g->n_nodes; k++)
            nn_module_rearm(g->nodes[k].clone);
        return NULL;
    }
    if (!need_dx)
        return (nn_tensor *)grad_out;
    const nn_tensor *dx = g->values[0].grad;
    if (dx == grad_out) { /* output = input: ours, as every result, not the caller's tensor */
        nn_tensor_retain_into(&g->dx_view, grad_out);
        return &g->dx_view;
    }
    return dx ? (nn_tensor *)dx : zeros_like(g, g->values[0].val);
}

static nn_tensor *graph_backward(nn_module *m, const nn_tensor *grad_out)
{
    return graph_backward_ex(m, grad_out, true);
}

static void graph_set_training(nn_module *m, bool training)
{
    graph *g = (graph *)m;
    for (int k = 0; k < g->n_nodes; k++)
        nn_module_train(g->nodes[k].clone, training);
}

static void graph_destroy(nn_module *m)
{
    graph *g = (graph *)m;
    for (int k = 0; k < g->n_nodes; k++) {
        node *n = &g->nodes[k];
        nn_module_free(n->clone);
        nn_tensor_release(&n->out);
        nn_tensor_release(&n->scratch);
        for (int i = 0; i < NN_GRAPH_MAX_INPUTS; i++)
            nn_tensor_release(&n->views[i]);
    }
    for (int v = 0; v <= g->n_nodes; v++)
        nn_tensor_release(&g->values[v].acc);
    nn_release(g->nodes);
    nn_release(g->values);
    nn_tensor_release(&g->input);
    nn_tensor_release(&g->passthrough);
    nn_tensor_release(&g->dx_view);
    nn_tensor_release(&g->zero_dx);
}

/* Child j whose one use reads the value child i's one use makes, when no
   other node (nor the output) reads that value. */
static int graph_next_exclusive(const nn_module *m, int i)
{
    const graph *g = (const graph *)m;
    int at = -1, uses = 0;
    for (int k = 0; k < g->n_nodes; k++)
        if (g->nodes[k].kind == NODE_APPLY && g->nodes[k].child == i) {
            at = k;
            uses++;
        }
    int v = at + 1;
    if (uses != 1 || g->values[v].consumers != 1 || g->output == v)
        return -1;
    for (int k = at + 1; k < g->n_nodes; k++) {
        const node *n = &g->nodes[k];
        if (n->kind != NODE_APPLY || n->in[0] != v)
            continue;
        int j = n->child, juses = 0;
        for (int q = 0; q < g->n_nodes; q++)
            juses += g->nodes[q].kind == NODE_APPLY && g->nodes[q].child == j;
        return juses == 1 ? j : -1;
    }
    return -1;
}

static const nn_module_ops graph_ops = {
    .type = "Graph",
    .forward = graph_forward,
    .backward = graph_backward,
    .backward_ex = graph_backward_ex,
    .set_training = graph_set_training,
    .destroy = graph_destroy,
    .next_exclusive = graph_next_exclusive,
};

nn_module *nn_residual(nn_module *body, nn_module *shortcut)
{
    nn_module *g = nn_graph();
    if (!g) {
        if (body && !body->parent)
            nn_module_free(body);
        if (shortcut && !shortcut->parent)
            nn_module_free(shortcut);
        return nn_fail_context_null("nn_residual");
    }
    nn_module_set_class_name(g, "Residual");
    nn_graph_add(g, "body", body);
    int x = nn_graph_input(g);
    int s = x;
    if (shortcut) {
        nn_graph_add(g, "shortcut", shortcut);
        s = nn_graph_apply(g, "shortcut", x);
    }
    int y = nn_graph_sum(g, nn_graph_apply(g, "body", x), s);
    if (nn_graph_output(g, y) < 0 || !g->class_name) {
        nn_fail_context(NN_EINVAL, "nn_residual");
        nn_module_free(g);
        return NULL;
    }
    return g;
}
