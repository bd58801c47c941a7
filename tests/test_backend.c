/*
 * tests/test_backend.c - choosing the I/O backend: AR_BACKEND and
 * ar_rt_opts.backend are obeyed, bad values are reported, io_uring made
 * unavailable by a seccomp filter (as in containers) falls back to epoll
 * with one log line and still serves I/O, and a forced io_uring fails
 * ar_rt_new with the error.  Criterion runs each test in its own process,
 * so the environment and the seccomp filter stay inside one test.
 */
#include "helpers.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- stderr capture (the log lines are part of the contract) ---- */
typedef struct capture { int saved, p[2]; char text[4096]; } capture;

static void capture_begin(capture *c)
{
    cr_assert_eq(pipe2(c->p, O_CLOEXEC | O_NONBLOCK), 0);
    fflush(stderr);
    c->saved = dup(2);
    cr_assert_eq(dup2(c->p[1], 2), 2);
}

static const char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    close(c->p[1]);
    ssize_t n = read(c->p[0], c->text, sizeof c->text - 1);
    c->text[n > 0 ? n : 0] = '\0';
    close(c->p[0]);
    return c->text;
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Can this process set up an io_uring at all (asked of the kernel
 * directly, not of the library)? */
static bool uring_works(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int rt_new_with(ar_rt **rt, ar_rt_flavor flavor, ar_io_backend b)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.flavor = flavor;
    o.workers = flavor == AR_RT_MULTI_THREAD ? 2 : 0;
    o.backend = b;
    *rt = NULL;
    return ar_rt_new(rt, &o);
}

Test(backend, environment_chooses_epoll, .timeout = 10)
{
    setenv("AR_BACKEND", "epoll", 1);
    ar_rt *rt;
    T_OK(rt_new_with(&rt, AR_RT_MULTI_THREAD, AR_IO_BACKEND_AUTO));
    cr_assert_str_eq(ar_rt_io_backend(rt), "epoll");
    ar_rt_free(rt);
    T_OK(rt_new_with(&rt, AR_RT_CURRENT_THREAD, AR_IO_BACKEND_AUTO));
    cr_assert_str_eq(ar_rt_io_backend(rt), "epoll");
    ar_rt_free(rt);
}

Test(backend, auto_prefers_io_uring, .timeout = 10)
{
    unsetenv("AR_BACKEND");
    bool have = uring_works();
    capture c;
    capture_begin(&c);
    ar_rt *rt;
    int rc = rt_new_with(&rt, AR_RT_MULTI_THREAD, AR_IO_BACKEND_AUTO);
    const char *err = capture_end(&c);
    T_OK(rc);
    cr_assert_str_eq(ar_rt_io_backend(rt), have ? "io_uring" : "epoll");
    /* The fallback says why, once; io_uring says nothing. */
    T_EQ_INT(occurrences(err, "io_uring unavailable"), have ? 0 : 1);
    ar_rt_free(rt);
}

Test(backend, options_win_over_the_environment, .timeout = 10)
{
    setenv("AR_BACKEND", "uring", 1);
    ar_rt *rt;
    T_OK(rt_new_with(&rt, AR_RT_MULTI_THREAD, AR_IO_BACKEND_EPOLL));
    cr_assert_str_eq(ar_rt_io_backend(rt), "epoll");
    ar_rt_free(rt);
    if (!uring_works())
        cr_skip_test("io_uring unavailable here: the io_uring half cannot run");
    setenv("AR_BACKEND", "epoll", 1);
    T_OK(rt_new_with(&rt, AR_RT_MULTI_THREAD, AR_IO_BACKEND_URING));
    cr_assert_str_eq(ar_rt_io_backend(rt), "io_uring");
    ar_rt_free(rt);
}

Test(backend, bad_values_are_reported_and_refused, .timeout = 10)
{
    setenv("AR_BACKEND", "kqueue", 1);
    capture c;
    capture_begin(&c);
    ar_rt *rt1, *rt2;
    int rc1 = rt_new_with(&rt1, AR_RT_MULTI_THREAD, AR_IO_BACKEND_AUTO);
    int rc2 = rt_new_with(&rt2, AR_RT_CURRENT_THREAD, AR_IO_BACKEND_AUTO);
    const char *err = capture_end(&c);
    T_OK(rc1);
    T_OK(rc2);
    /* One clear line, however many runtimes; then the automatic choice. */
    T_EQ_INT(occurrences(err, "AR_BACKEND=kqueue is not understood"), 1);
    cr_assert_str_eq(ar_rt_io_backend(rt1), uring_works() ? "io_uring" : "epoll");
    ar_rt_free(rt1);
    ar_rt_free(rt2);
    cr_assert_null(ar_rt_io_backend(NULL));
    ar_rt *rt = (ar_rt *)0x1;
    T_EQ_INT(rt_new_with(&rt, AR_RT_MULTI_THREAD, (ar_io_backend)7), -EINVAL);
    cr_assert_null(rt);
    T_EQ_INT(rt_new_with(&rt, AR_RT_MULTI_THREAD, (ar_io_backend)-1), -EINVAL);
}

/* ---- io_uring forbidden by seccomp, as Docker's default profile does ---- */

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* io_uring_setup fails with EPERM in this process from now on. */
static void forbid_io_uring(void)
{
#ifdef T_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0, "seccomp: %s",
                 strerror(errno));
    cr_assert(t_is(!uring_works()), "the filter does not bite");
#else
    cr_skip_test("no seccomp filter for this architecture in the test");
#endif
}

/* An echo over loopback: a server task per connection, clients in tasks. */
typedef struct srv { ar_co co; int lfd, n, i, cfd; ar_io io; char buf[256]; } srv;
static ar_poll srv_poll(void *p, ar_cx *cx)
{
    srv *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        ar_io_accept(&self->io, self->lfd, NULL, NULL, SOCK_CLOEXEC);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_CHECK(self->io.res >= 0);
        if (self->io.res < 0)
            AR_RETURN();
        self->cfd = (int)self->io.res;
        ar_io_recv(&self->io, self->cfd, self->buf, sizeof self->buf, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        if (self->io.res > 0) {
            ar_io_send(&self->io, self->cfd, self->buf, (size_t)self->io.res, MSG_NOSIGNAL);
            AR_AWAIT(ar_io_poll(&self->io, cx));
        }
        close(self->cfd);
    }
    AR_END;
}
static const ar_future_vt srv_vt = AR_FUTURE_VT_VOID(srv, srv_poll, NULL);

typedef struct cli { ar_co co; uint16_t port; int fd; ar_tcp_connect c; ar_io io; char in[16]; _Atomic int *ok; } cli;
static ar_poll cli_poll(void *p, ar_cx *cx)
{
    cli *self = p;
    AR_BEGIN(&self->co);
    ar_tcp_connect_init(&self->c, "127.0.0.1", self->port);
    AR_AWAIT(ar_tcp_connect_poll(&self->c, cx));
    T_BG_CHECK(self->c.res >= 0);
    if (self->c.res < 0)
        AR_RETURN();
    self->fd = self->c.res;
    ar_io_send(&self->io, self->fd, "ping", 4, MSG_NOSIGNAL);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    ar_io_recv(&self->io, self->fd, self->in, 4, MSG_WAITALL);
    AR_AWAIT(ar_io_poll(&self->io, cx));
    if (self->io.res == 4 && !memcmp(self->in, "ping", 4))
        atomic_fetch_add(self->ok, 1);
    close(self->fd);
    AR_END;
}
static const ar_future_vt cli_vt = AR_FUTURE_VT_VOID(cli, cli_poll, NULL);

static void echo_once(ar_rt *rt, int n)
{
    int lfd = ar_tcp_listen("127.0.0.1", 0, 64);
    cr_assert_geq(lfd, 0);
    srv s = {.lfd = lfd, .n = n};
    ar_join hs;
    T_OK(ar_spawn(rt, &srv_vt, &s, &hs));
    _Atomic int ok = 0;
    for (int i = 0; i < n; i++) {
        cli c = {.port = (uint16_t)ar_tcp_local_port(lfd), .ok = &ok};
        ar_join hc;
        T_OK(ar_spawn(rt, &cli_vt, &c, &hc));
        T_OK(ar_join_wait(&hc, NULL, 0));
    }
    T_OK(ar_join_wait(&hs, NULL, 0));
    T_EQ_INT(atomic_load(&ok), n);
    close(lfd);
    T_BG_ASSERT_CLEAN();
}

Test(backend, seccomp_eperm_falls_back_to_epoll_with_one_line, .timeout = 30)
{
    forbid_io_uring();
    unsetenv("AR_BACKEND");
    capture c;
    capture_begin(&c);
    ar_rt *rt, *rt2;
    int rc = rt_new_with(&rt, AR_RT_MULTI_THREAD, AR_IO_BACKEND_AUTO);
    int rc2 = rt_new_with(&rt2, AR_RT_MULTI_THREAD, AR_IO_BACKEND_AUTO);
    const char *err = capture_end(&c);
    T_OK(rc);
    T_OK(rc2);
    cr_assert_str_eq(ar_rt_io_backend(rt), "epoll");
    cr_assert_str_eq(ar_rt_io_backend(rt2), "epoll");
    /* One line for the process, naming the error. */
    T_EQ_INT(occurrences(err, "asyncrt: io_uring unavailable"), 1);
    cr_assert(t_is(strstr(err, "-EPERM") != NULL), "log: %s", err);
    cr_assert(t_is(strstr(err, "epoll") != NULL), "log: %s", err);
    ar_rt_free(rt2);
    echo_once(rt, 8); /* and I/O works */
    ar_rt_free(rt);
}

Test(backend, seccomp_eperm_with_io_uring_forced_fails_rt_new, .timeout = 30)
{
    forbid_io_uring();
    setenv("AR_BACKEND", "uring", 1);
    capture c;
    capture_begin(&c);
    ar_rt *rt = (ar_rt *)0x1;
    int rc = rt_new_with(&rt, AR_RT_MULTI_THREAD, AR_IO_BACKEND_AUTO);
    const char *err = capture_end(&c);
    T_EQ_INT(rc, -EPERM);
    cr_assert_null(rt);
    cr_assert(t_is(strstr(err, "io_uring was asked for") != NULL), "log: %s", err);
    unsetenv("AR_BACKEND");
    T_EQ_INT(rt_new_with(&rt, AR_RT_CURRENT_THREAD, AR_IO_BACKEND_URING), -EPERM);
    cr_assert_null(rt);
    /* Epoll asked for: works, and says nothing about io_uring. */
    T_OK(rt_new_with(&rt, AR_RT_CURRENT_THREAD, AR_IO_BACKEND_EPOLL));
    cr_assert_str_eq(ar_rt_io_backend(rt), "epoll");
    ar_rt_free(rt);
}

/* Epoll only: an operation waiting on a descriptor that ar_io_close closes
 * fails with -EBADF instead of waiting forever (documented in io.h). */
typedef struct closer { ar_io io; int fd, started; } closer;
static ar_poll closer_poll(void *p, ar_cx *cx)
{
    closer *self = p;
    if (!self->started) {
        self->started = 1;
        ar_io_close(&self->io, self->fd);
    }
    return ar_io_poll(&self->io, cx);
}
static const ar_future_vt closer_vt = AR_FUTURE_VT_VOID(closer, closer_poll, NULL);

typedef struct waiter_recv { ar_io io; int fd, started; char b[8]; _Atomic int64_t *res; } waiter_recv;
static ar_poll waiter_recv_poll(void *p, ar_cx *cx)
{
    waiter_recv *self = p;
    if (!self->started) {
        self->started = 1;
        ar_io_recv(&self->io, self->fd, self->b, sizeof self->b, 0);
    }
    if (ar_io_poll(&self->io, cx) == AR_PENDING)
        return AR_PENDING;
    atomic_store(self->res, self->io.res);
    return AR_READY;
}
static void waiter_recv_drop(void *p) { ar_io_drop(&((waiter_recv *)p)->io); }
static const ar_future_vt waiter_recv_vt = AR_FUTURE_VT_VOID(waiter_recv, waiter_recv_poll, waiter_recv_drop);

Test(backend, epoll_close_fails_the_waiters_with_ebadf, .timeout = 30)
{
    /* One worker: the close runs on the reactor the receive waits on (a
     * close polled on another worker does not reach it; io.h). */
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = 1;
    o.backend = AR_IO_BACKEND_EPOLL;
    ar_rt *rt;
    T_OK(ar_rt_new(&rt, &o));
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    _Atomic int64_t res = INT64_MIN;
    waiter_recv w = {.fd = sv[0], .res = &res};
    ar_join hw;
    T_OK(ar_spawn(rt, &waiter_recv_vt, &w, &hw));
    t_sleep_ms(50);
    cr_assert_eq(atomic_load(&res), INT64_MIN);
    closer c = {.fd = sv[0]};
    ar_join hc;
    T_OK(ar_spawn(rt, &closer_vt, &c, &hc));
    T_OK(ar_join_wait(&hc, NULL, 0));
    T_WAIT_UNTIL(atomic_load(&res) != INT64_MIN);
    T_EQ_INT(atomic_load(&res), -EBADF);
    T_OK(ar_join_wait(&hw, NULL, 0));
    close(sv[1]);
    ar_rt_free(rt);
}
