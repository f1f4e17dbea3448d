/* Run as: mpirun -np 2 build/mpi/test_ddp  (tests/mpi/run.sh does, under
   a timeout). For both reduction modes (one all-reduce after backward,
   buckets during backward):
   - parameters bit-identical on every rank after every step (rank 0's
     broadcast and compared byte for byte on each rank), buffers too;
   - with world_size ranks of per-rank batch B, 20 steps equal a single
     process's 20 steps over the same global batches (batch world*B, the
     same DistributedSampler permutation with world 1) to 1e-5 relative:
     rank 0 runs that single process itself;
   - nn_ddp_agree names the lowest failing rank.
   Prints "ok ..." lines; exit status 0 only when everything held. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nn/ddp.h>

static int rank, world, failures;

#define CHECK(cond, ...)                                                                                       \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "rank %d: FAILED %s:%d: ", rank, __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                                      \
            fprintf(stderr, " (%s)\n", nn_last_error());                                                       \
            failures++;                                                                                        \
        }                                                                                                      \
    } while (0)

/* A synthetic data set: n images [1, 12, 12] and labels 0..9, from seed. */
static nn_dataset synthetic(int64_t n, uint64_t seed)
{
    nn_manual_seed(seed);
    nn_dataset d = {nn_tensor_new(NN_SHAPE(n, 1, 12, 12)), nn_tensor_new(NN_SHAPE(n))};
    for (int64_t i = 0; i < n * 144; i++)
        d.images->data[i] = nn_random_uniform(-1.0, 1.0);
    for (int64_t i = 0; i < n; i++) {
        d.labels->data[i] = (float)(nn_random_u32() % 10);
        d.images->data[i * 144 + (int64_t)d.labels->data[i]] += 2.0f; /* learnable */
    }
    return d;
}

/* The Fashion-MNIST CNN's shape, smaller; with_bn adds a BatchNorm (its
   batch statistics differ per rank, so not for the single-process check). */
static nn_module *model(bool with_bn)
{
    nn_manual_seed(1);
    nn_module *net = nn_sequential();
    nn_sequential_add(net, NULL, nn_conv2d(1, 8, 3, 1, 1));
    if (with_bn)
        nn_sequential_add(net, NULL, nn_batchnorm2d(8));
    nn_sequential_add(net, NULL, nn_relu());
    nn_sequential_add(net, NULL, nn_maxpool2d(2, 0));
    nn_sequential_add(net, NULL, nn_conv2d(8, 16, 3, 1, 1));
    nn_sequential_add(net, NULL, nn_relu());
    nn_sequential_add(net, NULL, nn_maxpool2d(2, 0));
    nn_sequential_add(net, NULL, nn_flatten());
    nn_sequential_add(net, NULL, nn_linear(16 * 9, 32, true));
    nn_sequential_add(net, NULL, nn_relu());
    nn_sequential_add(net, NULL, nn_linear(32, 10, true));
    return net;
}

static nn_optim *adam(nn_module *net)
{
    nn_adam_opts o = nn_adam_defaults();
    o.lr = 3e-3f;
    return nn_adam(net, &o);
}

/* Every rank's bytes equal rank 0's? Collective. */
static bool same_everywhere(const void *data, size_t bytes)
{
    unsigned char *copy = malloc(bytes ? bytes : 1);
    memcpy(copy, data, bytes);
    MPI_Bcast(copy, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    int differ = memcmp(copy, data, bytes) != 0, any = 0;
    MPI_Allreduce(&differ, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    free(copy);
    return !any;
}

static bool buffers_same(nn_module *net)
{
    nn_buffer *b;
    int n = nn_module_buffers(net, &b);
    bool ok = true;
    for (int i = 0; i < n; i++)
        ok = (b[i].dtype == NN_F32 ? same_everywhere(b[i].value->data, (size_t)nn_tensor_numel(b[i].value) * 4)
                                   : same_everywhere(b[i].int_value, 8)) &&
             ok;
    return ok;
}

enum { STEPS = 20, B = 8 };

static void run(size_t bucket_bytes, bool with_bn)
{
    nn_dataset data = synthetic(400, 7);
    nn_module *net = model(with_bn);
    nn_optim *opt = adam(net);
    nn_ddp_opts o = nn_ddp_defaults();
    o.bucket_bytes = bucket_bytes;
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, net, opt, &o);
    CHECK(d != NULL, "nn_ddp_new");
    nn_loss *ce = nn_cross_entropy_loss();
    nn_dataloader *dl = nn_dataloader_new(&data, B, true, true);
    CHECK(nn_dataloader_set_shard(dl, rank, world, 5, false) == NN_OK, "set_shard");
    int64_t n = 0;
    float *params = nn_optim_param_block(opt, &n);
    nn_tensor *x, *y;
    int step = 0;
    bool identical = true;
    for (int64_t epoch = 0; step < STEPS; epoch++) {
        nn_dataloader_set_epoch(dl, epoch);
        while (step < STEPS && nn_dataloader_next(dl, &x, &y)) {
            nn_optim_zero_grad(opt);
            CHECK(nn_ddp_before_forward(d) == NN_OK, "before_forward");
            float loss = nn_loss_forward(ce, nn_forward(net, x), y);
            CHECK(isfinite(loss), "loss %g", (double)loss);
            CHECK(nn_ddp_backward(d, nn_loss_backward(ce)) == NN_OK, "nn_ddp_backward");
            CHECK(nn_optim_step(opt) == NN_OK, "step");
            step++;
            bool same = same_everywhere(params, (size_t)n * sizeof(float));
            CHECK(same, "parameters differ between ranks after step %d", step);
            identical = identical && same;
        }
    }
    CHECK(nn_ddp_broadcast_buffers(d) == NN_OK, "broadcast_buffers");
    bool bufs = buffers_same(net);
    CHECK(bufs, "buffers differ between ranks");
    if (rank == 0 && identical && bufs)
        printf("ok bit-identical parameters on %d ranks after each of %d steps (buckets %zu bytes%s)\n", world,
               STEPS, bucket_bytes, with_bn ? ", with BatchNorm buffers" : "");

    if (!with_bn && rank == 0) { /* one process, the same global batches */
        nn_module *ref = model(false);
        nn_optim *ropt = adam(ref);
        nn_dataloader *rdl = nn_dataloader_new(&data, (int64_t)B * world, true, true);
        nn_dataloader_set_shard(rdl, 0, 1, 5, false);
        int s = 0;
        for (int64_t epoch = 0; s < STEPS; epoch++) {
            nn_dataloader_set_epoch(rdl, epoch);
            while (s < STEPS && nn_dataloader_next(rdl, &x, &y)) {
                nn_optim_zero_grad(ropt);
                nn_loss_forward(ce, nn_forward(ref, x), y);
                nn_backward_params(ref, nn_loss_backward(ce));
                nn_optim_step(ropt);
                s++;
            }
        }
        int64_t rn;
        const float *want = nn_optim_param_block(ropt, &rn);
        double worst = 0, scale = 0;
        for (int64_t i = 0; i < rn; i++) {
            double diff = fabs((double)params[i] - want[i]);
            worst = diff > worst ? diff : worst;
            scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
        }
        double rel = worst / scale;
        int64_t changed = 0;
        for (int64_t i = 0; i < rn; i++)
            changed += params[i] != want[i];
        CHECK(rn == n && rel <= 1e-5, "after %d steps: max |ddp - single| / max |single| = %.3g", STEPS, rel);
        if (rel <= 1e-5)
            printf("ok after %d steps equal to one process over the same global batches: max abs diff %.3g, "
                   "relative %.3g (%lld of %lld parameters not bit-equal; buckets %zu bytes)\n",
                   STEPS, worst, rel, (long long)changed, (long long)rn, bucket_bytes);
        nn_dataloader_free(rdl);
        nn_optim_free(ropt);
        nn_module_free(ref);
    }
    nn_ddp_free(d);
    nn_dataloader_free(dl);
    nn_loss_free(ce);
    nn_optim_free(opt);
    nn_module_free(net);
    nn_dataset_free(&data);
}

static void test_agree(void)
{
    nn_module *net = model(false);
    nn_optim *opt = adam(net);
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, net, opt, NULL);
    int all_ok = nn_ddp_agree(d, NN_OK);
    int last_fails = nn_ddp_agree(d, rank == world - 1 ? NN_EIO : NN_OK);
    int all_fail = nn_ddp_agree(d, NN_ENOMEM);
    CHECK(all_ok == -1 && last_fails == world - 1 && all_fail == 0, "agree: %d %d %d", all_ok, last_fails,
          all_fail);
    if (rank == 0 && all_ok == -1 && last_fails == world - 1 && all_fail == 0)
        printf("ok nn_ddp_agree names the lowest failing rank\n");
    nn_ddp_free(d);
    nn_optim_free(opt);
    nn_module_free(net);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    nn_set_num_threads(1);
    char host[MPI_MAX_PROCESSOR_NAME] = "", *all = calloc((size_t)world, MPI_MAX_PROCESSOR_NAME);
    int len = 0;
    MPI_Get_processor_name(host, &len);
    MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("ranks on:");
        for (int r = 0; r < world; r++)
            printf(" %s", all + (size_t)r * MPI_MAX_PROCESSOR_NAME);
        printf("\n");
    }
    free(all);
    run(0, false);
    run(1024, false);   /* small buckets: many launched during backward */
    run(0, true);
    run(4096, true);
    test_agree();
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s: %d failure(s) on %d ranks\n", total ? "FAILED" : "PASSED", total, world);
    MPI_Finalize();
    return total ? 1 : 0;
}
