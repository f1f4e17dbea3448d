/* Persistence: safetensors files from torch load into libnn models (same
   weights, torch's outputs), libnn writes the bytes python writes (and,
   seeded alike, the very file torch saved), strict loading, every malformed file is
   refused without touching the model, saving is atomic.
   Reference files: tests/gen_io.py (torch 1.13), in fixtures/io_fixtures.h.
   NN_IO_OUT=path makes the pattern test also save there, for
   `/usr/bin/python3 tests/gen_io.py --check path`. */
#define _GNU_SOURCE /* mkdtemp, fmemopen, open_memstream */
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures/io_fixtures.h"
#include "param_module.h"

/* ------------------------------------------------------------ helpers */

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nn_test_io_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        rmdir(p);
        unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

static const char *in_tmp(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static int count_dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* All parameter values of m, in order, into a malloc'ed array. */
static float *snapshot(nn_module *m, size_t *count)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += (size_t)nn_tensor_numel(p[i].value);
    float *s = malloc((total + 1) * sizeof *s), *at = s;
    for (int i = 0; i < n; i++) {
        nn_tensor_copy_out(p[i].value, at);
        at += nn_tensor_numel(p[i].value);
    }
    *count = total;
    return s;
}

static void assert_unchanged(nn_module *m, const float *before, size_t count)
{
    size_t now_count;
    float *now = snapshot(m, &now_count);
    assert_int_equal(now_count, count);
    assert_memory_equal(now, before, count * sizeof(float));
    free(now);
}

static nn_tensor *param(nn_module *m, const char *name)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name))
            return p[i].value;
    fail_msg("no parameter %s", name);
    return NULL;
}

static void assert_param(nn_module *m, const char *name, const float *want, int64_t n)
{
    nn_tensor *t = param(m, name);
    assert_int_equal(nn_tensor_numel(t), n);
    assert_memory_equal(t->data, want, (size_t)n * sizeof(float));
}

/* Parameter i of the pattern models: ((k % 17) - 8) / 16 + i / 2. */
static void fill_pattern(nn_tensor *t, int index)
{
    for (int64_t k = 0; k < nn_tensor_numel(t); k++)
        t->data[k] = (float)((double)((k % 17) - 8) / 16.0 + 0.5 * index);
}

static void fill_all(nn_module *m, float v)
{
    nn_param *p;
    int n = nn_module_params(m, &p);
    for (int i = 0; i < n; i++)
        nn_tensor_fill(p[i].value, v + (float)i);
}

static int load_mem(nn_module *m, const void *p, size_t n)
{
    FILE *f = fmemopen((void *)p, n, "rb");
    assert_non_null(f);
    int rc = nn_load_fp(m, f);
    fclose(f);
    return rc;
}

/* A stream that cannot seek (like a pipe), over a buffer. */
typedef struct {
    const unsigned char *p;
    size_t n, at;
} cursor;

static ssize_t cursor_read(void *c, char *buf, size_t size)
{
    cursor *cur = c;
    size_t k = cur->n - cur->at < size ? cur->n - cur->at : size;
    memcpy(buf, cur->p + cur->at, k);
    cur->at += k;
    return (ssize_t)k;
}

static int load_pipe(nn_module *m, const void *p, size_t n)
{
    cursor c = {p, n, 0};
    FILE *f = fopencookie(&c, "rb", (cookie_io_functions_t){.read = cursor_read});
    assert_non_null(f);
    assert_int_equal(ftell(f), -1);
    int rc = nn_load_fp(m, f);
    fclose(f);
    return rc;
}

static nn_module *convnet(void)
{
    static const pm_spec c0[] = {{"weight", 4, {2, 1, 3, 3}}, {"bias", 1, {2}}};
    static const pm_spec c2[] = {{"weight", 4, {3, 2, 3, 3}}, {"bias", 1, {3}}};
    nn_module *features = nn_sequential(), *net = nn_sequential();
    assert_int_equal(pm_add(features, NULL, pm_new(2, c0)), 0);
    assert_int_equal(pm_add(features, NULL, nn_relu()), 0);
    assert_int_equal(pm_add(features, NULL, pm_new(2, c2)), 0);
    assert_int_equal(pm_add(net, "features", features), 0);
    return net;
}

/* alpha (scalar weight, empty bias), béta (4-d weight), zeta (bias): the
   layouts of gen_io.py's odd_tensors, pattern index as there. */
static nn_module *oddnet(void)
{
    static const pm_spec a[] = {{"weight", 0, {0}}, {"bias", 2, {0, 3}}};
    static const pm_spec b[] = {{"weight", 4, {2, 1, 2, 3}}};
    static const pm_spec z[] = {{"bias", 1, {3}}};
    nn_module *net = nn_sequential();
    assert_int_equal(pm_add(net, "alpha", pm_new(2, a)), 0);
    assert_int_equal(pm_add(net, "b\xc3\xa9ta", pm_new(1, b)), 0);
    assert_int_equal(pm_add(net, "zeta", pm_new(1, z)), 0);
    fill_pattern(param(net, "b\xc3\xa9ta.weight"), 0);
    fill_pattern(param(net, "alpha.weight"), 1);
    fill_pattern(param(net, "alpha.bias"), 2);
    fill_pattern(param(net, "zeta.bias"), 3);
    return net;
}

static nn_module *pattern_simplenet(void)
{
    nn_module *net = pm_simplenet();
    nn_param *p;
    int n = nn_module_params(net, &p);
    for (int i = 0; i < n; i++)
        fill_pattern(p[i].value, i);
    return net;
}

/* ------------------------------------------------------------ torch -> libnn */

static void test_load_torch_simplenet(void **state)
{
    (void)state;
    nn_module *net = pm_simplenet();
    assert_int_equal(load_mem(net, io_simplenet_st, sizeof io_simplenet_st), NN_OK);
    assert_param(net, "fc1.weight", io_simplenet_fc1_weight, 10);
    assert_param(net, "fc1.bias", io_simplenet_fc1_bias, 5);
    assert_param(net, "fc2.weight", io_simplenet_fc2_weight, 5);
    assert_param(net, "fc2.bias", io_simplenet_fc2_bias, 1);

    /* the same through a file */
    nn_module *again = pm_simplenet();
    write_bytes(in_tmp("torch.safetensors"), io_simplenet_st, sizeof io_simplenet_st);
    assert_int_equal(nn_load(again, in_tmp("torch.safetensors")), NN_OK);
    assert_param(again, "fc1.weight", io_simplenet_fc1_weight, 10);
    assert_param(again, "fc2.bias", io_simplenet_fc2_bias, 1);
    assert_int_equal(unlink(in_tmp("torch.safetensors")), 0);
    nn_module_free(again);
    nn_module_free(net);
}

static nn_module *linear_simplenet(uint64_t seed)
{
    nn_manual_seed(seed);
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "fc1", nn_linear(2, 5, true)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "relu", nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(net, "fc2", nn_linear(5, 1, true)), NN_OK);
    return net;
}

/* With real layers: torch's file gives torch's outputs; and since libnn
   initialises like torch, nn_manual_seed(0) + nn_save writes the very
   bytes of torch.manual_seed(0) + state_dict. */
static void test_torch_simplenet_outputs(void **state)
{
    (void)state;
    nn_module *net = linear_simplenet(5);
    assert_int_equal(load_mem(net, io_simplenet_st, sizeof io_simplenet_st), NN_OK);
    nn_tensor *x = nn_tensor_from(io_simplenet_x, NN_SHAPE(4, 2));
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    assert_int_equal(nn_tensor_numel(y), 4);
    assert_close(y->data, io_simplenet_y, 4, 1e-4, 1e-6);
    nn_tensor_free(x);
    nn_module_free(net);

    nn_module *seeded = linear_simplenet(0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nn_save_fp(seeded, f), NN_OK);
    fclose(f);
    assert_int_equal(len, sizeof io_simplenet_st);
    assert_memory_equal(buf, io_simplenet_st, len);
    free(buf);
    nn_module_free(seeded);
}

static nn_module *conv_features(uint64_t seed)
{
    nn_manual_seed(seed);
    nn_module *features = nn_sequential(), *net = nn_sequential();
    assert_int_equal(nn_sequential_add(features, NULL, nn_conv2d(1, 2, 3, 1, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(features, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(features, NULL, nn_conv2d(2, 3, 3, 2, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "features", features), NN_OK);
    return net;
}

static void test_torch_convnet_outputs(void **state)
{
    (void)state;
    nn_module *net = conv_features(5);
    assert_int_equal(load_mem(net, io_convnet_st, sizeof io_convnet_st), NN_OK);
    nn_tensor *x = nn_tensor_from(io_convnet_x, NN_SHAPE(2, 1, 6, 6));
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    assert_int_equal(nn_tensor_numel(y), 2 * 3 * 3 * 3);
    assert_close(y->data, io_convnet_y, 54, 1e-4, 1e-6);
    nn_tensor_free(x);
    nn_module_free(net);

    nn_module *seeded = conv_features(1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(nn_save_fp(seeded, f), NN_OK);
    fclose(f);
    assert_int_equal(len, sizeof io_convnet_st);
    assert_memory_equal(buf, io_convnet_st, len);
    free(buf);
    nn_module_free(seeded);
}

static void test_load_torch_convnet(void **state)
{
    (void)state;
    nn_module *net = convnet();
    assert_int_equal(load_mem(net, io_convnet_st, sizeof io_convnet_st), NN_OK);
    assert_param(net, "features.0.weight", io_convnet_features_0_weight, 18);
    assert_param(net, "features.0.bias", io_convnet_features_0_bias, 2);
    assert_param(net, "features.2.weight", io_convnet_features_2_weight, 54);
    assert_param(net, "features.2.bias", io_convnet_features_2_bias, 3);
    nn_module_free(net);
}

/* ------------------------------------------------------------ libnn -> torch */

static void assert_saves_bytes(nn_module *net, const unsigned char *want, size_t want_len)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(nn_save_fp(net, f), NN_OK);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, want_len);
    free(buf);

    assert_int_equal(nn_save(net, in_tmp("saved.safetensors")), NN_OK);
    unsigned char *file = read_bytes(in_tmp("saved.safetensors"), &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(file, want, want_len);
    free(file);
    assert_int_equal(unlink(in_tmp("saved.safetensors")), 0);
}

static void test_save_equals_python_bytes(void **state)
{
    (void)state;
    nn_module *net = pattern_simplenet();
    assert_saves_bytes(net, io_pattern_st, sizeof io_pattern_st);
    const char *out = getenv("NN_IO_OUT");
    if (out)
        assert_int_equal(nn_save(net, out), NN_OK);
    nn_module_free(net);

    nn_module *odd = oddnet();
    assert_saves_bytes(odd, io_odd_st, sizeof io_odd_st);
    nn_module_free(odd);
}

static void test_round_trip(void **state)
{
    (void)state;
    nn_module *src = oddnet(), *dst = oddnet();
    fill_all(dst, -3.0f);
    assert_int_equal(nn_save(src, in_tmp("odd.safetensors")), NN_OK);
    assert_int_equal(nn_load(dst, in_tmp("odd.safetensors")), NN_OK);
    size_t n1, n2;
    float *a = snapshot(src, &n1), *b = snapshot(dst, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof(float));
    free(a);
    free(b);

    /* saving again replaces the file */
    fill_all(src, 9.0f);
    assert_int_equal(nn_save(src, in_tmp("odd.safetensors")), NN_OK);
    assert_int_equal(nn_load(dst, in_tmp("odd.safetensors")), NN_OK);
    assert_true(param(dst, "zeta.bias")->data[0] == 12.0f);
    assert_int_equal(count_dir_entries(), 1);
    assert_int_equal(unlink(in_tmp("odd.safetensors")), 0);
    nn_module_free(src);
    nn_module_free(dst);
}

/* Streams: two images back to back; the library neither closes nor
   over-reads the caller's stream. */
static void test_streams(void **state)
{
    (void)state;
    nn_module *a = pattern_simplenet(), *b = pm_simplenet();
    fill_all(b, 2.0f);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(nn_save_fp(a, f), NN_OK);
    assert_int_equal(nn_save_fp(b, f), NN_OK);
    assert_int_equal(fputs("tail", f) >= 0, 1);
    rewind(f);
    nn_module *c = pm_simplenet();
    assert_int_equal(nn_load_fp(c, f), NN_OK);
    assert_true(param(c, "fc2.bias")->data[0] == param(a, "fc2.bias")->data[0]);
    assert_int_equal(nn_load_fp(c, f), NN_OK);
    assert_true(param(c, "fc2.bias")->data[0] == 5.0f);
    char tail[8] = {0};
    assert_non_null(fgets(tail, sizeof tail, f));
    assert_string_equal(tail, "tail");
    fclose(f);

    /* a full disk is an I/O error */
    FILE *full = fopen("/dev/full", "wb");
    if (full) {
        assert_int_equal(nn_save_fp(a, full), NN_EIO);
        assert_error_mentions("nn_save_fp", "write failed");
        fclose(full);
    }
    assert_int_equal(nn_save_fp(a, NULL), NN_EINVAL);
    assert_int_equal(nn_load_fp(a, NULL), NN_EINVAL);
    assert_int_equal(nn_save_fp(NULL, stdout), NN_EINVAL);
    assert_int_equal(nn_save(NULL, in_tmp("x")), NN_EINVAL);
    assert_int_equal(nn_load(NULL, in_tmp("x")), NN_EINVAL);
    assert_int_equal(nn_save(a, NULL), NN_EINVAL);
    assert_int_equal(nn_save(a, ""), NN_EINVAL);
    assert_int_equal(nn_load(a, NULL), NN_EINVAL);
    assert_int_equal(nn_load(a, in_tmp("missing.safetensors")), NN_EIO);
    assert_error_mentions("nn_load", "missing.safetensors", "No such file");
    assert_int_equal(nn_load(a, tmpdir), NN_EIO);
    assert_error_mentions("not a regular file");
    nn_module_free(a);
    nn_module_free(b);
    nn_module_free(c);
}

/* ------------------------------------------------------------ strictness */

static void expect_refused(nn_module *m, const void *blob, size_t n, nn_status want, const char *frag)
{
    size_t count;
    float *before = snapshot(m, &count);
    int rc = load_mem(m, blob, n);
    if (rc != (int)want || !strstr(nn_last_error(), frag))
        fail_msg("want status %d mentioning \"%s\"; got %d \"%s\"", want, frag, rc, nn_last_error());
    assert_unchanged(m, before, count);
    free(before);
}

static void test_strict_keys_and_shapes(void **state)
{
    (void)state;
    static const pm_spec fc1[] = {{"weight", 2, {5, 2}}, {"bias", 1, {5}}};
    static const pm_spec fc2_nobias[] = {{"weight", 2, {1, 5}}};
    static const pm_spec fc2_extra[] = {{"weight", 2, {1, 5}}, {"bias", 1, {1}}, {"gain", 1, {1}}};
    static const pm_spec fc2_wide[] = {{"weight", 2, {2, 5}}, {"bias", 1, {1}}};
    const pm_spec *fc2s[] = {fc2_nobias, fc2_extra, fc2_wide};
    const int counts[] = {1, 3, 2};
    const char *frags[] = {"unexpected key 'fc2.bias'", "missing key 'fc2.gain'",
                           "shape mismatch for 'fc2.weight': file has [1, 5], model has [2, 5]"};
    const nn_status codes[] = {NN_EFORMAT, NN_EFORMAT, NN_ESHAPE};
    for (int i = 0; i < 3; i++) {
        nn_module *net = nn_sequential();
        assert_int_equal(pm_add(net, "fc1", pm_new(2, fc1)), 0);
        assert_int_equal(pm_add(net, "fc2", pm_new(counts[i], fc2s[i])), 0);
        fill_all(net, 1.5f);
        expect_refused(net, io_simplenet_st, sizeof io_simplenet_st, codes[i], frags[i]);
        assert_error_mentions("nn_load_fp");
        nn_module_free(net);
    }
}

/* A file of the SimpleNet layout from a hand-written header: data_bytes
   bytes of 0x40 follow (84 is right). */
typedef struct {
    const char *why;
    const char *header;
    int data_bytes;
    const char *frag; /* the message must mention it */
} bad_case;

#define E(name, shape, b, e) "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
#define W1 E("fc1.weight", "[5,2]", 0, 40)
#define B1 E("fc1.bias", "[5]", 40, 60)
#define W2 E("fc2.weight", "[1,5]", 60, 80)
#define B2 E("fc2.bias", "[1]", 80, 84)
#define REST W1 "," B1 "," W2

static const bad_case bad_cases[] = {
    {"valid: the control", "{" REST "," B2 "}", 84, NULL},
    {"valid: escapes decode", "{" REST ",\"fc2.\\u0062ias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[80,84]},"
     "\"__metadata__\":{\"\\ud83d\\ude00\\n\":\"\\\"\\\\\\/\\b\\f\\r\\t\"}}", 84, NULL},
    {"valid: blanks around tokens", " { " REST " , " B2 " } \n\t", 84, NULL},
    {"empty header", "", 84, "expected an object, got the end"},
    {"not JSON", "hello", 84, "expected an object, got 'h'"},
    {"top-level array", "[" REST "]", 84, "expected an object, got '['"},
    {"binary junk", "\x01\x02", 84, "got byte 0x01"},
    {"unterminated object", "{" REST, 84, "expected ',' or '}'"},
    {"trailing comma", "{" REST "," B2 ",}", 84, "trailing comma"},
    {"garbage after JSON", "{" REST "," B2 "}x", 84, "expected the end of the header"},
    {"two objects", "{" REST "," B2 "}{}", 84, "expected the end of the header"},
    {"missing colon", "{\"fc1.weight\" {}}", 84, "expected ':'"},
    {"deep nesting in shape", "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 84, "expected an integer, got '['"},
    {"deep nesting at the top", "{\"__metadata__\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 84,
     "expected a string, got '['"},
    {"dtype F64", "{" REST ",\"fc2.bias\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[80,88]}}", 88,
     "tensor 'fc2.bias' has dtype F64, expected F32"},
    {"dtype BF16", "{" REST ",\"fc2.bias\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[80,82]}}", 82,
     "'fc2.bias' has dtype BF16"},
    {"unknown dtype", "{" REST ",\"fc2.bias\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[80,84]}}", 84,
     "'fc2.bias' has an unknown dtype"},
    {"dtype not a string", "{" REST ",\"fc2.bias\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[80,84]}}", 84,
     "expected a string, got '3'"},
    {"negative shape", "{" E("fc1.weight", "[-5,2]", 0, 40) "}", 84, "integer -5 outside"},
    {"overflowing shape", "{" E("fc1.weight", "[99999999999999999999,2]", 0, 40) "}", 84, "integer out of range"},
    {"shape product overflows", "{" E("fc1.weight", "[4294967296,4294967296]", 0, 40) "}", 84,
     "shape mismatch for 'fc1.weight': file has [4294967296, 4294967296]"},
    {"fractional shape", "{" E("fc1.weight", "[5.0,2]", 0, 40) "}", 84, "fraction or exponent"},
    {"exponent shape", "{" E("fc1.weight", "[5e0,2]", 0, 40) "}", 84, "fraction or exponent"},
    {"leading zero", "{" E("fc1.weight", "[05,2]", 0, 40) "}", 84, "leading zero"},
    {"too many dims", "{" E("fc1.weight", "[1,1,1,1,1,1,1,5,2]", 0, 40) "}", 84, "more than 8 dimensions"},
    {"wrong shape", "{" E("fc1.weight", "[2,5]", 0, 40) "}", 84, "shape mismatch for 'fc1.weight'"},
    {"offsets outside the data", "{" REST "," E("fc2.bias", "[1]", 84, 88) "}", 84, "(gap)"},
    {"data shorter than offsets", "{" REST "," B2 "}", 83, "holds 83 bytes, the header describes 84"},
    {"reversed offsets", "{" REST "," E("fc2.bias", "[1]", 84, 80) "}", 84, "reversed data_offsets [84, 80]"},
    {"offsets of the wrong size", "{" REST "," E("fc2.bias", "[1]", 80, 88) "}", 88, "spanning 8 bytes, its shape needs 4"},
    {"overlapping offsets", "{" E("fc1.weight", "[5,2]", 0, 40) "," E("fc1.bias", "[5]", 20, 40) "," W2 "," B2 "}",
     84, "(overlap)"},
    {"gap in offsets", "{" E("fc1.weight", "[5,2]", 0, 40) "," E("fc1.bias", "[5]", 44, 64) ","
     E("fc2.weight", "[1,5]", 64, 84) "," E("fc2.bias", "[1]", 84, 88) "}", 88, "(gap)"},
    {"three offsets", "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[5,2],\"data_offsets\":[0,40,80]}}", 84,
     "exactly 2 numbers"},
    {"one offset", "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[5,2],\"data_offsets\":[0]}}", 84, "exactly 2 numbers"},
    {"offset overflows", "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[5,2],\"data_offsets\":[0,9223372036854775808]}}",
     84, "integer out of range"},
    {"huge offsets", "{" E("fc1.weight", "[5,2]", 9223372036854775767, 9223372036854775807) "," B1 "," W2 "," B2 "}",
     84, "(gap)"},
    {"duplicate tensor key", "{" REST "," B2 "," B2 "}", 84, "duplicate key 'fc2.bias'"},
    {"duplicate field", "{\"fc1.weight\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", 84, "two \"dtype\" fields"},
    {"duplicate metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 84, "duplicate key '__metadata__'"},
    {"duplicate metadata key", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 84, "duplicate metadata key 'a'"},
    {"metadata value not a string", "{\"__metadata__\":{\"a\":1}}", 84, "expected a string, got '1'"},
    {"missing field", "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[5,2]}}", 84, "'fc1.weight' lacks \"data_offsets\""},
    {"unknown field", "{\"fc1.weight\":{\"dtype\":\"F32\",\"offsets\":[0,40]}}", 84, "unknown field 'offsets'"},
    {"missing key", "{" REST "}", 80, "missing key 'fc2.bias'"},
    {"unexpected key", "{" REST "," B2 ",\"fc3.bias\":{}}", 84, "unexpected key 'fc3.bias'"},
    {"invalid UTF-8 in a key", "{\"fc1.\xff\":{}}", 84, "invalid UTF-8 byte 0xff"},
    {"overlong UTF-8", "{\"__metadata__\":{\"\xc0\xaf\":\"\"}}", 84, "invalid UTF-8 byte 0xc0"},
    {"UTF-8 surrogate", "{\"__metadata__\":{\"\xed\xa0\x80\":\"\"}}", 84, "invalid UTF-8 byte 0xed"},
    {"truncated UTF-8", "{\"__metadata__\":{\"a\":\"\xe2\x82\"}}", 84, "invalid UTF-8 byte 0xe2"},
    {"lone high surrogate", "{\"__metadata__\":{\"\\ud800\":\"\"}}", 84, "unpaired high surrogate"},
    {"lone low surrogate", "{\"__metadata__\":{\"\\udc00\":\"\"}}", 84, "unpaired low surrogate"},
    {"bad escape", "{\"__metadata__\":{\"\\x41\":\"\"}}", 84, "invalid escape '\\x'"},
    {"short \\u escape", "{\"__metadata__\":{\"\\u12\":\"\"}}", 84, "4 hex digits"},
    {"control byte in a string", "{\"__metadata__\":{\"a\nb\":\"\"}}", 84, "control byte 0x0a"},
    {"unterminated string", "{\"__metadata__\":{\"abc", 84, "unterminated string"},
    {"bare word", "{\"fc1.weight\":{\"dtype\":F32}}", 84, "expected a string, got 'F'"},
};

/* The header plus data as a file image; length_override >= 0 replaces the
   8-byte length. */
static unsigned char *build(const char *header, size_t header_len, int data_bytes, int64_t length_override,
                            size_t *n)
{
    *n = 8 + header_len + (size_t)data_bytes;
    unsigned char *b = malloc(*n);
    uint64_t len = length_override >= 0 ? (uint64_t)length_override : header_len;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(len >> (8 * i));
    memcpy(b + 8, header, header_len);
    memset(b + 8 + header_len, 0x40, (size_t)data_bytes);
    return b;
}

static void test_malformed_headers(void **state)
{
    (void)state;
    nn_module *net = pm_simplenet();
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        size_t n;
        unsigned char *blob = build(c->header, strlen(c->header), c->data_bytes, -1, &n);
        fill_all(net, 0.25f);
        if (!c->frag) {
            if (load_mem(net, blob, n) != NN_OK)
                fail_msg("%s: refused: %s", c->why, nn_last_error());
            uint32_t bits = 0x40404040u;
            float want;
            memcpy(&want, &bits, sizeof want);
            assert_true(param(net, "fc2.bias")->data[0] == want);
            /* the same through a file, which must end where the data ends */
            write_bytes(in_tmp("case.safetensors"), blob, n);
            fill_all(net, 0.25f);
            assert_int_equal(nn_load(net, in_tmp("case.safetensors")), NN_OK);
        } else {
            size_t count;
            float *before = snapshot(net, &count);
            int rc = load_mem(net, blob, n);
            if (rc >= 0 || !strstr(nn_last_error(), c->frag))
                fail_msg("%s: want an error mentioning \"%s\", got %d \"%s\"", c->why, c->frag, rc,
                         nn_last_error());
            assert_error_mentions("nn_load_fp: ");
            assert_unchanged(net, before, count);
            write_bytes(in_tmp("case.safetensors"), blob, n);
            assert_true(nn_load(net, in_tmp("case.safetensors")) < 0);
            assert_error_mentions("nn_load: ", "case.safetensors", c->frag);
            assert_unchanged(net, before, count);
            free(before);
        }
        free(blob);
    }
    unlink(in_tmp("case.safetensors"));
    nn_module_free(net);
}

static void test_header_lengths(void **state)
{
    (void)state;
    nn_module *net = pm_simplenet();
    const char *h = "{" REST "," B2 "}";
    size_t n;
    unsigned char *blob = build(h, strlen(h), 84, (int64_t)strlen(h) + 85, &n);
    expect_refused(net, blob, n, NN_EFORMAT, "exceeds the");
    free(blob);
    blob = build(h, strlen(h), 84, INT64_C(1) << 40, &n);
    expect_refused(net, blob, n, NN_EFORMAT, "larger than the limit");
    free(blob);
    blob = build(h, strlen(h), 84, INT64_MAX, &n);
    expect_refused(net, blob, n, NN_EFORMAT, "larger than the limit");
    free(blob);
    /* shorter than claimed: the JSON ends early */
    blob = build(h, strlen(h), 84, (int64_t)strlen(h) - 1, &n);
    expect_refused(net, blob, n, NN_EFORMAT, "expected ',' or '}'");
    free(blob);
    /* bytes after the data: a file must end there, a stream may go on */
    blob = build(h, strlen(h), 85, -1, &n);
    write_bytes(in_tmp("long.safetensors"), blob, n);
    size_t count;
    float *before = snapshot(net, &count);
    assert_int_equal(nn_load(net, in_tmp("long.safetensors")), NN_EFORMAT);
    assert_error_mentions("holds 85 bytes, the header describes 84");
    assert_unchanged(net, before, count);
    free(before);
    assert_int_equal(unlink(in_tmp("long.safetensors")), 0);
    assert_int_equal(load_mem(net, blob, n), NN_OK);
    free(blob);
    /* a string beyond the length limit */
    size_t big = 70000;
    char *longkey = malloc(big + 8);
    memcpy(longkey, "{\"", 2);
    memset(longkey + 2, 'a', big);
    memcpy(longkey + 2 + big, "\":1}", 5);
    blob = build(longkey, strlen(longkey), 0, -1, &n);
    expect_refused(net, blob, n, NN_EFORMAT, "string longer than 65536 bytes");
    free(blob);
    free(longkey);
    nn_module_free(net);
}

/* Without seeking the stream size is unknown: lengths are believed only as
   far as bytes arrive. */
static void test_non_seekable(void **state)
{
    (void)state;
    nn_module *net = pm_simplenet();
    assert_int_equal(load_pipe(net, io_simplenet_st, sizeof io_simplenet_st), NN_OK);
    assert_param(net, "fc1.weight", io_simplenet_fc1_weight, 10);
    fill_all(net, 1.0f);
    size_t count;
    float *before = snapshot(net, &count);
    assert_int_equal(load_pipe(net, io_simplenet_st, sizeof io_simplenet_st - 1), NN_EFORMAT);
    assert_error_mentions("truncated: the data section needs 84 bytes, only 83 follow");
    assert_int_equal(load_pipe(net, io_simplenet_st, 200), NN_EFORMAT);
    assert_error_mentions("truncated: the header needs 288 bytes, only 192 follow");
    assert_unchanged(net, before, count);

    /* a header of 200000 bytes arrives in growing chunks */
    size_t big = 200000, n;
    char *h = malloc(big + 1);
    memset(h, ' ', big);
    h[big] = 0;
    const char *json = "{" REST "," B2 "}";
    memcpy(h, json, strlen(json));
    unsigned char *blob = build(h, big, 84, -1, &n);
    assert_int_equal(load_pipe(net, blob, n), NN_OK);
    assert_int_equal(load_pipe(net, blob, n - 10), NN_EFORMAT);
    assert_error_mentions("truncated: the data section");
    assert_int_equal(load_pipe(net, blob, 100000), NN_EFORMAT);
    assert_error_mentions("truncated: the header needs 200000 bytes, only 99992 follow");
    free(blob);
    free(h);
    free(before);
    nn_module_free(net);
}

/* Every proper prefix of a valid file is refused; so is every file with
   one byte flipped, unless it still parses (e.g. a flipped data byte). */
static void test_truncated_and_flipped(void **state)
{
    (void)state;
    nn_module *net = pm_simplenet();
    fill_all(net, 0.5f);
    size_t count;
    float *before = snapshot(net, &count);
    unsigned char blob[sizeof io_simplenet_st];
    memcpy(blob, io_simplenet_st, sizeof blob);
    for (size_t k = 0; k < sizeof blob; k++) {
        write_bytes(in_tmp("cut.safetensors"), blob, k);
        assert_true(nn_load(net, in_tmp("cut.safetensors")) < 0);
        assert_non_null(strstr(nn_last_error(), k < 8 ? "shorter than the 8-byte" : "nn_load: "));
        if (k > 0) {
            assert_true(load_mem(net, blob, k) < 0);
            if (k >= 8 + 288)
                assert_error_mentions("the header describes 84");
        }
        assert_unchanged(net, before, count);
    }
    unlink(in_tmp("cut.safetensors"));
    int refused = 0;
    for (size_t k = 0; k < sizeof blob; k++) {
        blob[k] ^= 0xFF;
        if (load_mem(net, blob, sizeof blob) < 0) {
            refused++;
            assert_unchanged(net, before, count);
        } else {
            assert_true(k >= 8 + 288); /* only data bytes may change */
            free(before);
            before = snapshot(net, &count);
        }
        blob[k] ^= 0xFF;
    }
    assert_int_equal(refused, 8 + 288);
    free(before);
    nn_module_free(net);
}

/* ------------------------------------------------------------ atomic save */

static void test_atomic_save(void **state)
{
    (void)state;
    nn_module *net = pattern_simplenet();
    const char *path = in_tmp("model.safetensors");
    assert_int_equal(nn_save(net, path), NN_OK);
    size_t len;
    unsigned char *good = read_bytes(path, &len);
    assert_int_equal(count_dir_entries(), 1);

    /* missing directory, parent is a file, target is a directory */
    char p[300];
    snprintf(p, sizeof p, "%s/no/such/dir/m.safetensors", tmpdir);
    assert_int_equal(nn_save(net, p), NN_EIO);
    assert_error_mentions("nn_save", "cannot create a temporary file", "No such file or directory");
    snprintf(p, sizeof p, "%s/x.safetensors", path);
    assert_int_equal(nn_save(net, p), NN_EIO);
    assert_error_mentions("Not a directory");
    assert_int_equal(nn_save(net, tmpdir), NN_EINVAL);
    assert_error_mentions("is a directory");

    /* a failure after the temporary file exists: a name that is not UTF-8 */
    static const pm_spec bad[] = {{"w\xff", 1, {2}}};
    nn_module *badnet = nn_sequential();
    assert_int_equal(pm_add(badnet, "fc", pm_new(1, bad)), 0);
    assert_int_equal(nn_save(badnet, path), NN_EINVAL);
    assert_error_mentions("nn_save: ", "not valid UTF-8");
    nn_module_free(badnet);

    /* nothing changed and no temporary is left behind */
    size_t len2;
    unsigned char *still = read_bytes(path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(still, good, len);
    assert_int_equal(count_dir_entries(), 1);
    free(still);
    free(good);
    unlink(path);
    nn_module_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_torch_simplenet),
        cmocka_unit_test(test_torch_simplenet_outputs),
        cmocka_unit_test(test_load_torch_convnet),
        cmocka_unit_test(test_torch_convnet_outputs),
        cmocka_unit_test(test_save_equals_python_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_strict_keys_and_shapes),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_header_lengths),
        cmocka_unit_test(test_non_seekable),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_atomic_save),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
