/* A small inflate (RFC 1951) and gzip reader (RFC 1952): stored, fixed and
   dynamic Huffman blocks into a preallocated buffer of the size the gzip
   trailer announces, so a corrupt stream can never make it allocate or
   write more than that. Every read is bounds-checked. */
#include <string.h>

#include "data_impl.h"

#define MAX_BITS 15
#define FAST_BITS 9 /* codes up to this length decode with one table look-up */

typedef struct {
    uint16_t count[MAX_BITS + 1]; /* codes of each length */
    uint16_t symbol[288];         /* symbols ordered by code */
    uint16_t fast[1 << FAST_BITS]; /* reversed code -> length << 9 | symbol; 0: slow path */
} huffman;

typedef struct {
    const uint8_t *in;
    size_t in_len, pos;
    uint64_t bitbuf;
    int bitcnt;
    uint8_t *out;
    size_t out_len, out_cap;
    const char *why;
} inflater;

static int fail(inflater *s, const char *why)
{
    s->why = why;
    return NN_EFORMAT;
}

/* Tops the bit buffer up to at least n bits if the input allows. */
static void refill(inflater *s, int n)
{
    while (s->bitcnt < n && s->pos < s->in_len) {
        s->bitbuf |= (uint64_t)s->in[s->pos++] << s->bitcnt;
        s->bitcnt += 8;
    }
}

static int getbits(inflater *s, int n, uint32_t *v)
{
    refill(s, n);
    if (s->bitcnt < n)
        return fail(s, "truncated deflate data");
    *v = (uint32_t)(s->bitbuf & ((UINT64_C(1) << n) - 1));
    s->bitbuf >>= n;
    s->bitcnt -= n;
    return NN_OK;
}

/* Canonical Huffman code from code lengths; over-subscribed sets are corrupt,
   incomplete ones are allowed (a missing code then fails when met). */
static int build(inflater *s, huffman *h, const uint8_t *lengths, int n)
{
    uint16_t offs[MAX_BITS + 2], next[MAX_BITS + 1];
    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0, sizeof h->fast);
    for (int i = 0; i < n; i++)
        h->count[lengths[i]]++;
    int left = 1;
    for (int len = 1; len <= MAX_BITS; len++) {
        left = (left << 1) - h->count[len];
        if (left < 0)
            return fail(s, "over-subscribed Huffman code");
    }
    offs[1] = 0;
    for (int len = 1; len <= MAX_BITS; len++)
        offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
    uint32_t code = 0;
    h->count[0] = 0;
    for (int len = 1; len <= MAX_BITS; len++) {
        code = (code + h->count[len - 1]) << 1;
        next[len] = (uint16_t)code;
    }
    for (int sym = 0; sym < n; sym++) {
        int len = lengths[sym];
        if (!len)
            continue;
        h->symbol[offs[len]++] = (uint16_t)sym;
        uint32_t c = next[len]++, rev = 0;
        if (len > FAST_BITS)
            continue;
        for (int b = 0; b < len; b++) /* deflate sends codes most significant bit first */
            rev |= ((c >> b) & 1u) << (len - 1 - b);
        for (uint32_t fill = rev; fill < (1u << FAST_BITS); fill += 1u << len)
            h->fast[fill] = (uint16_t)(len << 9 | sym);
    }
    return NN_OK;
}

static int decode(inflater *s, const huffman *h, int *sym)
{
    refill(s, FAST_BITS);
    if (s->bitcnt >= FAST_BITS) {
        uint16_t e = h->fast[s->bitbuf & ((1u << FAST_BITS) - 1)];
        if (e) {
            s->bitbuf >>= e >> 9;
            s->bitcnt -= e >> 9;
            *sym = e & 511;
            return NN_OK;
        }
    }
    /* bit by bit: codes of each length are consecutive integers */
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= MAX_BITS; len++) {
        uint32_t b;
        if (getbits(s, 1, &b) < 0)
            return NN_EFORMAT;
        code |= (int)b;
        int count = h->count[len];
        if (code - first < count) {
            *sym = h->symbol[index + code - first];
            return NN_OK;
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return fail(s, "invalid Huffman code");
}

static int stored_block(inflater *s)
{
    /* drop to a byte boundary and hand whole buffered bytes back */
    s->bitbuf >>= s->bitcnt & 7;
    s->bitcnt -= s->bitcnt & 7;
    s->pos -= (size_t)(s->bitcnt / 8);
    s->bitbuf = 0;
    s->bitcnt = 0;
    if (s->in_len - s->pos < 4)
        return fail(s, "truncated stored block");
    const uint8_t *p = s->in + s->pos;
    unsigned len = p[0] | (unsigned)p[1] << 8, nlen = p[2] | (unsigned)p[3] << 8;
    if (len != (~nlen & 0xffffu))
        return fail(s, "stored block length check failed");
    s->pos += 4;
    if (s->in_len - s->pos < len)
        return fail(s, "truncated stored block");
    if (s->out_cap - s->out_len < len)
        return fail(s, "more data than the gzip trailer announces");
    memcpy(s->out + s->out_len, s->in + s->pos, len);
    s->pos += len;
    s->out_len += len;
    return NN_OK;
}

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Literal/length and distance codes until end of block. */
static int codes(inflater *s, const huffman *lit, const huffman *dist)
{
    for (;;) {
        int sym;
        if (decode(s, lit, &sym) < 0)
            return NN_EFORMAT;
        if (sym < 256) {
            if (s->out_len >= s->out_cap)
                return fail(s, "more data than the gzip trailer announces");
            s->out[s->out_len++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256)
            return NN_OK;
        sym -= 257;
        if (sym >= 29)
            return fail(s, "invalid length code");
        uint32_t extra, len, d;
        if (getbits(s, len_extra[sym], &extra) < 0)
            return NN_EFORMAT;
        len = len_base[sym] + extra;
        int ds;
        if (decode(s, dist, &ds) < 0)
            return NN_EFORMAT;
        if (ds >= 30)
            return fail(s, "invalid distance code");
        if (getbits(s, dist_extra[ds], &extra) < 0)
            return NN_EFORMAT;
        d = dist_base[ds] + extra;
        if (d > s->out_len)
            return fail(s, "distance too far back");
        if (s->out_cap - s->out_len < len)
            return fail(s, "more data than the gzip trailer announces");
        uint8_t *o = s->out + s->out_len; /* byte by byte: copies may overlap */
        for (uint32_t i = 0; i < len; i++)
            o[i] = o[(ptrdiff_t)i - (ptrdiff_t)d];
        s->out_len += len;
    }
}

static int fixed_block(inflater *s, huffman *lit, huffman *dist)
{
    uint8_t l[288];
    memset(l, 8, 144);
    memset(l + 144, 9, 112);
    memset(l + 256, 7, 24);
    memset(l + 280, 8, 8);
    if (build(s, lit, l, 288) < 0)
        return NN_EFORMAT;
    memset(l, 5, 30);
    if (build(s, dist, l, 30) < 0)
        return NN_EFORMAT;
    return codes(s, lit, dist);
}

static int dynamic_block(inflater *s, huffman *lit, huffman *dist)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    uint32_t nlen, ndist, ncode, v;
    if (getbits(s, 5, &nlen) < 0 || getbits(s, 5, &ndist) < 0 || getbits(s, 4, &ncode) < 0)
        return NN_EFORMAT;
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > 286 || ndist > 30)
        return fail(s, "bad dynamic block code counts");
    uint8_t lengths[286 + 30] = {0};
    for (uint32_t i = 0; i < ncode; i++) {
        if (getbits(s, 3, &v) < 0)
            return NN_EFORMAT;
        lengths[order[i]] = (uint8_t)v;
    }
    huffman *lencode = lit; /* reused: the literal code is built afterwards */
    if (build(s, lencode, lengths, 19) < 0)
        return NN_EFORMAT;
    uint32_t at = 0;
    while (at < nlen + ndist) {
        int sym;
        if (decode(s, lencode, &sym) < 0)
            return NN_EFORMAT;
        if (sym < 16) {
            lengths[at++] = (uint8_t)sym;
            continue;
        }
        uint8_t repeat = 0;
        uint32_t times;
        if (sym == 16) {
            if (at == 0)
                return fail(s, "repeat of a code length with no previous one");
            repeat = lengths[at - 1];
            if (getbits(s, 2, &times) < 0)
                return NN_EFORMAT;
            times += 3;
        } else if (sym == 17) {
            if (getbits(s, 3, &times) < 0)
                return NN_EFORMAT;
            times += 3;
        } else {
            if (getbits(s, 7, &times) < 0)
                return NN_EFORMAT;
            times += 11;
        }
        if (at + times > nlen + ndist)
            return fail(s, "too many code lengths");
        memset(lengths + at, repeat, times);
        at += times;
    }
    if (lengths[256] == 0)
        return fail(s, "no end-of-block code");
    if (build(s, lit, lengths, (int)nlen) < 0 || build(s, dist, lengths + nlen, (int)ndist) < 0)
        return NN_EFORMAT;
    return codes(s, lit, dist);
}

static int inflate_all(inflater *s)
{
    huffman *lit = nn_alloc(2 * sizeof *lit);
    if (!lit)
        return NN_ENOMEM;
    huffman *dist = lit + 1;
    uint32_t last = 0, type;
    int rc = NN_OK;
    while (rc == NN_OK && !last) {
        if (getbits(s, 1, &last) < 0 || getbits(s, 2, &type) < 0) {
            rc = NN_EFORMAT;
            break;
        }
        if (type == 0)
            rc = stored_block(s);
        else if (type == 1)
            rc = fixed_block(s, lit, dist);
        else if (type == 2)
            rc = dynamic_block(s, lit, dist);
        else
            rc = fail(s, "invalid block type");
    }
    /* unused bits of the last byte belong to no one: move to the trailer */
    s->pos -= (size_t)(s->bitcnt / 8);
    s->bitcnt = 0;
    nn_release(lit);
    return rc;
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of the deflate data after the gzip header, or 0 if malformed. */
static size_t skip_header(const uint8_t *in, size_t n, const char **why)
{
    enum { FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16 };
    if (n < 18 || in[0] != 0x1f || in[1] != 0x8b) {
        *why = n < 18 ? "too short for a gzip file" : "not gzip data (bad magic bytes)";
        return 0;
    }
    if (in[2] != 8 || (in[3] & 0xe0)) {
        *why = "unsupported gzip compression method or flags";
        return 0;
    }
    size_t at = 10;
    if (in[3] & FEXTRA) {
        size_t xlen = in[at] | (size_t)in[at + 1] << 8;
        at += 2 + xlen;
    }
    for (int flag = FNAME; flag <= FCOMMENT; flag <<= 1) {
        if (!(in[3] & flag))
            continue;
        while (at < n && in[at])
            at++;
        at++;
    }
    if (in[3] & FHCRC)
        at += 2;
    if (at + 8 > n) {
        *why = "truncated gzip header";
        return 0;
    }
    return at;
}

int nn_gunzip(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out, size_t *out_len,
              const char **why)
{
    size_t start = skip_header(in, in_len, why);
    if (!start)
        return NN_EFORMAT;
    uint32_t isize = le32(in + in_len - 4);
    if ((size_t)isize > max_out) {
        *why = "decompressed size in the gzip trailer exceeds the limit";
        return NN_EFORMAT;
    }
    if ((uint64_t)isize > (uint64_t)in_len * NN_INFLATE_MAX_RATIO) {
        *why = "decompressed size in the gzip trailer is more than the data could hold";
        return NN_EFORMAT;
    }
    inflater s = {.in = in, .in_len = in_len - 8, .pos = start, .out_cap = isize};
    s.out = nn_alloc(isize ? isize : 1);
    if (!s.out) {
        *why = "out of memory";
        return NN_ENOMEM;
    }
    int rc = inflate_all(&s);
    if (rc == NN_OK && s.out_len != isize)
        rc = fail(&s, "less data than the gzip trailer announces");
    else if (rc == NN_OK && nn_crc32(0, s.out, s.out_len) != le32(in + in_len - 8))
        rc = fail(&s, "CRC-32 mismatch (corrupt data)");
    else if (rc == NN_OK && s.pos != in_len - 8)
        rc = fail(&s, "unexpected data after the deflate stream");
    if (rc != NN_OK) {
        *why = rc == NN_ENOMEM ? "out of memory" : s.why;
        nn_release(s.out);
        return rc;
    }
    *out = s.out;
    *out_len = s.out_len;
    return NN_OK;
}
