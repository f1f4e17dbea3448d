/* Numbers in the text we write and read follow the "C" locale whatever the
   program chose with setlocale (see core.h). The locale object is made
   once and kept for the process's life (libc's memory, still reachable at
   exit), so that printing allocates nothing. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static locale_t c_locale = (locale_t)0;
static int make_errno;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    make_errno = errno;
}

int nn_c_numbers_begin(nn_c_numbers *n, const char *fn)
{
    n->old = (locale_t)0;
    n->c = (locale_t)0;
    pthread_once(&once, make_c_locale);
    if (c_locale == (locale_t)0)
        return nn_fail(NN_ENOMEM, "%s: cannot create a \"C\" locale for numbers (%s)", fn, strerror(make_errno));
    n->c = c_locale;
    n->old = uselocale(c_locale);
    return NN_OK;
}

void nn_c_numbers_end(nn_c_numbers *n)
{
    if (n->c == (locale_t)0)
        return;
    uselocale(n->old);
    n->c = (locale_t)0;
}
