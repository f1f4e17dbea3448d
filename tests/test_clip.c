/* Gradient clipping against torch.nn.utils.clip_grad_norm_ and
   clip_grad_value_ (PyTorch 1.13, tests/gen_clip.py): norm types 2, 1, 3,
   0.5, 1.7 and inf, clipping active or not, max_norm 0, NaN and infinite
   gradients, one parameter and many, 46k gradients; the total norm and
   the clipped gradients bit for bit. Also error_if_nonfinite, strided
   gradients, bad arguments, and a module without parameters. */
#include "testutil.h"
#include "tensor/tensor_impl.h"
#include "fixtures/clip.h"

static nn_module *make_module(clip_layout layout)
{
    nn_module *m = NULL;
    switch (layout) {
    case CLIP_MLP:
        m = nn_sequential();
        assert_int_equal(nn_sequential_add(m, NULL, nn_linear(13, 7, true)), NN_OK);
        assert_int_equal(nn_sequential_add(m, NULL, nn_relu()), NN_OK);
        assert_int_equal(nn_sequential_add(m, NULL, nn_linear(7, 3, true)), NN_OK);
        break;
    case CLIP_BIG:
        m = nn_sequential();
        assert_int_equal(nn_sequential_add(m, NULL, nn_linear(300, 150, true)), NN_OK);
        assert_int_equal(nn_sequential_add(m, NULL, nn_linear(150, 5, false)), NN_OK);
        break;
    default:
        m = nn_linear(5, 4, false);
    }
    assert_non_null(m);
    return m;
}

static float big_grad(int64_t i, float scale)
{
    uint32_t u = (uint32_t)((uint64_t)i * 2654435761u);
    return (float)((double)u / 4294967296.0 - 0.5) * scale;
}

/* Sets the gradients to the case's "before" values, in parameter order. */
static void set_grads(nn_module *m, const clip_case *c)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = nn_tensor_numel(p[i].grad);
        for (int64_t j = 0; j < len; j++, k++)
            p[i].grad->data[j] = c->before ? c->before[k] : big_grad(k, c->scale);
    }
    assert_int_equal(k, c->n);
}

static bool same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void check_grads(nn_module *m, const clip_case *c)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    int64_t k = 0, s = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = nn_tensor_numel(p[i].grad);
        for (int64_t j = 0; j < len; j++, k++) {
            if (!c->before && k % CLIP_BIG_SAMPLE != 0)
                continue;
            float want = c->after[c->before ? k : s++];
            if (!same_float(p[i].grad->data[j], want))
                fail_msg("%s: gradient %lld (%s[%lld]): got %.9g, torch %.9g", c->name, (long long)k, p[i].name,
                         (long long)j, (double)p[i].grad->data[j], (double)want);
        }
    }
}

static void test_cases_match_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof clip_cases / sizeof *clip_cases; i++) {
        const clip_case *c = &clip_cases[i];
        nn_module *m = make_module(c->layout);
        set_grads(m, c);
        if (c->value) {
            assert_int_equal(nn_clip_grad_value(m, c->arg), NN_OK);
        } else {
            float total = nn_clip_grad_norm(m, c->max_norm, c->arg);
            if (!same_float(total, c->total))
                fail_msg("%s: total norm %.9g, torch %.9g", c->name, (double)total, (double)c->total);
        }
        check_grads(m, c);
        nn_module_free(m);
    }
}

static const clip_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof clip_cases / sizeof *clip_cases; i++)
        if (strcmp(clip_cases[i].name, name) == 0)
            return &clip_cases[i];
    fail_msg("no case %s", name);
    return NULL;
}

/* error_if_nonfinite: a NaN or infinite total is refused and the
   gradients stay; a finite one clips as without it. */
static void test_error_if_nonfinite(void **state)
{
    (void)state;
    const char *names[] = {"mlp_nan", "mlp_inf_grad", "mlp_inf_grad_infnorm"};
    for (int k = 0; k < 3; k++) {
        const clip_case *c = find_case(names[k]);
        nn_module *m = make_module(c->layout);
        set_grads(m, c);
        assert_true(isnan(nn_clip_grad_norm_ex(m, c->max_norm, c->arg, true)));
        assert_error_mentions("nn_clip_grad_norm", "non-finite", "error_if_nonfinite");
        nn_param *p;
        nn_module_params(m, &p);
        float first = p[0].grad->data[3];
        assert_true(same_float(first, c->before[3])); /* untouched */
        nn_module_free(m);
    }
    const clip_case *c = find_case("mlp_l3");
    nn_module *m = make_module(c->layout);
    set_grads(m, c);
    assert_true(nn_clip_grad_norm_ex(m, c->max_norm, c->arg, true) == c->total);
    check_grads(m, c);
    nn_module_free(m);
}

/* A gradient that is a strided view (as a user's own layer may hand out)
   clips as its contiguous copy. */
static void test_strided_gradient(void **state)
{
    (void)state;
    const char *names[] = {"single_l2", "single_inf", "single_l1_7"};
    for (int k = 0; k < 3; k++) {
        const clip_case *c = find_case(names[k]);
        nn_module *m = make_module(c->layout);
        nn_param *p;
        assert_int_equal(nn_module_params(m, &p), 1);
        /* the [4, 5] gradient as the transpose of a [5, 4] block */
        nn_tensor *keep = p[0].grad;
        nn_tensor *block = nn_tensor_new(NN_SHAPE(5, 4));
        for (int r = 0; r < 4; r++)
            for (int col = 0; col < 5; col++)
                block->data[col * 4 + r] = c->before[r * 5 + col];
        nn_tensor *view = nn_tensor_transpose(block, 0, 1);
        assert_false(nn_tensor_is_contiguous(view));
        p[0].grad = view;
        float total = nn_clip_grad_norm(m, c->max_norm, c->arg);
        assert_true(same_float(total, c->total));
        for (int r = 0; r < 4; r++)
            for (int col = 0; col < 5; col++)
                assert_true(same_float(block->data[col * 4 + r], c->after[r * 5 + col]));
        for (int r = 0; r < 4; r++)
            for (int col = 0; col < 5; col++)
                block->data[col * 4 + r] = c->before[r * 5 + col] * 10.0f;
        assert_int_equal(nn_clip_grad_value(m, 0.5f), NN_OK);
        for (int i = 0; i < 20; i++)
            assert_true(fabsf(block->data[i]) <= 0.5f);
        p[0].grad = keep;
        nn_tensor_free(view);
        nn_tensor_free(block);
        nn_module_free(m);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const clip_case *c = find_case("mlp_l2_clip");
    nn_module *m = make_module(c->layout);
    set_grads(m, c);
    assert_true(isnan(nn_clip_grad_norm(NULL, 1.0f, 2.0f)));
    assert_error_mentions("nn_clip_grad_norm", "module is NULL");
    assert_true(isnan(nn_clip_grad_norm(m, -1.0f, 2.0f)));
    assert_error_mentions("nn_clip_grad_norm", "max_norm >= 0", "-1");
    assert_true(isnan(nn_clip_grad_norm(m, NAN, 2.0f)));
    assert_true(isnan(nn_clip_grad_norm(m, 1.0f, 0.0f)));
    assert_error_mentions("nn_clip_grad_norm", "norm_type > 0", "got 0");
    assert_true(isnan(nn_clip_grad_norm(m, 1.0f, -2.0f)));
    assert_true(isnan(nn_clip_grad_norm(m, 1.0f, -INFINITY)));
    assert_true(isnan(nn_clip_grad_norm(m, 1.0f, NAN)));
    assert_int_equal(nn_clip_grad_value(NULL, 1.0f), NN_EINVAL);
    assert_error_mentions("nn_clip_grad_value", "module is NULL");
    assert_int_equal(nn_clip_grad_value(m, -0.5f), NN_EINVAL);
    assert_error_mentions("nn_clip_grad_value", "clip_value >= 0", "-0.5");
    assert_int_equal(nn_clip_grad_value(m, NAN), NN_EINVAL);
    /* nothing changed: the case still clips as torch */
    assert_true(nn_clip_grad_norm(m, c->max_norm, c->arg) == c->total);
    check_grads(m, c);
    nn_module_free(m);
    /* no parameters: 0, as torch's tensor(0.) */
    nn_module *r = nn_relu();
    assert_true(nn_clip_grad_norm(r, 1.0f, 2.0f) == 0.0f);
    assert_int_equal(nn_clip_grad_value(r, 1.0f), NN_OK);
    nn_module_free(r);
}

static void test_allocates_nothing(void **state)
{
    (void)state;
    const clip_case *c = find_case("big_l2");
    nn_module *m = make_module(c->layout);
    nn_param *p;
    nn_module_params(m, &p);
    set_grads(m, c);
    tu_allocs = 0;
    nn_set_allocator(tu_alloc, free);
    float total = nn_clip_grad_norm(m, c->max_norm, c->arg);
    assert_int_equal(nn_clip_grad_value(m, 0.01f), NN_OK);
    assert_false(isnan(nn_clip_grad_norm(m, 1.0f, INFINITY)));
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);
    assert_true(total == c->total);
    nn_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_match_torch),
        cmocka_unit_test(test_error_if_nonfinite),
        cmocka_unit_test(test_strided_gradient),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
