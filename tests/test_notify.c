/*
 * tests/test_notify.c - ar_notify: the single stored permit, FIFO
 * notify_one, notify_all (no permit), cancellation (a dropped waiter passes
 * its notification on; a dropped waiting waiter leaves no trace), destroy
 * with waiters, ring growth to 100,000 waiters, and a concurrent stress
 * where every notification sent is delivered exactly once.
 */
#include "helpers.h"

/* A waiter polled by hand with its own counting waker. */
typedef struct hw {
    ar_notified n;
    t_waker w;
} hw;

static void hw_init(hw *h, ar_notify *n)
{
    ar_notified_init(&h->n, n);
    t_waker_init(&h->w);
}

static ar_poll hw_poll(hw *h)
{
    ar_cx cx = t_cx(&h->w);
    return ar_notified_poll(&h->n, &cx);
}

#define T_PENDING(h) cr_assert(eq(int, hw_poll(h), AR_PENDING), "%s should wait", #h)
#define T_READY(h) cr_assert(eq(int, hw_poll(h), AR_READY), "%s should be notified", #h)

Test(notify, notify_one_before_wait_stores_one_permit, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    ar_notify_one(&n);
    ar_notify_one(&n);
    ar_notify_one(&n); /* permits do not add up */
    hw a, b;
    hw_init(&a, &n);
    hw_init(&b, &n);
    T_READY(&a);
    T_EQ_INT(atomic_load(&a.w.clones), 0); /* the permit: no registration */
    T_PENDING(&b);
    T_EQ_INT(ar_notify_waiters(&n), 1);
    T_READY(&a); /* a finished waiter stays ready */
    ar_notified_drop(&b.n);
    T_EQ_INT(ar_notify_waiters(&n), 0);
    T_EQ_INT(t_waker_held(&b.w), 0);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, notify_one_wakes_the_oldest_waiter, .timeout = 10)
{
    enum { K = 5 };
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw w[K];
    for (int i = 0; i < K; i++) {
        hw_init(&w[i], &n);
        T_PENDING(&w[i]);
    }
    T_EQ_INT(ar_notify_waiters(&n), K);
    for (int k = 0; k < K; k++) {
        ar_notify_one(&n);
        for (int i = 0; i < K; i++)
            cr_assert(eq(int, atomic_load(&w[i].w.wakes), i <= k ? 1 : 0),
                      "after %d notifications, waiter %d", k + 1, i);
        T_EQ_INT(ar_notify_waiters(&n), K - k - 1);
        T_READY(&w[k]);
        if (k + 1 < K)
            T_PENDING(&w[k + 1]); /* re-polling the next one changes nothing */
    }
    for (int i = 0; i < K; i++)
        T_EQ_INT(t_waker_held(&w[i].w), 0);
    /* No permit was stored along the way. */
    hw late;
    hw_init(&late, &n);
    T_PENDING(&late);
    ar_notified_drop(&late.n);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, notify_all_wakes_current_waiters_and_stores_no_permit, .timeout = 10)
{
    enum { K = 100 }; /* more than one wake batch */
    ar_notify n;
    T_OK(ar_notify_init(&n));
    static hw w[K];
    for (int i = 0; i < K; i++) {
        hw_init(&w[i], &n);
        T_PENDING(&w[i]);
    }
    hw not_yet; /* initialised but never polled: not a waiter yet */
    hw_init(&not_yet, &n);
    ar_notify_all(&n);
    T_EQ_INT(ar_notify_waiters(&n), 0);
    for (int i = 0; i < K; i++) {
        T_EQ_INT(atomic_load(&w[i].w.wakes), 1);
        T_READY(&w[i]);
        T_EQ_INT(t_waker_held(&w[i].w), 0);
    }
    T_PENDING(&not_yet); /* no permit left behind */
    ar_notify_all(&n);
    T_READY(&not_yet);
    ar_notify_all(&n); /* nobody waits: nothing stored */
    hw after;
    hw_init(&after, &n);
    T_PENDING(&after);
    ar_notified_drop(&after.n);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, notify_all_keeps_an_existing_permit_single, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    ar_notify_one(&n); /* permit */
    ar_notify_all(&n);
    hw a, b;
    hw_init(&a, &n);
    hw_init(&b, &n);
    T_READY(&a);
    T_PENDING(&b);
    ar_notified_drop(&b.n);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, dropped_chosen_waiter_passes_notification_on, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw a, b, c;
    hw_init(&a, &n);
    hw_init(&b, &n);
    hw_init(&c, &n);
    T_PENDING(&a);
    T_PENDING(&b);
    T_PENDING(&c);
    ar_notify_one(&n); /* chooses a */
    T_EQ_INT(atomic_load(&a.w.wakes), 1);
    ar_notified_drop(&a.n); /* ...which goes away without consuming it */
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_EQ_INT(atomic_load(&c.w.wakes), 0);
    T_READY(&b);
    T_PENDING(&c);
    /* The last waiter chosen and dropped: the notification becomes the
     * permit. */
    ar_notify_one(&n);
    ar_notified_drop(&c.n);
    hw d;
    hw_init(&d, &n);
    T_READY(&d);
    hw e;
    hw_init(&e, &n);
    T_PENDING(&e);
    ar_notified_drop(&e.n);
    /* A waiter woken by notify_all and dropped passes nothing on. */
    hw f, g;
    hw_init(&f, &n);
    T_PENDING(&f);
    ar_notify_all(&n);
    ar_notified_drop(&f.n);
    hw_init(&g, &n);
    T_PENDING(&g);
    ar_notified_drop(&g.n);
    ar_notified_drop(&g.n); /* idempotent */
    hw *all[] = {&a, &b, &c, &d, &e, &f, &g};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cr_assert(eq(int, t_waker_held(&all[i]->w), 0), "waiter %zu leaked its waker", i);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, dropped_waiting_waiter_leaves_no_trace, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw a, b;
    hw_init(&a, &n);
    hw_init(&b, &n);
    T_PENDING(&a);
    T_PENDING(&b);
    T_EQ_INT(ar_notify_waiters(&n), 2);
    ar_notified_drop(&a.n);
    T_EQ_INT(ar_notify_waiters(&n), 1);
    T_EQ_INT(t_waker_held(&a.w), 0);
    ar_notify_one(&n); /* skips the dropped slot */
    T_EQ_INT(atomic_load(&a.w.wakes), 0);
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_READY(&b);
    ar_notified_drop(&b.n); /* after ready: nothing to do */
    T_EQ_INT(ar_notify_waiters(&n), 0);
    /* An init'ed waiter that was never polled may be dropped too. */
    hw c;
    hw_init(&c, &n);
    ar_notified_drop(&c.n);
    /* Nothing is stored: a notify now becomes the permit. */
    ar_notify_one(&n);
    hw d;
    hw_init(&d, &n);
    T_READY(&d);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, waiter_waker_replacement, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw a;
    hw_init(&a, &n);
    t_waker other;
    t_waker_init(&other);
    T_PENDING(&a);
    ar_cx cx = t_cx(&other);
    cr_assert(eq(int, ar_notified_poll(&a.n, &cx), AR_PENDING));
    T_EQ_INT(t_waker_held(&a.w), 0);
    T_EQ_INT(t_waker_held(&other), 1);
    ar_notify_one(&n);
    T_EQ_INT(atomic_load(&a.w.wakes), 0);
    T_EQ_INT(atomic_load(&other.wakes), 1);
    cr_assert(eq(int, ar_notified_poll(&a.n, &cx), AR_READY));
    T_EQ_INT(t_waker_held(&other), 0);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, destroy_with_waiters_is_ebusy, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw a;
    hw_init(&a, &n);
    T_PENDING(&a);
    T_EQ_INT(ar_notify_destroy(&n), -EBUSY);
    /* Still usable after the refusal. */
    ar_notify_one(&n);
    T_READY(&a);
    T_OK(ar_notify_destroy(&n));
    T_EQ_INT(ar_notify_init(NULL), -EINVAL);
    T_EQ_INT(ar_notify_destroy(NULL), -EINVAL);
}

/* A notified-but-not-yet-polled waiter also holds its slot. */
Test(notify, destroy_with_unconsumed_notification_is_ebusy, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw a;
    hw_init(&a, &n);
    T_PENDING(&a);
    ar_notify_one(&n);
    T_EQ_INT(ar_notify_waiters(&n), 0);
    T_EQ_INT(ar_notify_destroy(&n), -EBUSY);
    T_READY(&a);
    T_OK(ar_notify_destroy(&n));
}

Test(notify, ring_growth_100000_waiters, .timeout = 30)
{
    const int k = 100000;
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw *w = calloc((size_t)k, sizeof *w);
    for (int i = 0; i < k; i++) {
        hw_init(&w[i], &n);
        cr_assert(eq(int, hw_poll(&w[i]), AR_PENDING), "waiter %d", i);
    }
    T_EQ_INT(ar_notify_waiters(&n), k);
    /* Drop every tenth (holes in the ring), notify the first half one by
     * one: exactly the oldest live waiters, in order. */
    int dropped = 0;
    for (int i = 0; i < k; i += 10, dropped++)
        ar_notified_drop(&w[i].n);
    T_EQ_INT(ar_notify_waiters(&n), k - dropped);
    int woken = 0, i = 0;
    for (; woken < k / 2; i++) {
        if (i % 10 == 0)
            continue;
        ar_notify_one(&n);
        woken++;
        if (atomic_load(&w[i].w.wakes) != 1)
            cr_fatal("notification %d went elsewhere than waiter %d", woken, i);
    }
    for (int j = i; j < k; j++)
        if (atomic_load(&w[j].w.wakes) != 0)
            cr_fatal("waiter %d woken out of order", j);
    /* Consume half of the notified ones, then register more waiters behind
     * them (the ring reuses the released slots). */
    for (int j = 0; j < i; j += 2)
        if (j % 10 && hw_poll(&w[j]) != AR_READY)
            cr_fatal("waiter %d not ready", j);
    enum { MORE = 1000 };
    hw *more = calloc(MORE, sizeof *more);
    for (int j = 0; j < MORE; j++) {
        hw_init(&more[j], &n);
        if (hw_poll(&more[j]) != AR_PENDING)
            cr_fatal("late waiter %d did not wait", j);
    }
    T_EQ_INT(ar_notify_waiters(&n), k - dropped - woken + MORE);
    ar_notify_all(&n);
    T_EQ_INT(ar_notify_waiters(&n), 0);
    for (int j = 0; j < k; j++) {
        if (j % 10 == 0)
            continue;
        if (hw_poll(&w[j]) != AR_READY)
            cr_fatal("waiter %d not ready after notify_all", j);
        if (t_waker_held(&w[j].w) != 0)
            cr_fatal("waiter %d: waker leaked", j);
    }
    for (int j = 0; j < MORE; j++)
        if (hw_poll(&more[j]) != AR_READY || t_waker_held(&more[j].w) != 0)
            cr_fatal("late waiter %d", j);
    free(more);
    T_OK(ar_notify_destroy(&n));
    free(w);
}

Test(notify, ring_reuse_many_rounds, .timeout = 30)
{
    /* Waiters come and go in a sliding window far longer than the ring:
     * tickets wrap over slots many times; FIFO holds throughout. */
    enum { WIN = 37 };
    ar_notify n;
    T_OK(ar_notify_init(&n));
    hw w[WIN];
    int next_wake = 0;
    for (int i = 0; i < WIN; i++) {
        hw_init(&w[i], &n);
        T_PENDING(&w[i]);
    }
    for (int round = 0; round < T_N(20000); round++) {
        int slot = next_wake % WIN;
        ar_notify_one(&n);
        if (atomic_load(&w[slot].w.wakes) != 1)
            cr_fatal("round %d: the oldest waiter was not woken", round);
        if (hw_poll(&w[slot]) != AR_READY)
            cr_fatal("round %d: not ready", round);
        hw_init(&w[slot], &n); /* the waiter waits again, at the back */
        T_PENDING(&w[slot]);
        next_wake++;
    }
    T_EQ_INT(ar_notify_waiters(&n), WIN);
    for (int i = 0; i < WIN; i++)
        ar_notified_drop(&w[i].n);
    T_OK(ar_notify_destroy(&n));
}

/* ------------------------------------------------------------------------
 * Concurrent stress.  At most one notification is in flight at a time
 * (a sender claims the token, notifies, and the waiter that receives it
 * gives the token back), so no permit is ever coalesced and every
 * notification sent must be delivered: delivered == sent exactly, and a
 * lost wake-up hangs the test (timeout).  Half the waiter tasks are
 * fickle: they drop their waiter after a yield and register again, which
 * exercises the pass-on path of a dropped chosen waiter.
 * --------------------------------------------------------------------- */
static ar_notify st_n;
static _Atomic int st_token; /* 1 while a notification is in flight */
static _Atomic long st_sent, st_delivered;
static _Atomic int st_stop;
static long st_target;

typedef struct st_waiter {
    ar_co co;
    ar_notified w;
    ar_yield_now y;
    bool fickle;
    unsigned seed;
    long out; /* notifications received */
} st_waiter;

static ar_poll st_waiter_poll(void *self, ar_cx *cx)
{
    st_waiter *s = self;
    AR_BEGIN(&s->co);
    while (!atomic_load(&st_stop)) {
        ar_notified_init(&s->w, &st_n);
        if (s->fickle && rand_r(&s->seed) % 2) {
            /* Register, give others a turn, then maybe walk away. */
            if (ar_notified_poll(&s->w, cx) == AR_PENDING) {
                AR_AWAIT(ar_yield_now_poll(&s->y, cx));
                if (ar_notified_poll(&s->w, cx) == AR_PENDING) {
                    ar_notified_drop(&s->w);
                    continue;
                }
            }
        } else {
            AR_AWAIT(ar_notified_poll(&s->w, cx));
        }
        s->out++;
        atomic_fetch_add(&st_delivered, 1);
        atomic_store(&st_token, 0);
    }
    AR_END;
}

static void st_waiter_drop(void *self) { ar_notified_drop(&((st_waiter *)self)->w); }

static const ar_future_vt st_waiter_vt = AR_FUTURE_VT(st_waiter, st_waiter_poll, st_waiter_drop, out);

static void *st_sender(void *arg)
{
    (void)arg;
    for (;;) {
        int zero = 0;
        if (atomic_load(&st_sent) >= st_target)
            return NULL;
        if (!atomic_compare_exchange_strong(&st_token, &zero, 1)) {
            sched_yield();
            continue;
        }
        if (atomic_fetch_add(&st_sent, 1) >= st_target) {
            atomic_fetch_sub(&st_sent, 1);
            atomic_store(&st_token, 0);
            return NULL;
        }
        ar_notify_one(&st_n);
    }
}

Test(notify, stress_notify_one_from_threads, .timeout = 60)
{
    enum { WAITERS = 8, SENDERS = 3 };
    st_target = T_N(100000);
    T_OK(ar_notify_init(&st_n));
    ar_rt *rt = t_rt_mt(2);
    ar_join h[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        st_waiter w = {.fickle = i % 2 == 1, .seed = (unsigned)i + 1};
        T_OK(ar_spawn(rt, &st_waiter_vt, &w, &h[i]));
    }
    pthread_t th[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        th[i] = t_thread(st_sender, NULL);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    T_WAIT_UNTIL(atomic_load(&st_delivered) == st_target);
    T_EQ_INT(atomic_load(&st_sent), st_target);
    /* Stop the waiters: notify_all wakes the registered ones, and a
     * stored permit (from the stop races) is harmless. */
    atomic_store(&st_stop, 1);
    long total = 0;
    for (int i = 0; i < WAITERS; i++) {
        long out = 0;
        while (!ar_join_is_finished(&h[i])) {
            ar_notify_all(&st_n);
            t_sleep_ms(1);
        }
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        total += out;
    }
    /* The wake-ups to stop may deliver a few more, counted as well. */
    T_EQ_INT(total, atomic_load(&st_delivered));
    cr_assert(t_is(total >= st_target && total <= st_target + WAITERS), "delivered %ld", total);
    ar_rt_free(rt);
    T_EQ_INT(ar_notify_waiters(&st_n), 0);
    T_OK(ar_notify_destroy(&st_n));
}

/* notify_all from a plain thread, round after round: before each round all
 * waiter tasks (on both workers) are registered, and each must be woken by
 * it exactly once.  A lost wake-up leaves a waiter unregistered for the
 * next round and the wait below fails. */
static ar_notify ra_n;

typedef struct ra_waiter {
    ar_co co;
    ar_notified w;
    long rounds;
    long out; /* rounds seen */
} ra_waiter;

static ar_poll ra_waiter_poll(void *self, ar_cx *cx)
{
    ra_waiter *r = self;
    AR_BEGIN(&r->co);
    while (r->out < r->rounds) {
        ar_notified_init(&r->w, &ra_n);
        AR_AWAIT(ar_notified_poll(&r->w, cx));
        r->out++;
    }
    AR_END;
}

static void ra_waiter_drop(void *self) { ar_notified_drop(&((ra_waiter *)self)->w); }

static const ar_future_vt ra_waiter_vt = AR_FUTURE_VT(ra_waiter, ra_waiter_poll, ra_waiter_drop, out);

Test(notify, stress_notify_all_rounds, .timeout = 60)
{
    enum { WAITERS = 16 };
    const long rounds = T_N(5000);
    T_OK(ar_notify_init(&ra_n));
    ar_rt *rt = t_rt_mt(2);
    ar_join h[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        ra_waiter w = {.rounds = rounds};
        T_OK(ar_spawn(rt, &ra_waiter_vt, &w, &h[i]));
    }
    for (long r = 0; r < rounds; r++) {
        T_WAIT_UNTIL(ar_notify_waiters(&ra_n) == WAITERS);
        ar_notify_all(&ra_n);
    }
    for (int i = 0; i < WAITERS; i++) {
        long out = 0;
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        T_EQ_INT(out, rounds);
    }
    ar_rt_free(rt);
    T_EQ_INT(ar_notify_waiters(&ra_n), 0);
    T_OK(ar_notify_destroy(&ra_n));
}

/* A waiter polled with AR_WAKER_NONE (a hand-built context) is still a
 * registered waiter: it holds its slot, is counted, and is notified. */
Test(notify, waiter_with_none_waker_keeps_its_slot, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    ar_notified a, b;
    ar_notified_init(&a, &n);
    ar_notified_init(&b, &n);
    ar_cx none = {.waker = AR_WAKER_NONE, .budget = 0, .worker = NULL};
    cr_assert(eq(int, ar_notified_poll(&a, &none), AR_PENDING));
    T_EQ_INT(ar_notify_waiters(&n), 1);
    cr_assert(eq(int, ar_notified_poll(&b, &none), AR_PENDING));
    T_EQ_INT(ar_notify_waiters(&n), 2);
    T_EQ_INT(ar_notify_destroy(&n), -EBUSY);
    ar_notify_one(&n); /* FIFO: a */
    cr_assert(eq(int, ar_notified_poll(&a, &none), AR_READY));
    cr_assert(eq(int, ar_notified_poll(&b, &none), AR_PENDING));
    ar_notified_drop(&b);
    T_EQ_INT(ar_notify_waiters(&n), 0);
    T_OK(ar_notify_destroy(&n));
}

/* notify_all wakes the waiters present when it is called, not ones that
 * register while it runs. */
Test(notify, notify_all_wakes_only_current_waiters, .timeout = 10)
{
    ar_notify n;
    T_OK(ar_notify_init(&n));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    ar_notified a, late;
    ar_notified_init(&a, &n);
    cr_assert(eq(int, ar_notified_poll(&a, &cx), AR_PENDING));
    ar_notify_all(&n);
    ar_notified_init(&late, &n);
    cr_assert(eq(int, ar_notified_poll(&late, &cx), AR_PENDING), "no permit stored");
    cr_assert(eq(int, ar_notified_poll(&a, &cx), AR_READY));
    ar_notified_drop(&late);
    T_OK(ar_notify_destroy(&n));
}
