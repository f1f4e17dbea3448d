/* Shared helpers for the cmocka tests. */
#ifndef NN_TESTUTIL_H
#define NN_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn.h"

/* |got - want| <= atol + rtol * |want| for every element, with a message
   naming the first element that is off. */
static inline void assert_close_at(const float *got, const float *want, int64_t n, double rtol,
                                   double atol, const char *what, const char *file, int line)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= atol + rtol * fabs((double)want[i]))) {
            fprintf(stderr, "%s:%d: %s[%lld]: got %.9g, want %.9g\n", file, line, what,
                    (long long)i, got[i], want[i]);
            fail();
        }
    }
}
#define assert_close(got, want, n, rtol, atol) \
    assert_close_at((got), (want), (n), (rtol), (atol), #got, __FILE__, __LINE__)

/* The message of the last error must mention every given fragment. */
#define assert_error_mentions(...)                                                 \
    do {                                                                           \
        const char *frags_[] = {__VA_ARGS__};                                      \
        for (size_t i_ = 0; i_ < sizeof frags_ / sizeof *frags_; i_++) {          \
            if (!strstr(nn_last_error(), frags_[i_])) {                            \
                fprintf(stderr, "error \"%s\" lacks \"%s\"\n", nn_last_error(),     \
                        frags_[i_]);                                               \
                fail();                                                            \
            }                                                                      \
        }                                                                          \
    } while (0)

/* A comma-decimal LC_NUMERIC (de_DE) for checking that the library's text
   keeps '.' decimals, found through LOCPATH, so no installed locale is
   needed, only the locales package's sources (make test installs them).
   make test compiles it once into $(BUILD)/locale and names that directory
   in NN_TEST_LOCPATH; a test program run by hand without it compiles its
   own with glibc's localedef into a temporary directory. Fails the test
   when that cannot be done; checks that printf really writes "0,5" then. */
static char comma_locale_dir_[512];
static bool comma_locale_own_; /* compiled here, removed by comma_locale_end */

static inline void comma_locale_begin(void)
{
    const char *ready = getenv("NN_TEST_LOCPATH");
    comma_locale_own_ = !ready || !*ready;
    if (!comma_locale_own_) {
        if (snprintf(comma_locale_dir_, sizeof comma_locale_dir_, "%s", ready) >= (int)sizeof comma_locale_dir_)
            fail_msg("NN_TEST_LOCPATH is longer than %d bytes", (int)sizeof comma_locale_dir_ - 1);
    } else {
        char cmd[sizeof comma_locale_dir_ * 2 + 100];
        snprintf(comma_locale_dir_, sizeof comma_locale_dir_, "/tmp/nn_test_locale_%ld", (long)getpid());
        /* in this program's byte order: localedef may be the build
           machine's (a big-endian program run under an emulator) */
        const char *order = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? "--big-endian" : "--little-endian";
        snprintf(cmd, sizeof cmd, "mkdir -p %s && localedef %s -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
                 comma_locale_dir_, order, comma_locale_dir_);
        if (system(cmd) != 0)
            fail_msg("localedef -i de_DE failed: install the locales package (apt-get install locales)");
    }
    setenv("LOCPATH", comma_locale_dir_, 1);
    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8"))
        fail_msg("no de_DE.UTF-8 locale in %s", comma_locale_dir_);
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 0.5);
    assert_string_equal(probe, "0,5"); /* the locale is in force */
}

static inline void comma_locale_end(void)
{
    char cmd[sizeof comma_locale_dir_ + 16];
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    if (!comma_locale_own_)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf %s", comma_locale_dir_);
    assert_int_equal(system(cmd), 0);
}

#endif
