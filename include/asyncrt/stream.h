/*
 * asyncrt/stream.h - multishot I/O streams: many results from one armed
 * operation.
 *
 * ar_accept_stream: one multishot accept (IORING_OP_ACCEPT with the
 * multishot flag) keeps a listening socket armed; every new connection the
 * kernel accepts is queued in memory the reactor owns, whether or not
 * anybody is polling, and ar_accept_stream_next hands them out one at a
 * time.  ar_recv_stream: one multishot recv on a connection, the kernel
 * picking each buffer from a ring of buffers that the worker's reactor owns
 * (IOSQE_BUFFER_SELECT); the bytes of each completion are copied into the
 * stream's queue and the buffer goes back to the kernel at once, on the
 * reactor's own thread, so the task may migrate between workers freely and
 * no buffer is ever lent to user code.
 *
 * Both are plain structs embedded by value in a coroutine frame.  The
 * protocol, as Rust's poll_next:
 *
 *     ar_accept_stream_init(&self->acc, lfd, SOCK_CLOEXEC);
 *     for (;;) {
 *         AR_AWAIT(ar_accept_stream_next(&self->acc, cx));
 *         int fd = self->acc.res;      // a new descriptor, or -errno
 *         ...
 *     }
 *     ar_accept_stream_drop(&self->acc); // also in the frame's drop function
 *
 * Each AR_READY of next consumes one item; the next call waits for the
 * following one.  Drop in any state: the multishot is cancelled, the
 * reactor frees its memory at its last completion, and descriptors queued
 * but never handed out are closed (no leak).
 *
 * The operation lives on the ring of the worker that first polls next (a
 * plain thread in ar_block_on: worker 0's) and is re-armed there whenever
 * the kernel ends the multishot (a completion without IORING_CQE_F_MORE).
 *
 * On the epoll backend (asyncrt/io.h) the streams behave the same (items,
 * errors, backoff, backpressure, drop); what differs:
 *   - The multishot is emulated: the operation stays registered for
 *     readiness on its worker and, at each read event, accepts or receives
 *     everything available into the stream's queue, then wakes the stream.
 *   - No buffer ring: each recv goes straight into a chunk of up to
 *     16 KiB that the stream's queue keeps (shrunk to what arrived), so
 *     there is no ENOBUFS and no per-worker ring.
 *   - The accept stream makes the listener O_NONBLOCK, as accept does.
 *   - Other operations of the same direction on the same descriptor, on
 *     the same worker, wait behind an armed stream (FIFO per descriptor):
 *     do not mix a stream with recv (or accept) operations on one
 *     descriptor.
 *   - ar_io_close on the descriptor (run on the stream's worker) ends the
 *     stream with -EBADF; a close(2) under an armed stream leaves it
 *     waiting until dropped (as any epoll operation).
 */
#ifndef ASYNCRT_STREAM_H
#define ASYNCRT_STREAM_H

#include "future.h"
#include "time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest wait between two accept attempts while descriptors run out. */
#define AR_ACCEPT_BACKOFF_MAX_MS 1000u

typedef struct ar_accept_stream {
    struct ar__op *op; /* private */
    ar_sleep sleep;    /* private: the backoff timer */
    int res;           /* the item once next is ready: a descriptor or -errno */
    int fd;            /* private */
    int flags;         /* private */
    int err;           /* private: why the stream could not start */
    uint32_t backoff_ms; /* private: current backoff, 0 when none */
    uint16_t state;      /* private */
    uint16_t reported;   /* private: the descriptor shortage was handed out */
} ar_accept_stream;

/* Accept connections on listening socket fd; flags as accept4 (SOCK_CLOEXEC,
 * SOCK_NONBLOCK).  Nothing happens before the first next. */
AR_EXTERN void ar_accept_stream_init(ar_accept_stream *s, int fd, int flags);

/*
 * AR_READY with s->res = the next accepted descriptor (the caller owns it)
 * or -errno.  Errors:
 *   -EMFILE / -ENFILE (also -ENOMEM, -ENOBUFS from the kernel): descriptors
 *       ran out.  Reported once; the stream then waits before arming again
 *       (1 ms, doubling up to AR_ACCEPT_BACKOFF_MAX_MS while the shortage
 *       lasts, back to none at the next success) instead of spinning: the
 *       following next simply waits until a connection can be accepted.
 *   -EBADF, -ENOTSOCK, -EINVAL (fd not a listening socket), -ECANCELED
 *       (runtime shutting down): the stream has ended; every later next
 *       returns the same error.
 *   -ENOSYS outside a runtime, -ENOMEM, -EINVAL (NULL cx).
 * Transient accept errors (ECONNABORTED and the like) are skipped.
 */
AR_EXTERN ar_poll ar_accept_stream_next(ar_accept_stream *s, ar_cx *cx);

/* Cancel; close queued descriptors.  Safe in any state, idempotent. */
AR_EXTERN void ar_accept_stream_drop(ar_accept_stream *s);

typedef struct ar_recv_stream {
    struct ar__op *op; /* private */
    int64_t res;       /* once next is ready: bytes copied, 0 EOF, or -errno */
    int fd;            /* private */
    int err;           /* private */
    uint16_t state;    /* private */
} ar_recv_stream;

/* Receive from connected socket fd.  Nothing happens before the first next. */
AR_EXTERN void ar_recv_stream_init(ar_recv_stream *s, int fd);

/*
 * AR_READY with s->res = the number of bytes copied into buf (1..len: what
 * has arrived so far, possibly several completions' worth), 0 at end of
 * stream (the peer shut down its side; every later next gives 0 again), or
 * -errno: -ECONNRESET, -EBADF, -ENOTSOCK... end the stream (later nexts give
 * the same error); -EINVAL for a NULL cx or a NULL buf with len > 0.
 * len == 0 is ready at once with res 0 and consumes nothing (tell it apart
 * from EOF by asking for at least one byte).  buf is written only during
 * this call: it need not outlive it.
 *
 * Flow: while the caller does not take the bytes, they queue in the
 * stream; past 256 KiB the multishot is cancelled, and it is armed again
 * once the caller has taken most of them.  A kernel out of provided
 * buffers (ENOBUFS) or ending the multishot re-arms it by itself.
 */
AR_EXTERN ar_poll ar_recv_stream_next(ar_recv_stream *s, ar_cx *cx, void *buf, size_t len);

/* Cancel; free what is queued.  Safe in any state, idempotent.  The
 * descriptor is the caller's: it is not closed. */
AR_EXTERN void ar_recv_stream_drop(ar_recv_stream *s);

#ifdef __cplusplus
}
#endif

#endif
