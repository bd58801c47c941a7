/*
 * asyncrt/mpsc.h - multi-producer, single-consumer channels (Tokio's
 * sync::mpsc): bounded with backpressure, and unbounded.
 *
 * A channel carries fixed-size values (elem_size bytes, copied in and out).
 * ar_mpsc_bounded / ar_mpsc_unbounded allocate one shared block and hand out
 * a sender and the receiver.  Senders are cloned with ar_mpsc_tx_clone;
 * every sender handle and the receiver are released exactly once
 * (ar_mpsc_tx_drop, ar_mpsc_rx_drop); the block is freed when all are.
 * Released handles are zeroed; using one fails with -EBADF.
 *
 * Bounded: at most `capacity` values are buffered.  A send future waits for
 * room (backpressure); waiting senders are served in FIFO order (no send
 * overtakes them), and a sender that was given room keeps it reserved until
 * it writes (its next poll).  Waiting senders are woken once capacity / 8
 * slots (at least 1, at most 64) are free, so that a producer that keeps a
 * channel full is woken once per batch, not once per value.
 * ar_mpsc_try_send never waits (-EAGAIN when full or senders wait).
 * Unbounded: sends never wait; the buffer grows (-ENOMEM if it cannot).
 *
 * Closing
 *   - ar_mpsc_close (receiver side) or ar_mpsc_rx_drop: every send, waiting
 *     or new, fails with -EPIPE and its value is not delivered (the caller
 *     still owns it).  After ar_mpsc_close the receiver may still drain what
 *     was buffered; ar_mpsc_rx_drop discards it.
 *   - When the last sender is dropped, the receiver gets the buffered values
 *     and then -EPIPE (closed and empty).
 *
 * Cancellation: a send future may be dropped at any point
 * (ar_mpsc_send_drop): it either delivered its value (it returned AR_READY
 * with 0) or did not; room reserved for it passes to the next waiting
 * sender.  A receive delivers a value only when it returns AR_READY, so
 * abandoning a pending receive loses nothing.  Values are plain bytes: if
 * they own memory, drain the channel (ar_mpsc_try_recv) before dropping the
 * receiver.
 *
 * Thread-safe: senders may live on any threads or workers; the receiver is
 * used by one at a time.  A sender handle must outlive the send futures
 * made from it (drop or finish them first).
 */
#ifndef ASYNCRT_MPSC_H
#define ASYNCRT_MPSC_H

#include "waitnode.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ar_mpsc ar_mpsc;

typedef struct ar_mpsc_tx { ar_mpsc *ch; } ar_mpsc_tx;
typedef struct ar_mpsc_rx { ar_mpsc *ch; } ar_mpsc_rx;

/* Limits: values of 1..AR_MPSC_MAX_VALUE bytes; a bounded channel holds
 * 1..AR_MPSC_MAX_CAPACITY values. */
#define AR_MPSC_MAX_VALUE 65536u
#define AR_MPSC_MAX_CAPACITY ((size_t)1 << 24)

/* Returns 0, -EINVAL (NULL, sizes out of range), -ENOMEM. */
AR_EXTERN int ar_mpsc_bounded(ar_mpsc_tx *tx, ar_mpsc_rx *rx, size_t elem_size, size_t capacity);
AR_EXTERN int ar_mpsc_unbounded(ar_mpsc_tx *tx, ar_mpsc_rx *rx, size_t elem_size);

/* A new sender on the same channel.  Returns 0, -EINVAL (NULL out),
 * -EBADF (released sender). */
AR_EXTERN int ar_mpsc_tx_clone(const ar_mpsc_tx *tx, ar_mpsc_tx *out);

/* Release a sender (NULL or released: no-op). */
AR_EXTERN void ar_mpsc_tx_drop(ar_mpsc_tx *tx);

/* Send without waiting.  Returns 0 (copied in), -EAGAIN (bounded and full,
 * or other senders wait for room), -EPIPE (receiver closed or dropped),
 * -ENOMEM (unbounded: could not grow), -EBADF, -EINVAL (NULL value). */
AR_EXTERN int ar_mpsc_try_send(ar_mpsc_tx *tx, const void *value);

/* A pending send (a future).  `value` is copied when the send completes,
 * so it must stay valid until the future is ready or dropped. */
typedef struct ar_mpsc_send {
    ar_waitnode node;
    ar_mpsc *ch;
    const void *value;
} ar_mpsc_send;

AR_EXTERN void ar_mpsc_send_init(ar_mpsc_send *s, ar_mpsc_tx *tx, const void *value);

/* AR_READY when done; *res (may be NULL) is 0 (delivered to the buffer),
 * -EPIPE (closed: not delivered), -ENOMEM (unbounded: could not grow),
 * -EBADF (released sender), -EINVAL (NULL value or cx). */
AR_EXTERN ar_poll ar_mpsc_send_poll(ar_mpsc_send *s, ar_cx *cx, int *res);

/* Abandon a send (any state, idempotent). */
AR_EXTERN void ar_mpsc_send_drop(ar_mpsc_send *s);

/*
 * Receive the oldest value.  AR_READY when done; *res (may be NULL) is
 * 0 (elem_size bytes copied to out; out may be NULL to discard),
 * -EPIPE (closed and empty: every sender dropped, or the receiver closed),
 * -EBADF (released receiver), -EINVAL (NULL cx).
 * Not a one-shot future: poll it again for the next value.
 */
AR_EXTERN ar_poll ar_mpsc_recv_poll(ar_mpsc_rx *rx, ar_cx *cx, void *out, int *res);

/* Returns 0, -EAGAIN (empty; senders remain), -EPIPE (closed and empty),
 * -EBADF. */
AR_EXTERN int ar_mpsc_try_recv(ar_mpsc_rx *rx, void *out);

/* Close from the receiver side: sends fail with -EPIPE from now on, waiting
 * senders are woken.  Buffered values stay receivable.  Idempotent.
 * Returns 0, -EBADF. */
AR_EXTERN int ar_mpsc_close(ar_mpsc_rx *rx);

/* Release the receiver: closes, discards the buffer. */
AR_EXTERN void ar_mpsc_rx_drop(ar_mpsc_rx *rx);

/* Values buffered now (a snapshot); -EBADF. */
AR_EXTERN long ar_mpsc_len(const ar_mpsc_rx *rx);

#ifdef __cplusplus
}
#endif

#endif
