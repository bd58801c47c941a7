/*
 * asyncrt/oneshot.h - a channel that carries exactly one value.
 *
 * ar_oneshot_new() allocates one shared block and hands out two halves.  Each
 * half is released exactly once: the sender by ar_oneshot_send or
 * ar_oneshot_tx_drop, the receiver by a finished receive or
 * ar_oneshot_rx_drop.  The block is freed when both are released.  Using a
 * released half fails with -EBADF (it is zeroed on release).
 *
 * Closing from either side wakes the other: a receiver whose sender was
 * dropped without sending gets -EPIPE; a send to a dropped receiver gets
 * -EPIPE and the value is not delivered (the caller still owns it).
 * Thread-safe: each half may live on a different thread or worker.
 */
#ifndef ASYNCRT_ONESHOT_H
#define ASYNCRT_ONESHOT_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ar_oneshot ar_oneshot;

typedef struct ar_oneshot_tx { ar_oneshot *ch; } ar_oneshot_tx;
typedef struct ar_oneshot_rx { ar_oneshot *ch; } ar_oneshot_rx;

/* Values up to this size are accepted. */
#define AR_ONESHOT_MAX_VALUE 4096u

/* Create a channel for values of value_size bytes (1..AR_ONESHOT_MAX_VALUE).
 * Returns 0, -EINVAL, -ENOMEM. */
AR_EXTERN int ar_oneshot_new(ar_oneshot_tx *tx, ar_oneshot_rx *rx, size_t value_size);

/* Send (copies value_size bytes) and release the sender.
 * Returns 0, -EPIPE (receiver gone; value not delivered), -EBADF. */
AR_EXTERN int ar_oneshot_send(ar_oneshot_tx *tx, const void *value);

/* Release the sender without sending: the receiver gets -EPIPE. */
AR_EXTERN void ar_oneshot_tx_drop(ar_oneshot_tx *tx);

/*
 * Receive.  When AR_READY, *res is 0 (value copied to out), -EPIPE (sender
 * dropped without sending) or -EBADF (released receiver); the receiver is
 * released by any ready result.  Cancellation-safe: if the waiting future is
 * dropped, call ar_oneshot_rx_drop and nothing leaks.
 */
AR_EXTERN ar_poll ar_oneshot_recv_poll(ar_oneshot_rx *rx, ar_cx *cx, void *out, int *res);

/* Release the receiver (a value sent but not received is discarded). */
AR_EXTERN void ar_oneshot_rx_drop(ar_oneshot_rx *rx);

#ifdef __cplusplus
}
#endif

#endif
