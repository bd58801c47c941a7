/*
 * runtime/io.c - ar_io: I/O operations as futures (see asyncrt/io.h) on the
 * reactor contract of reactor.h.
 */
#include <errno.h>
#include <string.h>

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

/* Build the op: validate, copy what the kernel will read. */
static int64_t make_op(ar_io *io, ar__op **out)
{
    size_t data = 0;
    switch (io->kind) {
    case AR__OP_RECV:
    case AR__OP_READ:
        if (io->len == UINT32_MAX || (!io->buf && io->len))
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
    op->flags = io->flags;
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
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&op->lock);
    if (op->state == AR__OPS_DONE) {
        ar__spin_unlock(&op->lock);
        copy_out(io, op);
        int64_t res = op->res;
        io->op = NULL;
        ar__op_release(op);
        return finish(io, res);
    }
    if (!ar_waker_will_wake(op->waker, cx->waker)) {
        old = op->waker;
        op->waker = ar_waker_clone(cx->waker);
    }
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
    }
    io->state = IO_DONE;
    if (io->res == 0)
        io->res = -ECANCELED;
}
