/*
 * tests/test_udp.c - recvmsg/sendmsg over UDP: an echo server task that
 * answers each datagram to the address recvmsg reported, over IPv4 and
 * IPv6, checking every byte and the peer address; truncation flags; bad
 * input (NULL message, oversized name, no destination, not a socket).
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int udp_socket(const char *ip, struct sockaddr_storage *ss, socklen_t *len)
{
    int l = ar_sockaddr_from(ip, 0, ss);
    cr_assert_gt(l, 0);
    int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)ss, (socklen_t)l), 0, "bind %s", ip);
    *len = sizeof *ss;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)ss, len), 0);
    return fd;
}

/* ---- echo server: recvmsg, then sendmsg back to msg_name ---- */
typedef struct udp_echo {
    ar_co co;
    int fd, n, i;
    ar_io io;
    struct sockaddr_storage peer;
    struct msghdr msg;
    struct iovec iov;
    char buf[2048];
    int64_t len;
} udp_echo;

static ar_poll udp_echo_poll(void *p, ar_cx *cx)
{
    udp_echo *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        memset(&self->msg, 0, sizeof self->msg);
        self->iov = (struct iovec){self->buf, sizeof self->buf};
        self->msg.msg_iov = &self->iov;
        self->msg.msg_iovlen = 1;
        self->msg.msg_name = &self->peer;
        self->msg.msg_namelen = sizeof self->peer;
        ar_io_recvmsg(&self->io, self->fd, &self->msg, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_CHECK(self->io.res >= 0);
        if (self->io.res < 0)
            break;
        self->len = self->io.res;
        /* Same msghdr: name (as recvmsg filled it) and the bytes. */
        self->iov.iov_len = (size_t)self->len;
        ar_io_sendmsg(&self->io, self->fd, &self->msg, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, self->len);
    }
    AR_END;
}
static void udp_echo_drop(void *p) { ar_io_drop(&((udp_echo *)p)->io); }
static const ar_future_vt udp_echo_vt = AR_FUTURE_VT_VOID(udp_echo, udp_echo_poll, udp_echo_drop);

/* ---- client: K datagrams of varying size split over two iovecs, each
 * echo checked byte for byte and its source address checked ---- */
typedef struct udp_client {
    ar_co co;
    int fd, k, id;
    struct sockaddr_storage server, from;
    socklen_t server_len;
    ar_io io;
    struct msghdr msg;
    struct iovec iov[2];
    unsigned char out[1500], in[1600];
    size_t len;
    _Atomic long *ok;
} udp_client;

static ar_poll udp_client_poll(void *p, ar_cx *cx)
{
    udp_client *self = p;
    AR_BEGIN(&self->co);
    for (self->k = 0; self->k < 50; self->k++) {
        self->len = 1 + (size_t)(self->k * 29 + self->id * 13) % sizeof self->out;
        for (size_t b = 0; b < self->len; b++)
            self->out[b] = (unsigned char)(self->id * 31 + self->k * 7 + (int)b);
        memset(&self->msg, 0, sizeof self->msg);
        self->iov[0] = (struct iovec){self->out, self->len / 2};
        self->iov[1] = (struct iovec){self->out + self->len / 2, self->len - self->len / 2};
        self->msg.msg_iov = self->iov;
        self->msg.msg_iovlen = 2;
        self->msg.msg_name = &self->server;
        self->msg.msg_namelen = self->server_len;
        ar_io_sendmsg(&self->io, self->fd, &self->msg, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, (long long)self->len);
        memset(&self->msg, 0, sizeof self->msg);
        memset(&self->from, 0, sizeof self->from);
        self->iov[0] = (struct iovec){self->in, 100};
        self->iov[1] = (struct iovec){self->in + 100, sizeof self->in - 100};
        self->msg.msg_iov = self->iov;
        self->msg.msg_iovlen = 2;
        self->msg.msg_name = &self->from;
        self->msg.msg_namelen = sizeof self->from;
        ar_io_recvmsg(&self->io, self->fd, &self->msg, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, (long long)self->len);
        T_BG_EQ(self->msg.msg_namelen, self->server_len);
        T_BG_CHECK(memcmp(&self->from, &self->server, self->server_len) == 0);
        T_BG_EQ(self->msg.msg_flags & MSG_TRUNC, 0);
        if (self->io.res == (int64_t)self->len && memcmp(self->in, self->out, self->len) == 0 &&
            memcmp(&self->from, &self->server, self->server_len) == 0)
            atomic_fetch_add(self->ok, 1);
    }
    AR_END;
}
static void udp_client_drop(void *p) { ar_io_drop(&((udp_client *)p)->io); }
static const ar_future_vt udp_client_vt = AR_FUTURE_VT_VOID(udp_client, udp_client_poll, udp_client_drop);

static void run_udp_echo(const char *ip)
{
    ar_rt *rt = t_rt_mt(2);
    struct sockaddr_storage ss;
    socklen_t sl;
    int sfd = udp_socket(ip, &ss, &sl);
    enum { NCLI = 8 };
    udp_echo e = {.fd = sfd, .n = NCLI * 50};
    ar_join he;
    T_OK(ar_spawn(rt, &udp_echo_vt, &e, &he));
    _Atomic long ok = 0;
    ar_join hc[NCLI];
    int cfd[NCLI];
    for (int i = 0; i < NCLI; i++) {
        struct sockaddr_storage cs;
        socklen_t cl;
        cfd[i] = udp_socket(ip, &cs, &cl);
        udp_client c = {.fd = cfd[i], .id = i, .server = ss, .server_len = sl, .ok = &ok};
        T_OK(ar_spawn(rt, &udp_client_vt, &c, &hc[i]));
    }
    for (int i = 0; i < NCLI; i++)
        T_OK(ar_join_wait(&hc[i], NULL, 0));
    T_OK(ar_join_wait(&he, NULL, 0));
    T_EQ_INT(atomic_load(&ok), NCLI * 50);
    T_BG_ASSERT_CLEAN();
    for (int i = 0; i < NCLI; i++)
        close(cfd[i]);
    close(sfd);
    ar_rt_free(rt);
}

Test(udp, echo_ipv4_checks_bytes_and_peer, .timeout = 60) { run_udp_echo("127.0.0.1"); }

Test(udp, echo_ipv6_checks_bytes_and_peer, .timeout = 60)
{
    int probe = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof a) < 0) {
        if (probe >= 0)
            close(probe);
        cr_skip_test("no IPv6 loopback here");
    }
    close(probe);
    run_udp_echo("::1");
}

/* One operation run from the test thread. */
typedef struct one_io { ar_io io; } one_io;
static ar_poll one_io_poll(void *p, ar_cx *cx) { return ar_io_poll(&((one_io *)p)->io, cx); }
static const ar_future_vt one_io_vt = AR_FUTURE_VT_VOID(one_io, one_io_poll, NULL);
static int64_t run_io(ar_rt *rt, one_io *o)
{
    T_OK(ar_block_on(rt, &one_io_vt, o));
    return o->io.res;
}

Test(udp, truncation_small_name_buffer_and_bad_input, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    struct sockaddr_storage sa, sb;
    socklen_t la, lb;
    int a = udp_socket("127.0.0.1", &sa, &la);
    int b = udp_socket("127.0.0.1", &sb, &lb);
    static one_io o;
    char big[100];
    memset(big, 'z', sizeof big);
    struct iovec iov = {big, sizeof big};
    struct msghdr m = {.msg_name = &sb, .msg_namelen = lb, .msg_iov = &iov, .msg_iovlen = 1};
    ar_io_sendmsg(&o.io, a, &m, 0);
    T_EQ_INT(run_io(rt, &o), 100);
    /* A 10-byte buffer: MSG_TRUNC; a 4-byte name buffer: the name is cut
     * but msg_namelen says the real length. */
    char small[10] = {0};
    unsigned char name[4] = {0};
    struct iovec riov = {small, sizeof small};
    struct msghdr r = {.msg_name = name, .msg_namelen = sizeof name, .msg_iov = &riov,
                       .msg_iovlen = 1};
    ar_io_recvmsg(&o.io, b, &r, 0);
    T_EQ_INT(run_io(rt, &o), 10);
    cr_assert(t_is(r.msg_flags & MSG_TRUNC), "MSG_TRUNC expected, flags %#x", r.msg_flags);
    T_EQ_INT(r.msg_namelen, sizeof(struct sockaddr_in));
    cr_assert(t_is(memcmp(name, &sa, 4) == 0), "name prefix differs");
    cr_assert(t_is(memcmp(small, big, 10) == 0));
    /* Bad input: -EINVAL or the kernel's -errno, never a crash. */
    ar_io_recvmsg(&o.io, b, NULL, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    ar_io_sendmsg(&o.io, a, NULL, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    struct msghdr badname = {.msg_name = NULL, .msg_namelen = 16, .msg_iov = &iov, .msg_iovlen = 1};
    ar_io_sendmsg(&o.io, a, &badname, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    struct msghdr longname = {.msg_name = &sb, .msg_namelen = sizeof(struct sockaddr_storage) + 1,
                              .msg_iov = &iov, .msg_iovlen = 1};
    ar_io_sendmsg(&o.io, a, &longname, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    struct msghdr badctl = {.msg_control = NULL, .msg_controllen = 8, .msg_iov = &iov,
                            .msg_iovlen = 1};
    ar_io_sendmsg(&o.io, a, &badctl, 0);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    /* No destination on an unconnected socket: the kernel's answer. */
    struct msghdr noname = {.msg_iov = &iov, .msg_iovlen = 1};
    ar_io_sendmsg(&o.io, a, &noname, 0);
    T_EQ_INT(run_io(rt, &o), -EDESTADDRREQ);
    /* Not a socket, not a descriptor. */
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    ar_io_sendmsg(&o.io, pfd[1], &m, 0);
    T_EQ_INT(run_io(rt, &o), -ENOTSOCK);
    ar_io_recvmsg(&o.io, 987654, &r, 0);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    /* Zero bytes: a zero-length datagram goes and comes back as res 0. */
    struct msghdr z = {.msg_name = &sb, .msg_namelen = lb};
    ar_io_sendmsg(&o.io, a, &z, 0);
    T_EQ_INT(run_io(rt, &o), 0);
    struct msghdr zr = {.msg_iov = &riov, .msg_iovlen = 1};
    ar_io_recvmsg(&o.io, b, &zr, 0);
    T_EQ_INT(run_io(rt, &o), 0);
    close(pfd[0]);
    close(pfd[1]);
    close(a);
    close(b);
    ar_rt_free(rt);
}
