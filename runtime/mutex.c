/*
 * runtime/mutex.c - async mutex (see asyncrt/mutex.h): a semaphore of one
 * permit.  FIFO handover and cancellation safety come from the semaphore
 * engine (runtime/semaphore.c); the mutex adds the checked unlock, which
 * releases only when exactly one permit is held.
 */
#include "asyncrt/mutex.h"

#include <errno.h>
#include <stdatomic.h>

#include "sem.h"

int ar_mutex_init(ar_mutex *m)
{
    return m ? ar_sem_init(&m->sem, 1) : -EINVAL;
}

int ar_mutex_destroy(ar_mutex *m)
{
    if (!m)
        return -EINVAL;
    if (ar_mutex_is_locked(m))
        return -EBUSY;
    return ar_sem_destroy(&m->sem);
}

int ar_mutex_try_lock(ar_mutex *m)
{
    if (!m)
        return -EINVAL;
    return ar_sem_try_acquire(&m->sem, 1) == 0 ? 0 : -EBUSY;
}

void ar_mutex_lock_init(ar_mutex_lock *l, ar_mutex *m)
{
    if (l)
        ar_sem_acquire_init(&l->acq, m ? &m->sem : NULL, 1);
}

ar_poll ar_mutex_lock_poll(ar_mutex_lock *l, ar_cx *cx, int *res)
{
    if (!l) {
        if (res)
            *res = -EINVAL;
        return AR_READY;
    }
    return ar_sem_acquire_poll(&l->acq, cx, res);
}

void ar_mutex_lock_drop(ar_mutex_lock *l)
{
    if (l)
        ar_sem_acquire_drop(&l->acq);
}

int ar_mutex_unlock(ar_mutex *m)
{
    if (!m)
        return -EINVAL;
    return ar__sem_release_checked(&m->sem, 1, 1, 1);
}

bool ar_mutex_is_locked(ar_mutex *m)
{
    /* Locked exactly when the permit is not free (waiters imply a holder or
     * a granted waiter). */
    return m && (atomic_load_explicit(&m->sem.state, memory_order_acquire) >> 1) == 0;
}
