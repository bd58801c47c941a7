/*
 * tests/test_current_thread.c - the current-thread flavour: no worker
 * threads; the thread inside ar_block_on runs the main future and every
 * task.  Spawns from other threads wait for (or wake) the next block_on;
 * a second concurrent block_on is refused; shutdown drops what is left.
 */
#include "helpers.h"

static ar_rt *ct_new(void) { return t_rt_new(AR_RT_CURRENT_THREAD, 0); }

/* A child that yields `yields` times and outputs in * 7 + 1, recording the
 * thread and runtime it ran on. */
static pthread_t ct_main_thread;
static _Atomic int ct_wrong_thread, ct_wrong_rt, ct_children_ran;
static ar_rt *ct_rt;

typedef struct child {
    ar_co co;
    ar_yield_now y;
    int yields, i, in;
    int out;
} child;

static ar_poll child_poll(void *self, ar_cx *cx)
{
    child *c = self;
    if (!pthread_equal(pthread_self(), ct_main_thread))
        atomic_fetch_add(&ct_wrong_thread, 1);
    if (ar_rt_current() != ct_rt)
        atomic_fetch_add(&ct_wrong_rt, 1);
    AR_BEGIN(&c->co);
    for (c->i = 0; c->i < c->yields; c->i++)
        AR_AWAIT(ar_yield_now_poll(&c->y, cx));
    c->out = c->in * 7 + 1;
    atomic_fetch_add(&ct_children_ran, 1);
    AR_END;
}

static const ar_future_vt child_vt = AR_FUTURE_VT(child, child_poll, NULL, out);

/* ------------------------------------------------------------------------
 * Awaiting handles given by pointer (drives the runtime until they finish)
 * --------------------------------------------------------------------- */
typedef struct join_all {
    ar_co co;
    ar_join *h[4];
    int n, i, res;
    int rcs[4];
} join_all;

static ar_poll join_all_poll(void *self, ar_cx *cx)
{
    join_all *j = self;
    AR_BEGIN(&j->co);
    for (j->i = 0; j->i < j->n; j->i++) {
        AR_AWAIT(ar_join_poll(j->h[j->i], cx, NULL, 0, &j->res));
        j->rcs[j->i] = j->res;
    }
    AR_END;
}

static const ar_future_vt join_all_vt = AR_FUTURE_VT_VOID(join_all, join_all_poll, NULL);

/* ------------------------------------------------------------------------
 * The main future spawns tasks and awaits their joins
 * --------------------------------------------------------------------- */
enum { MAIN_KIDS = 100 };

typedef struct main_fut {
    ar_co co;
    ar_join kids[MAIN_KIDS];
    int i, v, res;
    long out;
} main_fut;

static ar_poll main_poll(void *self, ar_cx *cx)
{
    main_fut *m = self;
    AR_BEGIN(&m->co);
    T_BG_CHECK(ar_rt_current() == ct_rt);
    T_BG_EQ(ar_join_wait(&m->kids[0], NULL, 0), -EBADF); /* empty: checked first */
    for (m->i = 0; m->i < MAIN_KIDS; m->i++) {
        child c = {.yields = m->i % 4, .in = m->i};
        T_BG_EQ(ar_spawn(NULL, &child_vt, &c, &m->kids[m->i]), 0);
    }
    /* Blocking here would deadlock the only thread. */
    T_BG_EQ(ar_join_wait(&m->kids[0], NULL, 0), -EDEADLK);
    for (m->i = MAIN_KIDS; m->i-- > 0;) {
        AR_AWAIT(ar_join_poll(&m->kids[m->i], cx, &m->v, sizeof m->v, &m->res));
        T_BG_EQ(m->res, 0);
        T_BG_EQ(m->v, m->i * 7 + 1);
        m->out += m->v;
    }
    AR_END;
}

static const ar_future_vt main_vt = AR_FUTURE_VT(main_fut, main_poll, NULL, out);

Test(current_thread, block_on_spawns_and_joins, .timeout = 20)
{
    ct_rt = ct_new();
    ct_main_thread = pthread_self();
    T_EQ_INT(ar_rt_workers(ct_rt), 0);
    for (int round = 0; round < 3; round++) {
        main_fut m = {0};
        T_OK(ar_block_on(ct_rt, &main_vt, &m));
        long want = 0;
        for (int i = 0; i < MAIN_KIDS; i++)
            want += i * 7 + 1;
        T_EQ_INT(m.out, want);
        cr_assert(eq(ptr, ar_rt_current(), NULL)); /* only inside block_on */
    }
    T_EQ_INT(atomic_load(&ct_children_ran), 3 * MAIN_KIDS);
    T_EQ_INT(atomic_load(&ct_wrong_thread), 0);
    T_EQ_INT(atomic_load(&ct_wrong_rt), 0);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(ct_rt);
}

/* ------------------------------------------------------------------------
 * Spawns from another thread
 * --------------------------------------------------------------------- */
static ar_notify ct_done;
static _Atomic int ct_ran;
static int ct_expected;

typedef struct notifier {
    int unused;
} notifier;

static ar_poll notifier_poll(void *self, ar_cx *cx)
{
    (void)self;
    (void)cx;
    if (atomic_fetch_add(&ct_ran, 1) + 1 == ct_expected)
        ar_notify_one(&ct_done);
    return AR_READY;
}

static const ar_future_vt notifier_vt = AR_FUTURE_VT_VOID(notifier, notifier_poll, NULL);

typedef struct wait_done {
    ar_co co;
    ar_notified w;
} wait_done;

static ar_poll wait_done_poll(void *self, ar_cx *cx)
{
    wait_done *f = self;
    AR_BEGIN(&f->co);
    ar_notified_init(&f->w, &ct_done);
    AR_AWAIT(ar_notified_poll(&f->w, cx));
    AR_END;
}

static const ar_future_vt wait_done_vt = AR_FUTURE_VT_VOID(wait_done, wait_done_poll, NULL);

static void *spawn_notifiers(void *arg)
{
    ar_rt *rt = arg;
    for (int i = 0; i < ct_expected; i++) {
        notifier n = {0};
        T_BG_EQ(ar_spawn(rt, &notifier_vt, &n, NULL), 0);
    }
    return NULL;
}

Test(current_thread, remote_spawns_run_during_next_block_on, .timeout = 20)
{
    ar_rt *rt = ct_new();
    T_OK(ar_notify_init(&ct_done));
    ct_expected = 500;
    pthread_t th = t_thread(spawn_notifiers, rt);
    pthread_join(th, NULL);
    t_sleep_ms(30);
    T_EQ_INT(atomic_load(&ct_ran), 0); /* nobody drives the runtime */
    wait_done f = {0};
    T_OK(ar_block_on(rt, &wait_done_vt, &f));
    T_EQ_INT(atomic_load(&ct_ran), ct_expected);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&ct_done));
}

static void *spawn_later(void *arg)
{
    t_sleep_ms(30);
    return spawn_notifiers(arg);
}

/* The block_on thread is parked (its main future waits); a spawn from
 * another thread must wake it to run the task. */
Test(current_thread, remote_spawn_wakes_parked_block_on, .timeout = 20)
{
    ar_rt *rt = ct_new();
    T_OK(ar_notify_init(&ct_done));
    ct_expected = 1;
    pthread_t th = t_thread(spawn_later, rt);
    wait_done f = {0};
    T_OK(ar_block_on(rt, &wait_done_vt, &f));
    pthread_join(th, NULL);
    T_EQ_INT(atomic_load(&ct_ran), 1);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    T_OK(ar_notify_destroy(&ct_done));
}

/* The main future waits on a oneshot that a plain thread sends later. */
typedef struct recv_fut {
    ar_co co;
    ar_oneshot_rx rx;
    int v, res;
    int out;
} recv_fut;

static ar_poll recv_fut_poll(void *self, ar_cx *cx)
{
    recv_fut *r = self;
    AR_BEGIN(&r->co);
    AR_AWAIT(ar_oneshot_recv_poll(&r->rx, cx, &r->v, &r->res));
    r->out = r->res ? r->res : r->v;
    AR_END;
}

static const ar_future_vt recv_fut_vt = AR_FUTURE_VT(recv_fut, recv_fut_poll, NULL, out);

typedef struct late_send {
    ar_oneshot_tx tx;
    unsigned delay_ms;
    int v;
} late_send;

static void *late_sender(void *arg)
{
    late_send *s = arg;
    t_sleep_ms(s->delay_ms);
    T_BG_EQ(ar_oneshot_send(&s->tx, &s->v), 0);
    return NULL;
}

Test(current_thread, main_future_woken_from_other_thread, .timeout = 20)
{
    ar_rt *rt = ct_new();
    for (int round = 0; round < 5; round++) {
        recv_fut r = {0};
        late_send s = {.delay_ms = (unsigned)(round * 5), .v = 100 + round};
        T_OK(ar_oneshot_new(&s.tx, &r.rx, sizeof(int)));
        pthread_t th = t_thread(late_sender, &s);
        T_OK(ar_block_on(rt, &recv_fut_vt, &r));
        pthread_join(th, NULL);
        T_EQ_INT(r.out, 100 + round);
    }
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Two threads cannot drive one current-thread runtime at once
 * --------------------------------------------------------------------- */
typedef struct bo_arg {
    ar_rt *rt;
    recv_fut r;
    int rc;
} bo_arg;

static void *block_on_thread(void *arg)
{
    bo_arg *a = arg;
    a->rc = ar_block_on(a->rt, &recv_fut_vt, &a->r);
    return NULL;
}

Test(current_thread, second_block_on_is_ebusy, .timeout = 20)
{
    ar_rt *rt = ct_new();
    bo_arg a = {.rt = rt, .rc = 1};
    ar_oneshot_tx tx;
    T_OK(ar_oneshot_new(&tx, &a.r.rx, sizeof(int)));
    pthread_t th = t_thread(block_on_thread, &a);
    T_WAIT_UNTIL(atomic_load(&rt->driving));
    recv_fut other = {0};
    ar_oneshot_tx tx2;
    T_OK(ar_oneshot_new(&tx2, &other.rx, sizeof(int)));
    T_EQ_INT(ar_block_on(rt, &recv_fut_vt, &other), -EBUSY);
    /* Spawning from here still works while the other thread drives. */
    child c = {.yields = 2, .in = 5};
    ar_join h;
    T_OK(ar_spawn(rt, &child_vt, &c, &h));
    int v = 31;
    T_OK(ar_oneshot_send(&tx, &v));
    pthread_join(th, NULL);
    T_OK(a.rc);
    T_EQ_INT(a.r.out, 31);
    /* Now this thread may drive: the refused future was never polled. */
    int w = 32;
    T_OK(ar_oneshot_send(&tx2, &w));
    T_OK(ar_block_on(rt, &recv_fut_vt, &other));
    T_EQ_INT(other.out, 32);
    /* Drive once more until the child spawned meanwhile has finished. */
    join_all j = {.h = {&h}, .n = 1};
    T_OK(ar_block_on(rt, &join_all_vt, &j));
    T_OK(j.rcs[0]);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * A main future that yields lets the tasks run (ar_yield_now: "rescheduling
 * the task behind the others"): it must not spin alone.
 * --------------------------------------------------------------------- */
static _Atomic int yl_flag;

typedef struct yl_setter {
    int unused;
} yl_setter;

static ar_poll yl_setter_poll(void *self, ar_cx *cx)
{
    (void)self;
    (void)cx;
    atomic_store(&yl_flag, 1);
    return AR_READY;
}

static const ar_future_vt yl_setter_vt = AR_FUTURE_VT_VOID(yl_setter, yl_setter_poll, NULL);

typedef struct yl_main {
    ar_co co;
    ar_yield_now y;
    long out; /* yields until the task ran */
} yl_main;

enum { YL_LIMIT = 200000 };

static ar_poll yl_main_poll(void *self, ar_cx *cx)
{
    yl_main *m = self;
    AR_BEGIN(&m->co);
    {
        yl_setter t = {0};
        T_BG_EQ(ar_spawn(NULL, &yl_setter_vt, &t, NULL), 0);
    }
    while (!atomic_load(&yl_flag) && m->out < YL_LIMIT) {
        AR_AWAIT(ar_yield_now_poll(&m->y, cx));
        m->out++;
    }
    AR_END;
}

static const ar_future_vt yl_main_vt = AR_FUTURE_VT(yl_main, yl_main_poll, NULL, out);

Test(current_thread, yielding_main_future_lets_tasks_run, .timeout = 20)
{
    ar_rt *rt = ct_new();
    yl_main m = {0};
    T_OK(ar_block_on(rt, &yl_main_vt, &m));
    ar_rt_free(rt); /* before asserting: a failure must not also leak */
    T_BG_ASSERT_CLEAN();
    cr_assert(t_is(atomic_load(&yl_flag)),
              "the main future yielded %ld times and the spawned task never ran", m.out);
    cr_assert(t_is(m.out < 1000), "the task ran only after %ld yields", m.out);
}

/* ------------------------------------------------------------------------
 * Tasks left across block_on calls, and shutdown with pending tasks
 * --------------------------------------------------------------------- */
static ar_notify ct_park, ct_reg, ct_fin;
static _Atomic int park_drops, park_registered, park_finished_idx = -1, yield_drops,
                                                   queued_ran, queued_drops;

enum { CT_PARKERS = 20, CT_YIELDERS = 3, CT_QUEUED = 30 };
static ar_join ct_hp[CT_PARKERS], ct_hy[CT_YIELDERS], ct_hq[CT_QUEUED];

typedef struct parker {
    ar_co co;
    ar_notified w;
    int idx;
} parker;

static ar_poll parker_poll(void *self, ar_cx *cx)
{
    parker *p = self;
    AR_BEGIN(&p->co);
    ar_notified_init(&p->w, &ct_park);
    AR_AWAIT(ar_notified_poll(&p->w, cx)); /* registers on the first poll */
    atomic_store(&park_finished_idx, p->idx);
    ar_notify_one(&ct_fin);
    AR_END;
}

/* Counts registrations: wrapped around parker_poll's first poll. */
static ar_poll parker_poll_counting(void *self, ar_cx *cx)
{
    parker *p = self;
    bool first = p->co.line == 0;
    ar_poll r = parker_poll(self, cx);
    if (first && r == AR_PENDING &&
        atomic_fetch_add(&park_registered, 1) + 1 == CT_PARKERS)
        ar_notify_one(&ct_reg);
    return r;
}

static void parker_drop(void *self)
{
    ar_notified_drop(&((parker *)self)->w);
    atomic_fetch_add(&park_drops, 1);
}

static const ar_future_vt parker_vt = AR_FUTURE_VT_VOID(parker, parker_poll_counting, parker_drop);

typedef struct yielder {
    int unused;
} yielder;

static ar_poll yielder_poll(void *self, ar_cx *cx)
{
    (void)self;
    ar_waker_wake_by_ref(cx->waker);
    return AR_PENDING;
}

static void yielder_drop(void *self)
{
    (void)self;
    atomic_fetch_add(&yield_drops, 1);
}

static const ar_future_vt yielder_vt = AR_FUTURE_VT_VOID(yielder, yielder_poll, yielder_drop);

typedef struct queued {
    int unused;
} queued;

static ar_poll queued_poll(void *self, ar_cx *cx)
{
    (void)self;
    (void)cx;
    atomic_fetch_add(&queued_ran, 1);
    return AR_READY;
}

static void queued_drop(void *self)
{
    (void)self;
    atomic_fetch_add(&queued_drops, 1);
}

static const ar_future_vt queued_vt = AR_FUTURE_VT_VOID(queued, queued_poll, queued_drop);

/* Spawns parkers and yielders, waits until every parker waits, spawns a
 * few more tasks and returns (leaving them queued). */
typedef struct setup_fut {
    ar_co co;
    ar_notified w;
    int i;
} setup_fut;

static ar_poll setup_poll(void *self, ar_cx *cx)
{
    setup_fut *s = self;
    AR_BEGIN(&s->co);
    for (s->i = 0; s->i < CT_PARKERS; s->i++) {
        parker p = {.idx = s->i};
        T_BG_EQ(ar_spawn(NULL, &parker_vt, &p, &ct_hp[s->i]), 0);
    }
    for (s->i = 0; s->i < CT_YIELDERS; s->i++) {
        yielder y = {0};
        T_BG_EQ(ar_spawn(NULL, &yielder_vt, &y, &ct_hy[s->i]), 0);
    }
    ar_notified_init(&s->w, &ct_reg);
    AR_AWAIT(ar_notified_poll(&s->w, cx));
    for (s->i = 0; s->i < CT_QUEUED / 2; s->i++) {
        queued q = {0};
        T_BG_EQ(ar_spawn(NULL, &queued_vt, &q, &ct_hq[s->i]), 0);
    }
    AR_END;
}

static const ar_future_vt setup_vt = AR_FUTURE_VT_VOID(setup_fut, setup_poll, NULL);

/* Wakes one parker and waits until it finished: tasks left pending by an
 * earlier block_on go on in the next one. */
typedef struct wake_one_fut {
    ar_co co;
    ar_notified w;
} wake_one_fut;

static ar_poll wake_one_poll(void *self, ar_cx *cx)
{
    wake_one_fut *f = self;
    AR_BEGIN(&f->co);
    ar_notify_one(&ct_park);
    ar_notified_init(&f->w, &ct_fin);
    AR_AWAIT(ar_notified_poll(&f->w, cx));
    AR_END;
}

static const ar_future_vt wake_one_vt = AR_FUTURE_VT_VOID(wake_one_fut, wake_one_poll, NULL);

Test(current_thread, shutdown_with_pending_tasks, .timeout = 20)
{
    ar_rt *rt = ct_new();
    T_OK(ar_notify_init(&ct_park));
    T_OK(ar_notify_init(&ct_reg));
    T_OK(ar_notify_init(&ct_fin));
    setup_fut s = {0};
    T_OK(ar_block_on(rt, &setup_vt, &s));
    T_EQ_INT(ar_notify_waiters(&ct_park), CT_PARKERS);
    wake_one_fut w = {0};
    T_OK(ar_block_on(rt, &wake_one_vt, &w));
    int fin = atomic_load(&park_finished_idx);
    cr_assert(t_is(fin >= 0 && fin < CT_PARKERS), "finished parker %d", fin);
    T_EQ_INT(ar_notify_waiters(&ct_park), CT_PARKERS - 1);
    /* More from this thread: queued, never polled. */
    for (int i = CT_QUEUED / 2; i < CT_QUEUED; i++) {
        queued q = {0};
        T_OK(ar_spawn(rt, &queued_vt, &q, &ct_hq[i]));
    }
    int ran_before = atomic_load(&queued_ran);
    T_OK(ar_rt_shutdown(rt));
    T_EQ_INT(atomic_load(&park_drops), CT_PARKERS - 1);
    T_EQ_INT(atomic_load(&yield_drops), CT_YIELDERS);
    T_EQ_INT(atomic_load(&queued_ran), ran_before);
    T_EQ_INT(atomic_load(&queued_ran) + atomic_load(&queued_drops), CT_QUEUED);
    cr_assert(t_is(atomic_load(&queued_drops) >= CT_QUEUED / 2));
    for (int i = 0; i < CT_PARKERS; i++)
        T_EQ_INT(ar_join_wait(&ct_hp[i], NULL, 0), i == fin ? 0 : -ECANCELED);
    for (int i = 0; i < CT_YIELDERS; i++)
        T_EQ_INT(ar_join_wait(&ct_hy[i], NULL, 0), -ECANCELED);
    int cancelled = 0;
    for (int i = 0; i < CT_QUEUED; i++) {
        int rc = ar_join_wait(&ct_hq[i], NULL, 0);
        cr_assert(t_is(rc == 0 || rc == -ECANCELED), "%d: %s", i, ar_strerror(rc));
        cancelled += rc == -ECANCELED;
    }
    T_EQ_INT(cancelled, atomic_load(&queued_drops));
    T_EQ_INT(ar_notify_waiters(&ct_park), 0);
    T_OK(ar_notify_destroy(&ct_park));
    T_OK(ar_notify_destroy(&ct_reg));
    T_OK(ar_notify_destroy(&ct_fin));
    wait_done f = {0};
    T_EQ_INT(ar_block_on(rt, &wait_done_vt, &f), -ESHUTDOWN);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* Shut down from another thread while a block_on waits: block_on returns
 * (with an error: its future did not finish) instead of hanging. */
static void *shutdown_later(void *arg)
{
    t_sleep_ms(30);
    T_BG_EQ(ar_rt_shutdown(arg), 0);
    return NULL;
}

Test(current_thread, shutdown_from_other_thread_ends_block_on, .timeout = 20)
{
    ar_rt *rt = ct_new();
    recv_fut r = {0};
    ar_oneshot_tx tx;
    T_OK(ar_oneshot_new(&tx, &r.rx, sizeof(int)));
    pthread_t th = t_thread(shutdown_later, rt);
    int rc = ar_block_on(rt, &recv_fut_vt, &r);
    pthread_join(th, NULL);
    cr_assert(t_is(rc == -ECANCELED || rc == -ESHUTDOWN), "block_on returned %d (%s)", rc,
              ar_strerror(rc));
    cr_assert(t_is(!ar_co_done(&r.co)));
    ar_oneshot_rx_drop(&r.rx); /* the caller drops its unfinished future */
    T_EQ_INT(ar_oneshot_send(&tx, &rc), -EPIPE);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* ------------------------------------------------------------------------
 * Calls that would block the only thread, from inside
 * --------------------------------------------------------------------- */
typedef struct inside_fut {
    ar_rt *rt;
} inside_fut;

static ar_poll inside_poll(void *self, ar_cx *cx)
{
    (void)cx;
    inside_fut *f = self;
    notifier nested = {0};
    T_BG_EQ(ar_block_on(f->rt, &notifier_vt, &nested), -EDEADLK);
    T_BG_EQ(ar_rt_shutdown(f->rt), -EDEADLK);
    ar_rt_free(f->rt); /* refused: a no-op from inside */
    T_BG_CHECK(ar_rt_current() == f->rt);
    return AR_READY;
}

static const ar_future_vt inside_vt = AR_FUTURE_VT_VOID(inside_fut, inside_poll, NULL);

Test(current_thread, blocking_calls_from_inside_are_edeadlk, .timeout = 20)
{
    ar_rt *rt = ct_new();
    inside_fut f = {rt};
    T_OK(ar_block_on(rt, &inside_vt, &f)); /* as the main future */
    ar_join h;
    T_OK(ar_spawn(rt, &inside_vt, &f, &h)); /* and as a task */
    join_all j = {.h = {&h}, .n = 1};
    T_OK(ar_block_on(rt, &join_all_vt, &j));
    T_OK(j.rcs[0]);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* The two flavours agree: a current-thread runtime also takes workers = 1,
 * and refuses more. */
Test(current_thread, worker_count_option, .timeout = 20)
{
    ar_rt *rt = t_rt_new(AR_RT_CURRENT_THREAD, 1);
    T_EQ_INT(ar_rt_workers(rt), 0);
    main_fut m = {0};
    ct_rt = rt;
    ct_main_thread = pthread_self();
    T_OK(ar_block_on(rt, &main_vt, &m));
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.flavor = AR_RT_CURRENT_THREAD;
    o.workers = 2;
    ar_rt *bad = (ar_rt *)0x1;
    T_EQ_INT(ar_rt_new(&bad, &o), -EINVAL);
    cr_assert(eq(ptr, bad, NULL));
}
