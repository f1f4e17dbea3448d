/* Shared by the dataset loaders: whole-file reading, nn_dataset_free. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "data_impl.h"
#include "nn/data.h"

int nn_read_whole_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len, int *err)
{
    *err = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = errno;
        return NN_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        *err = S_ISDIR(st.st_mode) ? EISDIR : errno;
        fclose(f);
        return NN_EIO;
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return NN_EFORMAT;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = nn_alloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return NN_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int read_err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (got != n || read_err) {
        *err = read_err ? read_err : EIO; /* the file shrank under us */
        nn_release(buf);
        return NN_EIO;
    }
    *out = buf;
    *len = n;
    return NN_OK;
}

void nn_dataset_free(nn_dataset *d)
{
    if (!d)
        return;
    nn_tensor_free(d->images);
    nn_tensor_free(d->labels);
    d->images = NULL;
    d->labels = NULL;
}
