/* nn_tensor_print: the text PyTorch 1.13's print(tensor) gives for a float32
   tensor (default print options: precision 4, threshold 1000, edgeitems 3,
   linewidth 80). One format is chosen for the whole tensor from the
   non-zero finite values that are shown:
   - integer mode when all are whole numbers ("1.", "-20."),
   - scientific ("1.2346e-05") when max/min > 1000, max > 1e8, or (not
     integer mode) min < 1e-4,
   - fixed otherwise ("0.1235"),
   and every element is right-aligned to the widest one. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/tensor_impl.h"

#define PRECISION 4
#define THRESHOLD 1000
#define EDGEITEMS 3
#define LINEWIDTH 80

typedef struct {
    bool int_mode, sci_mode;
    int width;
} formatter;

typedef struct {
    FILE *f;
    int64_t line_len; /* characters written since the last newline */
} sink;

static void put(sink *s, const char *text)
{
    fputs(text, s->f);
    const char *nl = strrchr(text, '\n');
    s->line_len = nl ? (int64_t)strlen(nl + 1) : s->line_len + (int64_t)strlen(text);
}

static void put_spaces(sink *s, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', s->f);
    s->line_len += n > 0 ? n : 0;
}

/* Calls visit on every element PyTorch shows: all of them, or when
   summarizing only the first and last EDGEITEMS along each long dimension. */
typedef void (*visit_fn)(float v, void *ctx);

static void walk_shown(const nn_tensor *t, const float *p, int dim, bool summarize, visit_fn visit,
                       void *ctx)
{
    if (dim == t->ndim) {
        visit(*p, ctx);
        return;
    }
    int64_t n = t->shape[dim];
    for (int64_t i = 0; i < n; i++) {
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS)
            i = n - EDGEITEMS;
        walk_shown(t, p + i * t->stride[dim], dim + 1, summarize, visit, ctx);
    }
}

typedef struct {
    bool any, all_int;
    double min_abs, max_abs;
} value_stats;

static void collect_stats(float v, void *ctx)
{
    value_stats *st = ctx;
    if (!isfinite(v) || v == 0.0f)
        return;
    double a = fabs((double)v);
    if (!st->any) {
        st->min_abs = st->max_abs = a;
        st->any = true;
    }
    st->min_abs = a < st->min_abs ? a : st->min_abs;
    st->max_abs = a > st->max_abs ? a : st->max_abs;
    if (v != ceilf(v))
        st->all_int = false;
}

/* Text of one value without padding; returns its length. */
static int format_value(const formatter *fm, float v, char *buf, size_t size)
{
    if (isnan(v))
        return snprintf(buf, size, "nan"); /* Python never prints "-nan" */
    if (isinf(v))
        return snprintf(buf, size, v > 0 ? "inf" : "-inf");
    double d = (double)v;
    if (fm->sci_mode)
        return snprintf(buf, size, "%.*e", PRECISION, d);
    if (fm->int_mode)
        return snprintf(buf, size, "%.0f.", d);
    return snprintf(buf, size, "%.*f", PRECISION, d);
}

static void widen(float v, void *ctx)
{
    formatter *fm = ctx;
    if (!isfinite(v) || v == 0.0f) /* PyTorch sizes columns from non-zero finite values */
        return;
    char buf[64];
    int len = format_value(fm, v, buf, sizeof buf);
    if (len > fm->width)
        fm->width = len;
}

static formatter make_formatter(const nn_tensor *t, bool summarize)
{
    formatter fm = {.int_mode = true, .sci_mode = false, .width = 1};
    value_stats st = {.any = false, .all_int = true};
    walk_shown(t, t->data, 0, summarize, collect_stats, &st);
    if (!st.any)
        return fm;
    fm.int_mode = st.all_int;
    double ratio = st.max_abs / st.min_abs;
    fm.sci_mode = ratio > 1000.0 || st.max_abs > 1.0e8 || (!fm.int_mode && st.min_abs < 1.0e-4);
    walk_shown(t, t->data, 0, summarize, widen, &fm);
    return fm;
}

static void put_value(sink *s, const formatter *fm, float v)
{
    char buf[64];
    int len = format_value(fm, v, buf, sizeof buf);
    put_spaces(s, fm->width - len);
    put(s, buf);
}

/* One row: as many "value, " cells per line as fit in LINEWIDTH - indent. */
static void put_vector(sink *s, const nn_tensor *t, const float *p, int indent, bool summarize,
                       const formatter *fm)
{
    int dim = t->ndim - 1;
    int64_t n = t->shape[dim];
    double room = (double)(LINEWIDTH - indent) / (double)(fm->width + 2);
    int64_t per_line = (int64_t)floor(room);
    if (per_line < 1)
        per_line = 1;
    put(s, "[");
    int64_t cell = 0;
    for (int64_t i = 0; i < n; i++, cell++) {
        if (cell > 0) {
            if (cell % per_line == 0) {
                put(s, ",\n");
                put_spaces(s, indent + 1);
            } else {
                put(s, ", ");
            }
        }
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) {
            put(s, " ...");
            i = n - EDGEITEMS - 1;
            continue;
        }
        put_value(s, fm, p[i * t->stride[dim]]);
    }
    put(s, "]");
}

/* Sub-tensors of dimension k are separated by a comma, k - 1 blank-making
   newlines and indent + 1 spaces. */
static void put_block(sink *s, const nn_tensor *t, const float *p, int dim, int indent,
                      bool summarize, const formatter *fm)
{
    if (dim == t->ndim - 1) {
        put_vector(s, t, p, indent, summarize, fm);
        return;
    }
    int64_t n = t->shape[dim];
    int newlines = t->ndim - dim - 1;
    put(s, "[");
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) {
            put(s, ",");
            for (int k = 0; k < newlines; k++)
                put(s, "\n");
            put_spaces(s, indent + 1);
        }
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) {
            put(s, "...");
            i = n - EDGEITEMS - 1;
            continue;
        }
        put_block(s, t, p + i * t->stride[dim], dim + 1, indent + 1, summarize, fm);
    }
    put(s, "]");
}

/* ", size=(0, 3)" on the same line when it fits, else on a new line. */
static void put_size_suffix(sink *s, const nn_tensor *t, int indent)
{
    char suffix[NN_SHAPE_STR_LEN + 16];
    int len = snprintf(suffix, sizeof suffix, "size=(");
    for (int i = 0; i < t->ndim && len < (int)sizeof suffix; i++)
        len += snprintf(suffix + len, sizeof suffix - (size_t)len, i ? ", %lld" : "%lld",
                        (long long)t->shape[i]);
    if (len < (int)sizeof suffix)
        len += snprintf(suffix + len, sizeof suffix - (size_t)len, "%s", t->ndim == 1 ? ",)" : ")");
    if (s->line_len + 2 + len + 2 > LINEWIDTH) {
        put(s, ",\n");
        put_spaces(s, indent);
    } else {
        put(s, ", ");
    }
    put(s, suffix);
}

static void tensor_print(const nn_tensor *t, FILE *f);

/* torch's text, '.' decimals whatever setlocale chose */
void nn_tensor_print(const nn_tensor *t, FILE *f)
{
    nn_c_numbers cn;
    nn_c_numbers_begin(&cn, "nn_tensor_print"); /* on failure: the program's locale */
    tensor_print(t, f);
    nn_c_numbers_end(&cn);
}

static void tensor_print(const nn_tensor *t, FILE *f)
{
    if (!t || !f) {
        nn_fail(NN_EINVAL, "nn_tensor_print: %s is NULL", t ? "stream" : "tensor");
        return;
    }
    if (t->ndim < 0 || t->ndim > NN_MAX_DIMS) {
        nn_fail(NN_EINVAL, "nn_tensor_print: expected 0..%d dimensions, got %d", NN_MAX_DIMS, t->ndim);
        return;
    }
    const int indent = 7; /* strlen("tensor(") */
    sink s = {f, 0};
    put(&s, "tensor(");
    int64_t numel = nn_tensor_numel(t);
    if (numel == 0) {
        put(&s, "[]");
        if (t->ndim != 1)
            put_size_suffix(&s, t, indent);
        put(&s, ")\n");
        return;
    }
    bool summarize = numel > THRESHOLD;
    formatter fm = make_formatter(t, summarize);
    if (t->ndim == 0)
        put_value(&s, &fm, t->data[0]);
    else
        put_block(&s, t, t->data, 0, indent, summarize, &fm);
    put(&s, ")\n");
}
