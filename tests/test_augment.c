/* DataLoader augmentation against torchvision 0.14 (tests/gen_augment.py):
   RandomCrop(size, padding) then RandomHorizontalFlip(p), drawn from the
   library generator as torch draws them; resumable from the generator's
   state; no allocation per batch; bad options refused. */
#include "testutil.h"

#include "fixtures/augment.h"

static nn_dataset make_dataset(void)
{
    nn_dataset d = {nn_tensor_new(NN_SHAPE(AUG_N, AUG_C, AUG_H, AUG_W)), nn_tensor_new(NN_SHAPE(AUG_N))};
    for (int64_t i = 0; i < nn_tensor_numel(d.images); i++)
        d.images->data[i] = (float)i / 8.0f + 1.0f; /* exact, as the generator */
    for (int i = 0; i < AUG_N; i++)
        d.labels->data[i] = (float)i;
    return d;
}

static void test_matches_torchvision(void **state)
{
    (void)state;
    nn_dataset d = make_dataset();
    for (size_t k = 0; k < sizeof aug_cases / sizeof *aug_cases; k++) {
        const aug_case *c = &aug_cases[k];
        nn_dataloader *dl = nn_dataloader_new(&d, AUG_N, false, false);
        nn_random_crop_opts o = nn_random_crop_defaults(0);
        o.size_h = c->size_h;
        o.size_w = c->size_w;
        o.padding = c->padding;
        assert_int_equal(nn_dataloader_random_crop(dl, &o), NN_OK);
        assert_int_equal(nn_dataloader_random_horizontal_flip(dl, c->p), NN_OK);
        nn_manual_seed(c->seed);
        nn_tensor *x, *y;
        assert_true(nn_dataloader_next(dl, &x, &y));
        assert_int_equal(x->ndim, 4);
        assert_int_equal(x->shape[2], c->oh);
        assert_int_equal(x->shape[3], c->ow);
        assert_memory_equal(x->data, c->want, (size_t)(AUG_N * AUG_C * c->oh * c->ow) * sizeof(float));
        for (int i = 0; i < AUG_N; i++)
            assert_true(y->data[i] == (float)i);
        nn_dataloader_free(dl);
    }
    nn_dataset_free(&d);
}

/* A run resumed from the generator's state draws the same crops. */
static void test_resume_draws_the_same(void **state)
{
    (void)state;
    nn_dataset d = make_dataset();
    nn_dataloader *dl = nn_dataloader_new(&d, 2, true, false);
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 4, .size_w = 4, .padding = 2}), NN_OK);
    assert_int_equal(nn_dataloader_random_horizontal_flip(dl, 0.5f), NN_OK);
    nn_manual_seed(3);
    nn_tensor *x, *y;
    while (nn_dataloader_next(dl, &x, &y)) /* one epoch: shapes settle */
        ;
    uint8_t st[NN_RANDOM_STATE_BYTES];
    nn_random_get_state(st);
    float first[2 * AUG_C * 16];
    assert_true(nn_dataloader_next(dl, &x, &y));
    memcpy(first, x->data, sizeof first);
    nn_dataloader_free(dl);

    dl = nn_dataloader_new(&d, 2, true, false);
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 4, .size_w = 4, .padding = 2}), NN_OK);
    assert_int_equal(nn_dataloader_random_horizontal_flip(dl, 0.5f), NN_OK);
    nn_random_set_state(st);
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_memory_equal(x->data, first, sizeof first);
    nn_dataloader_free(dl);
    nn_dataset_free(&d);
}

static long allocs;
static void *counting(size_t n)
{
    allocs++;
    return malloc(n);
}

static void test_no_allocation_per_batch(void **state)
{
    (void)state;
    nn_dataset d = make_dataset();
    nn_dataloader *dl = nn_dataloader_new(&d, 4, true, false);
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 3, .size_w = 5, .padding = 1}), NN_OK);
    assert_int_equal(nn_dataloader_random_horizontal_flip(dl, 0.5f), NN_OK);
    nn_tensor *x, *y;
    assert_true(nn_dataloader_next(dl, &x, &y));
    allocs = 0;
    nn_set_allocator(counting, free);
    for (int i = 0; i < 7; i++)
        if (!nn_dataloader_next(dl, &x, &y))
            assert_int_equal(nn_dataloader_status(dl), NN_OK);
    nn_set_allocator(NULL, NULL);
    assert_int_equal(allocs, 0);
    nn_dataloader_free(dl);
    nn_dataset_free(&d);
}

static void test_bad_options(void **state)
{
    (void)state;
    nn_dataset d = make_dataset();
    nn_dataloader *dl = nn_dataloader_new(&d, 2, false, false);
    /* torchvision: "Required crop size ... is larger than input image size" */
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 8, .size_w = 8, .padding = 1}),
                     NN_ESHAPE);
    assert_error_mentions("nn_dataloader_random_crop", "(8, 8)", "(7, 9)");
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 0, .size_w = 3}), NN_EINVAL);
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 3, .size_w = 3, .padding = -1}),
                     NN_EINVAL);
    assert_int_equal(nn_dataloader_random_crop(dl, &(nn_random_crop_opts){.size_h = 3, .size_w = 3, .from_defaults = 5}),
                     NN_EINVAL);
    assert_error_mentions("from_defaults");
    assert_int_equal(nn_dataloader_random_horizontal_flip(dl, 1.5f), NN_EINVAL);
    assert_error_mentions("nn_dataloader_random_horizontal_flip", "1.5");
    assert_int_equal(nn_dataloader_random_horizontal_flip(NULL, 0.5f), NN_EINVAL);
    /* refused options changed nothing: batches come out whole */
    nn_tensor *x, *y;
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_int_equal(x->shape[2], AUG_H);
    assert_memory_equal(x->data, d.images->data, (size_t)(AUG_C * AUG_H * AUG_W) * sizeof(float));
    nn_dataloader_free(dl);
    /* labels-like data (not [N, C, H, W]) cannot be cropped */
    nn_dataset flat = {nn_tensor_new(NN_SHAPE(4, 3)), nn_tensor_new(NN_SHAPE(4))};
    dl = nn_dataloader_new(&flat, 2, false, false);
    assert_int_equal(nn_dataloader_random_horizontal_flip(dl, 0.5f), NN_ESHAPE);
    assert_error_mentions("[N, C, H, W]", "[4, 3]");
    nn_dataloader_free(dl);
    nn_dataset_free(&flat);
    nn_dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torchvision),
        cmocka_unit_test(test_resume_draws_the_same),
        cmocka_unit_test(test_no_allocation_per_batch),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
