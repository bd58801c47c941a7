/*
 * tests/test_wheel.c - the timing wheel on a synthetic clock: every entry
 * fires at the first processing whose `now` reaches its deadline, never
 * before, across all levels and cascades; removal is exact.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../tests/helpers.h"
#include "wheel.h"

/* A waker recording the tick at which its entry fired. */
typedef struct fire_rec {
    ar_waker_obj obj;
    uint64_t *fired_at;
    uint64_t *now;
} fire_rec;

static void rec_wake(ar_waker_obj *o)
{
    fire_rec *r = (fire_rec *)o;
    *r->fired_at = *r->now;
}
static void rec_nop(ar_waker_obj *o) { (void)o; }
static const ar_waker_vtable rec_vt = {rec_wake, rec_nop, rec_nop};

static void setup_entry(ar__timer *t, uint64_t deadline)
{
    ar_sleep_until_init((ar_sleep *)t, deadline);
}

Test(wheel, fires_at_deadline_never_early_across_levels, .timeout = 30)
{
    enum { N = 4000 };
    ar__wheel w;
    ar__wheel_init(&w);
    uint64_t base = w.elapsed;
    static ar__timer t[N];
    static fire_rec rec[N];
    static uint64_t fired[N];
    uint64_t now = base;
    srand(12345);
    for (int i = 0; i < N; i++) {
        /* Spread over levels 0..4: up to 64^4 ms ahead, biased short. */
        uint64_t span = 1ull << (rand() % 24);
        uint64_t d = base + 1 + (uint64_t)rand() % span;
        setup_entry(&t[i], d);
        rec[i] = (fire_rec){.obj = {&rec_vt}, .fired_at = &fired[i], .now = &now};
        fired[i] = 0;
        t[i].waker = ar_waker_from_obj(&rec[i].obj);
        ar__spin_lock(&w.lock);
        cr_assert(ar__wheel_insert_locked(&w, &t[i]));
        ar__spin_unlock(&w.lock);
    }
    cr_assert_eq(w.count, N);
    /* Advance in irregular steps; each entry fires at the first step that
     * reaches its deadline. */
    uint64_t prev = base;
    int done = 0;
    while (done < N) {
        uint64_t next = ar__wheel_next_deadline(&w);
        cr_assert_neq(next, AR__TIMER_NONE);
        cr_assert_geq(next, prev, "next deadline went backwards");
        now = next + (uint64_t)(rand() % 3); /* sometimes late, never early */
        done += (int)ar__wheel_process(&w, now);
        for (int i = 0; i < N; i++) {
            if (fired[i] == UINT64_MAX - 1)
                continue; /* fired at an earlier step, checked then */
            if (fired[i]) {
                cr_assert_geq(fired[i], t[i].deadline, "entry %d fired early", i);
                cr_assert(t[i].deadline > prev, "entry %d fired late: due %llu, step %llu", i,
                          (unsigned long long)t[i].deadline, (unsigned long long)prev);
            } else {
                cr_assert_gt(t[i].deadline, now, "entry %d due at %llu missed at %llu", i,
                             (unsigned long long)t[i].deadline, (unsigned long long)now);
            }
        }
        for (int i = 0; i < N; i++)
            if (fired[i])
                fired[i] = UINT64_MAX - 1; /* mark seen */
        prev = now;
    }
    cr_assert_eq(w.count, 0);
    cr_assert_eq(ar__wheel_next_deadline(&w), AR__TIMER_NONE);
}

Test(wheel, removed_entries_never_fire, .timeout = 30)
{
    enum { N = 1000 };
    ar__wheel w;
    ar__wheel_init(&w);
    static ar__timer t[N];
    static fire_rec rec[N];
    static uint64_t fired[N];
    uint64_t now = w.elapsed;
    for (int i = 0; i < N; i++) {
        setup_entry(&t[i], w.elapsed + 1 + (uint64_t)i * 37);
        rec[i] = (fire_rec){.obj = {&rec_vt}, .fired_at = &fired[i], .now = &now};
        fired[i] = 0;
        t[i].waker = ar_waker_from_obj(&rec[i].obj);
        ar__spin_lock(&w.lock);
        cr_assert(ar__wheel_insert_locked(&w, &t[i]));
        ar__spin_unlock(&w.lock);
    }
    for (int i = 0; i < N; i += 2) { /* remove every other */
        ar__spin_lock(&w.lock);
        ar__wheel_remove_locked(&w, &t[i]);
        ar__spin_unlock(&w.lock);
    }
    cr_assert_eq(w.count, N / 2);
    now = w.elapsed + 37u * N + 10;
    cr_assert_eq(ar__wheel_process(&w, now), N / 2);
    for (int i = 0; i < N; i++)
        cr_assert_eq(fired[i] != 0, i % 2 == 1, "entry %d", i);
    cr_assert_eq(w.count, 0);
}

Test(wheel, past_deadline_is_not_registered, .timeout = 30)
{
    ar__wheel w;
    ar__wheel_init(&w);
    ar__timer t;
    setup_entry(&t, w.elapsed);
    ar__spin_lock(&w.lock);
    cr_assert_not(ar__wheel_insert_locked(&w, &t));
    ar__spin_unlock(&w.lock);
    cr_assert_eq(w.count, 0);
}

Test(wheel, far_future_deadline_waits_at_top_level, .timeout = 30)
{
    ar__wheel w;
    ar__wheel_init(&w);
    ar__timer t;
    uint64_t now = w.elapsed;
    uint64_t fired = 0;
    fire_rec rec = {.obj = {&rec_vt}, .fired_at = &fired, .now = &now};
    setup_entry(&t, w.elapsed + (1ull << 40)); /* beyond the wheel's span */
    t.waker = ar_waker_from_obj(&rec.obj);
    ar__spin_lock(&w.lock);
    cr_assert(ar__wheel_insert_locked(&w, &t));
    ar__spin_unlock(&w.lock);
    now = w.elapsed + (1ull << 30);
    cr_assert_eq(ar__wheel_process(&w, now), 0);
    cr_assert_eq(fired, 0);
    ar__spin_lock(&w.lock);
    ar__wheel_remove_locked(&w, &t);
    ar__spin_unlock(&w.lock);
    cr_assert_eq(w.count, 0);
}
