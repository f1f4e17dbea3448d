/* Atomic file replacement for every writer of the library (safetensors,
   pictures): a temporary file next to the target, written, flushed,
   fsync'ed, renamed over it, then the directory fsync'ed. POSIX. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

static atomic_ulong tmp_counter;

/* Creates "<path>.tmp-<pid>-<n>" exclusively (mode 0666 minus umask, as a
   plain fopen would). Returns the descriptor, name in tmp. */
static int create_temp(const char *path, char *tmp, size_t cap)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%lu", path, (long)getpid(),
                 (unsigned long)atomic_fetch_add(&tmp_counter, 1));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* fsync on the directory holding path, so the rename itself is durable. */
static int sync_parent(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    if (rc != 0 && (errno == EINVAL || errno == EROFS))
        rc = 0; /* the file system cannot sync directories; nothing more to do */
    close(fd);
    return rc;
}

int nn_write_atomically(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, const char *fn)
{
    if (!path || !*path)
        return nn_fail(NN_EINVAL, "%s: path is NULL or empty", fn);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return nn_fail(NN_EINVAL, "%s: '%s' is a directory", fn, path);
    size_t cap = strlen(path) + 64;
    char *tmp = nn_alloc(cap);
    if (!tmp)
        return NN_ENOMEM;
    int fd = create_temp(path, tmp, cap);
    if (fd < 0) {
        int rc = nn_fail(NN_EIO, "%s: cannot create a temporary file next to '%s': %s", fn, path,
                         strerror(errno));
        nn_release(tmp);
        return rc;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        nn_release(tmp);
        return nn_fail(NN_EIO, "%s: cannot open a stream on the temporary file", fn);
    }
    int rc = write(f, ctx);
    if (rc == NN_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = nn_fail(NN_EIO, "%s: cannot flush '%s' to disk: %s", fn, tmp, strerror(errno));
    if (fclose(f) != 0 && rc == NN_OK)
        rc = nn_fail(NN_EIO, "%s: cannot close '%s': %s", fn, tmp, strerror(errno));
    if (rc == NN_OK && rename(tmp, path) != 0)
        rc = nn_fail(NN_EIO, "%s: cannot rename the temporary file over '%s': %s", fn, path,
                     strerror(errno));
    if (rc != NN_OK) {
        unlink(tmp);
    } else if (sync_parent(path, tmp, cap) != 0) {
        rc = nn_fail(NN_EIO, "%s: '%s' was written but its directory could not be synced: %s", fn,
                     path, strerror(errno));
    }
    nn_release(tmp);
    return rc;
}

