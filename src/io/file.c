/* Checked opening for every loader in src/io (atomic saving is
   nn_write_atomically, src/base/file_atomic.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

int st_load_file(const char *path, int (*read)(FILE *f, int64_t size, void *ctx), void *ctx,
                 const char *fn)
{
    if (!path)
        return nn_fail(NN_EINVAL, "%s: path is NULL", fn);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_fail(NN_EIO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fileno(f), &st) != 0)
        rc = nn_fail(NN_EIO, "%s: cannot stat '%s': %s", fn, path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = nn_fail(NN_EIO, "%s: '%s' is not a regular file", fn, path);
    else
        rc = read(f, (int64_t)st.st_size, ctx);
    fclose(f);
    return rc;
}

int64_t st_stream_remaining(FILE *f)
{
    long at = ftell(f);
    if (at < 0 || fseek(f, 0, SEEK_END) != 0)
        return -1;
    long end = ftell(f);
    if (fseek(f, at, SEEK_SET) != 0 || end < at)
        return -1;
    return (int64_t)(end - at);
}
