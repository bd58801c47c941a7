/*
 * examples/common/test_server.c - the server skeleton in-process: start and
 * stop, IPv4 and IPv6 clients, the connection cap, graceful stop with a
 * connection mid-request, the timeout that drops idle connections, and
 * the environment freed only once its borrows are gone.
 *
 * The handler under test answers each line it reads with "<line>\n" and,
 * once the server drains, ends its connection after the current line: a
 * request boundary that the test controls byte by byte.  It marks the
 * connection idle before each line and busy once a byte of one arrived
 * (srv_conn_idle / srv_conn_busy), so a stop ends an idle connection at
 * once; g_plain turns that off (the handler then only checks srv_draining
 * after each line, as a handler that does not mark its boundaries).
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "server.h"
#include "test_net.h"

typedef struct line_env {
    atomic_int *dropped; /* set by env_drop: the environment was freed */
    const atomic_int *calls_seen;
} line_env;

typedef struct line_frame {
    ar_co co;
    srv_conn arg;
    ar_unit out;
    ar_recv_stream rs;
    ar_io io;
    int64_t len;
    bool last;
    char buf[256];
} line_frame;

static void line_frame_drop(line_frame *f)
{
    ar_recv_stream_drop(&f->rs);
    ar_io_drop(&f->io);
}
static void line_env_drop(line_env *e) { atomic_store(e->dropped, 1); }

AR_CLOSURE(liner, AR_FN, line_env, line_frame, line_body, line_frame_drop, line_env_drop);

static bool g_plain; /* set before start: the handler does not mark idle/busy */
static atomic_int g_bytes; /* bytes every handler read, since start */

static ar_poll line_body(const line_env *env, line_frame *self, ar_cx *cx)
{
    (void)env;
    AR_BEGIN(&self->co);
    ar_recv_stream_init(&self->rs, self->arg.fd);
    for (;;) {
        if (self->len == 0 && !g_plain && !srv_conn_idle(&self->arg))
            break;
        /* One byte at a time keeps the line logic trivial. */
        AR_AWAIT(ar_recv_stream_next(&self->rs, cx, self->buf + self->len, 1));
        if (self->rs.res <= 0)
            break;
        if (!g_plain)
            srv_conn_busy(&self->arg);
        atomic_fetch_add(&g_bytes, 1);
        if (self->buf[self->len++] != '\n' && self->len < (int64_t)sizeof self->buf)
            continue;
        /* An unmarked handler ends at the next line boundary once the
         * server drains (it decides before answering).  A marking one
         * relies on srv_conn_idle alone, so the tests check that path. */
        self->last = g_plain && srv_draining(self->arg.srv);
        ar_io_send(&self->io, self->arg.fd, self->buf, (size_t)self->len, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        if (self->io.res != self->len || self->last)
            break;
        self->len = 0;
    }
    ar_recv_stream_drop(&self->rs);
    AR_END;
}

static atomic_int g_dropped;
static liner g_liner;
static srv g_srv;

static bool g_fences; /* set before start: srv_opts.force_fences */

static void start_ex(uint32_t max_conns, uint32_t timeout_ms, bool plain)
{
    g_plain = plain;
    atomic_store(&g_bytes, 0);
    atomic_store(&g_dropped, 0);
    g_liner = AR_CLOSURE_NEW(liner, {.dropped = &g_dropped});
    srv_opts o;
    srv_opts_init(&o);
    o.handle_signals = false;
    o.workers = 2;
    o.max_conns = max_conns;
    o.shutdown_timeout_ms = timeout_ms;
    o.reject_msg = "full\n";
    o.force_fences = g_fences;
    o.name = "test_server";
    int rc = srv_start(&g_srv, &o, &g_liner.base);
    cr_assert_eq(rc, 0, "srv_start: %s", ar_strerror(rc));
    cr_assert_neq(srv_port(&g_srv), 0);
}

static void start(uint32_t max_conns, uint32_t timeout_ms) { start_ex(max_conns, timeout_ms, false); }

/* Send a line and check it comes back. */
static void roundtrip(int fd, const char *line)
{
    cr_assert_eq(tn_write_str(fd, line), 0);
    char got[256] = {0};
    size_t n = strlen(line);
    cr_assert_eq(tn_read_exact(fd, got, n), (ssize_t)n);
    cr_assert_str_eq(got, line);
}

/* Wait until the handlers have read n bytes in all: the last one read is
 * part of a request (its handler marked the connection busy before it
 * counted the byte), so a stop now finds that connection busy. */
static void wait_bytes(int n)
{
    for (int i = 0; i < 4000 && atomic_load(&g_bytes) < n; i++)
        tn_sleep_ms(5);
    cr_assert_eq(atomic_load(&g_bytes), n);
}

/* A stopping server's connection that holds "half a " (busy): the rest of
 * the line gets the whole line back, then EOF, and the environment lives
 * until then; returns srv_wait's result (th runs tn_srv_wait_thread). */
static int finish_half_line(int fd, pthread_t th)
{
    cr_assert_eq(atomic_load(&g_dropped), 0, "environment freed while borrowed");
    char got[64];
    cr_assert(tn_finish(fd, "line\n", "half a line\n", got, sizeof got), "got '%s'", got);
    close(fd);
    void *rc;
    pthread_join(th, &rc);
    return (int)(intptr_t)rc;
}

Test(server, start_stop_ipv4_ipv6, .timeout = 30)
{
    start(100, 1000);
    int a = tn_connect("127.0.0.1", srv_port(&g_srv));
    cr_assert_geq(a, 0, "connect IPv4: %s", strerror(-a));
    roundtrip(a, "four\n");
    int b = tn_connect("::1", srv_port(&g_srv));
    if (b >= 0) { /* a host without IPv6 loopback cannot test this half */
        roundtrip(b, "six\n");
        close(b);
    }
    close(a);
    srv_stop(&g_srv);
    cr_assert_eq(srv_wait(&g_srv), 0);
    cr_assert_eq(atomic_load(&g_dropped), 1, "the environment was not dropped");
    /* Stopped: nobody listens on the port any more. */
    cr_assert_lt(tn_connect("127.0.0.1", g_srv.port), 0);
}

Test(server, bad_options, .timeout = 10)
{
    srv_opts o;
    srv_opts_init(&o);
#define A(s) ((char *)(uintptr_t)(s)) /* argv is char **; the strings are not written */
    char *argv1[] = {A("x"), A("--port"), A("70000"), NULL};
    cr_assert_eq(srv_opts_parse(&o, 3, argv1, NULL, NULL), -EINVAL);
    char *argv2[] = {A("x"), A("--workers"), A("0"), A("--port"), A("1"), NULL};
    cr_assert_eq(srv_opts_parse(&o, 5, argv2, NULL, NULL), -EINVAL);
    char *argv3[] = {A("x"), A("--workers"), NULL};
    cr_assert_eq(srv_opts_parse(&o, 2, argv3, NULL, NULL), -EINVAL);
    char *argv4[] = {A("x"), A("--bogus"), NULL};
    cr_assert_eq(srv_opts_parse(&o, 2, argv4, NULL, NULL), -EINVAL);
    char *argv5[] = {A("x"), A("--workers"), A("3"), NULL};
    cr_assert_eq(srv_opts_parse(&o, 3, argv5, NULL, NULL), -EINVAL, "--port is required");
    char *argv6[] = {A("x"), A("--port"), A("0"), A("--workers"), A("3"), A("--max-conns"), A("7"),
                     A("--shutdown-timeout-ms"), A("250"), NULL};
    cr_assert_eq(srv_opts_parse(&o, 9, argv6, NULL, NULL), 0);
    cr_assert_eq(o.workers, 3);
    cr_assert_eq(o.max_conns, 7);
    cr_assert_eq(o.shutdown_timeout_ms, 250);
    /* A handler that is not AR_FN is refused, nothing left behind. */
    srv s;
    ar_closure bogus = {0};
    cr_assert_eq(srv_start(&s, &o, &bogus), -EINVAL);
    /* A port in use is reported. */
    start(10, 100);
    o.port = srv_port(&g_srv);
    o.bind = "127.0.0.1";
    liner other = AR_CLOSURE_NEW(liner, {.dropped = &g_dropped});
    cr_assert_eq(srv_start(&s, &o, &other.base), -EADDRINUSE);
    srv_stop(&g_srv);
    cr_assert_eq(srv_wait(&g_srv), 0);
}

Test(server, max_connections, .timeout = 30)
{
    start(2, 1000);
    uint16_t port = srv_port(&g_srv);
    int a = tn_connect("127.0.0.1", port), b = tn_connect("127.0.0.1", port);
    cr_assert(a >= 0 && b >= 0);
    roundtrip(a, "a\n");
    roundtrip(b, "b\n");
    /* The third is over the cap: told so, then closed. */
    int c = tn_connect("127.0.0.1", port);
    cr_assert_geq(c, 0);
    char got[64] = {0};
    cr_assert_eq(tn_read_to_eof(c, got, sizeof got - 1), 5);
    cr_assert_str_eq(got, "full\n");
    close(c);
    cr_assert_eq(srv_conn_count(&g_srv), 2);
    /* Closing one frees its slot. */
    close(a);
    for (int i = 0; i < 2000 && srv_conn_count(&g_srv) != 1; i++)
        tn_sleep_ms(5);
    cr_assert_eq(srv_conn_count(&g_srv), 1);
    int d = tn_connect("127.0.0.1", port);
    cr_assert_geq(d, 0);
    roundtrip(d, "d\n");
    roundtrip(b, "b again\n");
    close(b);
    close(d);
    srv_stop(&g_srv);
    cr_assert_eq(srv_wait(&g_srv), 0);
    cr_assert_eq(g_srv.refused, 1);
}

Test(server, graceful_stop_finishes_open_request, .timeout = 30)
{
    start(100, 10000);
    uint16_t port = srv_port(&g_srv);
    int a = tn_connect("127.0.0.1", port);
    cr_assert_geq(a, 0);
    roundtrip(a, "first\n");
    cr_assert_eq(tn_write_str(a, "half a "), 0); /* mid-request */
    wait_bytes(6 + 7);                           /* ... as the handler saw it */
    srv_stop(&g_srv);
    pthread_t th;
    pthread_create(&th, NULL, tn_srv_wait_thread, &g_srv);
    /* Stops accepting: new connections are refused (once the acceptor
     * is gone and the socket closed). */
    int refused = 0;
    for (int i = 0; i < 2000 && !refused; i++) {
        int x = tn_connect("127.0.0.1", port);
        if (x < 0)
            refused = 1;
        else {
            close(x);
            tn_sleep_ms(5);
        }
    }
    cr_assert(refused, "still accepting after srv_stop");
    /* The open connection still gets its answer, then is closed. */
    int rc = finish_half_line(a, th);
    cr_assert_eq(rc, 0, "the connection ended by itself: %s", ar_strerror(rc));
    cr_assert_eq(atomic_load(&g_dropped), 1);
}

/* A connection stuck mid-request (half a line, never finished) is dropped
 * at the timeout: its borrow given back, then the environment freed. */
Test(server, stuck_request_dropped_at_timeout, .timeout = 30)
{
    start(100, 200);
    int a = tn_connect("127.0.0.1", srv_port(&g_srv));
    cr_assert_geq(a, 0);
    roundtrip(a, "hi\n");
    cr_assert_eq(tn_write_str(a, "never ends"), 0);
    wait_bytes(3 + 10); /* the handler read every byte of it */
    srv_stop(&g_srv);
    cr_assert_eq(srv_wait(&g_srv), -ETIMEDOUT);
    cr_assert_eq(atomic_load(&g_dropped), 1);
    char c;
    cr_assert_eq(recv(a, &c, 1, 0), 0, "the dropped connection was closed");
    close(a);
}

/* A handler that does not mark its boundaries keeps the old behaviour: an
 * idle connection is not woken, and is dropped at the timeout. */
Test(server, unmarked_idle_connection_dropped_at_timeout, .timeout = 30)
{
    start_ex(100, 200, true);
    int a = tn_connect("127.0.0.1", srv_port(&g_srv));
    cr_assert_geq(a, 0);
    roundtrip(a, "hi\n");
    srv_stop(&g_srv);
    cr_assert_eq(srv_wait(&g_srv), -ETIMEDOUT);
    cr_assert_eq(g_srv.shut_idle, 0);
    cr_assert_eq(atomic_load(&g_dropped), 1);
    char c;
    cr_assert_eq(recv(a, &c, 1, 0), 0, "the dropped connection was closed");
    close(a);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* N idle keep-alive connections (each served a line, one never used) and a
 * stop with a 20 s timeout: every one ends at once, by itself (srv_wait 0,
 * not -ETIMEDOUT), and each client sees EOF.  Meanwhile a connection with
 * half a line read is not cut: it gets its answer after it sends the rest,
 * then is closed. */
#define IDLE_CONNS 16
Test(server, stop_ends_idle_connections_at_once, .timeout = 60)
{
    start(100, 20000);
    uint16_t port = srv_port(&g_srv);
    int idle[IDLE_CONNS];
    for (int i = 0; i < IDLE_CONNS; i++) {
        idle[i] = tn_connect("127.0.0.1", port);
        cr_assert_geq(idle[i], 0);
        if (i > 0) /* the first never sends anything */
            roundtrip(idle[i], "hello\n");
    }
    int half = tn_connect("127.0.0.1", port);
    cr_assert_geq(half, 0);
    roundtrip(half, "first\n");
    cr_assert_eq(tn_write_str(half, "half a "), 0);
    /* Let the handler read the half line (it marks itself busy then). */
    for (int i = 0; i < 2000 && srv_conn_count(&g_srv) != IDLE_CONNS + 1; i++)
        tn_sleep_ms(5);
    cr_assert_eq(srv_conn_count(&g_srv), IDLE_CONNS + 1);
    /* The half line was read (busy), every other handler waits (idle). */
    wait_bytes((IDLE_CONNS - 1) * 6 + 6 + 7);

    double t0 = now_s();
    srv_stop(&g_srv);
    pthread_t th;
    pthread_create(&th, NULL, tn_srv_wait_thread, &g_srv);
    /* Every idle client sees EOF (a closed connection), not its 20 s
     * receive timeout. */
    int open_one = tn_all_closed(idle, IDLE_CONNS);
    cr_assert_eq(open_one, -1, "idle connection %d was not closed", open_one);
    /* The half request is still open: finish it, get the answer, then EOF. */
    int rc = finish_half_line(half, th);
    double took = now_s() - t0;
    cr_assert_eq(rc, 0, "srv_wait: %s (a connection waited for the timeout)", ar_strerror(rc));
    cr_assert_geq(g_srv.shut_idle, 1);
    /* Well under the 20 s timeout (nothing waited for it). */
    cr_assert_lt(took, 10.0, "the stop took %.1f s", took);
    cr_assert_eq(atomic_load(&g_dropped), 1);
}

/* Stops racing with traffic: clients keep sending lines on keep-alive
 * connections while the server stops.  Whatever the interleaving, every
 * connection ends by itself (srv_wait 0 with a 20 s timeout), and every
 * answer a client got is the line it sent.  Odd rounds use fences on both
 * sides of srv_conn_idle's Dekker pair instead of membarrier. */
Test(server, stop_during_traffic_never_waits_for_timeout, .timeout = 120)
{
    for (int round = 0; round < 10; round++) {
        g_fences = round & 1;
        start(100, 20000);
        cr_assert_eq(g_srv.asym_fence && g_fences, false);
        uint16_t port = srv_port(&g_srv);
        int fds[8];
        for (int i = 0; i < 8; i++) {
            fds[i] = tn_connect("127.0.0.1", port);
            cr_assert_geq(fds[i], 0, "round %d conn %d: %s", round, i, strerror(-fds[i]));
        }
        pthread_t th;
        pthread_create(&th, NULL, tn_srv_wait_thread, &g_srv);
        /* Stop after a few lines on each, the lines racing the stop; after
         * it, the odd clients go quiet (their connections must be shut
         * idle), the even ones keep sending (theirs must end after the
         * line in flight). */
        bool stopped = false;
        for (int k = 0; k < 4 + round; k++) {
            for (int i = 0; i < 8; i++) {
                if (fds[i] < 0 || (stopped && (i & 1)))
                    continue;
                if (k == 2 + round / 2 && i == 3) {
                    srv_stop(&g_srv);
                    stopped = true;
                }
                char got[8] = {0};
                if (tn_write_str(fds[i], "ab\n") < 0 || tn_read_exact(fds[i], got, 3) != 3) {
                    close(fds[i]); /* ended by the stop: fine */
                    fds[i] = -1;
                    continue;
                }
                cr_assert_str_eq(got, "ab\n");
            }
        }
        void *rc;
        pthread_join(th, &rc);
        cr_assert_eq((int)(intptr_t)rc, 0, "round %d: srv_wait %s", round,
                     ar_strerror((int)(intptr_t)rc));
        for (int i = 0; i < 8; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    }
}

/* The lowest free descriptor number: the limit that leaves none. */
static int lowest_free_fd(void)
{
    int fd = dup(0);
    close(fd);
    return fd;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

Test(server, emfile_backs_off_then_recovers, .timeout = 60)
{
    start(100, 1000);
    uint16_t port = srv_port(&g_srv);
    struct rlimit old;
    getrlimit(RLIMIT_NOFILE, &old);
    /* No descriptor left for the server's accept. */
    struct rlimit low = {(rlim_t)lowest_free_fd() + 16, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* Fill every number under the limit, holes included. */
    int fill[64], nfill = 0;
    while (nfill < 64 && (fill[nfill] = dup(0)) >= 0)
        nfill++;
    /* Clients in a child process (its own descriptor table, its own
     * limit): their connections wait in the listen backlog. */
    pid_t pid = fork();
    if (pid == 0) {
        setrlimit(RLIMIT_NOFILE, &old);
        int fds[4];
        for (int i = 0; i < 4; i++) {
            fds[i] = tn_connect("127.0.0.1", port);
            if (fds[i] < 0 || tn_write_str(fds[i], "ping\n") < 0)
                _exit(1);
        }
        for (int i = 0; i < 4; i++) {
            char got[8] = {0};
            if (tn_read_exact(fds[i], got, 5) != 5 || strcmp(got, "ping\n"))
                _exit(2);
        }
        _exit(0);
    }
    /* Meanwhile the acceptor must back off, not spin: over half a second
     * the whole process uses a small part of one CPU. */
    tn_sleep_ms(200);
    double c0 = cpu_s();
    tn_sleep_ms(500);
    double used = cpu_s() - c0;
    cr_assert_lt(used, 0.25, "the accept loop spun: %.3f s of CPU in 0.5 s", used);
    /* (Not asserted: that nothing was accepted meanwhile.  Run alone, the
     * acceptor logs "Too many open files; backing off" and accepts
     * nothing; run beside other tests, Criterion's own descriptors in this
     * process open and close, and a freed number lets an accept through.) */
    int status;
    /* Descriptors come back: the waiting clients are served. */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status %d", status);
    srv_stop(&g_srv);
    cr_assert_eq(srv_wait(&g_srv), 0);
    cr_assert_eq(atomic_load(&g_srv.accepted), 4);
}
