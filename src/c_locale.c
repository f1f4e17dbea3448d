/* Numbers in the text we write and read follow the "C" locale whatever the
   program chose with setlocale (see core.h). */
#include <errno.h>
#include <string.h>

#include "core.h"

int nn_c_numbers_begin(nn_c_numbers *n, const char *fn)
{
    n->old = (locale_t)0;
    n->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (n->c == (locale_t)0)
        return nn_fail(NN_ENOMEM, "%s: cannot create a \"C\" locale for numbers (%s)", fn, strerror(errno));
    n->old = uselocale(n->c);
    return NN_OK;
}

void nn_c_numbers_end(nn_c_numbers *n)
{
    if (n->c == (locale_t)0)
        return;
    uselocale(n->old);
    freelocale(n->c);
    n->c = (locale_t)0;
}
