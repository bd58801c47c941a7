/*
 * runtime/reactor_epoll.c - the epoll driver, the fallback where io_uring
 * cannot be set up (see reactor.h for the contract it shares with
 * reactor_uring.c).
 *
 * How an operation runs (all on the owner thread):
 *   1. start: try the syscall at once, non-blocking (recv/send and
 *      recvmsg/sendmsg with MSG_DONTWAIT, preadv2/pwritev2 with RWF_NOWAIT
 *      for read/write/readv/writev, accept4 on a listener switched to
 *      O_NONBLOCK, connect on a socket made O_NONBLOCK for the duration).
 *      If it completes (or fails), the op is DONE.
 *   2. Would block (EAGAIN, EINPROGRESS): the op joins the waiter list of
 *      its descriptor for one direction (read: recv, read, readv, recvmsg,
 *      accept and both streams; write: send, write, writev, sendmsg,
 *      connect).  If that list was empty the descriptor is
 *      (re-)armed with EPOLL_CTL_MOD, or ADD when epoll does not know it;
 *      else the op queues behind without trying (FIFO).
 *   3. An event for the descriptor: the ops of the ready direction are
 *      retried in FIFO order until one would block again; it and those
 *      behind it keep waiting.
 * Multishot ops (the streams) stay on their list while armed; see the
 * "multishot streams" section.
 * Regular files and block devices have no readiness: read, write, readv,
 * writev, fsync, openat and close are done synchronously on the owner thread (the
 * fallback's documented limitation: a slow disk stalls that worker).
 *
 * Registration is edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
 * and left in place when a list empties (an event nobody waits for is
 * ignored), so an operation that completes at once costs no epoll_ctl and
 * one that waits costs one.  Why re-arm at the start of every wait (step 2)
 * rather than register once per descriptor: users close descriptors with
 * close(2), which drops
 * the registration behind our back, and the number is then reused by a new
 * socket; the MOD (ENOENT -> ADD) makes the registration match the file
 * the op really waits on.  MOD also re-checks readiness, so data that came
 * between the EAGAIN and the MOD is reported.
 *
 * Invariants (owner thread only):
 *   - An op is INFLIGHT exactly while it sits on a waiter list (between
 *     owner-side steps); `waiting` counts them.
 *   - A waiter list is non-empty only if its head's last attempt returned
 *     EAGAIN after the last event processed for that descriptor, so a
 *     later edge will be reported: a new op on that direction queues behind
 *     without trying (FIFO), and is retried with the others.
 *   - An op leaves a list before it is completed or freed.  When a
 *     dropped op leaves the head of a list that stays non-empty, the list
 *     is "kicked" (retried and re-armed): its descriptor may have been
 *     closed and the number reused by the ops behind it, whose file then
 *     was never registered.  For the same reason an op that starts a wait
 *     always arms, even when the other direction has waiters.
 * Events carry the descriptor number (data.u64); a spurious or stale event
 * only causes retries that find EAGAIN.  The eventfd that unparks the owner
 * is registered level-triggered with the tag EV_TAG and drained when seen.
 *
 * Ownership of ops follows op.h exactly as in the io_uring driver:
 * `remote` is a Treiber stack (CAS push with Release, exchange pop-all by
 * the owner with Acquire); an op is freed by whoever sees it orphaned, no
 * longer needed (DONE, never started, or taken off its waiter list by the
 * owner) and not linked on the remote stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "alloc.h"
#include "fault.h"
#include "reactor.h"

#define EV_TAG UINT64_MAX
#define MAX_EVENTS 256
/* try_op's "would block" (results are otherwise >= 0 or -errno). */
#define AGAIN INT64_MIN

enum { DIR_RD = 0, DIR_WR = 1, DIR_NONE = -1 };

/* op->ep_state bits. */
enum {
    EPS_STARTED = 1u << 0,   /* connect: connect(2) was issued */
    EPS_RESTORE = 1u << 1,   /* connect: clear O_NONBLOCK again when done */
    EPS_CLASSIFIED = 1u << 2,/* read/write: the descriptor kind is known */
    EPS_STREAM = 1u << 3,    /* read/write: pollable (pipe, socket, tty) */
    EPS_NOWAIT_BAD = 1u << 4,/* read/write: RWF_NOWAIT unsupported here */
    EPS_LISTENER_OK = 1u << 5,/* accept: the listener is non-blocking */
};

typedef struct ep_waiters {
    ar__op *head, *tail;
} ep_waiters;

typedef struct ep_fd {
    ep_waiters w[2]; /* DIR_RD, DIR_WR */
    bool added;      /* we ADDed it once: try MOD first */
} ep_fd;

typedef struct ar__epoll {
    ar__reactor_hdr hdr; /* first: the dispatch tag (reactor.h) */
    int epfd;            /* -1 once closed */
    int evfd;            /* lives until free (late unparks write it) */
    bool closed;
    bool woke;           /* owner: a future was woken in this turn */
    uint32_t waiting;    /* owner: ops on waiter lists */
    ep_fd *fds;          /* owner: indexed by descriptor, nfds entries */
    size_t nfds;
    void (*wake)(void *);
    void *wake_arg;
    _Atomic(ar__op *) remote;
    struct epoll_event events[MAX_EVENTS]; /* owner */
} ar__epoll;

static inline ar__epoll *EP(ar__reactor *r) { return (ar__epoll *)(void *)r; }

static int op_dir(uint8_t kind)
{
    switch (kind) {
    case AR__OP_RECV:
    case AR__OP_READ:
    case AR__OP_ACCEPT:
    case AR__OP_READV:
    case AR__OP_RECVMSG:
    case AR__OP_ACCEPT_MULTI:
    case AR__OP_RECV_MULTI:
        return DIR_RD;
    case AR__OP_SEND:
    case AR__OP_WRITE:
    case AR__OP_CONNECT:
    case AR__OP_WRITEV:
    case AR__OP_SENDMSG:
        return DIR_WR;
    default:
        return DIR_NONE;
    }
}

/* ---- trying the syscalls ---- */

static int64_t again_or_err(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK ? AGAIN : -(int64_t)err;
}

static int set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    int want = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    if (want != fl && fcntl(fd, F_SETFL, want) < 0)
        return -errno;
    return 0;
}

static bool is_multi(const ar__op *op)
{
    return op->kind == AR__OP_ACCEPT_MULTI || op->kind == AR__OP_RECV_MULTI;
}

/* read/write, readv/writev: regular files synchronously, streams without
 * blocking.  read/write have one buffer (data[]); the vectored kinds start
 * data[] with their iovec array of op->len entries (io.c's layout). */
static int64_t try_rw(ar__op *op, bool wr)
{
    struct iovec one = {.iov_base = op->data, .iov_len = op->len};
    const struct iovec *iov = &one;
    int cnt = 1;
    if (op->kind == AR__OP_READV || op->kind == AR__OP_WRITEV) {
        iov = (const struct iovec *)(const void *)op->data;
        cnt = (int)op->len; /* io.c: at most AR_IO_MAX_IOV */
    }
    if (!(op->ep_state & EPS_CLASSIFIED)) {
        struct stat st;
        if (fstat(op->fd, &st) < 0)
            return -errno;
        op->ep_state |= EPS_CLASSIFIED;
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISDIR(st.st_mode))
            op->ep_state |= EPS_STREAM;
    }
    ssize_t n;
    if (!(op->ep_state & EPS_STREAM)) {
        /* No readiness for files: the one blocking case (documented). */
        bool cur = op->off == UINT64_MAX;
        do {
            if (wr)
                n = cur ? writev(op->fd, iov, cnt) : pwritev(op->fd, iov, cnt, (off_t)op->off);
            else
                n = cur ? readv(op->fd, iov, cnt) : preadv(op->fd, iov, cnt, (off_t)op->off);
        } while (n < 0 && errno == EINTR);
        return n >= 0 ? n : -(int64_t)errno;
    }
    /* A stream has no position (io_uring ignores the offset there too). */
    if (!(op->ep_state & EPS_NOWAIT_BAD)) {
        do {
            n = wr ? pwritev2(op->fd, iov, cnt, -1, RWF_NOWAIT)
                   : preadv2(op->fd, iov, cnt, -1, RWF_NOWAIT);
        } while (n < 0 && errno == EINTR);
        if (n >= 0)
            return n;
        if (errno != EOPNOTSUPP && errno != EINVAL)
            return again_or_err(errno);
        op->ep_state |= EPS_NOWAIT_BAD; /* e.g. a tty: ask poll(2) first */
    }
    struct pollfd pfd = {.fd = op->fd, .events = wr ? POLLOUT : POLLIN};
    if (poll(&pfd, 1, 0) == 0)
        return AGAIN;
    do {
        n = wr ? writev(op->fd, iov, cnt) : readv(op->fd, iov, cnt);
    } while (n < 0 && errno == EINTR);
    return n >= 0 ? n : again_or_err(errno);
}

/*
 * recvmsg/sendmsg on the msghdr at the start of data[] (io.c's layout: its
 * iovecs, name and control area all point into the op).  MSG_DONTWAIT is
 * added; a caller's own MSG_DONTWAIT gets EAGAIN back, as on io_uring.
 * recvmsg writes msg_namelen, msg_controllen and msg_flags only when it
 * succeeds, so a retry after EAGAIN starts from the caller's sizes.
 * MSG_WAITALL is passed through: the kernel fills what is there without
 * waiting (documented in io.h).
 */
static int64_t try_msg(ar__op *op, bool wr)
{
    struct msghdr *m = (struct msghdr *)(void *)op->data;
    int flags = op->flags | MSG_DONTWAIT;
    ssize_t n;
    do {
        n = wr ? sendmsg(op->fd, m, flags) : recvmsg(op->fd, m, flags);
    } while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    return (op->flags & MSG_DONTWAIT) ? -(int64_t)errno : again_or_err(errno);
}

/*
 * recv/send.  A caller's own MSG_DONTWAIT asks for EAGAIN, as on io_uring.
 * MSG_WAITALL (without MSG_DONTWAIT) waits for the whole length as
 * io_uring does: op->off (unused by recv/send otherwise) counts the bytes
 * done so far; an end of stream or an error after some bytes returns them.
 */
static int64_t try_xfer(ar__op *op, bool wr)
{
    bool all = (op->flags & (MSG_WAITALL | MSG_DONTWAIT)) == MSG_WAITALL;
    int flags = (op->flags & ~MSG_WAITALL) | MSG_DONTWAIT;
    for (;;) {
        ssize_t n;
        size_t done = (size_t)op->off;
        do {
            n = wr ? send(op->fd, op->data + done, op->len - done, flags)
                   : recv(op->fd, op->data + done, op->len - done, flags);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (done)
                return errno == EAGAIN || errno == EWOULDBLOCK ? AGAIN : (int64_t)done;
            return (op->flags & MSG_DONTWAIT) ? -(int64_t)errno : again_or_err(errno);
        }
        done += (size_t)n;
        if (!all || n == 0 || done == op->len)
            return (int64_t)done;
        op->off = done; /* short: go on (the next call says EAGAIN if so) */
    }
}

static int64_t try_connect(ar__op *op)
{
    int rc;
    if (!(op->ep_state & EPS_STARTED)) {
        /* connect(2) only completes in the background on a non-blocking
         * socket: make it one for the duration (restored when done). */
        int fl = fcntl(op->fd, F_GETFL);
        if (fl < 0)
            return -errno;
        if (!(fl & O_NONBLOCK)) {
            if (fcntl(op->fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
            op->ep_state |= EPS_RESTORE;
        }
        rc = connect(op->fd, (struct sockaddr *)&op->addr, op->addrlen);
        if (rc == 0)
            return 0;
        /* EINTR: the connection still goes on in the background. */
        if (errno == EINPROGRESS || errno == EINTR) {
            op->ep_state |= EPS_STARTED; /* finishes in the background */
            return AGAIN;
        }
        return again_or_err(errno); /* EAGAIN (unix sockets): call again */
    }
    /* Writable: finished, or a stale event.  SO_ERROR says how it failed;
     * getpeername whether it succeeded (ENOTCONN: not yet). */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    if (err)
        return -(int64_t)err;
    struct sockaddr_storage ss;
    len = sizeof ss;
    if (getpeername(op->fd, (struct sockaddr *)&ss, &len) == 0)
        return 0;
    return errno == ENOTCONN ? AGAIN : -(int64_t)errno;
}

/* accept, accept stream: documented in io.h, the listener becomes
 * non-blocking (it may be shared by acceptors on several workers, so a
 * blocking accept after a readiness check could hang a worker). */
static int listener_nonblock(ar__op *op)
{
    if (op->ep_state & EPS_LISTENER_OK)
        return 0;
    int rc = set_nonblock(op->fd, true);
    if (rc < 0)
        return rc;
    op->ep_state |= EPS_LISTENER_OK;
    return 0;
}

/*
 * One attempt at op's syscall.  Returns the result (>= 0 or -errno) or
 * AGAIN.  Adding an operation kind is one case here (and its direction in
 * op_dir when it can wait for readiness); unknown kinds give -ENOSYS.
 */
static int64_t try_op(ar__op *op)
{
    int rc;
    switch (op->kind) {
    case AR__OP_RECV:
    case AR__OP_SEND:
        return try_xfer(op, op->kind == AR__OP_SEND);
    case AR__OP_READ:
    case AR__OP_READV:
        return try_rw(op, false);
    case AR__OP_WRITE:
    case AR__OP_WRITEV:
        return try_rw(op, true);
    case AR__OP_RECVMSG:
        return try_msg(op, false);
    case AR__OP_SENDMSG:
        return try_msg(op, true);
    case AR__OP_ACCEPT:
        if ((rc = listener_nonblock(op)) < 0)
            return rc;
        op->addrlen = sizeof op->addr;
        do {
            rc = accept4(op->fd, (struct sockaddr *)&op->addr, &op->addrlen, op->flags);
        } while (rc < 0 && errno == EINTR);
        return rc >= 0 ? rc : again_or_err(errno);
    case AR__OP_CONNECT:
        return try_connect(op);
    case AR__OP_OPENAT:
        do {
            rc = openat(op->fd, (const char *)op->data, op->flags, (mode_t)op->mode);
        } while (rc < 0 && errno == EINTR);
        return rc >= 0 ? rc : -(int64_t)errno;
    case AR__OP_CLOSE:
        /* EINTR: the descriptor is gone anyway on Linux; never retry. */
        return close(op->fd) == 0 || errno == EINTR ? 0 : -(int64_t)errno;
    case AR__OP_FSYNC:
        do {
            rc = (op->flags & 1) ? fdatasync(op->fd) : fsync(op->fd);
        } while (rc < 0 && errno == EINTR);
        return rc == 0 ? 0 : -(int64_t)errno;
    case AR__OP_SHUTDOWN:
        return shutdown(op->fd, op->flags) == 0 ? 0 : -(int64_t)errno;
    default:
        return -ENOSYS;
    }
}

/* The blocking form, for a stream that epoll refuses (EPERM): rare. */
static int64_t block_op(ar__op *op)
{
    struct pollfd pfd = {.fd = op->fd, .events = op_dir(op->kind) == DIR_WR ? POLLOUT : POLLIN};
    for (;;) {
        int64_t res = try_op(op);
        if (res != AGAIN)
            return res;
        poll(&pfd, 1, -1);
    }
}

/* ---- completion ---- */

static void complete_multi(ar__epoll *r, ar__op *op, int64_t res);

/* Owner: op left every list; publish its result and wake its future (or
 * free it when the future is gone).  A multishot op goes to
 * complete_multi, which ends its multishot with res. */
static void complete(ar__epoll *r, ar__op *op, int64_t res)
{
    ar__reactor_count(&r->hdr.io_completed);
    if (is_multi(op)) {
        complete_multi(r, op, res);
        return;
    }
    ar__spin_lock(&op->lock);
    if (op->kind == AR__OP_CONNECT && (op->ep_state & EPS_RESTORE) && !op->orphaned) {
        /* The caller's socket as it was.  Under the lock: a future being
         * dropped waits here, so its owner cannot have closed the
         * descriptor (and had the number reused) before this. */
        set_nonblock(op->fd, false);
        op->ep_state &= ~(uint32_t)EPS_RESTORE;
    }
    op->res = res < INT32_MIN ? -EOVERFLOW : (int32_t)res;
    op->cqe_flags = 0;
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
        r->woke = true;
        ar_waker_wake(w); /* safety: op may be freed by its future from here */
    }
}

/* ---- multishot streams (stream.c's futures pop what these push) ----
 *
 * io_uring keeps a multishot op armed in the kernel and posts a CQE per
 * result; here the op stays on its descriptor's read waiter list (INFLIGHT)
 * for as long as the multishot lasts, and each attempt (at start, at every
 * read event) accepts or receives everything available into the op's
 * queue, exactly what complete_multi of reactor_uring.c would have queued,
 * then wakes the stream.  An attempt answers AGAIN (drained, stays armed)
 * or a reason to end the multishot, which run_dir/start hand to complete()
 * after taking the op off its list, and complete_multi turns into the
 * stream's view of an op the kernel let go of (state DONE):
 *   accept: -EMFILE/-ENFILE/-ENOMEM/-ENOBUFS: q->backoff, op->res (the
 *           stream re-arms after its backoff timer, with resubmit);
 *           any other -errno: q->ended, op->res.  Transient errors
 *           (ECONNABORTED...) are skipped, as io_uring re-arms on them.
 *   recv:   STOP_PAUSE: more than AR__RECV_STREAM_HIGH bytes are queued:
 *           q->paused (the stream re-arms once drained, with resubmit);
 *           0 (EOF) or -errno: q->ended, op->res.
 * An orphan's attempt is never made (run_dir answers -ECANCELED for it);
 * complete_multi frees it, and ar__op_release closes what it queued.
 * There is no provided-buffer ring: each recv goes straight into a chunk
 * of RECV_CHUNK bytes, shrunk to what arrived (so ENOBUFS never happens).
 */
#define STOP_PAUSE (INT64_MIN + 1)
#define RECV_CHUNK 16384u
/* Transient accept errors in a row after which an attempt waits for the
 * next event rather than spin (a persistent one: EOPNOTSUPP on a socket
 * that is not a stream, which io_uring would re-arm on forever). */
#define MAX_TRANSIENT 64

/* Owner: the stream has new items: wake it (unless it was dropped). */
static void wake_multi(ar__epoll *r, ar__op *op)
{
    ar_waker w = AR_WAKER_NONE;
    ar__spin_lock(&op->lock);
    if (!op->orphaned) {
        w = op->waker;
        op->waker = AR_WAKER_NONE;
    }
    ar__spin_unlock(&op->lock);
    if (w.bits) {
        r->woke = true;
        ar_waker_wake(w); /* the future registers again when it pends */
    }
}

static int64_t try_accept_multi(ar__epoll *r, ar__op *op)
{
    int rc = listener_nonblock(op);
    if (rc < 0)
        return rc;
    ar__msq *q = ar__op_msq(op);
    int64_t res = AGAIN;
    bool pushed = false;
    int transient = 0;
    for (;;) {
        int fd;
        do {
            fd = accept4(op->fd, NULL, NULL, op->flags);
        } while (fd < 0 && errno == EINTR);
        if (fd >= 0) {
            transient = 0;
            ar__spin_lock(&op->lock);
            bool orphan = op->orphaned;
            bool kept = !orphan && ar__msq_push_fd(q, fd);
            ar__spin_unlock(&op->lock);
            if (!kept)
                close(fd); /* out of memory, or dropped meanwhile: the peer sees a reset */
            pushed |= kept;
            if (orphan) {
                res = -ECANCELED;
                break;
            }
            continue;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
            break;
        if (ar__accept_transient(-err)) {
            if (++transient < MAX_TRANSIENT)
                continue;
            break; /* AGAIN: wait for the next event */
        }
        res = -(int64_t)err; /* backoff or end: complete_multi decides */
        break;
    }
    if (pushed && res == AGAIN)
        wake_multi(r, op); /* else complete_multi wakes it */
    return res;
}

static int64_t try_recv_multi(ar__epoll *r, ar__op *op)
{
    ar__msq *q = ar__op_msq(op);
    int64_t res = AGAIN;
    bool pushed = false;
    for (;;) {
        ar__spin_lock(&op->lock);
        size_t queued = q->bytes;
        bool orphan = op->orphaned;
        ar__spin_unlock(&op->lock);
        if (orphan) {
            res = -ECANCELED;
            break;
        }
        if (queued > AR__RECV_STREAM_HIGH) {
            res = STOP_PAUSE; /* stop reading until the caller drains */
            break;
        }
        ar__chunk *c = ar__alloc(sizeof *c + RECV_CHUNK);
        if (!c) {
            res = -ENOMEM; /* as io_uring's copy failing: the stream ends */
            break;
        }
        ssize_t n;
        do {
            n = recv(op->fd, c->data, RECV_CHUNK, MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            int err = errno;
            ar__free(c, sizeof *c + RECV_CHUNK);
            res = n == 0 ? 0 : again_or_err(err); /* 0: end of stream */
            break;
        }
        if ((size_t)n < RECV_CHUNK) {
            /* Chunks are freed by their length (sized free): shrink. */
            ar__chunk *s = ar__realloc(c, sizeof *c + RECV_CHUNK, sizeof *c + (size_t)n);
            if (!s) {
                ar__free(c, sizeof *c + RECV_CHUNK);
                res = -ENOMEM;
                break;
            }
            c = s;
        }
        c->next = NULL;
        c->len = (uint32_t)n;
        c->off = 0;
        ar__spin_lock(&op->lock);
        if (q->last)
            q->last->next = c;
        else
            q->first = c;
        q->last = c;
        q->bytes += c->len;
        ar__spin_unlock(&op->lock);
        pushed = true;
    }
    if (pushed && res == AGAIN)
        wake_multi(r, op); /* else complete_multi wakes it */
    return res;
}

/* One attempt at op: try_op, or a multishot op's round (see above). */
static int64_t attempt(ar__epoll *r, ar__op *op)
{
    switch (op->kind) {
    case AR__OP_ACCEPT_MULTI:
        return try_accept_multi(r, op);
    case AR__OP_RECV_MULTI:
        return try_recv_multi(r, op);
    default: {
        int inj;
        if (ar__fault_io_take(op->kind, &inj)) /* tests: an injected completion */
            return inj;
        return try_op(op);
    }
    }
}

/* Owner: a multishot op left its list; its multishot ends with res (see
 * above): the op is DONE for the stream, which re-arms it (backoff,
 * paused) or hands out the end after the queued items. */
static void complete_multi(ar__epoll *r, ar__op *op, int64_t res)
{
    ar__spin_lock(&op->lock);
    ar__msq *q = ar__op_msq(op);
    op->state = AR__OPS_DONE;
    op->cqe_flags = 0;
    bool orphan = op->orphaned, linked = op->in_stack;
    ar_waker w = AR_WAKER_NONE;
    if (!orphan) {
        int32_t e = res < INT32_MIN ? -EOVERFLOW : (int32_t)res;
        if (res == STOP_PAUSE) {
            q->paused = true;
        } else if (op->kind == AR__OP_ACCEPT_MULTI &&
                   (e == -EMFILE || e == -ENFILE || e == -ENOMEM || e == -ENOBUFS)) {
            q->backoff = true;
            op->res = e;
        } else {
            q->ended = true;
            op->res = e;
        }
        w = op->waker;
        op->waker = AR_WAKER_NONE;
    }
    ar__spin_unlock(&op->lock);
    if (orphan) {
        if (!linked)
            ar__op_release(op); /* closes the descriptors it queued */
    } else {
        r->woke = true;
        ar_waker_wake(w); /* safety: op may be freed by its future from here */
    }
}

/* ---- waiter lists ---- */

static int grow(ar__epoll *r, int fd)
{
    size_t n = r->nfds ? r->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    ep_fd *t = ar__realloc(r->fds, r->nfds * sizeof *t, n * sizeof *t);
    if (!t)
        return -ENOMEM;
    memset(t + r->nfds, 0, (n - r->nfds) * sizeof *t);
    r->fds = t;
    r->nfds = n;
    return 0;
}

static void list_push(ep_waiters *q, ar__op *op)
{
    op->wnext = NULL;
    op->wprev = q->tail;
    if (q->tail)
        q->tail->wnext = op;
    else
        q->head = op;
    q->tail = op;
}

static void list_unlink(ep_waiters *q, ar__op *op)
{
    if (op->wprev)
        op->wprev->wnext = op->wnext;
    else
        q->head = op->wnext;
    if (op->wnext)
        op->wnext->wprev = op->wprev;
    else
        q->tail = op->wprev;
    op->wprev = op->wnext = NULL;
}

/* (Re-)register fd (see the header comment for why at every wait). */
static int arm(ar__epoll *r, int fd)
{
    ep_fd *e = &r->fds[fd];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)fd};
    int first = e->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(r->epfd, first, fd, &ev) == 0) {
        e->added = true;
        return 0;
    }
    if (errno != ENOENT && errno != EEXIST)
        return -errno;
    int second = first == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(r->epfd, second, fd, &ev) == 0) {
        e->added = true;
        return 0;
    }
    return -errno;
}

static int arm(ar__epoll *r, int fd);
static void fail_dir(ar__epoll *r, int fd, int dir, int64_t res);

/* Retry the waiters of fd in direction dir until one would block. */
static void run_dir(ar__epoll *r, int fd, int dir)
{
    ep_waiters *q = &r->fds[fd].w[dir];
    ar__op *op;
    bool orphans = false;
    while ((op = q->head)) {
        ar__spin_lock(&op->lock);
        bool orphan = op->orphaned;
        ar__spin_unlock(&op->lock);
        /* An orphan is not tried (its recv would eat data nobody reads);
         * its cancel request is on the remote stack and frees it. */
        int64_t res = orphan ? -ECANCELED : attempt(r, op);
        if (res == AGAIN)
            break;
        orphans |= orphan;
        list_unlink(q, op);
        r->waiting--;
        complete(r, op, res);
    }
    /* The dropped op's descriptor may have been closed and its number
     * reused by the ops that queued behind it: register the file they
     * wait on (the event may have come from the old one). */
    if (orphans && q->head) {
        int rc = arm(r, fd);
        if (rc < 0)
            fail_dir(r, fd, dir, rc);
    }
}

/* Fail every waiter of fd in direction dir with res. */
static void fail_dir(ar__epoll *r, int fd, int dir, int64_t res)
{
    ep_waiters *q = &r->fds[fd].w[dir];
    ar__op *op;
    while ((op = q->head)) {
        list_unlink(q, op);
        r->waiting--;
        complete(r, op, res);
    }
}

/* Waiters remain behind an op that left out of turn: make sure they are
 * tried and that fd is registered for them. */
static void kick(ar__epoll *r, int fd, int dir)
{
    run_dir(r, fd, dir);
    if (r->fds[fd].w[dir].head) {
        int rc = arm(r, fd);
        if (rc < 0)
            fail_dir(r, fd, dir, rc);
    }
}

/* Owner: start op (state INFLIGHT). */
static void start(ar__epoll *r, ar__op *op)
{
    ar__reactor_count(&r->hdr.io_submitted);
    int dir = op_dir(op->kind);
    int fd = op->fd;
    if (dir != DIR_NONE && fd >= 0 && (size_t)fd < r->nfds && r->fds[fd].w[dir].head) {
        list_push(&r->fds[fd].w[dir], op); /* FIFO behind ops that wait */
        r->waiting++;
        return;
    }
    if (op->kind == AR__OP_CLOSE && fd >= 0 && (size_t)fd < r->nfds) {
        /* Ops still waiting on the descriptor would wait forever (epoll
         * forgets a closed file) and block the number's next user: they
         * fail with -EBADF (documented in io.h). */
        fail_dir(r, fd, DIR_RD, -EBADF);
        fail_dir(r, fd, DIR_WR, -EBADF);
    }
    int64_t res = attempt(r, op);
    if (res != AGAIN) {
        complete(r, op, res);
        return;
    }
    /* AGAIN implies a valid descriptor, so fd indexes the table. */
    if ((size_t)fd >= r->nfds && grow(r, fd) < 0) {
        complete(r, op, -ENOMEM);
        return;
    }
    /* This direction's list is empty (else we queued behind above): arm,
     * even when the other direction has waiters, which may be stale ones
     * of a closed file whose number this op's file reuses. */
    ep_fd *e = &r->fds[fd];
    list_push(&e->w[dir], op);
    r->waiting++;
    int rc = arm(r, fd);
    if (rc == 0)
        return;
    list_unlink(&e->w[dir], op);
    r->waiting--;
    /* EPERM: a descriptor epoll cannot watch (it should have been handled
     * as a file); do it the blocking way rather than fail (not a multishot
     * op, which would never return). */
    complete(r, op, rc == -EPERM && !is_multi(op) ? block_op(op) : rc);
}

/* Owner: op (orphaned, INFLIGHT, not linked on the remote stack) is
 * cancelled: take it off its list and free it. */
static void cancel_waiting(ar__epoll *r, ar__op *op)
{
    int dir = op_dir(op->kind), fd = op->fd;
    ep_waiters *q = &r->fds[fd].w[dir];
    bool was_head = q->head == op;
    list_unlink(q, op);
    r->waiting--;
    ar__spin_lock(&op->lock);
    op->res = -ECANCELED;
    op->state = AR__OPS_DONE;
    ar__spin_unlock(&op->lock);
    ar__op_release(op);
    if (was_head && q->head)
        kick(r, fd, dir);
}

/* ---- remote requests ---- */

static void push_remote(ar__epoll *r, ar__op *op)
{
    ar__op_stack_push(&r->remote, op);
    r->wake(r->wake_arg);
}

/* Owner: what other threads asked for.  start false (closing): a new
 * operation completes with -ECANCELED instead of starting. */
static void take_remote(ar__epoll *r, bool start_new)
{
    for (ar__op *op = ar__op_stack_take_fifo(&r->remote), *next; op; op = next) {
        next = op->next;
        bool orphan;
        uint8_t st = ar__op_unlink(op, &orphan);
        if (orphan) {
            if (st == AR__OPS_INFLIGHT)
                cancel_waiting(r, op);
            else
                ar__op_release(op); /* never started, or already done */
        } else if (st == AR__OPS_QUEUED) {
            if (start_new)
                start(r, op);
            else
                complete(r, op, -ECANCELED);
        }
    }
}

/* ---- the contract ---- */

int ar__epoll_new(ar__reactor **out, bool single_issuer, void (*wake)(void *), void *arg)
{
    (void)single_issuer; /* an epoll set may be driven from any thread */
    *out = NULL;
    ar__epoll *r = ar__calloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->hdr.backend = AR__BACKEND_EPOLL;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) {
        int rc = -errno;
        ar__free(r, sizeof *r);
        return rc;
    }
    r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_TAG};
    if (r->evfd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) < 0) {
        int rc = -errno;
        if (r->evfd >= 0)
            close(r->evfd);
        close(r->epfd);
        ar__free(r, sizeof *r);
        return rc;
    }
    r->wake = wake;
    r->wake_arg = arg;
    atomic_init(&r->remote, NULL);
    *out = (ar__reactor *)(void *)r;
    return 0;
}

int ar__epoll_enable(ar__reactor *r)
{
    (void)r;
    return 0;
}

bool ar__epoll_pending(ar__reactor *rr)
{
    ar__epoll *r = EP(rr);
    return r->waiting || atomic_load_explicit(&r->remote, memory_order_relaxed) != NULL;
}

static int timeout_ms(uint64_t ns)
{
    if (ns == UINT64_MAX)
        return -1;
    uint64_t ms = ns / 1000000u + (ns % 1000000u != 0); /* never early */
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void ar__epoll_turn(ar__reactor *rr, ar__parker *p, bool park, uint64_t timeout_ns)
{
    ar__epoll *r = EP(rr);
    r->woke = false;
    take_remote(r, true);
    if (park) {
        park = ar__park_begin(p); /* false: an unpark already arrived */
        /* Requests pushed before we were PARKED may not have written the
         * eventfd: look again. */
        take_remote(r, true);
    }
    /* A future woken above (an operation that completed at its start) may
     * be ours to run: do not sleep on it. */
    int tmo = park && !r->woke ? timeout_ms(timeout_ns) : 0;
    int n = epoll_wait(r->epfd, r->events, MAX_EVENTS, tmo);
    if (park)
        ar__park_end(p); /* consume the park (a late unpark leaves one
                          * spurious eventfd event) */
    for (int i = 0; i < n; i++) {
        uint64_t tag = r->events[i].data.u64;
        uint32_t ev = r->events[i].events;
        if (tag == EV_TAG) {
            uint64_t v;
            while (read(r->evfd, &v, sizeof v) > 0) {
            }
            continue;
        }
        int fd = (int)tag;
        if ((size_t)fd >= r->nfds)
            continue;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
            run_dir(r, fd, DIR_RD);
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            run_dir(r, fd, DIR_WR);
    }
}

void ar__epoll_unpark(ar__reactor *rr, ar__parker *p)
{
    ar__epoll *r = EP(rr);
    if (ar__unpark_mark(p)) {
        uint64_t one = 1;
        ssize_t n = write(r->evfd, &one, sizeof one);
        (void)n; /* EAGAIN: the counter is saturated, a wake is pending */
    }
}

void ar__epoll_submit(ar__reactor *rr, ar__op *op)
{
    ar__epoll *r = EP(rr);
    op->owner = rr;
    if (ar__tls_reactor == rr) {
        op->state = AR__OPS_INFLIGHT; /* not yet visible to anyone else */
        start(r, op);
        return;
    }
    op->state = AR__OPS_QUEUED;
    op->in_stack = true;
    push_remote(r, op);
}

void ar__epoll_drop_op(ar__op *op)
{
    ar__epoll *r = EP(op->owner);
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
        if (ar__tls_reactor == op->owner)
            cancel_here = true;
        else
            op->in_stack = push = true;
    }
    /* QUEUED or already linked: the owner sees `orphaned` when it unlinks. */
    ar__spin_unlock(&op->lock);
    if (cancel_here) {
        /* Still open (the caller drops before it closes): a socket we made
         * non-blocking for a connect gets its flags back. */
        if (op->kind == AR__OP_CONNECT && (op->ep_state & EPS_RESTORE))
            set_nonblock(op->fd, false);
        cancel_waiting(r, op);
    } else if (push) {
        push_remote(r, op);
    }
}

void ar__epoll_close(ar__reactor *rr)
{
    ar__epoll *r = EP(rr);
    if (r->closed)
        return;
    /* Nothing is in the kernel's hands: every waiting op completes now. */
    take_remote(r, false);
    for (size_t fd = 0; fd < r->nfds && r->waiting; fd++) {
        fail_dir(r, (int)fd, DIR_RD, -ECANCELED);
        fail_dir(r, (int)fd, DIR_WR, -ECANCELED);
    }
    close(r->epfd);
    r->epfd = -1;
    r->closed = true;
}

void ar__epoll_free(ar__reactor *rr)
{
    ar__epoll *r = EP(rr);
    ar__epoll_close(rr);
    /* Requests that arrived after closing: a live future is told
     * -ECANCELED; an orphan is freed. */
    take_remote(r, false);
    close(r->evfd);
    ar__free(r->fds, r->nfds * sizeof *r->fds);
    ar__free(r, sizeof *r);
}

/* As ar__uring_resubmit: a multishot op that its stream holds and whose
 * multishot ended (backoff, paused) starts again, on the owner (here, or
 * through the remote stack).  A closed reactor ends it with -ECANCELED
 * (requests pushed after close meet take_remote(r, false) in free). */
void ar__epoll_resubmit(ar__op *op)
{
    ar__epoll *r = EP(op->owner);
    ar__spin_lock(&op->lock);
    if (op->state != AR__OPS_DONE || op->orphaned || op->in_stack) {
        ar__spin_unlock(&op->lock);
        return;
    }
    bool here = ar__tls_reactor == op->owner;
    if (here) {
        op->state = AR__OPS_INFLIGHT;
    } else {
        op->state = AR__OPS_QUEUED;
        op->in_stack = true;
    }
    ar__spin_unlock(&op->lock);
    if (!here)
        push_remote(r, op);
    else if (r->closed)
        complete(r, op, -ECANCELED);
    else
        start(r, op);
}
