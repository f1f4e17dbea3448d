/* The internal parallel-for: every index runs exactly once, chunks start on
   grain multiples, nested calls run serially, thread-count changes between
   regions (workers left out of a region) are safe. */
#include <stdatomic.h>

#include "testutil.h"
#include "parallel_impl.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covers_range_once),
        cmocka_unit_test(test_nested_runs_serially),
        cmocka_unit_test(test_thread_count_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
