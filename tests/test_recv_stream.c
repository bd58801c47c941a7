/*
 * tests/test_recv_stream.c - the multishot recv stream with provided
 * buffers, and the two streams together: a loopback echo of 1,000
 * connections (accept stream + recv stream) that checks every byte;
 * reassembly through small reads; backpressure (pause and re-arm) with
 * megabytes queued; many connections at once on one worker (the buffer ring
 * runs dry: ENOBUFS and re-arm); EOF, peer reset, bad input; dropping
 * 10,000 armed stream operations with no descriptor leaked.
 */
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected TCP pair over loopback: *a (client side), *b (accepted). */
static void tcp_pair(int *a, int *b)
{
    int lfd = ar_tcp_listen("127.0.0.1", 0, 8);
    cr_assert_geq(lfd, 0);
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", (uint16_t)ar_tcp_local_port(lfd), &ss);
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(*a, (struct sockaddr *)&ss, (socklen_t)len), 0);
    *b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(*b, 0);
    close(lfd);
}

static unsigned char pat(size_t i, int seed) { return (unsigned char)(i * 131 + (i >> 9) + (size_t)seed); }

/* ---- reader: takes everything until EOF through next(len) calls,
 * checking the pattern; optional pause after the first chunk ---- */
typedef struct reader {
    ar_co co;
    int fd, seed;
    size_t chunk;    /* len asked of each next */
    unsigned pause_ms;
    ar_recv_stream rs;
    ar_sleep sleep;
    unsigned char buf[65536];
    size_t total;
    int64_t end;     /* 0 EOF or -errno */
    int bad;         /* bytes that differ from the pattern */
    int again;       /* the result of one more next after the end */
} reader;

static ar_poll reader_poll(void *p, ar_cx *cx)
{
    reader *self = p;
    AR_BEGIN(&self->co);
    ar_recv_stream_init(&self->rs, self->fd);
    for (;;) {
        AR_AWAIT(ar_recv_stream_next(&self->rs, cx, self->buf, self->chunk));
        if (self->rs.res <= 0)
            break;
        for (int64_t i = 0; i < self->rs.res; i++)
            self->bad += self->buf[i] != pat(self->total + (size_t)i, self->seed);
        self->total += (size_t)self->rs.res;
        if (self->pause_ms) {
            ar_sleep_init(&self->sleep, self->pause_ms);
            self->pause_ms = 0;
            AR_AWAIT(ar_sleep_poll(&self->sleep, cx));
        }
    }
    self->end = self->rs.res;
    AR_AWAIT(ar_recv_stream_next(&self->rs, cx, self->buf, 1));
    self->again = (int)self->rs.res;
    ar_recv_stream_drop(&self->rs);
    AR_END;
}
static void reader_drop(void *p)
{
    reader *self = p;
    ar_recv_stream_drop(&self->rs);
    ar_sleep_drop(&self->sleep);
}
static const ar_future_vt reader_vt = AR_FUTURE_VT(reader, reader_poll, reader_drop, total);

/* Writer thread: n bytes of the pattern, then shutdown(SHUT_WR). */
typedef struct writer_arg { int fd, seed; size_t n; } writer_arg;
static void *writer_main(void *p)
{
    writer_arg *w = p;
    static __thread unsigned char b[65536];
    for (size_t off = 0; off < w->n;) {
        size_t k = w->n - off < sizeof b ? w->n - off : sizeof b;
        for (size_t i = 0; i < k; i++)
            b[i] = pat(off + i, w->seed);
        ssize_t m = write(w->fd, b, k);
        if (m <= 0)
            return NULL;
        off += (size_t)m;
    }
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

static void run_readers(ar_rt *rt, int n, size_t bytes, size_t chunk, unsigned pause_ms)
{
    int *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b);
    reader **rd = calloc((size_t)n, sizeof *rd);
    ar_join *h = calloc((size_t)n, sizeof *h);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    writer_arg *wa = calloc((size_t)n, sizeof *wa);
    for (int i = 0; i < n; i++) {
        tcp_pair(&a[i], &b[i]);
        rd[i] = calloc(1, sizeof **rd);
        rd[i]->fd = b[i];
        rd[i]->seed = i;
        rd[i]->chunk = chunk;
        rd[i]->pause_ms = pause_ms;
        wa[i] = (writer_arg){a[i], i, bytes};
    }
    /* The readers run in place (block_on-style joins would copy them): one
     * task per reader polling it through a pointer. */
    for (int i = 0; i < n; i++) {
        T_OK(ar_spawn(rt, &reader_vt, rd[i], &h[i]));
        th[i] = t_thread(writer_main, &wa[i]);
    }
    for (int i = 0; i < n; i++) {
        size_t total = 0;
        T_OK(ar_join_wait(&h[i], &total, sizeof total));
        pthread_join(th[i], NULL);
        T_EQ_U64(total, bytes);
        T_EQ_INT(rd[i]->bad, 0); /* every byte in order */
        T_EQ_INT(rd[i]->end, 0);
        close(a[i]);
        close(b[i]);
        free(rd[i]);
    }
    free(a), free(b), free(rd), free(h), free(th), free(wa);
}

/* The reader's output is only its total; its other fields are checked
 * through this variant that keeps the future in place. */
static ar_poll reader_ptr_poll(void *p, ar_cx *cx) { return reader_poll(*(reader **)p, cx); }
static const ar_future_vt reader_ptr_vt = AR_FUTURE_VT_VOID(reader *, reader_ptr_poll, NULL);

Test(recv_stream, small_reads_reassemble_then_eof, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    int a, b;
    tcp_pair(&a, &b);
    static reader r;
    memset(&r, 0, sizeof r);
    r.fd = b;
    r.seed = 7;
    r.chunk = 7; /* chunks of 4 KiB handed out 7 bytes at a time */
    writer_arg w = {a, 7, 100000};
    pthread_t th = t_thread(writer_main, &w);
    reader *rp = &r;
    T_OK(ar_block_on(rt, &reader_ptr_vt, &rp));
    pthread_join(th, NULL);
    T_EQ_U64(r.total, 100000);
    T_EQ_INT(r.bad, 0);
    T_EQ_INT(r.end, 0);
    T_EQ_INT(r.again, 0); /* EOF stays EOF */
    close(a);
    close(b);
    ar_rt_free(rt);
}

Test(recv_stream, backpressure_pauses_and_rearms, .timeout = 60)
{
    /* 8 MiB while the reader sleeps 300 ms after its first chunk: the queue
     * passes 256 KiB, the multishot is cancelled, and re-armed as the
     * reader drains; every byte arrives in order. */
    ar_rt *rt = t_rt_mt(2);
    int a, b;
    tcp_pair(&a, &b);
    static reader r;
    memset(&r, 0, sizeof r);
    r.fd = b;
    r.seed = 3;
    r.chunk = sizeof r.buf;
    r.pause_ms = 300;
    writer_arg w = {a, 3, (size_t)T_N(8) << 20};
    pthread_t th = t_thread(writer_main, &w);
    reader *rp = &r;
    T_OK(ar_block_on(rt, &reader_ptr_vt, &rp));
    pthread_join(th, NULL);
    T_EQ_U64(r.total, w.n);
    T_EQ_INT(r.bad, 0);
    T_EQ_INT(r.end, 0);
    close(a);
    close(b);
    ar_rt_free(rt);
}

Test(recv_stream, many_connections_on_one_worker_drain_the_buffer_ring, .timeout = 120)
{
    /* 64 connections x 512 KiB at once on one worker: far more than the
     * ring's 128 buffers, so the kernel runs out (ENOBUFS) and the streams
     * re-arm; nothing is lost or reordered.  (epoll has no buffer ring, so
     * no ENOBUFS: there it checks 64 streams armed on one worker's epoll
     * set, with every byte in order.) */
    ar_rt *rt = t_rt_mt(1);
    run_readers(rt, 64, (size_t)512 << 10, 65536, 0);
    ar_rt_free(rt);
}

Test(recv_stream, backpressure_rearms_on_the_owner_worker, .timeout = 60)
{
    /* One worker: the readers are tasks on the worker that owns their
     * stream operations, so the pause and the re-arm (resubmit) happen on
     * the owner thread itself, not through its remote queue. */
    ar_rt *rt = t_rt_mt(1);
    run_readers(rt, 2, (size_t)T_N(4) << 20, 65536, 300);
    ar_rt_free(rt);
}

/* ---- peer reset, bad input ---- */
typedef struct one_next { ar_recv_stream *rs; void *buf; size_t len; } one_next;
static ar_poll one_next_poll(void *p, ar_cx *cx)
{
    one_next *o = p;
    return ar_recv_stream_next(o->rs, cx, o->buf, o->len);
}
static const ar_future_vt one_next_vt = AR_FUTURE_VT_VOID(one_next, one_next_poll, NULL);

static int64_t next_of(ar_rt *rt, ar_recv_stream *rs, void *buf, size_t len)
{
    one_next o = {rs, buf, len};
    T_OK(ar_block_on(rt, &one_next_vt, &o));
    return rs->res;
}

typedef struct one_io { ar_io io; } one_io;
static ar_poll one_io_poll(void *p, ar_cx *cx) { return ar_io_poll(&((one_io *)p)->io, cx); }
static const ar_future_vt one_io_vt = AR_FUTURE_VT_VOID(one_io, one_io_poll, NULL);

/* ---- a stream ended under it: ar_io_close on epoll ---- */
typedef struct one_rs { ar_recv_stream rs; char buf[16]; int64_t res; } one_rs;
static ar_poll one_rs_poll(void *p, ar_cx *cx)
{
    one_rs *self = p;
    if (ar_recv_stream_next(&self->rs, cx, self->buf, sizeof self->buf) == AR_PENDING)
        return AR_PENDING;
    self->res = self->rs.res;
    ar_recv_stream_drop(&self->rs);
    return AR_READY;
}
static void one_rs_drop(void *p) { ar_recv_stream_drop(&((one_rs *)p)->rs); }
static const ar_future_vt one_rs_vt = AR_FUTURE_VT(one_rs, one_rs_poll, one_rs_drop, res);

Test(recv_stream, io_close_ends_an_armed_stream_on_epoll, .timeout = 30)
{
    /* asyncrt/io.h: on epoll, ar_io_close fails the operations waiting on
     * the descriptor in its reactor with -EBADF; an armed recv stream is
     * one of them and ends.  (io_uring's multishot holds the file and goes
     * on waiting: nothing to check there.) */
    ar_rt *rt = t_rt_mt(1);
    if (strcmp(ar_rt_io_backend(rt), "epoll") != 0) {
        ar_rt_free(rt);
        cr_skip_test("epoll only: io_uring's armed multishot keeps the file open");
    }
    int a, b;
    tcp_pair(&a, &b);
    one_rs r;
    memset(&r, 0, sizeof r);
    ar_recv_stream_init(&r.rs, b);
    ar_join h;
    T_OK(ar_spawn(rt, &one_rs_vt, &r, &h));
    usleep(100000); /* let it arm: no data, it waits */
    static one_io c;
    ar_io_close(&c.io, b);
    T_OK(ar_block_on(rt, &one_io_vt, &c));
    T_EQ_INT(c.io.res, 0);
    int64_t res = 1;
    T_OK(ar_join_wait(&h, &res, sizeof res));
    T_EQ_INT(res, -EBADF);
    close(a);
    ar_rt_free(rt);
}

Test(recv_stream, an_armed_stream_at_shutdown_ends_with_ecanceled, .timeout = 30)
{
    /* The stream is still armed (it handed out bytes and was not dropped)
     * when the runtime shuts down: closing the reactor ends it (epoll: the
     * op leaves its waiter list; io_uring: cancelled) with -ECANCELED; the
     * next call says so, the waker clone is given back and the drop frees
     * the rest (ASan: no leak).  The drop comes before ar_rt_free: like
     * every I/O future, a stream must not outlive its runtime's memory. */
    ar_rt *rt = t_rt_mt(2);
    int a, b;
    tcp_pair(&a, &b);
    ar_recv_stream rs;
    ar_recv_stream_init(&rs, b);
    char buf[64];
    cr_assert_eq(write(a, "hello", 5), 5);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), 5);
    T_OK(ar_rt_shutdown(rt));
    cr_assert_eq(write(a, "late", 4), 4);
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert_eq(ar_recv_stream_next(&rs, &cx, buf, sizeof buf), AR_READY);
    T_EQ_INT(rs.res, -ECANCELED);
    ar_recv_stream_drop(&rs);
    T_EQ_INT(t_waker_held(&w), 0);
    ar_rt_free(rt);
    close(a);
    close(b);
}

Test(recv_stream, peer_reset_gives_econnreset_and_no_sigpipe, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    int a, b;
    tcp_pair(&a, &b);
    ar_recv_stream rs;
    ar_recv_stream_init(&rs, b);
    char buf[64];
    cr_assert_eq(write(a, "abc", 3), 3);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), 3);
    /* The peer resets the connection (linger 0). */
    struct linger lg = {1, 0};
    setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(a);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), -ECONNRESET);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), -ECONNRESET); /* stays ended */
    /* Sending on the reset socket, flags 0: -EPIPE or -ECONNRESET, and the
     * process is still alive (MSG_NOSIGNAL is the library's). */
    static one_io o;
    static char big[1 << 16];
    for (int i = 0; i < 4; i++) {
        ar_io_send(&o.io, b, big, sizeof big, 0);
        T_OK(ar_block_on(rt, &one_io_vt, &o));
        cr_assert(t_is(o.io.res == -EPIPE || o.io.res == -ECONNRESET), "send: %lld",
                  (long long)o.io.res);
        struct iovec iov = {big, sizeof big};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ar_io_sendmsg(&o.io, b, &m, 0);
        T_OK(ar_block_on(rt, &one_io_vt, &o));
        cr_assert(t_is(o.io.res == -EPIPE || o.io.res == -ECONNRESET), "sendmsg: %lld",
                  (long long)o.io.res);
    }
    ar_recv_stream_drop(&rs);
    close(b);
    ar_rt_free(rt);
}

Test(recv_stream, bad_input, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    char buf[8];
    ar_recv_stream rs;
    ar_recv_stream_init(&rs, -1);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), -EBADF);
    ar_recv_stream_drop(&rs);
    ar_recv_stream_init(&rs, 987654);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), -EBADF);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), -EBADF);
    ar_recv_stream_drop(&rs);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    ar_recv_stream_init(&rs, pfd[0]);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), -ENOTSOCK);
    ar_recv_stream_drop(&rs);
    int a, b;
    tcp_pair(&a, &b);
    ar_recv_stream_init(&rs, b);
    T_EQ_INT(next_of(rt, &rs, NULL, 8), -EINVAL);
    /* Zero length: ready at once with 0, nothing consumed. */
    cr_assert_eq(write(a, "xy", 2), 2);
    T_EQ_INT(next_of(rt, &rs, buf, 0), 0);
    T_EQ_INT(next_of(rt, &rs, buf, sizeof buf), 2);
    cr_assert(t_is(memcmp(buf, "xy", 2) == 0));
    T_EQ_INT(ar_recv_stream_next(&rs, NULL, buf, 1), AR_READY);
    T_EQ_INT(rs.res, -EINVAL);
    ar_recv_stream_drop(&rs);
    ar_recv_stream_drop(&rs);
    T_EQ_INT(ar_recv_stream_next(NULL, NULL, NULL, 0), AR_READY);
    ar_recv_stream_drop(NULL);
    ar_recv_stream_init(NULL, 0);
    close(a);
    close(b);
    close(pfd[0]);
    close(pfd[1]);
    ar_rt_free(rt);
    T_EQ_INT(t_count_fds(), before);
}

/* ---- echo server on both streams ---- */
typedef struct sconn { ar_co co; int fd; ar_recv_stream rs; ar_io io; char buf[4096]; int64_t n, off; } sconn;

static ar_poll sconn_poll(void *p, ar_cx *cx)
{
    sconn *self = p;
    AR_BEGIN(&self->co);
    ar_recv_stream_init(&self->rs, self->fd);
    for (;;) {
        AR_AWAIT(ar_recv_stream_next(&self->rs, cx, self->buf, sizeof self->buf));
        self->n = self->rs.res;
        if (self->n <= 0)
            break;
        for (self->off = 0; self->off < self->n; self->off += self->io.res) {
            ar_io_send(&self->io, self->fd, self->buf + self->off, (size_t)(self->n - self->off), 0);
            AR_AWAIT(ar_io_poll(&self->io, cx));
            if (self->io.res <= 0)
                goto out;
        }
    }
out:
    ar_recv_stream_drop(&self->rs);
    close(self->fd);
    self->fd = -1;
    AR_END;
}
static void sconn_drop(void *p)
{
    sconn *self = p;
    ar_recv_stream_drop(&self->rs);
    ar_io_drop(&self->io);
    if (self->fd >= 0)
        close(self->fd);
}
static const ar_future_vt sconn_vt = AR_FUTURE_VT_VOID(sconn, sconn_poll, sconn_drop);

typedef struct sacceptor { ar_co co; int lfd, n, i; ar_accept_stream acc; } sacceptor;
static ar_poll sacceptor_poll(void *p, ar_cx *cx)
{
    sacceptor *self = p;
    AR_BEGIN(&self->co);
    ar_accept_stream_init(&self->acc, self->lfd, SOCK_CLOEXEC);
    for (self->i = 0; self->i < self->n; self->i++) {
        AR_AWAIT(ar_accept_stream_next(&self->acc, cx));
        T_BG_CHECK(self->acc.res >= 0);
        if (self->acc.res < 0)
            break;
        sconn c = {.fd = self->acc.res};
        T_BG_EQ(ar_spawn(NULL, &sconn_vt, &c, NULL), 0);
    }
    ar_accept_stream_drop(&self->acc);
    AR_END;
}
static void sacceptor_drop(void *p) { ar_accept_stream_drop(&((sacceptor *)p)->acc); }
static const ar_future_vt sacceptor_vt = AR_FUTURE_VT_VOID(sacceptor, sacceptor_poll, sacceptor_drop);

/* Client: connect, 20 messages of 64..1063 bytes, each echo checked. */
typedef struct client {
    ar_co co;
    uint16_t port;
    int id, k, fd;
    ar_tcp_connect c;
    ar_io io;
    size_t len;
    unsigned char out[1100], in[1100];
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
        self->len = 64 + (size_t)(self->id * 7 + self->k * 101) % 1000;
        for (size_t b = 0; b < self->len; b++)
            self->out[b] = (unsigned char)(self->id * 31 + self->k * 7 + (int)b);
        ar_io_send(&self->io, self->fd, self->out, self->len, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, (long long)self->len);
        for (self->got = 0; self->got < (int64_t)self->len;) {
            ar_io_recv(&self->io, self->fd, self->in + self->got, self->len - (size_t)self->got, 0);
            AR_AWAIT(ar_io_poll(&self->io, cx));
            if (self->io.res <= 0)
                break;
            self->got += self->io.res;
        }
        T_BG_EQ(self->got, (long long)self->len);
        if (self->got == (int64_t)self->len && memcmp(self->in, self->out, self->len) == 0)
            atomic_fetch_add(self->bytes_ok, (long)self->len);
    }
    close(self->fd);
    AR_END;
}
static const ar_future_vt client_vt = AR_FUTURE_VT_VOID(client, client_poll, NULL);

Test(recv_stream, echo_1000_connections_through_both_streams, .timeout = 180)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    const int n = 1000;
    int lfd = ar_tcp_listen("127.0.0.1", 0, 4096);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    sacceptor a = {.lfd = lfd, .n = n};
    ar_join ha;
    T_OK(ar_spawn(rt, &sacceptor_vt, &a, &ha));
    _Atomic long bytes_ok = 0;
    long expect = 0;
    ar_join *hc = calloc((size_t)n, sizeof *hc);
    for (int i = 0; i < n; i++) {
        client c = {.port = port, .id = i, .bytes_ok = &bytes_ok};
        for (int k = 0; k < 20; k++)
            expect += 64 + (i * 7 + k * 101) % 1000;
        T_OK(ar_spawn(rt, &client_vt, &c, &hc[i]));
    }
    for (int i = 0; i < n; i++)
        T_OK(ar_join_wait(&hc[i], NULL, 0));
    T_OK(ar_join_wait(&ha, NULL, 0));
    T_EQ_INT(atomic_load(&bytes_ok), expect);
    T_BG_ASSERT_CLEAN();
    free(hc);
    /* The server tasks end at their clients' EOF; the runtime's shutdown
     * drops any still finishing. */
    ar_rt_free(rt);
    close(lfd);
    T_EQ_INT(t_count_fds(), before);
}

/* ---- dropping 10,000 armed stream operations ---- */
typedef struct parked_acc { ar_accept_stream acc; int started; } parked_acc;
static ar_poll parked_acc_poll(void *p, ar_cx *cx)
{
    parked_acc *self = p;
    for (;;) {
        if (ar_accept_stream_next(&self->acc, cx) == AR_PENDING)
            return AR_PENDING;
        if (self->acc.res < 0)
            return AR_READY;
        close(self->acc.res); /* keep taking: the queue stays live */
    }
}
static void parked_acc_drop(void *p) { ar_accept_stream_drop(&((parked_acc *)p)->acc); }
static const ar_future_vt parked_acc_vt = AR_FUTURE_VT_VOID(parked_acc, parked_acc_poll, parked_acc_drop);

typedef struct parked_rs { ar_recv_stream rs; char buf[16]; } parked_rs;
static ar_poll parked_rs_poll(void *p, ar_cx *cx)
{
    parked_rs *self = p;
    for (;;) {
        if (ar_recv_stream_next(&self->rs, cx, self->buf, sizeof self->buf) == AR_PENDING)
            return AR_PENDING;
        if (self->rs.res <= 0)
            return AR_READY;
    }
}
static void parked_rs_drop(void *p) { ar_recv_stream_drop(&((parked_rs *)p)->rs); }
static const ar_future_vt parked_rs_vt = AR_FUTURE_VT_VOID(parked_rs, parked_rs_poll, parked_rs_drop);

Test(recv_stream, dropping_ten_thousand_armed_streams, .timeout = 180)
{
    const int n = T_N(10000);
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 1024);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    enum { NPAIRS = 50 };
    int a[NPAIRS], b[NPAIRS];
    for (int i = 0; i < NPAIRS; i++)
        tcp_pair(&a[i], &b[i]);
    ar_join *h = calloc((size_t)n, sizeof *h);
    for (int i = 0; i < n; i++) {
        if (i % 2) {
            parked_rs r;
            memset(&r, 0, sizeof r);
            ar_recv_stream_init(&r.rs, b[i % NPAIRS]);
            T_OK(ar_spawn(rt, &parked_rs_vt, &r, &h[i]));
        } else {
            parked_acc ac;
            memset(&ac, 0, sizeof ac);
            ar_accept_stream_init(&ac.acc, lfd, SOCK_CLOEXEC);
            T_OK(ar_spawn(rt, &parked_acc_vt, &ac, &h[i]));
        }
    }
    usleep(300000); /* let them all arm */
    /* Traffic while they are armed: connections land in accept queues
     * (some never handed out), bytes in recv queues. */
    int cli[100];
    for (int i = 0; i < 100; i++) {
        struct sockaddr_storage ss;
        int len = ar_sockaddr_from("127.0.0.1", port, &ss);
        cli[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(connect(cli[i], (struct sockaddr *)&ss, (socklen_t)len), 0);
    }
    for (int i = 0; i < NPAIRS; i++)
        cr_assert_eq(write(a[i], "some bytes", 10), 10);
    usleep(100000);
    for (int i = 0; i < n; i++)
        T_OK(ar_join_abort(&h[i]));
    for (int i = 0; i < n; i++) {
        int rc = ar_join_wait(&h[i], NULL, 0);
        cr_assert(t_is(rc == -ECANCELED || rc == 0), "join: %d", rc);
    }
    /* Late traffic finds no stale operation. */
    for (int i = 0; i < NPAIRS; i++)
        cr_assert_eq(write(a[i], "late", 4), 4);
    ar_rt_free(rt);
    for (int i = 0; i < 100; i++)
        close(cli[i]);
    for (int i = 0; i < NPAIRS; i++) {
        close(a[i]);
        close(b[i]);
    }
    close(lfd);
    free(h);
    T_EQ_INT(t_count_fds(), before);
}
