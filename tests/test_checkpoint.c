/* Optimizer checkpoints: N steps, save model and optimizer, load both into
   fresh objects, M more steps == N + M uninterrupted steps, bit for bit,
   for every optimizer with the options that add state buffers. Also: a
   checkpoint refused for the wrong optimizer or bad metadata changes
   nothing. */
#define _GNU_SOURCE /* mkdtemp */
#include "testutil.h"

#include <stdlib.h>
#include <unistd.h>

#include "tensor/tensor_impl.h"

enum { SGD, ADAM, RMSPROP, ADAGRAD, ADAMW };
static const char *const kind_name[] = {"SGD", "Adam", "RMSprop", "Adagrad", "AdamW"};
static char dir[64], model_path[128], optim_path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/nn_test_ckpt_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", dir);
    snprintf(optim_path, sizeof optim_path, "%s/optim.safetensors", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(model_path);
    unlink(optim_path);
    return rmdir(dir);
}

static nn_module *simplenet(uint64_t seed)
{
    nn_manual_seed(seed);
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "fc1", nn_linear(2, 5, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "relu", nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, "fc2", nn_linear(5, 1, true)), NN_OK);
    return net;
}

/* Options that give every optimizer all its buffers; lr_scale lets a
   fresh optimizer start with other hyperparameters than the saved one. */
static nn_optim *make_optim(int kind, nn_module *net, float lr_scale)
{
    switch (kind) {
    case SGD: {
        nn_sgd_opts o = nn_sgd_defaults(0.05f * lr_scale);
        o.momentum = 0.9f;
        o.nesterov = true;
        o.weight_decay = 0.01f;
        return nn_sgd(net, &o);
    }
    case ADAM: {
        nn_adam_opts o = nn_adam_defaults();
        o.lr = 0.01f * lr_scale;
        o.amsgrad = true;
        o.weight_decay = 0.02f;
        return nn_adam(net, &o);
    }
    case ADAMW: {
        nn_adamw_opts o = nn_adamw_defaults();
        o.lr = 0.01f * lr_scale;
        o.amsgrad = true;
        o.weight_decay = 0.05f;
        return nn_adamw(net, &o);
    }
    case RMSPROP: {
        nn_rmsprop_opts o = nn_rmsprop_defaults();
        o.lr = 0.01f * lr_scale;
        o.centered = true;
        o.momentum = 0.5f;
        return nn_rmsprop(net, &o);
    }
    default: {
        nn_adagrad_opts o = nn_adagrad_defaults();
        o.lr = 0.05f * lr_scale;
        o.lr_decay = 0.01f;
        o.initial_accumulator_value = 0.1f;
        return nn_adagrad(net, &o);
    }
    }
}

static void train(nn_module *net, nn_optim *opt, nn_loss *mse, int steps)
{
    static const float xs[16] = {0.5f, -1, 1.5f, 2, -0.25f, 0.75f, -2, -0.5f,
                                 1, 1, -1, 0.3f, 0.1f, -0.7f, 2.5f, 0.2f};
    static const float ys[8] = {1, -1, 0.5f, 2, 0, -0.5f, 1.5f, 0.25f};
    nn_tensor *x = nn_tensor_from(xs, NN_SHAPE(8, 2)), *y = nn_tensor_from(ys, NN_SHAPE(8, 1));
    for (int s = 0; s < steps; s++) {
        nn_optim_zero_grad(opt);
        nn_tensor *out = nn_forward(net, x);
        assert_non_null(out);
        float loss = nn_loss_forward(mse, out, y);
        assert_true(isfinite(loss));
        assert_non_null(nn_backward(net, nn_loss_backward(mse)));
        assert_int_equal(nn_optim_step(opt), NN_OK);
    }
    nn_tensor_free(x);
    nn_tensor_free(y);
}

static float *weights(nn_module *m, size_t *count)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)nn_tensor_numel(p[i].value);
    float *w = malloc(total * sizeof *w), *at = w;
    for (int i = 0; i < n; i++) {
        nn_tensor_copy_out(p[i].value, at);
        at += nn_tensor_numel(p[i].value);
    }
    *count = total;
    return w;
}

static void resume_is_bit_identical(int kind, int n_steps, int m_steps)
{
    nn_loss *mse = nn_mse_loss();

    nn_module *a = simplenet(3);
    nn_optim *oa = make_optim(kind, a, 1.0f);
    train(a, oa, mse, n_steps + m_steps);
    size_t na;
    float *want = weights(a, &na);

    nn_module *b = simplenet(3);
    nn_optim *ob = make_optim(kind, b, 1.0f);
    train(b, ob, mse, n_steps);
    assert_int_equal(nn_save(b, model_path), NN_OK);
    assert_int_equal(nn_optim_save(ob, optim_path), NN_OK);
    nn_optim_free(ob);
    nn_module_free(b);

    /* fresh objects: other initial weights, other learning rate */
    nn_module *c = simplenet(99);
    nn_optim *oc = make_optim(kind, c, 3.0f);
    assert_int_equal(nn_load(c, model_path), NN_OK);
    assert_int_equal(nn_optim_load(oc, optim_path), NN_OK);
    train(c, oc, mse, m_steps);
    size_t nc;
    float *got = weights(c, &nc);
    assert_int_equal(na, nc);
    if (memcmp(got, want, na * sizeof *want) != 0)
        fail_msg("%s: resumed after %d steps differs from %d uninterrupted steps", kind_name[kind],
                 n_steps, n_steps + m_steps);

    /* and the resumed run did move: the check can fail */
    nn_module *d = simplenet(3);
    nn_optim *od = make_optim(kind, d, 1.0f);
    train(d, od, mse, n_steps);
    size_t nd;
    float *mid = weights(d, &nd);
    assert_true(memcmp(mid, want, na * sizeof *want) != 0);

    free(mid);
    free(got);
    free(want);
    nn_optim_free(od);
    nn_module_free(d);
    nn_optim_free(oc);
    nn_module_free(c);
    nn_optim_free(oa);
    nn_module_free(a);
    nn_loss_free(mse);
}

static void test_resume_sgd(void **state)
{
    (void)state;
    resume_is_bit_identical(SGD, 3, 4);
    resume_is_bit_identical(SGD, 0, 3); /* checkpoint before the first step */
}

static void test_resume_adam(void **state)
{
    (void)state;
    resume_is_bit_identical(ADAM, 3, 4);
    resume_is_bit_identical(ADAM, 0, 3);
}

static void test_resume_adamw(void **state)
{
    (void)state;
    resume_is_bit_identical(ADAMW, 3, 4);
    resume_is_bit_identical(ADAMW, 0, 3);
}

static void test_resume_rmsprop(void **state)
{
    (void)state;
    resume_is_bit_identical(RMSPROP, 3, 4);
    resume_is_bit_identical(RMSPROP, 0, 3);
}

static void test_resume_adagrad(void **state)
{
    (void)state;
    resume_is_bit_identical(ADAGRAD, 3, 4);
    resume_is_bit_identical(ADAGRAD, 0, 3);
}

/* The file lists its type, step and hyperparameters as text. */
static void test_metadata_and_keys(void **state)
{
    (void)state;
    nn_loss *mse = nn_mse_loss();
    nn_module *net = simplenet(3);
    nn_optim *opt = make_optim(ADAM, net, 1.0f);
    train(net, opt, mse, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nn_optim_save_fp(opt, f), NN_OK);
    fclose(f);
    char *header = strndup(buf + 8, (size_t)buf[0] | (size_t)(unsigned char)buf[1] << 8);
    const char *want[] = {"\"optimizer\":\"Adam\"", "\"step\":\"2\"", "\"lr\":\"0.0099999997764825821\"",
                          "\"amsgrad\":\"1\"", "\"state.0.exp_avg\":{\"dtype\":\"F32\",\"shape\":[5,2]",
                          "\"state.3.max_exp_avg_sq\":{\"dtype\":\"F32\",\"shape\":[1]"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(header, want[i]))
            fail_msg("header lacks %s: %s", want[i], header);
    free(header);
    free(buf);
    nn_optim_free(opt);
    nn_module_free(net);
    nn_loss_free(mse);
}

/* A program that chose a comma-decimal locale (de_DE) still writes
   hyperparameters with a '.' and reads them back. */
static void test_comma_decimal_locale(void **state)
{
    (void)state;
    comma_locale_begin();
    nn_module *net = simplenet(3);
    nn_optim *opt = nn_adam(net, &(nn_adam_opts){.lr = 0.25f, .beta1 = 0.5f, .beta2 = 0.75f, .eps = 1e-8f});
    assert_non_null(opt);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nn_optim_save_fp(opt, f), NN_OK);
    fclose(f);
    assert_non_null(memmem(buf, len, "\"lr\":\"0.25\"", 11));
    assert_non_null(memmem(buf, len, "\"betas.1\":\"0.75\"", 16));
    nn_optim_free(opt);
    opt = nn_adam(net, NULL);
    f = fmemopen(buf, len, "rb");
    assert_int_equal(nn_optim_load_fp(opt, f), NN_OK);
    fclose(f);
    assert_true(nn_optim_get_lr(opt) == 0.25f);

    comma_locale_end();
    free(buf);
    nn_optim_free(opt);
    nn_module_free(net);
}

/* A snapshot of everything loading may change: state, step, options. */
typedef struct {
    float *state;
    size_t n;
    int64_t step;
    double h[16];
} optim_snapshot;

#include "optim/optim_impl.h"

static optim_snapshot take(nn_optim *o)
{
    optim_snapshot s = {0};
    s.n = (size_t)o->n_keys * (size_t)o->total;
    s.state = malloc(s.n * sizeof(float));
    memcpy(s.state, o->state, s.n * sizeof(float));
    s.step = nn_optim_get_step(o);
    for (int i = 0; i < nn_optim_hparam_count(o); i++) {
        const char *name;
        nn_optim_hparam_at(o, i, &name, &s.h[i]);
    }
    return s;
}

static void assert_same(nn_optim *o, optim_snapshot *s)
{
    optim_snapshot now = take(o);
    assert_int_equal(now.n, s->n);
    assert_memory_equal(now.state, s->state, s->n * sizeof(float));
    assert_int_equal(now.step, s->step);
    assert_memory_equal(now.h, s->h, sizeof s->h);
    free(now.state);
}

static int load_text(nn_optim *o, const char *from, const char *to, const char *blob, size_t len)
{
    /* replace one metadata value in a saved image, keeping lengths equal */
    char *copy = malloc(len);
    memcpy(copy, blob, len);
    char *at = memmem(copy, len, from, strlen(from));
    assert_non_null(at);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    FILE *f = fmemopen(copy, len, "rb");
    int rc = nn_optim_load_fp(o, f);
    fclose(f);
    free(copy);
    return rc;
}

/* An AdamW checkpoint names its type and keys as torch's state_dict does,
   and is refused by an Adam optimizer (same keys, other rule) and the
   other way round, changing nothing. */
static void test_adamw_metadata_and_type(void **state)
{
    (void)state;
    nn_loss *mse = nn_mse_loss();
    nn_module *net = simplenet(3);
    nn_optim *opt = make_optim(ADAMW, net, 1.0f);
    train(net, opt, mse, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nn_optim_save_fp(opt, f), NN_OK);
    fclose(f);
    char *header = strndup(buf + 8, (size_t)buf[0] | (size_t)(unsigned char)buf[1] << 8);
    const char *want[] = {"\"optimizer\":\"AdamW\"", "\"step\":\"2\"", "\"weight_decay\":\"0.05",
                          "\"amsgrad\":\"1\"", "\"state.0.exp_avg\":{\"dtype\":\"F32\",\"shape\":[5,2]",
                          "\"state.0.exp_avg_sq\"", "\"state.3.max_exp_avg_sq\":{\"dtype\":\"F32\",\"shape\":[1]"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(header, want[i]))
            fail_msg("header lacks %s: %s", want[i], header);
    free(header);

    nn_optim *adam = make_optim(ADAM, net, 1.0f);
    f = fmemopen(buf, len, "rb");
    assert_true(nn_optim_load_fp(adam, f) < 0);
    fclose(f);
    assert_error_mentions("the file holds AdamW state, the optimizer is Adam");
    assert_int_equal(nn_optim_get_step(adam), 0);
    train(net, adam, mse, 1);
    char *abuf = NULL;
    size_t alen = 0;
    f = open_memstream(&abuf, &alen);
    assert_int_equal(nn_optim_save_fp(adam, f), NN_OK);
    fclose(f);
    nn_optim *fresh = make_optim(ADAMW, net, 2.0f);
    f = fmemopen(abuf, alen, "rb");
    assert_true(nn_optim_load_fp(fresh, f) < 0);
    fclose(f);
    assert_error_mentions("the file holds Adam state, the optimizer is AdamW");
    assert_int_equal(nn_optim_get_step(fresh), 0);
    assert_true(nn_optim_get_lr(fresh) == 0.02f);
    f = fmemopen(buf, len, "rb");
    assert_int_equal(nn_optim_load_fp(fresh, f), NN_OK);
    fclose(f);
    assert_int_equal(nn_optim_get_step(fresh), 2);
    assert_true(nn_optim_get_lr(fresh) == 0.01f);
    free(abuf);
    free(buf);
    nn_optim_free(fresh);
    nn_optim_free(adam);
    nn_optim_free(opt);
    nn_module_free(net);
    nn_loss_free(mse);
}

static void test_refused_checkpoints_change_nothing(void **state)
{
    (void)state;
    nn_loss *mse = nn_mse_loss();
    nn_module *net = simplenet(3);
    nn_optim *adam = make_optim(ADAM, net, 1.0f);
    train(net, adam, mse, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nn_optim_save_fp(adam, f), NN_OK);
    fclose(f);

    nn_optim *fresh = make_optim(ADAM, net, 2.0f);
    optim_snapshot s = take(fresh);
    assert_int_equal(load_text(fresh, "\"step\":\"2\"", "\"step\":\"x\"", buf, len), NN_EFORMAT);
    assert_error_mentions("nn_optim_load_fp", "step \"x\"");
    assert_same(fresh, &s);
    assert_int_equal(load_text(fresh, "\"optimizer\":\"Adam\"", "\"optimizer\":\"Adas\"", buf, len),
                     NN_EINVAL);
    assert_error_mentions("the file holds Adas state, the optimizer is Adam");
    assert_same(fresh, &s);
    assert_int_equal(load_text(fresh, "\"eps\":\"", "\"eqs\":\"", buf, len), NN_EFORMAT);
    assert_error_mentions("metadata lacks \"eps\"");
    assert_same(fresh, &s);
    /* a valid number the optimizer refuses: lr must be >= 0 */
    assert_int_equal(load_text(fresh, "\"lr\":\"0.", "\"lr\":\"-.", buf, len), NN_EINVAL);
    assert_error_mentions("nn_optim_load_fp", "lr");
    assert_same(fresh, &s);
    assert_int_equal(load_text(fresh, "\"lr\":\"0.", "\"lr\":\"0x", buf, len), NN_EFORMAT);
    assert_error_mentions("is not a number");
    assert_same(fresh, &s);
    /* the last hyperparameter refused after the others were set: rolled back */
    assert_int_equal(load_text(fresh, "\"amsgrad\":\"1\"", "\"amsgrad\":\"0\"", buf, len), NN_EINVAL);
    assert_same(fresh, &s);

    /* an SGD optimizer has other buffers */
    nn_optim *sgd = make_optim(SGD, net, 1.0f);
    optim_snapshot ss = take(sgd);
    f = fmemopen(buf, len, "rb");
    assert_true(nn_optim_load_fp(sgd, f) < 0);
    fclose(f);
    assert_error_mentions("unexpected key 'state.0.exp_avg'");
    assert_same(sgd, &ss);

    /* truncated anywhere */
    for (size_t k = 1; k < len; k++) {
        f = fmemopen(buf, k, "rb");
        assert_true(nn_optim_load_fp(fresh, f) < 0);
        fclose(f);
    }
    assert_same(fresh, &s);
    f = fmemopen(buf, len, "rb");
    if (nn_optim_load_fp(fresh, f) != NN_OK)
        fail_msg("%s", nn_last_error());
    fclose(f);
    assert_int_equal(nn_optim_get_step(fresh), 2);

    assert_int_equal(nn_optim_save(NULL, optim_path), NN_EINVAL);
    assert_int_equal(nn_optim_load(NULL, optim_path), NN_EINVAL);
    assert_int_equal(nn_optim_save_fp(adam, NULL), NN_EINVAL);
    assert_int_equal(nn_optim_load_fp(adam, NULL), NN_EINVAL);
    free(ss.state);
    free(s.state);
    free(buf);
    nn_optim_free(sgd);
    nn_optim_free(fresh);
    nn_optim_free(adam);
    nn_module_free(net);
    nn_loss_free(mse);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_sgd),
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_resume_adamw),
        cmocka_unit_test(test_adamw_metadata_and_type),
        cmocka_unit_test(test_resume_rmsprop),
        cmocka_unit_test(test_resume_adagrad),
        cmocka_unit_test(test_metadata_and_keys),
        cmocka_unit_test(test_comma_decimal_locale),
        cmocka_unit_test(test_refused_checkpoints_change_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
