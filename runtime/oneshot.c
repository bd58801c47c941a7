/*
 * runtime/oneshot.c - single-value channel (see asyncrt/oneshot.h).
 *
 * One block shared by the two halves; `state` holds everything:
 *   COMPLETE  the sender is done (sent or dropped); set once, by the sender.
 *   VALUE     a value was written (set with COMPLETE, Release: the value
 *             bytes are visible to the receiver's Acquire load).
 *   RX_CLOSED the receiver was dropped without receiving.
 *   RX_WAKER  rx_waker holds the receiver's waker and is owned by the
 *             sender side until COMPLETE; the receiver replaces it only
 *             after clearing the bit while !COMPLETE.
 *   TX_ALIVE, RX_ALIVE  the halves not yet released; whoever clears the
 *             last one frees the block (and drops rx_waker), so a sender
 *             waking rx_waker always does so on a live block.
 */
#include "asyncrt/oneshot.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"

enum {
    COMPLETE = 1u << 0,
    VALUE = 1u << 1,
    RX_CLOSED = 1u << 2,
    RX_WAKER = 1u << 3,
    TX_ALIVE = 1u << 4,
    RX_ALIVE = 1u << 5,
};

struct ar_oneshot {
    _Atomic uint32_t state;
    uint32_t size;
    ar_waker rx_waker;
    _Alignas(16) unsigned char value[];
};

int ar_oneshot_new(ar_oneshot_tx *tx, ar_oneshot_rx *rx, size_t value_size)
{
    if (!tx || !rx || value_size == 0 || value_size > AR_ONESHOT_MAX_VALUE)
        return -EINVAL;
    ar_oneshot *ch = ar__alloc(sizeof *ch + value_size);
    if (!ch)
        return -ENOMEM;
    atomic_init(&ch->state, TX_ALIVE | RX_ALIVE);
    ch->size = (uint32_t)value_size;
    ch->rx_waker = AR_WAKER_NONE;
    tx->ch = ch;
    rx->ch = ch;
    return 0;
}

static void release(ar_oneshot *ch, uint32_t alive_bit)
{
    uint32_t prev = atomic_fetch_and_explicit(&ch->state, ~alive_bit, memory_order_acq_rel);
    if (prev & (TX_ALIVE | RX_ALIVE) & ~alive_bit)
        return;
    ar_waker_drop(ch->rx_waker);
    ar__free(ch, sizeof *ch + ch->size);
}

/* Sender side completion: publish `bits`, wake the receiver if it waits. */
static uint32_t tx_complete(ar_oneshot *ch, uint32_t bits)
{
    uint32_t prev = atomic_fetch_or_explicit(&ch->state, COMPLETE | bits, memory_order_acq_rel);
    if ((prev & RX_WAKER) && !(prev & RX_CLOSED))
        ar_waker_wake_by_ref(ch->rx_waker); /* safety: RX_WAKER + COMPLETE: ours */
    return prev;
}

int ar_oneshot_send(ar_oneshot_tx *tx, const void *value)
{
    if (!tx || !tx->ch)
        return -EBADF;
    if (!value)
        return -EINVAL; /* the sender stays usable */
    ar_oneshot *ch = tx->ch;
    tx->ch = NULL;
    int rc = 0;
    if (atomic_load_explicit(&ch->state, memory_order_acquire) & RX_CLOSED) {
        tx_complete(ch, 0);
        rc = -EPIPE;
    } else {
        memcpy(ch->value, value, ch->size);
        if (tx_complete(ch, VALUE) & RX_CLOSED)
            rc = -EPIPE; /* the receiver went away while we wrote */
    }
    release(ch, TX_ALIVE);
    return rc;
}

void ar_oneshot_tx_drop(ar_oneshot_tx *tx)
{
    if (!tx || !tx->ch)
        return;
    ar_oneshot *ch = tx->ch;
    tx->ch = NULL;
    tx_complete(ch, 0);
    release(ch, TX_ALIVE);
}

ar_poll ar_oneshot_recv_poll(ar_oneshot_rx *rx, ar_cx *cx, void *out, int *res)
{
    if (!rx || !rx->ch || !cx) {
        if (res)
            *res = (rx && rx->ch) ? -EINVAL : -EBADF;
        return AR_READY;
    }
    /* Ready or not, a receive spends budget: a task that keeps finding
     * values ready must still let others run. */
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    ar_oneshot *ch = rx->ch;
    uint32_t s = atomic_load_explicit(&ch->state, memory_order_acquire);
    if (!(s & COMPLETE)) {
        if (s & RX_WAKER) {
            if (ar_waker_will_wake(ch->rx_waker, cx->waker))
                return AR_PENDING;
            /* Take the slot back to replace the waker (fails if COMPLETE). */
            while (!(s & COMPLETE) &&
                   !atomic_compare_exchange_weak_explicit(&ch->state, &s, s & ~(uint32_t)RX_WAKER,
                                                          memory_order_acq_rel,
                                                          memory_order_acquire)) {
            }
            if (s & COMPLETE)
                goto done;
            ar_waker_drop(ch->rx_waker);
            ch->rx_waker = AR_WAKER_NONE;
        }
        ch->rx_waker = ar_waker_clone(cx->waker);
        s = atomic_load_explicit(&ch->state, memory_order_acquire);
        while (!(s & COMPLETE) &&
               !atomic_compare_exchange_weak_explicit(&ch->state, &s, s | RX_WAKER,
                                                      memory_order_acq_rel, memory_order_acquire)) {
        }
        if (!(s & COMPLETE))
            return AR_PENDING;
        /* Completed before we published the waker: it stays in the block
         * and is dropped when the block is freed. */
    }
done:
    s = atomic_load_explicit(&ch->state, memory_order_acquire);
    int rc = -EPIPE;
    if (s & VALUE) {
        if (out)
            memcpy(out, ch->value, ch->size);
        rc = 0;
    }
    rx->ch = NULL;
    release(ch, RX_ALIVE);
    if (res)
        *res = rc;
    return AR_READY;
}

void ar_oneshot_rx_drop(ar_oneshot_rx *rx)
{
    if (!rx || !rx->ch)
        return;
    ar_oneshot *ch = rx->ch;
    rx->ch = NULL;
    atomic_fetch_or_explicit(&ch->state, RX_CLOSED, memory_order_acq_rel);
    release(ch, RX_ALIVE);
}
