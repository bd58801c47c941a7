/*
 * runtime/reactor.c - choosing the reactor backend and creating reactors
 * of the chosen one (the per-call dispatch is inline in reactor.h).
 *
 * The choice is made once per runtime, in ar_rt_new (runtime.c):
 *   1. ar_rt_opts.backend, when not AR_IO_BACKEND_AUTO;
 *   2. else the environment: AR_BACKEND=uring (or io_uring) | epoll | auto;
 *      anything else is reported once on stderr and means auto;
 *   3. auto: io_uring, falling back to epoll with one stderr line (once per
 *      process) that gives the error of the io_uring setup;
 *   4. io_uring asked for explicitly (opts or AR_BACKEND=uring) but not
 *      available: ar_rt_new fails with that error, and says so on stderr.
 *      A program or an operator that insists on io_uring (a benchmark, a
 *      deployment check) learns it did not get it instead of silently
 *      measuring something else.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "asyncrt/runtime.h"
#include "reactor.h"

int ar__reactor_new(ar__reactor **out, enum ar__backend backend, bool single_issuer,
                    void (*wake)(void *), void *arg)
{
    if (backend == AR__BACKEND_URING)
        return ar__uring_new(out, single_issuer, wake, arg);
    return ar__epoll_new(out, single_issuer, wake, arg);
}

ar_io_backend ar__backend_wanted(ar_io_backend opt)
{
    if (opt == AR_IO_BACKEND_URING || opt == AR_IO_BACKEND_EPOLL)
        return opt;
    const char *env = getenv("AR_BACKEND");
    if (!env || !*env || !strcmp(env, "auto"))
        return AR_IO_BACKEND_AUTO;
    if (!strcmp(env, "uring") || !strcmp(env, "io_uring"))
        return AR_IO_BACKEND_URING;
    if (!strcmp(env, "epoll"))
        return AR_IO_BACKEND_EPOLL;
    static _Atomic bool said;
    if (!atomic_exchange(&said, true))
        fprintf(stderr,
                "asyncrt: AR_BACKEND=%s is not understood (uring, epoll or auto); "
                "choosing automatically\n",
                env);
    return AR_IO_BACKEND_AUTO;
}

/* "EPERM" for -EPERM (glibc's strerrorname_np, GNU). */
static const char *errname(int err)
{
    const char *n = strerrorname_np(-err);
    return n ? n : "?";
}

/* Both lines are said once per process, so that programs creating many
 * runtimes (tests) are not flooded. */
void ar__backend_report_fallback(int err)
{
    static _Atomic bool said;
    if (!atomic_exchange(&said, true))
        fprintf(stderr,
                "asyncrt: io_uring unavailable (setting it up failed with -%s: %s); "
                "using the epoll backend\n",
                errname(err), ar_strerror(err));
}

void ar__backend_report_forced_failure(int err)
{
    static _Atomic bool said;
    if (!atomic_exchange(&said, true))
        fprintf(stderr,
                "asyncrt: io_uring was asked for (AR_BACKEND=uring or ar_rt_opts.backend) "
                "but setting it up failed with -%s (%s); ar_rt_new fails\n",
                errname(err), ar_strerror(err));
}
