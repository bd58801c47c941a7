/*
 * tests/test_semaphore.c - ar_semaphore: try_acquire, FIFO order with
 * partial grants (a large request is not overtaken), the errors (more than
 * max, over-release), cancellation at every await point (a waiting head
 * that holds part of its permits, a granted but unreported waiter, a
 * waiter in the middle), add_permits, and a multi-worker stress where the
 * permits in use never exceed the count.
 */
#include "helpers.h"

typedef struct hs {
    ar_sem_acquire a;
    t_waker w;
    int res;
} hs;

static void hs_init(hs *h, ar_semaphore *s, uint64_t n)
{
    ar_sem_acquire_init(&h->a, s, n);
    t_waker_init(&h->w);
    h->res = 1234;
}

static ar_poll hs_poll(hs *h)
{
    ar_cx cx = t_cx(&h->w);
    return ar_sem_acquire_poll(&h->a, &cx, &h->res);
}

#define T_PENDING(h) cr_assert(eq(int, hs_poll(h), AR_PENDING), "%s should wait", #h)
#define T_READY(h)                                                               \
    do {                                                                         \
        cr_assert(eq(int, hs_poll(h), AR_READY), "%s should be ready", #h);      \
        T_EQ_INT((h)->res, 0);                                                   \
    } while (0)

Test(semaphore, try_acquire_and_release, .timeout = 10)
{
    ar_semaphore s;
    T_OK(ar_sem_init(&s, 3));
    T_OK(ar_sem_try_acquire(&s, 2));
    T_EQ_INT(ar_sem_available(&s), 1);
    T_EQ_INT(ar_sem_try_acquire(&s, 2), -EAGAIN);
    T_OK(ar_sem_try_acquire(&s, 1));
    T_EQ_INT(ar_sem_try_acquire(&s, 1), -EAGAIN);
    T_OK(ar_sem_try_acquire(&s, 0));
    T_OK(ar_sem_release(&s, 3));
    T_EQ_INT(ar_sem_available(&s), 3);
    T_OK(ar_sem_destroy(&s));
}

Test(semaphore, errors_are_documented_codes, .timeout = 10)
{
    ar_semaphore s;
    T_EQ_INT(ar_sem_init(NULL, 1), -EINVAL);
    T_EQ_INT(ar_sem_init(&s, AR_SEM_MAX_PERMITS + 1), -EINVAL);
    T_OK(ar_sem_init(&s, 2));
    /* More than exist: an error at once, never a hang. */
    T_EQ_INT(ar_sem_try_acquire(&s, 3), -EINVAL);
    hs big;
    hs_init(&big, &s, 3);
    cr_assert(eq(int, hs_poll(&big), AR_READY));
    T_EQ_INT(big.res, -EINVAL);
    T_EQ_INT(ar_sem_available(&s), 2);
    /* Releasing what is not held. */
    T_EQ_INT(ar_sem_release(&s, 1), -EOVERFLOW);
    T_OK(ar_sem_try_acquire(&s, 1));
    T_EQ_INT(ar_sem_release(&s, 2), -EOVERFLOW);
    T_OK(ar_sem_release(&s, 1));
    T_EQ_INT(ar_sem_available(&s), 2);
    /* NULLs. */
    T_EQ_INT(ar_sem_release(NULL, 1), -EINVAL);
    T_EQ_INT(ar_sem_try_acquire(NULL, 1), -EINVAL);
    hs nul;
    hs_init(&nul, NULL, 1);
    cr_assert(eq(int, hs_poll(&nul), AR_READY));
    T_EQ_INT(nul.res, -EINVAL);
    ar_sem_acquire_drop(&nul.a);
    T_EQ_INT(ar_sem_add_permits(&s, AR_SEM_MAX_PERMITS), -EOVERFLOW);
    /* add_permits makes a bigger request possible. */
    T_OK(ar_sem_add_permits(&s, 1));
    hs_init(&big, &s, 3);
    T_READY(&big);
    T_OK(ar_sem_release(&s, 3));
    T_OK(ar_sem_destroy(&s));
}

Test(semaphore, fifo_with_partial_grants, .timeout = 10)
{
    ar_semaphore s;
    T_OK(ar_sem_init(&s, 4));
    T_OK(ar_sem_try_acquire(&s, 3)); /* 1 free */
    hs a, b, c;
    hs_init(&a, &s, 3); /* takes the free one, waits for 2 more */
    hs_init(&b, &s, 1);
    hs_init(&c, &s, 2);
    T_PENDING(&a);
    T_EQ_INT(ar_sem_available(&s), 0);
    T_PENDING(&b); /* would fit in 1 but must not overtake a */
    T_PENDING(&c);
    T_EQ_INT(ar_sem_try_acquire(&s, 1), -EAGAIN); /* nobody barges in */
    T_OK(ar_sem_release(&s, 1));
    T_EQ_INT(atomic_load(&a.w.wakes), 0); /* a still needs 1 */
    T_PENDING(&a);
    T_OK(ar_sem_release(&s, 2)); /* a gets 1, b gets 1 */
    T_EQ_INT(atomic_load(&a.w.wakes), 1);
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_EQ_INT(atomic_load(&c.w.wakes), 0);
    T_READY(&a);
    T_READY(&b);
    T_PENDING(&c);
    T_OK(ar_sem_release(&s, 3)); /* a's: c gets 2, 1 free */
    T_READY(&c);
    T_EQ_INT(ar_sem_available(&s), 1);
    T_READY(&c); /* ready stays ready and takes nothing more */
    T_EQ_INT(ar_sem_available(&s), 1);
    T_OK(ar_sem_release(&s, 3));
    T_EQ_INT(ar_sem_available(&s), 4);
    hs *all[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++)
        cr_assert(eq(int, t_waker_held(&all[i]->w), 0), "waiter %d leaked its waker", i);
    T_OK(ar_sem_destroy(&s));
}

Test(semaphore, dropped_head_with_partial_permits_passes_them_on, .timeout = 10)
{
    ar_semaphore s;
    T_OK(ar_sem_init(&s, 5));
    T_OK(ar_sem_try_acquire(&s, 3)); /* 2 free */
    hs a, b;
    hs_init(&a, &s, 5); /* takes 2, waits for 3 */
    hs_init(&b, &s, 2);
    T_PENDING(&a);
    T_PENDING(&b);
    ar_sem_acquire_drop(&a.a); /* its 2 go to b */
    T_EQ_INT(t_waker_held(&a.w), 0);
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_READY(&b);
    T_EQ_INT(ar_sem_available(&s), 0);
    T_OK(ar_sem_release(&s, 5));
    T_EQ_INT(ar_sem_available(&s), 5);
    ar_sem_acquire_drop(&a.a); /* idempotent */
    T_OK(ar_sem_destroy(&s));
}

Test(semaphore, dropped_granted_waiter_loses_no_permit, .timeout = 10)
{
    ar_semaphore s;
    T_OK(ar_sem_init(&s, 2));
    T_OK(ar_sem_try_acquire(&s, 2));
    hs a, b, c;
    hs_init(&a, &s, 2);
    hs_init(&b, &s, 1);
    hs_init(&c, &s, 1);
    T_PENDING(&a);
    T_PENDING(&b);
    T_PENDING(&c);
    T_OK(ar_sem_release(&s, 2)); /* all to a, which is woken... */
    T_EQ_INT(atomic_load(&a.w.wakes), 1);
    ar_sem_acquire_drop(&a.a); /* ...and dropped before it saw it */
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_EQ_INT(atomic_load(&c.w.wakes), 1);
    T_READY(&b);
    T_READY(&c);
    T_OK(ar_sem_release(&s, 2));
    T_EQ_INT(ar_sem_available(&s), 2);
    T_EQ_INT(t_waker_held(&a.w), 0);
    T_OK(ar_sem_destroy(&s));
}

Test(semaphore, dropped_middle_and_unpolled_waiters, .timeout = 10)
{
    ar_semaphore s;
    T_OK(ar_sem_init(&s, 1));
    T_OK(ar_sem_try_acquire(&s, 1));
    hs a, b, c, d;
    hs_init(&a, &s, 1);
    hs_init(&b, &s, 1);
    hs_init(&c, &s, 1);
    hs_init(&d, &s, 1); /* never polled */
    T_PENDING(&a);
    T_PENDING(&b);
    T_PENDING(&c);
    T_EQ_INT(ar_sem_destroy(&s), -EBUSY);
    ar_sem_acquire_drop(&b.a);
    ar_sem_acquire_drop(&d.a);
    T_EQ_INT(t_waker_held(&b.w), 0);
    T_OK(ar_sem_release(&s, 1));
    T_READY(&a);
    T_EQ_INT(atomic_load(&c.w.wakes), 0);
    T_OK(ar_sem_release(&s, 1));
    T_EQ_INT(atomic_load(&b.w.wakes), 0);
    T_READY(&c);
    ar_sem_acquire_drop(&c.a); /* after ready: the permit is the caller's */
    T_EQ_INT(ar_sem_available(&s), 0);
    T_OK(ar_sem_release(&s, 1));
    /* The last waiter dropped: the semaphore is back to the fast path. */
    hs e;
    hs_init(&e, &s, 1);
    T_READY(&e);
    T_EQ_INT(atomic_load(&e.w.clones), 0);
    T_OK(ar_sem_release(&s, 1));
    T_OK(ar_sem_destroy(&s));
}

Test(semaphore, waker_replaced_on_repoll, .timeout = 10)
{
    ar_semaphore s;
    T_OK(ar_sem_init(&s, 1));
    T_OK(ar_sem_try_acquire(&s, 1));
    hs a;
    hs_init(&a, &s, 1);
    T_PENDING(&a);
    t_waker other;
    t_waker_init(&other);
    ar_cx cx = t_cx(&other);
    cr_assert(eq(int, ar_sem_acquire_poll(&a.a, &cx, &a.res), AR_PENDING));
    T_EQ_INT(t_waker_held(&a.w), 0);
    T_EQ_INT(t_waker_held(&other), 1);
    T_OK(ar_sem_release(&s, 1));
    T_EQ_INT(atomic_load(&other.wakes), 1);
    T_EQ_INT(atomic_load(&a.w.wakes), 0);
    T_READY(&a);
    T_EQ_INT(t_waker_held(&other), 0);
    T_OK(ar_sem_release(&s, 1));
}

Test(semaphore, many_waiters_released_at_once, .timeout = 10)
{
    enum { K = 100 }; /* more than one wake batch */
    ar_semaphore s;
    T_OK(ar_sem_init(&s, K));
    T_OK(ar_sem_try_acquire(&s, K));
    static hs w[K];
    for (int i = 0; i < K; i++) {
        hs_init(&w[i], &s, 1);
        T_PENDING(&w[i]);
    }
    T_OK(ar_sem_release(&s, K));
    for (int i = 0; i < K; i++) {
        T_EQ_INT(atomic_load(&w[i].w.wakes), 1);
        T_READY(&w[i]);
        T_EQ_INT(t_waker_held(&w[i].w), 0);
    }
    T_EQ_INT(ar_sem_available(&s), 0);
    T_OK(ar_sem_release(&s, K));
    T_OK(ar_sem_destroy(&s));
}

/* ------------------------------------------------------------------------
 * Stress: tasks acquire 1..3 of 4 permits, count them in use, yield, give
 * them back; some abandon their wait.  In use never exceeds 4, everything
 * comes back.
 * --------------------------------------------------------------------- */
static ar_semaphore g_sem;
static _Atomic long g_in_use;
static _Atomic long g_done_iters;

typedef struct sworker {
    ar_co co;
    ar_sem_acquire a;
    int i, iters, id, res;
    uint64_t n;
} sworker;

static ar_poll sworker_poll(void *p, ar_cx *cx)
{
    sworker *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->iters; self->i++) {
        self->n = (uint64_t)(1 + (self->id + self->i) % 3);
        ar_sem_acquire_init(&self->a, &g_sem, self->n);
        if ((self->id + self->i) % 7 == 0) {
            /* Poll once and abandon the wait. */
            if (ar_sem_acquire_poll(&self->a, cx, &self->res) == AR_READY) {
                T_BG_EQ(self->res, 0);
                T_BG_EQ(ar_sem_release(&g_sem, self->n), 0);
            } else {
                ar_sem_acquire_drop(&self->a);
            }
            continue;
        }
        AR_AWAIT(ar_sem_acquire_poll(&self->a, cx, &self->res));
        T_BG_EQ(self->res, 0);
        {
            long now = atomic_fetch_add(&g_in_use, (long)self->n) + (long)self->n;
            T_BG_CHECK(now <= 4);
        }
        AR_YIELD(cx);
        atomic_fetch_sub(&g_in_use, (long)self->n);
        T_BG_EQ(ar_sem_release(&g_sem, self->n), 0);
        atomic_fetch_add(&g_done_iters, 1);
    }
    AR_END;
}

static void sworker_drop(void *p)
{
    ar_sem_acquire_drop(&((sworker *)p)->a);
}

static const ar_future_vt sworker_vt = AR_FUTURE_VT_VOID(sworker, sworker_poll, sworker_drop);

Test(semaphore, stress_permits_never_exceeded, .timeout = 120)
{
    enum { TASKS = 16 };
    int iters = T_N(2000);
    T_OK(ar_sem_init(&g_sem, 4));
    ar_rt *rt = t_rt_mt(2);
    ar_join h[TASKS];
    for (int t = 0; t < TASKS; t++) {
        sworker w = {.iters = iters, .id = t};
        T_OK(ar_spawn(rt, &sworker_vt, &w, &h[t]));
    }
    for (int t = 0; t < TASKS; t++)
        T_OK(ar_join_wait(&h[t], NULL, 0));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
    T_EQ_INT(atomic_load(&g_in_use), 0);
    T_EQ_INT(ar_sem_available(&g_sem), 4);
    cr_assert(t_is(atomic_load(&g_done_iters) > 0));
    T_OK(ar_sem_destroy(&g_sem));
}
