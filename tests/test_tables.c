/* Tables and series: datasets from the caller's arrays, train / validation
   / test splits (random_split's lengths, chronological and seeded
   shuffles), the scalers against scikit-learn 1.2 (tests/gen_tables.py ->
   tests/fixtures/tables.h), sliding windows through the DataLoader, and
   argmax / accuracy / softmax of a batch against NumPy. */
#include "testutil.h"

#include "fixtures/tables.h"

static bool same_float(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

/* Bit-for-bit (NaN where NaN), or within rtol when given. */
static void expect_floats(const float *got, const float *want, int64_t n, double rtol, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        bool ok = same_float(got[i], want[i]) ||
                  (rtol > 0 && fabs((double)got[i] - (double)want[i]) <= rtol * fabs((double)want[i]) + 1e-30);
        if (!ok) {
            fprintf(stderr, "%s[%lld]: got %.9g, want %.9g\n", what, (long long)i, got[i], want[i]);
            fail();
        }
    }
}

/* --- datasets from arrays */

static void test_dataset_from_arrays(void **state)
{
    (void)state;
    float x[12], y[4];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    for (int i = 0; i < 4; i++)
        y[i] = (float)(i % 2);
    nn_dataset d;
    assert_int_equal(nn_dataset_from_arrays(x, NN_SHAPE(4, 3), y, NN_SHAPE(4), &d), NN_OK);
    x[0] = 100; /* copied */
    assert_int_equal(d.images->ndim, 2);
    assert_int_equal(d.images->shape[1], 3);
    assert_int_equal(d.labels->ndim, 1);
    assert_true(d.images->data[0] == 0.0f);
    nn_dataloader *dl = nn_dataloader_new(&d, 3, false, false);
    nn_tensor *bx, *by;
    assert_true(nn_dataloader_next(dl, &bx, &by));
    assert_int_equal(bx->shape[0], 3);
    assert_int_equal(bx->shape[1], 3);
    assert_true(bx->data[4] == 4.0f);
    assert_true(nn_dataloader_next(dl, &bx, &by));
    assert_int_equal(bx->shape[0], 1);
    assert_true(by->data[0] == 1.0f);
    assert_false(nn_dataloader_next(dl, &bx, &by));
    assert_int_equal(nn_dataloader_status(dl), NN_OK);
    nn_dataloader_free(dl);
    nn_dataset_free(&d);

    nn_dataset u = {(nn_tensor *)1, (nn_tensor *)2};
    assert_int_equal(nn_dataset_from_arrays(x, NN_SHAPE(4, 3), y, NN_SHAPE(3, 1), &u), NN_ESHAPE);
    assert_error_mentions("nn_dataset_from_arrays", "[4, 3]", "[3, 1]", "first dimension");
    assert_int_equal(nn_dataset_from_arrays(NULL, NN_SHAPE(4, 3), y, NN_SHAPE(4), &u), NN_EINVAL);
    assert_int_equal(nn_dataset_from_arrays(x, NN_SHAPE(-4, 3), y, NN_SHAPE(-4), &u), NN_EINVAL);
    assert_error_mentions("nn_dataset_from_arrays");
    assert_int_equal(nn_dataset_from_arrays(x, 0, (const int64_t[]){1}, y, NN_SHAPE(4), &u), NN_ESHAPE);
    assert_ptr_equal(u.images, (nn_tensor *)1);
    assert_ptr_equal(u.labels, (nn_tensor *)2);
    /* every allocation failing in turn: nothing leaked, nothing changed */
    nn_set_allocator(tu_alloc, tu_release);
    for (tu_fail_at = 1; tu_fail_at <= 4; tu_fail_at++) {
        tu_allocs = tu_live = 0;
        assert_int_equal(nn_dataset_from_arrays(x, NN_SHAPE(4, 3), y, NN_SHAPE(4), &u), NN_ENOMEM);
        assert_int_equal(tu_live, 0);
        assert_ptr_equal(u.images, (nn_tensor *)1);
    }
    tu_fail_at = -1;
    nn_set_allocator(NULL, NULL);
}

/* --- splits */

static void make_range(nn_dataset *d, int64_t n)
{
    float *x = malloc((size_t)n * 2 * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++)
        x[2 * i] = (float)i, x[2 * i + 1] = (float)-i, y[i] = (float)i;
    assert_int_equal(nn_dataset_from_arrays(x, NN_SHAPE(n, 2), y, NN_SHAPE(n), d), NN_OK);
    free(x);
    free(y);
}

static void test_split_lengths_and_order(void **state)
{
    (void)state;
    /* random_split's lengths: floors, then the remainder round robin */
    static const struct {
        int64_t n;
        double f[3];
        int64_t len[3];
    } cases[] = {
        {10, {0.7, 0.2, 0.1}, {7, 2, 1}}, {11, {0.7, 0.2, 0.1}, {8, 2, 1}}, {3, {1 / 3.0, 1 / 3.0, 1 / 3.0}, {1, 1, 1}},
        {5, {0.5, 0.5, 0}, {3, 2, 0}},    {7, {0, 0, 1}, {0, 0, 7}},        {2, {0.45, 0.45, 0.1}, {1, 1, 0}},
        {0, {0.8, 0.1, 0.1}, {0, 0, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        nn_dataset d, parts[3];
        make_range(&d, cases[c].n);
        assert_int_equal(nn_dataset_split(&d, cases[c].f, false, &parts[0], &parts[1], &parts[2]), NN_OK);
        int64_t at = 0;
        for (int k = 0; k < 3; k++) {
            assert_int_equal(parts[k].images->shape[0], cases[c].len[k]);
            assert_int_equal(parts[k].images->shape[1], 2);
            assert_int_equal(parts[k].labels->shape[0], cases[c].len[k]);
            for (int64_t i = 0; i < cases[c].len[k]; i++, at++) { /* chronological: in order */
                assert_true(parts[k].labels->data[i] == (float)at);
                assert_true(parts[k].images->data[2 * i + 1] == (float)-at);
            }
            nn_dataset_free(&parts[k]);
        }
        nn_dataset_free(&d);
    }
}

static void test_split_shuffled(void **state)
{
    (void)state;
    nn_dataset d, a[3], b[3];
    make_range(&d, 50);
    const double f[3] = {0.6, 0.2, 0.2};
    nn_manual_seed(42);
    assert_int_equal(nn_dataset_split(&d, f, true, &a[0], &a[1], &a[2]), NN_OK);
    uint32_t after = nn_random_u32();
    nn_manual_seed(42);
    assert_int_equal(nn_dataset_split(&d, f, true, &b[0], &b[1], &b[2]), NN_OK);
    /* randperm draws N - 1 numbers */
    nn_manual_seed(42);
    for (int i = 0; i < 49; i++)
        nn_random_u32();
    assert_int_equal(nn_random_u32(), after);
    int seen[50] = {0}, moved = 0;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(a[k].labels->shape[0], k == 0 ? 30 : 10);
        assert_memory_equal(a[k].labels->data, b[k].labels->data, (size_t)a[k].labels->shape[0] * sizeof(float));
        for (int64_t i = 0; i < a[k].labels->shape[0]; i++) {
            int v = (int)a[k].labels->data[i];
            seen[v]++;
            assert_true(a[k].images->data[2 * i] == (float)v); /* rows stay whole */
            assert_true(a[k].images->data[2 * i + 1] == (float)-v);
        }
        nn_dataset_free(&b[k]);
    }
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    for (int64_t i = 0; i < 30; i++)
        moved += a[0].labels->data[i] != (float)i;
    assert_true(moved > 20);
    for (int k = 0; k < 3; k++)
        nn_dataset_free(&a[k]);
    /* first draw: item 0 swaps with item u32 % 50 (torch.randperm's loop) */
    nn_manual_seed(7);
    uint32_t r0 = nn_random_u32();
    nn_manual_seed(7);
    assert_int_equal(nn_dataset_split(&d, (const double[]){1, 0, 0}, true, &a[0], NULL, NULL), NN_OK);
    assert_true(a[0].labels->data[0] == (float)(r0 % 50));
    nn_dataset_free(&a[0]);

    /* refusals change nothing: not the outputs, not the generator */
    nn_dataset u = {(nn_tensor *)1, (nn_tensor *)2};
    assert_int_equal(nn_dataset_split(&d, (const double[]){0.5, 0.2, 0.2}, true, &u, NULL, NULL), NN_EINVAL);
    assert_error_mentions("nn_dataset_split", "sum to 0.9");
    assert_int_equal(nn_dataset_split(&d, (const double[]){1.2, -0.2, 0}, true, &u, NULL, NULL), NN_EINVAL);
    assert_error_mentions("fractions[0]");
    assert_int_equal(nn_dataset_split(&d, (const double[]){NAN, 0.5, 0.5}, true, &u, NULL, NULL), NN_EINVAL);
    assert_int_equal(nn_dataset_split(NULL, f, true, &u, NULL, NULL), NN_EINVAL);
    assert_int_equal(nn_dataset_split(&d, f, true, NULL, NULL, NULL), NN_EINVAL);
    assert_ptr_equal(u.images, (nn_tensor *)1);
    nn_set_allocator(tu_alloc, tu_release);
    for (tu_fail_at = 1; tu_fail_at <= 13; tu_fail_at++) {
        nn_manual_seed(3);
        tu_allocs = tu_live = 0;
        nn_dataset p[3] = {{(nn_tensor *)1, NULL}, {(nn_tensor *)1, NULL}, {(nn_tensor *)1, NULL}};
        int rc = nn_dataset_split(&d, f, true, &p[0], &p[1], &p[2]);
        if (rc == NN_OK) {
            assert_true(tu_fail_at > 7); /* index array + 3 x 2 tensors of 2 allocations each */
            for (int k = 0; k < 3; k++)
                nn_dataset_free(&p[k]);
            assert_int_equal(tu_live, 0);
            continue;
        }
        assert_int_equal(rc, NN_ENOMEM);
        assert_int_equal(tu_live, 0);
        assert_ptr_equal(p[0].images, (nn_tensor *)1);
        uint32_t next = nn_random_u32();
        nn_manual_seed(3);
        assert_int_equal(next, nn_random_u32()); /* generator put back */
    }
    tu_fail_at = -1;
    nn_set_allocator(NULL, NULL);
    nn_dataset_free(&d);
}

/* --- scalers against scikit-learn */

static nn_tensor *matrix_of(const float *data, int64_t rows, int64_t cols)
{
    nn_tensor *t = nn_tensor_from(data, NN_SHAPE(rows, cols));
    assert_non_null(t);
    return t;
}

static void test_standard_scaler(void **state)
{
    (void)state;
    nn_scaler *s = nn_standard_scaler();
    assert_int_equal(nn_scaler_num_features(s), 0);
    nn_tensor *train = matrix_of(tab_train, TAB_TRAIN, TAB_F), *test = matrix_of(tab_test, TAB_TEST, TAB_F);
    assert_int_equal(nn_scaler_transform(s, test), NN_EINVAL); /* not fitted */
    assert_error_mentions("not fitted");
    assert_int_equal(nn_scaler_fit(s, train), NN_OK);
    assert_int_equal(nn_scaler_num_features(s), TAB_F);
    assert_int_equal(nn_scaler_transform(s, train), NN_OK);
    expect_floats(train->data, std_train_t, TAB_TRAIN * TAB_F, 0, "standard train");
    assert_int_equal(nn_scaler_transform(s, test), NN_OK);
    expect_floats(test->data, std_test_t, TAB_TEST * TAB_F, 0, "standard test");
    nn_tensor_free(test);
    test = matrix_of(tab_test, TAB_TEST, TAB_F);
    assert_int_equal(nn_scaler_inverse_transform(s, test), NN_OK);
    expect_floats(test->data, std_test_inv, TAB_TEST * TAB_F, 0, "standard inverse");
    /* predictions of columns 4 and 1 only */
    float pred[TAB_TEST * 2], want[TAB_TEST * 2];
    for (int i = 0; i < TAB_TEST; i++) {
        pred[2 * i] = tab_test[i * TAB_F + 4], pred[2 * i + 1] = tab_test[i * TAB_F + 1];
        want[2 * i] = std_test_inv[i * TAB_F + 4], want[2 * i + 1] = std_test_inv[i * TAB_F + 1];
    }
    nn_tensor *p = matrix_of(pred, TAB_TEST, 2);
    assert_int_equal(nn_scaler_inverse_transform_columns(s, p, (const int[]){4, 1}, 2), NN_OK);
    expect_floats(p->data, want, TAB_TEST * 2, 0, "inverse of columns 4, 1");
    assert_int_equal(nn_scaler_transform_columns(s, p, (const int[]){4, 1}, 2), NN_OK);
    expect_floats(p->data, pred, TAB_TEST * 2, 1e-6, "round trip");
    /* refusals change nothing */
    float before[TAB_TEST * 2];
    memcpy(before, p->data, sizeof before);
    assert_int_equal(nn_scaler_inverse_transform_columns(s, p, (const int[]){4, 5}, 2), NN_EINVAL);
    assert_error_mentions("columns[1] = 5");
    assert_int_equal(nn_scaler_inverse_transform_columns(s, p, (const int[]){4}, 1), NN_ESHAPE);
    assert_int_equal(nn_scaler_transform(s, p), NN_ESHAPE);
    assert_error_mentions("nn_scaler_transform", "[..., 5]", "[7, 2]");
    assert_memory_equal(p->data, before, sizeof before);
    nn_tensor_free(p);
    /* a strided view: the transpose of a [F, N] block */
    float tr[TAB_F * TAB_TEST];
    for (int i = 0; i < TAB_TEST; i++)
        for (int j = 0; j < TAB_F; j++)
            tr[j * TAB_TEST + i] = tab_test[i * TAB_F + j];
    nn_tensor *block = matrix_of(tr, TAB_F, TAB_TEST), *view = nn_tensor_transpose(block, 0, 1);
    assert_int_equal(nn_scaler_transform(s, view), NN_OK);
    for (int i = 0; i < TAB_TEST; i++)
        for (int j = 0; j < TAB_F; j++)
            assert_true(same_float(block->data[j * TAB_TEST + i], std_test_t[i * TAB_F + j]));
    nn_tensor_free(view);
    nn_tensor_free(block);
    /* fit refusals keep the previous fit */
    float bad[6] = {1, 2, INFINITY, 4, 5, 6};
    nn_tensor *b = matrix_of(bad, 3, 2);
    assert_int_equal(nn_scaler_fit(s, b), NN_EINVAL);
    assert_error_mentions("infinite", "row 1, column 0");
    bad[2] = NAN, bad[0] = NAN, bad[4] = NAN;
    nn_tensor_free(b);
    b = matrix_of(bad, 3, 2);
    assert_int_equal(nn_scaler_fit(s, b), NN_EINVAL);
    assert_error_mentions("column 0", "no number");
    assert_int_equal(nn_scaler_num_features(s), TAB_F);
    nn_tensor_free(b);
    nn_tensor_free(train);
    nn_tensor_free(test);
    nn_scaler_free(s);
    nn_scaler_free(NULL);
    assert_int_equal(nn_scaler_num_features(NULL), -1);
}

static void test_minmax_scaler(void **state)
{
    (void)state;
    static const struct {
        float lo, hi;
        const float *train_t, *test_t, *test_inv;
    } cases[] = {{0, 1, mm01_train_t, mm01_test_t, mm01_test_inv}, {-1, 1, mm11_train_t, mm11_test_t, mm11_test_inv}};
    for (size_t c = 0; c < 2; c++) {
        nn_scaler *s = nn_minmax_scaler(cases[c].lo, cases[c].hi);
        nn_tensor *train = matrix_of(tab_train, TAB_TRAIN, TAB_F), *test = matrix_of(tab_test, TAB_TEST, TAB_F);
        assert_int_equal(nn_scaler_fit(s, train), NN_OK);
        assert_int_equal(nn_scaler_transform(s, train), NN_OK);
        expect_floats(train->data, cases[c].train_t, TAB_TRAIN * TAB_F, 0, "minmax train");
        assert_int_equal(nn_scaler_transform(s, test), NN_OK);
        expect_floats(test->data, cases[c].test_t, TAB_TEST * TAB_F, 0, "minmax test");
        nn_tensor_free(test);
        test = matrix_of(tab_test, TAB_TEST, TAB_F);
        assert_int_equal(nn_scaler_inverse_transform(s, test), NN_OK);
        expect_floats(test->data, cases[c].test_inv, TAB_TEST * TAB_F, 0, "minmax inverse");
        nn_tensor_free(train);
        nn_tensor_free(test);
        nn_scaler_free(s);
    }
    assert_null(nn_minmax_scaler(1, 1));
    assert_error_mentions("nn_minmax_scaler", "lo < hi");
    assert_null(nn_minmax_scaler(0, NAN));
    /* allocation failures in fit: nothing leaked, the scaler still unfitted and usable */
    nn_tensor *train = matrix_of(tab_train, TAB_TRAIN, TAB_F);
    nn_set_allocator(tu_alloc, tu_release);
    nn_scaler *s = nn_standard_scaler();
    for (tu_fail_at = 1; tu_fail_at <= 6; tu_fail_at++) {
        tu_allocs = 0;
        long base = tu_live;
        assert_int_equal(nn_scaler_fit(s, train), NN_ENOMEM);
        assert_int_equal(tu_live, base);
        assert_int_equal(nn_scaler_num_features(s), 0);
    }
    tu_fail_at = -1;
    assert_int_equal(nn_scaler_fit(s, train), NN_OK);
    nn_scaler_free(s);
    nn_set_allocator(NULL, NULL);
    nn_tensor_free(train);
}

/* --- sliding windows */

static void test_sliding_windows(void **state)
{
    (void)state;
    float v[10 * 3];
    for (int r = 0; r < 10; r++)
        for (int c = 0; c < 3; c++)
            v[r * 3 + c] = (float)(r * 10 + c);
    nn_tensor *series = nn_tensor_from(v, NN_SHAPE(10, 3));
    nn_dataset d;
    /* L 3, H 2, stride 2, inputs columns {0, 2}, targets {1}: N = (10 - 3 - 2) / 2 + 1 = 3 */
    nn_window_opts o = {.input_len = 3, .horizon = 2, .stride = 2, .input_columns = (const int[]){0, 2},
                        .num_input_columns = 2, .target_columns = (const int[]){1}, .num_target_columns = 1};
    assert_int_equal(nn_sliding_windows(series, &o, &d), NN_OK);
    assert_int_equal(d.images->ndim, 3);
    assert_int_equal(d.images->shape[0], 3);
    assert_int_equal(d.images->shape[1], 3);
    assert_int_equal(d.images->shape[2], 2);
    assert_int_equal(d.labels->ndim, 2);
    assert_int_equal(d.labels->shape[1], 2);
    for (int i = 0; i < 3; i++) {
        for (int t = 0; t < 3; t++) {
            assert_true(d.images->data[(i * 3 + t) * 2] == (float)((2 * i + t) * 10));
            assert_true(d.images->data[(i * 3 + t) * 2 + 1] == (float)((2 * i + t) * 10 + 2));
        }
        for (int h = 0; h < 2; h++)
            assert_true(d.labels->data[i * 2 + h] == (float)((2 * i + 3 + h) * 10 + 1));
    }
    /* the DataLoader batches it */
    nn_dataloader *dl = nn_dataloader_new(&d, 2, false, false);
    nn_tensor *bx, *by;
    assert_true(nn_dataloader_next(dl, &bx, &by));
    assert_int_equal(bx->ndim, 3);
    assert_int_equal(bx->shape[0], 2);
    assert_int_equal(by->shape[1], 2);
    nn_dataloader_free(dl);
    nn_dataset_free(&d);

    /* defaults: horizon 1, stride 1, every column both ways; two targets flattened time-major */
    nn_window_opts def = nn_window_defaults(4);
    def.horizon = 2;
    assert_int_equal(nn_sliding_windows(series, &def, &d), NN_OK);
    assert_int_equal(d.images->shape[0], 5);
    assert_int_equal(d.images->shape[2], 3);
    assert_int_equal(d.labels->shape[1], 6);
    assert_true(d.labels->data[6 * 4 + 3 + 2] == 92.0f); /* window 4, step 1, column 2 */
    nn_dataset_free(&d);
    assert_int_equal(nn_sliding_windows(series, &(nn_window_opts){.input_len = 9}, &d), NN_OK);
    assert_int_equal(d.images->shape[0], 1);
    assert_int_equal(d.labels->shape[1], 3);
    assert_true(d.labels->data[0] == 90.0f);
    nn_dataset_free(&d);

    nn_dataset u = {(nn_tensor *)1, (nn_tensor *)2};
    assert_int_equal(nn_sliding_windows(series, &(nn_window_opts){.input_len = 10}, &u), NN_ESHAPE);
    assert_error_mentions("nn_sliding_windows", "10 steps", "input_len 10 + horizon 1");
    assert_int_equal(nn_sliding_windows(series, &(nn_window_opts){.horizon = 1}, &u), NN_EINVAL);
    assert_error_mentions("input_len");
    def = nn_window_defaults(3);
    def.stride = 0; /* from the defaults: as written */
    assert_int_equal(nn_sliding_windows(series, &def, &u), NN_EINVAL);
    assert_error_mentions("stride");
    def.stride = 1;
    def.from_defaults = 99;
    assert_int_equal(nn_sliding_windows(series, &def, &u), NN_EINVAL);
    assert_error_mentions("nn_window_opts.from_defaults");
    assert_int_equal(nn_sliding_windows(series, &(nn_window_opts){.input_len = 2, .target_columns = (const int[]){3}, .num_target_columns = 1}, &u),
                     NN_EINVAL);
    assert_error_mentions("target_columns[0] = 3");
    assert_int_equal(nn_sliding_windows(series, &(nn_window_opts){.input_len = 2, .num_input_columns = 1}, &u), NN_EINVAL);
    assert_int_equal(nn_sliding_windows(series, NULL, &u), NN_EINVAL);
    nn_tensor *flat = nn_tensor_from(v, NN_SHAPE(30));
    assert_int_equal(nn_sliding_windows(flat, &(nn_window_opts){.input_len = 2}, &u), NN_ESHAPE);
    nn_tensor_free(flat);
    assert_ptr_equal(u.images, (nn_tensor *)1);
    assert_ptr_equal(u.labels, (nn_tensor *)2);
    nn_tensor_free(series);
}

static void test_sliding_windows_strided(void **state)
{
    (void)state;
    float v[3 * 10];
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 10; r++)
            v[c * 10 + r] = (float)(r * 10 + c);
    nn_tensor *cols = nn_tensor_from(v, NN_SHAPE(3, 10)), *series = nn_tensor_transpose(cols, 0, 1);
    nn_dataset d;
    assert_int_equal(nn_sliding_windows(series, &(nn_window_opts){.input_len = 2, .stride = 3}, &d), NN_OK);
    assert_int_equal(d.images->shape[0], 3); /* (10 - 2 - 1) / 3 + 1 */
    assert_true(d.images->data[(2 * 2 + 1) * 3 + 2] == 72.0f); /* window 2 starts at row 6: step 1, column 2 */
    assert_true(d.labels->data[2 * 3 + 1] == 81.0f);
    nn_dataset_free(&d);
    nn_tensor_free(series);
    nn_tensor_free(cols);
}

/* --- helpers */

static void test_argmax_accuracy_softmax(void **state)
{
    (void)state;
    nn_tensor *x = nn_tensor_from(sm_logits, NN_SHAPE(6, 4));
    nn_tensor *am = nn_argmax(x);
    assert_non_null(am);
    assert_int_equal(am->ndim, 1);
    expect_floats(am->data, sm_argmax, 6, 0, "argmax");
    nn_tensor *sm = nn_softmax_rows(x);
    expect_floats(sm->data, sm_softmax, 24, 2e-7, "softmax");
    float labels[6];
    memcpy(labels, sm_argmax, sizeof labels);
    labels[0] += 1, labels[5] = 99;
    nn_tensor *y = nn_tensor_from(labels, NN_SHAPE(6));
    assert_true(nn_accuracy(x, y) == (float)(4.0 / 6.0));
    assert_true(nn_accuracy(sm, y) == (float)(4.0 / 6.0)); /* softmax keeps the argmax */
    /* strided logits: the transpose of a [C, N] block */
    nn_tensor *xt = nn_tensor_transpose(x, 0, 1), *xc = nn_tensor_contiguous(xt), *back = nn_tensor_transpose(xc, 0, 1);
    nn_tensor *am2 = nn_argmax(back), *sm2 = nn_softmax_rows(back);
    expect_floats(am2->data, sm_argmax, 6, 0, "strided argmax");
    expect_floats(sm2->data, sm->data, 24, 0, "strided softmax");
    /* NaN counts as the largest, as torch.argmax */
    nn_tensor *n = nn_tensor_from((const float[]){1, NAN, 3, 5, 2, 1}, NN_SHAPE(2, 3));
    nn_tensor *amn = nn_argmax(n);
    assert_true(amn->data[0] == 1.0f && amn->data[1] == 0.0f);
    /* refusals */
    assert_null(nn_argmax(y));
    assert_error_mentions("nn_argmax", "[N, C]", "[6]");
    assert_null(nn_softmax_rows(NULL));
    assert_true(isnan(nn_accuracy(x, x)));
    assert_error_mentions("nn_accuracy", "labels [6]");
    nn_tensor *empty = nn_tensor_new(NN_SHAPE(0, 4)), *noy = nn_tensor_new(NN_SHAPE(0));
    assert_true(isnan(nn_accuracy(empty, noy)));
    assert_error_mentions("no rows");
    nn_tensor *ame = nn_argmax(empty);
    assert_int_equal(ame->shape[0], 0);
    nn_tensor *all[] = {x, am, sm, y, xt, xc, back, am2, sm2, n, amn, empty, noy, ame};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        nn_tensor_free(all[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_from_arrays),
        cmocka_unit_test(test_split_lengths_and_order),
        cmocka_unit_test(test_split_shuffled),
        cmocka_unit_test(test_standard_scaler),
        cmocka_unit_test(test_minmax_scaler),
        cmocka_unit_test(test_sliding_windows),
        cmocka_unit_test(test_sliding_windows_strided),
        cmocka_unit_test(test_argmax_accuracy_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
