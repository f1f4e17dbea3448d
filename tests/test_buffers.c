/* Buffers in files: nn_save writes parameters and persistent buffers (an
   int64 num_batches_tracked as safetensors I64, shape []) byte for byte as
   torch's state_dict is written by the reference layout; torch's file loads
   back bit-exactly; a wrong dtype, shape, a missing or an extra key is
   refused and changes nothing, so does running out of memory at any
   allocation; int64 values round-trip; optimizers never see buffers. Reference files: tests/gen_buffers.py (torch 1.13), in
   fixtures/buffers.h. */
#define _GNU_SOURCE /* mkdtemp, fmemopen, open_memstream */
#include "testutil.h"

#include <sys/stat.h>

#include "fixtures/buffers.h"
#include "param_module.h"

#define N_STATE ((int)(sizeof buf_state / sizeof *buf_state))

static char tmpdir[64];

/* The library's allocator, installed before anything is allocated and
   left in place: fail_at >= 0 makes allocation number fail_at fail. */
static long fail_at = -1, n_allocs;

static void *counting_alloc(size_t n)
{
    return fail_at >= 0 && n_allocs++ == fail_at ? NULL : malloc(n);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nn_test_buffers_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

static const char *in_tmp(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

/* gen_buffers.py's Stats: weight, bias [c]; running_mean, running_var [c];
   tmp [2] (not persistent); num_batches_tracked (int64). */
static nn_module *stats(int64_t c)
{
    const pm_spec params[] = {{"weight", 1, {c}}, {"bias", 1, {c}}};
    const pm_buffer_spec bufs[] = {{"running_mean", false, true, 1, {c}},
                                   {"running_var", false, true, 1, {c}},
                                   {"tmp", false, false, 1, {2}},
                                   {"num_batches_tracked", true, true, 0, {0}}};
    return pm_new_buffers(2, params, 4, bufs);
}

/* Sequential(features=Sequential(Stats(3), ReLU()), head=Stats(2)), every
   float of the state at fill, tmp at tmp_fill, the counters at count. */
static nn_module *net_new(float fill, float tmp_fill, int64_t count)
{
    nn_module *features = nn_sequential(), *net = nn_sequential();
    assert_non_null(features);
    assert_non_null(net);
    assert_int_equal(pm_add(features, NULL, stats(3)), NN_OK);
    assert_int_equal(pm_add(features, NULL, nn_relu()), NN_OK);
    assert_int_equal(pm_add(net, "features", features), NN_OK);
    assert_int_equal(pm_add(net, "head", stats(2)), NN_OK);
    nn_param *p;
    nn_buffer *b;
    int np = nn_module_params(net, &p), nb = nn_module_buffers(net, &b);
    assert_int_equal(np, 4);
    assert_int_equal(nb, 8);
    for (int i = 0; i < np; i++)
        nn_tensor_fill(p[i].value, fill);
    for (int i = 0; i < nb; i++) {
        if (b[i].dtype == NN_I64)
            *b[i].int_value = count;
        else
            nn_tensor_fill(b[i].value, b[i].persistent ? fill : tmp_fill);
    }
    return net;
}

/* The parameter or buffer with this full name. */
static nn_tensor *find_f32(nn_module *m, const char *name)
{
    nn_param *p;
    nn_buffer *b;
    int np = nn_module_params(m, &p), nb = nn_module_buffers(m, &b);
    for (int i = 0; i < np; i++)
        if (!strcmp(p[i].name, name))
            return p[i].value;
    for (int i = 0; i < nb; i++)
        if (!strcmp(b[i].name, name) && b[i].dtype == NN_F32)
            return b[i].value;
    fail_msg("no float tensor %s", name);
    return NULL;
}

static int64_t *find_i64(nn_module *m, const char *name)
{
    nn_buffer *b;
    int nb = nn_module_buffers(m, &b);
    for (int i = 0; i < nb; i++)
        if (!strcmp(b[i].name, name) && b[i].dtype == NN_I64)
            return b[i].int_value;
    fail_msg("no int64 buffer %s", name);
    return NULL;
}

/* Sets m's state to torch's (fixtures/buffers.h). */
static void set_torch_state(nn_module *m)
{
    for (int i = 0; i < N_STATE; i++) {
        if (buf_state[i].is_int)
            *find_i64(m, buf_state[i].name) = buf_state[i].int_value;
        else
            nn_tensor_copy_in(find_f32(m, buf_state[i].name), buf_state[i].value);
    }
}

/* m's state equals torch's, bit for bit. */
static void assert_torch_state(nn_module *m)
{
    for (int i = 0; i < N_STATE; i++) {
        const buf_entry *e = &buf_state[i];
        if (e->is_int) {
            if (*find_i64(m, e->name) != e->int_value)
                fail_msg("%s: got %lld, want %lld", e->name, (long long)*find_i64(m, e->name),
                         (long long)e->int_value);
        } else {
            nn_tensor *t = find_f32(m, e->name);
            assert_int_equal(nn_tensor_numel(t), e->numel);
            assert_memory_equal(t->data, e->value, (size_t)e->numel * sizeof(float));
        }
    }
}

/* Every parameter, buffer and counter of m, in one malloc'ed block. */
typedef struct {
    float *f;
    int64_t ints[8];
    size_t nf;
    int ni;
} snap;

static snap snapshot(nn_module *m)
{
    snap s = {NULL, {0}, 0, 0};
    nn_param *p;
    nn_buffer *b;
    int np = nn_module_params(m, &p), nb = nn_module_buffers(m, &b);
    for (int i = 0; i < np; i++)
        s.nf += (size_t)nn_tensor_numel(p[i].value);
    for (int i = 0; i < nb; i++)
        if (b[i].dtype == NN_F32)
            s.nf += (size_t)nn_tensor_numel(b[i].value);
    s.f = malloc(s.nf * sizeof *s.f);
    assert_non_null(s.f);
    float *at = s.f;
    for (int i = 0; i < np; i++) {
        nn_tensor_copy_out(p[i].value, at);
        at += nn_tensor_numel(p[i].value);
    }
    for (int i = 0; i < nb; i++) {
        if (b[i].dtype == NN_F32) {
            nn_tensor_copy_out(b[i].value, at);
            at += nn_tensor_numel(b[i].value);
        } else {
            assert_true(s.ni < 8);
            s.ints[s.ni++] = *b[i].int_value;
        }
    }
    return s;
}

static void assert_same_snap(const snap *a, const snap *b)
{
    assert_int_equal(a->nf, b->nf);
    assert_int_equal(a->ni, b->ni);
    assert_memory_equal(a->f, b->f, a->nf * sizeof *a->f);
    assert_memory_equal(a->ints, b->ints, (size_t)a->ni * sizeof *a->ints);
}

static int load_mem(nn_module *m, const void *p, size_t n)
{
    FILE *f = fmemopen((void *)p, n, "rb");
    assert_non_null(f);
    int rc = nn_load_fp(m, f);
    fclose(f);
    return rc;
}

/* nn_save_fp's image of m, malloc'ed. */
static char *save_mem(nn_module *m, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    assert_int_equal(nn_save_fp(m, f), NN_OK);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* ------------------------------------------------------------ tests */

static void test_save_equals_torch_file(void **state)
{
    (void)state;
    nn_module *net = net_new(0.0f, -9.0f, 0);
    set_torch_state(net);
    size_t len;
    char *buf = save_mem(net, &len);
    assert_int_equal(len, sizeof buf_torch_st);
    assert_memory_equal(buf, buf_torch_st, len);
    assert_null(memmem(buf, len, "tmp", 3)); /* not persistent: not saved */
    free(buf);

    assert_int_equal(nn_save(net, in_tmp("net.safetensors")), NN_OK);
    unsigned char *file = read_bytes(in_tmp("net.safetensors"), &len);
    assert_int_equal(len, sizeof buf_torch_st);
    assert_memory_equal(file, buf_torch_st, len);
    free(file);
    assert_int_equal(unlink(in_tmp("net.safetensors")), 0);
    nn_module_free(net);
}

static void test_load_torch_file(void **state)
{
    (void)state;
    nn_module *net = net_new(-7.0f, buf_tmp_value, 99);
    assert_int_equal(load_mem(net, buf_torch_st, sizeof buf_torch_st), NN_OK);
    assert_torch_state(net);
    /* non-persistent buffers are not in the file and keep their values */
    assert_true(find_f32(net, "features.0.tmp")->data[1] == buf_tmp_value);
    assert_true(find_f32(net, "head.tmp")->data[0] == buf_tmp_value);
    nn_module_free(net);

    net = net_new(-7.0f, 0.0f, 99);
    write_bytes(in_tmp("torch.safetensors"), buf_torch_st, sizeof buf_torch_st);
    assert_int_equal(nn_load(net, in_tmp("torch.safetensors")), NN_OK);
    assert_torch_state(net);
    assert_int_equal(unlink(in_tmp("torch.safetensors")), 0);
    nn_module_free(net);

    /* entries in plain name order (I64 among the F32 ones) load the same */
    net = net_new(-7.0f, 0.0f, 99);
    assert_int_equal(load_mem(net, buf_name_order_st, sizeof buf_name_order_st), NN_OK);
    assert_torch_state(net);
    nn_module_free(net);
}

typedef struct {
    const char *why;
    const unsigned char *blob;
    size_t len;
    nn_status status;
    const char *frag;
} refusal;

static void test_refused_changes_nothing(void **state)
{
    (void)state;
    const refusal cases[] = {
        {"counter stored as F32", buf_nbt_f32_st, sizeof buf_nbt_f32_st, NN_EFORMAT,
         "tensor 'features.0.num_batches_tracked' has dtype F32, expected I64"},
        {"counter of shape [1]", buf_nbt_shape_st, sizeof buf_nbt_shape_st, NN_ESHAPE,
         "shape mismatch for 'features.0.num_batches_tracked': file has [1], model has []"},
        {"buffer missing", buf_missing_st, sizeof buf_missing_st, NN_EFORMAT, "missing key 'head.running_var'"},
        {"counter missing", buf_missing_int_st, sizeof buf_missing_int_st, NN_EFORMAT,
         "missing key 'head.num_batches_tracked'"},
        {"non-persistent buffer present", buf_extra_tmp_st, sizeof buf_extra_tmp_st, NN_EFORMAT,
         "unexpected key 'features.0.tmp'"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const refusal *r = &cases[c];
        nn_module *net = net_new(1.5f, 2.5f, 42);
        snap before = snapshot(net);
        int rc = load_mem(net, r->blob, r->len);
        if (rc != (int)r->status || !strstr(nn_last_error(), r->frag))
            fail_msg("%s: want %d mentioning \"%s\", got %d \"%s\"", r->why, r->status, r->frag, rc,
                     nn_last_error());
        assert_error_mentions("nn_load_fp: ");
        snap after = snapshot(net);
        assert_same_snap(&before, &after);
        free(after.f);

        write_bytes(in_tmp("bad.safetensors"), r->blob, r->len);
        assert_int_equal(nn_load(net, in_tmp("bad.safetensors")), r->status);
        assert_error_mentions("nn_load: ", "bad.safetensors", r->frag);
        after = snapshot(net);
        assert_same_snap(&before, &after);
        free(after.f);
        free(before.f);
        nn_module_free(net);
    }
    assert_int_equal(unlink(in_tmp("bad.safetensors")), 0);

    /* a model without the buffers refuses the file's extra keys */
    static const pm_spec w[] = {{"weight", 1, {3}}, {"bias", 1, {3}}};
    static const pm_spec h[] = {{"weight", 1, {2}}, {"bias", 1, {2}}};
    nn_module *plain = nn_sequential(), *features = nn_sequential();
    assert_int_equal(pm_add(features, NULL, pm_new(2, w)), NN_OK);
    assert_int_equal(pm_add(plain, "features", features), NN_OK);
    assert_int_equal(pm_add(plain, "head", pm_new(2, h)), NN_OK);
    assert_int_equal(load_mem(plain, buf_torch_st, sizeof buf_torch_st), NN_EFORMAT);
    assert_error_mentions("unexpected key 'features.0.num_batches_tracked'");
    nn_module_free(plain);
}

/* The counters' 8 bytes are little-endian two's complement wherever
   libnn runs, and every int64 comes back. */
static void test_int64_round_trip(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        unsigned char le[8];
    } cases[] = {
        {(INT64_C(1) << 40) + 3, {0x03, 0, 0, 0, 0, 0x01, 0, 0}},
        {INT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
        {INT64_MIN, {0, 0, 0, 0, 0, 0, 0, 0x80}},
        {-1, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {INT64_C(0x0102030405060708), {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}},
        {0, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        nn_module *src = net_new(0.5f, 0.0f, 0), *dst = net_new(0.0f, 0.0f, 77);
        *find_i64(src, "features.0.num_batches_tracked") = cases[c].v;
        *find_i64(src, "head.num_batches_tracked") = ~cases[c].v;
        size_t len;
        char *buf = save_mem(src, &len);
        uint64_t header_len = 0;
        for (int i = 7; i >= 0; i--)
            header_len = header_len << 8 | (unsigned char)buf[i];
        /* the I64 entries come first, in name order */
        const unsigned char *data = (const unsigned char *)buf + 8 + header_len;
        assert_memory_equal(data, cases[c].le, 8);
        for (int i = 0; i < 8; i++)
            assert_int_equal(data[8 + i], (unsigned char)~cases[c].le[i]);
        assert_int_equal(load_mem(dst, buf, len), NN_OK);
        assert_true(*find_i64(dst, "features.0.num_batches_tracked") == cases[c].v);
        assert_true(*find_i64(dst, "head.num_batches_tracked") == ~cases[c].v);
        assert_true(find_f32(dst, "head.running_var")->data[1] == 0.5f);
        free(buf);
        nn_module_free(src);
        nn_module_free(dst);
    }
}

/* A failed save leaves the old file; buffers go through the atomic path. */
static void test_failed_save_keeps_file(void **state)
{
    (void)state;
    nn_module *net = net_new(0.0f, 0.0f, 0);
    set_torch_state(net);
    const char *path = in_tmp("keep.safetensors");
    assert_int_equal(nn_save(net, path), NN_OK);
    /* a buffer whose name is not UTF-8 cannot be written */
    const pm_buffer_spec bad[] = {{"n\xff", true, true, 0, {0}}};
    nn_module *badnet = nn_sequential();
    assert_int_equal(pm_add(badnet, "x", pm_new_buffers(0, NULL, 1, bad)), NN_OK);
    assert_int_equal(nn_save(badnet, path), NN_EINVAL);
    assert_error_mentions("nn_save: ", "not valid UTF-8");
    size_t len;
    unsigned char *file = read_bytes(path, &len);
    assert_int_equal(len, sizeof buf_torch_st);
    assert_memory_equal(file, buf_torch_st, len);
    free(file);
    assert_int_equal(unlink(path), 0);
    nn_module_free(badnet);
    nn_module_free(net);
}

/* Every allocation of nn_save, nn_save_fp, nn_load and nn_load_fp fails
   in turn: an error naming the call, the old file kept, the model as it
   was; then the call succeeds. */
static void test_allocation_failures(void **state)
{
    (void)state;
    nn_module *src = net_new(0.0f, 0.0f, 0), *dst = net_new(-1.0f, 4.0f, 3);
    set_torch_state(src);
    const char *path = in_tmp("oom.safetensors");
    write_bytes(path, buf_name_order_st, sizeof buf_name_order_st); /* the old file */
    long k = 0;
    int rc;
    for (;; k++) {
        n_allocs = 0;
        fail_at = k;
        rc = nn_save(src, path);
        fail_at = -1;
        if (rc == NN_OK)
            break;
        assert_int_equal(rc, NN_ENOMEM);
        assert_error_mentions("nn_save: ", "oom.safetensors");
        size_t len;
        unsigned char *file = read_bytes(path, &len);
        assert_int_equal(len, sizeof buf_name_order_st);
        assert_memory_equal(file, buf_name_order_st, len);
        free(file);
    }
    assert_true(k > 0); /* the sweep met allocations */
    size_t len;
    unsigned char *file = read_bytes(path, &len);
    assert_int_equal(len, sizeof buf_torch_st);
    assert_memory_equal(file, buf_torch_st, len);
    free(file);

    for (k = 0;; k++) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n); /* libc's memory, not counted */
        assert_non_null(f);
        n_allocs = 0;
        fail_at = k;
        rc = nn_save_fp(src, f);
        fail_at = -1;
        fclose(f);
        free(buf);
        if (rc == NN_OK)
            break;
        assert_int_equal(rc, NN_ENOMEM);
        assert_error_mentions("nn_save_fp");
    }
    assert_true(k > 0);

    snap before = snapshot(dst);
    for (k = 0;; k++) {
        n_allocs = 0;
        fail_at = k;
        rc = nn_load(dst, path);
        fail_at = -1;
        if (rc == NN_OK)
            break;
        assert_int_equal(rc, NN_ENOMEM);
        assert_error_mentions("nn_load: ", "oom.safetensors");
        snap now = snapshot(dst);
        assert_same_snap(&before, &now);
        free(now.f);
    }
    assert_true(k > 0);
    assert_torch_state(dst);

    nn_module *third = net_new(-2.0f, 0.0f, 8);
    snap third_before = snapshot(third);
    for (k = 0;; k++) {
        n_allocs = 0;
        fail_at = k;
        rc = load_mem(third, buf_torch_st, sizeof buf_torch_st);
        fail_at = -1;
        if (rc == NN_OK)
            break;
        assert_int_equal(rc, NN_ENOMEM);
        assert_error_mentions("nn_load_fp");
        snap now = snapshot(third);
        assert_same_snap(&third_before, &now);
        free(now.f);
    }
    assert_true(k > 0);
    assert_torch_state(third);
    free(third_before.f);
    free(before.f);
    assert_int_equal(unlink(path), 0);
    nn_module_free(third);
    nn_module_free(src);
    nn_module_free(dst);
}

/* Optimizers take nn_module_params only: a step changes the parameters
   and leaves every buffer as it was, and their checkpoints hold no
   buffer. */
static void test_optimizer_ignores_buffers(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        nn_module *net = net_new(0.0f, 0.25f, 0);
        set_torch_state(net);
        nn_buffer *b;
        int nb = nn_module_buffers(net, &b);
        float *buf_before[8];
        for (int i = 0; i < nb; i++)
            buf_before[i] = b[i].dtype == NN_F32 ? b[i].value->data : NULL;
        snap before = snapshot(net);
        nn_sgd_opts so = nn_sgd_defaults(0.5f);
        so.momentum = 0.9f;
        so.weight_decay = 0.1f;
        nn_adam_opts ao = nn_adam_defaults();
        ao.lr = 0.5f;
        nn_optim *opt = kind == 0 ? nn_sgd(net, &so) : nn_adam(net, &ao);
        assert_non_null(opt);
        nn_param *p;
        int np = nn_module_params(net, &p);
        for (int i = 0; i < np; i++)
            nn_tensor_fill(p[i].grad, 1.0f);
        for (int step = 0; step < 2; step++)
            assert_int_equal(nn_optim_step(opt), NN_OK);
        snap after = snapshot(net);
        /* the parameters come first in a snapshot: 10 floats, all moved */
        for (size_t i = 0; i < 10; i++)
            assert_true(after.f[i] != before.f[i]);
        assert_memory_equal(after.f + 10, before.f + 10, (before.nf - 10) * sizeof(float));
        assert_memory_equal(after.ints, before.ints, (size_t)before.ni * sizeof *before.ints);
        /* nor did the buffers move (the optimizer packs parameters only) */
        nb = nn_module_buffers(net, &b);
        for (int i = 0; i < nb; i++)
            if (b[i].dtype == NN_F32)
                assert_ptr_equal(b[i].value->data, buf_before[i]);

        char *ck = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&ck, &len);
        assert_non_null(f);
        assert_int_equal(nn_optim_save_fp(opt, f), NN_OK);
        assert_int_equal(fclose(f), 0);
        assert_null(memmem(ck, len, "I64", 3));
        assert_null(memmem(ck, len, "state.4.", 8)); /* 4 parameters: state.0 .. state.3 */
        free(ck);
        free(before.f);
        free(after.f);
        nn_optim_free(opt);
        nn_module_free(net);
    }
}

int main(void)
{
    nn_set_allocator(counting_alloc, free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_equals_torch_file),
        cmocka_unit_test(test_load_torch_file),
        cmocka_unit_test(test_refused_changes_nothing),
        cmocka_unit_test(test_int64_round_trip),
        cmocka_unit_test(test_failed_save_keeps_file),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_optimizer_ignores_buffers),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
