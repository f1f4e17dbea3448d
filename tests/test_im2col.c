/* im2col / col2im against their definition, written as the plainest loops,
   over geometries that take every path: the whole-block "same" copy,
   unit-stride row copies, strided gathers, dilation, padding wider than the
   kernel reach, kernels that cover no valid pixel for some offsets. Exact
   equality: both paths only move (im2col) or add in a fixed order (col2im),
   and nn_col2im_set is bit for bit a fill and nn_col2im. */
#include <stdlib.h>

#include "testutil.h"
#include "kernels/im2col.h"

static uint32_t rng_state = 777u;
static float rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static nn_conv_geometry geometry(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
                                 int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw)
{
    nn_conv_geometry g = {.channels = c, .h = h, .w = w, .kernel_h = kh, .kernel_w = kw,
                          .stride_h = sh, .stride_w = sw, .pad_h = ph, .pad_w = pw,
                          .dil_h = dh, .dil_w = dw};
    g.out_h = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    g.out_w = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    return g;
}

/* The input pixel behind col[row][p], or -1 for padding. */
static int64_t source_of(const nn_conv_geometry *g, int64_t row, int64_t p)
{
    int64_t j = row % g->kernel_w, i = row / g->kernel_w % g->kernel_h;
    int64_t c = row / (g->kernel_w * g->kernel_h);
    int64_t oy = p / g->out_w, ox = p % g->out_w;
    int64_t iy = oy * g->stride_h - g->pad_h + i * g->dil_h;
    int64_t ix = ox * g->stride_w - g->pad_w + j * g->dil_w;
    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
        return -1;
    return (c * g->h + iy) * g->w + ix;
}

/* nn_col2im_set: bit for bit a fill with the planes' starts and nn_col2im,
   negative zeros included (0 + -0 is +0), with and without starts. */
static void check_set(const nn_conv_geometry *g)
{
    int64_t n = g->channels * g->kernel_h * g->kernel_w * g->out_h * g->out_w, plane = g->h * g->w;
    int64_t in = g->channels * plane;
    float *col = malloc((size_t)(n + 1) * sizeof(float)), *col2 = malloc((size_t)(n + 1) * sizeof(float));
    float *got = malloc((size_t)(in + 1) * sizeof(float)), *want = malloc((size_t)(in + 1) * sizeof(float));
    float *start = malloc((size_t)g->channels * sizeof(float));
    assert_true(col && col2 && got && want && start);
    for (int with_start = 0; with_start < 2; with_start++) {
        for (int64_t k = 0; k < n; k++)
            col[k] = k % 5 == 0 ? -0.0f : k % 7 == 0 ? 0.0f : rnd();
        memcpy(col2, col, (size_t)n * sizeof(float));
        for (int64_t c = 0; c < g->channels; c++)
            start[c] = c % 3 == 0 ? 0.0f : c % 3 == 1 ? -0.0f : rnd();
        for (int64_t k = 0; k < in; k++) {
            got[k] = NAN; /* every pixel must be written */
            want[k] = with_start ? start[k / plane] : 0.0f;
        }
        got[in] = want[in] = 12345.0f;
        nn_col2im(g, col2, want);
        nn_col2im_set(g, col, got, with_start ? start : NULL);
        assert_memory_equal(got, want, (size_t)(in + 1) * sizeof(float));
    }
    free(col);
    free(col2);
    free(got);
    free(want);
    free(start);
}

static void check(const nn_conv_geometry *g)
{
    int64_t rows = g->channels * g->kernel_h * g->kernel_w, pixels = g->out_h * g->out_w;
    int64_t in = g->channels * g->h * g->w;
    float *image = malloc((size_t)(in + 1) * sizeof(float));
    float *col = malloc((size_t)(rows * pixels + 1) * sizeof(float));
    float *back = malloc((size_t)(in + 1) * sizeof(float));
    float *want = malloc((size_t)(in + 1) * sizeof(float));
    assert_true(image && col && back && want);
    for (int64_t k = 0; k < in; k++) {
        image[k] = rnd();
        back[k] = want[k] = k % 11 == 0 ? -0.0f : rnd(); /* stays -0 where nothing is added */
    }
    image[in] = back[in] = 12345.0f; /* sentinels past the end */
    for (int64_t k = 0; k <= rows * pixels; k++)
        col[k] = NAN; /* every entry must be written */
    col[rows * pixels] = 12345.0f;
    nn_im2col(g, image, col);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t p = 0; p < pixels; p++) {
            int64_t s = source_of(g, r, p);
            float expect = s < 0 ? 0.0f : image[s];
            if (memcmp(&col[r * pixels + p], &expect, sizeof expect) != 0) {
                fprintf(stderr, "im2col C%lld %lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld: col[%lld][%lld] = %g, want %g\n",
                        (long long)g->channels, (long long)g->h, (long long)g->w,
                        (long long)g->kernel_h, (long long)g->kernel_w, (long long)g->stride_h,
                        (long long)g->stride_w, (long long)g->pad_h, (long long)g->pad_w,
                        (long long)g->dil_h, (long long)g->dil_w, (long long)r, (long long)p,
                        col[r * pixels + p], expect);
                fail();
            }
        }
    assert_true(col[rows * pixels] == 12345.0f);
    /* col2im adds each entry to its source pixel, rows and pixels in order */
    for (int64_t k = 0; k < rows * pixels; k++)
        col[k] = rnd();
    nn_col2im(g, col, back);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t p = 0; p < pixels; p++) {
            int64_t s = source_of(g, r, p);
            if (s >= 0)
                want[s] += col[r * pixels + p];
        }
    assert_memory_equal(back, want, (size_t)in * sizeof(float));
    assert_true(back[in] == 12345.0f);
    check_set(g);
    free(image);
    free(col);
    free(back);
    free(want);
}

static void test_im2col_col2im_match_definition(void **state)
{
    (void)state;
    /* c, h, w, kh, kw, sh, sw, ph, pw, dh, dw */
    static const int64_t cases[][11] = {
        {3, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}, /* "same": whole-block copy */
        {2, 7, 5, 5, 3, 1, 1, 2, 1, 1, 1},   /* "same", rectangular */
        {2, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2},   /* "same" through dilation */
        {1, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1},
        {2, 6, 6, 1, 1, 1, 1, 0, 0, 1, 1},   /* 1x1 */
        {2, 5, 5, 1, 3, 1, 1, 3, 1, 1, 1},   /* out_w == w, padding beyond reach in h */
        {2, 3, 3, 3, 3, 1, 1, 3, 1, 1, 1},   /* rows with no valid pixel */
        {3, 11, 13, 3, 3, 1, 1, 0, 0, 1, 1}, /* valid: unit-stride rows */
        {2, 10, 21, 2, 4, 1, 1, 1, 0, 1, 1},
        {2, 10, 21, 3, 2, 1, 1, 0, 3, 1, 2},
        {3, 12, 12, 3, 3, 2, 2, 1, 1, 1, 1}, /* strided */
        {2, 13, 9, 4, 3, 3, 2, 2, 1, 1, 2},
        {1, 5, 40, 3, 5, 2, 1, 1, 2, 1, 1},  /* stride only vertical: row copies */
        {1, 40, 5, 3, 5, 1, 3, 1, 2, 1, 1},  /* stride only horizontal */
        {2, 4, 4, 3, 3, 1, 1, 4, 4, 1, 1},   /* mostly padding */
        {2, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1},   /* "same", one column: side taps see only padding */
        {2, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1},   /* "same", two columns */
        {2, 6, 5, 3, 3, 1, 1, 0, 2, 1, 2},   /* "same" in w only, dilated taps */
        {2, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1}, /* stride 2: four columns at a time */
        {2, 28, 28, 1, 1, 2, 2, 0, 0, 1, 1}, /* a 1x1 downsampling */
        {3, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1},
        {1, 9, 31, 3, 3, 2, 2, 1, 1, 1, 1},  /* odd width */
        {1, 7, 30, 5, 5, 2, 2, 2, 2, 1, 1},
        {1, 6, 40, 3, 3, 2, 2, 1, 1, 1, 3},  /* dilated, stride 2 */
        {1, 6, 41, 3, 3, 1, 2, 0, 5, 1, 1},  /* padding past the kernel's reach */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int64_t *a = cases[k];
        nn_conv_geometry g = geometry(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]);
        check(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_im2col_col2im_match_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
