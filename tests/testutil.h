/* Shared helpers for the cmocka tests. */
#ifndef NN_TESTUTIL_H
#define NN_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

#endif
