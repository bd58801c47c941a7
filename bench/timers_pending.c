/*
 * bench/timers_pending.c - issue 4's timer targets, measured directly:
 * "1,000,000 pending timers in under 100 MB, inserted in under 1 s".
 *
 * BENCH.md's timers workload (bench/timers.c) sleeps 1-1,000 ms, so by the
 * time the last of its million tasks is polled some timers have fired, and
 * its bytes-per-pending-timer figure divides the memory of every task by
 * the ones still pending.  Here no timer can fire while we measure: each
 * task sleeps 60 s plus 0-999 ms (the same splitmix64 spread), so all
 * 1,000,000 are pending at once.  Printed per run (a fresh process each):
 *   timers_pending_memory   resident set growth / 1,000,000 (B/timer)
 *   timers_pending_insert   time from the first spawn until every task
 *                           has registered its timer, / 1,000,000 (ns/timer)
 *   timers_pending_total_mb the growth in MB (target < 100)
 *   timers_pending_insert_s the insert time in s (target < 1)
 * Then the runtime is shut down, which drops every pending timer.
 * Usage: bench_timers_pending [--threads N] [--iters K]
 */
#include <stdatomic.h>

#include "bench_common.h"

#define N 1000000

static _Atomic int polled;

typedef struct sleeper { ar_sleep s; } sleeper;

static ar_poll sleeper_poll(void *p, ar_cx *cx)
{
    sleeper *self = p;
    if (self->s.t.state == 0)
        atomic_fetch_add_explicit(&polled, 1, memory_order_relaxed);
    return ar_sleep_poll(&self->s, cx);
}
static void sleeper_drop(void *p) { ar_sleep_drop(&((sleeper *)p)->s); }
static const ar_future_vt sleeper_vt = AR_FUTURE_VT_VOID(sleeper, sleeper_poll, sleeper_drop);

typedef struct root { char unused; } root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    uint64_t rng = 0;
    for (int i = 0; i < N; i++) {
        sleeper s;
        ar_sleep_init(&s.s, 60000 + bench_splitmix64(&rng) % 1000);
        BENCH_CHECK(ar_spawn(NULL, &sleeper_vt, &s, NULL));
    }
    return AR_READY;
}
static const ar_future_vt root_vt = AR_FUTURE_VT_VOID(root, root_poll, NULL);

static void run_once(unsigned threads)
{
    ar_rt *rt = bench_rt(threads);
    long base = bench_rss_bytes();
    double t0 = bench_now_ns();
    root r = {0};
    ar_join h;
    BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
    BENCH_CHECK(ar_join_wait(&h, NULL, 0));
    while (atomic_load(&polled) < N)
        usleep(100);
    double t1 = bench_now_ns();
    long grown = bench_rss_bytes() - base;
    ar_rt_metrics m;
    BENCH_CHECK(ar_rt_metrics_read(rt, &m));
    if (m.tasks_alive != N) { /* every timer must still be pending */
        fprintf(stderr, "timers_pending: %llu tasks alive, want %d\n",
                (unsigned long long)m.tasks_alive, N);
        exit(1);
    }
    bench_print("timers_pending_memory", threads, (double)grown / N, "B/timer");
    bench_print("timers_pending_insert", threads, (t1 - t0) / N, "ns/timer");
    bench_print("timers_pending_total_mb", threads, (double)grown / 1e6, "MB");
    bench_print("timers_pending_insert_s", threads, (t1 - t0) / 1e9, "s");
    ar_rt_free(rt); /* drops the million pending sleeps */
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 3);
    return bench_run_forked("timers_pending", a.iters, a.threads, run_once);
}
