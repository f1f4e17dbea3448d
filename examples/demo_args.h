/* Command-line helpers shared by the example programs (header only: every
   examples/<name>.c is built into its own program). */
#ifndef DEMO_ARGS_H
#define DEMO_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nn.h>

/* Whether the command line asks for help: "--help" or "-h" anywhere. Every
   example checks this first, prints its usage on standard output and exits
   with status 0 (tests/test_examples.c runs each built example so). */
static inline bool demo_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* A flag's value that must be a positive float (--lr); false (after saying
   why on stderr) otherwise. */
static inline bool demo_parse_positive(const char *prog, const char *flag, const char *v, float *out)
{
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (*end || end == v || errno || !(x > 0)) {
        fprintf(stderr, "%s: %s expects a positive number, got \"%s\"\n", prog, flag, v);
        return false;
    }
    *out = x;
    return true;
}

/* Parses "--seed" values: a decimal number (0 .. 2^64-1; torch keeps the low
   32 bits) or "random" (from the operating system's entropy). */
static inline bool demo_parse_seed(const char *s, uint64_t *seed, bool *random)
{
    *random = false;
    if (!strcmp(s, "random")) {
        FILE *f = fopen("/dev/urandom", "rb");
        bool ok = f && fread(seed, sizeof *seed, 1, f) == 1;
        if (f)
            fclose(f);
        if (!ok) /* no /dev/urandom: the clock is the best we have */
            *seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        *seed &= UINT64_C(0xffffffff); /* what torch would use of it anyway */
        *random = true;
        return true;
    }
    if (!*s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *seed = (uint64_t)v;
    return true;
}

/* The output directory must exist and accept new files. */
static inline bool demo_check_out_dir(const char *prog, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "%s: --out %s: %s\n", prog, dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: --out %s: not a directory\n", prog, dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "%s: --out %s: %s\n", prog, dir, strerror(errno));
        return false;
    }
    return true;
}

/* dir/name into buf; false when it does not fit. */
static inline bool demo_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size;
}

#endif
