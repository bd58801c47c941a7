/*
 * runtime/blocking.h - the runtime's side of the blocking pool
 * (blocking.c; public API in asyncrt/blocking.h).
 */
#ifndef AR_RUNTIME_BLOCKING_H
#define AR_RUNTIME_BLOCKING_H

#include "asyncrt/runtime.h"

struct ar__blocking;

/* Create the pool of a new runtime (no thread yet).  The runtime holds one
 * reference.  Returns 0, -ENOMEM. */
int ar__blocking_new(struct ar__blocking **out, const ar_rt_opts *opts);

/* Runtime shutdown (after every task was dropped): refuse new jobs, cancel
 * the queued ones, wait up to the shutdown timeout for the running ones.
 * Returns 0, or -ETIMEDOUT when jobs were still running (left detached).
 * Idempotent (later calls return 0). */
int ar__blocking_shutdown(struct ar__blocking *p);

/* Drop the runtime's reference (rt_destroy).  NULL is a no-op. */
void ar__blocking_unref(struct ar__blocking *p);

#endif
