/*
 * tests/test_vectored.c - ar_io_readv / ar_io_writev: a file round trip at
 * offsets through uneven iovecs, sockets with offset -1, the bound on the
 * iovec count, zero-length requests and bad descriptors.
 */
#include "helpers.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* One operation run to completion from the test thread (remote submission
 * onto worker 0's ring). */
typedef struct one_io { ar_io io; } one_io;
static ar_poll one_io_poll(void *p, ar_cx *cx) { return ar_io_poll(&((one_io *)p)->io, cx); }
static void one_io_drop(void *p) { ar_io_drop(&((one_io *)p)->io); }
static const ar_future_vt one_io_vt = AR_FUTURE_VT_VOID(one_io, one_io_poll, one_io_drop);

static int64_t run_io(ar_rt *rt, one_io *o)
{
    T_OK(ar_block_on(rt, &one_io_vt, o));
    return o->io.res;
}

Test(vectored, file_round_trip_at_offsets, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    char path[64];
    snprintf(path, sizeof path, "/tmp/asyncrt-vec-%d.dat", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    /* Three uneven parts, 7 + 4096 + 1000 bytes, written at offset 100. */
    static char a[7], b[4096], c[1000];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (char)(i * 7 + 1);
    memset(a, 'a', sizeof a);
    memset(c, 'c', sizeof c);
    struct iovec wv[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    static one_io o;
    ar_io_writev(&o.io, fd, wv, 3, 100);
    T_EQ_INT(run_io(rt, &o), 7 + 4096 + 1000);
    /* The file holds exactly those bytes at 100. */
    static char whole[7 + 4096 + 1000], expect[7 + 4096 + 1000];
    memcpy(expect, a, 7);
    memcpy(expect + 7, b, 4096);
    memcpy(expect + 7 + 4096, c, 1000);
    T_EQ_INT(pread(fd, whole, sizeof whole, 100), (long)sizeof whole);
    cr_assert(t_is(memcmp(whole, expect, sizeof whole) == 0), "writev wrote other bytes");
    /* Read back through differently cut iovecs (with an empty one), from
     * offset 103: the scatter follows the caller's cut. */
    static char r1[10], r2[1], r3[6000];
    memset(r3, 0, sizeof r3);
    struct iovec rv[4] = {{r1, sizeof r1}, {NULL, 0}, {r2, sizeof r2}, {r3, sizeof r3}};
    ar_io_readv(&o.io, fd, rv, 4, 103);
    T_EQ_INT(run_io(rt, &o), sizeof whole - 3);
    cr_assert(t_is(memcmp(r1, expect + 3, 10) == 0));
    cr_assert(t_is(memcmp(r2, expect + 13, 1) == 0));
    cr_assert(t_is(memcmp(r3, expect + 14, sizeof whole - 14) == 0));
    cr_assert(t_is(r3[sizeof whole - 14] == 0), "readv wrote past what it read");
    /* Past the end: 0. */
    ar_io_readv(&o.io, fd, rv, 4, 1 << 20);
    T_EQ_INT(run_io(rt, &o), 0);
    close(fd);
    unlink(path);
    ar_rt_free(rt);
}

Test(vectored, sockets_with_offset_minus_one, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char h[] = "head:", body[] = "the body";
    struct iovec wv[2] = {{h, 5}, {body, 8}};
    static one_io o;
    ar_io_writev(&o.io, sv[0], wv, 2, -1);
    T_EQ_INT(run_io(rt, &o), 13);
    char x[4] = {0}, y[32] = {0};
    struct iovec rv[2] = {{x, 3}, {y, sizeof y}};
    ar_io_readv(&o.io, sv[1], rv, 2, -1);
    T_EQ_INT(run_io(rt, &o), 13);
    cr_assert_str_eq(x, "hea");
    cr_assert_str_eq(y, "d:the body");
    close(sv[0]);
    close(sv[1]);
    ar_rt_free(rt);
}

Test(vectored, bad_input, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    static struct iovec many[AR_IO_MAX_IOV + 1];
    static char byte;
    for (int i = 0; i <= AR_IO_MAX_IOV; i++)
        many[i] = (struct iovec){&byte, 1};
    static one_io o;
    /* Exactly the bound is fine, one more is not. */
    ar_io_writev(&o.io, sv[0], many, AR_IO_MAX_IOV, -1);
    T_EQ_INT(run_io(rt, &o), AR_IO_MAX_IOV);
    ar_io_writev(&o.io, sv[0], many, AR_IO_MAX_IOV + 1, -1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    ar_io_readv(&o.io, sv[1], many, AR_IO_MAX_IOV + 1, -1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    ar_io_readv(&o.io, sv[1], many, -1, -1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    ar_io_readv(&o.io, sv[1], NULL, 2, -1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    struct iovec holey[2] = {{&byte, 1}, {NULL, 5}};
    ar_io_writev(&o.io, sv[0], holey, 2, -1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    struct iovec huge = {&byte, (size_t)AR_IO_MAX_LEN + 1};
    ar_io_readv(&o.io, sv[1], &huge, 1, -1);
    T_EQ_INT(run_io(rt, &o), -EINVAL);
    /* Zero bytes in all: completes with 0, does not wait for data. */
    ar_io_readv(&o.io, sv[1], NULL, 0, -1);
    T_EQ_INT(run_io(rt, &o), 0);
    struct iovec empty = {&byte, 0};
    ar_io_writev(&o.io, sv[0], &empty, 1, -1);
    T_EQ_INT(run_io(rt, &o), 0);
    /* Closed and never-opened descriptors. */
    int dead = dup(sv[0]);
    close(dead);
    ar_io_writev(&o.io, dead, many, 1, -1);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    ar_io_readv(&o.io, 987654, many, 1, -1);
    T_EQ_INT(run_io(rt, &o), -EBADF);
    /* The 1024 bytes sent above are all there, in order, then nothing lost. */
    static char got[AR_IO_MAX_IOV];
    struct iovec g = {got, sizeof got};
    ar_io_readv(&o.io, sv[1], &g, 1, -1);
    T_EQ_INT(run_io(rt, &o), AR_IO_MAX_IOV);
    close(sv[0]);
    close(sv[1]);
    ar_rt_free(rt);
}

/* Writer thread: after a pause, n bytes (i * 13 + 5 pattern) into fd. */
typedef struct late_writer { int fd; size_t n; unsigned delay_ms; } late_writer;
static void *late_writer_main(void *p)
{
    late_writer *w = p;
    t_sleep_ms(w->delay_ms);
    static unsigned char b[4096];
    for (size_t off = 0; off < w->n;) {
        size_t k = w->n - off < sizeof b ? w->n - off : sizeof b;
        for (size_t i = 0; i < k; i++)
            b[i] = (unsigned char)((off + i) * 13 + 5);
        ssize_t m = write(w->fd, b, k);
        if (m <= 0)
            return NULL;
        off += (size_t)m;
    }
    return NULL;
}

/* Reader thread: after a pause, reads n bytes of fd into buf. */
typedef struct late_reader { int fd; size_t n; unsigned delay_ms; unsigned char *buf; } late_reader;
static void *late_reader_main(void *p)
{
    late_reader *r = p;
    t_sleep_ms(r->delay_ms);
    for (size_t off = 0; off < r->n;) {
        ssize_t m = read(r->fd, r->buf + off, r->n - off);
        if (m <= 0)
            return NULL;
        off += (size_t)m;
    }
    return NULL;
}

Test(vectored, readv_waits_for_data_and_writev_for_room, .timeout = 30)
{
    /* The waiting paths (on epoll: readiness, then the retry): a readv on
     * an empty pipe completes when a late writer's bytes arrive; a writev
     * larger than a socket's buffer completes (possibly short) when a late
     * reader makes room, and every byte it counts is the caller's, in
     * order. */
    ar_rt *rt = t_rt_mt(2);
    int pp[2];
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    static unsigned char x[5], y[100];
    struct iovec rv[2] = {{x, sizeof x}, {y, sizeof y}};
    static one_io o;
    late_writer lw = {pp[1], 50, 100};
    pthread_t th = t_thread(late_writer_main, &lw);
    ar_io_readv(&o.io, pp[0], rv, 2, -1);
    int64_t got = run_io(rt, &o);
    pthread_join(th, NULL);
    cr_assert(t_is(got >= 1 && got <= 50), "readv: %lld", (long long)got);
    for (int64_t i = 0; i < got; i++) {
        unsigned char v = i < 5 ? x[i] : y[i - 5];
        cr_assert(t_is(v == (unsigned char)(i * 13 + 5)), "byte %lld", (long long)i);
    }
    close(pp[0]);
    close(pp[1]);

    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    enum { PART = 256 << 10 };
    static unsigned char p1[PART], p2[PART], back[2 * PART];
    for (size_t i = 0; i < PART; i++) {
        p1[i] = (unsigned char)(i * 7);
        p2[i] = (unsigned char)(i * 11 + 1);
    }
    /* Fill the socket first so the writev must wait. */
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    size_t pre = 0;
    static unsigned char fill[4096];
    for (ssize_t m; (m = write(sv[0], fill, sizeof fill)) > 0;)
        pre += (size_t)m;
    fcntl(sv[0], F_SETFL, fl);
    static unsigned char drained[1 << 20];
    cr_assert(t_is(pre <= sizeof drained), "socket buffer of %zu bytes", pre);
    late_reader lr = {sv[1], pre, 100, drained};
    th = t_thread(late_reader_main, &lr);
    struct iovec wv[2] = {{p1, PART}, {p2, PART}};
    ar_io_writev(&o.io, sv[0], wv, 2, -1);
    int64_t sent = run_io(rt, &o);
    pthread_join(th, NULL);
    cr_assert(t_is(sent > 0 && sent <= 2 * PART), "writev: %lld", (long long)sent);
    shutdown(sv[0], SHUT_WR);
    size_t n = 0;
    for (ssize_t m; n < sizeof back && (m = read(sv[1], back + n, sizeof back - n)) > 0;)
        n += (size_t)m;
    T_EQ_U64(n, (uint64_t)sent);
    for (size_t i = 0; i < n; i++) {
        unsigned char v = i < PART ? p1[i] : p2[i - PART];
        cr_assert(t_is(back[i] == v), "byte %zu", i);
    }
    close(sv[0]);
    close(sv[1]);
    ar_rt_free(rt);
}
