/* Max-pooling kernels: the 2x2 stride-2 path against the generic one (and
   the generic one against a plain scan written here) bit for bit, on values
   with many ties, NaNs, infinities and signed zeros; every row width around
   the vector width, odd heights and widths; 1 and 2 threads bit-identical
   on inputs large enough to be split. (PyTorch agreement: test_imgcls.) */
#include <stdlib.h>

#include "testutil.h"
#include "kernels/pool.h"

static bool same_bits(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* few distinct values, so windows tie often */
static float value(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    switch ((*s >> 24) % 11) {
    case 0: return NAN;
    case 1: return -0.0f;
    case 2: return 0.0f;
    case 3: return INFINITY;
    case 4: return -INFINITY;
    default: return (float)((*s >> 16) % 4);
    }
}

/* The window scan as PyTorch's CPU kernel writes it: a later tap wins when
   greater or NaN. */
static void scan_2x2(const float *x, int64_t planes, int64_t H, int64_t W, float *y, int64_t *arg)
{
    int64_t OH = H / 2, OW = W / 2;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                int64_t at = 2 * i * W + 2 * j;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        int64_t k = (2 * i + a) * W + 2 * j + b;
                        float v = x[p * H * W + k], best = x[p * H * W + at];
                        if (v > best || isnan(v))
                            at = k;
                    }
                y[(p * OH + i) * OW + j] = x[p * H * W + at];
                arg[(p * OH + i) * OW + j] = at;
            }
}

typedef struct {
    float *x, *y_fast, *y_gen, *y_ref, *g, *dx_fast, *dx_gen;
    uint8_t *code;
    int64_t *arg, *arg_ref;
} bufs;

static void alloc_bufs(bufs *b, int64_t nin, int64_t nout)
{
    b->x = malloc((size_t)nin * sizeof *b->x);
    b->dx_fast = malloc((size_t)nin * sizeof *b->dx_fast);
    b->dx_gen = malloc((size_t)nin * sizeof *b->dx_gen);
    b->y_fast = malloc((size_t)nout * sizeof *b->y_fast);
    b->y_gen = malloc((size_t)nout * sizeof *b->y_gen);
    b->y_ref = malloc((size_t)nout * sizeof *b->y_ref);
    b->g = malloc((size_t)nout * sizeof *b->g);
    b->code = malloc((size_t)nout);
    b->arg = malloc((size_t)nout * sizeof *b->arg);
    b->arg_ref = malloc((size_t)nout * sizeof *b->arg_ref);
    assert_true(b->x && b->dx_fast && b->dx_gen && b->y_fast && b->y_gen && b->y_ref && b->g && b->code &&
                b->arg && b->arg_ref);
}

static void free_bufs(bufs *b)
{
    free(b->x); free(b->dx_fast); free(b->dx_gen); free(b->y_fast); free(b->y_gen);
    free(b->y_ref); free(b->g); free(b->code); free(b->arg); free(b->arg_ref);
}

/* fast == generic == scan for forward; fast == generic for backward */
static void check_2x2(int64_t planes, int64_t H, int64_t W, uint32_t seed)
{
    int64_t OH = H / 2, OW = W / 2, nin = planes * H * W, nout = planes * OH * OW;
    bufs b;
    alloc_bufs(&b, nin, nout);
    for (int64_t i = 0; i < nin; i++)
        b.x[i] = value(&seed);
    for (int64_t i = 0; i < nout; i++)
        b.g[i] = (i % 5 == 0) ? -0.0f : (float)(i % 13) - 6.0f;
    nn_pool_geom geom = {H, W, OH, OW, 2, 2, 2, 2, 0, 0, 1, 1};
    nn_maxpool2x2_forward(b.x, planes, H, W, b.y_fast, b.code);
    nn_maxpool_forward(&geom, b.x, planes, b.y_gen, b.arg);
    scan_2x2(b.x, planes, H, W, b.y_ref, b.arg_ref);
    assert_true(same_bits(b.y_fast, b.y_ref, nout));
    assert_true(same_bits(b.y_gen, b.y_ref, nout));
    for (int64_t k = 0; k < nout; k++) {
        int64_t i = k / OW % OH, j = k % OW, at = b.arg_ref[k];
        assert_int_equal(b.arg[k], at);
        assert_int_equal(b.code[k], 2 * (at / W - 2 * i) + (at % W - 2 * j));
    }
    for (int64_t i = 0; i < nin; i++)
        b.dx_fast[i] = 99.0f; /* every element must be written */
    nn_maxpool2x2_backward(b.g, b.code, planes, H, W, b.dx_fast);
    nn_maxpool_backward(&geom, b.g, b.arg, planes, b.dx_gen);
    assert_true(same_bits(b.dx_fast, b.dx_gen, nin));
    free_bufs(&b);
}

static void test_2x2_matches_generic_and_scan(void **state)
{
    (void)state;
    nn_set_num_threads(1);
    uint32_t seed = 7;
    for (int64_t H = 2; H <= 7; H++)
        for (int64_t W = 2; W <= 23; W++)
            check_2x2(3, H, W, seed++);
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    int saved = nn_get_num_threads();
    /* 2x2 on the CNN's shapes, and a generic window */
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(nn_set_num_threads(t), NN_OK);
        check_2x2(64 * 32, 28, 28, 11);
        check_2x2(200, 15, 33, 12);
    }
    int64_t planes = 300, H = 31, W = 29;
    nn_pool_geom geom = {H, W, 16, 15, 3, 3, 2, 2, 1, 1, 1, 1};
    int64_t nin = planes * H * W, nout = planes * geom.OH * geom.OW;
    float *x = malloc((size_t)nin * sizeof *x), *g = malloc((size_t)nout * sizeof *g);
    float *y[2], *dx[2];
    int64_t *arg[2];
    assert_true(x && g);
    uint32_t seed = 5;
    for (int64_t i = 0; i < nin; i++)
        x[i] = value(&seed);
    for (int64_t i = 0; i < nout; i++)
        g[i] = 0.1f * (float)(i % 17);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(nn_set_num_threads(t + 1), NN_OK);
        y[t] = malloc((size_t)nout * sizeof *y[t]);
        dx[t] = malloc((size_t)nin * sizeof *dx[t]);
        arg[t] = malloc((size_t)nout * sizeof *arg[t]);
        assert_true(y[t] && dx[t] && arg[t]);
        nn_maxpool_forward(&geom, x, planes, y[t], arg[t]);
        nn_maxpool_backward(&geom, g, arg[t], planes, dx[t]);
    }
    assert_true(same_bits(y[0], y[1], nout));
    assert_true(same_bits(dx[0], dx[1], nin));
    assert_memory_equal(arg[0], arg[1], (size_t)nout * sizeof *arg[0]);
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
        free(arg[t]);
    }
    free(x);
    free(g);
    assert_int_equal(nn_set_num_threads(saved), NN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2x2_matches_generic_and_scan),
        cmocka_unit_test(test_threads_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
