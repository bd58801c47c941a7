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

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

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
    int before = count_fds();
    ar_rt *rt = t_rt_mt(2);
    run_echo(rt, T_N(1000));
    ar_rt_free(rt);
    T_EQ_INT(count_fds(), before);
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
    int before = count_fds();
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
    T_EQ_INT(count_fds(), before);
}

/* The same, but the runtime is shut down with the operations in flight. */
Test(io, shutdown_with_inflight_operations, .timeout = 60)
{
    int before = count_fds();
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
    T_EQ_INT(count_fds(), before);
}
