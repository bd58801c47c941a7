/*
 * tests/test_barrier.c - ar_barrier: n parties, exactly one leader per
 * generation, reuse over generations, a dropped waiter withdraws its
 * arrival, errors, and a multi-worker stress over many generations.
 */
#include "helpers.h"

typedef struct hb {
    ar_barrier_wait wt;
    t_waker w;
    bool leader;
    int res;
} hb;

static void hb_init(hb *h, ar_barrier *b)
{
    ar_barrier_wait_init(&h->wt, b);
    t_waker_init(&h->w);
    h->leader = false;
    h->res = 1234;
}

static ar_poll hb_poll(hb *h)
{
    ar_cx cx = t_cx(&h->w);
    return ar_barrier_wait_poll(&h->wt, &cx, &h->leader, &h->res);
}

#define T_PENDING(h) cr_assert(eq(int, hb_poll(h), AR_PENDING), "%s should wait", #h)
#define T_READY(h, lead)                                                         \
    do {                                                                         \
        cr_assert(eq(int, hb_poll(h), AR_READY), "%s should be ready", #h);      \
        T_EQ_INT((h)->res, 0);                                                   \
        T_EQ_INT((h)->leader, (lead));                                           \
    } while (0)

Test(barrier, last_arrival_leads_and_releases_all, .timeout = 10)
{
    ar_barrier b;
    T_OK(ar_barrier_init(&b, 3));
    for (int gen = 0; gen < 3; gen++) {
        hb x, y, z;
        hb_init(&x, &b);
        hb_init(&y, &b);
        hb_init(&z, &b);
        T_PENDING(&x);
        T_PENDING(&y);
        T_PENDING(&x);
        T_READY(&z, true);
        T_EQ_INT(atomic_load(&x.w.wakes), 1);
        T_EQ_INT(atomic_load(&y.w.wakes), 1);
        T_READY(&x, false);
        T_READY(&y, false);
        T_READY(&z, true); /* stays ready */
        T_EQ_INT(t_waker_held(&x.w) + t_waker_held(&y.w), 0);
    }
    T_OK(ar_barrier_destroy(&b));
}

Test(barrier, one_party_is_always_leader, .timeout = 10)
{
    ar_barrier b;
    T_OK(ar_barrier_init(&b, 1));
    hb x;
    hb_init(&x, &b);
    T_READY(&x, true);
    T_OK(ar_barrier_destroy(&b));
}

Test(barrier, dropped_waiter_withdraws_its_arrival, .timeout = 10)
{
    ar_barrier b;
    T_OK(ar_barrier_init(&b, 2));
    hb x, y, z;
    hb_init(&x, &b);
    hb_init(&y, &b);
    hb_init(&z, &b);
    T_PENDING(&x);
    T_EQ_INT(ar_barrier_destroy(&b), -EBUSY);
    ar_barrier_wait_drop(&x.wt);
    T_EQ_INT(t_waker_held(&x.w), 0);
    T_PENDING(&y); /* x no longer counts: y is the first of two */
    T_READY(&z, true);
    T_READY(&y, false);
    ar_barrier_wait_drop(&y.wt); /* after release: nothing changes */
    ar_barrier_wait_drop(&x.wt); /* idempotent */
    /* A released waiter dropped before it was polled: the next generation
     * is not affected. */
    hb p, q, r, s;
    hb_init(&p, &b);
    hb_init(&q, &b);
    T_PENDING(&p);
    T_READY(&q, true);
    ar_barrier_wait_drop(&p.wt);
    T_EQ_INT(t_waker_held(&p.w), 0);
    hb_init(&r, &b);
    hb_init(&s, &b);
    T_PENDING(&r);
    T_READY(&s, true);
    T_READY(&r, false);
    T_OK(ar_barrier_destroy(&b));
}

Test(barrier, errors, .timeout = 10)
{
    ar_barrier b;
    T_EQ_INT(ar_barrier_init(&b, 0), -EINVAL);
    T_EQ_INT(ar_barrier_init(NULL, 2), -EINVAL);
    T_EQ_INT(ar_barrier_destroy(NULL), -EINVAL);
    hb x;
    hb_init(&x, NULL);
    cr_assert(eq(int, hb_poll(&x), AR_READY));
    T_EQ_INT(x.res, -EINVAL);
    T_EQ_INT(x.leader, false);
}

Test(barrier, many_waiters_released_in_batches, .timeout = 10)
{
    enum { K = 100 };
    ar_barrier b;
    T_OK(ar_barrier_init(&b, K + 1));
    static hb w[K];
    for (int i = 0; i < K; i++) {
        hb_init(&w[i], &b);
        T_PENDING(&w[i]);
    }
    hb last;
    hb_init(&last, &b);
    T_READY(&last, true);
    for (int i = 0; i < K; i++) {
        T_EQ_INT(atomic_load(&w[i].w.wakes), 1);
        T_READY(&w[i], false);
        T_EQ_INT(t_waker_held(&w[i].w), 0);
    }
    T_OK(ar_barrier_destroy(&b));
}

/* Stress: TASKS tasks pass the barrier ROUNDS times; in each generation
 * exactly one leader, and nobody passes generation g before everyone
 * arrived at it. */
enum { TASKS = 8 };
static ar_barrier g_b;
static _Atomic int g_arrived[512];
static _Atomic int g_leaders[512];

typedef struct bworker {
    ar_co co;
    ar_barrier_wait wt;
    int round, rounds, res;
    bool leader;
} bworker;

static ar_poll bworker_poll(void *p, ar_cx *cx)
{
    bworker *self = p;
    AR_BEGIN(&self->co);
    for (self->round = 0; self->round < self->rounds; self->round++) {
        atomic_fetch_add(&g_arrived[self->round], 1);
        ar_barrier_wait_init(&self->wt, &g_b);
        AR_AWAIT(ar_barrier_wait_poll(&self->wt, cx, &self->leader, &self->res));
        T_BG_EQ(self->res, 0);
        T_BG_EQ(atomic_load(&g_arrived[self->round]), TASKS);
        if (self->leader)
            atomic_fetch_add(&g_leaders[self->round], 1);
    }
    AR_END;
}

static void bworker_drop(void *p)
{
    ar_barrier_wait_drop(&((bworker *)p)->wt);
}

static const ar_future_vt bworker_vt = AR_FUTURE_VT_VOID(bworker, bworker_poll, bworker_drop);

Test(barrier, stress_generations, .timeout = 120)
{
    int rounds = T_N(500);
    T_OK(ar_barrier_init(&g_b, TASKS));
    ar_rt *rt = t_rt_mt(2);
    ar_join h[TASKS];
    for (int t = 0; t < TASKS; t++) {
        bworker w = {.rounds = rounds};
        T_OK(ar_spawn(rt, &bworker_vt, &w, &h[t]));
    }
    for (int t = 0; t < TASKS; t++)
        T_OK(ar_join_wait(&h[t], NULL, 0));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
    for (int r = 0; r < rounds; r++)
        cr_assert(eq(int, atomic_load(&g_leaders[r]), 1), "generation %d", r);
    T_OK(ar_barrier_destroy(&g_b));
}
