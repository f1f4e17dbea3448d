/* im2col / col2im: unfold the kernel windows of one image into the columns
   of a matrix so that convolution becomes one GEMM, and fold back. */
#include <string.h>

#include "im2col.h"

/* Output columns ox whose input column ox*stride + offset lies in [0, w):
   [*lo, *hi). Computed once per kernel column so the inner loops have no
   bounds branch. */
static void valid_range(int64_t offset, int64_t stride, int64_t w, int64_t out_w, int64_t *lo,
                        int64_t *hi)
{
    int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t end = w - offset <= 0 ? 0 : (w - 1 - offset) / stride + 1;
    if (end > out_w)
        end = out_w;
    if (first > end)
        first = end;
    *lo = first;
    *hi = end;
}

void nn_im2col(const nn_conv_geometry *g, const float *image, float *col)
{
    const int64_t ow = g->out_w, oh = g->out_h;
    for (int64_t c = 0; c < g->channels; c++) {
        const float *plane = image + c * g->h * g->w;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            for (int64_t j = 0; j < g->kernel_w; j++) {
                int64_t x_off = j * g->dil_w - g->pad_w, lo, hi;
                valid_range(x_off, g->stride_w, g->w, ow, &lo, &hi);
                for (int64_t oy = 0; oy < oh; oy++, col += ow) {
                    int64_t iy = oy * g->stride_h - g->pad_h + i * g->dil_h;
                    if (iy < 0 || iy >= g->h) {
                        memset(col, 0, (size_t)ow * sizeof *col);
                        continue;
                    }
                    const float *row = plane + iy * g->w;
                    for (int64_t ox = 0; ox < lo; ox++)
                        col[ox] = 0.0f;
                    if (g->stride_w == 1) /* the common case: one contiguous run */
                        memcpy(col + lo, row + x_off + lo, (size_t)(hi - lo) * sizeof *col);
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            col[ox] = row[x_off + ox * g->stride_w];
                    for (int64_t ox = hi; ox < ow; ox++)
                        col[ox] = 0.0f;
                }
            }
        }
    }
}

void nn_col2im(const nn_conv_geometry *g, const float *col, float *image)
{
    const int64_t ow = g->out_w, oh = g->out_h;
    for (int64_t c = 0; c < g->channels; c++) {
        float *plane = image + c * g->h * g->w;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            for (int64_t j = 0; j < g->kernel_w; j++) {
                int64_t x_off = j * g->dil_w - g->pad_w, lo, hi;
                valid_range(x_off, g->stride_w, g->w, ow, &lo, &hi);
                for (int64_t oy = 0; oy < oh; oy++, col += ow) {
                    int64_t iy = oy * g->stride_h - g->pad_h + i * g->dil_h;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    float *row = plane + iy * g->w;
                    if (g->stride_w == 1) { /* contiguous: vectorises */
                        float *dst = row + x_off;
                        for (int64_t ox = lo; ox < hi; ox++)
                            dst[ox] += col[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++)
                            row[x_off + ox * g->stride_w] += col[ox];
                    }
                }
            }
        }
    }
}
