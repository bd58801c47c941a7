/*
 * runtime/waitlist.h - FIFO lists of intrusive waiter nodes and the small
 * lock word that guards them (internal).
 *
 * The lock is the test-and-test-and-set lock of spinlock.h over a bare
 * `_Atomic int`, so that public structs embedded by value (ar_semaphore,
 * ar_barrier) can hold it without exposing an internal type.  Critical
 * sections are list edits and counter updates: wakers are always woken
 * after unlocking.
 *
 * lock: exchange(1, acquire)  pairs with  unlock: store(0, release).
 */
#ifndef AR_RUNTIME_WAITLIST_H
#define AR_RUNTIME_WAITLIST_H

#include "asyncrt/waitnode.h"
#include "spinlock.h"

static inline void ar__wl_lock(_Atomic int *l)
{
    for (;;) {
        if (!atomic_exchange_explicit(l, 1, memory_order_acquire))
            return;
        for (int i = 0; atomic_load_explicit(l, memory_order_relaxed); i++) {
            if (i < 64)
                ar__cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void ar__wl_unlock(_Atomic int *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

static inline void ar__wl_push(ar_waitlist *l, ar_waitnode *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static inline void ar__wl_remove(ar_waitlist *l, ar_waitnode *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* Store the waker of the current poll in a linked node, replacing an older
 * one unless it wakes the same task.  Returns the reference to drop after
 * unlocking (AR_WAKER_NONE if none). */
static inline ar_waker ar__wl_set_waker(ar_waitnode *n, ar_waker w)
{
    if (ar_waker_will_wake(n->waker, w))
        return AR_WAKER_NONE;
    ar_waker old = n->waker;
    n->waker = ar_waker_clone(w);
    return old;
}

/* Wakers collected under a lock, woken after it is released. */
#define AR__WAKE_BATCH 32
typedef struct ar__wakeset {
    uint32_t n;
    ar_waker w[AR__WAKE_BATCH];
} ar__wakeset;

static inline bool ar__wakeset_full(const ar__wakeset *s) { return s->n == AR__WAKE_BATCH; }

static inline void ar__wakeset_add(ar__wakeset *s, ar_waker w) { s->w[s->n++] = w; }

static inline void ar__wakeset_wake(ar__wakeset *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        ar_waker_wake(s->w[i]);
    s->n = 0;
}

#endif
