/*
 * asyncrt/mutex.h - async mutex, FIFO fair (Tokio's Mutex).
 *
 * Locking is a future: a task that finds the mutex held waits without
 * blocking its worker.  While tasks wait, ar_mutex_unlock hands the lock
 * straight to the oldest waiter (FIFO; nobody barges in, try_lock
 * included).  Uncontended lock and unlock are one compare-and-swap each.
 *
 * Cancellation: an ar_mutex_lock future may be dropped at any point
 * (ar_mutex_lock_drop).  If the lock had been handed to it but it had not
 * reported AR_READY yet, the lock goes to the next waiter (or is released):
 * it is never lost.
 *
 * The mutex records no owner: any thread or task may unlock it, and
 * unlocking a mutex that is not locked fails with -EPERM and changes
 * nothing.  (An unlock by a task that is not the holder cannot be told
 * apart from one by the holder.)
 *
 * The mutex guards nothing by itself; keep the data next to it.  Unlock
 * (release) happens-before the next lock (acquire) returns.
 */
#ifndef ASYNCRT_MUTEX_H
#define ASYNCRT_MUTEX_H

#include "semaphore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Members are private. */
typedef struct ar_mutex {
    ar_semaphore sem; /* one permit */
} ar_mutex;

/* A pending lock (a future). */
typedef struct ar_mutex_lock {
    ar_sem_acquire acq;
} ar_mutex_lock;

/* Returns 0, -EINVAL (NULL). */
AR_EXTERN int ar_mutex_init(ar_mutex *m);

/* Returns 0, -EINVAL (NULL), -EBUSY (locked or waited on: nothing changes). */
AR_EXTERN int ar_mutex_destroy(ar_mutex *m);

/* Returns 0 (now locked by the caller), -EBUSY (held or waited on), -EINVAL. */
AR_EXTERN int ar_mutex_try_lock(ar_mutex *m);

AR_EXTERN void ar_mutex_lock_init(ar_mutex_lock *l, ar_mutex *m);

/* AR_READY when done; *res (may be NULL) is 0 (the caller holds the lock)
 * or -EINVAL (NULL mutex or cx). */
AR_EXTERN ar_poll ar_mutex_lock_poll(ar_mutex_lock *l, ar_cx *cx, int *res);

/* Abandon a lock future (any state, idempotent); after AR_READY it does
 * nothing (the lock is the caller's: unlock it). */
AR_EXTERN void ar_mutex_lock_drop(ar_mutex_lock *l);

/* Returns 0, -EINVAL (NULL), -EPERM (not locked: nothing changes). */
AR_EXTERN int ar_mutex_unlock(ar_mutex *m);

/* A snapshot. */
AR_EXTERN bool ar_mutex_is_locked(ar_mutex *m);

#ifdef __cplusplus
}
#endif

#endif
