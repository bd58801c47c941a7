/*
 * runtime/notify.c - Tokio-style Notify on a ring of waiter slots.
 *
 * Every waiter owns one slot, addressed by its ticket (slot = ticket & mask),
 * from its registration until it consumes its notification or is dropped.
 * A slot holds a live waker (the waiter waits), a mark (the waiter was
 * notified but has not been polled yet) or nothing (released).
 *
 *   [head, next)  slots before `next` hold marks or nothing: no live waker;
 *   [next, tail)  slots that may hold live wakers, oldest first.
 *
 * notify_one wakes the first live waker at or after `next` (FIFO) and leaves
 * MARK_ONE in its slot; notify_all marks every live slot MARK_ALL.  A waiter
 * dropped with MARK_ONE passes the notification on, so none is lost.  `head`
 * advances over released slots so the ring stays as small as the waiters.
 * All fields are guarded by `lock`; wakers are woken after unlocking.
 */
#include "asyncrt/notify.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"

#define SLOT_NONE ((uintptr_t)0)
#define MARK_ONE ((uintptr_t)2) /* never a waker: wakers are pointers */
#define MARK_ALL ((uintptr_t)4)
/* A waiter polled with AR_WAKER_NONE (a hand-built ar_cx): registered and
 * waiting, nothing to wake.  Must differ from SLOT_NONE, which frees the
 * slot. */
#define LIVE_NOWAKER ((uintptr_t)6)

static inline uintptr_t waker_to_slot(ar_waker w) { return w.bits ? w.bits : LIVE_NOWAKER; }
static inline ar_waker slot_to_waker(uintptr_t v)
{
    return (ar_waker){v == LIVE_NOWAKER ? 0 : v};
}

enum { W_INIT = 0, W_WAITING = 1, W_DONE = 2 };

static inline uintptr_t *slot(ar_notify *n, uint32_t ticket)
{
    return &n->ring[ticket & (n->cap - 1)].bits;
}

static inline bool is_live(uintptr_t v) { return v != SLOT_NONE && v != MARK_ONE && v != MARK_ALL; }

int ar_notify_init(ar_notify *n)
{
    if (!n)
        return -EINVAL;
    memset(n, 0, sizeof *n);
    int rc = pthread_mutex_init(&n->lock, NULL);
    return rc ? -rc : 0;
}

int ar_notify_destroy(ar_notify *n)
{
    if (!n)
        return -EINVAL;
    pthread_mutex_lock(&n->lock);
    if (n->head != n->tail) {
        pthread_mutex_unlock(&n->lock);
        return -EBUSY;
    }
    ar__free_big(n->ring, (size_t)n->cap * sizeof *n->ring);
    n->ring = NULL;
    n->cap = 0;
    pthread_mutex_unlock(&n->lock);
    pthread_mutex_destroy(&n->lock);
    return 0;
}

/* Release leading empty slots; `next` never lags behind `head`. */
static void advance_head(ar_notify *n)
{
    while (n->head != n->tail && *slot(n, n->head) == SLOT_NONE)
        n->head++;
    if ((int32_t)(n->next - n->head) < 0)
        n->next = n->head;
}

static int grow(ar_notify *n)
{
    uint32_t ncap = n->cap ? n->cap * 2 : 16;
    if (ncap == 0 || ncap > (1u << 31))
        return -ENOMEM;
    ar_waker *r = ar__alloc_big((size_t)ncap * sizeof *r);
    if (!r)
        return -ENOMEM;
    for (uint32_t t = n->head; t != n->tail; t++)
        r[t & (ncap - 1)] = n->ring[t & (n->cap - 1)];
    ar__free_big(n->ring, (size_t)n->cap * sizeof *n->ring);
    n->ring = r;
    n->cap = ncap;
    return 0;
}

void ar_notify_one(ar_notify *n)
{
    if (!n)
        return;
    ar_waker w = AR_WAKER_NONE;
    bool found = false;
    pthread_mutex_lock(&n->lock);
    for (; n->next != n->tail; n->next++) {
        uintptr_t *s = slot(n, n->next);
        if (is_live(*s)) {
            w = slot_to_waker(*s);
            *s = MARK_ONE;
            n->waiting--;
            n->next++;
            found = true;
            break;
        }
    }
    if (!found)
        n->permit = 1;
    pthread_mutex_unlock(&n->lock);
    ar_waker_wake(w);
}

void ar_notify_all(ar_notify *n)
{
    /* Wake in batches so the lock is not held across wake-ups. */
    enum { BATCH = 64 };
    ar_waker batch[BATCH];
    if (!n)
        return;
    /* Only the waiters registered when the call began: a woken waiter that
     * waits again must not keep this loop going. */
    pthread_mutex_lock(&n->lock);
    uint32_t end = n->tail;
    pthread_mutex_unlock(&n->lock);
    for (;;) {
        uint32_t k = 0;
        pthread_mutex_lock(&n->lock);
        /* `next` may have moved past `end` (head advanced over released
         * slots): serial comparison. */
        for (; (int32_t)(end - n->next) > 0 && k < BATCH; n->next++) {
            uintptr_t *s = slot(n, n->next);
            if (is_live(*s)) {
                batch[k++] = slot_to_waker(*s);
                *s = MARK_ALL;
                n->waiting--;
            }
        }
        bool more = (int32_t)(end - n->next) > 0;
        pthread_mutex_unlock(&n->lock);
        for (uint32_t i = 0; i < k; i++)
            ar_waker_wake(batch[i]);
        if (!more)
            return;
    }
}

uint32_t ar_notify_waiters(ar_notify *n)
{
    if (!n)
        return 0;
    pthread_mutex_lock(&n->lock);
    uint32_t w = n->waiting;
    pthread_mutex_unlock(&n->lock);
    return w;
}

void ar_notified_init(ar_notified *w, ar_notify *n)
{
    if (!w)
        return;
    w->n = n;
    w->ticket = 0;
    w->state = W_INIT;
}

ar_poll ar_notified_poll(ar_notified *w, ar_cx *cx)
{
    if (!w || !cx)
        return AR_READY; /* nothing to wait for; documented */
    ar_notify *n = w->n;
    if (w->state == W_DONE || !n)
        return AR_READY;
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    ar_waker old = AR_WAKER_NONE;
    ar_poll ret = AR_PENDING;
    pthread_mutex_lock(&n->lock);
    if (w->state == W_INIT) {
        if (n->permit) {
            n->permit = 0;
            w->state = W_DONE;
            ret = AR_READY;
        } else if (n->tail - n->head == n->cap && grow(n) != 0) {
            /* Out of memory: try again on the next poll. */
            ar_waker_wake_by_ref(cx->waker);
        } else {
            w->ticket = n->tail++;
            *slot(n, w->ticket) = waker_to_slot(ar_waker_clone(cx->waker));
            n->waiting++;
            w->state = W_WAITING;
        }
    } else {
        uintptr_t *s = slot(n, w->ticket);
        if (*s == MARK_ONE || *s == MARK_ALL) {
            *s = SLOT_NONE;
            advance_head(n);
            w->state = W_DONE;
            ret = AR_READY;
        } else if (*s != waker_to_slot(cx->waker)) {
            old = slot_to_waker(*s);
            *s = waker_to_slot(ar_waker_clone(cx->waker));
        }
    }
    pthread_mutex_unlock(&n->lock);
    ar_waker_drop(old);
    return ret;
}

void ar_notified_drop(ar_notified *w)
{
    if (!w)
        return;
    ar_notify *n = w->n;
    if (!n || w->state != W_WAITING) {
        w->state = W_DONE;
        return;
    }
    ar_waker old = AR_WAKER_NONE;
    bool forward = false;
    pthread_mutex_lock(&n->lock);
    uintptr_t *s = slot(n, w->ticket);
    if (is_live(*s)) {
        old = slot_to_waker(*s);
        n->waiting--;
    } else if (*s == MARK_ONE) {
        forward = true; /* a notify_one chose us: pass it on */
    }
    *s = SLOT_NONE;
    advance_head(n);
    pthread_mutex_unlock(&n->lock);
    w->state = W_DONE;
    ar_waker_drop(old);
    if (forward)
        ar_notify_one(n);
}
