/*
 * asyncrt/semaphore.h - counting semaphore with FIFO waiters (Tokio's
 * batch semaphore): acquire and release n permits at a time.
 *
 * Fairness: waiters are served strictly in arrival order.  A waiter that
 * needs more permits than are free takes what is free and waits at the head
 * for the rest, so a large request is not starved by a stream of small
 * ones; while anybody waits, nobody (try_acquire included) takes permits
 * past it.
 *
 * Limits and errors
 *   - A semaphore holds at most AR_SEM_MAX_PERMITS; `max` is the number it
 *     was created with plus what ar_sem_add_permits added.
 *   - Acquiring 0 permits succeeds at once; acquiring more than `max`
 *     fails with -EINVAL at once (it could never succeed): never a hang.
 *   - Releasing more permits than are held (acquired and not released)
 *     fails with -EOVERFLOW and changes nothing.
 *
 * Cancellation: an ar_sem_acquire future may be dropped (ar_sem_acquire_drop)
 * at any point.  Permits it had been given, in part or in full, go to the
 * next waiters or back to the semaphore: a dropped waiter loses no permit.
 * Once the future returned AR_READY with 0 the caller holds the permits and
 * releases them with ar_sem_release.
 *
 * Thread-safe.  Uncontended acquire and release are one compare-and-swap
 * each; the waiter list is guarded by a small spinlock.
 */
#ifndef ASYNCRT_SEMAPHORE_H
#define ASYNCRT_SEMAPHORE_H

#include "waitnode.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AR_SEM_MAX_PERMITS ((uint64_t)1 << 60)

/* Exposed so that users embed it by value; members are private. */
typedef struct ar_semaphore {
    _Atomic uint64_t state; /* free permits << 1 | 1 when waiters are queued */
    _Atomic uint64_t max;   /* permits in existence */
    _Atomic int lock;       /* guards `waiters` and the nodes in it */
    ar_waitlist waiters;
} ar_semaphore;

/* A pending acquire (a future): init, poll until AR_READY, or drop. */
typedef struct ar_sem_acquire {
    ar_waitnode node;
    ar_semaphore *sem;
    uint64_t n;
} ar_sem_acquire;

/* Returns 0, -EINVAL (NULL, permits > AR_SEM_MAX_PERMITS). */
AR_EXTERN int ar_sem_init(ar_semaphore *s, uint64_t permits);

/* Returns 0, -EINVAL (NULL), -EBUSY (futures still wait: nothing changes). */
AR_EXTERN int ar_sem_destroy(ar_semaphore *s);

/* Take n permits now if they are free and nobody waits.
 * Returns 0, -EAGAIN (not now), -EINVAL (NULL, n > max). */
AR_EXTERN int ar_sem_try_acquire(ar_semaphore *s, uint64_t n);

/* Prepare a future that acquires n permits from s. */
AR_EXTERN void ar_sem_acquire_init(ar_sem_acquire *a, ar_semaphore *s, uint64_t n);

/*
 * AR_READY when done; *res (may be NULL) is 0 (the caller now holds n
 * permits) or -EINVAL (NULL semaphore or cx, n > max).  Polling again after
 * AR_READY stays AR_READY with the same result and acquires nothing more.
 */
AR_EXTERN ar_poll ar_sem_acquire_poll(ar_sem_acquire *a, ar_cx *cx, int *res);

/* Abandon the future (any state; idempotent).  Permits it was given but
 * had not reported are passed on.  After AR_READY it does nothing: the
 * permits are the caller's. */
AR_EXTERN void ar_sem_acquire_drop(ar_sem_acquire *a);

/* Give back n permits (to the oldest waiters first).
 * Returns 0, -EINVAL (NULL), -EOVERFLOW (more than are held; nothing changes). */
AR_EXTERN int ar_sem_release(ar_semaphore *s, uint64_t n);

/* Create n more permits (max grows by n).
 * Returns 0, -EINVAL (NULL), -EOVERFLOW (max would pass AR_SEM_MAX_PERMITS). */
AR_EXTERN int ar_sem_add_permits(ar_semaphore *s, uint64_t n);

/* Free permits now (a snapshot; 0 while waiters are queued). */
AR_EXTERN uint64_t ar_sem_available(ar_semaphore *s);

#ifdef __cplusplus
}
#endif

#endif
