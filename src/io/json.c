/* A pull parser for untrusted JSON: no allocation, no recursion, every
   length and number checked. See json.h. */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void json_init(json *j, char *s, size_t len)
{
    memset(j, 0, sizeof *j);
    j->s = s;
    j->len = len;
}

static bool fail(json *j, const char *fmt, ...)
{
    if (j->failed)
        return false;
    j->failed = true;
    char what[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(j->err, sizeof j->err, "%s at byte %zu of the JSON header", what, j->pos);
    return false;
}

static void skip_ws(json *j)
{
    while (j->pos < j->len) {
        char c = j->s[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        j->pos++;
    }
}

/* Next non-blank byte without consuming it; -1 at the end. */
static int peek(json *j)
{
    skip_ws(j);
    return j->pos < j->len ? (unsigned char)j->s[j->pos] : -1;
}

static bool describe_and_fail(json *j, const char *expected)
{
    int c = peek(j);
    if (c < 0)
        return fail(j, "expected %s, got the end of the header", expected);
    if (c >= 0x21 && c < 0x7f)
        return fail(j, "expected %s, got '%c'", expected, c);
    return fail(j, "expected %s, got byte 0x%02x", expected, c);
}

static bool begin(json *j, char open, const char *what)
{
    if (j->failed)
        return false;
    if (peek(j) != open)
        return describe_and_fail(j, what);
    if (j->depth >= JSON_MAX_DEPTH)
        return fail(j, "nesting deeper than %d", JSON_MAX_DEPTH);
    j->pos++;
    j->first[++j->depth] = true;
    return true;
}

bool json_begin_object(json *j) { return begin(j, '{', "an object"); }
bool json_begin_array(json *j) { return begin(j, '[', "an array"); }

/* Shared by objects and arrays: 1 if a member follows, 0 at the close. */
static int next_member(json *j, char close)
{
    if (j->failed)
        return -1;
    if (j->depth == 0)
        return fail(j, "no open container"), -1;
    int c = peek(j);
    if (c == close) {
        j->pos++;
        j->depth--;
        return 0;
    }
    if (!j->first[j->depth]) {
        if (c != ',')
            return describe_and_fail(j, close == '}' ? "',' or '}'" : "',' or ']'"), -1;
        j->pos++;
        if (peek(j) == close)
            return fail(j, "trailing comma"), -1;
    }
    j->first[j->depth] = false;
    return 1;
}

int json_next_key(json *j, json_str *key)
{
    int r = next_member(j, '}');
    if (r != 1)
        return r;
    if (!json_string(j, key))
        return -1;
    if (peek(j) != ':')
        return describe_and_fail(j, "':'"), -1;
    j->pos++;
    return 1;
}

int json_next_item(json *j) { return next_member(j, ']'); }

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[pos..]; -1 if malformed or missing. */
static long hex4(const json *j, size_t pos)
{
    if (j->len - pos < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(j->s[pos + (size_t)i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *w, unsigned long cp)
{
    if (cp < 0x80) {
        w[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (char)(0xC0 | (cp >> 6));
        w[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (char)(0xE0 | (cp >> 12));
        w[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        w[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    w[0] = (char)(0xF0 | (cp >> 18));
    w[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    w[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    w[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0:
   no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Decodes the escape after a backslash at s[*r] (r points at the letter);
   writes UTF-8 at *w. */
static bool unescape(json *j, size_t *r, size_t *w)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char c = j->s[*r];
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) {
        j->s[(*w)++] = to[hit - from];
        (*r)++;
        return true;
    }
    if (c != 'u')
        return j->pos = *r, fail(j, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
    long cp = hex4(j, *r + 1);
    if (cp < 0)
        return j->pos = *r, fail(j, "expected 4 hex digits after \\u");
    *r += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return j->pos = *r, fail(j, "unpaired low surrogate \\u%04lx", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = (j->len - *r >= 6 && j->s[*r] == '\\' && j->s[*r + 1] == 'u') ? hex4(j, *r + 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return j->pos = *r, fail(j, "unpaired high surrogate \\u%04lx", cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *r += 6;
    }
    *w += put_utf8(j->s + *w, (unsigned long)cp);
    return true;
}

bool json_string(json *j, json_str *out)
{
    if (j->failed)
        return false;
    if (peek(j) != '"')
        return describe_and_fail(j, "a string");
    size_t start = ++j->pos, r = start, w = start;
    for (;;) {
        if (r >= j->len)
            return j->pos = r, fail(j, "unterminated string");
        if (r - start > JSON_MAX_STRING)
            return fail(j, "string longer than %d bytes", JSON_MAX_STRING);
        unsigned char c = (unsigned char)j->s[r];
        if (c == '"')
            break;
        if (c < 0x20)
            return j->pos = r, fail(j, "control byte 0x%02x inside a string", c);
        if (c == '\\') {
            r++;
            if (r >= j->len)
                return j->pos = r, fail(j, "unterminated string");
            if (!unescape(j, &r, &w))
                return false;
            continue;
        }
        size_t n = utf8_len((const unsigned char *)j->s + r, j->len - r);
        if (n == 0)
            return j->pos = r, fail(j, "invalid UTF-8 byte 0x%02x in a string", c);
        memmove(j->s + w, j->s + r, n);
        r += n;
        w += n;
    }
    out->p = j->s + start;
    out->len = w - start;
    j->pos = r + 1;
    return true;
}

bool json_int(json *j, int64_t min, int64_t max, int64_t *out)
{
    if (j->failed)
        return false;
    int c = peek(j);
    bool neg = c == '-';
    size_t p = j->pos + (neg ? 1 : 0);
    if (p >= j->len || j->s[p] < '0' || j->s[p] > '9')
        return describe_and_fail(j, "an integer");
    if (j->s[p] == '0' && p + 1 < j->len && j->s[p + 1] >= '0' && j->s[p + 1] <= '9')
        return fail(j, "leading zero in a number");
    /* accumulate negatively: -INT64_MIN does not fit */
    int64_t v = 0;
    for (; p < j->len && j->s[p] >= '0' && j->s[p] <= '9'; p++) {
        int d = j->s[p] - '0';
        if (v < (INT64_MIN + d) / 10)
            return fail(j, "integer out of range");
        v = v * 10 - d;
    }
    if (p < j->len && (j->s[p] == '.' || j->s[p] == 'e' || j->s[p] == 'E'))
        return fail(j, "expected an integer, got a fraction or exponent");
    if (!neg) {
        if (v == INT64_MIN)
            return fail(j, "integer out of range");
        v = -v;
    }
    if (v < min || v > max)
        return fail(j, "integer %lld outside [%lld, %lld]", (long long)v, (long long)min,
                    (long long)max);
    j->pos = p;
    *out = v;
    return true;
}

bool json_end(json *j)
{
    if (j->failed)
        return false;
    if (peek(j) >= 0)
        return describe_and_fail(j, "the end of the header");
    return true;
}

bool json_str_eq(json_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}
