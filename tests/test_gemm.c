/* GEMM: every instruction-set variant this CPU runs, every transpose case,
   edge sizes around the register and cache tiles, alpha/beta, padded
   leading dimensions, thread counts (bit-identical results), workspace
   allocation (steady state, failure) and nn_set_num_threads input. The
   yardstick is nn_gemm_ref, which accumulates in double. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"
#include "tensor/tensor_impl.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"
#include "support/gemm_ref.h"

static uint32_t rng_state = 12345u;
static float rnd(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

typedef struct {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C, *want, *mag, *absA, *absB;
} problem;

/* Stored sizes: A [M,K] or [K,M], B [K,N] or [N,K]; padding holds NaN so a
   read outside the matrix shows up, C's padding a sentinel that must stay. */
static problem make(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t pad, float alpha,
                    float beta)
{
    problem p = {ta, tb, M, N, K, 0, 0, 0, alpha, beta, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    int64_t arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
    p.lda = acols + pad;
    p.ldb = bcols + pad;
    p.ldc = N + pad;
    size_t na = (size_t)(arows * p.lda) + 1, nb = (size_t)(brows * p.ldb) + 1;
    size_t nc = (size_t)(M * p.ldc) + 1;
    p.A = malloc(na * sizeof(float));
    p.absA = malloc(na * sizeof(float));
    p.B = malloc(nb * sizeof(float));
    p.absB = malloc(nb * sizeof(float));
    p.C = malloc(nc * sizeof(float));
    p.want = malloc(nc * sizeof(float));
    p.mag = malloc(nc * sizeof(float));
    assert_true(p.A && p.B && p.C && p.want && p.mag && p.absA && p.absB);
    for (size_t i = 0; i < na; i++)
        p.A[i] = NAN;
    for (size_t i = 0; i < nb; i++)
        p.B[i] = NAN;
    for (int64_t r = 0; r < arows; r++)
        for (int64_t c = 0; c < acols; c++)
            p.A[r * p.lda + c] = rnd();
    for (int64_t r = 0; r < brows; r++)
        for (int64_t c = 0; c < bcols; c++)
            p.B[r * p.ldb + c] = rnd();
    for (size_t i = 0; i < na; i++)
        p.absA[i] = fabsf(p.A[i]);
    for (size_t i = 0; i < nb; i++)
        p.absB[i] = fabsf(p.B[i]);
    for (size_t i = 0; i < nc; i++)
        p.C[i] = 777.0f;
    for (int64_t r = 0; r < M; r++)
        for (int64_t c = 0; c < N; c++)
            p.C[r * p.ldc + c] = beta == 0.0f ? NAN : rnd(); /* beta 0: C is not read */
    memcpy(p.want, p.C, nc * sizeof(float));
    nn_gemm_ref(ta, tb, M, N, K, alpha, p.A, p.lda, p.B, p.ldb, beta, p.want, p.ldc);
    /* magnitude |alpha| |A||B| + |beta C| bounds the rounding error */
    for (size_t i = 0; i < nc; i++)
        p.mag[i] = fabsf(p.C[i]);
    nn_gemm_ref(ta, tb, M, N, K, fabsf(alpha), p.absA, p.lda, p.absB, p.ldb, fabsf(beta), p.mag,
                p.ldc);
    return p;
}

static void drop(problem *p)
{
    free(p->A); free(p->B); free(p->C); free(p->want); free(p->mag); free(p->absA); free(p->absB);
}

/* Every element within (K + 4) float epsilons of its magnitude; C's
   padding untouched. */
static void check(const problem *p, const char *what)
{
    for (int64_t r = 0; r < p->M; r++)
        for (int64_t c = 0; c < p->ldc; c++) {
            int64_t i = r * p->ldc + c;
            if (c >= p->N) {
                if (p->C[i] != 777.0f) {
                    fprintf(stderr, "%s: padding C[%lld,%lld] overwritten\n", what, (long long)r,
                            (long long)c);
                    fail();
                }
                continue;
            }
            double tol = (double)(p->K + 4) * 1.2e-7 * p->mag[i] + 1e-30;
            if (!(fabs((double)p->C[i] - (double)p->want[i]) <= tol)) {
                fprintf(stderr,
                        "%s: ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g: C[%lld,%lld] = "
                        "%.9g, want %.9g\n",
                        what, p->ta, p->tb, (long long)p->M, (long long)p->N, (long long)p->K,
                        p->alpha, p->beta, (long long)r, (long long)c, p->C[i], p->want[i]);
                fail();
            }
        }
}

static void run_case(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t pad, float alpha,
                     float beta, const char *what)
{
    problem p = make(ta, tb, M, N, K, pad, alpha, beta);
    nn_gemm(ta, tb, M, N, K, alpha, p.A, p.lda, p.B, p.ldb, beta, p.C, p.ldc);
    check(&p, what);
    drop(&p);
}

static const int64_t small_sizes[] = {1, 2, 5, 6, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33};

/* All four transpose cases over edge sizes, for the variant in force. */
static void sweep_current(void)
{
    const char *name = nn_gemm_current_arch()->name;
    size_t ns = sizeof small_sizes / sizeof *small_sizes;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (size_t i = 0; i < ns; i++)
            for (size_t j = 0; j < ns; j++) {
                int64_t M = small_sizes[i], N = small_sizes[j];
                run_case(ta, tb, M, N, 1, 0, 1.0f, 0.0f, name);
                run_case(ta, tb, M, N, 37, 3, 1.0f, 1.0f, name);
                run_case(ta, tb, M, N, 300, 1, -0.5f, 2.0f, name);
            }
        /* cache-block edges: kc 256, mc 96/144, nc 2048, each +-1 */
        static const int64_t big[][3] = {{143, 47, 255}, {144, 48, 256}, {145, 49, 257},
                                         {97, 65, 513},  {95, 63, 100},  {7, 2049, 5},
                                         {3, 2047, 20},  {290, 33, 31},  {64, 300, 128}};
        for (size_t b = 0; b < sizeof big / sizeof *big; b++) {
            run_case(ta, tb, big[b][0], big[b][1], big[b][2], 0, 1.0f, 0.0f, name);
            run_case(ta, tb, big[b][0], big[b][1], big[b][2], 5, 0.75f, -1.0f, name);
        }
    }
}

static void test_every_variant(void **state)
{
    (void)state;
    nn_set_num_threads(1);
    int ran = 0;
    for (int isa = NN_GEMM_ISA_GENERIC; isa < NN_GEMM_ISA_COUNT; isa++) {
        if (!nn_gemm_force_isa((nn_gemm_isa)isa))
            continue;
        fprintf(stderr, "   gemm variant %s\n", nn_gemm_current_arch()->name);
        sweep_current();
        ran++;
    }
    assert_true(nn_gemm_force_isa(NN_GEMM_ISA_AUTO));
    assert_true(ran >= 1);
#if defined(__x86_64__)
    assert_true(nn_gemm_isa_supported(NN_GEMM_ISA_GENERIC));
#endif
    assert_false(nn_gemm_force_isa(NN_GEMM_ISA_COUNT));
}

/* nn_gemm_prepacked / nn_gemm_prepacked_cat (op(B) packed once): bit for
   bit nn_gemm's packed path on one thread (same K blocks, same kernel),
   for every variant, with K over several blocks (the [A1 | A2] boundary
   inside one), M over several row blocks, partial tiles, beta 0 and 1;
   and the same values for every split of the rows. */
static void test_prepacked(void **state)
{
    (void)state;
    nn_set_num_threads(1);
    static const int64_t shapes[][4] = {/* M, N, K1, K2 */
                                        {64, 512, 32, 128}, {37, 70, 300, 211}, {150, 33, 0, 97},
                                        {7, 129, 260, 1},   {200, 5, 13, 400}};
    for (int isa = NN_GEMM_ISA_GENERIC; isa < NN_GEMM_ISA_COUNT; isa++) {
        if (!nn_gemm_force_isa((nn_gemm_isa)isa))
            continue;
        for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
            int64_t M = shapes[c][0], N = shapes[c][1], K1 = shapes[c][2], K2 = shapes[c][3], K = K1 + K2;
            float *A = malloc((size_t)(M * K) * sizeof(float)), *A1 = malloc((size_t)(M * K1 + 1) * sizeof(float));
            float *A2 = malloc((size_t)(M * K2) * sizeof(float)), *B = malloc((size_t)(K * N) * sizeof(float));
            float *Bp = malloc((size_t)nn_gemm_packed_b_size(K, N) * sizeof(float));
            float *ws = malloc((size_t)nn_gemm_prepacked_ws_size(M, K) * sizeof(float));
            float *want = malloc((size_t)(M * N) * sizeof(float)), *got = malloc((size_t)(M * N) * sizeof(float));
            for (int64_t i = 0; i < M * K; i++)
                A[i] = (float)((i * 7919) % 1001) / 500.0f - 1.0f;
            for (int64_t i = 0; i < K * N; i++)
                B[i] = (float)((i * 104729) % 997) / 498.0f - 1.0f;
            for (int64_t i = 0; i < M; i++) {
                memcpy(A1 + i * K1, A + i * K, (size_t)K1 * sizeof(float));
                memcpy(A2 + i * K2, A + i * K + K1, (size_t)K2 * sizeof(float));
            }
            for (int tb = 0; tb < 2; tb++) {
                float *Bt = malloc((size_t)(K * N) * sizeof(float)); /* B stored [N, K] */
                for (int64_t k = 0; k < K; k++)
                    for (int64_t j = 0; j < N; j++)
                        Bt[j * K + k] = B[k * N + j];
                nn_gemm_prepack_b(tb, K, N, tb ? Bt : B, tb ? K : N, Bp);
                free(Bt);
                for (int beta = 0; beta < 2; beta++) {
                    for (int64_t i = 0; i < M * N; i++)
                        want[i] = got[i] = (float)(i % 13) - 6.0f;
                    nn_gemm(false, false, M, N, K, 1.0f, A, K, B, N, (float)beta, want, N);
                    nn_gemm_prepacked(false, M, N, K, 1.0f, A, K, Bp, (float)beta, got, N, ws);
                    assert_memory_equal(want, got, (size_t)(M * N) * sizeof(float));
                    for (int64_t i = 0; i < M * N; i++)
                        got[i] = (float)(i % 13) - 6.0f;
                    /* rows in two uneven calls */
                    int64_t m0 = M / 3;
                    nn_gemm_prepacked_cat(m0, N, K1, A1, K1, K2, A2, K2, Bp, (float)beta, got, N, ws);
                    nn_gemm_prepacked_cat(M - m0, N, K1, A1 + m0 * K1, K1, K2, A2 + m0 * K2, K2, Bp, (float)beta,
                                          got + m0 * N, N, ws);
                    assert_memory_equal(want, got, (size_t)(M * N) * sizeof(float));
                }
            }
            free(A);
            free(A1);
            free(A2);
            free(B);
            free(Bp);
            free(ws);
            free(want);
            free(got);
        }
    }
    assert_true(nn_gemm_force_isa(NN_GEMM_ISA_AUTO));
}

static void test_alpha_beta(void **state)
{
    (void)state;
    static const float ab[][2] = {{1, 0}, {1, 1}, {2, 0}, {-1, 0.5f}, {0.25f, -3}, {0, 0.5f}, {0, 0}};
    for (size_t i = 0; i < sizeof ab / sizeof *ab; i++)
        for (int t = 0; t < 4; t++) {
            run_case(t & 1, t & 2, 50, 40, 30, 2, ab[i][0], ab[i][1], "alpha/beta");
            run_case(t & 1, t & 2, 3, 2, 4, 1, ab[i][0], ab[i][1], "alpha/beta direct");
        }
}

static void test_degenerate_sizes(void **state)
{
    (void)state;
    /* K = 0: C = beta C; beta 0 overwrites NaN */
    for (int t = 0; t < 4; t++) {
        run_case(t & 1, t & 2, 9, 20, 0, 1, 1.0f, 0.0f, "K=0");
        run_case(t & 1, t & 2, 9, 20, 0, 1, 1.0f, 3.0f, "K=0");
    }
    /* M or N = 0: nothing is touched */
    float c[4] = {1, 2, 3, 4}, a[4] = {1, 1, 1, 1};
    nn_gemm(false, false, 0, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2);
    nn_gemm(false, false, 2, 0, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2);
    assert_true(c[0] == 1 && c[1] == 2 && c[2] == 3 && c[3] == 4);
    /* SimpleNet's shapes go the direct way */
    run_case(false, true, 64, 5, 2, 0, 1.0f, 0.0f, "simplenet fc1");
    run_case(true, false, 5, 2, 64, 0, 1.0f, 1.0f, "simplenet dW1");
    run_case(false, false, 64, 2, 5, 0, 1.0f, 0.0f, "simplenet dX");
}

/* Results for 1, 2 and 3 threads are equal bit for bit (every shape is
   above the size at which nn_gemm starts to use threads). */
static void test_threads_bit_identical(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {{300, 200, 150}, {64, 3136, 128}, {1000, 20, 150},
                                        {257, 263, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            problem p = make(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], 1, 1.0f, 0.5f);
            size_t nc = (size_t)(p.M * p.ldc);
            float *c0 = malloc(nc * sizeof(float)), *out[3];
            assert_non_null(c0);
            memcpy(c0, p.C, nc * sizeof(float));
            for (int th = 1; th <= 3; th++) {
                assert_int_equal(nn_set_num_threads(th), NN_OK);
                assert_int_equal(nn_get_num_threads(), th);
                memcpy(p.C, c0, nc * sizeof(float));
                nn_gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, p.C,
                        p.ldc);
                check(&p, "threads");
                out[th - 1] = malloc(nc * sizeof(float));
                assert_non_null(out[th - 1]);
                memcpy(out[th - 1], p.C, nc * sizeof(float));
            }
            assert_memory_equal(out[0], out[1], nc * sizeof(float));
            assert_memory_equal(out[0], out[2], nc * sizeof(float));
            for (int th = 0; th < 3; th++)
                free(out[th]);
            free(c0);
            drop(&p);
        }
    nn_set_num_threads(1);
}

static void test_set_num_threads_bad_input(void **state)
{
    (void)state;
    assert_int_equal(nn_set_num_threads(2), NN_OK);
    assert_int_equal(nn_set_num_threads(0), NN_EINVAL);
    assert_error_mentions("nn_set_num_threads", "got 0");
    assert_int_equal(nn_set_num_threads(-3), NN_EINVAL);
    assert_error_mentions("nn_set_num_threads", "got -3");
    assert_int_equal(nn_set_num_threads(NN_MAX_THREADS + 1), NN_EINVAL);
    assert_int_equal(nn_get_num_threads(), 2);
    assert_int_equal(nn_set_num_threads(1), NN_OK);
}

/* main() set NN_NUM_THREADS to garbage before the first call: the default
   (online cores) applies. */
static int default_threads_at_start;
static void test_malformed_env_gives_default(void **state)
{
    (void)state;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(default_threads_at_start, cores < 1 ? 1 : cores);
}

/* --- workspace allocation: counted and failing allocators */
static long allocs, releases;
static bool refuse;
static void *counting_alloc(size_t n)
{
    if (refuse)
        return NULL;
    allocs++;
    return malloc(n);
}
static void counting_release(void *p)
{
    releases++;
    free(p);
}

static void *gemm_on_fresh_thread(void *arg)
{
    problem *p = arg;
    nn_gemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, p->C,
            p->ldc);
    check(p, "fresh thread");
    long before = allocs;
    nn_gemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, 0.0f, p->C,
            p->ldc);
    if (allocs != before) {
        fprintf(stderr, "second product allocated %ld times\n", allocs - before);
        fail();
    }
    return NULL;
}

static void test_workspace_steady_state_and_release(void **state)
{
    (void)state;
    nn_set_num_threads(1);
    allocs = releases = 0;
    refuse = false;
    nn_set_allocator(counting_alloc, counting_release);
    problem p = make(false, false, 100, 90, 80, 0, 1.0f, 0.0f);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gemm_on_fresh_thread, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    nn_set_allocator(NULL, NULL);
    assert_int_equal(allocs, 1);   /* one workspace, once */
    assert_int_equal(releases, 1); /* freed at thread exit with the allocator it came from */
    drop(&p);
}

static void *gemm_refused(void *arg)
{
    problem *p = arg;
    nn_gemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, p->C,
            p->ldc);
    return NULL;
}

static void test_workspace_failure_falls_back(void **state)
{
    (void)state;
    nn_set_num_threads(1);
    refuse = true;
    nn_set_allocator(counting_alloc, counting_release);
    for (int t = 0; t < 4; t++) {
        problem p = make(t & 1, t & 2, 70, 50, 40, 2, 1.5f, -1.0f);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, gemm_refused, &p), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        check(&p, "no workspace");
        drop(&p);
    }
    nn_set_allocator(NULL, NULL);
    refuse = false;
}

int main(void)
{
    setenv("NN_NUM_THREADS", "2x", 1);
    default_threads_at_start = nn_get_num_threads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_env_gives_default),
        cmocka_unit_test(test_workspace_steady_state_and_release),
        cmocka_unit_test(test_workspace_failure_falls_back),
        cmocka_unit_test(test_every_variant),
        cmocka_unit_test(test_alpha_beta),
        cmocka_unit_test(test_prepacked),
        cmocka_unit_test(test_degenerate_sizes),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_set_num_threads_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
