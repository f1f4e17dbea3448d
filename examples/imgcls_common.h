/* Shared by examples/fashion_mnist.c and examples/cifar10.c: flags, the
   training loop with a progress display, evaluation, the confusion matrix
   and an SVG of the loss and accuracy curves. Header-only so each example
   stays one program. */
#ifndef IMGCLS_COMMON_H
#define IMGCLS_COMMON_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nn.h>

#include "demo_args.h"

/* Data-parallel runs (examples/mpi/ddp_fashion_mnist.c: MPI through
   libnn_mpi) fill this in; single-process runs leave run_opts.dist NULL.
   The runner then trains on this rank's share of every epoch
   (nn_dataloader_set_shard), averages the gradients through backward,
   agrees on every failure with the other ranks so that all stop together,
   prints and saves on rank 0 only, and resumes every rank from rank 0's
   checkpoint. Each callback is collective (every rank calls it). */
typedef struct {
    int rank, world;
    void *ctx;
    int (*start)(void *ctx, nn_module *net, nn_optim *opt); /* rank 0's parameters and buffers to all */
    int (*before_forward)(void *ctx);                       /* each training step */
    int (*backward)(void *ctx, const nn_tensor *grad_out);  /* nn_backward_params + averaged gradients;
                                                               NULL: no backward, only the reduction */
    int (*agree)(void *ctx, int status);                    /* -1: all ranks OK, else the lowest failed rank */
    int (*sync_buffers)(void *ctx);                         /* before evaluation and checkpoints */
    void (*epoch_done)(void *ctx, long epoch, double train_seconds, long steps); /* e.g. timings */
} imgcls_dist;

/* "rank 1: " in front of error messages of a data-parallel run */
static char imgcls_who[32];

typedef struct {
    const char *data, *svg, *save, *resume;
    long epochs, batch_size, limit, threads; /* threads 0: the library's default */
    long width; /* the ResNet's stem channels (stages W, 2W, 4W); 0: a model without --width */
    unsigned long long seed;
    float lr;
    bool normalize; /* inputs to [-1, 1]: Normalize(0.5, 0.5) per channel, as the tutorial */
    /* the recipe beyond the tutorial's Adam (resnet_fashion_mnist): AdamW
       with this weight decay, a cosine schedule stepped per batch over the
       whole run, RandomCrop(side, padding) + RandomHorizontalFlip(flip_p) */
    bool adamw, cosine;
    float weight_decay, flip_p;
    int crop_padding; /* 0: no augmentation */
    const imgcls_dist *dist; /* NULL: one process */
} run_opts;

/* Tells every rank of a data-parallel run whether some rank failed (-1:
   none); a rank that did not fail says which one did. One process: -1
   unless status failed (0). */
static int dist_agree(const run_opts *o, int status, const char *when)
{
    if (!o->dist)
        return status < 0 ? 0 : -1;
    int failed = o->dist->agree(o->dist->ctx, status);
    if (failed < -1) {
        fprintf(stderr, "%sstopping: the agreement %s failed: %s\n", imgcls_who, when, nn_last_error());
        return o->dist->rank;
    }
    if (failed >= 0 && status >= 0)
        fprintf(stderr, "%sstopping: rank %d failed %s (its message says why)\n", imgcls_who, failed, when);
    return failed;
}

static void usage(const char *prog, const run_opts *d, FILE *f)
{
    fprintf(f,
            "usage: %s [--data DIR] [--epochs N] [--batch-size N] [--seed N] [--lr X]\n"
            "          [--limit N] [--svg FILE] [--save PATH] [--resume PATH] [--threads N]\n"
            "  --data DIR      dataset directory (default %s)\n"
            "  --epochs N      passes over the training set (default %ld)\n"
            "  --batch-size N  images per step (default %ld)\n"
            "  --seed N        seed of the library generator: weights and shuffling (default %llu)\n"
            "  --lr X          Adam learning rate (default %g)\n"
            "  --normalize on|off  map pixels from [0, 1] to [-1, 1] as the tutorial's\n"
            "                  transforms.Normalize(0.5, 0.5) does (default %s)\n"
            "  --limit N       use only the first N training and N test images (quick runs)\n"
            "  --svg FILE      loss and accuracy curves (default %s)\n"
            "  --save PATH     checkpoint after every epoch: the model in PATH (safetensors, loads in\n"
            "                  PyTorch), the Adam state in PATH.optim, the epoch and generator in PATH.state\n"
            "  --resume PATH   continue from a --save checkpoint up to --epochs (the learning rate\n"
            "                  comes from the checkpoint; pass the same --data, --limit and --batch-size)\n"
            "  --threads N     threads for the large kernels (default: NN_NUM_THREADS, else all cores;\n"
            "                  results are identical for any N)\n",
            prog, d->data, d->epochs, d->batch_size, d->seed, (double)d->lr, d->normalize ? "on" : "off", d->svg);
    if (d->width)
        fprintf(f, "  --width N       channels of the stem and first stage; the stages have N, 2N, 4N\n"
                   "                  (default %ld)\n",
                d->width);
}

static long parse_long(const char *prog, const char *flag, const char *s, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min) {
        fprintf(stderr, "%s: %s expects an integer >= %ld, got \"%s\"\n", prog, flag, min, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, run_opts *o)
{
    if (demo_wants_help(argc, argv)) {
        usage(argv[0], o, stdout);
        exit(0);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: unknown flag or missing value: %s\n", argv[0], a);
            usage(argv[0], o, stderr);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--svg"))
            o->svg = v;
        else if (!strcmp(a, "--save"))
            o->save = v;
        else if (!strcmp(a, "--resume"))
            o->resume = v;
        else if (!strcmp(a, "--normalize")) {
            if (strcmp(v, "on") && strcmp(v, "off")) {
                fprintf(stderr, "%s: --normalize expects on or off, got \"%s\"\n", argv[0], v);
                exit(2);
            }
            o->normalize = !strcmp(v, "on");
        }
        else if (!strcmp(a, "--epochs"))
            o->epochs = parse_long(argv[0], a, v, 1);
        else if (!strcmp(a, "--batch-size"))
            o->batch_size = parse_long(argv[0], a, v, 1);
        else if (!strcmp(a, "--threads"))
            o->threads = parse_long(argv[0], a, v, 1);
        else if (!strcmp(a, "--limit"))
            o->limit = parse_long(argv[0], a, v, 1);
        else if (o->width && !strcmp(a, "--width"))
            o->width = parse_long(argv[0], a, v, 1);
        else if (!strcmp(a, "--seed"))
            o->seed = (unsigned long long)parse_long(argv[0], a, v, 0);
        else if (!strcmp(a, "--lr")) {
            char *end;
            o->lr = strtof(v, &end);
            if (*end || !(o->lr > 0)) {
                fprintf(stderr, "%s: --lr expects a positive number, got \"%s\"\n", argv[0], v);
                exit(2);
            }
        } else {
            fprintf(stderr, "%s: unknown flag %s\n", argv[0], a);
            usage(argv[0], o, stderr);
            exit(2);
        }
    }
}

/* The image-classification CNN for square images of the given side:
   Conv2d(c,32,3,1,1) -> ReLU -> MaxPool2d(2) -> Conv2d(32,64,3,1,1) -> ReLU
   -> MaxPool2d(2) -> Flatten -> Linear(64*(side/4)^2,128) -> ReLU -> Linear(128,10) */
static inline nn_module *imgcls_net(int64_t channels, int64_t side)
{
    nn_module *net = nn_sequential();
    nn_module *layers[] = {nn_conv2d(channels, 32, 3, 1, 1), nn_relu(), nn_maxpool2d(2, 0),
                           nn_conv2d(32, 64, 3, 1, 1), nn_relu(), nn_maxpool2d(2, 0),
                           nn_flatten(), nn_linear(64 * (side / 4) * (side / 4), 128, true), nn_relu(),
                           nn_linear(128, 10, true)};
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
        if (!net || !layers[i] || nn_sequential_add(net, NULL, layers[i]) < 0) {
            for (size_t j = i; j < sizeof layers / sizeof *layers; j++)
                nn_module_free(layers[j]);
            nn_module_free(net);
            return NULL;
        }
    }
    return net;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Keeps the first n items of d (copies them, frees the rest). */
static int keep_first(nn_dataset *d, long n)
{
    if (n <= 0 || n >= d->images->shape[0])
        return 0;
    nn_tensor *img = nn_tensor_from(d->images->data, d->images->ndim,
                                    (int64_t[]){n, d->images->shape[1], d->images->shape[2], d->images->shape[3]});
    nn_tensor *lab = nn_tensor_from(d->labels->data, 1, (int64_t[]){n});
    if (!img || !lab) {
        nn_tensor_free(img);
        nn_tensor_free(lab);
        return -1;
    }
    nn_dataset_free(d);
    d->images = img;
    d->labels = lab;
    return 0;
}

/* (x - 0.5) / 0.5 in every channel: torchvision's Normalize((0.5, ...),
   (0.5, ...)), which the tutorial applies to CIFAR-10. Measured on
   Fashion-MNIST (2 epochs, 6 seeds): +0.8 points of test accuracy. */
static int normalize_half(nn_dataset *d)
{
    const float half[3] = {0.5f, 0.5f, 0.5f}; /* our data sets have 1 or 3 channels */
    return nn_dataset_normalize(d, d->images->shape[1] == 3 ? 3 : 1, half, half);
}

/* --- curves recorded for the SVG */
#define MAX_POINTS 4096
typedef struct {
    double loss_x[MAX_POINTS], loss_y[MAX_POINTS]; /* x in epochs */
    int n_loss;
    double acc[256]; /* acc[i] after epoch first_epoch + i */
    int n_acc;
    long first_epoch;
} curves;

static void progress(bool tty, long epoch, long epochs, long step, long steps, double loss, double ips)
{
    if (imgcls_who[0] && strcmp(imgcls_who, "rank 0: ") != 0)
        return; /* data-parallel: rank 0 speaks */
    if (tty) {
        int width = 30, done = (int)(width * step / steps);
        fprintf(stderr, "\repoch %ld/%ld [%.*s%s%*s] %ld/%ld loss %.4f %6.0f img/s", epoch, epochs, done,
                "==============================", done < width ? ">" : "", width - done - (done < width), "", step,
                steps, loss, ips);
        if (step == steps)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "epoch %ld/%ld step %ld/%ld loss %.4f %.0f img/s\n", epoch, epochs, step, steps, loss, ips);
    }
    fflush(stderr);
}

/* One pass over the training set. Returns images per second, or -1 after
   printing why training stopped. */
static double train_epoch(const run_opts *o, nn_module *net, nn_loss *ce, nn_optim *opt, nn_lr_scheduler *sched,
                          nn_dataloader *dl, long epoch, long epochs, curves *c)
{
    /* Data-parallel: every step starts with one agreement on the last
       step's outcome on every rank (a rank whose loader failed meets it
       at its end-of-epoch agreement), so all ranks stop at the same point;
       a rank whose forward failed still takes part in the gradient
       reduction (backward with no gradient) so that nobody waits. */
    const imgcls_dist *dist = o->dist;
    int carried = NN_OK; /* this rank's failure in the last step: agreed on at the next */
    char when[96];
    bool tty = isatty(STDERR_FILENO);
    long steps = (long)nn_dataloader_len(dl), step = 0, images = 0;
    double running = 0, t0 = now_s(), last_print = 0;
    nn_tensor *x, *y;
    nn_module_train(net, true);
    while (nn_dataloader_next(dl, &x, &y)) {
        step++;
        snprintf(when, sizeof when, "at epoch %ld step %ld", epoch, step - 1);
        if (dist && dist_agree(o, carried, when) >= 0)
            return -1;
        nn_optim_zero_grad(opt);
        int st = dist ? dist->before_forward(dist->ctx) : NN_OK;
        if (st < 0)
            fprintf(stderr, "\n%serror at epoch %ld step %ld: %s\n", imgcls_who, epoch, step, nn_last_error());
        nn_tensor *out = st < 0 ? NULL : nn_forward(net, x);
        char before[512]; /* a NaN loss is an error only if a new message came with it */
        snprintf(before, sizeof before, "%s", nn_last_error());
        float loss = out ? nn_loss_forward(ce, out, y) : NAN;
        if (st == NN_OK && (!out || (isnan(loss) && strcmp(before, nn_last_error()) != 0))) {
            fprintf(stderr, "\n%serror at epoch %ld step %ld: %s\n", imgcls_who, epoch, step, nn_last_error());
            st = NN_EINVAL;
        } else if (st == NN_OK && !isfinite(loss)) {
            fprintf(stderr, "\n%sstopping: the loss became %s at epoch %ld step %ld (batch of %lld images); "
                            "try a smaller --lr\n", imgcls_who, isnan(loss) ? "NaN" : "infinite", epoch, step,
                    (long long)x->shape[0]);
            st = NN_EINVAL;
        }
        if (st < 0) {
            if (!dist)
                return -1;
            dist->backward(dist->ctx, NULL); /* the reduction without us would wait forever */
            carried = st;
            continue;
        }
        if ((dist ? dist->backward(dist->ctx, nn_loss_backward(ce)) : nn_backward_params(net, nn_loss_backward(ce))) <
                0 ||
            nn_optim_step(opt) < 0 || (sched && nn_lr_scheduler_step(sched) < 0)) {
            fprintf(stderr, "\n%serror at epoch %ld step %ld: %s\n", imgcls_who, epoch, step, nn_last_error());
            if (!dist)
                return -1;
            carried = NN_EINVAL;
            continue;
        }
        images += (long)x->shape[0] * (dist ? dist->world : 1);
        running = step == 1 ? loss : 0.98 * running + 0.02 * loss; /* smoothed for display */
        if ((step % 20 == 0 || step == steps) && c->n_loss < MAX_POINTS) {
            c->loss_x[c->n_loss] = (double)(epoch - 1) + (double)step / (double)steps;
            c->loss_y[c->n_loss++] = running;
        }
        double t = now_s();
        if (step == steps || (tty ? t - last_print > 0.25 : step % 100 == 0)) {
            progress(tty, epoch, epochs, step, steps, running, images / (t - t0));
            last_print = t;
        }
    }
    if (nn_dataloader_status(dl) < 0) {
        fprintf(stderr, "\n%serror at epoch %ld step %ld: %s\n", imgcls_who, epoch, step + 1, nn_last_error());
        carried = nn_dataloader_status(dl);
        if (!dist)
            return -1;
    }
    snprintf(when, sizeof when, "by the end of epoch %ld", epoch);
    if (dist && dist_agree(o, carried, when) >= 0)
        return -1;
    if (dist && dist->epoch_done)
        dist->epoch_done(dist->ctx, epoch, now_s() - t0, step);
    return images / (now_s() - t0);
}

/* Accuracy over a dataset in evaluation mode; fills confusion[true][pred]. */
static double evaluate(nn_module *net, nn_dataloader *dl, long confusion[10][10])
{
    nn_tensor *x, *y;
    long right = 0, total = 0;
    memset(confusion, 0, sizeof(long[10][10]));
    nn_module_train(net, false);
    while (nn_dataloader_next(dl, &x, &y)) {
        nn_tensor *out = nn_forward(net, x);
        if (!out) {
            fprintf(stderr, "%sevaluation failed: %s\n", imgcls_who, nn_last_error());
            return -1;
        }
        int64_t n = out->shape[0], k = out->shape[1];
        for (int64_t i = 0; i < n; i++) {
            const float *row = out->data + i * k;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (row[j] > row[best])
                    best = j;
            int truth = (int)y->data[i];
            right += best == truth;
            total++;
            if (truth >= 0 && truth < 10 && best < 10)
                confusion[truth][best]++;
        }
    }
    if (nn_dataloader_status(dl) < 0) { /* not a clean end of the test set */
        fprintf(stderr, "%sevaluation failed: %s\n", imgcls_who, nn_last_error());
        return -1;
    }
    return total ? (double)right / (double)total : 0.0;
}

static void print_confusion(long confusion[10][10], const char *const names[10])
{
    printf("confusion matrix (rows: true class, columns: predicted class)\n%16s", "");
    for (int j = 0; j < 10; j++)
        printf(" %5d", j);
    printf("  recall\n");
    for (int i = 0; i < 10; i++) {
        long row = 0;
        for (int j = 0; j < 10; j++)
            row += confusion[i][j];
        printf("%2d %-13s", i, names[i]);
        for (int j = 0; j < 10; j++)
            printf(" %5ld", confusion[i][j]);
        printf("  %.3f\n", row ? (double)confusion[i][i] / (double)row : 0.0);
    }
}

/* Two panels: smoothed training loss and test accuracy against epochs. */
static int write_svg(const char *path, const curves *c, const char *title)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const double W = 420, H = 300, L = 60, T = 40, PW = 320, PH = 210;
    double xmax = c->n_acc > 0 ? (double)(c->first_epoch - 1 + c->n_acc) : 1, lmax = 0;
    for (int i = 0; i < c->n_loss; i++)
        lmax = fmax(lmax, c->loss_y[i]);
    lmax = lmax > 0 ? lmax * 1.05 : 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", 2 * W, H);
    for (int p = 0; p < 2; p++) {
        double ox = p * W + L, ymax = p ? 1.0 : lmax, ymin = 0;
        if (p) { /* accuracy: zoom to the range seen */
            ymin = 1.0;
            for (int i = 0; i < c->n_acc; i++)
                ymin = fmin(ymin, c->acc[i]);
            ymin = c->n_acc ? floor(ymin * 10 - 0.5) / 10 : 0;
            ymin = ymin < 0 ? 0 : ymin;
        }
        fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"14\">%s: %s</text>\n", ox, title,
                p ? "test accuracy" : "training loss");
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", ox, T,
                PW, PH);
        for (int k = 0; k <= 4; k++) {
            double v = ymin + (ymax - ymin) * k / 4, y = T + PH - PH * k / 4;
            fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", ox - 4, y + 4, v);
        }
        for (int e = 0; e <= (int)xmax; e++)
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", ox + PW * e / xmax,
                    T + PH + 16, e);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">epoch</text>\n", ox + PW / 2, T + PH + 34);
        int n = p ? c->n_acc : c->n_loss;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", p ? "#d62728" : "#1f77b4");
        for (int i = 0; i < n; i++) {
            double xv = p ? (double)(c->first_epoch + i) : c->loss_x[i], yv = p ? c->acc[i] : c->loss_y[i];
            fprintf(f, "%.1f,%.1f ", ox + PW * xv / xmax, T + PH - PH * (yv - ymin) / (ymax - ymin));
        }
        fprintf(f, "\"/>\n");
        for (int i = 0; p && i < n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n",
                    ox + PW * (double)(c->first_epoch + i) / xmax,
                    T + PH - PH * (c->acc[i] - ymin) / (ymax - ymin));
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* --- checkpoints: PATH (model), PATH.optim (optimizer), PATH.state (text:
   the epoch finished and the generator state, which the next epoch's
   shuffle draws from). nn_save / nn_optim_save replace their files
   atomically; PATH.state is written last, the same way, so it never names
   an epoch whose model and optimizer are not on disk yet. (The three are
   not replaced as one: a crash between two replacements can leave the
   model or the Adam state one epoch ahead of PATH.state.) */
#define STATE_HEADER "libnn-imgcls-checkpoint 1"

static bool side_path(char *buf, size_t size, const char *path, const char *suffix)
{
    int n = snprintf(buf, size, "%s%s", path, suffix);
    return n > 0 && (size_t)n < size;
}

static int write_state(const char *path, long epoch)
{
    static uint8_t rng[NN_RANDOM_STATE_BYTES];
    char final[4096], tmp[4200];
    if (!side_path(final, sizeof final, path, ".state") || !side_path(tmp, sizeof tmp, final, ".tmp")) {
        fprintf(stderr, "%s--save %s: path too long\n", imgcls_who, path);
        return -1;
    }
    nn_random_get_state(rng);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%scannot write %s: %s\n", imgcls_who, tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%s\nepoch %ld\nrng ", STATE_HEADER, epoch);
    for (size_t i = 0; i < sizeof rng; i++)
        fprintf(f, "%02x", rng[i]);
    fputc('\n', f);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, final) != 0) {
        fprintf(stderr, "%scannot write %s: %s\n", imgcls_who, final, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static int save_checkpoint(const char *path, nn_module *net, nn_optim *opt, long epoch)
{
    char optim_path[4096];
    if (!side_path(optim_path, sizeof optim_path, path, ".optim")) {
        fprintf(stderr, "%s--save %s: path too long\n", imgcls_who, path);
        return -1;
    }
    if (nn_save(net, path) < 0 || nn_optim_save(opt, optim_path) < 0) {
        fprintf(stderr, "%scannot save the checkpoint: %s\n", imgcls_who, nn_last_error());
        return -1;
    }
    return write_state(path, epoch);
}

static int hex_digit(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads PATH.state; returns the epoch finished (>= 1) and fills rng, or -1
   after printing why. */
static long read_state(const char *path, uint8_t rng[NN_RANDOM_STATE_BYTES])
{
    char name[4096], line[64];
    if (!side_path(name, sizeof name, path, ".state")) {
        fprintf(stderr, "%s--resume %s: path too long\n", imgcls_who, path);
        return -1;
    }
    FILE *f = fopen(name, "r");
    if (!f) {
        fprintf(stderr, "%scannot resume: %s: %s\n", imgcls_who, name, strerror(errno));
        return -1;
    }
    long epoch = -1;
    bool ok = fgets(line, sizeof line, f) && !strcmp(line, STATE_HEADER "\n") &&
              fscanf(f, "epoch %ld\nrng ", &epoch) == 1 && epoch >= 1;
    for (size_t i = 0; ok && i < NN_RANDOM_STATE_BYTES; i++) {
        int hi = hex_digit(fgetc(f)), lo = hex_digit(fgetc(f));
        ok = hi >= 0 && lo >= 0;
        if (ok)
            rng[i] = (uint8_t)(hi << 4 | lo);
    }
    ok = ok && fgetc(f) == '\n' && fgetc(f) == EOF;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%scannot resume: %s is not a checkpoint state written by --save\n", imgcls_who, name);
        return -1;
    }
    return epoch;
}

/* Loads the checkpoint into net and opt; returns the epoch it finished, or -1. */
static long load_checkpoint(const char *path, nn_module *net, nn_optim *opt)
{
    static uint8_t rng[NN_RANDOM_STATE_BYTES];
    char optim_path[4096];
    long epoch = read_state(path, rng);
    if (epoch < 0)
        return -1;
    if (!side_path(optim_path, sizeof optim_path, path, ".optim") || nn_load(net, path) < 0 ||
        nn_optim_load(opt, optim_path) < 0 || nn_random_set_state(rng) < 0) {
        fprintf(stderr, "%scannot resume from %s: %s\n", imgcls_who, path, nn_last_error());
        return -1;
    }
    return epoch;
}

/* Adam(lr), or AdamW(lr, weight_decay) for the ResNet recipe. */
static nn_optim *make_optim(const run_opts *o, nn_module *net)
{
    if (o->adamw) {
        nn_adamw_opts w = nn_adamw_defaults();
        w.lr = o->lr;
        w.weight_decay = o->weight_decay;
        return nn_adamw(net, &w);
    }
    nn_adam_opts ao = nn_adam_defaults();
    ao.lr = o->lr;
    return nn_adam(net, &ao);
}

/* The epoch count a checkpoint's state file records (0 when unreadable:
   load_checkpoint then says why). */
static long read_epochs_done(const char *path)
{
    uint8_t rng[NN_RANDOM_STATE_BYTES];
    long done = read_state(path, rng);
    return done > 0 ? done : 0;
}

/* The whole run: load, train, evaluate each epoch, report. Returns the exit code. */
static int run(const run_opts *o, nn_module *net, int (*load)(const char *, bool, nn_dataset *),
               const char *install_hint, const char *title, const char *const names[10])
{
    const imgcls_dist *dist = o->dist;
    nn_dataset train = {0}, test = {0};
    if (o->threads && nn_set_num_threads((int)(o->threads < 1000000 ? o->threads : 1000000)) < 0) {
        fprintf(stderr, "%s--threads %ld: %s\n", imgcls_who, o->threads, nn_last_error());
        return 2;
    }
    int st = NN_OK;
    if (load(o->data, true, &train) < 0 || load(o->data, false, &test) < 0) {
        fprintf(stderr, "%scannot load the dataset: %s\n%s\n", imgcls_who, nn_last_error(), install_hint);
        st = NN_EIO;
    } else if (keep_first(&train, o->limit) < 0 || keep_first(&test, o->limit) < 0 ||
               (o->normalize && (normalize_half(&train) < 0 || normalize_half(&test) < 0))) {
        fprintf(stderr, "%s%s\n", imgcls_who, nn_last_error());
        st = NN_EINVAL;
    }
    if (dist_agree(o, st, "loading the data") >= 0) {
        nn_dataset_free(&train);
        nn_dataset_free(&test);
        return 1;
    }
    printf("%lld training and %lld test images of shape [%lld, %lld, %lld]\n", (long long)train.images->shape[0],
           (long long)test.images->shape[0], (long long)train.images->shape[1], (long long)train.images->shape[2],
           (long long)train.images->shape[3]);
    printf("threads: %d\n", nn_get_num_threads());
    if (dist)
        printf("data-parallel: %d ranks, batch %ld per rank (%ld per step)\n", dist->world, o->batch_size,
               o->batch_size * dist->world);
    if (o->normalize)
        printf("inputs: Normalize(0.5, 0.5), pixels in [-1, 1]\n");
    nn_module_print(net, stdout);
    fflush(stdout); /* before the progress lines on stderr */
    nn_loss *ce = nn_cross_entropy_loss();
    nn_optim *opt = make_optim(o, net);
    nn_dataloader *train_dl = nn_dataloader_new(&train, o->batch_size, true, false);
    nn_dataloader *test_dl = nn_dataloader_new(&test, o->batch_size, false, false);
    /* DistributedSampler(seed=--seed): this rank's share of each epoch */
    bool sharded = !dist || (train_dl && nn_dataloader_set_shard(train_dl, dist->rank, dist->world,
                                                                 (uint64_t)o->seed, false) == NN_OK);
    nn_lr_scheduler *sched = opt && train_dl && sharded && o->cosine
                                 ? nn_cosine_annealing_lr(opt, o->epochs * nn_dataloader_len(train_dl), 0.0)
                                 : NULL;
    st = NN_OK;
    if (!ce || !opt || !train_dl || !test_dl || !sharded || (o->cosine && !sched) ||
        (o->crop_padding && (nn_dataloader_random_crop(train_dl, &(nn_random_crop_opts){
                                                                     .size_h = (int)train.images->shape[2],
                                                                     .size_w = (int)train.images->shape[3],
                                                                     .padding = o->crop_padding}) < 0 ||
                             nn_dataloader_random_horizontal_flip(train_dl, o->flip_p) < 0))) {
        fprintf(stderr, "%ssetup failed: %s\n", imgcls_who, nn_last_error());
        st = NN_EINVAL;
    }
    int rc = dist_agree(o, st, "setting up") >= 0 ? 1 : 0;
    if (rc == 0 && o->crop_padding)
        printf("augmentation: RandomCrop(%lld, padding=%d), RandomHorizontalFlip(%g)\n",
               (long long)train.images->shape[2], o->crop_padding, (double)o->flip_p);
    static curves c;
    static long confusion[10][10];
    long first = 1;
    if (rc == 0 && o->resume) {
        /* the schedule's steps so far first (from the base lr, as they
           went), then the checkpoint, whose lr they reach. Every rank
           reads rank 0's checkpoint. */
        long done = sched ? read_epochs_done(o->resume) : 0;
        for (long s = 0; sched && done > 0 && s < done * (long)nn_dataloader_len(train_dl); s++)
            nn_lr_scheduler_step(sched);
        done = load_checkpoint(o->resume, net, opt);
        if (dist_agree(o, done < 0 ? NN_EIO : NN_OK, "resuming") >= 0)
            rc = 1;
        else if (done >= o->epochs) {
            printf("%s already has %ld epoch(s); nothing to do (raise --epochs)\n", o->resume, done);
            rc = 3;
        } else
            printf("resumed from %s after epoch %ld\n", o->resume, done);
        first = done + 1;
    }
    /* every rank from rank 0's parameters and buffers */
    if (rc == 0 && dist) {
        st = dist->start(dist->ctx, net, opt);
        if (st < 0)
            fprintf(stderr, "%sstarting: %s\n", imgcls_who, nn_last_error());
        if (dist_agree(o, st, "starting") >= 0)
            rc = 1;
    }
    fflush(stdout);
    c.first_epoch = first;
    for (long e = first; e <= o->epochs && rc == 0; e++) {
        if (dist)
            nn_dataloader_set_epoch(train_dl, e - 1); /* sampler.set_epoch(epoch) */
        double t0 = now_s();
        double ips = train_epoch(o, net, ce, opt, sched, train_dl, e, o->epochs, &c);
        double t_train = now_s() - t0;
        st = ips < 0 || !dist ? NN_OK : dist->sync_buffers(dist->ctx); /* rank 0's running statistics */
        if (st < 0)
            fprintf(stderr, "%sbroadcasting the buffers: %s\n", imgcls_who, nn_last_error());
        if (ips >= 0 && dist_agree(o, st, "before evaluation") >= 0)
            ips = -1;
        double acc = ips < 0 ? -1 : evaluate(net, test_dl, confusion);
        if (ips >= 0 && dist && dist_agree(o, acc < 0 ? NN_EINVAL : NN_OK, "in evaluation") >= 0)
            acc = -1;
        if (acc < 0) {
            rc = 1;
            break;
        }
        if (c.n_acc < 256)
            c.acc[c.n_acc++] = acc;
        printf("epoch %ld: %.1f s training (%.0f images/s), %.1f s evaluation\n", e, t_train, ips,
               now_s() - t0 - t_train);
        printf("test accuracy: %.4f\n", acc);
        fflush(stdout);
        if (o->save) { /* rank 0 writes; the others wait to hear it went well */
            st = !dist || dist->rank == 0 ? save_checkpoint(o->save, net, opt, e) : 0;
            if (dist_agree(o, st < 0 ? NN_EIO : NN_OK, "saving the checkpoint") >= 0)
                rc = 1;
            else
                printf("checkpoint: %s (epoch %ld)\n", o->save, e);
        }
    }
    if (rc == 3)
        rc = 0;
    else if (rc == 0) {
        print_confusion(confusion, names);
        if (dist && dist->rank != 0)
            ; /* rank 0 draws the curves */
        else if (write_svg(o->svg, &c, title) == 0)
            printf("loss and accuracy curves: %s\n", o->svg);
        else
            fprintf(stderr, "%scannot write %s: %s\n", imgcls_who, o->svg, strerror(errno));
    }
    nn_dataloader_free(train_dl);
    nn_dataloader_free(test_dl);
    nn_lr_scheduler_free(sched);
    nn_optim_free(opt);
    nn_loss_free(ce);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return rc;
}

#endif
