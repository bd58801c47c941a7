/*
 * runtime/thread_waker.h - a waker for plain threads (ar_block_on,
 * ar_join_wait): sets `woken` and unparks a parker.
 *
 * Heap-allocated and reference counted, because clones handed to futures
 * may outlive the call that made them (a join waker left in a task, a
 * notify waiter never polled again); a late wake must never touch freed
 * memory.  `unpark(arg)` wakes the waiting thread: by default it unparks the
 * waker's own parker; the current-thread flavour passes the driving
 * worker's unpark (which may be a ring wake-up).  ar__thread_waker_detach
 * clears it under `lock`, after which wakes only set the flag.
 */
#ifndef AR_RUNTIME_THREAD_WAKER_H
#define AR_RUNTIME_THREAD_WAKER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "asyncrt/future.h"
#include "park.h"
#include "spinlock.h"

typedef struct ar__thread_waker {
    ar_waker_obj obj;
    _Atomic uint32_t refs;
    _Atomic bool woken;    /* set by wakers (Release), taken by the owner */
    ar__spinlock lock;     /* guards unpark/arg */
    void (*unpark)(void *arg);
    void *arg;
    ar__parker own;
} ar__thread_waker;

/* unpark NULL: unpark the waker's own parker.  Starts with woken = true so
 * the first poll happens at once.  NULL on out of memory. */
ar__thread_waker *ar__thread_waker_new(void (*unpark)(void *arg), void *arg);
ar_waker ar__thread_waker_get(ar__thread_waker *tw); /* borrowed */
/* Take the woken flag (true if a wake arrived since the last take). */
bool ar__thread_waker_take(ar__thread_waker *tw);
/* Stop unparking anything and release the owner's reference. */
void ar__thread_waker_detach(ar__thread_waker *tw);

#endif
