/* MNIST / Fashion-MNIST in IDX format (big-endian header, then bytes):
   images: magic 0x00000803, count, rows, cols; labels: magic 0x00000801,
   count. Each file raw or gzip-compressed (name + ".gz"). Every header
   field is checked against the actual data size before any tensor is
   allocated. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "data_impl.h"
#include "nn/data.h"

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define MAX_FILE ((size_t)(SIZE_MAX / 4 < (UINT64_C(1) << 34) ? SIZE_MAX / 4 : (UINT64_C(1) << 34))) /* 16 GiB */

typedef struct {
    char *path;    /* the file actually read (for messages) */
    uint8_t *data; /* decompressed contents */
    size_t len;
} idx_file;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static char *join(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *p = nn_alloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", dir, name, suffix);
    return p;
}

/* Reads dir/name, else dir/name.gz (decompressed). */
static int read_idx(const char *dir, const char *name, idx_file *f)
{
    memset(f, 0, sizeof *f);
    int err;
    char *raw = join(dir, name, "");
    if (!raw)
        return NN_ENOMEM;
    int rc = nn_read_whole_file(raw, MAX_FILE, &f->data, &f->len, &err);
    if (rc == NN_OK || !(rc == NN_EIO && err == ENOENT)) {
        f->path = raw;
        if (rc == NN_EIO)
            return nn_fail(rc, "nn_mnist_load: cannot read %s: %s", raw, err ? strerror(err) : "not a regular file");
        if (rc == NN_EFORMAT)
            return nn_fail(rc, "nn_mnist_load: %s is larger than any IDX file could be", raw);
        return rc;
    }
    char *gz = join(dir, name, ".gz");
    if (!gz) {
        nn_release(raw);
        return NN_ENOMEM;
    }
    uint8_t *packed;
    size_t packed_len;
    rc = nn_read_whole_file(gz, MAX_FILE, &packed, &packed_len, &err);
    if (rc != NN_OK) {
        if (rc == NN_EIO && err == ENOENT)
            nn_fail(rc, "nn_mnist_load: found neither %s nor %s", raw, gz);
        else if (rc == NN_EIO)
            nn_fail(rc, "nn_mnist_load: cannot read %s: %s", gz, err ? strerror(err) : "not a regular file");
        else if (rc == NN_EFORMAT)
            nn_fail(rc, "nn_mnist_load: %s is larger than any IDX file could be", gz);
        nn_release(raw);
        nn_release(gz);
        return rc;
    }
    nn_release(raw);
    f->path = gz;
    const char *why = "";
    rc = nn_gunzip(packed, packed_len, MAX_FILE, &f->data, &f->len, &why);
    nn_release(packed);
    if (rc != NN_OK)
        return nn_fail(rc, "nn_mnist_load: %s: corrupt gzip data: %s", gz, why);
    return NN_OK;
}

static void idx_free(idx_file *f)
{
    nn_release(f->path);
    nn_release(f->data);
    memset(f, 0, sizeof *f);
}

/* Checks an IDX header: magic, non-zero dimensions, and that the data that
   follows has exactly the announced size. */
static int check_idx(const idx_file *f, uint32_t magic, int ndims, uint32_t *dims)
{
    size_t header = 4 + 4 * (size_t)ndims;
    if (f->len < header)
        return nn_fail(NN_EFORMAT, "nn_mnist_load: %s: truncated header (%zu bytes, expected at least %zu)",
                       f->path, f->len, header);
    uint32_t got = be32(f->data);
    if (got != magic)
        return nn_fail(NN_EFORMAT, "nn_mnist_load: %s: wrong magic number 0x%08x, expected 0x%08x (%s)", f->path,
                       got, magic, magic == IDX_IMAGES ? "IDX images" : "IDX labels");
    uint64_t need = 1;
    bool too_big = false;
    char shape[64] = "";
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(f->data + 4 + 4 * i);
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%u", i ? " x " : "", dims[i]);
        if (dims[i] == 0)
            return nn_fail(NN_EFORMAT, "nn_mnist_load: %s: dimension %d of the header is zero", f->path, i);
        if (dims[i] > f->len / need) /* more than the file could hold; also keeps need from overflowing */
            too_big = true;
        else
            need *= dims[i];
    }
    size_t have = f->len - header;
    if (too_big || need > have)
        return nn_fail(NN_EFORMAT, "nn_mnist_load: %s: header announces %s bytes of data but only %zu follow (truncated?)",
                       f->path, shape, have);
    if (need < have)
        return nn_fail(NN_EFORMAT, "nn_mnist_load: %s: %zu trailing bytes after the %s bytes the header announces",
                       f->path, have - (size_t)need, shape);
    return NN_OK;
}

int nn_mnist_load(const char *dir, bool train, nn_dataset *out)
{
    if (!dir || !out)
        return nn_fail(NN_EINVAL, "nn_mnist_load: %s is NULL", dir ? "out" : "dir");
    const char *prefix = train ? "train" : "t10k";
    char img_name[64], lab_name[64];
    snprintf(img_name, sizeof img_name, "%s-images-idx3-ubyte", prefix);
    snprintf(lab_name, sizeof lab_name, "%s-labels-idx1-ubyte", prefix);

    idx_file lab, img;
    uint32_t ldims[1], idims[3];
    int rc = read_idx(dir, lab_name, &lab);
    if (rc == NN_OK)
        rc = check_idx(&lab, IDX_LABELS, 1, ldims);
    for (uint32_t i = 0; rc == NN_OK && i < ldims[0]; i++)
        if (lab.data[8 + i] > 9)
            rc = nn_fail(NN_EFORMAT, "nn_mnist_load: %s: label %u of item %u is outside 0..9", lab.path,
                         lab.data[8 + i], i);
    if (rc != NN_OK) {
        idx_free(&lab);
        return rc;
    }
    rc = read_idx(dir, img_name, &img);
    if (rc == NN_OK)
        rc = check_idx(&img, IDX_IMAGES, 3, idims);
    if (rc == NN_OK && idims[0] != ldims[0])
        rc = nn_fail(NN_EFORMAT, "nn_mnist_load: %s holds %u images but %s holds %u labels", img.path, idims[0],
                     lab.path, ldims[0]);
    nn_dataset d = {0};
    if (rc == NN_OK) {
        d.labels = nn_tensor_new(1, (int64_t[]){ldims[0]});
        d.images = d.labels ? nn_tensor_new(4, (int64_t[]){idims[0], 1, idims[1], idims[2]}) : NULL;
        if (!d.images)
            rc = NN_ENOMEM;
    }
    if (rc == NN_OK) {
        for (uint32_t i = 0; i < ldims[0]; i++)
            d.labels->data[i] = (float)lab.data[8 + i];
        const uint8_t *px = img.data + 16;
        size_t n = img.len - 16;
        for (size_t i = 0; i < n; i++)
            d.images->data[i] = (float)px[i] / 255.0f; /* as ToTensor() */
        *out = d;
    } else {
        nn_dataset_free(&d);
    }
    idx_free(&lab);
    idx_free(&img);
    return rc;
}
