/* RNN / LSTM / GRU against PyTorch 1.13 (tests/gen_rnn.py): initial
   weights bit for bit, every option, short and 200-step sequences,
   output, final state, dL/dx, parameter gradients and dL/d(initial
   state), strided input, threads, printing, state_dict names, dropout
   between layers (by statistics and by evaluation-mode equality), no
   allocation in a second step, errors that change nothing; Select and the
   LSTM -> last step -> Linear model. */
#include "testutil.h"

#include <math.h>

#include "fixtures/rnn.h"
#include "kernels/gemm_internal.h"
#include "kernels/rnn_cells.h"

#define RTOL 1e-5
#define ATOL 1e-6

static int64_t numel_s(int ndim, const int64_t *s)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= s[i];
    return n;
}

static int dirs(const rnn_case *c) { return c->bidir ? 2 : 1; }
static int64_t hout(const rnn_case *c) { return c->proj ? c->proj : c->H; }

static nn_module *make(const rnn_case *c)
{
    nn_manual_seed((uint64_t)c->seed);
    nn_module *m = NULL;
    if (c->kind == 2) {
        nn_lstm_opts o = nn_lstm_defaults(c->F, c->H);
        o.num_layers = c->layers;
        o.bias = c->bias;
        o.batch_first = c->batch_first;
        o.bidirectional = c->bidir;
        o.proj_size = c->proj;
        o.dropout = c->dropout;
        m = nn_lstm_ex(&o);
    } else if (c->kind == 3) {
        nn_gru_opts o = nn_gru_defaults(c->F, c->H);
        o.num_layers = c->layers;
        o.bias = c->bias;
        o.batch_first = c->batch_first;
        o.bidirectional = c->bidir;
        o.dropout = c->dropout;
        m = nn_gru_ex(&o);
    } else {
        nn_rnn_opts o = nn_rnn_defaults(c->F, c->H);
        o.num_layers = c->layers;
        o.bias = c->bias;
        o.batch_first = c->batch_first;
        o.bidirectional = c->bidir;
        o.dropout = c->dropout;
        o.nonlinearity = c->kind == 1 ? NN_RNN_RELU : NN_RNN_TANH;
        m = nn_rnn_ex(&o);
    }
    if (!m)
        fail_msg("%s: %s", c->repr, nn_last_error());
    return m;
}

static int x_shape(const rnn_case *c, int64_t *s)
{
    if (c->unbatched) {
        s[0] = c->T;
        s[1] = c->F;
        return 2;
    }
    s[0] = c->batch_first ? c->N : c->T;
    s[1] = c->batch_first ? c->T : c->N;
    s[2] = c->F;
    return 3;
}

static int state_shape(const rnn_case *c, int64_t last, int64_t *s)
{
    s[0] = c->layers * dirs(c);
    if (c->unbatched) {
        s[1] = last;
        return 2;
    }
    s[1] = c->N;
    s[2] = last;
    return 3;
}

/* the same values behind non-contiguous strides: every other float of a
   tensor twice as wide in its last dimension */
static nn_tensor *strided_from(const float *data, int ndim, const int64_t *shape)
{
    int64_t wide[3] = {0};
    for (int i = 0; i < ndim; i++)
        wide[i] = shape[i];
    wide[ndim - 1] *= 2;
    nn_tensor *t = nn_tensor_new(ndim, wide);
    nn_tensor *v = nn_tensor_transpose(t, 0, 0); /* a view of t's storage */
    nn_tensor_free(t);
    v->shape[ndim - 1] = shape[ndim - 1];
    v->stride[ndim - 1] = 2;
    int64_t n = numel_s(ndim, shape);
    for (int64_t i = 0; i < n; i++)
        v->data[2 * i] = data[i], v->data[2 * i + 1] = NAN;
    assert_false(nn_tensor_is_contiguous(v));
    return v;
}

static nn_tensor *input_of(const float *data, int ndim, const int64_t *shape, bool strided)
{
    return strided ? strided_from(data, ndim, shape) : nn_tensor_from(data, ndim, shape);
}

static void check_case(const rnn_case *c, bool strided, int threads, bool training)
{
    nn_set_num_threads(threads);
    nn_module *m = make(c);
    nn_module_train(m, training);
    /* initial weights: bit-identical to torch's for the same seed, named as its state_dict */
    nn_param *p;
    int np = nn_module_params(m, &p);
    int64_t off = 0;
    char names[1024] = "";
    for (int i = 0; i < np; i++) {
        int64_t n = nn_tensor_numel(p[i].value);
        assert_true(off + n <= c->n_weights);
        assert_memory_equal(p[i].value->data, c->w + off, (size_t)n * sizeof(float));
        off += n;
        strcat(names, i ? "," : "");
        strcat(names, p[i].name);
    }
    assert_int_equal(off, c->n_weights);
    assert_string_equal(names, c->names);

    int64_t xs[3], hs[3], cs[3];
    int xn = x_shape(c, xs), hn = state_shape(c, hout(c), hs);
    state_shape(c, c->H, cs);
    nn_tensor *x = input_of(c->x, xn, xs, strided);
    nn_tensor *h0 = NULL, *c0 = NULL;
    if (c->state) {
        h0 = input_of(c->h0, hn, hs, strided);
        c0 = c->kind == 2 ? input_of(c->c0, hn, cs, strided) : NULL;
        assert_int_equal(nn_rnn_set_state(m, h0, c0), NN_OK);
    }
    nn_tensor *y = nn_forward(m, x);
    if (!y)
        fail_msg("%s: %s", c->repr, nn_last_error());
    int64_t ys[3] = {xs[0], xs[1], dirs(c) * hout(c)};
    if (c->unbatched)
        ys[1] = dirs(c) * hout(c);
    assert_int_equal(y->ndim, xn);
    for (int i = 0; i < xn; i++)
        assert_int_equal(y->shape[i], ys[i]);
    int64_t ny = numel_s(xn, ys);
    assert_close(y->data, c->y, ny, RTOL, ATOL);
    nn_tensor *h_n, *c_n;
    assert_int_equal(nn_rnn_final_state(m, &h_n, &c_n), NN_OK);
    assert_int_equal(h_n->ndim, hn);
    assert_close(h_n->data, c->hn, numel_s(hn, hs), RTOL, ATOL);
    if (c->kind == 2)
        assert_close(c_n->data, c->cn, numel_s(hn, cs), RTOL, ATOL);
    else
        assert_null(c_n);

    nn_tensor *gy = input_of(c->gy, xn, ys, strided);
    nn_tensor *ghn = NULL, *gcn = NULL;
    if (c->final_grad) {
        ghn = input_of(c->ghn, hn, hs, strided);
        gcn = c->kind == 2 ? input_of(c->gcn, hn, cs, strided) : NULL;
        assert_int_equal(nn_rnn_set_final_state_grad(m, ghn, gcn), NN_OK);
    }
    nn_zero_grad(m);
    nn_tensor *dx = nn_backward(m, gy);
    if (!dx)
        fail_msg("%s: %s", c->repr, nn_last_error());
    assert_close(dx->data, c->dx, numel_s(xn, xs), RTOL, 1e-5);
    off = 0;
    for (int i = 0; i < np; i++) {
        int64_t n = nn_tensor_numel(p[i].grad);
        assert_close(p[i].grad->data, c->dw + off, n, RTOL, 1e-5);
        off += n;
    }
    nn_tensor *dh0, *dc0;
    assert_int_equal(nn_rnn_state_grad(m, &dh0, &dc0), NN_OK);
    assert_int_equal(dh0->ndim, hn);
    if (c->state) {
        assert_close(dh0->data, c->dh0, numel_s(hn, hs), RTOL, 1e-5);
        if (c->kind == 2)
            assert_close(dc0->data, c->dc0, numel_s(hn, cs), RTOL, 1e-5);
    }
    nn_tensor_free(x);
    nn_tensor_free(gy);
    nn_tensor_free(ghn);
    nn_tensor_free(gcn);
    nn_tensor_free(h0);
    nn_tensor_free(c0);
    nn_module_free(m);
    nn_set_num_threads(1);
}

static void test_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rnn_cases / sizeof *rnn_cases; i++) {
        const rnn_case *c = &rnn_cases[i];
        bool train = c->dropout == 0.0f; /* no dropout: training mode computes the same */
        check_case(c, false, 1, train);
        check_case(c, true, 1, false);
        check_case(c, false, 2, train);
    }
}

/* The cells' vector code of every GEMM variant this machine runs (the
   cells use the GEMM's), against torch. */
static void test_matches_torch_every_variant(void **state)
{
    (void)state;
    for (int isa = NN_GEMM_ISA_GENERIC; isa < NN_GEMM_ISA_COUNT; isa++) {
        if (!nn_gemm_force_isa((nn_gemm_isa)isa))
            continue;
        for (size_t i = 0; i < sizeof rnn_cases / sizeof *rnn_cases; i++) {
            const rnn_case *c = &rnn_cases[i];
            check_case(c, false, 2, c->dropout == 0.0f);
        }
    }
    assert_true(nn_gemm_force_isa(NN_GEMM_ISA_AUTO));
}

/* The cells' sigmoid and tanh (their own, vectorised) within 4 ulp of
   the double-precision values over the whole float range (below 1e-38
   absolute where sigmoid underflows), infinities included, NaN kept: GRU's cache holds sigmoid(x_r), sigmoid(x_z) and
   tanh(x_n) when gh, h_prev and the biases are zero. 37 units: whole
   vectors and a tail. */
static void test_cell_activations(void **state)
{
    (void)state;
    enum { H = 37, ROWS = 400 };
    static float xw[ROWS * 3 * H], gh[ROWS * 3 * H], hp[ROWS * H], cache[ROWS * 4 * H], h[ROWS * H];
    for (int i = 0; i < ROWS * 3 * H; i++) { /* dense near 0, out to +-1e4 */
        double u = (double)i / (ROWS * 3 * H) * 2.0 - 1.0;
        xw[i] = (float)(u * u * u * u * u * 1e4);
    }
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f, 0.3466f, -0.3466f, 9.0f, -9.0f,
                             15.0f, -15.0f, 88.5f, -88.5f, 103.0f, -103.0f, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        for (int g = 0; g < 3; g++)
            xw[(int)i * 3 * H + g * H + (int)i] = special[i];
    for (int isa = NN_GEMM_ISA_GENERIC; isa < NN_GEMM_ISA_COUNT; isa++) {
        if (!nn_gemm_force_isa((nn_gemm_isa)isa))
            continue;
        nn_gru_cell_forward(ROWS, H, xw, NULL, gh, NULL, hp, cache, h, H, NULL, 0);
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < H; j++)
                for (int g = 0; g < 3; g++) {
                    double x = xw[r * 3 * H + g * H + j], got = cache[r * 4 * H + g * H + j];
                    double want = g < 2 ? 1.0 / (1.0 + exp(-x)) : tanh(x);
                    if (isnan(x)) {
                        assert_true(isnan(got));
                        continue;
                    }
                    if (fabs(got - want) > 4.0 * 0x1p-24 * fabs(want) + 1e-38) {
                        fprintf(stderr, "isa %d gate %d x %a: got %a want %a\n", isa, g, x, got, want);
                        fail();
                    }
                }
    }
    assert_true(nn_gemm_force_isa(NN_GEMM_ISA_AUTO));
}

static void test_print_matches_torch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rnn_cases / sizeof *rnn_cases; i++) {
        nn_module *m = make(&rnn_cases[i]);
        assert_repr(m, rnn_cases[i].repr);
        nn_module_free(m);
    }
    nn_lstm_opts o = nn_lstm_defaults(32, 128);
    o.num_layers = 2;
    o.batch_first = true;
    o.dropout = 0.1f;
    o.bidirectional = true;
    nn_module *m = nn_lstm_ex(&o);
    assert_string_equal(printed(m), "LSTM(32, 128, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True)\n");
    nn_module_free(m);
}

static void fill(nn_tensor *t, int64_t mul)
{
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        t->data[i] = (float)((i * mul) % 1001) / 500.0f - 1.0f;
}

/* Bit-identical results for one, two and three threads: GEMMs split over
   output tiles, the time loop over the batch (rows of every size, vector
   tails of the gates: hidden sizes 32, 37, 21), the bias sums over
   columns. */
static void test_threads_bit_identical(void **state)
{
    (void)state;
    for (int kind = 0; kind < 6; kind++) {
        float *ref[4] = {0};
        size_t sz[4] = {0};
        for (int threads = 1; threads <= 3; threads++) {
            nn_set_num_threads(threads);
            nn_manual_seed(7);
            nn_module *m;
            int64_t F = 16, N = 40;
            if (kind == 0) {
                nn_lstm_opts o = nn_lstm_defaults(16, 32);
                o.num_layers = 2;
                o.bidirectional = true;
                m = nn_lstm_ex(&o);
            } else if (kind == 1) {
                nn_gru_opts o = nn_gru_defaults(16, 32);
                o.num_layers = 2;
                o.bidirectional = true;
                m = nn_gru_ex(&o);
            } else if (kind == 2) {
                m = nn_rnn(16, 64);
            } else if (kind == 3) {
                nn_lstm_opts o = nn_lstm_defaults(16, 37);
                o.proj_size = 11;
                o.num_layers = 2;
                o.batch_first = true;
                m = nn_lstm_ex(&o);
                N = 23;
            } else if (kind == 4) {
                nn_gru_opts o = nn_gru_defaults(16, 21);
                o.bias = false;
                m = nn_gru_ex(&o);
                N = 7;
            } else {
                nn_rnn_opts o = nn_rnn_defaults(16, 37);
                o.nonlinearity = NN_RNN_RELU;
                o.bidirectional = true;
                m = nn_rnn_ex(&o);
                N = 13;
            }
            nn_tensor *x = nn_tensor_new(NN_SHAPE(9, N, F));
            fill(x, 7919);
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
            fill(g, 104729);
            nn_tensor *dx = nn_backward(m, g);
            assert_non_null(dx);
            nn_param *p;
            int np = nn_module_params(m, &p);
            const float *got[4] = {y->data, dx->data, p[0].grad->data, p[np - 1].grad->data};
            size_t n[4] = {(size_t)nn_tensor_numel(y), (size_t)nn_tensor_numel(dx), (size_t)nn_tensor_numel(p[0].grad),
                           (size_t)nn_tensor_numel(p[np - 1].grad)};
            for (int i = 0; i < 4; i++) {
                if (threads == 1) {
                    sz[i] = n[i] * sizeof(float);
                    ref[i] = malloc(sz[i]);
                    memcpy(ref[i], got[i], sz[i]);
                } else {
                    assert_memory_equal(ref[i], got[i], sz[i]);
                }
            }
            nn_tensor_free(x);
            nn_tensor_free(g);
            nn_module_free(m);
        }
        for (int i = 0; i < 4; i++)
            free(ref[i]);
    }
    nn_set_num_threads(1);
}

static void test_second_step_allocates_nothing(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        nn_module *m;
        if (kind == 0) {
            nn_lstm_opts o = nn_lstm_defaults(3, 8);
            o.num_layers = 2;
            o.dropout = 0.5f;
            o.batch_first = true;
            o.bidirectional = true;
            o.proj_size = 4;
            m = nn_lstm_ex(&o);
        } else if (kind == 1) {
            nn_gru_opts o = nn_gru_defaults(3, 8);
            o.num_layers = 2;
            o.dropout = 0.5f;
            m = nn_gru_ex(&o);
        } else {
            m = nn_rnn(3, 8);
        }
        int64_t P = kind == 0 ? 4 : 8, LD = kind == 0 ? 4 : kind == 1 ? 2 : 1;
        nn_tensor *x = kind == 0 ? nn_tensor_new(NN_SHAPE(5, 6, 3)) : nn_tensor_new(NN_SHAPE(6, 5, 3));
        fill(x, 37);
        nn_tensor *h0 = nn_tensor_new(NN_SHAPE(LD, 5, P)), *c0 = nn_tensor_new(NN_SHAPE(LD, 5, 8));
        fill(h0, 11);
        fill(c0, 13);
        for (int step = 0; step < 2; step++) {
            if (step == 1) {
                tu_allocs = 0;
                nn_set_allocator(tu_alloc, free);
            }
            nn_zero_grad(m);
            assert_int_equal(nn_rnn_set_state(m, h0, kind == 0 ? c0 : NULL), NN_OK);
            nn_tensor *y = nn_forward(m, x);
            if (!y)
                fail_msg("%s", nn_last_error());
            assert_int_equal(nn_rnn_set_final_state_grad(m, h0, kind == 0 ? c0 : NULL), NN_OK);
            assert_non_null(nn_backward(m, y)); /* y as its own gradient: loss = |y|^2 / 2 */
            nn_tensor *h_n, *c_n;
            assert_int_equal(nn_rnn_final_state(m, &h_n, &c_n), NN_OK);
            assert_int_equal(nn_rnn_set_state(m, h_n, c_n), NN_OK);
        }
        nn_set_allocator(NULL, NULL);
        assert_int_equal(tu_allocs, 0);
        nn_tensor_free(x);
        nn_tensor_free(h0);
        nn_tensor_free(c0);
        nn_module_free(m);
    }
}

/* Dropout between layers: with identity weights (two ReLU RNN layers,
   W_ih = I, W_hh = 0, no bias) the output is the mask times the input, so
   about half of it is zero, the rest 1/(1-p); dL/dx carries the same mask;
   evaluation mode gives the input back; the library generator makes it
   reproducible. */
static void test_dropout_between_layers(void **state)
{
    (void)state;
    nn_rnn_opts o = nn_rnn_defaults(8, 8);
    o.num_layers = 2;
    o.bias = false;
    o.dropout = 0.5f;
    o.nonlinearity = NN_RNN_RELU;
    nn_module *m = nn_rnn_ex(&o);
    assert_non_null(m);
    nn_param *p;
    assert_int_equal(nn_module_params(m, &p), 4);
    for (int i = 0; i < 4; i++)
        nn_tensor_fill(p[i].value, 0.0f);
    for (int j = 0; j < 8; j++) {
        p[0].value->data[j * 8 + j] = 1.0f;
        p[2].value->data[j * 8 + j] = 1.0f;
    }
    nn_tensor *x = nn_tensor_new(NN_SHAPE(50, 40, 8));
    nn_tensor_fill(x, 1.0f);
    nn_manual_seed(3);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    int64_t n = nn_tensor_numel(y), zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(y->data[i] == 0.0f || y->data[i] == 2.0f);
        zeros += y->data[i] == 0.0f;
    }
    double frac = (double)zeros / (double)n; /* 16000 draws: sd 0.004 */
    assert_true(frac > 0.47 && frac < 0.53);
    float *first = malloc((size_t)n * sizeof(float));
    memcpy(first, y->data, (size_t)n * sizeof(float));
    nn_tensor *g = nn_tensor_new(y->ndim, y->shape);
    nn_tensor_fill(g, 1.0f);
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    for (int64_t i = 0; i < n; i++)
        assert_true(dx->data[i] == first[i]); /* relu' = 1 where kept: mask * 1/(1-p) */
    nn_manual_seed(3);
    y = nn_forward(m, x);
    assert_memory_equal(y->data, first, (size_t)n * sizeof(float));
    nn_module_train(m, false);
    y = nn_forward(m, x);
    for (int64_t i = 0; i < n; i++)
        assert_true(y->data[i] == 1.0f);
    free(first);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);

    /* dropout 1 in training: the upper layer sees zeros, so nothing flows
       back to the lower layer or to x (LSTM and GRU); in evaluation mode
       everything does */
    for (int kind = 0; kind < 2; kind++) {
        nn_module *r;
        if (kind == 0) {
            nn_lstm_opts lo = nn_lstm_defaults(3, 4);
            lo.num_layers = 2;
            lo.dropout = 1.0f;
            lo.bidirectional = true;
            r = nn_lstm_ex(&lo);
        } else {
            nn_gru_opts go = nn_gru_defaults(3, 4);
            go.num_layers = 2;
            go.dropout = 1.0f;
            r = nn_gru_ex(&go);
        }
        nn_tensor *xs = nn_tensor_new(NN_SHAPE(4, 2, 3));
        fill(xs, 29);
        for (int train = 1; train >= 0; train--) {
            nn_module_train(r, train);
            nn_zero_grad(r);
            nn_tensor *ys = nn_forward(r, xs);
            assert_non_null(ys);
            nn_tensor *gs = nn_tensor_new(ys->ndim, ys->shape);
            nn_tensor_fill(gs, 1.0f);
            nn_tensor *dxs = nn_backward(r, gs);
            assert_non_null(dxs);
            double sum = 0;
            for (int64_t i = 0; i < nn_tensor_numel(dxs); i++)
                sum += fabs(dxs->data[i]);
            nn_param *pp;
            nn_module_params(r, &pp);
            for (int64_t i = 0; i < nn_tensor_numel(pp[0].grad); i++)
                sum += fabs(pp[0].grad->data[i]);
            assert_true(train ? sum == 0.0 : sum > 0.0);
            nn_tensor_free(gs);
        }
        nn_tensor_free(xs);
        nn_module_free(r);
    }
}

/* A long sequence run in two chunks, the state carried over, gives the
   outputs of one run over the whole. */
static void test_state_carried_over(void **state)
{
    (void)state;
    nn_manual_seed(5);
    nn_module *whole = nn_lstm(3, 6);
    nn_manual_seed(5);
    nn_module *chunks = nn_lstm(3, 6);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(30, 2, 3));
    fill(x, 101);
    nn_tensor *y = nn_forward(whole, x);
    assert_non_null(y);
    nn_tensor *a = nn_tensor_new(NN_SHAPE(12, 2, 3)), *b = nn_tensor_new(NN_SHAPE(18, 2, 3));
    memcpy(a->data, x->data, 12 * 6 * sizeof(float));
    memcpy(b->data, x->data + 12 * 6, 18 * 6 * sizeof(float));
    assert_non_null(nn_forward(chunks, a));
    nn_tensor *h_n, *c_n;
    assert_int_equal(nn_rnn_final_state(chunks, &h_n, &c_n), NN_OK);
    assert_int_equal(nn_rnn_set_state(chunks, h_n, c_n), NN_OK);
    nn_tensor *y2 = nn_forward(chunks, b);
    assert_non_null(y2);
    assert_close(y2->data, y->data + 12 * 2 * 6, 18 * 2 * 6, 1e-6, 1e-7);
    assert_int_equal(nn_rnn_set_state(chunks, NULL, NULL), NN_OK); /* back to zeros */
    nn_tensor *y3 = nn_forward(chunks, x);
    assert_memory_equal(y3->data, y->data, 30 * 2 * 6 * sizeof(float));
    nn_tensor_free(x);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_module_free(whole);
    nn_module_free(chunks);
}

static void test_errors_change_nothing(void **state)
{
    (void)state;
    assert_null(nn_lstm(4, 0));
    assert_error_mentions("nn_lstm", "hidden_size");
    assert_null(nn_gru(0, 3));
    assert_error_mentions("nn_gru", "input_size");
    nn_lstm_opts lo = nn_lstm_defaults(4, 5);
    lo.proj_size = 5;
    assert_null(nn_lstm_ex(&lo));
    assert_error_mentions("nn_lstm", "proj_size has to be smaller than hidden_size");
    nn_gru_opts go = nn_gru_defaults(4, 5);
    go.dropout = 1.5f;
    assert_null(nn_gru_ex(&go));
    assert_error_mentions("nn_gru", "dropout should be a number in range [0, 1]");
    go = nn_gru_defaults(4, 5);
    go.num_layers = 0;
    assert_null(nn_gru_ex(&go));
    assert_error_mentions("num_layers");
    nn_rnn_opts ro = nn_rnn_defaults(4, 5);
    ro.nonlinearity = (nn_rnn_nonlinearity)7;
    assert_null(nn_rnn_ex(&ro));
    assert_error_mentions("nn_rnn", "nonlinearity");
    nn_rnn_opts garbage;
    memset(&garbage, 0x5a, sizeof garbage);
    assert_null(nn_rnn_ex(&garbage));
    assert_error_mentions("nn_rnn");
    /* by hand: num_layers 0 is 1, bias as written (none) */
    nn_module *hand = nn_gru_ex(&(nn_gru_opts){.input_size = 2, .hidden_size = 3});
    assert_non_null(hand);
    assert_int_equal(nn_module_params(hand, NULL), 2);
    nn_module_free(hand);

    nn_module *m = nn_lstm(4, 5);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(3, 2, 4));
    fill(x, 3);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    float y0 = y->data[7];
    nn_tensor *bad = nn_tensor_new(NN_SHAPE(3, 2, 5));
    assert_null(nn_forward(m, bad));
    assert_error_mentions("nn_forward", "LSTM(4, 5)", "[3, 2, 5]");
    nn_tensor *empty = nn_tensor_new(NN_SHAPE(0, 2, 4));
    assert_null(nn_forward(m, empty));
    assert_error_mentions("nn_forward", "sequence length", "[0, 2, 4]");
    /* a state of the wrong shape: refused at set, or (batch) at forward */
    nn_tensor *h_bad = nn_tensor_new(NN_SHAPE(2, 2, 5));
    assert_int_equal(nn_rnn_set_state(m, h_bad, NULL), NN_ESHAPE);
    assert_error_mentions("nn_rnn_set_state", "LSTM(4, 5)", "[1, N, 5]", "[2, 2, 5]");
    nn_tensor *h_b3 = nn_tensor_new(NN_SHAPE(1, 3, 5));
    assert_int_equal(nn_rnn_set_state(m, h_b3, NULL), NN_OK);
    assert_null(nn_forward(m, x));
    assert_error_mentions("nn_forward", "h0", "[1, 2, 5]", "[1, 3, 5]");
    assert_true(y->data[7] == y0);
    assert_int_equal(nn_rnn_set_state(m, NULL, NULL), NN_OK);
    /* final-state gradients: the last forward's shapes */
    assert_int_equal(nn_rnn_set_final_state_grad(m, h_b3, NULL), NN_ESHAPE);
    assert_error_mentions("nn_rnn_set_final_state_grad", "LSTM(4, 5)", "dh_n", "[1, 2, 5]", "[1, 3, 5]");
    /* backward: a wrong gradient shape leaves the gradients alone */
    nn_param *p;
    nn_module_params(m, &p);
    nn_tensor *g_bad = nn_tensor_new(NN_SHAPE(3, 2, 4));
    assert_null(nn_backward(m, g_bad));
    assert_error_mentions("nn_backward", "LSTM(4, 5)", "[3, 2, 5]", "[3, 2, 4]");
    for (int64_t i = 0; i < nn_tensor_numel(p[0].grad); i++)
        assert_true(p[0].grad->data[i] == 0.0f);
    /* state functions on other modules, or out of order */
    nn_module *lin = nn_linear(2, 2, true);
    assert_int_equal(nn_rnn_set_state(lin, NULL, NULL), NN_EINVAL);
    assert_error_mentions("nn_rnn_set_state", "Linear");
    nn_module *gru = nn_gru(4, 5);
    nn_tensor *h_ok = nn_tensor_new(NN_SHAPE(1, 2, 5));
    assert_int_equal(nn_rnn_set_state(gru, h_ok, h_ok), NN_EINVAL);
    assert_error_mentions("nn_rnn_set_state", "GRU(4, 5)", "c0");
    nn_tensor *hn;
    assert_int_equal(nn_rnn_final_state(gru, &hn, NULL), NN_EINVAL);
    assert_error_mentions("nn_rnn_final_state", "GRU(4, 5)");
    assert_int_equal(nn_rnn_set_final_state_grad(gru, h_ok, NULL), NN_EINVAL);
    assert_error_mentions("nn_rnn_set_final_state_grad", "GRU(4, 5)", "forward");
    assert_non_null(nn_forward(gru, x));
    assert_int_equal(nn_rnn_state_grad(gru, &hn, NULL), NN_EINVAL);
    assert_error_mentions("nn_rnn_state_grad", "GRU(4, 5)");
    assert_int_equal(nn_rnn_set_final_state_grad(gru, h_ok, h_ok), NN_EINVAL);
    assert_error_mentions("nn_rnn_set_final_state_grad", "GRU(4, 5)", "dc_n");
    /* an empty batch works as torch's */
    nn_tensor *nobatch = nn_tensor_new(NN_SHAPE(3, 0, 4));
    nn_tensor *ye = nn_forward(gru, nobatch);
    assert_non_null(ye);
    assert_int_equal(ye->shape[1], 0);
    assert_non_null(nn_backward(gru, ye));
    nn_tensor *tensors[] = {x, bad, empty, h_bad, h_b3, g_bad, h_ok, nobatch};
    for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++)
        nn_tensor_free(tensors[i]);
    nn_module_free(m);
    nn_module_free(lin);
    nn_module_free(gru);
}

/* Sequential(LSTM(batch_first), Select(1, -1), Linear): torch's
   head(lstm(x)[0][:, -1, :]) */
static void test_last_step_model(void **state)
{
    (void)state;
    nn_manual_seed(21);
    nn_lstm_opts o = nn_lstm_defaults(3, 8);
    o.num_layers = 2;
    o.batch_first = true;
    nn_module *net = nn_sequential();
    assert_int_equal(nn_sequential_add(net, "lstm", nn_lstm_ex(&o)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "last", nn_select(1, -1)), NN_OK);
    assert_int_equal(nn_sequential_add(net, "head", nn_linear(8, 2, true)), NN_OK);
    assert_string_equal(printed(net), "Sequential(\n  (lstm): LSTM(3, 8, num_layers=2, batch_first=True)\n"
                             "  (last): Select(dim=1, index=-1)\n"
                             "  (head): Linear(in_features=8, out_features=2, bias=True)\n)\n");
    nn_tensor *x = nn_tensor_from(seq_x, NN_SHAPE(4, 7, 3));
    nn_tensor *y = nn_forward(net, x);
    assert_non_null(y);
    assert_int_equal(y->ndim, 2);
    assert_close(y->data, seq_y, 8, RTOL, ATOL);
    nn_tensor *g = nn_tensor_from(seq_gy, NN_SHAPE(4, 2));
    nn_tensor *dx = nn_backward(net, g);
    assert_non_null(dx);
    assert_close(dx->data, seq_dx, 4 * 7 * 3, RTOL, 1e-5);
    nn_param *p;
    int np = nn_module_params(net, &p);
    assert_string_equal(p[0].name, "lstm.weight_ih_l0");
    assert_string_equal(p[np - 1].name, "head.bias");
    int64_t off = 0;
    for (int i = 0; i < np; i++) {
        assert_close(p[i].grad->data, seq_dw + off, nn_tensor_numel(p[i].grad), RTOL, 1e-5);
        off += nn_tensor_numel(p[i].grad);
    }
    /* nn_backward_params: the same parameter gradients, dL/dx skipped */
    float *grads = malloc((size_t)off * sizeof(float));
    off = 0;
    for (int i = 0; i < np; i++) {
        memcpy(grads + off, p[i].grad->data, (size_t)nn_tensor_numel(p[i].grad) * sizeof(float));
        off += nn_tensor_numel(p[i].grad);
    }
    nn_zero_grad(net);
    assert_non_null(nn_forward(net, x));
    assert_int_equal(nn_backward_params(net, g), NN_OK);
    off = 0;
    for (int i = 0; i < np; i++) {
        assert_memory_equal(p[i].grad->data, grads + off, (size_t)nn_tensor_numel(p[i].grad) * sizeof(float));
        off += nn_tensor_numel(p[i].grad);
    }
    free(grads);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(net);
}

static void test_select(void **state)
{
    (void)state;
    nn_module *s = nn_select(0, 1);
    nn_tensor *x = nn_tensor_new(NN_SHAPE(3, 2, 2));
    fill(x, 17);
    nn_tensor *y = nn_forward(s, x);
    assert_non_null(y);
    assert_int_equal(y->ndim, 2);
    assert_memory_equal(y->data, x->data + 4, 4 * sizeof(float));
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 2));
    nn_tensor_fill(g, 2.0f);
    nn_tensor *dx = nn_backward(s, g);
    assert_non_null(dx);
    for (int i = 0; i < 12; i++)
        assert_true(dx->data[i] == (i >= 4 && i < 8 ? 2.0f : 0.0f));
    nn_module_free(s);
    s = nn_select(1, 5);
    assert_null(nn_forward(s, x));
    assert_error_mentions("nn_forward", "Select(dim=1, index=5)", "index 5 out of range", "[3, 2, 2]", "dimension 1");
    nn_module_free(s);
    s = nn_select(3, 0);
    assert_null(nn_forward(s, x));
    assert_error_mentions("Dimension out of range (expected to be in range of [-3, 2], but got 3)");
    nn_module_free(s);
    /* strided input, negative dim and index */
    s = nn_select(-1, -2);
    nn_tensor *t = nn_tensor_transpose(x, 0, 2); /* [2, 2, 3] */
    y = nn_forward(s, t);
    assert_non_null(y);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            assert_true(y->data[i * 2 + j] == x->data[1 * 4 + j * 2 + i]);
    nn_tensor_free(t);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_torch),
        cmocka_unit_test(test_print_matches_torch),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_matches_torch_every_variant),
        cmocka_unit_test(test_cell_activations),
        cmocka_unit_test(test_second_step_allocates_nothing),
        cmocka_unit_test(test_dropout_between_layers),
        cmocka_unit_test(test_state_carried_over),
        cmocka_unit_test(test_errors_change_nothing),
        cmocka_unit_test(test_last_step_model),
        cmocka_unit_test(test_select),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
