/* A classifier over a CSV table: the first thing people do with their own
   data. Loads the table (scikit-learn's bundled breast_cancer.csv by
   default: 569 tumours, 30 measurements, the class in the last column),
   splits it 60/20/20 into train, validation and test sets (a seeded
   shuffle), scales the features with a StandardScaler fitted on the
   training part only, trains an MLP Linear(F, 32) - ReLU - Linear(32, C)
   with Adam(1e-3), batch 32, cross-entropy, and prints the validation
   accuracy every 10 epochs and the test accuracy at the end.
   tests/ref_tabular.py is the same recipe in PyTorch. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nn.h>

#include "demo_args.h"

#define SKLEARN_DATA "/usr/lib/python3/dist-packages/sklearn/datasets/data/"

typedef struct {
    const char *data;
    long epochs, skip_rows, threads, hidden;
    unsigned long seed;
    float lr;
} opts;

static void usage(const char *prog, FILE *f)
{
    const char *slash = strrchr(prog, '/');
    prog = slash ? slash + 1 : prog;
    fprintf(f,
            "usage: %s [--data FILE.csv] [--skip-rows N] [--epochs N] [--hidden N] [--lr X] [--seed N] [--threads N]\n"
            "  --data       a CSV of numbers whose last column is the class (0, 1, ...);\n"
            "               default " SKLEARN_DATA "breast_cancer.csv\n"
            "               (Debian: apt-get install python3-sklearn; wine_data.csv there works too)\n"
            "  --skip-rows  rows before the data (default 1: scikit-learn's count row; 0 with a\n"
            "               header row means: pass --skip-rows 1 too, the names are not used)\n"
            "  --epochs     passes over the training set (default 50)\n"
            "  --hidden     hidden units (default 32)\n"
            "  --lr         Adam's learning rate (default 0.001)\n"
            "  --seed       the split, the initial weights and the shuffling (default 0)\n"
            "  --threads    threads (default: the library's)\n",
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
        errno = 0;
        if (!strcmp(a, "--data")) {
            o->data = v;
            continue;
        }
        if (!strcmp(a, "--lr")) {
            if (!demo_parse_positive(prog, a, v, &o->lr))
                return false;
            continue;
        }
        long n = strtol(v, &end, 10);
        bool bad = *end || errno || n < 0;
        if (!strcmp(a, "--epochs") && !bad && n >= 1)
            o->epochs = n;
        else if (!strcmp(a, "--skip-rows") && !bad)
            o->skip_rows = n;
        else if (!strcmp(a, "--hidden") && !bad && n >= 1)
            o->hidden = n;
        else if (!strcmp(a, "--seed") && !bad)
            o->seed = (unsigned long)n;
        else if (!strcmp(a, "--threads") && !bad && n >= 1)
            o->threads = n;
        else {
            fprintf(stderr, "%s: unknown flag or bad value: %s %s (--help: usage)\n", prog, a, v);
            return false;
        }
    }
    return true;
}

/* Features = every column but the last, labels = the last; NN_OK or why not. */
static int make_dataset(const nn_table *t, nn_dataset *d, int64_t *classes)
{
    int64_t n = t->rows, f = t->cols - 1;
    if (n < 5 || f < 1) {
        fprintf(stderr, "the table has %lld rows and %lld columns: need at least 5 rows and 2 columns\n",
                (long long)n, (long long)t->cols);
        return NN_EINVAL;
    }
    float *x = malloc((size_t)(n * f) * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    int rc = x && y ? NN_OK : NN_ENOMEM;
    *classes = 0;
    for (int64_t r = 0; rc == NN_OK && r < n; r++) {
        memcpy(x + r * f, t->values->data + r * t->cols, (size_t)f * sizeof *x);
        y[r] = t->values->data[r * t->cols + f];
        if (!(y[r] >= 0 && y[r] < 1000 && y[r] == floorf(y[r]))) {
            fprintf(stderr, "row %lld: the class (last column) must be a whole number 0..999, got %g\n",
                    (long long)r + 1, (double)y[r]);
            rc = NN_EINVAL;
        } else if ((int64_t)y[r] + 1 > *classes)
            *classes = (int64_t)y[r] + 1;
    }
    if (rc == NN_OK)
        rc = nn_dataset_from_arrays(x, NN_SHAPE(n, f), y, NN_SHAPE(n), d);
    free(x);
    free(y);
    return rc;
}

/* Accuracy of net on a whole dataset (evaluation mode). */
static float accuracy(nn_module *net, const nn_dataset *d)
{
    nn_module_train(net, false);
    nn_tensor *out = nn_forward(net, d->images);
    float acc = out ? nn_accuracy(out, d->labels) : NAN;
    nn_module_train(net, true);
    return acc;
}

static int train(const opts *o, nn_module *net, const nn_dataset *tr, const nn_dataset *va)
{
    nn_adam_opts ao = nn_adam_defaults();
    ao.lr = o->lr;
    nn_optim *opt = nn_adam(net, &ao);
    nn_loss *ce = nn_cross_entropy_loss();
    nn_dataloader *dl = nn_dataloader_new(tr, 32, true, false);
    int rc = opt && ce && dl ? 0 : 1;
    for (long e = 1; rc == 0 && e <= o->epochs; e++) {
        nn_tensor *x, *y;
        double sum = 0;
        long batches = 0;
        while (rc == 0 && nn_dataloader_next(dl, &x, &y)) {
            nn_optim_zero_grad(opt);
            nn_tensor *out = nn_forward(net, x);
            float loss = out ? nn_loss_forward(ce, out, y) : NAN;
            if (!isfinite(loss) || nn_backward_params(net, nn_loss_backward(ce)) < 0 || nn_optim_step(opt) < 0)
                rc = 1;
            sum += loss;
            batches++;
        }
        if (rc == 0 && nn_dataloader_status(dl) < 0)
            rc = 1;
        if (rc == 0 && (e % 10 == 0 || e == o->epochs))
            printf("epoch %ld: loss %.4f, validation accuracy %.4f\n", e, sum / (double)batches, accuracy(net, va));
    }
    if (rc)
        fprintf(stderr, "training failed: %s\n", nn_last_error());
    nn_dataloader_free(dl);
    nn_loss_free(ce);
    nn_optim_free(opt);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.data = SKLEARN_DATA "breast_cancer.csv", .epochs = 50, .skip_rows = 1, .hidden = 32, .lr = 1e-3f};
    if (!parse_args(argc, argv, &o))
        return 2;
    if (o.threads && nn_set_num_threads((int)(o.threads < 256 ? o.threads : 256)) < 0) {
        fprintf(stderr, "--threads: %s\n", nn_last_error());
        return 2;
    }
    nn_table t = {0};
    nn_csv_opts co = nn_csv_defaults();
    co.no_header = true;
    co.skip_rows = o.skip_rows;
    if (nn_csv_load(o.data, &co, &t) < 0) {
        fprintf(stderr, "cannot load %s: %s\n(scikit-learn's tables: apt-get install python3-sklearn)\n", o.data,
                nn_last_error());
        return 1;
    }
    nn_dataset all = {0}, tr = {0}, va = {0}, te = {0};
    int64_t classes;
    int rc = make_dataset(&t, &all, &classes) < 0;
    nn_manual_seed(o.seed);
    if (!rc && nn_dataset_split(&all, (const double[]){0.6, 0.2, 0.2}, true, &tr, &va, &te) < 0)
        rc = 1;
    /* the scaler learns the training part only, then scales every part */
    nn_scaler *sc = rc ? NULL : nn_standard_scaler();
    if (!rc && (!sc || nn_scaler_fit(sc, tr.images) < 0 || nn_scaler_transform(sc, tr.images) < 0 ||
                nn_scaler_transform(sc, va.images) < 0 || nn_scaler_transform(sc, te.images) < 0))
        rc = 1;
    nn_module *net = NULL;
    if (!rc) {
        net = nn_sequential();
        int64_t f = tr.images->shape[1];
        if (nn_sequential_add(net, "fc1", nn_linear(f, o.hidden, true)) < 0 ||
            nn_sequential_add(net, "relu", nn_relu()) < 0 || nn_sequential_add(net, "fc2", nn_linear(o.hidden, classes, true)) < 0)
            rc = 1;
    }
    if (rc)
        fprintf(stderr, "setup failed: %s\n", nn_last_error());
    else {
        printf("%s: %lld rows, %lld features, %lld classes; train %lld, validation %lld, test %lld\n", o.data,
               (long long)t.rows, (long long)t.cols - 1, (long long)classes, (long long)tr.images->shape[0],
               (long long)va.images->shape[0], (long long)te.images->shape[0]);
        nn_module_print(net, stdout);
        rc = train(&o, net, &tr, &va);
        if (!rc)
            printf("test accuracy: %.4f\n", accuracy(net, &te));
    }
    nn_module_free(net);
    nn_scaler_free(sc);
    nn_dataset_free(&all);
    nn_dataset_free(&tr);
    nn_dataset_free(&va);
    nn_dataset_free(&te);
    nn_table_free(&t);
    return rc;
}
