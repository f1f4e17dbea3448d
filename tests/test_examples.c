/* The example programs against their Python twins: build/examples/simple_net
   and build/examples/two_conv must print byte for byte what
   tests/ref_simple_net.py and tests/ref_two_conv.py print with the same
   flags (tests/gen_examples.py -> tests/fixtures/examples.h), apart from
   the "Wrote <file>" lines. Also: bad flags, bad --out, files written.
   build/examples/custom_layer (a layer defined outside the library) must
   print tests/fixtures/custom_layer.out, what tests/ref_custom_layer.py
   prints, byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures/examples.h"

static char bin_dir[1024];  /* <BUILD>/examples */
static char out_dir[64];

typedef struct {
    char *out;  /* stdout */
    char *err;  /* stderr */
    int status; /* exit code, or -1 */
} run_result;

static char *slurp(FILE *f)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            s = realloc(s, cap *= 2);
            assert_non_null(s);
        }
    }
    s[len] = 0;
    return s;
}

/* Runs <bin_dir>/program with args (no shell quoting needed: our args are
   plain words), stderr captured through a file; through the emulator
   NN_TEST_RUN names, if any (make test RUN=...). */
static run_result run(const char *program, const char *const *args)
{
    char cmd[4096], err_path[128];
    const char *emulator = getenv("NN_TEST_RUN");
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", out_dir);
    int at = snprintf(cmd, sizeof cmd, "%s '%s/%s'", emulator ? emulator : "", bin_dir, program);
    for (const char *const *a = args; *a; a++)
        at += snprintf(cmd + at, sizeof cmd - (size_t)at, " '%s'", *a);
    snprintf(cmd + at, sizeof cmd - (size_t)at, " 2>'%s'", err_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    run_result r = {slurp(p), NULL, -1};
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *e = fopen(err_path, "r");
    assert_non_null(e);
    r.err = slurp(e);
    fclose(e);
    unlink(err_path);
    return r;
}

static void expect_refusal(const char *program, const char *const *args, int status, const char *starts);

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Removes each "Wrote ..." line and the blank line before it, in place. */
static void drop_wrote_lines(char *s)
{
    char *w = s;
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (!strncmp(line, "Wrote ", 6)) {
            if (w - s >= 2 && w[-1] == '\n' && w[-2] == '\n')
                w--; /* the blank line before it */
        } else {
            memmove(w, line, len);
            w += len;
        }
        line += len;
    }
    *w = 0;
}

static char *join(const char *const *lines)
{
    size_t len = 1;
    for (const char *const *l = lines; *l; l++)
        len += strlen(*l);
    char *s = malloc(len);
    assert_non_null(s);
    s[0] = 0;
    for (const char *const *l = lines; *l; l++)
        strcat(s, *l);
    return s;
}

static int count_files(const char *suffix)
{
    int n = 0;
    DIR *d = opendir(out_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += e->d_name[0] != '.' && l >= s && !strcmp(e->d_name + l - s, suffix);
    }
    if (d)
        closedir(d);
    return n;
}

static void clear_out_dir(void)
{
    DIR *d = opendir(out_dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", out_dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

static void test_output_matches_python(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t c = 0; c < sizeof example_cases / sizeof *example_cases; c++) {
        const example_case *ex = &example_cases[c];
        const char *args[12];
        int n = 0;
        for (const char *const *a = ex->args; *a; a++)
            args[n++] = *a;
        if (!strcmp(ex->program, "simple_net")) {
            args[n++] = "--out";
            args[n++] = out_dir;
        }
        args[n] = NULL;
        run_result r = run(ex->program, args);
        char *want = join(ex->want);
        drop_wrote_lines(r.out);
        if (r.status != 0 || strcmp(r.out, want)) {
            fprintf(stderr, "%s", ex->program);
            for (int i = 0; args[i]; i++)
                fprintf(stderr, " %s", args[i]);
            fprintf(stderr, ": exit %d, stderr: %s\n--- python\n%s--- C\n%s", r.status, r.err, want, r.out);
            failed++;
        }
        free(want);
        run_free(&r);
    }
    assert_int_equal(failed, 0);
    clear_out_dir();
}

/* tests/fixtures/custom_layer.out, found next to this source file (make
   test runs from the top of the tree, where __FILE__ is relative to). */
static char *read_fixture(const char *name)
{
    char path[1024];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(path, sizeof path, "%.*sfixtures/%s", slash ? (int)(slash - __FILE__ + 1) : 0, __FILE__, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (run the test from the top of the source tree)", path);
    char *s = slurp(f);
    fclose(f);
    return s;
}

static void test_custom_layer_matches_python(void **state)
{
    (void)state;
    char *want = read_fixture("custom_layer.out");
    run_result r = run("custom_layer", (const char *const[]){NULL});
    if (r.status != 0 || strcmp(r.out, want))
        fail_msg("custom_layer: exit %d, stderr: %s\n--- python\n%s--- C\n%s", r.status, r.err, want, r.out);
    assert_string_equal(r.err, "");
    run_free(&r);
    free(want);

    r = run("custom_layer", (const char *const[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "usage: custom_layer [--seed N]\n");
    run_free(&r);
    expect_refusal("custom_layer", (const char *const[]){"--bogus", NULL}, 2, "usage: custom_layer");
    expect_refusal("custom_layer", (const char *const[]){"--seed", "x", NULL}, 2, "usage: custom_layer");
    expect_refusal("custom_layer", (const char *const[]){"--seed", NULL}, 2, "usage: custom_layer");
}

/* The table classifier on a tiny committed CSV in scikit-learn's layout
   (a count row, then rows of features and the class). */
static void test_tabular_tiny(void **state)
{
    (void)state;
    run_result r = run("tabular", (const char *const[]){"--data", "tests/fixtures/tabular_tiny.csv", "--epochs", "20",
                                                         "--seed", "1", NULL});
    if (r.status != 0 || !strstr(r.out, "40 rows, 3 features, 2 classes; train 24, validation 8, test 8") ||
        !strstr(r.out, "epoch 20: loss ") || !strstr(r.out, "test accuracy: "))
        fail_msg("tabular: exit %d\n%s\n%s", r.status, r.out, r.err);
    run_free(&r);
    r = run("tabular", (const char *const[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: tabular"));
    run_free(&r);
    expect_refusal("tabular", (const char *const[]){"--epochs", "0", NULL}, 2, "tabular: unknown flag or bad value: --epochs 0");
    r = run("tabular", (const char *const[]){"--data", "/nonexistent.csv", NULL});
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot load /nonexistent.csv"));
    run_free(&r);
}

/* The forecaster on a tiny committed series (tests/fixtures/forecast_sine.csv:
   a sine of period 25 with noise, 300 values, one empty cell): the lines it
   prints, a test MAE below persistence's for both kinds of model, the plot. */
static double metric_after(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void test_forecast_tiny(void **state)
{
    (void)state;
    char plot[128];
    snprintf(plot, sizeof plot, "%s/forecast.svg", out_dir);
    const char *models[2][3] = {{"gru", "20", NULL}, {"tcn", "10", plot}};
    for (int m = 0; m < 2; m++) {
        run_result r = run("forecast", (const char *const[]){"--data", "tests/fixtures/forecast_sine.csv", "--period", "25",
                                                              "--window", "25", "--model", models[m][0], "--epochs",
                                                              models[m][1], "--seed", "0", "--plot",
                                                              models[m][2] ? models[m][2] : "/dev/null/none.svg", NULL});
        if (m == 0) { /* the plot cannot be written: every number is out first, then the one-line error */
            if (r.status != 1 || !strstr(r.err, "cannot write /dev/null/none.svg"))
                fail_msg("forecast: exit %d\n%s\n%s", r.status, r.out, r.err);
        } else if (r.status != 0 || !strstr(r.out, "plot: ") || !strstr(r.out, "training: "))
            fail_msg("forecast: exit %d\n%s\n%s", r.status, r.out, r.err);
        const char *test = strstr(r.out, "\ntest MAE ");
        if (!strstr(r.out, "forecast_sine.csv: 300 values (gaps filled), window 25, period 25; windows: train 193, "
                           "validation 41, test 41\n1 gaps filled by linear interpolation\n") ||
            !strstr(r.out, models[m][1][0] == '2' ? "epoch 20: loss " : "epoch 10: loss ") ||
            !strstr(r.out, "\nvalidation MAE ") || !test ||
            !strstr(test, " | seasonal-naive(25) MAE ") ||
            !(metric_after(test, "test MAE ") < metric_after(test, "persistence MAE ")))
            fail_msg("forecast --model %s:\n%s\n%s", models[m][0], r.out, r.err);
        run_free(&r);
    }
    assert_int_equal(count_files("forecast.svg"), 1);
    clear_out_dir();
    run_result r = run("forecast", (const char *const[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: forecast"));
    assert_non_null(strstr(r.out, "zcat /usr/share/gretl/data/misc/bikesharing.gdt"));
    run_free(&r);
    expect_refusal("forecast", (const char *const[]){"--model", "rnn", NULL}, 2, "forecast: --model expects gru, lstm or tcn");
    expect_refusal("forecast", (const char *const[]){"--series", "tides", NULL}, 2, "forecast: --series expects");
    expect_refusal("forecast", (const char *const[]){"--window", "0", NULL}, 2, "forecast: unknown flag or bad value: --window 0");
    r = run("forecast", (const char *const[]){"--data", "/nonexistent.csv", NULL});
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot load /nonexistent.csv"));
    run_free(&r);
    r = run("forecast", (const char *const[]){"--data", "tests/fixtures/forecast_sine.csv", "--window", "290", NULL});
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "need at least window + 20"));
    run_free(&r);
}

static void test_files_written(void **state)
{
    (void)state;
    run_result r = run("simple_net", (const char *const[]){"--seed", "0", "--out", out_dir, NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "simple_net_weights.svg"));
    assert_non_null(strstr(r.out, "simple_net_loss.svg"));
    run_free(&r);
    assert_int_equal(count_files("simple_net_weights.svg"), 1);
    assert_int_equal(count_files("simple_net_weights.png"), 1);
    assert_int_equal(count_files("simple_net_loss.svg"), 1);
    char p[256];
    snprintf(p, sizeof p, "%s/simple_net_weights.svg", out_dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char *svg = slurp(f);
    fclose(f);
    assert_non_null(strstr(svg, ">Layer 0</text>"));
    assert_non_null(strstr(svg, ">Layer 1</text>"));
    assert_non_null(strstr(svg, ">Neurons</text>"));
    assert_non_null(strstr(svg, ">Input Features</text>"));
    free(svg);
    clear_out_dir();
}

/* Every program built into <bin_dir> (the examples, present and future)
   answers --help with its usage on stdout and status 0; the five known
   ones must be among them. */
static void test_every_example_answers_help(void **state)
{
    (void)state;
    static const char *const known[] = {"quickstart", "simple_net", "two_conv", "fashion_mnist", "cifar10"};
    int found_known = 0, failed = 0;
    DIR *d = opendir(bin_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        char path[2048];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", bin_dir, e->d_name);
        if (strchr(e->d_name, '.') || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            access(path, X_OK) != 0)
            continue; /* ., .., the .d dependency files */
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            found_known += !strcmp(e->d_name, known[k]);
        run_result r = run(e->d_name, (const char *const[]){"--help", NULL});
        if (r.status != 0 || strncmp(r.out, "usage: ", 7) != 0) {
            fprintf(stderr, "%s --help: exit %d, stdout:\n%s\nstderr:\n%s\n", e->d_name, r.status, r.out,
                    r.err);
            failed++;
        }
        run_free(&r);
    }
    closedir(d);
    assert_int_equal(failed, 0);
    assert_int_equal(found_known, (int)(sizeof known / sizeof *known));
}

static void test_random_seed(void **state)
{
    (void)state;
    run_result r = run("two_conv", (const char *const[]){"--seed", "random", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, " (random)\n"));
    run_free(&r);
}

/* One line of usage or error on stderr, nothing on stdout, non-zero exit. */
static void expect_refusal(const char *program, const char *const *args, int status, const char *starts)
{
    run_result r = run(program, args);
    if (r.status != status || strncmp(r.err, starts, strlen(starts)) || strchr(r.err, '\n') != r.err + strlen(r.err) - 1 ||
        r.out[0]) {
        fprintf(stderr, "%s %s: exit %d\nstderr: %s\nstdout: %s\n", program, args[0] ? args[0] : "", r.status,
                r.err, r.out);
        fail();
    }
    run_free(&r);
}

static void test_bad_flags(void **state)
{
    (void)state;
    expect_refusal("simple_net", (const char *const[]){"--bogus", NULL}, 2, "usage: simple_net");
    expect_refusal("simple_net", (const char *const[]){"--seed", NULL}, 2, "usage: simple_net");
    expect_refusal("simple_net", (const char *const[]){"--seed", "-3", NULL}, 2, "usage: simple_net");
    expect_refusal("simple_net", (const char *const[]){"--seed", "12x", NULL}, 2, "usage: simple_net");
    expect_refusal("simple_net", (const char *const[]){"--seed", "99999999999999999999999", NULL}, 2,
                   "usage: simple_net");
    expect_refusal("simple_net", (const char *const[]){"--optim", "lbfgs", NULL}, 2, "usage: simple_net");
    expect_refusal("simple_net", (const char *const[]){"--out", NULL}, 2, "usage: simple_net");
    expect_refusal("two_conv", (const char *const[]){"--out", "x", NULL}, 2, "usage: two_conv");
    expect_refusal("two_conv", (const char *const[]){"extra", NULL}, 2, "usage: two_conv");
    char missing[128], file[128];
    snprintf(missing, sizeof missing, "%s/does/not/exist", out_dir);
    expect_refusal("simple_net", (const char *const[]){"--out", missing, NULL}, 1, "simple_net: --out");
    snprintf(file, sizeof file, "%s/a_file", out_dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    expect_refusal("simple_net", (const char *const[]){"--out", file, NULL}, 1, "simple_net: --out");
    unlink(file);
    assert_int_equal(count_files(""), 0); /* nothing was written */
}

static int setup(void **state)
{
    (void)state;
    snprintf(out_dir, sizeof out_dir, "/tmp/nn_test_examples.XXXXXX");
    return mkdtemp(out_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    clear_out_dir();
    return rmdir(out_dir);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* the examples are built next to the tests: <BUILD>/tests/.. /examples */
    const char *slash = strrchr(argv[0], '/');
    int dir_len = slash ? (int)(slash - argv[0]) : 1;
    snprintf(bin_dir, sizeof bin_dir, "%.*s/../examples", dir_len, slash ? argv[0] : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_matches_python),
        cmocka_unit_test(test_files_written),
        cmocka_unit_test(test_every_example_answers_help),
        cmocka_unit_test(test_random_seed),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_custom_layer_matches_python),
        cmocka_unit_test(test_tabular_tiny),
        cmocka_unit_test(test_forecast_tiny),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
