/* Internal: a small pull parser for untrusted JSON (the safetensors header).

   The caller drives it with the shape it expects, so nothing is ever
   allocated and nothing recurses: nesting is bounded by JSON_MAX_DEPTH,
   strings by JSON_MAX_STRING bytes, integers are range-checked, strings
   are validated as UTF-8 and decoded in place (the buffer must be
   writable; a decoded string is never longer than its source). Errors are
   sticky: after the first one every call fails and j->err says why and
   where. Duplicate keys are the caller's to reject (it knows the schema). */
#ifndef NN_IO_JSON_H
#define NN_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_STRING 65536

typedef struct {
    char *s;      /* text, not NUL-terminated */
    size_t len;
    size_t pos;
    int depth;
    bool first[JSON_MAX_DEPTH + 1]; /* per open container: no member read yet */
    bool failed;
    char err[160];
} json;

typedef struct {
    const char *p; /* decoded bytes inside the parser's buffer; may hold NUL */
    size_t len;
} json_str;

void json_init(json *j, char *s, size_t len);

/* '{' / '[' opening a container; false (and an error) otherwise. */
bool json_begin_object(json *j);
bool json_begin_array(json *j);
/* Next member of the current object: 1 with *key set (the ':' consumed),
   0 at '}' (consumed), -1 on error. */
int json_next_key(json *j, json_str *key);
/* Next element of the current array: 1 when a value follows, 0 at ']'
   (consumed), -1 on error. */
int json_next_item(json *j);

bool json_string(json *j, json_str *out);
/* An integer in [min, max] without fraction or exponent. */
bool json_int(json *j, int64_t min, int64_t max, int64_t *out);
/* Only whitespace remains. */
bool json_end(json *j);

bool json_str_eq(json_str s, const char *lit);

#endif
