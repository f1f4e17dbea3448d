/* What data-parallel training needs from the core, with no transport:
   nn_randperm and the DataLoader's DistributedSampler (index for index
   against torch 1.13, tests/gen_dist.py), the optimizers' packed blocks
   (nn_optim_grad_block / nn_optim_param_block) and the backward hook
   (nn_module_set_backward_hook): called once per module with parameters,
   in reverse layer order, with the final gradients, allocation-free. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "fixtures/dist.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

static void test_randperm_matches_torch(void **state)
{
    (void)state;
    for (size_t c = 0; c < COUNT(randperm_cases); c++) {
        const randperm_case *k = &randperm_cases[c];
        int64_t *got = malloc((size_t)k->n * sizeof *got);
        assert_non_null(got);
        assert_int_equal(nn_randperm(k->n, k->seed, got), NN_OK);
        for (int64_t i = 0; i < k->n; i++)
            if (got[i] != k->want[i])
                fail_msg("randperm(%lld, seed %llu): [%lld] = %lld, torch %lld", (long long)k->n,
                         (unsigned long long)k->seed, (long long)i, (long long)got[i], (long long)k->want[i]);
        free(got);
    }
    int64_t one;
    assert_int_equal(nn_randperm(0, 1, NULL), NN_OK);
    assert_int_equal(nn_randperm(-1, 1, &one), NN_EINVAL);
    assert_int_equal(nn_randperm(3, 1, NULL), NN_EINVAL);
}

static void test_randperm_leaves_the_library_generator_alone(void **state)
{
    (void)state;
    nn_manual_seed(5);
    uint32_t a = nn_random_u32();
    nn_manual_seed(5);
    int64_t p[10];
    assert_int_equal(nn_randperm(10, 5, p), NN_OK);
    assert_int_equal(nn_random_u32(), a);
}

static nn_dataset index_dataset(int64_t n)
{
    nn_dataset d = {nn_tensor_new(NN_SHAPE(n, 1, 1, 1)), nn_tensor_new(NN_SHAPE(n))};
    assert_non_null(d.images);
    assert_non_null(d.labels);
    for (int64_t i = 0; i < n; i++)
        d.images->data[i] = d.labels->data[i] = (float)i;
    return d;
}

/* Every rank's list, several epochs (set_epoch out of order too), batch
   sizes that do and do not divide the share. */
static void test_sampler_matches_torch(void **state)
{
    (void)state;
    for (size_t c = 0; c < COUNT(sampler_cases); c++) {
        const sampler_case *k = &sampler_cases[c];
        for (int64_t bs = 1; bs <= 4; bs += 3) {
            nn_dataset d = index_dataset(k->n);
            nn_dataloader *dl = nn_dataloader_new(&d, bs, k->shuffle, false);
            assert_non_null(dl);
            assert_int_equal(nn_dataloader_set_shard(dl, k->rank, k->world, k->seed, k->drop_last), NN_OK);
            /* an epoch at another number first: set_epoch must take over */
            assert_int_equal(nn_dataloader_set_epoch(dl, k->epoch + 3), NN_OK);
            nn_tensor *x, *y;
            while (nn_dataloader_next(dl, &x, &y))
                ;
            assert_int_equal(nn_dataloader_set_epoch(dl, k->epoch), NN_OK);
            assert_int_equal(nn_dataloader_len(dl), (k->count + bs - 1) / bs);
            int64_t got = 0;
            while (nn_dataloader_next(dl, &x, &y)) {
                for (int64_t i = 0; i < y->shape[0]; i++, got++) {
                    assert_true(got < k->count);
                    if ((int64_t)y->data[i] != k->want[got] || (int64_t)x->data[i] != k->want[got])
                        fail_msg("n %lld world %d rank %d seed %llu epoch %lld shuffle %d drop_last %d: "
                                 "item %lld is %lld, torch %lld",
                                 (long long)k->n, k->world, k->rank, (unsigned long long)k->seed,
                                 (long long)k->epoch, k->shuffle, k->drop_last, (long long)got,
                                 (long long)y->data[i], (long long)k->want[got]);
                }
            }
            assert_int_equal(nn_dataloader_status(dl), NN_OK);
            assert_int_equal(got, k->count);
            nn_dataloader_free(dl);
            nn_dataset_free(&d);
        }
    }
}

/* Batch k of every rank together is batch k of one loader of world times
   the batch size over the same permutation (world 1): the same global
   batches, which is what makes data-parallel steps equal one process's. */
static void test_ranks_together_make_the_global_batch(void **state)
{
    (void)state;
    const int64_t n = 103, bs = 4;
    const int world = 3;
    nn_dataset d = index_dataset(n);
    nn_dataloader *one = nn_dataloader_new(&d, bs * world, true, true);
    nn_dataloader *r[3];
    assert_int_equal(nn_dataloader_set_shard(one, 0, 1, 11, false), NN_OK);
    for (int k = 0; k < world; k++) {
        r[k] = nn_dataloader_new(&d, bs, true, true);
        assert_int_equal(nn_dataloader_set_shard(r[k], k, world, 11, false), NN_OK);
    }
    for (int epoch = 0; epoch < 2; epoch++) {
        nn_dataloader_set_epoch(one, epoch);
        for (int k = 0; k < world; k++)
            nn_dataloader_set_epoch(r[k], epoch);
        nn_tensor *x, *y, *xr, *yr;
        int64_t steps = 0;
        while (nn_dataloader_next(one, &x, &y)) {
            bool seen[103] = {false};
            for (int k = 0; k < world; k++) {
                assert_true(nn_dataloader_next(r[k], &xr, &yr));
                assert_int_equal(yr->shape[0], bs);
                for (int64_t i = 0; i < bs; i++)
                    seen[(int)yr->data[i]] = true;
            }
            for (int64_t i = 0; i < y->shape[0]; i++)
                assert_true(seen[(int)y->data[i]]);
            steps++;
        }
        for (int k = 0; k < world; k++)
            assert_false(nn_dataloader_next(r[k], &xr, &yr));
        assert_int_equal(steps, n / (bs * world));
    }
    nn_dataloader_free(one);
    for (int k = 0; k < world; k++)
        nn_dataloader_free(r[k]);
    nn_dataset_free(&d);
}

static void test_set_shard_refuses(void **state)
{
    (void)state;
    nn_dataset d = index_dataset(10);
    nn_dataloader *dl = nn_dataloader_new(&d, 3, true, false);
    assert_int_equal(nn_dataloader_set_shard(NULL, 0, 1, 0, false), NN_EINVAL);
    assert_int_equal(nn_dataloader_set_shard(dl, 2, 2, 0, false), NN_EINVAL);
    assert_error_mentions("nn_dataloader_set_shard", "rank 2", "world_size 2");
    assert_int_equal(nn_dataloader_set_shard(dl, -1, 2, 0, false), NN_EINVAL);
    assert_int_equal(nn_dataloader_set_shard(dl, 0, 0, 0, false), NN_EINVAL);
    assert_int_equal(nn_dataloader_set_epoch(dl, -1), NN_EINVAL);
    nn_tensor *x, *y;
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_int_equal(nn_dataloader_set_shard(dl, 0, 2, 0, false), NN_EINVAL); /* mid-epoch */
    assert_error_mentions("nn_dataloader_set_shard", "epoch");
    nn_dataloader_free(dl);
    nn_dataset_free(&d);
}

/* --- blocks and the hook ---------------------------------------------- */

typedef struct {
    int calls;
    nn_module *order[8];
    float *grads[8];
    float first_value[8]; /* the gradient's first element when told */
} hook_log;

static void log_hook(void *ctx, nn_module *m, const nn_param *p, int n)
{
    hook_log *l = ctx;
    assert_true(n > 0);
    if (l->calls < 8) {
        l->order[l->calls] = m;
        l->grads[l->calls] = p[0].grad->data;
        l->first_value[l->calls] = p[0].grad->data[0];
    }
    l->calls++;
}

static long n_allocs;
static void *counting_alloc(size_t n)
{
    n_allocs++;
    return malloc(n);
}

static void test_blocks_and_backward_hook(void **state)
{
    (void)state;
    nn_manual_seed(3);
    nn_module *net = nn_sequential();
    nn_module *fc1 = nn_linear(4, 6, true), *fc2 = nn_linear(6, 3, true), *fc3 = nn_linear(3, 2, false);
    nn_sequential_add(net, "fc1", fc1);
    nn_sequential_add(net, "relu", nn_relu());
    nn_sequential_add(net, "fc2", fc2);
    nn_sequential_add(net, "fc3", fc3);
    int64_t n = -1;
    assert_null(nn_optim_grad_block(NULL, &n));
    assert_int_equal(n, 0);
    nn_sgd_opts so = nn_sgd_defaults(0.1f);
    nn_optim *opt = nn_sgd(net, &so);
    assert_non_null(opt);
    int64_t ng = 0, np = 0;
    float *g = nn_optim_grad_block(opt, &ng), *p = nn_optim_param_block(opt, &np);
    assert_int_equal(ng, 4 * 6 + 6 + 6 * 3 + 3 + 3 * 2);
    assert_int_equal(np, ng);
    nn_param *params;
    int count = nn_module_params(net, &params);
    int64_t at = 0;
    for (int i = 0; i < count; i++) { /* named_parameters order, back to back */
        assert_ptr_equal(params[i].grad->data, g + at);
        assert_ptr_equal(params[i].value->data, p + at);
        at += nn_tensor_numel(params[i].value);
    }
    assert_int_equal(at, ng);

    hook_log log = {0};
    assert_int_equal(nn_module_set_backward_hook(NULL, log_hook, &log), NN_EINVAL);
    assert_int_equal(nn_module_set_backward_hook(net, log_hook, &log), NN_OK);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(5, 4));
    for (int i = 0; i < 20; i++)
        x->data[i] = (float)(i % 7) - 3.0f;
    nn_tensor *gy = nn_tensor_new(NN_SHAPE(5, 2));
    nn_tensor_fill(gy, 0.5f);
    for (int step = 0; step < 3; step++) {
        nn_optim_zero_grad(opt);
        assert_non_null(nn_forward(net, x));
        if (step == 2) { /* warm: the hook costs no allocation */
            n_allocs = 0;
            nn_set_allocator(counting_alloc, free);
        }
        log.calls = 0;
        if (step == 1)
            assert_non_null(nn_backward(net, gy));
        else
            assert_int_equal(nn_backward_params(net, gy), NN_OK);
        nn_set_allocator(NULL, NULL);
        if (step == 2)
            assert_int_equal(n_allocs, 0);
        /* reverse layer order, each told once, gradients already final */
        assert_int_equal(log.calls, 3);
        assert_ptr_equal(log.order[0], fc3);
        assert_ptr_equal(log.order[1], fc2);
        assert_ptr_equal(log.order[2], fc1);
        assert_ptr_equal(log.grads[0], params[4].grad->data);
        assert_ptr_equal(log.grads[2], params[0].grad->data);
        for (int k = 0; k < 3; k++)
            assert_true(log.first_value[k] == log.grads[k][0]);
        assert_int_equal(nn_optim_step(opt), NN_OK);
    }
    /* a hook on an inner container is told about its own subtree only; the
       nearest one wins */
    hook_log inner = {0};
    nn_module *outer = nn_sequential();
    nn_module *mid = nn_sequential();
    nn_module *a = nn_linear(2, 2, true), *b = nn_linear(2, 2, true);
    nn_sequential_add(mid, "a", a);
    nn_sequential_add(outer, "mid", mid);
    nn_sequential_add(outer, "b", b);
    nn_module_set_backward_hook(outer, log_hook, &log);
    nn_module_set_backward_hook(mid, log_hook, &inner);
    log.calls = 0;
    nn_tensor *x2 = nn_tensor_new(NN_SHAPE(1, 2));
    assert_non_null(nn_forward(outer, x2));
    assert_non_null(nn_backward(outer, x2));
    assert_int_equal(log.calls, 1);
    assert_ptr_equal(log.order[0], b);
    assert_int_equal(inner.calls, 1);
    assert_ptr_equal(inner.order[0], a);
    /* removed: nobody is told */
    nn_module_set_backward_hook(outer, NULL, NULL);
    nn_module_set_backward_hook(mid, NULL, NULL);
    log.calls = inner.calls = 0;
    assert_non_null(nn_forward(outer, x2));
    assert_non_null(nn_backward(outer, x2));
    assert_int_equal(log.calls + inner.calls, 0);

    nn_tensor_free(x2);
    nn_module_free(outer);
    nn_tensor_free(x);
    nn_tensor_free(gy);
    nn_optim_free(opt);
    nn_module_free(net);
}

/* A parameter re-pointed after packing: no block, no error. */
static void test_no_block_when_unpacked(void **state)
{
    (void)state;
    nn_module *l = nn_linear(2, 2, true);
    nn_optim *opt = nn_sgd(l, &(nn_sgd_opts){.lr = 0.1f});
    nn_param *p;
    nn_module_params(l, &p);
    nn_tensor *fresh = nn_tensor_new(NN_SHAPE(2, 2));
    nn_tensor *old = nn_tensor_contiguous(p[0].grad);
    /* swap the storage of the gradient for a separate one */
    nn_tensor tmp = *p[0].grad;
    *p[0].grad = *fresh;
    *fresh = tmp;
    int64_t n = 7;
    assert_null(nn_optim_grad_block(opt, &n));
    assert_int_equal(n, 0);
    assert_null(nn_optim_param_block(opt, NULL));
    tmp = *p[0].grad;
    *p[0].grad = *fresh;
    *fresh = tmp;
    assert_non_null(nn_optim_grad_block(opt, &n));
    assert_int_equal(n, 6);
    nn_tensor_free(old);
    nn_tensor_free(fresh);
    nn_optim_free(opt);
    nn_module_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_randperm_matches_torch),
        cmocka_unit_test(test_randperm_leaves_the_library_generator_alone),
        cmocka_unit_test(test_sampler_matches_torch),
        cmocka_unit_test(test_ranks_together_make_the_global_batch),
        cmocka_unit_test(test_set_shard_refuses),
        cmocka_unit_test(test_blocks_and_backward_hook),
        cmocka_unit_test(test_no_block_when_unpacked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
