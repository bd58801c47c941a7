/*
 * tests/test_waker.c - the waker operations of asyncrt/future.h
 * (ar_waker_clone / wake / wake_by_ref / drop, ar_waker_will_wake,
 * AR_WAKER_NONE) and the cooperative budget ar_coop_proceed.
 *
 * Ownership rules under test: clone takes exactly one reference; wake wakes
 * and releases exactly one; wake_by_ref wakes and releases none; drop
 * releases one and wakes nothing.  AR_WAKER_NONE does nothing at all.
 *
 * Task wakers (bit 0 clear) are tested on a task block whose state makes
 * every wake a no-op for scheduling (COMPLETE or already NOTIFIED), so no
 * runtime is needed: only the reference count moves.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* Criterion glue for the sanitizer builds (TSan arena placement, the
 * runner's own leaks), shared by all test files. */
#include "helpers.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "asyncrt/future.h"
#include "task.h"

/* One timeout for every test of this file: Criterion 2.4.1's runner leaks
 * a timeout entry (48 bytes, reported by LeakSanitizer in the ASan build)
 * when tests with different timeouts run in parallel (--jobs=2). */
#define WAKER_TIMEOUT 30

/* ------------------------------------------------------------------------
 * A user waker object: refcounted, counts wakes and releases.
 * --------------------------------------------------------------------- */
typedef struct rc_waker {
    ar_waker_obj obj;
    _Atomic int refs;
    _Atomic int wakes;
    _Atomic int clones;
    _Atomic int drops;
    _Atomic int freed; /* refs reached 0 */
} rc_waker;

static void rw_wake_by_ref(ar_waker_obj *o) { atomic_fetch_add(&((rc_waker *)o)->wakes, 1); }
static void rw_clone(ar_waker_obj *o)
{
    rc_waker *w = (rc_waker *)o;
    atomic_fetch_add(&w->clones, 1);
    atomic_fetch_add(&w->refs, 1);
}
static void rw_drop(ar_waker_obj *o)
{
    rc_waker *w = (rc_waker *)o;
    atomic_fetch_add(&w->drops, 1);
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        atomic_fetch_add(&w->freed, 1);
}

static const ar_waker_vtable rw_vt = {
    .wake_by_ref = rw_wake_by_ref,
    .clone = rw_clone,
    .drop = rw_drop,
};

static ar_waker rw_init(rc_waker *w)
{
    memset(w, 0, sizeof *w);
    w->obj.vt = &rw_vt;
    atomic_init(&w->refs, 1);
    return ar_waker_from_obj(&w->obj);
}

Test(waker, from_obj_tags_pointer, .timeout = WAKER_TIMEOUT)
{
    rc_waker w;
    ar_waker k = rw_init(&w);
    cr_assert(eq(uptr, k.bits, (uintptr_t)&w.obj | 1u));
    cr_assert(not(ar_waker_is_none(k)));
    cr_assert(ar_waker_is_none(AR_WAKER_NONE));
    cr_assert(eq(uptr, AR_WAKER_NONE.bits, 0));
}

Test(waker, clone_wake_by_ref_wake_drop_refcounts, .timeout = WAKER_TIMEOUT)
{
    rc_waker w;
    ar_waker k = rw_init(&w);

    ar_waker c1 = ar_waker_clone(k);
    cr_assert(eq(uptr, c1.bits, k.bits));
    cr_assert(eq(int, atomic_load(&w.refs), 2));
    cr_assert(eq(int, atomic_load(&w.wakes), 0));

    ar_waker c2 = ar_waker_clone(c1);
    cr_assert(eq(int, atomic_load(&w.refs), 3));

    /* wake_by_ref: wakes, keeps the reference. */
    ar_waker_wake_by_ref(c1);
    cr_assert(eq(int, atomic_load(&w.wakes), 1));
    cr_assert(eq(int, atomic_load(&w.refs), 3));
    ar_waker_wake_by_ref(c1);
    cr_assert(eq(int, atomic_load(&w.wakes), 2));
    cr_assert(eq(int, atomic_load(&w.refs), 3));

    /* wake: wakes and releases exactly one reference. */
    ar_waker_wake(c1);
    cr_assert(eq(int, atomic_load(&w.wakes), 3));
    cr_assert(eq(int, atomic_load(&w.refs), 2));

    /* drop: releases one, wakes nothing. */
    ar_waker_drop(c2);
    cr_assert(eq(int, atomic_load(&w.wakes), 3));
    cr_assert(eq(int, atomic_load(&w.refs), 1));
    cr_assert(eq(int, atomic_load(&w.freed), 0));

    ar_waker_drop(k);
    cr_assert(eq(int, atomic_load(&w.refs), 0));
    cr_assert(eq(int, atomic_load(&w.freed), 1));
    cr_assert(eq(int, atomic_load(&w.clones), 2));
    cr_assert(eq(int, atomic_load(&w.drops), 3));
}

Test(waker, many_clones_balance, .timeout = WAKER_TIMEOUT)
{
    enum { N = 1000 };
    rc_waker w;
    ar_waker k = rw_init(&w);
    static ar_waker cl[N];
    for (int i = 0; i < N; i++)
        cl[i] = ar_waker_clone(k);
    cr_assert(eq(int, atomic_load(&w.refs), N + 1));
    for (int i = 0; i < N; i++) {
        if (i % 2)
            ar_waker_wake(cl[i]);
        else
            ar_waker_drop(cl[i]);
    }
    cr_assert(eq(int, atomic_load(&w.refs), 1));
    cr_assert(eq(int, atomic_load(&w.wakes), N / 2));
    cr_assert(eq(int, atomic_load(&w.freed), 0));
    ar_waker_drop(k);
    cr_assert(eq(int, atomic_load(&w.freed), 1));
}

/* Wakers are thread-safe: clones and wakes from several threads, the
 * counts stay exact (the object's own counters are atomic). */
typedef struct {
    ar_waker k;
    int n;
} thr_arg;

static void *clone_wake_thread(void *p)
{
    thr_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        ar_waker c = ar_waker_clone(a->k);
        ar_waker_wake_by_ref(c);
        ar_waker_wake(c);
    }
    return NULL;
}

Test(waker, threads_clone_and_wake, .timeout = WAKER_TIMEOUT)
{
    enum { T = 4, N = 20000 };
    rc_waker w;
    thr_arg a = {.k = rw_init(&w), .n = N};
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        cr_assert(eq(int, pthread_create(&th[i], NULL, clone_wake_thread, &a), 0));
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    cr_assert(eq(int, atomic_load(&w.refs), 1));
    cr_assert(eq(int, atomic_load(&w.wakes), 2 * T * N));
    cr_assert(eq(int, atomic_load(&w.clones), T * N));
    cr_assert(eq(int, atomic_load(&w.drops), T * N));
    ar_waker_drop(a.k);
    cr_assert(eq(int, atomic_load(&w.freed), 1));
}

Test(waker, none_is_a_noop, .timeout = WAKER_TIMEOUT)
{
    ar_waker n = AR_WAKER_NONE;
    ar_waker c = ar_waker_clone(n);
    cr_assert(ar_waker_is_none(c));
    cr_assert(eq(uptr, c.bits, 0));
    ar_waker_wake_by_ref(n);
    ar_waker_wake(n);
    ar_waker_drop(n);
    ar_waker_drop(c);
    /* Still none, nothing crashed. */
    cr_assert(ar_waker_is_none(n));
}

Test(waker, will_wake, .timeout = WAKER_TIMEOUT)
{
    rc_waker a, b;
    ar_waker ka = rw_init(&a);
    ar_waker kb = rw_init(&b);
    ar_waker ca = ar_waker_clone(ka);

    cr_assert(ar_waker_will_wake(ka, ka));
    cr_assert(ar_waker_will_wake(ka, ca));
    cr_assert(ar_waker_will_wake(ca, ka));
    cr_assert(not(ar_waker_will_wake(ka, kb)));
    cr_assert(not(ar_waker_will_wake(kb, ka)));
    cr_assert(not(ar_waker_will_wake(ka, AR_WAKER_NONE)));
    cr_assert(not(ar_waker_will_wake(AR_WAKER_NONE, ka)));
    cr_assert(ar_waker_will_wake(AR_WAKER_NONE, AR_WAKER_NONE));
    /* will_wake touches no reference. */
    cr_assert(eq(int, atomic_load(&a.refs), 2));
    cr_assert(eq(int, atomic_load(&b.refs), 1));
    cr_assert(eq(int, atomic_load(&a.wakes), 0));
    ar_waker_drop(ca);
    ar_waker_drop(ka);
    ar_waker_drop(kb);
}

/* ------------------------------------------------------------------------
 * Cooperative budget.
 * --------------------------------------------------------------------- */
Test(waker, coop_budget_spent_wakes_once_per_refusal, .timeout = WAKER_TIMEOUT)
{
    rc_waker w;
    ar_cx cx = {.waker = rw_init(&w), .budget = 3, .worker = NULL};

    for (int i = 0; i < 3; i++) {
        cr_assert(ar_coop_proceed(&cx), "unit %d of 3 refused", i);
        /* The last unit leaves the budget "spent" (-1), not 0, which
         * means unconstrained. */
        cr_assert(eq(i32, cx.budget, i < 2 ? 2 - i : -1));
    }
    cr_assert(eq(int, atomic_load(&w.wakes), 0));

    /* Spent: refuses and wakes the task once so it is polled again. */
    cr_assert(not(ar_coop_proceed(&cx)));
    cr_assert(eq(int, atomic_load(&w.wakes), 1));
    cr_assert(eq(i32, cx.budget, -1));
    /* The waker is borrowed: no reference taken or released. */
    cr_assert(eq(int, atomic_load(&w.refs), 1));

    /* A leaf polled again in the same poll refuses again (and wakes again:
     * each AR_PENDING it returns must have arranged a wake). */
    cr_assert(not(ar_coop_proceed(&cx)));
    cr_assert(eq(int, atomic_load(&w.wakes), 2));
    cr_assert(eq(i32, cx.budget, -1));

    /* A new scheduling refills it. */
    cx.budget = AR_COOP_BUDGET;
    cr_assert(ar_coop_proceed(&cx));
    cr_assert(eq(int, atomic_load(&w.wakes), 2));
    ar_waker_drop(cx.waker);
}

Test(waker, coop_full_budget_is_128_units, .timeout = WAKER_TIMEOUT)
{
    rc_waker w;
    ar_cx cx = {.waker = rw_init(&w), .budget = AR_COOP_BUDGET, .worker = NULL};
    int granted = 0;
    while (ar_coop_proceed(&cx)) {
        granted++;
        cr_assert(le(int, granted, AR_COOP_BUDGET));
    }
    cr_assert(eq(int, granted, 128));
    cr_assert(eq(int, atomic_load(&w.wakes), 1));
    ar_waker_drop(cx.waker);
}

Test(waker, coop_spent_budget_with_none_waker, .timeout = WAKER_TIMEOUT)
{
    ar_cx cx = {.waker = AR_WAKER_NONE, .budget = -1, .worker = NULL};
    cr_assert(not(ar_coop_proceed(&cx)));
    cr_assert(eq(i32, cx.budget, -1));
}

/* A zero-initialised context (a future polled by hand, outside any
 * runtime) is unconstrained: it never refuses and never wakes. */
Test(waker, coop_zero_budget_is_unconstrained, .timeout = WAKER_TIMEOUT)
{
    rc_waker w;
    ar_cx cx = {.waker = rw_init(&w), .budget = 0, .worker = NULL};
    for (int i = 0; i < 10 * AR_COOP_BUDGET; i++)
        cr_assert(ar_coop_proceed(&cx));
    cr_assert(eq(i32, cx.budget, 0));
    cr_assert(eq(int, atomic_load(&w.wakes), 0));
    ar_waker_drop(cx.waker);
}

/* ------------------------------------------------------------------------
 * Task wakers: only the reference count moves while the task is already
 * scheduled (NOTIFIED) or finished (COMPLETE); the last reference frees.
 * --------------------------------------------------------------------- */
typedef struct {
    int dummy;
} nothing_fut;

static ar_poll nothing_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    return AR_READY;
}

static const ar_future_vt nothing_vt = AR_FUTURE_VT_VOID(nothing_fut, nothing_poll, NULL);

static ar_task *fake_task(uint32_t flags, uint32_t refs)
{
    ar_task *t = ar__alloc(ar__task_alloc_size(&nothing_vt));
    cr_assert(not(eq(ptr, t, NULL)));
    cr_assert(eq(uptr, (uintptr_t)t & 15u, 0), "tasks must be 16-byte aligned");
    memset(t, 0, ar__task_alloc_size(&nothing_vt));
    atomic_init(&t->state, flags | refs * AR__ST_REF_ONE);
    t->owned_idx = AR__OWNED_NONE;
    t->vt = &nothing_vt;
    t->shard = NULL; /* never scheduled by these tests */
    t->join_waker = AR_WAKER_NONE;
    return t;
}

static uint32_t st(ar_task *t) { return atomic_load(&t->state); }

Test(waker, task_waker_on_notified_task, .timeout = WAKER_TIMEOUT)
{
    /* Already in a run queue (NOTIFIED): waking does not schedule again. */
    ar_task *t = fake_task(AR__ST_NOTIFIED | AR__ST_JOIN_INTEREST, 2);
    ar_waker k = {(uintptr_t)t};
    cr_assert(eq(uptr, k.bits & 1u, 0));

    ar_waker c = ar_waker_clone(k);
    cr_assert(eq(uptr, c.bits, k.bits));
    cr_assert(eq(u32, st(t), AR__ST_NOTIFIED | AR__ST_JOIN_INTEREST | 3 * AR__ST_REF_ONE));

    ar_waker_wake_by_ref(c);
    cr_assert(eq(u32, st(t), AR__ST_NOTIFIED | AR__ST_JOIN_INTEREST | 3 * AR__ST_REF_ONE));

    ar_waker_wake(c); /* consumes the clone, schedules nothing */
    cr_assert(eq(u32, st(t), AR__ST_NOTIFIED | AR__ST_JOIN_INTEREST | 2 * AR__ST_REF_ONE));

    c = ar_waker_clone(k);
    ar_waker_drop(c);
    cr_assert(eq(u32, st(t), AR__ST_NOTIFIED | AR__ST_JOIN_INTEREST | 2 * AR__ST_REF_ONE));

    ar__task_dealloc(t);
}

Test(waker, task_waker_on_complete_task_last_ref_frees, .timeout = WAKER_TIMEOUT)
{
    ar_task *t = fake_task(AR__ST_COMPLETE, 1);
    ar_waker k = {(uintptr_t)t};
    ar_waker c1 = ar_waker_clone(k);
    ar_waker c2 = ar_waker_clone(k);
    cr_assert(eq(u32, ar__st_refs(st(t)), 3));
    ar_waker_wake_by_ref(c1);
    cr_assert(eq(u32, st(t), AR__ST_COMPLETE | 3 * AR__ST_REF_ONE));
    ar_waker_wake(c1);
    cr_assert(eq(u32, st(t), AR__ST_COMPLETE | 2 * AR__ST_REF_ONE));
    ar_waker_drop(c2);
    cr_assert(eq(u32, st(t), AR__ST_COMPLETE | 1 * AR__ST_REF_ONE));
    /* The last reference, released through a wake, frees the task
     * (LeakSanitizer / ASan check the free in the sanitizer builds). */
    ar_waker_wake(k);
}

Test(waker, task_waker_drop_last_ref_frees, .timeout = WAKER_TIMEOUT)
{
    ar_task *t = fake_task(AR__ST_COMPLETE | AR__ST_RES_CANCELLED, 2);
    ar_waker k = {(uintptr_t)t};
    ar_waker_drop(k);
    cr_assert(eq(u32, ar__st_refs(st(t)), 1));
    ar_waker_drop(k); /* frees */
}
