/* nn_dataloader_next returns false both at the end of an epoch and on a
   failure: nn_dataloader_status tells them apart, and a clean end of epoch
   clears this thread's last error (nn_clear_error), so that a message left
   by an earlier failure is not mistaken for one about the loop. */
#include <stdlib.h>

#include "testutil.h"

/* --- an allocator that can make the Nth allocation from now fail ------- */

static long n_allocs, fail_at = -1;

static void *counting_alloc(size_t n)
{
    if (n_allocs++ == fail_at)
        return NULL;
    return malloc(n);
}

static void counting_release(void *p) { free(p); }

/* A dataset of n items [1, 2, 2] whose pixels are the item index. */
static nn_dataset make_dataset(int64_t n)
{
    nn_dataset d = {nn_tensor_new(NN_SHAPE(n, 1, 2, 2)), nn_tensor_new(NN_SHAPE(n))};
    assert_non_null(d.images);
    assert_non_null(d.labels);
    for (int64_t i = 0; i < n; i++) {
        d.labels->data[i] = (float)i;
        for (int k = 0; k < 4; k++)
            d.images->data[i * 4 + k] = (float)i;
    }
    return d;
}

/* The pattern nn/data.h and the README show; returns the batch count. */
static int64_t run_epoch(nn_dataloader *dl, nn_status *status)
{
    nn_tensor *x, *y;
    int64_t batches = 0;
    while (nn_dataloader_next(dl, &x, &y))
        batches++;
    *status = nn_dataloader_status(dl);
    return batches;
}

static void test_clean_end_of_epoch_is_ok_and_clears_the_error(void **state)
{
    (void)state;
    nn_dataset d = make_dataset(5);
    nn_dataloader *dl = nn_dataloader_new(&d, 2, false, false);
    assert_non_null(dl);
    assert_int_equal(nn_dataloader_status(dl), NN_OK); /* fresh */

    /* an unrelated failure earlier on this thread */
    assert_null(nn_linear(0, 1, true));
    assert_true(nn_last_error()[0] != '\0');

    nn_tensor *x, *y;
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_int_equal(nn_dataloader_status(dl), NN_OK); /* while batches come */
    nn_status s = NN_EIO;
    assert_int_equal(run_epoch(dl, &s), 2);
    assert_int_equal(s, NN_OK);
    assert_string_equal(nn_last_error(), ""); /* cleared at the clean end */

    /* the next epoch, the same again */
    assert_int_equal(run_epoch(dl, &s), 3);
    assert_int_equal(s, NN_OK);
    nn_dataloader_free(dl);
    nn_dataset_free(&d);
}

static void test_bad_arguments_are_not_an_end_of_epoch(void **state)
{
    (void)state;
    nn_dataset d = make_dataset(4);
    nn_dataloader *dl = nn_dataloader_new(&d, 2, false, false);
    nn_tensor *x, *y;
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_false(nn_dataloader_next(dl, NULL, &y));
    assert_int_equal(nn_dataloader_status(dl), NN_EINVAL);
    assert_error_mentions("nn_dataloader_next", "output pointer");
    assert_false(nn_dataloader_next(dl, &x, NULL));
    assert_int_equal(nn_dataloader_status(dl), NN_EINVAL);
    /* the failed calls took nothing: the epoch goes on with items 2, 3 */
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_int_equal(nn_dataloader_status(dl), NN_OK);
    assert_true(y->data[0] == 2.0f && y->data[1] == 3.0f);
    assert_false(nn_dataloader_next(dl, &x, &y));
    assert_int_equal(nn_dataloader_status(dl), NN_OK);
    assert_string_equal(nn_last_error(), "");
    nn_dataloader_free(dl);

    /* no loader: no status to keep, but still an error */
    assert_false(nn_dataloader_next(NULL, &x, &y));
    assert_error_mentions("nn_dataloader_next", "loader is NULL");
    assert_int_equal(nn_dataloader_status(NULL), NN_EINVAL);
    assert_error_mentions("nn_dataloader_status", "NULL");
    nn_dataset_free(&d);
}

/* Every allocation of the first batch fails in turn: next returns false
   with a negative status and a message naming it, then (allocator back)
   the loop gives exactly the batches of a loader that never failed. */
static void test_allocation_failure_is_not_an_end_of_epoch(void **state)
{
    (void)state;
    nn_dataset d = make_dataset(5);
    nn_manual_seed(7);
    nn_dataloader *ref = nn_dataloader_new(&d, 2, true, false);
    float want[5];
    nn_tensor *x, *y;
    int64_t at = 0;
    while (nn_dataloader_next(ref, &x, &y))
        for (int64_t i = 0; i < y->shape[0]; i++)
            want[at++] = y->data[i];
    assert_int_equal(at, 5);
    nn_dataloader_free(ref);

    int failures = 0;
    for (long k = 0;; k++) {
        nn_manual_seed(7);
        nn_dataloader *dl = nn_dataloader_new(&d, 2, true, false);
        assert_non_null(dl);
        n_allocs = 0;
        fail_at = k;
        nn_set_allocator(counting_alloc, counting_release);
        bool got = nn_dataloader_next(dl, &x, &y);
        nn_set_allocator(NULL, NULL);
        fail_at = -1;
        if (got) { /* no allocation k: every one has been made to fail */
            nn_dataloader_free(dl);
            break;
        }
        failures++;
        assert_int_equal(nn_dataloader_status(dl), NN_ENOMEM);
        assert_error_mentions("nn_dataloader_next");
        /* a retry goes on where the failed call stood: the same batches */
        at = 0;
        while (nn_dataloader_next(dl, &x, &y))
            for (int64_t i = 0; i < y->shape[0]; i++)
                assert_true(y->data[i] == want[at++]);
        assert_int_equal(at, 5);
        assert_int_equal(nn_dataloader_status(dl), NN_OK);
        assert_string_equal(nn_last_error(), "");
        nn_dataloader_free(dl);
    }
    assert_true(failures >= 2); /* the batch x and the batch y */
    nn_dataset_free(&d);
}

static void test_clear_error(void **state)
{
    (void)state;
    assert_null(nn_linear(0, 1, true));
    assert_true(nn_last_error()[0] != '\0');
    nn_clear_error();
    assert_string_equal(nn_last_error(), "");
    nn_clear_error(); /* twice: still fine */
    assert_string_equal(nn_last_error(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_end_of_epoch_is_ok_and_clears_the_error),
        cmocka_unit_test(test_bad_arguments_are_not_an_end_of_epoch),
        cmocka_unit_test(test_allocation_failure_is_not_an_end_of_epoch),
        cmocka_unit_test(test_clear_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
