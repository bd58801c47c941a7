/*
 * tests/test_time.c - sleeps, intervals and timeouts on a running runtime:
 * never early, in deadline order, many at once, cancellation, sleeps from
 * plain threads and from the current-thread flavour.
 */
#include "helpers.h"

#include <unistd.h>

/* A task that sleeps `ms` and records when it woke. */
typedef struct sleeper {
    ar_co co;
    ar_sleep s;
    uint64_t ms, start, deadline;
    uint64_t *woke_at;
    _Atomic int *done;
} sleeper;

static ar_poll sleeper_poll(void *p, ar_cx *cx)
{
    sleeper *self = p;
    AR_BEGIN(&self->co);
    self->start = ar_now_ms();
    ar_sleep_init(&self->s, self->ms);
    self->deadline = ar_sleep_deadline(&self->s);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    *self->woke_at = ar_now_ms();
    if (self->done)
        atomic_fetch_add(self->done, 1);
    AR_END;
}
static void sleeper_drop(void *p) { ar_sleep_drop(&((sleeper *)p)->s); }
static const ar_future_vt sleeper_vt = AR_FUTURE_VT_VOID(sleeper, sleeper_poll, sleeper_drop);

/* Never early (strict) and in deadline order (with slack for scheduling:
 * exact firing order is checked on a synthetic clock in test_wheel.c). */
Test(time, sleeps_never_fire_early_and_fire_in_order, .timeout = 60)
{
    enum { N = 200 };
    ar_rt *rt = t_rt_mt(1);
    static uint64_t woke[N], start[N];
    static ar_join h[N];
    for (int i = 0; i < N; i++) {
        sleeper s = {.ms = (uint64_t)(i * 7) % 300, .woke_at = &woke[i]};
        start[i] = ar_now_ms();
        T_OK(ar_spawn(rt, &sleeper_vt, &s, &h[i]));
    }
    for (int i = 0; i < N; i++)
        T_OK(ar_join_wait(&h[i], NULL, 0));
    for (int i = 0; i < N; i++) {
        uint64_t ms = (uint64_t)(i * 7) % 300;
        /* The sleep started at its first poll, at or after start[i]. */
        cr_assert_geq(woke[i], start[i] + ms, "sleep %d of %llu ms woke early", i,
                      (unsigned long long)ms);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            uint64_t di = start[i] + (uint64_t)(i * 7) % 300, dj = start[j] + (uint64_t)(j * 7) % 300;
            if (di + 50 < dj)
                cr_assert_leq(woke[i], woke[j], "deadline %llu woke after deadline %llu",
                              (unsigned long long)di, (unsigned long long)dj);
        }
    ar_rt_free(rt);
}

Test(time, hundred_thousand_concurrent_sleeps, .timeout = 60)
{
    const int n = T_N(100000);
    ar_rt *rt = t_rt_mt(2);
    _Atomic int done = 0;
    uint64_t *woke = calloc((size_t)n, sizeof *woke);
    for (int i = 0; i < n; i++) {
        sleeper s = {.ms = 1 + (uint64_t)i % 200, .woke_at = &woke[i], .done = &done};
        T_OK(ar_spawn(rt, &sleeper_vt, &s, NULL));
    }
    T_WAIT_UNTIL(atomic_load(&done) == n);
    uint64_t wheel_left = 0;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        wheel_left += atomic_load(&rt->workers[i].wheel.count);
    T_EQ_INT(wheel_left, 0);
    ar_rt_free(rt);
    free(woke);
}

Test(time, dropping_ten_thousand_pending_sleeps, .timeout = 60)
{
    enum { N = 10000 };
    ar_rt *rt = t_rt_mt(2);
    _Atomic int done = 0;
    static uint64_t woke[N];
    static ar_join h[N];
    for (int i = 0; i < N; i++) {
        sleeper s = {.ms = 60000, .woke_at = &woke[i], .done = &done};
        T_OK(ar_spawn(rt, &sleeper_vt, &s, &h[i]));
    }
    /* Wait until all are registered, then abort them all. */
    uint64_t registered = 0;
    for (int tries = 0; tries < 10000 && registered < N; tries++) {
        registered = 0;
        for (uint32_t i = 0; i < rt->nworkers; i++)
            registered += atomic_load(&rt->workers[i].wheel.count);
        if (registered < N)
            usleep(1000);
    }
    T_EQ_INT(registered, N);
    for (int i = 0; i < N; i++)
        T_OK(ar_join_abort(&h[i]));
    for (int i = 0; i < N; i++)
        T_EQ_INT(ar_join_wait(&h[i], NULL, 0), -ECANCELED);
    uint64_t left = 0;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        left += atomic_load(&rt->workers[i].wheel.count);
    T_EQ_INT(left, 0);
    T_EQ_INT(atomic_load(&done), 0);
    ar_rt_free(rt);
}

/* Sleeping in the main future of ar_block_on (a plain thread). */
typedef struct main_sleep { ar_co co; ar_sleep s; uint64_t t0, out; } main_sleep;
static ar_poll main_sleep_poll(void *p, ar_cx *cx)
{
    main_sleep *self = p;
    AR_BEGIN(&self->co);
    self->t0 = ar_now_ms();
    ar_sleep_init(&self->s, 50);
    AR_AWAIT(ar_sleep_poll(&self->s, cx));
    self->out = ar_now_ms() - self->t0;
    AR_END;
}
static const ar_future_vt main_sleep_vt = AR_FUTURE_VT(main_sleep, main_sleep_poll, NULL, out);

Test(time, sleep_in_block_on_multi_thread, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    main_sleep m = {0};
    T_OK(ar_block_on(rt, &main_sleep_vt, &m));
    cr_assert_geq(m.out, 50);
    cr_assert_lt(m.out, 2000);
    ar_rt_free(rt);
}

Test(time, sleep_in_current_thread_flavour, .timeout = 30)
{
    ar_rt_opts o = {.flavor = AR_RT_CURRENT_THREAD, .workers = 0};
    ar_rt *rt;
    T_OK(ar_rt_new(&rt, &o));
    main_sleep m = {0};
    T_OK(ar_block_on(rt, &main_sleep_vt, &m));
    cr_assert_geq(m.out, 50);
    cr_assert_lt(m.out, 2000);
    ar_rt_free(rt);
}

/* Interval: ticks are spaced by at least the period. */
typedef struct ticker { ar_co co; ar_interval iv; int i; uint64_t at[5]; } ticker;
static ar_poll ticker_poll(void *p, ar_cx *cx)
{
    ticker *self = p;
    AR_BEGIN(&self->co);
    ar_interval_init(&self->iv, 20);
    for (self->i = 0; self->i < 5; self->i++) {
        AR_AWAIT(ar_interval_tick_poll(&self->iv, cx));
        self->at[self->i] = ar_now_ms();
    }
    AR_END;
}
static const ar_future_vt ticker_vt = AR_FUTURE_VT_VOID(ticker, ticker_poll, NULL);

Test(time, interval_ticks_at_least_a_period_apart, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(1);
    ticker t = {0};
    uint64_t t0 = ar_now_ms();
    T_OK(ar_block_on(rt, &ticker_vt, &t));
    /* Tick i is due (i + 1) periods after the start, never earlier; a late
     * tick does not push the later ones back (the schedule is fixed). */
    for (int i = 0; i < 5; i++) {
        cr_assert_geq(t.at[i], t0 + 20u * (unsigned)(i + 1), "tick %d early", i);
        if (i)
            cr_assert_gt(t.at[i], t.at[i - 1], "tick %d not after tick %d", i, i - 1);
    }
    ar_rt_free(rt);
}

/* Timeout around a child that never finishes, and one that does. */
typedef struct never { int dropped; } never;
static ar_poll never_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    return AR_PENDING; /* nobody will wake it: the timer must */
}
static void never_drop(void *p) { ((never *)p)->dropped++; }
static const ar_future_vt never_vt = AR_FUTURE_VT_VOID(never, never_poll, never_drop);

typedef struct with_timeout { ar_co co; never child; ar_sleep quick; ar_timeout t; int res; } with_timeout;
static ar_poll with_timeout_poll(void *p, ar_cx *cx)
{
    with_timeout *self = p;
    AR_BEGIN(&self->co);
    ar_timeout_init(&self->t, &never_vt, &self->child, 30);
    AR_AWAIT(ar_timeout_poll(&self->t, cx));
    self->res = self->t.res;
    AR_END;
}
static const ar_future_vt with_timeout_vt = AR_FUTURE_VT_VOID(with_timeout, with_timeout_poll, NULL);

Test(time, timeout_fires_and_drops_the_child_once, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    with_timeout w = {0};
    uint64_t t0 = ar_now_ms();
    T_OK(ar_block_on(rt, &with_timeout_vt, &w));
    T_EQ_INT(w.res, -ETIMEDOUT);
    T_EQ_INT(w.child.dropped, 1);
    cr_assert_geq(ar_now_ms(), t0 + 30);
    ar_rt_free(rt);
}

static ar_poll sleep10_poll(void *p, ar_cx *cx) { return ar_sleep_poll(p, cx); }
static void sleep10_drop(void *p) { ar_sleep_drop(p); }
static const ar_future_vt sleep_vt = AR_FUTURE_VT_VOID(ar_sleep, sleep10_poll, sleep10_drop);

typedef struct beats { ar_co co; ar_sleep child; ar_timeout t; int res; } beats;
static ar_poll beats_poll(void *p, ar_cx *cx)
{
    beats *self = p;
    AR_BEGIN(&self->co);
    ar_sleep_init(&self->child, 10);
    ar_timeout_init(&self->t, &sleep_vt, &self->child, 5000);
    AR_AWAIT(ar_timeout_poll(&self->t, cx));
    self->res = self->t.res;
    AR_END;
}
static const ar_future_vt beats_vt = AR_FUTURE_VT_VOID(beats, beats_poll, NULL);

Test(time, child_finishing_first_beats_the_timeout, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    beats b = {0};
    T_OK(ar_block_on(rt, &beats_vt, &b));
    T_EQ_INT(b.res, 0);
    uint64_t left = 0;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        left += atomic_load(&rt->workers[i].wheel.count);
    T_EQ_INT(left, 0); /* the timeout's own timer was cancelled */
    ar_rt_free(rt);
}
