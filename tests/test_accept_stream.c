/*
 * tests/test_accept_stream.c - the multishot accept stream: every
 * connection handed out once; connections accepted while nobody polls are
 * queued (and handed out without waiting); dropping the stream closes what
 * it queued; EMFILE is reported once and backed off without burning CPU,
 * then the stream resumes; bad descriptors end the stream with -errno.
 */
#include "helpers.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int max_fd(void)
{
    int m = -1;
    DIR *d = opendir("/proc/self/fd");
    int self = d ? dirfd(d) : -1;
    for (struct dirent *e; d && (e = readdir(d));) {
        int v = atoi(e->d_name);
        if (e->d_name[0] != '.' && v != self && v > m)
            m = v;
    }
    if (d)
        closedir(d);
    return m;
}

/* A blocking client connection to 127.0.0.1:port, or fails the test. */
static int connect_to(uint16_t port)
{
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", port, &ss);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&ss, (socklen_t)len), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* ---- collector: takes `want` items from an accept stream ---- */
typedef struct shared {
    _Atomic int nfds;   /* descriptors received so far */
    _Atomic int fds[64];
    _Atomic int nerr;   /* errors received */
    _Atomic int last_err;
    _Atomic int pending_after_first; /* nexts that had to wait after `go` */
    _Atomic int go;     /* collector: start taking again (queue test) */
} shared;

typedef struct collector {
    ar_co co;
    int lfd, want, pause_after;
    ar_accept_stream acc;
    ar_sleep sleep;
    shared *sh;
    int waited;
} collector;

/* The stream's next, recording whether it had to wait. */
static ar_poll next_noting_waits(collector *self, ar_cx *cx)
{
    ar_poll r = ar_accept_stream_next(&self->acc, cx);
    if (r == AR_PENDING)
        self->waited = 1;
    return r;
}

static ar_poll collector_poll(void *p, ar_cx *cx)
{
    collector *self = p;
    AR_BEGIN(&self->co);
    ar_accept_stream_init(&self->acc, self->lfd, SOCK_CLOEXEC);
    while (atomic_load(&self->sh->nfds) < self->want) {
        if (self->pause_after && atomic_load(&self->sh->nfds) == self->pause_after &&
            !atomic_load(&self->sh->go)) {
            /* Stop polling the stream until the test says go. */
            while (!atomic_load(&self->sh->go)) {
                ar_sleep_init(&self->sleep, 5);
                AR_AWAIT(ar_sleep_poll(&self->sleep, cx));
            }
        }
        self->waited = 0;
        AR_AWAIT(next_noting_waits(self, cx));
        if (self->waited && atomic_load(&self->sh->go))
            atomic_fetch_add(&self->sh->pending_after_first, 1);
        if (self->acc.res >= 0) {
            int i = atomic_load(&self->sh->nfds);
            atomic_store(&self->sh->fds[i], self->acc.res);
            atomic_store(&self->sh->nfds, i + 1);
        } else {
            atomic_store(&self->sh->last_err, self->acc.res);
            atomic_fetch_add(&self->sh->nerr, 1);
            if (self->acc.res != -EMFILE && self->acc.res != -ENFILE)
                break; /* the stream ended */
        }
    }
    ar_accept_stream_drop(&self->acc);
    AR_END;
}
static void collector_drop(void *p)
{
    collector *self = p;
    ar_accept_stream_drop(&self->acc);
    ar_sleep_drop(&self->sleep);
}
static const ar_future_vt collector_vt = AR_FUTURE_VT_VOID(collector, collector_poll, collector_drop);

Test(accept_stream, hands_out_every_connection_once, .timeout = 60)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 128);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    static shared sh;
    memset(&sh, 0, sizeof sh);
    collector c = {.lfd = lfd, .want = 40, .sh = &sh};
    ar_join h;
    T_OK(ar_spawn(rt, &collector_vt, &c, &h));
    int cli[40];
    for (int i = 0; i < 40; i++) {
        cli[i] = connect_to(port);
        int32_t id = i;
        cr_assert_eq(write(cli[i], &id, 4), 4);
    }
    T_OK(ar_join_wait(&h, NULL, 0));
    T_EQ_INT(atomic_load(&sh.nfds), 40);
    T_EQ_INT(atomic_load(&sh.nerr), 0);
    /* Each accepted descriptor is a distinct connection: every id once. */
    int seen[40] = {0};
    for (int i = 0; i < 40; i++) {
        int32_t id = -1;
        T_EQ_INT(read(atomic_load(&sh.fds[i]), &id, 4), 4);
        cr_assert(t_is(id >= 0 && id < 40));
        seen[id]++;
        close(atomic_load(&sh.fds[i]));
    }
    for (int i = 0; i < 40; i++) {
        T_EQ_INT(seen[i], 1);
        close(cli[i]);
    }
    close(lfd);
    ar_rt_free(rt);
    T_EQ_INT(t_count_fds(), before);
}

Test(accept_stream, queues_while_nobody_polls, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 128);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    static shared sh;
    memset(&sh, 0, sizeof sh);
    collector c = {.lfd = lfd, .want = 21, .pause_after = 1, .sh = &sh};
    ar_join h;
    T_OK(ar_spawn(rt, &collector_vt, &c, &h));
    int cli[21];
    cli[0] = connect_to(port);
    T_WAIT_UNTIL(atomic_load(&sh.nfds) == 1);
    /* The collector polls no more; the armed multishot keeps accepting. */
    int base = t_count_fds();
    for (int i = 1; i < 21; i++)
        cli[i] = connect_to(port);
    T_WAIT_UNTIL(t_count_fds() == base + 40); /* 20 clients + 20 accepted, queued */
    atomic_store(&sh.go, 1);
    T_OK(ar_join_wait(&h, NULL, 0));
    T_EQ_INT(atomic_load(&sh.nfds), 21);
    /* Every one of the 20 was ready at once: none had to be waited for. */
    T_EQ_INT(atomic_load(&sh.pending_after_first), 0);
    for (int i = 0; i < 21; i++) {
        close(atomic_load(&sh.fds[i]));
        close(cli[i]);
    }
    close(lfd);
    ar_rt_free(rt);
}

Test(accept_stream, drop_closes_queued_descriptors, .timeout = 60)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 128);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    static shared sh;
    memset(&sh, 0, sizeof sh);
    collector c = {.lfd = lfd, .want = 100, .pause_after = 1, .sh = &sh};
    ar_join h;
    T_OK(ar_spawn(rt, &collector_vt, &c, &h));
    int cli[31];
    cli[0] = connect_to(port);
    T_WAIT_UNTIL(atomic_load(&sh.nfds) == 1);
    int base = t_count_fds();
    for (int i = 1; i < 31; i++)
        cli[i] = connect_to(port);
    T_WAIT_UNTIL(t_count_fds() == base + 60);
    T_OK(ar_join_abort(&h));
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    /* The 30 queued descriptors were closed by the drop: the clients see EOF. */
    T_WAIT_UNTIL(t_count_fds() == base + 30);
    for (int i = 1; i < 31; i++) {
        char b;
        T_EQ_INT(read(cli[i], &b, 1), 0);
    }
    for (int i = 0; i < 31; i++)
        close(cli[i]);
    close(atomic_load(&sh.fds[0]));
    close(lfd);
    ar_rt_free(rt);
    T_EQ_INT(t_count_fds(), before);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

Test(accept_stream, emfile_reported_once_backs_off_and_resumes, .timeout = 90)
{
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 128);
    cr_assert_geq(lfd, 0);
    uint16_t port = (uint16_t)ar_tcp_local_port(lfd);
    enum { NCLI = 6 };
    int cli[NCLI];
    for (int i = 0; i < NCLI; i++) {
        cli[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(cli[i], 0);
    }
    /* Room for exactly two more descriptors, set before the stream is first
     * armed (the kernel reads the limit when the accept is prepared). */
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)max_fd() + 1 + 2;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    static shared sh;
    memset(&sh, 0, sizeof sh);
    collector c = {.lfd = lfd, .want = NCLI, .sh = &sh};
    ar_join h;
    T_OK(ar_spawn(rt, &collector_vt, &c, &h));
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from("127.0.0.1", port, &ss);
    for (int i = 0; i < NCLI; i++)
        cr_assert_eq(connect(cli[i], (struct sockaddr *)&ss, (socklen_t)len), 0);
    T_WAIT_UNTIL(atomic_load(&sh.nfds) == 2 && atomic_load(&sh.nerr) == 1);
    T_EQ_INT(atomic_load(&sh.last_err), -EMFILE);
    /* The shortage lasts: the stream waits (1, 2, 4 ... ms) instead of
     * spinning, and does not report the error again. */
    double c0 = cpu_s(), t0 = t_now_s();
    t_sleep_ms(600);
    double used = cpu_s() - c0, wall = t_now_s() - t0;
    cr_log_info("cpu %.1f ms over %.0f ms of EMFILE backoff", used * 1e3, wall * 1e3);
    /* Doubling backoff: about 10 attempts in the window (1.2 ms of CPU
     * here); a fixed 1 ms retry costs ~17 ms, a spin the whole window. */
    double limit = T_SCALE_DIV > 1 ? 0.04 : 0.01;
    cr_assert(t_is(used < limit), "the backoff window used %.1f ms of CPU", used * 1e3);
    T_EQ_INT(atomic_load(&sh.nerr), 1);
    T_EQ_INT(atomic_load(&sh.nfds), 2);
    /* Free descriptors as they come: the stream resumes and takes all. */
    int closed = 0;
    double deadline = t_now_s() + 30;
    while (atomic_load(&sh.nfds) < NCLI && t_now_s() < deadline) {
        for (; closed < atomic_load(&sh.nfds); closed++)
            close(atomic_load(&sh.fds[closed]));
        t_sleep_ms(5);
    }
    T_EQ_INT(atomic_load(&sh.nfds), NCLI);
    T_OK(ar_join_wait(&h, NULL, 0));
    for (; closed < NCLI; closed++)
        close(atomic_load(&sh.fds[closed]));
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < NCLI; i++)
        close(cli[i]);
    close(lfd);
    ar_rt_free(rt);
}

/* ---- bad descriptors end the stream with -errno, repeatedly ---- */
typedef struct bad { ar_co co; ar_accept_stream acc; int fd; int r[2]; } bad;
static ar_poll bad_poll(void *p, ar_cx *cx)
{
    bad *self = p;
    AR_BEGIN(&self->co);
    ar_accept_stream_init(&self->acc, self->fd, 0);
    AR_AWAIT(ar_accept_stream_next(&self->acc, cx));
    self->r[0] = self->acc.res;
    AR_AWAIT(ar_accept_stream_next(&self->acc, cx));
    self->r[1] = self->acc.res;
    ar_accept_stream_drop(&self->acc);
    AR_END;
}
static const ar_future_vt bad_vt = AR_FUTURE_VT_VOID(bad, bad_poll, NULL);

static void expect_bad(ar_rt *rt, int fd, int err)
{
    bad b = {.fd = fd};
    T_OK(ar_block_on(rt, &bad_vt, &b));
    cr_assert(t_is(b.r[0] == err && b.r[1] == err), "fd %d: %d, %d, expected %d", fd, b.r[0],
              b.r[1], err);
}

Test(accept_stream, bad_descriptors, .timeout = 30)
{
    int before = t_count_fds();
    ar_rt *rt = t_rt_mt(2);
    expect_bad(rt, -1, -EBADF);
    expect_bad(rt, 987654, -EBADF);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    expect_bad(rt, pfd[0], -ENOTSOCK);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not listening */
    expect_bad(rt, s, -EINVAL);
    /* NULL stream and NULL cx: no crash. */
    ar_accept_stream acc;
    ar_accept_stream_init(&acc, s, 0);
    T_EQ_INT(ar_accept_stream_next(&acc, NULL), AR_READY);
    T_EQ_INT(acc.res, -EINVAL);
    ar_accept_stream_drop(&acc);
    ar_accept_stream_drop(&acc);
    T_EQ_INT(ar_accept_stream_next(NULL, NULL), AR_READY);
    ar_accept_stream_drop(NULL);
    ar_accept_stream_init(NULL, 0, 0);
    close(s);
    close(pfd[0]);
    close(pfd[1]);
    ar_rt_free(rt);
    T_EQ_INT(t_count_fds(), before);
}
