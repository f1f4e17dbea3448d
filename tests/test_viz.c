/* Figures: the PNG encoder (checksums against Python's zlib, stored blocks
   decoded back here), the SVG writer, viridis, the bitmap font's
   descenders, ticks kept apart from their labels, round ticks, line plots
   with several series, bad input, and that failed writes leave no file
   behind. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn.h"
#include "testutil.h"
#include "viz/figure.h"
#include "fixtures/viz.h"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/nn_test_viz.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (rmdir(p) != 0)
            unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(dir);
}

static const char *in_dir(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Entries of the test directory whose name contains ".tmp." (leftovers). */
static int temp_leftovers(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_checksums_match_zlib(void **state)
{
    (void)state;
    uint8_t *buf = malloc(200000);
    assert_non_null(buf);
    for (uint32_t i = 0; i < 200000; i++)
        buf[i] = (uint8_t)((i * 7 + 3) & 0xff);
    for (size_t c = 0; c < sizeof checksum_cases / sizeof *checksum_cases; c++) {
        uint32_t n = checksum_cases[c].len;
        assert_int_equal(nn_crc32(0, buf, n), checksum_cases[c].crc32);
        assert_int_equal(viz_adler32(1, buf, n), checksum_cases[c].adler32);
        /* in two pieces gives the same as in one */
        assert_int_equal(nn_crc32(nn_crc32(0, buf, n / 3), buf + n / 3, n - n / 3), checksum_cases[c].crc32);
        assert_int_equal(viz_adler32(viz_adler32(1, buf, n / 3), buf + n / 3, n - n / 3),
                         checksum_cases[c].adler32);
    }
    /* the standard check values */
    assert_int_equal(nn_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(viz_adler32(1, (const uint8_t *)"Wikipedia", 9), 0x11E60398u);
    free(buf);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses a PNG of ours: checks signature, chunk CRCs, IHDR and the zlib
   stream of stored blocks; returns the RGB pixels (malloc'd). */
static uint8_t *decode_png(const char *path, int *width, int *height)
{
    size_t len;
    uint8_t *f = read_file(path, &len);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(len > 8 && !memcmp(f, sig, 8));
    size_t at = 8;
    uint8_t *z = NULL;
    size_t zlen = 0;
    bool end = false;
    while (at + 12 <= len && !end) {
        uint32_t n = be32(f + at);
        assert_true(at + 12 + n <= len);
        const uint8_t *type = f + at + 4, *body = f + at + 8;
        assert_int_equal(nn_crc32(0, type, 4 + n), be32(body + n));
        if (!memcmp(type, "IHDR", 4)) {
            assert_int_equal(n, 13);
            *width = (int)be32(body);
            *height = (int)be32(body + 4);
            assert_int_equal(body[8], 8);
            assert_int_equal(body[9], 2);
        } else if (!memcmp(type, "IDAT", 4)) {
            z = realloc(z, zlen + n);
            assert_non_null(z);
            memcpy(z + zlen, body, n);
            zlen += n;
        } else if (!memcmp(type, "IEND", 4)) {
            end = true;
        }
        at += 12 + n;
    }
    assert_true(end);
    assert_int_equal(at, len);
    /* zlib: CMF/FLG check, stored blocks, Adler-32 of the data */
    assert_true(zlen >= 6);
    assert_int_equal(z[0] & 0x0f, 8);
    assert_int_equal(((unsigned)z[0] << 8 | z[1]) % 31, 0);
    size_t row = 1 + 3 * (size_t)*width, raw_len = row * (size_t)*height, got = 0;
    uint8_t *raw = malloc(raw_len);
    assert_non_null(raw);
    size_t zp = 2;
    for (bool final = false; !final;) {
        assert_true(zp + 5 <= zlen);
        final = z[zp] & 1;
        assert_int_equal((z[zp] >> 1) & 3, 0); /* stored */
        unsigned n = z[zp + 1] | (unsigned)z[zp + 2] << 8, nn = z[zp + 3] | (unsigned)z[zp + 4] << 8;
        assert_int_equal(n ^ 0xffffu, nn);
        zp += 5;
        assert_true(zp + n <= zlen && got + n <= raw_len);
        memcpy(raw + got, z + zp, n);
        got += n;
        zp += n;
    }
    assert_int_equal(got, raw_len);
    assert_int_equal(zp + 4, zlen);
    assert_int_equal(be32(z + zp), viz_adler32(1, raw, raw_len));
    uint8_t *rgb = malloc(3 * (size_t)*width * (size_t)*height);
    assert_non_null(rgb);
    for (int y = 0; y < *height; y++) {
        assert_int_equal(raw[(size_t)y * row], 0); /* filter None */
        memcpy(rgb + (size_t)y * 3 * (size_t)*width, raw + (size_t)y * row + 1, 3 * (size_t)*width);
    }
    free(raw);
    free(z);
    free(f);
    return rgb;
}

static void test_png_round_trip(void **state)
{
    (void)state;
    /* 200 x 150: 90150 bytes of scanlines, so two stored blocks */
    int w = 200, h = 150;
    uint8_t *img = malloc(3 * (size_t)w * (size_t)h);
    assert_non_null(img);
    for (int i = 0; i < 3 * w * h; i++)
        img[i] = (uint8_t)(i * 31 + i / 7);
    assert_int_equal(nn_viz_png_write(in_dir("a.png"), img, w, h), NN_OK);
    int gw = 0, gh = 0;
    uint8_t *back = decode_png(in_dir("a.png"), &gw, &gh);
    assert_int_equal(gw, w);
    assert_int_equal(gh, h);
    assert_memory_equal(back, img, 3 * (size_t)w * (size_t)h);
    free(back);
    /* 1 x 1 */
    uint8_t px[3] = {1, 2, 3};
    assert_int_equal(nn_viz_png_write(in_dir("b.png"), px, 1, 1), NN_OK);
    back = decode_png(in_dir("b.png"), &gw, &gh);
    assert_int_equal(gw * gh, 1);
    assert_memory_equal(back, px, 3);
    free(back);
    free(img);
    assert_int_equal(temp_leftovers(), 0);
}

static void test_viridis(void **state)
{
    (void)state;
    uint8_t c[3];
    nn_viz_viridis(0.0, c);
    assert_true(c[0] == 0x44 && c[1] == 0x01 && c[2] == 0x54);
    nn_viz_viridis(1.0, c);
    assert_true(c[0] == 0xfd && c[1] == 0xe7 && c[2] == 0x25);
    nn_viz_viridis(0.5, c);
    assert_true(c[0] == 0x21 && c[1] == 0x91 && c[2] == 0x8c);
    nn_viz_viridis(-3.0, c); /* clamped */
    assert_true(c[0] == 0x44);
    nn_viz_viridis(NAN, c);
    assert_true(c[0] == 0x80 && c[1] == 0x80);
}

static bool has_pixel(const uint8_t *rgb, int w, int h, const uint8_t want[3])
{
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        if (!memcmp(rgb + 3 * i, want, 3))
            return true;
    return false;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_heatmaps(void **state)
{
    (void)state;
    float w0[10] = {-0.6f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.0f, -0.1f, 0.66f};
    float w1[5] = {-0.3f, 0.1f, 0.2f, -0.01f, 0.15f};
    nn_tensor *a = nn_tensor_from(w0, NN_SHAPE(5, 2)), *b = nn_tensor_from(w1, NN_SHAPE(1, 5));
    nn_tensor *at = nn_tensor_transpose(a, 0, 1), *bt = nn_tensor_transpose(b, 0, 1); /* strided */
    nn_viz_panel p[2] = {{"Layer 0", at}, {"Layer 1", bt}};
    assert_int_equal(nn_viz_heatmaps_svg(in_dir("h.svg"), p, 2, "Neurons", "Input Features"), NN_OK);
    assert_int_equal(nn_viz_heatmaps_png(in_dir("h.png"), p, 2, "Neurons", "Input Features"), NN_OK);
    size_t len;
    char *svg = (char *)read_file(in_dir("h.svg"), &len);
    assert_true(!strncmp(svg, "<?xml", 5));
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_true(len > 7 && !strcmp(svg + len - 7, "</svg>\n"));
    assert_non_null(strstr(svg, ">Layer 0</text>"));
    assert_non_null(strstr(svg, ">Layer 1</text>"));
    assert_int_equal(count(svg, ">Neurons</text>"), 2);
    assert_int_equal(count(svg, ">Input Features</text>"), 2);
    assert_int_equal(count(svg, "rotate(-90"), 2);
    assert_int_equal(count(svg, "<title>"), 15);      /* one per weight */
    assert_non_null(strstr(svg, "<title>0.6600</title>"));
    assert_non_null(strstr(svg, "fill=\"#440154\"><title>-0.6000")); /* the minimum is dark */
    assert_non_null(strstr(svg, "fill=\"#fde725\"><title>0.6600"));  /* the maximum bright */
    assert_non_null(strstr(svg, ">-0.60</text>")); /* colour-bar labels */
    assert_non_null(strstr(svg, ">0.66</text>"));
    free(svg);
    int w, h;
    uint8_t *rgb = decode_png(in_dir("h.png"), &w, &h);
    uint8_t lo[3] = {0x44, 0x01, 0x54}, hi[3] = {0xfd, 0xe7, 0x25}, black[3] = {0, 0, 0};
    assert_true(has_pixel(rgb, w, h, lo));
    assert_true(has_pixel(rgb, w, h, hi));
    assert_true(has_pixel(rgb, w, h, black)); /* text */
    free(rgb);
    nn_tensor_free(at);
    nn_tensor_free(bt);
    nn_tensor_free(a);
    nn_tensor_free(b);
    assert_int_equal(temp_leftovers(), 0);
}

/* The same picture under a comma-decimal locale: coordinates and labels
   keep '.' decimals (a ',' would break the SVG). */
static void test_heatmaps_comma_locale(void **state)
{
    comma_locale_begin();
    test_heatmaps(state);
    comma_locale_end();
}

static void test_curve(void **state)
{
    (void)state;
    float loss[50];
    for (int i = 0; i < 50; i++)
        loss[i] = 1.0f / (float)(i + 1);
    loss[10] = NAN; /* a gap, not a failure */
    assert_int_equal(nn_viz_curve_svg(in_dir("c.svg"), loss, 50, "Training loss", "step", "loss"), NN_OK);
    assert_int_equal(nn_viz_curve_png(in_dir("c.png"), loss, 50, "Training loss", "step", "loss"), NN_OK);
    size_t len;
    char *svg = (char *)read_file(in_dir("c.svg"), &len);
    assert_int_equal(count(svg, "<polyline"), 2);
    assert_non_null(strstr(svg, ">Training loss</text>"));
    assert_non_null(strstr(svg, ">0.2</text>")); /* round y ticks, '.' in any locale */
    assert_non_null(strstr(svg, ">1.0</text>"));
    assert_non_null(strstr(svg, ">50</text>")); /* x ticks 0, 10, ..., 50 */
    free(svg);
    int w, h;
    free(decode_png(in_dir("c.png"), &w, &h));
    assert_int_equal(nn_viz_curve_svg(in_dir("one.svg"), loss, 1, NULL, NULL, NULL), NN_OK);
}

/* --- the bitmap font, tick spacing, round ticks, line plots */

/* A figure of the given items, rendered into malloc'd pixels. */
static uint8_t *render_items(const figure *f, bool (*keep)(const fig_item *))
{
    figure g = *f;
    g.items = malloc((size_t)(f->n_items ? f->n_items : 1) * sizeof *g.items);
    assert_non_null(g.items);
    g.n_items = 0;
    for (int i = 0; i < f->n_items; i++)
        if (keep(&f->items[i]))
            g.items[g.n_items++] = f->items[i];
    uint8_t *rgb = malloc(3 * (size_t)f->width * (size_t)f->height);
    assert_non_null(rgb);
    raster_render(&g, rgb);
    free(g.items);
    return rgb;
}

static bool is_text(const fig_item *it) { return it->kind == ITEM_TEXT; }
static bool is_black_line(const fig_item *it)
{
    return it->kind == ITEM_LINE && !(it->rgb[0] | it->rgb[1] | it->rgb[2]);
}

static bool ink(const uint8_t *rgb, int w, int x, int y) { return rgb[3 * ((size_t)y * (size_t)w + (size_t)x)] != 0xff; }

static void test_font_descenders(void **state)
{
    (void)state;
    for (int c = 32; c < 127; c++) {
        const char *g = font_glyph((char)c);
        if (g)
            assert_int_equal(strlen(g), FONT_ROWS * FONT_COLS);
    }
    /* each letter alone: ink below the baseline for g, j, p, q, y, none for e */
    const char *letters = "gjpqye";
    for (int k = 0; letters[k]; k++) {
        figure f = {.width = 40, .height = 40};
        fig_item it = {.kind = ITEM_TEXT, .x = 10, .y = 15, .anchor = ANCHOR_START};
        it.text[0] = letters[k];
        f.items = &it;
        f.n_items = 1;
        uint8_t rgb[3 * 40 * 40];
        raster_render(&f, rgb);
        int baseline = 15 + FIG_TEXT_PX / 2; /* the first row below the baseline */
        int above = 0, below = 0, lowest = 0;
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < 40; x++)
                if (ink(rgb, 40, x, y)) {
                    *(y < baseline ? &above : &below) += 1;
                    lowest = y;
                }
        assert_true(above > 0);
        if (letters[k] == 'e') {
            assert_int_equal(below, 0);
        } else {
            assert_true(below >= 2 * FONT_SCALE * FONT_SCALE); /* two glyph rows' worth at least */
            assert_int_equal(lowest, baseline + FIG_DESCENT - 1);
        }
    }
    /* the words of the issue, for the eye */
    figure f = {.width = 420, .height = 40};
    fig_item it = {.kind = ITEM_TEXT, .x = 10, .y = 15, .anchor = ANCHOR_START};
    snprintf(it.text, sizeof it.text, "%s", "training epoch gpqyj +0.56 -0.56");
    f.items = &it;
    f.n_items = 1;
    uint8_t *rgb = malloc(3 * 420 * 40);
    assert_non_null(rgb);
    raster_render(&f, rgb);
    assert_int_equal(nn_viz_png_write(in_dir("words.png"), rgb, 420, 40), NN_OK);
    free(rgb);
}

/* The fewest background pixels between a black line (axes, ticks) and the
   ink of a text: at least one, and more than the font leaves between a
   '-' and the digit after it (4), so a tick never reads as a minus. */
static int line_text_gap(const figure *f)
{
    uint8_t *lines = render_items(f, is_black_line), *text = render_items(f, is_text);
    const int r = 12;
    int best = r;
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++) {
            if (!ink(text, f->width, x, y))
                continue;
            for (int dy = -r; dy <= r; dy++)
                for (int dx = -r; dx <= r; dx++) {
                    int px = x + dx, py = y + dy, d = abs(dx) > abs(dy) ? abs(dx) : abs(dy);
                    if (px >= 0 && py >= 0 && px < f->width && py < f->height && d - 1 < best &&
                        ink(lines, f->width, px, py))
                        best = d - 1;
                }
        }
    free(lines);
    free(text);
    return best;
}

static void test_ticks_apart_from_labels(void **state)
{
    (void)state;
    float y[5] = {0.56f, -0.56f, 0.1f, 0.3f, 0.2f};
    figure f;
    assert_int_equal(fig_curve(&f, "t", y, 5, "training epoch gpqyj", "epoch", "gpqyj"), NN_OK);
    assert_true(line_text_gap(&f) >= 6);
    /* the "-" of a label is 4 pixels from its digit: the test can see it */
    figure m = {.width = 60, .height = 30};
    fig_item two[2] = {{.kind = ITEM_LINE, .x = 2, .y = 12, .w = 5}, {.kind = ITEM_TEXT, .x = 12, .y = 12}};
    snprintf(two[1].text, sizeof two[1].text, "0.56");
    m.items = two;
    m.n_items = 2;
    assert_int_equal(line_text_gap(&m), 4);
    fig_free(&f);
    float w[6] = {0.56f, -0.56f, 0.1f, 0.3f, 0.2f, 0.0f};
    nn_tensor *t = nn_tensor_from(w, NN_SHAPE(2, 3));
    nn_viz_panel p = {"Layer 0", t};
    assert_int_equal(fig_heatmaps(&f, "t", &p, 1, "x", "y"), NN_OK); /* the colour bar's ticks */
    assert_true(line_text_gap(&f) >= 6);
    fig_free(&f);
    nn_tensor_free(t);
}

static void tick_labels(double lo, double hi, bool integer, const char *want)
{
    fig_ticks t;
    fig_nice_ticks(lo, hi, integer, &t);
    char got[512] = "", buf[FIG_TEXT_LEN];
    for (int i = 0; i < t.n; i++) {
        fig_tick_label(buf, sizeof buf, &t, i);
        strcat(got, i ? " " : "");
        strcat(got, buf);
    }
    assert_string_equal(got, want);
}

static void test_nice_ticks(void **state)
{
    (void)state;
    tick_labels(0, 1, false, "0.0 0.2 0.4 0.6 0.8 1.0");
    tick_labels(-0.56f, 0.56f, false, "-0.6 -0.4 -0.2 0.0 0.2 0.4 0.6");
    tick_labels(0.1f, 0.7f, false, "0.1 0.2 0.3 0.4 0.5 0.6 0.7");
    tick_labels(0, 49, true, "0 10 20 30 40 50");
    tick_labels(0, 4, true, "0 1 2 3 4");
    tick_labels(0, 2, true, "0 1 2");
    tick_labels(0, 0, true, "-1 0 1");
    tick_labels(313.18f, 366.84f, false, "310 320 330 340 350 360 370"); /* co2, ppm */
    tick_labels(3, 3, false, "2.7 2.8 2.9 3.0 3.1 3.2 3.3");
    tick_labels(1e-7, 5e-7, false, "1e-07 2e-07 3e-07 4e-07 5e-07");
    tick_labels(0, 3e9, false, "0 5e+08 1e+09 1.5e+09 2e+09 2.5e+09 3e+09");
    tick_labels(1000000.0, 1000000.125, false,
                "1000000.00 1000000.02 1000000.04 1000000.06 1000000.08 1000000.10 1000000.12 1000000.14");
    /* a sweep: 4..8 ticks (1, 2, 5 x 10^n) covering the range, labels that
       read back as the tick values */
    unsigned seed = 7;
    for (int k = 0; k < 2000; k++) {
        seed = seed * 1103515245u + 12345u;
        double a = ((int)((seed >> 8) % 20000) - 10000) / 100.0 * pow(10, (int)(seed % 9) - 4);
        seed = seed * 1103515245u + 12345u;
        double b = a + (int)((seed >> 8) % 10000 + 1) / 100.0 * pow(10, (int)(seed % 9) - 4);
        fig_ticks t;
        fig_nice_ticks(a, b, false, &t);
        assert_true(t.n >= 4 && t.n <= 8);
        assert_true(t.lo <= a && t.hi >= b);
        assert_true(t.mant == 1 || t.mant == 2 || t.mant == 5);
        char prev[FIG_TEXT_LEN] = "";
        for (int i = 0; i < t.n; i++) {
            char buf[FIG_TEXT_LEN];
            fig_tick_label(buf, sizeof buf, &t, i);
            assert_true(fabs(strtod(buf, NULL) - fig_tick_value(&t, i)) <= t.step * 1e-6);
            assert_true(strcmp(buf, prev) != 0);
            assert_true(strlen(buf) <= 12);
            memcpy(prev, buf, sizeof prev);
        }
    }
}

static void test_nice_ticks_comma_locale(void **state)
{
    comma_locale_begin();
    tick_labels(-0.56f, 0.56f, false, "-0.6 -0.4 -0.2 0.0 0.2 0.4 0.6");
    tick_labels(1e-7, 5e-7, false, "1e-07 2e-07 3e-07 4e-07 5e-07");
    test_curve(state);
    comma_locale_end();
}

/* Forecast against actual: 60 weeks of a co2-like series with missing
   weeks, a forecast over the last 20 with its own x. */
static float actual[60], forecast[20], fx[20];

static void co2_like(void)
{
    for (int i = 0; i < 60; i++)
        actual[i] = 315.0f + 0.05f * (float)i + 3.0f * sinf((float)i * 0.3f);
    actual[12] = actual[13] = actual[31] = NAN; /* missing weeks */
    for (int i = 0; i < 20; i++) {
        fx[i] = (float)(40 + i);
        forecast[i] = 317.5f + 0.05f * (float)(40 + i) + 2.5f * sinf((float)(40 + i) * 0.3f);
    }
}

static void test_lines(void **state)
{
    (void)state;
    co2_like();
    nn_viz_series s[3] = {{"actual", NULL, actual, 60}, {"forecast", fx, forecast, 20}, {NULL, NULL, actual, 5}};
    nn_viz_plot_opts o = nn_viz_plot_defaults();
    o.title = "CO2 forecast";
    o.xlabel = "week";
    o.ylabel = "ppm";
    assert_int_equal(nn_viz_lines_svg(in_dir("l.svg"), s, 3, &o), NN_OK);
    assert_int_equal(nn_viz_lines_png(in_dir("l.png"), s, 3, &o), NN_OK);
    size_t len;
    char *svg = (char *)read_file(in_dir("l.svg"), &len);
    assert_int_equal(count(svg, "<polyline fill=\"none\" stroke=\"#1f77b4\""), 3); /* two gaps */
    assert_int_equal(count(svg, "<polyline fill=\"none\" stroke=\"#ff7f0e\""), 1);
    assert_int_equal(count(svg, "<polyline fill=\"none\" stroke=\"#2ca02c\""), 1);
    assert_int_equal(count(svg, ">actual</text>"), 1); /* the legend: the labelled two */
    assert_int_equal(count(svg, ">forecast</text>"), 1);
    assert_int_equal(count(svg, "stroke=\"#ff7f0e\" stroke-width=\"2\"/>"), 1); /* its swatch */
    assert_int_equal(count(svg, "stroke=\"#2ca02c\" stroke-width=\"2\"/>"), 0);
    assert_non_null(strstr(svg, ">CO2 forecast</text>"));
    assert_non_null(strstr(svg, ">week</text>"));
    assert_non_null(strstr(svg, ">ppm</text>"));
    for (int v = 312; v <= 324; v += 2) { /* round ticks with grid lines */
        char want[32];
        snprintf(want, sizeof want, ">%d</text>", v);
        assert_non_null(strstr(svg, want));
    }
    assert_non_null(strstr(svg, ">0</text>"));
    assert_non_null(strstr(svg, ">60</text>"));
    assert_true(count(svg, "stroke=\"#e6e6e6\"") >= 4);
    free(svg);
    /* the legend right of the plot: no data pixel under it */
    figure f;
    assert_int_equal(fig_lines(&f, "t", s, 3, &o), NN_OK);
    double right = 0, legend = 1e9;
    for (int i = 0; i < f.n_items; i++) {
        const fig_item *it = &f.items[i];
        if (it->kind == ITEM_POLYLINE)
            for (int64_t k = 0; k < it->count; k++)
                right = fmax(right, f.points[2 * (it->first + k)]);
        if (it->kind == ITEM_TEXT && !strcmp(it->text, "actual"))
            legend = it->x;
    }
    assert_true(legend > right + 20);
    fig_free(&f);
    int w, h;
    uint8_t *rgb = decode_png(in_dir("l.png"), &w, &h);
    uint8_t blue[3] = {0x1f, 0x77, 0xb4}, orange[3] = {0xff, 0x7f, 0x0e}, grid[3] = {0xe6, 0xe6, 0xe6};
    assert_true(has_pixel(rgb, w, h, blue));
    assert_true(has_pixel(rgb, w, h, orange));
    assert_true(has_pixel(rgb, w, h, grid));
    free(rgb);
    /* NULL options are the defaults; by hand, left out is none */
    assert_int_equal(nn_viz_lines_svg(in_dir("l2.svg"), s, 1, NULL), NN_OK);
    assert_int_equal(nn_viz_lines_svg(in_dir("l2.svg"), s, 1, &(nn_viz_plot_opts){.title = "t"}), NN_OK);
    /* a lone point between gaps is drawn as a dot */
    float lone[3] = {NAN, 1.0f, NAN};
    assert_int_equal(nn_viz_lines_svg(in_dir("l3.svg"), &(nn_viz_series){"x", NULL, lone, 3}, 1, NULL), NN_OK);
    svg = (char *)read_file(in_dir("l3.svg"), &len);
    assert_int_equal(count(svg, "<circle"), 1);
    free(svg);
    assert_int_equal(temp_leftovers(), 0);
}

static void test_lines_comma_locale(void **state)
{
    comma_locale_begin();
    test_lines(state);
    comma_locale_end();
}

static void test_lines_bad_input(void **state)
{
    (void)state;
    float y[3] = {1, 2, 3};
    nn_viz_series ok = {"a", NULL, y, 3}, many[11];
    for (int i = 0; i < 11; i++)
        many[i] = ok;
    assert_int_equal(nn_viz_lines_png(in_dir("keep.png"), &ok, 1, NULL), NN_OK);
    size_t before_len;
    uint8_t *before = read_file(in_dir("keep.png"), &before_len);
    char p[256];
    snprintf(p, sizeof p, "%s", in_dir("keep.png"));
    assert_int_equal(nn_viz_lines_png(p, NULL, 1, NULL), NN_EINVAL);
    assert_non_null(strstr(nn_last_error(), "nn_viz_lines_png"));
    assert_int_equal(nn_viz_lines_png(p, &ok, 0, NULL), NN_EINVAL);
    assert_int_equal(nn_viz_lines_svg(p, many, 11, NULL), NN_EINVAL);
    assert_non_null(strstr(nn_last_error(), "1..10 series"));
    assert_int_equal(nn_viz_lines_png(p, &(nn_viz_series){"a", NULL, NULL, 3}, 1, NULL), NN_EINVAL);
    assert_non_null(strstr(nn_last_error(), "series 0 has no y"));
    assert_int_equal(nn_viz_lines_png(p, &(nn_viz_series){"a", NULL, y, 0}, 1, NULL), NN_EINVAL);
    assert_int_equal(nn_viz_lines_png(p, &(nn_viz_series){"a", NULL, y, -1}, 1, NULL), NN_EINVAL);
    assert_int_equal(nn_viz_lines_png(p, &ok, 1, &(nn_viz_plot_opts){.from_defaults = 0x1234}), NN_EINVAL);
    assert_non_null(strstr(nn_last_error(), "nn_viz_plot_opts.from_defaults"));
    assert_int_equal(nn_viz_lines_png(NULL, &ok, 1, NULL), NN_EINVAL);
    assert_int_equal(nn_viz_lines_png(in_dir("no/such/dir.png"), &ok, 1, NULL), NN_EIO);
    size_t after_len;
    uint8_t *after = read_file(p, &after_len); /* the old file, untouched */
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(before);
    free(after);
    assert_int_equal(temp_leftovers(), 0);
    /* every series NaN: empty axes, no line, no failure */
    float nan3[3] = {NAN, NAN, NAN};
    assert_int_equal(nn_viz_lines_svg(in_dir("e.svg"), &(nn_viz_series){"a", NULL, nan3, 3}, 1, NULL), NN_OK);
}

static void test_bad_input(void **state)
{
    (void)state;
    nn_tensor *t3 = nn_tensor_new(NN_SHAPE(2, 2, 2)), *e = nn_tensor_new(NN_SHAPE(0, 3));
    nn_tensor *ok = nn_tensor_new(NN_SHAPE(2, 2));
    nn_viz_panel p3 = {"x", t3}, pe = {"x", e}, pn = {"x", NULL}, pok = {"x", ok};
    assert_int_equal(nn_viz_heatmaps_svg(in_dir("x.svg"), &p3, 1, "a", "b"), NN_ESHAPE);
    assert_non_null(strstr(nn_last_error(), "nn_viz_heatmaps_svg"));
    assert_non_null(strstr(nn_last_error(), "[2, 2, 2]"));
    assert_int_equal(nn_viz_heatmaps_png(in_dir("x.png"), &pe, 1, "a", "b"), NN_ESHAPE);
    assert_non_null(strstr(nn_last_error(), "[0, 3]"));
    assert_int_equal(nn_viz_heatmaps_svg(in_dir("x.svg"), &pn, 1, "a", "b"), NN_EINVAL);
    assert_int_equal(nn_viz_heatmaps_svg(in_dir("x.svg"), &pok, 0, "a", "b"), NN_EINVAL);
    assert_int_equal(nn_viz_heatmaps_svg(in_dir("x.svg"), NULL, 1, "a", "b"), NN_EINVAL);
    assert_int_equal(nn_viz_heatmaps_svg(NULL, &pok, 1, "a", "b"), NN_EINVAL);
    assert_int_equal(nn_viz_curve_svg(in_dir("x.svg"), NULL, 3, "", "", ""), NN_EINVAL);
    assert_int_equal(nn_viz_curve_png(in_dir("x.png"), (float[]){1}, 0, "", "", ""), NN_EINVAL);
    uint8_t px[3] = {0};
    assert_int_equal(nn_viz_png_write(in_dir("x.png"), px, 0, 1), NN_EINVAL);
    assert_int_equal(nn_viz_png_write(in_dir("x.png"), NULL, 1, 1), NN_EINVAL);
    assert_int_equal(nn_viz_png_write(in_dir("x.png"), px, 1, 20000), NN_EINVAL);
    assert_int_equal(access(in_dir("x.svg"), F_OK), -1);
    assert_int_equal(access(in_dir("x.png"), F_OK), -1);
    nn_tensor_free(t3);
    nn_tensor_free(e);
    nn_tensor_free(ok);
}

static void test_failed_write_leaves_nothing(void **state)
{
    (void)state;
    uint8_t px[3] = {9, 9, 9};
    /* missing directory: fails up front */
    assert_int_equal(nn_viz_png_write(in_dir("no/such/dir.png"), px, 1, 1), NN_EIO);
    assert_non_null(strstr(nn_last_error(), "no/such/dir.png"));
    /* the target is a directory: refused up front, as nn_save does; no
       temporary file is left and the directory stays */
    assert_int_equal(mkdir(in_dir("taken.png"), 0755), 0);
    assert_int_equal(nn_viz_png_write(in_dir("taken.png"), px, 1, 1), NN_EINVAL);
    assert_non_null(strstr(nn_last_error(), "taken.png"));
    struct stat st;
    assert_int_equal(stat(in_dir("taken.png"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(temp_leftovers(), 0);
    /* an existing file is replaced whole */
    assert_int_equal(nn_viz_png_write(in_dir("keep.png"), px, 1, 1), NN_OK);
    size_t before;
    free(read_file(in_dir("keep.png"), &before));
    uint8_t big[12] = {0};
    assert_int_equal(nn_viz_png_write(in_dir("keep.png"), big, 2, 2), NN_OK);
    int w, h;
    free(decode_png(in_dir("keep.png"), &w, &h));
    assert_int_equal(w * h, 4);
    assert_int_equal(temp_leftovers(), 0);
}

/* An allocator that fails the Nth call and counts what is still live. */
static int alloc_calls, fail_at, live;
static void *counting_alloc(size_t n)
{
    if (alloc_calls++ == fail_at)
        return NULL;
    live++;
    return malloc(n);
}
static void counting_release(void *p)
{
    if (p)
        live--;
    free(p);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6};
    nn_tensor *t = nn_tensor_from(w, NN_SHAPE(2, 3));
    nn_viz_panel p = {"Layer 0", t};
    nn_viz_series two[2] = {{"a", NULL, w, 6}, {"b", w, w, 6}};
    for (int kind = 0; kind < 5; kind++) {
        int rc = NN_ENOMEM;
        for (fail_at = 0; rc != NN_OK && fail_at < 1000; fail_at++) {
            alloc_calls = live = 0;
            nn_set_allocator(counting_alloc, counting_release);
            if (kind == 0)
                rc = nn_viz_heatmaps_svg(in_dir("m.svg"), &p, 1, "x", "y");
            else if (kind == 1)
                rc = nn_viz_heatmaps_png(in_dir("m.png"), &p, 1, "x", "y");
            else if (kind == 2)
                rc = nn_viz_curve_png(in_dir("m.png"), w, 6, "t", "x", "y");
            else if (kind == 3)
                rc = nn_viz_lines_png(in_dir("m.png"), two, 2, NULL);
            else
                rc = nn_viz_lines_svg(in_dir("m.svg"), two, 2, NULL);
            nn_set_allocator(NULL, NULL);
            assert_int_equal(live, 0);
            if (rc != NN_OK) {
                assert_int_equal(rc, NN_ENOMEM);
                assert_int_equal(temp_leftovers(), 0);
            }
        }
        assert_int_equal(rc, NN_OK);
        assert_true(fail_at > 1); /* it did allocate, and failed gracefully first */
    }
    nn_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksums_match_zlib),
        cmocka_unit_test(test_png_round_trip),
        cmocka_unit_test(test_viridis),
        cmocka_unit_test(test_heatmaps),
        cmocka_unit_test(test_heatmaps_comma_locale),
        cmocka_unit_test(test_curve),
        cmocka_unit_test(test_font_descenders),
        cmocka_unit_test(test_ticks_apart_from_labels),
        cmocka_unit_test(test_nice_ticks),
        cmocka_unit_test(test_nice_ticks_comma_locale),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_lines_comma_locale),
        cmocka_unit_test(test_lines_bad_input),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_failed_write_leaves_nothing),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
