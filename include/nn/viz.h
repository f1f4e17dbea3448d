/* libnn: pictures of weights and training curves, as SVG or PNG files, with
   no library: the PNG encoder is our own (zlib stream of stored blocks,
   CRC-32, Adler-32). Colours follow the viridis colour map.

   Every writer goes to a temporary file next to `path` and renames it into
   place when complete, so a failed call leaves no partial image (and an
   existing file at `path` untouched). Errors: a negative nn_status and
   nn_last_error(). */
#ifndef NN_VIZ_H
#define NN_VIZ_H

#include <stdint.h>

#include "opts.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One heat map of a figure: values is 1-D (one row) or 2-D [rows, cols],
   any strides, drawn row 0 at the top; title is shown above it. Neither is
   copied beyond the call. */
typedef struct {
    const char *title;
    const nn_tensor *values;
} nn_viz_panel;

#define NN_VIZ_MAX_PANELS 16

/* Heat maps side by side, each with its own colour scale (viridis from the
   panel's minimum to its maximum) and the given axis labels, like
   matplotlib's imshow + colorbar per subplot. 1..NN_VIZ_MAX_PANELS panels. */
int nn_viz_heatmaps_svg(const char *path, const nn_viz_panel *panels, int n_panels,
                        const char *xlabel, const char *ylabel);
int nn_viz_heatmaps_png(const char *path, const nn_viz_panel *panels, int n_panels,
                        const char *xlabel, const char *ylabel);

/* A line plot of values[0..n-1] against their index (n >= 1), e.g. a loss
   curve: nn_viz_lines_* with one unlabelled series. Non-finite values are
   gaps in the line. */
int nn_viz_curve_svg(const char *path, const float *values, int64_t n, const char *title,
                     const char *xlabel, const char *ylabel);
int nn_viz_curve_png(const char *path, const float *values, int64_t n, const char *title,
                     const char *xlabel, const char *ylabel);

/* One series of a line plot: y[0..n-1] against x[0..n-1], or against the
   index 0..n-1 when x is NULL (n >= 1). A point whose x or y is not finite
   is a gap: the line stops before it and starts again after it. label is
   the series' name in the legend (NULL or "": not in the legend). Nothing
   is copied beyond the call. */
typedef struct {
    const char *label;
    const float *x;
    const float *y;
    int64_t n;
} nn_viz_series;

#define NN_VIZ_MAX_SERIES 10

/* Options of a line plot, following the rule in nn/opts.h: a title above
   the plot and the axis labels, all NULL (none) in nn_viz_plot_defaults()
   and when left out by hand; NULL options are the defaults. */
typedef struct {
    const char *title;
    const char *xlabel;
    const char *ylabel;
    uint32_t from_defaults;
} nn_viz_plot_opts;

nn_viz_plot_opts nn_viz_plot_defaults(void);

/* Several series in one plot, e.g. a forecast against the actual values:
   1..NN_VIZ_MAX_SERIES series, each in its own colour (matplotlib's tab10,
   in order), a legend of the labelled ones right of the plot, round ticks
   (1, 2 or 5 x 10^n, 4 to 8 per axis, covering all the series; whole
   numbers when every x is an index) with light grid lines at them. At most
   16777216 values in all. */
int nn_viz_lines_svg(const char *path, const nn_viz_series *series, int count, const nn_viz_plot_opts *o);
int nn_viz_lines_png(const char *path, const nn_viz_series *series, int count, const nn_viz_plot_opts *o);

/* Writes an 8-bit RGB image (width * height * 3 bytes, rows top to bottom)
   as a PNG file. 1 <= width, height <= 16384. */
int nn_viz_png_write(const char *path, const uint8_t *rgb, int width, int height);

/* Viridis colour of t in [0, 1] (clamped; NaN gives grey). */
void nn_viz_viridis(double t, uint8_t rgb[3]);

#ifdef __cplusplus
}
#endif
#endif
