/* Internal: the gate arithmetic of one time step of RNN / LSTM / GRU cells,
   PyTorch's equations, for `rows` rows (a slice of the batch) at a time.
   Vector loops (rnn_cells.inc) over contiguous row-major arrays; no
   allocation. The matrix products (x W_ih^T for every step at once,
   h W_hh^T per step) are the caller's; these add the biases, torch's
   (x W_ih^T + b_ih) + (h W_hh^T + b_hh), and combine them. H is the
   hidden size; b_ih and b_hh are both NULL (no bias) or both given.
   Sigmoid and tanh are the library's own, within a few ulp of libm's.
   Rows and units are independent, so a caller may split the batch over
   threads with bit-identical results. */
#ifndef NN_KERNELS_RNN_CELLS_H
#define NN_KERNELS_RNN_CELLS_H

#include <stdbool.h>
#include <stdint.h>

/* RNN: h = act((xw + b_ih) + (gh + b_hh)), act tanh or relu; xw, gh, h
   [rows, H] (h's rows ldh apart: here and below, ldh is the row stride
   of the arrays of hidden states, h and h_prev). RNN and LSTM take xw NULL when gh holds both products: the
   pre-activations are then (gh + b_ih) + b_hh. */
void nn_rnn_cell_forward(int64_t rows, int64_t H, const float *xw, const float *b_ih, const float *gh,
                         const float *b_hh, bool relu, float *h, int64_t ldh);
/* dg = dh * act'(.) from the step's result h: [rows, H]. */
void nn_rnn_cell_backward(int64_t rows, int64_t H, const float *h, int64_t ldh, const float *dh, bool relu, float *dg);

/* LSTM, gates in torch's order i, f, g, o: xw, gh [rows, 4H];
   cache [rows, 5H] gets sigmoid(i), sigmoid(f), tanh(g), sigmoid(o),
   tanh(c); c = f * c_prev + i * g; h = o * tanh(c). */
void nn_lstm_cell_forward(int64_t rows, int64_t H, const float *xw, const float *b_ih, const float *gh,
                          const float *b_hh, const float *c_prev, float *cache, float *c, float *h, int64_t ldh);
/* dh: dL/dh of the step [rows, H]; dc: in, dL/dc carried from the next
   step, out, dL/dc_prev; dg [rows, 4H]: dL/d(pre-activation gates). */
void nn_lstm_cell_backward(int64_t rows, int64_t H, const float *cache, const float *c_prev, const float *dh,
                           float *dc, float *dg);

/* GRU, gates r, z, n: xw, gh (both without bias) [rows, 3H];
   r = sigmoid((xw_r + b_ir) + (gh_r + b_hr)), z likewise,
   n = tanh((xw_n + b_in) + r * (gh_n + b_hn)), h = n + z * (h_prev - n);
   cache [rows, 4H] gets r, z, n, gh_n + b_hn; y (rows ldy apart), when
   not NULL, gets h too. */
void nn_gru_cell_forward(int64_t rows, int64_t H, const float *xw, const float *b_ih, const float *gh,
                         const float *b_hh, const float *h_prev, float *cache, float *h, int64_t ldh, float *y,
                         int64_t ldy);
/* dL/dh of the step is dy + dh: dy [rows, H] (rows ldy apart) the
   output's gradient, dh [rows, H] the one carried from the next step, and
   dh then gets the direct part of dL/dh_prev, dL/dh * z (the caller adds
   the hidden projection's gradient times W_hh). dg [rows, 4H] gets dn,
   dr, dz, dn * r: its first 3H columns are dL/d(input projection) with
   the gates in the order n, r, z, its last 3H dL/d(hidden projection
   incl. b_hh) in the order r, z, n. */
void nn_gru_cell_backward(int64_t rows, int64_t H, const float *cache, const float *h_prev, int64_t ldh,
                          const float *dy, int64_t ldy, float *dh, float *dg);

#endif
