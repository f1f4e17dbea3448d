/* Options structs (the rule in nn/opts.h): a struct from
   nn_<x>_defaults(...) is taken as written; one written by hand with
   designated initialisers gets PyTorch's default for every float field left
   0 whose default is not 0, and is refused with a message naming the
   function and the field where 0 has no meaning (SGD's lr, kernel sizes). */
#include "testutil.h"
#include "optim/optim_impl.h"

/* --- training a small model with two optimizers, compared bit for bit -- */

static nn_module *small_net(void)
{
    nn_manual_seed(3);
    nn_module *net = nn_sequential();
    assert_non_null(net);
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(3, 4, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_linear(4, 1, true)), NN_OK);
    return net;
}

#define N_PARAMS 21 /* 12 + 4 + 4 + 1 */
#define N_STEPS 25

/* Trains net with o (both freed) and stores the parameters afterwards. */
static void train(nn_module *net, nn_optim *o, float *out)
{
    assert_non_null(o);
    nn_tensor *x = nn_tensor_from((const float[]){0.1f, -0.2f, 0.3f, 0.5f, 0.4f, -0.6f, -0.7f, 0.8f,
                                                  0.2f, 0.9f, -0.1f, 0.0f, -0.3f, -0.5f, 0.6f,
                                                  0.7f, 0.2f, 0.1f},
                                  NN_SHAPE(6, 3));
    nn_tensor *y = nn_tensor_from((const float[]){0.5f, -0.5f, 1.0f, 0.0f, 0.25f, -1.0f}, NN_SHAPE(6, 1));
    nn_loss *mse = nn_mse_loss();
    for (int step = 0; step < N_STEPS; step++) {
        nn_optim_zero_grad(o);
        float loss = nn_loss_forward(mse, nn_forward(net, x), y);
        assert_true(isfinite(loss));
        assert_non_null(nn_backward(net, nn_loss_backward(mse)));
        assert_int_equal(nn_optim_step(o), NN_OK);
    }
    nn_param *p;
    int n = nn_module_params(net, &p);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        int64_t k = nn_tensor_numel(p[i].value);
        assert_true(at + k <= N_PARAMS);
        nn_tensor_copy_out(p[i].value, out + at);
        at += k;
    }
    assert_int_equal(at, N_PARAMS);
    for (int i = 0; i < N_PARAMS; i++)
        assert_true(isfinite(out[i]));
    nn_loss_free(mse);
    nn_tensor_free(x);
    nn_tensor_free(y);
    nn_optim_free(o);
    nn_module_free(net);
}

/* Two runs that must give the same bits; returns whether the weights moved. */
#define SAME_TRAINING(make_a, make_b)                                       \
    do {                                                                    \
        float a_[N_PARAMS], b_[N_PARAMS], start_[N_PARAMS];                 \
        nn_module *na_ = small_net(), *nb_ = small_net();                   \
        nn_param *p_;                                                       \
        nn_module_params(na_, &p_);                                         \
        nn_tensor_copy_out(p_[0].value, start_);                            \
        train(na_, make_a(na_), a_);                                        \
        train(nb_, make_b(nb_), b_);                                        \
        assert_memory_equal(a_, b_, sizeof a_);                             \
        assert_true(memcmp(a_, start_, 12 * sizeof(float)) != 0);           \
    } while (0)

static nn_optim *adam_by_hand(nn_module *m) { return nn_adam(m, &(nn_adam_opts){.lr = 1e-3f}); }
static nn_optim *adam_from_defaults(nn_module *m)
{
    nn_adam_opts o = nn_adam_defaults();
    o.lr = 1e-3f;
    return nn_adam(m, &o);
}
static nn_optim *adam_null(nn_module *m) { return nn_adam(m, NULL); }
static nn_optim *adam_empty(nn_module *m) { return nn_adam(m, &(nn_adam_opts){0}); }
static nn_optim *adam_wd_by_hand(nn_module *m)
{
    return nn_adam(m, &(nn_adam_opts){.lr = 0.01f, .weight_decay = 0.1f, .amsgrad = true});
}
static nn_optim *adam_wd_from_defaults(nn_module *m)
{
    nn_adam_opts o = nn_adam_defaults();
    o.lr = 0.01f;
    o.weight_decay = 0.1f;
    o.amsgrad = true;
    return nn_adam(m, &o);
}

static void test_adam_written_by_hand_gets_torch_defaults(void **state)
{
    (void)state;
    /* the issue: {.lr = 1e-3f} left betas and eps 0 and the loss went NaN */
    SAME_TRAINING(adam_by_hand, adam_from_defaults);
    SAME_TRAINING(adam_empty, adam_null);
    SAME_TRAINING(adam_wd_by_hand, adam_wd_from_defaults);
}

static nn_optim *rmsprop_by_hand(nn_module *m)
{
    return nn_rmsprop(m, &(nn_rmsprop_opts){.momentum = 0.5f, .centered = true});
}
static nn_optim *rmsprop_from_defaults(nn_module *m)
{
    nn_rmsprop_opts o = nn_rmsprop_defaults();
    o.momentum = 0.5f;
    o.centered = true;
    return nn_rmsprop(m, &o);
}
static nn_optim *adagrad_by_hand(nn_module *m)
{
    return nn_adagrad(m, &(nn_adagrad_opts){.lr_decay = 0.1f, .initial_accumulator_value = 0.2f});
}
static nn_optim *adagrad_from_defaults(nn_module *m)
{
    nn_adagrad_opts o = nn_adagrad_defaults();
    o.lr_decay = 0.1f;
    o.initial_accumulator_value = 0.2f;
    return nn_adagrad(m, &o);
}
static nn_optim *sgd_by_hand(nn_module *m)
{
    return nn_sgd(m, &(nn_sgd_opts){.lr = 0.05f, .momentum = 0.9f, .nesterov = true});
}
static nn_optim *sgd_from_defaults(nn_module *m)
{
    nn_sgd_opts o = nn_sgd_defaults(0.05f);
    o.momentum = 0.9f;
    o.nesterov = true;
    return nn_sgd(m, &o);
}

static void test_every_optimizer_written_by_hand(void **state)
{
    (void)state;
    SAME_TRAINING(rmsprop_by_hand, rmsprop_from_defaults);
    SAME_TRAINING(adagrad_by_hand, adagrad_from_defaults);
    SAME_TRAINING(sgd_by_hand, sgd_from_defaults);
}

static double hparam(const nn_optim *o, const char *name);

/* AdamW: the same rule, with weight_decay's default 1e-2 filled in too;
   weight_decay 0 comes from the defaults struct and is then kept. */
static nn_optim *adamw_by_hand(nn_module *m) { return nn_adamw(m, &(nn_adamw_opts){.lr = 1e-3f}); }
static nn_optim *adamw_from_defaults(nn_module *m)
{
    nn_adamw_opts o = nn_adamw_defaults();
    return nn_adamw(m, &o);
}
static nn_optim *adamw_null(nn_module *m) { return nn_adamw(m, NULL); }
static nn_optim *adamw_empty(nn_module *m) { return nn_adamw(m, &(nn_adamw_opts){0}); }
static nn_optim *adamw_wd_by_hand(nn_module *m)
{
    return nn_adamw(m, &(nn_adamw_opts){.lr = 0.01f, .weight_decay = 0.01f, .amsgrad = true});
}
static nn_optim *adamw_zero_wd(nn_module *m)
{
    nn_adamw_opts o = nn_adamw_defaults();
    o.lr = 0.01f;
    o.weight_decay = 0.0f;
    o.amsgrad = true;
    return nn_adamw(m, &o);
}
static nn_optim *adam_like_adamw_zero_wd(nn_module *m)
{
    nn_adam_opts o = nn_adam_defaults();
    o.lr = 0.01f;
    o.amsgrad = true;
    return nn_adam(m, &o);
}

static void test_adamw_written_by_hand_gets_torch_defaults(void **state)
{
    (void)state;
    SAME_TRAINING(adamw_by_hand, adamw_from_defaults);
    SAME_TRAINING(adamw_empty, adamw_null);
    SAME_TRAINING(adamw_wd_by_hand, adamw_wd_by_hand);
    /* AdamW without weight decay is Adam without weight decay, bit for bit */
    SAME_TRAINING(adamw_zero_wd, adam_like_adamw_zero_wd);
    nn_module *m = small_net();
    nn_optim *o = nn_adamw(m, &(nn_adamw_opts){.weight_decay = 0.0f});
    assert_true(hparam(o, "weight_decay") == (double)1e-2f && hparam(o, "lr") == (double)1e-3f &&
                hparam(o, "betas.0") == (double)0.9f && hparam(o, "betas.1") == (double)0.999f &&
                hparam(o, "eps") == (double)1e-8f);
    nn_optim_free(o);
    o = adamw_zero_wd(m);
    assert_true(hparam(o, "weight_decay") == 0.0);
    nn_optim_free(o);
    nn_adamw_opts a = nn_adamw_defaults();
    a.from_defaults = 3u;
    assert_null(nn_adamw(m, &a));
    assert_error_mentions("nn_adamw:", "nn_adamw_opts.from_defaults", "nn_adamw_defaults()");
    assert_null(nn_adamw(m, &(nn_adamw_opts){.beta1 = 1.5f}));
    assert_error_mentions("nn_adamw:", "beta1");
    nn_module_free(m);
}

/* Adam from nn_adam_defaults with beta1 = 0 (GAN recipes): two steps of one
   parameter pair, against the update computed here in double. */
static void adam_two_steps(const nn_adam_opts *opts, float out[2])
{
    nn_module *m = nn_linear(2, 1, false);
    nn_param *p;
    assert_int_equal(nn_module_params(m, &p), 1);
    p[0].value->data[0] = 0.5f;
    p[0].value->data[1] = -0.25f;
    nn_optim *o = nn_adam(m, opts);
    assert_non_null(o);
    const float g[2][2] = {{0.2f, -0.4f}, {-0.3f, 0.1f}};
    for (int t = 0; t < 2; t++) {
        nn_module_params(m, &p); /* re-read: construction packed them */
        p[0].grad->data[0] = g[t][0];
        p[0].grad->data[1] = g[t][1];
        assert_int_equal(nn_optim_step(o), NN_OK);
    }
    nn_module_params(m, &p);
    out[0] = p[0].value->data[0];
    out[1] = p[0].value->data[1];
    nn_optim_free(o);
    nn_module_free(m);
}

static void test_defaults_struct_is_taken_as_written(void **state)
{
    (void)state;
    nn_adam_opts o = nn_adam_defaults();
    assert_int_equal(o.from_defaults, NN_OPTS_FROM_DEFAULTS);
    o.lr = 0.1f;
    o.beta1 = 0.0f;
    float got[2];
    adam_two_steps(&o, got);
    /* beta1 = 0: m = g and no first-moment correction */
    const double lr = 0.1, b2 = (double)0.999f, eps = (double)1e-8f;
    const double p0[2] = {0.5, -0.25}, g1[2] = {0.2f, -0.4f}, g2[2] = {-0.3f, 0.1f};
    for (int i = 0; i < 2; i++) {
        double v = (1 - b2) * g1[i] * g1[i];
        double p = p0[i] - lr * g1[i] / (sqrt(v) / sqrt(1 - b2) + eps);
        v = b2 * v + (1 - b2) * g2[i] * g2[i];
        p -= lr * g2[i] / (sqrt(v) / sqrt(1 - b2 * b2) + eps);
        assert_true(fabs(got[i] - p) < 1e-6);
    }
    /* the same struct written by hand means beta1 = 0.9, a different step */
    float hand[2];
    adam_two_steps(&(nn_adam_opts){.lr = 0.1f, .beta1 = 0.0f}, hand);
    assert_true(fabs(hand[0] - got[0]) > 1e-3);

    /* every defaults function marks its struct */
    assert_int_equal(nn_sgd_defaults(0.1f).from_defaults, NN_OPTS_FROM_DEFAULTS);
    assert_int_equal(nn_rmsprop_defaults().from_defaults, NN_OPTS_FROM_DEFAULTS);
    assert_int_equal(nn_adagrad_defaults().from_defaults, NN_OPTS_FROM_DEFAULTS);
    assert_int_equal(nn_conv2d_defaults(1, 2, 3).from_defaults, NN_OPTS_FROM_DEFAULTS);
    assert_int_equal(nn_maxpool2d_defaults(2).from_defaults, NN_OPTS_FROM_DEFAULTS);

    /* zeros from the defaults functions stay zeros: lr 0 and eps 0 */
    nn_module *m = nn_linear(2, 1, true);
    nn_rmsprop_opts r = nn_rmsprop_defaults();
    r.lr = 0.0f;
    r.eps = 0.0f;
    nn_optim *opt = nn_rmsprop(m, &r);
    assert_non_null(opt);
    assert_true(nn_optim_get_lr(opt) == 0.0f);
    nn_optim_free(opt);
    nn_sgd_opts s = nn_sgd_defaults(0.0f);
    opt = nn_sgd(m, &s);
    assert_non_null(opt);
    assert_true(nn_optim_get_lr(opt) == 0.0f);
    nn_optim_free(opt);
    nn_module_free(m);
}

static double hparam(const nn_optim *o, const char *name)
{
    for (int i = 0; i < nn_optim_hparam_count(o); i++) {
        const char *n;
        double v;
        assert_int_equal(nn_optim_hparam_at(o, i, &n, &v), NN_OK);
        if (strcmp(n, name) == 0)
            return v;
    }
    fail_msg("no hyperparameter %s", name);
    return NAN;
}

static void test_refused_with_function_and_field(void **state)
{
    (void)state;
    nn_module *m = nn_linear(2, 1, true);
    /* SGD's lr has no default */
    assert_null(nn_sgd(m, &(nn_sgd_opts){.momentum = 0.9f}));
    assert_error_mentions("nn_sgd:", "lr", "nn_sgd_defaults(lr)");
    assert_null(nn_sgd(m, &(nn_sgd_opts){0}));
    assert_error_mentions("nn_sgd:", "lr");

    /* a from_defaults that is neither 0 nor the mark: uninitialised? */
    nn_sgd_opts s = nn_sgd_defaults(0.1f);
    s.from_defaults = 12345u;
    assert_null(nn_sgd(m, &s));
    assert_error_mentions("nn_sgd:", "from_defaults", "12345");
    nn_adam_opts a = nn_adam_defaults();
    a.from_defaults = 1u;
    assert_null(nn_adam(m, &a));
    assert_error_mentions("nn_adam:", "from_defaults");
    nn_rmsprop_opts r = nn_rmsprop_defaults();
    r.from_defaults = NN_OPTS_FROM_DEFAULTS + 1;
    assert_null(nn_rmsprop(m, &r));
    assert_error_mentions("nn_rmsprop:", "from_defaults");
    nn_adagrad_opts g = nn_adagrad_defaults();
    g.from_defaults = 7u;
    assert_null(nn_adagrad(m, &g));
    assert_error_mentions("nn_adagrad:", "from_defaults");

    /* hand-written values are still validated after the defaults fill in */
    assert_null(nn_adam(m, &(nn_adam_opts){.beta2 = 1.0f}));
    assert_error_mentions("nn_adam:", "beta2");
    assert_null(nn_rmsprop(m, &(nn_rmsprop_opts){.eps = -1.0f}));
    assert_error_mentions("nn_rmsprop:", "eps");
    assert_null(nn_adagrad(m, &(nn_adagrad_opts){.lr = NAN}));
    assert_error_mentions("nn_adagrad:", "lr");

    /* the filled-in values are what the optimizer holds */
    nn_optim *o = nn_adam(m, &(nn_adam_opts){.weight_decay = 0.5f});
    assert_non_null(o);
    assert_true(hparam(o, "lr") == (double)1e-3f && hparam(o, "betas.0") == (double)0.9f &&
                hparam(o, "betas.1") == (double)0.999f && hparam(o, "eps") == (double)1e-8f &&
                hparam(o, "weight_decay") == 0.5);
    nn_optim_free(o);
    o = nn_rmsprop(m, &(nn_rmsprop_opts){.momentum = 0.5f});
    assert_true(hparam(o, "lr") == (double)1e-2f && hparam(o, "alpha") == (double)0.99f &&
                hparam(o, "eps") == (double)1e-8f && hparam(o, "momentum") == 0.5);
    nn_optim_free(o);
    o = nn_adagrad(m, &(nn_adagrad_opts){.lr_decay = 0.5f});
    assert_true(hparam(o, "lr") == (double)1e-2f && hparam(o, "eps") == (double)1e-10f &&
                hparam(o, "lr_decay") == 0.5);
    nn_optim_free(o);
    nn_module_free(m);
}

/* Checkpoints hold the values in force and give them back as written:
   beta1 = 0 from the defaults survives a load into an optimizer made
   with different options. */
static void test_checkpoint_keeps_values_as_written(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/nn_test_opts_%ld.optim", (long)getpid());
    nn_module *m = nn_linear(2, 1, true);
    nn_adam_opts a = nn_adam_defaults();
    a.beta1 = 0.0f;
    a.eps = 0.0f;
    nn_optim *o = nn_adam(m, &a);
    assert_int_equal(nn_optim_save(o, path), NN_OK);
    nn_optim_free(o);
    o = nn_adam(m, &(nn_adam_opts){.lr = 0.5f});
    assert_true(hparam(o, "betas.0") == (double)0.9f);
    assert_int_equal(nn_optim_load(o, path), NN_OK);
    assert_true(hparam(o, "betas.0") == 0.0 && hparam(o, "eps") == 0.0 &&
                hparam(o, "lr") == (double)1e-3f);
    nn_optim_free(o);
    /* and one written by hand saves its filled-in values */
    o = nn_rmsprop(m, &(nn_rmsprop_opts){.lr = 0.25f});
    assert_int_equal(nn_optim_save(o, path), NN_OK);
    nn_optim_free(o);
    nn_rmsprop_opts r = nn_rmsprop_defaults();
    r.alpha = 0.5f;
    o = nn_rmsprop(m, &r);
    assert_int_equal(nn_optim_load(o, path), NN_OK);
    assert_true(hparam(o, "alpha") == (double)0.99f && hparam(o, "lr") == (double)0.25f);
    nn_optim_free(o);
    nn_module_free(m);
    unlink(path);
}

/* --- layers ----------------------------------------------------------- */

static void repr_of(const nn_module *m, char *buf, size_t size)
{
    FILE *f = fmemopen(buf, size, "w");
    assert_non_null(f);
    nn_module_print(m, f);
    fclose(f);
}

static void test_conv2d_options(void **state)
{
    (void)state;
    nn_conv2d_opts d = nn_conv2d_defaults(3, 8, 5);
    assert_true(d.in_channels == 3 && d.out_channels == 8 && d.kernel_h == 5 && d.kernel_w == 5 &&
                d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 && d.pad_w == 0 &&
                d.dilation_h == 1 && d.dilation_w == 1 && d.bias);
    /* the same module as nn_conv2d: weights and print */
    nn_manual_seed(11);
    nn_module *a = nn_conv2d_ex(&d);
    nn_manual_seed(11);
    nn_module *b = nn_conv2d(3, 8, 5, 1, 0);
    assert_non_null(a);
    nn_param *pa, *pb;
    assert_int_equal(nn_module_params(a, &pa), 2);
    assert_int_equal(nn_module_params(b, &pb), 2);
    assert_memory_equal(pa[0].value->data, pb[0].value->data, 8 * 3 * 25 * sizeof(float));
    assert_memory_equal(pa[1].value->data, pb[1].value->data, 8 * sizeof(float));
    char ra[256], rb[256];
    repr_of(a, ra, sizeof ra);
    repr_of(b, rb, sizeof rb);
    assert_string_equal(ra, rb);
    nn_module_free(a);
    nn_module_free(b);

    /* written by hand: 0 stride and dilation are 1; bias is as written
       (false: no bias, unlike torch.nn.Conv2d's default) */
    a = nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 2, .kernel_h = 3, .kernel_w = 3});
    assert_non_null(a);
    assert_int_equal(nn_module_params(a, NULL), 1);
    repr_of(a, ra, sizeof ra);
    assert_string_equal(ra, "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), bias=False)\n");
    nn_module_free(a);

    /* from the defaults: taken as written, so 0 stride or dilation is refused */
    d.stride_w = 0;
    assert_null(nn_conv2d_ex(&d));
    assert_error_mentions("nn_conv2d_ex:", "stride_w", "nn_conv2d_defaults");
    d = nn_conv2d_defaults(3, 8, 5);
    d.dilation_h = 0;
    assert_null(nn_conv2d_ex(&d));
    assert_error_mentions("nn_conv2d_ex:", "dilation_h");
    d = nn_conv2d_defaults(3, 8, 5);
    d.from_defaults = 99u;
    assert_null(nn_conv2d_ex(&d));
    assert_error_mentions("nn_conv2d_ex:", "from_defaults");
    d = nn_conv2d_defaults(3, 0, 5);
    assert_null(nn_conv2d_ex(&d));
    assert_error_mentions("nn_conv2d_ex:", "out_channels");
    /* by hand, what has no default is refused */
    assert_null(nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 2, .kernel_w = 3}));
    assert_error_mentions("nn_conv2d_ex:", "kernel_h");
    assert_null(nn_conv2d_ex(&(nn_conv2d_opts){.in_channels = 1, .out_channels = 2, .kernel_h = 3,
                                               .kernel_w = 3, .stride_h = -1}));
    assert_error_mentions("nn_conv2d_ex:", "stride_h", "-1");
    /* bias false from the defaults: no bias */
    d = nn_conv2d_defaults(2, 2, 1);
    d.bias = false;
    a = nn_conv2d_ex(&d);
    assert_int_equal(nn_module_params(a, NULL), 1);
    nn_module_free(a);
}

static void test_maxpool2d_options(void **state)
{
    (void)state;
    nn_maxpool2d_opts d = nn_maxpool2d_defaults(3);
    assert_true(d.kernel_h == 3 && d.kernel_w == 3 && d.stride_h == 3 && d.stride_w == 3 &&
                d.pad_h == 0 && d.pad_w == 0 && d.dilation_h == 1 && d.dilation_w == 1 && !d.ceil_mode);
    nn_module *a = nn_maxpool2d_ex(&d), *b = nn_maxpool2d(3, 0);
    char ra[256], rb[256];
    repr_of(a, ra, sizeof ra);
    repr_of(b, rb, sizeof rb);
    assert_string_equal(ra, rb);
    assert_string_equal(ra, "MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)\n");
    nn_module_free(a);
    nn_module_free(b);
    /* by hand: 0 stride is the kernel, 0 dilation 1 */
    a = nn_maxpool2d_ex(&(nn_maxpool2d_opts){.kernel_h = 2, .kernel_w = 3});
    repr_of(a, ra, sizeof ra);
    assert_string_equal(ra, "MaxPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0, dilation=1, ceil_mode=False)\n");
    nn_module_free(a);

    d.stride_h = 0;
    assert_null(nn_maxpool2d_ex(&d));
    assert_error_mentions("nn_maxpool2d_ex:", "stride_h", "nn_maxpool2d_defaults");
    d = nn_maxpool2d_defaults(3);
    d.dilation_w = 0;
    assert_null(nn_maxpool2d_ex(&d));
    assert_error_mentions("nn_maxpool2d_ex:", "dilation_w");
    d = nn_maxpool2d_defaults(3);
    d.from_defaults = 5u;
    assert_null(nn_maxpool2d_ex(&d));
    assert_error_mentions("nn_maxpool2d_ex:", "from_defaults");
    assert_null(nn_maxpool2d_ex(&(nn_maxpool2d_opts){.kernel_h = 2}));
    assert_error_mentions("nn_maxpool2d_ex:", "kernel_w");
    assert_null(nn_maxpool2d_ex(&(nn_maxpool2d_opts){.kernel_h = 2, .kernel_w = 2, .pad_w = -1}));
    assert_error_mentions("nn_maxpool2d_ex:", "pad_w", "-1");
    d = nn_maxpool2d_defaults(0);
    assert_null(nn_maxpool2d_ex(&d));
    assert_error_mentions("nn_maxpool2d_ex:", "kernel_h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_written_by_hand_gets_torch_defaults),
        cmocka_unit_test(test_adamw_written_by_hand_gets_torch_defaults),
        cmocka_unit_test(test_every_optimizer_written_by_hand),
        cmocka_unit_test(test_defaults_struct_is_taken_as_written),
        cmocka_unit_test(test_refused_with_function_and_field),
        cmocka_unit_test(test_checkpoint_keeps_values_as_written),
        cmocka_unit_test(test_conv2d_options),
        cmocka_unit_test(test_maxpool2d_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
