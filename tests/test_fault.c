/*
 * tests/test_fault.c - fault injection (issue 8): allocation failure at
 * every allocation of each public call that allocates, SQE exhaustion, and
 * injected -EAGAIN / -EINTR / -ECANCELED completions from the reactor.
 * Runs on io_uring and again on epoll (fault_epoll); the ASan build checks
 * that nothing leaks.  What each fault must become: the caller's -errno
 * (-ENOMEM; the injected error for a single-shot operation, with nothing
 * consumed) or a transparent retry (SQE exhaustion), never a crash, a hang
 * or a lost wake-up; and the runtime stays usable.
 */
#include "helpers.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "fault.h"

static bool on_uring(ar_rt *rt) { return strcmp(ar_rt_io_backend(rt), "io_uring") == 0; }

static bool injectable(int64_t r) { return r == -EAGAIN || r == -EINTR || r == -ECANCELED; }

/* ---- small futures ---- */

typedef struct answer { int out; } answer;
static ar_poll answer_poll(void *p, ar_cx *cx)
{
    (void)cx;
    ((answer *)p)->out = 42;
    return AR_READY;
}
static const ar_future_vt answer_vt = AR_FUTURE_VT(answer, answer_poll, NULL, out);

static void spawn_and_join_ok(ar_rt *rt)
{
    answer a = {0};
    ar_join h;
    int v = 0;
    T_OK(ar_spawn(rt, &answer_vt, &a, &h));
    T_OK(ar_join_wait(&h, &v, sizeof v));
    T_EQ_INT(v, 42);
}

/* One operation on fd as a task: recv (checks the bytes against want),
 * accept (closes what it got), or sleep. */
enum { OP_RECV, OP_ACCEPT, OP_SLEEP };
typedef struct one_op {
    int kind, fd;
    const char *want;
    size_t len;
    ar_io io;
    ar_sleep sl;
    bool started;
    char buf[64];
    int out;
} one_op;

static ar_poll one_op_poll(void *p, ar_cx *cx)
{
    one_op *o = p;
    if (o->kind == OP_SLEEP) {
        if (!o->started) {
            ar_sleep_init(&o->sl, 1);
            o->started = true;
        }
        if (ar_sleep_poll(&o->sl, cx) == AR_PENDING)
            return AR_PENDING;
        o->out = 0;
        return AR_READY;
    }
    if (!o->started) {
        if (o->kind == OP_RECV)
            ar_io_recv(&o->io, o->fd, o->buf, o->len, 0);
        else
            ar_io_accept(&o->io, o->fd, NULL, NULL, SOCK_CLOEXEC);
        o->started = true;
    }
    if (ar_io_poll(&o->io, cx) == AR_PENDING)
        return AR_PENDING;
    int64_t r = o->io.res;
    o->out = (int)r;
    if (o->kind == OP_ACCEPT && r >= 0) {
        close((int)r);
        o->out = 0;
    } else if (o->kind == OP_RECV && r > 0 && memcmp(o->buf, o->want, (size_t)r) != 0) {
        o->out = -EILSEQ;
    }
    return AR_READY;
}
static void one_op_drop(void *p)
{
    one_op *o = p;
    if (o->started && o->kind == OP_SLEEP)
        ar_sleep_drop(&o->sl);
    else if (o->started)
        ar_io_drop(&o->io);
}
static const ar_future_vt one_op_vt = AR_FUTURE_VT(one_op, one_op_poll, one_op_drop, out);

/* ar_join_wait allocates its thread waker: -ENOMEM leaves the handle
 * intact and the task running, so the caller must join again (or detach). */
static int join_retry(ar_join *h, void *out, size_t size)
{
    int rc;
    while ((rc = ar_join_wait(h, out, size)) == -ENOMEM)
        ;
    return rc;
}

static int run_op(ar_rt *rt, one_op o)
{
    ar_join h;
    int rc = ar_spawn(rt, &one_op_vt, &o, &h);
    if (rc)
        return rc;
    int out = -1;
    rc = join_retry(&h, &out, sizeof out);
    return rc ? rc : out;
}

/* ---------------------------------------------------------------------
 * Injected completions
 * ------------------------------------------------------------------- */

Test(fault, injected_completion_reaches_the_caller_and_consumes_nothing, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    int sv[2];
    cr_assert(eq(int, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0));
    const int errs[] = {-EAGAIN, -EINTR, -ECANCELED};
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, (int)write(sv[1], "hello", 5), 5));
        uint64_t before = ar__fault_count_io();
        T_OK(ar__fault_io_result(errs[i], 1));
        int rc = run_op(rt, (one_op){.kind = OP_RECV, .fd = sv[0], .want = "hello", .len = 5});
        T_OK(ar__fault_io_result(0, 0));
        cr_assert(eq(int, rc, errs[i]), "%s on %s: got %s", ar_strerror(errs[i]),
                  ar_rt_io_backend(rt), ar_strerror(rc));
        T_EQ_U64(ar__fault_count_io(), before + 1);
        /* The refused receive took nothing: the bytes are all there. */
        rc = run_op(rt, (one_op){.kind = OP_RECV, .fd = sv[0], .want = "hello", .len = 5});
        T_EQ_INT(rc, 5);
    }
    T_EQ_INT(ar__fault_io_result(-EIO, 1), -EINVAL); /* only the three */
    close(sv[0]);
    close(sv[1]);
    ar_rt_free(rt);
}

Test(fault, injected_accept_error_leaks_no_descriptor, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    int lfd = ar_tcp_listen("127.0.0.1", 0, 16);
    cr_assert(t_is(lfd >= 0));
    struct sockaddr_storage ss;
    int slen = ar_sockaddr_from("127.0.0.1", (uint16_t)ar_tcp_local_port(lfd), &ss);
    cr_assert(t_is(slen > 0));
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(eq(int, connect(c, (struct sockaddr *)&ss, (socklen_t)slen), 0));
    int fds = t_count_fds();
    T_OK(ar__fault_io_result(-EINTR, 1));
    int rc = run_op(rt, (one_op){.kind = OP_ACCEPT, .fd = lfd});
    T_OK(ar__fault_io_result(0, 0));
    T_EQ_INT(rc, -EINTR);
    T_EQ_INT(t_count_fds(), fds);
    /* The connection waits in the backlog for the retry. */
    T_EQ_INT(run_op(rt, (one_op){.kind = OP_ACCEPT, .fd = lfd}), 0);
    T_EQ_INT(t_count_fds(), fds);
    close(c);
    close(lfd);
    ar_rt_free(rt);
}

/* ---------------------------------------------------------------------
 * Echo over socketpairs under random faults (and SQE exhaustion): the
 * client retries a refused operation, which consumed nothing, so every
 * byte must come back in order.
 * ------------------------------------------------------------------- */

enum { MSG = 16 };

typedef struct echo_srv {
    ar_co co;
    int fd;
    ar_io io;
    char buf[MSG];
    int64_t n, off;
    int out;
} echo_srv;

static ar_poll echo_srv_poll(void *p, ar_cx *cx)
{
    echo_srv *s = p;
    AR_BEGIN(&s->co);
    for (;;) {
        ar_io_recv(&s->io, s->fd, s->buf, sizeof s->buf, 0);
        AR_AWAIT(ar_io_poll(&s->io, cx));
        s->n = s->io.res;
        if (injectable(s->n))
            continue;
        if (s->n <= 0)
            break;
        for (s->off = 0; s->off < s->n;) {
            ar_io_send(&s->io, s->fd, s->buf + s->off, (size_t)(s->n - s->off), 0);
            AR_AWAIT(ar_io_poll(&s->io, cx));
            if (injectable(s->io.res))
                continue;
            if (s->io.res <= 0) {
                s->out = (int)s->io.res;
                goto out;
            }
            s->off += s->io.res;
        }
    }
    s->out = (int)s->n;
out:
    close(s->fd);
    AR_END;
}
static void echo_srv_drop(void *p)
{
    echo_srv *s = p;
    ar_io_drop(&s->io);
    close(s->fd);
}
static const ar_future_vt echo_srv_vt = AR_FUTURE_VT(echo_srv, echo_srv_poll, echo_srv_drop, out);

typedef struct echo_cli {
    ar_co co;
    int fd, rounds, i, id;
    ar_io io;
    char msg[MSG], got[MSG];
    int64_t off;
    int out;
} echo_cli;

static ar_poll echo_cli_poll(void *p, ar_cx *cx)
{
    echo_cli *c = p;
    AR_BEGIN(&c->co);
    for (c->i = 0; c->i < c->rounds; c->i++) {
        for (int k = 0; k < MSG; k++)
            c->msg[k] = (char)(c->id * 31 + c->i * 7 + k);
        for (c->off = 0; c->off < MSG;) {
            ar_io_send(&c->io, c->fd, c->msg + c->off, (size_t)(MSG - c->off), 0);
            AR_AWAIT(ar_io_poll(&c->io, cx));
            if (injectable(c->io.res))
                continue;
            if (c->io.res <= 0) {
                c->out = c->io.res ? (int)c->io.res : -EPIPE;
                goto out;
            }
            c->off += c->io.res;
        }
        for (c->off = 0; c->off < MSG;) {
            ar_io_recv(&c->io, c->fd, c->got + c->off, (size_t)(MSG - c->off), 0);
            AR_AWAIT(ar_io_poll(&c->io, cx));
            if (injectable(c->io.res))
                continue;
            if (c->io.res <= 0) {
                c->out = c->io.res ? (int)c->io.res : -EPIPE;
                goto out;
            }
            c->off += c->io.res;
        }
        if (memcmp(c->msg, c->got, MSG) != 0) {
            c->out = -EILSEQ; /* a corrupted or reordered byte */
            goto out;
        }
    }
    c->out = 0;
out:
    close(c->fd);
    AR_END;
}
static void echo_cli_drop(void *p)
{
    echo_cli *c = p;
    ar_io_drop(&c->io);
    close(c->fd);
}
static const ar_future_vt echo_cli_vt = AR_FUTURE_VT(echo_cli, echo_cli_poll, echo_cli_drop, out);

/* pairs clients and servers echoing rounds messages each; returns the
 * messages that came back intact. */
static long echo_storm(ar_rt *rt, int pairs, int rounds)
{
    ar_join hc[16], hs[16];
    cr_assert(t_is(pairs <= 16));
    for (int i = 0; i < pairs; i++) {
        int sv[2];
        cr_assert(eq(int, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0));
        echo_srv s = {.fd = sv[1]};
        echo_cli c = {.fd = sv[0], .rounds = rounds, .id = i};
        T_OK(ar_spawn(rt, &echo_srv_vt, &s, &hs[i]));
        T_OK(ar_spawn(rt, &echo_cli_vt, &c, &hc[i]));
    }
    for (int i = 0; i < pairs; i++) {
        int out = -1;
        T_OK(ar_join_wait(&hc[i], &out, sizeof out));
        cr_assert(eq(int, out, 0), "client %d: %s", i, ar_strerror(out));
        T_OK(ar_join_wait(&hs[i], &out, sizeof out));
        cr_assert(eq(int, out, 0), "server %d: %s", i, ar_strerror(out));
    }
    return (long)pairs * rounds;
}

Test(fault, sqe_exhaustion_is_retried_transparently, .timeout = 120)
{
    ar_rt *rt = t_rt_mt(2);
    if (!on_uring(rt)) {
        const char *backend = ar_rt_io_backend(rt); /* a static string */
        ar_rt_free(rt);
        cr_skip_test("SQE exhaustion is an io_uring fault; this runtime uses %s", backend);
    }
    int fds = t_count_fds();
    uint64_t before = ar__fault_count_sqe();
    ar__fault_sqe_full(T_N(2000));
    long msgs = echo_storm(rt, 4, T_N(200));
    ar__fault_sqe_full(0);
    uint64_t refused = ar__fault_count_sqe() - before;
    cr_assert(t_is(refused > 0), "no SQE get was refused");
    T_EQ_INT(t_count_fds(), fds);
    spawn_and_join_ok(rt);
    ar_rt_free(rt);
    fprintf(stderr, "fault: %llu SQE gets refused, %ld messages echoed intact\n",
            (unsigned long long)refused, msgs);
}

Test(fault, random_injected_completions_under_echo_load, .timeout = 120)
{
    ar_rt *rt = t_rt_mt(3);
    int fds = t_count_fds();
    uint64_t before = ar__fault_count_io();
    ar__fault_io_random(100, 0x5eed); /* one operation in ten is refused */
    long msgs = echo_storm(rt, 8, T_N(300));
    ar__fault_io_random(0, 0);
    uint64_t injected = ar__fault_count_io() - before;
    cr_assert(t_is(injected > 0));
    T_EQ_INT(t_count_fds(), fds);
    spawn_and_join_ok(rt);
    const char *backend = ar_rt_io_backend(rt); /* a static string */
    ar_rt_free(rt);
    fprintf(stderr, "fault: %llu completions injected on %s, %ld messages echoed intact\n",
            (unsigned long long)injected, backend, msgs);
}

/* ---------------------------------------------------------------------
 * Allocation failure sweep: fail the 1st, 2nd, ... allocation of one call
 * until the call makes fewer allocations than that.  Each failure must be
 * -ENOMEM (or absorbed by a retry) with nothing leaked, and the runtime
 * must work afterwards.  A worker's own background allocation may take the
 * failure instead; that one must be absorbed too (the call then succeeds).
 * ------------------------------------------------------------------- */

typedef int (*sweep_fn)(ar_rt *rt, void *ctx);

static long total_alloc_faults;

static void sweep(const char *name, ar_rt *rt, sweep_fn fn, void *ctx)
{
    for (long n = 1; n < 256; n++) {
        if (getenv("T_FAULT_TRACE"))
            fprintf(stderr, "sweep %s n=%ld\n", name, n);
        ar__alloc_fail_nth(n);
        int rc = fn(rt, ctx);
        bool fired = ar__alloc_fail_pending() == 0;
        ar__alloc_fail_nth(0);
        if (!fired) {
            cr_assert(eq(int, rc, 0), "%s without a failure: %s", name, ar_strerror(rc));
            fprintf(stderr, "fault: %s: %ld allocation failures survived\n", name, n - 1);
            return;
        }
        total_alloc_faults++;
        cr_assert(t_is(rc == 0 || rc == -ENOMEM), "%s, allocation %ld failed: got %s", name, n,
                  ar_strerror(rc));
        spawn_and_join_ok(rt);
    }
    cr_fail("%s: still allocating after 255 allocations", name);
}

static int sw_spawn(ar_rt *rt, void *ctx)
{
    (void)ctx;
    answer a = {0};
    ar_join h;
    int rc = ar_spawn(rt, &answer_vt, &a, &h);
    if (rc)
        return rc;
    int v = 0;
    rc = join_retry(&h, &v, sizeof v);
    return rc ? rc : v == 42 ? 0 : -EILSEQ;
}

static int sw_oneshot(ar_rt *rt, void *ctx)
{
    (void)rt;
    (void)ctx;
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    int rc = ar_oneshot_new(&tx, &rx, sizeof(int));
    if (rc)
        return rc;
    rc = ar_oneshot_send(&tx, &(int){5});
    ar_oneshot_rx_drop(&rx);
    return rc;
}

static int sw_mpsc(ar_rt *rt, void *ctx)
{
    (void)rt;
    bool bounded = *(bool *)ctx;
    ar_mpsc_tx tx, tx2;
    ar_mpsc_rx rx;
    int rc = bounded ? ar_mpsc_bounded(&tx, &rx, sizeof(int), 4)
                     : ar_mpsc_unbounded(&tx, &rx, sizeof(int));
    if (rc)
        return rc;
    rc = ar_mpsc_tx_clone(&tx, &tx2);
    for (int i = 0; rc == 0 && i < (bounded ? 4 : 200); i++)
        rc = ar_mpsc_try_send(i % 2 ? &tx : &tx2, &i);
    for (int i = 0, v; rc == 0 && i < (bounded ? 4 : 200); i++)
        if ((rc = ar_mpsc_try_recv(&rx, &v)) == 0 && v != i)
            rc = -EILSEQ;
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_tx_drop(&tx2);
    ar_mpsc_rx_drop(&rx);
    return rc;
}

static int sw_io(ar_rt *rt, void *ctx)
{
    int *sv = ctx;
    if (write(sv[1], "x", 1) != 1)
        return -EIO;
    int rc = run_op(rt, (one_op){.kind = OP_RECV, .fd = sv[0], .want = "x", .len = 1});
    if (rc == 1)
        return 0;
    char c;
    if (recv(sv[0], &c, 1, MSG_DONTWAIT) != 1) { /* refused: the byte must still be there */
        fprintf(stderr, "sw_io: the operation returned %s and the byte is gone\n",
                ar_strerror(rc));
        return -EIO;
    }
    return rc;
}

static int sw_sleep(ar_rt *rt, void *ctx)
{
    (void)ctx;
    return run_op(rt, (one_op){.kind = OP_SLEEP});
}

/* A task set of 3 children, driven by ar_block_on from this thread. */
typedef struct set_driver {
    ar_co co;
    ar_rt *rt;
    ar_task_set set;
    bool inited;
    int i, v, res, sum;
    uint64_t id;
    int out;
} set_driver;

static ar_poll set_driver_poll(void *p, ar_cx *cx)
{
    set_driver *d = p;
    AR_BEGIN(&d->co);
    d->out = ar_task_set_init(&d->set, d->rt, sizeof(int));
    if (d->out)
        AR_RETURN();
    d->inited = true;
    for (d->i = 0; d->i < 3; d->i++) {
        answer a = {0};
        d->out = ar_task_set_spawn(&d->set, &answer_vt, &a, NULL);
        if (d->out)
            break;
    }
    for (;;) {
        AR_AWAIT(ar_task_set_next_poll(&d->set, cx, &d->v, sizeof d->v, &d->id, &d->res));
        if (d->res == -ENOENT)
            break;
        if (d->res == 0)
            d->sum += d->v;
        else if (!d->out)
            d->out = d->res;
    }
    if (!d->out && d->sum != 126)
        d->out = -EILSEQ;
    ar_task_set_drop(&d->set);
    d->inited = false;
    AR_END;
}

static const ar_future_vt set_driver_vt = AR_FUTURE_VT(set_driver, set_driver_poll, NULL, out);

static int sw_task_set(ar_rt *rt, void *ctx)
{
    (void)ctx;
    set_driver d = {.rt = rt};
    int rc = ar_block_on(rt, &set_driver_vt, &d);
    if (d.inited)
        ar_task_set_drop(&d.set);
    return rc ? rc : d.out;
}

static void *blocking_job(void *arg) { return arg; }

typedef struct blocking_driver {
    ar_co co;
    ar_rt *rt;
    ar_blocking b;
    bool started;
    int out;
} blocking_driver;

static ar_poll blocking_driver_poll(void *p, ar_cx *cx)
{
    blocking_driver *d = p;
    AR_BEGIN(&d->co);
    d->out = ar_spawn_blocking(d->rt, blocking_job, &d->co, &d->b);
    if (d->out)
        AR_RETURN();
    d->started = true;
    AR_AWAIT(ar_blocking_poll(&d->b, cx));
    d->out = d->b.out.res;
    if (!d->out && d->b.out.value != &d->co)
        d->out = -EILSEQ;
    ar_blocking_drop(&d->b);
    AR_END;
}

static const ar_future_vt blocking_driver_vt =
    AR_FUTURE_VT(blocking_driver, blocking_driver_poll, NULL, out);

static int sw_blocking(ar_rt *rt, void *ctx)
{
    (void)ctx;
    blocking_driver d = {.rt = rt};
    int rc = ar_block_on(rt, &blocking_driver_vt, &d);
    return rc ? rc : d.out;
}

/* A shared-call closure spawned as a task: a refused spawn gives its
 * borrow back (the drop at the end succeeds). */
typedef struct add_env { int k; } add_env;
typedef struct add_frame {
    ar_co co;
    int arg;
    int out;
} add_frame;
static ar_poll add_body(const add_env *env, add_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = self->arg + env->k;
    AR_END;
}
AR_CLOSURE(add, AR_FN, add_env, add_frame, add_body, NULL, NULL);

static int sw_closure(ar_rt *rt, void *ctx)
{
    (void)ctx;
    add c = AR_CLOSURE_NEW(add, {.k = 40});
    ar_join h;
    int rc = ar_spawn_call(rt, &c, &h, 2);
    if (rc == 0) {
        int v = 0;
        rc = join_retry(&h, &v, sizeof v);
        if (!rc && v != 42)
            rc = -EILSEQ;
    }
    int drc = ar_closure_drop(&c.base);
    return rc ? rc : drc;
}

Test(fault, alloc_failure_sweep_over_the_public_api, .timeout = 240)
{
    ar_rt *rt = t_rt_mt(1);
    spawn_and_join_ok(rt); /* this thread's registry shard exists now */
    int sv[2];
    cr_assert(eq(int, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0));
    bool yes = true, no = false;
    int fds = t_count_fds();
    sweep("ar_spawn + join", rt, sw_spawn, NULL);
    sweep("ar_oneshot_new + send", rt, sw_oneshot, NULL);
    sweep("ar_mpsc_bounded + clone + try_send", rt, sw_mpsc, &yes);
    sweep("ar_mpsc_unbounded + 200 sends (growth)", rt, sw_mpsc, &no);
    sweep("ar_io recv", rt, sw_io, sv);
    sweep("ar_sleep", rt, sw_sleep, NULL);
    sweep("ar_task_set (3 children)", rt, sw_task_set, NULL);
    sweep("ar_spawn_blocking", rt, sw_blocking, NULL);
    sweep("ar_spawn_call (closure)", rt, sw_closure, NULL);
    T_EQ_INT(t_count_fds(), fds);
    close(sv[0]);
    close(sv[1]);
    ar_rt_free(rt);
    fprintf(stderr, "fault: %ld allocation failures injected in the sweep\n", total_alloc_faults);
}

/* ---------------------------------------------------------------------
 * Multishot streams (io_uring): an injected -EINTR / -EAGAIN ends the
 * multishot without F_MORE and the stream re-arms by itself; -ECANCELED
 * ends the stream with -ECANCELED.  (The epoll backend injects into
 * single-shot operations only: there the streams simply run.)
 * ------------------------------------------------------------------- */

typedef struct stream_user {
    ar_co co;
    int lfd, cfd, fail_res;
    ar_accept_stream as;
    ar_recv_stream rs;
    char buf[8];
    int64_t got;
    int out;
} stream_user;

static ar_poll stream_user_poll(void *p, ar_cx *cx)
{
    stream_user *u = p;
    AR_BEGIN(&u->co);
    ar_accept_stream_init(&u->as, u->lfd, SOCK_CLOEXEC);
    if (u->fail_res)
        T_BG_EQ(ar__fault_io_result(u->fail_res, 3), 0);
    AR_AWAIT(ar_accept_stream_next(&u->as, cx));
    u->cfd = u->as.res;
    if (u->cfd < 0) {
        u->out = u->cfd;
        ar_accept_stream_drop(&u->as);
        AR_RETURN();
    }
    ar_recv_stream_init(&u->rs, u->cfd);
    for (;;) {
        AR_AWAIT(ar_recv_stream_next(&u->rs, cx, u->buf + u->got, sizeof u->buf - 1 - (size_t)u->got));
        if (u->rs.res <= 0)
            break;
        u->got += u->rs.res;
    }
    u->out = u->rs.res < 0 ? (int)u->rs.res : (u->got == 3 && memcmp(u->buf, "abc", 3) == 0) ? 0 : -EILSEQ;
    ar_recv_stream_drop(&u->rs);
    ar_accept_stream_drop(&u->as);
    close(u->cfd);
    AR_END;
}
static const ar_future_vt stream_user_vt = AR_FUTURE_VT(stream_user, stream_user_poll, NULL, out);

static int stream_round(ar_rt *rt, int fail_res)
{
    int lfd = ar_tcp_listen("127.0.0.1", 0, 16);
    cr_assert(t_is(lfd >= 0));
    stream_user u = {.lfd = lfd, .fail_res = fail_res};
    ar_join h;
    T_OK(ar_spawn(rt, &stream_user_vt, &u, &h));
    struct sockaddr_storage ss;
    int slen = ar_sockaddr_from("127.0.0.1", (uint16_t)ar_tcp_local_port(lfd), &ss);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(eq(int, connect(c, (struct sockaddr *)&ss, (socklen_t)slen), 0));
    cr_assert(eq(int, (int)write(c, "abc", 3), 3));
    shutdown(c, SHUT_WR);
    int out = -1;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_OK(ar__fault_io_result(0, 0));
    close(c);
    close(lfd);
    return out;
}

Test(fault, streams_rearm_after_injected_errors, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    bool uring = on_uring(rt);
    int fds = t_count_fds();
    const int errs[] = {-EINTR, -EAGAIN};
    for (int i = 0; i < 2; i++) {
        uint64_t before = ar__fault_count_io();
        int out = stream_round(rt, errs[i]);
        cr_assert(eq(int, out, 0), "after %s: %s", ar_strerror(errs[i]), ar_strerror(out));
        if (uring)
            T_EQ_U64(ar__fault_count_io(), before + 3); /* three arms refused, re-armed */
    }
    if (uring) {
        int out = stream_round(rt, -ECANCELED);
        T_EQ_INT(out, -ECANCELED); /* the accept stream ended */
    }
    T_EQ_INT(t_count_fds(), fds);
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}
