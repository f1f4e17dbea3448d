/* Internal: a figure is a list of drawing items in pixel coordinates, built
   once (figure.c) and rendered either as SVG (svg.c) or rasterised into a
   PNG (png.c). */
#ifndef NN_VIZ_FIGURE_H
#define NN_VIZ_FIGURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/tensor_impl.h"
#include "nn/viz.h"

typedef enum { ITEM_RECT, ITEM_TEXT, ITEM_LINE, ITEM_POLYLINE } item_kind;
typedef enum { ANCHOR_START, ANCHOR_MIDDLE, ANCHOR_END } text_anchor;

#define FIG_TEXT_LEN 64
#define FIG_TEXT_PX 14 /* text height above the baseline: the PNG font's 7 rows scaled by 2 */

/* The PNG font: FONT_COLS x FONT_ROWS cells, FONT_BASE_ROWS of them on or
   above the baseline and the rest for descenders, drawn FONT_SCALE times
   larger with FONT_ADVANCE pixels per character. A text item's y is the
   middle of the part above the baseline, so its ink spans
   y - FIG_TEXT_PX / 2 .. y + FIG_TEXT_PX / 2 + FIG_DESCENT. */
#define FONT_COLS 5
#define FONT_ROWS 9
#define FONT_BASE_ROWS 7
#define FONT_SCALE 2
#define FONT_ADVANCE 12
#define FIG_DESCENT ((FONT_ROWS - FONT_BASE_ROWS) * FONT_SCALE)

typedef struct {
    item_kind kind;
    double x, y, w, h;   /* rect: corner + size; line: (x, y) to (x + w, y + h) */
    uint8_t rgb[3];      /* rect, line (black for axes and ticks), polyline */
    int thick;           /* line, polyline: width in pixels (0 means 1) */
    bool has_value;      /* rect: the cell's value, shown as a tooltip in SVG */
    float value;
    text_anchor anchor;  /* text: (x, y) is the anchor point, y the middle */
    bool vertical;       /* text: rotated 90 degrees anticlockwise */
    char text[FIG_TEXT_LEN];
    int64_t first, count; /* polyline: range in figure.points (x, y pairs) */
} fig_item;

typedef struct {
    int width, height;
    fig_item *items;
    int n_items, cap_items;
    double *points;
    int64_t n_points;
} figure;

void fig_free(figure *f);

/* Build the figures; negative nn_status on bad input or no memory. fn names
   the public function for messages. */
int fig_heatmaps(figure *f, const char *fn, const nn_viz_panel *panels, int n_panels,
                 const char *xlabel, const char *ylabel);
int fig_curve(figure *f, const char *fn, const float *values, int64_t n, const char *title,
              const char *xlabel, const char *ylabel);
int fig_lines(figure *f, const char *fn, const nn_viz_series *s, int count, const nn_viz_plot_opts *o);

#define FIG_MAX_POINTS (INT64_C(1) << 24) /* per line plot, all series together */

/* Round ticks along an axis: n ticks (4..FIG_MAX_TICKS, or fewer on an
   integer axis with a short range) at (k0 + i) * step, step = mant *
   10^exp10 with mant 1, 2 or 5; the axis runs from the first tick (lo) to
   the last (hi), covering the data. integer: no step below 1. */
#define FIG_MAX_TICKS 8
typedef struct {
    double step, lo, hi;
    int mant, exp10, n;
    int64_t k0;
} fig_ticks;
void fig_nice_ticks(double lo, double hi, bool integer, fig_ticks *t);
double fig_tick_value(const fig_ticks *t, int i);
/* The i-th tick's label with as many decimals as the step has ("0.1", not
   "0.10000000149"), '.' decimals in any locale; e notation beyond 1e9 or
   below steps of 1e-5. */
void fig_tick_label(char *buf, size_t size, const fig_ticks *t, int i);

/* Render into an open stream; false when writing failed. */
bool svg_render(const figure *f, FILE *out);
/* Rasterise into rgb (width * height * 3 bytes, white background). */
void raster_render(const figure *f, uint8_t *rgb);

/* The bitmap font: FONT_ROWS * FONT_COLS characters, row by row, '#' for
   ink; NULL for a character the font lacks (drawn as blank). */
const char *font_glyph(char c);

/* Files written in one piece: write into a temporary file beside path
   (written by emit), then rename it into place. */
typedef bool (*emit_fn)(FILE *out, const void *ctx);
int viz_write_atomically(const char *fn, const char *path, emit_fn emit, const void *ctx);

/* Adler-32 of the PNG format's zlib stream (exposed for the tests); CRC-32
   is nn_crc32 in core.h. */
uint32_t viz_adler32(uint32_t adler, const uint8_t *data, size_t n); /* start with 1 */

#endif
