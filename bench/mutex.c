/*
 * bench/mutex.c - async mutex, contended and uncontended.
 *
 * Workloads (the same in bench/peers/tokio/src/sync.rs and bench/peers/go/sync.go):
 *   mutex_contended    a runtime of --threads workers (default 2); TASKS = 8
 *                      tasks each lock the one mutex, increment a shared
 *                      counter and unlock, LOCKS = 10,000 times; one
 *                      iteration = spawn them until all are joined.  Unit:
 *                      ns per lock/unlock pair (total time / 80,000).
 *   mutex_uncontended  one task alone locks and unlocks an async mutex
 *                      UNCONTENDED = 1,000,000 times (here: the lock future
 *                      polled in place on the main thread, as block_on
 *                      would).  Unit: ns per lock/unlock pair.
 *   mutex_blocking     the same loop on the language's blocking (thread)
 *                      mutex in the same program: a pthread mutex here, the
 *                      reference of the target (uncontended async
 *                      lock/unlock <= 2x a pthread mutex); std::sync::Mutex
 *                      in the Tokio peer, sync.Mutex in the Go peer.
 */
#include <pthread.h>

#include "bench_common.h"

#define TASKS 8
#define LOCKS 10000
#define UNCONTENDED 1000000

static ar_mutex g_m;
static long g_counter; /* guarded by g_m */

typedef struct locker {
    ar_co co;
    ar_mutex_lock l;
    int i, res;
} locker;

static ar_poll locker_poll(void *p, ar_cx *cx)
{
    locker *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < LOCKS; self->i++) {
        ar_mutex_lock_init(&self->l, &g_m);
        AR_AWAIT(ar_mutex_lock_poll(&self->l, cx, &self->res));
        BENCH_CHECK(self->res);
        g_counter++;
        BENCH_CHECK(ar_mutex_unlock(&g_m));
    }
    AR_END;
}

static void locker_drop(void *p)
{
    ar_mutex_lock_drop(&((locker *)p)->l);
}

static const ar_future_vt locker_vt = AR_FUTURE_VT_VOID(locker, locker_poll, locker_drop);

static double contended(ar_rt *rt)
{
    g_counter = 0;
    ar_join h[TASKS];
    double t0 = bench_now_ns();
    for (int t = 0; t < TASKS; t++) {
        locker l = {0};
        BENCH_CHECK(ar_spawn(rt, &locker_vt, &l, &h[t]));
    }
    for (int t = 0; t < TASKS; t++)
        BENCH_CHECK(ar_join_wait(&h[t], NULL, 0));
    double dt = bench_now_ns() - t0;
    if (g_counter != (long)TASKS * LOCKS) {
        fprintf(stderr, "mutex: counter %ld\n", g_counter);
        exit(1);
    }
    return dt / ((double)TASKS * LOCKS);
}

static double uncontended(void)
{
    ar_cx cx = {0}; /* no waker needed: the lock is always free */
    ar_mutex_lock l;
    int res;
    double t0 = bench_now_ns();
    for (long i = 0; i < UNCONTENDED; i++) {
        ar_mutex_lock_init(&l, &g_m);
        if (ar_mutex_lock_poll(&l, &cx, &res) != AR_READY || res != 0)
            exit(1);
        g_counter++;
        if (ar_mutex_unlock(&g_m) != 0)
            exit(1);
    }
    return (bench_now_ns() - t0) / UNCONTENDED;
}

static double with_pthread(void)
{
    static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
    double t0 = bench_now_ns();
    for (long i = 0; i < UNCONTENDED; i++) {
        pthread_mutex_lock(&pm);
        g_counter++;
        pthread_mutex_unlock(&pm);
    }
    return (bench_now_ns() - t0) / UNCONTENDED;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 10);
    ar_rt *rt = bench_rt(a.threads);
    BENCH_CHECK(ar_mutex_init(&g_m));
    for (unsigned i = 0; i < a.warmup + a.iters; i++) {
        double c = contended(rt);
        double u = uncontended();
        double p = with_pthread();
        if (i >= a.warmup) {
            bench_print("mutex_contended", a.threads, c, "ns/lock");
            bench_print("mutex_uncontended", a.threads, u, "ns/lock");
            bench_print("mutex_blocking", a.threads, p, "ns/lock");
        }
    }
    ar_rt_free(rt);
    BENCH_CHECK(ar_mutex_destroy(&g_m));
    return 0;
}
