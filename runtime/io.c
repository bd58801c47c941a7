/*
 * runtime/io.c - ar_io: I/O operations as futures (see asyncrt/io.h) on the
 * reactor contract of reactor.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "asyncrt/io.h"
#include "reactor.h"
#include "rt.h"

enum { IO_INIT = 0, IO_SUBMITTED = 1, IO_DONE = 2 };

static void io_init(ar_io *io, uint16_t kind, int fd)
{
    memset(io, 0, sizeof *io);
    io->kind = kind;
    io->fd = fd;
    io->state = IO_INIT;
}

void ar_io_recv(ar_io *io, int fd, void *buf, size_t len, int flags)
{
    io_init(io, AR__OP_RECV, fd);
    io->buf = buf;
    io->len = len > AR_IO_MAX_LEN ? UINT32_MAX : (uint32_t)len;
    io->flags = flags;
}

void ar_io_send(ar_io *io, int fd, const void *buf, size_t len, int flags)
{
    io_init(io, AR__OP_SEND, fd);
    io->src = buf;
    io->len = len > AR_IO_MAX_LEN ? UINT32_MAX : (uint32_t)len;
    io->flags = flags;
}

void ar_io_read(ar_io *io, int fd, void *buf, size_t len, int64_t off)
{
    io_init(io, AR__OP_READ, fd);
    io->buf = buf;
    io->len = len > AR_IO_MAX_LEN ? UINT32_MAX : (uint32_t)len;
    io->off = (uint64_t)off;
}

void ar_io_read_lend(ar_io *io, int fd, size_t len, int64_t off)
{
    io_init(io, AR__OP_READ, fd);
    io->lend = 1;
    io->len = len > AR_IO_MAX_LEN ? UINT32_MAX : (uint32_t)len;
    io->off = (uint64_t)off;
}

const void *ar_io_lent(const ar_io *io)
{
    /* A completed lending read keeps its op (DONE, owned by the future
     * alone) in io->op until ar_io_drop. */
    if (!io || !io->lend || io->state != IO_DONE || !io->op || io->res < 0)
        return NULL;
    return io->op->data;
}

void ar_io_write(ar_io *io, int fd, const void *buf, size_t len, int64_t off)
{
    io_init(io, AR__OP_WRITE, fd);
    io->src = buf;
    io->len = len > AR_IO_MAX_LEN ? UINT32_MAX : (uint32_t)len;
    io->off = (uint64_t)off;
}

void ar_io_accept(ar_io *io, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    io_init(io, AR__OP_ACCEPT, fd);
    io->addr_out = addr;
    io->addrlen_io = addrlen;
    io->flags = flags;
}

void ar_io_connect(ar_io *io, int fd, const struct sockaddr *addr, socklen_t len)
{
    io_init(io, AR__OP_CONNECT, fd);
    io->addr_in = addr;
    io->len = len;
}

void ar_io_openat(ar_io *io, int dirfd, const char *path, int flags, mode_t mode)
{
    io_init(io, AR__OP_OPENAT, dirfd);
    io->src = path;
    io->flags = flags;
    io->mode = (uint32_t)mode;
}

void ar_io_close(ar_io *io, int fd) { io_init(io, AR__OP_CLOSE, fd); }

void ar_io_fsync(ar_io *io, int fd, unsigned flags)
{
    io_init(io, AR__OP_FSYNC, fd);
    io->flags = (int)flags;
}

void ar_io_shutdown(ar_io *io, int fd, int how)
{
    io_init(io, AR__OP_SHUTDOWN, fd);
    io->flags = how;
}

void ar_io_readv(ar_io *io, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    io_init(io, AR__OP_READV, fd);
    io->buf = (void *)(uintptr_t)iov; /* scattered into at completion */
    io->len = iovcnt < 0 || iovcnt > AR_IO_MAX_IOV ? UINT32_MAX : (uint32_t)iovcnt;
    io->off = (uint64_t)off;
}

void ar_io_writev(ar_io *io, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    io_init(io, AR__OP_WRITEV, fd);
    io->src = iov;
    io->len = iovcnt < 0 || iovcnt > AR_IO_MAX_IOV ? UINT32_MAX : (uint32_t)iovcnt;
    io->off = (uint64_t)off;
}

void ar_io_recvmsg(ar_io *io, int fd, struct msghdr *msg, int flags)
{
    io_init(io, AR__OP_RECVMSG, fd);
    io->buf = msg;
    io->flags = flags;
}

void ar_io_sendmsg(ar_io *io, int fd, const struct msghdr *msg, int flags)
{
    io_init(io, AR__OP_SENDMSG, fd);
    io->src = msg;
    io->flags = flags;
}

/* The reactor an operation polled on this thread goes to, or NULL. */
static ar__reactor *home_reactor(void)
{
    if (ar__tls_reactor)
        return ar__tls_reactor;
    ar_rt *rt = ar_rt_current();
    return rt ? rt->workers[0].reactor : NULL;
}

static ar_poll finish(ar_io *io, int64_t res)
{
    io->res = res;
    io->state = IO_DONE;
    return AR_READY;
}

/*
 * Layout of data[] for the vectored and message kinds (offsets rounded to
 * 16 so every part is aligned):
 *   [msghdr]            message kinds only
 *   [iovec x n]         pointing into the bytes area below
 *   [sockaddr_storage]  message kinds only: msg_name
 *   [control]           message kinds only: msg_control (msg_controllen)
 *   [bytes]             the sum of the caller's iov_len
 * The kernel reads/writes only this block; the caller's iovecs are read at
 * the first poll (send side: their bytes copied too) and written at
 * completion (receive side: the bytes scattered back).
 */
#define RND16(x) (((x) + 15u) & ~(size_t)15u)

typedef struct vec_layout {
    size_t hdr, iov, name, ctl, bytes, total, ctllen;
} vec_layout;

/* Validate an iovec array; *sum gets the total length. */
static int check_iov(const struct iovec *iov, size_t n, size_t *sum)
{
    if (n > AR_IO_MAX_IOV || (n && !iov))
        return -EINVAL;
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].iov_len && !iov[i].iov_base)
            return -EINVAL;
        if (iov[i].iov_len > AR_IO_MAX_LEN)
            return -EINVAL;
        t += iov[i].iov_len;
        if (t > AR_IO_MAX_LEN)
            return -EINVAL;
    }
    *sum = t;
    return 0;
}

static int vec_plan(ar_io *io, vec_layout *l, const struct iovec **iov, size_t *n)
{
    memset(l, 0, sizeof *l);
    bool msgk = io->kind == AR__OP_RECVMSG || io->kind == AR__OP_SENDMSG;
    if (msgk) {
        const struct msghdr *m = io->kind == AR__OP_RECVMSG ? io->buf : io->src;
        if (!m)
            return -EINVAL;
        if (m->msg_namelen > sizeof(struct sockaddr_storage) || (!m->msg_name && m->msg_namelen))
            return -EINVAL;
        if (m->msg_controllen > AR_IO_MAX_CONTROL || (!m->msg_control && m->msg_controllen))
            return -EINVAL;
        *iov = m->msg_iov;
        *n = m->msg_iovlen;
        l->ctllen = m->msg_controllen;
        l->hdr = RND16(sizeof(struct msghdr));
    } else {
        if (io->len == UINT32_MAX)
            return -EINVAL;
        *iov = io->kind == AR__OP_READV ? io->buf : io->src;
        *n = io->len;
    }
    size_t sum;
    int rc = check_iov(*iov, *n, &sum);
    if (rc)
        return rc;
    l->iov = RND16(*n * sizeof(struct iovec));
    if (msgk)
        l->name = RND16(sizeof(struct sockaddr_storage));
    l->ctl = RND16(l->ctllen);
    l->bytes = sum;
    l->total = l->hdr + l->iov + l->name + l->ctl + l->bytes;
    return 0;
}

/* Fill data[] of a vectored/message op (see the layout above). */
static void vec_fill(ar_io *io, ar__op *op, const vec_layout *l, const struct iovec *uiov,
                     size_t n)
{
    unsigned char *d = op->data;
    struct iovec *kiov = (struct iovec *)(void *)(d + l->hdr);
    unsigned char *name = d + l->hdr + l->iov;
    unsigned char *ctl = name + l->name;
    unsigned char *bytes = ctl + l->ctl;
    bool send = io->kind == AR__OP_WRITEV || io->kind == AR__OP_SENDMSG;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        kiov[i].iov_base = bytes + at;
        kiov[i].iov_len = uiov[i].iov_len;
        if (send && uiov[i].iov_len)
            memcpy(bytes + at, uiov[i].iov_base, uiov[i].iov_len);
        at += uiov[i].iov_len;
    }
    op->len = (uint32_t)n;
    if (io->kind == AR__OP_RECVMSG || io->kind == AR__OP_SENDMSG) {
        const struct msghdr *um = io->kind == AR__OP_RECVMSG ? io->buf : io->src;
        struct msghdr *km = (struct msghdr *)(void *)d;
        memset(km, 0, sizeof *km);
        km->msg_iov = kiov;
        km->msg_iovlen = n;
        if (um->msg_name) {
            km->msg_name = name;
            km->msg_namelen = um->msg_namelen;
            if (send)
                memcpy(name, um->msg_name, um->msg_namelen);
        }
        if (um->msg_control) {
            km->msg_control = ctl;
            km->msg_controllen = um->msg_controllen;
            if (send)
                memcpy(ctl, um->msg_control, um->msg_controllen);
        }
    }
}

/* Receive side: give the caller what the kernel wrote (res bytes). */
static void vec_copy_out(ar_io *io, ar__op *op)
{
    unsigned char *d = op->data;
    bool msgk = io->kind == AR__OP_RECVMSG;
    struct msghdr *um = msgk ? io->buf : NULL;
    const struct iovec *uiov = msgk ? um->msg_iov : io->buf;
    size_t hdr = msgk ? RND16(sizeof(struct msghdr)) : 0;
    const struct iovec *kiov = (const struct iovec *)(const void *)(d + hdr);
    size_t left = op->res > 0 ? (size_t)op->res : 0;
    for (size_t i = 0; i < op->len && left; i++) {
        size_t k = kiov[i].iov_len < left ? kiov[i].iov_len : left;
        if (k)
            memcpy(uiov[i].iov_base, kiov[i].iov_base, k);
        left -= k;
    }
    if (!msgk || op->res < 0)
        return;
    const struct msghdr *km = (const struct msghdr *)(const void *)d;
    if (um->msg_name) {
        socklen_t k = km->msg_namelen < um->msg_namelen ? km->msg_namelen : um->msg_namelen;
        memcpy(um->msg_name, km->msg_name, k);
        um->msg_namelen = km->msg_namelen;
    }
    if (um->msg_control) {
        size_t k = km->msg_controllen < um->msg_controllen ? km->msg_controllen
                                                           : um->msg_controllen;
        memcpy(um->msg_control, km->msg_control, k);
        um->msg_controllen = k;
    }
    um->msg_flags = km->msg_flags;
}

/* Build the op: validate, copy what the kernel will read. */
static int64_t make_op(ar_io *io, ar__op **out)
{
    size_t data = 0;
    switch (io->kind) {
    case AR__OP_READV:
    case AR__OP_WRITEV:
    case AR__OP_RECVMSG:
    case AR__OP_SENDMSG: {
        vec_layout l;
        const struct iovec *uiov = NULL;
        size_t n = 0;
        int rc = vec_plan(io, &l, &uiov, &n);
        if (rc)
            return rc;
        ar__op *op = ar__op_new((uint8_t)io->kind, l.total);
        if (!op)
            return -ENOMEM;
        op->fd = io->fd;
        /* MSG_NOSIGNAL: a reset peer gives -EPIPE, never a SIGPIPE that
         * kills the process. */
        op->flags = io->kind == AR__OP_SENDMSG ? io->flags | MSG_NOSIGNAL : io->flags;
        op->off = io->off;
        vec_fill(io, op, &l, uiov, n);
        *out = op;
        return 0;
    }
    case AR__OP_RECV:
    case AR__OP_READ:
        if (io->len == UINT32_MAX || (!io->buf && io->len && !io->lend))
            return -EINVAL;
        data = io->len;
        break;
    case AR__OP_SEND:
    case AR__OP_WRITE:
        if (io->len == UINT32_MAX || (!io->src && io->len))
            return -EINVAL;
        data = io->len;
        break;
    case AR__OP_OPENAT:
        if (!io->src)
            return -EINVAL;
        data = strlen(io->src) + 1;
        if (data > 4096)
            return -ENAMETOOLONG;
        break;
    case AR__OP_CONNECT:
        if (!io->addr_in || io->len == 0 || io->len > sizeof(struct sockaddr_storage))
            return -EINVAL;
        break;
    case AR__OP_ACCEPT:
        if (io->addr_out && !io->addrlen_io)
            return -EINVAL;
        break;
    case AR__OP_CLOSE:
    case AR__OP_FSYNC:
    case AR__OP_SHUTDOWN:
        break;
    default:
        return -EINVAL;
    }
    ar__op *op = ar__op_new((uint8_t)io->kind, data);
    if (!op)
        return -ENOMEM;
    op->fd = io->fd;
    /* MSG_NOSIGNAL: see the message kinds above. */
    op->flags = io->kind == AR__OP_SEND ? io->flags | MSG_NOSIGNAL : io->flags;
    op->len = io->len;
    op->off = io->off;
    op->mode = io->mode;
    if (io->kind == AR__OP_SEND || io->kind == AR__OP_WRITE || io->kind == AR__OP_OPENAT) {
        if (data)
            memcpy(op->data, io->src, data);
    } else if (io->kind == AR__OP_CONNECT) {
        memcpy(&op->addr, io->addr_in, io->len);
        op->addrlen = (socklen_t)io->len;
    }
    *out = op;
    return 0;
}

static void copy_out(ar_io *io, ar__op *op)
{
    if (io->kind == AR__OP_READV || io->kind == AR__OP_RECVMSG) {
        vec_copy_out(io, op);
        return;
    }
    if ((io->kind == AR__OP_RECV || io->kind == AR__OP_READ) && op->res > 0)
        memcpy(io->buf, op->data, (size_t)op->res);
    if (io->kind == AR__OP_ACCEPT && op->res >= 0 && io->addr_out) {
        socklen_t n = op->addrlen < *io->addrlen_io ? op->addrlen : *io->addrlen_io;
        memcpy(io->addr_out, &op->addr, n);
        *io->addrlen_io = op->addrlen;
    }
}

ar_poll ar_io_poll(ar_io *io, ar_cx *cx)
{
    if (!io)
        return AR_READY;
    if (io->state == IO_DONE)
        return AR_READY;
    if (!cx)
        return finish(io, -EINVAL);
    if (io->state == IO_INIT) {
        ar__reactor *r = home_reactor();
        if (!r)
            return finish(io, -ENOSYS);
        /* A zero-length recv/read completes at once with 0: the kernel
         * would wait for a byte on a stream socket (SO_RCVLOWAT is at
         * least 1) and the caller asked for none. */
        if ((io->kind == AR__OP_RECV || io->kind == AR__OP_READ) && io->len == 0)
            return finish(io, 0);
        ar__op *op = NULL;
        int64_t rc = make_op(io, &op);
        if (rc)
            return finish(io, rc);
        op->waker = ar_waker_clone(cx->waker);
        io->op = op;
        io->state = IO_SUBMITTED;
        ar__reactor_submit(r, op);
        return AR_PENDING;
    }
    ar__op *op = io->op;
    ar__spin_lock(&op->lock);
    if (op->state == AR__OPS_DONE) {
        ar__spin_unlock(&op->lock);
        int64_t res = op->res;
        if (io->lend)
            return finish(io, res); /* keeps op: ar_io_lent, ar_io_drop */
        copy_out(io, op);
        io->op = NULL;
        ar__op_release(op);
        return finish(io, res);
    }
    ar_waker old = ar__op_register_waker(op, cx);
    ar__spin_unlock(&op->lock);
    ar_waker_drop(old);
    return AR_PENDING;
}

void ar_io_drop(ar_io *io)
{
    if (!io)
        return;
    if (io->state == IO_SUBMITTED && io->op) {
        ar__reactor_drop_op(io->op);
        io->op = NULL;
    } else if (io->state == IO_DONE && io->op) {
        /* A lending read gives its memory back: DONE and not orphaned, the
         * op is the future's alone (op.h). */
        ar__op_release(io->op);
        io->op = NULL;
    }
    io->state = IO_DONE;
    if (io->res == 0)
        io->res = -ECANCELED;
}
