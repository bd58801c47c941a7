/*
 * tests/test_metrics.c - runtime metrics (asyncrt/metrics.h) and graceful
 * shutdown (ar_rt_shutdown_timeout): counts of spawns, polls, completions,
 * steals and parks that match what the test did; tasks_alive following
 * tasks as they wait and end; shutdown that waits for tasks that end and
 * drops, after the timeout, the ones that do not.
 */
#include "helpers.h"

#include <sys/socket.h>
#include <unistd.h>

/* ---- a task that spawns `children` tasks, then ends ---- */
static _Atomic int ran;

typedef struct leaf {
    int unused;
} leaf;
static ar_poll leaf_poll(void *p, ar_cx *cx)
{
    (void)p, (void)cx;
    atomic_fetch_add(&ran, 1);
    return AR_READY;
}
static const ar_future_vt leaf_vt = AR_FUTURE_VT_VOID(leaf, leaf_poll, NULL);

typedef struct parent {
    int children;
} parent;
static ar_poll parent_poll(void *p, ar_cx *cx)
{
    (void)cx;
    parent *self = p;
    for (int i = 0; i < self->children; i++) {
        leaf l = {0};
        T_BG_EQ(ar_spawn(NULL, &leaf_vt, &l, NULL), 0);
    }
    atomic_fetch_add(&ran, 1);
    return AR_READY;
}
static const ar_future_vt parent_vt = AR_FUTURE_VT_VOID(parent, parent_poll, NULL);

static void wait_quiet(ar_rt *rt)
{
    ar_rt_metrics m;
    T_WAIT_UNTIL((ar_rt_metrics_read(rt, &m), m.tasks_alive == 0));
}

Test(metrics, counts_match_what_ran, .timeout = 60)
{
    enum { P = 100, C = 10 };
    ar_rt *rt = t_rt_mt(2);
    atomic_store(&ran, 0);
    for (int i = 0; i < P; i++) {
        parent p = {.children = C};
        T_OK(ar_spawn(rt, &parent_vt, &p, NULL));
    }
    T_WAIT_UNTIL(atomic_load(&ran) == P * (C + 1));
    wait_quiet(rt);
    ar_rt_metrics m;
    T_OK(ar_rt_metrics_read(rt, &m));
    T_EQ_INT(m.workers, 2);
    T_EQ_INT(m.remote_spawned, P);
    T_EQ_INT(m.tasks_spawned, P * (C + 1));
    T_EQ_INT(m.tasks_alive, 0);
    cr_expect(ge(u64, m.polls, (uint64_t)P * (C + 1)));
    /* The totals are the sums over the workers. */
    uint64_t polls = 0, spawned = 0, completed = 0;
    for (uint32_t i = 0; i < 2; i++) {
        ar_worker_metrics w;
        T_OK(ar_rt_worker_metrics_read(rt, i, &w));
        polls += w.polls;
        spawned += w.spawned;
        completed += w.completed;
        cr_expect(le(u64, w.steals, w.polls));
    }
    T_EQ_INT(polls, m.polls);
    T_EQ_INT(spawned, (uint64_t)P * C); /* the children: spawned on workers */
    T_EQ_INT(completed, (uint64_t)P * (C + 1));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}

/* ---- tasks that wait on a notify ---- */
typedef struct waiter {
    ar_co co;
    ar_notify *n;
    ar_notified w;
    _Atomic int *drops;
} waiter;
static ar_poll waiter_poll(void *p, ar_cx *cx)
{
    waiter *self = p;
    AR_BEGIN(&self->co);
    ar_notified_init(&self->w, self->n);
    AR_AWAIT(ar_notified_poll(&self->w, cx));
    AR_END;
}
static void waiter_drop(void *p)
{
    waiter *self = p;
    ar_notified_drop(&self->w);
    if (self->drops)
        atomic_fetch_add(self->drops, 1);
}
static const ar_future_vt waiter_vt = AR_FUTURE_VT_VOID(waiter, waiter_poll, waiter_drop);

Test(metrics, tasks_alive_follows_waiting_tasks, .timeout = 60)
{
    enum { N = 100 };
    ar_rt *rt = t_rt_mt(2);
    ar_notify n;
    T_OK(ar_notify_init(&n));
    for (int i = 0; i < N; i++) {
        waiter w = {.n = &n};
        T_OK(ar_spawn(rt, &waiter_vt, &w, NULL));
    }
    ar_rt_metrics m;
    T_OK(ar_rt_metrics_read(rt, &m));
    T_EQ_INT(m.tasks_alive, N);
    T_WAIT_UNTIL(ar_notify_waiters(&n) == N);
    T_OK(ar_rt_metrics_read(rt, &m));
    T_EQ_INT(m.tasks_alive, N); /* waiting is alive */
    ar_notify_all(&n);
    wait_quiet(rt);
    /* Idle workers park. */
    T_WAIT_UNTIL((ar_rt_metrics_read(rt, &m), m.parks > 0));
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&n));
}

/* ---- a busy task whose spawns the other worker has to steal ---- */
typedef struct hog {
    int children;
} hog;
static ar_poll hog_poll(void *p, ar_cx *cx)
{
    (void)cx;
    hog *self = p;
    for (int i = 0; i < self->children; i++) {
        leaf l = {0};
        T_BG_EQ(ar_spawn(NULL, &leaf_vt, &l, NULL), 0);
    }
    /* Keep this worker busy until the children ran elsewhere: all but the
     * last, which sits in this worker's LIFO slot, where nobody steals. */
    time_t end = time(NULL) + 20;
    while (atomic_load(&ran) < self->children - 1 && time(NULL) < end)
        sched_yield();
    T_BG_EQ(atomic_load(&ran), self->children - 1);
    return AR_READY;
}
static const ar_future_vt hog_vt = AR_FUTURE_VT_VOID(hog, hog_poll, NULL);

Test(metrics, steals_are_counted, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    atomic_store(&ran, 0);
    hog h = {.children = 32};
    ar_join j;
    T_OK(ar_spawn(rt, &hog_vt, &h, &j));
    T_OK(ar_join_wait(&j, NULL, 0));
    ar_rt_metrics m;
    T_OK(ar_rt_metrics_read(rt, &m));
    cr_expect(gt(u64, m.steals, 0));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}

Test(metrics, injection_depth_of_an_undriven_runtime, .timeout = 30)
{
    ar_rt *rt = t_rt_new(AR_RT_CURRENT_THREAD, 0);
    atomic_store(&ran, 0);
    for (int i = 0; i < 10; i++) {
        leaf l = {0};
        T_OK(ar_spawn(rt, &leaf_vt, &l, NULL));
    }
    ar_rt_metrics m;
    T_OK(ar_rt_metrics_read(rt, &m));
    T_EQ_INT(m.workers, 0);
    T_EQ_INT(m.injection_depth, 10);
    T_EQ_INT(m.tasks_alive, 10);
    T_EQ_INT(atomic_load(&ran), 0);
    /* Graceful shutdown drives it: the tasks run and end. */
    T_OK(ar_rt_shutdown_timeout(rt, 5000));
    T_EQ_INT(atomic_load(&ran), 10);
    ar_rt_free(rt);
}

Test(metrics, bad_input)
{
    ar_rt_metrics m;
    ar_worker_metrics w;
    T_EQ_INT(ar_rt_metrics_read(NULL, &m), -EINVAL);
    ar_rt *rt = t_rt_mt(2);
    T_EQ_INT(ar_rt_metrics_read(rt, NULL), -EINVAL);
    T_EQ_INT(ar_rt_worker_metrics_read(rt, 2, &w), -EINVAL);
    T_EQ_INT(ar_rt_worker_metrics_read(rt, 0, NULL), -EINVAL);
    T_EQ_INT(ar_rt_worker_metrics_read(NULL, 0, &w), -EINVAL);
    T_EQ_INT(ar_rt_shutdown_timeout(NULL, 0), -EINVAL);
    ar_rt_free(rt);
}

/* ---- graceful shutdown ---- */
typedef struct napper {
    ar_co co;
    ar_sleep s;
    uint64_t ms;
} napper;
static ar_poll napper_poll(void *p, ar_cx *cx)
{
    napper *self = p;
    AR_BEGIN(&self->co);
    ar_sleep_init(&self->s, self->ms);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    atomic_fetch_add(&ran, 1);
    AR_END;
}
static void napper_drop(void *p) { ar_sleep_drop(&((napper *)p)->s); }
static const ar_future_vt napper_vt = AR_FUTURE_VT_VOID(napper, napper_poll, napper_drop);

Test(shutdown_timeout, waits_for_tasks_that_end, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    atomic_store(&ran, 0);
    for (int i = 0; i < 50; i++) {
        napper n = {.ms = 20 + (uint64_t)i};
        T_OK(ar_spawn(rt, &napper_vt, &n, NULL));
    }
    T_OK(ar_rt_shutdown_timeout(rt, 10000));
    T_EQ_INT(atomic_load(&ran), 50); /* none was dropped */
    T_EQ_INT(ar_spawn(rt, &napper_vt, &(napper){.ms = 1}, NULL), -ESHUTDOWN);
    ar_rt_free(rt);
}

Test(shutdown_timeout, drops_what_is_left_after_the_timeout, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    ar_notify n;
    T_OK(ar_notify_init(&n));
    _Atomic int drops = 0;
    atomic_store(&ran, 0);
    for (int i = 0; i < 5; i++) {
        waiter w = {.n = &n, .drops = &drops};
        T_OK(ar_spawn(rt, &waiter_vt, &w, NULL));
        napper q = {.ms = 5};
        T_OK(ar_spawn(rt, &napper_vt, &q, NULL));
    }
    uint64_t t0 = ar_now_ms();
    T_EQ_INT(ar_rt_shutdown_timeout(rt, 150), -ETIMEDOUT);
    uint64_t took = ar_now_ms() - t0;
    cr_expect(ge(u64, took, 150), "returned after %llu ms", (unsigned long long)took);
    T_EQ_INT(atomic_load(&ran), 5);   /* the nappers ended by themselves */
    T_EQ_INT(atomic_load(&drops), 5); /* the waiters were dropped, once each */
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&n));
}

typedef struct inside {
    ar_rt *rt;
    _Atomic int *rc;
} inside;
static ar_poll inside_poll(void *p, ar_cx *cx)
{
    (void)cx;
    inside *self = p;
    atomic_store(self->rc, ar_rt_shutdown_timeout(self->rt, 10));
    return AR_READY;
}
static const ar_future_vt inside_vt = AR_FUTURE_VT_VOID(inside, inside_poll, NULL);

Test(shutdown_timeout, refused_from_inside_the_runtime, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int rc = 1;
    inside in = {.rt = rt, .rc = &rc};
    ar_join j;
    T_OK(ar_spawn(rt, &inside_vt, &in, &j));
    T_OK(ar_join_wait(&j, NULL, 0));
    T_EQ_INT(atomic_load(&rc), -EDEADLK);
    T_OK(ar_rt_shutdown_timeout(rt, 1000));
    ar_rt_free(rt);
}

/* ---- I/O counters: every operation started and completed is counted ---- */
typedef struct pinger {
    ar_co co;
    int fd[2], i, n;
    ar_io io;
    char b[8];
} pinger;
static ar_poll pinger_poll(void *p, ar_cx *cx)
{
    pinger *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        ar_io_send(&self->io, self->fd[0], "ping", 4, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, 4);
        ar_io_recv(&self->io, self->fd[1], self->b, sizeof self->b, 0);
        AR_AWAIT(ar_io_poll(&self->io, cx));
        T_BG_EQ(self->io.res, 4);
    }
    AR_END;
}
static const ar_future_vt pinger_vt = AR_FUTURE_VT_VOID(pinger, pinger_poll, NULL);

Test(metrics, io_operations_are_counted, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    ar_rt_metrics before, after;
    T_OK(ar_rt_metrics_read(rt, &before));
    pinger p = {.n = 20};
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p.fd), 0);
    T_OK(ar_block_on(rt, &pinger_vt, &p));
    T_OK(ar_rt_metrics_read(rt, &after));
    cr_expect(ge(u64, after.io_submitted - before.io_submitted, 40), "submitted %llu",
              (unsigned long long)(after.io_submitted - before.io_submitted));
    cr_expect(ge(u64, after.io_completed - before.io_completed, 40), "completed %llu",
              (unsigned long long)(after.io_completed - before.io_completed));
    /* The sums are the workers' own counters. */
    uint64_t sub = 0, done = 0;
    for (uint32_t i = 0; i < 2; i++) {
        ar_worker_metrics w;
        T_OK(ar_rt_worker_metrics_read(rt, i, &w));
        sub += w.io_submitted;
        done += w.io_completed;
    }
    T_EQ_INT(sub, after.io_submitted);
    T_EQ_INT(done, after.io_completed);
    close(p.fd[0]);
    close(p.fd[1]);
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}
