/* im2col / col2im: unfold the kernel windows of one image into the columns
   of a matrix so that convolution becomes one GEMM, and fold back.
   Unit horizontal stride (nearly every network) takes row copies the
   compiler vectorises; a "same" convolution (unit strides, out_w == w)
   copies each kernel offset's whole valid block of rows at once. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "im2col.h"
#include "simd.h"

/* dst[0:n] += src[0:n] in blocks of 8 with a fixed-length inner loop and
   no aliasing: GCC vectorises that at -O2 (its cheap cost model leaves
   loops of unknown length, or that need an overlap check, scalar). */
static void add_floats(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            dst[i + k] += src[i + k];
    for (; i < n; i++)
        dst[i] += src[i];
}

/* dst[0:n] = v + src[0:n]: nn_ew_fill with v then add_floats, in one pass
   (v + x is not x when v is 0 and x is -0, so the add stays). */
static void set_floats(float *restrict dst, const float *restrict src, int64_t n, float v)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            dst[i + k] = v + src[i + k];
    for (; i < n; i++)
        dst[i] = v + src[i];
}

static void fill_floats(float *dst, int64_t n, float v)
{
    if (v == 0.0f && !signbit(v)) {
        memset(dst, 0, (size_t)n * sizeof *dst);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        dst[i] = v;
}

/* Stride 2 (the downsampling convolutions): the columns [lo, *vhi) go four
   at a time through vectors of eight image floats, row[2 ox .. 2 ox + 7],
   which must lie within the image row (avail: floats from row to its
   end); the rest one by one. */
static int64_t stride2_vector_end(int64_t lo, int64_t hi, int64_t avail)
{
    int64_t end = avail >= 8 ? (avail - 8) / 2 + 4 : lo; /* 2 ox + 8 <= avail for the last block's ox */
    end = end < hi ? end : hi;
    return end > lo ? lo + (end - lo) / 4 * 4 : lo;
}

/* out[ox] = row[2 ox] for ox in [lo, hi); [lo, vhi) four at a time */
static void gather_stride2(float *out, const float *row, int64_t lo, int64_t vhi, int64_t hi)
{
    int64_t ox = lo;
    for (; ox < vhi; ox += 4)
        storeu4(out + ox, SHUFFLE4(loadu4(row + 2 * ox), loadu4(row + 2 * ox + 4), 0, 2, 4, 6));
    for (; ox < hi; ox++)
        out[ox] = row[2 * ox];
}

/* Its adjoint: row[2 ox] += col[ox]. The vector steps add -0 to the odd
   floats between, which leaves every float as it was (x + -0 is x, for
   x = +0 as well), so each pixel sees exactly the scalar sums. */
static void scatter_add_stride2(float *row, const float *col, int64_t lo, int64_t vhi, int64_t hi)
{
    const v4f nz = splat4(-0.0f);
    int64_t ox = lo;
    for (; ox < vhi; ox += 4) {
        v4f c = loadu4(col + ox);
        storeu4(row + 2 * ox, loadu4(row + 2 * ox) + SHUFFLE4(c, nz, 0, 4, 1, 5));
        storeu4(row + 2 * ox + 4, loadu4(row + 2 * ox + 4) + SHUFFLE4(c, nz, 2, 6, 3, 7));
    }
    for (; ox < hi; ox++)
        row[2 * ox] += col[ox];
}

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

/* Unit strides and out_w == w: output row oy of kernel row i reads input
   row oy + y_off, so the rows [oy0, oy1) that fall inside the image are
   one contiguous stretch of the plane shifted by y_off*w + x_off. Copy it
   whole, then clear the entries that wrapped around a row edge. */
static bool is_same_conv(const nn_conv_geometry *g)
{
    return g->stride_h == 1 && g->stride_w == 1 && g->out_w == g->w;
}

/* Zeroes columns [c0, c1) of rows [oy0, oy1) of a w-wide block, a column
   at a time: the edges are a pad wide (usually one), and row by row the
   compiler would turn each one-element stretch into a memset call. */
static void clear_columns(float *col, int64_t w, int64_t oy0, int64_t oy1, int64_t c0, int64_t c1)
{
    for (int64_t ox = c0; ox < c1; ox++)
        for (int64_t oy = oy0; oy < oy1; oy++)
            col[oy * w + ox] = 0.0f;
}

static void clear_edges(float *col, int64_t w, int64_t oy0, int64_t oy1, int64_t lo, int64_t hi)
{
    clear_columns(col, w, oy0, oy1, 0, lo);
    clear_columns(col, w, oy0, oy1, hi, w);
}

static void im2col_same(const nn_conv_geometry *g, const float *image, float *col)
{
    const int64_t w = g->w, oh = g->out_h, pixels = oh * w;
    for (int64_t c = 0; c < g->channels; c++) {
        const float *plane = image + c * g->h * w;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            int64_t y_off = i * g->dil_h - g->pad_h, oy0, oy1;
            valid_range(y_off, 1, g->h, oh, &oy0, &oy1);
            for (int64_t j = 0; j < g->kernel_w; j++, col += pixels) {
                int64_t x_off = j * g->dil_w - g->pad_w, lo, hi;
                valid_range(x_off, 1, w, w, &lo, &hi);
                if (oy0 > 0)
                    memset(col, 0, (size_t)(oy0 * w) * sizeof *col);
                if (oy1 < oh)
                    memset(col + oy1 * w, 0, (size_t)((oh - oy1) * w) * sizeof *col);
                if (oy0 >= oy1)
                    continue;
                /* [oy0*w + lo, (oy1-1)*w + hi) stays inside the plane */
                int64_t first = oy0 * w + lo, last = (oy1 - 1) * w + hi;
                if (lo < hi)
                    memcpy(col + first, plane + first + y_off * w + x_off, (size_t)(last - first) * sizeof *col);
                clear_edges(col, w, oy0, oy1, lo, hi);
            }
        }
    }
}

void nn_im2col(const nn_conv_geometry *g, const float *image, float *col)
{
    if (is_same_conv(g)) {
        im2col_same(g, image, col);
        return;
    }
    const int64_t ow = g->out_w, oh = g->out_h, sw = g->stride_w;
    for (int64_t c = 0; c < g->channels; c++) {
        const float *plane = image + c * g->h * g->w;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            for (int64_t j = 0; j < g->kernel_w; j++) {
                int64_t x_off = j * g->dil_w - g->pad_w, lo, hi;
                valid_range(x_off, sw, g->w, ow, &lo, &hi);
                const int64_t vhi = sw == 2 ? stride2_vector_end(lo, hi, g->w - x_off) : lo;
                for (int64_t oy = 0; oy < oh; oy++) {
                    float *out = col + oy * ow;
                    int64_t iy = oy * g->stride_h - g->pad_h + i * g->dil_h;
                    if (iy < 0 || iy >= g->h) {
                        memset(out, 0, (size_t)ow * sizeof *out);
                        continue;
                    }
                    const float *row = plane + iy * g->w + x_off;
                    if (sw == 1)
                        memcpy(out + lo, row + lo, (size_t)(hi - lo) * sizeof *out);
                    else if (sw == 2)
                        gather_stride2(out, row, lo, vhi, hi);
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            out[ox] = row[ox * sw];
                }
                clear_edges(col, ow, 0, oh, lo, hi);
                col += oh * ow;
            }
        }
    }
}

/* The adjoint of im2col_same: clear the wrapped entries of each block of
   rows in col (they belong to the padding), then add the block at once.
   set: onto planes starting at start[c] (0 when start is NULL) — each
   plane's first nonempty block (one contiguous stretch of it) is written
   as start + col, the rest of the plane set to start, later blocks added;
   otherwise every block is added to what the image holds. */
static void col2im_same(const nn_conv_geometry *g, float *col, float *image, bool set, const float *start)
{
    const int64_t w = g->w, oh = g->out_h, pixels = oh * w, size = g->h * w;
    for (int64_t c = 0; c < g->channels; c++) {
        float *plane = image + c * size;
        const float v = start ? start[c] : 0.0f;
        bool started = !set;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            int64_t y_off = i * g->dil_h - g->pad_h, oy0, oy1;
            valid_range(y_off, 1, g->h, oh, &oy0, &oy1);
            for (int64_t j = 0; j < g->kernel_w; j++, col += pixels) {
                int64_t x_off = j * g->dil_w - g->pad_w, lo, hi;
                valid_range(x_off, 1, w, w, &lo, &hi);
                if (oy0 >= oy1 || lo >= hi)
                    continue;
                clear_edges(col, w, oy0, oy1, lo, hi);
                int64_t first = oy0 * w + lo, last = (oy1 - 1) * w + hi, at = first + y_off * w + x_off;
                if (started) {
                    add_floats(plane + at, col + first, last - first);
                    continue;
                }
                fill_floats(plane, at, v);
                set_floats(plane + at, col + first, last - first, v);
                fill_floats(plane + at + (last - first), size - at - (last - first), v);
                started = true;
            }
        }
        if (!started)
            fill_floats(plane, size, v);
    }
}

void nn_col2im_set(const nn_conv_geometry *g, float *col, float *image, const float *start)
{
    if (is_same_conv(g)) {
        col2im_same(g, col, image, true, start);
        return;
    }
    /* plane by plane: each is filled just before its sums, while in cache */
    const int64_t taps = g->kernel_h * g->kernel_w, size = g->h * g->w;
    nn_conv_geometry one = *g;
    one.channels = 1;
    for (int64_t c = 0; c < g->channels; c++) {
        fill_floats(image + c * size, size, start ? start[c] : 0.0f);
        nn_col2im(&one, col + c * taps * g->out_h * g->out_w, image + c * size);
    }
}

void nn_col2im(const nn_conv_geometry *g, float *col, float *image)
{
    if (is_same_conv(g)) {
        col2im_same(g, col, image, false, NULL);
        return;
    }
    const int64_t ow = g->out_w, oh = g->out_h, sw = g->stride_w;
    for (int64_t c = 0; c < g->channels; c++) {
        float *plane = image + c * g->h * g->w;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            for (int64_t j = 0; j < g->kernel_w; j++) {
                int64_t x_off = j * g->dil_w - g->pad_w, lo, hi;
                valid_range(x_off, sw, g->w, ow, &lo, &hi);
                const int64_t vhi = sw == 2 ? stride2_vector_end(lo, hi, g->w - x_off) : lo;
                for (int64_t oy = 0; oy < oh; oy++, col += ow) {
                    int64_t iy = oy * g->stride_h - g->pad_h + i * g->dil_h;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    float *row = plane + iy * g->w + x_off;
                    if (sw == 1)
                        add_floats(row + lo, col + lo, hi - lo);
                    else if (sw == 2)
                        scatter_add_stride2(row, col, lo, vhi, hi);
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            row[ox * sw] += col[ox];
                }
            }
        }
    }
}
