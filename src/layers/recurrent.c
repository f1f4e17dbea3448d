/* RNN / LSTM / GRU: the stacking of layers and directions and the time
   loop, shared by rnn.c, lstm.c and gru.c.

   Forward, per layer l and direction d (a "pair" k = l*D + d): the batch
   is split over the threads once, and each part runs every step for its
   rows with no synchronisation between steps (rows never mix; each value
   is computed the same way whatever the split, so results are
   bit-identical for any thread count). A step is one product with
   weights packed once per pass (nn_gemm_prepacked): LSTM and RNN
   [x_t | h_prev] [W_ih | W_hh]^T, GRU x_t W_ih^T and h_prev W_hh^T (its
   n gate needs them apart); then the cell's gate arithmetic
   (kernels/rnn_cells.c), which adds the biases. The pair keeps its
   hidden states in T+1 slots (slot 0 the initial state of the forward
   direction, slot T that of the reverse one; step t reads slot t / t+1
   and writes slot t+1 / t), each row [x_t | 1 | h] with the input of
   the step that reads the slot: the rows [X | 1 | H_prev] backward needs
   for dW_ih, db_ih, dW_hh, without a copy; plus the cell's gate cache
   per step.

   Backward, layers top down, each pair in reverse time order, the batch
   split as in forward: the gate gradients of every step land in one
   [T*N, G*H] block, and one product per step takes the hidden-state
   gradient back a step (LSTM, RNN: dG_t [W_hh | W_ih], which gives dx_t
   too). Then [dW_ih | db_ih | dW_hh]^T (+)= [X | 1 | H_prev]^T dG is one
   GEMM over all the steps (GRU: one more for its n gate, whose hidden
   part has its own gradients; its dx_t is a second product per step). Memory: the
   forward's caches (an arena sized for the shape, reused), the
   backward's scratch (another); nothing grows with the number of steps
   beyond them. */
#include <math.h>
#include <string.h>

#include "base/parallel_impl.h"
#include "kernels/kernels.h"
#include "kernels/rnn_cells.h"
#include "layers/recurrent.h"
#include "nn/random.h"

/* Layout of the forward arena (offsets in floats). */
typedef struct {
    int64_t T, N, F;
    bool unbatched, copy_x, drop;
    int64_t x0, xw, gh, out, out_sz, mask, msz, pair, pair_sz, hs, cs, cache, hfull, yb, hn, cn, total;
    /* packed W_hh^T (LSTM, RNN: [W_ih | W_hh]^T) and W_hr^T; the parts'
       scratch for packing A; LSTM, RNN: [W_ih | W_hh], GRU: W_ih^T packed */
    int64_t whh, whr, ws, ws_part, wcat;
    int parts;                     /* threads the batch is split over */
} fgeo;

/* Layout of the backward arena. */
typedef struct {
    bool copy_g;
    int64_t gy, dg, dy[2], dx0, dxb, dht, carry, dc, dhfull, dhp, dh0, dc0, total;
    int64_t whh, whr, ws, ws_part;
    int64_t ct; /* [X | 1 | H_prev]^T times the gate gradients */
    int64_t wcat, cx; /* [W_hh | W_ih], and a step's dG [W_hh | W_ih] (LSTM, RNN); GRU: W_ih packed, and W_ih with its
                         rows in the gate order n, r, z */
    int parts;
} bgeo;

typedef struct {
    nn_module base;
    nn_rec_config c;
    int L, D, G, np; /* layers, directions, gates, parameters per pair */
    int64_t H, P;    /* hidden size, size of h (proj_size or H) */
    nn_tensor h0, c0; /* initial state from nn_rnn_set_state (copies) */
    bool has_h0, has_c0;
    nn_tensor fa;    /* forward arena */
    nn_tensor input; /* the caller's x when read in place */
    nn_tensor out, h_n, c_n;
    fgeo fg;
    bool forwarded;
    nn_tensor dh_n, dc_n; /* dL/dh_n, dL/dc_n for the next backward (copies) */
    bool has_dh_n, has_dc_n;
    nn_tensor ba;    /* backward arena */
    nn_tensor dx, dh0, dc0;
    bool backwarded;
} recurrent;

static const char *class_of(const recurrent *r) { return nn_module_class(&r->base); }
static bool is_lstm(const recurrent *r) { return r->c.mode == NN_REC_LSTM; }
static bool is_gru(const recurrent *r) { return r->c.mode == NN_REC_GRU; }
static int64_t al(int64_t n) { return (n + 15) / 16 * 16; }

/* "LSTM(32, 128, ...)" for messages */
static const char *name_of(const recurrent *r, char *buf, size_t size)
{
    char extra[192];
    nn_recurrent_extra_repr(&r->base, extra, sizeof extra);
    snprintf(buf, size, "%s(%s)", class_of(r), extra);
    return buf;
}

/* --- parameters of pair k */
typedef struct {
    const float *w_ih, *w_hh, *b_ih, *b_hh, *w_hr;
    float *dw_ih, *dw_hh, *db_ih, *db_hh, *dw_hr;
} pair_params;

static pair_params params_of(const recurrent *r, int k)
{
    const nn_param *p = r->base.params + (size_t)k * (size_t)r->np;
    pair_params q = {p[0].value->data, p[1].value->data, NULL, NULL, NULL,
                     p[0].grad->data,  p[1].grad->data,  NULL, NULL, NULL};
    int i = 2;
    if (r->c.bias) {
        q.b_ih = p[2].value->data;
        q.b_hh = p[3].value->data;
        q.db_ih = p[2].grad->data;
        q.db_hh = p[3].grad->data;
        i = 4;
    }
    if (r->c.proj_size > 0) {
        q.w_hr = p[i].value->data;
        q.dw_hr = p[i].grad->data;
    }
    return q;
}

/* --- layouts; false when the sizes do not fit */
static bool place(int64_t *off, int64_t *at, double *shadow, double n)
{
    *shadow += n + 16;
    if (*shadow > 4e15)
        return false;
    *at = *off;
    *off += al((int64_t)n);
    return true;
}

/* The threads the time loop splits the batch over: each part runs every
   step for its rows, with no synchronisation between steps (rows are
   independent, and each of their values is computed the same way
   whatever the split). One part when the products are too small to pay
   for waking the pool. */
static int split_parts(const recurrent *r, int64_t N)
{
    int threads = nn_get_num_threads();
    double work = (double)N * (double)(r->G * r->H) * (double)r->P;
    if (threads <= 1 || N < 2 || work < 65536.0)
        return 1;
    return N < threads ? (int)N : threads;
}

static bool forward_layout(const recurrent *r, fgeo *g)
{
    double T = (double)g->T, N = (double)g->N, GH = (double)(r->G * r->H), DP = (double)(r->D * r->P),
           H = (double)r->H, P = (double)r->P, LD = (double)(r->L * r->D);
    int64_t off = 0;
    double s = 0;
    bool ok = place(&off, &g->x0, &s, g->copy_x ? T * N * (double)g->F : 0) &&
              place(&off, &g->xw, &s, is_gru(r) ? N * GH : 0) &&
              place(&off, &g->gh, &s, N * GH);
    g->out_sz = al(g->T * g->N * r->D * r->P);
    ok = ok && place(&off, &g->out, &s, (double)r->L * (double)g->out_sz);
    g->msz = g->drop ? g->out_sz : 0;
    ok = ok && place(&off, &g->mask, &s, 2.0 * (double)(r->L - 1) * (double)g->msz);
    /* a pair: hs, cs, cache, hfull */
    int64_t p = 0;
    double ps = 0;
    int64_t cg = is_lstm(r) ? 5 : is_gru(r) ? 4 : 0;
    double wide = ((double)g->F > DP ? (double)g->F : DP) + 1 + P; /* the widest [x_t | 1 | h] row */
    ok = ok && place(&p, &g->hs, &ps, (T + 1) * N * wide) && place(&p, &g->cs, &ps, is_lstm(r) ? (T + 1) * N * H : 0) &&
         place(&p, &g->cache, &ps, T * N * (double)cg * H) &&
         place(&p, &g->hfull, &ps, r->c.proj_size > 0 ? T * N * H : 0);
    g->pair_sz = p;
    if (ok) {
        g->parts = split_parts(r, g->N);
        /* LSTM, RNN: a step's product is [x_t | h_prev] [W_ih | W_hh]^T;
           GRU: x_t W_ih^T and h_prev W_hh^T */
        int64_t in = g->F > r->D * r->P ? g->F : r->D * r->P, K = is_gru(r) ? r->P : in + r->P;
        g->ws_part = al(nn_gemm_prepacked_ws_size(g->N, K > in ? K : in));
        if (r->c.proj_size > 0 && al(nn_gemm_prepacked_ws_size(g->N, r->H)) > g->ws_part)
            g->ws_part = al(nn_gemm_prepacked_ws_size(g->N, r->H));
        ok = place(&off, &g->wcat, &s, is_gru(r) ? (double)nn_gemm_packed_b_size(in, r->G * r->H) : GH * (double)K) &&
             place(&off, &g->whh, &s, (double)nn_gemm_packed_b_size(K, r->G * r->H)) &&
             place(&off, &g->whr, &s, r->c.proj_size > 0 ? (double)nn_gemm_packed_b_size(r->H, r->P) : 0) &&
             place(&off, &g->ws, &s, (double)g->parts * (double)g->ws_part);
    }
    ok = ok && place(&off, &g->pair, &s, LD * (double)p) &&
         place(&off, &g->yb, &s, r->c.batch_first && !g->unbatched ? T * N * DP : 0) &&
         place(&off, &g->hn, &s, LD * N * P) && place(&off, &g->cn, &s, is_lstm(r) ? LD * N * H : 0);
    g->total = off + 16;
    return ok;
}

static bool backward_layout(const recurrent *r, const fgeo *f, bgeo *b)
{
    double T = (double)f->T, N = (double)f->N, GH = (double)(r->G * r->H), DP = (double)(r->D * r->P),
           H = (double)r->H, P = (double)r->P, LD = (double)(r->L * r->D), F = (double)f->F;
    int64_t off = 0;
    double s = 0;
    bool proj = r->c.proj_size > 0, multi = r->L > 1;
    bool ok = place(&off, &b->gy, &s, b->copy_g ? T * N * DP : 0) && place(&off, &b->dg, &s, T * N * (is_gru(r) ? 4 * H : GH)) && place(&off, &b->dy[0], &s, multi ? T * N * DP : 0) &&
              place(&off, &b->dy[1], &s, multi ? T * N * DP : 0) && place(&off, &b->dx0, &s, T * N * F) &&
              place(&off, &b->dxb, &s, r->c.batch_first && !f->unbatched ? T * N * F : 0) &&
              place(&off, &b->dht, &s, N * P) && place(&off, &b->carry, &s, N * P) && place(&off, &b->dc, &s, N * H) &&
              place(&off, &b->dhfull, &s, proj ? N * H : 0) && place(&off, &b->dhp, &s, proj ? T * N * P : 0) &&
              place(&off, &b->dh0, &s, LD * N * P) && place(&off, &b->dc0, &s, is_lstm(r) ? LD * N * H : 0);
    if (ok) {
        b->parts = split_parts(r, f->N);
        b->ws_part = al(nn_gemm_prepacked_ws_size(f->N, r->G * r->H));
        if (proj && al(nn_gemm_prepacked_ws_size(f->N, r->P)) > b->ws_part)
            b->ws_part = al(nn_gemm_prepacked_ws_size(f->N, r->P));
        double wide = (F > DP ? F : DP) + 1 + P; /* the widest [X | 1 | H_prev] */
        ok = place(&off, &b->ct, &s, wide * GH + wide * H) &&
             place(&off, &b->wcat, &s, is_gru(r) ? (double)nn_gemm_packed_b_size(r->G * r->H, (int64_t)wide - 1 - r->P)
                                                 : GH * (wide - 1)) &&
             place(&off, &b->cx, &s, is_gru(r) ? GH * (wide - 1 - P) : N * (wide - 1)) &&
             place(&off, &b->whh, &s, (double)nn_gemm_packed_b_size(r->G * r->H, (int64_t)wide - 1)) &&
             place(&off, &b->whr, &s, proj ? (double)nn_gemm_packed_b_size(r->P, r->H) : 0) &&
             place(&off, &b->ws, &s, (double)b->parts * (double)b->ws_part);
    }
    b->total = off + 16;
    return ok;
}

/* t: a view into arena's storage at data, contiguous, of the given shape */
static void view_into(nn_tensor *t, const nn_tensor *arena, float *data, int ndim, const int64_t *shape)
{
    nn_tensor_retain_into(t, arena);
    t->data = data;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    nn_tensor_set_contiguous_strides(t);
}

/* --- the time loop over rows [b, e) of the batch, split across threads */
typedef struct {
    const recurrent *r;
    int64_t T, N;
    int d;
    pair_params q;
    const float *X, *whh, *whr, *DY; /* X: the layer's input [T, N, in] */
    float *xw, *gh, *hs, *cs, *cache, *hfull;       /* forward (xw: GRU's x_t W_ih^T) */
    float *Y; /* forward, GRU: the layer's output [T, N, D * P], the direction's columns written by the cell */
    const float *chs, *ccs, *ccache;                /* backward: the forward's */
    float *dG, *dh, *dhp, *dhfull, *carry, *dc; /* backward: dG [T, N, ldg] */
    int64_t ldg; /* GH; GRU: 4H, its rows [dn | dr | dz | dn r] */
    float *cx, *DX; /* backward with dX per step: [carry | dx_t] */
    const float *wih; /* GRU: W_ih^T packed (forward), W_ih packed (backward with dX per step) */
    int64_t in, ldh; /* ldh: the row stride of hs, chs (in + 1 + P) */
    bool add_dx;
    float *ws;
    int64_t ws_part;
} seq_job;

static void forward_seq(void *ctx, int64_t b, int64_t e, int tid)
{
    const seq_job *j = ctx;
    const recurrent *r = j->r;
    int64_t T = j->T, N = j->N, H = r->H, P = r->P, GH = r->G * H, n = e - b;
    bool proj = r->c.proj_size > 0;
    float *ws = j->ws + tid * j->ws_part, *gh = j->gh + b * GH;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = j->d == 0 ? s : T - 1 - s, in_slot = j->d == 0 ? t : t + 1, out_slot = j->d == 0 ? t + 1 : t;
        int64_t ldh = j->ldh;
        const float *hin = j->hs + (in_slot * N + b) * ldh, *xw = NULL;
        float *hout = j->hs + (out_slot * N + b) * ldh;
        const float *x = j->X + (t * N + b) * j->in;
        if (!is_gru(r)) { /* x W_ih^T + h W_hh^T, in gh */
            nn_gemm_prepacked_cat(n, GH, j->in, x, j->in, P, hin, ldh, j->whh, 0.0f, gh, GH, ws);
        } else {
            nn_gemm_prepacked(false, n, GH, j->in, 1.0f, x, j->in, j->wih, 0.0f, j->xw + b * GH, GH, ws);
            xw = j->xw + b * GH;
            nn_gemm_prepacked(false, n, GH, P, 1.0f, hin, ldh, j->whh, 0.0f, gh, GH, ws);
        }
        switch (r->c.mode) {
        case NN_REC_RNN_TANH:
        case NN_REC_RNN_RELU:
            nn_rnn_cell_forward(n, H, xw, j->q.b_ih, gh, j->q.b_hh, r->c.mode == NN_REC_RNN_RELU, hout, ldh);
            break;
        case NN_REC_LSTM: {
            float *hfull = proj ? j->hfull + (t * N + b) * H : hout;
            nn_lstm_cell_forward(n, H, xw, j->q.b_ih, gh, j->q.b_hh, j->cs + (in_slot * N + b) * H,
                                 j->cache + (t * N + b) * 5 * H, j->cs + (out_slot * N + b) * H, hfull,
                                 proj ? H : ldh);
            if (proj)
                nn_gemm_prepacked(false, n, P, H, 1.0f, hfull, H, j->whr, 0.0f, hout, ldh, ws);
            break;
        }
        case NN_REC_GRU:
            nn_gru_cell_forward(n, H, xw, j->q.b_ih, gh, j->q.b_hh, hin, j->cache + (t * N + b) * 4 * H, hout, ldh,
                                j->Y + (t * N + b) * r->D * P + j->d * P, r->D * P);
            break;
        }
    }
}

static void backward_seq(void *ctx, int64_t b, int64_t e, int tid)
{
    const seq_job *j = ctx;
    const recurrent *r = j->r;
    int64_t T = j->T, N = j->N, H = r->H, P = r->P, GH = r->G * H, DP = r->D * P, n = e - b;
    bool proj = r->c.proj_size > 0;
    float *ws = j->ws + tid * j->ws_part, *carry = j->carry + b * P;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = j->d == 0 ? T - 1 - s : s, in_slot = j->d == 0 ? t : t + 1, out_slot = j->d == 0 ? t + 1 : t;
        const float *dyt = j->DY + (t * N + b) * DP + j->d * P;
        float *dh = proj ? j->dhp + (t * N + b) * P : j->dh + b * P;
        if (!is_gru(r)) /* the GRU's cell adds them */
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < P; k++)
                    dh[i * P + k] = dyt[i * DP + k] + carry[i * P + k];
        /* the gradients of the gates' input and hidden projections (GRU:
           the first 3H of the row, gates n, r, z, and the last 3H) */
        float *dG = j->dG + (t * N + b) * j->ldg, *dGh = is_gru(r) ? dG + H : dG;
        switch (r->c.mode) {
        case NN_REC_RNN_TANH:
        case NN_REC_RNN_RELU:
            nn_rnn_cell_backward(n, H, j->chs + (out_slot * N + b) * j->ldh, j->ldh, dh, r->c.mode == NN_REC_RNN_RELU,
                                 dG);
            break;
        case NN_REC_LSTM:
            if (proj) {
                nn_gemm_prepacked(false, n, H, P, 1.0f, dh, P, j->whr, 0.0f, j->dhfull + b * H, H, ws);
                dh = j->dhfull + b * H;
            }
            nn_lstm_cell_backward(n, H, j->ccache + (t * N + b) * 5 * H, j->ccs + (in_slot * N + b) * H, dh,
                                  j->dc + b * H, dG);
            break;
        case NN_REC_GRU:
            nn_gru_cell_backward(n, H, j->ccache + (t * N + b) * 4 * H, j->chs + (in_slot * N + b) * j->ldh, j->ldh,
                                 dyt, DP, carry, dG);
            break;
        }
        if (!j->cx) {
            nn_gemm_prepacked(false, n, P, GH, 1.0f, dGh, j->ldg, j->whh, is_gru(r) ? 1.0f : 0.0f, carry, P, ws);
            if (j->wih) /* GRU: dx_t = dG_t W_ih while dG_t is in cache */
                nn_gemm_prepacked(false, n, j->in, GH, 1.0f, dG, j->ldg, j->wih, j->add_dx ? 1.0f : 0.0f,
                                  j->DX + (t * N + b) * j->in, j->in, ws);
            continue;
        }
        /* LSTM, RNN: dh_prev and dx_t from one product, dG_t packed once */
        int64_t in = j->in, w = P + in;
        float *cx = j->cx + b * w, *dx = j->DX + (t * N + b) * in;
        nn_gemm_prepacked(false, n, w, GH, 1.0f, dG, GH, j->whh, 0.0f, cx, w, ws);
        for (int64_t i = 0; i < n; i++) {
            memcpy(carry + i * P, cx + i * w, (size_t)P * sizeof(float));
            if (j->add_dx)
                for (int64_t k = 0; k < in; k++)
                    dx[i * in + k] += cx[i * w + P + k];
            else
                memcpy(dx + i * in, cx + i * w + P, (size_t)in * sizeof(float));
        }
    }
}

/* --- forward */
static void forward_pair(recurrent *r, const fgeo *g, float *A, int l, int d, const float *X, int64_t in)
{
    int k = l * r->D + d;
    pair_params q = params_of(r, k);
    int64_t T = g->T, N = g->N, H = r->H, P = r->P, GH = r->G * H, DP = r->D * P;
    float *xw = A + g->xw, *gh = A + g->gh, *pb = A + g->pair + k * g->pair_sz;
    float *xhs = pb + g->hs, *cs = pb + g->cs, *cache = pb + g->cache, *hfull = pb + g->hfull;
    bool proj = r->c.proj_size > 0;
    /* the slots' rows are [x_t | 1 | h] (W wide), x_t the input of the
       step that reads the slot's h (slot t forward, t + 1 reverse): the
       rows the backward's weight-gradient product reads, filled here so
       that it needs no copy; hs points at the h part */
    int64_t W = in + 1 + P, first = d == 0 ? 0 : T; /* the slot of the initial state */
    float *hs = xhs + in + 1;
    for (int64_t t = 0; t < T; t++) {
        float *row = xhs + (d == 0 ? t : t + 1) * N * W;
        for (int64_t n = 0; n < N; n++) {
            memcpy(row + n * W, X + (t * N + n) * in, (size_t)in * sizeof(float));
            row[n * W + in] = 1.0f;
        }
    }
    for (int64_t n = 0; n < N; n++) {
        float *h = hs + (first * N + n) * W;
        if (r->has_h0)
            memcpy(h, r->h0.data + (k * N + n) * P, (size_t)P * sizeof(float));
        else
            memset(h, 0, (size_t)P * sizeof(float));
    }
    if (is_lstm(r)) {
        if (r->has_c0)
            memcpy(cs + first * N * H, r->c0.data + k * N * H, (size_t)(N * H) * sizeof(float));
        else
            memset(cs + first * N * H, 0, (size_t)(N * H) * sizeof(float));
    }
    if (is_gru(r)) { /* its n gate needs x W_ih^T apart */
        nn_gemm_prepack_b(true, P, GH, q.w_hh, P, A + g->whh);
        nn_gemm_prepack_b(true, in, GH, q.w_ih, in, A + g->wcat);
    } else {
        float *wc = A + g->wcat;
        for (int64_t i = 0; i < GH; i++) {
            memcpy(wc + i * (in + P), q.w_ih + i * in, (size_t)in * sizeof(float));
            memcpy(wc + i * (in + P) + in, q.w_hh + i * P, (size_t)P * sizeof(float));
        }
        nn_gemm_prepack_b(true, in + P, GH, wc, in + P, A + g->whh);
    }
    if (proj)
        nn_gemm_prepack_b(true, H, P, q.w_hr, H, A + g->whr);
    seq_job j = {.r = r, .T = T, .N = N, .d = d, .q = q, .xw = xw, .X = X, .in = in, .wih = A + g->wcat,
                 .whh = A + g->whh, .whr = A + g->whr, .gh = gh, .hs = hs, .cs = cs, .cache = cache, .hfull = hfull,
                 .ws = A + g->ws, .ws_part = g->ws_part, .ldh = W, .Y = A + g->out + l * g->out_sz};
    nn_parallel_for(N, 1, g->parts, forward_seq, &j);
    float *out = A + g->out + l * g->out_sz;
    for (int64_t t = 0; t < T && !is_gru(r); t++) { /* the GRU's cell wrote them */
        const float *src = hs + (d == 0 ? t + 1 : t) * N * W;
        for (int64_t n = 0; n < N; n++)
            memcpy(out + (t * N + n) * DP + d * P, src + n * W, (size_t)P * sizeof(float));
    }
    int64_t last = d == 0 ? T : 0;
    for (int64_t n = 0; n < N; n++)
        memcpy(A + g->hn + (k * N + n) * P, hs + (last * N + n) * W, (size_t)P * sizeof(float));
    if (is_lstm(r))
        memcpy(A + g->cn + k * N * H, cs + last * N * H, (size_t)(N * H) * sizeof(float));
}

/* The input of layer l: x (time-major) for 0, else the layer below's
   output, with dropout's mask applied when it was drawn. */
static const float *layer_input(const recurrent *r, const fgeo *g, const float *A, int l, int64_t *in)
{
    if (l == 0) {
        *in = g->F;
        return g->copy_x ? A + g->x0 : r->input.data;
    }
    *in = r->D * r->P;
    return g->drop ? A + g->mask + (2 * (l - 1) + 1) * g->msz : A + g->out + (l - 1) * g->out_sz;
}

/* x viewed time-major: [T, N, F] with batch_first's two dims swapped, or
   [T, 1, F] for unbatched input */
static nn_tensor time_major(const nn_tensor *x, bool batch_first)
{
    nn_tensor v = *x;
    if (x->ndim == 2) {
        v.ndim = 3;
        v.shape[2] = x->shape[1];
        v.stride[2] = x->stride[1];
        v.shape[1] = 1;
        v.stride[1] = 0;
    } else if (batch_first) {
        v.shape[0] = x->shape[1];
        v.shape[1] = x->shape[0];
        v.stride[0] = x->stride[1];
        v.stride[1] = x->stride[0];
    }
    return v;
}

static int check_state(const recurrent *r, const nn_tensor *s, const char *what, int64_t N, bool unbatched,
                       int64_t last)
{
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN], nm[256];
    int64_t want[3] = {(int64_t)r->L * r->D, N, last};
    int wn = 3;
    if (unbatched) {
        want[1] = last;
        wn = 2;
    }
    if (s->ndim == wn && s->shape[0] == want[0] && s->shape[wn - 1] == want[wn - 1] && (unbatched || s->shape[1] == N))
        return NN_OK;
    return nn_fail(NN_ESHAPE, "nn_forward: %s expected %s of shape %s for input with %s, got %s (given by nn_rnn_set_state)",
                   name_of(r, nm, sizeof nm), what, nn_shape_str(wn, want, a),
                   unbatched ? "no batch dimension" : "batch size N", nn_shape_str(s->ndim, s->shape, b));
}

nn_tensor *nn_recurrent_forward(nn_module *m, const nn_tensor *x)
{
    recurrent *r = (recurrent *)m;
    char a[NN_SHAPE_STR_LEN], nm[256];
    if ((x->ndim != 2 && x->ndim != 3) || x->shape[x->ndim - 1] != r->c.input_size)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s expected input of shape %s (or unbatched [T, %lld]), got %s",
                            name_of(r, nm, sizeof nm), r->c.batch_first ? "[N, T, input_size]" : "[T, N, input_size]",
                            (long long)r->c.input_size, nn_tensor_shape_str(x, a));
    fgeo g = {.F = x->shape[x->ndim - 1], .unbatched = x->ndim == 2};
    g.T = g.unbatched || !r->c.batch_first ? x->shape[0] : x->shape[1];
    g.N = g.unbatched ? 1 : r->c.batch_first ? x->shape[0] : x->shape[1];
    if (g.T == 0)
        return nn_fail_null(NN_ESHAPE, "nn_forward: %s: expected sequence length to be larger than 0, got input of shape %s",
                            name_of(r, nm, sizeof nm), nn_tensor_shape_str(x, a));
    if ((r->has_h0 && check_state(r, &r->h0, "h0", g.N, g.unbatched, r->P) < 0) ||
        (r->has_c0 && check_state(r, &r->c0, "c0", g.N, g.unbatched, r->H) < 0))
        return NULL;
    g.copy_x = !nn_tensor_is_contiguous(x) || (r->c.batch_first && !g.unbatched && g.N > 1 && g.T > 1);
    g.drop = m->training && r->c.dropout > 0.0f && r->L > 1;
    if (!forward_layout(r, &g))
        return nn_fail_null(NN_ENOMEM, "nn_forward: %s: the caches for input of shape %s do not fit in memory",
                            name_of(r, nm, sizeof nm), nn_tensor_shape_str(x, a));
    /* one allocation (when the arena must grow, or holds x), before any change */
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, x);
    if (nn_tensor_resize(&r->fa, 1, &g.total, &src) < 0) {
        nn_tensor_release(&src);
        return nn_fail_context_null("nn_forward: %s", name_of(r, nm, sizeof nm));
    }
    if (g.copy_x)
        nn_tensor_release(&r->input);
    else
        nn_tensor_retain_into(&r->input, &src);
    float *A = r->fa.data;
    if (g.copy_x) {
        nn_tensor v = time_major(&src, r->c.batch_first);
        nn_tensor_gather(&v, A + g.x0);
    }
    nn_tensor_release(&src);
    r->fg = g;
    int64_t T = g.T, N = g.N, DP = r->D * r->P;
    for (int l = 0; l < r->L && N > 0; l++) {
        int64_t in;
        const float *X = layer_input(r, &g, A, l, &in);
        for (int d = 0; d < r->D; d++)
            forward_pair(r, &g, A, l, d, X, in);
        if (g.drop && l < r->L - 1) { /* the mask, then the masked output the next layer reads */
            float *out = A + g.out + l * g.out_sz, *mk = A + g.mask + 2 * l * g.msz, *dr = mk + g.msz;
            float p = r->c.dropout, scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
            for (int64_t i = 0; i < T * N * DP; i++) {
                double u = (double)(nn_random_u32() & 0xFFFFFFu) / 16777216.0;
                mk[i] = u < (double)p ? 0.0f : scale;
                dr[i] = out[i] * mk[i];
            }
        }
    }
    float *last = A + g.out + (r->L - 1) * g.out_sz;
    if (g.unbatched) {
        view_into(&r->out, &r->fa, last, 2, (int64_t[]){T, DP});
    } else if (r->c.batch_first) {
        float *y = A + g.yb;
        for (int64_t n = 0; n < N; n++)
            for (int64_t t = 0; t < T; t++)
                memcpy(y + (n * T + t) * DP, last + (t * N + n) * DP, (size_t)DP * sizeof(float));
        view_into(&r->out, &r->fa, y, 3, (int64_t[]){N, T, DP});
    } else {
        view_into(&r->out, &r->fa, last, 3, (int64_t[]){T, N, DP});
    }
    int64_t LD = (int64_t)r->L * r->D;
    if (g.unbatched)
        view_into(&r->h_n, &r->fa, A + g.hn, 2, (int64_t[]){LD, r->P});
    else
        view_into(&r->h_n, &r->fa, A + g.hn, 3, (int64_t[]){LD, N, r->P});
    if (is_lstm(r)) {
        if (g.unbatched)
            view_into(&r->c_n, &r->fa, A + g.cn, 2, (int64_t[]){LD, r->H});
        else
            view_into(&r->c_n, &r->fa, A + g.cn, 3, (int64_t[]){LD, N, r->H});
    }
    r->forwarded = true;
    r->backwarded = false;
    r->has_dh_n = r->has_dc_n = false;
    return &r->out;
}

/* --- backward */
static void backward_pair(recurrent *r, const bgeo *b, float *B, int l, int d, const float *DY, int64_t in, float *DX,
                          bool need_dx)
{
    const fgeo *g = &r->fg;
    int k = l * r->D + d;
    pair_params q = params_of(r, k);
    int64_t T = g->T, N = g->N, H = r->H, P = r->P, GH = r->G * H;
    const float *A = r->fa.data;
    const float *pb = A + g->pair + k * g->pair_sz;
    int64_t W = in + 1 + P; /* the forward's rows [x_t | 1 | h] */
    const float *xhs = pb + g->hs, *cs = pb + g->cs, *cache = pb + g->cache, *hfull = pb + g->hfull;
    int64_t ldg = is_gru(r) ? 4 * H : GH;
    float *dG = B + b->dg, *dGh = is_gru(r) ? dG + H : dG, *carry = B + b->carry, *dc = B + b->dc;
    bool proj = r->c.proj_size > 0;
    if (r->has_dh_n) /* the loss's own gradient for the final state */
        memcpy(carry, r->dh_n.data + k * N * P, (size_t)(N * P) * sizeof(float));
    else
        memset(carry, 0, (size_t)(N * P) * sizeof(float));
    if (is_lstm(r) && r->has_dc_n)
        memcpy(dc, r->dc_n.data + k * N * H, (size_t)(N * H) * sizeof(float));
    else if (is_lstm(r))
        memset(dc, 0, (size_t)(N * H) * sizeof(float));
    bool fuse_dx = need_dx && !is_gru(r);
    if (fuse_dx) { /* [W_hh | W_ih]: the step's product gives dx_t too */
        float *wc = B + b->wcat;
        for (int64_t i = 0; i < GH; i++) {
            memcpy(wc + i * (P + in), q.w_hh + i * P, (size_t)P * sizeof(float));
            memcpy(wc + i * (P + in) + P, q.w_ih + i * in, (size_t)in * sizeof(float));
        }
        nn_gemm_prepack_b(false, GH, P + in, wc, P + in, B + b->whh);
    } else {
        nn_gemm_prepack_b(false, GH, P, q.w_hh, P, B + b->whh);
        if (need_dx) { /* GRU: W_ih's rows in the gate order of dG, n, r, z */
            float *wp = B + b->cx;
            memcpy(wp, q.w_ih + 2 * H * in, (size_t)(H * in) * sizeof(float));
            memcpy(wp + H * in, q.w_ih, (size_t)(2 * H * in) * sizeof(float));
            nn_gemm_prepack_b(false, GH, in, wp, in, B + b->wcat);
        }
    }
    if (proj)
        nn_gemm_prepack_b(false, P, H, q.w_hr, H, B + b->whr);
    seq_job j = {.r = r, .T = T, .N = N, .d = d, .q = q, .DY = DY, .whh = B + b->whh, .whr = B + b->whr,
                 .chs = xhs + in + 1, .ldh = W, .ccs = cs, .ccache = cache, .dG = dG, .ldg = ldg, .dh = B + b->dht,
                 .dhp = B + b->dhp,
                 .dhfull = B + b->dhfull, .carry = carry, .dc = dc, .ws = B + b->ws, .ws_part = b->ws_part,
                 .cx = fuse_dx ? B + b->cx : NULL, .DX = DX, .in = in, .add_dx = d != 0,
                 .wih = need_dx && !fuse_dx ? B + b->wcat : NULL};
    nn_parallel_for(N, 1, b->parts, backward_seq, &j);
    memcpy(B + b->dh0 + k * N * P, carry, (size_t)(N * P) * sizeof(float));
    if (is_lstm(r))
        memcpy(B + b->dc0 + k * N * H, dc, (size_t)(N * H) * sizeof(float));
    /* the weight and bias gradients of all steps at once, transposed:
       [dW_ih | db_ih | (db_hh) | dW_hh]^T = [X | 1 | H_prev]^T dGh,
       one product (GRU: two, its hidden gradients differ), the gate
       gradients read row by row */
    int64_t rows = T * N;
    float *ct = B + b->ct;
    const float *xh = xhs + (d == 0 ? 0 : N * W); /* the forward filled the rows */
    /* GRU: dGh differs from dG in the n gate only (dn r, not dn), so
       [X | 1 | H_prev]^T dGh is right but for the n gate of dW_ih, db_ih,
       which [X | 1]^T dG_n then gives (ctn) */
    const float *cw_ih = ct, *cb_ih = ct + in * GH, *cw_hh = cb_ih + GH, *ctn = ct + W * GH;
    nn_gemm(true, false, W, GH, rows, 1.0f, xh, W, dGh, ldg, 0.0f, ct, GH);
    int64_t gi_end = GH; /* gates of dW_ih, db_ih read from ct */
    if (is_gru(r)) {
        nn_gemm(true, false, in + 1, H, rows, 1.0f, xh, W, dG, ldg, 0.0f, B + b->ct + W * GH, H);
        gi_end = 2 * H;
    }
    for (int64_t i = 0; i < GH; i++) {
        const float *ci = i < gi_end ? cw_ih + i : ctn + (i - gi_end);
        int64_t ld = i < gi_end ? GH : H;
        for (int64_t c = 0; c < in; c++)
            q.dw_ih[i * in + c] += ci[c * ld];
        for (int64_t c = 0; c < P; c++)
            q.dw_hh[i * P + c] += cw_hh[c * GH + i];
        if (q.db_ih) {
            q.db_ih[i] += ci[in * ld];
            q.db_hh[i] += cb_ih[i];
        }
    }
    if (proj)
        nn_gemm(true, false, P, H, rows, 1.0f, B + b->dhp, P, hfull, H, 1.0f, q.dw_hr, H);
}

nn_tensor *nn_recurrent_backward_ex(nn_module *m, const nn_tensor *g, bool need_dx)
{
    recurrent *r = (recurrent *)m;
    char a[NN_SHAPE_STR_LEN], c[NN_SHAPE_STR_LEN], nm[256];
    if (!r->forwarded)
        return nn_fail_null(NN_EINVAL, "nn_backward: %s called before forward", name_of(r, nm, sizeof nm));
    if (!nn_tensor_same_shape(g, &r->out))
        return nn_fail_null(NN_ESHAPE, "nn_backward: %s expected grad_out of shape %s, got %s", name_of(r, nm, sizeof nm),
                            nn_tensor_shape_str(&r->out, a), nn_tensor_shape_str(g, c));
    const fgeo *f = &r->fg;
    bgeo b = {.copy_g = !nn_tensor_is_contiguous(g) || (r->c.batch_first && !f->unbatched && f->N > 1 && f->T > 1)};
    if (!backward_layout(r, f, &b))
        return nn_fail_null(NN_ENOMEM, "nn_backward: %s: the scratch for grad_out of shape %s does not fit in memory",
                            name_of(r, nm, sizeof nm), nn_tensor_shape_str(g, a));
    nn_tensor src = {0};
    nn_tensor_retain_into(&src, g);
    if (nn_tensor_resize(&r->ba, 1, &b.total, &src) < 0) {
        nn_tensor_release(&src);
        return nn_fail_context_null("nn_backward: %s", name_of(r, nm, sizeof nm));
    }
    float *B = r->ba.data;
    const float *GY = src.data;
    if (b.copy_g) {
        nn_tensor v = time_major(&src, r->c.batch_first);
        nn_tensor_gather(&v, B + b.gy);
        GY = B + b.gy;
    }
    int64_t T = f->T, N = f->N, DP = r->D * r->P, F = f->F, LD = (int64_t)r->L * r->D;
    for (int l = r->L - 1; l >= 0 && N > 0; l--) {
        const float *DY = l == r->L - 1 ? GY : B + b.dy[(l + 1) & 1];
        int64_t in = l == 0 ? f->F : r->D * r->P;
        float *DX = l == 0 ? B + b.dx0 : B + b.dy[l & 1];
        bool need = l > 0 || need_dx;
        for (int d = 0; d < r->D; d++)
            backward_pair(r, &b, B, l, d, DY, in, DX, need);
        if (l > 0 && f->drop) {
            const float *mk = r->fa.data + f->mask + 2 * (l - 1) * f->msz;
            for (int64_t i = 0; i < T * N * DP; i++)
                DX[i] *= mk[i];
        }
    }
    nn_tensor_release(&src);
    if (need_dx) {
        float *dx = B + b.dx0;
        if (f->unbatched) {
            view_into(&r->dx, &r->ba, dx, 2, (int64_t[]){T, F});
        } else if (r->c.batch_first) {
            float *y = B + b.dxb;
            for (int64_t n = 0; n < N; n++)
                for (int64_t t = 0; t < T; t++)
                    memcpy(y + (n * T + t) * F, dx + (t * N + n) * F, (size_t)F * sizeof(float));
            view_into(&r->dx, &r->ba, y, 3, (int64_t[]){N, T, F});
        } else {
            view_into(&r->dx, &r->ba, dx, 3, (int64_t[]){T, N, F});
        }
    }
    if (f->unbatched)
        view_into(&r->dh0, &r->ba, B + b.dh0, 2, (int64_t[]){LD, r->P});
    else
        view_into(&r->dh0, &r->ba, B + b.dh0, 3, (int64_t[]){LD, N, r->P});
    if (is_lstm(r)) {
        if (f->unbatched)
            view_into(&r->dc0, &r->ba, B + b.dc0, 2, (int64_t[]){LD, r->H});
        else
            view_into(&r->dc0, &r->ba, B + b.dc0, 3, (int64_t[]){LD, N, r->H});
    }
    r->backwarded = true;
    return &r->dx;
}

nn_tensor *nn_recurrent_backward(nn_module *m, const nn_tensor *g) { return nn_recurrent_backward_ex(m, g, true); }

/* --- printing, freeing */
int nn_recurrent_extra_repr(const nn_module *m, char *buf, size_t size)
{
    const nn_rec_config *c = &((const recurrent *)m)->c;
    char more[256] = "", p[NN_REPR_FLOAT_LEN];
    size_t n = 0;
#define MORE(...) n += (size_t)snprintf(more + n, n < sizeof more ? sizeof more - n : 0, __VA_ARGS__)
    if (c->proj_size != 0)
        MORE(", proj_size=%lld", (long long)c->proj_size);
    if (c->num_layers != 1)
        MORE(", num_layers=%d", c->num_layers);
    if (!c->bias)
        MORE(", bias=False");
    if (c->batch_first)
        MORE(", batch_first=True");
    if (c->dropout != 0.0f)
        MORE(", dropout=%s", nn_repr_float(c->dropout, p));
    if (c->bidirectional)
        MORE(", bidirectional=True");
#undef MORE
    return snprintf(buf, size, "%lld, %lld%s", (long long)c->input_size, (long long)c->hidden_size, more);
}

void nn_recurrent_destroy(nn_module *m)
{
    recurrent *r = (recurrent *)m;
    nn_tensor *slots[] = {&r->h0, &r->c0, &r->fa, &r->input, &r->out, &r->h_n, &r->c_n,
                          &r->dh_n, &r->dc_n, &r->ba, &r->dx, &r->dh0, &r->dc0};
    for (size_t i = 0; i < sizeof slots / sizeof *slots; i++)
        nn_tensor_release(slots[i]);
}

/* --- construction */
nn_module *nn_recurrent_new(const nn_rec_config *c, const nn_module_ops *ops, const char *fn)
{
    if (c->input_size <= 0)
        return nn_fail_null(NN_EINVAL, "%s: input_size must be greater than zero, got %lld", fn, (long long)c->input_size);
    if (c->hidden_size <= 0)
        return nn_fail_null(NN_EINVAL, "%s: hidden_size must be greater than zero, got %lld", fn,
                            (long long)c->hidden_size);
    if (c->num_layers <= 0)
        return nn_fail_null(NN_EINVAL, "%s: num_layers must be greater than zero, got %d", fn, c->num_layers);
    if (!(c->dropout >= 0.0f && c->dropout <= 1.0f))
        return nn_fail_null(NN_EINVAL, "%s: dropout should be a number in range [0, 1] representing the probability "
                            "of an element being zeroed, got %g", fn, (double)c->dropout);
    if (c->proj_size < 0)
        return nn_fail_null(NN_EINVAL, "%s: proj_size should be a positive integer or zero to disable projections, got %lld",
                            fn, (long long)c->proj_size);
    if (c->proj_size >= c->hidden_size)
        return nn_fail_null(NN_EINVAL, "%s: proj_size has to be smaller than hidden_size, got proj_size %lld and "
                            "hidden_size %lld", fn, (long long)c->proj_size, (long long)c->hidden_size);
    int G = c->mode == NN_REC_LSTM ? 4 : c->mode == NN_REC_GRU ? 3 : 1, D = c->bidirectional ? 2 : 1;
    int64_t H = c->hidden_size, P = c->proj_size > 0 ? c->proj_size : H;
    int64_t widest = c->input_size > D * P ? c->input_size : D * P;
    if (c->num_layers > 65536 || H > ((int64_t)1 << 40) || nn_shape_numel(NN_SHAPE(G * H, widest)) < 0)
        return nn_fail_null(NN_EINVAL, "%s: weights of input_size %lld, hidden_size %lld, num_layers %d are too large", fn,
                            (long long)c->input_size, (long long)H, c->num_layers);
    recurrent *r = nn_alloc_zeroed(1, sizeof *r);
    if (!r)
        return nn_fail_context_null("%s", fn);
    NN_MODULE_INIT(&r->base, ops);
    r->c = *c;
    r->L = c->num_layers;
    r->D = D;
    r->G = G;
    r->H = H;
    r->P = P;
    r->np = 2 + (c->bias ? 2 : 0) + (c->proj_size > 0 ? 1 : 0);
    bool ok = true;
    for (int l = 0; l < r->L && ok; l++)
        for (int d = 0; d < D && ok; d++) {
            const char *sfx = d ? "_reverse" : "";
            int64_t in = l == 0 ? c->input_size : D * P;
            char name[64];
            snprintf(name, sizeof name, "weight_ih_l%d%s", l, sfx);
            ok = nn_module_add_param(&r->base, name, NN_SHAPE(G * H, in)) != NULL;
            snprintf(name, sizeof name, "weight_hh_l%d%s", l, sfx);
            ok = ok && nn_module_add_param(&r->base, name, NN_SHAPE(G * H, P)) != NULL;
            if (c->bias) {
                snprintf(name, sizeof name, "bias_ih_l%d%s", l, sfx);
                ok = ok && nn_module_add_param(&r->base, name, NN_SHAPE(G * H)) != NULL;
                snprintf(name, sizeof name, "bias_hh_l%d%s", l, sfx);
                ok = ok && nn_module_add_param(&r->base, name, NN_SHAPE(G * H)) != NULL;
            }
            if (c->proj_size > 0) {
                snprintf(name, sizeof name, "weight_hr_l%d%s", l, sfx);
                ok = ok && nn_module_add_param(&r->base, name, NN_SHAPE(P, H)) != NULL;
            }
        }
    if (!ok) {
        nn_module_free(&r->base);
        return nn_fail_context_null("%s", fn);
    }
    /* torch's reset_parameters: every parameter in order from U(-stdv, stdv) */
    double stdv = 1.0 / sqrt((double)H);
    for (int i = 0; i < r->base.n_params; i++)
        nn_init_uniform(r->base.params[i].value, stdv);
    return &r->base;
}

/* --- the state */
static recurrent *recurrent_of(nn_module *m, const char *fn)
{
    if (!m)
        return nn_fail_null(NN_EINVAL, "%s: module is NULL", fn);
    if (m->ops->forward != nn_recurrent_forward)
        return nn_fail_null(NN_EINVAL, "%s: expected an RNN, LSTM or GRU, got %s", fn, nn_module_class(m));
    return (recurrent *)m;
}

static int check_given(const recurrent *r, const nn_tensor *t, const char *what, int64_t last)
{
    char a[NN_SHAPE_STR_LEN], nm[256];
    int64_t LD = (int64_t)r->L * r->D;
    if (nn_tensor_check("nn_rnn_set_state", what, t) < 0)
        return NN_EINVAL;
    if ((t->ndim != 2 && t->ndim != 3) || t->shape[0] != LD || t->shape[t->ndim - 1] != last)
        return nn_fail(NN_ESHAPE, "nn_rnn_set_state: %s expected %s of shape [%lld, N, %lld] (or [%lld, %lld] for "
                       "unbatched input), got %s", name_of(r, nm, sizeof nm), what, (long long)LD, (long long)last,
                       (long long)LD, (long long)last, nn_tensor_shape_str(t, a));
    return NN_OK;
}

static bool fits(const nn_tensor *slot, const nn_tensor *t)
{
    return slot->storage && slot->storage->capacity >= nn_tensor_numel(t);
}

/* Copies a into slot sa and b (may be NULL) into sb; when a slot must grow,
   the room is made in fresh slots first, so that a failure changes nothing. */
static int store_copies(nn_tensor *sa, const nn_tensor *a, nn_tensor *sb, const nn_tensor *b)
{
    nn_tensor na = {0}, nb = {0};
    bool grow_a = !fits(sa, a), grow_b = b && !fits(sb, b);
    if ((grow_a && nn_tensor_resize(&na, a->ndim, a->shape, NULL) < 0) ||
        (grow_b && nn_tensor_resize(&nb, b->ndim, b->shape, NULL) < 0)) {
        nn_tensor_release(&na);
        nn_tensor_release(&nb);
        return nn_last_status();
    }
    if (grow_a) {
        nn_tensor_release(sa);
        *sa = na;
    }
    if (grow_b) {
        nn_tensor_release(sb);
        *sb = nb;
    }
    nn_tensor_resize(sa, a->ndim, a->shape, NULL); /* fits: cannot fail */
    nn_tensor_gather(a, sa->data);
    if (b) {
        nn_tensor_resize(sb, b->ndim, b->shape, NULL);
        nn_tensor_gather(b, sb->data);
    }
    return NN_OK;
}

int nn_rnn_set_state(nn_module *m, const nn_tensor *h0, const nn_tensor *c0)
{
    recurrent *r = recurrent_of(m, "nn_rnn_set_state");
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN], nm[256];
    if (!r)
        return NN_EINVAL;
    if (c0 && !is_lstm(r))
        return nn_fail(NN_EINVAL, "nn_rnn_set_state: %s has no cell state: c0 must be NULL", name_of(r, nm, sizeof nm));
    if (!h0) {
        if (c0)
            return nn_fail(NN_EINVAL, "nn_rnn_set_state: %s: c0 given without h0", name_of(r, nm, sizeof nm));
        r->has_h0 = r->has_c0 = false;
        return NN_OK;
    }
    if (check_given(r, h0, "h0", r->P) < 0 || (c0 && check_given(r, c0, "c0", r->H) < 0))
        return nn_last_status();
    if (c0 && (c0->ndim != h0->ndim || (h0->ndim == 3 && c0->shape[1] != h0->shape[1])))
        return nn_fail(NN_ESHAPE, "nn_rnn_set_state: %s: h0 of shape %s and c0 of shape %s differ in batch size",
                       name_of(r, nm, sizeof nm), nn_tensor_shape_str(h0, a), nn_tensor_shape_str(c0, b));
    if (store_copies(&r->h0, h0, &r->c0, c0) < 0)
        return nn_fail_context(nn_last_status(), "nn_rnn_set_state");
    r->has_h0 = true;
    r->has_c0 = c0 != NULL;
    return NN_OK;
}

int nn_rnn_final_state(nn_module *m, nn_tensor **h_n, nn_tensor **c_n)
{
    recurrent *r = recurrent_of(m, "nn_rnn_final_state");
    char nm[256];
    if (!r)
        return NN_EINVAL;
    if (!r->forwarded)
        return nn_fail(NN_EINVAL, "nn_rnn_final_state: %s has not run a forward yet", name_of(r, nm, sizeof nm));
    if (h_n)
        *h_n = &r->h_n;
    if (c_n)
        *c_n = is_lstm(r) ? &r->c_n : NULL;
    return NN_OK;
}

int nn_rnn_state_grad(nn_module *m, nn_tensor **dh0, nn_tensor **dc0)
{
    recurrent *r = recurrent_of(m, "nn_rnn_state_grad");
    char nm[256];
    if (!r)
        return NN_EINVAL;
    if (!r->backwarded)
        return nn_fail(NN_EINVAL, "nn_rnn_state_grad: %s has not run a backward since its last forward",
                       name_of(r, nm, sizeof nm));
    if (dh0)
        *dh0 = &r->dh0;
    if (dc0)
        *dc0 = is_lstm(r) ? &r->dc0 : NULL;
    return NN_OK;
}

int nn_rnn_set_final_state_grad(nn_module *m, const nn_tensor *dh_n, const nn_tensor *dc_n)
{
    recurrent *r = recurrent_of(m, "nn_rnn_set_final_state_grad");
    char a[NN_SHAPE_STR_LEN], b[NN_SHAPE_STR_LEN], nm[256];
    if (!r)
        return NN_EINVAL;
    if (!r->forwarded)
        return nn_fail(NN_EINVAL, "nn_rnn_set_final_state_grad: %s has not run a forward yet", name_of(r, nm, sizeof nm));
    if (dc_n && !is_lstm(r))
        return nn_fail(NN_EINVAL, "nn_rnn_set_final_state_grad: %s has no cell state: dc_n must be NULL",
                       name_of(r, nm, sizeof nm));
    const nn_tensor *given[2] = {dh_n, dc_n}, *want[2] = {&r->h_n, &r->c_n};
    const char *what[2] = {"dh_n", "dc_n"};
    for (int i = 0; i < 2; i++) {
        if (!given[i])
            continue;
        if (nn_tensor_check("nn_rnn_set_final_state_grad", what[i], given[i]) < 0)
            return nn_last_status();
        if (!nn_tensor_same_shape(given[i], want[i]))
            return nn_fail(NN_ESHAPE, "nn_rnn_set_final_state_grad: %s expected %s of shape %s (the last forward's), got %s",
                           name_of(r, nm, sizeof nm), what[i], nn_tensor_shape_str(want[i], a),
                           nn_tensor_shape_str(given[i], b));
    }
    /* a NULL one of the two is zeros: stored as zeros when the other is given */
    const nn_tensor *first = dh_n ? dh_n : dc_n, *second = dh_n ? dc_n : NULL;
    nn_tensor *s1 = dh_n ? &r->dh_n : &r->dc_n;
    if (!first) {
        r->has_dh_n = r->has_dc_n = false;
        return NN_OK;
    }
    if (store_copies(s1, first, &r->dc_n, second) < 0)
        return nn_fail_context(nn_last_status(), "nn_rnn_set_final_state_grad");
    r->has_dh_n = dh_n != NULL;
    r->has_dc_n = dc_n != NULL;
    return NN_OK;
}
