/* SimpleNet from the PyTorch tutorial, in C: fc1 Linear(2, 5) -> ReLU ->
   fc2 Linear(5, 1). Prints the net and its weights exactly as PyTorch does
   for the same seed (tests/ref_simple_net.py is the Python twin), draws the
   weights as heat maps (SVG and PNG), then trains it to tell points inside a
   circle from points outside, and draws the loss curve.

   usage: simple_net [--seed N|random] [--optim sgd|adam|rmsprop|adagrad] [--out DIR] */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nn.h>

#include "demo_args.h"

#define EPOCHS 1000
#define GRID 20
#define N_POINTS (GRID * GRID)

static const char *usage =
    "usage: simple_net [--seed N|random] [--optim sgd|adam|rmsprop|adagrad] [--out DIR]\n";

typedef struct {
    uint64_t seed;
    bool random_seed;
    const char *optim;
    const char *out;
} options;

static bool parse_args(int argc, char **argv, options *o)
{
    *o = (options){NN_DEFAULT_SEED, false, "adam", "."};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(flag, "--seed") && value && demo_parse_seed(value, &o->seed, &o->random_seed))
            i++;
        else if (!strcmp(flag, "--optim") && value &&
                 (!strcmp(value, "sgd") || !strcmp(value, "adam") || !strcmp(value, "rmsprop") ||
                  !strcmp(value, "adagrad")))
            o->optim = value, i++;
        else if (!strcmp(flag, "--out") && value && *value)
            o->out = value, i++;
        else
            return false;
    }
    return true;
}

static nn_module *simple_net(void)
{
    nn_module *net = nn_sequential();
    if (!net || nn_sequential_set_class_name(net, "SimpleNet") < 0) {
        nn_module_free(net);
        return NULL;
    }
    /* constructed in this order, like SimpleNet.__init__, so the random
       draws match torch's */
    nn_module *fc1 = nn_linear(2, 5, true);
    if (nn_sequential_add(net, "fc1", fc1) < 0) {
        nn_module_free(fc1);
        nn_module_free(net);
        return NULL;
    }
    nn_module *relu = nn_relu();
    if (nn_sequential_add(net, "relu", relu) < 0) {
        nn_module_free(relu);
        nn_module_free(net);
        return NULL;
    }
    nn_module *fc2 = nn_linear(5, 1, true);
    if (nn_sequential_add(net, "fc2", fc2) < 0) {
        nn_module_free(fc2);
        nn_module_free(net);
        return NULL;
    }
    return net;
}

/* Like the tutorial's visualize_network: one panel per layer showing the
   weight matrix transposed (rows: input features, columns: neurons). */
static bool draw_weights(nn_module *net, const char *dir)
{
    nn_param *p;
    int n = nn_module_params(net, &p);
    nn_tensor *w0 = NULL, *w1 = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(p[i].name, "fc1.weight"))
            w0 = nn_tensor_transpose(p[i].value, 0, 1);
        if (!strcmp(p[i].name, "fc2.weight"))
            w1 = nn_tensor_transpose(p[i].value, 0, 1);
    }
    char svg[4096], png[4096];
    if (!demo_path(svg, sizeof svg, dir, "simple_net_weights.svg") ||
        !demo_path(png, sizeof png, dir, "simple_net_weights.png")) {
        fprintf(stderr, "simple_net: --out %s: path too long\n", dir);
        nn_tensor_free(w0);
        nn_tensor_free(w1);
        return false;
    }
    bool ok = w0 && w1;
    if (ok) {
        nn_viz_panel panels[2] = {{"Layer 0", w0}, {"Layer 1", w1}};
        ok = nn_viz_heatmaps_svg(svg, panels, 2, "Neurons", "Input Features") == NN_OK;
        if (ok && nn_viz_heatmaps_png(png, panels, 2, "Neurons", "Input Features") != NN_OK) {
            ok = false;
            remove(svg); /* both pictures or neither */
        }
        if (ok)
            printf("\nWrote %s and %s\n", svg, png);
    }
    if (!ok)
        fprintf(stderr, "simple_net: drawing the weights failed: %s\n", nn_last_error());
    nn_tensor_free(w0);
    nn_tensor_free(w1);
    return ok;
}

/* 400 points on a 20 x 20 grid over [-2, 2]^2; label 1 inside the circle
   x1^2 + x2^2 < 2. The coordinates are computed as the Python twin does. */
static void circle_task(float *x, float *y)
{
    for (int i = 0; i < GRID; i++)
        for (int j = 0; j < GRID; j++) {
            float a = (float)(2 * i - 19) / 19.0f * 2.0f, b = (float)(2 * j - 19) / 19.0f * 2.0f;
            int k = i * GRID + j;
            x[2 * k] = a;
            x[2 * k + 1] = b;
            y[k] = (double)a * a + (double)b * b < 2.0 ? 1.0f : 0.0f;
        }
}

static nn_optim *make_optim(nn_module *net, const char *name, float *lr)
{
    if (!strcmp(name, "sgd")) {
        nn_sgd_opts o = nn_sgd_defaults(*lr = 0.5f);
        return nn_sgd(net, &o);
    }
    if (!strcmp(name, "adam")) {
        nn_adam_opts o = nn_adam_defaults();
        o.lr = *lr = 0.05f;
        return nn_adam(net, &o);
    }
    if (!strcmp(name, "rmsprop")) {
        nn_rmsprop_opts o = nn_rmsprop_defaults();
        o.lr = *lr = 0.02f;
        return nn_rmsprop(net, &o);
    }
    nn_adagrad_opts o = nn_adagrad_defaults();
    o.lr = *lr = 0.3f;
    return nn_adagrad(net, &o);
}

static bool train(nn_module *net, const options *o)
{
    static float xs[2 * N_POINTS], ys[N_POINTS], losses[EPOCHS];
    circle_task(xs, ys);
    nn_tensor *x = nn_tensor_from(xs, NN_SHAPE(N_POINTS, 2));
    nn_tensor *y = nn_tensor_from(ys, NN_SHAPE(N_POINTS, 1));
    nn_loss *bce = nn_bce_with_logits_loss();
    float lr = 0;
    nn_optim *opt = make_optim(net, o->optim, &lr);
    bool ok = x && y && bce && opt;
    if (ok) {
        printf("\nTraining: inside the circle x1^2 + x2^2 < 2 or not, %d points on a grid\n", N_POINTS);
        printf("over [-2, 2]^2, full batch, BCEWithLogitsLoss, %s (lr %g), %d epochs\n", o->optim,
               (double)lr, EPOCHS);
    }
    for (int epoch = 1; ok && epoch <= EPOCHS; epoch++) {
        nn_optim_zero_grad(opt);
        nn_tensor *out = nn_forward(net, x);
        float loss = out ? nn_loss_forward(bce, out, y) : NAN;
        ok = !isnan(loss) && nn_backward(net, nn_loss_backward(bce)) && nn_optim_step(opt) == NN_OK;
        losses[epoch - 1] = loss;
        if (ok && (epoch == 1 || epoch % 100 == 0))
            printf("epoch %4d  loss %.4f\n", epoch, (double)loss);
    }
    nn_tensor *out = ok ? nn_forward(net, x) : NULL;
    if (out) {
        int correct = 0;
        for (int k = 0; k < N_POINTS; k++)
            correct += (out->data[k] > 0.0f ? 1.0f : 0.0f) == ys[k];
        printf("accuracy: %d/%d = %.2f%%\n", correct, N_POINTS, 100.0 * correct / N_POINTS);
    }
    ok = out != NULL;
    if (!ok)
        fprintf(stderr, "simple_net: training failed: %s\n", nn_last_error());
    char path[4096];
    if (ok && !demo_path(path, sizeof path, o->out, "simple_net_loss.svg")) {
        fprintf(stderr, "simple_net: --out %s: path too long\n", o->out);
        ok = false;
    } else if (ok) {
        ok = nn_viz_curve_svg(path, losses, EPOCHS, "Training loss", "epoch", "loss") == NN_OK;
        if (ok)
            printf("\nWrote %s\n", path);
        else
            fprintf(stderr, "simple_net: drawing the loss curve failed: %s\n", nn_last_error());
    }
    nn_optim_free(opt);
    nn_loss_free(bce);
    nn_tensor_free(x);
    nn_tensor_free(y);
    return ok;
}

int main(int argc, char **argv)
{
    options o;
    if (demo_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (!parse_args(argc, argv, &o)) {
        fputs(usage, stderr);
        return 2;
    }
    if (!demo_check_out_dir("simple_net", o.out))
        return 1;
    nn_manual_seed(o.seed);
    nn_module *net = simple_net();
    if (!net) {
        fprintf(stderr, "simple_net: building the net failed: %s\n", nn_last_error());
        return 1;
    }
    printf("Seed: %llu%s\n\n", (unsigned long long)o.seed, o.random_seed ? " (random)" : "");
    nn_module_print(net, stdout); /* print(model) */
    nn_param *params;
    int n = nn_module_params(net, &params);
    for (int i = 0; i < n; i++) { /* for name, param in model.named_parameters() */
        printf("\n%s:\n", params[i].name);
        nn_tensor_print(params[i].value, stdout);
    }
    bool ok = draw_weights(net, o.out) && train(net, &o);
    nn_module_free(net);
    return ok ? 0 : 1;
}
