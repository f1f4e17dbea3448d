/* PNG encoder of our own: 8-bit RGB, no filtering, the image data in a zlib
   stream of stored (uncompressed) deflate blocks. Plus the rasteriser that
   draws a figure into pixels and the public PNG writers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "figure.h"

/* Adler-32: a = 1 + sum of bytes, b = sum of the a's, both mod 65521. */
uint32_t viz_adler32(uint32_t adler, const uint8_t *data, size_t n)
{
    uint32_t a = adler & 0xffffu, b = adler >> 16;
    while (n > 0) {
        size_t run = n < 5552 ? n : 5552; /* largest run before b can overflow 32 bits */
        n -= run;
        while (run--) {
            a += *data++;
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
    }
    return (b << 16) | a;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static bool put_chunk(FILE *out, const char type[4], const uint8_t *data, size_t n)
{
    uint8_t head[8], tail[4];
    put_be32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    uint32_t crc = nn_crc32(nn_crc32(0, head + 4, 4), data, n);
    put_be32(tail, crc);
    return fwrite(head, 1, 8, out) == 8 && (n == 0 || fwrite(data, 1, n, out) == n) &&
           fwrite(tail, 1, 4, out) == 4;
}

typedef struct {
    const uint8_t *rgb;
    int width, height;
    uint8_t *zlib; /* the IDAT payload */
    size_t zlib_len;
} png_job;

#define STORED_MAX 65535u

/* Scanlines (filter byte 0, then RGB) wrapped as a zlib stream: header
   0x78 0x01, stored blocks (BFINAL bit, LEN, ~LEN, bytes), Adler-32. */
static int build_zlib(png_job *job)
{
    size_t row = 1 + 3 * (size_t)job->width;
    size_t raw_len = row * (size_t)job->height;
    size_t blocks = raw_len / STORED_MAX + 1;
    size_t len = 2 + blocks * 5 + raw_len + 4;
    uint8_t *z = nn_alloc(len);
    uint8_t *raw = z ? nn_alloc(raw_len) : NULL;
    if (!raw) {
        nn_release(z);
        return NN_ENOMEM;
    }
    for (int y = 0; y < job->height; y++) {
        raw[(size_t)y * row] = 0; /* filter type None */
        memcpy(raw + (size_t)y * row + 1, job->rgb + (size_t)y * 3 * (size_t)job->width,
               3 * (size_t)job->width);
    }
    size_t at = 0, done = 0;
    z[at++] = 0x78; /* deflate, 32K window */
    z[at++] = 0x01; /* no dictionary, fastest; 0x7801 is a multiple of 31 */
    for (size_t b = 0; b < blocks; b++) {
        size_t n = raw_len - done < STORED_MAX ? raw_len - done : STORED_MAX;
        z[at++] = b + 1 == blocks ? 1 : 0; /* BFINAL, BTYPE 00 = stored */
        z[at++] = (uint8_t)n, z[at++] = (uint8_t)(n >> 8);
        z[at++] = (uint8_t)~n, z[at++] = (uint8_t)(~n >> 8);
        memcpy(z + at, raw + done, n);
        at += n;
        done += n;
    }
    put_be32(z + at, viz_adler32(1, raw, raw_len));
    at += 4;
    nn_release(raw);
    job->zlib = z;
    job->zlib_len = at;
    return NN_OK;
}

static bool emit_png(FILE *out, const void *ctx)
{
    const png_job *job = ctx;
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)job->width);
    put_be32(ihdr + 4, (uint32_t)job->height);
    ihdr[8] = 8;  /* bits per channel */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* compression: deflate */
    ihdr[11] = 0; /* filter method 0 */
    ihdr[12] = 0; /* no interlace */
    return fwrite(signature, 1, 8, out) == 8 && put_chunk(out, "IHDR", ihdr, sizeof ihdr) &&
           put_chunk(out, "IDAT", job->zlib, job->zlib_len) && put_chunk(out, "IEND", NULL, 0);
}

static int write_png(const char *fn, const char *path, const uint8_t *rgb, int width, int height)
{
    if (!rgb)
        return nn_fail(NN_EINVAL, "%s: pixels are NULL", fn);
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return nn_fail(NN_EINVAL, "%s: expected 1..16384 x 1..16384 pixels, got %d x %d", fn, width, height);
    if (!path || !*path)
        return nn_fail(NN_EINVAL, "%s: path is NULL or empty", fn);
    png_job job = {rgb, width, height, NULL, 0};
    int rc = build_zlib(&job);
    if (rc < 0)
        return rc;
    rc = viz_write_atomically(fn, path, emit_png, &job);
    nn_release(job.zlib);
    return rc;
}

int nn_viz_png_write(const char *path, const uint8_t *rgb, int width, int height)
{
    return write_png("nn_viz_png_write", path, rgb, width, height);
}

/* --- rasteriser */
typedef struct {
    uint8_t *rgb;
    int w, h;
} canvas;

static void plot(const canvas *c, long x, long y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    memcpy(c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x), rgb, 3);
}

static void fill_rect(const canvas *c, double x, double y, double w, double h, const uint8_t rgb[3])
{
    long x0 = lround(x), x1 = lround(x + w), y0 = lround(y), y1 = lround(y + h);
    for (long py = y0; py < y1; py++)
        for (long px = x0; px < x1; px++)
            plot(c, px, py, rgb);
}

static void draw_line(const canvas *c, double fx0, double fy0, double fx1, double fy1, int thick,
                      const uint8_t rgb[3])
{
    long x0 = lround(fx0), y0 = lround(fy0), x1 = lround(fx1), y1 = lround(fy1);
    long dx = labs(x1 - x0), dy = -labs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long err = dx + dy;
    for (;;) { /* Bresenham */
        for (int t = 0; t < thick; t++)
            for (int u = 0; u < thick; u++)
                plot(c, x0 + t, y0 + u, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        long e2 = 2 * err;
        if (e2 >= dy)
            err += dy, x0 += sx;
        if (e2 <= dx)
            err += dx, y0 += sy;
    }
}

/* FONT_COLS x FONT_ROWS glyphs scaled by FONT_SCALE, FONT_ADVANCE pixels
   per character; rows below FONT_BASE_ROWS hang under the baseline.
   Vertical text reads bottom to top. */
static void draw_text(const canvas *c, const fig_item *it)
{
    static const uint8_t black[3] = {0, 0, 0};
    const int scale = FONT_SCALE;
    double len = (double)FONT_ADVANCE * (double)strlen(it->text);
    double shift = it->anchor == ANCHOR_START ? 0 : it->anchor == ANCHOR_MIDDLE ? len / 2 : len;
    long along0 = lround(-shift), across0 = -FIG_TEXT_PX / 2;
    for (size_t i = 0; it->text[i]; i++) {
        const char *g = font_glyph(it->text[i]);
        if (!g)
            continue;
        for (int row = 0; row < FONT_ROWS; row++)
            for (int col = 0; col < FONT_COLS; col++) {
                if (g[row * FONT_COLS + col] != '#')
                    continue;
                for (int sy = 0; sy < scale; sy++)
                    for (int sx = 0; sx < scale; sx++) {
                        long a = along0 + (long)(FONT_ADVANCE * i) + col * scale + sx; /* along the text */
                        long b = across0 + row * scale + sy;                          /* down the glyph */
                        if (it->vertical)
                            plot(c, lround(it->x) + b, lround(it->y) - a, black);
                        else
                            plot(c, lround(it->x) + a, lround(it->y) + b, black);
                    }
            }
    }
}

void raster_render(const figure *f, uint8_t *rgb)
{
    canvas c = {rgb, f->width, f->height};
    memset(rgb, 0xff, 3 * (size_t)f->width * (size_t)f->height);
    for (int i = 0; i < f->n_items; i++) {
        const fig_item *it = &f->items[i];
        switch (it->kind) {
        case ITEM_RECT: fill_rect(&c, it->x, it->y, it->w, it->h, it->rgb); break;
        case ITEM_LINE:
            draw_line(&c, it->x, it->y, it->x + it->w, it->y + it->h, it->thick > 0 ? it->thick : 1, it->rgb);
            break;
        case ITEM_TEXT: draw_text(&c, it); break;
        case ITEM_POLYLINE:
            if (it->count == 1) { /* a point alone between gaps: a dot */
                const double *p = &f->points[2 * it->first];
                draw_line(&c, p[0] - 1, p[1] - 1, p[0] - 1, p[1] - 1, 3, it->rgb);
            }
            for (int64_t k = 1; k < it->count; k++) {
                const double *p = &f->points[2 * (it->first + k - 1)];
                draw_line(&c, p[0], p[1], p[2], p[3], it->thick > 0 ? it->thick : 2, it->rgb);
            }
            break;
        }
    }
}

static int figure_png(const char *fn, const char *path, const figure *f)
{
    if (!path || !*path)
        return nn_fail(NN_EINVAL, "%s: path is NULL or empty", fn);
    uint8_t *rgb = nn_alloc_zeroed((size_t)f->width * (size_t)f->height, 3);
    if (!rgb)
        return NN_ENOMEM;
    raster_render(f, rgb);
    int rc = write_png(fn, path, rgb, f->width, f->height);
    nn_release(rgb);
    return rc;
}

int nn_viz_heatmaps_png(const char *path, const nn_viz_panel *panels, int n_panels, const char *xlabel,
                        const char *ylabel)
{
    figure f;
    int rc = fig_heatmaps(&f, "nn_viz_heatmaps_png", panels, n_panels, xlabel, ylabel);
    if (rc < 0)
        return rc;
    rc = figure_png("nn_viz_heatmaps_png", path, &f);
    fig_free(&f);
    return rc;
}

int nn_viz_curve_png(const char *path, const float *values, int64_t n, const char *title, const char *xlabel,
                     const char *ylabel)
{
    figure f;
    int rc = fig_curve(&f, "nn_viz_curve_png", values, n, title, xlabel, ylabel);
    if (rc < 0)
        return rc;
    rc = figure_png("nn_viz_curve_png", path, &f);
    fig_free(&f);
    return rc;
}

int nn_viz_lines_png(const char *path, const nn_viz_series *series, int count, const nn_viz_plot_opts *o)
{
    figure f;
    int rc = fig_lines(&f, "nn_viz_lines_png", series, count, o);
    if (rc < 0)
        return rc;
    rc = figure_png("nn_viz_lines_png", path, &f);
    fig_free(&f);
    return rc;
}
