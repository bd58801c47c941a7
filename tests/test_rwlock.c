/*
 * tests/test_rwlock.c - ar_rwlock: many readers or one writer, fairness (a
 * waiting writer holds back later readers; earlier readers keep going),
 * unlock errors (-EPERM in each wrong state, nothing changes), cancellation
 * of a writer that collected part of its permits, and a multi-worker stress
 * where readers never see a writer inside.
 */
#include "helpers.h"

typedef struct hr {
    ar_rwlock_acquire a;
    t_waker w;
    int res;
} hr;

static void hr_read(hr *h, ar_rwlock *l)
{
    ar_rwlock_read_init(&h->a, l);
    t_waker_init(&h->w);
}

static void hr_write(hr *h, ar_rwlock *l)
{
    ar_rwlock_write_init(&h->a, l);
    t_waker_init(&h->w);
}

static ar_poll hr_poll(hr *h)
{
    ar_cx cx = t_cx(&h->w);
    return ar_rwlock_acquire_poll(&h->a, &cx, &h->res);
}

#define T_PENDING(h) cr_assert(eq(int, hr_poll(h), AR_PENDING), "%s should wait", #h)
#define T_READY(h)                                                               \
    do {                                                                         \
        cr_assert(eq(int, hr_poll(h), AR_READY), "%s should be ready", #h);      \
        T_EQ_INT((h)->res, 0);                                                   \
    } while (0)

Test(rwlock, readers_share_writer_excludes, .timeout = 10)
{
    ar_rwlock l;
    T_OK(ar_rwlock_init(&l));
    for (int i = 0; i < 100; i++)
        T_OK(ar_rwlock_try_read(&l));
    T_EQ_INT(ar_rwlock_try_write(&l), -EBUSY);
    for (int i = 0; i < 100; i++)
        T_OK(ar_rwlock_read_unlock(&l));
    T_OK(ar_rwlock_try_write(&l));
    T_EQ_INT(ar_rwlock_try_read(&l), -EBUSY);
    T_EQ_INT(ar_rwlock_try_write(&l), -EBUSY);
    T_EQ_INT(ar_rwlock_destroy(&l), -EBUSY);
    T_OK(ar_rwlock_write_unlock(&l));
    T_OK(ar_rwlock_destroy(&l));
}

Test(rwlock, unlock_errors_change_nothing, .timeout = 10)
{
    ar_rwlock l;
    T_OK(ar_rwlock_init(&l));
    T_EQ_INT(ar_rwlock_read_unlock(&l), -EPERM);  /* free */
    T_EQ_INT(ar_rwlock_write_unlock(&l), -EPERM); /* free */
    T_OK(ar_rwlock_try_read(&l));
    T_EQ_INT(ar_rwlock_write_unlock(&l), -EPERM); /* a reader holds it */
    T_OK(ar_rwlock_read_unlock(&l));
    T_OK(ar_rwlock_try_write(&l));
    T_EQ_INT(ar_rwlock_read_unlock(&l), -EPERM); /* a writer holds it */
    T_EQ_INT(ar_rwlock_try_read(&l), -EBUSY);    /* ...still */
    T_OK(ar_rwlock_write_unlock(&l));
    T_EQ_INT(ar_rwlock_write_unlock(&l), -EPERM);
    /* With waiters queued (slow path): a writer waits behind a reader. */
    T_OK(ar_rwlock_try_read(&l));
    hr w;
    hr_write(&w, &l);
    T_PENDING(&w);
    T_EQ_INT(ar_rwlock_write_unlock(&l), -EPERM);
    T_OK(ar_rwlock_read_unlock(&l));
    T_READY(&w);
    T_EQ_INT(ar_rwlock_read_unlock(&l), -EPERM);
    hr r;
    hr_read(&r, &l);
    T_PENDING(&r);
    T_EQ_INT(ar_rwlock_read_unlock(&l), -EPERM); /* writer holds, reader waits */
    T_OK(ar_rwlock_write_unlock(&l));
    T_READY(&r);
    T_OK(ar_rwlock_read_unlock(&l));
    T_EQ_INT(ar_rwlock_init(NULL), -EINVAL);
    T_EQ_INT(ar_rwlock_read_unlock(NULL), -EINVAL);
    T_EQ_INT(ar_rwlock_write_unlock(NULL), -EINVAL);
    T_OK(ar_rwlock_destroy(&l));
}

Test(rwlock, waiting_writer_holds_back_later_readers, .timeout = 10)
{
    ar_rwlock l;
    T_OK(ar_rwlock_init(&l));
    hr r1, r2, w, r3, r4;
    hr_read(&r1, &l);
    hr_read(&r2, &l);
    T_READY(&r1);
    T_READY(&r2);
    hr_write(&w, &l);
    T_PENDING(&w);
    hr_read(&r3, &l);
    T_PENDING(&r3); /* behind the writer */
    T_EQ_INT(ar_rwlock_try_read(&l), -EBUSY);
    T_OK(ar_rwlock_read_unlock(&l));
    T_EQ_INT(atomic_load(&w.w.wakes), 0);
    T_OK(ar_rwlock_read_unlock(&l));
    T_EQ_INT(atomic_load(&w.w.wakes), 1);
    T_EQ_INT(atomic_load(&r3.w.wakes), 0);
    T_READY(&w);
    hr_read(&r4, &l);
    T_PENDING(&r4);
    T_OK(ar_rwlock_write_unlock(&l)); /* both readers in at once */
    T_READY(&r3);
    T_READY(&r4);
    T_OK(ar_rwlock_read_unlock(&l));
    T_OK(ar_rwlock_read_unlock(&l));
    T_OK(ar_rwlock_destroy(&l));
}

Test(rwlock, dropped_writer_with_partial_permits_lets_readers_in, .timeout = 10)
{
    ar_rwlock l;
    T_OK(ar_rwlock_init(&l));
    T_OK(ar_rwlock_try_read(&l));
    hr w, r;
    hr_write(&w, &l);
    T_PENDING(&w); /* holds all permits but one */
    hr_read(&r, &l);
    T_PENDING(&r);
    ar_rwlock_acquire_drop(&w.a);
    T_EQ_INT(t_waker_held(&w.w), 0);
    T_EQ_INT(atomic_load(&r.w.wakes), 1);
    T_READY(&r);
    T_OK(ar_rwlock_read_unlock(&l));
    T_OK(ar_rwlock_read_unlock(&l));
    T_OK(ar_rwlock_try_write(&l)); /* every permit came back */
    T_OK(ar_rwlock_write_unlock(&l));
    /* A writer handed the lock and dropped before seeing it. */
    T_OK(ar_rwlock_try_read(&l));
    hr_write(&w, &l);
    T_PENDING(&w);
    T_OK(ar_rwlock_read_unlock(&l));
    T_EQ_INT(atomic_load(&w.w.wakes), 1);
    ar_rwlock_acquire_drop(&w.a);
    T_OK(ar_rwlock_try_write(&l));
    T_OK(ar_rwlock_write_unlock(&l));
    T_OK(ar_rwlock_destroy(&l));
}

/* ------------------------------------------------------------------------
 * Stress: readers check two fields a writer keeps equal; writers update
 * them across a yield.  Readers never see them differ; the final count is
 * exact.
 * --------------------------------------------------------------------- */
static ar_rwlock g_l;
static long g_a, g_b; /* guarded by g_l */
static _Atomic int g_writers_in, g_readers_in;

typedef struct rworker {
    ar_co co;
    ar_rwlock_acquire a;
    int i, iters, writer, res;
} rworker;

static ar_poll rworker_poll(void *p, ar_cx *cx)
{
    rworker *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->iters; self->i++) {
        if (self->writer) {
            ar_rwlock_write_init(&self->a, &g_l);
            AR_AWAIT(ar_rwlock_acquire_poll(&self->a, cx, &self->res));
            T_BG_EQ(self->res, 0);
            T_BG_EQ(atomic_fetch_add(&g_writers_in, 1), 0);
            T_BG_EQ(atomic_load(&g_readers_in), 0);
            g_a++;
            AR_YIELD(cx);
            g_b++;
            atomic_fetch_sub(&g_writers_in, 1);
            T_BG_EQ(ar_rwlock_write_unlock(&g_l), 0);
        } else {
            ar_rwlock_read_init(&self->a, &g_l);
            AR_AWAIT(ar_rwlock_acquire_poll(&self->a, cx, &self->res));
            T_BG_EQ(self->res, 0);
            atomic_fetch_add(&g_readers_in, 1);
            T_BG_EQ(atomic_load(&g_writers_in), 0);
            T_BG_EQ(g_a, g_b);
            if (self->i % 4 == 0)
                AR_YIELD(cx);
            T_BG_EQ(g_a, g_b);
            atomic_fetch_sub(&g_readers_in, 1);
            T_BG_EQ(ar_rwlock_read_unlock(&g_l), 0);
        }
    }
    AR_END;
}

static void rworker_drop(void *p)
{
    ar_rwlock_acquire_drop(&((rworker *)p)->a);
}

static const ar_future_vt rworker_vt = AR_FUTURE_VT_VOID(rworker, rworker_poll, rworker_drop);

Test(rwlock, stress_readers_never_see_a_writer, .timeout = 120)
{
    enum { TASKS = 12, WRITERS = 3 };
    int iters = T_N(2000);
    T_OK(ar_rwlock_init(&g_l));
    ar_rt *rt = t_rt_mt(2);
    ar_join h[TASKS];
    for (int t = 0; t < TASKS; t++) {
        rworker w = {.iters = iters, .writer = t < WRITERS};
        T_OK(ar_spawn(rt, &rworker_vt, &w, &h[t]));
    }
    for (int t = 0; t < TASKS; t++)
        T_OK(ar_join_wait(&h[t], NULL, 0));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
    T_EQ_INT(g_a, (long)WRITERS * iters);
    T_EQ_INT(g_b, (long)WRITERS * iters);
    T_OK(ar_rwlock_destroy(&g_l));
}
