/* ReLU: f(x) = max{0, x};  df/dx = 1 where x > 0 (0 at the kink, as PyTorch).
   Forward keeps the signs of its result as bits, so that backward reads
   an eighth of a float per element besides the gradient rather than the
   whole result (both passes are bound by memory traffic). */
#include "kernels/elementwise.h"
#include "kernels/kernels.h"
#include "module/module_impl.h"
#include "base/parallel_impl.h"

/* Elements per chunk (a multiple of 8: chunks own whole mask bytes), and
   the fewest worth waking the threads for. */
#define RELU_GRAIN ((int64_t)1 << 14)
#define RELU_PARALLEL_MIN ((int64_t)1 << 17)

typedef struct {
    nn_module base;
    nn_tensor out;  /* forward result */
    nn_tensor mask; /* its signs: bit i % 8 of byte i / 8 set where out[i] > 0 */
    bool mask_lost; /* a failed forward resized mask: backward reads out's signs */
    nn_tensor grad; /* dL/dx */
    bool inplace;   /* printed only: libnn never writes into its input */
} relu;

typedef struct {
    const float *src; /* forward: x, backward: g */
    float *dst;       /* forward: y, backward: dx */
    uint8_t *mask;    /* backward: NULL to read the signs of y */
    const float *y;
    bool backward;
} relu_job;

static void relu_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    const relu_job *j = ctx;
    (void)tid;
    if (j->backward && !j->mask)
        nn_relu_backward_kernel(j->y + begin, j->src + begin, j->dst + begin, end - begin);
    else if (j->backward)
        nn_relu_backward_mask_kernel(j->mask + begin / 8, j->src + begin, j->dst + begin, end - begin);
    else
        nn_relu_mask_kernel(j->src + begin, j->dst + begin, j->mask + begin / 8, end - begin);
}

static void relu_run(relu_job *j, int64_t n)
{
    int parts = n < RELU_PARALLEL_MIN ? 1 : nn_get_num_threads();
    if (parts > 1)
        nn_parallel_for(n, RELU_GRAIN, parts, relu_chunk, j);
    else
        relu_chunk(j, 0, n, 0);
}

static nn_tensor *relu_forward(nn_module *m, const nn_tensor *x)
{
    relu *r = (relu *)m;
    /* x may be our own output slot (h = relu(h)): hold its storage while
       resizing that, or the resize would free what we are about to read */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    int64_t n = nn_tensor_numel(&src), mask_floats = (n + 31) / 32; /* floats holding n bits */
    if (nn_tensor_resize(&r->mask, NN_SHAPE(mask_floats), NULL) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    if (nn_tensor_resize(&r->out, src.ndim, src.shape, &src) < 0) {
        r->mask_lost = true; /* the last forward's out still holds its signs */
        nn_tensor_release(&src);
        return NULL;
    }
    r->mask_lost = false;
    relu_job j = {.src = src.data, .dst = r->out.data, .mask = (uint8_t *)r->mask.data};
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, j.dst);
        j.src = j.dst;
    }
    relu_run(&j, n); /* one pass, in place when src is out */
    nn_tensor_release(&src);
    return &r->out;
}

static nn_tensor *relu_backward(nn_module *m, const nn_tensor *g)
{
    relu *r = (relu *)m;
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
    if (!r->out.storage)
        return nn_fail_null(NN_EINVAL, "nn_backward: ReLU() called before forward");
    if (!nn_tensor_same_shape(g, &r->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: ReLU() expected grad_out of shape %s, got %s",
                            nn_tensor_shape_str(&r->out, a), nn_tensor_shape_str(g, b));
    nn_tensor src = {0}; /* g may be our own dx slot */
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&r->grad, src.ndim, src.shape, &src) < 0) {
        nn_tensor_release(&src);
        return NULL;
    }
    relu_job j = {.src = src.data, .dst = r->grad.data, .y = r->out.data, .backward = true,
                  .mask = r->mask_lost ? NULL : (uint8_t *)r->mask.data};
    if (!nn_tensor_is_contiguous(&src)) {
        nn_tensor_gather(&src, j.dst);
        j.src = j.dst;
    }
    relu_run(&j, nn_tensor_numel(&r->grad));
    nn_tensor_release(&src);
    return &r->grad;
}

static int relu_extra_repr(const nn_module *m, char *buf, size_t size)
{
    return snprintf(buf, size, "%s", ((const relu *)m)->inplace ? "inplace=True" : "");
}

static nn_module *relu_clone(const nn_module *m)
{
    return nn_relu_ex(&(nn_relu_opts){.inplace = ((const relu *)m)->inplace});
}

static void relu_destroy(nn_module *m)
{
    relu *r = (relu *)m;
    nn_tensor_release(&r->out);
    nn_tensor_release(&r->mask);
    nn_tensor_release(&r->grad);
}

static const nn_module_ops relu_ops = {
    .type = "ReLU",
    .forward = relu_forward,
    .backward = relu_backward,
    .extra_repr = relu_extra_repr,
    .destroy = relu_destroy,
    .clone = relu_clone,
    .pointwise = "relu",
};

nn_module *nn_relu_ex(const nn_relu_opts *o)
{
    relu *r = nn_alloc_zeroed(1, sizeof *r);
    if (!r)
        return nn_fail_context_null("nn_relu");
    NN_MODULE_INIT(&r->base, &relu_ops);
    r->inplace = o && o->inplace;
    return &r->base;
}

nn_module *nn_relu(void)
{
    return nn_relu_ex(NULL);
}
