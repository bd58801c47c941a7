/*
 * bench/chained_spawn.c - BENCH.md chained_spawn: a task spawns a task that
 * spawns a task ... 1,000 deep; the last signals completion.
 * Unit: ns per spawn.
 */
#include "bench_common.h"

#define DEPTH 1000

static ar_notify done;

typedef struct chain_link { int n; } chain_link;
static const ar_future_vt link_vt;

static ar_poll link_poll(void *p, ar_cx *cx)
{
    (void)cx;
    chain_link *self = p;
    if (self->n == 0) {
        ar_notify_one(&done);
    } else {
        chain_link next = {self->n - 1};
        BENCH_CHECK(ar_spawn(NULL, &link_vt, &next, NULL));
    }
    return AR_READY;
}
static const ar_future_vt link_vt = AR_FUTURE_VT_VOID(chain_link, link_poll, NULL);

typedef struct root { ar_co co; ar_notified wait; } root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    root *self = p;
    AR_BEGIN(&self->co);
    {
        chain_link first = {DEPTH};
        BENCH_CHECK(ar_spawn(NULL, &link_vt, &first, NULL));
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
        root r = {0};
        ar_join h;
        double t0 = bench_now_ns();
        BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
        BENCH_CHECK(ar_join_wait(&h, NULL, 0));
        double t1 = bench_now_ns();
        if (i >= a.warmup)
            bench_print("chained_spawn", a.threads, (t1 - t0) / DEPTH, "ns/spawn");
    }
    ar_rt_free(rt);
    ar_notify_destroy(&done);
    return 0;
}
