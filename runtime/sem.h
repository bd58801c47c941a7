/*
 * runtime/sem.h - what the mutex and the rwlock use of the semaphore engine
 * beyond its public API (internal).
 */
#ifndef AR_RUNTIME_SEM_H
#define AR_RUNTIME_SEM_H

#include "asyncrt/semaphore.h"

/*
 * Release n permits if the permits held (acquired and not released, granted
 * waiters included) are within [lo, hi] and at least n; otherwise change
 * nothing and return -EPERM.  The mutex releases with [1, 1], a reader
 * with [1, max - 1], a writer with [max, max].
 */
int ar__sem_release_checked(ar_semaphore *s, uint64_t n, uint64_t lo, uint64_t hi);

#endif
