/*
 * bench/timers.c - BENCH.md timers: 1,000,000 tasks that each sleep
 * 1 + (splitmix64() mod 1000) ms (seed 0, the same sequence as the peers);
 * time from the first spawn until the last woke, per timer; and resident
 * set growth once every task has been polled, per timer still pending then.
 *
 * Each iteration runs in a fresh process (memory figures would otherwise
 * see the previous iteration's freed memory).  A task is its 32-byte header
 * plus an ar_sleep (48 bytes): one 80-byte block.
 */
#include <stdatomic.h>

#include "bench_common.h"

#define N 1000000

static _Atomic int polled, finished;
static ar_notify all_done;

typedef struct sleeper { ar_sleep s; } sleeper;

static ar_poll sleeper_poll(void *p, ar_cx *cx)
{
    sleeper *self = p;
    if (self->s.t.state == 0)
        atomic_fetch_add_explicit(&polled, 1, memory_order_relaxed);
    if (ar_sleep_poll(&self->s, cx) == AR_PENDING)
        return AR_PENDING;
    if (atomic_fetch_add_explicit(&finished, 1, memory_order_acq_rel) == N - 1)
        ar_notify_one(&all_done);
    return AR_READY;
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
        ar_sleep_init(&s.s, 1 + bench_splitmix64(&rng) % 1000);
        BENCH_CHECK(ar_spawn(NULL, &sleeper_vt, &s, NULL));
    }
    return AR_READY;
}
static const ar_future_vt root_vt = AR_FUTURE_VT_VOID(root, root_poll, NULL);

typedef struct waiter { ar_notified w; } waiter;
static ar_poll waiter_poll(void *p, ar_cx *cx) { return ar_notified_poll(&((waiter *)p)->w, cx); }
static const ar_future_vt waiter_vt = AR_FUTURE_VT_VOID(waiter, waiter_poll, NULL);

static void run_once(unsigned threads)
{
    ar_rt *rt = bench_rt(threads);
    BENCH_CHECK(ar_notify_init(&all_done));
    long base = bench_rss_bytes();
    double t0 = bench_now_ns();
    root r = {0};
    ar_join h;
    BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
    BENCH_CHECK(ar_join_wait(&h, NULL, 0));
    while (atomic_load(&polled) < N)
        usleep(200);
    long grown = bench_rss_bytes() - base;
    int pending = N - atomic_load(&finished);
    waiter w;
    ar_notified_init(&w.w, &all_done);
    BENCH_CHECK(ar_block_on(rt, &waiter_vt, &w));
    double t1 = bench_now_ns();
    bench_print("timers", threads, (t1 - t0) / N, "ns/timer");
    bench_print("timers_memory", threads, (double)grown / (pending > 0 ? pending : 1), "B/timer");
    ar_rt_free(rt);
    ar_notify_destroy(&all_done);
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 1);
    return bench_run_forked("timers", a.iters, a.threads, run_once);
}
