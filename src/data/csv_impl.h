/* Internal to src/data: the streaming RFC 4180 record reader behind
   nn_csv_load, and its number parser (tests and the fuzz harness use them
   directly). */
#ifndef NN_CSV_IMPL_H
#define NN_CSV_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

/* Bytes asked of fread at a time (and the reader's first buffer size).
   Tests and the fuzz harness shrink it to push records across block
   boundaries; 0 is taken as 1. */
extern size_t nn_csv_block;

/* One field of the current record: its content at rec + off, len bytes,
   without the enclosing quotes; escaped: the content still holds doubled
   quotes ("") to be read as one. */
typedef struct {
    size_t off, len;
    bool quoted, escaped;
} nn_csv_field;

typedef struct {
    FILE *f;
    const char *fn, *name;       /* for messages */
    unsigned char *buf;          /* buf[start, end) read and not yet consumed */
    size_t cap, cap_max, start, end;
    bool eof, bom_checked;
    size_t max_line;
    unsigned char delim;
    unsigned char stop[256];     /* bytes that end an unquoted field's scan */
    /* the record last read: */
    unsigned char *rec;          /* valid until the next call */
    nn_csv_field *fields;
    int nfields, fields_cap;
    int64_t row, line;           /* 1-based record number, line where it starts */
    int64_t next_line;
} nn_csv_reader;

/* Sets up r (allocates its buffer). NN_OK or NN_ENOMEM (message names fn). */
int nn_csv_reader_init(nn_csv_reader *r, FILE *f, const char *fn, const char *name, unsigned char delim,
                       size_t max_line);
/* Reads the next record: 1 (fields in r->fields), 0 at the end of input,
   or a negative nn_status with a message naming fn, the name, the row and
   column (NN_EFORMAT for the contents, NN_EIO, NN_ENOMEM). */
int nn_csv_reader_next(nn_csv_reader *r);
void nn_csv_reader_free(nn_csv_reader *r);

/* A number cell (text[0..n), blanks around allowed; text[n] must be
   writable: it is set to NUL and restored). Under the "C" locale (the
   caller's nn_c_numbers_begin) for the rare values that go to strtod. */
enum { NN_CSV_NUM_OK, NN_CSV_NUM_EMPTY, NN_CSV_NUM_BAD, NN_CSV_NUM_RANGE };
int nn_csv_parse_float(unsigned char *text, size_t n, float *out);

#endif
