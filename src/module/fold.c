/* nn_fold_batchnorm: inference-time folding of per-channel affine layers
   (BatchNorm in evaluation mode) into the layer before them. Which pairs
   are adjacent is each container's to say (next_exclusive); what folds
   into what is each layer's (channel_affine, absorb_channel_affine). */
#include "module_impl.h"

int nn_absorb_rows_affine(nn_module *m, bool *has_bias, const float *scale, const float *shift, int64_t channels)
{
    nn_tensor *w = m->params[0].value;
    if (w->shape[0] != channels)
        return NN_ESHAPE;
    if (!*has_bias && !nn_module_add_param(m, "bias", NN_SHAPE(channels)))
        return NN_ENOMEM;
    *has_bias = true;
    int64_t k = nn_tensor_numel(w) / channels;
    float *b = m->params[1].value->data;
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t i = 0; i < k; i++)
            w->data[c * k + i] *= scale[c];
        b[c] = b[c] * scale[c] + shift[c];
    }
    return NN_OK;
}

/* Puts replacement in child j's place, under its name, and frees the old. */
static void replace_child(nn_module *m, int j, nn_module *replacement)
{
    nn_module *old = m->children[j].module;
    old->parent = NULL;
    nn_module_free(old);
    m->children[j].module = replacement;
    replacement->parent = m;
    nn_module_train(replacement, m->training);
    m->warm = false;
    nn_module_touch(m);
}

/* Folds child j into child i when both layers can; 1 when folded, 0 when
   they cannot, negative on failure (nothing changed). */
static int fold_pair(nn_module *m, int i, int j)
{
    nn_module *a = m->children[i].module, *b = m->children[j].module;
    if (!a->ops->absorb_channel_affine || !b->ops->channel_affine)
        return 0;
    int64_t n = b->ops->channel_affine(b, NULL, NULL);
    if (n <= 0)
        return 0;
    float *buf = nn_alloc_zeroed((size_t)n * 2, sizeof *buf);
    nn_module *id = buf ? nn_identity() : NULL;
    if (!id) {
        nn_release(buf);
        return nn_fail_context(NN_ENOMEM, "nn_fold_batchnorm: (%s) into (%s)", m->children[j].name,
                               m->children[i].name);
    }
    b->ops->channel_affine(b, buf, buf + n);
    int rc = a->ops->absorb_channel_affine(a, buf, buf + n, n);
    nn_release(buf);
    if (rc < 0) {
        nn_module_free(id);
        return rc == NN_ESHAPE ? 0 : nn_fail_context(rc, "nn_fold_batchnorm: (%s) into (%s)", m->children[j].name,
                                                     m->children[i].name);
    }
    replace_child(m, j, id);
    return 1;
}

static int fold_tree(nn_module *m)
{
    int count = 0;
    for (int c = 0; c < m->n_children; c++) {
        int rc = fold_tree(m->children[c].module);
        if (rc < 0)
            return rc;
        count += rc;
    }
    for (int i = 0; m->ops->next_exclusive && i < m->n_children; i++) {
        int j = m->ops->next_exclusive(m, i);
        int rc = j >= 0 && j < m->n_children ? fold_pair(m, i, j) : 0;
        if (rc < 0)
            return rc;
        count += rc;
    }
    return count;
}

static bool any_training(const nn_module *m)
{
    if (m->training)
        return true;
    for (int c = 0; c < m->n_children; c++)
        if (any_training(m->children[c].module))
            return true;
    return false;
}

int nn_fold_batchnorm(nn_module *m)
{
    if (!m)
        return nn_fail(NN_EINVAL, "nn_fold_batchnorm: module is NULL");
    if (any_training(m)) /* torch's fuse_conv_bn_eval: "Fusion only for eval!" */
        return nn_fail(NN_EINVAL, "nn_fold_batchnorm: %s is in training mode; folding is for evaluation "
                                  "(nn_module_train(m, false) first)", nn_module_class(m));
    return fold_tree(m);
}
