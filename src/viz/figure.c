/* Figure layout: heat-map panels with colour bars, and line plots, as a
   list of rectangles, lines and text in pixel coordinates. */
#include <errno.h>
#include <stdarg.h>
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
static void tick_label(char *buf, size_t size, const char *fmt, ...) NN_PRINTF(3, 4);
static void tick_label(char *buf, size_t size, const char *fmt, ...)
{
    nn_c_numbers cn;
    nn_c_numbers_begin(&cn, "nn_viz");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
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

static int add_line_rgb(figure *f, double x0, double y0, double x1, double y1, const uint8_t rgb[3],
                        int thick)
{
    fig_item *it = add_item(f, ITEM_LINE);
    if (!it)
        return NN_ENOMEM;
    it->x = x0, it->y = y0, it->w = x1 - x0, it->h = y1 - y0;
    memcpy(it->rgb, rgb, 3);
    it->thick = thick;
    return NN_OK;
}

static const uint8_t black[3] = {0, 0, 0};

static int add_line(figure *f, double x0, double y0, double x1, double y1)
{
    return add_line_rgb(f, x0, y0, x1, y1, black, 1);
}

static int add_text(figure *f, double x, double y, text_anchor anchor, bool vertical, const char *s)
{
    fig_item *it = add_item(f, ITEM_TEXT);
    if (!it)
        return NN_ENOMEM;
    it->x = x, it->y = y;
    it->anchor = anchor;
    it->vertical = vertical;
    size_t n = 0; /* as much as fits, cut on purpose */
    for (; s && s[n] && n < sizeof it->text - 1; n++)
        it->text[n] = s[n];
    it->text[n] = '\0';
    return NN_OK;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* Width in pixels of text as both renderers draw it (FONT_ADVANCE per
   character, as much of it as a text item keeps). */
static double text_width(const char *s)
{
    size_t n = strlen(s);
    return (double)FONT_ADVANCE * (double)(n < FIG_TEXT_LEN - 1 ? n : FIG_TEXT_LEN - 1);
}

/* Tick marks and their labels: a tick TICK_LEN pixels long, then at least
   TICK_GAP pixels of background before the label's ink -- more than the
   gap between a '-' and the digit after it, so a tick never reads as a
   minus sign. */
#define TICK_LEN 5.0
#define TICK_GAP 8.0

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
        rc = add_line(f, bx + BAR_W, y, bx + BAR_W + TICK_LEN, y);
        if (rc == NN_OK) /* a label's first column may have ink */
            rc = add_text(f, bx + BAR_W + TICK_LEN + 1 + TICK_GAP, y, ANCHOR_START, false, buf);
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
        double body = g[i].map_w + 14 + BAR_W + TICK_LEN + 1 + TICK_GAP + FONT_ADVANCE * 6 + 20;
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

/* --- line plots: several series, nice ticks, grid, legend */

/* matplotlib's "tab10" colours, one per series */
static const uint8_t palette[NN_VIZ_MAX_SERIES][3] = {
    {0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd},
    {0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f}, {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf},
};
static const uint8_t grid_rgb[3] = {0xe6, 0xe6, 0xe6};
static const uint8_t legend_rgb[3] = {0xb0, 0xb0, 0xb0};

void fig_nice_ticks(double lo, double hi, bool integer, fig_ticks *t)
{
    memset(t, 0, sizeof *t);
    if (!(hi > lo)) { /* one value: a range around it */
        double d = lo != 0 ? fabs(lo) * 0.1 : 1.0;
        if (integer && d < 1)
            d = 1;
        lo -= d, hi += d;
    }
    static const int mant[3] = {1, 2, 5};
    for (int e = (int)floor(log10(hi - lo)) - 2;; e++)
        for (int m = 0; m < 3; m++) {
            double step = mant[m] * pow(10.0, e);
            if (integer && step < 1)
                continue;
            double k0 = floor(lo / step), k1 = ceil(hi / step);
            if (k1 - k0 > FIG_MAX_TICKS - 1)
                continue;
            t->step = step;
            t->mant = mant[m];
            t->exp10 = e;
            t->k0 = (int64_t)k0;
            t->n = (int)(k1 - k0) + 1;
            t->lo = (double)t->k0 * step;
            t->hi = (double)(t->k0 + t->n - 1) * step;
            return;
        }
}

double fig_tick_value(const fig_ticks *t, int i)
{
    /* m * (k0 + i) is an exact integer; one rounding for the power of ten */
    double units = (double)t->mant * (double)(t->k0 + i);
    return t->exp10 >= 0 ? units * pow(10.0, t->exp10) : units / pow(10.0, -t->exp10);
}

void fig_tick_label(char *buf, size_t size, const fig_ticks *t, int i)
{
    double v = fig_tick_value(t, i);
    double top = fmax(fabs(t->lo), fabs(t->hi));
    if (t->exp10 < -5 || top >= 1e9) { /* 2.5e-07, 1.2e+10: as many digits as the step needs */
        int digits = (int)floor(log10(top)) - t->exp10 + 1;
        digits = digits < 1 ? 1 : digits > 17 ? 17 : digits;
        tick_label(buf, size, "%.*g", digits, v);
    } else {
        tick_label(buf, size, "%.*f", t->exp10 < 0 ? -t->exp10 : 0, v);
    }
}

static int check_series(const char *fn, const nn_viz_series *s, int count, int64_t *total)
{
    if (!s || count < 1 || count > NN_VIZ_MAX_SERIES)
        return nn_fail(NN_EINVAL, "%s: expected 1..%d series, got %d%s", fn, NN_VIZ_MAX_SERIES, count,
                       s ? "" : " (NULL)");
    *total = 0;
    for (int i = 0; i < count; i++) {
        if (!s[i].y)
            return nn_fail(NN_EINVAL, "%s: series %d has no y values (NULL)", fn, i);
        if (s[i].n < 1 || s[i].n > FIG_MAX_POINTS)
            return nn_fail(NN_EINVAL, "%s: series %d expected 1..%lld values, got %lld", fn, i,
                           (long long)FIG_MAX_POINTS, (long long)s[i].n);
        *total += s[i].n;
    }
    if (*total > FIG_MAX_POINTS)
        return nn_fail(NN_EINVAL, "%s: %lld values in all, at most %lld", fn, (long long)*total,
                       (long long)FIG_MAX_POINTS);
    return NN_OK;
}

static double series_x(const nn_viz_series *s, int64_t i) { return s->x ? (double)s->x[i] : (double)i; }

static bool point_ok(const nn_viz_series *s, int64_t i)
{
    return isfinite(s->y[i]) && (!s->x || isfinite(s->x[i]));
}

/* One polyline per run of points with finite x and y, in colour rgb;
   f->points has room for them. */
static int add_series(figure *f, const nn_viz_series *s, double x0, double y0, double w, double h,
                      const fig_ticks *tx, const fig_ticks *ty, const uint8_t rgb[3])
{
    int64_t run = f->n_points; /* where the current run of points began */
    for (int64_t i = 0; i <= s->n; i++) {
        if (i < s->n && point_ok(s, i)) {
            double *p = &f->points[2 * f->n_points++];
            p[0] = x0 + w * (series_x(s, i) - tx->lo) / (tx->hi - tx->lo);
            p[1] = y0 + h - h * ((double)s->y[i] - ty->lo) / (ty->hi - ty->lo);
            continue;
        }
        if (f->n_points > run) {
            fig_item *it = add_item(f, ITEM_POLYLINE);
            if (!it)
                return NN_ENOMEM;
            it->first = run;
            it->count = f->n_points - run;
            it->thick = 2;
            memcpy(it->rgb, rgb, 3);
        }
        run = f->n_points;
    }
    return NN_OK;
}

/* The plot area: PLOT_W x PLOT_H pixels, PLOT_TOP below the figure's top;
   its left edge follows from the widest y tick label. */
#define PLOT_W 520.0
#define PLOT_H 300.0
#define PLOT_TOP 50.0

int fig_lines(figure *f, const char *fn, const nn_viz_series *s, int count, const nn_viz_plot_opts *o)
{
    memset(f, 0, sizeof *f);
    const nn_viz_plot_opts d = nn_viz_plot_defaults();
    nn_viz_plot_opts opts = o ? *o : d;
    int by_hand = nn_opts_by_hand(fn, "nn_viz_plot_opts", "nn_viz_plot_defaults()", opts.from_defaults);
    if (by_hand < 0)
        return by_hand;
    int64_t total = 0;
    int rc = check_series(fn, s, count, &total);
    if (rc < 0)
        return rc;
    /* the data's ranges over the points that are drawn */
    double xlo = 0, xhi = 0, ylo = 0, yhi = 0;
    bool any = false, index_x = true;
    int64_t longest = 0;
    for (int k = 0; k < count; k++) {
        index_x = index_x && !s[k].x;
        longest = s[k].n > longest ? s[k].n : longest;
        for (int64_t i = 0; i < s[k].n; i++) {
            if (!point_ok(&s[k], i))
                continue;
            double x = series_x(&s[k], i), y = s[k].y[i];
            if (!any || x < xlo)
                xlo = x;
            if (!any || x > xhi)
                xhi = x;
            if (!any || y < ylo)
                ylo = y;
            if (!any || y > yhi)
                yhi = y;
            any = true;
        }
    }
    if (!any) /* nothing to draw: the axes of an empty plot */
        xlo = 0, xhi = (double)(longest - 1), ylo = 0, yhi = 1;
    fig_ticks tx, ty;
    fig_nice_ticks(xlo, xhi, index_x, &tx);
    fig_nice_ticks(ylo, yhi, false, &ty);

    char ylab[FIG_MAX_TICKS][FIG_TEXT_LEN], xlab[FIG_MAX_TICKS][FIG_TEXT_LEN];
    double ylab_w = 0;
    for (int i = 0; i < ty.n; i++) {
        fig_tick_label(ylab[i], sizeof ylab[i], &ty, i);
        ylab_w = fmax(ylab_w, text_width(ylab[i]));
    }
    for (int i = 0; i < tx.n; i++)
        fig_tick_label(xlab[i], sizeof xlab[i], &tx, i);
    /* left to right: the rotated y label (ink 7 left and 11 right of its
       centre line at x = 16), 8 pixels, the y tick labels, the gap, the
       tick, the plot */
    const double x0 = 16 + FIG_DESCENT + 3 + 8 + ylab_w + TICK_GAP + 1 + TICK_LEN, y0 = PLOT_TOP;
    const double w = PLOT_W, h = PLOT_H;
    int labelled = 0;
    double legend_w = 0;
    for (int k = 0; k < count; k++)
        if (s[k].label && *s[k].label) {
            labelled++;
            legend_w = fmax(legend_w, text_width(s[k].label));
        }
    const double lx = x0 + w + 20, ly = y0; /* the legend, right of the plot */
    legend_w += 10 + 24 + 8 + 10;          /* margin, swatch, gap, text, margin */
    double right = x0 + w + fmax(40, text_width(xlab[tx.n - 1]) / 2 + 10);
    if (labelled)
        right = fmax(right, lx + legend_w + 10);
    double title_w = text_width(or_empty(opts.title));
    f->width = (int)ceil(fmax(right, x0 + w / 2 + title_w / 2 + 10));
    f->height = (int)(y0 + h + 66);
    f->points = nn_alloc_zeroed((size_t)total, 2 * sizeof(double));
    if (!f->points)
        return NN_ENOMEM;

    /* grid lines under the data, at every tick inside the plot */
    for (int i = 0; i < ty.n && rc == NN_OK; i++) {
        double y = y0 + h - h * (fig_tick_value(&ty, i) - ty.lo) / (ty.hi - ty.lo);
        if (i > 0 && i < ty.n - 1)
            rc = add_line_rgb(f, x0, y, x0 + w, y, grid_rgb, 1);
    }
    for (int i = 0; i < tx.n && rc == NN_OK; i++) {
        double x = x0 + w * (fig_tick_value(&tx, i) - tx.lo) / (tx.hi - tx.lo);
        if (i > 0 && i < tx.n - 1)
            rc = add_line_rgb(f, x, y0, x, y0 + h, grid_rgb, 1);
    }
    for (int k = 0; k < count && rc == NN_OK; k++)
        rc = add_series(f, &s[k], x0, y0, w, h, &tx, &ty, palette[k]);
    /* the frame, ticks and their labels */
    if (rc == NN_OK)
        rc = add_line(f, x0, y0, x0, y0 + h);
    if (rc == NN_OK)
        rc = add_line(f, x0, y0 + h, x0 + w, y0 + h);
    if (rc == NN_OK)
        rc = add_line(f, x0 + w, y0, x0 + w, y0 + h);
    if (rc == NN_OK)
        rc = add_line(f, x0, y0, x0 + w, y0);
    for (int i = 0; i < ty.n && rc == NN_OK; i++) {
        double y = y0 + h - h * (fig_tick_value(&ty, i) - ty.lo) / (ty.hi - ty.lo);
        rc = add_line(f, x0 - TICK_LEN, y, x0, y);
        if (rc == NN_OK) /* the last column of a glyph is blank */
            rc = add_text(f, x0 - TICK_LEN - 1 - TICK_GAP + (FONT_ADVANCE - FONT_COLS * FONT_SCALE), y,
                          ANCHOR_END, false, ylab[i]);
    }
    for (int i = 0; i < tx.n && rc == NN_OK; i++) {
        double x = x0 + w * (fig_tick_value(&tx, i) - tx.lo) / (tx.hi - tx.lo);
        rc = add_line(f, x, y0 + h, x, y0 + h + TICK_LEN);
        if (rc == NN_OK)
            rc = add_text(f, x, y0 + h + TICK_LEN + 1 + TICK_GAP + FIG_TEXT_PX / 2, ANCHOR_MIDDLE, false,
                          xlab[i]);
    }
    if (rc == NN_OK)
        rc = add_text(f, x0 + w / 2, 24, ANCHOR_MIDDLE, false, or_empty(opts.title));
    if (rc == NN_OK)
        rc = add_text(f, x0 + w / 2, y0 + h + 48, ANCHOR_MIDDLE, false, or_empty(opts.xlabel));
    if (rc == NN_OK)
        rc = add_text(f, 16, y0 + h / 2, ANCHOR_MIDDLE, true, or_empty(opts.ylabel));
    /* the legend: a box of swatches and labels, outside the plot */
    if (labelled && rc == NN_OK) {
        double lh = 22.0 * labelled + 8;
        rc = add_rect(f, lx, ly, legend_w, lh, (const uint8_t[3]){0xff, 0xff, 0xff});
        if (rc == NN_OK)
            rc = add_line_rgb(f, lx, ly, lx + legend_w, ly, legend_rgb, 1);
        if (rc == NN_OK)
            rc = add_line_rgb(f, lx, ly + lh, lx + legend_w, ly + lh, legend_rgb, 1);
        if (rc == NN_OK)
            rc = add_line_rgb(f, lx, ly, lx, ly + lh, legend_rgb, 1);
        if (rc == NN_OK)
            rc = add_line_rgb(f, lx + legend_w, ly, lx + legend_w, ly + lh, legend_rgb, 1);
        for (int k = 0, row = 0; k < count && rc == NN_OK; k++) {
            if (!s[k].label || !*s[k].label)
                continue;
            double y = ly + 14 + 22.0 * row++;
            rc = add_line_rgb(f, lx + 10, y, lx + 34, y, palette[k], 2);
            if (rc == NN_OK)
                rc = add_text(f, lx + 42, y, ANCHOR_START, false, s[k].label);
        }
    }
    if (rc < 0)
        fig_free(f);
    return rc;
}

nn_viz_plot_opts nn_viz_plot_defaults(void)
{
    return (nn_viz_plot_opts){.title = NULL, .xlabel = NULL, .ylabel = NULL,
                              .from_defaults = NN_OPTS_FROM_DEFAULTS};
}

int fig_curve(figure *f, const char *fn, const float *values, int64_t n, const char *title,
              const char *xlabel, const char *ylabel)
{
    memset(f, 0, sizeof *f);
    if (!values || n < 1 || n > FIG_MAX_POINTS)
        return nn_fail(NN_EINVAL, "%s: expected 1..%lld values, got %lld%s", fn, (long long)FIG_MAX_POINTS,
                       (long long)n, values ? "" : " (NULL)");
    nn_viz_series one = {NULL, NULL, values, n};
    nn_viz_plot_opts o = {.title = title, .xlabel = xlabel, .ylabel = ylabel};
    return fig_lines(f, fn, &one, 1, &o);
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
