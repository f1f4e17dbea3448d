/* Vectorised elementwise kernels: ReLU (forward with its sign mask,
   backward) against its scalar definition bit for bit; sigmoid and tanh
   against libm in double over a wide sweep (both sides of tanh's switch
   at |x| = 0.55, the saturated tails, subnormal results, signed zeros,
   infinities, NaN); lengths around the vector and block widths; out of
   place and in place; fill, add and sum exactly. */
#include <stdlib.h>

#include "testutil.h"
#include "kernels/elementwise.h"
#include "kernels/kernels.h"

#define MAXN 1031

static float value(int i)
{
    switch (i % 7) {
    case 0: return NAN;
    case 1: return -0.0f;
    case 2: return 0.0f;
    case 3: return -1.5f * (float)i;
    case 4: return 0.25f * (float)i;
    case 5: return -INFINITY;
    default: return 1e-30f;
    }
}

static bool same(float a, float b) /* bit for bit */
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_relu_backward(void **state)
{
    (void)state;
    static float y[MAXN], g[MAXN], dx[MAXN], gi[MAXN];
    for (int n = 0; n < MAXN; n += n < 40 ? 1 : 331) {
        for (int i = 0; i < n; i++) {
            y[i] = value(i + n);
            g[i] = gi[i] = (float)i - 7.5f;
        }
        dx[n] = 42.0f;
        nn_relu_backward_kernel(y, g, dx, n);
        nn_relu_backward_kernel(y, gi, gi, n);
        assert_true(dx[n] == 42.0f);
        for (int i = 0; i < n; i++) {
            float want = y[i] > 0.0f ? g[i] : 0.0f;
            assert_true(same(dx[i], want));
            assert_true(same(gi[i], want));
        }
    }
}

/* The kept-signs pair, in place and not: y against ReLU's scalar
   definition and dx against the plain backward kernel, bit for bit; the
   mask bits against y > 0 (unused bits of the last byte clear). */
static void test_relu_mask(void **state)
{
    (void)state;
    static float x[MAXN], y[MAXN], z[MAXN], g[MAXN], dx[MAXN], gi[MAXN], want[MAXN];
    static uint8_t mask[MAXN / 8 + 2], mask_z[MAXN / 8 + 2];
    for (int n = 0; n < MAXN; n += n < 40 ? 1 : 331) {
        for (int i = 0; i < n; i++) {
            x[i] = z[i] = value(i * 5 + n);
            g[i] = gi[i] = (float)i - 7.5f;
        }
        int bytes = (n + 7) / 8;
        y[n] = 42.0f;
        mask[bytes] = 0xA5;
        nn_relu_mask_kernel(x, y, mask, n);
        nn_relu_mask_kernel(z, z, mask_z, n);
        assert_true(y[n] == 42.0f && mask[bytes] == 0xA5); /* nothing past n written */
        for (int i = 0; i < bytes * 8; i++) {
            bool bit = mask[i / 8] >> (i % 8) & 1;
            assert_true(bit == (i < n && x[i] > 0.0f));
        }
        assert_memory_equal(mask, mask_z, (size_t)bytes);
        for (int i = 0; i < n; i++) {
            float r = x[i] < 0.0f ? 0.0f : x[i];
            assert_true(same(y[i], r));
            assert_true(same(z[i], r));
        }
        nn_relu_backward_kernel(y, g, want, n);
        dx[n] = 42.0f;
        nn_relu_backward_mask_kernel(mask, g, dx, n);
        nn_relu_backward_mask_kernel(mask, gi, gi, n);
        assert_true(dx[n] == 42.0f);
        for (int i = 0; i < n; i++) {
            assert_true(same(dx[i], want[i]));
            assert_true(same(gi[i], want[i]));
        }
    }
}

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

static void test_fill_add_sum(void **state)
{
    (void)state;
    enum { N = 45 };
    float x[N], y[N], acc[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)((i * 37) % 11) - 5.0f; /* integers: every sum is exact */
        y[i] = (float)i * 0.5f;
    }
    nn_ew_fill(acc, N, 0.25f);
    for (int i = 0; i < N; i++)
        assert_true(acc[i] == 0.25f);
    nn_ew_add(acc, y, N - 1);
    for (int i = 0; i < N - 1; i++)
        assert_true(acc[i] == 0.25f + y[i]);
    assert_true(acc[N - 1] == 0.25f);
    for (int n = 0; n <= N; n++) {
        double want = 0.0;
        for (int i = 0; i < n; i++)
            want += x[i];
        assert_true(nn_ew_sum(x, n) == (float)want);
    }
}

/* Split over threads (arrays past the parallel threshold), the bits are
   those of one call over the whole array. */
static void test_threads_same_bits(void **state)
{
    (void)state;
    enum { N = 300007 };
    float *x = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float));
    float *want = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float));
    assert_true(x && g && want && got);
    for (int i = 0; i < N; i++) {
        x[i] = (float)((int)((int64_t)i * 7919 % 2001) - 1000) * 0.01f;
        g[i] = (float)(i % 13) - 6.0f;
    }
    int saved = nn_get_num_threads();
    nn_ew_unary_fn unary[] = {nn_ew_sigmoid, nn_ew_tanh};
    nn_ew_binary_fn binary[] = {nn_relu_backward_kernel, nn_ew_sigmoid_grad, nn_ew_tanh_grad};
    for (int t = 1; t <= 3; t++) {
        assert_int_equal(nn_set_num_threads(t), NN_OK);
        for (int k = 0; k < 2; k++) {
            unary[k](x, want, N);
            nn_ew_run_unary(unary[k], x, got, N);
            assert_memory_equal(got, want, N * sizeof(float));
        }
        for (int k = 0; k < 3; k++) {
            binary[k](x, g, want, N);
            nn_ew_run_binary(binary[k], x, g, got, N);
            assert_memory_equal(got, want, N * sizeof(float));
        }
    }
    assert_int_equal(nn_set_num_threads(saved), NN_OK);
    free(x);
    free(g);
    free(want);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_backward),
        cmocka_unit_test(test_relu_mask),
        cmocka_unit_test(test_sigmoid_tanh_match_libm),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_fill_add_sum),
        cmocka_unit_test(test_threads_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
