/* The options-struct rule (nn/opts.h): which kind a struct is. */
#include "base/base.h"
#include "nn/opts.h"

int nn_opts_by_hand(const char *fn, const char *type, const char *defaults_fn,
                          uint32_t from_defaults)
{
    if (from_defaults == 0)
        return 1;
    if (from_defaults == NN_OPTS_FROM_DEFAULTS)
        return 0;
    return nn_fail(NN_EINVAL,
                   "%s: %s.from_defaults is %lu (0x%08lx): expected 0 (a struct written by hand) "
                   "or NN_OPTS_FROM_DEFAULTS (one from %s); is the struct uninitialised?",
                   fn, type, (unsigned long)from_defaults, (unsigned long)from_defaults, defaults_fn);
}
