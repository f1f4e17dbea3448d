/* SVG rendering of a figure, and the public SVG writers. */
#include <math.h>
#include <string.h>

#include "figure.h"

static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

static const char *anchor_name(text_anchor a)
{
    return a == ANCHOR_START ? "start" : a == ANCHOR_END ? "end" : "middle";
}

static void put_item(FILE *out, const figure *f, const fig_item *it)
{
    switch (it->kind) {
    case ITEM_RECT:
        fprintf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#%02x%02x%02x\"",
                it->x, it->y, it->w, it->h, it->rgb[0], it->rgb[1], it->rgb[2]);
        if (it->has_value)
            fprintf(out, "><title>%.4f</title></rect>\n", (double)it->value);
        else
            fputs("/>\n", out);
        break;
    case ITEM_LINE:
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", it->x, it->y, it->x + it->w,
                it->y + it->h);
        if (it->rgb[0] | it->rgb[1] | it->rgb[2])
            fprintf(out, " stroke=\"#%02x%02x%02x\"", it->rgb[0], it->rgb[1], it->rgb[2]);
        else
            fputs(" stroke=\"black\"", out);
        if (it->thick > 1)
            fprintf(out, " stroke-width=\"%d\"", it->thick);
        fputs("/>\n", out);
        break;
    case ITEM_TEXT:
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" dominant-baseline=\"middle\"", it->x,
                it->y, anchor_name(it->anchor));
        if (it->vertical)
            fprintf(out, " transform=\"rotate(-90 %.2f %.2f)\"", it->x, it->y);
        fputc('>', out);
        put_escaped(out, it->text);
        fputs("</text>\n", out);
        break;
    case ITEM_POLYLINE:
        if (it->count == 1) { /* a point alone between gaps: a dot */
            fprintf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"#%02x%02x%02x\"/>\n",
                    f->points[2 * it->first], f->points[2 * it->first + 1], it->thick > 0 ? it->thick : 2.0,
                    it->rgb[0], it->rgb[1], it->rgb[2]);
            break;
        }
        fprintf(out, "<polyline fill=\"none\" stroke=\"#%02x%02x%02x\" stroke-width=\"%d\" points=\"",
                it->rgb[0], it->rgb[1], it->rgb[2], it->thick > 0 ? it->thick : 2);
        for (int64_t k = 0; k < it->count; k++) {
            const double *p = &f->points[2 * (it->first + k)];
            fprintf(out, k ? " %.2f,%.2f" : "%.2f,%.2f", p[0], p[1]);
        }
        fputs("\"/>\n", out);
        break;
    }
}

bool svg_render(const figure *f, FILE *out)
{
    nn_c_numbers cn; /* coordinates with '.' decimals whatever setlocale chose */
    if (nn_c_numbers_begin(&cn, "nn_viz_*_svg") < 0)
        return false;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"%d\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            f->width, f->height, f->width, f->height, FIG_TEXT_PX);
    for (int i = 0; i < f->n_items; i++)
        put_item(out, f, &f->items[i]);
    fputs("</svg>\n", out);
    nn_c_numbers_end(&cn);
    return !ferror(out);
}

static bool emit_svg(FILE *out, const void *ctx) { return svg_render(ctx, out); }

int nn_viz_heatmaps_svg(const char *path, const nn_viz_panel *panels, int n_panels, const char *xlabel,
                        const char *ylabel)
{
    figure f;
    int rc = fig_heatmaps(&f, "nn_viz_heatmaps_svg", panels, n_panels, xlabel, ylabel);
    if (rc < 0)
        return rc;
    rc = viz_write_atomically("nn_viz_heatmaps_svg", path, emit_svg, &f);
    fig_free(&f);
    return rc;
}

int nn_viz_curve_svg(const char *path, const float *values, int64_t n, const char *title, const char *xlabel,
                     const char *ylabel)
{
    figure f;
    int rc = fig_curve(&f, "nn_viz_curve_svg", values, n, title, xlabel, ylabel);
    if (rc < 0)
        return rc;
    rc = viz_write_atomically("nn_viz_curve_svg", path, emit_svg, &f);
    fig_free(&f);
    return rc;
}

int nn_viz_lines_svg(const char *path, const nn_viz_series *series, int count, const nn_viz_plot_opts *o)
{
    figure f;
    int rc = fig_lines(&f, "nn_viz_lines_svg", series, count, o);
    if (rc < 0)
        return rc;
    rc = viz_write_atomically("nn_viz_lines_svg", path, emit_svg, &f);
    fig_free(&f);
    return rc;
}
