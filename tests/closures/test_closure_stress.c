/*
 * tests/closures/test_closure_stress.c - closures under concurrency (suites
 * unit and stress: ThreadSanitizer and the 4-slot-queue build run it too).
 *
 *   - one AR_FN closure called from 10,000 tasks spread over all workers:
 *     every call reads the shared environment, every borrow is given back
 *     (count back to zero), then the closure drops;
 *   - dropping that closure fails until the last call has ended, and never
 *     succeeds before;
 *   - an AR_MUT closure called from many tasks: calls never overlap (the
 *     body checks, and mutates plain non-atomic state that TSan watches);
 *   - shutting a runtime down with calls in flight gives every borrow back.
 */
#include "closure_helpers.h"
#include "nap.h"

enum { CALLS = 10000 };

/* ------------------------------------------------------------------------
 * An AR_FN closure that records which worker ran it.
 * --------------------------------------------------------------------- */
typedef struct stat_env {
    int k;                   /* read by every call at once */
    _Atomic long *sum;       /* what the calls add up */
    _Atomic long *done;      /* calls that reached their end */
    _Atomic uint64_t *seen;  /* bit per worker index that ran a call */
} stat_env;

typedef struct stat_frame {
    ar_co co;
    int arg;
    nap n;
    int out;
} stat_frame;

static void stat_frame_drop(stat_frame *f) { nap_drop(&f->n); }

AR_CLOSURE(stat, AR_FN, stat_env, stat_frame, stat_body, stat_frame_drop, NULL);

static void mark_worker(const stat_env *env, ar_cx *cx)
{
    const ar_worker *w = cx->worker;
    if (w)
        atomic_fetch_or(env->seen, UINT64_C(1) << (w->index % 64));
}

static ar_poll stat_body(const stat_env *env, stat_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    mark_worker(env, cx);
    nap_init(&self->n, 1);
    AR_AWAIT(nap_poll(&self->n, cx)); /* pending once: calls interleave */
    mark_worker(env, cx);
    self->out = self->arg * 3 + env->k;
    atomic_fetch_add(env->sum, self->out);
    atomic_fetch_add(env->done, 1);
    AR_END;
}

static uint32_t all_workers(void)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    return o.workers < 2 ? 2 : (o.workers > 8 ? 8 : o.workers);
}

static int popcount64(uint64_t x) { return __builtin_popcountll(x); }

Test(closure_stress, fn_called_from_10000_tasks_on_all_workers, .timeout = 120)
{
    uint32_t workers = all_workers();
    ar_rt *rt = t_rt_mt(workers);
    static _Atomic long sum, done;
    static _Atomic uint64_t seen;
    static ar_join h[CALLS];
    stat s = AR_CLOSURE_NEW(stat, {.k = 7, .sum = &sum, .done = &done, .seen = &seen});

    uint32_t max_shared = 0;
    for (int i = 0; i < CALLS; i++) {
        T_OK(ar_spawn_call(rt, &s, &h[i], i));
        if (i % 64 == 0) {
            uint32_t n = t_shared_count(&s.base.borrow);
            max_shared = n > max_shared ? n : max_shared;
        }
    }
    long want = 0;
    for (int i = 0; i < CALLS; i++) {
        int out = -1;
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        T_EQ_INT(out, i * 3 + 7);
        want += i * 3 + 7;
    }
    T_EQ_INT(atomic_load(&sum), want);
    T_EQ_INT(atomic_load(&done), CALLS);
    /* Every borrow given back: the counter is free again. */
    uint32_t shared = 99;
    cr_assert(eq(int, ar_borrow_inspect(&s.base.borrow, &shared, NULL), AR_BORROW_FREE));
    T_EQ_INT(shared, 0);
    cr_assert(t_is(max_shared >= 2), "calls never overlapped (max %u)", max_shared);
    cr_assert(t_is(popcount64(atomic_load(&seen)) >= 2),
              "calls ran on one worker only (mask %#llx, %u workers)",
              (unsigned long long)atomic_load(&seen), workers);
    T_OK(ar_closure_drop(&s.base));
    ar_rt_free(rt);
}

Test(closure_stress, drop_succeeds_only_after_the_last_call, .timeout = 120)
{
    ar_rt *rt = t_rt_mt(all_workers());
    enum { N = 2000 };
    static _Atomic long sum, done;
    static _Atomic uint64_t seen;
    static ar_join h[N];
    stat s = AR_CLOSURE_NEW(stat, {.k = 1, .sum = &sum, .done = &done, .seen = &seen});
    for (int i = 0; i < N; i++)
        T_OK(ar_spawn_call(rt, &s, &h[i], i));
    long refused = 0;
    int rc;
    while ((rc = ar_closure_try_drop(&s.base)) == AR_EBORROWED) {
        refused++;
        sched_yield();
    }
    T_OK(rc);
    /* The drop's acquire saw every call's release: all of them ended. */
    T_EQ_INT(atomic_load(&done), N);
    cr_assert(eq(int, ar_borrow_inspect(&s.base.borrow, NULL, NULL), AR_BORROW_MOVED));
    for (int i = 0; i < N; i++)
        T_OK(ar_join_wait(&h[i], NULL, 0));
    /* Calls after the drop: moved. */
    stat_ref_fut f;
    T_EQ_INT(ar_call(&s, &f, 1), AR_EMOVED);
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * An AR_MUT closure called from many tasks: mutual exclusion.
 * --------------------------------------------------------------------- */
typedef struct tally_env {
    long total; /* plain memory: only an exclusive holder touches it */
    int inside;
} tally_env;

typedef struct tally_frame {
    ar_co co;
    int arg;
    nap n;
    long out;
} tally_frame;

static void tally_frame_drop(tally_frame *f) { nap_drop(&f->n); }

AR_CLOSURE(tally, AR_MUT, tally_env, tally_frame, tally_body, tally_frame_drop, NULL);

static ar_poll tally_body(tally_env *env, tally_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    env->inside++;
    T_BG_EQ(env->inside, 1);
    nap_init(&self->n, 1);
    AR_AWAIT(nap_poll(&self->n, cx)); /* hold the borrow across an await */
    T_BG_EQ(env->inside, 1);
    env->total += self->arg;
    self->out = env->total;
    env->inside--;
    AR_END;
}

enum { CALLERS = 16, CALLS_EACH = 20 };

typedef struct caller {
    ar_co co;
    tally *t;
    tally_ref_fut call;
    ar_yield_now y;
    int i, rc;
    long busy; /* calls refused with E0499 and retried */
} caller;

static ar_poll caller_poll(void *p, ar_cx *cx)
{
    caller *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < CALLS_EACH; self->i++) {
        while ((self->rc = ar_call_mut(self->t, &self->call, 1)) == AR_EBORROWED) {
            self->busy++;
            AR_AWAIT(ar_yield_now_poll(&self->y, cx));
        }
        T_BG_EQ(self->rc, 0);
        AR_AWAIT(tally_poll(&self->call, cx));
    }
    AR_END;
}

static void caller_drop(void *p) { ar_call_drop(&((caller *)p)->call); }

static const ar_future_vt caller_vt = AR_FUTURE_VT(caller, caller_poll, caller_drop, busy);

Test(closure_stress, mut_calls_from_many_tasks_never_overlap, .timeout = 120)
{
    ar_rt *rt = t_rt_mt(all_workers());
    static tally t;
    t = AR_CLOSURE_NEW(tally, {0});
    ar_join h[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        caller c = {.t = &t};
        T_OK(ar_spawn(rt, &caller_vt, &c, &h[i]));
    }
    long busy = 0;
    for (int i = 0; i < CALLERS; i++) {
        long b = 0;
        T_OK(ar_join_wait(&h[i], &b, sizeof b));
        busy += b;
    }
    T_BG_ASSERT_CLEAN();
    cr_assert(eq(int, ar_borrow_inspect(&t.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_OK(ar_closure_drop(&t.base));
    /* safety: the drop's acquire CAS orders every call's writes before. */
    T_EQ_INT(t.env.total, CALLERS * CALLS_EACH);
    T_EQ_INT(t.env.inside, 0);
    (void)busy;
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Shutdown with calls in flight
 * --------------------------------------------------------------------- */
Test(closure_stress, shutdown_with_calls_in_flight_gives_borrows_back, .timeout = 120)
{
    for (int round = 0; round < T_N(20); round++) {
        ar_rt *rt = t_rt_mt(all_workers());
        static _Atomic long sum, done;
        static _Atomic uint64_t seen;
        stat s = AR_CLOSURE_NEW(stat, {.k = 0, .sum = &sum, .done = &done, .seen = &seen});
        tally t = AR_CLOSURE_NEW(tally, {0});
        for (int i = 0; i < 200; i++) {
            T_OK(ar_spawn_call(rt, &s, NULL, i));
            if (i % 20 == 0) {
                caller c = {.t = &t};
                T_OK(ar_spawn(rt, &caller_vt, &c, NULL));
            }
        }
        ar_rt_free(rt); /* drops whatever had not finished */
        cr_assert(eq(int, ar_borrow_inspect(&s.base.borrow, NULL, NULL), AR_BORROW_FREE));
        cr_assert(eq(int, ar_borrow_inspect(&t.base.borrow, NULL, NULL), AR_BORROW_FREE));
        T_OK(ar_closure_drop(&s.base));
        T_OK(ar_closure_drop(&t.base));
    }
    T_BG_ASSERT_CLEAN();
}
