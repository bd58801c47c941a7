/*
 * tests/test_executor.c - the multi-thread executor: every spawned task runs
 * exactly once (a million of them), spawns from tasks and plain threads at
 * once, ping-pong across workers, no lost wake-up, yield fairness, the LIFO
 * slot and the injection queue cannot be starved, cooperative budget,
 * shutdown with tasks in every place (nothing leaks, every drop runs once),
 * the shutdown life cycle, and worker counts 1, 2, 4, 8.
 */
#include "helpers.h"

#include <unistd.h>

/* ------------------------------------------------------------------------
 * Shared pieces
 * --------------------------------------------------------------------- */

/* A notify the main thread waits on through ar_block_on. */
typedef struct wait_notify {
    ar_co co;
    ar_notified w;
    ar_notify *n;
} wait_notify;

static ar_poll wait_notify_poll(void *self, ar_cx *cx)
{
    wait_notify *f = self;
    AR_BEGIN(&f->co);
    ar_notified_init(&f->w, f->n);
    AR_AWAIT(ar_notified_poll(&f->w, cx));
    AR_END;
}

static const ar_future_vt wait_notify_vt = AR_FUTURE_VT_VOID(wait_notify, wait_notify_poll, NULL);

static void block_on_notify(ar_rt *rt, ar_notify *n)
{
    wait_notify f = {.n = n};
    T_OK(ar_block_on(rt, &wait_notify_vt, &f));
}

/* A task that counts its runs and its drops. */
typedef struct counted {
    _Atomic int *ran;
    _Atomic int *drops;
} counted;

static ar_poll counted_poll(void *self, ar_cx *cx)
{
    (void)cx;
    atomic_fetch_add(((counted *)self)->ran, 1);
    return AR_READY;
}

static void counted_drop(void *self) { atomic_fetch_add(((counted *)self)->drops, 1); }

static const ar_future_vt counted_vt = AR_FUTURE_VT_VOID(counted, counted_poll, counted_drop);

/* ------------------------------------------------------------------------
 * A million tasks, each run exactly once
 * --------------------------------------------------------------------- */
static _Atomic uint8_t *once_flags;
static void *once_mem; /* once_flags, for free() */
static _Atomic uint32_t once_count;
static uint32_t once_total;
static ar_notify once_done;

typedef struct once_task {
    uint32_t idx;
} once_task;

static ar_poll once_poll(void *self, ar_cx *cx)
{
    (void)cx;
    once_task *t = self;
    atomic_fetch_add_explicit(&once_flags[t->idx], 1, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&once_count, 1, memory_order_acq_rel) + 1 == once_total)
        ar_notify_one(&once_done);
    return AR_READY;
}

static const ar_future_vt once_vt = AR_FUTURE_VT_VOID(once_task, once_poll, NULL);

/* Spawns [from, to) from inside a task, yielding every 1000 spawns. */
typedef struct once_spawner {
    ar_co co;
    ar_yield_now y;
    uint32_t from, to, i;
} once_spawner;

static ar_poll once_spawner_poll(void *self, ar_cx *cx)
{
    once_spawner *s = self;
    AR_BEGIN(&s->co);
    for (s->i = s->from; s->i < s->to; s->i++) {
        once_task t = {s->i};
        T_BG_EQ(ar_spawn(NULL, &once_vt, &t, NULL), 0);
        if (s->i % 1000 == 999)
            AR_AWAIT(ar_yield_now_poll(&s->y, cx));
    }
    AR_END;
}

static const ar_future_vt once_spawner_vt = AR_FUTURE_VT_VOID(once_spawner, once_spawner_poll, NULL);

static void run_million(uint32_t workers, bool from_tasks)
{
    once_total = (uint32_t)T_N(1000000);
    once_mem = calloc(once_total, 1);
    cr_assert(ne(ptr, once_mem, NULL));
    once_flags = once_mem;
    T_OK(ar_notify_init(&once_done));
    ar_rt *rt = t_rt_mt(workers);
    T_EQ_INT(ar_rt_workers(rt), workers);
    if (from_tasks) {
        /* Two spawner tasks, so both workers spawn into their own queues. */
        once_spawner a = {.from = 0, .to = once_total / 2};
        once_spawner b = {.from = once_total / 2, .to = once_total};
        T_OK(ar_spawn(rt, &once_spawner_vt, &a, NULL));
        T_OK(ar_spawn(rt, &once_spawner_vt, &b, NULL));
    } else {
        for (uint32_t i = 0; i < once_total; i++) {
            once_task t = {i};
            T_OK(ar_spawn(rt, &once_vt, &t, NULL));
        }
    }
    block_on_notify(rt, &once_done);
    T_EQ_INT(atomic_load(&once_count), once_total);
    ar_rt_free(rt); /* joins the workers: nothing can run any more */
    T_EQ_INT(atomic_load(&once_count), once_total);
    for (uint32_t i = 0; i < once_total; i++)
        if (atomic_load_explicit(&once_flags[i], memory_order_relaxed) != 1)
            cr_fatal("task %u ran %u times", i, (unsigned)once_flags[i]);
    T_BG_ASSERT_CLEAN();
    T_OK(ar_notify_destroy(&once_done));
    free(once_mem);
}

Test(executor, million_tasks_2_workers_from_outside, .timeout = 60) { run_million(2, false); }
Test(executor, million_tasks_1_worker_from_outside, .timeout = 60) { run_million(1, false); }
Test(executor, million_tasks_2_workers_from_tasks, .timeout = 60) { run_million(2, true); }
Test(executor, million_tasks_1_worker_from_tasks, .timeout = 60) { run_million(1, true); }

/* ------------------------------------------------------------------------
 * Spawning from tasks and plain threads at the same time
 * --------------------------------------------------------------------- */
enum { SP_THREADS = 3, SP_SPAWNERS = 50, SP_CHILDREN = 100 };

static _Atomic int sp_ran, sp_drops, sp_spawned_in_tasks;

typedef struct sp_spawner {
    ar_co co;
    ar_yield_now y;
    int i;
} sp_spawner;

static ar_poll sp_spawner_poll(void *self, ar_cx *cx)
{
    sp_spawner *s = self;
    AR_BEGIN(&s->co);
    for (s->i = 0; s->i < SP_CHILDREN; s->i++) {
        counted c = {&sp_ran, &sp_drops};
        T_BG_EQ(ar_spawn(NULL, &counted_vt, &c, NULL), 0);
        atomic_fetch_add(&sp_spawned_in_tasks, 1);
        if (s->i % 10 == 0)
            AR_AWAIT(ar_yield_now_poll(&s->y, cx));
    }
    AR_END;
}

static const ar_future_vt sp_spawner_vt = AR_FUTURE_VT_VOID(sp_spawner, sp_spawner_poll, NULL);

static void *sp_thread(void *arg)
{
    ar_rt *rt = arg;
    for (int k = 0; k < T_N(SP_SPAWNERS * 20); k++) {
        if (k % 20 == 0) {
            sp_spawner s = {0};
            T_BG_EQ(ar_spawn(rt, &sp_spawner_vt, &s, NULL), 0);
        } else {
            counted c = {&sp_ran, &sp_drops};
            T_BG_EQ(ar_spawn(rt, &counted_vt, &c, NULL), 0);
        }
    }
    return NULL;
}

Test(executor, spawn_from_tasks_and_threads_concurrently, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    pthread_t th[SP_THREADS];
    for (int i = 0; i < SP_THREADS; i++)
        th[i] = t_thread(sp_thread, rt);
    for (int i = 0; i < SP_THREADS; i++)
        pthread_join(th[i], NULL);
    int per_thread = T_N(SP_SPAWNERS * 20);
    int spawners = SP_THREADS * ((per_thread + 19) / 20);
    int direct = SP_THREADS * per_thread - spawners;
    int total = direct + spawners * SP_CHILDREN;
    T_WAIT_UNTIL(atomic_load(&sp_ran) == total);
    T_EQ_INT(atomic_load(&sp_spawned_in_tasks), spawners * SP_CHILDREN);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&sp_ran), total);
    T_EQ_INT(atomic_load(&sp_drops), 0);
    T_BG_ASSERT_CLEAN();
}

/* ------------------------------------------------------------------------
 * Ping-pong across workers through oneshots.  Each request carries the
 * value, the channel for the answer and the receiver of the next request,
 * so the two tasks live for the whole exchange.
 * --------------------------------------------------------------------- */
typedef struct pp_msg {
    int v;
    ar_oneshot_tx reply;
    ar_oneshot_rx next;
} pp_msg;

typedef struct pp_ponger {
    ar_co co;
    ar_oneshot_rx req;
    pp_msg m;
    int res;
    int out; /* requests answered */
} pp_ponger;

static ar_poll pp_ponger_poll(void *self, ar_cx *cx)
{
    pp_ponger *p = self;
    AR_BEGIN(&p->co);
    for (;;) {
        AR_AWAIT(ar_oneshot_recv_poll(&p->req, cx, &p->m, &p->res));
        if (p->res == -EPIPE)
            break; /* the pinger is done */
        T_BG_EQ(p->res, 0);
        int answer = p->m.v * 3 + 1;
        T_BG_EQ(ar_oneshot_send(&p->m.reply, &answer), 0);
        p->req = p->m.next;
        p->out++;
    }
    AR_END;
}

static void pp_ponger_drop(void *self) { ar_oneshot_rx_drop(&((pp_ponger *)self)->req); }

static const ar_future_vt pp_ponger_vt = AR_FUTURE_VT(pp_ponger, pp_ponger_poll, pp_ponger_drop, out);

typedef struct pp_pinger {
    ar_co co;
    ar_oneshot_tx req;
    ar_oneshot_rx reply;
    int i, n, v, res;
    int out; /* answers checked */
} pp_pinger;

static ar_poll pp_pinger_poll(void *self, ar_cx *cx)
{
    pp_pinger *p = self;
    AR_BEGIN(&p->co);
    for (p->i = 0; p->i < p->n; p->i++) {
        {
            pp_msg m = {.v = p->i};
            ar_oneshot_tx next_tx;
            T_BG_EQ(ar_oneshot_new(&m.reply, &p->reply, sizeof(int)), 0);
            T_BG_EQ(ar_oneshot_new(&next_tx, &m.next, sizeof(pp_msg)), 0);
            T_BG_EQ(ar_oneshot_send(&p->req, &m), 0);
            p->req = next_tx;
        }
        AR_AWAIT(ar_oneshot_recv_poll(&p->reply, cx, &p->v, &p->res));
        T_BG_EQ(p->res, 0);
        T_BG_EQ(p->v, p->i * 3 + 1);
        p->out++;
    }
    ar_oneshot_tx_drop(&p->req);
    AR_END;
}

static void pp_pinger_drop(void *self)
{
    pp_pinger *p = self;
    ar_oneshot_tx_drop(&p->req);
    ar_oneshot_rx_drop(&p->reply);
}

static const ar_future_vt pp_pinger_vt = AR_FUTURE_VT(pp_pinger, pp_pinger_poll, pp_pinger_drop, out);

static void ping_pong(ar_rt *rt, int pairs, int rounds)
{
    ar_join hi[16], ho[16];
    cr_assert(t_is(pairs <= 16));
    for (int k = 0; k < pairs; k++) {
        pp_pinger pi = {.n = rounds};
        pp_ponger po = {0};
        T_OK(ar_oneshot_new(&pi.req, &po.req, sizeof(pp_msg)));
        T_OK(ar_spawn(rt, &pp_ponger_vt, &po, &ho[k]));
        T_OK(ar_spawn(rt, &pp_pinger_vt, &pi, &hi[k]));
    }
    for (int k = 0; k < pairs; k++) {
        int a = 0, b = 0;
        T_OK(ar_join_wait(&hi[k], &a, sizeof a));
        T_OK(ar_join_wait(&ho[k], &b, sizeof b));
        T_EQ_INT(a, rounds);
        T_EQ_INT(b, rounds);
    }
    T_BG_ASSERT_CLEAN();
}

Test(executor, ping_pong_oneshots, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    ping_pong(rt, 1, T_N(10000));
    ar_rt_free(rt);
}

Test(executor, ping_pong_many_pairs, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    ping_pong(rt, 8, T_N(2000));
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * No lost wake-up: two tasks hand one permit back and forth through two
 * ar_notify 100,000 times (a lost wake-up hangs: the test times out),
 * while plain threads keep spawning tasks.
 * --------------------------------------------------------------------- */
static ar_notify alt_n[2];
static _Atomic long alt_turn;

typedef struct alternator {
    ar_co co;
    ar_notified w;
    int me;
    long i, n;
} alternator;

static ar_poll alternator_poll(void *self, ar_cx *cx)
{
    alternator *a = self;
    AR_BEGIN(&a->co);
    for (a->i = 0; a->i < a->n; a->i++) {
        ar_notified_init(&a->w, &alt_n[a->me]);
        AR_AWAIT(ar_notified_poll(&a->w, cx));
        long t = atomic_fetch_add(&alt_turn, 1);
        T_BG_EQ(t % 2, a->me); /* strict alternation: one permit in flight */
        ar_notify_one(&alt_n[1 - a->me]);
    }
    AR_END;
}

static void alternator_drop(void *self) { ar_notified_drop(&((alternator *)self)->w); }

static const ar_future_vt alternator_vt = AR_FUTURE_VT_VOID(alternator, alternator_poll, alternator_drop);

static _Atomic int alt_stop, alt_side_ran, alt_side_spawned;

static void *alt_spawn_thread(void *arg)
{
    ar_rt *rt = arg;
    static _Atomic int drops;
    while (!atomic_load(&alt_stop)) {
        counted c = {&alt_side_ran, &drops};
        T_BG_EQ(ar_spawn(rt, &counted_vt, &c, NULL), 0);
        atomic_fetch_add(&alt_side_spawned, 1);
        if (atomic_load(&alt_side_spawned) % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void alternate(uint32_t workers, long n)
{
    T_OK(ar_notify_init(&alt_n[0]));
    T_OK(ar_notify_init(&alt_n[1]));
    ar_rt *rt = t_rt_mt(workers);
    pthread_t th[2] = {t_thread(alt_spawn_thread, rt), t_thread(alt_spawn_thread, rt)};
    alternator a = {.me = 0, .n = n}, b = {.me = 1, .n = n};
    ar_join ha, hb;
    T_OK(ar_spawn(rt, &alternator_vt, &b, &hb));
    T_OK(ar_spawn(rt, &alternator_vt, &a, &ha));
    ar_notify_one(&alt_n[0]); /* the first permit */
    T_OK(ar_join_wait(&ha, NULL, 0));
    T_OK(ar_join_wait(&hb, NULL, 0));
    atomic_store(&alt_stop, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    T_EQ_INT(atomic_load(&alt_turn), 2 * n);
    T_WAIT_UNTIL(atomic_load(&alt_side_ran) == atomic_load(&alt_side_spawned));
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    /* The last notify_one found nobody waiting on alt_n[0]: one permit. */
    T_OK(ar_notify_destroy(&alt_n[0]));
    T_OK(ar_notify_destroy(&alt_n[1]));
}

Test(executor, stress_no_lost_wakeup_2_workers, .timeout = 60) { alternate(2, T_N(100000)); }
Test(executor, stress_no_lost_wakeup_1_worker, .timeout = 60) { alternate(1, T_N(100000)); }

/* ------------------------------------------------------------------------
 * Fairness
 * --------------------------------------------------------------------- */
static _Atomic int fair_b_ran;
static _Atomic long fair_yields, fair_yields_at_b;

typedef struct fair_yielder {
    ar_co co;
    ar_yield_now y;
    long limit;
    long out; /* yields done */
} fair_yielder;

static ar_poll fair_yielder_poll(void *self, ar_cx *cx)
{
    fair_yielder *f = self;
    AR_BEGIN(&f->co);
    while (!atomic_load(&fair_b_ran) && f->out < f->limit) {
        AR_AWAIT(ar_yield_now_poll(&f->y, cx));
        f->out++;
        atomic_store(&fair_yields, f->out);
    }
    AR_END;
}

static const ar_future_vt fair_yielder_vt = AR_FUTURE_VT(fair_yielder, fair_yielder_poll, NULL, out);

typedef struct fair_b {
    int unused;
} fair_b;

static ar_poll fair_b_poll(void *self, ar_cx *cx)
{
    (void)self;
    (void)cx;
    atomic_store(&fair_yields_at_b, atomic_load(&fair_yields));
    atomic_store(&fair_b_ran, 1);
    return AR_READY;
}

static const ar_future_vt fair_b_vt = AR_FUTURE_VT_VOID(fair_b, fair_b_poll, NULL);

/* A task yielding in a loop on the only worker does not starve a task
 * spawned from outside (injection queue) meanwhile. */
Test(executor, yield_does_not_starve_injected_task, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(1);
    fair_yielder a = {.limit = 50L * 1000 * 1000};
    ar_join ha, hb;
    T_OK(ar_spawn(rt, &fair_yielder_vt, &a, &ha));
    T_WAIT_UNTIL(atomic_load(&fair_yields) > 10);
    long at_spawn = atomic_load(&fair_yields);
    fair_b b = {0};
    T_OK(ar_spawn(rt, &fair_b_vt, &b, &hb));
    T_OK(ar_join_wait(&hb, NULL, 0));
    long out = 0;
    T_OK(ar_join_wait(&ha, &out, sizeof out));
    cr_assert(t_is(out < a.limit), "the yielder ran to its limit: the other task starved");
    /* The injection queue is checked every 61 ticks. */
    long waited = atomic_load(&fair_yields_at_b) - at_spawn;
    cr_assert(t_is(waited < 1000), "the injected task waited %ld yields", waited);
    ar_rt_free(rt);
}

/* Two yielding tasks on one worker share it evenly. */
static _Atomic long share_count[2];
static _Atomic int share_stop;

typedef struct sharer {
    ar_co co;
    ar_yield_now y;
    int me;
} sharer;

static ar_poll sharer_poll(void *self, ar_cx *cx)
{
    sharer *s = self;
    AR_BEGIN(&s->co);
    while (!atomic_load(&share_stop)) {
        atomic_fetch_add(&share_count[s->me], 1);
        AR_AWAIT(ar_yield_now_poll(&s->y, cx));
    }
    AR_END;
}

static const ar_future_vt sharer_vt = AR_FUTURE_VT_VOID(sharer, sharer_poll, NULL);

Test(executor, yielders_share_a_worker, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(1);
    sharer a = {.me = 0}, b = {.me = 1};
    ar_join ha, hb;
    T_OK(ar_spawn(rt, &sharer_vt, &a, &ha));
    T_OK(ar_spawn(rt, &sharer_vt, &b, &hb));
    T_WAIT_UNTIL(atomic_load(&share_count[0]) + atomic_load(&share_count[1]) > T_N(200000));
    atomic_store(&share_stop, 1);
    T_OK(ar_join_wait(&ha, NULL, 0));
    T_OK(ar_join_wait(&hb, NULL, 0));
    long x = atomic_load(&share_count[0]), y = atomic_load(&share_count[1]);
    cr_assert(t_is(x > (x + y) / 4 && y > (x + y) / 4), "unfair share: %ld vs %ld", x, y);
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * The LIFO slot cannot starve the run queue: P and Q wake each other
 * forever (each wake lands in the LIFO slot); C, woken once by P, waits in
 * the queue behind them and must still run.
 * --------------------------------------------------------------------- */
typedef struct lifo_shared {
    _Atomic uintptr_t wk[3]; /* wakers of P, Q, C */
    _Atomic int stop;
    _Atomic long rounds;
    _Atomic long c_woken_at, c_ran_at;
    _Atomic int c_woken;
    bool inject_c; /* variant: C is spawned from outside instead */
} lifo_shared;

static lifo_shared lifo;

static void lifo_wake(int i)
{
    uintptr_t b = atomic_load(&lifo.wk[i]);
    if (b)
        ar_waker_wake_by_ref((ar_waker){b});
}

typedef struct lifo_pp {
    int me;
} lifo_pp;

static ar_poll lifo_pp_poll(void *self, ar_cx *cx)
{
    lifo_pp *p = self;
    if (!atomic_load(&lifo.wk[p->me]))
        atomic_store(&lifo.wk[p->me], ar_waker_clone(cx->waker).bits);
    if (atomic_load(&lifo.stop)) {
        lifo_wake(1 - p->me); /* let the partner see stop too */
        return AR_READY;
    }
    long r = atomic_fetch_add(&lifo.rounds, 1) + 1;
    if (p->me == 0 && r >= 100 && !lifo.inject_c && !atomic_load(&lifo.c_woken)) {
        atomic_store(&lifo.c_woken_at, r);
        atomic_store(&lifo.c_woken, 1);
        lifo_wake(2); /* C into the LIFO slot... */
    }
    if (atomic_load(&lifo.wk[1 - p->me]))
        lifo_wake(1 - p->me); /* ...and pushed out to the queue by Q */
    else
        ar_waker_wake_by_ref(cx->waker); /* partner not started yet */
    return AR_PENDING;
}

static const ar_future_vt lifo_pp_vt = AR_FUTURE_VT_VOID(lifo_pp, lifo_pp_poll, NULL);

typedef struct lifo_c {
    int polls;
} lifo_c;

static ar_poll lifo_c_poll(void *self, ar_cx *cx)
{
    lifo_c *c = self;
    if (c->polls++ == 0 && !lifo.inject_c) {
        atomic_store(&lifo.wk[2], ar_waker_clone(cx->waker).bits);
        return AR_PENDING;
    }
    atomic_store(&lifo.c_ran_at, atomic_load(&lifo.rounds));
    atomic_store(&lifo.stop, 1);
    lifo_wake(0);
    lifo_wake(1);
    return AR_READY;
}

static const ar_future_vt lifo_c_vt = AR_FUTURE_VT_VOID(lifo_c, lifo_c_poll, NULL);

static void lifo_run(bool inject_c)
{
    lifo.inject_c = inject_c;
    ar_rt *rt = t_rt_mt(1);
    ar_join hp, hq, hc;
    lifo_c c = {0};
    if (!inject_c) {
        T_OK(ar_spawn(rt, &lifo_c_vt, &c, &hc));
        T_WAIT_UNTIL(atomic_load(&lifo.wk[2]));
    }
    lifo_pp p = {0}, q = {1};
    T_OK(ar_spawn(rt, &lifo_pp_vt, &p, &hp));
    T_OK(ar_spawn(rt, &lifo_pp_vt, &q, &hq));
    if (inject_c) {
        T_WAIT_UNTIL(atomic_load(&lifo.rounds) > 1000);
        atomic_store(&lifo.c_woken_at, atomic_load(&lifo.rounds));
        T_OK(ar_spawn(rt, &lifo_c_vt, &c, &hc));
    }
    T_OK(ar_join_wait(&hc, NULL, 0));
    T_OK(ar_join_wait(&hp, NULL, 0));
    T_OK(ar_join_wait(&hq, NULL, 0));
    long waited = atomic_load(&lifo.c_ran_at) - atomic_load(&lifo.c_woken_at);
    cr_assert(t_is(waited >= 0 && waited < 2000), "C waited %ld ping-pong rounds", waited);
    ar_rt_free(rt);
    for (int i = 0; i < 3; i++)
        ar_waker_drop((ar_waker){atomic_load(&lifo.wk[i])});
}

Test(executor, lifo_slot_cannot_starve_local_queue, .timeout = 30) { lifo_run(false); }
Test(executor, lifo_slot_cannot_starve_injection_queue, .timeout = 30) { lifo_run(true); }

/* ------------------------------------------------------------------------
 * Cooperative budget
 * --------------------------------------------------------------------- */

/* A task awaiting many joins that are all ready at once is polled again
 * and again, never taking more than AR_COOP_BUDGET of them per poll. */
enum { BUDGET_JOINS = 1000 };
static ar_join budget_h[BUDGET_JOINS];
static _Atomic int budget_polls, budget_max;

typedef struct budget_joiner {
    ar_co co;
    int i, res, polls, in_this_poll, max_per_poll;
} budget_joiner;

static ar_poll budget_joiner_poll(void *self, ar_cx *cx)
{
    budget_joiner *b = self;
    b->polls++;
    b->in_this_poll = 0;
    AR_BEGIN(&b->co);
    for (b->i = 0; b->i < BUDGET_JOINS; b->i++) {
        AR_AWAIT(ar_join_poll(&budget_h[b->i], cx, NULL, 0, &b->res));
        T_BG_EQ(b->res, 0);
        if (++b->in_this_poll > b->max_per_poll)
            b->max_per_poll = b->in_this_poll;
        atomic_store(&budget_max, b->max_per_poll);
        atomic_store(&budget_polls, b->polls);
    }
    AR_END;
}

static const ar_future_vt budget_joiner_vt = AR_FUTURE_VT_VOID(budget_joiner, budget_joiner_poll, NULL);

static void budget_run(bool as_task)
{
    ar_rt *rt = t_rt_mt(1);
    static _Atomic int ran, drops;
    for (int i = 0; i < BUDGET_JOINS; i++) {
        counted c = {&ran, &drops};
        T_OK(ar_spawn(rt, &counted_vt, &c, &budget_h[i]));
    }
    for (int i = 0; i < BUDGET_JOINS; i++)
        T_WAIT_UNTIL(ar_join_is_finished(&budget_h[i]));
    budget_joiner b = {0};
    if (as_task) {
        ar_join h;
        T_OK(ar_spawn(rt, &budget_joiner_vt, &b, &h));
        T_OK(ar_join_wait(&h, NULL, 0));
        /* The task's copy is gone; its statistics came back through the
         * globals below. */
        b.polls = atomic_load(&budget_polls);
        b.max_per_poll = atomic_load(&budget_max);
    } else {
        T_OK(ar_block_on(rt, &budget_joiner_vt, &b));
    }
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
    cr_assert(t_is(b.max_per_poll <= AR_COOP_BUDGET), "%d joins in one poll", b.max_per_poll);
    cr_assert(t_is(b.max_per_poll >= AR_COOP_BUDGET / 2), "only %d joins in one poll",
              b.max_per_poll);
    cr_assert(t_is(b.polls >= BUDGET_JOINS / AR_COOP_BUDGET), "only %d polls", b.polls);
}

Test(executor, coop_budget_limits_ready_joins_per_poll_block_on, .timeout = 30)
{
    budget_run(false);
}

Test(executor, coop_budget_limits_ready_joins_per_poll_task, .timeout = 30) { budget_run(true); }

/*
 * A task whose leaf futures are always ready (a notify it notifies itself,
 * a oneshot it sends to itself) loops until another task, spawned from
 * outside onto the only worker, has run.  future.h: leaf futures that can
 * be ready many times in a row (channel receives, joins, notify) consume
 * budget, so the busy task is preempted every AR_COOP_BUDGET ready polls
 * and the other task runs soon; without, the busy task finishes its whole
 * loop (BUSY_LIMIT iterations) in one poll first.
 */
enum { BUSY_NOTIFY, BUSY_ONESHOT };
enum { BUSY_LIMIT = 2000000 };

static _Atomic int busy_other_ran;
static _Atomic long busy_iters;
static ar_notify busy_n;

typedef struct busy {
    ar_co co;
    int kind;
    ar_notified w;
    ar_oneshot_rx rx;
    int v, res;
    long out; /* iterations done */
} busy;

static ar_poll busy_poll(void *self, ar_cx *cx)
{
    busy *b = self;
    AR_BEGIN(&b->co);
    while (!atomic_load(&busy_other_ran) && b->out < BUSY_LIMIT) {
        if (b->kind == BUSY_NOTIFY) {
            ar_notify_one(&busy_n);
            ar_notified_init(&b->w, &busy_n);
            AR_AWAIT(ar_notified_poll(&b->w, cx));
        } else {
            {
                ar_oneshot_tx tx;
                int one = 1;
                T_BG_EQ(ar_oneshot_new(&tx, &b->rx, sizeof(int)), 0);
                T_BG_EQ(ar_oneshot_send(&tx, &one), 0);
            }
            AR_AWAIT(ar_oneshot_recv_poll(&b->rx, cx, &b->v, &b->res));
            T_BG_EQ(b->res, 0);
        }
        b->out++;
        atomic_store_explicit(&busy_iters, b->out, memory_order_relaxed);
    }
    AR_END;
}

static void busy_drop(void *self)
{
    busy *b = self;
    ar_notified_drop(&b->w);
    ar_oneshot_rx_drop(&b->rx);
}

static const ar_future_vt busy_vt = AR_FUTURE_VT(busy, busy_poll, busy_drop, out);

typedef struct busy_other {
    int unused;
} busy_other;

static ar_poll busy_other_poll(void *self, ar_cx *cx)
{
    (void)self;
    (void)cx;
    atomic_store(&busy_other_ran, 1);
    return AR_READY;
}

static const ar_future_vt busy_other_vt = AR_FUTURE_VT_VOID(busy_other, busy_other_poll, NULL);

static void busy_run(int kind)
{
    T_OK(ar_notify_init(&busy_n));
    ar_rt *rt = t_rt_mt(1);
    ar_join hb, ho;
    busy b = {.kind = kind};
    T_OK(ar_spawn(rt, &busy_vt, &b, &hb));
    T_WAIT_UNTIL(atomic_load_explicit(&busy_iters, memory_order_relaxed) > 0);
    busy_other o = {0};
    T_OK(ar_spawn(rt, &busy_other_vt, &o, &ho));
    long out = 0;
    T_OK(ar_join_wait(&hb, &out, sizeof out));
    T_OK(ar_join_wait(&ho, NULL, 0));
    ar_rt_free(rt); /* before asserting: a failure must not also leak */
    T_OK(ar_notify_destroy(&busy_n));
    T_BG_ASSERT_CLEAN();
    cr_assert(t_is(out < BUSY_LIMIT),
              "the busy task ran %ld ready polls without yielding: the other task starved",
              out);
}

Test(executor, coop_budget_preempts_ready_notify, .timeout = 30) { busy_run(BUSY_NOTIFY); }
Test(executor, coop_budget_preempts_ready_oneshot, .timeout = 30) { busy_run(BUSY_ONESHOT); }

/* ------------------------------------------------------------------------
 * Shutdown with tasks everywhere
 * --------------------------------------------------------------------- */
static ar_notify sd_notify;
static _Atomic int sd_park_polls, sd_park_drops, sd_yield_drops, sd_local_ran, sd_local_drops,
    sd_inject_ran, sd_inject_drops, sd_blockers_running, sd_local_spawned;
static _Atomic long sd_yield_polls;

typedef struct sd_parker {
    ar_notified w;
    bool started;
} sd_parker;

static ar_poll sd_parker_poll(void *self, ar_cx *cx)
{
    sd_parker *p = self;
    if (!p->started) {
        p->started = true;
        ar_notified_init(&p->w, &sd_notify);
        atomic_fetch_add(&sd_park_polls, 1);
    }
    return ar_notified_poll(&p->w, cx);
}

static void sd_parker_drop(void *self)
{
    ar_notified_drop(&((sd_parker *)self)->w);
    atomic_fetch_add(&sd_park_drops, 1);
}

static const ar_future_vt sd_parker_vt = AR_FUTURE_VT_VOID(sd_parker, sd_parker_poll, sd_parker_drop);

typedef struct sd_yielder {
    int unused;
} sd_yielder;

static ar_poll sd_yielder_poll(void *self, ar_cx *cx)
{
    (void)self;
    atomic_fetch_add(&sd_yield_polls, 1);
    ar_waker_wake_by_ref(cx->waker);
    return AR_PENDING;
}

static void sd_yielder_drop(void *self)
{
    (void)self;
    atomic_fetch_add(&sd_yield_drops, 1);
}

static const ar_future_vt sd_yielder_vt = AR_FUTURE_VT_VOID(sd_yielder, sd_yielder_poll, sd_yielder_drop);

enum { SD_LOCAL = 40 };

/* Occupies its worker until shutdown; once both workers are occupied it
 * spawns SD_LOCAL tasks into its own worker's LIFO slot and queue. */
typedef struct sd_blocker {
    ar_rt *rt;
} sd_blocker;

static ar_poll sd_blocker_poll(void *self, ar_cx *cx)
{
    (void)cx;
    sd_blocker *b = self;
    atomic_fetch_add(&sd_blockers_running, 1);
    while (atomic_load(&sd_blockers_running) < 2)
        sched_yield();
    for (int i = 0; i < SD_LOCAL; i++) {
        counted c = {&sd_local_ran, &sd_local_drops};
        T_BG_EQ(ar_spawn(NULL, &counted_vt, &c, NULL), 0);
        atomic_fetch_add(&sd_local_spawned, 1);
    }
    while (!atomic_load(&b->rt->shutdown))
        sched_yield();
    return AR_READY;
}

static const ar_future_vt sd_blocker_vt = AR_FUTURE_VT_VOID(sd_blocker, sd_blocker_poll, NULL);

Test(executor, shutdown_with_pending_tasks_frees_everything, .timeout = 30)
{
    enum { PARKERS = 50, YIELDERS = 4, INJECTED = 100 };
    T_OK(ar_notify_init(&sd_notify));
    ar_rt *rt = t_rt_mt(2);
    ar_join hp[PARKERS], hy[YIELDERS], hi[INJECTED], hb[2];
    for (int i = 0; i < PARKERS; i++) {
        sd_parker p = {0};
        T_OK(ar_spawn(rt, &sd_parker_vt, &p, &hp[i]));
    }
    T_WAIT_UNTIL(ar_notify_waiters(&sd_notify) == PARKERS);
    for (int i = 0; i < YIELDERS; i++) {
        sd_yielder y = {0};
        T_OK(ar_spawn(rt, &sd_yielder_vt, &y, &hy[i]));
    }
    T_WAIT_UNTIL(atomic_load(&sd_yield_polls) > 100);
    for (int i = 0; i < 2; i++) {
        sd_blocker b = {rt};
        T_OK(ar_spawn(rt, &sd_blocker_vt, &b, &hb[i]));
        T_WAIT_UNTIL(atomic_load(&sd_blockers_running) > i);
    }
    /* Both workers are inside blockers now: nothing else can run. */
    T_WAIT_UNTIL(atomic_load(&sd_local_spawned) == 2 * SD_LOCAL);
    long ypolls = atomic_load(&sd_yield_polls);
    for (int i = 0; i < INJECTED; i++) {
        counted c = {&sd_inject_ran, &sd_inject_drops};
        T_OK(ar_spawn(rt, &counted_vt, &c, &hi[i]));
    }
    T_OK(ar_rt_shutdown(rt));

    T_EQ_INT(atomic_load(&sd_yield_polls), ypolls);
    T_EQ_INT(atomic_load(&sd_park_drops), PARKERS);
    T_EQ_INT(atomic_load(&sd_park_polls), PARKERS);
    T_EQ_INT(atomic_load(&sd_yield_drops), YIELDERS);
    T_EQ_INT(atomic_load(&sd_local_ran), 0);
    T_EQ_INT(atomic_load(&sd_local_drops), 2 * SD_LOCAL);
    T_EQ_INT(atomic_load(&sd_inject_ran), 0);
    T_EQ_INT(atomic_load(&sd_inject_drops), INJECTED);
    for (int i = 0; i < PARKERS; i++)
        T_EQ_INT(ar_join_wait(&hp[i], NULL, 0), -ECANCELED);
    for (int i = 0; i < YIELDERS; i++)
        T_EQ_INT(ar_join_wait(&hy[i], NULL, 0), -ECANCELED);
    for (int i = 0; i < INJECTED; i++)
        T_EQ_INT(ar_join_wait(&hi[i], NULL, 0), -ECANCELED);
    for (int i = 0; i < 2; i++)
        T_OK(ar_join_wait(&hb[i], NULL, 0)); /* finished their poll */
    T_EQ_INT(ar_notify_waiters(&sd_notify), 0);
    T_OK(ar_notify_destroy(&sd_notify));
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    /* Nothing ran or was dropped twice during the free. */
    T_EQ_INT(atomic_load(&sd_local_drops), 2 * SD_LOCAL);
    T_EQ_INT(atomic_load(&sd_inject_drops), INJECTED);
}

Test(executor, shutdown_lifecycle, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    t_assert_rt_usable(rt);
    T_OK(ar_rt_shutdown(rt));
    T_OK(ar_rt_shutdown(rt)); /* idempotent */
    T_OK(ar_rt_shutdown(rt));
    static _Atomic int ran, drops;
    counted c = {&ran, &drops};
    ar_join h = {(ar_task *)0x1, 7};
    T_EQ_INT(ar_spawn(rt, &counted_vt, &c, &h), -ESHUTDOWN);
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -EBADF); /* the handle was emptied */
    T_EQ_INT(ar_spawn(rt, &counted_vt, &c, NULL), -ESHUTDOWN);
    wait_notify f = {0};
    T_EQ_INT(ar_block_on(rt, &wait_notify_vt, &f), -ESHUTDOWN);
    T_EQ_INT(atomic_load(&ran), 0);
    T_EQ_INT(atomic_load(&drops), 0); /* refused: never taken */
    ar_rt_free(rt);

    /* ar_rt_free without an explicit shutdown shuts down too. */
    rt = t_rt_mt(1);
    t_assert_rt_usable(rt);
    ar_rt_free(rt);
}

/* Spawns race with shutdown: every accepted task either runs or is dropped,
 * exactly once; refused spawns say -ESHUTDOWN and take nothing. */
static _Atomic int race_accepted, race_ran, race_drops, race_refused, race_other;

static void *race_spawner(void *arg)
{
    ar_rt *rt = arg;
    for (;;) {
        counted c = {&race_ran, &race_drops};
        int rc = ar_spawn(rt, &counted_vt, &c, NULL);
        if (rc == 0) {
            atomic_fetch_add(&race_accepted, 1);
        } else {
            if (rc == -ESHUTDOWN)
                atomic_fetch_add(&race_refused, 1);
            else
                atomic_fetch_add(&race_other, 1);
            return NULL;
        }
    }
}

Test(executor, stress_spawn_races_shutdown, .timeout = 60)
{
    for (int round = 0; round < T_N(40); round++) {
        atomic_store(&race_accepted, 0);
        atomic_store(&race_ran, 0);
        atomic_store(&race_drops, 0);
        atomic_store(&race_refused, 0);
        ar_rt *rt = t_rt_mt(2);
        pthread_t th[2] = {t_thread(race_spawner, rt), t_thread(race_spawner, rt)};
        t_sleep_ms((unsigned)(round % 5));
        T_OK(ar_rt_shutdown(rt));
        pthread_join(th[0], NULL);
        pthread_join(th[1], NULL);
        T_EQ_INT(atomic_load(&race_other), 0);
        T_EQ_INT(atomic_load(&race_refused), 2);
        cr_assert(eq(int, atomic_load(&race_ran) + atomic_load(&race_drops),
                     atomic_load(&race_accepted)),
                  "round %d: ran %d + dropped %d != accepted %d", round, atomic_load(&race_ran),
                  atomic_load(&race_drops), atomic_load(&race_accepted));
        ar_rt_free(rt);
    }
}

/* Wakes from plain threads keep arriving while the runtime shuts down (and,
 * in the second test, while it is freed): they are released, never queued
 * on a dead runtime.  runtime.h: wakers may outlive the runtime. */
enum { LATE_TASKS = 32 };
static _Atomic uintptr_t late_wk[LATE_TASKS];
static _Atomic int late_stop;

typedef struct late_task {
    int i;
} late_task;

static ar_poll late_poll(void *self, ar_cx *cx)
{
    late_task *t = self;
    if (!atomic_load(&late_wk[t->i]))
        atomic_store(&late_wk[t->i], ar_waker_clone(cx->waker).bits);
    return AR_PENDING;
}

static const ar_future_vt late_vt = AR_FUTURE_VT_VOID(late_task, late_poll, NULL);

static void *late_waker_thread(void *arg)
{
    (void)arg;
    unsigned i = 0;
    while (!atomic_load(&late_stop))
        ar_waker_wake_by_ref((ar_waker){atomic_load(&late_wk[i++ % LATE_TASKS])});
    return NULL;
}

static void late_wakes(bool free_while_waking, int rounds)
{
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < LATE_TASKS; i++)
            atomic_store(&late_wk[i], 0);
        atomic_store(&late_stop, 0);
        ar_rt *rt = t_rt_mt(2);
        for (int i = 0; i < LATE_TASKS; i++) {
            late_task t = {i};
            T_OK(ar_spawn(rt, &late_vt, &t, NULL));
        }
        for (int i = 0; i < LATE_TASKS; i++)
            T_WAIT_UNTIL(atomic_load(&late_wk[i]));
        pthread_t th[2] = {t_thread(late_waker_thread, NULL), t_thread(late_waker_thread, NULL)};
        t_sleep_ms(2);
        if (free_while_waking) {
            ar_rt_free(rt);
            rt = NULL;
        } else {
            T_OK(ar_rt_shutdown(rt));
        }
        t_sleep_ms(1);
        atomic_store(&late_stop, 1);
        pthread_join(th[0], NULL);
        pthread_join(th[1], NULL);
        ar_rt_free(rt);
        for (int i = 0; i < LATE_TASKS; i++) {
            ar_task *t = (ar_task *)atomic_load(&late_wk[i]);
            uint32_t s = atomic_load(&t->state);
            cr_assert(t_is(s & AR__ST_COMPLETE), "task %d not complete: %#x", i, s);
            T_EQ_INT(ar__st_refs(s), 1); /* only our waker clone */
            ar_waker_drop((ar_waker){(uintptr_t)t});
        }
    }
}

Test(executor, stress_late_wakes_during_shutdown, .timeout = 60) { late_wakes(false, T_N(20)); }
Test(executor, stress_late_wakes_racing_rt_free, .timeout = 60) { late_wakes(true, 100); }

/* ------------------------------------------------------------------------
 * Worker counts
 * --------------------------------------------------------------------- */
typedef struct tree {
    ar_co co;
    int depth, i, fanout;
    ar_join kids[10];
    int res;
    long sub;
    long out; /* tasks in this subtree */
} tree;

static const ar_future_vt tree_vt;

static ar_poll tree_poll(void *self, ar_cx *cx)
{
    tree *t = self;
    AR_BEGIN(&t->co);
    T_BG_CHECK(ar_rt_current() != NULL);
    t->out = 1;
    if (t->depth > 0) {
        for (t->i = 0; t->i < t->fanout; t->i++) {
            tree k = {.depth = t->depth - 1, .fanout = t->fanout};
            T_BG_EQ(ar_spawn(NULL, &tree_vt, &k, &t->kids[t->i]), 0);
        }
        for (t->i = 0; t->i < t->fanout; t->i++) {
            AR_AWAIT(ar_join_poll(&t->kids[t->i], cx, &t->sub, sizeof t->sub, &t->res));
            T_BG_EQ(t->res, 0);
            t->out += t->sub;
        }
    }
    AR_END;
}

static const ar_future_vt tree_vt = AR_FUTURE_VT(tree, tree_poll, NULL, out);

static void tree_run(uint32_t workers)
{
    ar_rt *rt = t_rt_mt(workers);
    T_EQ_INT(ar_rt_workers(rt), workers);
    cr_assert(eq(ptr, ar_rt_current(), NULL));
    int depth = T_SANITIZED ? 3 : 4;
    tree t = {.depth = depth, .fanout = 10};
    ar_join h;
    T_OK(ar_spawn(rt, &tree_vt, &t, &h));
    long out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    long want = 0;
    for (int d = 0, p = 1; d <= depth; d++, p *= 10)
        want += p;
    T_EQ_INT(out, want);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(executor, workers_1, .timeout = 30) { tree_run(1); }
Test(executor, workers_2, .timeout = 30) { tree_run(2); }
Test(executor, workers_4, .timeout = 30) { tree_run(4); }
Test(executor, workers_8, .timeout = 30) { tree_run(8); }

/* ------------------------------------------------------------------------
 * Plain threads spawning while another thread shuts the runtime down:
 * every spawn either fails with -ESHUTDOWN or its task is run or dropped
 * (drop function exactly once, joiner answered).  Nothing leaks (ASan).
 * --------------------------------------------------------------------- */
static _Atomic int sd_drops, sd_runs;
typedef struct sd_task { int unused; } sd_task;
static ar_poll sd_task_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    atomic_fetch_add(&sd_runs, 1);
    return AR_PENDING; /* parks forever: only shutdown ends it */
}
static void sd_task_drop(void *p)
{
    (void)p;
    atomic_fetch_add(&sd_drops, 1);
}
static const ar_future_vt sd_task_vt =
    AR_FUTURE_VT_VOID(sd_task, sd_task_poll, sd_task_drop);

typedef struct sd_spawner {
    ar_rt *rt;
    int spawned;
    ar_join h[2000];
} sd_spawner;

static void *sd_spawn_thread(void *arg)
{
    sd_spawner *s = arg;
    for (int i = 0; i < 2000; i++) {
        sd_task t = {0};
        int rc = ar_spawn(s->rt, &sd_task_vt, &t, &s->h[s->spawned]);
        if (rc == -ESHUTDOWN)
            break;
        T_BG_EQ(rc, 0);
        s->spawned++;
    }
    return NULL;
}

Test(executor, stress_spawns_racing_shutdown, .timeout = 60)
{
    for (int round = 0; round < T_N(20); round++) {
        atomic_store(&sd_drops, 0);
        atomic_store(&sd_runs, 0);
        ar_rt *rt = t_rt_mt(2);
        sd_spawner sp[2] = {{.rt = rt}, {.rt = rt}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, sd_spawn_thread, &sp[i]);
        usleep((useconds_t)(100 * (round % 5)));
        T_OK(ar_rt_shutdown(rt));
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        int total = sp[0].spawned + sp[1].spawned;
        T_EQ_INT(atomic_load(&sd_drops), total);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < sp[i].spawned; j++)
                T_EQ_INT(ar_join_wait(&sp[i].h[j], NULL, 0), -ECANCELED);
        ar_rt_free(rt);
    }
    T_BG_ASSERT_CLEAN();
}

/* A multi-thread ar_block_on waiting on something that will never happen
 * returns -ECANCELED when another thread shuts the runtime down. */
typedef struct wait_forever { ar_notified w; } wait_forever;
static ar_poll wait_forever_poll(void *p, ar_cx *cx) { return ar_notified_poll(&((wait_forever *)p)->w, cx); }
static const ar_future_vt wait_forever_vt = AR_FUTURE_VT_VOID(wait_forever, wait_forever_poll, NULL);

static void *shutdown_later(void *arg)
{
    usleep(50000);
    ar_rt_shutdown(arg);
    return NULL;
}

Test(executor, block_on_returns_ecanceled_on_shutdown, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_notify n;
    T_OK(ar_notify_init(&n));
    wait_forever f;
    ar_notified_init(&f.w, &n);
    pthread_t th;
    pthread_create(&th, NULL, shutdown_later, rt);
    T_EQ_INT(ar_block_on(rt, &wait_forever_vt, &f), -ECANCELED);
    pthread_join(th, NULL);
    ar_notified_drop(&f.w);
    T_OK(ar_notify_destroy(&n));
    ar_rt_free(rt);
}
