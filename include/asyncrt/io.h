/*
 * asyncrt/io.h - I/O operations as futures, driven by io_uring (or epoll).
 *
 * One future type, ar_io, for every operation: initialise it with one of
 * the ar_io_* calls below, poll it with ar_io_poll until AR_READY, then read
 * io->res: a byte count (recv/send/read/write), a new descriptor (accept,
 * openat), 0 (connect, close, fsync, shutdown) or -errno, exactly as the
 * kernel reports it.  ar_io is embedded by value (about 80 bytes) and
 * costs one allocation per operation, which holds everything the kernel
 * reads or writes.
 *
 * Safety of buffers: data to send/write is copied when the operation is
 * first polled (the caller's buffer is free from then on); data received is
 * copied into the caller's buffer when the future completes.  So dropping
 * an operation in flight (ar_io_drop) is always safe: the reactor cancels
 * it and keeps its memory until the kernel is done; a descriptor produced
 * by a cancelled accept or openat is closed, not leaked.
 *
 * The operation is submitted to the reactor of the worker that first polls
 * it (from a plain thread in ar_block_on: worker 0's) and completes there;
 * the task may have moved to another worker meanwhile and is woken wherever
 * it is.
 *
 * Backends.  A runtime drives its I/O with io_uring, or with an epoll
 * fallback where io_uring cannot be set up (seccomp's EPERM in containers,
 * ENOSYS, the kernel.io_uring_disabled sysctl).  The choice is made once,
 * in ar_rt_new: ar_rt_opts.backend, else the environment variable
 * AR_BACKEND=uring|epoll|auto, else automatic, which logs one line on
 * stderr when it falls back (asyncrt/runtime.h has the details, including
 * a forced io_uring that is unavailable: ar_rt_new fails).
 * ar_rt_io_backend(rt) says which one a runtime got.  Results are the same
 * on both (byte counts, descriptors, -errno as the syscalls give them);
 * what differs on epoll:
 *   - Pollable descriptors (sockets, pipes, terminals): the operation tries
 *     the syscall without blocking (recv/send and recvmsg/sendmsg with
 *     MSG_DONTWAIT, read/write and readv/writev with RWF_NOWAIT) and, when
 *     it would block, waits for readiness in the worker's epoll set, then
 *     retries.  The descriptor's own flags are left alone, except:
 *   - accept switches the listening socket to O_NONBLOCK, for good (a
 *     blocking accept after a readiness check could hang a worker when
 *     several accept on one listener).  O_NONBLOCK is a file status flag,
 *     shared by every descriptor of that socket.  Accepted sockets get
 *     exactly the flags asked for.
 *   - connect on a blocking socket makes it O_NONBLOCK while it connects
 *     (the kernel only connects in the background on such a socket) and
 *     blocking again when the connect completes, or is dropped on the
 *     worker that owns it; a connect dropped from another thread leaves the
 *     socket non-blocking.  ar_tcp_connect's socket ends up blocking, as
 *     on io_uring.
 *   - recvmsg with MSG_WAITALL returns what has arrived when it is tried
 *     (the kernel does not wait without blocking); io_uring waits for the
 *     whole length.  recv with MSG_WAITALL waits on both.
 *   - Regular files and block devices have no readiness: read, write,
 *     readv, writev, fsync, openat and close run synchronously on the worker that polls
 *     them (a slow disk stalls that worker for the call).  This is the
 *     fallback's limitation; io_uring's file I/O is asynchronous.
 *   - Do not close(2) a descriptor while an operation waits on it: epoll
 *     forgets a closed file, so the operation waits until it is dropped,
 *     and a retry could run on a new descriptor that reuses the number.
 *     Drop the operations first, or close with ar_io_close, which fails
 *     the operations waiting on that descriptor in the reactor that runs
 *     the close (the worker polling it) with -EBADF.  (On io_uring a
 *     waiting operation keeps the file open and goes on waiting.)
 *   - Concurrent operations of one direction on one descriptor (two recvs)
 *     are served in the order they started to wait, within one worker.
 *
 * Streams of results from one armed operation (multishot accept, multishot
 * recv with provided buffers) are in asyncrt/stream.h, on both backends
 * (what differs on epoll is listed there).
 */
#ifndef ASYNCRT_IO_H
#define ASYNCRT_IO_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest buffer one operation takes (larger requests are refused). */
#define AR_IO_MAX_LEN (64u << 20)
/* Most iovecs one readv/writev/recvmsg/sendmsg takes (IOV_MAX). */
#define AR_IO_MAX_IOV 1024
/* Largest msg_control area of recvmsg/sendmsg. */
#define AR_IO_MAX_CONTROL 1024u

typedef struct ar_io {
    struct ar__op *op; /* private */
    int64_t res;       /* result once ready */
    void *buf;         /* private: caller's buffer (recv/read target) */
    const void *src;   /* private: send/write source until first poll */
    struct sockaddr *addr_out; /* private: accept's peer address */
    socklen_t *addrlen_io;     /* private */
    const struct sockaddr *addr_in; /* private: connect's address */
    uint64_t off;
    uint32_t len;
    int fd;
    int flags;
    uint32_t mode;
    uint16_t kind;
    uint16_t state; /* private: init, submitted, done */
    uint32_t lend;  /* private: a lending read (ar_io_read_lend) */
} ar_io;

/* Receive up to len bytes (recv(2) flags).  len 0 completes at once with
 * res 0 and consumes nothing (also for ar_io_read). */
AR_EXTERN void ar_io_recv(ar_io *io, int fd, void *buf, size_t len, int flags);
/* Send len bytes of buf (copied at the first poll).  MSG_NOSIGNAL is always
 * added: a reset peer gives -EPIPE or -ECONNRESET, never SIGPIPE. */
AR_EXTERN void ar_io_send(ar_io *io, int fd, const void *buf, size_t len, int flags);
/* Read/write at offset off (-1: the file position, as for pipes/sockets). */
AR_EXTERN void ar_io_read(ar_io *io, int fd, void *buf, size_t len, int64_t off);
AR_EXTERN void ar_io_write(ar_io *io, int fd, const void *buf, size_t len, int64_t off);

/*
 * A read with no copy: the bytes stay in the operation's own memory, where
 * the kernel put them, and the future lends them to the caller once ready:
 * ar_io_lent(io) points at io->res bytes.  They stay valid until
 * ar_io_drop(io), which gives the memory back; call it before the ar_io is
 * initialised again, or the memory leaks.  Dropping it in flight is as safe
 * as for any operation.  For reading large amounts (files) without paying
 * a copy per block.
 */
AR_EXTERN void ar_io_read_lend(ar_io *io, int fd, size_t len, int64_t off);
/* The bytes a completed lending read holds (io->res of them), or NULL (not
 * a lending read, not complete, failed, or dropped). */
AR_EXTERN const void *ar_io_lent(const ar_io *io);
/*
 * Vectored read/write at offset off (-1: the file position; sockets and
 * pipes take -1).  res: bytes transferred or -errno.  writev copies the
 * bytes of every iovec at the first poll (iov and its buffers are free from
 * then on); readv scatters the received bytes into iov's buffers when the
 * future completes, so iov and its buffers must stay valid until then.
 * iovcnt beyond AR_IO_MAX_IOV, a negative iovcnt, iov NULL with iovcnt > 0,
 * a NULL iov_base with iov_len > 0 or more than AR_IO_MAX_LEN bytes in all
 * give -EINVAL.  Zero bytes in all is allowed (res 0).  Note: writev to a
 * socket whose peer is gone behaves like write(2) and may raise SIGPIPE;
 * use ar_io_sendmsg (which always sets MSG_NOSIGNAL) on sockets.
 */
AR_EXTERN void ar_io_readv(ar_io *io, int fd, const struct iovec *iov, int iovcnt, int64_t off);
AR_EXTERN void ar_io_writev(ar_io *io, int fd, const struct iovec *iov, int iovcnt, int64_t off);

/*
 * recvmsg/sendmsg, for UDP above all (msg_name carries the peer).  sendmsg
 * copies the name, the control area and the bytes at the first poll, and
 * always adds MSG_NOSIGNAL.  recvmsg keeps msg (and what it points to:
 * msg_iov, msg_name, msg_control) until the future completes, then writes
 * the bytes into msg_iov, the peer address into msg_name (at most the
 * msg_namelen the caller gave; msg_namelen is set to the address's real
 * length, as recvmsg(2) does), the control data (msg_controllen set to what
 * was copied) and msg_flags (MSG_TRUNC...).  res: bytes or -errno.  A NULL
 * msg, msg_namelen > sizeof(struct sockaddr_storage), a NULL name or control
 * with a non-zero length, msg_controllen > AR_IO_MAX_CONTROL and the iovec
 * rules of readv give -EINVAL.
 */
AR_EXTERN void ar_io_recvmsg(ar_io *io, int fd, struct msghdr *msg, int flags);
AR_EXTERN void ar_io_sendmsg(ar_io *io, int fd, const struct msghdr *msg, int flags);

/* Accept a connection; addr/addrlen may be NULL.  flags: SOCK_CLOEXEC... */
AR_EXTERN void ar_io_accept(ar_io *io, int fd, struct sockaddr *addr, socklen_t *addrlen,
                            int flags);
/* Connect fd to addr (copied at the first poll). */
AR_EXTERN void ar_io_connect(ar_io *io, int fd, const struct sockaddr *addr, socklen_t len);
/* Open path relative to dirfd (AT_FDCWD); path is copied at the first poll. */
AR_EXTERN void ar_io_openat(ar_io *io, int dirfd, const char *path, int flags, mode_t mode);
AR_EXTERN void ar_io_close(ar_io *io, int fd);
/* flags: 0 or IORING_FSYNC_DATASYNC (1: fdatasync on epoll). */
AR_EXTERN void ar_io_fsync(ar_io *io, int fd, unsigned flags);
AR_EXTERN void ar_io_shutdown(ar_io *io, int fd, int how);

/* AR_READY when done; the result is in io->res.  Bad parameters (NULL
 * buffer with len > 0, len > AR_IO_MAX_LEN, unknown kind) give -EINVAL, out
 * of memory -ENOMEM, polled outside any runtime (or an operation the
 * backend lacks) -ENOSYS, all as io->res. */
AR_EXTERN ar_poll ar_io_poll(ar_io *io, ar_cx *cx);

/* Abandon the operation (cancel it if in flight).  Safe in any state, as
 * long as the runtime it was polled on still exists: drop I/O futures (and
 * streams) held outside tasks before ar_rt_free (after ar_rt_shutdown is
 * fine); tasks' own futures are dropped by the shutdown. */
AR_EXTERN void ar_io_drop(ar_io *io);

/* ---- TCP helpers ---------------------------------------------------- */

/* A listening TCP socket on a numeric IPv4 or IPv6 address ("0.0.0.0",
 * "::1", NULL = "127.0.0.1"), SO_REUSEADDR, CLOEXEC.  port 0 picks a free
 * port (see ar_tcp_local_port).  Returns the descriptor or -errno. */
AR_EXTERN int ar_tcp_listen(const char *ip, uint16_t port, int backlog);
/* The local port of a bound socket, or -errno. */
AR_EXTERN int ar_tcp_local_port(int fd);
/* Fill *ss from a numeric address and port.  Returns its length or -EINVAL. */
AR_EXTERN int ar_sockaddr_from(const char *ip, uint16_t port, struct sockaddr_storage *ss);

/* Future: connect a new TCP socket to ip:port.  When ready, res is the
 * connected descriptor (TCP_NODELAY set) or -errno (no descriptor left). */
typedef struct ar_tcp_connect {
    ar_io io;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int fd;
    int res;
    int started;
} ar_tcp_connect;

AR_EXTERN void ar_tcp_connect_init(ar_tcp_connect *c, const char *ip, uint16_t port);
AR_EXTERN ar_poll ar_tcp_connect_poll(ar_tcp_connect *c, ar_cx *cx);
AR_EXTERN void ar_tcp_connect_drop(ar_tcp_connect *c);

#ifdef __cplusplus
}
#endif

#endif
