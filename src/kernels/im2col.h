/* Internal: im2col / col2im for 2-D convolution. Raw float arrays, one
   image at a time, no allocation. */
#ifndef NN_IM2COL_H
#define NN_IM2COL_H

#include <stdint.h>

/* Geometry of one image and its (dilated, strided, zero-padded) kernel
   windows: out_h = (h + 2*pad_h - dil_h*(kernel_h-1) - 1) / stride_h + 1. */
typedef struct {
    int64_t channels, h, w, out_h, out_w;
    int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} nn_conv_geometry;

/* col[(c*kh + i)*kw + j][oy*out_w + ox] = image[c][oy*sh - ph + i*dh][ox*sw - pw + j*dw],
   0 where that falls in the padding. image [channels, h, w];
   col [channels*kernel_h*kernel_w, out_h*out_w]. */
void nn_im2col(const nn_conv_geometry *g, const float *image, float *col);

/* The adjoint of nn_im2col: ADDS every col entry into the image pixel it
   was read from, in col's row-major order (padding entries are dropped).
   col is scratch: its padding entries may be overwritten with zeros. */
void nn_col2im(const nn_conv_geometry *g, float *col, float *image);

/* image = col2im(col) onto planes that start as start[c] (NULL: 0.0f):
   the same result, bit for bit, as filling each plane with its start and
   then nn_col2im (a pixel's first contribution is added to the start as
   it is written), without the separate fill pass. */
void nn_col2im_set(const nn_conv_geometry *g, float *col, float *image, const float *start);

#endif
