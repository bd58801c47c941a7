/*
 * tests/test_join.c - join handles: await from a task, block from plain
 * threads, detach / double join / empty handle errors, out_size checks,
 * ar_join_is_finished, join waker replacement, handles that outlive their
 * runtime, and a stress of many tasks joined by many joiners at once.
 */
#include "helpers.h"

/* ------------------------------------------------------------------------
 * A child that yields `yields` times, then outputs in * 7 + 1.
 * --------------------------------------------------------------------- */
typedef struct child {
    ar_co co;
    ar_yield_now y;
    int yields, i;
    int in;
    int out;
} child;

static ar_poll child_poll(void *self, ar_cx *cx)
{
    child *c = self;
    AR_BEGIN(&c->co);
    for (c->i = 0; c->i < c->yields; c->i++)
        AR_AWAIT(ar_yield_now_poll(&c->y, cx));
    c->out = c->in * 7 + 1;
    AR_END;
}

static const ar_future_vt child_vt = AR_FUTURE_VT(child, child_poll, NULL, out);

/* A child that waits for a value on a oneshot and outputs it. */
typedef struct waiter {
    ar_co co;
    ar_oneshot_rx rx;
    int v, res;
    int out;
} waiter;

static ar_poll waiter_poll(void *self, ar_cx *cx)
{
    waiter *w = self;
    AR_BEGIN(&w->co);
    AR_AWAIT(ar_oneshot_recv_poll(&w->rx, cx, &w->v, &w->res));
    w->out = w->res ? w->res : w->v;
    AR_END;
}

static void waiter_drop(void *self) { ar_oneshot_rx_drop(&((waiter *)self)->rx); }

static const ar_future_vt waiter_vt = AR_FUTURE_VT(waiter, waiter_poll, waiter_drop, out);

static void spawn_waiter(ar_rt *rt, ar_oneshot_tx *tx, ar_join *h)
{
    waiter w = {0};
    T_OK(ar_oneshot_new(tx, &w.rx, sizeof(int)));
    T_OK(ar_spawn(rt, &waiter_vt, &w, h));
}

/* ------------------------------------------------------------------------
 * Await joins from a task
 * --------------------------------------------------------------------- */
enum { PARENT_KIDS = 16 };

typedef struct parent {
    ar_co co;
    ar_join kids[PARENT_KIDS];
    int i, v, res;
    int cancelled;
    long out;
} parent;

static ar_poll parent_poll(void *self, ar_cx *cx)
{
    parent *p = self;
    AR_BEGIN(&p->co);
    for (p->i = 0; p->i < PARENT_KIDS; p->i++) {
        child c = {.yields = p->i % 5, .in = p->i};
        T_BG_EQ(ar_spawn(NULL, &child_vt, &c, &p->kids[p->i]), 0);
    }
    T_BG_EQ(ar_join_abort(&p->kids[3]), 0);
    for (p->i = 0; p->i < PARENT_KIDS; p->i++) {
        p->v = -1;
        AR_AWAIT(ar_join_poll(&p->kids[p->i], cx, &p->v, sizeof p->v, &p->res));
        if (p->res == -ECANCELED) {
            T_BG_EQ(p->i, 3);
            p->cancelled++;
            continue;
        }
        T_BG_EQ(p->res, 0);
        T_BG_EQ(p->v, p->i * 7 + 1);
        p->out += p->v;
    }
    AR_END;
}

static void parent_drop(void *self)
{
    parent *p = self;
    for (int i = 0; i < PARENT_KIDS; i++)
        ar_join_detach(&p->kids[i]);
}

static const ar_future_vt parent_vt = AR_FUTURE_VT(parent, parent_poll, parent_drop, out);

Test(join, await_from_task, .timeout = 20)
{
    for (uint32_t workers = 1; workers <= 2; workers++) {
        ar_rt *rt = t_rt_mt(workers);
        parent p = {0};
        ar_join h;
        T_OK(ar_spawn(rt, &parent_vt, &p, &h));
        long out = 0;
        T_OK(ar_join_wait(&h, &out, sizeof out));
        long want = 0;
        for (int i = 0; i < PARENT_KIDS; i++)
            want += i == 3 ? 0 : i * 7 + 1;
        /* Child 3 may have finished before the abort reached it. */
        cr_assert(t_is(out == want || out == want + 22), "out %ld want %ld", out, want);
        T_BG_ASSERT_CLEAN();
        ar_rt_free(rt);
    }
}

/* ------------------------------------------------------------------------
 * ar_join_wait from plain threads
 * --------------------------------------------------------------------- */
typedef struct joiner_arg {
    ar_join *h;
    int out;
    int rc;
} joiner_arg;

static void *join_thread(void *arg)
{
    joiner_arg *a = arg;
    a->rc = ar_join_wait(a->h, &a->out, sizeof a->out);
    return NULL;
}

Test(join, wait_from_plain_threads, .timeout = 20)
{
    enum { K = 6 };
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx[K];
    ar_join h[K];
    joiner_arg args[K];
    pthread_t th[K];
    for (int i = 0; i < K; i++) {
        spawn_waiter(rt, &tx[i], &h[i]);
        args[i] = (joiner_arg){.h = &h[i], .out = -1, .rc = 1};
    }
    for (int i = 0; i < K; i++)
        th[i] = t_thread(join_thread, &args[i]);
    /* Every joiner has registered its waker: all of them really block. */
    for (int i = 0; i < K; i++)
        T_WAIT_UNTIL(t_state(&h[i]) & AR__ST_JOIN_WAKER);
    for (int i = K; i-- > 0;) {
        int v = 1000 + i;
        T_OK(ar_oneshot_send(&tx[i], &v));
    }
    for (int i = 0; i < K; i++) {
        pthread_join(th[i], NULL);
        cr_assert(eq(int, args[i].rc, 0), "joiner %d: %s", i, ar_strerror(args[i].rc));
        T_EQ_INT(args[i].out, 1000 + i);
    }
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Handle states and errors
 * --------------------------------------------------------------------- */
static void assert_released(ar_join *h, int code)
{
    int out = 0, res = 1;
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    T_EQ_INT(ar_join_wait(h, &out, sizeof out), code);
    T_EQ_INT(ar_join_wait(h, NULL, 0), code);
    cr_assert(eq(int, ar_join_poll(h, &cx, &out, sizeof out, &res), AR_READY));
    T_EQ_INT(res, code);
    T_EQ_INT(ar_join_detach(h), code);
    T_EQ_INT(ar_join_abort(h), code);
    cr_assert(t_is(!ar_join_is_finished(h)));
    T_EQ_INT(t_waker_held(&w), 0);
    T_EQ_INT(atomic_load(&w.wakes), 0);
}

Test(join, join_after_detach_is_ebadf, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx;
    ar_join h;
    spawn_waiter(rt, &tx, &h);
    T_OK(ar_join_detach(&h));
    assert_released(&h, -EBADF);
    int v = 5;
    T_OK(ar_oneshot_send(&tx, &v)); /* the detached task still runs */
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

Test(join, join_twice_is_ealready, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    child c = {.yields = 2, .in = 6};
    ar_join h;
    T_OK(ar_spawn(rt, &child_vt, &c, &h));
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 43);
    assert_released(&h, -EALREADY);
    ar_rt_free(rt);
}

Test(join, zero_handle_is_ebadf, .timeout = 20)
{
    ar_join h;
    memset(&h, 0, sizeof h);
    assert_released(&h, -EBADF);
}

Test(join, out_size_mismatch_then_correct_join, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    child c = {.yields = 1, .in = 3};
    ar_join h;
    T_OK(ar_spawn(rt, &child_vt, &c, &h));
    long big = -1;
    char small = 0;
    T_EQ_INT(ar_join_wait(&h, &big, sizeof big), -EINVAL);
    T_EQ_INT(ar_join_wait(&h, &small, sizeof small), -EINVAL);
    T_EQ_INT(big, -1);
    /* The same through ar_join_poll, from the test thread. */
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int res = 1;
    cr_assert(eq(int, ar_join_poll(&h, &cx, &big, sizeof big, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    T_EQ_INT(t_waker_held(&w), 0); /* nothing registered */
    /* The handle is still live. */
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 22);

    /* out NULL: the output is discarded, any out_size is fine. */
    c.in = 4;
    T_OK(ar_spawn(rt, &child_vt, &c, &h));
    T_OK(ar_join_wait(&h, NULL, 0));
    T_OK(ar_spawn(rt, &child_vt, &c, &h));
    T_OK(ar_join_wait(&h, NULL, 12345));
    ar_rt_free(rt);
}

Test(join, is_finished, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx;
    ar_oneshot_tx tx2;
    ar_join h, h2;
    spawn_waiter(rt, &tx, &h);
    spawn_waiter(rt, &tx2, &h2);
    T_OK(ar_join_abort(&h2));
    T_WAIT_UNTIL(ar_join_is_finished(&h2)); /* cancelled counts as finished */
    T_EQ_INT(ar_join_wait(&h2, NULL, 0), -ECANCELED);
    ar_oneshot_tx_drop(&tx2);

    T_WAIT_UNTIL(t_state(&h) & AR__ST_JOIN_INTEREST);
    cr_assert(t_is(!ar_join_is_finished(&h)));
    t_sleep_ms(20);
    cr_assert(t_is(!ar_join_is_finished(&h)), "finished before its value was sent");
    int v = 77;
    T_OK(ar_oneshot_send(&tx, &v));
    T_WAIT_UNTIL(ar_join_is_finished(&h));
    cr_assert(t_is(ar_join_is_finished(&h))); /* stays true until joined */
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 77);
    ar_rt_free(rt);
}

/* The joiner is polled with waker A, then B: A's clone is released, only B
 * is woken when the task finishes, and every clone is released in the end. */
Test(join, join_waker_replacement, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx;
    ar_join h;
    spawn_waiter(rt, &tx, &h);
    t_waker a, b;
    t_waker_init(&a);
    t_waker_init(&b);
    ar_cx ca = t_cx(&a), cb = t_cx(&b);
    int out = 0, res = 1;

    cr_assert(eq(int, ar_join_poll(&h, &ca, &out, sizeof out, &res), AR_PENDING));
    T_EQ_INT(t_waker_held(&a), 1);
    cr_assert(t_is(t_state(&h) & AR__ST_JOIN_WAKER));
    /* Same waker again: kept, not cloned again. */
    cr_assert(eq(int, ar_join_poll(&h, &ca, &out, sizeof out, &res), AR_PENDING));
    T_EQ_INT(t_waker_held(&a), 1);
    T_EQ_INT(atomic_load(&a.clones), 1);
    /* New waker: replaces the old one. */
    cr_assert(eq(int, ar_join_poll(&h, &cb, &out, sizeof out, &res), AR_PENDING));
    T_EQ_INT(t_waker_held(&a), 0);
    T_EQ_INT(t_waker_held(&b), 1);

    int v = 9;
    T_OK(ar_oneshot_send(&tx, &v));
    T_WAIT_UNTIL(atomic_load(&b.wakes) == 1);
    T_WAIT_UNTIL(ar_join_is_finished(&h));
    T_EQ_INT(atomic_load(&a.wakes), 0);
    cr_assert(eq(int, ar_join_poll(&h, &cb, &out, sizeof out, &res), AR_READY));
    T_EQ_INT(res, 0);
    T_EQ_INT(out, 9);
    T_WAIT_UNTIL(t_waker_held(&b) == 0);
    T_EQ_INT(atomic_load(&b.wakes), 1);
    ar_rt_free(rt);
    T_EQ_INT(t_waker_held(&a), 0);
    T_EQ_INT(t_waker_held(&b), 0);
}

/* A joiner that stops waiting (releases the handle) while its waker is
 * registered: the waker is released, the task runs on and is freed. */
Test(join, detach_with_registered_waker, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx;
    ar_join h;
    spawn_waiter(rt, &tx, &h);
    t_waker a;
    t_waker_init(&a);
    ar_cx ca = t_cx(&a);
    int out = 0, res = 1;
    cr_assert(eq(int, ar_join_poll(&h, &ca, &out, sizeof out, &res), AR_PENDING));
    T_EQ_INT(t_waker_held(&a), 1);
    T_OK(ar_join_detach(&h));
    T_EQ_INT(t_waker_held(&a), 0);
    int v = 1;
    T_OK(ar_oneshot_send(&tx, &v));
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&a.wakes), 0);
}

/* Joins consume cooperative budget: with none left, the poll wakes the
 * task and returns pending even though the output is ready. */
Test(join, join_poll_respects_budget, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    child c = {.in = 2};
    ar_join h;
    T_OK(ar_spawn(rt, &child_vt, &c, &h));
    T_WAIT_UNTIL(ar_join_is_finished(&h));
    t_waker a;
    t_waker_init(&a);
    ar_cx cx = t_cx(&a);
    cx.budget = -1; /* spent */
    int out = 0, res = 1;
    cr_assert(eq(int, ar_join_poll(&h, &cx, &out, sizeof out, &res), AR_PENDING));
    T_EQ_INT(atomic_load(&a.wakes), 1);
    cx.budget = 1;
    cr_assert(eq(int, ar_join_poll(&h, &cx, &out, sizeof out, &res), AR_READY));
    T_EQ_INT(res, 0);
    T_EQ_INT(out, 15);
    T_EQ_INT(cx.budget, -1); /* the last unit went */
    ar_rt_free(rt);
}

Test(join, handles_outlive_the_runtime, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    child c = {.yields = 3, .in = 10};
    ar_join done, pending;
    ar_oneshot_tx tx;
    T_OK(ar_spawn(rt, &child_vt, &c, &done));
    spawn_waiter(rt, &tx, &pending);
    T_WAIT_UNTIL(ar_join_is_finished(&done));
    ar_rt_free(rt);
    int out = 0;
    T_OK(ar_join_wait(&done, &out, sizeof out));
    T_EQ_INT(out, 71);
    cr_assert(t_is(ar_join_is_finished(&pending)));
    T_EQ_INT(ar_join_wait(&pending, &out, sizeof out), -ECANCELED);
    int v = 3;
    T_EQ_INT(ar_oneshot_send(&tx, &v), -EPIPE); /* the receiver was dropped */
}

/* A parent awaiting a join is aborted: its drop detaches the child handle;
 * the child finishes later and everything is freed (ASan checks). */
typedef struct await_one {
    ar_co co;
    ar_join h;
    int v, res;
    int out;
} await_one;

static ar_poll await_one_poll(void *self, ar_cx *cx)
{
    await_one *a = self;
    AR_BEGIN(&a->co);
    AR_AWAIT(ar_join_poll(&a->h, cx, &a->v, sizeof a->v, &a->res));
    a->out = a->res ? a->res : a->v;
    AR_END;
}

static _Atomic int await_one_drops;

static void await_one_drop(void *self)
{
    atomic_fetch_add(&await_one_drops, 1);
    T_BG_EQ(ar_join_detach(&((await_one *)self)->h), 0);
}

static const ar_future_vt await_one_vt = AR_FUTURE_VT(await_one, await_one_poll, await_one_drop, out);

Test(join, awaiting_future_dropped, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx;
    await_one a = {0};
    spawn_waiter(rt, &tx, &a.h);
    ar_task *child_task = a.h.task;
    ar_join ph;
    T_OK(ar_spawn(rt, &await_one_vt, &a, &ph));
    /* The parent registered its waker on the child. */
    T_WAIT_UNTIL(atomic_load(&child_task->state) & AR__ST_JOIN_WAKER);
    T_OK(ar_join_abort(&ph));
    T_EQ_INT(ar_join_wait(&ph, NULL, 0), -ECANCELED);
    T_EQ_INT(atomic_load(&await_one_drops), 1);
    int v = 4;
    T_OK(ar_oneshot_send(&tx, &v)); /* the child is still alive: delivered */
    t_assert_rt_usable(rt);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* Parents awaiting children: half are completed and joined, the other half
 * are still waiting (parent on child, child on a oneshot) when the runtime
 * is freed: both are dropped, the handles report -ECANCELED, the channels
 * see their receivers gone, and nothing leaks (ASan). */
Test(join, many_pending_joiners_then_cancel_all, .timeout = 20)
{
    enum { K = 64 };
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx[K];
    ar_join ph[K];
    for (int i = 0; i < K; i++) {
        await_one a = {0};
        spawn_waiter(rt, &tx[i], &a.h);
        T_OK(ar_spawn(rt, &await_one_vt, &a, &ph[i]));
    }
    for (int i = 0; i < K; i += 2) {
        int v = i;
        T_OK(ar_oneshot_send(&tx[i], &v));
        int out = -1;
        T_OK(ar_join_wait(&ph[i], &out, sizeof out));
        T_EQ_INT(out, i);
    }
    ar_rt_free(rt); /* parents and children still waiting: all dropped */
    for (int i = 1; i < K; i += 2) {
        T_EQ_INT(ar_join_wait(&ph[i], NULL, 0), -ECANCELED);
        int v = i;
        T_EQ_INT(ar_oneshot_send(&tx[i], &v), -EPIPE);
    }
    T_EQ_INT(atomic_load(&await_one_drops), K / 2);
    T_BG_ASSERT_CLEAN();
}

/* ------------------------------------------------------------------------
 * Stress: many tasks, joined concurrently by joiner tasks and plain threads,
 * a fifth of them aborted while they run.
 * --------------------------------------------------------------------- */
typedef struct stress_ctx {
    ar_join *h;
    int n;
    _Atomic int ok, cancelled;
} stress_ctx;

static void check_result(stress_ctx *s, int i, int rc, int v)
{
    if (rc == 0) {
        T_BG_EQ(v, i * 7 + 1);
        atomic_fetch_add(&s->ok, 1);
    } else {
        T_BG_EQ(rc, -ECANCELED);
        T_BG_EQ(i % 5, 0);
        atomic_fetch_add(&s->cancelled, 1);
    }
}

typedef struct stress_joiner {
    ar_co co;
    stress_ctx *s;
    int from, to, i, v, res;
} stress_joiner;

static ar_poll stress_joiner_poll(void *self, ar_cx *cx)
{
    stress_joiner *j = self;
    AR_BEGIN(&j->co);
    for (j->i = j->from; j->i < j->to; j->i++) {
        j->v = -1;
        AR_AWAIT(ar_join_poll(&j->s->h[j->i], cx, &j->v, sizeof j->v, &j->res));
        check_result(j->s, j->i, j->res, j->v);
    }
    AR_END;
}

static const ar_future_vt stress_joiner_vt =
    AR_FUTURE_VT_VOID(stress_joiner, stress_joiner_poll, NULL);

typedef struct stress_thread {
    stress_ctx *s;
    int from, to;
} stress_thread;

static void *stress_thread_main(void *arg)
{
    stress_thread *t = arg;
    for (int i = t->from; i < t->to; i++) {
        int v = -1;
        int rc = ar_join_wait(&t->s->h[i], &v, sizeof v);
        check_result(t->s, i, rc, v);
    }
    return NULL;
}

Test(join, stress_many_tasks_many_joiners, .timeout = 60)
{
    enum { PARTS = 8 }; /* 4 joiner tasks, 4 plain threads */
    stress_ctx s = {.n = T_N(200000)};
    s.n -= s.n % PARTS;
    s.h = calloc((size_t)s.n, sizeof *s.h);
    ar_rt *rt = t_rt_mt(2);
    for (int i = 0; i < s.n; i++) {
        child c = {.yields = i % 4, .in = i};
        T_OK(ar_spawn(rt, &child_vt, &c, &s.h[i]));
    }
    /* Abort every fifth while they run (before any joiner owns a handle:
     * a handle is used by one thread at a time). */
    for (int i = 0; i < s.n; i += 5)
        T_OK(ar_join_abort(&s.h[i]));
    ar_join jh[PARTS / 2];
    pthread_t th[PARTS / 2];
    stress_thread ta[PARTS / 2];
    int per = s.n / PARTS;
    for (int k = 0; k < PARTS / 2; k++) {
        stress_joiner j = {.s = &s, .from = 2 * k * per, .to = (2 * k + 1) * per};
        T_OK(ar_spawn(rt, &stress_joiner_vt, &j, &jh[k]));
        ta[k] = (stress_thread){&s, (2 * k + 1) * per, (2 * k + 2) * per};
        th[k] = t_thread(stress_thread_main, &ta[k]);
    }
    for (int k = 0; k < PARTS / 2; k++) {
        T_OK(ar_join_wait(&jh[k], NULL, 0));
        pthread_join(th[k], NULL);
    }
    T_EQ_INT(atomic_load(&s.ok) + atomic_load(&s.cancelled), s.n);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    free(s.h);
}
