/*
 * runtime/reactor.h - the I/O driver contract and its dispatch.
 *
 * One reactor per worker; only its owner thread drives it.  Other threads
 * reach it through a lock-free stack of requests plus a wake-up (an eventfd
 * the driver waits on).  Two backends implement the contract:
 *   io_uring (reactor_uring.c, the only file that includes liburing.h): a
 *     ring per worker, SINGLE_ISSUER and DEFER_TASKRUN where the kernel has
 *     them; operations are SQEs, completions CQEs.
 *   epoll (reactor_epoll.c): the fallback where io_uring cannot be set up;
 *     operations are non-blocking syscalls retried on readiness, regular
 *     files are done synchronously on the owner thread.
 * The backend is chosen once per runtime (runtime.c, reactor.c) and every
 * reactor of that runtime has the same one.
 *
 * Dispatch: each backend's reactor struct begins with ar__reactor_hdr; the
 * inline entry points below branch on its tag.  On the io_uring path that
 * is one predictable branch per call and no indirect call.
 */
#ifndef AR_RUNTIME_REACTOR_H
#define AR_RUNTIME_REACTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asyncrt/runtime.h"
#include "op.h"
#include "park.h"

/* Opaque to everyone but its backend; the io_uring backend defines the
 * struct, the epoll backend's struct (ar__epoll) is used through this
 * pointer type.  Both begin with ar__reactor_hdr. */
typedef struct ar__reactor ar__reactor;

enum ar__backend { AR__BACKEND_URING = 0, AR__BACKEND_EPOLL = 1 };

/* The first member of every backend's reactor struct.  Immutable after
 * creation (written before the reactor is published to any thread). */
typedef struct ar__reactor_hdr {
    uint8_t backend; /* enum ar__backend */
    /* Metrics (asyncrt/metrics.h): operations started (a multishot re-arm
     * counts as one) and completions delivered (each of a multishot op's).
     * Written by the owner only, a relaxed load and store (no locked
     * instruction); read relaxed by ar_rt_worker_metrics_read. */
    _Atomic uint64_t io_submitted, io_completed;
} ar__reactor_hdr;

/* Owner: count one event in a reactor metric. */
static inline void ar__reactor_count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The reactor this thread owns (a worker, or a current-thread driver), or
 * NULL. */
extern __thread ar__reactor *ar__tls_reactor __attribute__((tls_model("initial-exec")));

/*
 * The contract (each backend implements every function, prefixed ar__uring_
 * or ar__epoll_; callers use the ar__reactor_ dispatchers below):
 *
 * new(out, single_issuer, wake, arg): create a reactor on the calling
 *   thread.  single_issuer: only the thread that enables it will ever
 *   drive it (workers); false for the current-thread flavour, whose driver
 *   thread may change.  wake(arg) must interrupt the owner's park.
 *   Returns 0 or -errno (io_uring: ENOSYS, EPERM from seccomp or the
 *   kernel.io_uring_disabled sysctl, ENOMEM...).
 * enable(r): the thread that will own a single_issuer reactor calls this
 *   first (an io_uring is created disabled so another thread may create it).
 * close(r): owner: finish every operation (in-flight ones complete with
 *   -ECANCELED or are cancelled and waited for, bounded) and tear the
 *   kernel object down.  The eventfd and the struct stay, so a late unpark
 *   from another thread stays harmless until free.
 * free(r): once no other thread can reach it: close (if not yet) and free.
 * turn(r, p, park, timeout_ns): owner: one turn of the driver: take remote
 *   requests, start operations, reap completions (waking futures).  Blocks
 *   until a completion, an unpark or the timeout when `park` is set.  `p` is
 *   the owner's parker: parking follows park.h's protocol, with the kernel
 *   wait in place of the futex and an eventfd write as the unpark.
 * unpark(r, p): any thread: unpark the owner if it is parked in turn.
 * pending(r): true when the owner has work for the driver (operations in
 *   flight or waiting, prepared SQEs or remote requests).
 * submit(r, op): any thread: submit op (waker set) to r.
 * drop_op(op): any thread: the future of op was dropped.  Frees it now if
 *   the backend is done with it, else cancels it; the reactor frees it
 *   when nothing (kernel, waiter list, remote stack) refers to it any more.
 * resubmit(op): any thread: arm again a multishot op whose multishot ended
 *   (state DONE) and that its stream still holds (see below).
 */
#define AR__REACTOR_DECLARE(pfx)                                                                   \
    int ar__##pfx##_new(ar__reactor **out, bool single_issuer, void (*wake)(void *), void *arg); \
    int ar__##pfx##_enable(ar__reactor *r);                                                        \
    void ar__##pfx##_close(ar__reactor *r);                                                        \
    void ar__##pfx##_free(ar__reactor *r);                                                         \
    void ar__##pfx##_turn(ar__reactor *r, ar__parker *p, bool park, uint64_t timeout_ns);          \
    void ar__##pfx##_unpark(ar__reactor *r, ar__parker *p);                                        \
    bool ar__##pfx##_pending(ar__reactor *r);                                                      \
    void ar__##pfx##_submit(ar__reactor *r, ar__op *op);                                           \
    void ar__##pfx##_drop_op(ar__op *op);                                                         \
    void ar__##pfx##_resubmit(ar__op *op)

AR__REACTOR_DECLARE(uring);
AR__REACTOR_DECLARE(epoll);

static inline bool ar__reactor_is_uring(const ar__reactor *r)
{
    /* safety: every backend's struct begins with ar__reactor_hdr, so a
     * pointer to it is a pointer to its first member (C11 6.7.2.1p15). */
    return __builtin_expect(((const ar__reactor_hdr *)(const void *)r)->backend ==
                                AR__BACKEND_URING,
                            1);
}

/* Create a reactor of the given backend (see new above). */
int ar__reactor_new(ar__reactor **out, enum ar__backend backend, bool single_issuer,
                    void (*wake)(void *), void *arg);

/* The backend a new runtime asks for (reactor.c): opt unless AUTO, else
 * the AR_BACKEND environment variable (a bad value is reported on stderr,
 * once, and means AUTO). */
ar_io_backend ar__backend_wanted(ar_io_backend opt);
/* One stderr line each, once per process: auto fell back to epoll because
 * io_uring setup failed with err; io_uring was forced and failed. */
void ar__backend_report_fallback(int err);
void ar__backend_report_forced_failure(int err);

static inline int ar__reactor_enable(ar__reactor *r)
{
    return ar__reactor_is_uring(r) ? ar__uring_enable(r) : ar__epoll_enable(r);
}

static inline void ar__reactor_close(ar__reactor *r)
{
    if (!r)
        return;
    if (ar__reactor_is_uring(r))
        ar__uring_close(r);
    else
        ar__epoll_close(r);
}

static inline void ar__reactor_free(ar__reactor *r)
{
    if (!r)
        return;
    if (ar__reactor_is_uring(r))
        ar__uring_free(r);
    else
        ar__epoll_free(r);
}

static inline void ar__reactor_turn(ar__reactor *r, ar__parker *p, bool park, uint64_t timeout_ns)
{
    if (ar__reactor_is_uring(r))
        ar__uring_turn(r, p, park, timeout_ns);
    else
        ar__epoll_turn(r, p, park, timeout_ns);
}

static inline void ar__reactor_unpark(ar__reactor *r, ar__parker *p)
{
    if (ar__reactor_is_uring(r))
        ar__uring_unpark(r, p);
    else
        ar__epoll_unpark(r, p);
}

static inline bool ar__reactor_pending(ar__reactor *r)
{
    return ar__reactor_is_uring(r) ? ar__uring_pending(r) : ar__epoll_pending(r);
}

static inline void ar__reactor_submit(ar__reactor *r, ar__op *op)
{
    if (ar__reactor_is_uring(r))
        ar__uring_submit(r, op);
    else
        ar__epoll_submit(r, op);
}

/* op->owner is set by submit and immutable afterwards; drop_op is only
 * called on submitted operations. */
static inline void ar__reactor_drop_op(ar__op *op)
{
    if (ar__reactor_is_uring(op->owner))
        ar__uring_drop_op(op);
    else
        ar__epoll_drop_op(op);
}

/* The backend's name as ar_rt_io_backend reports it. */
static inline const char *ar__backend_name(enum ar__backend b)
{
    return b == AR__BACKEND_URING ? "io_uring" : "epoll";
}

/* Any thread: arm again a multishot op (stream.c) whose multishot ended
 * (state DONE) and that the future still holds, on its owner's ring.  Does
 * nothing if the op is not DONE. */
static inline void ar__reactor_resubmit(ar__op *op)
{
    if (ar__reactor_is_uring(op->owner))
        ar__uring_resubmit(op);
    else
        ar__epoll_resubmit(op);
}

/* A recv stream stops receiving (cancels its multishot) once this many
 * bytes wait in its queue, and re-arms when the caller has taken them. */
#define AR__RECV_STREAM_HIGH (256u << 10)

#endif
