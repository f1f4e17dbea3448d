/* libnn_mpi: data-parallel training over MPI, as PyTorch's
   DistributedDataParallel: identical replicas, one averaged gradient per
   step. A small library beside libnn (libnn.a itself never links MPI),
   calling only the MPI standard (Open MPI and MPICH alike); it uses only
   libnn's public API (nn_optim_grad_block, nn_optim_param_block,
   nn_module_buffers, nn_module_set_backward_hook), which any other
   transport can use the same way.

   The contract (torch's):
   - every rank builds the same model with the same seed and creates its
     optimizer, then nn_ddp_new broadcasts rank 0's parameters and buffers
     (so a run resumed on rank 0's checkpoint starts equal everywhere);
   - each rank trains on its own share of every epoch
     (nn_dataloader_set_shard(dl, rank, world, seed, false) and
     nn_dataloader_set_epoch(dl, epoch) before each epoch);
   - nn_ddp_backward replaces nn_backward_params: after it every rank holds
     the mean of all ranks' gradients, so nn_optim_step keeps the replicas
     bit-identical;
   - buffers (BatchNorm's running statistics) are rank 0's: broadcast
     before every step when broadcast_buffers is set (torch's default),
     and by nn_ddp_broadcast_buffers before evaluation and checkpoints;
   - failures: the library never aborts or exits. nn_ddp_agree is a cheap
     collective on a status: every rank learns whether some rank failed
     (and which), so that all stop together with a message; MPI errors on
     the library's communicator come back as NN_EIO (MPI_ERRORS_RETURN).

   Every function here is collective over the communicator unless said
   otherwise: every rank calls it, in the same order. Compile with mpicc;
   link -lnn_mpi before -lnn (pkg-config nn-mpi). */
#ifndef NN_DDP_H
#define NN_DDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>
#include <nn.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_ddp nn_ddp;

typedef struct {
    /* 0: one in-place MPI_Allreduce of the whole gradient block after the
       backward. > 0: the block cut at parameter boundaries into buckets of
       about this many bytes (the last layers first), each started with
       MPI_Iallreduce as soon as the backward has finished its gradients
       (nn_module_set_backward_hook), the rest after it. */
    size_t bucket_bytes;
    /* torch's broadcast_buffers: rank 0's buffers go to every rank at the
       start of every nn_ddp_backward's step (see nn_ddp_before_forward). */
    bool broadcast_buffers;
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_ddp_defaults; by hand: fields as written */
} nn_ddp_opts;

/* bucket_bytes 0 (measured fastest for the Fashion-MNIST CNN on one
   machine: see the README), broadcast_buffers true. */
nn_ddp_opts nn_ddp_defaults(void);

/* Collective. Duplicates comm (errors there return), checks that every
   rank has the same number of parameters and buffers of the same sizes,
   broadcasts rank 0's parameters and buffers. net's optimizer opt must
   exist (its packed gradient block is what gets reduced; NULL when it is
   not packed: NN_EINVAL). NULL opts: nn_ddp_defaults(). Returns NULL +
   nn_last_error() on failure. Allocates here only; steps allocate
   nothing. With bucket_bytes > 0 it sets net's backward hook
   (nn_module_set_backward_hook, replacing any) until nn_ddp_free; every
   backward of net must then go through nn_ddp_backward. */
nn_ddp *nn_ddp_new(MPI_Comm comm, nn_module *net, nn_optim *opt, const nn_ddp_opts *opts);

int nn_ddp_rank(const nn_ddp *d);       /* not collective */
int nn_ddp_world_size(const nn_ddp *d); /* not collective */

/* Collective. Call before the forward of a training step: broadcasts the
   buffers when broadcast_buffers is set (as torch's DDP forward does),
   else nothing. NN_OK or NN_EIO. */
int nn_ddp_before_forward(nn_ddp *d);

/* Collective. nn_backward_params(net, grad_out), then the gradients
   averaged over all ranks (sum / world size) in every rank's gradient
   block. The reductions run even when this rank's backward failed (so
   that no rank waits forever); the return is then that failure's status
   and the caller must stop (tell the others with nn_ddp_agree).
   grad_out NULL: this rank has no backward to run (its forward failed):
   it takes part in the same reductions with its gradients as they are
   (zero after nn_optim_zero_grad) and returns NN_EINVAL, so that the other
   ranks finish the step and learn of the failure at the next agreement. */
int nn_ddp_backward(nn_ddp *d, const nn_tensor *grad_out);

/* Collective: averages the gradient block as nn_ddp_backward does, for
   gradients made another way. */
int nn_ddp_allreduce_grads(nn_ddp *d);

/* Collective: rank 0's buffers (F32 and I64) to every rank. */
int nn_ddp_broadcast_buffers(nn_ddp *d);
/* Collective: rank 0's parameters and buffers to every rank (nn_ddp_new
   does it; call it again after loading a checkpoint on rank 0 only). */
int nn_ddp_broadcast_state(nn_ddp *d);

/* Collective. status: this rank's (NN_OK or a negative nn_status).
   Returns -1 when every rank passed NN_OK, else the lowest rank that did
   not (>= 0); NN_EIO (-4) when the collective itself failed or d is NULL.
   One 4-byte MPI_Allreduce: cheap enough for every step. */
int nn_ddp_agree(nn_ddp *d, int status);

/* Not collective. Seconds spent in this rank's gradient reductions
   (waiting included) since nn_ddp_new or the last reset, and their count. */
double nn_ddp_reduce_seconds(const nn_ddp *d);
int64_t nn_ddp_reduce_count(const nn_ddp *d);
void nn_ddp_reset_timers(nn_ddp *d);

/* Not collective. Removes the backward hook and frees; NULL: no-op. Free
   it before the model and the optimizer. */
void nn_ddp_free(nn_ddp *d);

#ifdef __cplusplus
}
#endif
#endif
