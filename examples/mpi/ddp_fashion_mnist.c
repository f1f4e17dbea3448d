/* Data-parallel training over MPI (libnn_mpi, nn/ddp.h) of the two
   Fashion-MNIST examples: the CNN of examples/fashion_mnist.c (--model cnn,
   the default) and the ResNet of examples/resnet_fashion_mnist.c
   (--model resnet, with its AdamW + cosine + augmentation recipe). Every
   rank builds the same model from --seed, rank 0's parameters and buffers
   are broadcast, each rank trains on its DistributedSampler share of every
   epoch, and the gradients are averaged every step (PyTorch's
   DistributedDataParallel). Rank 0 prints the single-process example's
   lines and writes the checkpoints; --resume makes every rank continue
   from them. A rank that fails (a missing data file, a NaN loss, no
   memory) makes every rank stop with a message naming it.

     make mpi
     mpirun -np 2 build/mpi/ddp_fashion_mnist --threads 1 --epochs 2
     mpirun --allow-run-as-root --oversubscribe -np 2 ...   (as root in a container)

   Flags: those of examples/fashion_mnist.c (--batch-size is per rank, as
   torch's DataLoader under DDP; default 64 / ranks, so that a step sees
   64 images as the single-process run), and
     --model cnn|resnet   the network (default cnn)
     --bucket-kb N        gradients reduced in buckets of N KiB launched
                          during backward (default 0: one all-reduce after
                          backward, measured faster here)
   For the tests: NN_DDP_KILL=RANK:STEP kills rank RANK with SIGKILL at its
   STEP-th training step of the run, as a crash would;
   NN_DDP_FAIL_ALLOC=RANK:N makes the N-th allocation of libnn on rank
   RANK fail (and every one after it), as running out of memory would. */
#include <signal.h>

#include <nn/ddp.h>

#include "../imgcls_common.h"
#include "../resnet_model.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

typedef struct {
    int rank, world;
    size_t bucket_bytes;
    nn_ddp *ddp;
    long steps, kill_rank, kill_step;
    double reduce_before;
} ddp_ctx;

/* NN_DDP_FAIL_ALLOC: libnn's allocator from the N-th call on */
static long alloc_calls, alloc_fail_at = -1;
static void *failing_alloc(size_t n)
{
    return ++alloc_calls >= alloc_fail_at ? NULL : malloc(n);
}

static int ddp_start(void *ctx, nn_module *net, nn_optim *opt)
{
    ddp_ctx *c = ctx;
    nn_ddp_opts o = nn_ddp_defaults();
    o.bucket_bytes = c->bucket_bytes;
    c->ddp = nn_ddp_new(MPI_COMM_WORLD, net, opt, &o); /* broadcasts rank 0's state */
    return c->ddp ? NN_OK : NN_EINVAL;
}

static int ddp_before_forward(void *ctx)
{
    ddp_ctx *c = ctx;
    return nn_ddp_before_forward(c->ddp);
}

static int ddp_backward(void *ctx, const nn_tensor *g)
{
    ddp_ctx *c = ctx;
    if (++c->steps == c->kill_step && c->rank == c->kill_rank) {
        fprintf(stderr, "rank %d: NN_DDP_KILL: killing myself at step %ld\n", c->rank, c->steps);
        fflush(stderr);
        raise(SIGKILL);
    }
    return nn_ddp_backward(c->ddp, g);
}

static int ddp_agree(void *ctx, int status)
{
    ddp_ctx *c = ctx;
    if (c->ddp)
        return nn_ddp_agree(c->ddp, status);
    /* before nn_ddp_new (loading, setup): the same agreement on the world */
    int mine = status < 0 ? c->rank : c->world, first = c->world;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return NN_EIO;
    return first < c->world ? first : -1;
}

static int ddp_sync_buffers(void *ctx)
{
    ddp_ctx *c = ctx;
    return nn_ddp_broadcast_buffers(c->ddp);
}

static void ddp_epoch_done(void *ctx, long epoch, double seconds, long steps)
{
    ddp_ctx *c = ctx;
    double reduce = nn_ddp_reduce_seconds(c->ddp), mine = reduce - c->reduce_before, most = 0;
    c->reduce_before = reduce;
    MPI_Reduce(&mine, &most, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (c->rank == 0)
        printf("epoch %ld: gradient all-reduce %.2f s of %.1f s (%.1f%%; %.2f ms per step, slowest rank)\n", epoch,
               most, seconds, 100.0 * most / seconds, 1000.0 * most / (double)(steps ? steps : 1));
}

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", argv[0]);
        return 1;
    }
    ddp_ctx c = {0};
    MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c.world);
    snprintf(imgcls_who, sizeof imgcls_who, "rank %d: ", c.rank);
    const char *kill = getenv("NN_DDP_KILL");
    c.kill_rank = c.kill_step = -1;
    if (kill && sscanf(kill, "%ld:%ld", &c.kill_rank, &c.kill_step) != 2)
        c.kill_rank = c.kill_step = -1;
    const char *fail = getenv("NN_DDP_FAIL_ALLOC");
    long fail_rank = -1;
    if (fail && sscanf(fail, "%ld:%ld", &fail_rank, &alloc_fail_at) == 2 && fail_rank == c.rank)
        nn_set_allocator(failing_alloc, free);

    /* our own flags out of argv, the rest for the shared parser */
    bool resnet = false;
    long bucket_kb = 0;
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "cnn") && strcmp(m, "resnet")) {
                fprintf(stderr, "%s: --model expects cnn or resnet, got \"%s\"\n", argv[0], m);
                MPI_Finalize();
                return 2;
            }
            resnet = !strcmp(m, "resnet");
        } else if (!strcmp(argv[i], "--bucket-kb") && i + 1 < argc) {
            bucket_kb = parse_long(argv[0], "--bucket-kb", argv[++i], 0);
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    c.bucket_bytes = (size_t)bucket_kb * 1024;
    long per_rank = 64 / c.world > 0 ? 64 / c.world : 1;
    run_opts o = {.data = "/usr/share/datasets/fashion-mnist", .svg = "fashion_mnist.svg", .epochs = 2,
                  .batch_size = per_rank, .seed = 0, .lr = 1e-3f, .normalize = true};
    if (resnet)
        o = (run_opts){.data = "/usr/share/datasets/fashion-mnist", .svg = "resnet_fashion_mnist.svg",
                       .epochs = 10, .batch_size = per_rank, .seed = 0, .lr = 2e-3f, .normalize = true,
                       .adamw = true, .cosine = true, .weight_decay = 5e-4f, .crop_padding = 2, .flip_p = 0.5f};
    parse_args(argc, argv, &o);
    imgcls_dist dist = {.rank = c.rank, .world = c.world, .ctx = &c, .start = ddp_start,
                        .before_forward = ddp_before_forward, .backward = ddp_backward, .agree = ddp_agree,
                        .sync_buffers = ddp_sync_buffers, .epoch_done = ddp_epoch_done};
    o.dist = &dist;
    if (c.rank != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 prints */
        fprintf(stderr, "rank %d: cannot silence stdout\n", c.rank);

    nn_manual_seed(o.seed); /* the same weights on every rank (and rank 0's are broadcast) */
    nn_module *net = resnet ? resnet_model() : imgcls_net(1, 28);
    int st = net ? NN_OK : NN_ENOMEM;
    if (!net)
        fprintf(stderr, "rank %d: cannot build the network: %s\n", c.rank, nn_last_error());
    int rc = dist_agree(&o, st, "building the network") >= 0
                 ? 1
                 : run(&o, net, nn_mnist_load,
                       "Install the data with: apt-get install dataset-fashion-mnist (or pass --data DIR "
                       "holding train-images-idx3-ubyte.gz and friends)",
                       resnet ? "Fashion-MNIST (ResNet, data-parallel)" : "Fashion-MNIST (data-parallel)",
                       fashion_names);
    nn_ddp_free(c.ddp);
    nn_module_free(net);
    if (alloc_fail_at >= 0 && fail_rank == c.rank && alloc_calls < alloc_fail_at)
        fprintf(stderr, "rank %d: NN_DDP_FAIL_ALLOC: only %ld allocations were made\n", c.rank, alloc_calls);
    /* every rank got here (failures were agreed on): a clean end, with the
       failure's exit status */
    MPI_Finalize();
    return rc;
}
