/* The internal parallel-for: every index runs exactly once, chunks start on
   grain multiples, nested calls run serially, thread-count changes between
   regions (workers left out of a region) are safe. */
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"
#include "base/parallel_impl.h"

#define MAXN 1000
typedef struct {
    atomic_int hits[MAXN];
    int64_t grain;
    atomic_int bad_start, calls, nested_calls;
    bool nest;
} loop_state;

static void count_nested(void *ctx, int64_t begin, int64_t end, int tid)
{
    loop_state *s = ctx;
    if (begin != 0 || end != 10 || tid != 0)
        atomic_fetch_add(&s->bad_start, 1);
    atomic_fetch_add(&s->nested_calls, 1);
}

static void count(void *ctx, int64_t begin, int64_t end, int tid)
{
    loop_state *s = ctx;
    (void)tid;
    if (begin % s->grain != 0)
        atomic_fetch_add(&s->bad_start, 1);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&s->hits[i], 1);
    atomic_fetch_add(&s->calls, 1);
    if (s->nest)
        nn_parallel_for(10, 1, 4, count_nested, s);
}

static void run(int64_t n, int64_t grain, int parts, bool nest)
{
    static loop_state s;
    memset(&s, 0, sizeof s);
    s.grain = grain;
    s.nest = nest;
    nn_parallel_for(n, grain, parts, count, &s);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&s.hits[i]), 1);
    assert_int_equal(atomic_load(&s.bad_start), 0);
    if (n == 0)
        assert_int_equal(atomic_load(&s.calls), 0);
    else
        assert_true(atomic_load(&s.calls) >= 1);
    assert_true(atomic_load(&s.calls) <= (parts < 1 ? 1 : parts));
    if (nest)
        assert_int_equal(atomic_load(&s.nested_calls), atomic_load(&s.calls));
}

static void test_covers_range_once(void **state)
{
    (void)state;
    static const int64_t ns[] = {1, 2, 3, 7, 64, 999, 1000};
    static const int64_t grains[] = {1, 3, 16, 2000};
    for (int threads = 1; threads <= 3; threads++) {
        assert_int_equal(nn_set_num_threads(threads), NN_OK);
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t j = 0; j < sizeof grains / sizeof *grains; j++)
                for (int parts = 0; parts <= 4; parts++)
                    run(ns[i], grains[j], parts, false);
    }
    run(0, 1, 2, false); /* empty: fn not called */
}

static void test_nested_runs_serially(void **state)
{
    (void)state;
    assert_int_equal(nn_set_num_threads(2), NN_OK);
    run(100, 1, 2, true);
}

static void test_thread_count_changes(void **state)
{
    (void)state;
    for (int r = 0; r < 200; r++) {
        assert_int_equal(nn_set_num_threads(r % 3 + 1), NN_OK);
        run(300, 1, r % 3 + 1, false);
    }
    assert_int_equal(nn_set_num_threads(1), NN_OK);
}

/* A conv/linear net run with 1, 2 and 3 threads: output, dx and every
   parameter gradient equal bit for bit. */
typedef struct {
    float *out, *dx, *grads;
    int64_t n_out, n_dx, n_grads;
} net_result;

static net_result run_net(int threads)
{
    assert_int_equal(nn_set_num_threads(threads), NN_OK);
    nn_manual_seed(7);
    nn_module *net = nn_sequential();
    assert_non_null(net);
    assert_int_equal(nn_sequential_add(net, NULL, nn_conv2d(3, 8, 3, 1, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, NULL, nn_conv2d(8, 64, 3, 1, 1)), NN_OK);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(5, 3, 33, 33));
    assert_non_null(x);
    for (int64_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    net_result r = {0};
    r.n_out = nn_tensor_numel(y);
    r.out = malloc((size_t)r.n_out * sizeof(float));
    memcpy(r.out, y->data, (size_t)r.n_out * sizeof(float));
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    assert_non_null(g);
    for (int64_t i = 0; i < r.n_out; i++)
        g->data[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
    nn_tensor *dx = nn_backward(net, g);
    assert_non_null(dx);
    r.n_dx = nn_tensor_numel(dx);
    r.dx = malloc((size_t)r.n_dx * sizeof(float));
    memcpy(r.dx, dx->data, (size_t)r.n_dx * sizeof(float));
    nn_param *p;
    int np = nn_module_params(net, &p);
    for (int i = 0; i < np; i++)
        r.n_grads += nn_tensor_numel(p[i].grad);
    r.grads = malloc((size_t)r.n_grads * sizeof(float));
    int64_t at = 0;
    for (int i = 0; i < np; i++) {
        memcpy(r.grads + at, p[i].grad->data, (size_t)nn_tensor_numel(p[i].grad) * sizeof(float));
        at += nn_tensor_numel(p[i].grad);
    }
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(net);
    return r;
}

static void test_conv_net_bit_identical_across_threads(void **state)
{
    (void)state;
    net_result one = run_net(1);
    for (int t = 2; t <= 3; t++) {
        net_result r = run_net(t);
        assert_int_equal(r.n_out, one.n_out);
        assert_memory_equal(r.out, one.out, (size_t)one.n_out * sizeof(float));
        assert_memory_equal(r.dx, one.dx, (size_t)one.n_dx * sizeof(float));
        assert_memory_equal(r.grads, one.grads, (size_t)one.n_grads * sizeof(float));
        free(r.out); free(r.dx); free(r.grads);
    }
    free(one.out); free(one.dx); free(one.grads);
    nn_set_num_threads(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covers_range_once),
        cmocka_unit_test(test_nested_runs_serially),
        cmocka_unit_test(test_thread_count_changes),
        cmocka_unit_test(test_conv_net_bit_identical_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
