/* Sequences and tables against PyTorch 1.13 (tests/fixtures/seq_layers.h
   from tests/gen_seq_layers.py): Conv1d, MaxPool1d, AvgPool1d, Embedding,
   LayerNorm forward, dL/dx and parameter gradients to 1e-5 plain and
   strided on 1 and 2 threads, their printing, initial weights bit for bit
   (Conv1d; Embedding's normal_ on both of torch's paths, one after
   another), a TCN residual block of causal dilated convolutions (Conv1d +
   Chomp1d), 1 vs 2 threads bit-identical on layers big enough to split, no
   allocation in a second step, options, errors that name the call, the
   module and the shapes, and failed calls (bad input, every allocation
   failing once) that change nothing. */
#include "testutil.h"

#include "nn/module_ops.h" /* nn_init_normal */

#include "fixtures/seq_layers.h"

#define RTOL 1e-5
#define ATOL 1e-5
#define N_CASES ((int)(sizeof seq_cases / sizeof *seq_cases))

/* --- helpers ------------------------------------------------------------ */

static nn_module *module_of(const seq_case *c)
{
    nn_module *m = NULL;
    switch (c->kind) {
    case 0: {
        nn_conv1d_opts o = nn_conv1d_defaults(c->in, c->out, c->k);
        o.stride = c->stride, o.padding = c->pad, o.dilation = c->dil, o.groups = c->groups;
        o.bias = c->bias, o.padding_same = c->same;
        m = nn_conv1d_ex(&o);
        break;
    }
    case 1: {
        nn_maxpool1d_opts o = nn_maxpool1d_defaults(c->k);
        o.stride = c->stride, o.padding = c->pad, o.dilation = c->dil, o.ceil_mode = c->ceil_mode;
        m = nn_maxpool1d_ex(&o);
        break;
    }
    case 2: {
        nn_avgpool1d_opts o = nn_avgpool1d_defaults(c->k);
        o.stride = c->stride, o.padding = c->pad, o.ceil_mode = c->ceil_mode;
        o.count_include_pad = c->count_include_pad;
        m = nn_avgpool1d_ex(&o);
        break;
    }
    case 3: {
        nn_embedding_opts o = nn_embedding_defaults(c->num, c->dim);
        o.has_padding_idx = c->has_pad, o.padding_idx = c->pad_idx;
        m = nn_embedding_ex(&o);
        break;
    }
    default: {
        nn_layernorm_opts o = nn_layernorm_defaults(c->ln_ndim, c->ln_shape);
        o.eps = c->eps, o.elementwise_affine = c->affine;
        m = nn_layernorm_ex(&o);
    }
    }
    assert_non_null(m);
    return m;
}

/* Sets the case's parameters (their sizes as torch's). */
static int load_case(nn_module *m, const seq_case *c, nn_param **p)
{
    int np = nn_module_params(m, p);
    assert_int_equal(np, (c->nw > 0) + (c->nb > 0));
    if (c->nw) {
        assert_int_equal(nn_tensor_numel((*p)[0].value), c->nw);
        memcpy((*p)[0].value->data, c->w, (size_t)c->nw * sizeof(float));
    }
    if (c->nb) {
        assert_int_equal(nn_tensor_numel((*p)[1].value), c->nb);
        memcpy((*p)[1].value->data, c->b, (size_t)c->nb * sizeof(float));
    }
    return np;
}

/* --- against torch -------------------------------------------------------- */

static void check_case(const seq_case *c, bool strided, int threads)
{
    nn_set_num_threads(threads);
    nn_module *m = module_of(c);
    nn_param *p;
    load_case(m, c, &p);
    assert_repr(m, c->repr);
    nn_tensor *x = tensor_of(c->x, c->xndim, c->xshape);
    nn_tensor *gy = tensor_of(c->gy, c->yndim, c->yshape);
    nn_tensor *xs = strided ? strided_copy(x) : NULL, *gys = strided ? strided_copy(gy) : NULL;
    int64_t ny = numel_of(c->yndim, c->yshape), nx = numel_of(c->xndim, c->xshape);
    int64_t most = c->nw > c->nb ? c->nw : c->nb;
    float *scaled = malloc((size_t)(most + 1) * sizeof(float));
    for (int pass = 1; pass <= 2; pass++) {
        nn_tensor *y = nn_forward(m, xs ? xs : x);
        assert_non_null(y);
        assert_shape(y, c->yndim, c->yshape);
        assert_tensor_close(y, c->y, ny, RTOL, ATOL);
        nn_tensor *dx = nn_backward(m, gys ? gys : gy);
        assert_non_null(dx);
        assert_shape(dx, c->xndim, c->xshape);
        assert_tensor_close(dx, c->dx, nx, RTOL, ATOL);
        for (int k = 0; k < 2; k++) {
            int64_t n = k ? c->nb : c->nw;
            const float *want = k ? c->db : c->dw;
            if (!n)
                continue;
            for (int64_t i = 0; i < n; i++)
                scaled[i] = (float)pass * want[i];
            assert_close(p[k && c->nw ? 1 : 0].grad->data, scaled, n, RTOL, ATOL * pass);
        }
    }
    free(scaled);
    nn_tensor_free(gys);
    nn_tensor_free(xs);
    nn_tensor_free(gy);
    nn_tensor_free(x);
    nn_module_free(m);
    nn_set_num_threads(1);
}

static void test_cases_match_torch(void **state)
{
    (void)state;
    for (int k = 0; k < N_CASES; k++)
        for (int strided = 0; strided <= 1; strided++)
            for (int threads = 1; threads <= 2; threads++)
                check_case(&seq_cases[k], strided, threads);
}

/* nn_backward_params: the same parameter gradients without dx. */
static void test_backward_params(void **state)
{
    (void)state;
    for (int k = 0; k < N_CASES; k++) {
        const seq_case *c = &seq_cases[k];
        if (!c->nw)
            continue;
        nn_module *m = module_of(c);
        nn_param *p;
        load_case(m, c, &p);
        nn_tensor *x = tensor_of(c->x, c->xndim, c->xshape);
        nn_tensor *gy = tensor_of(c->gy, c->yndim, c->yshape);
        assert_non_null(nn_forward(m, x));
        assert_int_equal(nn_backward_params(m, gy), NN_OK);
        assert_close(p[0].grad->data, c->dw, c->nw, RTOL, ATOL);
        if (c->nb)
            assert_close(p[1].grad->data, c->db, c->nb, RTOL, ATOL);
        nn_tensor_free(gy);
        nn_tensor_free(x);
        nn_module_free(m);
    }
}

static void test_init_matches_torch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof seq_conv_inits / sizeof *seq_conv_inits; k++) {
        const seq_conv_init *c = &seq_conv_inits[k];
        nn_manual_seed(c->seed);
        nn_conv1d_opts o = nn_conv1d_defaults(c->in, c->out, c->k);
        o.groups = c->groups, o.bias = c->bias;
        nn_module *m = nn_conv1d_ex(&o);
        assert_non_null(m);
        nn_param *p;
        assert_int_equal(nn_module_params(m, &p), c->bias ? 2 : 1);
        assert_string_equal(p[0].name, "weight");
        assert_shape(p[0].value, NN_SHAPE(c->out, c->in / c->groups, c->k));
        assert_memory_equal(p[0].value->data, c->w, (size_t)c->nw * sizeof(float));
        if (c->bias) {
            assert_string_equal(p[1].name, "bias");
            assert_memory_equal(p[1].value->data, c->b, (size_t)c->out * sizeof(float));
        }
        nn_module_free(m);
    }
    for (size_t k = 0; k < sizeof seq_emb_inits / sizeof *seq_emb_inits; k++) {
        const seq_emb_init *c = &seq_emb_inits[k];
        nn_manual_seed(c->seed);
        for (int j = 0; j < c->n; j++) {
            nn_embedding_opts o = nn_embedding_defaults(c->num[j], c->dim[j]);
            o.has_padding_idx = c->has_pad[j], o.padding_idx = c->pad[j];
            nn_module *m = nn_embedding_ex(&o);
            assert_non_null(m);
            nn_param *p;
            assert_int_equal(nn_module_params(m, &p), 1);
            assert_string_equal(p[0].name, "weight");
            assert_shape(p[0].value, NN_SHAPE(c->num[j], c->dim[j]));
            assert_memory_equal(p[0].value->data, c->w[j], (size_t)(c->num[j] * c->dim[j]) * sizeof(float));
            nn_module_free(m);
        }
    }
    /* LayerNorm: weight 1, bias 0, named as torch */
    nn_module *ln = nn_layernorm(NN_SHAPE(2, 3));
    nn_param *p;
    assert_int_equal(nn_module_params(ln, &p), 2);
    assert_string_equal(p[0].name, "weight");
    assert_string_equal(p[1].name, "bias");
    assert_shape(p[0].value, NN_SHAPE(2, 3));
    for (int i = 0; i < 6; i++) {
        assert_true(p[0].value->data[i] == 1.0f);
        assert_true(p[1].value->data[i] == 0.0f);
    }
    nn_module_free(ln);
}

/* nn_init_normal: mean and std as torch's normal_(mean, std) (a 1 - 2
   sigma check on 100000 draws, and exact agreement with std 1 scaled) */
static void test_init_normal_statistics(void **state)
{
    (void)state;
    nn_manual_seed(5);
    nn_tensor *t = nn_tensor_new(NN_SHAPE(100000));
    nn_init_normal(t, 2.0, 3.0);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < 100000; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
    }
    double mean = s / 1e5, var = s2 / 1e5 - mean * mean;
    assert_true(fabs(mean - 2.0) < 0.03);
    assert_true(fabs(sqrt(var) - 3.0) < 0.03);
    nn_tensor_free(t);
}

/* --- a TCN residual block ------------------------------------------------- */

static nn_module *tcn_conv(int64_t in, int64_t out, int k, int d)
{
    return nn_conv1d(in, out, k, 1, (k - 1) * d, d);
}

/* Bai et al.'s TemporalBlock without weight norm and dropout:
   relu(body(x) + shortcut(x)), body = conv, chomp, relu, conv, chomp, relu */
static nn_module *tcn_block(int64_t in, int64_t out, int k, int d)
{
    nn_module *body = nn_sequential();
    const int pad = (k - 1) * d;
    assert_int_equal(nn_sequential_add(body, NULL, tcn_conv(in, out, k, d)), NN_OK);
    assert_int_equal(nn_sequential_add(body, NULL, nn_chomp1d(pad)), NN_OK);
    assert_int_equal(nn_sequential_add(body, NULL, nn_relu()), NN_OK);
    assert_int_equal(nn_sequential_add(body, NULL, tcn_conv(out, out, k, d)), NN_OK);
    assert_int_equal(nn_sequential_add(body, NULL, nn_chomp1d(pad)), NN_OK);
    assert_int_equal(nn_sequential_add(body, NULL, nn_relu()), NN_OK);
    nn_module *res = nn_residual(body, nn_conv1d(in, out, 1, 1, 0, 1));
    nn_module *blk = nn_sequential();
    assert_int_equal(nn_sequential_add(blk, "block", res), NN_OK);
    assert_int_equal(nn_sequential_add(blk, "relu", nn_relu()), NN_OK);
    return blk;
}

static void test_tcn_block(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_num_threads(threads);
        nn_module *blk = tcn_block(3, 5, 3, 2);
        nn_param *p;
        int np = nn_module_params(blk, &p);
        assert_int_equal(np, (int)(sizeof tcn_params / sizeof *tcn_params));
        for (int i = 0; i < np; i++) { /* torch's names "body.0.weight" under our "block." */
            char want[128];
            snprintf(want, sizeof want, "block.%s", tcn_params[i].name);
            assert_string_equal(p[i].name, want);
            memcpy(p[i].value->data, tcn_params[i].value, (size_t)nn_tensor_numel(p[i].value) * sizeof(float));
        }
        nn_tensor *x = tensor_of(tcn_x, NN_SHAPE(2, 3, 11));
        nn_tensor *gy = tensor_of(tcn_gy, NN_SHAPE(2, 5, 11));
        nn_tensor *y = nn_forward(blk, x);
        assert_non_null(y);
        assert_shape(y, NN_SHAPE(2, 5, 11));
        assert_tensor_close(y, tcn_y, 110, RTOL, ATOL);
        nn_tensor *dx = nn_backward(blk, gy);
        assert_non_null(dx);
        assert_tensor_close(dx, tcn_dx, 66, RTOL, ATOL);
        for (int i = 0; i < np; i++)
            assert_close(p[i].grad->data, tcn_params[i].grad, nn_tensor_numel(p[i].grad), RTOL, ATOL);
        /* causal: changing x at time t changes no output before t */
        float before[110];
        nn_tensor_copy_out(y, before);
        x->data[7] += 1.0f; /* batch 0, channel 0, t = 7 */
        y = nn_forward(blk, x);
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 5; c++)
                for (int t = 0; t < 11; t++) {
                    float now = y->data[(n * 5 + c) * 11 + t], was = before[(n * 5 + c) * 11 + t];
                    if (n == 1 || t < 7)
                        assert_true(now == was);
                }
        nn_tensor_free(gy);
        nn_tensor_free(x);
        nn_module_free(blk);
    }
    nn_set_num_threads(1);
    /* Conv1d padded by (k-1)*d, then sliced by hand: the same as Chomp1d */
    nn_manual_seed(3);
    nn_module *conv = tcn_conv(2, 3, 3, 2);
    nn_module *chomp = nn_chomp1d(4);
    nn_tensor *x = tensor_of(tcn_x, NN_SHAPE(2, 2, 8));
    nn_tensor *y = nn_forward(conv, x);
    assert_shape(y, NN_SHAPE(2, 3, 12));
    int64_t strides[3] = {y->stride[0], y->stride[1], y->stride[2]};
    nn_tensor sliced = *y; /* y[:, :, :8] as a view */
    sliced.shape[2] = 8;
    memcpy(sliced.stride, strides, sizeof strides);
    nn_tensor *z = nn_forward(chomp, y);
    assert_shape(z, NN_SHAPE(2, 3, 8));
    float a[48], b[48];
    nn_tensor_copy_out(&sliced, a);
    nn_tensor_copy_out(z, b);
    assert_memory_equal(a, b, sizeof a);
    assert_repr(chomp, "Chomp1d(chomp_size=4)");
    nn_tensor_free(x);
    nn_module_free(chomp);
    nn_module_free(conv);
}

/* --- threads -------------------------------------------------------------- */

static nn_tensor *random_indices(int ndim, const int64_t *shape, int64_t num, unsigned seed)
{
    nn_tensor *t = nn_tensor_new(ndim, shape);
    srand(seed);
    for (int64_t i = 0; i < nn_tensor_numel(t); i++)
        t->data[i] = (float)(rand() % num);
    return t;
}

#define N_BIG 6
static nn_module *big_module(int k)
{
    switch (k) {
    case 0: return nn_conv1d(16, 32, 3, 1, 2, 2);
    case 1: {
        nn_conv1d_opts o = nn_conv1d_defaults(32, 32, 4);
        o.groups = 8, o.padding_same = true, o.dilation = 3;
        return nn_conv1d_ex(&o);
    }
    case 2: return nn_layernorm(NN_SHAPE(96));
    case 3: return nn_embedding(1000, 64);
    case 4: return nn_maxpool1d_ex(&(nn_maxpool1d_opts){.kernel_size = 3, .stride = 2, .padding = 1});
    default: return nn_avgpool1d(4, 2);
    }
}

static nn_tensor *big_input(int k)
{
    switch (k) {
    case 0: return random_tensor(NN_SHAPE(8, 16, 300), 11);
    case 1: return random_tensor(NN_SHAPE(1, 32, 2000), 12); /* one sequence: the GEMMs split */
    case 2: return random_tensor(NN_SHAPE(20, 40, 96), 13);
    case 3: return random_indices(NN_SHAPE(32, 64), 1000, 14);
    case 4: return random_tensor(NN_SHAPE(16, 32, 301), 15);
    default: return random_tensor(NN_SHAPE(16, 32, 300), 16);
    }
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    for (int k = 0; k < N_BIG; k++) {
        for (int strided = 0; strided <= 1; strided++) {
            layer_run r[3];
            for (int t = 1; t <= 3; t++) {
                nn_set_num_threads(t);
                nn_manual_seed(40 + (uint64_t)k);
                nn_module *m = big_module(k);
                assert_non_null(m);
                nn_tensor *x = big_input(k);
                nn_tensor *xs = strided ? strided_copy(x) : NULL;
                r[t - 1] = run_layer_once(m, xs ? xs : x, 99);
                nn_tensor_free(xs);
                nn_tensor_free(x);
                nn_module_free(m);
            }
            for (int t = 1; t < 3; t++) {
                assert_int_equal(r[0].ny, r[t].ny);
                assert_memory_equal(r[0].y, r[t].y, (size_t)r[0].ny * sizeof(float));
                assert_memory_equal(r[0].dx, r[t].dx, (size_t)r[0].nx * sizeof(float));
                assert_memory_equal(r[0].dw, r[t].dw, (size_t)r[0].nw * sizeof(float));
                assert_memory_equal(r[0].db, r[t].db, (size_t)r[0].nb * sizeof(float));
            }
            for (int t = 0; t < 3; t++)
                free_layer_run(&r[t]);
        }
    }
    nn_set_num_threads(1);
}

/* --- no allocation in a second step --------------------------------------- */

static void test_steady_state(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_num_threads(threads);
        for (int k = 0; k < N_CASES; k++) {
            const seq_case *c = &seq_cases[k];
            nn_module *m = module_of(c);
            nn_tensor *x = tensor_of(c->x, c->xndim, c->xshape);
            nn_tensor *g = tensor_of(c->gy, c->yndim, c->yshape);
            assert_steady_state(m, x, g);
            nn_tensor *xs = strided_copy(x), *gs = strided_copy(g);
            assert_steady_state(m, xs, gs);
            nn_tensor_free(xs);
            nn_tensor_free(gs);
            nn_tensor_free(g);
            nn_tensor_free(x);
            nn_module_free(m);
        }
        for (int k = 0; k < N_BIG; k++) {
            nn_module *m = big_module(k);
            nn_tensor *x = big_input(k);
            nn_tensor *y = nn_forward(m, x);
            assert_non_null(y);
            nn_tensor *g = random_tensor(y->ndim, y->shape, 4);
            assert_steady_state(m, x, g);
            nn_tensor_free(g);
            nn_tensor_free(x);
            nn_module_free(m);
        }
        nn_module *blk = tcn_block(3, 5, 3, 2);
        nn_tensor *x = tensor_of(tcn_x, NN_SHAPE(2, 3, 11));
        nn_tensor *g = tensor_of(tcn_gy, NN_SHAPE(2, 5, 11));
        assert_steady_state(blk, x, g);
        nn_tensor_free(g);
        nn_tensor_free(x);
        nn_module_free(blk);
    }
    nn_set_num_threads(1);
}

/* --- options, printing ---------------------------------------------------- */

static void test_options_and_printing(void **state)
{
    (void)state;
    nn_module *m = nn_conv1d(4, 8, 3, 0, 0, 2); /* stride 0 means 1 */
    assert_repr(m, "Conv1d(4, 8, kernel_size=(3,), stride=(1,), dilation=(2,))");
    assert_string_equal(nn_module_type(m), "Conv1d");
    nn_module_free(m);
    m = nn_conv1d_ex(&(nn_conv1d_opts){.in_channels = 4, .out_channels = 8, .kernel_size = 3, .groups = 0});
    assert_repr(m, "Conv1d(4, 8, kernel_size=(3,), stride=(1,), bias=False)"); /* by hand: bias as written */
    nn_module_free(m);
    nn_conv1d_opts co = nn_conv1d_defaults(3, 6, 5);
    assert_int_equal(co.stride, 1);
    assert_int_equal(co.dilation, 1);
    assert_int_equal(co.groups, 1);
    assert_true(co.bias);
    assert_false(co.padding_same);
    assert_int_equal(co.from_defaults, NN_OPTS_FROM_DEFAULTS);
    m = nn_maxpool1d(2, 0);
    assert_repr(m, "MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
    nn_module_free(m);
    m = nn_maxpool1d_ex(&(nn_maxpool1d_opts){.kernel_size = 3, .padding = 1, .ceil_mode = true});
    assert_repr(m, "MaxPool1d(kernel_size=3, stride=3, padding=1, dilation=1, ceil_mode=True)");
    nn_module_free(m);
    m = nn_avgpool1d(3, 0);
    assert_repr(m, "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))");
    nn_module_free(m);
    nn_avgpool1d_opts ao = nn_avgpool1d_defaults(3);
    assert_true(ao.count_include_pad);
    assert_int_equal(ao.stride, 3);
    m = nn_embedding(10, 3);
    assert_repr(m, "Embedding(10, 3)");
    nn_module_free(m);
    nn_embedding_opts eo = nn_embedding_defaults(10, 3);
    eo.has_padding_idx = true;
    eo.padding_idx = -1;
    m = nn_embedding_ex(&eo);
    assert_repr(m, "Embedding(10, 3, padding_idx=9)");
    nn_module_free(m);
    m = nn_layernorm(NN_SHAPE(16));
    assert_repr(m, "LayerNorm((16,), eps=1e-05, elementwise_affine=True)");
    nn_module_free(m);
    m = nn_layernorm_ex(&(nn_layernorm_opts){.ndim = 2, .normalized_shape = {4, 16}}); /* by hand */
    assert_repr(m, "LayerNorm((4, 16), eps=1e-05, elementwise_affine=False)");
    nn_module_free(m);
    /* in a Sequential, with state_dict names */
    nn_module *seq = nn_sequential();
    assert_int_equal(nn_sequential_add(seq, NULL, nn_embedding(100, 16)), NN_OK);
    assert_int_equal(nn_sequential_add(seq, NULL, nn_layernorm(NN_SHAPE(16))), NN_OK);
    assert_int_equal(nn_sequential_add(seq, NULL, nn_conv1d(8, 8, 3, 1, 1, 1)), NN_OK);
    assert_int_equal(nn_sequential_add(seq, NULL, nn_maxpool1d(2, 0)), NN_OK);
    assert_int_equal(nn_sequential_add(seq, NULL, nn_avgpool1d(2, 0)), NN_OK);
    assert_repr(seq, "Sequential(\n"
                     "  (0): Embedding(100, 16)\n"
                     "  (1): LayerNorm((16,), eps=1e-05, elementwise_affine=True)\n"
                     "  (2): Conv1d(8, 8, kernel_size=(3,), stride=(1,), padding=(1,))\n"
                     "  (3): MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
                     "  (4): AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))\n"
                     ")");
    nn_param *p;
    assert_int_equal(nn_module_params(seq, &p), 5);
    assert_string_equal(p[0].name, "0.weight");
    assert_string_equal(p[1].name, "1.weight");
    assert_string_equal(p[2].name, "1.bias");
    assert_string_equal(p[3].name, "2.weight");
    assert_string_equal(p[4].name, "2.bias");
    /* [N, L] indices -> [N, L, 16] -> LayerNorm -> as 16 channels of length 8? no: [N, 8, 16] is 8 channels */
    nn_tensor *idx = random_indices(NN_SHAPE(2, 8), 100, 3);
    nn_tensor *y = nn_forward(seq, idx);
    assert_non_null(y);
    assert_shape(y, NN_SHAPE(2, 8, 4));
    nn_tensor *g = random_tensor(NN_SHAPE(2, 8, 4), 5);
    nn_tensor *dx = nn_backward(seq, g);
    assert_non_null(dx);
    assert_shape(dx, NN_SHAPE(2, 8)); /* indices have no gradient: zeros */
    for (int i = 0; i < 16; i++)
        assert_true(dx->data[i] == 0.0f);
    nn_tensor_free(g);
    nn_tensor_free(idx);
    nn_module_free(seq);
}

/* Embedding: the padding row stays zero and gets no gradient; repeated
   indices accumulate. */
static void test_embedding_padding_and_repeats(void **state)
{
    (void)state;
    nn_embedding_opts o = nn_embedding_defaults(4, 2);
    o.has_padding_idx = true;
    o.padding_idx = 1;
    nn_module *m = nn_embedding_ex(&o);
    nn_param *p;
    nn_module_params(m, &p);
    assert_true(p[0].value->data[2] == 0.0f && p[0].value->data[3] == 0.0f);
    nn_tensor *x = tensor_of((const float[]){1, 3, 3, 1, 0}, NN_SHAPE(5));
    assert_non_null(nn_forward(m, x));
    nn_tensor *g = tensor_of((const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, NN_SHAPE(5, 2));
    assert_non_null(nn_backward(m, g));
    const float want[8] = {9, 10, 0, 0, 0, 0, 8, 10};
    assert_memory_equal(p[0].grad->data, want, sizeof want);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);
}

/* --- errors ---------------------------------------------------------------- */

static void test_constructor_errors(void **state)
{
    (void)state;
    nn_conv1d_opts o = nn_conv1d_defaults(4, 6, 3);
    o.groups = 4;
    assert_null(nn_conv1d_ex(&o));
    assert_error_mentions("nn_conv1d_ex:", "out_channels must be divisible by groups", "out_channels=6", "groups=4");
    o = nn_conv1d_defaults(4, 4, 3);
    o.stride = 0;
    assert_null(nn_conv1d_ex(&o));
    assert_error_mentions("nn_conv1d_ex:", "stride", "got 0");
    o = nn_conv1d_defaults(4, 4, 3);
    o.padding_same = true;
    o.stride = 2;
    assert_null(nn_conv1d_ex(&o));
    assert_error_mentions("nn_conv1d_ex:", "padding='same'", "strided");
    o = nn_conv1d_defaults(4, 4, 3);
    o.from_defaults = 77;
    assert_null(nn_conv1d_ex(&o));
    assert_error_mentions("nn_conv1d_ex:", "nn_conv1d_opts.from_defaults");
    assert_null(nn_conv1d(0, 4, 3, 1, 0, 1));
    assert_error_mentions("nn_conv1d:", "in_channels");
    assert_null(nn_conv1d(4, 4, 0, 1, 0, 1));
    assert_error_mentions("nn_conv1d:", "kernel_size", "got 0");
    assert_null(nn_conv1d(4, 4, 3, 1, -1, 1));
    assert_error_mentions("nn_conv1d:", "padding", "-1");
    assert_null(nn_conv1d_ex(NULL));
    assert_error_mentions("nn_conv1d_ex", "NULL");
    assert_null(nn_maxpool1d_ex(&(nn_maxpool1d_opts){.kernel_size = 2, .padding = 2}));
    assert_error_mentions("nn_maxpool1d_ex:", "padding should be at most half of kernel size", "padding=2",
                          "kernel_size=2");
    assert_null(nn_maxpool1d(0, 0));
    assert_error_mentions("nn_maxpool1d:", "kernel_size", "got 0");
    assert_null(nn_avgpool1d(2, -1));
    assert_error_mentions("nn_avgpool1d:", "stride", "-1");
    nn_avgpool1d_opts a = nn_avgpool1d_defaults(3);
    a.stride = 0;
    assert_null(nn_avgpool1d_ex(&a));
    assert_error_mentions("nn_avgpool1d_ex:", "stride");
    nn_embedding_opts e = nn_embedding_defaults(5, 3);
    e.has_padding_idx = true;
    e.padding_idx = 5;
    assert_null(nn_embedding_ex(&e));
    assert_error_mentions("nn_embedding_ex:", "Padding_idx must be within num_embeddings", "padding_idx 5");
    e.padding_idx = -6;
    assert_null(nn_embedding_ex(&e));
    assert_error_mentions("padding_idx -6");
    assert_null(nn_embedding(0, 3));
    assert_error_mentions("nn_embedding:", "num_embeddings");
    assert_null(nn_layernorm(0, NULL));
    assert_error_mentions("nn_layernorm", "ndim 0");
    assert_null(nn_layernorm(NN_SHAPE(3, 0)));
    assert_error_mentions("nn_layernorm:", "[3, 0]");
    nn_layernorm_opts l = nn_layernorm_defaults(NN_SHAPE(4));
    l.eps = -1.0f;
    assert_null(nn_layernorm_ex(&l));
    assert_error_mentions("nn_layernorm_ex:", "eps");
    assert_null(nn_chomp1d(0));
    assert_error_mentions("nn_chomp1d:", "chomp_size");
}

typedef struct {
    const nn_tensor *t;
    float *data;
    int64_t n;
    float *ptr;
} snapshot;

static snapshot snap(const nn_tensor *t)
{
    snapshot s = {t, NULL, nn_tensor_numel(t), t->data};
    s.data = malloc((size_t)(s.n + 1) * sizeof(float));
    nn_tensor_copy_out(t, s.data);
    return s;
}

static void assert_unchanged(snapshot *s)
{
    assert_ptr_equal(s->t->data, s->ptr);
    assert_int_equal(nn_tensor_numel(s->t), s->n);
    float *now = malloc((size_t)(s->n + 1) * sizeof(float));
    nn_tensor_copy_out(s->t, now);
    assert_memory_equal(now, s->data, (size_t)s->n * sizeof(float));
    free(now);
    free(s->data);
}

/* A bad forward and a bad backward name the call, the module and the
   shapes, and change nothing; the forward before them still counts. */
static void check_failures(nn_module *m, const nn_tensor *x, const nn_tensor *g, const nn_tensor *bad_x,
                           const char *fwd_msg, const nn_tensor *bad_g, const char *bwd_msg)
{
    assert_non_null(nn_forward(m, x));
    nn_tensor *dx = nn_backward(m, g);
    assert_non_null(dx);
    nn_tensor *y = nn_forward(m, x);
    assert_non_null(y);
    nn_param *p;
    int np = nn_module_params(m, &p);
    snapshot sy = snap(y), sdx = snap(dx), sg[2];
    for (int i = 0; i < np; i++)
        sg[i] = snap(p[i].grad);
    assert_null(nn_forward(m, bad_x));
    assert_error_mentions(fwd_msg);
    assert_null(nn_backward(m, bad_g));
    assert_error_mentions(bwd_msg);
    assert_unchanged(&sy);
    assert_unchanged(&sdx);
    for (int i = 0; i < np; i++)
        assert_unchanged(&sg[i]);
    assert_non_null(nn_backward(m, g));
}

static void test_forward_backward_errors(void **state)
{
    (void)state;
    nn_module *m = nn_conv1d(2, 3, 3, 1, 0, 2);
    nn_tensor *g = nn_tensor_new(NN_SHAPE(2, 3, 4));
    assert_null(nn_backward(m, g));
    assert_error_mentions("nn_backward: Conv1d", "before forward");
    nn_tensor *x = nn_tensor_new(NN_SHAPE(2, 2, 8)), *bad_x = nn_tensor_new(NN_SHAPE(2, 3, 8));
    nn_tensor *bad_g = nn_tensor_new(NN_SHAPE(2, 3, 5));
    check_failures(m, x, g, bad_x,
                   "nn_forward: Conv1d(in_channels=2) expected input of shape [N, 2, L] or [2, L], got [2, 3, 8]",
                   bad_g, "nn_backward: Conv1d(in_channels=2) expected grad_out of shape [2, 3, 4], got [2, 3, 5]");
    nn_tensor *short_x = nn_tensor_new(NN_SHAPE(2, 2, 4));
    assert_null(nn_forward(m, short_x));
    assert_error_mentions("nn_forward: Conv1d(in_channels=2)", "kernel of extent 5", "padded input (4)", "[2, 2, 4]");
    nn_tensor *img = nn_tensor_new(NN_SHAPE(2, 2, 4, 4));
    assert_null(nn_forward(m, img));
    assert_error_mentions("Conv1d(in_channels=2)", "[2, 2, 4, 4]");
    nn_tensor_free(img);
    nn_tensor_free(short_x);
    nn_tensor_free(bad_g);
    nn_tensor_free(bad_x);
    nn_tensor_free(x);
    nn_tensor_free(g);
    nn_module_free(m);

    m = nn_maxpool1d(2, 0);
    x = nn_tensor_new(NN_SHAPE(2, 3, 8));
    g = nn_tensor_new(NN_SHAPE(2, 3, 4));
    bad_x = nn_tensor_new(NN_SHAPE(8));
    bad_g = nn_tensor_new(NN_SHAPE(2, 3, 5));
    check_failures(m, x, g, bad_x, "nn_forward: MaxPool1d(kernel_size=2, stride=2) expected a 2-D [C, L] or 3-D [N, C, L] input, got shape [8]",
                   bad_g, "nn_backward: MaxPool1d(kernel_size=2, stride=2) expected grad_out of shape [2, 3, 4], got [2, 3, 5]");
    nn_module_free(m);
    m = nn_avgpool1d(2, 0);
    check_failures(m, x, g, bad_x, "nn_forward: AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,)) expected a 2-D",
                   bad_g, "nn_backward: AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,)) expected grad_out of shape [2, 3, 4]");
    nn_module_free(m);
    nn_tensor_free(bad_g);
    nn_tensor_free(bad_x);
    nn_tensor_free(g);
    nn_tensor_free(x);

    m = nn_embedding(5, 3);
    x = tensor_of((const float[]){0, 1, 4, 2}, NN_SHAPE(2, 2));
    g = nn_tensor_new(NN_SHAPE(2, 2, 3));
    bad_x = tensor_of((const float[]){0, 1, 2, 5}, NN_SHAPE(2, 2));
    bad_g = nn_tensor_new(NN_SHAPE(2, 2, 4));
    check_failures(m, x, g, bad_x, "nn_forward: Embedding(5, 3): index out of range or not a whole number: 5 at position [1, 1] of input of shape [2, 2]",
                   bad_g, "nn_backward: Embedding(5, 3) expected grad_out of shape [2, 2, 3], got [2, 2, 4]");
    const float bad_values[3] = {1.5f, -1.0f, NAN};
    for (int i = 0; i < 3; i++) {
        bad_x->data[3] = bad_values[i];
        assert_null(nn_forward(m, bad_x));
        assert_error_mentions("Embedding(5, 3)", "at position [1, 1]", "[0, 5)");
    }
    nn_tensor_free(bad_g);
    nn_tensor_free(bad_x);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);

    m = nn_layernorm(NN_SHAPE(3, 4));
    x = nn_tensor_new(NN_SHAPE(2, 3, 4));
    g = nn_tensor_new(NN_SHAPE(2, 3, 4));
    bad_x = nn_tensor_new(NN_SHAPE(2, 4, 3));
    bad_g = nn_tensor_new(NN_SHAPE(2, 3, 5));
    check_failures(m, x, g, bad_x, "nn_forward: LayerNorm((3, 4), eps=1e-05, elementwise_affine=True): Given normalized_shape=[3, 4], expected input with shape [*, 3, 4], but got input of size [2, 4, 3]",
                   bad_g, "nn_backward: LayerNorm((3, 4), eps=1e-05, elementwise_affine=True) expected grad_out of shape [2, 3, 4], got [2, 3, 5]");
    nn_tensor_free(bad_g);
    nn_tensor_free(bad_x);
    nn_tensor_free(g);
    nn_tensor_free(x);
    nn_module_free(m);

    m = nn_chomp1d(3);
    x = nn_tensor_new(NN_SHAPE(2, 3));
    assert_null(nn_forward(m, x));
    assert_error_mentions("nn_forward: Chomp1d(chomp_size=3)", "larger than 3", "[2, 3]");
    nn_tensor_free(x);
    nn_module_free(m);
}

/* A failed allocation leaves the layer as it was: after a failed forward
   the backward of the forward before it gives that forward's dx and
   gradients; after a failed backward the gradients are as they were; the
   next calls work. Each case's module runs on the fixture's input, then
   on its strided twin (a copy to make) with each allocation failing in
   turn. (tests/test_errors.c sweeps a change to a larger input.) */

static void grads_out(nn_module *m, float *dst)
{
    nn_param *p;
    int np = nn_module_params(m, &p);
    for (int i = 0; i < np; i++) {
        int64_t n = nn_tensor_numel(p[i].grad);
        memcpy(dst, p[i].grad->data, (size_t)n * sizeof(float));
        dst += n;
    }
}

static void test_allocation_failures(void **state)
{
    (void)state;
    for (int k = 0; k < N_CASES; k++) {
        const seq_case *c = &seq_cases[k];
        for (tu_fail_at = 1;; tu_fail_at++) {
            nn_module *m = module_of(c);
            nn_param *p;
            load_case(m, c, &p);
            nn_tensor *x = tensor_of(c->x, c->xndim, c->xshape), *g = tensor_of(c->gy, c->yndim, c->yshape);
            nn_tensor *xs = strided_copy(x), *gs = strided_copy(g);
            layer_run want = run_layer_once(m, x, 6); /* zero_grad, forward(x), backward(random gy 6) */
            nn_tensor *gy6 = random_tensor(c->yndim, c->yshape, 6);
            float *grads = malloc((size_t)(want.nw + want.nb + 1) * sizeof(float));
            nn_zero_grad(m);
            assert_non_null(nn_forward(m, x));
            tu_allocs = 0;
            nn_set_allocator(tu_alloc, free);
            nn_tensor *y = nn_forward(m, xs);
            nn_set_allocator(NULL, NULL);
            bool done = tu_allocs < tu_fail_at;
            if (!y) {
                assert_false(done);
                assert_error_mentions("nn_forward", "out of memory");
                nn_tensor *dx = nn_backward(m, gy6); /* still x's forward */
                assert_non_null(dx);
                float *got = malloc((size_t)(want.nx + 1) * sizeof(float));
                nn_tensor_copy_out(dx, got);
                assert_memory_equal(got, want.dx, (size_t)want.nx * sizeof(float));
                free(got);
                grads_out(m, grads);
                assert_memory_equal(grads, want.dw, (size_t)want.nw * sizeof(float));
                assert_memory_equal(grads + want.nw, want.db, (size_t)want.nb * sizeof(float));
            } else {
                nn_zero_grad(m);
                tu_allocs = 0;
                nn_set_allocator(tu_alloc, free);
                nn_tensor *dx = nn_backward(m, gs);
                nn_set_allocator(NULL, NULL);
                done = done && tu_allocs < tu_fail_at;
                if (!dx) {
                    assert_error_mentions("nn_backward", "out of memory");
                    grads_out(m, grads);
                    for (int64_t i = 0; i < want.nw + want.nb; i++)
                        assert_true(grads[i] == 0.0f);
                }
            }
            /* and the layer works on */
            layer_run again = run_layer_once(m, x, 6);
            assert_memory_equal(again.y, want.y, (size_t)want.ny * sizeof(float));
            assert_memory_equal(again.dx, want.dx, (size_t)want.nx * sizeof(float));
            assert_memory_equal(again.dw, want.dw, (size_t)want.nw * sizeof(float));
            free_layer_run(&again);
            free(grads);
            free_layer_run(&want);
            nn_tensor_free(gy6);
            nn_tensor_free(gs);
            nn_tensor_free(xs);
            nn_tensor_free(g);
            nn_tensor_free(x);
            nn_module_free(m);
            if (done)
                break;
        }
    }
    tu_fail_at = -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_match_torch),
        cmocka_unit_test(test_backward_params),
        cmocka_unit_test(test_init_matches_torch),
        cmocka_unit_test(test_init_normal_statistics),
        cmocka_unit_test(test_tcn_block),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_steady_state),
        cmocka_unit_test(test_options_and_printing),
        cmocka_unit_test(test_embedding_padding_and_repeats),
        cmocka_unit_test(test_constructor_errors),
        cmocka_unit_test(test_forward_backward_errors),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
