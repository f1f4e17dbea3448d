/* CI helper for tests/cross-endian.sh: the files one machine writes load
   bit-identically on another of the other byte order, and the two compute
   the same bits. Not a cmocka test: the shell script runs it once natively
   and once under an emulator and compares what both wrote.

     cross_endian write DIR      seed 1, a small CNN trained 3 Adam steps;
                                 writes DIR/model (safetensors), DIR/optim
                                 (Adam state), DIR/rng (generator state) and
                                 DIR/values.txt (every parameter's bits and
                                 the losses, as text)
     cross_endian load DIR OUT   loads DIR's three files into a new model,
                                 Adam and generator; writes OUT/values.txt
                                 from what it loaded, saves all three again
                                 into OUT, then trains 2 more steps and
                                 saves OUT/model2, OUT/optim2, OUT/values2.txt

   The GEMM runs its generic variant on every machine (the x86-64 AVX2 and
   AVX-512 variants round differently: results depend on the variant, by
   design), so the arithmetic is the same everywhere. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nn.h>

#include "kernels/gemm_internal.h"

enum { BATCH = 16, SIDE = 12, CLASSES = 10 };

static int fail(const char *what)
{
    fprintf(stderr, "cross_endian: %s: %s\n", what, nn_last_error());
    return 1;
}

/* Conv2d(1,8,3,1,1) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(288,32)
   -> ReLU -> Linear(32,10): the packed GEMM, im2col, pooling and both
   kinds of layer. */
static nn_module *build_net(void)
{
    nn_module *net = nn_sequential();
    nn_module *parts[] = {nn_conv2d(1, 8, 3, 1, 1), nn_relu(), nn_maxpool2d(2, 2), nn_flatten(),
                          nn_linear(8 * (SIDE / 2) * (SIDE / 2), 32, true), nn_relu(),
                          nn_linear(32, CLASSES, true)};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        char name[8];
        snprintf(name, sizeof name, "%zu", i);
        if (!net || nn_sequential_add(net, name, parts[i]) < 0) {
            for (size_t j = i; j < sizeof parts / sizeof *parts; j++)
                nn_module_free(parts[j]);
            nn_module_free(net);
            return NULL;
        }
    }
    return net;
}

/* The step-th batch: images and labels from a fixed formula. */
static void batch(int step, nn_tensor **x, nn_tensor **y)
{
    static float img[BATCH * SIDE * SIDE], lab[BATCH];
    for (int n = 0; n < BATCH; n++) {
        lab[n] = (float)((n * 7 + step * 3) % CLASSES);
        for (int p = 0; p < SIDE * SIDE; p++)
            img[n * SIDE * SIDE + p] = (float)((n * 31 + p * 17 + step * 5) % 23) / 11.0f - 1.0f;
    }
    *x = nn_tensor_from(img, NN_SHAPE(BATCH, 1, SIDE, SIDE));
    *y = nn_tensor_from(lab, NN_SHAPE(BATCH));
}

/* steps Adam steps from step first on; each loss's bits into f */
static int train(nn_module *net, nn_optim *opt, int first, int steps, FILE *f)
{
    nn_loss *ce = nn_cross_entropy_loss();
    if (!ce)
        return fail("nn_cross_entropy_loss");
    int rc = 0;
    for (int s = first; s < first + steps && rc == 0; s++) {
        nn_tensor *x, *y;
        batch(s, &x, &y);
        nn_optim_zero_grad(opt);
        nn_tensor *out = x && y ? nn_forward(net, x) : NULL;
        float loss = out ? nn_loss_forward(ce, out, y) : NAN;
        if (isnan(loss) || nn_backward(net, nn_loss_backward(ce)) == NULL || nn_optim_step(opt) < 0)
            rc = fail("training step");
        else
            fprintf(f, "loss %d %a\n", s, (double)loss);
        nn_tensor_free(x);
        nn_tensor_free(y);
    }
    nn_loss_free(ce);
    return rc;
}

/* every parameter's float bits, in hex, by name */
static void dump_params(nn_module *net, FILE *f)
{
    nn_param *params;
    int n = nn_module_params(net, &params);
    for (int i = 0; i < n; i++) {
        const nn_tensor *t = params[i].value;
        int64_t count = 1;
        for (int d = 0; d < t->ndim; d++)
            count *= t->shape[d];
        fprintf(f, "%s", params[i].name);
        for (int64_t j = 0; j < count; j++) {
            uint32_t bits;
            memcpy(&bits, &t->data[j], sizeof bits); /* parameters are contiguous */
            fprintf(f, " %08x", (unsigned)bits);
        }
        fputc('\n', f);
    }
}

static FILE *open_in(const char *dir, const char *name, const char *mode, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (!f)
        perror(path);
    return f;
}

static int save_all(nn_module *net, nn_optim *opt, const char *dir, const char *model,
                    const char *optim, bool rng)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, model);
    if (nn_save(net, path) < 0)
        return fail(path);
    snprintf(path, sizeof path, "%s/%s", dir, optim);
    if (nn_optim_save(opt, path) < 0)
        return fail(path);
    if (rng) {
        uint8_t state[NN_RANDOM_STATE_BYTES];
        nn_random_get_state(state);
        FILE *f = open_in(dir, "rng", "wb", path, sizeof path);
        if (!f || fwrite(state, 1, sizeof state, f) != sizeof state || fclose(f) != 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bool write = argc == 3 && !strcmp(argv[1], "write"), load = argc == 4 && !strcmp(argv[1], "load");
    if (!write && !load) {
        fputs("usage: cross_endian write DIR | cross_endian load DIR OUT\n", stderr);
        return 2;
    }
    if (!nn_gemm_force_isa(NN_GEMM_ISA_GENERIC)) {
        fputs("cross_endian: cannot force the generic GEMM\n", stderr);
        return 1;
    }
    nn_manual_seed(1);
    nn_module *net = build_net();
    nn_adam_opts ao = nn_adam_defaults();
    nn_optim *opt = net ? nn_adam(net, &ao) : NULL;
    if (!opt)
        return fail("building the model");
    const char *dir = argv[2], *out_dir = write ? argv[2] : argv[3];
    char path[4096];
    int rc = 0;
    if (write) {
        FILE *f = open_in(dir, "values.txt", "w", path, sizeof path);
        rc = !f || train(net, opt, 0, 3, f) || save_all(net, opt, dir, "model", "optim", true);
        if (f) {
            dump_params(net, f);
            rc |= fclose(f) != 0;
        }
    } else {
        uint8_t state[NN_RANDOM_STATE_BYTES];
        FILE *f = open_in(dir, "rng", "rb", path, sizeof path);
        bool ok = f && fread(state, 1, sizeof state, f) == sizeof state;
        if (f)
            fclose(f);
        snprintf(path, sizeof path, "%s/model", dir);
        if (!ok || nn_random_set_state(state) < 0 || nn_load(net, path) < 0)
            return fail(path);
        snprintf(path, sizeof path, "%s/optim", dir);
        if (nn_optim_load(opt, path) < 0)
            return fail(path);
        f = open_in(out_dir, "values.txt", "w", path, sizeof path);
        if (!f)
            return 1;
        dump_params(net, f);
        rc = fclose(f) != 0 || save_all(net, opt, out_dir, "model", "optim", true);
        f = rc ? NULL : open_in(out_dir, "values2.txt", "w", path, sizeof path);
        rc = rc || !f || train(net, opt, 3, 2, f) || save_all(net, opt, out_dir, "model2", "optim2", false);
        if (f) {
            dump_params(net, f);
            rc |= fclose(f) != 0;
        }
    }
    nn_optim_free(opt);
    nn_module_free(net);
    return rc;
}
