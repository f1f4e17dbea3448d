/* StandardScaler and MinMaxScaler as scikit-learn computes them for
   float32 data: the standard scaler's statistics in double (two passes,
   with sklearn's correction term and its test for a constant column) and
   its transform in double rounded to float after each step; the min-max
   scaler entirely in float, as NumPy does with a float32 array and a
   Python float. NaN cells are left out of the fit and stay NaN. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/tensor_impl.h"
#include "nn/data.h"

enum kind { STANDARD, MINMAX };

struct nn_scaler {
    enum kind kind;
    float lo, hi;        /* MinMax's feature_range */
    int64_t n;           /* fitted columns, 0 before a fit */
    double *mean, *scale; /* standard */
    float *fmin, *fscale; /* min-max: sklearn's min_ and scale_ */
};

static nn_scaler *scaler_new(enum kind k, float lo, float hi)
{
    nn_scaler *s = nn_alloc_zeroed(1, sizeof *s);
    if (!s)
        return nn_fail_context_null(k == STANDARD ? "nn_standard_scaler" : "nn_minmax_scaler");
    s->kind = k;
    s->lo = lo;
    s->hi = hi;
    return s;
}

nn_scaler *nn_standard_scaler(void) { return scaler_new(STANDARD, 0, 0); }

nn_scaler *nn_minmax_scaler(float lo, float hi)
{
    if (!(isfinite(lo) && isfinite(hi) && lo < hi))
        return nn_fail_null(NN_EINVAL, "nn_minmax_scaler: expected finite lo < hi (feature_range), got (%g, %g)",
                            (double)lo, (double)hi);
    return scaler_new(MINMAX, lo, hi);
}

static void release_params(nn_scaler *s)
{
    nn_release(s->mean);
    nn_release(s->scale);
    nn_release(s->fmin);
    nn_release(s->fscale);
    s->mean = s->scale = NULL;
    s->fmin = s->fscale = NULL;
}

void nn_scaler_free(nn_scaler *s)
{
    if (!s)
        return;
    release_params(s);
    nn_release(s);
}

int64_t nn_scaler_num_features(const nn_scaler *s) { return s ? s->n : -1; }

static int check_x(const char *fn, const nn_tensor *x)
{
    char a[NN_SHAPE_STR_LEN];
    int rc = nn_tensor_check(fn, "x", x);
    if (rc < 0)
        return rc;
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
        return nn_fail(NN_ESHAPE, "%s: expected x [..., F] with F >= 1 columns, got %s", fn, nn_tensor_shape_str(x, a));
    return NN_OK;
}

int nn_scaler_fit(nn_scaler *s, const nn_tensor *x)
{
    const char *fn = "nn_scaler_fit";
    if (!s)
        return nn_fail(NN_EINVAL, "%s: scaler is NULL", fn);
    int rc = check_x(fn, x);
    if (rc < 0)
        return rc;
    const int64_t f = x->shape[x->ndim - 1];
    double *sum = nn_alloc_zeroed((size_t)f, 3 * sizeof(double)); /* sum, count, then correction / min */
    float *mn = nn_alloc_zeroed((size_t)f, 2 * sizeof(float));
    if (!sum || !mn) {
        nn_release(sum);
        nn_release(mn);
        return nn_fail_context(NN_ENOMEM, "%s", fn);
    }
    double *cnt = sum + f, *aux = sum + 2 * f;
    float *mx = mn + f;
    for (int64_t j = 0; j < f; j++)
        mn[j] = INFINITY, mx[j] = -INFINITY;
    nn_rows r;
    int64_t row = 0;
    for (nn_rows_begin(&r, x); nn_rows_next(&r); row++)
        for (int64_t j = 0; j < f; j++) {
            float v = r.row[j * r.step];
            if (isnan(v))
                continue;
            if (isinf(v)) {
                nn_release(sum);
                nn_release(mn);
                return nn_fail(NN_EINVAL, "%s: x has an infinite value at row %lld, column %lld", fn, (long long)row,
                               (long long)j);
            }
            sum[j] += v;
            cnt[j] += 1;
            mn[j] = v < mn[j] ? v : mn[j];
            mx[j] = v > mx[j] ? v : mx[j];
        }
    for (int64_t j = 0; j < f; j++)
        if (cnt[j] == 0) {
            nn_release(sum);
            nn_release(mn);
            return nn_fail(NN_EINVAL, "%s: column %lld of x has no number (every cell NaN, or no rows)", fn,
                           (long long)j);
        }
    double *p1 = nn_alloc_zeroed((size_t)f, sizeof(double)), *p2 = nn_alloc_zeroed((size_t)f, sizeof(double));
    float *q1 = nn_alloc_zeroed((size_t)f, sizeof(float)), *q2 = nn_alloc_zeroed((size_t)f, sizeof(float));
    if (!p1 || !p2 || !q1 || !q2) {
        nn_release(p1), nn_release(p2), nn_release(q1), nn_release(q2);
        nn_release(sum);
        nn_release(mn);
        return nn_fail_context(NN_ENOMEM, "%s", fn);
    }
    if (s->kind == STANDARD) {
        /* second pass: sum of (x - mean) (the correction) and of its squares */
        double *sq = p2;
        for (int64_t j = 0; j < f; j++)
            p1[j] = sum[j] / cnt[j];
        for (nn_rows_begin(&r, x); nn_rows_next(&r);)
            for (int64_t j = 0; j < f; j++) {
                float v = r.row[j * r.step];
                if (isnan(v))
                    continue;
                double d = (double)v - p1[j];
                aux[j] += d;
                sq[j] += d * d;
            }
        for (int64_t j = 0; j < f; j++) {
            double var = (sq[j] - aux[j] * aux[j] / cnt[j]) / cnt[j];
            double eps = DBL_EPSILON, m = cnt[j] * p1[j] * eps;
            bool constant = var <= cnt[j] * eps * var + m * m;
            p2[j] = constant ? 1.0 : sqrt(var);
        }
    } else {
        const float width = s->hi - s->lo;
        for (int64_t j = 0; j < f; j++) {
            float range = mx[j] - mn[j];
            if (range < 10 * FLT_EPSILON) /* sklearn's _handle_zeros_in_scale */
                range = 1.0f;
            q2[j] = width / range;
            q1[j] = s->lo - mn[j] * q2[j];
        }
    }
    nn_release(sum);
    nn_release(mn);
    release_params(s);
    if (s->kind == STANDARD) {
        s->mean = p1, s->scale = p2;
        nn_release(q1), nn_release(q2);
    } else {
        s->fmin = q1, s->fscale = q2;
        nn_release(p1), nn_release(p2);
    }
    s->n = f;
    return NN_OK;
}

static int apply(const char *fn, const nn_scaler *s, nn_tensor *x, const int *cols, int n, bool inverse)
{
    char a[NN_SHAPE_STR_LEN];
    if (!s)
        return nn_fail(NN_EINVAL, "%s: scaler is NULL", fn);
    if (!s->n)
        return nn_fail(NN_EINVAL, "%s: the scaler is not fitted (call nn_scaler_fit first)", fn);
    int rc = check_x(fn, x);
    if (rc < 0)
        return rc;
    int64_t f = x->shape[x->ndim - 1];
    if (cols) {
        if (n < 1)
            return nn_fail(NN_EINVAL, "%s: expected n >= 1 columns, got %d", fn, n);
        for (int k = 0; k < n; k++)
            if (cols[k] < 0 || cols[k] >= s->n)
                return nn_fail(NN_EINVAL, "%s: columns[%d] = %d: expected a fitted column below %lld", fn, k, cols[k],
                               (long long)s->n);
        if (f != n)
            return nn_fail(NN_ESHAPE, "%s: expected x [..., %d] (the %d columns given), got %s", fn, n, n,
                           nn_tensor_shape_str(x, a));
    } else if (f != s->n) {
        return nn_fail(NN_ESHAPE, "%s: expected x [..., %lld] (the fitted columns), got %s", fn, (long long)s->n,
                       nn_tensor_shape_str(x, a));
    }
    nn_rows r;
    for (nn_rows_begin(&r, x); nn_rows_next(&r);)
        for (int64_t j = 0; j < f; j++) {
            const int64_t c = cols ? cols[j] : j;
            float *v = &r.row[j * r.step];
            if (s->kind == STANDARD) {
                if (!inverse) { /* X -= mean_; X /= scale_ (float64 loops, float32 X) */
                    float t = (float)((double)*v - s->mean[c]);
                    *v = (float)((double)t / s->scale[c]);
                } else { /* X *= scale_; X += mean_ */
                    float t = (float)((double)*v * s->scale[c]);
                    *v = (float)((double)t + s->mean[c]);
                }
            } else {
                if (!inverse) { /* X *= scale_; X += min_ (float32) */
                    float t = *v * s->fscale[c];
                    *v = t + s->fmin[c];
                } else { /* X -= min_; X /= scale_ */
                    float t = *v - s->fmin[c];
                    *v = t / s->fscale[c];
                }
            }
        }
    return NN_OK;
}

int nn_scaler_transform(const nn_scaler *s, nn_tensor *x) { return apply("nn_scaler_transform", s, x, NULL, 0, false); }

int nn_scaler_inverse_transform(const nn_scaler *s, nn_tensor *x)
{
    return apply("nn_scaler_inverse_transform", s, x, NULL, 0, true);
}

int nn_scaler_transform_columns(const nn_scaler *s, nn_tensor *x, const int *columns, int n)
{
    if (!columns)
        return nn_fail(NN_EINVAL, "nn_scaler_transform_columns: columns is NULL");
    return apply("nn_scaler_transform_columns", s, x, columns, n, false);
}

int nn_scaler_inverse_transform_columns(const nn_scaler *s, nn_tensor *x, const int *columns, int n)
{
    if (!columns)
        return nn_fail(NN_EINVAL, "nn_scaler_inverse_transform_columns: columns is NULL");
    return apply("nn_scaler_inverse_transform_columns", s, x, columns, n, true);
}
