/* Optimizers: parameter trajectories over 12 steps and the final state
   against torch.optim (PyTorch 1.13, tests/gen_optim.py) for every option,
   defaults, zero_grad, bad options, NULLs, modules without parameters, no
   allocation in a step, and the generic state view used by checkpointing
   (enumeration, names, lazy presence, save/restore round trip,
   hyperparameters). */
#include <math.h>
#include <stdlib.h>

#include "testutil.h"
#include "tensor/tensor_impl.h"
#include "module/module_impl.h"
#include "optim/optim_impl.h"
#include "fixtures/optim.h"

#define RTOL 1e-4
#define ATOL 1e-6

/* --- a test-only module holding weight [3, 4] and bias [5] ------------- */

static nn_tensor *toy_forward(nn_module *m, const nn_tensor *x)
{
    (void)m;
    (void)x;
    return nn_fail_null(NN_EINVAL, "toy module has no forward");
}

static nn_tensor *toy_backward(nn_module *m, const nn_tensor *g)
{
    (void)m;
    (void)g;
    return nn_fail_null(NN_EINVAL, "toy module has no backward");
}

static const nn_module_ops toy_ops = {
    .type = "Toy", .forward = toy_forward, .backward = toy_backward,
};

/* with_params false: a module without any parameter */
static nn_module *toy_new(bool with_params)
{
    nn_module *m = nn_alloc_zeroed(1, sizeof *m);
    assert_non_null(m);
    NN_MODULE_INIT(m, &toy_ops);
    if (with_params) {
        nn_tensor *w = nn_module_add_param(m, "weight", NN_SHAPE(3, 4));
        nn_tensor *b = nn_module_add_param(m, "bias", NN_SHAPE(5));
        assert_non_null(w);
        assert_non_null(b);
        memcpy(w->data, optim_init, 12 * sizeof(float));
        memcpy(b->data, optim_init + 12, 5 * sizeof(float));
    }
    return m;
}

/* Copies all parameters (or gradients) of m into / out of flat[17]. */
static void params_out(nn_module *m, float *flat, bool grads)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    for (int i = 0; i < n; i++) {
        nn_tensor *t = grads ? p[i].grad : p[i].value;
        int64_t k = nn_tensor_numel(t);
        memcpy(flat, t->data, (size_t)k * sizeof(float));
        flat += k;
    }
}

static void grads_in(nn_module *m, const float *flat)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    for (int i = 0; i < n; i++) {
        int64_t k = nn_tensor_numel(p[i].grad);
        memcpy(p[i].grad->data, flat, (size_t)k * sizeof(float));
        flat += k;
    }
}

/* use_null: NULL options (the case must hold the defaults) */
static nn_optim *make_optim(const optim_case *c, nn_module *m, bool use_null)
{
    if (strcmp(c->kind, "SGD") == 0)
        return nn_sgd(m, &c->sgd);
    if (strcmp(c->kind, "Adam") == 0)
        return nn_adam(m, use_null ? NULL : &c->adam);
    if (strcmp(c->kind, "AdamW") == 0)
        return nn_adamw(m, use_null ? NULL : &c->adamw);
    if (strcmp(c->kind, "RMSprop") == 0)
        return nn_rmsprop(m, use_null ? NULL : &c->rmsprop);
    return nn_adagrad(m, use_null ? NULL : &c->adagrad);
}

static void run_steps(nn_optim *o, nn_module *m, int from, int to, const optim_case *c)
{
    float got[OPTIM_NUMEL];
    for (int s = from; s < to; s++) {
        grads_in(m, optim_grads + s * OPTIM_NUMEL);
        assert_int_equal(nn_optim_step(o), NN_OK);
        params_out(m, got, false);
        if (c) {
            assert_close_at(got, c->trajectory + s * OPTIM_NUMEL, OPTIM_NUMEL, RTOL, ATOL,
                            c->name, __FILE__, __LINE__);
        }
    }
}

/* Every state buffer, parameter-major, equals torch's state after the last step. */
static void check_state(const nn_optim *o, const optim_case *c)
{
    int count = nn_optim_state_count(o);
    int floats = 0;
    char keys[128] = "";
    for (int e = 0; e < count; e++) {
        nn_optim_state_entry en;
        assert_int_equal(nn_optim_state_at(o, e, &en), NN_OK);
        assert_true(en.present);
        if (en.param == 0) {
            if (keys[0])
                strcat(keys, ",");
            strcat(keys, en.key);
        }
        assert_close_at(en.data, c->state + floats, en.length, RTOL, ATOL, c->name, __FILE__,
                        __LINE__);
        floats += (int)en.length;
    }
    assert_int_equal(floats, c->state_len);
    assert_string_equal(keys, c->state_keys);
    assert_int_equal(nn_optim_has_step(o), c->step >= 0);
    if (c->step >= 0)
        assert_int_equal(nn_optim_get_step(o), (int64_t)c->step);
}

static void test_trajectories_match_torch(void **state)
{
    (void)state;
    int n = (int)(sizeof optim_cases / sizeof *optim_cases);
    for (int i = 0; i < n; i++) {
        const optim_case *c = &optim_cases[i];
        nn_module *m = toy_new(true);
        nn_optim *o = make_optim(c, m, false);
        assert_non_null(o);
        run_steps(o, m, 0, OPTIM_STEPS, c);
        check_state(o, c);
        nn_optim_free(o);
        nn_module_free(m);
    }
}

/* NULL options give exactly the *_default cases (which spell torch's defaults out). */
static void test_null_options_are_torch_defaults(void **state)
{
    (void)state;
    int n = (int)(sizeof optim_cases / sizeof *optim_cases), seen = 0;
    for (int i = 0; i < n; i++) {
        const optim_case *c = &optim_cases[i];
        if (!strstr(c->name, "_default"))
            continue;
        seen++;
        nn_module *m = toy_new(true);
        nn_optim *o = make_optim(c, m, true);
        assert_non_null(o);
        run_steps(o, m, 0, OPTIM_STEPS, c);
        nn_optim_free(o);
        nn_module_free(m);
    }
    assert_int_equal(seen, 4);
    nn_adam_opts a = nn_adam_defaults();
    assert_true(a.lr == 1e-3f && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f &&
                a.weight_decay == 0.0f && !a.amsgrad);
    nn_adamw_opts aw = nn_adamw_defaults();
    assert_true(aw.lr == 1e-3f && aw.beta1 == 0.9f && aw.beta2 == 0.999f && aw.eps == 1e-8f &&
                aw.weight_decay == 1e-2f && !aw.amsgrad && aw.from_defaults == NN_OPTS_FROM_DEFAULTS);
    nn_rmsprop_opts r = nn_rmsprop_defaults();
    assert_true(r.lr == 1e-2f && r.alpha == 0.99f && r.eps == 1e-8f && r.weight_decay == 0.0f &&
                r.momentum == 0.0f && !r.centered);
    nn_adagrad_opts g = nn_adagrad_defaults();
    assert_true(g.lr == 1e-2f && g.lr_decay == 0.0f && g.weight_decay == 0.0f &&
                g.initial_accumulator_value == 0.0f && g.eps == 1e-10f);
    nn_sgd_opts s = nn_sgd_defaults(0.25f);
    assert_true(s.lr == 0.25f && s.momentum == 0.0f && s.dampening == 0.0f &&
                s.weight_decay == 0.0f && !s.nesterov);
}

static void test_zero_grad(void **state)
{
    (void)state;
    nn_module *m = toy_new(true);
    nn_optim *o = nn_adam(m, NULL);
    grads_in(m, optim_grads);
    float g[OPTIM_NUMEL];
    params_out(m, g, true);
    assert_true(g[0] != 0.0f && g[16] != 0.0f);
    nn_optim_zero_grad(o);
    params_out(m, g, true);
    for (int i = 0; i < OPTIM_NUMEL; i++)
        assert_true(g[i] == 0.0f);
    nn_optim_zero_grad(NULL);
    nn_optim_free(o);
    nn_module_free(m);
}

typedef struct {
    const char *kind;
    nn_sgd_opts sgd;
    nn_adam_opts adam;
    nn_adamw_opts adamw;
    nn_rmsprop_opts rmsprop;
    nn_adagrad_opts adagrad;
    const char *fragment; /* must appear in the message */
} bad_case;

/* The defaults with one float field replaced. */
#define WITH(type, defaults, field)                                       \
    static type type##_with_##field(float x)                                \
    {                                                                       \
        type o = defaults();                                                \
        o.field = x;                                                        \
        return o;                                                           \
    }
WITH(nn_adam_opts, nn_adam_defaults, lr)
WITH(nn_adam_opts, nn_adam_defaults, eps)
WITH(nn_adam_opts, nn_adam_defaults, beta1)
WITH(nn_adam_opts, nn_adam_defaults, beta2)
WITH(nn_adam_opts, nn_adam_defaults, weight_decay)
WITH(nn_adamw_opts, nn_adamw_defaults, lr)
WITH(nn_adamw_opts, nn_adamw_defaults, eps)
WITH(nn_adamw_opts, nn_adamw_defaults, beta1)
WITH(nn_adamw_opts, nn_adamw_defaults, beta2)
WITH(nn_adamw_opts, nn_adamw_defaults, weight_decay)
WITH(nn_rmsprop_opts, nn_rmsprop_defaults, lr)
WITH(nn_rmsprop_opts, nn_rmsprop_defaults, eps)
WITH(nn_rmsprop_opts, nn_rmsprop_defaults, momentum)
WITH(nn_rmsprop_opts, nn_rmsprop_defaults, weight_decay)
WITH(nn_rmsprop_opts, nn_rmsprop_defaults, alpha)
WITH(nn_adagrad_opts, nn_adagrad_defaults, lr)
WITH(nn_adagrad_opts, nn_adagrad_defaults, lr_decay)
WITH(nn_adagrad_opts, nn_adagrad_defaults, weight_decay)
WITH(nn_adagrad_opts, nn_adagrad_defaults, initial_accumulator_value)
WITH(nn_adagrad_opts, nn_adagrad_defaults, eps)
#define ADAM(field, v) nn_adam_opts_with_##field(v)
#define ADAMW(field, v) nn_adamw_opts_with_##field(v)
#define RMS(field, v) nn_rmsprop_opts_with_##field(v)
#define ADA(field, v) nn_adagrad_opts_with_##field(v)

static void test_bad_options(void **state)
{
    (void)state;
    const bad_case cases[] = {
        {"SGD", .sgd = {.lr = -0.1f}, .fragment = "lr -0.1"},
        {"SGD", .sgd = {.lr = NAN}, .fragment = "lr nan"},
        {"SGD", .sgd = {.lr = 0.1f, .momentum = -0.5f}, .fragment = "momentum -0.5"},
        {"SGD", .sgd = {.lr = 0.1f, .weight_decay = -1.0f}, .fragment = "weight_decay -1"},
        {"SGD", .sgd = {.lr = 0.1f, .nesterov = true}, .fragment = "nesterov requires momentum > 0"},
        {"SGD", .sgd = {.lr = 0.1f, .momentum = 0.9f, .dampening = 0.1f, .nesterov = true},
         .fragment = "dampening 0.1"},
        {"SGD", .sgd = {.lr = 0.1f, .momentum = 0.9f, .dampening = NAN}, .fragment = "dampening"},
        {"Adam", .adam = ADAM(lr, -1.0f), .fragment = "lr -1"},
        {"Adam", .adam = ADAM(eps, -1e-8f), .fragment = "eps -1e-08"},
        {"Adam", .adam = ADAM(beta1, 1.0f), .fragment = "beta1 1 (expected 0 <= beta1 < 1)"},
        {"Adam", .adam = ADAM(beta1, -0.1f), .fragment = "beta1 -0.1"},
        {"Adam", .adam = ADAM(beta2, 1.5f), .fragment = "beta2 1.5"},
        {"Adam", .adam = ADAM(weight_decay, -0.1f), .fragment = "weight_decay -0.1"},
        {"Adam", .adam = ADAM(lr, INFINITY), .fragment = "lr inf"},
        {"AdamW", .adamw = ADAMW(lr, -1.0f), .fragment = "lr -1"},
        {"AdamW", .adamw = ADAMW(eps, -1e-8f), .fragment = "eps -1e-08"},
        {"AdamW", .adamw = ADAMW(beta1, 1.0f), .fragment = "beta1 1 (expected 0 <= beta1 < 1)"},
        {"AdamW", .adamw = ADAMW(beta2, -0.5f), .fragment = "beta2 -0.5"},
        {"AdamW", .adamw = ADAMW(weight_decay, -0.1f), .fragment = "weight_decay -0.1"},
        {"AdamW", .adamw = ADAMW(weight_decay, NAN), .fragment = "weight_decay nan"},
        {"RMSprop", .rmsprop = RMS(lr, -1.0f), .fragment = "lr -1"},
        {"RMSprop", .rmsprop = RMS(eps, -1.0f), .fragment = "eps -1"},
        {"RMSprop", .rmsprop = RMS(momentum, -1.0f), .fragment = "momentum -1"},
        {"RMSprop", .rmsprop = RMS(weight_decay, -1.0f), .fragment = "weight_decay -1"},
        {"RMSprop", .rmsprop = RMS(alpha, -0.5f), .fragment = "alpha -0.5"},
        {"Adagrad", .adagrad = ADA(lr, -1.0f), .fragment = "lr -1"},
        {"Adagrad", .adagrad = ADA(lr_decay, -1.0f), .fragment = "lr_decay -1"},
        {"Adagrad", .adagrad = ADA(weight_decay, -1.0f), .fragment = "weight_decay -1"},
        {"Adagrad", .adagrad = ADA(initial_accumulator_value, -1.0f),
         .fragment = "initial_accumulator_value -1"},
        {"Adagrad", .adagrad = ADA(eps, -1.0f), .fragment = "eps -1"},
    };
    nn_module *m = toy_new(true);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *b = &cases[i];
        optim_case c = {.kind = b->kind, .sgd = b->sgd, .adam = b->adam, .adamw = b->adamw,
                        .rmsprop = b->rmsprop, .adagrad = b->adagrad};
        nn_optim *o = make_optim(&c, m, false);
        if (o)
            fprintf(stderr, "bad case %zu accepted\n", i);
        assert_null(o);
        char fn[16];
        snprintf(fn, sizeof fn, "nn_%s:", strcmp(b->kind, "SGD") == 0       ? "sgd"
                                         : strcmp(b->kind, "Adam") == 0    ? "adam"
                                         : strcmp(b->kind, "AdamW") == 0   ? "adamw"
                                         : strcmp(b->kind, "RMSprop") == 0 ? "rmsprop"
                                                                           : "adagrad");
        assert_error_mentions(fn, b->fragment);
    }
    /* what torch accepts we accept: RMSprop alpha > 1, SGD negative dampening, lr 0 */
    nn_rmsprop_opts big_alpha = RMS(alpha, 1.5f);
    nn_optim *o = nn_rmsprop(m, &big_alpha);
    assert_non_null(o);
    nn_optim_free(o);
    /* lr 0 from nn_sgd_defaults (a hand-written struct with lr 0 is refused:
       tests/test_opts.c) */
    nn_sgd_opts zero_lr = nn_sgd_defaults(0.0f);
    zero_lr.momentum = 0.5f;
    zero_lr.dampening = -1.0f;
    o = nn_sgd(m, &zero_lr);
    assert_non_null(o);
    nn_optim_free(o);
    nn_module_free(m);
}

static void test_nulls_and_modules_without_parameters(void **state)
{
    (void)state;
    nn_module *m = toy_new(true);
    assert_null(nn_sgd(m, NULL));
    assert_error_mentions("nn_sgd", "no default learning rate");
    nn_sgd_opts so = nn_sgd_defaults(0.1f);
    assert_null(nn_sgd(NULL, &so));
    assert_error_mentions("nn_sgd", "module is NULL");
    assert_null(nn_adam(NULL, NULL));
    assert_error_mentions("nn_adam", "module is NULL");
    assert_null(nn_rmsprop(NULL, NULL));
    assert_error_mentions("nn_rmsprop", "module is NULL");
    assert_null(nn_adagrad(NULL, NULL));
    assert_error_mentions("nn_adagrad", "module is NULL");
    assert_true(nn_optim_step(NULL) < 0);
    assert_error_mentions("nn_optim_step", "NULL");
    nn_optim_free(NULL);

    nn_module *empty = toy_new(false);
    assert_null(nn_adam(empty, NULL));
    assert_error_mentions("nn_adam", "Toy", "no parameters");
    nn_module *relu = nn_relu();
    assert_null(nn_sgd(relu, &so));
    assert_error_mentions("nn_sgd", "ReLU", "no parameters");
    assert_null(nn_rmsprop(relu, NULL));
    assert_null(nn_adagrad(relu, NULL));
    nn_module_free(relu);
    nn_module_free(empty);
    nn_module_free(m);
}

/* A step allocates nothing, the first one included (state is allocated at
   construction). */
static void test_step_allocates_nothing(void **state)
{
    (void)state;
    int n = (int)(sizeof optim_cases / sizeof *optim_cases);
    for (int i = 0; i < n; i++) {
        nn_module *m = toy_new(true);
        nn_optim *o = make_optim(&optim_cases[i], m, false);
        tu_allocs = 0;
        nn_set_allocator(tu_alloc, free);
        run_steps(o, m, 0, 3, NULL);
        nn_optim_zero_grad(o);
        nn_set_allocator(NULL, NULL);
        assert_int_equal(tu_allocs, 0);
        nn_optim_free(o);
        nn_module_free(m);
    }
}

static int fail_after;
static void *failing_alloc(size_t n)
{
    return fail_after-- > 0 ? malloc(n) : NULL;
}

/* Every allocation failure in a constructor is reported, leaks nothing
   (ASan / valgrind check that part) and leaves the module's parameters as
   they were. 7 allocations: the optimizer, 4 bookkeeping arrays, the state
   and the flat block for values and gradients. */
static void test_constructor_out_of_memory(void **state)
{
    (void)state;
    nn_module *m = toy_new(true);
    nn_param *p;
    nn_module_params(m, &p);
    float *w = p[0].value->data;
    for (int k = 0; k < 10; k++) {
        fail_after = k;
        nn_set_allocator(failing_alloc, free);
        nn_optim *o = nn_adam(m, NULL);
        nn_set_allocator(NULL, NULL);
        assert_int_equal(o != NULL, k >= 7);
        if (o) {
            nn_optim_free(o);
            break;
        }
        assert_error_mentions("out of memory");
        assert_ptr_equal(p[0].value->data, w); /* not moved */
        float got[OPTIM_NUMEL];
        params_out(m, got, false);
        assert_memory_equal(got, optim_init, sizeof got);
    }
    nn_module_free(m);
}

/* Construction packs values and gradients into one flat block each,
   keeping their numbers; a second optimizer finds them packed. */
static void test_parameters_packed(void **state)
{
    (void)state;
    nn_module *m = toy_new(true);
    grads_in(m, optim_grads);
    nn_param *p;
    nn_module_params(m, &p);
    assert_ptr_not_equal(p[1].value->data, p[0].value->data + 12);
    nn_optim *o = nn_adagrad(m, NULL);
    assert_ptr_equal(p[1].value->data, p[0].value->data + 12);
    assert_ptr_equal(p[1].grad->data, p[0].grad->data + 12);
    assert_ptr_equal(p[0].grad->data, p[0].value->data + OPTIM_NUMEL);
    assert_ptr_equal(p[0].value->storage, p[1].value->storage);
    float got[OPTIM_NUMEL];
    params_out(m, got, false);
    assert_memory_equal(got, optim_init, sizeof got);
    params_out(m, got, true);
    assert_memory_equal(got, optim_grads, sizeof got);
    float *w = p[0].value->data, *g = p[0].grad->data;
    nn_optim *o2 = nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f});
    assert_ptr_equal(p[0].value->data, w);
    assert_ptr_equal(p[0].grad->data, g);
    nn_optim_free(o2);
    nn_optim_free(o);
    nn_module_free(m);
}

/* A parameter re-pointed after construction (out of the flat block):
   steps and zero_grad go parameter by parameter and still follow torch. */
static void test_unpacked_parameters_still_follow_torch(void **state)
{
    (void)state;
    int n = (int)(sizeof optim_cases / sizeof *optim_cases);
    for (int i = 0; i < n; i++) {
        const optim_case *c = &optim_cases[i];
        nn_module *m = toy_new(true);
        nn_optim *o = make_optim(c, m, false);
        nn_param *p;
        nn_module_params(m, &p);
        float bias[5];
        memcpy(bias, p[1].value->data, sizeof bias);
        /* a fresh storage for the bias, as a loader or a user might do */
        assert_int_equal(nn_tensor_resize(p[1].value, NN_SHAPE(5), p[1].value), NN_OK);
        memcpy(p[1].value->data, bias, sizeof bias);
        assert_ptr_not_equal(p[1].value->data, p[0].value->data + 12);
        run_steps(o, m, 0, OPTIM_STEPS, c);
        check_state(o, c);
        nn_optim_zero_grad(o);
        float g[OPTIM_NUMEL];
        params_out(m, g, true);
        for (int k = 0; k < OPTIM_NUMEL; k++)
            assert_true(g[k] == 0.0f);
        nn_optim_free(o);
        nn_module_free(m);
    }
}

/* Parameters changed behind the optimizer's back: a clear error at
   construction or step, and a failed step changes nothing. (Each resize
   avoids the tensor's own storage: resizing in place would reuse the flat
   block from its start.) */
static void test_changed_parameters(void **state)
{
    (void)state;
    nn_module *m = toy_new(true);
    nn_param *p;
    nn_module_params(m, &p);
    assert_int_equal(nn_tensor_resize(p[1].grad, NN_SHAPE(6), p[1].grad), NN_OK);
    assert_null(nn_adam(m, NULL));
    assert_error_mentions("nn_adam", "bias", "[5]", "[6]");
    assert_int_equal(nn_tensor_resize(p[1].grad, NN_SHAPE(5), p[1].grad), NN_OK);
    nn_optim *o = nn_adam(m, NULL);
    assert_non_null(o);
    grads_in(m, optim_grads);
    run_steps(o, m, 0, 1, NULL);
    float before[OPTIM_NUMEL], after[OPTIM_NUMEL];
    params_out(m, before, false);

    assert_int_equal(nn_tensor_resize(p[1].grad, NN_SHAPE(2, 2), p[1].grad), NN_OK);
    assert_true(nn_optim_step(o) < 0);
    assert_error_mentions("nn_optim_step", "bias", "[2, 2]");
    nn_optim_zero_grad(o); /* stays inside the smaller gradient (ASan checks) */
    assert_true(p[1].grad->data[3] == 0.0f);
    assert_int_equal(nn_tensor_resize(p[1].value, NN_SHAPE(6), p[1].value), NN_OK);
    assert_true(nn_optim_step(o) < 0);
    assert_error_mentions("nn_optim_step", "Adam", "bias", "changed size from 5 to 6");
    assert_int_equal(nn_optim_get_step(o), 1);
    memcpy(after, p[0].value->data, 12 * sizeof(float));
    assert_memory_equal(after, before, 12 * sizeof(float)); /* weight untouched */
    nn_optim_free(o);
    nn_module_free(m);
}

/* The optimizer keeps its own copy of the parameter names: a Sequential
   rebuilds (and frees) its name block when children are added later. A
   parameter-free child (ReLU) keeps the parameter list, so the optimizer
   still steps; a layer with parameters added since is refused. */
static void test_names_survive_module_growth(void **state)
{
    (void)state;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "fc1", nn_linear(2, 3, true)), NN_OK);
    nn_optim *o = nn_adam(net, NULL);
    assert_non_null(o);
    assert_int_equal(nn_sequential_add(net, "relu", nn_relu()), NN_OK);
    assert_int_equal(nn_module_params(net, NULL), 2); /* rebuilds the name block */
    nn_optim_state_entry e;
    assert_int_equal(nn_optim_state_at(o, 2, &e), NN_OK);
    assert_string_equal(e.param_name, "fc1.bias");
    nn_param *p;
    nn_module_params(net, &p);
    p[1].value->shape[0] = 4; /* make the step fail: its message names the parameter */
    assert_true(nn_optim_step(o) < 0);
    assert_error_mentions("nn_optim_step", "fc1.bias", "changed size from 3 to 4");
    p[1].value->shape[0] = 3;
    assert_int_equal(nn_sequential_add(net, "fc2", nn_linear(3, 1, true)), NN_OK);
    assert_int_equal(nn_module_params(net, NULL), 4); /* rebuilds the name block again */
    assert_int_equal(nn_optim_state_at(o, 2, &e), NN_OK);
    assert_string_equal(e.param_name, "fc1.bias");
    assert_int_equal(nn_optim_step(o), NN_EINVAL);
    assert_error_mentions("nn_optim_step: the model's parameters changed since nn_adam was created (2 then, 4 now");
    nn_optim_free(o);
    nn_module_free(net);
}

static void test_tensor_pack(void **state)
{
    (void)state;
    nn_tensor *a = nn_tensor_from(optim_init, NN_SHAPE(3, 4));
    nn_tensor *b = nn_tensor_from(optim_init + 12, NN_SHAPE(5));
    nn_tensor *e = nn_tensor_new(NN_SHAPE(0));
    nn_tensor *t = nn_tensor_transpose(a, 0, 1);
    nn_tensor *bad[2] = {b, t};
    assert_true(nn_tensor_pack(bad, 2) < 0);
    assert_error_mentions("nn_tensor_pack", "tensor 1", "not contiguous");
    assert_int_equal(nn_tensor_pack(NULL, 0), NN_OK);
    nn_tensor *ts[3] = {a, e, b};
    assert_false(nn_tensor_is_packed(ts, 3));
    assert_int_equal(nn_tensor_pack(ts, 3), NN_OK);
    assert_true(nn_tensor_is_packed(ts, 3));
    assert_ptr_equal(b->data, a->data + 12);
    assert_memory_equal(a->data, optim_init, 17 * sizeof(float));
    /* the old view t keeps the old storage alive and its values */
    assert_true(nn_tensor_get(t, (int64_t[]){3, 2}) == optim_init[11]);
    nn_tensor_free(t);
    nn_tensor_free(a); /* b alone still owns the block */
    assert_true(b->data[4] == optim_init[16]);
    nn_tensor_free(e);
    nn_tensor_free(b);
}

/* The generic state view: names, lazy presence, and a save/restore into a
   fresh optimizer that then continues exactly like the original. */
static void test_state_round_trip(void **state)
{
    (void)state;
    int n = (int)(sizeof optim_cases / sizeof *optim_cases);
    for (int i = 0; i < n; i++) {
        const optim_case *c = &optim_cases[i];
        nn_module *m = toy_new(true);
        nn_optim *o = make_optim(c, m, false);
        int count = nn_optim_state_count(o);
        for (int e = 0; e < count; e++) {
            nn_optim_state_entry en;
            nn_optim_state_at(o, e, &en);
            /* torch has only Adagrad's "sum" before the first step */
            assert_int_equal(en.present, strcmp(c->kind, "Adagrad") == 0);
        }
        run_steps(o, m, 0, 6, NULL);

        /* "save": the step, every present buffer, the hyperparameters */
        int64_t step = nn_optim_get_step(o);
        float *saved = calloc((size_t)(count * OPTIM_NUMEL + 1), sizeof(float));
        char names[8][32];
        for (int e = 0; e < count; e++) {
            nn_optim_state_entry en;
            assert_int_equal(nn_optim_state_at(o, e, &en), NN_OK);
            assert_true(en.present);
            assert_int_equal(nn_optim_state_name(&en, names[e], sizeof names[e]), NN_OK);
            memcpy(saved + e * OPTIM_NUMEL, en.data, (size_t)en.length * sizeof(float));
        }
        if (count) {
            nn_optim_state_entry en;
            nn_optim_state_at(o, count - 1, &en);
            char want[64];
            snprintf(want, sizeof want, "state.1.%s", en.key);
            assert_string_equal(names[count - 1], want);
            assert_int_equal(en.length, 5);
            assert_string_equal(en.param_name, "bias");
        }

        /* "load" into a fresh module + optimizer with the current weights */
        nn_module *m2 = toy_new(true);
        nn_param *p1, *p2;
        nn_module_params(m, &p1);
        nn_module_params(m2, &p2);
        memcpy(p2[0].value->data, p1[0].value->data, 12 * sizeof(float));
        memcpy(p2[1].value->data, p1[1].value->data, 5 * sizeof(float));
        nn_optim *o2 = make_optim(c, m2, false);
        assert_int_equal(nn_optim_state_count(o2), count);
        assert_int_equal(nn_optim_set_step(o2, step), NN_OK);
        for (int e = 0; e < count; e++) {
            nn_optim_state_entry en;
            nn_optim_state_at(o2, e, &en);
            assert_true(en.present);
            memcpy(en.data, saved + e * OPTIM_NUMEL, (size_t)en.length * sizeof(float));
        }
        /* both continue with the same gradients: the restored one follows torch */
        run_steps(o2, m2, 6, OPTIM_STEPS, c);
        run_steps(o, m, 6, OPTIM_STEPS, c);
        free(saved);
        nn_optim_free(o2);
        nn_module_free(m2);
        nn_optim_free(o);
        nn_module_free(m);
    }
}

/* set_step(0) makes an optimizer fresh again: the trajectory restarts. */
static void test_set_step_zero_resets(void **state)
{
    (void)state;
    const optim_case *c = NULL;
    for (size_t i = 0; i < sizeof optim_cases / sizeof *optim_cases; i++)
        if (strcmp(optim_cases[i].name, "sgd_momentum") == 0)
            c = &optim_cases[i];
    assert_non_null(c);
    nn_module *m = toy_new(true);
    nn_optim *o = make_optim(c, m, false);
    run_steps(o, m, 0, 4, NULL);
    nn_param *p;
    nn_module_params(m, &p);
    memcpy(p[0].value->data, optim_init, 12 * sizeof(float));
    memcpy(p[1].value->data, optim_init + 12, 5 * sizeof(float));
    assert_int_equal(nn_optim_set_step(o, 0), NN_OK);
    run_steps(o, m, 0, OPTIM_STEPS, c);
    assert_true(nn_optim_set_step(o, -1) < 0);
    assert_true(nn_optim_set_step(NULL, 1) < 0);
    nn_optim_free(o);
    nn_module_free(m);
}

static void test_hyperparameters(void **state)
{
    (void)state;
    nn_module *m = toy_new(true);
    nn_optim *o = nn_adam(m, &(nn_adam_opts){.lr = 0.01f, .beta1 = 0.8f, .beta2 = 0.95f,
                                             .eps = 1e-6f, .amsgrad = true});
    const char *want[] = {"lr", "betas.0", "betas.1", "eps", "weight_decay", "amsgrad"};
    const double vals[] = {0.01f, 0.8f, 0.95f, 1e-6f, 0.0, 1.0};
    assert_int_equal(nn_optim_hparam_count(o), 6);
    for (int i = 0; i < 6; i++) {
        const char *name;
        double v;
        assert_int_equal(nn_optim_hparam_at(o, i, &name, &v), NN_OK);
        assert_string_equal(name, want[i]);
        assert_true(v == vals[i]);
    }
    const char *name;
    double v;
    assert_true(nn_optim_hparam_at(o, 6, &name, &v) < 0);
    assert_int_equal(nn_optim_hparam_set(o, "lr", 0.5), NN_OK);
    nn_optim_hparam_at(o, 0, &name, &v);
    assert_true(v == 0.5);
    /* refused, and nothing changes */
    assert_true(nn_optim_hparam_set(o, "betas.1", 1.0) < 0);
    assert_error_mentions("nn_optim_hparam_set", "beta2 1");
    assert_true(nn_optim_hparam_set(o, "amsgrad", 0.0) < 0);
    assert_error_mentions("amsgrad", "state buffers");
    assert_true(nn_optim_hparam_set(o, "amsgrad", 0.5) < 0);
    assert_true(nn_optim_hparam_set(o, "momentum", 0.5) < 0);
    assert_error_mentions("Adam", "momentum");
    assert_true(nn_optim_hparam_set(o, NULL, 0.5) < 0);
    for (int i = 0; i < 6; i++) {
        nn_optim_hparam_at(o, i, &name, &v);
        assert_true(v == (i == 0 ? 0.5 : vals[i]));
    }
    nn_optim_free(o);

    /* AdamW: Adam's names; amsgrad fixed by the buffers, weight_decay free */
    o = nn_adamw(m, &(nn_adamw_opts){.lr = 0.01f, .amsgrad = true});
    assert_int_equal(nn_optim_hparam_count(o), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(nn_optim_hparam_at(o, i, &name, &v), NN_OK);
        assert_string_equal(name, want[i]);
    }
    nn_optim_hparam_at(o, 4, &name, &v);
    assert_true(v == (double)1e-2f);
    assert_int_equal(nn_optim_hparam_set(o, "weight_decay", 0.0), NN_OK);
    assert_true(nn_optim_hparam_set(o, "amsgrad", 0.0) < 0);
    assert_true(nn_optim_hparam_set(o, "weight_decay", -1.0) < 0);
    assert_error_mentions("nn_optim_hparam_set", "weight_decay -1");
    nn_optim_free(o);

    /* SGD: momentum may change between nonzero values, not to or from 0 */
    o = nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f, .momentum = 0.9f});
    assert_int_equal(nn_optim_hparam_set(o, "momentum", 0.5), NN_OK);
    assert_true(nn_optim_hparam_set(o, "momentum", 0.0) < 0);
    assert_true(nn_optim_hparam_set(o, "nesterov", 1.0) == NN_OK);
    assert_true(nn_optim_hparam_set(o, "dampening", 0.5) < 0); /* nesterov needs 0 */
    assert_error_mentions("nesterov");
    nn_optim_free(o);
    nn_module_free(m);
}

/* nn_optim_set_lr between steps acts as constructing with that lr: two
   toys get the same gradient, one optimizer built with lr 0.05, the other
   built with 0.5 and set to 0.05; their steps must agree bit for bit, and
   a step at lr 0.5 must not (the guard that lr matters at all). */
static void test_set_lr(void **state)
{
    (void)state;
    const float grad[17] = {0.3f, -0.2f, 0.1f, 0.5f, -0.4f, 0.25f, 0.6f, -0.7f, 0.05f, 0.8f, -0.9f, 0.15f,
                            1.0f, -1.0f, 0.5f, -0.5f, 0.2f};
    for (int kind = 0; kind < 5; kind++) {
        nn_module *m1 = toy_new(true), *m2 = toy_new(true), *m3 = toy_new(true);
        nn_optim *o1, *o2, *o3;
        switch (kind) {
        case 0:
            o1 = nn_sgd(m1, &(nn_sgd_opts){.lr = 0.05f, .momentum = 0.9f});
            o2 = nn_sgd(m2, &(nn_sgd_opts){.lr = 0.5f, .momentum = 0.9f});
            o3 = nn_sgd(m3, &(nn_sgd_opts){.lr = 0.5f, .momentum = 0.9f});
            break;
        case 1:
            o1 = nn_adam(m1, &(nn_adam_opts){.lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f});
            o2 = nn_adam(m2, &(nn_adam_opts){.lr = 0.5f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f});
            o3 = nn_adam(m3, &(nn_adam_opts){.lr = 0.5f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f});
            break;
        case 3: /* AdamW: lr also scales the decoupled weight decay */
            o1 = nn_adamw(m1, &(nn_adamw_opts){.lr = 0.05f, .weight_decay = 0.5f});
            o2 = nn_adamw(m2, &(nn_adamw_opts){.lr = 0.5f, .weight_decay = 0.5f});
            o3 = nn_adamw(m3, &(nn_adamw_opts){.lr = 0.5f, .weight_decay = 0.5f});
            break;
        case 2:
            o1 = nn_rmsprop(m1, &(nn_rmsprop_opts){.lr = 0.05f, .alpha = 0.99f, .eps = 1e-8f});
            o2 = nn_rmsprop(m2, &(nn_rmsprop_opts){.lr = 0.5f, .alpha = 0.99f, .eps = 1e-8f});
            o3 = nn_rmsprop(m3, &(nn_rmsprop_opts){.lr = 0.5f, .alpha = 0.99f, .eps = 1e-8f});
            break;
        default:
            o1 = nn_adagrad(m1, &(nn_adagrad_opts){.lr = 0.05f, .eps = 1e-10f});
            o2 = nn_adagrad(m2, &(nn_adagrad_opts){.lr = 0.5f, .eps = 1e-10f});
            o3 = nn_adagrad(m3, &(nn_adagrad_opts){.lr = 0.5f, .eps = 1e-10f});
        }
        assert_non_null(o1);
        assert_non_null(o2);
        assert_non_null(o3);
        assert_true(nn_optim_get_lr(o2) == 0.5f);
        assert_int_equal(nn_optim_set_lr(o2, 0.05f), NN_OK);
        assert_true(nn_optim_get_lr(o2) == 0.05f);
        /* refused, and the lr stays */
        assert_true(nn_optim_set_lr(o2, -1.0f) < 0);
        assert_error_mentions("nn_optim_set_lr", "-1");
        assert_true(nn_optim_set_lr(o2, NAN) < 0);
        assert_true(nn_optim_set_lr(o2, INFINITY) < 0);
        assert_true(nn_optim_get_lr(o2) == 0.05f);
        for (int step = 0; step < 3; step++) {
            grads_in(m1, grad);
            grads_in(m2, grad);
            grads_in(m3, grad);
            assert_int_equal(nn_optim_step(o1), NN_OK);
            assert_int_equal(nn_optim_step(o2), NN_OK);
            assert_int_equal(nn_optim_step(o3), NN_OK);
        }
        float a[17], b[17], c[17];
        params_out(m1, a, false);
        params_out(m2, b, false);
        params_out(m3, c, false);
        assert_memory_equal(a, b, sizeof a);
        assert_memory_not_equal(a, c, sizeof a);
        nn_optim_free(o1);
        nn_optim_free(o2);
        nn_optim_free(o3);
        nn_module_free(m1);
        nn_module_free(m2);
        nn_module_free(m3);
    }
    assert_true(isnan(nn_optim_get_lr(NULL)));
    assert_true(nn_optim_set_lr(NULL, 0.1f) < 0);
    assert_error_mentions("nn_optim_set_lr", "NULL");
}

/* End to end: Linear(4, 8) -> ReLU -> Linear(8, 3) started from torch's
   weights, a loss and an optimizer, 15 training steps; losses and final
   weights follow torch, and steps after the first allocate nothing. */
static void train_case(nn_optim *(*make)(nn_module *), nn_loss *loss, bool class_targets,
                       const float *want_losses, const float *want_final, const char *what)
{
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(4, 8, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(8, 3, true)), NN_OK);
    nn_param *p;
    int n = nn_module_params(net, &p);
    assert_int_equal(n, 4);
    const float *at = train_init;
    for (int i = 0; i < n; i++) {
        int64_t k = nn_tensor_numel(p[i].value);
        memcpy(p[i].value->data, at, (size_t)k * sizeof(float));
        at += k;
    }
    nn_optim *opt = make(net);
    assert_non_null(opt);
    nn_tensor *x = nn_tensor_from(train_x, NN_SHAPE(8, 4));
    nn_tensor *y = class_targets ? nn_tensor_from(train_labels, NN_SHAPE(8))
                                 : nn_tensor_from(train_onehot, NN_SHAPE(8, 3));
    float losses[TRAIN_STEPS];
    tu_allocs = 0;
    for (int s = 0; s < TRAIN_STEPS; s++) {
        if (s == 1) /* a whole training step allocates nothing after the first */
            nn_set_allocator(tu_alloc, free);
        nn_optim_zero_grad(opt);
        nn_tensor *out = nn_forward(net, x);
        assert_non_null(out);
        losses[s] = nn_loss_forward(loss, out, y);
        assert_non_null(nn_backward(net, nn_loss_backward(loss)));
        assert_int_equal(nn_optim_step(opt), NN_OK);
    }
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);
    assert_close_at(losses, want_losses, TRAIN_STEPS, RTOL, ATOL, what, __FILE__, __LINE__);
    assert_true(losses[TRAIN_STEPS - 1] < losses[0]);
    float final[67], *to = final;
    nn_module_params(net, &p);
    for (int i = 0; i < n; i++) {
        int64_t k = nn_tensor_numel(p[i].value);
        memcpy(to, p[i].value->data, (size_t)k * sizeof(float));
        to += k;
    }
    assert_close_at(final, want_final, 67, RTOL, ATOL, what, __FILE__, __LINE__);
    nn_tensor_free(y);
    nn_tensor_free(x);
    nn_optim_free(opt);
    nn_loss_free(loss);
    nn_module_free(net);
}

static nn_optim *train_sgd(nn_module *m)
{
    return nn_sgd(m, &(nn_sgd_opts){.lr = 0.1f, .momentum = 0.9f, .nesterov = true});
}
static nn_optim *train_adam(nn_module *m)
{
    nn_adam_opts o = nn_adam_defaults();
    o.lr = 0.01f;
    o.weight_decay = 0.01f;
    o.amsgrad = true;
    return nn_adam(m, &o);
}
static nn_optim *train_adamw(nn_module *m)
{
    nn_adamw_opts o = nn_adamw_defaults();
    o.lr = 0.01f;
    o.weight_decay = 0.05f;
    o.amsgrad = true;
    return nn_adamw(m, &o);
}
static nn_optim *train_rmsprop(nn_module *m)
{
    nn_rmsprop_opts o = nn_rmsprop_defaults();
    o.momentum = 0.5f;
    o.centered = true;
    return nn_rmsprop(m, &o);
}
static nn_optim *train_adagrad(nn_module *m)
{
    nn_adagrad_opts o = nn_adagrad_defaults();
    o.lr = 0.1f;
    o.lr_decay = 0.01f;
    return nn_adagrad(m, &o);
}

static void test_training_follows_torch(void **state)
{
    (void)state;
    train_case(train_sgd, nn_mse_loss(), false, train_sgd_mse_losses, train_sgd_mse_final,
               "sgd_mse");
    train_case(train_adam, nn_cross_entropy_loss(), true, train_adam_ce_losses,
               train_adam_ce_final, "adam_ce");
    train_case(train_rmsprop, nn_bce_with_logits_loss(), false, train_rmsprop_bce_losses,
               train_rmsprop_bce_final, "rmsprop_bce");
    train_case(train_adagrad, nn_cross_entropy_loss(), true, train_adagrad_ce_losses,
               train_adagrad_ce_final, "adagrad_ce");
    train_case(train_adamw, nn_cross_entropy_loss(), true, train_adamw_ce_losses, train_adamw_ce_final,
               "adamw_ce");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories_match_torch),
        cmocka_unit_test(test_null_options_are_torch_defaults),
        cmocka_unit_test(test_zero_grad),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_nulls_and_modules_without_parameters),
        cmocka_unit_test(test_step_allocates_nothing),
        cmocka_unit_test(test_constructor_out_of_memory),
        cmocka_unit_test(test_parameters_packed),
        cmocka_unit_test(test_unpacked_parameters_still_follow_torch),
        cmocka_unit_test(test_changed_parameters),
        cmocka_unit_test(test_names_survive_module_growth),
        cmocka_unit_test(test_tensor_pack),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_set_step_zero_resets),
        cmocka_unit_test(test_hyperparameters),
        cmocka_unit_test(test_set_lr),
        cmocka_unit_test(test_training_follows_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
