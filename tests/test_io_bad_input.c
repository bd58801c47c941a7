/*
 * tests/test_io_bad_input.c - every I/O operation given bad input answers
 * with -errno (ours: -EINVAL for what we can check; the kernel's
 * otherwise) and never crashes or hangs: closed and foreign descriptors,
 * zero lengths, NULL addresses, unreachable addresses.
 */
#include "helpers.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct one_io { ar_io io; } one_io;
static ar_poll one_io_poll(void *p, ar_cx *cx) { return ar_io_poll(&((one_io *)p)->io, cx); }
static const ar_future_vt one_io_vt = AR_FUTURE_VT_VOID(one_io, one_io_poll, NULL);

static int64_t run_io(ar_rt *rt, one_io *o)
{
    T_OK(ar_block_on(rt, &one_io_vt, o));
    return o->io.res;
}

Test(io_bad_input, closed_and_foreign_descriptors, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static one_io o;
    char b[8];
    int dead = dup(0);
    close(dead);
    ar_io_recv(&o.io, dead, b, sizeof b, 0);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    ar_io_send(&o.io, dead, "x", 1, 0);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    ar_io_accept(&o.io, dead, NULL, NULL, 0);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    ar_io_read(&o.io, -1, b, sizeof b, 0);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    /* A descriptor of the wrong kind: a pipe given to socket calls. */
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    ar_io_recv(&o.io, pfd[0], b, sizeof b, 0);
    T_EQ_INT(run_io(rt, &o), -ENOTSOCK);
    ar_io_send(&o.io, pfd[1], "x", 1, 0);
    T_EQ_INT(run_io(rt, &o), -ENOTSOCK);
    ar_io_accept(&o.io, pfd[0], NULL, NULL, 0);
    T_EQ_INT(run_io(rt, &o), -ENOTSOCK);
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", 9, &ss);
    ar_io_connect(&o.io, pfd[0], (struct sockaddr *)&ss, (socklen_t)len);
    T_EQ_INT(run_io(rt, &o), -ENOTSOCK);
    /* Writing a read-only end, reading a write-only one. */
    ar_io_write(&o.io, pfd[0], "x", 1, -1);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    close(pfd[0]);
    close(pfd[1]);
    ar_rt_free(rt);
}

Test(io_bad_input, zero_lengths_complete_with_zero, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static one_io o;
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char b[4];
    /* No data is waiting: a zero-length recv must not wait for some. */
    ar_io_recv(&o.io, sv[0], b, 0, 0);
    T_EQ_INT(run_io(rt, &o), 0);
    ar_io_recv(&o.io, sv[0], NULL, 0, 0);
    T_EQ_INT(run_io(rt, &o), 0);
    ar_io_send(&o.io, sv[0], NULL, 0, 0);
    T_EQ_INT(run_io(rt, &o), 0);
    ar_io_read(&o.io, sv[0], b, 0, -1);
    T_EQ_INT(run_io(rt, &o), 0);
    ar_io_write(&o.io, sv[0], NULL, 0, -1);
    T_EQ_INT(run_io(rt, &o), 0);
    close(sv[0]);
    close(sv[1]);
    ar_rt_free(rt);
}

Test(io_bad_input, null_and_unreachable_addresses, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static one_io o;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ar_io_connect(&o.io, s, NULL, 16);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", 9, &ss);
    ar_io_connect(&o.io, s, (struct sockaddr *)&ss, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    ar_io_connect(&o.io, s, (struct sockaddr *)&ss, sizeof ss + 1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    /* An address buffer without its length. */
    int lfd = ar_tcp_listen("127.0.0.1", 0, 4);
    ar_io_accept(&o.io, lfd, (struct sockaddr *)&ss, NULL, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    /* TCP to a multicast address: no route for it, at once. */
    len = ar_sockaddr_from("224.0.0.1", 80, &ss);
    ar_io_connect(&o.io, s, (struct sockaddr *)&ss, (socklen_t)len);
    T_EQ_INT(run_io(rt, &o), -ENETUNREACH);
    /* An address of the wrong family for the socket. */
    len = ar_sockaddr_from("::1", 80, &ss);
    ar_io_connect(&o.io, s, (struct sockaddr *)&ss, (socklen_t)len);
    T_EQ_INT(run_io(rt, &o), -EAFNOSUPPORT);
    /* The helpers: NULL output, bad text. */
    T_EQ_INT(ar_sockaddr_from("127.0.0.1", 1, NULL), -EINVAL);
    T_EQ_INT(ar_sockaddr_from("not an address", 1, &ss), -EINVAL);
    ar_tcp_connect c;
    ar_tcp_connect_init(&c, "nonsense", 80);
    T_EQ_INT(c.res, -EINVAL);
    ar_tcp_connect_drop(&c);
    close(lfd);
    close(s);
    ar_rt_free(rt);
}

/* Peer reset in the middle of a large transfer: the sender sees -EPIPE or
 * -ECONNRESET (never SIGPIPE, flags 0), the receiver -ECONNRESET. */
typedef struct blaster { ar_co co; int fd; ar_io io; int64_t last; long sent; } blaster;
static ar_poll blaster_poll(void *p, ar_cx *cx)
{
    static char chunk[65536];
    blaster *self = p;
    AR_BEGIN(&self->co);
    for (;;) {
        ar_io_send(&self->io, self->fd, chunk, sizeof chunk, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        self->last = self->io.res;
        if (self->io.res <= 0)
            break;
        self->sent += (long)self->io.res;
    }
    AR_END;
}
static const ar_future_vt blaster_vt = AR_FUTURE_VT(blaster, blaster_poll, NULL, last);

Test(io_bad_input, peer_reset_mid_transfer, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 4);
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", (uint16_t)ar_tcp_local_port(lfd), &ss);
    int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(a, (struct sockaddr *)&ss, (socklen_t)len), 0);
    int b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(b, 0);
    blaster bl = {.fd = a};
    ar_join h;
    T_OK(ar_spawn(rt, &blaster_vt, &bl, &h));
    /* Take a little, then reset with data unread. */
    char buf[4096];
    cr_assert_gt(read(b, buf, sizeof buf), 0);
    struct linger lg = {1, 0};
    setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(b);
    int64_t last = 0;
    T_OK(ar_join_wait(&h, &last, sizeof last));
    cr_assert(t_is(last == -EPIPE || last == -ECONNRESET), "send after reset: %lld",
              (long long)last);
    close(a);
    close(lfd);
    ar_rt_free(rt);
}
