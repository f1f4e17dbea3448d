/* The fast optimizer step: Adam's vectorised update equals the scalar
   formula (written out here, operation for operation) bit for bit, with and
   without AMSGrad and weight decay, on parameters of every length around
   the vector width; every optimizer's step is bit-identical with 1 and 2
   threads on a model large enough to be split. (Agreement with PyTorch:
   test_optim.) */
#include <stdlib.h>

#include "testutil.h"
#include "param_module.h"

static void fill(float *x, int64_t n, uint32_t seed, float scale)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = scale * ((float)(seed >> 8) / 8388608.0f - 1.0f);
    }
}

/* torch.optim.Adam's single-tensor step, in float as adam.c writes it */
static void adam_reference(const nn_adam_opts *o, int64_t step, float *p, const float *g, float *m, float *v,
                           float *v_max, int64_t n)
{
    double correction1 = 1.0 - pow(o->beta1, (double)step), correction2 = 1.0 - pow(o->beta2, (double)step);
    float step_size = (float)(o->lr / correction1), root = (float)sqrt(correction2);
    for (int64_t j = 0; j < n; j++) {
        float d = g[j] + o->weight_decay * p[j];
        m[j] = o->beta1 * m[j] + (1.0f - o->beta1) * d;
        v[j] = o->beta2 * v[j] + (1.0f - o->beta2) * d * d;
        float second = v[j];
        if (v_max) {
            v_max[j] = v_max[j] > v[j] ? v_max[j] : v[j];
            second = v_max[j];
        }
        p[j] -= step_size * m[j] / (sqrtf(second) / root + o->eps);
    }
}

static void test_adam_matches_scalar_formula(void **state)
{
    (void)state;
    static const pm_spec specs[] = {{"a", 1, {1}},  {"b", 1, {3}},  {"c", 1, {4}},
                                    {"d", 1, {5}},  {"e", 2, {3, 3}}, {"f", 1, {1003}}};
    const int np = (int)(sizeof specs / sizeof *specs);
    for (int variant = 0; variant < 3; variant++) {
        nn_module *m = pm_new(np, specs);
        assert_non_null(m);
        nn_adam_opts o = nn_adam_defaults();
        o.lr = 0.01f;
        o.amsgrad = variant >= 1;
        o.weight_decay = variant == 2 ? 0.1f : 0.0f;
        nn_optim *opt = nn_adam(m, &o);
        assert_non_null(opt);
        nn_param *p;
        assert_int_equal(nn_module_params(m, &p), np);
        float *ref[6][4]; /* per parameter: value, m, v, v_max */
        for (int i = 0; i < np; i++) {
            int64_t n = nn_tensor_numel(p[i].value);
            fill(p[i].value->data, n, 10u + (uint32_t)i, 1.0f);
            for (int k = 0; k < 4; k++)
                ref[i][k] = calloc((size_t)n, sizeof(float));
            memcpy(ref[i][0], p[i].value->data, (size_t)n * sizeof(float));
        }
        for (int64_t step = 1; step <= 4; step++) {
            for (int i = 0; i < np; i++) {
                int64_t n = nn_tensor_numel(p[i].grad);
                fill(p[i].grad->data, n, (uint32_t)(100 * step + i), 0.5f);
                if (n > 2)
                    p[i].grad->data[2] = 0.0f; /* a zero moment update */
                adam_reference(&o, step, ref[i][0], p[i].grad->data, ref[i][1], ref[i][2],
                               o.amsgrad ? ref[i][3] : NULL, n);
            }
            assert_int_equal(nn_optim_step(opt), NN_OK);
            for (int i = 0; i < np; i++)
                assert_memory_equal(p[i].value->data, ref[i][0], (size_t)nn_tensor_numel(p[i].value) * sizeof(float));
        }
        for (int i = 0; i < np; i++)
            for (int k = 0; k < 4; k++)
                free(ref[i][k]);
        nn_optim_free(opt);
        nn_module_free(m);
    }
}

/* Values after three steps of a freshly made optimizer over a large model. */
static float *three_steps(int which, int threads, int64_t *n)
{
    static const pm_spec specs[] = {{"w", 2, {300, 1001}}, {"b", 1, {300}}};
    assert_int_equal(nn_set_num_threads(threads), NN_OK);
    nn_module *m = pm_new(2, specs);
    assert_non_null(m);
    nn_param *p;
    nn_module_params(m, &p);
    for (int i = 0; i < 2; i++)
        fill(p[i].value->data, nn_tensor_numel(p[i].value), 7u + (uint32_t)i, 1.0f);
    nn_optim *opt = NULL;
    if (which == 0) {
        nn_adam_opts o = nn_adam_defaults();
        o.amsgrad = true;
        opt = nn_adam(m, &o);
    } else if (which == 1) {
        nn_sgd_opts o = nn_sgd_defaults(0.1f);
        o.momentum = 0.9f;
        o.nesterov = true;
        opt = nn_sgd(m, &o);
    } else if (which == 2) {
        nn_rmsprop_opts o = nn_rmsprop_defaults();
        o.centered = true;
        o.momentum = 0.5f;
        opt = nn_rmsprop(m, &o);
    } else {
        opt = nn_adagrad(m, NULL);
    }
    assert_non_null(opt);
    nn_module_params(m, &p); /* the optimizer packed them */
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 2; i++)
            fill(p[i].grad->data, nn_tensor_numel(p[i].grad), 50u + (uint32_t)(s * 2 + i), 0.3f);
        assert_int_equal(nn_optim_step(opt), NN_OK);
    }
    *n = nn_tensor_numel(p[0].value) + nn_tensor_numel(p[1].value);
    float *out = malloc((size_t)*n * sizeof *out);
    assert_non_null(out);
    memcpy(out, p[0].value->data, (size_t)nn_tensor_numel(p[0].value) * sizeof *out);
    memcpy(out + nn_tensor_numel(p[0].value), p[1].value->data, (size_t)nn_tensor_numel(p[1].value) * sizeof *out);
    nn_optim_free(opt);
    nn_module_free(m);
    return out;
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    int saved = nn_get_num_threads();
    for (int which = 0; which < 4; which++) {
        int64_t n1, n2;
        float *one = three_steps(which, 1, &n1), *two = three_steps(which, 2, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(one, two, (size_t)n1 * sizeof *one);
        free(one);
        free(two);
    }
    assert_int_equal(nn_set_num_threads(saved), NN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_matches_scalar_formula),
        cmocka_unit_test(test_threads_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
