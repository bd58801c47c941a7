/*
 * runtime/coro.c - diagnostics of the coroutine macros.
 */
#include <stdio.h>
#include <stdlib.h>

#include "asyncrt/future.h"

void ar__co_poll_after_done(const char *fn, const char *file, int line)
{
    fprintf(stderr,
            "asyncrt: %s polled after it returned AR_READY (%s:%d)\n"
            "  help: a finished future must not be polled again; re-initialise it "
            "to start over\n",
            fn, file, line);
    abort();
}
