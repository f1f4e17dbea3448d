/* Datasets and DataLoader: the inflate against Python's gzip encoder
   (tests/gen_data.py) and a stored-block writer of our own, MNIST IDX raw
   and .gz, CIFAR-10 binary, every kind of bad file, and the DataLoader's
   batch counts, drop_last, per-epoch shuffling and allocations. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "data/data_impl.h"

#define FIX "tests/fixtures/data"

/* --- helpers: files, temp dirs, allocation counting */

static char tmpdir[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nn_test_data_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    uint8_t *p;
    int err;
    assert_int_equal(nn_read_whole_file(path, (size_t)1 << 30, &p, n, &err), NN_OK);
    return p;
}

static size_t biggest_alloc;
static void *tracking_alloc(size_t n)
{
    if (n > biggest_alloc)
        biggest_alloc = n;
    return malloc(n);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t lcg_byte(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return (uint8_t)('a' + (*x >> 16) % 16);
}

/* the formula of tests/gen_data.py */
static uint8_t pixel(int n, int r, int c)
{
    return (n + r + c) % 3 == 0 ? 0 : (uint8_t)((n * 37 + r * 11 + c * 3) % 256);
}

/* IDX images: header says `count` x rows x cols, data holds `items` images. */
static uint8_t *idx_images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols, uint32_t items, size_t *n)
{
    *n = 16 + (size_t)items * rows * cols;
    uint8_t *b = malloc(*n);
    put_be32(b, magic);
    put_be32(b + 4, count);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (uint32_t i = 0; i < items; i++)
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t c = 0; c < cols; c++)
                b[16 + ((size_t)i * rows + r) * cols + c] = pixel((int)i, (int)r, (int)c);
    return b;
}

static uint8_t *idx_labels(uint32_t magic, uint32_t count, uint32_t items, size_t *n)
{
    *n = 8 + items;
    uint8_t *b = malloc(*n);
    put_be32(b, magic);
    put_be32(b + 4, count);
    for (uint32_t i = 0; i < items; i++)
        b[8 + i] = (uint8_t)((i * 7) % 10);
    return b;
}

/* A well-formed raw MNIST pair of `items` 28x28 images in dir. */
static void write_mnist(const char *dir, const char *prefix, uint32_t items)
{
    char name[64];
    size_t n;
    uint8_t *b = idx_images(0x803, items, 28, 28, items, &n);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_file(path_in(dir, name), b, n);
    free(b);
    b = idx_labels(0x801, items, items, &n);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_file(path_in(dir, name), b, n);
    free(b);
}

/* A new directory under the temp dir; the caller frees the path. */
static char *make_dir(const char *name)
{
    char *p = strdup(path_in(tmpdir, name));
    assert_true(mkdir(p, 0700) == 0 || errno == EEXIST);
    return p;
}

/* gzip with stored blocks of at most `block` bytes, written by hand. */
static uint8_t *gzip_stored(const uint8_t *data, size_t n, size_t block, size_t *out_n)
{
    size_t blocks = n ? (n + block - 1) / block : 1;
    uint8_t *g = malloc(10 + blocks * 5 + n + 8), *p = g;
    const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(p, header, 10);
    p += 10;
    size_t at = 0;
    for (size_t b = 0; b < blocks; b++) {
        size_t len = n - at < block ? n - at : block;
        *p++ = b + 1 == blocks; /* BFINAL, BTYPE 00 */
        *p++ = (uint8_t)len;
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)~len;
        *p++ = (uint8_t)(~len >> 8);
        memcpy(p, data + at, len);
        p += len;
        at += len;
    }
    uint32_t crc = nn_crc32(0, data, n);
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)((uint32_t)n >> (8 * i));
    *out_n = (size_t)(p - g);
    return g;
}

/* --- inflate */

static void test_crc32_check_value(void **state)
{
    (void)state;
    assert_int_equal(nn_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(nn_crc32(nn_crc32(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5), 0xCBF43926u);
}

static void test_inflate_python_fixtures(void **state)
{
    (void)state;
    size_t n, out_n;
    uint8_t *gz = read_all(FIX "/fixed.gz", &n), *out;
    const char *why = "";
    assert_int_equal((gz[10 + 10] >> 1) & 3, 1); /* after "hello.txt\0": a fixed Huffman block */
    assert_int_equal(nn_gunzip(gz, n, 1 << 20, &out, &out_n, &why), NN_OK);
    const char *line = "hello hello hello libnn\n";
    assert_int_equal(out_n, 3 * strlen(line));
    for (int i = 0; i < 3; i++)
        assert_memory_equal(out + i * strlen(line), line, strlen(line));
    nn_release(out);
    free(gz);

    gz = read_all(FIX "/dynamic.gz", &n);
    assert_int_equal((gz[10] >> 1) & 3, 2); /* a dynamic Huffman block */
    assert_int_equal(nn_gunzip(gz, n, 1 << 20, &out, &out_n, &why), NN_OK);
    assert_int_equal(out_n, 20000);
    uint32_t x = 1;
    for (size_t i = 0; i < out_n; i++)
        assert_int_equal(out[i], lcg_byte(&x));
    nn_release(out);

    /* limits: output cap below the announced size */
    assert_int_equal(nn_gunzip(gz, n, 19999, &out, &out_n, &why), NN_EFORMAT);
    assert_non_null(strstr(why, "exceeds"));
    free(gz);
}

static void test_inflate_stored_blocks(void **state)
{
    (void)state;
    size_t n = 70000, gn, out_n;
    uint8_t *data = malloc(n), *out;
    uint32_t x = 5;
    for (size_t i = 0; i < n; i++)
        data[i] = lcg_byte(&x);
    const char *why = "";
    for (size_t block = 1000; block <= 65535; block += 64535) { /* many small blocks, then the largest */
        uint8_t *gz = gzip_stored(data, n, block, &gn);
        assert_int_equal(nn_gunzip(gz, gn, n, &out, &out_n, &why), NN_OK);
        assert_int_equal(out_n, n);
        assert_memory_equal(out, data, n);
        nn_release(out);
        free(gz);
    }
    uint8_t *gz = gzip_stored(data, 0, 10, &gn); /* empty member */
    assert_int_equal(nn_gunzip(gz, gn, 10, &out, &out_n, &why), NN_OK);
    assert_int_equal(out_n, 0);
    nn_release(out);
    free(gz);
    free(data);
}

static void expect_gunzip_error(const uint8_t *gz, size_t n, const char *fragment)
{
    uint8_t *out = NULL;
    size_t out_n = 0;
    const char *why = "";
    assert_int_equal(nn_gunzip(gz, n, 1 << 24, &out, &out_n, &why), NN_EFORMAT);
    if (fragment && !strstr(why, fragment)) {
        fprintf(stderr, "gunzip said \"%s\", expected \"%s\"\n", why, fragment);
        fail();
    }
}

static void test_inflate_corrupt(void **state)
{
    (void)state;
    size_t n;
    uint8_t *gz = read_all(FIX "/dynamic.gz", &n);
    uint8_t *bad = malloc(n);

    memcpy(bad, gz, n);
    bad[0] = 0x1e;
    expect_gunzip_error(bad, n, "magic");
    memcpy(bad, gz, n);
    bad[n - 8] ^= 1; /* CRC */
    expect_gunzip_error(bad, n, "CRC");
    memcpy(bad, gz, n);
    memcpy(bad + n - 4, "\xff\xff\xff\x00", 4); /* ISIZE 16 MiB from 11 KiB: beyond deflate's ratio */
    expect_gunzip_error(bad, n, "more than the data could hold");
    memcpy(bad, gz, n);
    bad[n - 4] = 0x10; /* ISIZE 20000 -> 19984: too small */
    bad[n - 3] = 0x4e;
    expect_gunzip_error(bad, n, "more data than");
    memcpy(bad, gz, n);
    bad[n - 4] += 1; /* announces one byte too many */
    expect_gunzip_error(bad, n, "less data than");
    memcpy(bad, gz, n);
    bad[10] |= 6; /* block type 3 */
    expect_gunzip_error(bad, n, "block type");
    expect_gunzip_error(gz, 12, "too short");
    /* truncations keeping the trailer's shape: the stream ends early */
    memcpy(bad, gz, n);
    memcpy(bad + n / 2, gz + n - 8, 8);
    expect_gunzip_error(bad, n / 2 + 8, NULL);
    /* flipping any single byte of the deflate data never crashes and is caught */
    for (size_t i = 10; i < n - 8; i += 7) {
        memcpy(bad, gz, n);
        bad[i] ^= 0x5a;
        expect_gunzip_error(bad, n, NULL);
    }
    /* every truncation of a small file is an error */
    free(gz);
    gz = read_all(FIX "/fixed.gz", &n);
    for (size_t cut = 0; cut < n; cut++)
        expect_gunzip_error(gz, cut, NULL);
    free(gz);
    free(bad);
}

/* --- MNIST */

static void check_mnist(const nn_dataset *d, int64_t items)
{
    assert_int_equal(d->images->ndim, 4);
    assert_int_equal(d->images->shape[0], items);
    assert_int_equal(d->images->shape[1], 1);
    assert_int_equal(d->images->shape[2], 28);
    assert_int_equal(d->images->shape[3], 28);
    assert_int_equal(d->labels->ndim, 1);
    assert_int_equal(d->labels->shape[0], items);
    for (int i = 0; i < items; i++) {
        assert_true(d->labels->data[i] == (float)((i * 7) % 10));
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++)
                assert_true(d->images->data[(i * 28 + r) * 28 + c] == (float)pixel(i, r, c) / 255.0f);
    }
}

static void test_mnist_gz_fixtures(void **state)
{
    (void)state;
    nn_dataset d = {0};
    assert_int_equal(nn_mnist_load(FIX "/mnist_gz", true, &d), NN_OK);
    check_mnist(&d, 20);
    nn_dataset_free(&d);
    assert_null(d.images);
    assert_int_equal(nn_mnist_load(FIX "/mnist_gz", false, &d), NN_OK);
    check_mnist(&d, 6);
    nn_dataset_free(&d);
    nn_dataset_free(&d); /* emptied: a second free is harmless */
    nn_dataset_free(NULL);
}

static void test_mnist_raw_and_odd_directory_names(void **state)
{
    (void)state;
    char *odd = make_dir("we'ird \"dir\" $(touch pwned) ;|&`x` *");
    write_mnist(odd, "train", 9);
    write_mnist(odd, "t10k", 4);
    nn_dataset d = {0};
    assert_int_equal(nn_mnist_load(odd, true, &d), NN_OK);
    check_mnist(&d, 9);
    nn_dataset_free(&d);
    assert_int_equal(nn_mnist_load(odd, false, &d), NN_OK);
    check_mnist(&d, 4);
    nn_dataset_free(&d);
    assert_int_equal(access("pwned", F_OK), -1);
    /* raw wins over .gz when both exist; a missing file names both candidates */
    remove(path_in(odd, "t10k-labels-idx1-ubyte"));
    assert_int_equal(nn_mnist_load(odd, false, &d), NN_EIO);
    assert_error_mentions("nn_mnist_load", "we'ird \"dir\" $(touch pwned)", "t10k-labels-idx1-ubyte.gz");
    assert_int_equal(nn_mnist_load("/nonexistent/dir", true, &d), NN_EIO);
    assert_error_mentions("/nonexistent/dir/train-labels-idx1-ubyte");
    assert_int_equal(nn_mnist_load(NULL, true, &d), NN_EINVAL);
    assert_int_equal(nn_mnist_load(odd, true, NULL), NN_EINVAL);
    free(odd);
}

/* Writes images/labels built by the caller into a fresh dir and expects
   nn_mnist_load to fail naming `file` and `what`, leave out untouched and
   allocate nothing much larger than the files. */
static void expect_mnist_error(const char *dirname, const uint8_t *img, size_t img_n, const uint8_t *lab, size_t lab_n,
                               int status, const char *file, const char *what)
{
    char *dir = make_dir(dirname);
    if (img)
        write_file(path_in(dir, "train-images-idx3-ubyte"), img, img_n);
    if (lab)
        write_file(path_in(dir, "train-labels-idx1-ubyte"), lab, lab_n);
    nn_tensor sentinel;
    nn_dataset d = {&sentinel, &sentinel};
    biggest_alloc = 0;
    nn_set_allocator(tracking_alloc, free);
    int rc = nn_mnist_load(dir, true, &d);
    nn_set_allocator(NULL, NULL);
    assert_int_equal(rc, status);
    assert_ptr_equal(d.images, &sentinel);
    assert_ptr_equal(d.labels, &sentinel);
    assert_error_mentions("nn_mnist_load", file, what);
    assert_true(biggest_alloc <= 2 * (img_n > lab_n ? img_n : lab_n) + 4096);
    free(dir);
}

static void test_mnist_bad_files(void **state)
{
    (void)state;
    size_t in, ln;
    uint8_t *img = idx_images(0x803, 5, 28, 28, 5, &in), *lab = idx_labels(0x801, 5, 5, &ln);
    uint8_t *x;
    size_t xn;

    expect_mnist_error("no_images", NULL, 0, lab, ln, NN_EIO, "train-images-idx3-ubyte.gz", "found neither");
    expect_mnist_error("no_labels", img, in, NULL, 0, NN_EIO, "train-labels-idx1-ubyte", "found neither");

    x = idx_images(0x801, 5, 28, 28, 5, &xn);
    expect_mnist_error("magic_images", x, xn, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "wrong magic number 0x00000801");
    free(x);
    x = idx_labels(0x803, 5, 5, &xn);
    expect_mnist_error("magic_labels", img, in, x, xn, NN_EFORMAT, "train-labels-idx1-ubyte", "wrong magic");
    free(x);

    x = idx_labels(0x801, 4, 4, &xn);
    expect_mnist_error("count", img, in, x, xn, NN_EFORMAT, "holds 5 images", "holds 4 labels");
    free(x);

    x = idx_images(0x803, 5, 28, 28, 5, &xn);
    expect_mnist_error("truncated", x, xn - 100, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "truncated");
    expect_mnist_error("header_only", x, 10, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "truncated header");
    expect_mnist_error("trailing", x, xn, lab, ln - 1, NN_EFORMAT, "train-labels-idx1-ubyte", "truncated");
    free(x);
    x = idx_images(0x803, 4, 28, 28, 5, &xn);
    expect_mnist_error("extra", x, xn, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "trailing bytes");
    free(x);

    x = idx_images(0x803, 5, 0, 28, 5, &xn);
    expect_mnist_error("zero_rows", x, xn, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "zero");
    free(x);
    x = idx_images(0x803, 0, 28, 28, 0, &xn);
    expect_mnist_error("zero_count", x, xn, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "zero");
    free(x);
    /* huge dimensions: rejected from the file size, nothing big allocated */
    x = idx_images(0x803, 5, 28, 28, 5, &xn);
    put_be32(x + 4, 0xffffffffu);
    put_be32(x + 8, 0xffffffffu);
    put_be32(x + 12, 0xffffffffu);
    expect_mnist_error("huge", x, xn, lab, ln, NN_EFORMAT, "train-images-idx3-ubyte", "4294967295 x 4294967295");
    free(x);

    x = idx_labels(0x801, 5, 5, &xn);
    x[8 + 3] = 10;
    expect_mnist_error("label10", img, in, x, xn, NN_EFORMAT, "train-labels-idx1-ubyte", "label 10 of item 3 is outside 0..9");
    free(x);

    /* a directory where a file should be */
    char *dir = make_dir("dir_as_file");
    mkdir(path_in(dir, "train-labels-idx1-ubyte"), 0700);
    nn_dataset d = {0};
    assert_int_equal(nn_mnist_load(dir, true, &d), NN_EIO);
    assert_error_mentions("train-labels-idx1-ubyte");
    free(dir);
    free(img);
    free(lab);
}

static void test_mnist_corrupt_gz(void **state)
{
    (void)state;
    char *dir = make_dir("corrupt_gz");
    size_t n, ln;
    uint8_t *lab = read_all(FIX "/mnist_gz/train-labels-idx1-ubyte.gz", &ln);
    write_file(path_in(dir, "train-labels-idx1-ubyte.gz"), lab, ln);
    uint8_t *gz = read_all(FIX "/mnist_gz/train-images-idx3-ubyte.gz", &n);
    gz[n / 2] ^= 0x21;
    write_file(path_in(dir, "train-images-idx3-ubyte.gz"), gz, n);
    nn_tensor sentinel;
    nn_dataset d = {&sentinel, NULL};
    assert_true(nn_mnist_load(dir, true, &d) < 0);
    assert_ptr_equal(d.images, &sentinel);
    assert_error_mentions("nn_mnist_load", "corrupt_gz/train-images-idx3-ubyte.gz", "corrupt gzip data");
    /* a gzip whose content is a bad IDX file names the .gz */
    uint8_t bad_idx[20] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4};
    bad_idx[3] = 4;
    size_t gn;
    uint8_t *g = gzip_stored(bad_idx, sizeof bad_idx, 100, &gn);
    write_file(path_in(dir, "train-images-idx3-ubyte.gz"), g, gn);
    assert_int_equal(nn_mnist_load(dir, true, &d), NN_EFORMAT);
    assert_error_mentions("train-images-idx3-ubyte.gz", "wrong magic");
    /* a small gzip claiming a gigantic size is refused before allocating */
    g[gn - 1] = 0x7f;
    write_file(path_in(dir, "train-images-idx3-ubyte.gz"), g, gn);
    biggest_alloc = 0;
    nn_set_allocator(tracking_alloc, free);
    assert_int_equal(nn_mnist_load(dir, true, &d), NN_EFORMAT);
    nn_set_allocator(NULL, NULL);
    assert_true(biggest_alloc < 4096);
    assert_error_mentions("train-images-idx3-ubyte.gz");
    free(g);
    free(gz);
    free(lab);
    free(dir);
}

static long fail_at;
static void *failing_alloc(size_t n) { return --fail_at == 0 ? NULL : malloc(n); }

/* Every allocation of a load failing in turn: a clean error, nothing leaked
   (ASan / valgrind), out untouched. */
static void test_mnist_out_of_memory(void **state)
{
    (void)state;
    for (long k = 1;; k++) {
        nn_tensor sentinel;
        nn_dataset d = {&sentinel, &sentinel};
        fail_at = k;
        nn_set_allocator(failing_alloc, free);
        int rc = nn_mnist_load(FIX "/mnist_gz", true, &d);
        nn_set_allocator(NULL, NULL);
        if (rc == NN_OK) {
            assert_true(k > 3);
            check_mnist(&d, 20);
            nn_dataset_free(&d);
            break;
        }
        assert_int_equal(rc, NN_ENOMEM);
        assert_ptr_equal(d.images, &sentinel);
    }
}

/* --- CIFAR-10 */

static void write_cifar(const char *dir, const char *name, int records, int first, int bad_label_at, int cut)
{
    size_t n = (size_t)records * 3073;
    uint8_t *b = malloc(n);
    for (int r = 0; r < records; r++) {
        b[(size_t)r * 3073] = (uint8_t)((first + r) % 10);
        for (int i = 0; i < 3072; i++)
            b[(size_t)r * 3073 + 1 + i] = (uint8_t)((first + r) * 31 + i);
    }
    if (bad_label_at >= 0)
        b[(size_t)bad_label_at * 3073] = 10;
    write_file(path_in(dir, name), b, n - (size_t)cut);
    free(b);
}

static void write_cifar_set(const char *dir)
{
    char name[32];
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        write_cifar(dir, name, i == 3 ? 3 : 2, (i - 1) * 2 + (i > 3), -1, 0); /* 11 records in all */
    }
    write_cifar(dir, "test_batch.bin", 3, 100, -1, 0);
}

static void check_cifar(const nn_dataset *d, int64_t n, int first)
{
    assert_int_equal(d->images->ndim, 4);
    assert_int_equal(d->images->shape[0], n);
    assert_int_equal(d->images->shape[1], 3);
    assert_int_equal(d->images->shape[2], 32);
    assert_int_equal(d->images->shape[3], 32);
    for (int r = 0; r < n; r++) {
        assert_true(d->labels->data[r] == (float)((first + r) % 10));
        for (int i = 0; i < 3072; i += 97)
            assert_true(d->images->data[(size_t)r * 3072 + i] == (float)(uint8_t)((first + r) * 31 + i) / 255.0f);
    }
}

static void test_cifar10(void **state)
{
    (void)state;
    char *top = make_dir("cifar \"$HOME\"");
    char sub[512];
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", top);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_cifar_set(sub);
    nn_dataset d = {0};
    assert_int_equal(nn_cifar10_load(top, true, &d), NN_OK); /* found in the subdirectory */
    check_cifar(&d, 11, 0);
    nn_dataset_free(&d);
    assert_int_equal(nn_cifar10_load(sub, false, &d), NN_OK); /* or directly */
    check_cifar(&d, 3, 100);
    nn_dataset_free(&d);

    nn_tensor sentinel;
    nn_dataset keep = {&sentinel, &sentinel};
    write_cifar(sub, "data_batch_4.bin", 2, 0, 1, 0);
    assert_int_equal(nn_cifar10_load(top, true, &keep), NN_EFORMAT);
    assert_error_mentions("nn_cifar10_load", "data_batch_4.bin", "label 10 of record 1");
    write_cifar(sub, "data_batch_4.bin", 2, 0, -1, 5);
    assert_int_equal(nn_cifar10_load(top, true, &keep), NN_EFORMAT);
    assert_error_mentions("data_batch_4.bin", "6141 bytes", "truncated");
    write_cifar(sub, "test_batch.bin", 0, 0, -1, 0);
    assert_int_equal(nn_cifar10_load(top, false, &keep), NN_EFORMAT);
    assert_error_mentions("test_batch.bin", "size 0");
    remove(path_in(sub, "data_batch_2.bin"));
    assert_int_equal(nn_cifar10_load(top, true, &keep), NN_EIO);
    assert_error_mentions("nn_cifar10_load", "cifar \"$HOME\"/cifar-10-batches-bin/data_batch_2.bin");
    assert_ptr_equal(keep.images, &sentinel);
    assert_ptr_equal(keep.labels, &sentinel);
    assert_int_equal(nn_cifar10_load("/nonexistent", false, &keep), NN_EIO);
    assert_error_mentions("/nonexistent/cifar-10-batches-bin/test_batch.bin");
    assert_int_equal(nn_cifar10_load(NULL, false, &keep), NN_EINVAL);
    free(top);
}

/* --- DataLoader */

/* n items; item i has image [1, 2, 2] filled with i and label i % 10 */
static nn_dataset counting_dataset(int64_t n)
{
    nn_dataset d = {nn_tensor_new(NN_SHAPE(n, 1, 2, 2)), nn_tensor_new(NN_SHAPE(n))};
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++)
            d.images->data[i * 4 + k] = (float)i;
        d.labels->data[i] = (float)(i % 10);
    }
    return d;
}

/* Runs one epoch; checks each batch's consistency, records the item order. */
static int64_t run_epoch(nn_dataloader *dl, int64_t batch, int64_t *order, int64_t *last_size)
{
    nn_tensor *x, *y;
    int64_t batches = 0, at = 0;
    while (nn_dataloader_next(dl, &x, &y)) {
        batches++;
        *last_size = x->shape[0];
        assert_true(x->shape[0] <= batch);
        assert_int_equal(x->ndim, 4);
        assert_int_equal(y->ndim, 1);
        assert_int_equal(y->shape[0], x->shape[0]);
        for (int64_t i = 0; i < x->shape[0]; i++) {
            int64_t item = (int64_t)x->data[i * 4];
            assert_true(x->data[i * 4 + 3] == (float)item);
            assert_true(y->data[i] == (float)(item % 10));
            order[at++] = item;
        }
    }
    return batches;
}

static void assert_permutation(const int64_t *order, int64_t n, int64_t count)
{
    char *seen = calloc((size_t)n, 1);
    for (int64_t i = 0; i < count; i++) {
        assert_true(order[i] >= 0 && order[i] < n);
        assert_false(seen[order[i]]); /* each item at most once */
        seen[order[i]] = 1;
    }
    free(seen);
}

static void test_dataloader_batches_and_shuffle(void **state)
{
    (void)state;
    const int64_t n = 10000;
    nn_dataset d = counting_dataset(n);
    int64_t *first = malloc(n * sizeof *first), *second = malloc(n * sizeof *second), last = 0;

    nn_dataloader *dl = nn_dataloader_new(&d, 64, false, false);
    assert_int_equal(nn_dataloader_len(dl), 157);
    assert_int_equal(run_epoch(dl, 64, first, &last), 157); /* 156 full + one of 16 */
    assert_int_equal(last, 16);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(first[i], i); /* no shuffle: in order */
    nn_dataloader_free(dl);

    nn_manual_seed(42);
    dl = nn_dataloader_new(&d, 64, true, false);
    nn_dataset_free(&d); /* the loader keeps its own reference */
    assert_int_equal(run_epoch(dl, 64, first, &last), 157);
    assert_permutation(first, n, n); /* every item exactly once */
    int64_t in_place = 0;
    for (int64_t i = 0; i < n; i++)
        in_place += first[i] == i;
    assert_true(in_place < 50); /* actually shuffled */
    /* the next epoch reshuffles, without allocating */
    tu_allocs = 0;
    nn_set_allocator(tu_alloc, free);
    int64_t batches = run_epoch(dl, 64, second, &last);
    nn_set_allocator(NULL, NULL);
    assert_int_equal(tu_allocs, 0);
    assert_int_equal(batches, 157);
    assert_permutation(second, n, n);
    assert_true(memcmp(first, second, n * sizeof *first) != 0);
    nn_dataloader_free(dl);

    /* the same seed gives the same order */
    d = counting_dataset(n);
    nn_manual_seed(42);
    dl = nn_dataloader_new(&d, 64, true, false);
    run_epoch(dl, 64, second, &last);
    assert_memory_equal(first, second, n * sizeof *first);
    nn_dataloader_free(dl);

    /* drop_last: 156 batches of 64, the 16 left over never show */
    dl = nn_dataloader_new(&d, 64, true, true);
    assert_int_equal(nn_dataloader_len(dl), 156);
    for (int epoch = 0; epoch < 2; epoch++) {
        assert_int_equal(run_epoch(dl, 64, first, &last), 156);
        assert_int_equal(last, 64);
        assert_permutation(first, n, 156 * 64);
    }
    nn_dataloader_free(dl);

    /* batch larger than the dataset; exact multiple */
    dl = nn_dataloader_new(&d, 20000, false, false);
    assert_int_equal(run_epoch(dl, 20000, first, &last), 1);
    assert_int_equal(last, n);
    nn_dataloader_free(dl);
    dl = nn_dataloader_new(&d, 20000, false, true);
    assert_int_equal(run_epoch(dl, 20000, first, &last), 0);
    nn_dataloader_free(dl);
    dl = nn_dataloader_new(&d, 100, false, false);
    assert_int_equal(run_epoch(dl, 100, first, &last), 100);
    assert_int_equal(last, 100);
    nn_dataloader_free(dl);
    nn_dataset_free(&d);
    free(first);
    free(second);
}

static void test_dataloader_strided_and_errors(void **state)
{
    (void)state;
    /* images stored [N, W, H] and viewed [N, H, W] through a transpose */
    nn_tensor *store = nn_tensor_new(NN_SHAPE(5, 3, 2));
    for (int i = 0; i < 30; i++)
        store->data[i] = (float)i;
    nn_tensor *view = nn_tensor_transpose(store, 1, 2);
    nn_tensor *labels = nn_tensor_new(NN_SHAPE(5));
    nn_dataset d = {view, labels};
    nn_dataloader *dl = nn_dataloader_new(&d, 2, false, false);
    nn_tensor *x, *y;
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_true(nn_dataloader_next(dl, &x, &y)); /* items 2 and 3 */
    assert_int_equal(x->shape[1], 2);
    assert_int_equal(x->shape[2], 3);
    for (int item = 0; item < 2; item++)
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 3; w++)
                assert_true(x->data[item * 6 + h * 3 + w] == (float)((2 + item) * 6 + w * 2 + h));
    assert_true(nn_dataloader_next(dl, &x, &y));
    assert_int_equal(x->shape[0], 1);
    assert_false(nn_dataloader_next(dl, &x, &y));
    assert_true(nn_dataloader_next(dl, &x, &y)); /* a new epoch */
    assert_int_equal(x->shape[0], 2);
    assert_false(nn_dataloader_next(dl, NULL, &y));
    assert_error_mentions("nn_dataloader_next");
    nn_dataloader_free(dl);
    nn_dataloader_free(NULL);
    assert_int_equal(nn_dataloader_len(NULL), -1);

    assert_null(nn_dataloader_new(&d, 0, false, false));
    assert_error_mentions("nn_dataloader_new", "batch_size", "0");
    assert_null(nn_dataloader_new(NULL, 2, false, false));
    assert_error_mentions("nn_dataloader_new");
    nn_tensor *few = nn_tensor_new(NN_SHAPE(4));
    nn_dataset bad = {view, few};
    assert_null(nn_dataloader_new(&bad, 2, false, false));
    assert_error_mentions("nn_dataloader_new", "[5, 2, 3]", "[4]");
    bad.labels = NULL;
    assert_null(nn_dataloader_new(&bad, 2, false, false));
    assert_error_mentions("labels");
    nn_tensor_free(few);
    nn_tensor_free(view);
    nn_tensor_free(store);
    nn_tensor_free(labels);
}

/* Normalize per channel: values picked so that (x - m) / s is exact in
   float32, worked by hand; bad arguments change nothing. */
static void test_dataset_normalize(void **state)
{
    (void)state;
    /* two images, two channels, 1 x 2 pixels */
    const float x[8] = {0.0f, 1.0f, 0.25f, 0.75f, 0.5f, 0.125f, 1.0f, 0.0f};
    const float want[8] = {-1.0f, 1.0f, 0.0f, 2.0f, 0.0f, -0.75f, 3.0f, -1.0f};
    nn_dataset d = {nn_tensor_from(x, NN_SHAPE(2, 2, 1, 2)), nn_tensor_from((float[]){0, 1}, NN_SHAPE(2))};
    assert_non_null(d.images);
    const float mean[2] = {0.5f, 0.25f}, sd[2] = {0.5f, 0.25f};
    assert_int_equal(nn_dataset_normalize(&d, 2, mean, sd), NN_OK);
    assert_memory_equal(d.images->data, want, sizeof want);

    float before[8];
    memcpy(before, d.images->data, sizeof before);
    assert_true(nn_dataset_normalize(&d, 3, mean, sd) < 0);
    assert_error_mentions("nn_dataset_normalize", "[N, 3, ...]", "[2, 2, 1, 2]");
    assert_true(nn_dataset_normalize(&d, 2, mean, (float[]){0.5f, 0.0f}) < 0);
    assert_error_mentions("channel 1", "std 0");
    assert_true(nn_dataset_normalize(&d, 2, (float[]){NAN, 0.0f}, sd) < 0);
    assert_true(nn_dataset_normalize(&d, 2, NULL, sd) < 0);
    assert_true(nn_dataset_normalize(NULL, 2, mean, sd) < 0);
    nn_tensor *t = nn_tensor_transpose(d.images, 0, 1);
    assert_non_null(t);
    nn_dataset strided = {t, d.labels};
    assert_true(nn_dataset_normalize(&strided, 2, mean, sd) < 0);
    assert_error_mentions("not contiguous");
    nn_tensor_free(t);
    assert_memory_equal(d.images->data, before, sizeof before);
    nn_dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_inflate_python_fixtures),
        cmocka_unit_test(test_inflate_stored_blocks),
        cmocka_unit_test(test_inflate_corrupt),
        cmocka_unit_test(test_mnist_gz_fixtures),
        cmocka_unit_test(test_mnist_raw_and_odd_directory_names),
        cmocka_unit_test(test_mnist_bad_files),
        cmocka_unit_test(test_mnist_corrupt_gz),
        cmocka_unit_test(test_mnist_out_of_memory),
        cmocka_unit_test(test_cifar10),
        cmocka_unit_test(test_dataloader_batches_and_shuffle),
        cmocka_unit_test(test_dataloader_strided_and_errors),
        cmocka_unit_test(test_dataset_normalize),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
