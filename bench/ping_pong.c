/*
 * bench/ping_pong.c - BENCH.md ping_pong: 1,000 spawned tasks; each spawns a
 * partner and sends it a message through a oneshot channel, the partner
 * answers through another oneshot.  Unit: ns per round trip.
 */
#include <stdatomic.h>

#include "bench_common.h"

#define NUM_PINGS 1000

static _Atomic int remaining;
static ar_notify done;

/* The partner: receive the ping, answer with a pong. */
typedef struct ponger { ar_co co; ar_oneshot_rx rx1; ar_oneshot_tx tx2; int v, res; } ponger;

static ar_poll ponger_poll(void *p, ar_cx *cx)
{
    ponger *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(ar_oneshot_recv_poll(&self->rx1, cx, &self->v, &self->res));
    BENCH_CHECK(self->res);
    BENCH_CHECK(ar_oneshot_send(&self->tx2, &self->v));
    AR_END;
}
static const ar_future_vt ponger_vt = AR_FUTURE_VT_VOID(ponger, ponger_poll, NULL);

typedef struct pinger { ar_co co; ar_oneshot_rx rx2; int v, res; } pinger;

static ar_poll pinger_poll(void *p, ar_cx *cx)
{
    pinger *self = p;
    AR_BEGIN(&self->co);
    {
        ponger pg = {0};
        ar_oneshot_tx tx1;
        BENCH_CHECK(ar_oneshot_new(&tx1, &pg.rx1, sizeof(int)));
        BENCH_CHECK(ar_oneshot_new(&pg.tx2, &self->rx2, sizeof(int)));
        BENCH_CHECK(ar_spawn(NULL, &ponger_vt, &pg, NULL));
        int one = 1;
        BENCH_CHECK(ar_oneshot_send(&tx1, &one));
    }
    AR_AWAIT(ar_oneshot_recv_poll(&self->rx2, cx, &self->v, &self->res));
    BENCH_CHECK(self->res);
    if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_relaxed) == 1)
        ar_notify_one(&done);
    AR_END;
}
static const ar_future_vt pinger_vt = AR_FUTURE_VT_VOID(pinger, pinger_poll, NULL);

typedef struct root { ar_co co; ar_notified wait; } root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    root *self = p;
    AR_BEGIN(&self->co);
    for (int i = 0; i < NUM_PINGS; i++) {
        pinger pi = {0};
        BENCH_CHECK(ar_spawn(NULL, &pinger_vt, &pi, NULL));
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
        atomic_store(&remaining, NUM_PINGS);
        root r = {0};
        ar_join h;
        double t0 = bench_now_ns();
        BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
        BENCH_CHECK(ar_join_wait(&h, NULL, 0));
        double t1 = bench_now_ns();
        if (i >= a.warmup)
            bench_print("ping_pong", a.threads, (t1 - t0) / NUM_PINGS, "ns/roundtrip");
    }
    ar_rt_free(rt);
    ar_notify_destroy(&done);
    return 0;
}
