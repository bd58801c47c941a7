/*
 * asyncrt/rwlock.h - async reader-writer lock, fair (Tokio's RwLock).
 *
 * Any number of readers, or one writer.  Fairness is FIFO: a writer that
 * waits holds back every reader that arrives after it (so writers are not
 * starved), and readers that arrived before it still get in.  Built on a
 * semaphore of AR_RWLOCK_MAX_READERS permits: a reader takes one, a writer
 * all of them.  Uncontended read or write lock and unlock are one
 * compare-and-swap each.
 *
 * Cancellation: read and write futures may be dropped at any point; a
 * waiting writer that had already collected some permits gives them back
 * to the next waiters, so nothing is lost and no reader stays blocked.
 *
 * Errors: more than AR_RWLOCK_MAX_READERS - 1 readers at once wait (never
 * overflow); ar_rwlock_read_unlock with no reader in, or while a writer
 * holds the lock, and ar_rwlock_write_unlock without a writer in fail with
 * -EPERM and change nothing.  No owner is recorded.
 */
#ifndef ASYNCRT_RWLOCK_H
#define ASYNCRT_RWLOCK_H

#include "semaphore.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AR_RWLOCK_MAX_READERS ((uint64_t)1 << 32)

/* Members are private. */
typedef struct ar_rwlock {
    ar_semaphore sem;
} ar_rwlock;

/* A pending read or write lock (a future). */
typedef struct ar_rwlock_acquire {
    ar_sem_acquire acq;
} ar_rwlock_acquire;

/* Returns 0, -EINVAL (NULL). */
AR_EXTERN int ar_rwlock_init(ar_rwlock *l);
/* Returns 0, -EINVAL, -EBUSY (held or waited on). */
AR_EXTERN int ar_rwlock_destroy(ar_rwlock *l);

/* Returns 0, -EBUSY (a writer holds it or waits), -EINVAL. */
AR_EXTERN int ar_rwlock_try_read(ar_rwlock *l);
/* Returns 0, -EBUSY (held or waited on), -EINVAL. */
AR_EXTERN int ar_rwlock_try_write(ar_rwlock *l);

AR_EXTERN void ar_rwlock_read_init(ar_rwlock_acquire *a, ar_rwlock *l);
AR_EXTERN void ar_rwlock_write_init(ar_rwlock_acquire *a, ar_rwlock *l);

/* Poll a read or write future.  AR_READY when done; *res (may be NULL) is 0
 * (held) or -EINVAL (NULL lock or cx). */
AR_EXTERN ar_poll ar_rwlock_acquire_poll(ar_rwlock_acquire *a, ar_cx *cx, int *res);

/* Abandon the future (any state, idempotent; after AR_READY: nothing). */
AR_EXTERN void ar_rwlock_acquire_drop(ar_rwlock_acquire *a);

/* Returns 0, -EINVAL (NULL), -EPERM (no reader holds it). */
AR_EXTERN int ar_rwlock_read_unlock(ar_rwlock *l);
/* Returns 0, -EINVAL (NULL), -EPERM (no writer holds it). */
AR_EXTERN int ar_rwlock_write_unlock(ar_rwlock *l);

#ifdef __cplusplus
}
#endif

#endif
