/*
 * runtime/mpsc.c - bounded and unbounded MPSC channels (see
 * asyncrt/mpsc.h).
 *
 * One heap block per channel: a header and a ring of values.  Every field
 * of the header is guarded by `lock` (a spinlock: the critical sections are
 * a copy of one value and a few counter updates; wakers are always woken
 * after unlocking, from references moved out under the lock, so a waker
 * never touches a future or block that may be gone).
 *
 *   ring, ring_cap   the values; ring_cap is a power of two.  Bounded: fixed
 *                    at creation (>= cap).  Unbounded: doubled when full.
 *   head, len        the oldest value's index, the number buffered.
 *   reserved         room granted to waiting senders that have not written
 *                    yet (bounded).  Room = cap - len - reserved.
 *   send_waiters     FIFO of send futures waiting for room (bounded).  A
 *                    send never overtakes them: it waits too while the list
 *                    is non-empty, even if there is room.
 *   batch            room is granted to waiters only once at least `batch`
 *                    slots are free (capacity / 8, between 1 and 64), and
 *                    then to as many waiters as fit.  A producer blocked on
 *                    a full channel is thus woken once per `batch` values
 *                    instead of once per value: its granted send writes
 *                    one value and the next ones find the rest of the room.
 *                    Invariant: waiters are queued only while room < batch.
 *                    It cannot stall: room < batch <= cap means values are
 *                    buffered (a receive will make room) or reserved (the
 *                    reserving send writes, then a receive makes room, or it
 *                    is dropped, which returns its slot); each of those
 *                    grants again.
 *   rx_waker         the receiver's waker while it waits for a value or for
 *                    the close; the first send (or the last sender's drop)
 *                    moves it out and wakes it.
 *   senders          live sender handles; rx_alive the receiver handle.
 *                    Whoever releases the last of them frees the block.
 *   closed           set by ar_mpsc_close / rx_drop; never cleared.
 *
 * Send future states (node.state, under the lock): linked in send_waiters,
 * granted (unlinked by a receive, one slot reserved), or closed (unlinked by
 * the close).  A granted future writes at its next poll; dropped instead,
 * it passes the slot to the next waiter.
 *
 * The lock's acquire/release orders the copy of a value into the ring
 * before its copy out.
 */
#include "asyncrt/mpsc.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "spinlock.h"
#include "waitlist.h"

struct ar_mpsc {
    ar__spinlock lock;
    uint32_t elem;
    uint32_t senders;
    size_t cap; /* 0: unbounded */
    size_t batch;
    size_t ring_cap;
    size_t head, len, reserved;
    bool rx_alive, closed;
    ar_waker rx_waker;
    ar_waitlist send_waiters;
    unsigned char *ring;
};

/* node.phase (owner only) and node.state (under the lock). */
enum { P_INIT = 0, P_WAITING = 1, P_DONE = 2 };
enum { S_LINKED = 1, S_GRANTED = 2, S_CLOSED = 3 };

#define UNBOUNDED_INITIAL 16

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static int channel_new(ar_mpsc_tx *tx, ar_mpsc_rx *rx, size_t elem, size_t cap, size_t ring_cap)
{
    ar_mpsc *ch = ar__alloc(sizeof *ch);
    if (!ch)
        return -ENOMEM;
    ch->ring = ar__alloc(ring_cap * elem);
    if (!ch->ring) {
        ar__free(ch, sizeof *ch);
        return -ENOMEM;
    }
    ar__spin_init(&ch->lock);
    ch->elem = (uint32_t)elem;
    ch->senders = 1;
    ch->cap = cap;
    ch->batch = cap / 8 < 1 ? 1 : cap / 8 > 64 ? 64 : cap / 8;
    ch->ring_cap = ring_cap;
    ch->head = ch->len = ch->reserved = 0;
    ch->rx_alive = true;
    ch->closed = false;
    ch->rx_waker = AR_WAKER_NONE;
    ch->send_waiters.head = ch->send_waiters.tail = NULL;
    tx->ch = ch;
    rx->ch = ch;
    return 0;
}

int ar_mpsc_bounded(ar_mpsc_tx *tx, ar_mpsc_rx *rx, size_t elem_size, size_t capacity)
{
    if (!tx || !rx || elem_size == 0 || elem_size > AR_MPSC_MAX_VALUE || capacity == 0 ||
        capacity > AR_MPSC_MAX_CAPACITY)
        return -EINVAL;
    return channel_new(tx, rx, elem_size, capacity, pow2_at_least(capacity));
}

int ar_mpsc_unbounded(ar_mpsc_tx *tx, ar_mpsc_rx *rx, size_t elem_size)
{
    if (!tx || !rx || elem_size == 0 || elem_size > AR_MPSC_MAX_VALUE)
        return -EINVAL;
    return channel_new(tx, rx, elem_size, 0, UNBOUNDED_INITIAL);
}

static void channel_free(ar_mpsc *ch)
{
    ar_waker_drop(ch->rx_waker);
    ar__free(ch->ring, ch->ring_cap * ch->elem);
    ar__free(ch, sizeof *ch);
}

/* Copy one value; the common small sizes avoid a call to memcpy. */
static inline void copy_value(void *dst, const void *src, uint32_t n)
{
    switch (n) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
    }
}

static inline unsigned char *slot(ar_mpsc *ch, size_t i)
{
    return ch->ring + (i & (ch->ring_cap - 1)) * ch->elem;
}

/* Unbounded: double the ring, unrolling the wrapped part.  Under the lock. */
static int grow(ar_mpsc *ch)
{
    size_t ncap = ch->ring_cap * 2;
    if (ncap > (SIZE_MAX / 2) / ch->elem)
        return -ENOMEM;
    unsigned char *r = ar__alloc(ncap * ch->elem);
    if (!r)
        return -ENOMEM;
    size_t first = ch->ring_cap - (ch->head & (ch->ring_cap - 1));
    if (first > ch->len)
        first = ch->len;
    memcpy(r, slot(ch, ch->head), first * ch->elem);
    memcpy(r + first * ch->elem, ch->ring, (ch->len - first) * ch->elem);
    ar__free(ch->ring, ch->ring_cap * ch->elem);
    ch->ring = r;
    ch->ring_cap = ncap;
    ch->head = 0;
    return 0;
}

/* Append a value (room was checked or reserved).  Under the lock; returns
 * the receiver's waker to wake after unlocking. */
static inline ar_waker push_locked(ar_mpsc *ch, const void *value)
{
    copy_value(slot(ch, ch->head + ch->len), value, ch->elem);
    ch->len++;
    ar_waker w = ch->rx_waker;
    ch->rx_waker = AR_WAKER_NONE;
    return w;
}

/* Bounded: once `batch` slots are free, grant them to the oldest waiting
 * senders, one slot each.  Under the lock. */
static void grant_locked(ar_mpsc *ch, ar__wakeset *ws)
{
    if (ch->len + ch->reserved + ch->batch > ch->cap)
        return;
    while (ch->send_waiters.head && ch->len + ch->reserved < ch->cap &&
           !ar__wakeset_full(ws)) {
        ar_waitnode *n = ch->send_waiters.head;
        ar__wl_remove(&ch->send_waiters, n);
        n->state = S_GRANTED;
        ch->reserved++;
        ar__wakeset_add(ws, n->waker);
        n->waker = AR_WAKER_NONE;
    }
}

/* Try to append now.  Under the lock.  0, -EAGAIN, -EPIPE, -ENOMEM. */
static inline int try_push_locked(ar_mpsc *ch, const void *value, ar_waker *wake)
{
    if (ch->closed)
        return -EPIPE;
    if (ch->cap) {
        if (ch->len + ch->reserved >= ch->cap || ch->send_waiters.head)
            return -EAGAIN;
    } else if (ch->len == ch->ring_cap) {
        int rc = grow(ch);
        if (rc)
            return rc;
    }
    *wake = push_locked(ch, value);
    return 0;
}

int ar_mpsc_tx_clone(const ar_mpsc_tx *tx, ar_mpsc_tx *out)
{
    if (!out)
        return -EINVAL;
    if (!tx || !tx->ch)
        return -EBADF;
    ar_mpsc *ch = tx->ch;
    ar__spin_lock(&ch->lock);
    ch->senders++;
    ar__spin_unlock(&ch->lock);
    out->ch = ch;
    return 0;
}

void ar_mpsc_tx_drop(ar_mpsc_tx *tx)
{
    if (!tx || !tx->ch)
        return;
    ar_mpsc *ch = tx->ch;
    tx->ch = NULL;
    ar_waker w = AR_WAKER_NONE;
    ar__spin_lock(&ch->lock);
    bool last = --ch->senders == 0;
    if (last) { /* the receiver may wait for a value that will never come */
        w = ch->rx_waker;
        ch->rx_waker = AR_WAKER_NONE;
    }
    bool free_it = last && !ch->rx_alive;
    ar__spin_unlock(&ch->lock);
    ar_waker_wake(w);
    if (free_it)
        channel_free(ch);
}

int ar_mpsc_try_send(ar_mpsc_tx *tx, const void *value)
{
    if (!tx || !tx->ch)
        return -EBADF;
    if (!value)
        return -EINVAL;
    ar_mpsc *ch = tx->ch;
    ar_waker w = AR_WAKER_NONE;
    ar__spin_lock(&ch->lock);
    int rc = try_push_locked(ch, value, &w);
    ar__spin_unlock(&ch->lock);
    ar_waker_wake(w);
    return rc;
}

void ar_mpsc_send_init(ar_mpsc_send *s, ar_mpsc_tx *tx, const void *value)
{
    if (!s)
        return;
    s->node.prev = s->node.next = NULL;
    s->node.waker = AR_WAKER_NONE;
    s->node.need = 0;
    s->node.state = 0;
    s->node.phase = P_INIT;
    s->node.res = 0;
    s->ch = tx ? tx->ch : NULL;
    s->value = value;
}

static inline ar_poll send_done(ar_mpsc_send *s, int rc, int *res)
{
    s->node.phase = P_DONE;
    s->node.res = (int16_t)rc;
    if (res)
        *res = rc;
    return AR_READY;
}

ar_poll ar_mpsc_send_poll(ar_mpsc_send *s, ar_cx *cx, int *res)
{
    if (!s) {
        if (res)
            *res = -EINVAL;
        return AR_READY;
    }
    if (s->node.phase == P_DONE) {
        if (res)
            *res = s->node.res;
        return AR_READY;
    }
    ar_mpsc *ch = s->ch;
    if (!ch)
        return send_done(s, -EBADF, res);
    if (!s->value || !cx)
        return send_done(s, -EINVAL, res);
    ar_waker w = AR_WAKER_NONE;
    int rc;
    if (s->node.phase == P_INIT) {
        /* A producer that always finds room still spends budget, so it
         * cannot keep its worker from the other tasks (Tokio's send does
         * the same through its semaphore). */
        if (!ar_coop_proceed(cx))
            return AR_PENDING;
        ar__spin_lock(&ch->lock);
        rc = try_push_locked(ch, s->value, &w);
        if (rc == -EAGAIN) {
            /* Full: wait for room, in FIFO order. */
            s->node.waker = ar_waker_clone(cx->waker);
            s->node.state = S_LINKED;
            ar__wl_push(&ch->send_waiters, &s->node);
            ar__spin_unlock(&ch->lock);
            s->node.phase = P_WAITING;
            return AR_PENDING;
        }
        ar__spin_unlock(&ch->lock);
        ar_waker_wake(w);
        return send_done(s, rc, res);
    }
    /* Waiting. */
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&ch->lock);
    switch (s->node.state) {
    case S_GRANTED:
        ch->reserved--;
        if (ch->closed) {
            rc = -EPIPE;
        } else {
            w = push_locked(ch, s->value);
            rc = 0;
        }
        break;
    case S_CLOSED:
        rc = -EPIPE;
        break;
    default: /* still linked */
        old = ar__wl_set_waker(&s->node, cx->waker);
        rc = 1;
        break;
    }
    ar__spin_unlock(&ch->lock);
    ar_waker_drop(old);
    if (rc == 1)
        return AR_PENDING;
    ar_waker_wake(w);
    return send_done(s, rc, res);
}

void ar_mpsc_send_drop(ar_mpsc_send *s)
{
    if (!s)
        return;
    ar_mpsc *ch = s->ch;
    if (!ch || s->node.phase != P_WAITING) {
        s->node.phase = P_DONE;
        return;
    }
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&ch->lock);
    if (s->node.state == S_LINKED) {
        ar__wl_remove(&ch->send_waiters, &s->node);
        old = s->node.waker;
        s->node.waker = AR_WAKER_NONE;
    } else if (s->node.state == S_GRANTED) {
        ch->reserved--; /* pass the reserved room on */
        grant_locked(ch, &ws);
    }
    ar__spin_unlock(&ch->lock);
    s->node.phase = P_DONE;
    s->node.res = -ECANCELED;
    ar__wakeset_wake(&ws);
    ar_waker_drop(old);
}

/* Take the oldest value.  Under the lock.  0, -EAGAIN (empty, senders
 * remain), -EPIPE (closed and empty). */
static inline int pop_locked(ar_mpsc *ch, void *out, ar__wakeset *ws)
{
    if (ch->len == 0)
        return (ch->closed || ch->senders == 0) ? -EPIPE : -EAGAIN;
    if (out)
        copy_value(out, slot(ch, ch->head), ch->elem);
    ch->head++;
    ch->len--;
    if (ch->send_waiters.head)
        grant_locked(ch, ws);
    return 0;
}

ar_poll ar_mpsc_recv_poll(ar_mpsc_rx *rx, ar_cx *cx, void *out, int *res)
{
    int dummy;
    if (!res)
        res = &dummy;
    if (!rx || !rx->ch) {
        *res = -EBADF;
        return AR_READY;
    }
    if (!cx) {
        *res = -EINVAL;
        return AR_READY;
    }
    /* Ready or not, a receive spends budget (a stream of ready values must
     * still let the worker's other tasks run). */
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    ar_mpsc *ch = rx->ch;
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&ch->lock);
    int rc = pop_locked(ch, out, &ws);
    if (rc == -EAGAIN && !ar_waker_will_wake(ch->rx_waker, cx->waker)) {
        old = ch->rx_waker;
        ch->rx_waker = ar_waker_clone(cx->waker);
    }
    ar__spin_unlock(&ch->lock);
    ar_waker_drop(old);
    if (rc == -EAGAIN)
        return AR_PENDING;
    ar__wakeset_wake(&ws);
    *res = rc;
    return AR_READY;
}

int ar_mpsc_try_recv(ar_mpsc_rx *rx, void *out)
{
    if (!rx || !rx->ch)
        return -EBADF;
    ar_mpsc *ch = rx->ch;
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    ar__spin_lock(&ch->lock);
    int rc = pop_locked(ch, out, &ws);
    ar__spin_unlock(&ch->lock);
    ar__wakeset_wake(&ws);
    return rc;
}

/* Mark closed and unlink every waiting sender (S_CLOSED), waking them in
 * batches.  Called and returns with the lock held. */
static void close_locked(ar_mpsc *ch)
{
    ch->closed = true;
    ar__wakeset ws;
    ws.n = 0; /* only n: zeroing the batch would clear 264 bytes per call */
    while (ch->send_waiters.head) {
        if (ar__wakeset_full(&ws)) {
            ar__spin_unlock(&ch->lock);
            ar__wakeset_wake(&ws);
            ar__spin_lock(&ch->lock);
            continue;
        }
        ar_waitnode *n = ch->send_waiters.head;
        ar__wl_remove(&ch->send_waiters, n);
        n->state = S_CLOSED;
        ar__wakeset_add(&ws, n->waker);
        n->waker = AR_WAKER_NONE;
    }
    if (ws.n) {
        ar__spin_unlock(&ch->lock);
        ar__wakeset_wake(&ws);
        ar__spin_lock(&ch->lock);
    }
}

int ar_mpsc_close(ar_mpsc_rx *rx)
{
    if (!rx || !rx->ch)
        return -EBADF;
    ar_mpsc *ch = rx->ch;
    ar__spin_lock(&ch->lock);
    close_locked(ch);
    ar__spin_unlock(&ch->lock);
    return 0;
}

void ar_mpsc_rx_drop(ar_mpsc_rx *rx)
{
    if (!rx || !rx->ch)
        return;
    ar_mpsc *ch = rx->ch;
    rx->ch = NULL;
    ar__spin_lock(&ch->lock);
    close_locked(ch);
    ch->rx_alive = false;
    ch->head = ch->len = 0; /* discard the buffer */
    ar_waker old = ch->rx_waker;
    ch->rx_waker = AR_WAKER_NONE;
    bool free_it = ch->senders == 0;
    ar__spin_unlock(&ch->lock);
    ar_waker_drop(old);
    if (free_it)
        channel_free(ch);
}

long ar_mpsc_len(const ar_mpsc_rx *rx)
{
    if (!rx || !rx->ch)
        return -EBADF;
    ar_mpsc *ch = rx->ch;
    ar__spin_lock(&ch->lock);
    long n = (long)ch->len;
    ar__spin_unlock(&ch->lock);
    return n;
}
