/* Figure layout: heat-map panels with colour bars, and line plots, as a
   list of rectangles, lines and text in pixel coordinates. */
#include <errno.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "figure.h"

/* --- viridis: stops at t = 0, 1/8, ..., 1, linearly interpolated */
static const uint8_t viridis_stops[9][3] = {
    {0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b}, {0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c},
    {0x28, 0xae, 0x80}, {0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25},
};

/* A tick label with '.' decimals whatever setlocale chose (if the "C"
   locale cannot be made, the program's). */
static void tick_label(char *buf, size_t size, const char *fmt, double v) NN_PRINTF(3, 0);
static void tick_label(char *buf, size_t size, const char *fmt, double v)
{
    nn_c_numbers cn;
    nn_c_numbers_begin(&cn, "nn_viz");
    snprintf(buf, size, fmt, v);
    nn_c_numbers_end(&cn);
}

void nn_viz_viridis(double t, uint8_t rgb[3])
{
    if (!rgb)
        return;
    if (isnan(t)) {
        rgb[0] = rgb[1] = rgb[2] = 0x80;
        return;
    }
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    double pos = t * 8.0;
    int i = (int)pos;
    if (i >= 8)
        i = 7;
    double frac = pos - i;
    for (int c = 0; c < 3; c++) {
        double v = viridis_stops[i][c] + frac * (viridis_stops[i + 1][c] - viridis_stops[i][c]);
        rgb[c] = (uint8_t)lround(v);
    }
}

/* --- the item list */
void fig_free(figure *f)
{
    nn_release(f->items);
    nn_release(f->points);
    memset(f, 0, sizeof *f);
}

static fig_item *add_item(figure *f, item_kind kind)
{
    if (f->n_items == f->cap_items) {
        int cap = f->cap_items ? 2 * f->cap_items : 64;
        fig_item *grown = nn_alloc((size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        if (f->n_items)
            memcpy(grown, f->items, (size_t)f->n_items * sizeof *grown);
        nn_release(f->items);
        f->items = grown;
        f->cap_items = cap;
    }
    fig_item *it = &f->items[f->n_items++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    return it;
}

static int add_rect(figure *f, double x, double y, double w, double h, const uint8_t rgb[3])
{
    fig_item *it = add_item(f, ITEM_RECT);
    if (!it)
        return NN_ENOMEM;
    it->x = x, it->y = y, it->w = w, it->h = h;
    memcpy(it->rgb, rgb, 3);
    return NN_OK;
}

static int add_line(figure *f, double x0, double y0, double x1, double y1)
{
    fig_item *it = add_item(f, ITEM_LINE);
    if (!it)
        return NN_ENOMEM;
    it->x = x0, it->y = y0, it->w = x1 - x0, it->h = y1 - y0;
    return NN_OK; /* black */
}

static int add_text(figure *f, double x, double y, text_anchor anchor, bool vertical, const char *s)
{
    fig_item *it = add_item(f, ITEM_TEXT);
    if (!it)
        return NN_ENOMEM;
    it->x = x, it->y = y;
    it->anchor = anchor;
    it->vertical = vertical;
    snprintf(it->text, sizeof it->text, "%s", s ? s : "");
    return NN_OK;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* Width in pixels of text as both renderers draw it (FONT_ADVANCE pixels
   per character). */
static double text_width(const char *s) { return (double)FONT_ADVANCE * (double)strlen(s); }

/* --- heat maps */
#define MAP_BOX 240.0 /* the longer side of a heat map, in pixels, at most */
#define BAR_W 16.0

typedef struct {
    int64_t rows, cols;
    double cell, map_w, map_h;
    float lo, hi;
} panel_geometry;

static float panel_at(const nn_tensor *t, int64_t r, int64_t c)
{
    if (t->ndim == 1)
        return t->data[c * t->stride[0]];
    return t->data[r * t->stride[0] + c * t->stride[1]];
}

static int check_panels(const char *fn, const nn_viz_panel *panels, int n, panel_geometry *g)
{
    if (!panels || n < 1 || n > NN_VIZ_MAX_PANELS)
        return nn_fail(NN_EINVAL, "%s: expected 1..%d panels, got %d%s", fn, NN_VIZ_MAX_PANELS, n,
                       panels ? "" : " (NULL)");
    for (int i = 0; i < n; i++) {
        const nn_tensor *t = panels[i].values;
        char s[NN_SHAPE_STR_LEN];
        if (!t)
            return nn_fail(NN_EINVAL, "%s: panel %d has no values", fn, i);
        if (t->ndim < 1 || t->ndim > 2 || nn_tensor_numel(t) == 0)
            return nn_fail(NN_ESHAPE, "%s: panel %d expected a non-empty 1-D or 2-D tensor, got shape %s",
                           fn, i, nn_tensor_shape_str(t, s));
        g[i].rows = t->ndim == 2 ? t->shape[0] : 1;
        g[i].cols = t->shape[t->ndim - 1];
        if (g[i].rows > 4096 || g[i].cols > 4096)
            return nn_fail(NN_ESHAPE, "%s: panel %d is too large to draw (shape %s, at most 4096 per side)",
                           fn, i, nn_tensor_shape_str(t, s));
        int64_t longer = g[i].rows > g[i].cols ? g[i].rows : g[i].cols;
        g[i].cell = floor(MAP_BOX / (double)longer);
        if (g[i].cell > 48)
            g[i].cell = 48;
        if (g[i].cell < 1)
            g[i].cell = MAP_BOX / (double)longer;
        g[i].map_w = g[i].cell * (double)g[i].cols;
        g[i].map_h = g[i].cell * (double)g[i].rows;
        bool any = false;
        for (int64_t r = 0; r < g[i].rows; r++)
            for (int64_t c = 0; c < g[i].cols; c++) {
                float v = panel_at(t, r, c);
                if (!isfinite(v))
                    continue;
                if (!any || v < g[i].lo)
                    g[i].lo = v;
                if (!any || v > g[i].hi)
                    g[i].hi = v;
                any = true;
            }
        if (!any)
            g[i].lo = g[i].hi = 0.0f;
    }
    return NN_OK;
}

/* Index ticks along an axis of n cells: every cell, or every k-th when
   there are many. */
static int64_t tick_step(int64_t n, double cell)
{
    int64_t step = 1;
    while ((double)step * cell < 24.0 && step < n)
        step *= 2;
    return step;
}

static int draw_panel(figure *f, const nn_viz_panel *p, const panel_geometry *g, double x0, double y0,
                      const char *xlabel, const char *ylabel)
{
    char buf[FIG_TEXT_LEN];
    double mx = x0 + 60, my = y0; /* the map's top-left corner */
    int rc = add_text(f, mx + g->map_w / 2, my - 18, ANCHOR_MIDDLE, false, or_empty(p->title));
    float span = g->hi - g->lo;
    for (int64_t r = 0; r < g->rows && rc == NN_OK; r++)
        for (int64_t c = 0; c < g->cols && rc == NN_OK; c++) {
            float v = panel_at(p->values, r, c);
            uint8_t rgb[3];
            nn_viz_viridis(span > 0 ? ((double)v - g->lo) / span : isnan(v) ? NAN : 0.5, rgb);
            rc = add_rect(f, mx + (double)c * g->cell, my + (double)r * g->cell, g->cell, g->cell, rgb);
            if (rc == NN_OK) {
                f->items[f->n_items - 1].has_value = true;
                f->items[f->n_items - 1].value = v;
            }
        }
    int64_t xs = tick_step(g->cols, g->cell), ys = tick_step(g->rows, g->cell);
    for (int64_t c = 0; c < g->cols && rc == NN_OK; c += xs) {
        snprintf(buf, sizeof buf, "%lld", (long long)c);
        rc = add_text(f, mx + ((double)c + 0.5) * g->cell, my + g->map_h + 14, ANCHOR_MIDDLE, false, buf);
    }
    for (int64_t r = 0; r < g->rows && rc == NN_OK; r += ys) {
        snprintf(buf, sizeof buf, "%lld", (long long)r);
        rc = add_text(f, mx - 6, my + ((double)r + 0.5) * g->cell, ANCHOR_END, false, buf);
    }
    if (rc == NN_OK)
        rc = add_text(f, mx + g->map_w / 2, my + g->map_h + 38, ANCHOR_MIDDLE, false, or_empty(xlabel));
    if (rc == NN_OK)
        rc = add_text(f, x0 + 10, my + g->map_h / 2, ANCHOR_MIDDLE, true, or_empty(ylabel));
    /* colour bar: 32 bands from low (bottom) to high (top), three labels */
    double bx = mx + g->map_w + 14;
    for (int k = 0; k < 32 && rc == NN_OK; k++) {
        uint8_t rgb[3];
        nn_viz_viridis((k + 0.5) / 32.0, rgb);
        rc = add_rect(f, bx, my + g->map_h * (31 - k) / 32.0, BAR_W, g->map_h / 32.0 + 0.5, rgb);
    }
    for (int k = 0; k < 3 && rc == NN_OK; k++) {
        double v = g->lo + (double)span * k / 2.0;
        tick_label(buf, sizeof buf, "%.2f", v);
        double y = my + g->map_h * (1.0 - k / 2.0);
        rc = add_line(f, bx + BAR_W, y, bx + BAR_W + 4, y);
        if (rc == NN_OK)
            rc = add_text(f, bx + BAR_W + 7, y, ANCHOR_START, false, buf);
    }
    return rc;
}

int fig_heatmaps(figure *f, const char *fn, const nn_viz_panel *panels, int n_panels, const char *xlabel,
                 const char *ylabel)
{
    panel_geometry g[NN_VIZ_MAX_PANELS];
    memset(f, 0, sizeof *f);
    int rc = check_panels(fn, panels, n_panels, g);
    if (rc < 0)
        return rc;
    double x = 10, tallest = 0;
    double widths[NN_VIZ_MAX_PANELS];
    for (int i = 0; i < n_panels; i++) {
        double label = text_width(or_empty(xlabel));
        double body = g[i].map_w + 14 + BAR_W + 7 + FONT_ADVANCE * 6 + 20;
        double title = text_width(or_empty(panels[i].title));
        widths[i] = 60 + (body > label ? body : label);
        if (60 + title > widths[i])
            widths[i] = 60 + title;
        tallest = g[i].map_h > tallest ? g[i].map_h : tallest;
    }
    double ylen = text_width(or_empty(ylabel));
    double content = tallest > ylen ? tallest : ylen; /* room for the rotated y label too */
    for (int i = 0; i < n_panels && rc == NN_OK; i++) {
        rc = draw_panel(f, &panels[i], &g[i], x, 50 + (content - g[i].map_h) / 2, xlabel, ylabel);
        x += widths[i];
    }
    f->width = (int)ceil(x + 10);
    f->height = (int)ceil(50 + content + 60);
    if (rc < 0)
        fig_free(f);
    return rc;
}

/* --- line plot */
static int add_polyline(figure *f, const float *values, int64_t n, double x0, double y0, double w,
                        double h, double lo, double hi)
{
    double *pts = nn_alloc_zeroed((size_t)n, 2 * sizeof(double));
    if (!pts)
        return NN_ENOMEM;
    nn_release(f->points);
    f->points = pts;
    int64_t k = 0;
    int rc = NN_OK;
    /* one polyline per run of finite values */
    for (int64_t i = 0; i <= n && rc == NN_OK; i++) {
        bool ok = i < n && isfinite(values[i]);
        if (ok) {
            pts[2 * k] = x0 + (n > 1 ? w * (double)i / (double)(n - 1) : w / 2);
            pts[2 * k + 1] = y0 + h - (hi > lo ? h * ((double)values[i] - lo) / (hi - lo) : h / 2);
            k++;
            continue;
        }
        int64_t first = f->n_points;
        if (k > first) {
            fig_item *it = add_item(f, ITEM_POLYLINE);
            if (!it)
                return NN_ENOMEM;
            it->first = first;
            it->count = k - first;
            it->rgb[0] = 0x21, it->rgb[1] = 0x91, it->rgb[2] = 0x8c;
        }
        f->n_points = k;
    }
    return rc;
}

int fig_curve(figure *f, const char *fn, const float *values, int64_t n, const char *title,
              const char *xlabel, const char *ylabel)
{
    memset(f, 0, sizeof *f);
    if (!values || n < 1 || n > (INT64_C(1) << 24))
        return nn_fail(NN_EINVAL, "%s: expected 1..16777216 values, got %lld%s", fn, (long long)n,
                       values ? "" : " (NULL)");
    double lo = 0, hi = 0;
    bool any = false;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(values[i]))
            continue;
        if (!any || values[i] < lo)
            lo = values[i];
        if (!any || values[i] > hi)
            hi = values[i];
        any = true;
    }
    const double x0 = 110, y0 = 50, w = 520, h = 300;
    f->width = (int)(x0 + w + 40);
    f->height = (int)(y0 + h + 70);
    char buf[FIG_TEXT_LEN];
    int rc = add_text(f, x0 + w / 2, 24, ANCHOR_MIDDLE, false, or_empty(title));
    if (rc == NN_OK)
        rc = add_line(f, x0, y0, x0, y0 + h);
    if (rc == NN_OK)
        rc = add_line(f, x0, y0 + h, x0 + w, y0 + h);
    for (int k = 0; k < 3 && rc == NN_OK; k++) { /* y ticks: low, middle, high */
        double y = y0 + h * (1.0 - k / 2.0);
        tick_label(buf, sizeof buf, "%.3g", lo + (hi - lo) * k / 2.0);
        rc = add_line(f, x0 - 4, y, x0, y);
        if (rc == NN_OK)
            rc = add_text(f, x0 - 8, y, ANCHOR_END, false, buf);
    }
    for (int k = 0; k < 3 && rc == NN_OK; k++) { /* x ticks: first, middle, last index */
        int64_t i = k * (n - 1) / 2;
        double x = x0 + (n > 1 ? w * (double)i / (double)(n - 1) : w / 2);
        snprintf(buf, sizeof buf, "%lld", (long long)i);
        rc = add_line(f, x, y0 + h, x, y0 + h + 4);
        if (rc == NN_OK)
            rc = add_text(f, x, y0 + h + 16, ANCHOR_MIDDLE, false, buf);
    }
    if (rc == NN_OK)
        rc = add_text(f, x0 + w / 2, y0 + h + 44, ANCHOR_MIDDLE, false, or_empty(xlabel));
    if (rc == NN_OK)
        rc = add_text(f, 18, y0 + h / 2, ANCHOR_MIDDLE, true, or_empty(ylabel));
    if (rc == NN_OK && any)
        rc = add_polyline(f, values, n, x0, y0, w, h, lo, hi);
    if (rc < 0)
        fig_free(f);
    return rc;
}

/* --- writing a file in one piece */
typedef struct {
    emit_fn emit;
    const void *ctx;
    const char *fn, *path;
} emit_job;

static int emit_into(FILE *out, void *job)
{
    const emit_job *e = job;
    errno = 0;
    if (e->emit(out, e->ctx) && !ferror(out))
        return NN_OK;
    return nn_fail(NN_EIO, "%s: writing \"%s\" failed: %s", e->fn, e->path, strerror(errno ? errno : EIO));
}

int viz_write_atomically(const char *fn, const char *path, emit_fn emit, const void *ctx)
{
    emit_job e = {emit, ctx, fn, path};
    return nn_write_atomically(path, emit_into, &e, fn);
}
