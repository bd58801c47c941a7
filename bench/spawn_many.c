/*
 * bench/spawn_many.c - BENCH.md spawn_many: from inside the runtime, spawn
 * 10,000 tasks that each increment a shared atomic counter; the last one
 * signals completion.  Unit: ns per task.
 */
#include <stdatomic.h>

#include "bench_common.h"

#define NUM_SPAWN 10000

static _Atomic int remaining;
static ar_notify done;

typedef struct leaf { char unused; } leaf;

static ar_poll leaf_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_relaxed) == 1)
        ar_notify_one(&done);
    return AR_READY;
}
static const ar_future_vt leaf_vt = AR_FUTURE_VT_VOID(leaf, leaf_poll, NULL);

typedef struct root { ar_co co; ar_notified wait; } root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    root *self = p;
    AR_BEGIN(&self->co);
    for (int i = 0; i < NUM_SPAWN; i++) {
        leaf l = {0};
        BENCH_CHECK(ar_spawn(NULL, &leaf_vt, &l, NULL));
    }
    ar_notified_init(&self->wait, &done);
    AR_AWAIT(ar_notified_poll(&self->wait, cx));
    AR_END;
}
static const ar_future_vt root_vt = AR_FUTURE_VT_VOID(root, root_poll, NULL);

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 50);
    ar_rt *rt = bench_rt(a.threads);
    BENCH_CHECK(ar_notify_init(&done));
    for (unsigned i = 0; i < a.warmup + a.iters; i++) {
        atomic_store(&remaining, NUM_SPAWN);
        root r = {0};
        ar_join h;
        double t0 = bench_now_ns();
        BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
        BENCH_CHECK(ar_join_wait(&h, NULL, 0));
        double t1 = bench_now_ns();
        if (i >= a.warmup)
            bench_print("spawn_many", a.threads, (t1 - t0) / NUM_SPAWN, "ns/task");
    }
    ar_rt_free(rt);
    ar_notify_destroy(&done);
    return 0;
}
