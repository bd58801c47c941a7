/*
 * tests/test_io.c - io_uring operations as futures: a loopback echo that
 * checks every byte, a file round trip, errors as -errno, and dropping
 * thousands of in-flight operations without a leak or a stray write.
 */
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- echo server: an acceptor task spawning one echo task per client ---- */
typedef struct echo_conn { ar_co co; int fd; ar_io io; char buf[4096]; int64_t n, off; } echo_conn;

static ar_poll echo_conn_poll(void *p, ar_cx *cx)
{
    echo_conn *self = p;
    AR_BEGIN(&self->co);
    for (;;) {
        ar_io_recv(&self->io, self->fd, self->buf, sizeof self->buf, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        self->n = self->io.res;
        if (self->n <= 0)
            break;
        for (self->off = 0; self->off < self->n; self->off += self->io.res) {
            ar_io_send(&self->io, self->fd, self->buf + self->off, (size_t)(self->n - self->off),
                       MSG_NOSIGNAL);
            AR_AWAIT(ar_io_poll(&self->io, cx));
            if (self->io.res <= 0)
                goto out;
        }
    }
out:
    close(self->fd);
    AR_END;
}
static void echo_conn_drop(void *p)
{
    echo_conn *self = p;
    ar_io_drop(&self->io);
    close(self->fd);
}
static const ar_future_vt echo_conn_vt = AR_FUTURE_VT_VOID(echo_conn, echo_conn_poll, echo_conn_drop);

typedef struct acceptor { ar_co co; int lfd; int n, i; ar_io io; } acceptor;

static ar_poll acceptor_poll(void *p, ar_cx *cx)
{
    acceptor *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        ar_io_accept(&self->io, self->lfd, NULL, NULL, SOCK_CLOEXEC);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_CHECK(self->io.res >= 0);
        if (self->io.res < 0)
            break;
        echo_conn c = {.fd = (int)self->io.res};
        T_BG_EQ(ar_spawn(NULL, &echo_conn_vt, &c, NULL), 0);
    }
    AR_END;
}
static void acceptor_drop(void *p) { ar_io_drop(&((acceptor *)p)->io); }
static const ar_future_vt acceptor_vt = AR_FUTURE_VT_VOID(acceptor, acceptor_poll, acceptor_drop);

/* ---- client: connect, send K messages of 64 bytes, check each echo ---- */
typedef struct client {
    ar_co co;
    uint16_t port;
    int id, k, fd;
    ar_tcp_connect c;
    ar_io io;
    unsigned char out[64], in[64];
    int64_t got;
    _Atomic long *bytes_ok;
} client;

static ar_poll client_poll(void *p, ar_cx *cx)
{
    client *self = p;
    AR_BEGIN(&self->co);
    ar_tcp_connect_init(&self->c, "127.0.0.1", self->port);
    AR_AWAIT(ar_tcp_connect_poll(&self->c, cx));
    T_BG_CHECK(self->c.res >= 0);
    if (self->c.res < 0)
        AR_RETURN();
    self->fd = self->c.res;
    for (self->k = 0; self->k < 20; self->k++) {
        for (int b = 0; b < 64; b++)
            self->out[b] = (unsigned char)(self->id * 31 + self->k * 7 + b);
        ar_io_send(&self->io, self->fd, self->out, 64, MSG_NOSIGNAL);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, 64);
        for (self->got = 0; self->got < 64;) {
            ar_io_recv(&self->io, self->fd, self->in + self->got, (size_t)(64 - self->got), 0);
            AR_AWAIT(ar_io_poll(&self->io, cx));
            if (self->io.res <= 0)
                break;
            self->got += self->io.res;
        }
        T_BG_EQ(self->got, 64);
        if (memcmp(self->in, self->out, 64) == 0)
            atomic_fetch_add(self->bytes_ok, 64);
    }
    close(self->fd);
    AR_END;
}
static const ar_future_vt client_vt = AR_FUTURE_VT_VOID(client, client_poll, NULL);

static void run_echo(ar_rt *rt, int nconn)
{
    int lfd = ar_tcp_listen("127.0.0.1", 0, 4096);
    cr_assert_geq(lfd, 0, "listen: %s", ar_strerror(lfd));
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    acceptor a = {.lfd = lfd, .n = nconn};
    ar_join ha;
    T_OK(ar_spawn(rt, &acceptor_vt, &a, &ha));
    _Atomic long bytes_ok = 0;
    ar_join *hc = calloc((size_t)nconn, sizeof *hc);
    for (int i = 0; i < nconn; i++) {
        client c = {.port = port, .id = i, .bytes_ok = &bytes_ok};
        T_OK(ar_spawn(rt, &client_vt, &c, &hc[i]));
    }
    for (int i = 0; i < nconn; i++)
        T_OK(ar_join_wait(&hc[i], NULL, 0));
    T_OK(ar_join_wait(&ha, NULL, 0));
    T_EQ_INT(atomic_load(&bytes_ok), (long)nconn * 20 * 64);
    free(hc);
    close(lfd);
    T_BG_ASSERT_CLEAN();
}

Test(io, loopback_echo_checks_every_byte, .timeout = 120)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    run_echo(rt, T_N(1000));
    ar_rt_free(rt);
    T_EQ_INT(t_count_fds(), before);
}

static ar_poll sleep_fut_poll(void *p, ar_cx *cx) { return ar_sleep_poll(p, cx); }
static const ar_future_vt sleep_fut_vt = AR_FUTURE_VT_VOID(ar_sleep, sleep_fut_poll, NULL);

Test(io, loopback_echo_current_thread, .timeout = 60)
{
    ar_rt *rt = t_rt_new(AR_RT_CURRENT_THREAD, 0);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 512);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    acceptor a = {.lfd = lfd, .n = 50};
    T_OK(ar_spawn(rt, &acceptor_vt, &a, NULL));
    _Atomic long ok = 0;
    for (int i = 0; i < 50; i++) {
        client c = {.port = port, .id = i, .bytes_ok = &ok};
        T_OK(ar_spawn(rt, &client_vt, &c, NULL));
    }
    /* The tasks run while block_on drives the runtime: sleep in steps. */
    for (int tries = 0; tries < 500 && atomic_load(&ok) < 50 * 20 * 64; tries++) {
        ar_sleep s;
        ar_sleep_init(&s, 10);
        T_OK(ar_block_on(rt, &sleep_fut_vt, &s));
    }
    T_EQ_INT(atomic_load(&ok), 50 * 20 * 64);
    close(lfd);
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}

/* ---- file: write, fsync, read back, at offsets ---- */
typedef struct file_rt { ar_co co; char path[64]; ar_io io; int fd; char wbuf[8192], rbuf[8192]; int64_t r[6]; } file_rt;

static ar_poll file_rt_poll(void *p, ar_cx *cx)
{
    file_rt *self = p;
    AR_BEGIN(&self->co);
    ar_io_openat(&self->io, AT_FDCWD, self->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[0] = self->io.res;
    if (self->io.res < 0)
        AR_RETURN();
    self->fd = (int)self->io.res;
    ar_io_write(&self->io, self->fd, self->wbuf, sizeof self->wbuf, 4096);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[1] = self->io.res;
    ar_io_fsync(&self->io, self->fd, 0);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[2] = self->io.res;
    ar_io_read(&self->io, self->fd, self->rbuf, sizeof self->rbuf, 4096);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[3] = self->io.res;
    ar_io_read(&self->io, self->fd, self->rbuf, 16, 4096 + 8192); /* past the end */
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[4] = self->io.res;
    ar_io_close(&self->io, self->fd);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[5] = self->io.res;
    AR_END;
}
static const ar_future_vt file_rt_vt = AR_FUTURE_VT_VOID(file_rt, file_rt_poll, NULL);

Test(io, file_write_fsync_read_round_trip, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static file_rt f;
    memset(&f, 0, sizeof f);
    snprintf(f.path, sizeof f.path, "/tmp/asyncrt-io-%d.dat", (int)getpid());
    for (size_t i = 0; i < sizeof f.wbuf; i++)
        f.wbuf[i] = (char)(i * 13 + 5);
    /* Polled in place (a spawn would copy the future into the task). */
    T_OK(ar_block_on(rt, &file_rt_vt, &f));
    cr_assert_geq(f.r[0], 0, "openat: %s", ar_strerror((int)f.r[0]));
    T_EQ_INT(f.r[1], 8192);
    T_EQ_INT(f.r[2], 0);
    T_EQ_INT(f.r[3], 8192);
    cr_assert(memcmp(f.rbuf, f.wbuf, sizeof f.wbuf) == 0, "read back differs");
    T_EQ_INT(f.r[4], 0); /* EOF */
    T_EQ_INT(f.r[5], 0);
    unlink(f.path);
    ar_rt_free(rt);
}

/* ---- errors come back as -errno ---- */
typedef struct errs { ar_co co; ar_io io; ar_tcp_connect c; int64_t r[5]; int sv[2]; char b[8]; } errs;

static ar_poll errs_poll(void *p, ar_cx *cx)
{
    errs *self = p;
    AR_BEGIN(&self->co);
    ar_tcp_connect_init(&self->c, "127.0.0.1", 1); /* nobody listens on port 1 */
    AR_AWAIT(ar_tcp_connect_poll(&self->c, cx));
    self->r[0] = self->c.res;
    ar_io_recv(&self->io, 987654, self->b, sizeof self->b, 0);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[1] = self->io.res;
    close(self->sv[1]); /* the peer goes away */
    ar_io_recv(&self->io, self->sv[0], self->b, sizeof self->b, 0);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[2] = self->io.res;
    ar_io_send(&self->io, self->sv[0], "x", 1, MSG_NOSIGNAL);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[3] = self->io.res;
    ar_io_recv(&self->io, self->sv[0], NULL, 8, 0); /* NULL buffer */
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->r[4] = self->io.res;
    close(self->sv[0]);
    AR_END;
}
static const ar_future_vt errs_vt = AR_FUTURE_VT_VOID(errs, errs_poll, NULL);

Test(io, errors_are_negative_errno, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    errs e = {0};
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e.sv), 0);
    T_OK(ar_block_on(rt, &errs_vt, &e)); /* from a plain thread: remote submission */
    T_EQ_INT(e.r[0], -ECONNREFUSED);
    T_EQ_INT(e.r[1], -EBADF);
    T_EQ_INT(e.r[2], 0); /* EOF once the peer closed */
    T_EQ_INT(e.r[3], -EPIPE);
    T_EQ_INT(e.r[4], -EINVAL);
    ar_rt_free(rt);
}

/* ---- dropping in-flight operations: recvs and accepts never complete on
 * their own here; aborting their tasks cancels them.  ASan checks that the
 * kernel writes into no freed memory; /proc/self/fd that nothing leaks. */
typedef struct parked_recv { ar_io io; int fd; char buf[64]; int started; } parked_recv;
static ar_poll parked_recv_poll(void *p, ar_cx *cx)
{
    parked_recv *self = p;
    if (!self->started) {
        self->started = 1;
        ar_io_recv(&self->io, self->fd, self->buf, sizeof self->buf, 0);
    }
    return ar_io_poll(&self->io, cx);
}
static void parked_recv_drop(void *p) { ar_io_drop(&((parked_recv *)p)->io); }
static const ar_future_vt parked_recv_vt = AR_FUTURE_VT_VOID(parked_recv, parked_recv_poll, parked_recv_drop);

typedef struct parked_accept { ar_io io; int fd; int started; } parked_accept;
static ar_poll parked_accept_poll(void *p, ar_cx *cx)
{
    parked_accept *self = p;
    if (!self->started) {
        self->started = 1;
        ar_io_accept(&self->io, self->fd, NULL, NULL, SOCK_CLOEXEC);
    }
    return ar_io_poll(&self->io, cx);
}
static void parked_accept_drop(void *p) { ar_io_drop(&((parked_accept *)p)->io); }
static const ar_future_vt parked_accept_vt = AR_FUTURE_VT_VOID(parked_accept, parked_accept_poll, parked_accept_drop);

Test(io, dropping_ten_thousand_inflight_recvs_and_accepts, .timeout = 120)
{
    const int n = T_N(10000);
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 128);
    cr_assert_geq(lfd, 0);
    ar_join *h = calloc((size_t)n, sizeof *h);
    for (int i = 0; i < n; i++) {
        if (i % 2) {
            parked_recv r = {.fd = sv[0]};
            T_OK(ar_spawn(rt, &parked_recv_vt, &r, &h[i]));
        } else {
            parked_accept a = {.fd = lfd};
            T_OK(ar_spawn(rt, &parked_accept_vt, &a, &h[i]));
        }
    }
    usleep(200000); /* let them all get submitted */
    for (int i = 0; i < n; i++)
        T_OK(ar_join_abort(&h[i]));
    for (int i = 0; i < n; i++)
        T_EQ_INT(ar_join_wait(&h[i], NULL, 0), -ECANCELED);
    /* Data and connections that arrive now find no stale operation. */
    cr_assert_eq(write(sv[1], "late", 4), 4);
    ar_rt_free(rt);
    close(sv[0]);
    close(sv[1]);
    close(lfd);
    free(h);
    T_EQ_INT(t_count_fds(), before);
}

/* The same, but the runtime is shut down with the operations in flight. */
Test(io, shutdown_with_inflight_operations, .timeout = 60)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; i < 1000; i++) {
        parked_recv r = {.fd = sv[0]};
        T_OK(ar_spawn(rt, &parked_recv_vt, &r, NULL));
    }
    usleep(100000);
    ar_rt_free(rt);
    close(sv[0]);
    close(sv[1]);
    T_EQ_INT(t_count_fds(), before);
}

/* ------------------------------------------------------------------------
 * Semantics that the epoll fallback implements by hand (readiness, waiter
 * lists, cancellation, descriptor flags); they run on both backends
 * (io and io_epoll in tests/meson.build) and must agree.
 * --------------------------------------------------------------------- */

/* The backend really is the one the test configuration asked for. */
Test(io, backend_is_the_one_asked_for, .timeout = 10)
{
    const char *want = getenv("AR_BACKEND");
    ar_rt *rt = t_rt_mt(1);
    const char *got = ar_rt_io_backend(rt);
    cr_assert_not_null(got);
    if (want && !strcmp(want, "epoll"))
        cr_assert_str_eq(got, "epoll");
    else if (want && !strcmp(want, "uring"))
        cr_assert_str_eq(got, "io_uring");
    else
        cr_assert(t_is(!strcmp(got, "io_uring") || !strcmp(got, "epoll")), "%s", got);
    ar_rt_free(rt);
}

/* One operation as a task; its result (and received bytes) go to the
 * spawner's slots.  res is INT64_MIN until the operation completed. */
typedef struct one_op {
    ar_io io;
    int kind, fd, flags, started;
    size_t len;
    char buf[64];
    char *got;              /* receive/read: where the bytes go */
    _Atomic int64_t *res;
} one_op;
enum { OP_RECV, OP_SEND, OP_READ, OP_WRITE };

static ar_poll one_op_poll(void *p, ar_cx *cx)
{
    one_op *self = p;
    if (!self->started) {
        self->started = 1;
        switch (self->kind) {
        case OP_RECV: ar_io_recv(&self->io, self->fd, self->buf, self->len, self->flags); break;
        case OP_SEND: ar_io_send(&self->io, self->fd, self->buf, self->len, self->flags); break;
        case OP_READ: ar_io_read(&self->io, self->fd, self->buf, self->len, -1); break;
        default: ar_io_write(&self->io, self->fd, self->buf, self->len, -1); break;
        }
    }
    if (ar_io_poll(&self->io, cx) == AR_PENDING)
        return AR_PENDING;
    if (self->got && self->io.res > 0)
        memcpy(self->got, self->buf, (size_t)self->io.res);
    atomic_store(self->res, self->io.res);
    return AR_READY;
}
static void one_op_drop(void *p) { ar_io_drop(&((one_op *)p)->io); }
static const ar_future_vt one_op_vt = AR_FUTURE_VT_VOID(one_op, one_op_poll, one_op_drop);

static void spawn_op(ar_rt *rt, ar_join *h, int kind, int fd, const char *data, size_t len,
                     int flags, char *got, _Atomic int64_t *res)
{
    one_op o = {.kind = kind, .fd = fd, .flags = flags, .len = len, .got = got, .res = res};
    if (data)
        memcpy(o.buf, data, len);
    atomic_store(res, INT64_MIN);
    T_OK(ar_spawn(rt, &one_op_vt, &o, h));
}

/* Two receives and a send on one socket at the same time, from three
 * tasks: the send is not held up by the waiting receives, and each
 * receive gets one of the two packets that arrive later. */
Test(io, two_receives_and_a_send_on_one_socket, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    _Atomic int64_t r1, r2, rs;
    char g1[64] = {0}, g2[64] = {0};
    ar_join h1, h2, hs;
    spawn_op(rt, &h1, OP_RECV, sv[0], NULL, 64, 0, g1, &r1);
    spawn_op(rt, &h2, OP_RECV, sv[0], NULL, 64, 0, g2, &r2);
    t_sleep_ms(50); /* both wait now */
    cr_assert_eq(atomic_load(&r1), INT64_MIN);
    spawn_op(rt, &hs, OP_SEND, sv[0], "hello", 5, MSG_NOSIGNAL, NULL, &rs);
    T_OK(ar_join_wait(&hs, NULL, 0));
    T_EQ_INT(atomic_load(&rs), 5);
    char b[16] = {0};
    T_EQ_INT(read(sv[1], b, sizeof b), 5);
    cr_assert_str_eq(b, "hello");
    cr_assert_eq(atomic_load(&r1), INT64_MIN, "a receive completed without data");
    T_EQ_INT(write(sv[1], "one", 3), 3);
    T_EQ_INT(write(sv[1], "two", 3), 3);
    T_OK(ar_join_wait(&h1, NULL, 0));
    T_OK(ar_join_wait(&h2, NULL, 0));
    T_EQ_INT(atomic_load(&r1), 3);
    T_EQ_INT(atomic_load(&r2), 3);
    cr_assert(t_is((!strcmp(g1, "one") && !strcmp(g2, "two")) || (!strcmp(g1, "two") && !strcmp(g2, "one"))),
              "got '%s' and '%s'", g1, g2);
    ar_rt_free(rt);
    close(sv[0]);
    close(sv[1]);
    T_EQ_INT(t_count_fds(), before);
}

/* Three receives wait on one socket of a one-worker runtime (one reactor,
 * one waiter list); the first is cancelled.  The two behind it still get
 * the packets that arrive afterwards, and the cancelled one takes none. */
Test(io, cancelling_a_waiting_receive_leaves_the_others_waiting, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(1);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    _Atomic int64_t r[3];
    char g[3][64];
    memset(g, 0, sizeof g);
    ar_join h[3];
    for (int i = 0; i < 3; i++) {
        spawn_op(rt, &h[i], OP_RECV, sv[0], NULL, 64, 0, g[i], &r[i]);
        t_sleep_ms(20); /* in this order on the list */
    }
    T_OK(ar_join_abort(&h[0]));
    T_EQ_INT(ar_join_wait(&h[0], NULL, 0), -ECANCELED);
    T_EQ_INT(write(sv[1], "one", 3), 3);
    T_EQ_INT(write(sv[1], "two", 3), 3);
    T_OK(ar_join_wait(&h[1], NULL, 0));
    T_OK(ar_join_wait(&h[2], NULL, 0));
    T_EQ_INT(atomic_load(&r[1]), 3);
    T_EQ_INT(atomic_load(&r[2]), 3);
    cr_assert_eq(atomic_load(&r[0]), INT64_MIN);
    cr_assert(t_is(strcmp(g[1], g[2]) != 0 && (!strcmp(g[1], "one") || !strcmp(g[1], "two"))),
              "got '%s' and '%s'", g[1], g[2]);
    ar_rt_free(rt);
    close(sv[0]);
    close(sv[1]);
}

/* The same cancellation made from a plain thread (ar_block_on's future
 * drops an operation of worker 0's reactor): the remote cancel path. */
typedef struct remote_cancel {
    ar_co co;
    int fd, peer;
    ar_io a, b;
    ar_sleep s;
    char ba[16], bb[16];
} remote_cancel;

static ar_poll remote_cancel_poll(void *p, ar_cx *cx)
{
    remote_cancel *self = p;
    AR_BEGIN(&self->co);
    ar_io_recv(&self->a, self->fd, self->ba, sizeof self->ba, 0);
    ar_io_recv(&self->b, self->fd, self->bb, sizeof self->bb, 0);
    cr_assert_eq(ar_io_poll(&self->a, cx), AR_PENDING);
    cr_assert_eq(ar_io_poll(&self->b, cx), AR_PENDING);
    ar_sleep_init(&self->s, 50);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    ar_io_drop(&self->a); /* the head of the waiter list, from outside */
    ar_sleep_init(&self->s, 20);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    cr_assert_eq(write(self->peer, "late", 4), 4);
    AR_AWAIT(ar_io_poll(&self->b, cx));
    AR_END;
}
static const ar_future_vt remote_cancel_vt = AR_FUTURE_VT_VOID(remote_cancel, remote_cancel_poll, NULL);

Test(io, cancel_from_another_thread_leaves_the_others_waiting, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(1);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    static remote_cancel rc;
    memset(&rc, 0, sizeof rc);
    rc.fd = sv[0];
    rc.peer = sv[1];
    T_OK(ar_block_on(rt, &remote_cancel_vt, &rc));
    T_EQ_INT(rc.b.res, 4);
    cr_assert_str_eq(rc.bb, "late");
    T_EQ_INT(rc.a.res, -ECANCELED);
    ar_rt_free(rt);
    close(sv[0]);
    close(sv[1]);
    T_EQ_INT(t_count_fds(), before);
}

/* A peer that resets the connection: the waiting receive fails with
 * -ECONNRESET, a send afterwards with -EPIPE (or -ECONNRESET). */
Test(io, peer_reset_gives_econnreset_then_epipe, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 8);
    cr_assert_geq(lfd, 0);
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", (uint16_t)ar_tcp_local_port(lfd), &ss);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(cfd, (struct sockaddr *)&ss, (socklen_t)len), 0);
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(sfd, 0);
    _Atomic int64_t rr, rs;
    ar_join hr, hs;
    spawn_op(rt, &hr, OP_RECV, cfd, NULL, 64, 0, NULL, &rr);
    t_sleep_ms(50);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    cr_assert_eq(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(sfd); /* RST */
    T_OK(ar_join_wait(&hr, NULL, 0));
    T_EQ_INT(atomic_load(&rr), -ECONNRESET);
    spawn_op(rt, &hs, OP_SEND, cfd, "x", 1, MSG_NOSIGNAL, NULL, &rs);
    T_OK(ar_join_wait(&hs, NULL, 0));
    int64_t s = atomic_load(&rs);
    cr_assert(t_is(s == -EPIPE || s == -ECONNRESET), "send after reset: %lld", (long long)s);
    ar_rt_free(rt);
    close(cfd);
    close(lfd);
    T_EQ_INT(t_count_fds(), before);
}

/* ar_io_connect on the caller's blocking socket: connected, and the socket
 * is blocking again afterwards (epoll makes it non-blocking meanwhile). */
typedef struct conn_fut { ar_io io; struct sockaddr_storage ss; socklen_t len; int fd, started; } conn_fut;
static ar_poll conn_fut_poll(void *p, ar_cx *cx)
{
    conn_fut *self = p;
    if (!self->started) {
        self->started = 1;
        ar_io_connect(&self->io, self->fd, (struct sockaddr *)&self->ss, self->len);
    }
    return ar_io_poll(&self->io, cx);
}
static const ar_future_vt conn_fut_vt = AR_FUTURE_VT_VOID(conn_fut, conn_fut_poll, NULL);

Test(io, connect_leaves_a_blocking_socket_blocking, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 8);
    cr_assert_geq(lfd, 0);
    static conn_fut c;
    memset(&c, 0, sizeof c);
    c.len = (socklen_t)ar_sockaddr_from("127.0.0.1", (uint16_t)ar_tcp_local_port(lfd), &c.ss);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(c.fd, 0);
    T_OK(ar_block_on(rt, &conn_fut_vt, &c));
    T_EQ_INT(c.io.res, 0);
    cr_assert_eq(fcntl(c.fd, F_GETFL) & O_NONBLOCK, 0, "the socket was left non-blocking");
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(sfd, 0);
    T_EQ_INT(write(sfd, "ok", 2), 2);
    char b[4];
    T_EQ_INT(recv(c.fd, b, sizeof b, 0), 2); /* a plain blocking recv works */
    close(sfd);
    close(c.fd);
    close(lfd);
    ar_rt_free(rt);
}

/* read/write on a (blocking) pipe: the read waits for the writer without
 * blocking its worker; the worker keeps running other tasks meanwhile. */
Test(io, pipe_read_waits_for_the_writer, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(1);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    _Atomic int64_t rr, rw, rs;
    char got[64] = {0};
    ar_join hr, hw, hs;
    spawn_op(rt, &hr, OP_READ, p[0], NULL, 64, 0, got, &rr);
    t_sleep_ms(30);
    /* The only worker is not stuck in read(2): a sleep still runs. */
    ar_sleep s;
    ar_sleep_init(&s, 1);
    T_OK(ar_spawn(rt, &sleep_fut_vt, &s, &hs));
    T_OK(ar_join_wait(&hs, NULL, 0));
    cr_assert_eq(atomic_load(&rr), INT64_MIN);
    spawn_op(rt, &hw, OP_WRITE, p[1], "pipe", 4, 0, NULL, &rw);
    T_OK(ar_join_wait(&hw, NULL, 0));
    T_EQ_INT(atomic_load(&rw), 4);
    T_OK(ar_join_wait(&hr, NULL, 0));
    T_EQ_INT(atomic_load(&rr), 4);
    cr_assert_str_eq(got, "pipe");
    (void)rs;
    ar_rt_free(rt);
    close(p[0]);
    close(p[1]);
    T_EQ_INT(t_count_fds(), before);
}

/* Creating and freeing runtimes leaves no descriptor behind (rings,
 * epoll sets, eventfds), in both flavours. */
Test(io, runtimes_leave_no_descriptors, .timeout = 30)
{
    int before = t_count_fds();
    for (int i = 0; i < 20; i++) {
        ar_rt *rt = t_rt_new(i % 2 ? AR_RT_CURRENT_THREAD : AR_RT_MULTI_THREAD, i % 2 ? 0 : 2);
        ar_rt_free(rt);
    }
    T_EQ_INT(t_count_fds(), before);
}

/* A descriptor number reused while a cancel is in flight: a receive is
 * dropped from a plain thread while its worker is busy (the cancel waits
 * on the reactor's remote stack), the descriptor is closed, a new socket
 * gets the same number and a new receive on it starts on that worker
 * before the cancel is processed.  The new receive must still complete
 * (epoll: it queued behind the stale op, whose removal must re-arm the
 * descriptor for the new file). */
typedef struct dropper {
    ar_io io;
    int fd, started;
    char b[8];
    _Atomic int ready, drop_now;
    ar_waker w;
} dropper;

static ar_poll dropper_poll(void *p, ar_cx *cx)
{
    dropper *self = p;
    if (!self->started) {
        self->started = 1;
        ar_io_recv(&self->io, self->fd, self->b, sizeof self->b, 0);
        self->w = ar_waker_clone(cx->waker);
        atomic_store(&self->ready, 1);
    }
    if (atomic_load(&self->drop_now)) {
        ar_io_drop(&self->io);
        return AR_READY;
    }
    cr_assert_eq(ar_io_poll(&self->io, cx), AR_PENDING, "the receive completed: %lld",
                 (long long)self->io.res);
    return AR_PENDING;
}
static const ar_future_vt dropper_vt = AR_FUTURE_VT_VOID(dropper, dropper_poll, NULL);

typedef struct dropper_run { ar_rt *rt; dropper *d; } dropper_run;
static void *dropper_thread(void *arg)
{
    dropper_run *r = arg;
    T_OK(ar_block_on(r->rt, &dropper_vt, r->d));
    return NULL;
}

Test(io, descriptor_number_reused_while_a_cancel_is_pending, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(1);
    int a[2], b[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    static dropper d;
    memset(&d, 0, sizeof d);
    d.fd = a[0];
    dropper_run run = {rt, &d};
    pthread_t th = t_thread(dropper_thread, &run);
    T_WAIT_UNTIL(atomic_load(&d.ready));
    t_sleep_ms(50); /* the receive waits on worker 0's reactor */
    t_block_ctl ctl;
    ar_join hb;
    t_block_worker(rt, &ctl, &hb);
    atomic_store(&d.drop_now, 1);
    ar_waker_wake_by_ref(d.w);
    pthread_join(th, NULL); /* dropped: its cancel waits for the worker */
    ar_waker_drop(d.w);
    close(a[0]);
    close(a[1]);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
    if (b[0] != d.fd)
        cr_skip_test("descriptor %d not reused (got %d)", d.fd, b[0]);
    _Atomic int64_t r;
    char got[16] = {0};
    ar_join hy;
    spawn_op(rt, &hy, OP_RECV, b[0], NULL, 8, 0, got, &r);
    atomic_store(&ctl.release, 1); /* the new receive starts, then the cancel */
    T_OK(ar_join_wait(&hb, NULL, 0));
    t_sleep_ms(30);
    T_EQ_INT(write(b[1], "data", 4), 4);
    T_OK(ar_join_wait(&hy, NULL, 0));
    T_EQ_INT(atomic_load(&r), 4);
    cr_assert_str_eq(got, "data");
    ar_rt_free(rt);
    close(b[0]);
    close(b[1]);
}

/* ---- lending reads: no copy, the bytes lent until ar_io_drop ---- */
typedef struct lend_rt {
    ar_co co;
    int fd, pipe_r;
    ar_io io, pending;
    const void *before_done, *after_drop, *copying;
    int64_t res[3];
    int same[2];
    char want[8192];
} lend_rt;

static ar_poll lend_rt_poll(void *p, ar_cx *cx)
{
    lend_rt *self = p;
    AR_BEGIN(&self->co);
    /* A whole block, then a part at an odd offset, compared byte for byte. */
    ar_io_read_lend(&self->io, self->fd, 4096, 0);
    self->before_done = ar_io_lent(&self->io);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->res[0] = self->io.res;
    self->same[0] = ar_io_lent(&self->io) &&
                    memcmp(ar_io_lent(&self->io), self->want, 4096) == 0;
    ar_io_drop(&self->io);
    self->after_drop = ar_io_lent(&self->io);
    ar_io_read_lend(&self->io, self->fd, 5000, 3001);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->res[1] = self->io.res;
    self->same[1] = ar_io_lent(&self->io) &&
                    memcmp(ar_io_lent(&self->io), self->want + 3001, 5000) == 0;
    ar_io_drop(&self->io);
    /* A copying read lends nothing. */
    ar_io_read(&self->io, self->fd, self->want, 1, 0);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    self->copying = ar_io_lent(&self->io);
    /* A lending read still waiting (an empty pipe) is dropped in flight. */
    ar_io_read_lend(&self->pending, self->pipe_r, 64, -1);
    self->res[2] = ar_io_poll(&self->pending, cx);
    ar_io_drop(&self->pending);
    AR_END;
}
static const ar_future_vt lend_rt_vt = AR_FUTURE_VT_VOID(lend_rt, lend_rt_poll, NULL);

Test(io, lending_read_lends_the_bytes_until_dropped, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    static lend_rt f;
    memset(&f, 0, sizeof f);
    char path[64];
    snprintf(path, sizeof path, "/tmp/asyncrt-lend-%d.dat", (int)getpid());
    f.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(f.fd, 0);
    for (size_t i = 0; i < sizeof f.want; i++)
        f.want[i] = (char)(i * 7 + 3);
    cr_assert_eq(pwrite(f.fd, f.want, sizeof f.want, 0), (ssize_t)sizeof f.want);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    f.pipe_r = p[0];
    T_OK(ar_block_on(rt, &lend_rt_vt, &f));
    cr_assert(f.before_done == NULL);
    T_EQ_INT(f.res[0], 4096);
    cr_assert(f.same[0], "lent bytes differ from the file");
    cr_assert(f.after_drop == NULL);
    T_EQ_INT(f.res[1], 5000);
    cr_assert(f.same[1], "lent bytes at offset 3001 differ");
    cr_assert(f.copying == NULL);
    T_EQ_INT(f.res[2], AR_PENDING);
    ar_rt_free(rt); /* ASan: nothing lent or in flight leaks */
    close(f.fd);
    close(p[0]);
    close(p[1]);
    unlink(path);
    T_EQ_INT(t_count_fds(), before);
}
