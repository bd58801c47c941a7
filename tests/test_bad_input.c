/*
 * tests/test_bad_input.c - DESIGN.md section 6: every public call given bad
 * arguments (NULL runtime / future / vtable / handle, bad worker counts and
 * flavours, blocking calls from inside a task) returns a clear negative
 * errno, never crashes, and leaves the runtime usable: each test spawns and
 * joins a task afterwards.
 */
#include <limits.h>
#include <signal.h>

#include "helpers.h"

typedef struct noop {
    int x;
    int out;
} noop;

static ar_poll noop_poll(void *self, ar_cx *cx)
{
    (void)cx;
    noop *n = self;
    n->out = n->x + 1;
    return AR_READY;
}

static const ar_future_vt noop_vt = AR_FUTURE_VT(noop, noop_poll, NULL, out);

Test(bad_input, rt_new_bad_arguments, .timeout = 10)
{
    ar_rt_opts o;
    ar_rt *rt = (ar_rt *)0x1;

    T_EQ_INT(ar_rt_new(NULL, NULL), -EINVAL);
    ar_rt_opts_init(&o);
    T_EQ_INT(ar_rt_new(NULL, &o), -EINVAL);

    o.workers = 0;
    T_EQ_INT(ar_rt_new(&rt, &o), -EINVAL);
    cr_assert(eq(ptr, rt, NULL), "out must be NULL after a failure");

    ar_rt_opts_init(&o);
    o.workers = AR_RT_MAX_WORKERS + 1;
    rt = (ar_rt *)0x1;
    T_EQ_INT(ar_rt_new(&rt, &o), -EINVAL);
    cr_assert(eq(ptr, rt, NULL));
    o.workers = UINT32_MAX;
    T_EQ_INT(ar_rt_new(&rt, &o), -EINVAL);

    ar_rt_opts_init(&o);
    o.flavor = (ar_rt_flavor)7;
    T_EQ_INT(ar_rt_new(&rt, &o), -EINVAL);
    o.flavor = (ar_rt_flavor)-1;
    T_EQ_INT(ar_rt_new(&rt, &o), -EINVAL);
    o.flavor = AR_RT_CURRENT_THREAD;
    o.workers = 2;
    T_EQ_INT(ar_rt_new(&rt, &o), -EINVAL);

    ar_rt_opts_init(NULL); /* no-op */
    ar_rt_free(NULL);      /* no-op */
    T_EQ_INT(ar_rt_shutdown(NULL), -EINVAL);
    T_EQ_INT(ar_rt_workers(NULL), 0);

    /* NULL opts: the defaults (one worker per online CPU). */
    T_OK(ar_rt_new(&rt, NULL));
    ar_rt_opts_init(&o);
    T_EQ_INT(ar_rt_workers(rt), o.workers);
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

Test(bad_input, spawn_bad_arguments, .timeout = 10)
{
    ar_rt *rt = t_rt_mt(2);
    noop n = {.x = 1};
    ar_join h;
    ar_future_vt vt = noop_vt;

    /* No runtime given and none current (plain thread). */
    h = (ar_join){(ar_task *)0x10, 0};
    T_EQ_INT(ar_spawn(NULL, &noop_vt, &n, &h), -EINVAL);
    cr_assert(eq(ptr, h.task, NULL), "a failed spawn leaves an empty handle");
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -EBADF);

    T_EQ_INT(ar_spawn(rt, NULL, &n, &h), -EINVAL);
    T_EQ_INT(ar_spawn(rt, &noop_vt, NULL, &h), -EINVAL);
    vt.poll = NULL;
    T_EQ_INT(ar_spawn(rt, &vt, &n, &h), -EINVAL);
    vt = noop_vt;
    vt.size = AR_FUTURE_MAX_SIZE + 1;
    T_EQ_INT(ar_spawn(rt, &vt, &n, &h), -EINVAL);
    vt = noop_vt;
    vt.out_off = vt.size; /* output outside the future */
    T_EQ_INT(ar_spawn(rt, &vt, &n, &h), -EINVAL);
    vt = noop_vt;
    vt.out_size = UINT32_MAX; /* overflow of out_off + out_size */
    T_EQ_INT(ar_spawn(rt, &vt, &n, &h), -EINVAL);
    vt = noop_vt;
    vt.out_off = UINT32_MAX;
    T_EQ_INT(ar_spawn(rt, &vt, &n, &h), -EINVAL);
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -EBADF);
    T_EQ_INT(ar_spawn(rt, &noop_vt, NULL, NULL), -EINVAL); /* detached too */

    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

Test(bad_input, block_on_bad_arguments, .timeout = 10)
{
    ar_rt *rt = t_rt_mt(2);
    noop n = {.x = 1};
    ar_future_vt vt = noop_vt;
    T_EQ_INT(ar_block_on(NULL, &noop_vt, &n), -EINVAL);
    T_EQ_INT(ar_block_on(rt, NULL, &n), -EINVAL);
    T_EQ_INT(ar_block_on(rt, &noop_vt, NULL), -EINVAL);
    vt.poll = NULL;
    T_EQ_INT(ar_block_on(rt, &vt, &n), -EINVAL);
    T_OK(ar_block_on(rt, &noop_vt, &n));
    T_EQ_INT(n.out, 2);
    t_assert_rt_usable(rt);
    ar_rt_free(rt);

    rt = t_rt_new(AR_RT_CURRENT_THREAD, 0);
    T_EQ_INT(ar_block_on(rt, NULL, &n), -EINVAL);
    T_EQ_INT(ar_block_on(rt, &noop_vt, NULL), -EINVAL);
    n.out = 0;
    T_OK(ar_block_on(rt, &noop_vt, &n));
    T_EQ_INT(n.out, 2);
    ar_rt_free(rt);
}

Test(bad_input, join_null_handle, .timeout = 10)
{
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int res = 1, out = 0;
    T_EQ_INT(ar_join_wait(NULL, &out, sizeof out), -EINVAL);
    cr_assert(eq(int, ar_join_poll(NULL, &cx, &out, sizeof out, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    cr_assert(eq(int, ar_join_poll(NULL, &cx, NULL, 0, NULL), AR_READY)); /* res optional */
    T_EQ_INT(ar_join_detach(NULL), -EINVAL);
    T_EQ_INT(ar_join_abort(NULL), -EINVAL);
    cr_assert(t_is(!ar_join_is_finished(NULL)));
    T_EQ_INT(t_waker_held(&w), 0);

    /* A live handle: a wrong out_size leaves it live, NULL res is fine. */
    ar_rt *rt = t_rt_mt(1);
    noop n = {.x = 4};
    ar_join h;
    T_OK(ar_spawn(rt, &noop_vt, &n, &h));
    char c;
    T_EQ_INT(ar_join_wait(&h, &c, 1), -EINVAL);
    T_EQ_INT(ar_join_wait(&h, &c, 0), -EINVAL);
    T_WAIT_UNTIL(ar_join_is_finished(&h));
    cr_assert(eq(int, ar_join_poll(&h, &cx, &out, sizeof out, NULL), AR_READY));
    T_EQ_INT(out, 5);
    T_EQ_INT(ar_join_wait(&h, &out, sizeof out), -EALREADY);
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Blocking calls from inside a task: -EDEADLK, and the runtime goes on
 * --------------------------------------------------------------------- */
typedef struct inside {
    ar_rt *rt;
    ar_join other;
    int out; /* number of checks that passed */
} inside;

static ar_poll inside_poll(void *self, ar_cx *cx)
{
    (void)cx;
    inside *f = self;
    noop n = {.x = 1};
    int ok = 0;
    ok += ar_block_on(f->rt, &noop_vt, &n) == -EDEADLK;
    ok += ar_block_on(f->rt, &noop_vt, &n) == -EDEADLK; /* twice: nothing changed */
    ok += ar_join_wait(&f->other, NULL, 0) == -EDEADLK;
    ok += ar_rt_shutdown(f->rt) == -EDEADLK;
    ar_rt_free(f->rt); /* refused from inside: a no-op */
    ok += ar_rt_current() == f->rt;
    ok += !atomic_load(&f->rt->shutdown);
    /* Spawning from inside still works. */
    ok += ar_spawn(NULL, &noop_vt, &n, NULL) == 0;
    f->out = ok;
    return AR_READY;
}

static const ar_future_vt inside_vt = AR_FUTURE_VT(inside, inside_poll, NULL, out);
#define INSIDE_CHECKS 7

Test(bad_input, blocking_calls_inside_task_are_edeadlk, .timeout = 10)
{
    for (uint32_t workers = 1; workers <= 2; workers++) {
        ar_rt *rt = t_rt_mt(workers);
        inside f = {.rt = rt};
        noop n = {.x = 2};
        T_OK(ar_spawn(rt, &noop_vt, &n, &f.other));
        ar_join h;
        T_OK(ar_spawn(rt, &inside_vt, &f, &h));
        int out = 0;
        T_OK(ar_join_wait(&h, &out, sizeof out));
        T_EQ_INT(out, INSIDE_CHECKS);
        /* The handle the task failed to block on is still live. */
        int v = 0;
        T_OK(ar_join_wait(&f.other, &v, sizeof v));
        T_EQ_INT(v, 3);
        t_assert_rt_usable(rt);
        ar_rt_free(rt);
    }
}

/* The same from the main future of ar_block_on on a multi-thread runtime. */
Test(bad_input, blocking_calls_inside_block_on_are_edeadlk, .timeout = 10)
{
    ar_rt *rt = t_rt_mt(2);
    inside f = {.rt = rt};
    noop n = {.x = 2};
    T_OK(ar_spawn(rt, &noop_vt, &n, &f.other));
    T_OK(ar_block_on(rt, &inside_vt, &f));
    /* The main future runs on the caller's plain thread, not a worker: its
     * ar_join_wait may block (and succeed); the other calls are refused. */
    cr_assert(t_is(f.out >= INSIDE_CHECKS - 1), "%d checks passed", f.out);
    cr_assert(eq(ptr, ar_rt_current(), NULL));
    if (f.other.task) /* not joined inside */
        T_OK(ar_join_wait(&f.other, NULL, 0));
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

/* ar_block_on of another runtime from a task is refused too: it would
 * block this runtime's worker (and every task queued on it). */
typedef struct cross {
    ar_rt *other;
    int out;
} cross;

static ar_poll cross_poll(void *self, ar_cx *cx)
{
    (void)cx;
    cross *c = self;
    noop n = {.x = 5};
    c->out = ar_block_on(c->other, &noop_vt, &n);
    return AR_READY;
}

static const ar_future_vt cross_vt = AR_FUTURE_VT(cross, cross_poll, NULL, out);

Test(bad_input, block_on_other_runtime_from_task, .timeout = 10)
{
    ar_rt *a = t_rt_mt(1), *b = t_rt_mt(1);
    cross c = {.other = b};
    ar_join h;
    T_OK(ar_spawn(a, &cross_vt, &c, &h));
    int rc = 1;
    T_OK(ar_join_wait(&h, &rc, sizeof rc));
    T_EQ_INT(rc, -EDEADLK);
    t_assert_rt_usable(a);
    t_assert_rt_usable(b);
    ar_rt_free(a);
    ar_rt_free(b);
}

/* ------------------------------------------------------------------------
 * ar_strerror
 * --------------------------------------------------------------------- */
Test(bad_input, strerror_texts, .timeout = 10)
{
    static const struct {
        int code;
        const char *want;
    } cases[] = {
        {-ECANCELED, "Operation canceled"},
        {-EINVAL, "Invalid argument"},
        {-EBADF, "Bad file descriptor"},
        {-EPIPE, "Broken pipe"},
        {-EALREADY, "Operation already in progress"},
        {-EDEADLK, "Resource deadlock avoided"},
        {-ESHUTDOWN, "Cannot send after transport endpoint shutdown"},
        {-EBUSY, "Device or resource busy"},
        {-ENOMEM, "Cannot allocate memory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = ar_strerror(cases[i].code);
        cr_assert(ne(ptr, (void *)(uintptr_t)s, NULL));
        cr_assert(eq(str, (char *)(uintptr_t)s, (char *)(uintptr_t)cases[i].want), "code %d",
                  cases[i].code);
    }
    const int odd[] = {0, 1, 4096, -4096, -100000, INT_MAX, INT_MIN, INT_MIN + 1};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = ar_strerror(odd[i]);
        cr_assert(ne(ptr, (void *)(uintptr_t)s, NULL), "ar_strerror(%d) is NULL", odd[i]);
        cr_assert(t_is(strlen(s) > 0), "ar_strerror(%d) is empty", odd[i]);
    }
    cr_assert(t_is(strcmp(ar_strerror(0), ar_strerror(-EINVAL)) != 0));
    cr_assert(t_is(strcmp(ar_strerror(-100000), ar_strerror(-EINVAL)) != 0));
    char version[] = "0.1.0";
    cr_assert(eq(str, (char *)(uintptr_t)ar_version(), version));
}

/* ------------------------------------------------------------------------
 * Other handles: oneshot and notify with NULL
 * --------------------------------------------------------------------- */
Test(bad_input, oneshot_null_arguments, .timeout = 10)
{
    int v = 1, res = 1;
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    T_EQ_INT(ar_oneshot_new(NULL, NULL, 4), -EINVAL);
    T_EQ_INT(ar_oneshot_send(NULL, &v), -EBADF);
    cr_assert(eq(int, ar_oneshot_recv_poll(NULL, &cx, &v, &res), AR_READY));
    T_EQ_INT(res, -EBADF);
    ar_oneshot_tx_drop(NULL);
    ar_oneshot_rx_drop(NULL);
    T_EQ_INT(t_waker_held(&w), 0);
}

Test(bad_input, notify_null_arguments, .timeout = 10)
{
    T_EQ_INT(ar_notify_init(NULL), -EINVAL);
    T_EQ_INT(ar_notify_destroy(NULL), -EINVAL);
    /* A waiter bound to no notify is ready at once and drops cleanly. */
    ar_notified w;
    ar_notified_init(&w, NULL);
    t_waker tw;
    t_waker_init(&tw);
    ar_cx cx = t_cx(&tw);
    cr_assert(eq(int, ar_notified_poll(&w, &cx), AR_READY));
    ar_notified_drop(&w);
    T_EQ_INT(t_waker_held(&tw), 0);
}

/* void calls given NULL do nothing (DESIGN.md 6: "not a crash"), like
 * ar_oneshot_tx_drop(NULL) and ar_rt_free(NULL). */
Test(bad_input, notify_void_calls_with_null_are_no_ops, .timeout = 10)
{
    ar_notify_one(NULL);
    ar_notify_all(NULL);
    T_EQ_INT(ar_notify_waiters(NULL), 0);
    ar_notified_drop(NULL);
}

/* A finished coroutine polled again is a bug the library reports (debug
 * builds): it aborts with a message rather than running on. */
#ifndef NDEBUG
typedef struct once_co {
    ar_co co;
    int out;
} once_co;

static ar_poll once_co_poll(void *self, ar_cx *cx)
{
    (void)cx;
    once_co *c = self;
    AR_BEGIN(&c->co);
    c->out++;
    AR_END;
}

Test(bad_input, poll_after_done_aborts, .timeout = 10, .signal = SIGABRT)
{
    once_co c = {0};
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, once_co_poll(&c, &cx), AR_READY));
    cr_assert(t_is(ar_co_done(&c.co)));
    once_co_poll(&c, &cx); /* aborts */
    cr_fatal("polling a finished future did not abort");
}
#endif

/* The runtime is usable after each refused call, in one sequence. */
Test(bad_input, runtime_usable_after_every_error, .timeout = 10)
{
    ar_rt *rt = t_rt_mt(2);
    noop n = {.x = 1};
    ar_join h = {0};
    ar_future_vt vt = noop_vt;
    vt.poll = NULL;
    T_EQ_INT(ar_spawn(rt, &vt, &n, &h), -EINVAL);
    t_assert_rt_usable(rt);
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -EBADF);
    t_assert_rt_usable(rt);
    T_EQ_INT(ar_join_detach(&h), -EBADF);
    t_assert_rt_usable(rt);
    T_EQ_INT(ar_block_on(rt, NULL, &n), -EINVAL);
    t_assert_rt_usable(rt);
    T_OK(ar_spawn(rt, &noop_vt, &n, &h));
    T_EQ_INT(ar_join_wait(&h, &n, sizeof n), -EINVAL); /* wrong size */
    t_assert_rt_usable(rt);
    T_OK(ar_join_detach(&h));
    T_EQ_INT(ar_join_abort(&h), -EBADF);
    t_assert_rt_usable(rt);
    T_EQ_INT(ar_spawn(NULL, &noop_vt, &n, NULL), -EINVAL);
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

Test(bad_input, oneshot_send_null_value_keeps_the_sender, .timeout = 10)
{
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    T_EQ_INT(ar_oneshot_send(&tx, NULL), -EINVAL);
    int v = 5, out = 0, res = 1;
    T_OK(ar_oneshot_send(&tx, &v));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, 0);
    T_EQ_INT(out, 5);
}

Test(bad_input, null_context_is_an_error_not_a_crash, .timeout = 10)
{
    ar_rt *rt = t_rt_mt(1);
    int res = 1;
    ar_join h = {0};
    cr_assert(eq(int, ar_join_poll(&h, NULL, NULL, 0, &res), AR_READY));
    T_EQ_INT(res, -EBADF);
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, NULL, NULL, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    ar_oneshot_tx_drop(&tx);
    ar_oneshot_rx_drop(&rx);
    cr_assert(eq(int, ar_yield_now_poll(NULL, NULL), AR_READY));
    cr_assert(eq(int, ar_notified_poll(NULL, NULL), AR_READY));
    ar_rt_free(rt);
}

/* A drop function that calls ar_rt_shutdown while shutdown is dropping it
 * gets -EDEADLK instead of deadlocking. */
static _Atomic int reentrant_rc = 1;
static ar_rt *reentrant_rt;
typedef struct pending_forever { int unused; } pending_forever;
static ar_poll pending_forever_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    return AR_PENDING;
}
static void pending_forever_drop(void *p)
{
    (void)p;
    atomic_store(&reentrant_rc, ar_rt_shutdown(reentrant_rt));
}
static const ar_future_vt pending_forever_vt =
    AR_FUTURE_VT_VOID(pending_forever, pending_forever_poll, pending_forever_drop);

Test(bad_input, shutdown_from_a_drop_function_is_edeadlk, .timeout = 10)
{
    reentrant_rt = t_rt_mt(1);
    pending_forever f = {0};
    ar_join h;
    T_OK(ar_spawn(reentrant_rt, &pending_forever_vt, &f, &h));
    T_OK(ar_rt_shutdown(reentrant_rt));
    T_EQ_INT(atomic_load(&reentrant_rc), -EDEADLK);
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    ar_rt_free(reentrant_rt);
}
