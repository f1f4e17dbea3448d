/* Vectorised elementwise kernels against their scalar definitions, over
   lengths around the vector width, with NaN, -0 and +0, out of place and in
   place. */
#include "testutil.h"
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

static void test_relu_forward(void **state)
{
    (void)state;
    static float x[MAXN], y[MAXN], z[MAXN];
    for (int n = 0; n < MAXN; n += n < 40 ? 1 : 331) {
        for (int i = 0; i < n; i++)
            x[i] = z[i] = value(i * 3 + n);
        y[n] = 42.0f;
        nn_relu_kernel(x, y, n);
        nn_relu_kernel(z, z, n);
        assert_true(y[n] == 42.0f); /* nothing past n written */
        for (int i = 0; i < n; i++) {
            float want = x[i] < 0.0f ? 0.0f : x[i];
            assert_true(same(y[i], want));
            assert_true(same(z[i], want));
        }
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_forward),
        cmocka_unit_test(test_relu_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
