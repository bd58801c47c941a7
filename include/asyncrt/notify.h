/*
 * asyncrt/notify.h - wake tasks that wait for an event (Tokio's Notify).
 *
 * ar_notify_one wakes the oldest waiter, or, when none waits, stores one
 * permit that the next wait consumes at once (so a notify that races ahead
 * of the wait is not lost).  ar_notify_all wakes every current waiter and
 * stores no permit.
 *
 * A waiter is an ar_notified future embedded by value: init it, poll it
 * until AR_READY, and call ar_notified_drop if it is abandoned before
 * (cancellation safe: a dropped waiter that had been picked by notify_one
 * passes its wake-up on to the next waiter, so no notification is lost).
 *
 * Waiters cost 8 bytes in the notify's ring plus the 16-byte future.  A
 * waiter keeps its ring slot until it is polled ready or dropped.
 */
#ifndef ASYNCRT_NOTIFY_H
#define ASYNCRT_NOTIFY_H

#include "future.h"
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exposed so that users embed it by value; members are private. */
typedef struct ar_notify {
    pthread_mutex_t lock;
    ar_waker *ring;    /* pending waiters' wakers, indexed by ticket & mask */
    uint32_t cap;      /* power of two, 0 before the first wait */
    uint32_t head;     /* ticket of the oldest slot still in use */
    uint32_t next;     /* first ticket that may hold a waiting waiter */
    uint32_t tail;     /* next ticket to hand out */
    uint32_t permit;   /* 0 or 1: a notify_one that found no waiter */
    uint32_t waiting;  /* waiters in the ring (excludes dropped ones) */
} ar_notify;

typedef struct ar_notified {
    ar_notify *n;
    uint32_t ticket;
    uint32_t state; /* private: init, waiting, done */
} ar_notified;

/* Returns 0, -EINVAL (NULL), or -errno of pthread_mutex_init. */
AR_EXTERN int ar_notify_init(ar_notify *n);

/* Returns 0, -EINVAL, -EBUSY (tasks still wait on it: nothing is freed). */
AR_EXTERN int ar_notify_destroy(ar_notify *n);

/* NULL is a no-op for the void calls below. */
AR_EXTERN void ar_notify_one(ar_notify *n);
AR_EXTERN void ar_notify_all(ar_notify *n);

/* Number of waiters currently registered (a snapshot). */
AR_EXTERN uint32_t ar_notify_waiters(ar_notify *n);

AR_EXTERN void ar_notified_init(ar_notified *w, ar_notify *n);

/* AR_READY once notified; polling again afterwards stays AR_READY (re-init
 * the waiter to wait again).  If the ring cannot grow (out of memory) the
 * waiter wakes itself and retries on its next poll: it is never lost. */
AR_EXTERN ar_poll ar_notified_poll(ar_notified *w, ar_cx *cx);

/* Abandon a waiter (safe in any state, idempotent). */
AR_EXTERN void ar_notified_drop(ar_notified *w);

#ifdef __cplusplus
}
#endif

#endif
