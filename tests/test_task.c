/*
 * tests/test_task.c - the task lifecycle through the public API, checked
 * against the task state word (runtime/state.h): wakes while running, twice,
 * after completion; abort in every state; drop functions exactly once on
 * every cancellation path; detached tasks; outputs of several sizes.
 *
 * The "probe" future is driven from the test thread: it counts its polls
 * and drops, keeps a clone of its waker for the test to wake it, can hold
 * the worker inside its poll (to act on a RUNNING task), can wake itself
 * every poll (the yield path) and finishes when told to.
 */
#include "helpers.h"

typedef struct probe {
    _Atomic int polls;
    _Atomic int drops;
    _Atomic int in_poll;
    _Atomic int hold;      /* while set, the poll spins (task RUNNING) */
    _Atomic int finish;    /* next poll returns AR_READY */
    _Atomic int self_wake; /* every poll wakes itself (yield) */
    ar_rt *rt;             /* hold also ends when this runtime shuts down */
    pthread_mutex_t mu;
    ar_waker waker; /* a clone of the task's waker, under mu */
} probe;

typedef struct probe_fut {
    probe *p;
    int out;
} probe_fut;

static ar_poll probe_poll(void *self, ar_cx *cx)
{
    probe_fut *f = self;
    probe *p = f->p;
    pthread_mutex_lock(&p->mu);
    if (ar_waker_is_none(p->waker))
        p->waker = ar_waker_clone(cx->waker);
    else
        T_BG_EQ(p->waker.bits, cx->waker.bits);
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_add(&p->polls, 1);
    atomic_store(&p->in_poll, 1);
    while (atomic_load(&p->hold) &&
           !(p->rt && atomic_load_explicit(&p->rt->shutdown, memory_order_acquire)))
        sched_yield();
    ar_poll r = AR_PENDING;
    if (atomic_load(&p->finish)) {
        f->out = 4242;
        r = AR_READY;
    } else if (atomic_load(&p->self_wake)) {
        ar_waker_wake_by_ref(cx->waker);
    }
    atomic_store(&p->in_poll, 0);
    return r;
}

static void probe_drop(void *self)
{
    probe_fut *f = self;
    atomic_fetch_add(&f->p->drops, 1);
}

static const ar_future_vt probe_vt = AR_FUTURE_VT(probe_fut, probe_poll, probe_drop, out);

static void probe_init(probe *p, ar_rt *rt)
{
    memset(p, 0, sizeof *p);
    p->rt = rt;
    pthread_mutex_init(&p->mu, NULL);
}

static void probe_spawn(ar_rt *rt, probe *p, ar_join *h)
{
    probe_fut f = {.p = p};
    T_OK(ar_spawn(rt, &probe_vt, &f, h));
}

static void probe_wake(probe *p)
{
    pthread_mutex_lock(&p->mu);
    cr_assert(not(eq(u64, p->waker.bits, 0)), "probe was never polled");
    ar_waker_wake_by_ref(p->waker);
    pthread_mutex_unlock(&p->mu);
}

/* Release the probe's waker clone (the last user reference on its task). */
static void probe_fini(probe *p)
{
    pthread_mutex_lock(&p->mu);
    ar_waker_drop(p->waker);
    p->waker = AR_WAKER_NONE;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_destroy(&p->mu);
}

/* Give a wrongly scheduled extra poll the time to happen. */
static void settle(void) { t_sleep_ms(T_SANITIZED ? 100 : 30); }

Test(task, wake_while_running_repolls_exactly_once, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    probe p;
    probe_init(&p, rt);
    atomic_store(&p.hold, 1);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(atomic_load(&p.in_poll));

    probe_wake(&p);
    uint32_t s = t_state(&h);
    cr_assert(t_is(s & AR__ST_RUNNING), "state %#x", s);
    cr_assert(t_is(s & AR__ST_NOTIFIED), "a wake during the poll must set NOTIFIED: %#x", s);
    probe_wake(&p); /* a second wake during the same poll changes nothing */
    T_EQ_INT(t_state(&h), s);

    atomic_store(&p.hold, 0);
    T_WAIT_UNTIL(atomic_load(&p.polls) == 2 && !atomic_load(&p.in_poll));
    settle();
    T_EQ_INT(atomic_load(&p.polls), 2);
    s = t_state(&h);
    cr_assert(t_is(!(s & (AR__ST_RUNNING | AR__ST_NOTIFIED | AR__ST_COMPLETE))), "idle: %#x", s);
    cr_assert(t_is(!ar_join_is_finished(&h)));

    atomic_store(&p.finish, 1);
    probe_wake(&p);
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 4242);
    T_EQ_INT(atomic_load(&p.polls), 3);
    T_EQ_INT(atomic_load(&p.drops), 0);
    ar_rt_free(rt);
    probe_fini(&p);
}

Test(task, wake_twice_while_idle_polls_once, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    probe p;
    probe_init(&p, rt);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(atomic_load(&p.polls) == 1 && !atomic_load(&p.in_poll));
    /* Idle: registry + join handle + our waker clone. */
    T_WAIT_UNTIL(!(t_state(&h) & AR__ST_RUNNING));
    T_EQ_INT(ar__st_refs(t_state(&h)), 3);

    /* Keep the only worker busy so the task stays queued between wakes. */
    t_block_ctl bc;
    ar_join bh;
    t_block_worker(rt, &bc, &bh);
    probe_wake(&p);
    uint32_t s = t_state(&h);
    cr_assert(t_is(s & AR__ST_NOTIFIED), "%#x", s);
    T_EQ_INT(ar__st_refs(s), 4); /* + the queue entry */
    probe_wake(&p);
    probe_wake(&p);
    T_EQ_INT(t_state(&h), s); /* no second entry, no extra reference */

    atomic_store(&bc.release, 1);
    T_OK(ar_join_wait(&bh, NULL, 0));
    T_WAIT_UNTIL(atomic_load(&p.polls) == 2 && !atomic_load(&p.in_poll));
    settle();
    T_EQ_INT(atomic_load(&p.polls), 2);

    atomic_store(&p.finish, 1);
    probe_wake(&p);
    T_OK(ar_join_wait(&h, NULL, 0));
    T_EQ_INT(atomic_load(&p.polls), 3);
    ar_rt_free(rt);
    probe_fini(&p);
}

Test(task, wake_after_completion_is_a_no_op, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    probe p;
    probe_init(&p, rt);
    atomic_store(&p.finish, 1);
    ar_join h;
    probe_spawn(rt, &p, &h);
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 4242);

    ar_task *t = (ar_task *)p.waker.bits;
    /* The worker may still be releasing its references after waking us. */
    T_WAIT_UNTIL(ar__st_refs(atomic_load(&t->state)) == 1); /* only our clone */
    uint32_t s = atomic_load(&t->state);
    cr_assert(t_is(s & AR__ST_COMPLETE), "%#x", s);

    ar_waker extra = ar_waker_clone(p.waker);
    T_EQ_INT(ar__st_refs(atomic_load(&t->state)), 2);
    ar_waker_wake_by_ref(p.waker);
    ar_waker_wake(extra); /* by value: releases its reference */
    s = atomic_load(&t->state);
    T_EQ_INT(ar__st_refs(s), 1);
    cr_assert(t_is(!(s & AR__ST_NOTIFIED)), "a finished task must not be queued: %#x", s);
    settle();
    T_EQ_INT(atomic_load(&p.polls), 1);
    T_EQ_INT(atomic_load(&p.drops), 0);
    ar_rt_free(rt);
    /* Waking a finished task whose runtime is gone is still harmless. */
    ar_waker_wake_by_ref(p.waker);
    probe_fini(&p); /* frees the task: ASan checks nothing touches it after */
}

Test(task, abort_while_queued, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    t_block_ctl bc;
    ar_join bh;
    t_block_worker(rt, &bc, &bh);
    probe p;
    probe_init(&p, rt);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_OK(ar_join_abort(&h));
    T_OK(ar_join_abort(&h)); /* twice: still one drop */
    uint32_t s = t_state(&h);
    cr_assert(t_is((s & AR__ST_CANCELLED) && (s & AR__ST_NOTIFIED) && !(s & AR__ST_COMPLETE)), "%#x",
              s);
    atomic_store(&bc.release, 1);
    T_WAIT_UNTIL(ar_join_is_finished(&h));
    int out = -1;
    T_EQ_INT(ar_join_wait(&h, &out, sizeof out), -ECANCELED);
    T_EQ_INT(out, -1); /* nothing copied */
    T_EQ_INT(atomic_load(&p.polls), 0);
    T_EQ_INT(atomic_load(&p.drops), 1);
    T_OK(ar_join_wait(&bh, NULL, 0));
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&p.drops), 1);
    probe_fini(&p);
}

Test(task, abort_while_idle, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    probe p;
    probe_init(&p, rt);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(atomic_load(&p.polls) == 1 && !(t_state(&h) & AR__ST_RUNNING));
    T_OK(ar_join_abort(&h));
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    T_EQ_INT(atomic_load(&p.polls), 1);
    T_EQ_INT(atomic_load(&p.drops), 1);
    /* A wake after the cancellation does not poll the dropped future. */
    probe_wake(&p);
    settle();
    T_EQ_INT(atomic_load(&p.polls), 1);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&p.drops), 1);
    probe_fini(&p);
}

Test(task, abort_while_running, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    probe p;
    probe_init(&p, rt);
    atomic_store(&p.hold, 1);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(atomic_load(&p.in_poll));
    T_OK(ar_join_abort(&h));
    uint32_t s = t_state(&h);
    cr_assert(t_is((s & AR__ST_RUNNING) && (s & AR__ST_CANCELLED)), "%#x", s);
    /* The poller owns the future: nobody else may drop it meanwhile. */
    settle();
    T_EQ_INT(atomic_load(&p.drops), 0);
    cr_assert(t_is(!ar_join_is_finished(&h)));
    atomic_store(&p.hold, 0);
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    T_EQ_INT(atomic_load(&p.polls), 1);
    T_EQ_INT(atomic_load(&p.drops), 1);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&p.drops), 1);
    probe_fini(&p);
}

/* Abort during the poll that finishes: the task completed, so its output is
 * kept (the future is never dropped after AR_READY). */
Test(task, abort_during_final_poll_keeps_output, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    probe p;
    probe_init(&p, rt);
    atomic_store(&p.hold, 1);
    atomic_store(&p.finish, 1);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(atomic_load(&p.in_poll));
    T_OK(ar_join_abort(&h));
    atomic_store(&p.hold, 0);
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 4242);
    T_EQ_INT(atomic_load(&p.drops), 0);
    ar_rt_free(rt);
    probe_fini(&p);
}

Test(task, abort_while_yielding, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    probe p;
    probe_init(&p, rt);
    atomic_store(&p.self_wake, 1);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(atomic_load(&p.polls) > 100);
    T_OK(ar_join_abort(&h));
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    int polls = atomic_load(&p.polls);
    T_EQ_INT(atomic_load(&p.drops), 1);
    settle();
    T_EQ_INT(atomic_load(&p.polls), polls);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&p.drops), 1);
    probe_fini(&p);
}

Test(task, abort_after_completion_keeps_output, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    probe p;
    probe_init(&p, rt);
    atomic_store(&p.finish, 1);
    ar_join h;
    probe_spawn(rt, &p, &h);
    T_WAIT_UNTIL(ar_join_is_finished(&h));
    T_OK(ar_join_abort(&h)); /* the handle stays live */
    cr_assert(t_is(!(t_state(&h) & AR__ST_RES_CANCELLED)), "%#x", t_state(&h));
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 4242);
    T_EQ_INT(atomic_load(&p.drops), 0);
    T_EQ_INT(ar_join_abort(&h), -EALREADY);
    ar_rt_free(rt);
    probe_fini(&p);
}

/*
 * Every way a task can be cancelled, in one runtime: aborted (queued, idle,
 * running, yielding) and dropped by shutdown (idle, never polled, queued
 * after an abort, requeued after a yield, inside a poll when shutdown came).
 * Each drop function runs exactly once, each joiner sees -ECANCELED.
 */
enum { P_IDLE, P_YIELD, P_HOLD, P_QUEUED, P_ABORTED_QUEUED, P_ABORT_IDLE, P_COUNT };

Test(task, drop_runs_exactly_once_on_every_cancel_path, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    probe p[P_COUNT];
    ar_join h[P_COUNT];
    for (int i = 0; i < P_COUNT; i++)
        probe_init(&p[i], rt);

    probe_spawn(rt, &p[P_IDLE], &h[P_IDLE]);
    probe_spawn(rt, &p[P_ABORT_IDLE], &h[P_ABORT_IDLE]);
    T_WAIT_UNTIL(atomic_load(&p[P_IDLE].polls) == 1 && atomic_load(&p[P_ABORT_IDLE].polls) == 1);
    atomic_store(&p[P_YIELD].self_wake, 1);
    probe_spawn(rt, &p[P_YIELD], &h[P_YIELD]);
    T_WAIT_UNTIL(atomic_load(&p[P_YIELD].polls) > 10);
    atomic_store(&p[P_HOLD].hold, 1); /* until shutdown */
    probe_spawn(rt, &p[P_HOLD], &h[P_HOLD]);
    T_WAIT_UNTIL(atomic_load(&p[P_HOLD].in_poll));
    /* The other worker: a blocker (until shutdown); the yielder's entry
     * then stays in a queue, owning its RUNNING bit. */
    t_block_ctl bc;
    ar_join bh;
    t_block_worker(rt, &bc, &bh);
    int ypolls = atomic_load(&p[P_YIELD].polls);
    probe_spawn(rt, &p[P_QUEUED], &h[P_QUEUED]);
    probe_spawn(rt, &p[P_ABORTED_QUEUED], &h[P_ABORTED_QUEUED]);
    T_OK(ar_join_abort(&h[P_ABORTED_QUEUED]));
    T_OK(ar_join_abort(&h[P_ABORT_IDLE]));

    T_OK(ar_rt_shutdown(rt));
    T_OK(ar_join_wait(&bh, NULL, 0)); /* the blocker finished normally */
    for (int i = 0; i < P_COUNT; i++) {
        cr_assert(eq(int, atomic_load(&p[i].drops), 1), "probe %d dropped %d times", i,
                  atomic_load(&p[i].drops));
        int rc = ar_join_wait(&h[i], NULL, 0);
        cr_assert(eq(int, rc, -ECANCELED), "probe %d: %s", i, ar_strerror(rc));
    }
    T_EQ_INT(atomic_load(&p[P_QUEUED].polls), 0);
    T_EQ_INT(atomic_load(&p[P_ABORTED_QUEUED].polls), 0);
    T_EQ_INT(atomic_load(&p[P_HOLD].polls), 1);
    T_EQ_INT(atomic_load(&p[P_YIELD].polls), ypolls); /* both workers were busy */
    ar_rt_free(rt);
    for (int i = 0; i < P_COUNT; i++) {
        T_EQ_INT(atomic_load(&p[i].drops), 1);
        probe_fini(&p[i]);
    }
}

/* ------------------------------------------------------------------------
 * Detached tasks
 * --------------------------------------------------------------------- */
typedef struct flag_fut {
    _Atomic int *flag;
    ar_co co;
    ar_yield_now y;
} flag_fut;

static ar_poll flag_poll(void *self, ar_cx *cx)
{
    flag_fut *f = self;
    AR_BEGIN(&f->co);
    AR_AWAIT(ar_yield_now_poll(&f->y, cx));
    atomic_fetch_add(f->flag, 1);
    AR_END;
}

static const ar_future_vt flag_vt = AR_FUTURE_VT_VOID(flag_fut, flag_poll, NULL);

Test(task, detached_tasks_run, .timeout = 20)
{
    enum { N = 200 };
    ar_rt *rt = t_rt_mt(2);
    static _Atomic int flags[2 * N];
    ar_join h;
    for (int i = 0; i < N; i++) {
        flag_fut f = {.flag = &flags[i]};
        T_OK(ar_spawn(rt, &flag_vt, &f, NULL)); /* detached at spawn */
        flag_fut g = {.flag = &flags[N + i]};
        T_OK(ar_spawn(rt, &flag_vt, &g, &h));
        T_OK(ar_join_detach(&h)); /* detached later */
        T_EQ_INT(ar_join_detach(&h), -EBADF);
        T_EQ_INT(ar_join_wait(&h, NULL, 0), -EBADF);
    }
    for (int i = 0; i < 2 * N; i++)
        T_WAIT_UNTIL(atomic_load(&flags[i]) == 1);
    settle();
    for (int i = 0; i < 2 * N; i++)
        cr_assert(eq(int, atomic_load(&flags[i]), 1), "task %d ran %d times", i,
                  atomic_load(&flags[i]));
    ar_rt_free(rt);
}

Test(task, detached_pending_task_is_dropped_at_shutdown, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    probe p;
    probe_init(&p, rt);
    probe_fut f = {.p = &p};
    T_OK(ar_spawn(rt, &probe_vt, &f, NULL));
    T_WAIT_UNTIL(atomic_load(&p.polls) == 1);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&p.drops), 1);
    probe_fini(&p);
}

/* ------------------------------------------------------------------------
 * Outputs of several sizes, written on a later poll than the first
 * --------------------------------------------------------------------- */
static unsigned char pattern(size_t i, unsigned seed) { return (unsigned char)(i * 131u + seed); }

#define SIZED_FUT(N)                                                             \
    typedef struct sized_##N {                                                   \
        ar_co co;                                                                \
        ar_yield_now y;                                                          \
        unsigned seed;                                                           \
        unsigned char out[N];                                                    \
        unsigned char after; /* must survive: the copy is exactly N bytes */     \
    } sized_##N;                                                                 \
    static ar_poll sized_##N##_poll(void *self, ar_cx *cx)                       \
    {                                                                            \
        sized_##N *f = self;                                                     \
        AR_BEGIN(&f->co);                                                        \
        AR_AWAIT(ar_yield_now_poll(&f->y, cx));                                  \
        for (size_t i = 0; i < (N); i++)                                         \
            f->out[i] = pattern(i, f->seed);                                     \
        f->after = 0xEE;                                                         \
        AR_END;                                                                  \
    }                                                                            \
    static const ar_future_vt sized_##N##_vt =                                  \
        AR_FUTURE_VT(sized_##N, sized_##N##_poll, NULL, out);

SIZED_FUT(1)
SIZED_FUT(8)
SIZED_FUT(64)
SIZED_FUT(1000)

static void check_output(const ar_future_vt *vt, void *fut, unsigned seed)
{
    size_t n = vt->out_size;
    unsigned char buf[1000 + 32];
    memset(buf, 0xA5, sizeof buf);
    ar_rt *rt = t_rt_mt(2);
    ar_join h;
    T_OK(ar_spawn(rt, vt, fut, &h));
    T_OK(ar_join_wait(&h, buf, n));
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(u8, buf[i], pattern(i, seed)), "size %zu: byte %zu", n, i);
    for (size_t i = n; i < sizeof buf; i++)
        cr_assert(eq(u8, buf[i], 0xA5), "size %zu: wrote past the output at %zu", n, i);
    ar_rt_free(rt);
}

Test(task, output_sizes, .timeout = 20)
{
    sized_1 a = {.seed = 1};
    sized_8 b = {.seed = 2};
    sized_64 c = {.seed = 3};
    sized_1000 d = {.seed = 4};
    T_EQ_INT(sized_1_vt.out_size, 1);
    T_EQ_INT(sized_1000_vt.out_size, 1000);
    check_output(&sized_1_vt, &a, 1);
    check_output(&sized_8_vt, &b, 2);
    check_output(&sized_64_vt, &c, 3);
    check_output(&sized_1000_vt, &d, 4);
}

/* Many tasks with large outputs at once, joined in reverse order. */
Test(task, output_many_large, .timeout = 30)
{
    enum { N = 256 };
    ar_rt *rt = t_rt_mt(2);
    ar_join h[N];
    for (unsigned i = 0; i < N; i++) {
        sized_1000 d = {.seed = i};
        T_OK(ar_spawn(rt, &sized_1000_vt, &d, &h[i]));
    }
    static unsigned char buf[1000];
    for (unsigned i = N; i-- > 0;) {
        T_OK(ar_join_wait(&h[i], buf, sizeof buf));
        for (size_t k = 0; k < sizeof buf; k++)
            if (buf[k] != pattern(k, i))
                cr_fatal("task %u byte %zu: %u != %u", i, k, buf[k], pattern(k, i));
    }
    ar_rt_free(rt);
}

/* Stress: wakes from plain threads racing with polls, completion and abort.
 * Each task is polled, woken by a thread at random moments, and either
 * finishes after K polls or is aborted; drops + completions add up. */
typedef struct racer {
    _Atomic int polls;
    _Atomic int drops;
    _Atomic int concurrent; /* >1 would mean two threads poll at once */
    _Atomic uintptr_t waker;
    int limit;
} racer;

typedef struct racer_fut {
    racer *r;
    int out;
} racer_fut;

static ar_poll racer_poll(void *self, ar_cx *cx)
{
    racer_fut *f = self;
    racer *r = f->r;
    T_BG_EQ(atomic_fetch_add(&r->concurrent, 1), 0);
    if (!atomic_load(&r->waker))
        atomic_store(&r->waker, ar_waker_clone(cx->waker).bits);
    int n = atomic_fetch_add(&r->polls, 1) + 1;
    atomic_fetch_sub(&r->concurrent, 1);
    if (n >= r->limit) {
        f->out = n;
        return AR_READY;
    }
    return AR_PENDING;
}

static void racer_drop(void *self) { atomic_fetch_add(&((racer_fut *)self)->r->drops, 1); }

static const ar_future_vt racer_vt = AR_FUTURE_VT(racer_fut, racer_poll, racer_drop, out);

typedef struct waker_thread {
    racer *rs;
    int n;
    _Atomic int *stop;
    unsigned seed;
} waker_thread;

static void *wake_randomly(void *arg)
{
    waker_thread *wt = arg;
    unsigned seed = wt->seed;
    while (!atomic_load(wt->stop)) {
        int i = (int)(rand_r(&seed) % (unsigned)wt->n);
        uintptr_t b = atomic_load(&wt->rs[i].waker);
        if (b)
            ar_waker_wake_by_ref((ar_waker){b});
    }
    return NULL;
}

Test(task, stress_wake_poll_abort_races, .timeout = 60)
{
    const int n = T_N(10000);
    ar_rt *rt = t_rt_mt(2);
    racer *rs = calloc((size_t)n, sizeof *rs);
    ar_join *h = calloc((size_t)n, sizeof *h);
    _Atomic int stop = 0;
    waker_thread wt[2] = {{rs, n, &stop, 1}, {rs, n, &stop, 2}};
    for (int i = 0; i < n; i++)
        rs[i].limit = 2 + i % 50;
    pthread_t th[2] = {t_thread(wake_randomly, &wt[0]), t_thread(wake_randomly, &wt[1])};
    for (int i = 0; i < n; i++) {
        racer_fut f = {.r = &rs[i]};
        T_OK(ar_spawn(rt, &racer_vt, &f, &h[i]));
    }
    for (int i = 0; i < n; i += 3)
        T_OK(ar_join_abort(&h[i]));
    int done = 0, cancelled = 0;
    for (int i = 0; i < n; i++) {
        int out = 0;
        int rc = ar_join_wait(&h[i], &out, sizeof out);
        if (rc == 0) {
            done++;
            cr_assert(eq(int, out, rs[i].limit), "task %d", i);
            T_EQ_INT(atomic_load(&rs[i].drops), 0);
        } else {
            cr_assert(eq(int, rc, -ECANCELED), "task %d: %s", i, ar_strerror(rc));
            cr_assert(t_is(i % 3 == 0), "task %d was cancelled but never aborted", i);
            cancelled++;
            T_EQ_INT(atomic_load(&rs[i].drops), 1);
        }
    }
    T_EQ_INT(done + cancelled, n);
    atomic_store(&stop, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    for (int i = 0; i < n; i++) {
        cr_assert(t_is(atomic_load(&rs[i].drops) <= 1), "task %d dropped twice", i);
        ar_waker_drop((ar_waker){atomic_load(&rs[i].waker)});
    }
    free(rs);
    free(h);
}

/* ------------------------------------------------------------------------
 * Outputs that own memory: vt->drop_output runs exactly once when nobody
 * takes the output, never when a joiner copied it out.
 * --------------------------------------------------------------------- */
static _Atomic int outputs_dropped;

typedef struct owning { char *out; } owning;

static ar_poll owning_poll(void *p, ar_cx *cx)
{
    (void)cx;
    owning *self = p;
    self->out = malloc(32);
    strcpy(self->out, "owned output");
    return AR_READY;
}
static void owning_drop_output(void *out)
{
    free(*(char **)out);
    atomic_fetch_add(&outputs_dropped, 1);
}
static const ar_future_vt owning_vt =
    AR_FUTURE_VT_OWNED(owning, owning_poll, NULL, out, owning_drop_output);

Test(task, detached_output_is_dropped_once, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    atomic_store(&outputs_dropped, 0);
    for (int i = 0; i < 100; i++) {
        owning o = {0};
        T_OK(ar_spawn(rt, &owning_vt, &o, NULL));
    }
    T_WAIT_UNTIL(atomic_load(&outputs_dropped) == 100);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&outputs_dropped), 100);
}

Test(task, joined_output_belongs_to_the_joiner, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    atomic_store(&outputs_dropped, 0);
    owning o = {0};
    ar_join h;
    char *got = NULL;
    T_OK(ar_spawn(rt, &owning_vt, &o, &h));
    T_OK(ar_join_wait(&h, &got, sizeof got));
    cr_assert_str_eq(got, "owned output");
    free(got);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&outputs_dropped), 0);
}

Test(task, output_discarded_by_join_or_detach_after_completion_is_dropped, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    atomic_store(&outputs_dropped, 0);
    owning a = {0}, b = {0};
    ar_join ha, hb;
    T_OK(ar_spawn(rt, &owning_vt, &a, &ha));
    T_OK(ar_spawn(rt, &owning_vt, &b, &hb));
    T_OK(ar_join_wait(&ha, NULL, 0)); /* joined, output not wanted */
    T_WAIT_UNTIL(ar_join_is_finished(&hb));
    T_OK(ar_join_detach(&hb)); /* finished, then detached */
    T_EQ_INT(atomic_load(&outputs_dropped), 2);
    ar_rt_free(rt);
}
