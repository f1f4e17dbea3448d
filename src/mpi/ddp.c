/* libnn_mpi: DistributedDataParallel over MPI (nn/ddp.h). Public libnn
   API only: the optimizer's packed gradient and parameter blocks, the
   model's buffers, and the backward hook for bucketed reductions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nn/module_ops.h>

#include "nn/ddp.h"

struct nn_ddp {
    MPI_Comm comm;
    int rank, world;
    nn_module *net;
    nn_optim *opt;
    float *grads, *values; /* the optimizer's blocks */
    int64_t total;
    bool broadcast_buffers;
    /* buffers packed for one broadcast: F32 ones, then I64 ones */
    unsigned char *staging;
    size_t staging_bytes;
    /* buckets: [begin, end) ranges of the gradient block, bucket 0 at the
       end of the block (the last layers'), launched in index order */
    int n_params;
    int64_t *param_offset; /* per parameter, ascending (block order) */
    int *param_bucket;
    unsigned char *ready;  /* per parameter, this backward */
    int n_buckets, next_bucket;
    int64_t *bucket_begin, *bucket_end;
    int *bucket_left;      /* parameters not yet ready */
    MPI_Request *requests;
    int failed_mpi;        /* an MPI error inside the hook */
    double reduce_seconds;
    int64_t reduce_count;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return nn_set_error(NN_EIO, "%s: %s", what, msg);
}

nn_ddp_opts nn_ddp_defaults(void)
{
    return (nn_ddp_opts){.bucket_bytes = 0, .broadcast_buffers = true, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

int nn_ddp_rank(const nn_ddp *d) { return d ? d->rank : -1; }
int nn_ddp_world_size(const nn_ddp *d) { return d ? d->world : 0; }

/* --- buffers ------------------------------------------------------------ */

static size_t buffer_bytes(nn_module *net)
{
    nn_buffer *b;
    int n = nn_module_buffers(net, &b);
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        bytes += b[i].dtype == NN_F32 ? (size_t)nn_tensor_numel(b[i].value) * sizeof(float) : sizeof(int64_t);
    return bytes;
}

static void buffers_copy(nn_ddp *d, bool out)
{
    nn_buffer *b;
    int n = nn_module_buffers(d->net, &b);
    unsigned char *at = d->staging;
    for (int i = 0; i < n; i++) {
        if (b[i].dtype == NN_F32) {
            int64_t k = nn_tensor_numel(b[i].value);
            if (out)
                nn_tensor_copy_out(b[i].value, (float *)(void *)at);
            else
                nn_tensor_copy_in(b[i].value, (const float *)(const void *)at);
            at += (size_t)k * sizeof(float);
        } else {
            if (out)
                memcpy(at, b[i].int_value, sizeof(int64_t));
            else
                memcpy(b[i].int_value, at, sizeof(int64_t));
            at += sizeof(int64_t);
        }
    }
}

int nn_ddp_broadcast_buffers(nn_ddp *d)
{
    if (!d)
        return nn_set_error(NN_EINVAL, "nn_ddp_broadcast_buffers: d is NULL");
    if (!d->staging_bytes || d->world == 1)
        return NN_OK;
    if (d->rank == 0)
        buffers_copy(d, true);
    int rc = MPI_Bcast(d->staging, (int)d->staging_bytes, MPI_BYTE, 0, d->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "nn_ddp_broadcast_buffers: MPI_Bcast");
    if (d->rank != 0)
        buffers_copy(d, false);
    return NN_OK;
}

/* MPI counts are ints: big blocks go in pieces. */
#define MPI_CHUNK ((int64_t)1 << 30)

int nn_ddp_broadcast_state(nn_ddp *d)
{
    if (!d)
        return nn_set_error(NN_EINVAL, "nn_ddp_broadcast_state: d is NULL");
    for (int64_t at = 0; at < d->total; at += MPI_CHUNK) {
        int64_t k = d->total - at < MPI_CHUNK ? d->total - at : MPI_CHUNK;
        int rc = MPI_Bcast(d->values + at, (int)k, MPI_FLOAT, 0, d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "nn_ddp_broadcast_state: MPI_Bcast of the parameters");
    }
    return nn_ddp_broadcast_buffers(d);
}

int nn_ddp_before_forward(nn_ddp *d)
{
    if (!d)
        return nn_set_error(NN_EINVAL, "nn_ddp_before_forward: d is NULL");
    return d->broadcast_buffers ? nn_ddp_broadcast_buffers(d) : NN_OK;
}

/* --- gradients ------------------------------------------------------------ */

static int reduce_range(nn_ddp *d, int64_t begin, int64_t end)
{
    for (int64_t at = begin; at < end; at += MPI_CHUNK) {
        int64_t k = end - at < MPI_CHUNK ? end - at : MPI_CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, d->grads + at, (int)k, MPI_FLOAT, MPI_SUM, d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "nn_ddp: MPI_Allreduce of the gradients");
    }
    return NN_OK;
}

static void scale(nn_ddp *d)
{
    float w = (float)d->world;
    for (int64_t i = 0; i < d->total; i++)
        d->grads[i] /= w; /* torch divides by the world size */
}

int nn_ddp_allreduce_grads(nn_ddp *d)
{
    if (!d)
        return nn_set_error(NN_EINVAL, "nn_ddp_allreduce_grads: d is NULL");
    if (d->world == 1)
        return NN_OK;
    double t0 = now_s();
    int rc = reduce_range(d, 0, d->total);
    d->reduce_seconds += now_s() - t0;
    d->reduce_count++;
    if (rc == NN_OK)
        scale(d);
    return rc;
}

/* Starts bucket next_bucket (a collective: every rank starts the same
   buckets in the same order). */
static void launch(nn_ddp *d)
{
    int b = d->next_bucket++;
    int64_t n = d->bucket_end[b] - d->bucket_begin[b];
    int rc = MPI_Iallreduce(MPI_IN_PLACE, d->grads + d->bucket_begin[b], (int)n, MPI_FLOAT, MPI_SUM, d->comm,
                            &d->requests[b]);
    if (rc != MPI_SUCCESS && !d->failed_mpi)
        d->failed_mpi = rc;
}

static int64_t find_param(const nn_ddp *d, int64_t offset)
{
    int lo = 0, hi = d->n_params - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (d->param_offset[mid] == offset)
            return mid;
        if (d->param_offset[mid] < offset)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* The backward finished m's gradients: mark them, start every bucket in
   order whose parameters are all final, and let MPI progress the ones in
   flight. */
static void on_backward(void *ctx, nn_module *m, const nn_param *p, int n)
{
    (void)m;
    nn_ddp *d = ctx;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int64_t k = find_param(d, p[i].grad->data - d->grads);
        if (k < 0 || d->ready[k])
            continue;
        d->ready[k] = 1;
        d->bucket_left[d->param_bucket[k]]--;
    }
    while (d->next_bucket < d->n_buckets && d->bucket_left[d->next_bucket] == 0)
        launch(d);
    if (d->next_bucket > 0) {
        int flag;
        MPI_Testall(d->next_bucket, d->requests, &flag, MPI_STATUSES_IGNORE);
    }
    d->reduce_seconds += now_s() - t0;
}

int nn_ddp_backward(nn_ddp *d, const nn_tensor *grad_out)
{
    if (!d)
        return nn_set_error(NN_EINVAL, "nn_ddp_backward: d is NULL");
    /* no gradient: this rank cannot run its backward (its forward failed)
       but runs the same reductions as the others, so that none waits */
    int skipped = grad_out ? NN_OK
                           : nn_set_error(NN_EINVAL, "nn_ddp_backward: no grad_out: took part in the "
                                                     "reduction without a backward");
    if (d->n_buckets == 0 || d->world == 1) {
        int st = grad_out ? nn_backward_params(d->net, grad_out) : skipped;
        int rc = nn_ddp_allreduce_grads(d); /* also after a failure: nobody waits forever */
        return st < 0 ? st : rc;
    }
    memset(d->ready, 0, (size_t)d->n_params);
    for (int b = 0; b < d->n_buckets; b++) {
        d->bucket_left[b] = 0;
        d->requests[b] = MPI_REQUEST_NULL;
    }
    for (int i = 0; i < d->n_params; i++)
        d->bucket_left[d->param_bucket[i]]++;
    d->next_bucket = 0;
    d->failed_mpi = 0;
    int st = grad_out ? nn_backward_params(d->net, grad_out) : skipped;
    double t0 = now_s();
    while (d->next_bucket < d->n_buckets) /* unused parameters, or a failed backward */
        launch(d);
    int rc = MPI_Waitall(d->n_buckets, d->requests, MPI_STATUSES_IGNORE);
    d->reduce_seconds += now_s() - t0;
    d->reduce_count++;
    if (d->failed_mpi)
        rc = d->failed_mpi;
    if (rc != MPI_SUCCESS) {
        int e = mpi_fail(rc, "nn_ddp_backward: MPI_Iallreduce of the gradients");
        return st < 0 ? st : e;
    }
    scale(d);
    return st;
}

int nn_ddp_agree(nn_ddp *d, int status)
{
    if (!d)
        return nn_set_error(NN_EIO, "nn_ddp_agree: d is NULL");
    int mine = status < 0 ? d->rank : d->world, first = d->world;
    int rc = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(rc, "nn_ddp_agree: MPI_Allreduce");
    return first < d->world ? first : -1;
}

double nn_ddp_reduce_seconds(const nn_ddp *d) { return d ? d->reduce_seconds : 0.0; }
int64_t nn_ddp_reduce_count(const nn_ddp *d) { return d ? d->reduce_count : 0; }

void nn_ddp_reset_timers(nn_ddp *d)
{
    if (d) {
        d->reduce_seconds = 0;
        d->reduce_count = 0;
    }
}

/* --- construction --------------------------------------------------------- */

void nn_ddp_free(nn_ddp *d)
{
    if (!d)
        return;
    if (d->net && d->n_buckets)
        nn_module_set_backward_hook(d->net, NULL, NULL);
    if (d->comm != MPI_COMM_NULL)
        MPI_Comm_free(&d->comm);
    free(d->staging);
    free(d->param_offset);
    free(d->param_bucket);
    free(d->ready);
    free(d->bucket_begin);
    free(d->bucket_end);
    free(d->bucket_left);
    free(d->requests);
    free(d);
}

/* Buckets of about bucket_bytes, cut at parameter boundaries, from the
   end of the block (the layers whose backward runs first). */
static int make_buckets(nn_ddp *d, size_t bucket_bytes)
{
    nn_param *p;
    int n = nn_module_params(d->net, &p);
    d->n_params = n;
    d->param_offset = malloc((size_t)n * sizeof *d->param_offset);
    d->param_bucket = malloc((size_t)n * sizeof *d->param_bucket);
    d->ready = malloc((size_t)n);
    d->bucket_begin = malloc((size_t)n * sizeof *d->bucket_begin);
    d->bucket_end = malloc((size_t)n * sizeof *d->bucket_end);
    d->bucket_left = malloc((size_t)n * sizeof *d->bucket_left);
    d->requests = malloc((size_t)n * sizeof *d->requests);
    if (!d->param_offset || !d->param_bucket || !d->ready || !d->bucket_begin || !d->bucket_end ||
        !d->bucket_left || !d->requests)
        return nn_set_error(NN_ENOMEM, "nn_ddp_new: no memory for %d parameters' buckets", n);
    for (int i = 0; i < n; i++)
        d->param_offset[i] = p[i].grad->data - d->grads;
    int64_t limit = (int64_t)(bucket_bytes / sizeof(float));
    if (limit < 1)
        limit = 1;
    int b = -1;
    for (int i = n - 1; i >= 0; i--) {
        int64_t end = i + 1 < n ? d->param_offset[i + 1] : d->total;
        if (b < 0 || d->bucket_end[b] - end >= limit) {
            b++;
            d->bucket_end[b] = end;
        }
        d->bucket_begin[b] = d->param_offset[i];
        d->param_bucket[i] = b;
    }
    d->n_buckets = b + 1;
    return NN_OK;
}

nn_ddp *nn_ddp_new(MPI_Comm comm, nn_module *net, nn_optim *opt, const nn_ddp_opts *opts)
{
    nn_ddp_opts o = opts ? *opts : nn_ddp_defaults();
    if (!net || !opt) {
        nn_set_error(NN_EINVAL, "nn_ddp_new: %s is NULL", net ? "optimizer" : "module");
        return NULL;
    }
    nn_ddp *d = calloc(1, sizeof *d);
    if (!d) {
        nn_set_error(NN_ENOMEM, "nn_ddp_new: no memory");
        return NULL;
    }
    d->comm = MPI_COMM_NULL;
    int rc = MPI_Comm_dup(comm, &d->comm);
    if (rc != MPI_SUCCESS) {
        d->comm = MPI_COMM_NULL;
        mpi_fail(rc, "nn_ddp_new: MPI_Comm_dup");
        nn_ddp_free(d);
        return NULL;
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->world);
    d->net = net;
    d->opt = opt;
    d->broadcast_buffers = o.broadcast_buffers;
    int64_t nv = 0;
    d->grads = nn_optim_grad_block(opt, &d->total);
    d->values = nn_optim_param_block(opt, &nv);
    int st = NN_OK;
    if (!d->grads || !d->values || nv != d->total)
        st = nn_set_error(NN_EINVAL, "nn_ddp_new: the optimizer's parameters are not packed in one block "
                                     "(a parameter re-pointed after the optimizer was made?)");
    d->staging_bytes = st == NN_OK ? buffer_bytes(net) : 0;
    if (st == NN_OK && d->staging_bytes && !(d->staging = malloc(d->staging_bytes)))
        st = nn_set_error(NN_ENOMEM, "nn_ddp_new: no memory for %zu bytes of buffers", d->staging_bytes);
    if (st == NN_OK && o.bucket_bytes)
        st = make_buckets(d, o.bucket_bytes);
    /* every rank must hold the same model: compare sizes (and agree on
       failures before any broadcast) */
    long long mine[2] = {st == NN_OK ? (long long)d->total : -1, (long long)d->staging_bytes}, lo[2], hi[2];
    rc = MPI_Allreduce(mine, lo, 2, MPI_LONG_LONG, MPI_MIN, d->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(mine, hi, 2, MPI_LONG_LONG, MPI_MAX, d->comm);
    if (rc != MPI_SUCCESS)
        st = mpi_fail(rc, "nn_ddp_new: MPI_Allreduce");
    else if (st == NN_OK && lo[0] < 0)
        st = nn_set_error(NN_EINVAL, "nn_ddp_new: another rank failed to set up");
    else if (st == NN_OK && (lo[0] != hi[0] || lo[1] != hi[1]))
        st = nn_set_error(NN_EINVAL,
                          "nn_ddp_new: the ranks' models differ (parameters %lld..%lld floats, buffers "
                          "%lld..%lld bytes; this rank %lld, %lld)",
                          lo[0], hi[0], lo[1], hi[1], mine[0], mine[1]);
    if (st == NN_OK)
        st = nn_ddp_broadcast_state(d);
    if (st == NN_OK && d->n_buckets && nn_module_set_backward_hook(net, on_backward, d) < 0)
        st = NN_EINVAL;
    if (st < 0) {
        if (d->n_buckets) /* not set: do not remove someone else's */
            d->n_buckets = 0;
        nn_ddp_free(d);
        return NULL;
    }
    return d;
}
