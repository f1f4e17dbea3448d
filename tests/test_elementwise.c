/* Elementwise kernels against libm in double: sigmoid and tanh over a wide
   sweep (both sides of tanh's switch at |x| = 0.55, the saturated tails,
   signed zeros, infinities, NaN), every length around the vector and
   block widths (tails), in place versus out of place, and the plain ones
   (relu, its gradient, fill, add, sum) exactly. */
#include <stdlib.h>

#include "testutil.h"
#include "kernels/elementwise.h"

typedef void (*unary_fn)(const float *, float *, int64_t);

/* |got - want| <= 4e-7 |want| + 1e-44 (a few subnormal steps) */
static void check_unary(unary_fn f, double (*ref)(double), const char *name)
{
    enum { N = 20011 };
    static float x[N], y[N], z[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i - N / 2) * 0.01); /* -100 .. 100, step 0.01 */
    x[0] = -INFINITY;
    x[1] = INFINITY;
    x[2] = -0.0f;
    x[3] = 0.55f;
    x[4] = nextafterf(0.55f, 0.0f);
    x[5] = 1e-30f;
    x[6] = -1e-30f;
    x[7] = -87.3f;
    x[8] = -95.0f; /* subnormal sigmoid */
    x[9] = -103.5f;
    x[10] = -104.5f;
    x[11] = -1000.0f;
    f(x, y, N);
    for (int i = 0; i < N; i++) {
        double want = ref((double)x[i]);
        double err = fabs((double)y[i] - want);
        if (!(err <= 4e-7 * fabs(want) + 1e-44)) {
            fprintf(stderr, "%s(%.9g) = %.9g, want %.9g\n", name, x[i], y[i], want);
            fail();
        }
    }
    /* every tail length gives the same values as the long run; in place too */
    for (int n = 0; n <= 19; n++) {
        for (int i = 0; i < 20; i++)
            z[i] = -1.0f;
        f(x + 1000, z, n);
        assert_memory_equal(z, y + 1000, (size_t)n * sizeof(float));
        assert_true(z[n] == -1.0f); /* nothing written past n */
        memcpy(z, x + 1000, (size_t)n * sizeof(float));
        f(z, z, n);
        assert_memory_equal(z, y + 1000, (size_t)n * sizeof(float));
    }
    float nan_in[5] = {NAN, 1.0f, -NAN, 2.0f, NAN}, nan_out[5];
    f(nan_in, nan_out, 5);
    assert_true(isnan(nan_out[0]) && isnan(nan_out[2]) && isnan(nan_out[4]));
    assert_false(isnan(nan_out[1]) || isnan(nan_out[3]));
}

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static void test_sigmoid_tanh_match_libm(void **state)
{
    (void)state;
    check_unary(nn_ew_sigmoid, sigmoid_ref, "sigmoid");
    check_unary(nn_ew_tanh, tanh, "tanh");
    /* saturation is exact, as in torch */
    float big[4] = {-1000.0f, 1000.0f, -INFINITY, INFINITY}, out[4];
    nn_ew_sigmoid(big, out, 4);
    assert_true(out[0] == 0.0f && out[1] == 1.0f && out[2] == 0.0f && out[3] == 1.0f);
    nn_ew_tanh(big, out, 4);
    assert_true(out[0] == -1.0f && out[1] == 1.0f && out[2] == -1.0f && out[3] == 1.0f);
    float x[3] = {0.0f, -0.0f, 1e-30f}, y[3];
    nn_ew_tanh(x, y, 3);
    assert_true(y[0] == 0.0f && !signbit(y[0]) && signbit(y[1]) && y[2] == 1e-30f);
}

static void test_gradients(void **state)
{
    (void)state;
    enum { N = 37 };
    float y[N], g[N], dx[N];
    for (int i = 0; i < N; i++) {
        y[i] = (float)(i - 18) / 19.0f;
        g[i] = (float)(i % 7) - 3.5f;
    }
    y[3] = NAN;
    nn_ew_relu_grad(y, g, dx, N);
    for (int i = 0; i < N; i++)
        assert_true(dx[i] == (y[i] > 0.0f ? g[i] : 0.0f));
    nn_ew_sigmoid_grad(y, g, dx, N);
    for (int i = 0; i < N; i++)
        if (i != 3)
            assert_true(dx[i] == g[i] * (1.0f - y[i]) * y[i]);
    nn_ew_tanh_grad(y, g, dx, N);
    for (int i = 0; i < N; i++)
        if (i != 3)
            assert_true(dx[i] == g[i] * (1.0f - y[i] * y[i]));
    /* gradient written over grad_out */
    memcpy(dx, g, sizeof g);
    nn_ew_tanh_grad(y, dx, dx, N);
    for (int i = 0; i < N; i++)
        if (i != 3)
            assert_true(dx[i] == g[i] * (1.0f - y[i] * y[i]));
}

static void test_relu_fill_add_sum(void **state)
{
    (void)state;
    enum { N = 45 };
    float x[N], y[N], acc[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 37) % 11) - 5.0f;
    x[7] = NAN;
    x[8] = -0.0f;
    nn_ew_relu(x, y, N);
    for (int i = 0; i < N; i++)
        if (i != 7)
            assert_true(y[i] == (x[i] < 0.0f ? 0.0f : x[i]));
    assert_true(isnan(y[7]));
    nn_ew_relu(x, x, N); /* in place */
    assert_memory_equal(x + 8, y + 8, (N - 8) * sizeof(float));
    nn_ew_fill(acc, N, 0.25f);
    for (int i = 0; i < N; i++)
        assert_true(acc[i] == 0.25f);
    nn_ew_add(acc, y, N - 1);
    for (int i = 0; i < N - 1; i++)
        if (i != 7)
            assert_true(acc[i] == 0.25f + y[i]);
    assert_true(acc[N - 1] == 0.25f);
    /* integers: the sum is exact whatever the order */
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 37) % 11) - 5.0f;
    for (int n = 0; n <= N; n++) {
        double want = 0.0;
        for (int i = 0; i < n; i++)
            want += x[i];
        assert_true(nn_ew_sum(x, n) == (float)want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid_tanh_match_libm),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_relu_fill_add_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
