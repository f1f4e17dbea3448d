/* Gate arithmetic of RNN / LSTM / GRU steps (rnn_cells.h). */
#include "kernels/rnn_cells.h"

#include <math.h>

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void nn_rnn_cell_forward(int64_t rows, int64_t H, const float *xw, const float *gh, const float *b_hh, bool relu,
                         float *h)
{
    for (int64_t r = 0; r < rows; r++, xw += H, gh += H, h += H)
        for (int64_t j = 0; j < H; j++) {
            float a = xw[j] + (b_hh ? gh[j] + b_hh[j] : gh[j]);
            h[j] = relu ? (a > 0.0f || isnan(a) ? a : 0.0f) : tanhf(a);
        }
}

void nn_rnn_cell_backward(int64_t rows, int64_t H, const float *h, const float *dh, bool relu, float *dg)
{
    int64_t n = rows * H;
    if (relu)
        for (int64_t i = 0; i < n; i++)
            dg[i] = h[i] > 0.0f ? dh[i] : 0.0f;
    else
        for (int64_t i = 0; i < n; i++)
            dg[i] = dh[i] * (1.0f - h[i] * h[i]);
}

void nn_lstm_cell_forward(int64_t rows, int64_t H, const float *xw, const float *gh, const float *b_hh,
                          const float *c_prev, float *cache, float *c, float *h)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *x = xw + r * 4 * H, *g = gh + r * 4 * H;
        float *k = cache + r * 5 * H;
        for (int64_t j = 0; j < 4 * H; j++) /* pre-activations, torch's (x W_ih^T + b_ih) + (h W_hh^T + b_hh) */
            k[j] = x[j] + (b_hh ? g[j] + b_hh[j] : g[j]);
        for (int64_t j = 0; j < H; j++) {
            k[j] = sigmoidf(k[j]);
            k[H + j] = sigmoidf(k[H + j]);
            k[2 * H + j] = tanhf(k[2 * H + j]);
            k[3 * H + j] = sigmoidf(k[3 * H + j]);
        }
        const float *cp = c_prev + r * H;
        float *cr = c + r * H, *hr = h + r * H;
        for (int64_t j = 0; j < H; j++) {
            float cy = k[H + j] * cp[j] + k[j] * k[2 * H + j];
            float tc = tanhf(cy);
            cr[j] = cy;
            k[4 * H + j] = tc;
            hr[j] = k[3 * H + j] * tc;
        }
    }
}

void nn_lstm_cell_backward(int64_t rows, int64_t H, const float *cache, const float *c_prev, const float *dh,
                           float *dc, float *dg)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *k = cache + r * 5 * H, *cp = c_prev + r * H, *d = dh + r * H;
        float *dcr = dc + r * H, *g = dg + r * 4 * H;
        for (int64_t j = 0; j < H; j++) {
            float i = k[j], f = k[H + j], gg = k[2 * H + j], o = k[3 * H + j], tc = k[4 * H + j];
            float dcy = dcr[j] + d[j] * o * (1.0f - tc * tc);
            g[j] = dcy * gg * i * (1.0f - i);
            g[H + j] = dcy * cp[j] * f * (1.0f - f);
            g[2 * H + j] = dcy * i * (1.0f - gg * gg);
            g[3 * H + j] = d[j] * tc * o * (1.0f - o);
            dcr[j] = dcy * f;
        }
    }
}

void nn_gru_cell_forward(int64_t rows, int64_t H, const float *xw, const float *gh, const float *b_hh,
                         const float *h_prev, float *cache, float *h)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *x = xw + r * 3 * H, *g = gh + r * 3 * H, *hp = h_prev + r * H;
        float *k = cache + r * 4 * H, *hr = h + r * H;
        for (int64_t j = 0; j < H; j++) {
            float rg = sigmoidf(x[j] + (b_hh ? g[j] + b_hh[j] : g[j]));
            float zg = sigmoidf(x[H + j] + (b_hh ? g[H + j] + b_hh[H + j] : g[H + j]));
            float hn = b_hh ? g[2 * H + j] + b_hh[2 * H + j] : g[2 * H + j];
            float n = tanhf(x[2 * H + j] + rg * hn);
            k[j] = rg;
            k[H + j] = zg;
            k[2 * H + j] = n;
            k[3 * H + j] = hn;
            hr[j] = n + zg * (hp[j] - n);
        }
    }
}

void nn_gru_cell_backward(int64_t rows, int64_t H, const float *cache, const float *h_prev, const float *dh,
                          float *dgi, float *dgh, float *dh_prev)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *k = cache + r * 4 * H, *hp = h_prev + r * H, *d = dh + r * H;
        float *gi = dgi + r * 3 * H, *gh = dgh + r * 3 * H, *dp = dh_prev + r * H;
        for (int64_t j = 0; j < H; j++) {
            float rg = k[j], zg = k[H + j], n = k[2 * H + j], hn = k[3 * H + j];
            float dn = d[j] * (1.0f - zg) * (1.0f - n * n);
            float dz = d[j] * (hp[j] - n) * zg * (1.0f - zg);
            float dr = dn * hn * rg * (1.0f - rg);
            gi[j] = dr;
            gi[H + j] = dz;
            gi[2 * H + j] = dn;
            gh[j] = dr;
            gh[H + j] = dz;
            gh[2 * H + j] = dn * rg;
            dp[j] = d[j] * zg;
        }
    }
}
