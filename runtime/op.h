/*
 * runtime/op.h - an I/O operation in flight: the memory the kernel reads
 * and writes belongs to this heap block, never to the future, so that a
 * future dropped mid-flight cannot leave the kernel writing into freed or
 * reused memory (DESIGN.md section 3).
 *
 * Ownership and states (all fields below `lock` are guarded by it):
 *   QUEUED    created by a future on a thread that does not own the target
 *             ring; sits on the ring's remote stack until the owner preps it.
 *   INFLIGHT  an SQE was prepared on the owner's ring; the kernel owns
 *             `data`/`addr` until the CQE.  (epoll backend: the op waits
 *             for readiness on its descriptor's waiter list; only the
 *             owner thread reads or writes `data`/`addr`.)
 *   DONE      the CQE arrived: res/cqe_flags are set.
 * orphaned: the future was dropped.  Whoever sees the op both orphaned and
 *   no longer needed by the kernel (DONE, or QUEUED and never submitted)
 *   and not on a remote stack frees it, closing a descriptor the operation
 *   produced (accept, openat) so that none leaks.
 * in_stack: the op is linked on its owner's remote stack (for submission
 *   or for a cancel request); only the owner unlinks it, and an op is not
 *   freed while linked.
 * The future side frees a DONE op that is not orphaned, after copying out.
 */
#ifndef AR_RUNTIME_OP_H
#define AR_RUNTIME_OP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "asyncrt/future.h"
#include "spinlock.h"

struct ar__reactor;

enum ar__op_kind {
    AR__OP_RECV = 1,
    AR__OP_SEND,
    AR__OP_READ,
    AR__OP_WRITE,
    AR__OP_ACCEPT,
    AR__OP_CONNECT,
    AR__OP_OPENAT,
    AR__OP_CLOSE,
    AR__OP_FSYNC,
    AR__OP_SHUTDOWN,
    /* Vectored and message operations: data[] starts with the iovec array
     * (and, for the message kinds, the msghdr, the name and the control
     * area); see io.c's make_op for the layout. */
    AR__OP_READV,
    AR__OP_WRITEV,
    AR__OP_RECVMSG,
    AR__OP_SENDMSG,
    /* Multishot streams (stream.c): one op posts many CQEs; data[] starts
     * with an ar__msq.  state INFLIGHT = armed in the kernel, DONE = the
     * kernel holds it no more (its final CQE came, without F_MORE). */
    AR__OP_ACCEPT_MULTI,
    AR__OP_RECV_MULTI,
};

enum ar__op_state { AR__OPS_QUEUED = 1, AR__OPS_INFLIGHT, AR__OPS_DONE };

typedef struct ar__op {
    ar__spinlock lock;
    uint8_t kind;
    uint8_t state;
    bool orphaned;
    bool in_stack;
    int32_t res;
    uint32_t cqe_flags;
    ar_waker waker;
    struct ar__reactor *owner; /* immutable once submitted */
    struct ar__op *next;       /* remote stack link (owner unlinks) */
    /* epoll backend only, owner thread only: the links of the descriptor's
     * waiter list the op sits on while INFLIGHT, and how far a multi-step
     * operation (connect) got.  Unused by the io_uring backend. */
    struct ar__op *wprev, *wnext;
    uint32_t ep_state;
    /* Parameters (immutable after creation). */
    int fd;
    int flags;
    uint32_t len;
    uint32_t mode;
    uint64_t off;
    socklen_t addrlen;
    struct sockaddr_storage addr; /* connect: in; accept: out */
    size_t size;                  /* allocation size */
    _Alignas(16) unsigned char data[]; /* recv/read target, send/write source, path */
} ar__op;

/*
 * The queue of a multishot op.  Guarded by the op's lock: the owner thread
 * pushes at CQE time, the stream's future pops.  Items queued while nobody
 * polls stay here (reactor-owned memory); ar__op_release closes queued
 * descriptors and frees queued chunks, so a dropped stream leaks nothing.
 */
typedef struct ar__chunk {
    struct ar__chunk *next;
    uint32_t len, off; /* bytes in data, bytes already handed out */
    unsigned char data[];
} ar__chunk;

typedef struct ar__msq {
    int *fds;               /* accept: ring of accepted descriptors */
    uint32_t head, n, cap;
    ar__chunk *first, *last; /* recv: received bytes, oldest first */
    size_t bytes;            /* recv: bytes queued (not yet handed out) */
    bool ended;   /* terminal: op->res is 0 (EOF) or -errno, given after the queue */
    bool backoff; /* accept: EMFILE/ENFILE ended the multishot (op->res); the
                     future re-arms after a backoff timer */
    bool paused;  /* recv: cancelled because too much is queued; the future
                     re-arms once the caller drained it */
    bool cancel_sent; /* recv: the pause cancel is on its way */
} ar__msq;

ar__op *ar__op_new(uint8_t kind, size_t data_len);
/* Free an op nobody needs any more (closes a produced descriptor if the op
 * was orphaned and succeeded; for a multishot op, closes the descriptors
 * and frees the chunks still queued). */
void ar__op_release(ar__op *op);

/* Under op->lock: queue an accepted descriptor; false when out of memory
 * (the caller closes it).  Accept errors that are a connection's own
 * problem (ECONNABORTED...) and after which accepting goes on. */
bool ar__msq_push_fd(ar__msq *q, int fd);
bool ar__accept_transient(int res);

static inline ar__msq *ar__op_msq(ar__op *op) { return (ar__msq *)(void *)op->data; }

/* Under op->lock, from the future's poll: make cx's waker the one the
 * completion wakes (kept when it would wake the same task).  Returns the
 * waker replaced, to drop once the lock is released. */
static inline ar_waker ar__op_register_waker(ar__op *op, ar_cx *cx)
{
    ar_waker old = AR_WAKER_NONE;
    if (!ar_waker_will_wake(op->waker, cx->waker)) {
        old = op->waker;
        op->waker = ar_waker_clone(cx->waker);
    }
    return old;
}

/*
 * A reactor's remote stack: a Treiber stack of ops that other threads hand
 * to the owner (to start, or to cancel).  Push: CAS with release, pairing
 * with the owner's acquire exchange in take.  Only the owner unlinks.
 */
static inline void ar__op_stack_push(_Atomic(ar__op *) *s, ar__op *op)
{
    ar__op *head = atomic_load_explicit(s, memory_order_relaxed);
    do {
        op->next = head;
    } while (!atomic_compare_exchange_weak_explicit(s, &head, op, memory_order_release,
                                                    memory_order_relaxed));
}

/* Owner: everything pushed so far, oldest first, linked by ->next (NULL
 * when the stack is empty: one relaxed load, no exchange). */
static inline ar__op *ar__op_stack_take_fifo(_Atomic(ar__op *) *s)
{
    if (!atomic_load_explicit(s, memory_order_relaxed))
        return NULL;
    ar__op *list = atomic_exchange_explicit(s, NULL, memory_order_acquire);
    ar__op *fifo = NULL;
    while (list) {
        ar__op *n = list->next;
        list->next = fifo;
        fifo = list;
        list = n;
    }
    return fifo;
}

/* Owner: an op just taken off the stack.  Clears in_stack; a QUEUED op
 * still wanted becomes INFLIGHT (the caller starts it).  Returns the state
 * it had, and in *orphan whether its future was dropped. */
static inline uint8_t ar__op_unlink(ar__op *op, bool *orphan)
{
    ar__spin_lock(&op->lock);
    op->in_stack = false;
    uint8_t st = op->state;
    *orphan = op->orphaned;
    if (!*orphan && st == AR__OPS_QUEUED)
        op->state = AR__OPS_INFLIGHT;
    ar__spin_unlock(&op->lock);
    return st;
}

#endif
