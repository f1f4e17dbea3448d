/* CSV loading speed: writes a numeric CSV file (default 64 MB: a header
   and rows of 8 columns of numbers as data files hold them, e.g.
   "-12.3456,0.001234,1234567,3.25e-05") into a temporary file, then times
   nn_csv_load on it (best of --reps runs) and prints MB/s of file text on
   one core. The file is removed at the end.
   Usage: csv_bench [--mb N] [--reps N] [--dir DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*s >> 33);
}

int main(int argc, char **argv)
{
    double mb = 64;
    int reps = 3;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mb"))
            mb = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
    }
    char path[256];
    snprintf(path, sizeof path, "%s/nn_csv_bench_%ld.csv", dir, (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    const int cols = 8;
    fprintf(f, "c0");
    for (int c = 1; c < cols; c++)
        fprintf(f, ",c%d", c);
    fputc('\n', f);
    uint64_t s = 1;
    long long rows = 0;
    size_t bytes = 0, target = (size_t)(mb * 1e6);
    while (bytes < target) {
        char line[256];
        int n = 0;
        for (int c = 0; c < cols; c++) {
            uint32_t r = lcg(&s);
            const char *sep = c ? "," : "";
            switch (c % 4) { /* prices, small fractions, integers, scientific */
            case 0: n += snprintf(line + n, sizeof line - (size_t)n, "%s%.4f", sep, (double)(r % 2000000) / 100.0 - 10000.0); break;
            case 1: n += snprintf(line + n, sizeof line - (size_t)n, "%s%.6f", sep, (double)(r % 1000000) / 1e6); break;
            case 2: n += snprintf(line + n, sizeof line - (size_t)n, "%s%u", sep, r % 10000000); break;
            default: n += snprintf(line + n, sizeof line - (size_t)n, "%s%.3e", sep, (double)r * 1e-12); break;
            }
        }
        line[n++] = '\n';
        fwrite(line, 1, (size_t)n, f);
        bytes += (size_t)n;
        rows++;
    }
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    double best = 1e30;
    for (int k = 0; k < reps; k++) {
        nn_table t;
        double t0 = now();
        int rc = nn_csv_load(path, NULL, &t);
        double dt = now() - t0;
        if (rc != NN_OK) {
            fprintf(stderr, "nn_csv_load: %s\n", nn_last_error());
            unlink(path);
            return 1;
        }
        if (t.rows != rows || t.cols != cols) {
            fprintf(stderr, "got %lld x %lld, wrote %lld x %d\n", (long long)t.rows, (long long)t.cols, rows, cols);
            unlink(path);
            return 1;
        }
        nn_table_free(&t);
        if (dt < best)
            best = dt;
    }
    unlink(path);
    printf("csv_load: %.1f MB (%lld rows x %d numeric columns) in %.3f s: %.0f MB/s (best of %d, one core)\n",
           (double)bytes / 1e6, rows, cols, best, (double)bytes / 1e6 / best, reps);
    return 0;
}
