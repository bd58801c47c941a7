/*
 * runtime/reactor_uring.c - the io_uring driver (see reactor.h).  The only
 * file that includes liburing.h.  Its entry points are ar__uring_*, reached
 * through reactor.h's dispatch.
 *
 * user_data: an ar__op pointer, or one of two tags: TAG_CANCEL (the CQE of
 * a cancel request: ignored; the cancelled op gets its own CQE) and
 * TAG_EVENT (the eventfd read that wakes a parked owner).
 *
 * Multishot ops (AR__OP_ACCEPT_MULTI, AR__OP_RECV_MULTI) post many CQEs:
 * complete_multi queues each result in the op and re-arms it when a CQE
 * without IORING_CQE_F_MORE ends it (see there); a recv multishot takes
 * its buffers from this reactor's provided-buffer ring (br_*).
 *
 * Counters (owner only): inflight = ops whose CQE is still to come;
 * unsubmitted = SQEs prepared since the last io_uring_enter.
 * remote: Treiber stack of ops pushed by other threads (CAS push, exchange
 * pop-all by the owner; Release on push pairs with Acquire on pop).
 */
#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "fault.h"
#include "reactor.h"

#define TAG_CANCEL ((uint64_t)0)
#define TAG_EVENT ((uint64_t)1)
#define RING_ENTRIES 1024u
/* The provided-buffer ring of recv streams: one per reactor, made at the
 * first recv stream armed there, group id BR_GROUP.  Each CQE's bytes are
 * copied into the stream's queue and the buffer goes back at once, so a
 * buffer is lent to the kernel only and never crosses threads. */
#define BR_GROUP 0
#define BR_ENTRIES 128u
#define BR_SIZE 4096u

struct ar__reactor {
    ar__reactor_hdr hdr; /* first: the dispatch tag (reactor.h) */
    struct io_uring ring;
    int evfd;
    bool ev_armed;
    uint64_t evbuf;
    uint32_t inflight;
    uint32_t unsubmitted;
    void (*wake)(void *);
    void *wake_arg;
    bool closed; /* ring torn down (owner); evfd and struct live on */
    bool closing; /* owner: close started, multishot ops are not re-armed */
    /* Provided buffers (owner only): br NULL until made; br_err the -errno
     * of a failed registration (recv streams then end with it). */
    struct io_uring_buf_ring *br;
    unsigned char *br_bufs;
    int br_err;
    _Atomic(ar__op *) remote;
};

__thread ar__reactor *ar__tls_reactor __attribute__((tls_model("initial-exec")));

/* ---- ops ---- */


/* ---- ring ---- */

static int setup(struct io_uring *ring, bool single_issuer)
{
    struct io_uring_params p;
    /* A worker's ring is made by ar_rt_new but used by the worker thread:
     * created disabled, enabled by that thread (ar__reactor_enable), which
     * then is its single issuer. */
    unsigned tries[] = {
        single_issuer ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                            IORING_SETUP_R_DISABLED
                      : 0,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -ENOSYS;
    for (unsigned i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        if (i == 0 && !single_issuer)
            continue;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = RING_ENTRIES * 4; /* completions may outnumber SQEs */
        rc = io_uring_queue_init_params(RING_ENTRIES, ring, &p);
        if (rc == 0)
            return 0;
        if (rc != -EINVAL)
            break; /* ENOSYS, EPERM, ENOMEM: fewer flags will not help */
    }
    return rc;
}

static struct io_uring_sqe *get_sqe(ar__reactor *r)
{
    struct io_uring_sqe *sqe = ar__fault_sqe_take() ? NULL : io_uring_get_sqe(&r->ring);
    while (!sqe) {
        /* SQ full: hand what we have to the kernel and try again.  If the
         * kernel refuses (EBUSY: its CQ overflow list is full, EAGAIN),
         * make room by flushing completions into the CQ; they are reaped
         * at the end of this turn.  Nothing is dropped: the ring has
         * IORING_FEAT_NODROP on every kernel we run on. */
        int rc = io_uring_submit(&r->ring);
        if (rc < 0)
            io_uring_get_events(&r->ring);
        else
            r->unsubmitted = 0;
        sqe = ar__fault_sqe_take() ? NULL : io_uring_get_sqe(&r->ring);
    }
    r->unsubmitted++;
    return sqe;
}

static void arm_event(ar__reactor *r)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_read(sqe, r->evfd, &r->evbuf, sizeof r->evbuf, 0);
    io_uring_sqe_set_data64(sqe, TAG_EVENT);
    r->ev_armed = true;
}

int ar__uring_new(ar__reactor **out, bool single_issuer, void (*wake)(void *), void *arg)
{
    *out = NULL;
    ar__reactor *r = ar__calloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    int rc = setup(&r->ring, single_issuer);
    if (rc) {
        ar__free(r, sizeof *r);
        return rc;
    }
    r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->evfd < 0) {
        rc = -errno;
        io_uring_queue_exit(&r->ring);
        ar__free(r, sizeof *r);
        return rc;
    }
    r->hdr.backend = AR__BACKEND_URING;
    r->wake = wake;
    r->wake_arg = arg;
    atomic_init(&r->remote, NULL);
    arm_event(r);
    *out = r;
    return 0;
}

/* ---- provided buffers (recv streams) ---- */

/* Owner: make the buffer ring at first use.  0 or -errno (kept in br_err,
 * so a kernel without buffer rings is asked once). */
static int br_ensure(ar__reactor *r)
{
    if (r->br)
        return 0;
    if (r->br_err)
        return r->br_err;
    size_t rsz = BR_ENTRIES * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        return r->br_err = -ENOMEM;
    unsigned char *bufs = ar__alloc((size_t)BR_ENTRIES * BR_SIZE);
    if (!bufs) {
        munmap(mem, rsz);
        return r->br_err = -ENOMEM;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = BR_ENTRIES;
    reg.bgid = BR_GROUP;
    int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (rc < 0) {
        munmap(mem, rsz);
        ar__free(bufs, (size_t)BR_ENTRIES * BR_SIZE);
        return r->br_err = rc;
    }
    r->br = mem;
    r->br_bufs = bufs;
    io_uring_buf_ring_init(r->br);
    for (unsigned i = 0; i < BR_ENTRIES; i++)
        io_uring_buf_ring_add(r->br, bufs + (size_t)i * BR_SIZE, BR_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BR_ENTRIES), (int)i);
    io_uring_buf_ring_advance(r->br, BR_ENTRIES);
    return 0;
}

/* Owner: give buffer bid back to the kernel. */
static void br_recycle(ar__reactor *r, unsigned bid)
{
    io_uring_buf_ring_add(r->br, r->br_bufs + (size_t)bid * BR_SIZE, BR_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(BR_ENTRIES), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

/* Owner, at close (the ring is gone, so nothing uses the buffers). */
static void br_free(ar__reactor *r)
{
    if (!r->br)
        return;
    munmap(r->br, BR_ENTRIES * sizeof(struct io_uring_buf));
    ar__free(r->br_bufs, (size_t)BR_ENTRIES * BR_SIZE);
    r->br = NULL;
    r->br_bufs = NULL;
}

/* Owner: prepare the SQE of op (state QUEUED -> INFLIGHT). */
static void prep(ar__reactor *r, ar__op *op)
{
    ar__reactor_count(&r->hdr.io_submitted);
    struct io_uring_sqe *sqe = get_sqe(r);
    switch (op->kind) {
    case AR__OP_RECV:
        io_uring_prep_recv(sqe, op->fd, op->data, op->len, op->flags);
        break;
    case AR__OP_SEND:
        io_uring_prep_send(sqe, op->fd, op->data, op->len, op->flags);
        break;
    case AR__OP_READ:
        io_uring_prep_read(sqe, op->fd, op->data, op->len, op->off);
        break;
    case AR__OP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->data, op->len, op->off);
        break;
    case AR__OP_ACCEPT:
        op->addrlen = sizeof op->addr;
        io_uring_prep_accept(sqe, op->fd, (struct sockaddr *)&op->addr, &op->addrlen, op->flags);
        break;
    case AR__OP_CONNECT:
        io_uring_prep_connect(sqe, op->fd, (struct sockaddr *)&op->addr, op->addrlen);
        break;
    case AR__OP_OPENAT:
        io_uring_prep_openat(sqe, op->fd, (const char *)op->data, op->flags, op->mode);
        break;
    case AR__OP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case AR__OP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, (unsigned)op->flags);
        break;
    case AR__OP_SHUTDOWN:
        io_uring_prep_shutdown(sqe, op->fd, op->flags);
        break;
    case AR__OP_READV:
        io_uring_prep_readv(sqe, op->fd, (const struct iovec *)(void *)op->data, op->len,
                            op->off);
        break;
    case AR__OP_WRITEV:
        io_uring_prep_writev(sqe, op->fd, (const struct iovec *)(void *)op->data, op->len,
                             op->off);
        break;
    case AR__OP_RECVMSG:
        io_uring_prep_recvmsg(sqe, op->fd, (struct msghdr *)(void *)op->data, (unsigned)op->flags);
        break;
    case AR__OP_SENDMSG:
        io_uring_prep_sendmsg(sqe, op->fd, (const struct msghdr *)(void *)op->data,
                              (unsigned)op->flags);
        break;
    case AR__OP_ACCEPT_MULTI:
        io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, op->flags);
        break;
    case AR__OP_RECV_MULTI:
        if (br_ensure(r) == 0) {
            io_uring_prep_recv_multishot(sqe, op->fd, NULL, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = BR_GROUP;
        } else {
            io_uring_prep_nop(sqe); /* its CQE ends the stream with br_err */
        }
        break;
    default:
        io_uring_prep_nop(sqe);
        break;
    }
    io_uring_sqe_set_data(sqe, op);
    uint64_t fault = ar__fault_uring_code(op, op->kind); /* tests: fault.h */
    if (__builtin_expect(fault != 0, 0)) {
        io_uring_prep_nop(sqe); /* completes with the injected error instead */
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | fault);
    }
    r->inflight++;
}

static void prep_cancel(ar__reactor *r, ar__op *op)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data64(sqe, TAG_CANCEL);
}

static void push_remote(ar__reactor *r, ar__op *op)
{
    ar__op_stack_push(&r->remote, op);
    r->wake(r->wake_arg);
}

/* Owner: what other threads asked for. */
static void take_remote(ar__reactor *r)
{
    for (ar__op *op = ar__op_stack_take_fifo(&r->remote), *next; op; op = next) {
        next = op->next;
        bool orphan;
        uint8_t st = ar__op_unlink(op, &orphan);
        if (orphan) {
            if (st == AR__OPS_INFLIGHT)
                prep_cancel(r, op); /* freed at its CQE */
            else
                ar__op_release(op); /* never submitted, or already done */
        } else if (st == AR__OPS_QUEUED) {
            prep(r, op);
        }
    }
}

static void complete_op(ar__reactor *r, ar__op *op, int res, uint32_t flags)
{
    ar__reactor_count(&r->hdr.io_completed);
    r->inflight--;
    ar__spin_lock(&op->lock);
    op->res = res;
    op->cqe_flags = flags;
    op->state = AR__OPS_DONE;
    bool orphan = op->orphaned, linked = op->in_stack;
    ar_waker w = op->waker;
    op->waker = AR_WAKER_NONE;
    ar__spin_unlock(&op->lock);
    if (orphan) {
        ar_waker_drop(w);
        if (!linked)
            ar__op_release(op); /* a linked op is freed when unlinked */
    } else {
        ar_waker_wake(w); /* safety: op may be freed by its future from here */
    }
}

/* ---- multishot completions (stream.c's futures pop what these push) ---- */

/*
 * Owner: one CQE of a multishot op.  Steps:
 *  1. Receive: copy the bytes out of the provided buffer into a chunk and
 *     give the buffer back at once (owner thread, before anything else).
 *  2. Under the op's lock: no F_MORE means the kernel is done with the op
 *     (DONE, inflight--).  An orphan's product is discarded (a descriptor
 *     closed).  Otherwise the product is queued and the op decides:
 *     re-arm now (a clean end, ENOBUFS: the buffers are back before this
 *     SQE is submitted, transient accept errors), wait for the future
 *     (accept EMFILE/ENFILE: backoff; recv: paused for backpressure) or
 *     end (EOF, other errors: q->ended, op->res).
 *  3. After unlocking: wake the future (its waker is taken, it registers
 *     again at its next pending poll), re-arm, send the pause cancel, or
 *     free an orphan the kernel no longer holds.
 */
static void complete_multi(ar__reactor *r, ar__op *op, int res, uint32_t flags)
{
    ar__reactor_count(&r->hdr.io_completed);
    bool more = flags & IORING_CQE_F_MORE;
    ar__chunk *c = NULL;
    bool nomem = false;
    if (op->kind == AR__OP_RECV_MULTI && (flags & IORING_CQE_F_BUFFER) && r->br) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0) { /* an orphan's copy is freed below */
            c = ar__alloc(sizeof *c + (size_t)res);
            if (c) {
                c->next = NULL;
                c->len = (uint32_t)res;
                c->off = 0;
                memcpy(c->data, r->br_bufs + (size_t)bid * BR_SIZE, (size_t)res);
            } else {
                nomem = true;
            }
        }
        br_recycle(r, bid);
    }
    bool rearm = false, cancel = false;
    int close_fd = -1;
    ar_waker w = AR_WAKER_NONE;
    ar__spin_lock(&op->lock);
    ar__msq *q = ar__op_msq(op);
    if (!more) {
        r->inflight--;
        op->state = AR__OPS_DONE;
    }
    bool orphan = op->orphaned;
    if (orphan) {
        if (op->kind == AR__OP_ACCEPT_MULTI && res >= 0)
            close_fd = res;
    } else if (op->kind == AR__OP_ACCEPT_MULTI) {
        if (res >= 0) {
            if (!ar__msq_push_fd(q, res)) {
                close_fd = res; /* cannot keep it: the peer sees a reset */
            }
        } else if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
            if (!more) {
                q->backoff = true;
                op->res = res;
            }
        } else if (!ar__accept_transient(res) && !more) {
            q->ended = true;
            op->res = res;
        }
        rearm = !more && !q->backoff && !q->ended;
    } else if (!r->br) {
        q->ended = true; /* the NOP that stands in for a recv without buffers */
        op->res = r->br_err ? r->br_err : -ENOSYS;
    } else {
        if (res > 0) {
            if (c) {
                if (q->last)
                    q->last->next = c;
                else
                    q->first = c;
                q->last = c;
                q->bytes += c->len;
                c = NULL;
            } else if (nomem) {
                q->ended = true;
                op->res = -ENOMEM;
                cancel = more;
            }
        } else if (res == 0 && !more) {
            q->ended = true; /* EOF */
            op->res = 0;
        } else if (res == -ENOBUFS || res == -EINTR || res == -EAGAIN) {
            /* re-armed below: the buffers are back by the next submit */
        } else if (res == -ECANCELED && q->paused) {
            /* our own backpressure cancel: the future re-arms */
        } else if (res < 0 && !more) {
            q->ended = true;
            op->res = res;
        }
        if (more && !q->paused && !q->ended && q->bytes > AR__RECV_STREAM_HIGH) {
            q->paused = true; /* stop receiving until the caller drains */
            cancel = true;
        }
        rearm = !more && !q->ended && !q->paused;
    }
    if (rearm && r->closing) {
        rearm = false;
        q->ended = true;
        op->res = -ECANCELED;
    }
    if (rearm)
        op->state = AR__OPS_INFLIGHT; /* drop_op from here on cancels it */
    if (!orphan) {
        w = op->waker;
        op->waker = AR_WAKER_NONE;
    }
    bool release = orphan && op->state == AR__OPS_DONE && !op->in_stack;
    ar__spin_unlock(&op->lock);
    if (c)
        ar__free(c, sizeof *c + c->len);
    if (close_fd >= 0)
        close(close_fd);
    if (rearm)
        prep(r, op);
    else if (cancel)
        prep_cancel(r, op);
    if (release)
        ar__op_release(op);
    else
        ar_waker_wake(w); /* safety: after this the future may free op */
}

static void reap(ar__reactor *r)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&r->ring, head, cqe)
    {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if (ud == TAG_EVENT)
            r->ev_armed = false;
        else if (ud != TAG_CANCEL) {
            int res = cqe->res;
            ar__op *op = ar__fault_uring_op(ud, &res); /* (ar__op *)ud but in tests */
            if (op->kind == AR__OP_ACCEPT_MULTI || op->kind == AR__OP_RECV_MULTI)
                complete_multi(r, op, res, cqe->flags);
            else
                complete_op(r, op, res, cqe->flags);
        }
        n++;
    }
    io_uring_cq_advance(&r->ring, n);
}

bool ar__uring_pending(ar__reactor *r)
{
    return r->inflight || r->unsubmitted ||
           atomic_load_explicit(&r->remote, memory_order_relaxed) != NULL;
}

void ar__uring_turn(ar__reactor *r, ar__parker *p, bool park, uint64_t timeout_ns)
{
    take_remote(r);
    if (park) {
        park = ar__park_begin(p); /* false: an unpark already arrived */
        /* Requests pushed before we were PARKED did not write the eventfd
         * (the pusher saw us not parked... or did: either way look again). */
        take_remote(r);
    }
    if (!r->ev_armed)
        arm_event(r);
    if (park) {
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ns != UINT64_MAX) {
            ts.tv_sec = (long long)(timeout_ns / 1000000000u);
            ts.tv_nsec = (long long)(timeout_ns % 1000000000u);
            tsp = &ts;
        }
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, tsp, NULL);
        /* Consume the park (a late unpark leaves one spurious eventfd CQE). */
        ar__park_end(p);
    } else if (r->unsubmitted || r->inflight) {
        io_uring_submit_and_get_events(&r->ring);
    }
    r->unsubmitted = 0;
    reap(r);
    if (!r->ev_armed) {
        /* The eventfd fired: drain it so the next write wakes us again. */
        uint64_t v;
        while (read(r->evfd, &v, sizeof v) > 0) {
        }
        arm_event(r);
    }
}

void ar__uring_unpark(ar__reactor *r, ar__parker *p)
{
    if (ar__unpark_mark(p)) {
        uint64_t one = 1;
        ssize_t n = write(r->evfd, &one, sizeof one);
        (void)n; /* EAGAIN: the counter is saturated, a wake is pending */
    }
}

void ar__uring_submit(ar__reactor *r, ar__op *op)
{
    op->owner = r;
    if (ar__tls_reactor == r) {
        op->state = AR__OPS_INFLIGHT; /* not yet visible to anyone else */
        prep(r, op);
        return;
    }
    op->state = AR__OPS_QUEUED;
    op->in_stack = true;
    push_remote(r, op);
}

void ar__uring_resubmit(ar__op *op)
{
    ar__reactor *r = op->owner;
    ar__spin_lock(&op->lock);
    if (op->state != AR__OPS_DONE || op->orphaned || op->in_stack) {
        ar__spin_unlock(&op->lock);
        return;
    }
    bool here = ar__tls_reactor == r;
    if (here) {
        op->state = AR__OPS_INFLIGHT;
    } else {
        op->state = AR__OPS_QUEUED;
        op->in_stack = true;
    }
    ar__spin_unlock(&op->lock);
    if (here)
        prep(r, op);
    else
        push_remote(r, op);
}

void ar__uring_drop_op(ar__op *op)
{
    ar__reactor *r = op->owner;
    ar__spin_lock(&op->lock);
    if (op->state == AR__OPS_DONE && !op->in_stack) {
        op->orphaned = true;
        ar__spin_unlock(&op->lock);
        ar__op_release(op);
        return;
    }
    op->orphaned = true;
    bool cancel_here = false, push = false;
    if (op->state == AR__OPS_INFLIGHT && !op->in_stack) {
        if (ar__tls_reactor == r)
            cancel_here = true;
        else
            op->in_stack = push = true;
    }
    /* QUEUED or already linked: the owner sees `orphaned` when it unlinks. */
    ar__spin_unlock(&op->lock);
    if (cancel_here)
        prep_cancel(r, op);
    else if (push)
        push_remote(r, op);
}

int ar__uring_enable(ar__reactor *r)
{
    if (!(r->ring.flags & IORING_SETUP_R_DISABLED))
        return 0;
    /* Raw syscall: Debian's liburing 2.3 does not export a wrapper. */
    if (syscall(__NR_io_uring_register, r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    return 0;
}

void ar__uring_close(ar__reactor *r)
{
    if (!r || r->closed)
        return;
    /* Cancel everything still in flight and wait (bounded) for the CQEs,
     * so the kernel writes into no op after it is freed. */
    r->closing = true;
    take_remote(r);
    if (r->inflight) {
        struct io_uring_sqe *sqe = get_sqe(r);
        io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, TAG_CANCEL);
    }
    for (int i = 0; i < 1000 && r->inflight; i++) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
        r->unsubmitted = 0;
        reap(r);
        take_remote(r);
    }
    if (r->inflight)
        fprintf(stderr, "asyncrt: %u I/O operations did not finish at shutdown; their "
                        "memory is left to the kernel\n", r->inflight);
    io_uring_queue_exit(&r->ring);
    br_free(r);
    r->closed = true;
}

void ar__uring_free(ar__reactor *r)
{
    if (!r)
        return;
    ar__uring_close(r);
    /* Requests that arrived after the ring closed: nobody will submit
     * them.  A live future is told -ECANCELED; an orphan is freed. */
    ar__op *list = atomic_exchange_explicit(&r->remote, NULL, memory_order_acquire);
    while (list) {
        ar__op *op = list;
        list = op->next;
        ar__spin_lock(&op->lock);
        op->in_stack = false;
        bool orphan = op->orphaned;
        ar_waker w = AR_WAKER_NONE;
        if (!orphan) {
            op->res = -ECANCELED;
            op->state = AR__OPS_DONE;
            w = op->waker;
            op->waker = AR_WAKER_NONE;
        }
        ar__spin_unlock(&op->lock);
        if (orphan)
            ar__op_release(op);
        else
            ar_waker_wake(w);
    }
    close(r->evfd);
    ar__free(r, sizeof *r);
}
