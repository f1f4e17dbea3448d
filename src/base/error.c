/* Error codes and the thread-local message behind nn_last_error(). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

static _Thread_local char last_error[512];
static _Thread_local nn_status last_status = NN_OK;

const char *nn_last_error(void) { return last_error; }

nn_status nn_last_status(void) { return last_status; }

void nn_clear_error(void)
{
    last_error[0] = '\0';
    last_status = NN_OK;
}

const char *nn_status_str(nn_status s)
{
    switch (s) {
    case NN_OK: return "success";
    case NN_EINVAL: return "invalid argument";
    case NN_ESHAPE: return "shape mismatch";
    case NN_ENOMEM: return "out of memory";
    case NN_EIO: return "input/output error";
    case NN_EFORMAT: return "malformed data";
    }
    return "unknown status";
}

/* Formats through a copy: an argument may be nn_last_error() itself. */
static void record(const char *fmt, va_list ap)
{
    char msg[sizeof last_error];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(last_error, msg, strlen(msg) + 1);
}

int nn_fail(nn_status s, const char *fmt, ...)
{
    last_status = s;
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return (int)s;
}

void *nn_fail_null(nn_status s, const char *fmt, ...)
{
    last_status = s;
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return NULL;
}

float nn_fail_nan(nn_status s, const char *fmt, ...)
{
    last_status = s;
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return NAN;
}

static void prepend(const char *fmt, va_list ap)
{
    char msg[sizeof last_error];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0 || (size_t)n + 3 > sizeof msg)
        return;
    /* ": " + as much of the old message as fits, always terminated */
    size_t at = (size_t)n, len = strnlen(last_error, sizeof msg - at - 3);
    msg[at] = ':';
    msg[at + 1] = ' ';
    memcpy(msg + at + 2, last_error, len);
    msg[at + 2 + len] = '\0';
    memcpy(last_error, msg, strlen(msg) + 1);
}

int nn_fail_context(nn_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prepend(fmt, ap);
    va_end(ap);
    return (int)s;
}

void *nn_fail_context_null(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prepend(fmt, ap);
    va_end(ap);
    return NULL;
}

const char *nn_shape_str(int ndim, const int64_t *shape, char *buf)
{
    size_t at = 0;
    buf[at++] = '[';
    for (int i = 0; i < ndim && at < NN_SHAPE_STR_LEN - 24; i++)
        at += (size_t)snprintf(buf + at, NN_SHAPE_STR_LEN - at, i ? ", %lld" : "%lld",
                               (long long)shape[i]);
    snprintf(buf + at, NN_SHAPE_STR_LEN - at, "]");
    return buf;
}

const char *nn_tensor_shape_str(const nn_tensor *t, char *buf)
{
    if (!t) {
        snprintf(buf, NN_SHAPE_STR_LEN, "NULL");
        return buf;
    }
    return nn_shape_str(t->ndim, t->shape, buf);
}
