/*
 * tests/test_mutex.c - ar_mutex: try_lock, unlock errors (-EPERM, nothing
 * changes), FIFO handover (unlock gives the lock to the oldest waiter and
 * nobody barges in), cancellation at every await point (a waiting lock
 * future dropped; a future handed the lock and dropped before it saw it),
 * and a multi-worker stress where the critical section is exclusive and
 * every increment survives.
 */
#include "helpers.h"

typedef struct hm {
    ar_mutex_lock l;
    t_waker w;
    int res;
} hm;

static void hm_init(hm *h, ar_mutex *m)
{
    ar_mutex_lock_init(&h->l, m);
    t_waker_init(&h->w);
    h->res = 1234;
}

static ar_poll hm_poll(hm *h)
{
    ar_cx cx = t_cx(&h->w);
    return ar_mutex_lock_poll(&h->l, &cx, &h->res);
}

#define T_PENDING(h) cr_assert(eq(int, hm_poll(h), AR_PENDING), "%s should wait", #h)
#define T_READY(h)                                                               \
    do {                                                                         \
        cr_assert(eq(int, hm_poll(h), AR_READY), "%s should be ready", #h);      \
        T_EQ_INT((h)->res, 0);                                                   \
    } while (0)

Test(mutex, try_lock_unlock_and_errors, .timeout = 10)
{
    ar_mutex m;
    T_OK(ar_mutex_init(&m));
    cr_assert(t_is(!ar_mutex_is_locked(&m)));
    T_EQ_INT(ar_mutex_unlock(&m), -EPERM); /* not held: nothing changes */
    T_OK(ar_mutex_try_lock(&m));
    cr_assert(t_is(ar_mutex_is_locked(&m)));
    T_EQ_INT(ar_mutex_try_lock(&m), -EBUSY);
    T_EQ_INT(ar_mutex_destroy(&m), -EBUSY);
    T_OK(ar_mutex_unlock(&m));
    T_EQ_INT(ar_mutex_unlock(&m), -EPERM);
    T_OK(ar_mutex_try_lock(&m)); /* still a working mutex of one permit */
    T_EQ_INT(ar_mutex_try_lock(&m), -EBUSY);
    T_OK(ar_mutex_unlock(&m));
    T_EQ_INT(ar_mutex_init(NULL), -EINVAL);
    T_EQ_INT(ar_mutex_try_lock(NULL), -EINVAL);
    T_EQ_INT(ar_mutex_unlock(NULL), -EINVAL);
    T_EQ_INT(ar_mutex_destroy(NULL), -EINVAL);
    int res = 0;
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_mutex_lock_poll(NULL, &cx, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    ar_mutex_lock l;
    ar_mutex_lock_init(&l, &m);
    cr_assert(eq(int, ar_mutex_lock_poll(&l, NULL, &res), AR_READY));
    T_EQ_INT(res, -EINVAL);
    cr_assert(t_is(!ar_mutex_is_locked(&m)));
    T_OK(ar_mutex_destroy(&m));
}

Test(mutex, fifo_handover, .timeout = 10)
{
    enum { K = 5 };
    ar_mutex m;
    T_OK(ar_mutex_init(&m));
    hm first;
    hm_init(&first, &m);
    T_READY(&first); /* uncontended: no waker registered */
    T_EQ_INT(atomic_load(&first.w.clones), 0);
    hm w[K];
    for (int i = 0; i < K; i++) {
        hm_init(&w[i], &m);
        T_PENDING(&w[i]);
    }
    for (int k = 0; k < K; k++) {
        T_OK(ar_mutex_unlock(&m));
        cr_assert(t_is(ar_mutex_is_locked(&m))); /* handed over, not released */
        T_EQ_INT(ar_mutex_try_lock(&m), -EBUSY);
        for (int i = 0; i < K; i++)
            cr_assert(eq(int, atomic_load(&w[i].w.wakes), i <= k ? 1 : 0),
                      "after %d unlocks, waiter %d", k + 1, i);
        T_READY(&w[k]);
    }
    T_OK(ar_mutex_unlock(&m));
    cr_assert(t_is(!ar_mutex_is_locked(&m)));
    for (int i = 0; i < K; i++)
        T_EQ_INT(t_waker_held(&w[i].w), 0);
    T_OK(ar_mutex_destroy(&m));
}

Test(mutex, dropped_waiting_lock_leaves_no_trace, .timeout = 10)
{
    ar_mutex m;
    T_OK(ar_mutex_init(&m));
    T_OK(ar_mutex_try_lock(&m));
    hm a, b;
    hm_init(&a, &m);
    hm_init(&b, &m);
    T_PENDING(&a);
    T_PENDING(&b);
    ar_mutex_lock_drop(&a.l);
    T_EQ_INT(t_waker_held(&a.w), 0);
    T_OK(ar_mutex_unlock(&m));
    T_EQ_INT(atomic_load(&a.w.wakes), 0);
    T_READY(&b);
    T_OK(ar_mutex_unlock(&m));
    /* Only waiter dropped: the next unlock frees the mutex. */
    T_OK(ar_mutex_try_lock(&m));
    hm c;
    hm_init(&c, &m);
    T_PENDING(&c);
    ar_mutex_lock_drop(&c.l);
    T_OK(ar_mutex_unlock(&m));
    cr_assert(t_is(!ar_mutex_is_locked(&m)));
    T_OK(ar_mutex_try_lock(&m));
    T_OK(ar_mutex_unlock(&m));
    T_OK(ar_mutex_destroy(&m));
}

Test(mutex, dropped_after_handover_passes_the_lock_on, .timeout = 10)
{
    ar_mutex m;
    T_OK(ar_mutex_init(&m));
    T_OK(ar_mutex_try_lock(&m));
    hm a, b;
    hm_init(&a, &m);
    hm_init(&b, &m);
    T_PENDING(&a);
    T_PENDING(&b);
    T_OK(ar_mutex_unlock(&m)); /* handed to a */
    T_EQ_INT(atomic_load(&a.w.wakes), 1);
    ar_mutex_lock_drop(&a.l); /* a never saw it */
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_READY(&b);
    T_OK(ar_mutex_unlock(&m));
    /* The same with nobody behind: the mutex becomes free. */
    T_OK(ar_mutex_try_lock(&m));
    hm c;
    hm_init(&c, &m);
    T_PENDING(&c);
    T_OK(ar_mutex_unlock(&m));
    ar_mutex_lock_drop(&c.l);
    cr_assert(t_is(!ar_mutex_is_locked(&m)));
    T_EQ_INT(ar_mutex_unlock(&m), -EPERM);
    /* A lock future dropped after it reported ready keeps the lock. */
    hm d;
    hm_init(&d, &m);
    T_READY(&d);
    ar_mutex_lock_drop(&d.l);
    cr_assert(t_is(ar_mutex_is_locked(&m)));
    T_OK(ar_mutex_unlock(&m));
    T_EQ_INT(t_waker_held(&a.w) + t_waker_held(&b.w) + t_waker_held(&c.w), 0);
    T_OK(ar_mutex_destroy(&m));
}

/* ------------------------------------------------------------------------
 * Stress: TASKS tasks on 2 workers increment a plain counter under the
 * mutex, yielding inside the critical section every few rounds; every
 * fifth lock future is polled once and abandoned.  The count is exact and
 * nobody is ever inside with someone else.
 * --------------------------------------------------------------------- */
static ar_mutex g_m;
static long g_counter; /* guarded by g_m */
static _Atomic int g_inside;

typedef struct mworker {
    ar_co co;
    ar_mutex_lock l;
    int i, iters, id, res;
} mworker;

static ar_poll mworker_poll(void *p, ar_cx *cx)
{
    mworker *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->iters; self->i++) {
        ar_mutex_lock_init(&self->l, &g_m);
        if ((self->i + self->id) % 5 == 0) {
            if (ar_mutex_lock_poll(&self->l, cx, &self->res) == AR_PENDING) {
                ar_mutex_lock_drop(&self->l);
                continue;
            }
            T_BG_EQ(ar_mutex_unlock(&g_m), 0);
            continue;
        }
        AR_AWAIT(ar_mutex_lock_poll(&self->l, cx, &self->res));
        T_BG_EQ(self->res, 0);
        T_BG_EQ(atomic_fetch_add(&g_inside, 1), 0);
        g_counter++;
        if (self->i % 8 == 0) {
            atomic_fetch_sub(&g_inside, 1);
            AR_YIELD(cx); /* hold the lock across a yield */
            T_BG_EQ(atomic_fetch_add(&g_inside, 1), 0);
        }
        atomic_fetch_sub(&g_inside, 1);
        T_BG_EQ(ar_mutex_unlock(&g_m), 0);
    }
    AR_END;
}

static void mworker_drop(void *p)
{
    ar_mutex_lock_drop(&((mworker *)p)->l);
}

static const ar_future_vt mworker_vt = AR_FUTURE_VT_VOID(mworker, mworker_poll, mworker_drop);

Test(mutex, stress_exclusive_and_exact, .timeout = 120)
{
    enum { TASKS = 16 };
    int iters = T_N(3000);
    T_OK(ar_mutex_init(&g_m));
    ar_rt *rt = t_rt_mt(2);
    ar_join h[TASKS];
    long expect = 0;
    for (int t = 0; t < TASKS; t++) {
        mworker w = {.iters = iters, .id = t};
        T_OK(ar_spawn(rt, &mworker_vt, &w, &h[t]));
        for (int i = 0; i < iters; i++)
            expect += (i + t) % 5 != 0;
    }
    for (int t = 0; t < TASKS; t++)
        T_OK(ar_join_wait(&h[t], NULL, 0));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
    T_EQ_INT(g_counter, expect);
    cr_assert(t_is(!ar_mutex_is_locked(&g_m)));
    T_OK(ar_mutex_destroy(&g_m));
}

/* Shutdown drops tasks parked on the mutex: their futures' drop functions
 * unlink them, nothing leaks (ASan), the mutex stays consistent. */
Test(mutex, shutdown_drops_waiting_tasks, .timeout = 30)
{
    T_OK(ar_mutex_init(&g_m));
    T_OK(ar_mutex_try_lock(&g_m));
    ar_rt *rt = t_rt_mt(2);
    for (int t = 0; t < 8; t++) {
        mworker w = {.iters = 1, .id = 1};
        T_OK(ar_spawn(rt, &mworker_vt, &w, NULL));
    }
    T_WAIT_UNTIL(ar_sem_destroy(&g_m.sem) == -EBUSY); /* somebody waits */
    ar_rt_free(rt);
    T_EQ_INT(ar_mutex_destroy(&g_m), -EBUSY); /* we still hold it */
    T_OK(ar_mutex_unlock(&g_m));
    cr_assert(t_is(!ar_mutex_is_locked(&g_m)));
    T_OK(ar_mutex_destroy(&g_m));
}

/* A task that keeps finding the mutex free still spends its cooperative
 * budget: after AR_COOP_BUDGET uncontended locks the lock future returns
 * AR_PENDING once (having woken the task), so the worker's other tasks
 * get to run. */
Test(mutex, uncontended_lock_spends_budget, .timeout = 10)
{
    ar_mutex m;
    T_OK(ar_mutex_init(&m));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w); /* budget AR_COOP_BUDGET */
    int res, ready = 0;
    for (int i = 0; i < AR_COOP_BUDGET + 1; i++) {
        ar_mutex_lock l;
        ar_mutex_lock_init(&l, &m);
        if (ar_mutex_lock_poll(&l, &cx, &res) == AR_READY) {
            T_EQ_INT(res, 0);
            T_OK(ar_mutex_unlock(&m));
            ready++;
        } else {
            ar_mutex_lock_drop(&l);
        }
    }
    T_EQ_INT(ready, AR_COOP_BUDGET);
    T_EQ_INT(atomic_load(&w.wakes), 1);
    cr_assert(t_is(!ar_mutex_is_locked(&m)));
    T_OK(ar_mutex_destroy(&m));
}
