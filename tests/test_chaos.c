/*
 * tests/test_chaos.c - stress storms for the test mode (issue 8): run in
 * the `stress` suite, so under TSan, with 4-slot queues, and with the
 * seeded chaos scheduler (-Dchaos=true; build.sh runs them with a fixed and
 * a random AR_CHAOS_SEED).  They pass in every build; chaos makes the rare
 * interleavings common.
 *
 *   storm_spawn_wake_abort_join   tasks that yield, wait on oneshots fed by
 *                                 another thread, get aborted, detached or
 *                                 joined in random mixes: every future ends
 *                                 exactly once (finished or dropped), every
 *                                 joiner gets its value or -ECANCELED.
 *   storm_state_word_wakes        many threads wake the same tasks (by
 *                                 reference and by value) while the tasks
 *                                 poll: no wake-up is lost (a lost one
 *                                 hangs the join), no reference leaks.
 *   storm_timers                  sleeps, timeouts and aborted sleepers:
 *                                 none fires early, all end.
 *   storm_channel_and_mutex       a 2-slot bounded channel with producers
 *                                 on every worker (per-producer FIFO, no
 *                                 loss), and a mutex whose critical section
 *                                 yields (no lost update).
 *
 * Closures borrowed from many workers: tests/closures/test_closure_stress.c
 * (also in the stress suite) runs under the same builds.
 *
 * Sizes are bounded so each test takes a few seconds on 2 cores under
 * chaos; each prints what it survived ("chaos: ...") for the README.
 */
#include "helpers.h"

#include "chaos.h"

/* The chaos build runs the storms longer: that is what it is for (its
 * stress suite still takes about a minute on 2 cores). */
#ifdef AR_CHAOS
#define T_CHAOS_MUL 10
#else
#define T_CHAOS_MUL 1
#endif

static ar_rt *rt_multi(uint32_t workers)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = workers;
    ar_rt *rt = NULL;
    T_OK(ar_rt_new(&rt, &o));
    return rt;
}

/* splitmix64: the tests' own choices, seeded from the chaos seed when
 * there is one so a seed replays the same mix of actions. */
static uint64_t t_rng;
static uint64_t t_rand(void)
{
    uint64_t x = (t_rng += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}
static void t_rand_seed(uint64_t salt) { t_rng = ar__chaos_seed() ^ salt; }

static void report(const char *what, long long n)
{
    fprintf(stderr, "chaos: %s: %lld (seed %llu)\n", what, n,
            (unsigned long long)ar__chaos_seed());
}

/* A storm that runs far longer than it should is stuck (a lost wake-up
 * hangs a join): the watchdog lists the live tasks (ar_rt_dump_tasks, from
 * its plain thread) and the seed, then aborts, well before Criterion's
 * timeout would kill the test without either. */
typedef struct watchdog {
    ar_rt *rt;
    const char *what;
    _Atomic bool done;
    pthread_t th;
} watchdog;

enum { WATCHDOG_S = 150 };

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    for (int i = 0; i < WATCHDOG_S * 10; i++) {
        if (atomic_load(&wd->done))
            return NULL;
        t_sleep_ms(100);
    }
    fprintf(stderr, "chaos: %s still running after %d s (seed %llu); live tasks:\n", wd->what,
            WATCHDOG_S, (unsigned long long)ar__chaos_seed());
    ar_rt_dump_tasks(wd->rt, stderr);
    abort();
}

static void watchdog_start(watchdog *wd, ar_rt *rt, const char *what)
{
    wd->rt = rt;
    wd->what = what;
    atomic_init(&wd->done, false);
    cr_assert(eq(int, pthread_create(&wd->th, NULL, watchdog_main, wd), 0));
}

static void watchdog_stop(watchdog *wd)
{
    atomic_store(&wd->done, true);
    pthread_join(wd->th, NULL);
}

static ar_rt *rt_multi_sites(uint32_t workers)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = workers;
    o.task_sites = true; /* the watchdog's dump says where each task came from */
    ar_rt *rt = NULL;
    T_OK(ar_rt_new(&rt, &o));
    return rt;
}

/* ---------------------------------------------------------------------
 * 1. spawn / wake / abort / join storm
 * ------------------------------------------------------------------- */

typedef struct storm {
    ar_oneshot_rx rx; /* valid when waits */
    int id, yields, waits, x, res;
    bool done;
    _Atomic int *finished, *dropped;
    int out;
} storm;

static ar_poll storm_poll(void *p, ar_cx *cx)
{
    storm *s = p;
    if (s->yields > 0) {
        s->yields--;
        ar_waker_wake_by_ref(cx->waker); /* a yield: the self-wake shortcut */
        return AR_PENDING;
    }
    if (s->waits) {
        if (ar_oneshot_recv_poll(&s->rx, cx, &s->x, &s->res) == AR_PENDING)
            return AR_PENDING;
        s->waits = 0;
        if (s->res == 0 && s->x != s->id)
            s->x = -1; /* wrong value: caught by the joiner */
    } else {
        s->x = s->id;
    }
    s->out = s->x * 2;
    s->done = true;
    atomic_fetch_add(s->finished, 1);
    return AR_READY;
}

static void storm_drop(void *p)
{
    storm *s = p;
    if (s->waits)
        ar_oneshot_rx_drop(&s->rx);
    if (!s->done)
        atomic_fetch_add(s->dropped, 1);
}
static const ar_future_vt storm_vt = AR_FUTURE_VT(storm, storm_poll, storm_drop, out);

typedef struct feeder {
    ar_oneshot_tx *tx;
    int *ids;
    int n;
} feeder;

/* Sends every waiting task its id, in a shuffled order, from a plain thread. */
static void *feeder_main(void *arg)
{
    feeder *f = arg;
    for (int i = 0; i < f->n; i++) {
        if (f->ids[i] < 0)
            continue;
        int v = f->ids[i];
        int rc = ar_oneshot_send(&f->tx[i], &v); /* -EPIPE: the task was aborted */
        if (rc != 0 && rc != -EPIPE)
            T_BG_EQ(rc, 0);
        if (rc != 0)
            ar_oneshot_tx_drop(&f->tx[i]);
        if (i % 7 == 0)
            sched_yield();
    }
    return NULL;
}

enum { STORM_TASKS = 96 };

Test(chaos, storm_spawn_wake_abort_join, .timeout = 240)
{
    t_rand_seed(1);
    int rounds = T_N(40) * T_CHAOS_MUL;
    long long spawned = 0, aborted = 0;
    _Atomic int finished = 0, dropped = 0;
    ar_rt *rt = rt_multi_sites(3);
    watchdog wd;
    watchdog_start(&wd, rt, "spawn/wake/abort/join storm");
    for (int r = 0; r < rounds; r++) {
        ar_join h[STORM_TASKS];
        ar_oneshot_tx tx[STORM_TASKS];
        int ids[STORM_TASKS];
        enum { JOIN, ABORT, DETACH } act[STORM_TASKS];
        for (int i = 0; i < STORM_TASKS; i++) {
            uint64_t d = t_rand();
            storm s = {.id = r * STORM_TASKS + i, .yields = (int)(d % 4),
                       .waits = (d >> 8) % 2, .finished = &finished, .dropped = &dropped};
            ids[i] = -1;
            if (s.waits) {
                T_OK(ar_oneshot_new(&tx[i], &s.rx, sizeof(int)));
                ids[i] = s.id;
            }
            act[i] = (d >> 16) % 8 < 5 ? JOIN : (d >> 16) % 8 < 7 ? ABORT : DETACH;
            T_OK(ar_spawn(rt, &storm_vt, &s, &h[i]));
            spawned++;
        }
        feeder f = {tx, ids, STORM_TASKS};
        pthread_t th;
        cr_assert(eq(int, pthread_create(&th, NULL, feeder_main, &f), 0));
        for (int i = 0; i < STORM_TASKS; i++) {
            if (act[i] == ABORT) {
                T_OK(ar_join_abort(&h[i]));
                aborted++;
            } else if (act[i] == DETACH) {
                T_OK(ar_join_detach(&h[i]));
            }
        }
        for (int i = 0; i < STORM_TASKS; i++) {
            if (act[i] == DETACH)
                continue;
            int out = -7;
            int rc = ar_join_wait(&h[i], &out, sizeof out);
            int id = r * STORM_TASKS + i;
            if (act[i] == JOIN) {
                cr_assert(eq(int, rc, 0), "task %d: %s", id, ar_strerror(rc));
                cr_assert(eq(int, out, id * 2), "task %d got %d", id, out);
            } else {
                cr_assert(t_is(rc == -ECANCELED || (rc == 0 && out == id * 2)),
                          "aborted task %d: rc %d out %d", id, rc, out);
            }
        }
        pthread_join(th, NULL);
    }
    watchdog_stop(&wd);
    ar_rt_free(rt); /* detached tasks still waiting are dropped here */
    T_BG_ASSERT_CLEAN();
    /* Each future ended exactly once: finished, or dropped unfinished. */
    cr_assert(eq(llong, (long long)atomic_load(&finished) + atomic_load(&dropped), spawned),
              "finished %d + dropped %d != spawned %lld", atomic_load(&finished),
              atomic_load(&dropped), spawned);
    report("storm tasks spawned", spawned);
    report("storm aborts", aborted);
}

/* ---------------------------------------------------------------------
 * 2. the task state word: concurrent wakes from many threads
 * ------------------------------------------------------------------- */

enum { WAKE_TASKS = 16, WAKE_THREADS = 3 };

typedef struct wslot {
    _Atomic int tokens;      /* given by waker threads */
    _Atomic bool published;  /* waker below is set (release/acquire) */
    ar_waker waker;          /* a clone of the task's waker; the test drops it */
    _Atomic int polls;
} wslot;

typedef struct waiter {
    wslot *slot;
    int need;
    int out;
} waiter;

static ar_poll waiter_poll(void *p, ar_cx *cx)
{
    waiter *w = p;
    atomic_fetch_add_explicit(&w->slot->polls, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&w->slot->published, memory_order_relaxed)) {
        w->slot->waker = ar_waker_clone(cx->waker);
        atomic_store_explicit(&w->slot->published, true, memory_order_release);
    }
    if (atomic_load_explicit(&w->slot->tokens, memory_order_acquire) < w->need)
        return AR_PENDING; /* a token given after this load comes with a wake */
    w->out = w->need;
    return AR_READY;
}
static const ar_future_vt waiter_vt = AR_FUTURE_VT(waiter, waiter_poll, NULL, out);

typedef struct waker_thread {
    wslot *slots;
    int per_slot;
    int seed;
} waker_thread;

static void *waker_main(void *arg)
{
    waker_thread *wt = arg;
    for (int k = 0; k < wt->per_slot; k++) {
        for (int j = 0; j < WAKE_TASKS; j++) {
            wslot *s = &wt->slots[(j + wt->seed) % WAKE_TASKS];
            while (!atomic_load_explicit(&s->published, memory_order_acquire))
                sched_yield();
            atomic_fetch_add_explicit(&s->tokens, 1, memory_order_release);
            if ((k + j + wt->seed) % 2)
                ar_waker_wake_by_ref(s->waker);
            else
                ar_waker_wake(ar_waker_clone(s->waker)); /* by value */
        }
    }
    return NULL;
}

Test(chaos, storm_state_word_wakes, .timeout = 240)
{
    int rounds = T_N(30) * T_CHAOS_MUL, per = T_N(200);
    long long wakes = 0;
    ar_rt *rt = rt_multi_sites(3);
    watchdog wd;
    watchdog_start(&wd, rt, "state-word wake storm");
    for (int r = 0; r < rounds; r++) {
        wslot slots[WAKE_TASKS];
        ar_join h[WAKE_TASKS];
        memset(slots, 0, sizeof slots);
        for (int i = 0; i < WAKE_TASKS; i++) {
            waiter w = {.slot = &slots[i], .need = per * WAKE_THREADS};
            T_OK(ar_spawn(rt, &waiter_vt, &w, &h[i]));
        }
        pthread_t th[WAKE_THREADS];
        waker_thread wt[WAKE_THREADS];
        for (int t = 0; t < WAKE_THREADS; t++) {
            wt[t] = (waker_thread){slots, per, t * 5 + r};
            cr_assert(eq(int, pthread_create(&th[t], NULL, waker_main, &wt[t]), 0));
        }
        for (int i = 0; i < WAKE_TASKS; i++) {
            int out = 0;
            T_OK(ar_join_wait(&h[i], &out, sizeof out));
            T_EQ_INT(out, per * WAKE_THREADS);
        }
        for (int t = 0; t < WAKE_THREADS; t++)
            pthread_join(th[t], NULL);
        for (int i = 0; i < WAKE_TASKS; i++)
            ar_waker_drop(slots[i].waker); /* the last reference of a finished task */
        wakes += (long long)WAKE_TASKS * per * WAKE_THREADS;
    }
    /* Every task ended and was freed: no reference was leaked by a wake
     * racing with completion (ASan/LSan would also see the block). */
    watchdog_stop(&wd);
    ar_rt_metrics m;
    T_OK(ar_rt_metrics_read(rt, &m));
    T_EQ_U64(m.tasks_alive, 0);
    ar_rt_free(rt);
    report("state-word wakes from 3 threads", wakes);
}

/* ---------------------------------------------------------------------
 * 3. timers
 * ------------------------------------------------------------------- */

typedef struct sleeper {
    ar_sleep s;
    uint64_t start, ms;
    bool armed;
    int out; /* 1: on time, -1: early */
} sleeper;

static ar_poll sleeper_poll(void *p, ar_cx *cx)
{
    sleeper *s = p;
    if (!s->armed) {
        s->start = ar_now_ms();
        ar_sleep_init(&s->s, s->ms);
        s->armed = true;
    }
    if (ar_sleep_poll(&s->s, cx) == AR_PENDING)
        return AR_PENDING;
    s->out = ar_now_ms() >= s->start + s->ms ? 1 : -1;
    return AR_READY;
}
static void sleeper_drop(void *p)
{
    sleeper *s = p;
    if (s->armed)
        ar_sleep_drop(&s->s);
}
static const ar_future_vt sleeper_vt = AR_FUTURE_VT(sleeper, sleeper_poll, sleeper_drop, out);

/* A child that never finishes, for ar_timeout. */
typedef struct never { int out; } never;
static ar_poll never_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    return AR_PENDING;
}
static const ar_future_vt never_vt = AR_FUTURE_VT(never, never_poll, NULL, out);

typedef struct timeouter {
    ar_timeout t;
    never child;
    uint64_t ms;
    bool armed;
    int out; /* the timeout's result */
} timeouter;

static ar_poll timeouter_poll(void *p, ar_cx *cx)
{
    timeouter *t = p;
    if (!t->armed) {
        ar_timeout_init(&t->t, &never_vt, &t->child, t->ms);
        t->armed = true;
    }
    if (ar_timeout_poll(&t->t, cx) == AR_PENDING)
        return AR_PENDING;
    t->out = t->t.res;
    return AR_READY;
}
static void timeouter_drop(void *p)
{
    timeouter *t = p;
    if (t->armed)
        ar_timeout_drop(&t->t);
}
static const ar_future_vt timeouter_vt =
    AR_FUTURE_VT(timeouter, timeouter_poll, timeouter_drop, out);

Test(chaos, storm_timers, .timeout = 240)
{
    t_rand_seed(3);
    enum { N = 128 };
    int rounds = T_N(16) * T_CHAOS_MUL;
    long long timers = 0;
    ar_rt *rt = rt_multi_sites(3);
    watchdog wd;
    watchdog_start(&wd, rt, "timer storm");
    for (int r = 0; r < rounds; r++) {
        ar_join h[N];
        int kind[N];
        for (int i = 0; i < N; i++) {
            uint64_t d = t_rand();
            kind[i] = (int)(d % 4); /* 0,1 sleep; 2 timeout; 3 sleep then abort */
            uint64_t ms = (d >> 8) % 9;
            if (kind[i] == 2) {
                timeouter t = {.ms = ms};
                T_OK(ar_spawn(rt, &timeouter_vt, &t, &h[i]));
            } else {
                sleeper s = {.ms = kind[i] == 3 ? ms + 50 : ms};
                T_OK(ar_spawn(rt, &sleeper_vt, &s, &h[i]));
            }
            timers++;
        }
        for (int i = 0; i < N; i++)
            if (kind[i] == 3)
                T_OK(ar_join_abort(&h[i]));
        for (int i = 0; i < N; i++) {
            int out = 0;
            int rc = ar_join_wait(&h[i], &out, sizeof out);
            if (kind[i] == 3) {
                cr_assert(t_is(rc == -ECANCELED || (rc == 0 && out == 1)), "rc %d out %d", rc,
                          out);
            } else if (kind[i] == 2) {
                T_OK(rc);
                T_EQ_INT(out, -ETIMEDOUT);
            } else {
                T_OK(rc);
                cr_assert(eq(int, out, 1), "sleeper %d woke early", i);
            }
        }
    }
    watchdog_stop(&wd);
    ar_rt_free(rt);
    report("timers (sleeps, timeouts, aborted sleeps)", timers);
}

/* ---------------------------------------------------------------------
 * 4. channels and locks
 * ------------------------------------------------------------------- */

enum { PRODUCERS = 4 };

typedef struct producer {
    ar_mpsc_tx tx;
    ar_mpsc_send send;
    int id, n, i;
    int v; /* the value in flight: read when the send completes */
    bool sending;
    int out;
} producer;

static ar_poll producer_poll(void *p, ar_cx *cx)
{
    producer *s = p;
    while (s->i < s->n) {
        if (!s->sending) {
            s->v = (s->id << 20) | s->i;
            ar_mpsc_send_init(&s->send, &s->tx, &s->v);
            s->sending = true;
        }
        int res = 0;
        if (ar_mpsc_send_poll(&s->send, cx, &res) == AR_PENDING)
            return AR_PENDING;
        s->sending = false;
        if (res) {
            s->out = res;
            ar_mpsc_tx_drop(&s->tx);
            return AR_READY;
        }
        s->i++;
    }
    ar_mpsc_tx_drop(&s->tx);
    s->out = 0;
    return AR_READY;
}
static void producer_drop(void *p)
{
    producer *s = p;
    if (s->sending)
        ar_mpsc_send_drop(&s->send);
    ar_mpsc_tx_drop(&s->tx);
}
static const ar_future_vt producer_vt = AR_FUTURE_VT(producer, producer_poll, producer_drop, out);

typedef struct consumer {
    ar_mpsc_rx rx;
    int next[PRODUCERS];
    int expect; /* messages per producer */
    long got;
    int out; /* 0, or a negative code for what went wrong */
} consumer;

static ar_poll consumer_poll(void *p, ar_cx *cx)
{
    consumer *c = p;
    for (;;) {
        int v = 0, res = 0;
        if (ar_mpsc_recv_poll(&c->rx, cx, &v, &res) == AR_PENDING)
            return AR_PENDING;
        if (res == -EPIPE) { /* every sender gone and the channel empty */
            for (int i = 0; i < PRODUCERS; i++)
                if (c->next[i] != c->expect)
                    c->out = -ENODATA; /* a message was lost */
            break;
        }
        if (res) {
            c->out = res;
            break;
        }
        int id = v >> 20, seq = v & 0xfffff;
        if (id < 0 || id >= PRODUCERS || seq != c->next[id]) {
            c->out = -EILSEQ;
            break;
        }
        c->next[id]++;
        c->got++;
    }
    ar_mpsc_rx_drop(&c->rx);
    return AR_READY;
}
static const ar_future_vt consumer_vt = AR_FUTURE_VT(consumer, consumer_poll, NULL, out);

typedef struct locker {
    ar_mutex *m;
    ar_mutex_lock l;
    long *counter; /* guarded by m */
    long seen;
    int n, i, step;
    int out;
} locker;

static ar_poll locker_poll(void *p, ar_cx *cx)
{
    locker *k = p;
    while (k->i < k->n) {
        if (k->step == 0) {
            ar_mutex_lock_init(&k->l, k->m);
            k->step = 1;
        }
        if (k->step == 1) {
            int res = 0;
            if (ar_mutex_lock_poll(&k->l, cx, &res) == AR_PENDING)
                return AR_PENDING;
            if (res) {
                k->out = res;
                return AR_READY;
            }
            k->seen = *k->counter;
            k->step = 2;
            ar_waker_wake_by_ref(cx->waker); /* yield while holding the lock */
            return AR_PENDING;
        }
        *k->counter = k->seen + 1;
        int rc = ar_mutex_unlock(k->m);
        if (rc) {
            k->out = rc;
            return AR_READY;
        }
        k->step = 0;
        k->i++;
    }
    return AR_READY;
}
static void locker_drop(void *p)
{
    locker *k = p;
    if (k->step == 1)
        ar_mutex_lock_drop(&k->l);
    else if (k->step == 2)
        ar_mutex_unlock(k->m);
}
static const ar_future_vt locker_vt = AR_FUTURE_VT(locker, locker_poll, locker_drop, out);

Test(chaos, storm_channel_and_mutex, .timeout = 240)
{
    int rounds = T_N(10) * T_CHAOS_MUL, per = T_N(400);
    long long msgs = 0, locks = 0;
    ar_rt *rt = rt_multi_sites(3);
    watchdog wd;
    watchdog_start(&wd, rt, "channel and mutex storm");
    for (int r = 0; r < rounds; r++) {
        consumer c = {.expect = per};
        producer pr[PRODUCERS];
        ar_mpsc_tx tx;
        T_OK(ar_mpsc_bounded(&tx, &c.rx, sizeof(int), 2));
        ar_join hc, hp[PRODUCERS];
        for (int i = 0; i < PRODUCERS; i++) {
            memset(&pr[i], 0, sizeof pr[i]);
            T_OK(ar_mpsc_tx_clone(&tx, &pr[i].tx));
            pr[i].id = i;
            pr[i].n = per;
        }
        ar_mpsc_tx_drop(&tx);
        T_OK(ar_spawn(rt, &consumer_vt, &c, &hc));
        for (int i = 0; i < PRODUCERS; i++)
            T_OK(ar_spawn(rt, &producer_vt, &pr[i], &hp[i]));

        ar_mutex m;
        T_OK(ar_mutex_init(&m));
        long counter = 0;
        enum { LOCKERS = 6 };
        ar_join hl[LOCKERS];
        for (int i = 0; i < LOCKERS; i++) {
            locker k = {.m = &m, .counter = &counter, .n = per / 4};
            T_OK(ar_spawn(rt, &locker_vt, &k, &hl[i]));
        }

        for (int i = 0; i < PRODUCERS; i++) {
            int out = -1;
            T_OK(ar_join_wait(&hp[i], &out, sizeof out));
            T_EQ_INT(out, 0);
        }
        int out = -1;
        T_OK(ar_join_wait(&hc, &out, sizeof out));
        cr_assert(eq(int, out, 0), "consumer: %s", ar_strerror(out));
        for (int i = 0; i < LOCKERS; i++) {
            int lo = -1;
            T_OK(ar_join_wait(&hl[i], &lo, sizeof lo));
            T_EQ_INT(lo, 0);
        }
        T_EQ_INT(counter, (long)LOCKERS * (per / 4));
        cr_assert(t_is(!ar_mutex_is_locked(&m)));
        T_OK(ar_mutex_destroy(&m));
        msgs += (long long)PRODUCERS * per;
        locks += (long long)LOCKERS * (per / 4);
    }
    watchdog_stop(&wd);
    ar_rt_free(rt);
    report("channel messages (2-slot bounded, 4 producers)", msgs);
    report("mutex handovers with a yield inside", locks);
}

/* The chaos build really injects: its hooks acted during the storms above
 * (in this process: Criterion runs each test in its own). */
Test(chaos, hooks_act_in_the_chaos_build, .timeout = 60)
{
    if (!ar__chaos_enabled())
        cr_skip_test("not a chaos build (-Dchaos=true)");
    uint64_t before = ar__chaos_acted();
    ar_rt *rt = rt_multi(2);
    _Atomic int finished = 0, dropped = 0;
    for (int i = 0; i < 2000; i++) {
        storm s = {.id = i, .yields = 3, .finished = &finished, .dropped = &dropped};
        T_OK(ar_spawn(rt, &storm_vt, &s, NULL));
    }
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&finished) + atomic_load(&dropped), 2000);
    uint64_t acted = ar__chaos_acted() - before;
    cr_assert(t_is(acted > 0), "no chaos hook acted in 2,000 tasks");
    report("chaos hook actions in 2,000 yielding tasks", (long long)acted);
}
