/* What every evaluation loop writes: argmax of each row, accuracy against
   class labels, and the softmax of each row. */
#include <math.h>

#include "tensor/tensor_impl.h"
#include "nn/data.h"

static int check_rows(const char *fn, const char *what, const nn_tensor *x)
{
    char a[NN_SHAPE_STR_LEN];
    int rc = nn_tensor_check(fn, what, x);
    if (rc < 0)
        return rc;
    if (x->ndim != 2 || x->shape[1] < 1)
        return nn_fail(NN_ESHAPE, "%s: expected %s [N, C] with C >= 1, got %s", fn, what, nn_tensor_shape_str(x, a));
    return NN_OK;
}

/* First index of the largest element (a NaN is larger than anything). */
static int64_t row_argmax(const nn_tensor *x, int64_t i)
{
    const float *p = x->data + i * x->stride[0];
    const int64_t s = x->stride[1];
    int64_t best = 0;
    float m = p[0];
    if (isnan(m))
        return 0;
    for (int64_t j = 1; j < x->shape[1]; j++) {
        float v = p[j * s];
        if (isnan(v))
            return j;
        if (v > m)
            m = v, best = j;
    }
    return best;
}

nn_tensor *nn_argmax(const nn_tensor *x)
{
    if (check_rows("nn_argmax", "x", x) < 0)
        return NULL;
    nn_tensor *out = nn_tensor_new(NN_SHAPE(x->shape[0]));
    if (!out)
        return nn_fail_context_null("nn_argmax");
    for (int64_t i = 0; i < x->shape[0]; i++)
        out->data[i] = (float)row_argmax(x, i);
    return out;
}

float nn_accuracy(const nn_tensor *logits, const nn_tensor *labels)
{
    const char *fn = "nn_accuracy";
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (check_rows(fn, "logits", logits) < 0 || nn_tensor_check(fn, "labels", labels) < 0)
        return NAN;
    if (labels->ndim != 1 || labels->shape[0] != logits->shape[0])
        return nn_fail_nan(NN_ESHAPE, "%s: expected labels [%lld] for logits %s, got %s", fn,
                           (long long)logits->shape[0], nn_tensor_shape_str(logits, a), nn_tensor_shape_str(labels, b));
    if (logits->shape[0] == 0)
        return nn_fail_nan(NN_ESHAPE, "%s: no rows (the accuracy of nothing is undefined)", fn);
    int64_t right = 0;
    for (int64_t i = 0; i < logits->shape[0]; i++)
        right += (float)row_argmax(logits, i) == labels->data[i * labels->stride[0]];
    return (float)((double)right / (double)logits->shape[0]);
}

nn_tensor *nn_softmax_rows(const nn_tensor *x)
{
    if (check_rows("nn_softmax_rows", "x", x) < 0)
        return NULL;
    nn_tensor *out = nn_tensor_new(x->ndim, x->shape);
    if (!out)
        return nn_fail_context_null("nn_softmax_rows");
    const int64_t c = x->shape[1], s = x->stride[1];
    for (int64_t i = 0; i < x->shape[0]; i++) {
        const float *p = x->data + i * x->stride[0];
        float *o = out->data + i * c;
        float m = p[0];
        for (int64_t j = 1; j < c; j++)
            m = p[j * s] > m || isnan(p[j * s]) ? p[j * s] : m;
        double sum = 0;
        for (int64_t j = 0; j < c; j++)
            sum += exp((double)p[j * s] - (double)m);
        for (int64_t j = 0; j < c; j++)
            o[j] = (float)(exp((double)p[j * s] - (double)m) / sum);
    }
    return out;
}
