/*
 * bench/yield_many.c - BENCH.md yield_many: 200 tasks that each yield 1,000
 * times; time until all finished.  Unit: ns per yield.
 */
#include "bench_common.h"

#define NUM_TASKS 200
#define NUM_YIELD 1000

typedef struct yielder { ar_co co; int i; ar_yield_now y; } yielder;

static ar_poll yielder_poll(void *p, ar_cx *cx)
{
    yielder *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < NUM_YIELD; self->i++)
        AR_AWAIT(ar_yield_now_poll(&self->y, cx));
    AR_END;
}
static const ar_future_vt yielder_vt = AR_FUTURE_VT_VOID(yielder, yielder_poll, NULL);

typedef struct root { ar_co co; int i, res; ar_join h[NUM_TASKS]; } root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    root *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < NUM_TASKS; self->i++) {
        yielder y = {0};
        BENCH_CHECK(ar_spawn(NULL, &yielder_vt, &y, &self->h[self->i]));
    }
    for (self->i = 0; self->i < NUM_TASKS; self->i++) {
        AR_AWAIT(ar_join_poll(&self->h[self->i], cx, NULL, 0, &self->res));
        BENCH_CHECK(self->res);
    }
    AR_END;
}
static const ar_future_vt root_vt = AR_FUTURE_VT_VOID(root, root_poll, NULL);

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 50);
    ar_rt *rt = bench_rt(a.threads);
    static root r;
    for (unsigned i = 0; i < a.warmup + a.iters; i++) {
        memset(&r, 0, sizeof r);
        ar_join h;
        double t0 = bench_now_ns();
        BENCH_CHECK(ar_spawn(rt, &root_vt, &r, &h));
        BENCH_CHECK(ar_join_wait(&h, NULL, 0));
        double t1 = bench_now_ns();
        if (i >= a.warmup)
            bench_print("yield_many", a.threads, (t1 - t0) / (NUM_TASKS * NUM_YIELD), "ns/yield");
    }
    ar_rt_free(rt);
    return 0;
}
