/* CIFAR-10, binary version: records of 1 label byte + 3072 pixel bytes
   (1024 red, 1024 green, 1024 blue, rows of 32), 10000 per file as shipped.
   Sizes are checked for every file before anything is allocated. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data_impl.h"
#include "nn/data.h"

#define RECORD 3073
#define MAX_FILES 5

static char *join(const char *dir, const char *sub, const char *name)
{
    size_t n = strlen(dir) + strlen(sub) + strlen(name) + 3;
    char *p = nn_alloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s%s", dir, sub, *sub ? "/" : "", name);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Paths of the files to read, in dir or dir/cifar-10-batches-bin. */
static int find_files(const char *dir, bool train, char **paths, int *n)
{
    static const char *train_names[MAX_FILES] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                                 "data_batch_4.bin", "data_batch_5.bin"};
    static const char *test_names[1] = {"test_batch.bin"};
    const char **names = train ? train_names : test_names;
    *n = train ? MAX_FILES : 1;
    char *probe = join(dir, "", names[0]);
    if (!probe)
        return NN_ENOMEM;
    const char *sub = exists(probe) ? "" : "cifar-10-batches-bin";
    nn_release(probe);
    for (int i = 0; i < *n; i++) {
        paths[i] = join(dir, sub, names[i]);
        if (!paths[i])
            return NN_ENOMEM;
    }
    return NN_OK;
}

static int read_records(FILE *f, const char *path, int64_t count, nn_dataset *d, int64_t first)
{
    uint8_t rec[RECORD];
    const int64_t plane = 3 * 32 * 32;
    for (int64_t r = 0; r < count; r++) {
        if (fread(rec, 1, RECORD, f) != RECORD)
            return nn_fail(NN_EIO, "nn_cifar10_load: %s: read failed at record %lld", path, (long long)r);
        if (rec[0] > 9)
            return nn_fail(NN_EFORMAT, "nn_cifar10_load: %s: label %u of record %lld is outside 0..9", path,
                           rec[0], (long long)r);
        d->labels->data[first + r] = (float)rec[0];
        float *img = d->images->data + (first + r) * plane;
        for (int64_t i = 0; i < plane; i++)
            img[i] = (float)rec[1 + i] / 255.0f; /* as ToTensor() */
    }
    return NN_OK;
}

int nn_cifar10_load(const char *dir, bool train, nn_dataset *out)
{
    if (!dir || !out)
        return nn_fail(NN_EINVAL, "nn_cifar10_load: %s is NULL", dir ? "out" : "dir");
    char *paths[MAX_FILES] = {0};
    int64_t counts[MAX_FILES] = {0}, total = 0;
    int n = 0;
    int rc = find_files(dir, train, paths, &n);
    for (int i = 0; rc == NN_OK && i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            rc = nn_fail(NN_EIO, "nn_cifar10_load: cannot open %s: %s (expected the binary version of CIFAR-10 "
                         "in %s or %s/cifar-10-batches-bin)", paths[i], strerror(errno), dir, dir);
        else if (!S_ISREG(st.st_mode))
            rc = nn_fail(NN_EIO, "nn_cifar10_load: %s is not a regular file", paths[i]);
        else if (st.st_size == 0 || st.st_size % RECORD)
            rc = nn_fail(NN_EFORMAT, "nn_cifar10_load: %s: size %lld bytes is not a positive multiple of the "
                         "%d-byte record (truncated?)", paths[i], (long long)st.st_size, RECORD);
        else
            total += counts[i] = st.st_size / RECORD;
    }
    nn_dataset d = {0};
    if (rc == NN_OK) {
        d.labels = nn_tensor_new(1, (int64_t[]){total});
        d.images = d.labels ? nn_tensor_new(4, (int64_t[]){total, 3, 32, 32}) : NULL;
        if (!d.images)
            rc = NN_ENOMEM;
    }
    for (int i = 0, first = 0; rc == NN_OK && i < n; first += (int)counts[i], i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            rc = nn_fail(NN_EIO, "nn_cifar10_load: cannot open %s: %s", paths[i], strerror(errno));
            break;
        }
        rc = read_records(f, paths[i], counts[i], &d, first);
        fclose(f);
    }
    if (rc == NN_OK)
        *out = d;
    else
        nn_dataset_free(&d);
    for (int i = 0; i < MAX_FILES; i++)
        nn_release(paths[i]);
    return rc;
}
