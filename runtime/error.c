/*
 * runtime/error.c - ar_strerror.
 */
#include <limits.h>
#include <string.h>

#include "asyncrt/common.h"

const char *ar_strerror(int err)
{
    if (err == 0)
        return "Success";
    if (err > 0)
        return "Not an error code (ar_ functions return negative errno)";
    if (err == INT_MIN)
        return "Unknown error";
    /* strerrordesc_np (glibc >= 2.32) returns static, thread-safe text. */
    const char *s = strerrordesc_np(-err);
    return s ? s : "Unknown error";
}
