/* Seeding like PyTorch: after nn_manual_seed(s) the generator's stream and
   the initial weights of Linear and Conv2d are bit-identical to torch's
   after torch.manual_seed(s) (tests/gen_seed.py -> tests/fixtures/seed.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn.h"
#include "fixtures/seed.h"

#define N_CASES (sizeof seed_cases / sizeof *seed_cases)

/* Element counts of the fixture's eight tensors and the fan_in of each layer. */
static const int64_t counts[8] = {10, 5, 5, 1, 20, 20, 20 * 20 * 25, 20};
static const int fan_in[4] = {2, 5, 1, 20 * 25};

static uint32_t float_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static void assert_bits_equal(const float *got, const uint32_t *want, int64_t n, uint64_t seed,
                              int which)
{
    for (int64_t i = 0; i < n; i++) {
        if (float_bits(got[i]) != want[i]) {
            float w;
            memcpy(&w, &want[i], sizeof w);
            fprintf(stderr, "seed %llu tensor %d [%lld]: got %.9g (0x%08x), torch %.9g (0x%08x)\n",
                    (unsigned long long)seed, which, (long long)i, got[i], float_bits(got[i]), w,
                    want[i]);
            fail();
        }
    }
}

/* Runs first, before anything seeds: the generator starts from torch's
   default_rng_seed_val, so it draws what torch draws after
   torch.manual_seed(67280421310721). */
static void test_default_seed_before_any_seed(void **state)
{
    (void)state;
    assert_true(nn_initial_seed() == SEED_DEFAULT);
    const seed_case *def = NULL;
    for (size_t c = 0; c < N_CASES; c++)
        if (seed_cases[c].seed == SEED_DEFAULT)
            def = &seed_cases[c];
    assert_non_null(def);
    for (int i = 0; i < SEED_RAW_COUNT; i++)
        assert_int_equal(nn_random_u32() % 0xffffffffu, def->raw[i]);
}

static void test_raw_stream(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        nn_manual_seed(seed_cases[c].seed);
        assert_true(nn_initial_seed() == seed_cases[c].seed);
        for (int i = 0; i < SEED_RAW_COUNT; i++) {
            uint32_t r = nn_random_u32() % 0xffffffffu;
            if (r != seed_cases[c].raw[i]) {
                fprintf(stderr, "seed %llu draw %d: got %u, torch %u\n",
                        (unsigned long long)seed_cases[c].seed, i, r, seed_cases[c].raw[i]);
                fail();
            }
        }
    }
}

/* Only the low 32 bits of the seed count: 2**40 + 5 is 5. */
static void test_seed_truncated_to_32_bits(void **state)
{
    (void)state;
    uint32_t a[10], b[10];
    nn_manual_seed(5);
    for (int i = 0; i < 10; i++)
        a[i] = nn_random_u32();
    nn_manual_seed((UINT64_C(1) << 40) + 5);
    for (int i = 0; i < 10; i++)
        b[i] = nn_random_u32();
    assert_memory_equal(a, b, sizeof a);
    assert_true(nn_initial_seed() == (UINT64_C(1) << 40) + 5);
}

/* torch.nn's init drawn through nn_random_uniform: kaiming_uniform_(a=√5)
   for the weight (bound = √3 · gain / √fan_in, gain = √(2 / (1 + a²))), then
   U(±1/√fan_in) for the bias, in construction order. */
static void test_uniform_init_formula(void **state)
{
    (void)state;
    static float buf[20 * 20 * 25];
    for (size_t c = 0; c < N_CASES; c++) {
        nn_manual_seed(seed_cases[c].seed);
        for (int layer = 0; layer < 4; layer++) {
            double a = sqrt(5.0);
            double gain = sqrt(2.0 / (1.0 + a * a));
            double wbound = sqrt(3.0) * (gain / sqrt((double)fan_in[layer]));
            double bbound = 1.0 / sqrt((double)fan_in[layer]);
            for (int part = 0; part < 2; part++) {
                int k = 2 * layer + part;
                double bound = part == 0 ? wbound : bbound;
                for (int64_t i = 0; i < counts[k]; i++)
                    buf[i] = nn_random_uniform(-bound, bound);
                assert_bits_equal(buf, seed_cases[c].weights[k], counts[k], seed_cases[c].seed, k);
            }
        }
    }
}

static void assert_param_bits(nn_module *m, const uint32_t *w, const uint32_t *b, uint64_t seed, int k)
{
    nn_param *p;
    assert_int_equal(nn_module_params(m, &p), 2);
    assert_string_equal(p[0].name, "weight");
    assert_string_equal(p[1].name, "bias");
    assert_true(nn_tensor_is_contiguous(p[0].value));
    assert_bits_equal(p[0].value->data, w, nn_tensor_numel(p[0].value), seed, k);
    assert_bits_equal(p[1].value->data, b, nn_tensor_numel(p[1].value), seed, k + 1);
}

/* The real constructors, in the fixture's order: Linear(2,5), Linear(5,1),
   Conv2d(1,20,1), Conv2d(20,20,5) right after the seed. */
/* get/set state: a restored generator repeats exactly what followed the
   save, also mid-block (next != 624) and across a twist; bad bytes are
   refused and leave the generator as it was. */
static void test_state_round_trip(void **state)
{
    (void)state;
    static uint8_t saved[NN_RANDOM_STATE_BYTES], bad[NN_RANDOM_STATE_BYTES];
    static uint32_t first[1000];
    nn_manual_seed(42);
    for (int i = 0; i < 100; i++)
        nn_random_u32();
    nn_random_get_state(saved);
    for (int i = 0; i < 1000; i++)
        first[i] = nn_random_u32();
    nn_manual_seed(7); /* a different stream in between */
    assert_int_equal(nn_random_set_state(saved), NN_OK);
    assert_int_equal(nn_initial_seed(), 42);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(nn_random_u32(), first[i]);

    nn_random_get_state(saved);
    uint32_t expect = nn_random_u32();
    memcpy(bad, saved, sizeof bad);
    bad[0] ^= 1; /* magic */
    assert_int_equal(nn_random_set_state(bad), NN_EINVAL);
    assert_non_null(strstr(nn_last_error(), "nn_random_set_state"));
    memcpy(bad, saved, sizeof bad);
    bad[16] = 0x71, bad[17] = 0x02; /* position 625 */
    assert_int_equal(nn_random_set_state(bad), NN_EINVAL);
    memcpy(bad, saved, sizeof bad);
    bad[NN_RANDOM_STATE_BYTES - 1] = 1;
    assert_int_equal(nn_random_set_state(bad), NN_EINVAL);
    assert_int_equal(nn_random_set_state(NULL), NN_EINVAL);
    assert_int_equal(nn_random_set_state(saved), NN_OK);
    assert_int_equal(nn_random_u32(), expect);
}

static void test_constructors_match_torch(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        const seed_case *sc = &seed_cases[c];
        nn_manual_seed(sc->seed);
        nn_module *fc1 = nn_linear(2, 5, true);
        nn_module *fc2 = nn_linear(5, 1, true);
        nn_module *conv1 = nn_conv2d(1, 20, 1, 1, 0);
        nn_module *conv2 = nn_conv2d(20, 20, 5, 1, 0);
        assert_non_null(fc1);
        assert_non_null(fc2);
        assert_non_null(conv1);
        assert_non_null(conv2);
        assert_param_bits(fc1, sc->weights[0], sc->weights[1], sc->seed, 0);
        assert_param_bits(fc2, sc->weights[2], sc->weights[3], sc->seed, 2);
        assert_param_bits(conv1, sc->weights[4], sc->weights[5], sc->seed, 4);
        assert_param_bits(conv2, sc->weights[6], sc->weights[7], sc->seed, 6);
        nn_module_free(fc1);
        nn_module_free(fc2);
        nn_module_free(conv1);
        nn_module_free(conv2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_seed_before_any_seed), /* must stay first */
        cmocka_unit_test(test_raw_stream),
        cmocka_unit_test(test_seed_truncated_to_32_bits),
        cmocka_unit_test(test_uniform_init_formula),
        cmocka_unit_test(test_constructors_match_torch),
        cmocka_unit_test(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
