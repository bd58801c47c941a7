/*
 * runtime/barrier.c - barrier (see asyncrt/barrier.h).
 *
 * Everything is guarded by `lock`.  A waiter arrives at its first poll:
 * arrived++ and it records the generation in node.need.  The n-th arrival
 * advances `gen`, resets `arrived` and is the leader.  A waiter whose
 * recorded generation differs from `gen` has been released.
 *
 * Released waiters are unlinked in FIFO order by the leader, in batches
 * (their wakers woken after unlocking each batch).  Waiters of the new
 * generation are appended behind them, so the leader stops at the first
 * node of the current generation.  A released waiter polled or dropped
 * before the leader reached it unlinks itself.
 */
#include "asyncrt/barrier.h"

#include <errno.h>
#include <stdatomic.h>

#include "waitlist.h"

/* node.phase (owner only).  node.state (under the lock): 1 while linked.
 * node.res of a done waiter: 1 leader, 0 not, -EINVAL. */
enum { W_INIT = 0, W_WAITING = 1, W_DONE = 2 };

int ar_barrier_init(ar_barrier *b, uint32_t n)
{
    if (!b || n == 0)
        return -EINVAL;
    atomic_init(&b->lock, 0);
    b->n = n;
    b->arrived = 0;
    b->gen = 0;
    b->waiters.head = b->waiters.tail = NULL;
    return 0;
}

int ar_barrier_destroy(ar_barrier *b)
{
    if (!b)
        return -EINVAL;
    ar__wl_lock(&b->lock);
    bool busy = b->waiters.head != NULL;
    ar__wl_unlock(&b->lock);
    return busy ? -EBUSY : 0;
}

void ar_barrier_wait_init(ar_barrier_wait *w, ar_barrier *b)
{
    if (!w)
        return;
    w->node.prev = w->node.next = NULL;
    w->node.waker = AR_WAKER_NONE;
    w->node.need = 0;
    w->node.state = 0;
    w->node.phase = W_INIT;
    w->node.res = 0;
    w->b = b;
}

/* Unlink released waiters (an older generation) from the head. */
static void release_old(ar_barrier *b)
{
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    ar__wl_lock(&b->lock);
    for (;;) {
        ar_waitnode *h = b->waiters.head;
        if (!h || h->need == b->gen)
            break;
        if (ar__wakeset_full(&ws)) {
            ar__wl_unlock(&b->lock);
            ar__wakeset_wake(&ws);
            ar__wl_lock(&b->lock);
            continue;
        }
        ar__wl_remove(&b->waiters, h);
        h->state = 0;
        ar__wakeset_add(&ws, h->waker);
        h->waker = AR_WAKER_NONE;
    }
    ar__wl_unlock(&b->lock);
    ar__wakeset_wake(&ws);
}

static ar_poll done(ar_barrier_wait *w, bool *is_leader, int *res)
{
    if (is_leader)
        *is_leader = w->node.res == 1;
    if (res)
        *res = w->node.res < 0 ? w->node.res : 0;
    return AR_READY;
}

ar_poll ar_barrier_wait_poll(ar_barrier_wait *w, ar_cx *cx, bool *is_leader, int *res)
{
    if (!w) {
        if (res)
            *res = -EINVAL;
        return AR_READY;
    }
    ar_barrier *b = w->b;
    if (w->node.phase == W_DONE)
        return done(w, is_leader, res);
    if (!b || !cx) {
        w->node.phase = W_DONE;
        w->node.res = -EINVAL;
        return done(w, is_leader, res);
    }
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    ar_waker old = AR_WAKER_NONE;
    ar__wl_lock(&b->lock);
    if (w->node.phase == W_INIT) {
        if (++b->arrived == b->n) {
            b->arrived = 0;
            b->gen++;
            ar__wl_unlock(&b->lock);
            w->node.phase = W_DONE;
            w->node.res = 1;
            release_old(b);
            return done(w, is_leader, res);
        }
        w->node.need = b->gen;
        w->node.waker = ar_waker_clone(cx->waker);
        w->node.state = 1;
        w->node.phase = W_WAITING;
        ar__wl_push(&b->waiters, &w->node);
        ar__wl_unlock(&b->lock);
        return AR_PENDING;
    }
    bool fin = w->node.need != b->gen;
    if (fin && w->node.state) {
        /* Released; the leader has not unlinked us yet. */
        ar__wl_remove(&b->waiters, &w->node);
        w->node.state = 0;
        old = w->node.waker;
        w->node.waker = AR_WAKER_NONE;
    } else if (!fin) {
        old = ar__wl_set_waker(&w->node, cx->waker);
    }
    ar__wl_unlock(&b->lock);
    ar_waker_drop(old);
    if (!fin)
        return AR_PENDING;
    w->node.phase = W_DONE;
    w->node.res = 0;
    return done(w, is_leader, res);
}

void ar_barrier_wait_drop(ar_barrier_wait *w)
{
    if (!w)
        return;
    ar_barrier *b = w->b;
    if (!b || w->node.phase != W_WAITING) {
        w->node.phase = W_DONE;
        return;
    }
    ar_waker old = AR_WAKER_NONE;
    ar__wl_lock(&b->lock);
    if (w->node.need == b->gen)
        b->arrived--; /* not released yet: withdraw the arrival */
    if (w->node.state) {
        ar__wl_remove(&b->waiters, &w->node);
        w->node.state = 0;
        old = w->node.waker;
        w->node.waker = AR_WAKER_NONE;
    }
    w->node.phase = W_DONE;
    w->node.res = -ECANCELED;
    ar__wl_unlock(&b->lock);
    ar_waker_drop(old);
}
