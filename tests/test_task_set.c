/*
 * tests/test_task_set.c - ar_task_set and ar_scope: outputs and ids, order
 * of completion, abort_all, drop aborting what is left, cancellation of a
 * wait, shutdown_poll, bad input; scopes that do not end before their
 * children (future and blocking forms, both flavours).
 */
#include "helpers.h"

#include <asyncrt/task_set.h>

/* A task that sleeps ms, then outputs val (and counts itself done); its
 * drop (cancellation) is counted. */
typedef struct nap {
    ar_co co;
    ar_sleep s;
    uint64_t ms;
    int val;
    int out;
    _Atomic int *done;
    _Atomic int *drops;
} nap;

static ar_poll nap_poll(void *p, ar_cx *cx)
{
    nap *self = p;
    AR_BEGIN(&self->co);
    ar_sleep_init(&self->s, self->ms);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    self->out = self->val;
    if (self->done)
        atomic_fetch_add(self->done, 1);
    AR_END;
}
static void nap_drop(void *p)
{
    nap *self = p;
    ar_sleep_drop(&self->s);
    if (self->drops)
        atomic_fetch_add(self->drops, 1);
}
static const ar_future_vt nap_vt = AR_FUTURE_VT(nap, nap_poll, nap_drop, out);

/* A driver future: spawns the naps into a set and collects them. */
enum { MAXN = 64 };
typedef struct collect {
    ar_co co;
    ar_task_set set;
    int n;
    uint64_t ms[MAXN];
    uint64_t ids[MAXN];
    int v, res;
    uint64_t id;
    int order[MAXN]; /* values in completion order */
    int got;
    int cancelled;
    _Atomic int *drops;
} collect;

static ar_poll collect_poll(void *p, ar_cx *cx)
{
    collect *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_task_set_init(&self->set, NULL, sizeof(int)), 0);
    for (int i = 0; i < self->n; i++) {
        nap t = {.ms = self->ms[i], .val = i, .drops = self->drops};
        T_BG_EQ(ar_task_set_spawn(&self->set, &nap_vt, &t, &self->ids[i]), 0);
    }
    T_BG_EQ(ar_task_set_len(&self->set), self->n);
    for (;;) {
        AR_AWAIT(ar_task_set_next_poll(&self->set, cx, &self->v, sizeof self->v, &self->id,
                                       &self->res));
        if (self->res == -ENOENT)
            break;
        T_BG_EQ(self->res, 0);
        T_BG_EQ(self->id, self->ids[self->v]); /* the id spawn gave */
        self->order[self->got++] = self->v;
    }
    T_BG_EQ(ar_task_set_len(&self->set), 0);
    ar_task_set_drop(&self->set);
    AR_END;
}
static void collect_drop(void *p) { ar_task_set_drop(&((collect *)p)->set); }
static const ar_future_vt collect_vt = AR_FUTURE_VT_VOID(collect, collect_poll, collect_drop);

Test(task_set, every_output_once_with_its_id, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static collect c;
    memset(&c, 0, sizeof c);
    c.n = 40;
    for (int i = 0; i < c.n; i++)
        c.ms[i] = (uint64_t)(i % 5);
    T_OK(ar_block_on(rt, &collect_vt, &c));
    T_EQ_INT(c.got, c.n);
    int seen[MAXN] = {0};
    for (int i = 0; i < c.got; i++)
        seen[c.order[i]]++;
    for (int i = 0; i < c.n; i++)
        T_EQ_INT(seen[i], 1);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(task_set, next_yields_in_completion_order, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static collect c;
    memset(&c, 0, sizeof c);
    c.n = 3;
    c.ms[0] = 600; /* spawned first, ends last */
    c.ms[1] = 10;
    c.ms[2] = 300;
    T_OK(ar_block_on(rt, &collect_vt, &c));
    T_EQ_INT(c.got, 3);
    T_EQ_INT(c.order[0], 1);
    T_EQ_INT(c.order[1], 2);
    T_EQ_INT(c.order[2], 0);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* abort_all: every task reports -ECANCELED and its future is dropped once. */
typedef struct aborter {
    ar_co co;
    ar_task_set set;
    int n, v, res, cancelled, finished;
    _Atomic int *drops;
} aborter;

static ar_poll aborter_poll(void *p, ar_cx *cx)
{
    aborter *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_task_set_init(&self->set, NULL, sizeof(int)), 0);
    for (int i = 0; i < self->n; i++) {
        nap t = {.ms = 20000, .val = i, .drops = self->drops};
        T_BG_EQ(ar_task_set_spawn(&self->set, &nap_vt, &t, NULL), 0);
    }
    T_BG_EQ(ar_task_set_abort_all(&self->set), self->n);
    for (;;) {
        AR_AWAIT(ar_task_set_next_poll(&self->set, cx, &self->v, sizeof self->v, NULL,
                                       &self->res));
        if (self->res == -ENOENT)
            break;
        if (self->res == -ECANCELED)
            self->cancelled++;
        else
            self->finished++;
    }
    ar_task_set_drop(&self->set);
    AR_END;
}
static const ar_future_vt aborter_vt = AR_FUTURE_VT_VOID(aborter, aborter_poll, NULL);

Test(task_set, abort_all_cancels_every_task, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static aborter a;
    memset(&a, 0, sizeof a);
    a.n = 16;
    a.drops = &drops;
    double t0 = t_now_s();
    T_OK(ar_block_on(rt, &aborter_vt, &a));
    T_EQ_INT(a.cancelled, 16);
    T_EQ_INT(a.finished, 0);
    T_EQ_INT(atomic_load(&drops), 16);
    cr_assert_lt(t_now_s() - t0, 10.0);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* Outputs that own memory: a finished task's output that nobody takes is
 * released when the set is dropped. */
typedef struct boxer {
    int *out;
} boxer;
static ar_poll boxer_poll(void *p, ar_cx *cx)
{
    (void)cx;
    boxer *b = p;
    b->out = malloc(sizeof(int));
    *b->out = 5;
    return AR_READY;
}
static _Atomic int box_frees;
static void box_free(void *out)
{
    free(*(int **)out);
    atomic_fetch_add(&box_frees, 1);
}
static const ar_future_vt boxer_vt = AR_FUTURE_VT_OWNED(boxer, boxer_poll, NULL, out, box_free);

static bool all_finished(const ar_task_set *s)
{
    for (uint32_t i = 0; i < s->len; i++)
        if (!ar_join_is_finished(&s->entries[i].h))
            return false;
    return true;
}

Test(task_set, dropping_the_set_aborts_the_rest_and_releases_outputs, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    ar_task_set s;
    T_OK(ar_task_set_init(&s, rt, sizeof(void *)));
    for (int i = 0; i < 4; i++) {
        boxer b = {0};
        T_OK(ar_task_set_spawn(&s, &boxer_vt, &b, NULL));
    }
    ar_task_set other;
    T_OK(ar_task_set_init(&other, rt, sizeof(int)));
    for (int i = 0; i < 8; i++) {
        nap t = {.ms = 20000, .val = i, .drops = &drops};
        T_OK(ar_task_set_spawn(&other, &nap_vt, &t, NULL));
    }
    T_EQ_INT(ar_task_set_len(&other), 8);
    ar_task_set_drop(&other);
    T_EQ_INT(ar_task_set_len(&other), 0);
    T_WAIT_UNTIL(atomic_load(&drops) == 8);
    /* The boxers finish; dropping their set releases the 4 outputs (ASan
     * would report the mallocs otherwise). */
    T_WAIT_UNTIL(all_finished(&s));
    ar_task_set_drop(&s);
    ar_task_set_drop(&s); /* idempotent */
    T_EQ_INT(atomic_load(&box_frees), 4);
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&drops), 8);
}

/* Cancellation at the await point: a wait for the next task under a
 * timeout that fires leaves the set intact. */
typedef struct waiter {
    ar_co co;
    ar_task_set set;
    ar_task_set_next next;
    ar_timeout to;
    int first_res, len_after, v, res;
    _Atomic int *drops;
} waiter;

static ar_poll waiter_poll(void *p, ar_cx *cx)
{
    waiter *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_task_set_init(&self->set, NULL, sizeof(int)), 0);
    {
        nap t = {.ms = 150, .val = 9, .drops = self->drops};
        T_BG_EQ(ar_task_set_spawn(&self->set, &nap_vt, &t, NULL), 0);
    }
    ar_task_set_next_init(&self->next, &self->set, &self->v, sizeof self->v);
    ar_timeout_init(&self->to, &ar_task_set_next_vt, &self->next, 10);
    AR_AWAIT(ar_timeout_poll(&self->to, cx));
    self->first_res = self->to.res;
    self->len_after = (int)ar_task_set_len(&self->set);
    AR_AWAIT(ar_task_set_next_poll(&self->set, cx, &self->v, sizeof self->v, NULL, &self->res));
    ar_task_set_drop(&self->set);
    AR_END;
}
static const ar_future_vt waiter_vt = AR_FUTURE_VT_VOID(waiter, waiter_poll, NULL);

Test(task_set, a_timed_out_wait_takes_nothing, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static waiter w;
    memset(&w, 0, sizeof w);
    w.drops = &drops;
    T_OK(ar_block_on(rt, &waiter_vt, &w));
    T_EQ_INT(w.first_res, -ETIMEDOUT);
    T_EQ_INT(w.len_after, 1);
    T_EQ_INT(w.res, 0);
    T_EQ_INT(w.v, 9);
    T_EQ_INT(atomic_load(&drops), 0);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* shutdown_poll: abort everything and wait until all ended. */
typedef struct closer {
    ar_co co;
    ar_task_set set;
    uint32_t cancelled;
    _Atomic int *drops;
} closer;

static ar_poll closer_poll(void *p, ar_cx *cx)
{
    closer *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_task_set_init(&self->set, NULL, sizeof(int)), 0);
    for (int i = 0; i < 6; i++) {
        nap t = {.ms = 20000, .val = i, .drops = self->drops};
        T_BG_EQ(ar_task_set_spawn(&self->set, &nap_vt, &t, NULL), 0);
    }
    AR_AWAIT(ar_task_set_shutdown_poll(&self->set, cx, &self->cancelled));
    T_BG_EQ(ar_task_set_len(&self->set), 0);
    ar_task_set_drop(&self->set);
    AR_END;
}
static const ar_future_vt closer_vt = AR_FUTURE_VT_VOID(closer, closer_poll, NULL);

Test(task_set, shutdown_poll_ends_every_task_before_it_is_ready, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static closer c;
    memset(&c, 0, sizeof c);
    c.drops = &drops;
    T_OK(ar_block_on(rt, &closer_vt, &c));
    T_EQ_INT(c.cancelled, 6);
    T_EQ_INT(atomic_load(&drops), 6); /* already, not eventually */
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(task_set, bad_input)
{
    ar_rt *rt = t_rt_mt(1);
    ar_task_set s;
    T_EQ_INT(ar_task_set_init(NULL, rt, 0), -EINVAL);
    T_EQ_INT(ar_task_set_init(&s, NULL, 0), -EINVAL); /* no current runtime */
    ar_task_set z;
    memset(&z, 0, sizeof z);
    t_calc c = {.in = 1};
    T_EQ_INT(ar_task_set_spawn(&z, &t_calc_vt, &c, NULL), -EINVAL);
    T_EQ_INT(ar_task_set_spawn(NULL, &t_calc_vt, &c, NULL), -EINVAL);
    T_EQ_INT(ar_task_set_abort_all(&z), -EINVAL);
    T_EQ_INT(ar_task_set_len(&z), 0);
    ar_task_set_drop(&z);
    ar_task_set_drop(NULL);

    T_OK(ar_task_set_init(&s, rt, sizeof(int)));
    T_EQ_INT(ar_task_set_spawn(&s, NULL, &c, NULL), -EINVAL);
    nap wrong = {.ms = 1};
    T_EQ_INT(ar_task_set_spawn(&s, &t_blocker_vt, &wrong, NULL), -EINVAL); /* out_size 0 */
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int v = 0, res = 1;
    cr_assert(eq(int, ar_task_set_next_poll(&s, &cx, &v, sizeof v, NULL, &res), AR_READY));
    T_EQ_INT(res, -ENOENT);
    uint64_t id = 0;
    T_OK(ar_task_set_spawn(&s, &t_calc_vt, &c, &id));
    cr_assert_neq(id, 0);
    long long big = 0;
    cr_assert(eq(int, ar_task_set_next_poll(&s, &cx, &big, sizeof big, NULL, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    cr_assert(eq(int, ar_task_set_next_poll(&s, NULL, &v, sizeof v, NULL, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    T_EQ_INT(ar_task_set_len(&s), 1); /* nothing was taken */
    /* Poll until it is ready: the task wakes our counting waker. */
    uint64_t got = 0;
    T_WAIT_UNTIL((cx = t_cx(&w), ar_task_set_next_poll(&s, &cx, &v, sizeof v, &got, &res)) ==
                 AR_READY);
    T_EQ_INT(res, 0);
    T_EQ_INT(v, 4);
    T_EQ_U64(got, id);
    ar_task_set_drop(&s);
    /* A task that completed as its handle was released still owns its join
     * waker for a moment (it wakes, then drops it): wait for that. */
    T_WAIT_UNTIL(t_waker_held(&w) == 0);
    T_OK(ar_rt_shutdown(rt));
    /* After shutdown: spawning into a set fails cleanly. */
    T_OK(ar_task_set_init(&s, rt, sizeof(int)));
    T_EQ_INT(ar_task_set_spawn(&s, &t_calc_vt, &c, NULL), -ESHUTDOWN);
    T_EQ_INT(ar_task_set_len(&s), 0);
    ar_task_set_drop(&s);
    ar_rt_free(rt);
}

Test(task_set, many_tasks, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    const int n = T_N(4000);
    ar_task_set s;
    T_OK(ar_task_set_init(&s, rt, sizeof(int)));
    long long want = 0;
    for (int i = 0; i < n; i++) {
        t_calc c = {.in = i};
        T_OK(ar_task_set_spawn(&s, &t_calc_vt, &c, NULL));
        want += i * 3 + 1;
    }
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    long long sum = 0;
    int got = 0;
    for (;;) {
        int v = 0, res = 0;
        cx = t_cx(&w); /* a fresh budget per poll, as a task gets */
        if (ar_task_set_next_poll(&s, &cx, &v, sizeof v, NULL, &res) == AR_PENDING) {
            sched_yield();
            continue;
        }
        if (res == -ENOENT)
            break;
        T_EQ_INT(res, 0);
        sum += v;
        got++;
    }
    T_EQ_INT(got, n);
    T_EQ_INT(sum, want);
    ar_task_set_drop(&s);
    /* A task that completed as its handle was released still owns its join
     * waker for a moment (it wakes, then drops it): wait for that. */
    T_WAIT_UNTIL(t_waker_held(&w) == 0);
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Scopes
 * --------------------------------------------------------------------- */

/* A child that sleeps, then writes into memory the scope's caller owns. */
typedef struct writer {
    ar_co co;
    ar_sleep s;
    uint64_t ms;
    int *slot; /* borrowed from the caller's stack */
    int val;
    _Atomic int *drops;
} writer;

static ar_poll writer_poll(void *p, ar_cx *cx)
{
    writer *self = p;
    AR_BEGIN(&self->co);
    ar_sleep_init(&self->s, self->ms);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    *self->slot = self->val;
    AR_END;
}
static void writer_drop(void *p)
{
    writer *self = p;
    ar_sleep_drop(&self->s);
    atomic_fetch_add(self->drops, 1);
}
static const ar_future_vt writer_vt = AR_FUTURE_VT_VOID(writer, writer_poll, writer_drop);

typedef struct body_arg {
    int slots[16];
    int n;
    uint64_t ms;
    bool cancel;
    _Atomic int drops;
} body_arg;

static int body(ar_scope *sc, void *argp)
{
    body_arg *a = argp;
    for (int i = 0; i < a->n; i++) {
        writer w = {.ms = a->ms + (uint64_t)(i % 3) * 10, .slot = &a->slots[i], .val = i + 1,
                    .drops = &a->drops};
        if (ar_scope_spawn(sc, &writer_vt, &w))
            return -1;
    }
    if (a->cancel)
        ar_scope_cancel(sc);
    return 42;
}

static void scope_waits(ar_rt_flavor fl, uint32_t workers)
{
    ar_rt *rt = t_rt_new(fl, workers);
    body_arg a;
    memset(&a, 0, sizeof a);
    a.n = 16;
    a.ms = 30;
    T_EQ_INT(ar_scope_run(rt, body, &a), 42);
    /* Every child ended before ar_scope_run returned: all wrote. */
    for (int i = 0; i < a.n; i++)
        T_EQ_INT(a.slots[i], i + 1);
    T_EQ_INT(atomic_load(&a.drops), 0);
    ar_rt_free(rt);
}

Test(scope, run_returns_after_every_child_ended, .timeout = 30)
{
    scope_waits(AR_RT_MULTI_THREAD, 2);
}

Test(scope, run_drives_a_current_thread_runtime, .timeout = 30)
{
    scope_waits(AR_RT_CURRENT_THREAD, 0);
}

Test(scope, cancelled_children_are_dropped_before_run_returns, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    body_arg a;
    memset(&a, 0, sizeof a);
    a.n = 12;
    a.ms = 20000;
    a.cancel = true;
    double t0 = t_now_s();
    T_EQ_INT(ar_scope_run(rt, body, &a), 42);
    T_EQ_INT(atomic_load(&a.drops), 12); /* at return, not eventually */
    for (int i = 0; i < a.n; i++)
        T_EQ_INT(a.slots[i], 0);
    cr_assert_lt(t_now_s() - t0, 10.0);
    ar_rt_free(rt);
}

/* The future form, and ar_scope_run refused inside a task. */
typedef struct scoper {
    ar_co co;
    ar_scope sc;
    int slots[8];
    bool cancel;
    int nested_rc;
    uint32_t cancelled;
    _Atomic int drops;
} scoper;

static int nothing(ar_scope *sc, void *arg)
{
    (void)sc;
    (void)arg;
    return 0;
}

static ar_poll scoper_poll(void *p, ar_cx *cx)
{
    scoper *self = p;
    AR_BEGIN(&self->co);
    self->nested_rc = ar_scope_run(ar_rt_current(), nothing, NULL);
    T_BG_EQ(ar_scope_init(&self->sc, NULL), 0);
    for (int i = 0; i < 8; i++) {
        writer w = {.ms = self->cancel ? 20000 : 20 + (uint64_t)i, .slot = &self->slots[i],
                    .val = i + 1, .drops = &self->drops};
        T_BG_EQ(ar_scope_spawn(&self->sc, &writer_vt, &w), 0);
    }
    if (self->cancel)
        T_BG_EQ(ar_scope_cancel(&self->sc), 8);
    AR_AWAIT(ar_scope_close_poll(&self->sc, cx));
    self->cancelled = self->sc.out;
    AR_END;
}
static void scoper_drop(void *p) { ar_scope_drop(&((scoper *)p)->sc); }
static const ar_future_vt scoper_vt = AR_FUTURE_VT_VOID(scoper, scoper_poll, scoper_drop);

Test(scope, close_future_waits_for_children, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static scoper s;
    memset(&s, 0, sizeof s);
    T_OK(ar_block_on(rt, &scoper_vt, &s));
    T_EQ_INT(s.nested_rc, -EDEADLK);
    for (int i = 0; i < 8; i++)
        T_EQ_INT(s.slots[i], i + 1);
    T_EQ_INT(s.cancelled, 0);
    T_EQ_INT(atomic_load(&s.drops), 0);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(scope, cancel_then_close_counts_the_cancelled, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    static scoper s;
    memset(&s, 0, sizeof s);
    s.cancel = true;
    T_OK(ar_block_on(rt, &scoper_vt, &s));
    T_EQ_INT(s.cancelled, 8);
    T_EQ_INT(atomic_load(&s.drops), 8);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(scope, bad_input)
{
    ar_rt *rt = t_rt_mt(1);
    T_EQ_INT(ar_scope_run(NULL, body, NULL), -EINVAL);
    T_EQ_INT(ar_scope_run(rt, NULL, NULL), -EINVAL);
    T_EQ_INT(ar_scope_init(NULL, rt), -EINVAL);
    T_EQ_INT(ar_scope_spawn(NULL, &t_calc_vt, NULL), -EINVAL);
    T_EQ_INT(ar_scope_cancel(NULL), -EINVAL);
    ar_scope_drop(NULL);
    ar_scope sc;
    T_OK(ar_scope_init(&sc, rt));
    T_EQ_INT(ar_scope_spawn(&sc, NULL, NULL), -EINVAL);
    /* Without a cx the close still waits for its children. */
    static int slot;
    _Atomic int drops = 0;
    writer w = {.ms = 20000, .slot = &slot, .val = 1, .drops = &drops};
    T_OK(ar_scope_spawn(&sc, &writer_vt, &w));
    cr_assert(eq(int, ar_scope_close_poll(&sc, NULL), AR_PENDING));
    T_OK(ar_scope_cancel(&sc) == 1 ? 0 : -1);
    T_WAIT_UNTIL(ar_scope_close_poll(&sc, NULL) == AR_READY);
    T_EQ_INT(sc.out, 1);
    T_EQ_INT(atomic_load(&drops), 1);
    ar_scope_drop(&sc);
    ar_scope_drop(&sc);
    ar_rt_free(rt);
}

/* Cancellation at the close's await point: poll the close once, then drop
 * the scope: each child is dropped exactly once. */
Test(scope, drop_after_a_pending_close_drops_each_child_once, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static int slots[4];
    ar_scope sc;
    T_OK(ar_scope_init(&sc, rt));
    for (int i = 0; i < 4; i++) {
        writer w = {.ms = 20000, .slot = &slots[i], .val = 1, .drops = &drops};
        T_OK(ar_scope_spawn(&sc, &writer_vt, &w));
    }
    t_waker wk;
    t_waker_init(&wk);
    ar_cx cx = t_cx(&wk);
    cr_assert(eq(int, ar_scope_close_poll(&sc, &cx), AR_PENDING));
    ar_scope_drop(&sc);
    ar_scope_drop(&sc);
    T_WAIT_UNTIL(atomic_load(&drops) == 4);
    T_WAIT_UNTIL(t_waker_held(&wk) == 0); /* the tasks let go of our waker */
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&drops), 4);
    for (int i = 0; i < 4; i++)
        T_EQ_INT(slots[i], 0);
}
