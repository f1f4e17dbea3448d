/* libFuzzer harness for nn_csv_load (the streaming RFC 4180 reader and
   the number parser behind it). Input layout: byte 0 picks the options
   (bit 0 no_header, bit 1 nan_on_bad, bits 2-3 the selection: every
   column, indices {1, 0}, names {"b", "a"}, index {0}; bit 4 ';' as the
   delimiter), byte 1 the read block size (0: the default, else 1..255
   bytes), byte 2 max_line (0: the default, else 1..255 bytes); the rest
   is the file, read from memory (fmemopen). The same input is loaded
   twice, with the default block and with the chosen one: the outcome must
   be the same to the bit (status, message, names, values). A crash, a
   sanitizer report, a leak, a refusal without a new message naming
   nn_csv_load (and the row and column, for malformed contents), a refusal
   that touched *out, or an accepted table that breaks the contract (shape
   [rows, cols], a name per column, valid UTF-8 names from a header,
   finite values or NaN only with nan_on_bad) is a bug. Build and run:
   make fuzz. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv_impl.h"
#include "nn.h"

static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        int len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len)
            return false;
        for (int k = 1; k < len; k++)
            if ((s[k] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
            (c == 0xF4 && s[1] >= 0x90))
            return false;
        s += len;
    }
    return true;
}

static int load(const uint8_t *data, size_t size, size_t block, const nn_csv_opts *o, nn_table *t, char *msg)
{
    static int sentinel;
    *t = (nn_table){(nn_tensor *)&sentinel, (char **)&sentinel, -7, -7};
    nn_csv_block = block;
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    if (!f)
        abort();
    nn_fail(NN_EINVAL, "fuzz: no message yet");
    int rc = nn_csv_load_fp(f, "fuzz.csv", o, t);
    fclose(f);
    strcpy(msg, nn_last_error());
    if (rc != NN_OK) {
        if (t->values != (nn_tensor *)&sentinel || t->names != (char **)&sentinel || t->rows != -7 || t->cols != -7)
            abort();
        if (strncmp(msg, "nn_csv_load: ", 13))
            abort();
        if (rc == NN_EFORMAT && !strstr(msg, "row "))
            abort();
        if (rc != NN_EFORMAT && rc != NN_EINVAL)
            abort();
        return rc;
    }
    if (!t->values || !t->names || t->rows < 0 || t->cols < 1 || t->values->ndim != 2 ||
        t->values->shape[0] != t->rows || t->values->shape[1] != t->cols)
        abort();
    for (int64_t c = 0; c < t->cols; c++)
        if (!t->names[c] || (!o->no_header && (!t->names[c][0] || !valid_utf8((const unsigned char *)t->names[c]))))
            abort();
    for (int64_t i = 0; i < t->rows * t->cols; i++) {
        float v = t->values->data[i];
        if (isinf(v) || (isnan(v) && !o->nan_on_bad))
            abort();
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t form = data[0];
    size_t block = data[1] ? data[1] : (size_t)1 << 18;
    static const char *const names[] = {"b", "a"};
    static const int idx2[] = {1, 0}, idx1[] = {0};
    nn_csv_opts o = {.no_header = form & 1, .nan_on_bad = form & 2, .max_line = data[2],
                     .delimiter = (form & 16) ? ';' : 0};
    switch (form >> 2 & 3) {
    case 1: o.column_indices = idx2, o.num_columns = 2; break;
    case 2: o.column_names = names, o.num_columns = o.no_header ? 0 : 2, o.column_names = o.no_header ? NULL : names; break;
    case 3: o.column_indices = idx1, o.num_columns = 1; break;
    default: break;
    }
    data += 3, size -= 3;

    static char msg_a[512], msg_b[512];
    nn_table a, b;
    int ra = load(data, size, (size_t)1 << 18, &o, &a, msg_a);
    int rb = load(data, size, block, &o, &b, msg_b);
    nn_csv_block = (size_t)1 << 18;
    if (ra != rb || strcmp(msg_a, msg_b))
        abort();
    if (ra == NN_OK) {
        if (a.rows != b.rows || a.cols != b.cols ||
            memcmp(a.values->data, b.values->data, (size_t)(a.rows * a.cols) * sizeof(float)))
            abort();
        for (int64_t c = 0; c < a.cols; c++)
            if (strcmp(a.names[c], b.names[c]))
                abort();
        nn_table_free(&a);
        nn_table_free(&b);
    }
    return 0;
}
