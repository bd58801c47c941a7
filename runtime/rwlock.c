/*
 * runtime/rwlock.c - fair reader-writer lock (see asyncrt/rwlock.h) on the
 * semaphore engine: MAX permits, a reader takes 1, a writer MAX.
 *
 * The checked releases tell holders apart by the number of permits held
 * (free ones and a waiting head's partial grant excluded):
 *   held == MAX            a writer holds it (or a writer was granted it);
 *   1 <= held <= MAX - 1   readers hold it (at most MAX - 1 of them fit).
 * So a reader's unlock is valid only in [1, MAX - 1] and a writer's only at
 * MAX; anything else is -EPERM and changes nothing.
 */
#include "asyncrt/rwlock.h"

#include <errno.h>

#include "sem.h"

#define MAX AR_RWLOCK_MAX_READERS

int ar_rwlock_init(ar_rwlock *l)
{
    return l ? ar_sem_init(&l->sem, MAX) : -EINVAL;
}

int ar_rwlock_destroy(ar_rwlock *l)
{
    if (!l)
        return -EINVAL;
    if (ar_sem_available(&l->sem) != MAX)
        return -EBUSY;
    return ar_sem_destroy(&l->sem);
}

int ar_rwlock_try_read(ar_rwlock *l)
{
    if (!l)
        return -EINVAL;
    return ar_sem_try_acquire(&l->sem, 1) == 0 ? 0 : -EBUSY;
}

int ar_rwlock_try_write(ar_rwlock *l)
{
    if (!l)
        return -EINVAL;
    return ar_sem_try_acquire(&l->sem, MAX) == 0 ? 0 : -EBUSY;
}

void ar_rwlock_read_init(ar_rwlock_acquire *a, ar_rwlock *l)
{
    if (a)
        ar_sem_acquire_init(&a->acq, l ? &l->sem : NULL, 1);
}

void ar_rwlock_write_init(ar_rwlock_acquire *a, ar_rwlock *l)
{
    if (a)
        ar_sem_acquire_init(&a->acq, l ? &l->sem : NULL, MAX);
}

ar_poll ar_rwlock_acquire_poll(ar_rwlock_acquire *a, ar_cx *cx, int *res)
{
    if (!a) {
        if (res)
            *res = -EINVAL;
        return AR_READY;
    }
    return ar_sem_acquire_poll(&a->acq, cx, res);
}

void ar_rwlock_acquire_drop(ar_rwlock_acquire *a)
{
    if (a)
        ar_sem_acquire_drop(&a->acq);
}

int ar_rwlock_read_unlock(ar_rwlock *l)
{
    if (!l)
        return -EINVAL;
    return ar__sem_release_checked(&l->sem, 1, 1, MAX - 1);
}

int ar_rwlock_write_unlock(ar_rwlock *l)
{
    if (!l)
        return -EINVAL;
    return ar__sem_release_checked(&l->sem, MAX, MAX, MAX);
}
