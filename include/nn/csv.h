/* libnn: numeric tables from CSV files (RFC 4180), read as a stream. */
#ifndef NN_CSV_H
#define NN_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "opts.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded table: values [rows, cols] (row-major floats) and one name per
   column, in the order the columns were selected. Owned by the table:
   release with nn_table_free. names is one block (the pointer array and
   the strings after it), UTF-8, NUL-terminated. */
typedef struct {
    nn_tensor *values;
    char **names;
    int64_t rows, cols;
} nn_table;

/* The default and the largest record, in bytes (nn_csv_opts.max_line). */
#define NN_CSV_MAX_LINE_DEFAULT ((size_t)1 << 20)

/* Options of nn_csv_load; the rule is nn/opts.h's. Every field's zero
   means the default when written by hand (&(nn_csv_opts){.nan_on_bad = true}):
   - no_header: false = the first record is the header (the column
     names); true = every record is data and the columns are named "0",
     "1", ... (their 0-based indices).
   - delimiter: 0 = ','. Any byte but '"', '\r', '\n', NUL or >= 0x80.
   - column_names[num_columns] or column_indices[num_columns] (0-based):
     the columns to keep, in this order (a column may come twice); at most
     one of the two, NULL both and num_columns 0 = every column. Names
     need a header.
   - nan_on_bad: an empty cell or a cell that is not a number becomes NaN
     instead of an error. Structural faults (ragged rows, quotes), numbers
     out of float range and the limits are errors either way.
   - skip_rows: records read and ignored before the header (or the first
     data record): a title row, or scikit-learn's bundled files whose
     first row holds counts and class names. Row numbers in messages still
     count them (the header is then row skip_rows + 1). Negative: refused.
   - max_line: the longest record accepted, in bytes without its line
     ending (a quoted field with line breaks makes a record of several
     lines: the limit is on the record); 0 = NN_CSV_MAX_LINE_DEFAULT
     (1 MiB). The reader holds at most about twice this in memory besides
     the values. From nn_csv_defaults, 0 and a delimiter of 0 are refused. */
typedef struct {
    bool no_header;
    char delimiter;
    const char *const *column_names;
    const int *column_indices;
    int num_columns;
    bool nan_on_bad;
    size_t max_line;
    int64_t skip_rows; /* records skipped before the header (pandas' skiprows=n) */
    uint32_t from_defaults; /* NN_OPTS_FROM_DEFAULTS from nn_csv_defaults, else 0 */
} nn_csv_opts;
nn_csv_opts nn_csv_defaults(void); /* header, ',', every column, errors, 1 MiB */

/* Reads a CSV file of numbers into *out, streaming: the file is read in
   fixed-size blocks and never held whole; only the values grow (4 bytes
   per selected cell, plus one copy at the end).

   The format is RFC 4180: records separated by CRLF, LF or a lone CR (mixed
   endings are fine), fields separated by the delimiter, a field in double
   quotes may hold the delimiter, line breaks and doubled quotes (""). A
   UTF-8 byte order mark at the start is skipped. The header's names must
   be valid UTF-8 and not empty. A blank line inside the data is a record
   of one empty field (so a ragged row unless the table has one column);
   the line ending after the last record is optional. Cells may be quoted.

   Numbers: [+-]digits[.digits][(e|E)[+-]digits] (or .digits), blanks
   (space, tab) around them allowed, always with a '.' decimal point,
   whatever setlocale the program chose; each is rounded as strtod does
   in the "C" locale and then to float. "inf", "nan", hex and anything else
   are not numbers (an error, or NaN with nan_on_bad). A number whose
   float is infinite (|x| above about 3.4e38) is refused as out of range;
   tiny ones round to 0 or subnormals as strtod's do.

   Returns NN_OK and fills *out, or a negative nn_status with a message
   naming the function, the file and -- for every fault in its contents --
   the row and column (both 1-based, the header is row 1, a record is one
   row even when it spans lines; the line where the record starts is added
   when it differs) and what was expected: NN_EFORMAT for the contents
   (empty file, ragged row, unterminated quote, text after a closing quote,
   a quote inside an unquoted field, a bad or missing column name, a cell
   that is empty, not a number or out of float range, a record longer than
   max_line), NN_EINVAL for the options (a column name that is not in the
   header, an index out of range), NN_EIO, NN_ENOMEM. On failure *out is
   untouched and nothing stays allocated. */
int nn_csv_load(const char *path, const nn_csv_opts *o, nn_table *out);

/* The same from an open stream read to its end (not closed); name is used
   in messages (NULL: "stream"). */
int nn_csv_load_fp(FILE *f, const char *name, const nn_csv_opts *o, nn_table *out);

/* Frees the values and names and zeroes the table. NULL: no-op. */
void nn_table_free(nn_table *t);

/* Index of the column named name in t, or -1 (no error recorded). */
int64_t nn_table_column(const nn_table *t, const char *name);

#ifdef __cplusplus
}
#endif
#endif
