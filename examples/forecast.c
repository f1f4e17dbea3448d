/* One-step-ahead forecasting of a real series: the daily count of Capital
   Bikeshare rentals in 2011-2012 (gretl-data's bikesharing.gdt, a traffic
   count), weekly CO2 at Mauna Loa 1958-2001 (statsmodels' co2.csv, its
   gaps filled by linear interpolation) or yearly sunspot numbers
   1700-2008 (statsmodels' sunspots.csv), or the last column of any CSV.

   The recipe: windows of the last `window` values -> the next value; the
   windows split in time order 70/15/15 into train, validation and test; a
   StandardScaler fitted on the training span of the series only; each
   window taken relative to its last value, and the target is the change
   from it (forecast = last value + predicted change: a model that learns
   nothing is the persistence forecast, and a trend such as CO2's, which
   leaves the training range, needs no extrapolation); the model is a GRU
   or LSTM (batch_first) -> last step -> Linear, or a TCN (causal dilated
   Conv1d blocks with residuals) -> last step -> Linear; Adam, MSE, batch
   32 shuffled, gradient norm clipped at 1, a fixed number of epochs. It
   prints the validation and test MAE and RMSE in the series' own units
   beside the persistence (y[t-1]) and seasonal-naive (y[t-period])
   forecasts, and with --plot draws the test span's forecast against the
   actual values. tests/ref_forecast.py is the same recipe in PyTorch. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nn.h>

#include "demo_args.h"

#define STATSMODELS "/usr/lib/python3/dist-packages/statsmodels/datasets/"
#define GRETL "/usr/share/gretl/data/misc/"

typedef struct {
    const char *name, *path, *column;
    long period, window, epochs;
    const char *xlabel, *ylabel; /* the plot's axes */
} series_info;

static const series_info SERIES[] = {
    {"bikesharing", GRETL "bikesharing.gdt", "cnt", 7, 14, 60, "days since 2011-01-01", "rentals per day"},
    {"co2", STATSMODELS "co2/co2.csv", "co2", 52, 52, 20, "weeks since 1958-03-29", "CO2 (ppm)"},
    {"sunspots", STATSMODELS "sunspots/sunspots.csv", "SUNACTIVITY", 11, 22, 100, "years since 1700", "sunspot number"},
};
static const series_info GENERIC = {"csv", NULL, NULL, 1, 16, 30, "time step", "value"}; /* --data alone: its last column */

typedef struct {
    const char *series, *data, *column, *model, *plot;
    long period, window, epochs, hidden, threads;
    unsigned long seed;
    float lr;
} opts;

static void usage(const char *prog, FILE *f)
{
    const char *slash = strrchr(prog, '/');
    prog = slash ? slash + 1 : prog;
    fprintf(f,
            "usage: %s [--series bikesharing|co2|sunspots] [--data FILE] [--column NAME] [--model gru|lstm|tcn]\n"
            "          [--window N] [--period N] [--epochs N] [--hidden N] [--lr X] [--seed N] [--threads N] [--plot FILE]\n"
            "  --series   the series and its defaults (default bikesharing):\n"
            "               bikesharing  daily rentals 2011-2012, column cnt, period 7, window 14, 60 epochs\n"
            "                            " GRETL "bikesharing.gdt (apt-get install gretl-data)\n"
            "               co2          weekly CO2 (ppm) 1958-2001, gaps interpolated, period 52, window 52, 20 epochs\n"
            "                            " STATSMODELS "co2/co2.csv (apt-get install python3-statsmodels)\n"
            "               sunspots     yearly sunspot number 1700-2008, period 11, window 22, 100 epochs\n"
            "                            " STATSMODELS "sunspots/sunspots.csv\n"
            "  --data     another file: a CSV with a header row or a gretl .gdt (gzipped or not, read through\n"
            "             gzip -dc); the series is --column, default the last column; empty cells are gaps,\n"
            "             filled by linear interpolation. Alone: period 1, window 16, 30 epochs. The .gdt as a CSV:\n"
            "               zcat " GRETL "bikesharing.gdt | awk 'BEGIN{print \"cnt\"} /<obs>/{gsub(/<[^>]*>/,\"\"); print $11}' > bikes.csv\n"
            "  --column   the series' column name\n"
            "  --model    gru (default), lstm: GRU/LSTM(1, hidden) -> last step -> Linear(hidden, 1);\n"
            "             tcn: residual blocks of two causal Conv1d(kernel 3, dilation 1, 2, 4, ...) until the\n"
            "             receptive field covers the window -> last step -> Linear(hidden, 1)\n"
            "  --window   input length (values before the forecast step)\n"
            "  --period   season length of the seasonal-naive baseline y[t-period]\n"
            "  --epochs   passes over the training windows\n"
            "  --hidden   hidden units / channels (default 32)\n"
            "  --lr       Adam's learning rate (default 0.001)\n"
            "  --seed     initial weights and shuffling (default 0)\n"
            "  --threads  threads (default: the library's)\n"
            "  --plot     write the test span's forecast against the actual values (.png or .svg)\n",
            prog);
}

static bool parse_args(int argc, char **argv, opts *o)
{
    const char *slash = strrchr(argv[0], '/'), *prog = slash ? slash + 1 : argv[0];
    if (demo_wants_help(argc, argv)) {
        usage(argv[0], stdout);
        exit(0);
    }
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v) {
            fprintf(stderr, "%s: %s needs a value\n", prog, a);
            return false;
        }
        const char **s = !strcmp(a, "--series") ? &o->series
                         : !strcmp(a, "--data") ? &o->data
                         : !strcmp(a, "--column") ? &o->column
                         : !strcmp(a, "--model") ? &o->model
                         : !strcmp(a, "--plot") ? &o->plot
                                                 : NULL;
        if (s) {
            *s = v;
            continue;
        }
        errno = 0;
        if (!strcmp(a, "--lr")) {
            if (!demo_parse_positive(prog, a, v, &o->lr))
                return false;
            continue;
        }
        long n = strtol(v, &end, 10);
        bool bad = !*v || *end || errno || n < 1 || n > 1000000;
        if (!strcmp(a, "--epochs") && !bad)
            o->epochs = n;
        else if (!strcmp(a, "--window") && !bad)
            o->window = n;
        else if (!strcmp(a, "--period") && !bad)
            o->period = n;
        else if (!strcmp(a, "--hidden") && !bad && n <= 4096)
            o->hidden = n;
        else if (!strcmp(a, "--seed") && !*end && !errno && n >= 0)
            o->seed = (unsigned long)n;
        else if (!strcmp(a, "--threads") && !bad)
            o->threads = n;
        else {
            fprintf(stderr, "%s: unknown flag or bad value: %s %s (--help: usage)\n", prog, a, v);
            return false;
        }
    }
    if (strcmp(o->model, "gru") && strcmp(o->model, "lstm") && strcmp(o->model, "tcn")) {
        fprintf(stderr, "%s: --model expects gru, lstm or tcn, got \"%s\"\n", prog, o->model);
        return false;
    }
    return true;
}

/* --- Reading the series */

/* The column `column` (NULL: the last one) of a gretl data file (XML:
   <variable name="..."> in column order, then one <obs>v1 v2 ...</obs>
   per line; NA is a gap), gzipped (read through `gzip -dc`, which every
   Debian system has) or plain. *y is malloc'd. */
static int read_gdt(const char *path, const char *column, float **y, long *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot load %s: %s\n", path, strerror(errno));
        return 1;
    }
    int c0 = getc(f), c1 = getc(f);
    bool gz = c0 == 0x1f && c1 == 0x8b, piped = false;
    if (gz) { /* gzip -dc -- 'path' with every ' written as '\'' */
        fclose(f);
        size_t len = strlen(path), k = 0;
        char *cmd = malloc(len * 4 + 32);
        if (!cmd) {
            fprintf(stderr, "cannot load %s: out of memory\n", path);
            return 1;
        }
        k = (size_t)sprintf(cmd, "gzip -dc -- '");
        for (const char *p = path; *p; p++)
            k += (size_t)(*p == '\'' ? sprintf(cmd + k, "'\\''") : sprintf(cmd + k, "%c", *p));
        strcpy(cmd + k, "'");
        f = popen(cmd, "r");
        free(cmd);
        piped = true;
        if (!f) {
            fprintf(stderr, "cannot load %s: gzip -dc: %s\n", path, strerror(errno));
            return 1;
        }
    } else
        rewind(f);
    char *line = NULL;
    size_t cap = 0;
    long col = -1, nvars = 0, cap_y = 0;
    int rc = 0;
    *y = NULL;
    *n = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        char *p = strstr(line, "<variable name=\"");
        if (p) {
            p += strlen("<variable name=\"");
            char *q = strchr(p, '"');
            if (q && column && (size_t)(q - p) == strlen(column) && !strncmp(p, column, (size_t)(q - p)))
                col = nvars;
            nvars++;
            continue;
        }
        if (!(p = strstr(line, "<obs")) || (p[4] != '>' && p[4] != ' ') || !(p = strchr(p, '>')))
            continue; /* not <obs> or <obs label="..."> (<observations ...> say) */
        if (col < 0 && !column)
            col = nvars - 1;
        if (col < 0) {
            fprintf(stderr, "cannot load %s: no variable named \"%s\" before the observations\n", path, column);
            rc = 1;
            break;
        }
        p++;
        float v = NAN;
        for (long k = 0; k <= col; k++) {
            while (*p == ' ' || *p == '\t')
                p++;
            char *end;
            double d = strtod(p, &end);
            if (end == p && !strncmp(p, "NA", 2))
                end = p + 2;
            else if (end == p || (*end != ' ' && *end != '\t' && *end != '<')) {
                fprintf(stderr, "cannot load %s: observation %ld: expected %ld values, got \"%.40s\"\n", path, *n + 1, nvars, p);
                rc = 1;
                break;
            }
            if (k == col)
                v = end == p + 2 && p[0] == 'N' ? NAN : (float)d;
            p = end;
        }
        if (!rc && *n == cap_y) {
            cap_y = cap_y ? cap_y * 2 : 1024;
            float *t = realloc(*y, (size_t)cap_y * sizeof *t);
            if (!t) {
                fprintf(stderr, "cannot load %s: out of memory\n", path);
                rc = 1;
            } else
                *y = t;
        }
        if (!rc)
            (*y)[(*n)++] = v;
    }
    free(line);
    int st = piped ? pclose(f) : fclose(f);
    if (!rc && st != 0) {
        fprintf(stderr, "cannot load %s: %s failed\n", path, piped ? "gzip -dc" : "reading");
        rc = 1;
    }
    if (!rc && *n == 0) {
        fprintf(stderr, "cannot load %s: no <obs> rows (a gretl .gdt file?)\n", path);
        rc = 1;
    }
    if (rc) {
        free(*y);
        *y = NULL;
    }
    return rc;
}

/* The named column (or the last one) of a CSV with a header; empty or
   non-numeric cells are NaN (gaps). *y is malloc'd. */
static int read_csv(const char *path, const char *column, float **y, long *n)
{
    nn_table t = {0};
    const char *const names[1] = {column};
    nn_csv_opts co = nn_csv_defaults();
    co.nan_on_bad = true;
    if (column) {
        co.column_names = names;
        co.num_columns = 1;
    }
    if (nn_csv_load(path, &co, &t) < 0) {
        fprintf(stderr, "cannot load %s: %s\n", path, nn_last_error());
        return 1;
    }
    *n = (long)t.rows;
    *y = malloc((size_t)(t.rows ? t.rows : 1) * sizeof **y);
    if (*y)
        for (int64_t r = 0; r < t.rows; r++)
            (*y)[r] = t.values->data[r * t.cols + t.cols - 1];
    nn_table_free(&t);
    return *y ? 0 : 1;
}

/* Gaps (NaN) filled by linear interpolation between the nearest values on
   each side, the nearest value at the ends (numpy.interp); the number
   filled, or -1 when there is no value at all. */
static long fill_gaps(float *y, long n)
{
    long filled = 0, prev = -1;
    for (long i = 0; i <= n; i++) {
        if (i < n && isnan(y[i]))
            continue;
        for (long k = prev + 1; k < i; k++, filled++) {
            if (prev < 0 && i == n)
                return -1;
            y[k] = prev < 0 ? y[i] : i == n ? y[prev] : y[prev] + (y[i] - y[prev]) * (float)(k - prev) / (float)(i - prev);
        }
        prev = i;
    }
    return filled;
}

/* --- The models */

/* Bai et al.'s TemporalBlock (no weight norm, no dropout): relu(body(x) +
   shortcut(x)), body = two causal dilated Conv1d, each with ReLU. */
static nn_module *tcn_block(int64_t cin, int64_t cout, int dilation)
{
    int pad = 2 * dilation;
    nn_module *body = nn_sequential();
    nn_sequential_add(body, "0", nn_conv1d(cin, cout, 3, 1, pad, dilation));
    nn_sequential_add(body, "1", nn_chomp1d(pad));
    nn_sequential_add(body, "2", nn_relu());
    nn_sequential_add(body, "3", nn_conv1d(cout, cout, 3, 1, pad, dilation));
    nn_sequential_add(body, "4", nn_chomp1d(pad));
    nn_sequential_add(body, "5", nn_relu());
    nn_module *shortcut = cin != cout ? nn_conv1d(cin, cout, 1, 1, 0, 1) : NULL;
    nn_module *block = nn_sequential();
    if (nn_sequential_add(block, "residual", nn_residual(body, shortcut)) < 0 ||
        nn_sequential_add(block, "relu", nn_relu()) < 0) {
        nn_module_free(block);
        return NULL;
    }
    return block;
}

static nn_module *make_model(const opts *o)
{
    nn_module *net = nn_sequential();
    int st = 0;
    if (!strcmp(o->model, "tcn")) {
        int64_t cin = 1;
        for (int d = 1, k = 0;; d *= 2, k++) { /* receptive field 1 + 4 (2d - 1) */
            char name[16];
            snprintf(name, sizeof name, "block%d", k);
            st |= nn_sequential_add(net, name, tcn_block(cin, o->hidden, d));
            cin = o->hidden;
            if (1 + 4 * (2 * (long)d - 1) >= o->window || st < 0)
                break;
        }
        st |= nn_sequential_add(net, "last", nn_select(2, -1));
    } else {
        if (!strcmp(o->model, "gru")) {
            nn_gru_opts g = nn_gru_defaults(1, o->hidden);
            g.batch_first = true;
            st |= nn_sequential_add(net, "rnn", nn_gru_ex(&g));
        } else {
            nn_lstm_opts l = nn_lstm_defaults(1, o->hidden);
            l.batch_first = true;
            st |= nn_sequential_add(net, "rnn", nn_lstm_ex(&l));
        }
        st |= nn_sequential_add(net, "last", nn_select(1, -1));
    }
    st |= nn_sequential_add(net, "head", nn_linear(o->hidden, 1, true));
    if (st < 0) {
        nn_module_free(net);
        return NULL;
    }
    return net;
}

/* --- Training and measuring */

typedef struct {
    double mae, rmse;
} errors;

static errors measure(const float *forecast, const float *actual, long n)
{
    double a = 0, s = 0;
    for (long i = 0; i < n; i++) {
        double e = (double)forecast[i] - (double)actual[i];
        a += fabs(e);
        s += e * e;
    }
    return (errors){a / (double)n, sqrt(s / (double)n)};
}

/* The model's forecasts of a part's windows in the series' units:
   (window's last scaled value + predicted change), inverse-scaled. */
static int forecast_part(nn_module *net, const nn_dataset *d, const float *last, const nn_scaler *sc, float *out)
{
    nn_module_train(net, false);
    nn_tensor *p = nn_forward(net, d->images);
    nn_module_train(net, true);
    int64_t n = d->images->shape[0];
    nn_tensor *f = p ? nn_tensor_new(NN_SHAPE(n, 1)) : NULL;
    int rc = f ? NN_OK : -1;
    for (int64_t i = 0; f && i < n; i++)
        f->data[i] = last[i] + p->data[i * p->stride[0]];
    if (f && nn_scaler_inverse_transform(sc, f) < 0)
        rc = -1;
    if (f && rc == NN_OK)
        memcpy(out, f->data, (size_t)n * sizeof *out);
    nn_tensor_free(f);
    return rc;
}

static int train(const opts *o, nn_module *net, const nn_dataset *tr, const nn_dataset *va, const float *va_last,
                 const nn_scaler *sc, const float *va_actual, float *buf)
{
    nn_adam_opts ao = nn_adam_defaults();
    ao.lr = o->lr;
    nn_optim *opt = nn_adam(net, &ao);
    nn_loss *mse = nn_mse_loss();
    nn_dataloader *dl = nn_dataloader_new(tr, 32, true, false);
    int rc = opt && mse && dl ? 0 : 1;
    for (long e = 1; rc == 0 && e <= o->epochs; e++) {
        nn_tensor *x, *y;
        double sum = 0;
        long batches = 0;
        while (rc == 0 && nn_dataloader_next(dl, &x, &y)) {
            nn_optim_zero_grad(opt);
            nn_tensor *out = nn_forward(net, x);
            float loss = out ? nn_loss_forward(mse, out, y) : NAN;
            if (!isfinite(loss) || nn_backward_params(net, nn_loss_backward(mse)) < 0 ||
                !isfinite(nn_clip_grad_norm(net, 1.0f, 2.0f)) || nn_optim_step(opt) < 0)
                rc = 1;
            sum += loss;
            batches++;
        }
        if (rc == 0 && nn_dataloader_status(dl) < 0)
            rc = 1;
        if (rc == 0 && (e % 10 == 0 || e == o->epochs)) {
            if (forecast_part(net, va, va_last, sc, buf) < 0)
                rc = 1;
            else
                printf("epoch %ld: loss %.5f, validation MAE %.4g\n", e, sum / (double)batches,
                       measure(buf, va_actual, va->images->shape[0]).mae);
        }
    }
    if (rc)
        fprintf(stderr, "training failed: %s\n", nn_last_error());
    nn_dataloader_free(dl);
    nn_loss_free(mse);
    nn_optim_free(opt);
    return rc;
}

static int plot(const char *path, const float *actual, const float *forecast, long n, long first, const char *what,
                const series_info *si)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return -1;
    for (long i = 0; i < n; i++)
        x[i] = (float)(first + i);
    nn_viz_series s[2] = {{"actual", x, actual, n}, {"forecast", x, forecast, n}};
    char title[160];
    snprintf(title, sizeof title, "%s: one step ahead, test span", what);
    nn_viz_plot_opts po = nn_viz_plot_defaults();
    po.title = title;
    po.xlabel = si->xlabel;
    po.ylabel = si->ylabel;
    size_t len = strlen(path);
    bool svg = len >= 4 && !strcmp(path + len - 4, ".svg");
    int rc = svg ? nn_viz_lines_svg(path, s, 2, &po) : nn_viz_lines_png(path, s, 2, &po);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.model = "gru", .hidden = 32, .lr = 1e-3f};
    if (!parse_args(argc, argv, &o))
        return 2;
    const char *slash = strrchr(argv[0], '/'), *prog = slash ? slash + 1 : argv[0];
    const series_info *si = NULL;
    const char *name = o.series ? o.series : "bikesharing";
    for (size_t i = 0; i < sizeof SERIES / sizeof *SERIES; i++)
        if (!strcmp(name, SERIES[i].name)) {
            si = &SERIES[i];
            break;
        }
    if (o.data && !o.series)
        si = &GENERIC;
    if (!si) {
        fprintf(stderr, "%s: --series expects bikesharing, co2 or sunspots, got \"%s\"\n", prog, o.series);
        return 2;
    }
    const char *path = o.data ? o.data : si->path, *column = o.column ? o.column : si->column;
    o.period = o.period ? o.period : si->period;
    o.window = o.window ? o.window : si->window;
    o.epochs = o.epochs ? o.epochs : si->epochs;
    if (o.threads && nn_set_num_threads((int)(o.threads < 256 ? o.threads : 256)) < 0) {
        fprintf(stderr, "--threads: %s\n", nn_last_error());
        return 2;
    }

    float *y = NULL;
    long T = 0;
    size_t plen = strlen(path);
    bool gdt = plen >= 4 && !strcmp(path + plen - 4, ".gdt");
    if (gdt ? read_gdt(path, column, &y, &T) : read_csv(path, column, &y, &T)) {
        if (!o.data)
            fprintf(stderr, "(apt-get install %s, or give the file with --data)\n",
                    gdt ? "gretl-data" : "python3-statsmodels");
        return 1;
    }
    long filled = fill_gaps(y, T), L = o.window, N = T - L;
    if (filled < 0 || N < 20 || o.period > (long)floor((double)N * 0.7) + L) {
        fprintf(stderr, "%s: %ld values%s: need at least window + 20 (window %ld) and a period (%ld) shorter than the training span\n",
                path, T, filled < 0 ? ", none a number" : "", L, o.period);
        free(y);
        return 1;
    }

    /* the chronological split's lengths, as nn_dataset_split computes them */
    int64_t len[3] = {(int64_t)floor((double)N * 0.7), (int64_t)floor((double)N * 0.15), (int64_t)floor((double)N * 0.15)};
    for (int64_t i = 0, rest = N - len[0] - len[1] - len[2]; i < rest; i++)
        len[i % 3]++;
    /* the scaler sees the training span only: every value a training window holds */
    nn_tensor *series = nn_tensor_from(y, NN_SHAPE(T, 1));
    const nn_tensor span = {.data = y, .ndim = 2, .shape = {len[0] + L, 1}, .stride = {1, 1}}; /* y's first rows */
    nn_scaler *sc = nn_standard_scaler();
    nn_dataset all = {0}, tr = {0}, va = {0}, te = {0};
    nn_module *net = NULL;
    float *last = malloc((size_t)N * sizeof *last), *buf = malloc((size_t)N * sizeof *buf);
    int rc = series && sc && last && buf ? 0 : 1;
    if (!rc) {
        nn_window_opts w = nn_window_defaults(L);
        rc = nn_scaler_fit(sc, &span) < 0 || nn_scaler_transform(sc, series) < 0 || nn_sliding_windows(series, &w, &all) < 0;
    }
    if (!rc) { /* relative to the window's last value: inputs x - last, target y - last */
        float *x = all.images->data, *t = all.labels->data;
        for (long i = 0; i < N; i++) {
            last[i] = x[i * L + L - 1];
            for (long k = 0; k < L; k++)
                x[i * L + k] -= last[i];
            t[i] -= last[i];
        }
        if (!strcmp(o.model, "tcn")) { /* Conv1d wants [N, channels 1, L]: the same memory */
            nn_tensor *v = nn_tensor_reshape(all.images, NN_SHAPE(N, 1, L));
            rc = !v;
            if (v) {
                nn_tensor_free(all.images);
                all.images = v;
            }
        }
    }
    nn_manual_seed(o.seed);
    if (!rc && nn_dataset_split(&all, (const double[]){0.7, 0.15, 0.15}, false, &tr, &va, &te) < 0)
        rc = 1;
    if (!rc && (tr.images->shape[0] != len[0] || va.images->shape[0] != len[1])) {
        fprintf(stderr, "nn_dataset_split made parts of %lld and %lld windows, expected %lld and %lld\n",
                (long long)tr.images->shape[0], (long long)va.images->shape[0], (long long)len[0], (long long)len[1]);
        rc = 1;
    }
    if (!rc && !(net = make_model(&o)))
        rc = 1;
    if (rc)
        fprintf(stderr, "setup failed: %s\n", nn_last_error());
    else {
        printf("%s: %ld values%s, window %ld, period %ld; windows: train %lld, validation %lld, test %lld\n", path, T,
               filled ? " (gaps filled)" : "", L, o.period, (long long)len[0], (long long)len[1], (long long)len[2]);
        if (filled)
            printf("%ld gaps filled by linear interpolation\n", filled);
        nn_module_print(net, stdout);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = train(&o, net, &tr, &va, last + len[0], sc, y + len[0] + L, buf);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        const nn_dataset *parts[2] = {&va, &te};
        const char *names[2] = {"validation", "test"};
        for (int p = 0; !rc && p < 2; p++) {
            long first = (long)(p ? len[0] + len[1] : len[0]), n = (long)(p ? len[2] : len[1]);
            const float *actual = y + first + L; /* window i forecasts y[i + L] */
            if (forecast_part(net, parts[p], last + first, sc, buf) < 0) {
                fprintf(stderr, "evaluation failed: %s\n", nn_last_error());
                rc = 1;
                break;
            }
            errors m = measure(buf, actual, n), pe = measure(actual - 1, actual, n),
                   sn = measure(actual - o.period, actual, n);
            printf("%s MAE %.4g RMSE %.4g | persistence MAE %.4g RMSE %.4g | seasonal-naive(%ld) MAE %.4g RMSE %.4g\n",
                   names[p], m.mae, m.rmse, pe.mae, pe.rmse, o.period, sn.mae, sn.rmse);
            if (p == 1 && o.plot) {
                if (plot(o.plot, actual, buf, n, first + L, o.series ? o.series : path, si) < 0) {
                    fprintf(stderr, "cannot write %s: %s\n", o.plot, nn_last_error());
                    rc = 1;
                } else
                    printf("plot: %s\n", o.plot);
            }
        }
        if (!rc)
            printf("training: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    nn_module_free(net);
    nn_dataset_free(&all);
    nn_dataset_free(&tr);
    nn_dataset_free(&va);
    nn_dataset_free(&te);
    nn_scaler_free(sc);
    nn_tensor_free(series);
    free(last);
    free(buf);
    free(y);
    return rc;
}
