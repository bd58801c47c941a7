/*
 * runtime/reactor.h - the I/O driver contract.  One reactor per worker;
 * only its owner thread touches the ring (io_uring with SINGLE_ISSUER and
 * DEFER_TASKRUN where the kernel has them).  Other threads reach it through
 * a lock-free stack of requests plus a wake-up (an eventfd the ring keeps a
 * read pending on).  Only reactor_uring.c includes liburing.h.
 */
#ifndef AR_RUNTIME_REACTOR_H
#define AR_RUNTIME_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"
#include "park.h"

typedef struct ar__reactor ar__reactor;

/* The reactor whose ring this thread owns (a worker, or a current-thread
 * driver), or NULL. */
extern __thread ar__reactor *ar__tls_reactor __attribute__((tls_model("initial-exec")));

/*
 * Create a ring on the calling thread.  single_issuer: only this thread
 * will ever submit (workers); false for the current-thread flavour, whose
 * driver thread may change.  wake(arg) must interrupt the owner's park.
 * Returns 0 or -errno (ENOSYS, EPERM from seccomp, ...): the caller falls
 * back to futex parking and I/O futures report -ENOSYS.
 */
int ar__reactor_new(ar__reactor **out, bool single_issuer, void (*wake)(void *), void *arg);

/* The thread that will own a ring created with single_issuer calls this
 * first (the ring is created disabled so another thread may create it). */
int ar__reactor_enable(ar__reactor *r);

/* Owner: finish every operation (cancel all, wait for their completions,
 * bounded) and tear the ring down.  The eventfd and the struct stay, so a
 * late unpark from another thread stays harmless until ar__reactor_free. */
void ar__reactor_close(ar__reactor *r);
/* Once no other thread can reach it: close (if not yet) and free. */
void ar__reactor_free(ar__reactor *r);

/* Owner: one turn of the driver: take remote requests, submit every
 * prepared SQE in one io_uring_enter, reap completions (waking futures).
 * Blocks until a completion, an unpark or the timeout when `park` is set.
 * `p` is the owner's parker: parking follows park.h's protocol, with the
 * ring wait in place of the futex and an eventfd write as the unpark. */
void ar__reactor_turn(ar__reactor *r, ar__parker *p, bool park, uint64_t timeout_ns);

/* Any thread: unpark the owner if it is parked in ar__reactor_turn. */
void ar__reactor_unpark(ar__reactor *r, ar__parker *p);

/* True when the owner has work for the driver (in-flight operations,
 * prepared SQEs or remote requests). */
bool ar__reactor_pending(ar__reactor *r);

/* Any thread: submit op (state QUEUED, waker set) to r. */
void ar__reactor_submit(ar__reactor *r, ar__op *op);

/* Any thread: arm again a multishot op (stream.c) whose multishot ended
 * (state DONE) and that the future still holds, on its owner's ring.  Does
 * nothing if the op is not DONE. */
void ar__reactor_resubmit(ar__op *op);

/* A recv stream stops receiving (cancels its multishot) once this many
 * bytes wait in its queue, and re-arms when the caller has taken them. */
#define AR__RECV_STREAM_HIGH (256u << 10)

/* Any thread: the future of op was dropped.  Frees it now if the kernel is
 * done with it, else cancels it; the reactor frees it at its last CQE. */
void ar__reactor_drop_op(ar__op *op);

#endif
