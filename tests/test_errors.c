/* Cross-cutting error behaviour: the API contract's signatures, status
   strings, the thread-local error message, NULL and malformed arguments to
   every public function, sizes whose product overflows, and allocation
   failure at every allocation of every fallible call (a counting allocator
   makes the Nth one fail): each failure is reported with a message naming
   the public function, leaks nothing (ASan / valgrind) and changes nothing
   the caller can see. */
#include <pthread.h>
#include <stdlib.h>

#include "testutil.h"
#include "tensor/tensor_impl.h"

/* --- the contract of /work/shared/DESIGN.md, redeclared: a signature that
   drifts from it no longer compiles ------------------------------------- */
const char *nn_last_error(void);
const char *nn_status_str(nn_status s);
void nn_set_allocator(void *(*alloc)(size_t), void (*release)(void *));
nn_tensor *nn_tensor_new(int ndim, const int64_t *shape);
nn_tensor *nn_tensor_from(const float *data, int ndim, const int64_t *shape);
void nn_tensor_free(nn_tensor *t);
int64_t nn_tensor_numel(const nn_tensor *t);
bool nn_tensor_is_contiguous(const nn_tensor *t);
nn_tensor *nn_tensor_reshape(const nn_tensor *t, int ndim, const int64_t *shape);
nn_tensor *nn_tensor_transpose(const nn_tensor *t, int d0, int d1);
nn_tensor *nn_tensor_contiguous(const nn_tensor *t);
void nn_tensor_print(const nn_tensor *t, FILE *f);
void nn_manual_seed(uint64_t seed);
nn_module *nn_linear(int64_t in_features, int64_t out_features, bool bias);
nn_module *nn_conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride,
                     int padding);
nn_module *nn_conv2d_ex(const nn_conv2d_opts *o);
nn_module *nn_relu(void);
nn_module *nn_sigmoid(void);
nn_module *nn_tanh(void);
nn_module *nn_sequential(void);
int nn_sequential_add(nn_module *seq, const char *name, nn_module *child);
nn_tensor *nn_forward(nn_module *m, const nn_tensor *x);
nn_tensor *nn_backward(nn_module *m, const nn_tensor *grad_out);
void nn_zero_grad(nn_module *m);
int nn_module_params(nn_module *m, nn_param **params);
void nn_module_print(const nn_module *m, FILE *f);
void nn_module_free(nn_module *m);
void nn_module_train(nn_module *m, bool training);
nn_module *nn_maxpool2d(int kernel_size, int stride);
nn_module *nn_flatten(void);
nn_module *nn_dropout(float p);
int nn_save(nn_module *m, const char *path);
int nn_load(nn_module *m, const char *path);
nn_loss *nn_mse_loss(void);
nn_loss *nn_cross_entropy_loss(void);
nn_loss *nn_bce_with_logits_loss(void);
float nn_loss_forward(nn_loss *l, const nn_tensor *pred, const nn_tensor *target);
nn_tensor *nn_loss_backward(nn_loss *l);
void nn_loss_free(nn_loss *l);
nn_sgd_opts nn_sgd_defaults(float lr);
nn_adam_opts nn_adam_defaults(void);
nn_rmsprop_opts nn_rmsprop_defaults(void);
nn_adagrad_opts nn_adagrad_defaults(void);
nn_optim *nn_sgd(nn_module *m, const nn_sgd_opts *o);
nn_optim *nn_adam(nn_module *m, const nn_adam_opts *o);
nn_optim *nn_rmsprop(nn_module *m, const nn_rmsprop_opts *o);
nn_optim *nn_adagrad(nn_module *m, const nn_adagrad_opts *o);
int nn_optim_step(nn_optim *o);
void nn_optim_zero_grad(nn_optim *o);
void nn_optim_free(nn_optim *o);

/* the contract's structs, field by field */
_Static_assert(NN_MAX_DIMS == 8, "NN_MAX_DIMS");
_Static_assert(NN_OK == 0 && NN_EINVAL == -1 && NN_ESHAPE == -2 && NN_ENOMEM == -3 &&
                   NN_EIO == -4 && NN_EFORMAT == -5,
               "nn_status values");
_Static_assert(offsetof(nn_tensor, data) == 0, "nn_tensor.data first");
_Static_assert(sizeof(((nn_tensor *)0)->shape) == NN_MAX_DIMS * sizeof(int64_t), "shape");
_Static_assert(sizeof(((nn_tensor *)0)->stride) == NN_MAX_DIMS * sizeof(int64_t), "stride");
_Static_assert(offsetof(nn_tensor, ndim) < offsetof(nn_tensor, shape) &&
                   offsetof(nn_tensor, shape) < offsetof(nn_tensor, stride) &&
                   offsetof(nn_tensor, stride) < offsetof(nn_tensor, storage),
               "nn_tensor field order");
_Static_assert(offsetof(nn_param, name) == 0 && offsetof(nn_param, value) < offsetof(nn_param, grad),
               "nn_param field order");
/* options structs: the contract's fields, then from_defaults (last) */
_Static_assert(offsetof(nn_sgd_opts, nesterov) == 4 * sizeof(float) &&
                   offsetof(nn_sgd_opts, from_defaults) > offsetof(nn_sgd_opts, nesterov),
               "nn_sgd_opts");
_Static_assert(offsetof(nn_adam_opts, amsgrad) == 5 * sizeof(float) &&
                   offsetof(nn_adam_opts, from_defaults) > offsetof(nn_adam_opts, amsgrad),
               "nn_adam_opts");
_Static_assert(offsetof(nn_rmsprop_opts, centered) == 5 * sizeof(float) &&
                   offsetof(nn_rmsprop_opts, from_defaults) > offsetof(nn_rmsprop_opts, centered),
               "nn_rmsprop_opts");
_Static_assert(offsetof(nn_adagrad_opts, eps) == 4 * sizeof(float) &&
                   offsetof(nn_adagrad_opts, from_defaults) == 5 * sizeof(float),
               "nn_adagrad_opts");
_Static_assert(offsetof(nn_conv2d_opts, kernel_h) == 2 * sizeof(int64_t) &&
                   offsetof(nn_conv2d_opts, bias) == 2 * sizeof(int64_t) + 8 * sizeof(int) &&
                   offsetof(nn_conv2d_opts, from_defaults) > offsetof(nn_conv2d_opts, bias),
               "nn_conv2d_opts");
_Static_assert(offsetof(nn_maxpool2d_opts, ceil_mode) == 8 * sizeof(int) &&
                   offsetof(nn_maxpool2d_opts, from_defaults) > offsetof(nn_maxpool2d_opts, ceil_mode),
               "nn_maxpool2d_opts");

/* --- a counting allocator that can make the Nth allocation fail -------- */

static long n_allocs, n_releases, fail_at = -1;

static void *counting_alloc(size_t n)
{
    if (n_allocs++ == fail_at)
        return NULL;
    return malloc(n);
}

static void counting_release(void *p)
{
    n_releases++;
    free(p);
}

static void count_from_now(long fail)
{
    n_allocs = n_releases = 0;
    fail_at = fail;
    nn_set_allocator(counting_alloc, counting_release);
}

static void stop_counting(void)
{
    nn_set_allocator(NULL, NULL);
    fail_at = -1;
}

/* --- helpers ----------------------------------------------------------- */

static nn_tensor *ramp(int ndim, const int64_t *shape, float scale)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    assert_non_null(t);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        t->data[i] = scale * (float)((i * 7) % 11 - 5);
    return t;
}

static float *copy_of(const nn_tensor *t)
{
    float *c = malloc((size_t)nn_tensor_numel(t) * sizeof(float) + 1);
    assert_non_null(c);
    assert_int_equal(nn_tensor_copy_out(t, c), NN_OK);
    return c;
}

static void assert_still(const nn_tensor *t, const float *was, int64_t numel)
{
    assert_int_equal(nn_tensor_numel(t), numel);
    assert_memory_equal(t->data, was, (size_t)numel * sizeof(float));
}

static nn_module *make_linear(void) { return nn_linear(3, 2, true); }
static nn_module *make_conv1(void) { return nn_conv2d(3, 2, 1, 1, 0); }

/* --- status strings and the thread-local message ----------------------- */

static void test_status_strings(void **state)
{
    (void)state;
    const nn_status codes[] = {NN_OK, NN_EINVAL, NN_ESHAPE, NN_ENOMEM, NN_EIO, NN_EFORMAT};
    const char *want[] = {"success", "invalid argument", "shape mismatch", "out of memory",
                          "input/output error", "malformed data"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(nn_status_str(codes[i]), want[i]);
    assert_string_equal(nn_status_str((nn_status)-99), "unknown status");
    assert_string_equal(nn_status_str((nn_status)7), "unknown status");
}

typedef struct {
    int64_t in;
    char seen_before[64];
    char seen_after[512];
    pthread_barrier_t *barrier;
} thread_job;

static void *fail_on_thread(void *arg)
{
    thread_job *job = arg;
    snprintf(job->seen_before, sizeof job->seen_before, "%s", nn_last_error());
    nn_module *m = nn_linear(job->in, 2, true); /* fails: in <= 0 */
    pthread_barrier_wait(job->barrier);         /* both threads have failed */
    snprintf(job->seen_after, sizeof job->seen_after, "%s", nn_last_error());
    return m;
}

static void test_last_error_is_per_thread(void **state)
{
    (void)state;
    assert_null(nn_linear(-7, 1, true)); /* main thread's own message */
    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    thread_job a = {.in = 0, .barrier = &barrier}, b = {.in = -3, .barrier = &barrier};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, fail_on_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, fail_on_thread, &b), 0);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    pthread_barrier_destroy(&barrier);
    assert_null(ra);
    assert_null(rb);
    assert_string_equal(a.seen_before, ""); /* a fresh thread starts empty */
    assert_string_equal(b.seen_before, "");
    assert_non_null(strstr(a.seen_after, "got 0 and 2"));
    assert_non_null(strstr(b.seen_after, "got -3 and 2"));
    assert_error_mentions("nn_linear", "got -7 and 1"); /* untouched by the threads */
}

/* Internal: a message may quote the last one; context goes in front. */
static void test_message_composition(void **state)
{
    (void)state;
    nn_fail(NN_EINVAL, "inner: %d", 42);
    nn_fail(NN_EINVAL, "outer: %s (again: %s)", nn_last_error(), nn_last_error());
    assert_string_equal(nn_last_error(), "outer: inner: 42 (again: inner: 42)");
    assert_null(nn_fail_context_null("nn_something(%d)", 7));
    assert_string_equal(nn_last_error(), "nn_something(7): outer: inner: 42 (again: inner: 42)");
    char longer[600];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    nn_fail(NN_EINVAL, "%s", longer); /* truncated, terminated */
    assert_int_equal(strlen(nn_last_error()), 511);
    assert_int_equal(nn_fail_context(NN_ENOMEM, "fn"), NN_ENOMEM);
    assert_int_equal(strlen(nn_last_error()), 511);
    assert_memory_equal(nn_last_error(), "fn: xxx", 7);
}

/* --- the allocator ----------------------------------------------------- */

static void test_allocator_sees_everything(void **state)
{
    (void)state;
    count_from_now(-1);
    nn_module *net = nn_sequential();
    nn_sequential_add(net, "fc", nn_linear(3, 2, true));
    nn_sequential_add(net, "act", nn_tanh());
    nn_tensor *x = ramp(NN_SHAPE(4, 3), 0.1f);
    nn_loss *mse = nn_mse_loss();
    nn_tensor *y = nn_tensor_new(NN_SHAPE(4, 2));
    nn_optim *opt = nn_adam(net, NULL);
    assert_false(isnan(nn_loss_forward(mse, nn_forward(net, x), y)));
    assert_non_null(nn_backward(net, nn_loss_backward(mse)));
    assert_int_equal(nn_optim_step(opt), NN_OK);
    long during = n_allocs;
    nn_optim_free(opt);
    nn_tensor_free(y);
    nn_loss_free(mse);
    nn_tensor_free(x);
    nn_module_free(net);
    stop_counting();
    assert_true(during > 10);
    assert_int_equal(n_allocs, during);   /* freeing allocates nothing */
    assert_int_equal(n_releases, n_allocs); /* and every block came back through it */

    /* half a pair means libc for both: nothing is allocated by one and
       released by the other */
    nn_set_allocator(counting_alloc, NULL);
    n_allocs = 0;
    nn_tensor_free(nn_tensor_new(NN_SHAPE(3)));
    nn_set_allocator(NULL, NULL);
    assert_int_equal(n_allocs, 0);
}

/* --- NULL and malformed arguments -------------------------------------- */

static void test_null_arguments(void **state)
{
    (void)state;
    nn_tensor *x = ramp(NN_SHAPE(2, 3), 1.0f);
    nn_module *lin = nn_linear(3, 2, true);
    nn_loss *mse = nn_mse_loss();

    assert_null(nn_forward(NULL, x));
    assert_error_mentions("nn_forward: module is NULL");
    assert_null(nn_forward(lin, NULL));
    assert_error_mentions("nn_forward: input is NULL");
    assert_null(nn_backward(NULL, x));
    assert_error_mentions("nn_backward: module is NULL");
    assert_null(nn_backward(lin, NULL));
    assert_error_mentions("nn_backward: grad_out is NULL");
    assert_int_equal(nn_module_params(NULL, NULL), NN_EINVAL);
    assert_error_mentions("nn_module_params: module is NULL");
    assert_int_equal(nn_sequential_add(NULL, "a", lin), NN_EINVAL);
    assert_error_mentions("nn_sequential_add", "expected a Sequential, got NULL");
    assert_int_equal(nn_sequential_set_class_name(NULL, "Net"), NN_EINVAL);
    assert_error_mentions("nn_sequential_set_class_name", "got NULL");
    assert_true(isnan(nn_loss_forward(NULL, x, x)));
    assert_error_mentions("nn_loss_forward: loss is NULL");
    assert_true(isnan(nn_loss_forward(mse, NULL, x)));
    assert_error_mentions("nn_loss_forward: prediction is NULL");
    assert_true(isnan(nn_loss_forward(mse, x, NULL)));
    assert_error_mentions("nn_loss_forward: target is NULL");
    assert_null(nn_loss_backward(NULL));
    assert_error_mentions("nn_loss_backward: loss is NULL");
    assert_int_equal(nn_optim_step(NULL), NN_EINVAL);
    assert_error_mentions("nn_optim_step: optimizer is NULL");
    assert_null(nn_tensor_reshape(NULL, NN_SHAPE(6)));
    assert_error_mentions("nn_tensor_reshape: tensor is NULL");
    assert_null(nn_tensor_transpose(NULL, 0, 1));
    assert_error_mentions("nn_tensor_transpose: tensor is NULL");
    assert_null(nn_tensor_contiguous(NULL));
    assert_error_mentions("nn_tensor_contiguous: tensor is NULL");
    assert_null(nn_tensor_from(NULL, NN_SHAPE(2)));
    assert_error_mentions("nn_tensor_from: data is NULL");
    assert_null(nn_tensor_new(2, NULL));
    assert_error_mentions("nn_tensor_new: shape is NULL");
    assert_true(isnan(nn_tensor_get(NULL, (int64_t[]){0})));
    assert_error_mentions("nn_tensor_get: tensor is NULL");
    assert_true(isnan(nn_tensor_get(x, NULL)));
    assert_error_mentions("nn_tensor_get: index is NULL");
    float out[6];
    assert_int_equal(nn_tensor_copy_out(NULL, out), NN_EINVAL);
    assert_error_mentions("nn_tensor_copy_out: tensor is NULL");
    assert_int_equal(nn_tensor_copy_out(x, NULL), NN_EINVAL);
    assert_error_mentions("nn_tensor_copy_out: output is NULL");
    assert_int_equal(nn_tensor_fill(NULL, 1.0f), NN_EINVAL);
    assert_error_mentions("nn_tensor_fill: tensor is NULL");

    /* void functions and queries: no-ops on NULL */
    nn_zero_grad(NULL);
    nn_optim_zero_grad(NULL);
    nn_module_train(NULL, false);
    nn_module_print(NULL, stdout);
    nn_module_print(lin, NULL);
    assert_string_equal(nn_module_type(NULL), "NULL");
    assert_int_equal(nn_tensor_numel(NULL), -1);
    assert_false(nn_tensor_is_contiguous(NULL));
    nn_tensor_free(NULL);
    nn_module_free(NULL);
    nn_loss_free(NULL);
    nn_optim_free(NULL);

    nn_loss_free(mse);
    nn_module_free(lin);
    nn_tensor_free(x);
}

/* A tensor filled in by hand (the struct is public) with impossible fields
   is refused by name, never read. */
static void test_malformed_tensors(void **state)
{
    (void)state;
    float buf[4] = {1, 2, 3, 4};
    const int64_t big_dim = INT64_C(1) << 40;
    nn_tensor too_many = {.data = buf, .ndim = 9};
    nn_tensor negative_rank = {.data = buf, .ndim = -1};
    nn_tensor negative_size = {.data = buf, .ndim = 2, .shape = {2, -2}, .stride = {2, 1}};
    nn_tensor overflowing = {.data = buf, .ndim = 2, .shape = {INT64_C(1) << 40, INT64_C(1) << 40}};
    nn_tensor no_data = {.data = NULL, .ndim = 1, .shape = {4}, .stride = {1}};
    nn_module *relu = nn_relu();
    nn_loss *mse = nn_mse_loss();
    nn_tensor *good = ramp(NN_SHAPE(4), 1.0f);
    nn_tensor *y = nn_forward(relu, good);
    assert_non_null(y);
    float *was = copy_of(y);

    assert_null(nn_forward(relu, &too_many));
    assert_error_mentions("nn_forward: input has 9 dimensions, expected 0..8");
    assert_null(nn_forward(relu, &negative_rank));
    assert_error_mentions("nn_forward: input has -1 dimensions");
    assert_null(nn_forward(relu, &negative_size));
    assert_error_mentions("nn_forward: input has shape [2, -2]");
    assert_null(nn_forward(relu, &overflowing));
    assert_error_mentions("nn_forward: input has shape [1099511627776, 1099511627776]");
    assert_null(nn_forward(relu, &no_data));
    assert_error_mentions("nn_forward: input of shape [4] has no data");
    assert_null(nn_backward(relu, &no_data));
    assert_error_mentions("nn_backward: grad_out of shape [4] has no data");
    assert_true(isnan(nn_loss_forward(mse, &too_many, good)));
    assert_error_mentions("nn_loss_forward: prediction has 9 dimensions");
    assert_true(isnan(nn_loss_forward(mse, good, &no_data)));
    assert_error_mentions("nn_loss_forward: target of shape [4] has no data");
    assert_null(nn_tensor_contiguous(&negative_size));
    assert_error_mentions("nn_tensor_contiguous: tensor has shape [2, -2]");
    assert_null(nn_tensor_reshape(&too_many, NN_SHAPE(1)));
    assert_error_mentions("nn_tensor_reshape: tensor has 9 dimensions");
    assert_null(nn_tensor_transpose(&too_many, 0, 1));
    assert_error_mentions("nn_tensor_transpose: tensor has 9 dimensions");
    assert_int_equal(nn_tensor_fill(&no_data, 0.0f), NN_EINVAL);
    assert_error_mentions("nn_tensor_fill: tensor of shape [4] has no data");
    float out[4];
    assert_int_equal(nn_tensor_copy_out(&overflowing, out), NN_EINVAL);
    assert_error_mentions("nn_tensor_copy_out: tensor has shape");

    /* the queries answer without overflowing */
    assert_int_equal(nn_tensor_numel(&overflowing), -1);
    assert_int_equal(nn_tensor_numel(&negative_size), -1);
    assert_int_equal(nn_tensor_numel(&too_many), -1);
    assert_false(nn_tensor_is_contiguous(&too_many));
    nn_tensor overflowing_strides = {.data = buf, .ndim = 3, .shape = {2, big_dim, big_dim},
                                     .stride = {0, 0, 1}};
    assert_false(nn_tensor_is_contiguous(&overflowing_strides));

    assert_still(y, was, 4); /* the module kept its last result */
    free(was);
    nn_tensor_free(good);
    nn_loss_free(mse);
    nn_module_free(relu);
}

static void test_tensor_messages(void **state)
{
    (void)state;
    nn_tensor *t = ramp(NN_SHAPE(2, 3), 1.0f);
    assert_null(nn_tensor_reshape(t, NN_SHAPE(-1, -1)));
    assert_error_mentions("nn_tensor_reshape: expected sizes >= 0 (one may be -1)", "got [-1, -1]");
    assert_null(nn_tensor_reshape(t, NN_SHAPE(2, -3)));
    assert_error_mentions("nn_tensor_reshape: expected sizes >= 0", "got [2, -3]");
    assert_null(nn_tensor_reshape(t, NN_SHAPE(INT64_C(1) << 40, INT64_C(1) << 40)));
    assert_error_mentions("nn_tensor_reshape", "whose product fits", "[1099511627776, 1099511627776]");
    assert_null(nn_tensor_reshape(t, NN_SHAPE(4, 2)));
    assert_error_mentions("nn_tensor_reshape: shape [4, 2] is invalid for input of shape [2, 3]");
    assert_null(nn_tensor_reshape(t, NN_SHAPE(4, -1)));
    assert_error_mentions("nn_tensor_reshape: shape [4, -1] is invalid for input of shape [2, 3]");
    assert_null(nn_tensor_reshape(t, 2, NULL));
    assert_error_mentions("nn_tensor_reshape: shape is NULL");
    assert_null(nn_tensor_reshape(t, 9, (const int64_t[9]){6, 1, 1, 1, 1, 1, 1, 1, 1}));
    assert_error_mentions("nn_tensor_reshape: expected 0..8 dimensions, got 9");
    assert_null(nn_tensor_transpose(t, 0, 2));
    assert_error_mentions("nn_tensor_transpose: dimensions (0, 2) out of range for shape [2, 3]");
    assert_null(nn_tensor_transpose(t, -3, 0));
    assert_error_mentions("nn_tensor_transpose: dimensions (-3, 0)");
    assert_true(isnan(nn_tensor_get(t, (const int64_t[]){1, 3})));
    assert_error_mentions("nn_tensor_get: index 3 out of range for dimension 1 of shape [2, 3]");
    assert_true(isnan(nn_tensor_get(t, (const int64_t[]){-1, 0})));
    assert_error_mentions("nn_tensor_get: index -1 out of range for dimension 0");
    nn_tensor_free(t);
}

/* A tensor wrapping the caller's own floats (storage NULL) works like one
   the library made, through every layer and loss. */
static void test_wrapped_tensors(void **state)
{
    (void)state;
    float buf[12];
    for (int i = 0; i < 12; i++)
        buf[i] = 0.25f * (float)(i % 5) - 0.5f;
    nn_tensor wrapped = {.data = buf, .ndim = 2, .shape = {4, 3}, .stride = {3, 1}};
    nn_tensor wrapped_img = {.data = buf, .ndim = 3, .shape = {3, 2, 2}, .stride = {4, 2, 1}};
    nn_tensor *owned = nn_tensor_from(buf, NN_SHAPE(4, 3));
    nn_tensor *owned_img = nn_tensor_from(buf, NN_SHAPE(3, 2, 2));
    struct {
        nn_module *(*make)(void);
        bool image;
    } cases[] = {{make_linear, false}, {make_conv1, true}, {nn_relu, false},
                 {nn_sigmoid, false}, {nn_tanh, false}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        nn_manual_seed(1);
        nn_module *a = cases[k].make();
        nn_manual_seed(1);
        nn_module *b = cases[k].make();
        nn_tensor *ya = nn_forward(a, cases[k].image ? &wrapped_img : &wrapped);
        nn_tensor *yb = nn_forward(b, cases[k].image ? owned_img : owned);
        assert_non_null(ya);
        assert_non_null(yb);
        assert_memory_equal(ya->data, yb->data, (size_t)nn_tensor_numel(yb) * sizeof(float));
        nn_tensor *g = ramp(yb->ndim, yb->shape, 0.5f);
        nn_tensor *da = nn_backward(a, g);
        if (!da)
            fail_msg("%s: %s", nn_module_type(a), nn_last_error());
        nn_tensor *db = nn_backward(b, g);
        assert_memory_equal(da->data, db->data, (size_t)nn_tensor_numel(db) * sizeof(float));
        nn_tensor_free(g);
        nn_module_free(b);
        nn_module_free(a);
    }
    nn_loss *mse = nn_mse_loss();
    assert_false(isnan(nn_loss_forward(mse, &wrapped, owned)));
    nn_loss_free(mse);
    nn_tensor_free(owned_img);
    nn_tensor_free(owned);
}

/* Sizes whose product overflows are refused before any allocation, by the
   constructor the caller called. */
static void test_overflowing_sizes(void **state)
{
    (void)state;
    const int64_t big = INT64_C(1) << 40;
    count_from_now(-1);
    assert_null(nn_linear(big, big, true));
    assert_error_mentions("nn_linear: weight of shape [1099511627776, 1099511627776]", "too large");
    assert_null(nn_linear(INT64_C(1) << 31, INT64_C(1) << 31, false));
    assert_error_mentions("nn_linear: weight of shape [2147483648, 2147483648]", "too large");
    assert_null(nn_linear(INT64_MAX, 2, true));
    assert_error_mentions("nn_linear", "too large");
    assert_null(nn_tensor_new(NN_SHAPE(big, big)));
    assert_error_mentions("nn_tensor_new", "[1099511627776, 1099511627776]");
    assert_null(nn_tensor_new(NN_SHAPE(INT64_MAX / 2, 3)));
    assert_error_mentions("nn_tensor_new", "fits in memory", "[4611686018427387903, 3]");
    assert_null(nn_tensor_new(NN_SHAPE(2, -1)));
    assert_error_mentions("nn_tensor_new: expected non-negative sizes", "[2, -1]");
    assert_null(nn_tensor_new(9, (const int64_t[9]){1, 1, 1, 1, 1, 1, 1, 1, 1}));
    assert_error_mentions("nn_tensor_new: expected 0..8 dimensions, got 9");
    assert_null(nn_tensor_new(-1, NULL));
    assert_error_mentions("nn_tensor_new: expected 0..8 dimensions, got -1");
    long allocs = n_allocs;
    stop_counting();
    assert_int_equal(allocs, 0);
}

/* A convolution whose sizes overflow fails by name (its products are
   computed in int64: an overflow there is undefined behaviour, which
   UBSan reports). An empty batch lets the per-image sizes be anything. */
static void test_conv_sizes_overflow(void **state)
{
    (void)state;
    const int64_t big = INT64_C(1) << 40;
    nn_module *padded = nn_conv2d(1, 1, 1, 1, INT32_MAX);
    nn_tensor *one = nn_tensor_new(NN_SHAPE(0, 1, 1, 1));
    assert_null(nn_forward(padded, one));
    assert_error_mentions("nn_forward: Conv2d(in_channels=1)", "too large", "[0, 1, 1, 1]");
    /* an empty tensor whose strides would overflow does not exist */
    assert_null(nn_tensor_new(NN_SHAPE(0, 1, big, big)));
    assert_error_mentions("nn_tensor_new", "fits in memory", "[0, 1, 1099511627776, 1099511627776]");
    nn_tensor hand_made = {.data = NULL, .ndim = 4, .shape = {0, 1, big, big}};
    nn_module *plain = nn_conv2d(1, 1, 1, 1, 0);
    assert_null(nn_forward(plain, &hand_made));
    assert_error_mentions("nn_forward: input has shape [0, 1, 1099511627776, 1099511627776]");
    assert_null(nn_conv2d(big, big, 3, 1, 0));
    assert_error_mentions("nn_conv2d: weight of shape [1099511627776, 1099511627776, 3, 3]", "too large");
    nn_tensor_free(one);
    nn_module_free(plain);
    nn_module_free(padded);
}

/* --- allocation failure at every allocation ---------------------------- */

/* Evaluates ok_expr with the k-th allocation failing for k = 0, 1, ...
   until it succeeds (which must take at least one failure); every failure
   must name fn and say "out of memory", then on_fail runs (checks that
   nothing changed). */
#define SWEEP_CHECKED(fn, ok_expr, on_fail, cleanup)                           \
    do {                                                                       \
        for (long k_ = 0;; k_++) {                                             \
            assert_true(k_ < 200);                                             \
            count_from_now(k_);                                                \
            bool ok_ = (ok_expr);                                              \
            stop_counting();                                                   \
            if (ok_) {                                                         \
                assert_true(k_ > 0); /* it did allocate: failures were seen */ \
                cleanup;                                                       \
                break;                                                         \
            }                                                                  \
            assert_error_mentions(fn, "out of memory");                        \
            on_fail;                                                           \
        }                                                                      \
    } while (0)
#define SWEEP(fn, ok_expr, cleanup) SWEEP_CHECKED(fn, ok_expr, (void)0, cleanup)

static void test_constructors_out_of_memory(void **state)
{
    (void)state;
    nn_module *m = NULL;
    SWEEP("nn_linear(3, 4)", (m = nn_linear(3, 4, true)) != NULL, nn_module_free(m));
    SWEEP("nn_relu", (m = nn_relu()) != NULL, nn_module_free(m));
    SWEEP("nn_sigmoid", (m = nn_sigmoid()) != NULL, nn_module_free(m));
    SWEEP("nn_tanh", (m = nn_tanh()) != NULL, nn_module_free(m));
    SWEEP("nn_sequential", (m = nn_sequential()) != NULL, nn_module_free(m));
    nn_loss *l = NULL;
    SWEEP("nn_mse_loss", (l = nn_mse_loss()) != NULL, nn_loss_free(l));
    SWEEP("nn_cross_entropy_loss", (l = nn_cross_entropy_loss()) != NULL, nn_loss_free(l));
    SWEEP("nn_bce_with_logits_loss", (l = nn_bce_with_logits_loss()) != NULL, nn_loss_free(l));

    nn_tensor *x = ramp(NN_SHAPE(2, 3), 1.0f), *t = NULL;
    SWEEP("nn_tensor_new", (t = nn_tensor_new(NN_SHAPE(5))) != NULL, nn_tensor_free(t));
    SWEEP("nn_tensor_from", (t = nn_tensor_from(x->data, NN_SHAPE(6))) != NULL, nn_tensor_free(t));
    SWEEP("nn_tensor_contiguous", (t = nn_tensor_contiguous(x)) != NULL, nn_tensor_free(t));
    SWEEP("nn_tensor_reshape", (t = nn_tensor_reshape(x, NN_SHAPE(3, 2))) != NULL, nn_tensor_free(t));
    SWEEP("nn_tensor_transpose", (t = nn_tensor_transpose(x, 0, 1)) != NULL, nn_tensor_free(t));
    nn_tensor *xt = nn_tensor_transpose(x, 0, 1); /* reshape of this one copies */
    SWEEP("nn_tensor_reshape", (t = nn_tensor_reshape(xt, NN_SHAPE(6))) != NULL, nn_tensor_free(t));
    nn_tensor_free(xt);
    nn_tensor_free(x);

    /* a failed add leaves the child with the caller and the container as it was */
    nn_module *seq = nn_sequential();
    assert_int_equal(nn_sequential_add(seq, "first", nn_relu()), NN_OK);
    nn_module *child = nn_linear(2, 2, true);
    SWEEP("nn_sequential_add", nn_sequential_add(seq, "fc", child) == NN_OK, (void)0);
    assert_int_equal(nn_module_params(seq, NULL), 2);
    /* the parameter list of a grown container is rebuilt on demand */
    assert_int_equal(nn_sequential_add(seq, "fc2", nn_linear(2, 1, true)), NN_OK);
    int n = -1;
    SWEEP("nn_module_params: Sequential", (n = nn_module_params(seq, NULL)) >= 0, (void)0);
    assert_int_equal(n, 4);
    SWEEP("nn_sequential_set_class_name", nn_sequential_set_class_name(seq, "Net") == NN_OK, (void)0);

    nn_optim *o = NULL;
    SWEEP("nn_adam", (o = nn_adam(seq, NULL)) != NULL, nn_optim_free(o));
    SWEEP("nn_sgd", (o = nn_sgd(seq, &(nn_sgd_opts){.lr = 0.1f, .momentum = 0.9f})) != NULL,
          nn_optim_free(o));
    SWEEP("nn_rmsprop", (o = nn_rmsprop(seq, NULL)) != NULL, nn_optim_free(o));
    SWEEP("nn_adagrad", (o = nn_adagrad(seq, NULL)) != NULL, nn_optim_free(o));
    nn_module_free(seq);
}

/* Gradients of every parameter of m, concatenated (malloc'd). */
static float *grads_of(nn_module *m, int64_t *count)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += nn_tensor_numel(p[i].grad);
    float *all = malloc((size_t)total * sizeof(float) + 1), *at = all;
    assert_non_null(all);
    for (int i = 0; i < n; i++) {
        nn_tensor_copy_out(p[i].grad, at);
        at += nn_tensor_numel(p[i].grad);
    }
    *count = total;
    return all;
}

static void assert_grads(nn_module *m, const float *want, int64_t count)
{
    int64_t n;
    float *got = grads_of(m, &n);
    assert_int_equal(n, count);
    if (n)
        assert_memory_equal(got, want, (size_t)n * sizeof(float));
    free(got);
}

/* A layer whose forward or backward runs out of memory keeps the results it
   handed out last, its parameter gradients and what its next backward
   computes; after the failures it computes exactly what a layer that never
   failed computes. */
static void check_layer_out_of_memory(nn_module *(*make)(void), int ndim, const int64_t *small,
                                      const int64_t *large, const char *type)
{
    nn_manual_seed(3);
    nn_module *m = make();
    nn_manual_seed(3);
    nn_module *twin = make();
    nn_tensor *x = ramp(ndim, small, 0.25f), *x2 = ramp(ndim, large, 0.5f);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_tensor *g = ramp(y->ndim, y->shape, 0.125f);
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    int64_t ny = nn_tensor_numel(y), ndx = nn_tensor_numel(dx), ngrad;
    float *y_was = copy_of(y), *dx_was = copy_of(dx), *grad_was = grads_of(m, &ngrad);

    char fwd[64], bwd[64];
    snprintf(fwd, sizeof fwd, "nn_forward: %s", type);
    snprintf(bwd, sizeof bwd, "nn_backward: %s", type);
    /* a failed forward: y as it was, and backward still belongs to x
       (each backward takes one forward: run x again for the next round) */
    assert_non_null(nn_forward(m, x));
    SWEEP_CHECKED(fwd, nn_forward(m, x2) != NULL,
                  {
                      assert_still(y, y_was, ny);
                      nn_zero_grad(m);
                      nn_tensor *d = nn_backward(m, g);
                      if (!d)
                          fail_msg("backward after a failed forward: %s", nn_last_error());
                      assert_still(d, dx_was, ndx);
                      assert_grads(m, grad_was, ngrad);
                      assert_non_null(nn_forward(m, x));
                  },
                  (void)0);
    nn_tensor *y2 = nn_forward(m, x2);
    nn_tensor *g2 = ramp(y2->ndim, y2->shape, 0.25f);
    nn_zero_grad(m);
    float *zeros = grads_of(m, &ngrad);
    /* a failed backward: dx and the gradients as they were */
    nn_tensor *dx2 = NULL;
    SWEEP_CHECKED(bwd, (dx2 = nn_backward(m, g2)) != NULL,
                  {
                      assert_still(dx, dx_was, ndx);
                      assert_grads(m, zeros, ngrad);
                  },
                  (void)0);

    /* the twin, which never failed, agrees */
    assert_non_null(nn_forward(twin, x2));
    nn_tensor *tdx2 = nn_backward(twin, g2);
    assert_non_null(tdx2);
    assert_int_equal(nn_tensor_numel(tdx2), nn_tensor_numel(dx2));
    assert_memory_equal(tdx2->data, dx2->data, (size_t)nn_tensor_numel(dx2) * sizeof(float));
    float *twin_grads = grads_of(twin, &ngrad);
    assert_grads(m, twin_grads, ngrad);

    free(twin_grads);
    free(zeros);
    free(grad_was);
    free(dx_was);
    free(y_was);
    nn_tensor_free(g2);
    nn_tensor_free(g);
    nn_tensor_free(x2);
    nn_tensor_free(x);
    nn_module_free(twin);
    nn_module_free(m);
}


static nn_module *make_conv(void) { return nn_conv2d(2, 3, 2, 1, 1); }
static nn_module *make_leaky_relu(void) { return nn_leaky_relu(0.1f); }
static nn_module *make_elu(void) { return nn_elu(1.0f); }
static nn_module *make_elu_inplace(void) { return nn_elu_ex(&(nn_elu_opts){.alpha = 0.5f, .inplace = true}); }
static nn_module *make_gelu_tanh(void) { return nn_gelu_ex(&(nn_gelu_opts){.approximate = NN_GELU_TANH}); }
static nn_module *make_softmax(void) { return nn_softmax(1); }
static nn_module *make_log_softmax(void) { return nn_log_softmax(-1); }
static nn_module *make_conv1d(void) { return nn_conv1d(2, 3, 2, 1, 1, 2); }
static nn_module *make_maxpool1d(void) { return nn_maxpool1d(2, 0); }
static nn_module *make_avgpool1d(void) { return nn_avgpool1d(2, 1); }
static nn_module *make_layernorm(void) { return nn_layernorm(NN_SHAPE(3)); }
static nn_module *make_chomp1d(void) { return nn_chomp1d(1); }

static nn_module *make_lstm(void)
{
    nn_lstm_opts o = nn_lstm_defaults(4, 5);
    o.num_layers = 2;
    o.bidirectional = true;
    o.proj_size = 3;
    return nn_lstm_ex(&o);
}
static nn_module *make_gru(void)
{
    nn_gru_opts o = nn_gru_defaults(4, 5);
    o.batch_first = true;
    return nn_gru_ex(&o);
}
static nn_module *make_rnn(void) { return nn_rnn(4, 5); }
static nn_module *make_select(void) { return nn_select(1, -1); }

static void test_layers_out_of_memory(void **state)
{
    (void)state;
    check_layer_out_of_memory(make_linear, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Linear");
    check_layer_out_of_memory(nn_relu, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "ReLU");
    check_layer_out_of_memory(nn_sigmoid, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Sigmoid");
    check_layer_out_of_memory(nn_tanh, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Tanh");
    check_layer_out_of_memory(make_leaky_relu, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "LeakyReLU");
    check_layer_out_of_memory(make_elu, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "ELU");
    check_layer_out_of_memory(make_elu_inplace, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "ELU");
    check_layer_out_of_memory(nn_gelu, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "GELU");
    check_layer_out_of_memory(make_gelu_tanh, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "GELU");
    check_layer_out_of_memory(nn_silu, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "SiLU");
    check_layer_out_of_memory(nn_hardswish, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Hardswish");
    check_layer_out_of_memory(make_softmax, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Softmax");
    check_layer_out_of_memory(make_log_softmax, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "LogSoftmax");
    check_layer_out_of_memory(nn_identity, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Identity");
    check_layer_out_of_memory(make_conv, NN_SHAPE(1, 2, 3, 3), (const int64_t[]){2, 2, 5, 4},
                              "Conv2d");
    check_layer_out_of_memory(make_conv1d, NN_SHAPE(1, 2, 3), (const int64_t[]){2, 2, 5}, "Conv1d");
    check_layer_out_of_memory(make_maxpool1d, NN_SHAPE(1, 2, 4), (const int64_t[]){2, 2, 6}, "MaxPool1d");
    check_layer_out_of_memory(make_avgpool1d, NN_SHAPE(1, 2, 4), (const int64_t[]){2, 2, 6}, "AvgPool1d");
    check_layer_out_of_memory(make_layernorm, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "LayerNorm");
    check_layer_out_of_memory(make_chomp1d, NN_SHAPE(2, 3), (const int64_t[]){7, 3}, "Chomp1d");

    check_layer_out_of_memory(make_lstm, NN_SHAPE(3, 2, 4), (const int64_t[]){6, 3, 4}, "LSTM");
    check_layer_out_of_memory(make_gru, NN_SHAPE(2, 3, 4), (const int64_t[]){3, 7, 4}, "GRU");
    check_layer_out_of_memory(make_rnn, NN_SHAPE(3, 4), (const int64_t[]){9, 4}, "RNN");
    check_layer_out_of_memory(make_select, NN_SHAPE(2, 3, 4), (const int64_t[]){3, 5, 4}, "Select");
}

/* Linear fed its own dx (forward(dx)), then out of memory in backward:
   the dx handed out before is still there, whole. */
static void test_linear_own_dx_out_of_memory(void **state)
{
    (void)state;
    nn_module *lin = nn_linear(3, 3, true);
    nn_tensor *x = ramp(NN_SHAPE(2, 3), 0.5f), *g = ramp(NN_SHAPE(2, 3), 0.25f);
    assert_non_null(nn_forward(lin, x));
    nn_tensor *dx = nn_backward(lin, g);
    assert_non_null(dx);
    assert_non_null(nn_forward(lin, dx)); /* caches dx's storage as its input */
    float *was = copy_of(dx);
    int64_t ngrad;
    float *grads_was = grads_of(lin, &ngrad);
    count_from_now(0);
    assert_null(nn_backward(lin, g));
    stop_counting();
    assert_error_mentions("nn_backward: Linear", "out of memory");
    assert_still(dx, was, 6);
    assert_grads(lin, grads_was, ngrad);
    /* and then it works: dx = g W again (W did not change) */
    nn_tensor *dx2 = nn_backward(lin, g);
    assert_non_null(dx2);
    assert_still(dx2, was, 6);
    free(grads_was);
    free(was);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(lin);
}

/* A loss whose forward runs out of memory keeps its last gradient. */
static void test_losses_out_of_memory(void **state)
{
    (void)state;
    nn_loss *(*makers[])(void) = {nn_mse_loss, nn_bce_with_logits_loss, nn_cross_entropy_loss};
    const char *names[] = {"nn_loss_forward: MSELoss", "nn_loss_forward: BCEWithLogitsLoss",
                           "nn_loss_forward: CrossEntropyLoss"};
    for (int k = 0; k < 3; k++) {
        nn_loss *l = makers[k]();
        bool ce = k == 2;
        nn_tensor *p = ramp(NN_SHAPE(2, 3), 0.5f), *t = ce ? nn_tensor_new(NN_SHAPE(2)) : ramp(NN_SHAPE(2, 3), 0.1f);
        assert_false(isnan(nn_loss_forward(l, p, t)));
        float *was = copy_of(nn_loss_backward(l));
        /* strided and larger: needs the scratch copies and a larger gradient */
        nn_tensor *p2 = ramp(NN_SHAPE(3, 4), 0.5f), *p2t = nn_tensor_transpose(p2, 0, 1);
        nn_tensor *t2 = ce ? nn_tensor_new(NN_SHAPE(4)) : ramp(NN_SHAPE(4, 3), 0.1f);
        count_from_now(0);
        assert_true(isnan(nn_loss_forward(l, p2t, t2)));
        stop_counting();
        assert_error_mentions(names[k], "out of memory");
        assert_still(nn_loss_backward(l), was, 6);
        float value = NAN;
        SWEEP(names[k], !isnan(value = nn_loss_forward(l, p2t, t2)), (void)0);
        assert_int_equal(nn_tensor_numel(nn_loss_backward(l)), 12);
        free(was);
        nn_tensor_free(t2);
        nn_tensor_free(p2t);
        nn_tensor_free(p2);
        nn_tensor_free(t);
        nn_tensor_free(p);
        nn_loss_free(l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_last_error_is_per_thread),
        cmocka_unit_test(test_message_composition),
        cmocka_unit_test(test_allocator_sees_everything),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_malformed_tensors),
        cmocka_unit_test(test_tensor_messages),
        cmocka_unit_test(test_wrapped_tensors),
        cmocka_unit_test(test_overflowing_sizes),
        cmocka_unit_test(test_conv_sizes_overflow),
        cmocka_unit_test(test_constructors_out_of_memory),
        cmocka_unit_test(test_layers_out_of_memory),
        cmocka_unit_test(test_linear_own_dx_out_of_memory),
        cmocka_unit_test(test_losses_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
