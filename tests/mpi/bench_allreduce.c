/* The cost of one step's gradient reduction, alone: mpirun -np 2
   build/mpi/bench_allreduce [floats] [rounds]. Default: the Fashion-MNIST
   CNN's 421,642 gradients. Every round starts after a barrier, so waiting
   for a slower rank is not counted; prints the median and the fastest
   round of an in-place MPI_Allreduce (nn_ddp's bucket_bytes 0) and of the
   same block in 256 KiB MPI_Iallreduce buckets. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mpi.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    long n = argc > 1 ? atol(argv[1]) : 421642;
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    float *g = malloc((size_t)n * sizeof *g);
    double *t = malloc((size_t)rounds * sizeof *t);
    for (long i = 0; i < n; i++)
        g[i] = (float)(i % 97) * 1e-3f;
    for (int mode = 0; mode < 2; mode++) {
        for (int r = 0; r < rounds; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (mode == 0)
                MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            else {
                long bucket = 65536;
                int k = (int)((n + bucket - 1) / bucket);
                MPI_Request req[256];
                for (int b = 0; b < k && b < 256; b++) {
                    long at = (long)b * bucket, len = n - at < bucket ? n - at : bucket;
                    MPI_Iallreduce(MPI_IN_PLACE, g + at, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req[b]);
                }
                MPI_Waitall(k < 256 ? k : 256, req, MPI_STATUSES_IGNORE);
            }
            t[r] = MPI_Wtime() - t0;
        }
        qsort(t, (size_t)rounds, sizeof *t, cmp);
        if (rank == 0)
            printf("%d ranks, %ld floats (%.2f MB), %s: median %.3f ms, fastest %.3f ms over %d rounds\n", world, n,
                   (double)n * 4 / 1e6, mode ? "256 KiB Iallreduce buckets" : "one in-place MPI_Allreduce",
                   t[rounds / 2] * 1e3, t[0] * 1e3, rounds);
    }
    free(g);
    free(t);
    MPI_Finalize();
    return 0;
}
