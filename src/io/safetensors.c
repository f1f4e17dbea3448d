/* safetensors reading and writing; see safetensors.h. Reading trusts
   nothing: every length is checked against the stream before it is used,
   and the tensors are only written once everything has been validated. */
#include "safetensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static bool host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

/* Float bytes between host order and little-endian, in place (n floats). */
static void to_from_le(void *data, size_t n)
{
    if (host_is_little_endian())
        return;
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        v = swap32(v);
        memcpy(p, &v, 4);
    }
}

/* An int64 as 8 little-endian bytes and back, by shifts: the same code
   on every host, so what runs here is what runs on a big-endian one. */
static void put_le64(unsigned char b[8], int64_t v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u); /* the two's complement bits */
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get_le64(const unsigned char b[8])
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static const char *dtype_name(nn_dtype d) { return d == NN_I64 ? "I64" : "F32"; }

/* Bytes of e's data in a file. */
static int64_t entry_bytes(const st_entry *e)
{
    return e->dtype == NN_I64 ? 8 : nn_tensor_numel(e->value) * (int64_t)sizeof(float);
}

static int check_tensors(const st_entry *t, int n, const char *where)
{
    if (n > 0 && !t)
        return nn_fail(NN_EINVAL, "%s: tensor list is NULL", where);
    for (int i = 0; i < n; i++) {
        if (!t[i].name)
            return nn_fail(NN_EINVAL, "%s: tensor %d has no name", where, i);
        if (t[i].dtype == NN_I64) {
            if (!t[i].int_value)
                return nn_fail(NN_EINVAL, "%s: int64 tensor '%s' has no value", where, t[i].name);
        } else if (t[i].dtype == NN_F32) {
            if (!t[i].value)
                return nn_fail(NN_EINVAL, "%s: tensor '%s' has no value", where, t[i].name);
            if (!nn_tensor_is_contiguous(t[i].value))
                return nn_fail(NN_EINVAL, "%s: tensor '%s' is not contiguous", where, t[i].name);
        } else {
            return nn_fail(NN_EINVAL, "%s: tensor '%s' has dtype %d, expected NN_F32 or NN_I64", where,
                           t[i].name, (int)t[i].dtype);
        }
    }
    return NN_OK;
}

/* ---------------------------------------------------------------- writing */

/* Appends to buf, or only counts when buf is NULL. */
typedef struct {
    char *buf;
    size_t len;
} sink;

static void put(sink *s, const char *p, size_t n)
{
    if (s->buf)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_str(sink *s, const char *p) { put(s, p, strlen(p)); }

static void put_int(sink *s, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    put(s, b, (size_t)n);
}

/* A JSON string literal: escapes as serde_json and Python's json do. */
static void put_json_string(sink *s, const char *p)
{
    put(s, "\"", 1);
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f" : NULL;
        if (esc) {
            put_str(s, esc);
        } else if (c < 0x20) {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", c);
            put_str(s, u);
        } else {
            put(s, p, 1);
        }
    }
    put(s, "\"", 1);
}

/* Keys must be valid UTF-8 so that the header is valid JSON: no overlong
   forms, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const char *p)
{
    size_t n = strlen(p);
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                   : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (len == 0 || n - i < len)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
            return false;
        i += len;
    }
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

/* The reference implementation's order (safetensors' prepare()): dtypes
   in descending order of its Dtype enum, which puts larger alignments
   first (I64 before F32), then names. */
static int by_dtype_then_name(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->dtype != y->dtype)
        return x->dtype == NN_I64 ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The padded header for tensors in the given order. */
static void build_header(sink *s, st_entry *const *order, int n, const st_meta *meta, int n_meta)
{
    put(s, "{", 1);
    bool comma = false;
    if (n_meta > 0) {
        put_str(s, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                put(s, ",", 1);
            put_json_string(s, meta[i].key);
            put(s, ":", 1);
            put_json_string(s, meta[i].value);
        }
        put(s, "}", 1);
        comma = true;
    }
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const nn_tensor *t = order[i]->value;
        int ndim = order[i]->dtype == NN_I64 ? 0 : t->ndim; /* I64: a scalar, shape [] */
        if (comma)
            put(s, ",", 1);
        comma = true;
        put_json_string(s, order[i]->name);
        put_str(s, ":{\"dtype\":\"");
        put_str(s, dtype_name(order[i]->dtype));
        put_str(s, "\",\"shape\":[");
        for (int d = 0; d < ndim; d++) {
            if (d)
                put(s, ",", 1);
            put_int(s, t->shape[d]);
        }
        put_str(s, "],\"data_offsets\":[");
        put_int(s, offset);
        put(s, ",", 1);
        offset += entry_bytes(order[i]);
        put_int(s, offset);
        put_str(s, "]}");
    }
    put(s, "}", 1);
    while (s->len % 8)
        put(s, " ", 1);
}

static int write_data(FILE *f, const st_entry *e)
{
    if (e->dtype == NN_I64) {
        unsigned char b[8];
        put_le64(b, *e->int_value);
        return fwrite(b, 1, 8, f) == 8 ? NN_OK : NN_EIO;
    }
    const nn_tensor *t = e->value;
    size_t n = (size_t)nn_tensor_numel(t);
    if (host_is_little_endian())
        return fwrite(t->data, sizeof(float), n, f) == n ? NN_OK : NN_EIO;
    float chunk[256];
    for (size_t i = 0; i < n; i += 256) {
        size_t k = n - i < 256 ? n - i : 256;
        memcpy(chunk, t->data + i, k * sizeof(float));
        to_from_le(chunk, k);
        if (fwrite(chunk, sizeof(float), k, f) != k)
            return NN_EIO;
    }
    return NN_OK;
}

int st_write(FILE *f, const st_entry *tensors, int n, const st_meta *meta, int n_meta,
             const char *where)
{
    if (!f)
        return nn_fail(NN_EINVAL, "%s: stream is NULL", where);
    int rc = check_tensors(tensors, n, where);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++)
        if (!valid_utf8(tensors[i].name))
            return nn_fail(NN_EINVAL, "%s: tensor name '%s' is not valid UTF-8", where, tensors[i].name);
    for (int i = 0; i < n_meta; i++)
        if (!valid_utf8(meta[i].key) || !valid_utf8(meta[i].value))
            return nn_fail(NN_EINVAL, "%s: metadata '%s' is not valid UTF-8", where, meta[i].key);

    st_entry **order = nn_alloc_zeroed((size_t)n, sizeof *order);
    if (!order)
        return NN_ENOMEM;
    for (int i = 0; i < n; i++)
        order[i] = (st_entry *)&tensors[i];
    qsort(order, (size_t)n, sizeof *order, by_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(order[i]->name, order[i - 1]->name)) {
            rc = nn_fail(NN_EINVAL, "%s: two tensors are named '%s'", where, order[i]->name);
            nn_release(order);
            return rc;
        }
    qsort(order, (size_t)n, sizeof *order, by_dtype_then_name); /* names unique: a total order */

    sink s = {NULL, 0};
    build_header(&s, order, n, meta, n_meta);
    s.buf = nn_alloc(s.len);
    if (!s.buf) {
        nn_release(order);
        return NN_ENOMEM;
    }
    size_t header_len = s.len;
    s.len = 0;
    build_header(&s, order, n, meta, n_meta);

    unsigned char len8[8];
    put_le64(len8, (int64_t)header_len);
    rc = fwrite(len8, 1, 8, f) == 8 && fwrite(s.buf, 1, header_len, f) == header_len ? NN_OK : NN_EIO;
    for (int i = 0; i < n && rc == NN_OK; i++)
        rc = write_data(f, order[i]);
    if (rc == NN_OK && fflush(f) != 0)
        rc = NN_EIO;
    nn_release(s.buf);
    nn_release(order);
    if (rc < 0)
        return nn_fail(NN_EIO, "%s: write failed (disk full or stream closed?)", where);
    return NN_OK;
}

/* ---------------------------------------------------------------- reading */

/* Bytes actually read into p (stops at end of stream or error). */
static size_t read_some(FILE *f, void *p, size_t n) { return n ? fread(p, 1, n, f) : 0; }

/* Reads an n-byte block (the header or the data) into a fresh buffer.
   With the stream size unknown it grows as bytes arrive, so a lying header
   cannot make it allocate much more than what is really there. */
static int read_block(FILE *f, size_t n, int64_t avail, char **out, const char *what,
                      const char *where)
{
    size_t cap = (avail >= 0 || n <= 65536) ? n : 65536, got = 0;
    char *buf = nn_alloc(cap);
    if (!buf)
        return NN_ENOMEM;
    for (;;) {
        got += read_some(f, buf + got, cap - got);
        if (got < cap || cap == n)
            break;
        size_t grown = cap > n / 2 ? n : cap * 2;
        char *bigger = nn_alloc(grown);
        if (!bigger) {
            nn_release(buf);
            return NN_ENOMEM;
        }
        memcpy(bigger, buf, got);
        nn_release(buf);
        buf = bigger;
        cap = grown;
    }
    if (got < n) {
        bool io = ferror(f);
        nn_release(buf);
        return io ? nn_fail(NN_EIO, "%s: read error in the %s", where, what)
                  : nn_fail(NN_EFORMAT, "%s: truncated: the %s needs %zu bytes, only %zu follow", where,
                            what, n, got);
    }
    *out = buf;
    return NN_OK;
}

/* What the header says about one expected tensor. */
typedef struct {
    int64_t begin, end; /* begin < 0: not seen yet */
} span;

static const char *dtypes[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
                               "BF16", "I32", "U32", "F32", "F64", "I64", "U64"};

/* Parses {"dtype": ..., "shape": [...], "data_offsets": [b, e]} for tensor t. */
static int parse_entry(json *j, const st_entry *t, span *sp, const char *where)
{
    bool has_dtype = false, has_shape = false, has_offsets = false;
    int64_t shape[NN_MAX_DIMS], offs[2];
    int ndim = 0;
    json_str key;
    int r;
    if (!json_begin_object(j))
        return -1;
    while ((r = json_next_key(j, &key)) == 1) {
        if (json_str_eq(key, "dtype")) {
            json_str dt;
            if (has_dtype)
                return nn_fail(NN_EFORMAT, "%s: tensor '%s' has two \"dtype\" fields", where, t->name);
            has_dtype = true;
            if (!json_string(j, &dt))
                return -1;
            if (json_str_eq(dt, dtype_name(t->dtype)))
                continue;
            for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
                if (json_str_eq(dt, dtypes[i]))
                    return nn_fail(NN_EFORMAT, "%s: tensor '%s' has dtype %s, expected %s", where,
                                   t->name, dtypes[i], dtype_name(t->dtype));
            return nn_fail(NN_EFORMAT, "%s: tensor '%s' has an unknown dtype", where, t->name);
        } else if (json_str_eq(key, "shape")) {
            if (has_shape)
                return nn_fail(NN_EFORMAT, "%s: tensor '%s' has two \"shape\" fields", where, t->name);
            has_shape = true;
            if (!json_begin_array(j))
                return -1;
            while ((r = json_next_item(j)) == 1) {
                if (ndim == NN_MAX_DIMS)
                    return nn_fail(NN_EFORMAT, "%s: tensor '%s' has more than %d dimensions", where,
                                   t->name, NN_MAX_DIMS);
                if (!json_int(j, 0, INT64_MAX, &shape[ndim++]))
                    return -1;
            }
            if (r < 0)
                return -1;
        } else if (json_str_eq(key, "data_offsets")) {
            int k = 0;
            if (has_offsets)
                return nn_fail(NN_EFORMAT, "%s: tensor '%s' has two \"data_offsets\" fields", where,
                               t->name);
            has_offsets = true;
            if (!json_begin_array(j))
                return -1;
            while ((r = json_next_item(j)) == 1) {
                if (k == 2)
                    return nn_fail(NN_EFORMAT, "%s: tensor '%s': data_offsets needs exactly 2 numbers",
                                   where, t->name);
                if (!json_int(j, 0, INT64_MAX, &offs[k++]))
                    return -1;
            }
            if (r < 0)
                return -1;
            if (k != 2)
                return nn_fail(NN_EFORMAT, "%s: tensor '%s': data_offsets needs exactly 2 numbers",
                               where, t->name);
        } else {
            return nn_fail(NN_EFORMAT, "%s: tensor '%s' has an unknown field '%.*s'", where, t->name,
                           (int)(key.len > 40 ? 40 : key.len), key.p);
        }
    }
    if (r < 0)
        return -1;
    if (!has_dtype || !has_shape || !has_offsets)
        return nn_fail(NN_EFORMAT, "%s: tensor '%s' lacks \"%s\"", where, t->name,
                       !has_dtype ? "dtype" : !has_shape ? "shape" : "data_offsets");
    const nn_tensor *v = t->value;
    int want_ndim = t->dtype == NN_I64 ? 0 : v->ndim;
    bool same = ndim == want_ndim;
    for (int d = 0; same && d < ndim; d++)
        same = shape[d] == v->shape[d];
    if (!same) {
        char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN];
        return nn_fail(NN_ESHAPE, "%s: shape mismatch for '%s': file has %s, model has %s", where,
                       t->name, nn_shape_str(ndim, shape, a),
                       t->dtype == NN_I64 ? "[]" : nn_tensor_shape_str(v, b));
    }
    if (offs[0] > offs[1])
        return nn_fail(NN_EFORMAT, "%s: tensor '%s' has reversed data_offsets [%" PRId64 ", %" PRId64 "]",
                       where, t->name, offs[0], offs[1]);
    int64_t bytes = entry_bytes(t);
    if (offs[1] - offs[0] != bytes)
        return nn_fail(NN_EFORMAT,
                       "%s: tensor '%s' has data_offsets [%" PRId64 ", %" PRId64 "] spanning %" PRId64
                       " bytes, its shape needs %" PRId64,
                       where, t->name, offs[0], offs[1], offs[1] - offs[0], bytes);
    sp->begin = offs[0];
    sp->end = offs[1];
    return NN_OK;
}

/* {"key": "value", ...}: strings only, no duplicates. */
static int parse_metadata(json *j, st_meta_want *want, int n_want, const char *where)
{
    json_str keys[ST_MAX_META], key, value;
    int n = 0, r;
    if (!json_begin_object(j))
        return -1;
    while ((r = json_next_key(j, &key)) == 1) {
        if (n == ST_MAX_META)
            return nn_fail(NN_EFORMAT, "%s: more than %d metadata entries", where, ST_MAX_META);
        for (int i = 0; i < n; i++)
            if (keys[i].len == key.len && !memcmp(keys[i].p, key.p, key.len))
                return nn_fail(NN_EFORMAT, "%s: duplicate metadata key '%.*s'", where,
                               (int)(key.len > 40 ? 40 : key.len), key.p);
        keys[n++] = key;
        if (!json_string(j, &value))
            return -1;
        for (int i = 0; i < n_want; i++) {
            if (!json_str_eq(key, want[i].key))
                continue;
            if (value.len >= want[i].cap || memchr(value.p, 0, value.len))
                return nn_fail(NN_EFORMAT, "%s: metadata '%s' is too long or holds a NUL", where,
                               want[i].key);
            memcpy(want[i].value, value.p, value.len);
            want[i].value[value.len] = '\0';
            want[i].found = true;
        }
    }
    return r < 0 ? -1 : NN_OK;
}

static int find(const st_entry *t, int n, json_str key)
{
    for (int i = 0; i < n; i++)
        if (json_str_eq(key, t[i].name))
            return i;
    return -1;
}

/* Walks the whole header, filling one span per expected tensor. */
static int parse_header(json *j, const st_entry *t, int n, span *sp, st_meta_want *want, int n_want,
                        const char *where)
{
    bool has_meta = false;
    json_str key;
    int r, rc;
    if (!json_begin_object(j))
        return -1;
    while ((r = json_next_key(j, &key)) == 1) {
        if (json_str_eq(key, "__metadata__")) {
            if (has_meta)
                return nn_fail(NN_EFORMAT, "%s: duplicate key '__metadata__'", where);
            has_meta = true;
            if ((rc = parse_metadata(j, want, n_want, where)) != NN_OK)
                return rc;
            continue;
        }
        int i = find(t, n, key);
        if (i < 0)
            return nn_fail(NN_EFORMAT, "%s: unexpected key '%.*s' (not a tensor of the model)", where,
                           (int)(key.len > 80 ? 80 : key.len), key.p);
        if (sp[i].begin >= 0)
            return nn_fail(NN_EFORMAT, "%s: duplicate key '%s'", where, t[i].name);
        if ((rc = parse_entry(j, &t[i], &sp[i], where)) != NN_OK)
            return rc;
    }
    if (r < 0 || !json_end(j))
        return -1;
    for (int i = 0; i < n; i++)
        if (sp[i].begin < 0)
            return nn_fail(NN_EFORMAT, "%s: missing key '%s'", where, t[i].name);
    return NN_OK;
}

/* The spans must tile [0, total) exactly; sets *total. */
static int check_tiling(const st_entry *t, int n, const span *sp, int64_t *total, const char *where)
{
    int *idx = nn_alloc_zeroed((size_t)n, sizeof *idx);
    if (!idx)
        return NN_ENOMEM;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    /* insertion sort by (begin, end): qsort would need the spans in a
       global to compare indices, and models have few tensors */
    for (int i = 1; i < n; i++) {
        int v = idx[i], k = i;
        for (; k > 0; k--) {
            const span *a = &sp[idx[k - 1]], *b = &sp[v];
            if (a->begin < b->begin || (a->begin == b->begin && a->end <= b->end))
                break;
            idx[k] = idx[k - 1];
        }
        idx[k] = v;
    }
    int64_t at = 0;
    int rc = NN_OK;
    for (int k = 0; k < n && rc == NN_OK; k++) {
        const span *s = &sp[idx[k]];
        if (s->begin != at)
            rc = nn_fail(NN_EFORMAT, "%s: tensor '%s' starts at byte %" PRId64 " of the data, expected %" PRId64
                         " (%s)", where, t[idx[k]].name, s->begin, at,
                         s->begin < at ? "overlap" : "gap");
        at = s->end;
    }
    nn_release(idx);
    *total = at;
    return rc;
}

int st_read(FILE *f, int64_t avail, bool exact, const st_entry *t, int n, st_meta_want *want,
            int n_want, int (*commit)(void *ctx), void *ctx, const char *where)
{
    if (!f)
        return nn_fail(NN_EINVAL, "%s: stream is NULL", where);
    int rc = check_tensors(t, n, where);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n_want; i++)
        want[i].found = false;

    unsigned char len8[8];
    size_t got = read_some(f, len8, 8);
    if (got < 8)
        return ferror(f) ? nn_fail(NN_EIO, "%s: read error", where)
                         : nn_fail(NN_EFORMAT, "%s: truncated: %zu bytes, shorter than the 8-byte header length",
                                   where, got);
    uint64_t header_len = (uint64_t)get_le64(len8);
    if (avail >= 0)
        avail -= 8;
    if (header_len > ST_MAX_HEADER)
        return nn_fail(NN_EFORMAT, "%s: header length %" PRIu64 " is larger than the limit %u", where,
                       header_len, ST_MAX_HEADER);
    if (avail >= 0 && header_len > (uint64_t)avail)
        return nn_fail(NN_EFORMAT, "%s: header length %" PRIu64 " exceeds the %" PRId64 " bytes that follow",
                       where, header_len, avail);

    char *header = NULL;
    span *sp = NULL;
    char *data = NULL;
    if ((rc = read_block(f, (size_t)header_len, avail, &header, "header", where)) < 0)
        return rc;
    if (avail >= 0)
        avail -= (int64_t)header_len;
    sp = nn_alloc_zeroed((size_t)n, sizeof *sp);
    if (!sp) {
        rc = NN_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++)
        sp[i].begin = -1;
    json j;
    json_init(&j, header, (size_t)header_len);
    rc = parse_header(&j, t, n, sp, want, n_want, where);
    if (j.failed) /* the parser's own message, with the byte position */
        rc = nn_fail(NN_EFORMAT, "%s: %s", where, j.err);
    if (rc < 0)
        goto done;

    int64_t total;
    if ((rc = check_tiling(t, n, sp, &total, where)) < 0)
        goto done;
    if (avail >= 0 && (exact ? avail != total : avail < total)) {
        rc = nn_fail(NN_EFORMAT, "%s: the data section holds %" PRId64 " bytes, the header describes %" PRId64,
                     where, avail, total);
        goto done;
    }
    if ((rc = read_block(f, (size_t)total, avail, &data, "data section", where)) < 0)
        goto done;
    if (commit && (rc = commit(ctx)) < 0)
        goto done;
    /* everything checked: only now touch the tensors */
    for (int i = 0; i < n; i++) {
        if (t[i].dtype == NN_I64) {
            *t[i].int_value = get_le64((const unsigned char *)data + sp[i].begin);
            continue;
        }
        size_t count = (size_t)nn_tensor_numel(t[i].value);
        if (count == 0)
            continue;
        memcpy(t[i].value->data, data + sp[i].begin, count * sizeof(float));
        to_from_le(t[i].value->data, count);
    }
    rc = NN_OK;
done:
    nn_release(data);
    nn_release(sp);
    nn_release(header);
    return rc;
}

int st_name_oom(int rc, const char *where)
{
    return rc == NN_ENOMEM ? nn_fail_context(NN_ENOMEM, "%s", where) : rc;
}
