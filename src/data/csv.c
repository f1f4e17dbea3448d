/* CSV (RFC 4180) files of numbers into a table, as a stream: a reader that
   refills a bounded buffer with fread and hands out one record at a time,
   a locale-free number parser (exact fast path, strtod under the "C"
   locale for the rest), and nn_csv_load, which keeps only the chosen
   columns' floats, in blocks, until it knows the row count. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv_impl.h"
#include "nn/csv.h"
#include "tensor/tensor_impl.h"

size_t nn_csv_block = (size_t)1 << 18;

enum { NEED_MORE = 2 };

/* --- messages */

NN_PRINTF(6, 7)
static int csv_fail(const nn_csv_reader *r, nn_status s, int64_t row, int64_t line, int64_t col, const char *fmt, ...)
{
    char what[320], where[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line != row)
        snprintf(where, sizeof where, "row %lld, column %lld (line %lld)", (long long)row, (long long)col,
                 (long long)line);
    else
        snprintf(where, sizeof where, "row %lld, column %lld", (long long)row, (long long)col);
    return nn_fail(s, "%s: %s: %s: %s", r->fn, r->name, where, what);
}

/* A cell's text for a message: at most 40 bytes, other than printable ASCII as '?'. */
static const char *excerpt(const unsigned char *p, size_t n, char *buf, size_t size)
{
    size_t k = 0, lim = size - 4;
    for (size_t i = 0; i < n && k < lim; i++)
        buf[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (n > lim)
        buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k] = '\0';
    return buf;
}

/* --- the reader */

int nn_csv_reader_init(nn_csv_reader *r, FILE *f, const char *fn, const char *name, unsigned char delim,
                       size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    r->fn = fn;
    r->name = name;
    r->delim = delim;
    r->max_line = max_line;
    size_t block = nn_csv_block ? nn_csv_block : 1;
    /* a record of max_line bytes, a CRLF, one byte to read and a spare for a NUL */
    r->cap_max = (max_line > block ? max_line : block) + 4;
    r->cap = (block < r->cap_max ? block : r->cap_max) + 1;
    if (r->cap < 8)
        r->cap = 8;
    r->buf = nn_alloc(r->cap);
    if (!r->buf)
        return nn_fail_context(NN_ENOMEM, "%s: %s: the read buffer", fn, name);
    r->stop[delim] = r->stop['\n'] = r->stop['\r'] = r->stop['"'] = 1;
    r->next_line = 1;
    return NN_OK;
}

void nn_csv_reader_free(nn_csv_reader *r)
{
    nn_release(r->buf);
    nn_release(r->fields);
    r->buf = NULL;
    r->fields = NULL;
}

/* Moves the unconsumed bytes to the front, grows the buffer when they fill
   it, and reads what fits (keeping one spare byte). */
static int refill(nn_csv_reader *r)
{
    size_t have = r->end - r->start;
    if (r->start) {
        memmove(r->buf, r->buf + r->start, have);
        r->start = 0;
        r->end = have;
        if (r->rec)
            r->rec = NULL; /* the last record's bytes are gone */
    }
    if (r->end + 1 >= r->cap) {
        size_t cap = r->cap * 2 < r->cap_max ? r->cap * 2 : r->cap_max;
        unsigned char *b = nn_alloc(cap);
        if (!b)
            return nn_fail_context(NN_ENOMEM, "%s: %s: growing the read buffer to %zu bytes", r->fn, r->name, cap);
        memcpy(b, r->buf, r->end);
        nn_release(r->buf);
        r->buf = b;
        r->cap = cap;
    }
    size_t block = nn_csv_block ? nn_csv_block : 1, want = r->cap - 1 - r->end;
    if (want > block)
        want = block;
    size_t got = fread(r->buf + r->end, 1, want, r->f);
    r->end += got;
    if (got < want) {
        if (ferror(r->f))
            return nn_fail(NN_EIO, "%s: %s: read error after row %lld: %s", r->fn, r->name, (long long)r->row,
                           strerror(errno ? errno : EIO));
        r->eof = true;
    }
    return NN_OK;
}

static int grow_fields(nn_csv_reader *r)
{
    int cap = r->fields_cap ? r->fields_cap * 2 : 16;
    if (r->fields_cap > (1 << 29))
        return nn_fail(NN_ENOMEM, "%s: %s: too many fields", r->fn, r->name);
    nn_csv_field *f = nn_alloc((size_t)cap * sizeof *f);
    if (!f)
        return nn_fail_context(NN_ENOMEM, "%s: %s: row %lld", r->fn, r->name, (long long)r->row + 1);
    if (r->nfields)
        memcpy(f, r->fields, (size_t)r->nfields * sizeof *f);
    nn_release(r->fields);
    r->fields = f;
    r->fields_cap = cap;
    return NN_OK;
}

/* Line breaks inside a quoted field: LF, CRLF and a lone CR count one each. */
static int64_t count_breaks(const unsigned char *p, const unsigned char *e)
{
    int64_t n = 0;
    for (; p < e; p++)
        n += *p == '\n' || (*p == '\r' && (p + 1 == e || p[1] != '\n'));
    return n;
}

/* One record from buf[start, end): 1, 0 at the end, NEED_MORE, or an error. */
static int parse_record(nn_csv_reader *r)
{
    unsigned char *s = r->buf + r->start, *e = r->buf + r->end, *p = s;
    /* Look no further than max_line + 2 bytes (a record of max_line and
       a CRLF): a record not ended there is too long, whatever lies beyond
       and however much of it the buffer holds, so the outcome does not
       depend on the block size. */
    bool eof = r->eof;
    if ((size_t)(e - s) >= r->max_line + 2) {
        e = s + r->max_line + 2;
        eof = false;
    }
    const unsigned char delim = r->delim;
    const int64_t row = r->row + 1, line = r->next_line;
    int64_t breaks = 0;
    int n = 0;
    if (p == e)
        return eof ? 0 : NEED_MORE;
    r->nfields = 0;
    for (;;) {
        if (n == r->fields_cap) {
            int rc = grow_fields(r);
            if (rc < 0)
                return rc;
        }
        nn_csv_field *fd = &r->fields[n];
        if (p < e && *p == '"') {
            unsigned char *q = p + 1;
            bool escaped = false;
            for (;;) {
                unsigned char *z = memchr(q, '"', (size_t)(e - q));
                if (!z) {
                    if (!eof)
                        return NEED_MORE;
                    return csv_fail(r, NN_EFORMAT, row, line, n + 1,
                                    "unterminated quote: the quoted field runs to the end of the file");
                }
                if (z + 1 == e && !eof)
                    return NEED_MORE;
                if (z + 1 < e && z[1] == '"') {
                    escaped = true;
                    q = z + 2;
                    continue;
                }
                fd->off = (size_t)(p + 1 - s);
                fd->len = (size_t)(z - (p + 1));
                fd->quoted = true;
                fd->escaped = escaped;
                breaks += count_breaks(p + 1, z);
                p = z + 1;
                break;
            }
            if (p < e && *p != delim && *p != '\n' && *p != '\r')
                return csv_fail(r, NN_EFORMAT, row, line, n + 1,
                                "text after a closing quote (expected the delimiter or a line end)");
        } else {
            unsigned char *q = p;
            const unsigned char *stop = r->stop;
            while (q < e && !stop[*q])
                q++;
            if (q < e && *q == '"')
                return csv_fail(r, NN_EFORMAT, row, line, n + 1,
                                "quote inside an unquoted field (a field with quotes must be quoted as a whole, "
                                "with each quote doubled)");
            if (q == e && !eof)
                return NEED_MORE;
            fd->off = (size_t)(p - s);
            fd->len = (size_t)(q - p);
            fd->quoted = fd->escaped = false;
            p = q;
        }
        n++;
        r->nfields = n;
        if ((size_t)(p - s) > r->max_line)
            return csv_fail(r, NN_EFORMAT, row, line, n, "record longer than the limit of %zu bytes (max_line)",
                            r->max_line);
        if (p == e) /* the end of the input ends the record */
            break;
        if (*p == delim) {
            p++;
            continue;
        }
        if (*p == '\r') {
            if (p + 1 == e && !eof)
                return NEED_MORE;
            p++;
            if (p < e && *p == '\n')
                p++;
        } else {
            p++;
        }
        break;
    }
    r->rec = s;
    r->row = row;
    r->line = line;
    r->next_line = line + 1 + breaks;
    r->start = (size_t)(p - r->buf);
    return 1;
}

int nn_csv_reader_next(nn_csv_reader *r)
{
    while (!r->bom_checked) {
        if (r->end - r->start >= 3 || r->eof) {
            if (r->end - r->start >= 3 && !memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3))
                r->start += 3;
            r->bom_checked = true;
            break;
        }
        int rc = refill(r);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        int rc = parse_record(r);
        if (rc != NEED_MORE)
            return rc;
        if (r->end - r->start >= r->max_line + 2)
            return csv_fail(r, NN_EFORMAT, r->row + 1, r->next_line, r->nfields + 1,
                            "record longer than the limit of %zu bytes (max_line)", r->max_line);
        rc = refill(r);
        if (rc < 0)
            return rc;
    }
}

/* --- numbers */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int nn_csv_parse_float(unsigned char *text, size_t n, float *out)
{
    unsigned char *p = text, *e = text + n;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (p == e)
        return NN_CSV_NUM_EMPTY;
    unsigned char *num = p;
    bool neg = false, digits = false, slow = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    uint64_t m = 0;
    int nd = 0;
    int64_t e10 = 0;
    for (; p < e && (unsigned)(*p - '0') < 10; p++) {
        unsigned d = *p - '0';
        digits = true;
        if (m == 0 && d == 0)
            continue;
        if (nd < 19)
            m = m * 10 + d, nd++;
        else
            slow = true;
    }
    if (p < e && *p == '.') {
        p++;
        for (; p < e && (unsigned)(*p - '0') < 10; p++) {
            unsigned d = *p - '0';
            digits = true;
            if (m == 0 && d == 0) {
                e10--;
                continue;
            }
            if (nd < 19)
                m = m * 10 + d, nd++, e10--;
            else
                slow = true;
        }
    }
    if (!digits)
        return NN_CSV_NUM_BAD;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == e || (unsigned)(*p - '0') >= 10)
            return NN_CSV_NUM_BAD;
        int64_t x = 0;
        for (; p < e && (unsigned)(*p - '0') < 10; p++)
            if (x < 1000000)
                x = x * 10 + (*p - '0');
        e10 += eneg ? -x : x;
    }
    if (p != e)
        return NN_CSV_NUM_BAD;
    double d;
    if (m == 0) {
        d = 0.0;
    } else if (!slow && m <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        /* both exact, so one correctly rounded operation (Clinger) */
        d = e10 < 0 ? (double)m / pow10_exact[-e10] : (double)m * pow10_exact[e10];
    } else {
        unsigned char save = *e; /* e is at most text + n: writable by contract */
        *e = '\0';
        d = strtod((const char *)num, NULL);
        *e = save;
        neg = false; /* strtod read the sign */
    }
    if (neg)
        d = -d;
    if (!(fabs(d) < 0x1.ffffffp127)) /* rounds to an infinite float */
        return NN_CSV_NUM_RANGE;
    *out = (float)d;
    return NN_CSV_NUM_OK;
}

/* --- the loader */

nn_csv_opts nn_csv_defaults(void)
{
    return (nn_csv_opts){.delimiter = ',', .max_line = NN_CSV_MAX_LINE_DEFAULT, .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

/* The chosen columns' values, row after row, in blocks that each hold
   whole rows. */
typedef struct {
    float **blocks;
    size_t nblocks, blocks_cap, per_block, used; /* used: floats in the last block */
} values;

static void values_free(values *v)
{
    for (size_t i = 0; i < v->nblocks; i++)
        nn_release(v->blocks[i]);
    nn_release(v->blocks);
}

static float *values_row(values *v, size_t cols)
{
    if (v->nblocks && v->used + cols <= v->per_block) {
        float *at = v->blocks[v->nblocks - 1] + v->used;
        v->used += cols;
        return at;
    }
    if (v->nblocks == v->blocks_cap) {
        size_t cap = v->blocks_cap ? v->blocks_cap * 2 : 16;
        float **b = nn_alloc(cap * sizeof *b);
        if (!b)
            return NULL;
        if (v->nblocks)
            memcpy(b, v->blocks, v->nblocks * sizeof *b);
        nn_release(v->blocks);
        v->blocks = b;
        v->blocks_cap = cap;
    }
    float *blk = nn_alloc(v->per_block * sizeof(float));
    if (!blk)
        return NULL;
    v->blocks[v->nblocks++] = blk;
    v->used = cols;
    return blk;
}

/* Length of a field's content read as text (doubled quotes as one). */
static size_t unescaped_len(const unsigned char *p, const nn_csv_field *f)
{
    if (!f->escaped)
        return f->len;
    size_t n = 0;
    for (size_t i = 0; i < f->len; i++, n++)
        if (p[i] == '"')
            i++;
    return n;
}

static char *unescape_into(char *dst, const unsigned char *p, const nn_csv_field *f)
{
    for (size_t i = 0; i < f->len; i++) {
        *dst++ = (char)p[i];
        if (f->escaped && p[i] == '"')
            i++;
    }
    *dst++ = '\0';
    return dst;
}

static bool field_is(const unsigned char *p, const nn_csv_field *f, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < f->len; i++, k++) {
        if (name[k] != (char)p[i])
            return false;
        if (f->escaped && p[i] == '"')
            i++;
    }
    return name[k] == '\0';
}

/* Length of the valid UTF-8 prefix ... or n when it all is. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07;
        } else {
            return i;
        }
        if (i + len > n)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += len;
    }
    return n;
}

typedef struct {
    bool header, nan_on_bad;
    unsigned char delim;
    size_t max_line;
    int64_t skip;
} settings;

static int read_opts(const char *fn, const nn_csv_opts *o, settings *s)
{
    nn_csv_opts d = nn_csv_defaults();
    if (!o)
        o = &d;
    int by_hand = nn_opts_by_hand(fn, "nn_csv_opts", "nn_csv_defaults", o->from_defaults);
    if (by_hand < 0)
        return by_hand;
    s->header = !o->no_header;
    s->nan_on_bad = o->nan_on_bad;
    unsigned char delim = (unsigned char)o->delimiter;
    size_t max_line = o->max_line;
    if (by_hand) {
        if (!delim)
            delim = ',';
        if (!max_line)
            max_line = NN_CSV_MAX_LINE_DEFAULT;
    }
    if (!delim || delim == '"' || delim == '\r' || delim == '\n' || delim >= 0x80)
        return nn_fail(NN_EINVAL, "%s: nn_csv_opts.delimiter: expected an ASCII byte other than NUL, '\"', CR and LF, got 0x%02x",
                       fn, delim);
    if (max_line < 1 || max_line > ((size_t)1 << 40))
        return nn_fail(NN_EINVAL, "%s: nn_csv_opts.max_line: expected 1 .. 2^40 bytes, got %zu", fn, max_line);
    if (o->num_columns < 0 || (o->num_columns > 0 && !o->column_names == !o->column_indices) ||
        (o->num_columns == 0 && (o->column_names || o->column_indices)))
        return nn_fail(NN_EINVAL,
                       "%s: nn_csv_opts: expected num_columns > 0 with exactly one of column_names and column_indices, "
                       "or num_columns 0 with neither (every column); got num_columns %d, column_names %s, column_indices %s",
                       fn, o->num_columns, o->column_names ? "set" : "NULL", o->column_indices ? "set" : "NULL");
    if (o->column_names) {
        for (int i = 0; i < o->num_columns; i++)
            if (!o->column_names[i])
                return nn_fail(NN_EINVAL, "%s: nn_csv_opts.column_names[%d] is NULL", fn, i);
        if (o->no_header)
            return nn_fail(NN_EINVAL, "%s: nn_csv_opts: column_names need a header row, but no_header is set", fn);
    }
    if (o->skip_rows < 0)
        return nn_fail(NN_EINVAL, "%s: nn_csv_opts.skip_rows: expected >= 0, got %lld", fn, (long long)o->skip_rows);
    s->delim = delim;
    s->max_line = max_line;
    s->skip = o->skip_rows;
    return NN_OK;
}

/* Checks the header's names (all of them, in order) and finds the chosen
   columns in it: sel[k] is the file column of output column k. */
static int header_select(const nn_csv_reader *r, const nn_csv_opts *o, int *sel, int nsel)
{
    const unsigned char *rec = r->rec;
    for (int c = 0; c < r->nfields; c++) {
        const nn_csv_field *f = &r->fields[c];
        const unsigned char *p = rec + f->off;
        if (f->len == 0)
            return csv_fail(r, NN_EFORMAT, r->row, r->line, c + 1, "missing column name (the header's field is empty)");
        size_t ok = utf8_valid_prefix(p, f->len);
        if (ok != f->len)
            return csv_fail(r, NN_EFORMAT, r->row, r->line, c + 1, "invalid UTF-8 in column name (byte %zu of the name, 0x%02x)",
                            ok + 1, p[ok]);
        if (memchr(p, 0, f->len))
            return csv_fail(r, NN_EFORMAT, r->row, r->line, c + 1, "NUL byte in column name");
    }
    if (o && o->column_names) {
        for (int k = 0; k < nsel; k++) {
            int found = -1;
            for (int c = 0; c < r->nfields; c++) {
                if (!field_is(rec + r->fields[c].off, &r->fields[c], o->column_names[k]))
                    continue;
                if (found >= 0)
                    return csv_fail(r, NN_EFORMAT, r->row, r->line, c + 1,
                                    "column name \"%.64s\" (column_names[%d]) is ambiguous: columns %d and %d have it",
                                    o->column_names[k], k, found + 1, c + 1);
                found = c;
            }
            if (found < 0)
                return nn_fail(NN_EINVAL,
                               "%s: %s: row %lld (the header), column_names[%d]: no column named \"%.64s\" among the %d "
                               "columns (columns 1..%d)",
                               r->fn, r->name, (long long)r->row, k, o->column_names[k], r->nfields, r->nfields);
            sel[k] = found;
        }
    }
    return NN_OK;
}

static int index_select(const nn_csv_reader *r, const nn_csv_opts *o, int *sel, int nsel)
{
    for (int k = 0; k < nsel; k++) {
        int c = o && o->column_indices ? o->column_indices[k] : k;
        if (c < 0 || c >= r->nfields)
            return nn_fail(NN_EINVAL,
                           "%s: %s: row %lld, column_indices[%d] = %d: expected a 0-based column index below %d "
                           "(the columns of row %lld)",
                           r->fn, r->name, (long long)r->row, k, c, r->nfields, (long long)r->row);
        sel[k] = c;
    }
    return NN_OK;
}

/* The names block: nsel pointers, then the strings. */
static char **make_names(const nn_csv_reader *r, bool header, const int *sel, int nsel)
{
    size_t bytes = (size_t)nsel * sizeof(char *);
    for (int k = 0; k < nsel; k++)
        bytes += header ? unescaped_len(r->rec + r->fields[sel[k]].off, &r->fields[sel[k]]) + 1 : 12;
    char **names = nn_alloc(bytes ? bytes : 1);
    if (!names)
        return NULL;
    char *at = (char *)(names + nsel);
    for (int k = 0; k < nsel; k++) {
        names[k] = at;
        if (header)
            at = unescape_into(at, r->rec + r->fields[sel[k]].off, &r->fields[sel[k]]);
        else
            at += snprintf(at, 12, "%d", sel[k]) + 1;
    }
    return names;
}

/* One data record's chosen cells into dst. */
static int read_row(nn_csv_reader *r, const settings *s, const int *sel, int nsel, int ncols, float *dst)
{
    if (r->nfields != ncols) {
        int col = (r->nfields < ncols ? r->nfields : ncols) + 1;
        return csv_fail(r, NN_EFORMAT, r->row, r->line, col, "row has %d field%s, %s has %d", r->nfields,
                        r->nfields == 1 ? "" : "s", s->header ? "header" : "the first row", ncols);
    }
    for (int k = 0; k < nsel; k++) {
        const nn_csv_field *f = &r->fields[sel[k]];
        unsigned char *p = r->rec + f->off;
        int rc = nn_csv_parse_float(p, f->len, &dst[k]);
        if (rc == NN_CSV_NUM_OK)
            continue;
        char ex[48];
        if (rc == NN_CSV_NUM_RANGE)
            return csv_fail(r, NN_EFORMAT, r->row, r->line, sel[k] + 1,
                            "number out of float range: \"%s\" (the largest float is about 3.4028235e38)",
                            excerpt(p, f->len, ex, sizeof ex));
        if (!s->nan_on_bad)
            return rc == NN_CSV_NUM_EMPTY
                       ? csv_fail(r, NN_EFORMAT, r->row, r->line, sel[k] + 1,
                                  "empty cell, expected a number (nan_on_bad reads it as NaN)")
                       : csv_fail(r, NN_EFORMAT, r->row, r->line, sel[k] + 1,
                                  "not a number: \"%s\" (expected digits with a '.' decimal point and an optional "
                                  "exponent; nan_on_bad reads it as NaN)",
                                  excerpt(p, f->len, ex, sizeof ex));
        dst[k] = NAN;
    }
    return NN_OK;
}

static int load(nn_csv_reader *r, const settings *s, const nn_csv_opts *o, nn_table *out, values *v, int **sel_out,
                char ***names_out)
{
    int rc = nn_csv_reader_next(r);
    for (int64_t k = 0; rc > 0 && k < s->skip; k++) /* skipped records may have any shape */
        rc = nn_csv_reader_next(r);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return csv_fail(r, NN_EFORMAT, s->skip + 1, 1, 1, "%s, expected %s",
                        s->skip ? "no record after the skipped rows" : "empty file",
                        s->header ? "a header row" : "a record");
    const int ncols = r->nfields;
    const int nsel = o && o->num_columns ? o->num_columns : ncols;
    int *sel = nn_alloc((size_t)nsel * sizeof *sel);
    if (!sel)
        return nn_fail_context(NN_ENOMEM, "%s: %s", r->fn, r->name);
    *sel_out = sel;
    if (s->header)
        rc = header_select(r, o, sel, nsel);
    if (rc >= 0 && !(o && o->column_names))
        rc = index_select(r, o, sel, nsel);
    if (rc < 0)
        return rc;
    char **names = make_names(r, s->header, sel, nsel);
    if (!names)
        return nn_fail_context(NN_ENOMEM, "%s: %s: column names", r->fn, r->name);
    *names_out = names;

    size_t rows_per_block = ((size_t)1 << 16) / (size_t)nsel;
    v->per_block = (size_t)nsel * (rows_per_block ? rows_per_block : 1);
    int64_t rows = 0;
    bool pending = !s->header; /* the first record is data */
    for (;;) {
        if (!pending) {
            rc = nn_csv_reader_next(r);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
        }
        pending = false;
        float *dst = values_row(v, (size_t)nsel);
        if (!dst)
            return nn_fail_context(NN_ENOMEM, "%s: %s: row %lld", r->fn, r->name, (long long)r->row);
        rc = read_row(r, s, sel, nsel, ncols, dst);
        if (rc < 0)
            return rc;
        rows++;
    }

    int64_t numel;
    if (nn_mul_overflows(rows, nsel, &numel))
        return nn_fail(NN_ENOMEM, "%s: %s: %lld rows of %d columns is too many", r->fn, r->name, (long long)rows, nsel);
    nn_tensor *t = nn_tensor_new(NN_SHAPE(rows, nsel));
    if (!t)
        return nn_fail_context(NN_ENOMEM, "%s: %s: the values", r->fn, r->name);
    float *at = t->data;
    for (size_t b = 0; b < v->nblocks; b++) {
        size_t n = b + 1 == v->nblocks ? v->used : v->per_block;
        memcpy(at, v->blocks[b], n * sizeof(float));
        at += n;
    }
    out->values = t;
    out->names = names;
    out->rows = rows;
    out->cols = nsel;
    *names_out = NULL;
    return NN_OK;
}

int nn_csv_load_fp(FILE *f, const char *name, const nn_csv_opts *o, nn_table *out)
{
    const char *fn = "nn_csv_load";
    if (!f || !out)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn, !f ? "stream" : "out");
    if (!name)
        name = "stream";
    settings s;
    int rc = read_opts(fn, o, &s);
    if (rc < 0)
        return rc;
    nn_c_numbers cn;
    rc = nn_c_numbers_begin(&cn, fn);
    if (rc < 0)
        return rc;
    nn_csv_reader r;
    rc = nn_csv_reader_init(&r, f, fn, name, s.delim, s.max_line);
    if (rc >= 0) {
        values v = {0};
        int *sel = NULL;
        char **names = NULL;
        nn_table t = {0};
        rc = load(&r, &s, o, &t, &v, &sel, &names);
        if (rc >= 0)
            *out = t;
        values_free(&v);
        nn_release(sel);
        nn_release(names);
    }
    nn_csv_reader_free(&r);
    nn_c_numbers_end(&cn);
    return rc;
}

int nn_csv_load(const char *path, const nn_csv_opts *o, nn_table *out)
{
    const char *fn = "nn_csv_load";
    if (!path || !out)
        return nn_fail(NN_EINVAL, "%s: %s is NULL", fn, !path ? "path" : "out");
    settings s;
    int rc = read_opts(fn, o, &s);
    if (rc < 0)
        return rc;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_fail(NN_EIO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    rc = nn_csv_load_fp(f, path, o, out);
    fclose(f);
    return rc;
}

void nn_table_free(nn_table *t)
{
    if (!t)
        return;
    nn_tensor_free(t->values);
    nn_release(t->names);
    *t = (nn_table){0};
}

int64_t nn_table_column(const nn_table *t, const char *name)
{
    if (!t || !t->names || !name)
        return -1;
    for (int64_t c = 0; c < t->cols; c++)
        if (!strcmp(t->names[c], name))
            return c;
    return -1;
}
