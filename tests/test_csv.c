/* nn_csv_load: every file of the public CSV conformance suites
   (tests/fixtures/csv-conformance, expectations in
   tests/fixtures/csv_conformance.h from tests/gen_csv.py) through the
   record reader and the loader, at several read block sizes; every RFC
   4180 case (header, quotes, embedded delimiters, quotes and line breaks,
   CRLF / LF / CR, BOM); column selection; NaN mode; every malformed case
   refused with row and column and *out untouched; numbers against libc's
   strtod under the "C" locale, and under a German LC_NUMERIC; an
   allocation-failure sweep with nothing leaked; and the bounded memory of
   the streaming reader. */
#define _XOPEN_SOURCE 700
#include <float.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "data/csv_impl.h"
#include "fixtures/csv_conformance.h"

#define CONF "tests/fixtures/csv-conformance"
#define SHARED "../shared/csv-conformance"

static char tmpdir[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nn_test_csv_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *write_tmp_n(const char *text, size_t n)
{
    static char path[300];
    static int k;
    snprintf(path, sizeof path, "%s/t%d.csv", tmpdir, k++);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_tmp(const char *text) { return write_tmp_n(text, strlen(text)); }

/* "row R, column C" of the last error */
static void error_row_col(int64_t *row, int64_t *col)
{
    const char *m = strstr(nn_last_error(), "row ");
    long long r = -1, c = -1;
    if (m)
        sscanf(m, "row %lld, column %lld", &r, &c);
    *row = r;
    *col = c;
}

static void assert_error_at(int rc, nn_status want, int64_t row, int64_t col)
{
    int64_t r, c;
    if (rc != want)
        fprintf(stderr, "status %d, want %d; error: %s\n", rc, want, nn_last_error());
    assert_int_equal(rc, want);
    error_row_col(&r, &c);
    if (r != row || c != col) {
        fprintf(stderr, "error \"%s\": want row %lld, column %lld\n", nn_last_error(), (long long)row,
                (long long)col);
        fail();
    }
    assert_non_null(strstr(nn_last_error(), "nn_csv_load: "));
}

static const nn_table untouched = {(nn_tensor *)0x1, (char **)0x2, 3, 4};

static void assert_untouched(const nn_table *t)
{
    assert_ptr_equal(t->values, untouched.values);
    assert_ptr_equal(t->names, untouched.names);
    assert_int_equal(t->rows, 3);
    assert_int_equal(t->cols, 4);
}

/* Loads text and expects an error at row, col; *out untouched. */
static void expect_error(const char *text, const nn_csv_opts *o, nn_status want, int64_t row, int64_t col)
{
    nn_table t = untouched;
    assert_error_at(nn_csv_load(write_tmp(text), o, &t), want, row, col);
    assert_untouched(&t);
}

static bool same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a);
}

static void expect_values(const nn_table *t, int64_t rows, int64_t cols, const float *want)
{
    assert_int_equal(t->rows, rows);
    assert_int_equal(t->cols, cols);
    assert_int_equal(t->values->ndim, 2);
    assert_int_equal(t->values->shape[0], rows);
    assert_int_equal(t->values->shape[1], cols);
    for (int64_t i = 0; i < rows * cols; i++)
        if (!same_float(t->values->data[i], want[i])) {
            fprintf(stderr, "value %lld: got %.9g, want %.9g\n", (long long)i, t->values->data[i], want[i]);
            fail();
        }
}

static void load_ok(const char *text, const nn_csv_opts *o, nn_table *t)
{
    int rc = nn_csv_load(write_tmp(text), o, t);
    if (rc != NN_OK)
        fprintf(stderr, "nn_csv_load: %s\n", nn_last_error());
    assert_int_equal(rc, NN_OK);
}

/* --- the conformance suites */

static const size_t blocks[] = {(size_t)1 << 18, 1, 2, 3, 7, 64};

/* The record reader on every file: any listed text outcome, at every block size. */
static void test_conformance_text(void **state)
{
    (void)state;
    size_t saved = nn_csv_block;
    for (int i = 0; i < CSV_CONFORMANCE_N; i++) {
        const csv_conformance_case *cc = &csv_conformance[i];
        char path[256];
        snprintf(path, sizeof path, CONF "/%s", cc->file);
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            nn_csv_block = blocks[b];
            FILE *f = fopen(path, "rb");
            assert_non_null(f);
            nn_csv_reader r;
            assert_int_equal(nn_csv_reader_init(&r, f, "nn_csv_load", cc->file, ',', NN_CSV_MAX_LINE_DEFAULT), NN_OK);
            /* collect records, compare against each outcome afterwards */
            int rc, nrec = 0, ncells = 0;
            static int nf[4096];
            static char *cells[65536];
            static size_t lens[65536];
            while ((rc = nn_csv_reader_next(&r)) == 1) {
                assert_true(nrec < 4096);
                nf[nrec++] = r.nfields;
                for (int k = 0; k < r.nfields; k++) {
                    const nn_csv_field *fd = &r.fields[k];
                    char *c = malloc(fd->len + 1);
                    size_t n = 0;
                    for (size_t j = 0; j < fd->len; j++) {
                        c[n++] = (char)r.rec[fd->off + j];
                        if (fd->escaped && r.rec[fd->off + j] == '"')
                            j++;
                    }
                    lens[ncells] = n;
                    cells[ncells++] = c;
                }
            }
            int64_t er = -1, ec = -1;
            if (rc < 0)
                error_row_col(&er, &ec);
            bool matched = false;
            for (int o = 0; o < cc->n_text && !matched; o++) {
                const csv_text_outcome *t = &cc->text[o];
                if (t->error) {
                    matched = rc < 0 && er == t->row && ec == t->col;
                    continue;
                }
                if (rc != 0 || nrec != t->nrecords)
                    continue;
                matched = true;
                int cell = 0;
                for (int k = 0; k < nrec && matched; k++) {
                    matched = nf[k] == t->nfields[k];
                    for (int j = 0; j < nf[k] && matched; j++, cell++)
                        matched = lens[cell] == t->lens[cell] && !memcmp(cells[cell], t->cells[cell], lens[cell]);
                }
            }
            if (!matched)
                fprintf(stderr, "%s (block %zu): %d records, status %d (%s) match no expected outcome\n", cc->id,
                        blocks[b], nrec, rc, rc < 0 ? nn_last_error() : "");
            assert_true(matched);
            for (int k = 0; k < ncells; k++)
                free(cells[k]);
            nn_csv_reader_free(&r);
            fclose(f);
        }
    }
    nn_csv_block = saved;
}

static bool load_matches(int rc, const nn_table *t, const csv_load_outcome *o)
{
    if (o->error) {
        int64_t r, c;
        error_row_col(&r, &c);
        return rc == NN_EFORMAT && r == o->row && c == o->col;
    }
    if (rc != NN_OK || t->rows != o->rows || t->cols != o->cols)
        return false;
    for (int k = 0; k < o->cols; k++)
        if (strcmp(t->names[k], o->names[k]))
            return false;
    for (int i = 0; i < o->rows * o->cols; i++)
        if (!same_float(t->values->data[i], o->values[i]))
            return false;
    return true;
}

/* nn_csv_load on every file, selection and bad-cell mode: one of the listed outcomes. */
static void test_conformance_loads(void **state)
{
    (void)state;
    size_t saved = nn_csv_block;
    int checked = 0;
    for (int i = 0; i < CSV_CONFORMANCE_N; i++) {
        const csv_conformance_case *cc = &csv_conformance[i];
        char path[256];
        snprintf(path, sizeof path, CONF "/%s", cc->file);
        for (int l = 0; l < cc->n_loads; l++) {
            const csv_load_case *lc = &cc->loads[l];
            nn_csv_opts o = {.nan_on_bad = lc->nan_on_bad, .num_columns = lc->nsel,
                             .column_names = lc->sel == 1 ? lc->sel_names : NULL,
                             .column_indices = lc->sel == 2 ? lc->sel_indices : NULL};
            for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
                nn_csv_block = blocks[b];
                nn_table t = untouched;
                int rc = nn_csv_load(path, &o, &t);
                bool matched = false;
                for (int k = 0; k < lc->n && !matched; k++)
                    matched = load_matches(rc, &t, &lc->outcomes[k]);
                if (!matched)
                    fprintf(stderr, "%s load %d (block %zu): status %d (%s) matches no expected outcome\n", cc->id, l,
                            blocks[b], rc, rc < 0 ? nn_last_error() : "");
                assert_true(matched);
                if (rc == NN_OK)
                    nn_table_free(&t);
                else
                    assert_untouched(&t);
                checked++;
            }
        }
    }
    nn_csv_block = saved;
    assert_int_equal(checked, 56 * (int)(sizeof blocks / sizeof *blocks));
}

/* The copies under tests/fixtures equal the shared folder's files, when it is there. */
static void test_conformance_copies_match_shared(void **state)
{
    (void)state;
    if (access(SHARED "/README.md", R_OK) != 0) {
        print_message("skipped: %s is absent (the copies in %s are used)\n", SHARED, CONF);
        skip();
    }
    for (int i = 0; i < CSV_CONFORMANCE_N; i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, CONF "/%s", csv_conformance[i].file);
        snprintf(b, sizeof b, SHARED "/%s", csv_conformance[i].file);
        FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
        assert_non_null(fa);
        assert_non_null(fb);
        int ca, cb;
        do {
            ca = fgetc(fa);
            cb = fgetc(fb);
            assert_int_equal(ca, cb);
        } while (ca != EOF);
        fclose(fa);
        fclose(fb);
    }
}

/* --- RFC 4180 */

static void test_rfc4180_cases(void **state)
{
    (void)state;
    nn_table t;
    /* header, LF, trailing line ending optional */
    static const char *same[] = {
        "a,b\n1,2\n3,4\n", "a,b\n1,2\n3,4", "a,b\r\n1,2\r\n3,4\r\n", "a,b\r1,2\r3,4\r", "a,b\r\n1,2\n3,4\r",
        ("\xEF\xBB\xBF" "a,b\n1,2\n3,4\n"),                /* UTF-8 BOM */
        "\"a\",\"b\"\n\"1\",\"2\"\n3,\"4\"\n",           /* quoted names and numbers */
        "a,b\n 1 ,2\t\n3, 4\n",                          /* blanks around numbers */
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        load_ok(same[i], NULL, &t);
        expect_values(&t, 2, 2, (const float[]){1, 2, 3, 4});
        assert_string_equal(t.names[0], "a");
        assert_string_equal(t.names[1], "b");
        nn_table_free(&t);
        assert_null(t.values);
        assert_null(t.names);
    }
    /* names with the delimiter, doubled quotes, line breaks (CRLF, LF, CR) and UTF-8 */
    load_ok("\"x,y\",\"say \"\"hi\"\"\",\"two\r\nlines\",\"l\nf\",\"c\rr\",\xC3\xA9t\xC3\xA9\r\n1,2,3,4,5,6\r\n", NULL, &t);
    assert_int_equal(t.cols, 6);
    assert_string_equal(t.names[0], "x,y");
    assert_string_equal(t.names[1], "say \"hi\"");
    assert_string_equal(t.names[2], "two\r\nlines");
    assert_string_equal(t.names[3], "l\nf");
    assert_string_equal(t.names[4], "c\rr");
    assert_string_equal(t.names[5], "\xC3\xA9t\xC3\xA9");
    expect_values(&t, 1, 6, (const float[]){1, 2, 3, 4, 5, 6});
    assert_int_equal(nn_table_column(&t, "l\nf"), 3);
    assert_int_equal(nn_table_column(&t, "nope"), -1);
    nn_table_free(&t);
    /* a quoted data field with line breaks counts as one row: the next row's error says row 3, line 5 */
    expect_error("a,b\n\"1\n\n\",2\n3,x\n", &(nn_csv_opts){.nan_on_bad = false}, NN_EFORMAT, 2, 1);
    expect_error("a,b\n1,\"2\r\n\r\n\"\n3,x\n", NULL, NN_EFORMAT, 2, 2);
    expect_error("a,b\n1,2\n\"3\n\",4\n5,x\n", NULL, NN_EFORMAT, 3, 1);
    expect_error("a,b\n1,\"x\n\ny\"\n5\n", &(nn_csv_opts){.nan_on_bad = true}, NN_EFORMAT, 3, 2);
    assert_error_mentions("row 3, column 2 (line 5): row has 1 field, header has 2");
    /* empty last field, empty quoted field, header only */
    load_ok("a,b,c\n1,2,\n\"\",4,5", &(nn_csv_opts){.nan_on_bad = true}, &t);
    expect_values(&t, 2, 3, (const float[]){1, 2, NAN, NAN, 4, 5});
    nn_table_free(&t);
    load_ok("a,b\r\n", NULL, &t);
    expect_values(&t, 0, 2, NULL);
    nn_table_free(&t);
    /* one column: a blank line is an empty cell */
    load_ok("v\n1\n\n2\n", &(nn_csv_opts){.nan_on_bad = true}, &t);
    expect_values(&t, 3, 1, (const float[]){1, NAN, 2});
    nn_table_free(&t);
    expect_error("v\n1\n\n2\n", NULL, NN_EFORMAT, 3, 1);
    assert_error_mentions("empty cell");
    /* other delimiters */
    load_ok("a;b\n1.5;\"2;\"\n", &(nn_csv_opts){.delimiter = ';', .nan_on_bad = true}, &t);
    expect_values(&t, 1, 2, (const float[]){1.5f, NAN});
    nn_table_free(&t);
    load_ok("a\tb\n1\t2\n", &(nn_csv_opts){.delimiter = '\t'}, &t);
    expect_values(&t, 1, 2, (const float[]){1, 2});
    nn_table_free(&t);
}

static void test_column_selection(void **state)
{
    (void)state;
    const char *csv = "id,temp,\"hum,idity\",wind\n1,20.5,0.3,4\n2,21,0.35,5\n";
    nn_table t;
    load_ok(csv, &(nn_csv_opts){.column_names = (const char *[]){"wind", "hum,idity", "wind"}, .num_columns = 3}, &t);
    expect_values(&t, 2, 3, (const float[]){4, 0.3f, 4, 5, 0.35f, 5});
    assert_string_equal(t.names[0], "wind");
    assert_string_equal(t.names[1], "hum,idity");
    assert_string_equal(t.names[2], "wind");
    nn_table_free(&t);
    load_ok(csv, &(nn_csv_opts){.column_indices = (const int[]){1, 0}, .num_columns = 2}, &t);
    expect_values(&t, 2, 2, (const float[]){20.5f, 1, 21, 2});
    assert_string_equal(t.names[0], "temp");
    assert_string_equal(t.names[1], "id");
    nn_table_free(&t);
    /* no header: names are the 0-based indices, the first record is data */
    load_ok("1,2,3\n4,5,6\n", &(nn_csv_opts){.no_header = true, .column_indices = (const int[]){2, 0}, .num_columns = 2}, &t);
    expect_values(&t, 2, 2, (const float[]){3, 1, 6, 4});
    assert_string_equal(t.names[0], "2");
    assert_string_equal(t.names[1], "0");
    nn_table_free(&t);
    /* a bad cell in a column not chosen is not read */
    load_ok("a,b\n1,x\n2,\n", &(nn_csv_opts){.column_names = (const char *[]){"a"}, .num_columns = 1}, &t);
    expect_values(&t, 2, 1, (const float[]){1, 2});
    nn_table_free(&t);

    /* a name that is not there, an index out of range, ambiguous names, a name without header */
    nn_table u = untouched;
    assert_int_equal(nn_csv_load(write_tmp(csv), &(nn_csv_opts){.column_names = (const char *[]){"temp", "pressure"}, .num_columns = 2}, &u),
                     NN_EINVAL);
    assert_error_mentions("nn_csv_load", "row 1", "column_names[1]", "no column named \"pressure\"", "columns 1..4");
    assert_untouched(&u);
    assert_int_equal(nn_csv_load(write_tmp(csv), &(nn_csv_opts){.column_indices = (const int[]){4}, .num_columns = 1}, &u), NN_EINVAL);
    assert_error_mentions("row 1", "column_indices[0] = 4", "below 4");
    assert_int_equal(nn_csv_load(write_tmp(csv), &(nn_csv_opts){.column_indices = (const int[]){-1}, .num_columns = 1}, &u), NN_EINVAL);
    assert_untouched(&u);
    expect_error("a,b,a\n1,2,3\n", &(nn_csv_opts){.column_names = (const char *[]){"a"}, .num_columns = 1}, NN_EFORMAT, 1, 3);
    assert_error_mentions("ambiguous", "columns 1 and 3");
    load_ok("a,b,a\n1,2,3\n", &(nn_csv_opts){.column_names = (const char *[]){"b"}, .num_columns = 1}, &t);
    expect_values(&t, 1, 1, (const float[]){2});
    nn_table_free(&t);
    assert_int_equal(nn_csv_load(write_tmp(csv), &(nn_csv_opts){.no_header = true, .column_names = (const char *[]){"a"}, .num_columns = 1}, &u), NN_EINVAL);
    assert_error_mentions("no_header");
}

/* skip_rows: scikit-learn's bundled files open with a row of counts and
   class names (its own shape), then the data; a title row above a header. */
static void test_skip_rows(void **state)
{
    (void)state;
    nn_table t;
    load_ok("569,30,malignant,benign\n1.5,2,0\n3,4,1\n", &(nn_csv_opts){.no_header = true, .skip_rows = 1}, &t);
    expect_values(&t, 2, 3, (const float[]){1.5f, 2, 0, 3, 4, 1});
    assert_string_equal(t.names[2], "2");
    nn_table_free(&t);
    load_ok("Daily counts, 2011\nday,count\n1,985\n2,801\n", &(nn_csv_opts){.skip_rows = 1, .column_names = (const char *[]){"count"}, .num_columns = 1}, &t);
    expect_values(&t, 2, 1, (const float[]){985, 801});
    nn_table_free(&t);
    /* rows keep the file's numbering in messages */
    expect_error("title\na,b\n1,x\n", &(nn_csv_opts){.skip_rows = 1}, NN_EFORMAT, 3, 2);
    nn_table u = untouched;
    assert_int_equal(nn_csv_load(write_tmp("a,b\n1,2\n"), &(nn_csv_opts){.skip_rows = 5}, &u), NN_EFORMAT);
    assert_error_mentions("no record after the skipped rows");
    assert_untouched(&u);
    assert_int_equal(nn_csv_load(write_tmp("a\n1\n"), &(nn_csv_opts){.skip_rows = -1}, &u), NN_EINVAL);
    assert_error_mentions("skip_rows", "-1");
    assert_untouched(&u);
}

static void test_options_rule(void **state)
{
    (void)state;
    const char *p = write_tmp("a;b\n1;2\n");
    nn_table t, u = untouched;
    nn_csv_opts d = nn_csv_defaults();
    assert_int_equal(d.from_defaults, NN_OPTS_FROM_DEFAULTS);
    assert_int_equal(d.delimiter, ',');
    assert_int_equal(d.max_line, NN_CSV_MAX_LINE_DEFAULT);
    assert_false(d.no_header);
    assert_false(d.nan_on_bad);
    d.delimiter = ';';
    assert_int_equal(nn_csv_load(p, &d, &t), NN_OK);
    expect_values(&t, 1, 2, (const float[]){1, 2});
    nn_table_free(&t);
    d.delimiter = 0; /* from the defaults, 0 is taken as written: refused */
    assert_int_equal(nn_csv_load(p, &d, &u), NN_EINVAL);
    assert_error_mentions("nn_csv_load", "delimiter");
    d.delimiter = ';';
    d.max_line = 0;
    assert_int_equal(nn_csv_load(p, &d, &u), NN_EINVAL);
    assert_error_mentions("max_line");
    d.max_line = 10;
    d.from_defaults = 12345;
    assert_int_equal(nn_csv_load(p, &d, &u), NN_EINVAL);
    assert_error_mentions("nn_csv_opts.from_defaults", "nn_csv_defaults");
    assert_int_equal(nn_csv_load(p, &(nn_csv_opts){.delimiter = '"'}, &u), NN_EINVAL);
    assert_int_equal(nn_csv_load(p, &(nn_csv_opts){.delimiter = '\n'}, &u), NN_EINVAL);
    assert_int_equal(nn_csv_load(p, &(nn_csv_opts){.num_columns = 1}, &u), NN_EINVAL);
    assert_error_mentions("num_columns");
    assert_int_equal(nn_csv_load(p, &(nn_csv_opts){.column_indices = (const int[]){0}}, &u), NN_EINVAL);
    assert_int_equal(nn_csv_load(p, &(nn_csv_opts){.column_names = (const char *[]){"a"}, .column_indices = (const int[]){0}, .num_columns = 1}, &u),
                     NN_EINVAL);
    assert_int_equal(nn_csv_load(p, &(nn_csv_opts){.column_names = (const char *[]){NULL}, .num_columns = 1}, &u), NN_EINVAL);
    assert_int_equal(nn_csv_load(NULL, NULL, &u), NN_EINVAL);
    assert_int_equal(nn_csv_load(p, NULL, NULL), NN_EINVAL);
    assert_int_equal(nn_csv_load_fp(NULL, "x", NULL, &u), NN_EINVAL);
    assert_untouched(&u);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-file.csv", tmpdir);
    assert_int_equal(nn_csv_load(missing, NULL, &u), NN_EIO);
    assert_error_mentions("cannot open", "no-such-file.csv");
    assert_untouched(&u);
    nn_table_free(NULL);
}

/* --- malformed input: row and column in every message, *out untouched */

static void test_malformed(void **state)
{
    (void)state;
    /* ragged rows: too few (column of the first missing field) and too many (the first extra) */
    expect_error("a,b,c\n1,2,3\n4,5\n", NULL, NN_EFORMAT, 3, 3);
    assert_error_mentions("row has 2 fields, header has 3");
    expect_error("a,b,c\n1,2,3,4\n", &(nn_csv_opts){.nan_on_bad = true}, NN_EFORMAT, 2, 4);
    expect_error("a,b,c\n1,2,3\n\n4,5,6\n", &(nn_csv_opts){.nan_on_bad = true}, NN_EFORMAT, 3, 2);
    expect_error("1,2\n3\n", &(nn_csv_opts){.no_header = true}, NN_EFORMAT, 2, 2);
    assert_error_mentions("the first row has 2");
    /* unterminated quote: the row and column where the quoted field starts */
    expect_error("a,b\n1,2\n3,\"4\n5,6\n", NULL, NN_EFORMAT, 3, 2);
    assert_error_mentions("unterminated quote");
    expect_error("\"a,b\n", NULL, NN_EFORMAT, 1, 1);
    /* text after a closing quote, a quote inside an unquoted field */
    expect_error("a,b\n\"1\"x,2\n", NULL, NN_EFORMAT, 2, 1);
    assert_error_mentions("text after a closing quote");
    expect_error("a,b\n1,2\"\n", &(nn_csv_opts){.nan_on_bad = true}, NN_EFORMAT, 2, 2);
    assert_error_mentions("quote inside an unquoted field");
    /* header faults */
    expect_error("a,,c\n1,2,3\n", NULL, NN_EFORMAT, 1, 2);
    assert_error_mentions("missing column name");
    expect_error("a,b\xff,c\n1,2,3\n", NULL, NN_EFORMAT, 1, 2);
    assert_error_mentions("invalid UTF-8");
    expect_error("a,\"b\xC3\",c\n1,2,3\n", NULL, NN_EFORMAT, 1, 2);
    {
        nn_table t = untouched;
        assert_error_at(nn_csv_load(write_tmp_n("a,\"b\0\",c\n1,2,3\n", 15), NULL, &t), NN_EFORMAT, 1, 2);
        assert_error_mentions("NUL");
    }
    /* numbers out of float range, either mode */
    expect_error("a,b\n1,3.5e38\n", NULL, NN_EFORMAT, 2, 2);
    assert_error_mentions("out of float range", "3.5e38");
    expect_error("a,b\n1,2\n-1e39,0\n", &(nn_csv_opts){.nan_on_bad = true}, NN_EFORMAT, 3, 1);
    expect_error("a\n1e999999999999\n", NULL, NN_EFORMAT, 2, 1);
    /* cells: empty, not a number (with the text) */
    expect_error("a,b\n1,\n", NULL, NN_EFORMAT, 2, 2);
    assert_error_mentions("empty cell");
    expect_error("a,b\n1,abc\n", NULL, NN_EFORMAT, 2, 2);
    assert_error_mentions("not a number: \"abc\"");
    /* an empty file, one holding only a BOM, only a line ending */
    expect_error("", NULL, NN_EFORMAT, 1, 1);
    assert_error_mentions("empty file", "header");
    expect_error("\xEF\xBB\xBF", NULL, NN_EFORMAT, 1, 1);
    expect_error("", &(nn_csv_opts){.no_header = true}, NN_EFORMAT, 1, 1);
    /* a record longer than max_line, at several block sizes; exactly max_line is fine */
    size_t saved = nn_csv_block;
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        nn_csv_block = blocks[b];
        expect_error("a,b\n1,2\n123456,7\n", &(nn_csv_opts){.max_line = 7}, NN_EFORMAT, 3, 2);
        assert_error_mentions("longer than the limit of 7 bytes");
        expect_error("a,b\n1,2\n1234567,8\n9,9", &(nn_csv_opts){.max_line = 7}, NN_EFORMAT, 3, 2);
        expect_error("a,b\n1,2\n12345678,8\n9,9", &(nn_csv_opts){.max_line = 7}, NN_EFORMAT, 3, 1);
        expect_error("a,b\n1,2\n\"12\r\n34\",5\r\n", &(nn_csv_opts){.max_line = 7}, NN_EFORMAT, 3, 1);
        /* max_line + 2 bytes to the end of the file: too long, before the unterminated quote (fuzz finding) */
        expect_error("a,\"xyz\r", &(nn_csv_opts){.max_line = 5}, NN_EFORMAT, 1, 2);
        expect_error("a,b\xD8\x9C\xF5\xCE\xD3\xDD\xDD\xD3\"\"\n", &(nn_csv_opts){.max_line = 8}, NN_EFORMAT, 1, 2);
        nn_table t;
        load_ok("a,b\n1,2\n12345,7\r\n12345,7", &(nn_csv_opts){.max_line = 7}, &t);
        expect_values(&t, 3, 2, (const float[]){1, 2, 12345, 7, 12345, 7});
        nn_table_free(&t);
    }
    nn_csv_block = saved;
    /* the default limit, 1 MiB: a line of 1 MiB + 1 bytes is refused */
    size_t n = NN_CSV_MAX_LINE_DEFAULT + 1;
    char *big = malloc(n + 16);
    memcpy(big, "a\n", 2);
    memset(big + 2, '1', n);
    memcpy(big + 2 + n, "\n", 2);
    nn_table t = untouched;
    assert_error_at(nn_csv_load(write_tmp(big), NULL, &t), NN_EFORMAT, 2, 1);
    assert_error_mentions("longer than the limit of 1048576 bytes");
    assert_untouched(&t);
    big[2 + n - 1] = '\n'; /* 1 MiB exactly: a number out of range, but not too long */
    big[2 + n] = '\0';
    assert_error_at(nn_csv_load(write_tmp(big), NULL, &t), NN_EFORMAT, 2, 1);
    assert_error_mentions("out of float range");
    free(big);
}

/* --- numbers */

static uint64_t rng = 88172645463325252u;
static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Our parser against (float)strtod in the "C" locale, on many shapes of numbers. */
static void test_numbers_match_strtod(void **state)
{
    (void)state;
    static const char *fixed[] = {
        "0", "-0", "+0", "0.0", ".5", "5.", "-.5e1", "1e0", "1E+2", "1e-2", "007", "0.000001", "123456789012345678901234567890",
        "0.1", "0.2", "0.3", "3.14159265358979323846264338327950288", "1e22", "1e23", "9007199254740993", "9007199254740992",
        "4.9406564584124654e-324", "1e-45", "1.4e-45", "7e-46", "1.17549435e-38", "3.4028234663852886e38",
        "3.4028235e38", "3.40282356e38", "340282346638528859811704183484516925440", "2.7182818284590452353602874713527",
        "1.00000005960464477539062499", "1.000000059604644775390625", "1.00000005960464477539062501", "-123.456e-7",
        "0.000000000000000000000000000000000000000000000001e50", "1e-400", "12345678901234567890e-10",
    };
    nn_c_numbers cn;
    assert_int_equal(nn_c_numbers_begin(&cn, "test"), NN_OK);
    char buf[128];
    for (int i = 0; i < (int)(sizeof fixed / sizeof *fixed) + 200000; i++) {
        const char *s;
        if (i < (int)(sizeof fixed / sizeof *fixed)) {
            s = fixed[i];
        } else {
            uint64_t r = next_u64();
            int digits = 1 + (int)(r % 20), point = (int)((r >> 5) % 22) - 1, exp = (int)((r >> 10) % 90) - 45;
            int n = 0;
            if (r >> 20 & 1)
                buf[n++] = '-';
            for (int k = 0; k < digits; k++) {
                if (k == point)
                    buf[n++] = '.';
                buf[n++] = (char)('0' + next_u64() % 10);
            }
            if (r >> 21 & 1)
                n += snprintf(buf + n, sizeof buf - (size_t)n, "e%d", exp);
            buf[n] = '\0';
            s = buf;
        }
        unsigned char text[128];
        size_t len = strlen(s);
        memcpy(text, s, len + 1);
        float got = -1;
        int rc = nn_csv_parse_float(text, len, &got);
        double d = strtod(s, NULL);
        if (fabs(d) >= 0x1.ffffffp127) {
            assert_int_equal(rc, NN_CSV_NUM_RANGE);
            continue;
        }
        float want = (float)d;
        if (rc != NN_CSV_NUM_OK || !same_float(got, want)) {
            fprintf(stderr, "\"%s\": got %.9g (rc %d), strtod gives %.9g\n", s, got, rc, want);
            fail();
        }
        assert_string_equal((char *)text, s); /* restored */
    }
    nn_c_numbers_end(&cn);
    /* not numbers */
    static const char *bad[] = {"nan", "NaN", "inf", "-inf", "Infinity", "0x10", "1e", "1e+", "--1", "+-1", ".", "-",
                                "1.2.3", "1,5", "1 2", "e5", "1d5", "\"1\"", "１"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char text[32];
        size_t len = strlen(bad[i]);
        memcpy(text, bad[i], len + 1);
        float v;
        if (nn_csv_parse_float(text, len, &v) != NN_CSV_NUM_BAD) {
            fprintf(stderr, "\"%s\" read as a number\n", bad[i]);
            fail();
        }
    }
    unsigned char blank[] = " \t ";
    float v;
    assert_int_equal(nn_csv_parse_float(blank, 3, &v), NN_CSV_NUM_EMPTY);
}

/* Under a German LC_NUMERIC (decimal comma), numbers still read with '.'. */
static void test_german_locale(void **state)
{
    (void)state;
    const char *p = write_tmp("x;y\n1.5;-2.25e-3\n3.14159265358979323846;1,5\n");
    comma_locale_begin();
    nn_table t, u = untouched;
    int rc = nn_csv_load(p, &(nn_csv_opts){.delimiter = ';', .nan_on_bad = true}, &t);
    int rc2 = nn_csv_load(p, &(nn_csv_opts){.delimiter = ';'}, &u);
    comma_locale_end();
    assert_int_equal(rc, NN_OK);
    expect_values(&t, 2, 2, (const float[]){1.5f, -2.25e-3f, 3.14159265f, NAN});
    nn_table_free(&t);
    assert_error_at(rc2, NN_EFORMAT, 3, 2);
    assert_error_mentions("not a number: \"1,5\"");
}

/* --- streaming */

static long n_allocs, fail_at = -1, live;
static size_t largest;

static void *counting_alloc(size_t n)
{
    if (++n_allocs == fail_at)
        return NULL;
    void *p = malloc(n);
    live += p != NULL;
    if (n > largest)
        largest = n;
    return p;
}

static void counting_release(void *p)
{
    if (p)
        live--;
    free(p);
}

/* Every allocation of a load made to fail in turn: NN_ENOMEM, *out untouched, nothing leaked. */
static void test_allocation_failures(void **state)
{
    (void)state;
    /* enough rows for several value blocks and a buffer that grows for a long record */
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    n += (size_t)sprintf(text + n, "\"a\",b,c\n");
    for (int i = 0; i < 30000; i++)
        n += (size_t)sprintf(text + n, "%d,%d.5,\"%d\"\n", i, i, -i);
    n += (size_t)sprintf(text + n, "1,2,\"");
    for (int i = 0; i < 3000; i++)
        text[n++] = ' ';
    n += (size_t)sprintf(text + n, "3\"\n");
    const char *p = write_tmp_n(text, n);
    free(text);
    size_t saved = nn_csv_block;
    nn_csv_block = 1024;
    nn_csv_opts o = {.column_names = (const char *[]){"c", "a"}, .num_columns = 2};
    nn_set_allocator(counting_alloc, counting_release);
    nn_table t;
    n_allocs = 0;
    live = 0;
    assert_int_equal(nn_csv_load(p, &o, &t), NN_OK);
    long total = n_allocs;
    nn_table_free(&t);
    assert_int_equal(live, 0);
    assert_true(total > 5);
    for (long k = 1; k <= total; k++) {
        n_allocs = 0;
        fail_at = k;
        nn_table u = untouched;
        int rc = nn_csv_load(p, &o, &u);
        if (rc != NN_ENOMEM)
            fprintf(stderr, "allocation %ld: status %d (%s)\n", k, rc, nn_last_error());
        assert_int_equal(rc, NN_ENOMEM);
        assert_non_null(strstr(nn_last_error(), "nn_csv_load"));
        assert_untouched(&u);
        assert_int_equal(live, 0);
    }
    fail_at = -1;
    nn_set_allocator(NULL, NULL);
    nn_csv_block = saved;
}

/* A file is read in blocks, not whole: no allocation comes near its size. */
static void test_streaming_memory(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/big.csv", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("first,second\n", f);
    size_t bytes = 13;
    int rows = 0;
    while (bytes < (size_t)24 << 20) {
        bytes += (size_t)fprintf(f, "%d.123456789,-0.00012345678\n", rows);
        rows++;
    }
    assert_int_equal(fclose(f), 0);
    nn_set_allocator(counting_alloc, counting_release);
    largest = 0;
    nn_table t;
    int rc = nn_csv_load(path, NULL, &t);
    nn_set_allocator(NULL, NULL);
    assert_int_equal(rc, NN_OK);
    assert_int_equal(t.rows, rows);
    char last[64];
    snprintf(last, sizeof last, "%d.123456789", rows - 1);
    assert_true(same_float(t.values->data[2 * (rows - 1)], (float)strtod(last, NULL)));
    assert_true(same_float(t.values->data[1], -0.00012345678f));
    /* the largest block is the values tensor, 8 bytes a row, under a third of the text */
    assert_true(largest < bytes / 3);
    assert_true(largest >= (size_t)rows * 8);
    nn_set_allocator(counting_alloc, counting_release);
    nn_table_free(&t);
    nn_set_allocator(NULL, NULL);
}

/* The same table at every read block size. */
static void test_block_sizes_agree(void **state)
{
    (void)state;
    const char *p = write_tmp("\xEF\xBB\xBF\"x\",\"y\"\r\n1.25,\"2\"\r\n\"3\",4e1\n5,6\r7,-8.5\n\"9\",\"10\"");
    size_t saved = nn_csv_block;
    for (size_t b = 1; b < 40; b++) {
        nn_csv_block = b;
        nn_table t;
        int rc = nn_csv_load(p, NULL, &t);
        if (rc != NN_OK)
            fprintf(stderr, "block %zu: %s\n", b, nn_last_error());
        assert_int_equal(rc, NN_OK);
        expect_values(&t, 5, 2, (const float[]){1.25f, 2, 3, 40, 5, 6, 7, -8.5f, 9, 10});
        assert_string_equal(t.names[0], "x");
        nn_table_free(&t);
    }
    nn_csv_block = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_text),
        cmocka_unit_test(test_conformance_loads),
        cmocka_unit_test(test_conformance_copies_match_shared),
        cmocka_unit_test(test_rfc4180_cases),
        cmocka_unit_test(test_column_selection),
        cmocka_unit_test(test_skip_rows),
        cmocka_unit_test(test_options_rule),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_numbers_match_strtod),
        cmocka_unit_test(test_german_locale),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_streaming_memory),
        cmocka_unit_test(test_block_sizes_agree),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
