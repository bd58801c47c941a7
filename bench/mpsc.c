/*
 * bench/mpsc.c - bounded MPSC channel throughput.
 *
 * Workload (the same in bench/peers/tokio/src/sync.rs and bench/peers/go/sync.go):
 *   - a runtime of --threads workers (default 2);
 *   - one bounded channel of capacity 1024 carrying 8-byte integers;
 *   - P producer tasks (P = 1, then P = 2) each send MESSAGES / P values
 *     with the awaiting send (backpressure when full); one consumer task
 *     receives all MESSAGES = 100,000 values;
 *   - one iteration = spawn the consumer and the producers, until the
 *     consumer has received the last value (measured from the main thread).
 * Output per iteration: workload=mpsc_p1 and workload=mpsc_p2, in messages
 * per second (higher is better).
 */
#include "bench_common.h"

#define MESSAGES 100000L
#define CAPACITY 1024

typedef struct producer {
    ar_co co;
    ar_mpsc_tx tx;
    ar_mpsc_send s;
    long i, n, v;
    int res;
} producer;

static ar_poll producer_poll(void *p, ar_cx *cx)
{
    producer *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        self->v = self->i;
        ar_mpsc_send_init(&self->s, &self->tx, &self->v);
        AR_AWAIT(ar_mpsc_send_poll(&self->s, cx, &self->res));
        BENCH_CHECK(self->res);
    }
    ar_mpsc_tx_drop(&self->tx);
    AR_END;
}

static void producer_drop(void *p)
{
    producer *self = p;
    ar_mpsc_send_drop(&self->s);
    ar_mpsc_tx_drop(&self->tx);
}

static const ar_future_vt producer_vt = AR_FUTURE_VT_VOID(producer, producer_poll, producer_drop);

typedef struct consumer {
    ar_co co;
    ar_mpsc_rx rx;
    long v, got;
    int res;
    long out;
} consumer;

static ar_poll consumer_poll(void *p, ar_cx *cx)
{
    consumer *self = p;
    AR_BEGIN(&self->co);
    for (;;) {
        AR_AWAIT(ar_mpsc_recv_poll(&self->rx, cx, &self->v, &self->res));
        if (self->res == -EPIPE)
            break;
        BENCH_CHECK(self->res);
        self->got++;
    }
    ar_mpsc_rx_drop(&self->rx);
    self->out = self->got;
    AR_END;
}

static void consumer_drop(void *p)
{
    ar_mpsc_rx_drop(&((consumer *)p)->rx);
}

static const ar_future_vt consumer_vt = AR_FUTURE_VT(consumer, consumer_poll, consumer_drop, out);

/* One iteration with `producers` producers; returns messages per second. */
static double one_run(ar_rt *rt, int producers)
{
    ar_mpsc_tx tx;
    consumer c = {0};
    BENCH_CHECK(ar_mpsc_bounded(&tx, &c.rx, sizeof(long), CAPACITY));
    double t0 = bench_now_ns();
    ar_join h;
    BENCH_CHECK(ar_spawn(rt, &consumer_vt, &c, &h));
    for (int i = 0; i < producers; i++) {
        producer pr = {.n = MESSAGES / producers};
        BENCH_CHECK(ar_mpsc_tx_clone(&tx, &pr.tx));
        BENCH_CHECK(ar_spawn(rt, &producer_vt, &pr, NULL));
    }
    ar_mpsc_tx_drop(&tx);
    long got = 0;
    BENCH_CHECK(ar_join_wait(&h, &got, sizeof got));
    double dt = bench_now_ns() - t0;
    if (got != MESSAGES) {
        fprintf(stderr, "mpsc: received %ld of %ld\n", got, MESSAGES);
        exit(1);
    }
    return (double)MESSAGES / (dt * 1e-9);
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 10);
    ar_rt *rt = bench_rt(a.threads);
    for (unsigned i = 0; i < a.warmup + a.iters; i++) {
        double p1 = one_run(rt, 1);
        double p2 = one_run(rt, 2);
        if (i >= a.warmup) {
            bench_print("mpsc_p1", a.threads, p1, "msg/s");
            bench_print("mpsc_p2", a.threads, p2, "msg/s");
        }
    }
    ar_rt_free(rt);
    return 0;
}
