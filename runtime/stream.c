/*
 * runtime/stream.c - multishot streams (see asyncrt/stream.h): the future
 * side of AR__OP_ACCEPT_MULTI and AR__OP_RECV_MULTI.
 *
 * Protocol between a stream and its op (reactor.h, op.h):
 *  1. The first next creates the op (an ar__msq at the start of its data),
 *     stores a clone of the waker in it and submits it on this thread's
 *     reactor, which is its owner from then on.
 *  2. The owner pushes what each completion brings into the queue under
 *     op->lock, takes the waker out and wakes it (reactor_uring.c,
 *     complete_multi), and re-arms the op itself when the kernel ended the
 *     multishot for a reason that calls for it.
 *  3. next pops under the same lock.  With nothing to give it puts its
 *     waker back (a clone) before unlocking, so a push after the unlock
 *     finds it: no lost wake-up.
 *  4. When the op stopped and waits for the stream (accept: EMFILE backoff;
 *     recv: paused for backpressure), next re-arms it with
 *     ar__reactor_resubmit once the condition is over.
 *  5. drop hands the op to ar__reactor_drop_op: cancelled if armed, freed
 *     by the reactor at its last completion, queued descriptors closed.
 * The stream struct itself is touched only by whoever polls it.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "asyncrt/stream.h"
#include "reactor.h"
#include "rt.h"

enum { S_INIT = 0, S_ARMED, S_BACKOFF, S_FAILED, S_DROPPED };

/* The reactor a stream first polled on this thread goes to, or NULL (as
 * io.c's home_reactor). */
static ar__reactor *home_reactor(void)
{
    if (ar__tls_reactor)
        return ar__tls_reactor;
    ar_rt *rt = ar_rt_current();
    return rt ? rt->workers[0].reactor : NULL;
}

/* Create and submit the op of a stream; 0 or -errno. */
static int start(ar__op **out, uint8_t kind, int fd, int flags, ar_cx *cx)
{
    if (fd < 0)
        return -EBADF;
    ar__reactor *r = home_reactor();
    if (!r)
        return -ENOSYS;
    ar__op *op = ar__op_new(kind, sizeof(ar__msq));
    if (!op)
        return -ENOMEM;
    memset(ar__op_msq(op), 0, sizeof(ar__msq));
    op->fd = fd;
    op->flags = flags;
    op->waker = ar_waker_clone(cx->waker);
    *out = op;
    ar__reactor_submit(r, op);
    return 0;
}

/* What next does first, for both streams: start the op at the first call,
 * answer for a stream that failed to start or was dropped.  Returns
 * AR_READY (*res set) or AR_PENDING (just armed), or GO_ON for an armed
 * stream, which the caller serves from its queue. */
enum { GO_ON = AR_READY + AR_PENDING + 1 };
static int begin(ar__op **op, uint16_t *state, int *err, uint8_t kind, int fd, int flags,
                 ar_cx *cx, int64_t *res)
{
    switch (*state) {
    case S_INIT: {
        int rc = start(op, kind, fd, flags, cx);
        if (rc) {
            *err = rc;
            *state = S_FAILED;
            *res = rc;
            return AR_READY;
        }
        *state = S_ARMED;
        return AR_PENDING;
    }
    case S_FAILED:
        *res = *err;
        return AR_READY;
    case S_DROPPED:
        *res = -ECANCELED;
        return AR_READY;
    default:
        return GO_ON;
    }
}

/* Under op->lock: make sure the op will wake cx's task.  Returns the waker
 * it replaced, which the caller drops after unlocking. */
/* ---- accept stream ---- */

void ar_accept_stream_init(ar_accept_stream *s, int fd, int flags)
{
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->flags = flags;
    s->state = S_INIT;
}

ar_poll ar_accept_stream_next(ar_accept_stream *s, ar_cx *cx)
{
    if (!s)
        return AR_READY;
    if (!cx) {
        s->res = -EINVAL;
        return AR_READY;
    }
    int64_t early = 0;
    int b = begin(&s->op, &s->state, &s->err, AR__OP_ACCEPT_MULTI, s->fd, s->flags, cx, &early);
    if (b != GO_ON) {
        if (b == AR_READY)
            s->res = (int)early;
        return (ar_poll)b;
    }
    for (;;) {
        if (s->state == S_BACKOFF) {
            if (ar_sleep_poll(&s->sleep, cx) == AR_PENDING)
                return AR_PENDING;
            s->state = S_ARMED;
            ar__reactor_resubmit(s->op);
        }
        ar__op *op = s->op;
        ar__spin_lock(&op->lock);
        ar__msq *q = ar__op_msq(op);
        if (q->n) {
            int fd = q->fds[q->head];
            q->head = (q->head + 1) % q->cap;
            q->n--;
            ar__spin_unlock(&op->lock);
            s->backoff_ms = 0; /* a success ends the shortage */
            s->reported = 0;
            s->res = fd;
            return AR_READY;
        }
        if (q->backoff && op->state == AR__OPS_DONE) {
            /* Out of descriptors: the op stopped; we re-arm after a wait. */
            int err = op->res;
            q->backoff = false;
            ar__spin_unlock(&op->lock);
            if (!s->reported) {
                s->reported = 1;
                s->backoff_ms = 1;
            } else {
                s->backoff_ms = s->backoff_ms * 2 > AR_ACCEPT_BACKOFF_MAX_MS
                                    ? AR_ACCEPT_BACKOFF_MAX_MS
                                    : s->backoff_ms * 2;
            }
            ar_sleep_init(&s->sleep, s->backoff_ms);
            s->state = S_BACKOFF;
            if (s->backoff_ms == 1) {
                s->res = err; /* handed out once per shortage */
                return AR_READY;
            }
            continue;
        }
        if (q->ended || (op->state == AR__OPS_DONE && !q->backoff)) {
            /* Ended, or finished by a closing reactor (ar__reactor_free
             * answers a request it can no longer submit with -ECANCELED). */
            s->res = q->ended || op->res < 0 ? op->res : -ECANCELED;
            ar__spin_unlock(&op->lock);
            return AR_READY;
        }
        ar_waker old = ar__op_register_waker(op, cx);
        ar__spin_unlock(&op->lock);
        ar_waker_drop(old);
        return AR_PENDING;
    }
}

void ar_accept_stream_drop(ar_accept_stream *s)
{
    if (!s)
        return;
    if (s->op) {
        ar__reactor_drop_op(s->op);
        s->op = NULL;
    }
    ar_sleep_drop(&s->sleep);
    s->state = S_DROPPED;
}

/* ---- recv stream ---- */

void ar_recv_stream_init(ar_recv_stream *s, int fd)
{
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->state = S_INIT;
}

/* Under op->lock: move up to len queued bytes into buf; consumed chunks go
 * on *done for freeing after the unlock. */
static size_t take_bytes(ar__msq *q, unsigned char *buf, size_t len, ar__chunk **done)
{
    size_t got = 0;
    while (got < len && q->first) {
        ar__chunk *c = q->first;
        size_t k = c->len - c->off;
        if (k > len - got)
            k = len - got;
        memcpy(buf + got, c->data + c->off, k);
        c->off += (uint32_t)k;
        got += k;
        if (c->off == c->len) {
            q->first = c->next;
            if (!q->first)
                q->last = NULL;
            c->next = *done;
            *done = c;
        }
    }
    q->bytes -= got;
    return got;
}

ar_poll ar_recv_stream_next(ar_recv_stream *s, ar_cx *cx, void *buf, size_t len)
{
    if (!s)
        return AR_READY;
    if (!cx || (!buf && len)) {
        s->res = -EINVAL;
        return AR_READY;
    }
    if (len == 0) {
        s->res = 0;
        return AR_READY;
    }
    int b = begin(&s->op, &s->state, &s->err, AR__OP_RECV_MULTI, s->fd, 0, cx, &s->res);
    if (b != GO_ON)
        return (ar_poll)b;
    ar__op *op = s->op;
    ar__chunk *done = NULL;
    bool rearm = false;
    ar_poll ret = AR_READY;
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&op->lock);
    ar__msq *q = ar__op_msq(op);
    if (q->bytes) {
        s->res = (int64_t)take_bytes(q, buf, len, &done);
    } else if (q->ended || (op->state == AR__OPS_DONE && !q->paused)) {
        /* As in the accept stream: ended, or finished by a closing reactor. */
        s->res = q->ended || op->res < 0 ? op->res : -ECANCELED;
    } else {
        old = ar__op_register_waker(op, cx);
        ret = AR_PENDING;
    }
    /* Paused for backpressure and the kernel let go of the op: arm again
     * once the caller has taken most of the backlog.  The waker is in
     * place (or the bytes are being returned) before the re-arm. */
    if (q->paused && op->state == AR__OPS_DONE && !q->ended &&
        q->bytes <= AR__RECV_STREAM_HIGH / 4) {
        q->paused = false;
        rearm = true;
    }
    ar__spin_unlock(&op->lock);
    ar_waker_drop(old);
    while (done) {
        ar__chunk *n = done->next;
        ar__free(done, sizeof *done + done->len);
        done = n;
    }
    if (rearm)
        ar__reactor_resubmit(op);
    return ret;
}

void ar_recv_stream_drop(ar_recv_stream *s)
{
    if (!s)
        return;
    if (s->op) {
        ar__reactor_drop_op(s->op);
        s->op = NULL;
    }
    s->state = S_DROPPED;
}
