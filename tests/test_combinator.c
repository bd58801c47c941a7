/*
 * tests/test_combinator.c - ar_join_all and ar_select: outputs, polling
 * only unfinished children, select's losers dropped exactly once, biased
 * order, cancellation after every poll, bad input, and composition with
 * ar_timeout, ar_sleep, each other and spawn.
 */
#include "helpers.h"

#include <asyncrt/combinator.h>

/* ------------------------------------------------------------------------
 * A child polled by hand: pending `left` times (waking itself), then ready
 * with out = val.  Counts polls, drops and released outputs.
 * --------------------------------------------------------------------- */
typedef struct step {
    int left;
    int val;
    int out;
    int polls;
    _Atomic int *drops;
    _Atomic int *out_drops;
} step;

static ar_poll step_poll(void *p, ar_cx *cx)
{
    step *s = p;
    s->polls++;
    if (s->left > 0) {
        s->left--;
        ar_waker_wake_by_ref(cx->waker);
        return AR_PENDING;
    }
    s->out = s->val;
    return AR_READY;
}
static void step_drop(void *p)
{
    step *s = p;
    if (s->drops)
        atomic_fetch_add(s->drops, 1);
}
static void step_drop_out(void *out)
{
    /* out points at step.out; the step is reached back from it. */
    step *s = (step *)((char *)out - offsetof(step, out));
    if (s->out_drops)
        atomic_fetch_add(s->out_drops, 1);
}
static const ar_future_vt step_vt = AR_FUTURE_VT(step, step_poll, step_drop, out);
static const ar_future_vt step_owned_vt =
    AR_FUTURE_VT_OWNED(step, step_poll, step_drop, out, step_drop_out);

enum { NK = 4 };
static const int lefts[NK] = {0, 3, 1, 5};

typedef struct kit {
    step s[NK];
    _Atomic int drops[NK];
    _Atomic int out_drops[NK];
    ar_child kids[NK];
} kit;

static void kit_init(kit *k, const ar_future_vt *vt)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < NK; i++) {
        k->s[i] = (step){.left = lefts[i], .val = 100 + i, .drops = &k->drops[i],
                         .out_drops = &k->out_drops[i]};
        k->kids[i] = AR_CHILD(vt, &k->s[i]);
    }
}

Test(join_all, all_outputs_and_each_child_polled_until_ready_only)
{
    kit k;
    kit_init(&k, &step_vt);
    ar_join_all j;
    T_OK(ar_join_all_init(&j, k.kids, NK));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int polls = 0;
    while (ar_join_all_poll(&j, &cx) == AR_PENDING)
        polls++;
    T_EQ_INT(polls, 5); /* the slowest child is pending 5 times */
    T_EQ_INT(j.out, 0);
    for (int i = 0; i < NK; i++) {
        T_EQ_INT(k.s[i].out, 100 + i);
        T_EQ_INT(k.s[i].polls, lefts[i] + 1); /* never polled after ready */
        cr_assert(t_is(ar_child_ready(&k.kids[i])));
        T_EQ_INT(atomic_load(&k.drops[i]), 0);
    }
    /* Ready again without polling anything; dropping after completion
     * drops nothing. */
    cr_assert(eq(int, ar_join_all_poll(&j, &cx), AR_READY));
    ar_join_all_drop(&j);
    for (int i = 0; i < NK; i++) {
        T_EQ_INT(k.s[i].polls, lefts[i] + 1);
        T_EQ_INT(atomic_load(&k.drops[i]), 0);
    }
}

Test(join_all, empty_join_is_ready_at_once)
{
    ar_join_all j;
    T_OK(ar_join_all_init(&j, NULL, 0));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_join_all_poll(&j, &cx), AR_READY));
    T_EQ_INT(j.out, 0);
    T_EQ_INT(atomic_load(&w.wakes), 0);
}

/* Cancellation at every await point: drop after k polls, for every k. */
Test(join_all, drop_after_every_poll_drops_each_pending_child_once)
{
    for (int k = 0; k <= 5; k++) {
        kit kt;
        kit_init(&kt, &step_owned_vt);
        ar_join_all j;
        T_OK(ar_join_all_init(&j, kt.kids, NK));
        t_waker w;
        t_waker_init(&w);
        ar_cx cx = t_cx(&w);
        for (int p = 0; p < k; p++)
            cr_assert(eq(int, ar_join_all_poll(&j, &cx), AR_PENDING));
        ar_join_all_drop(&j);
        ar_join_all_drop(&j); /* idempotent */
        for (int i = 0; i < NK; i++) {
            bool ready = k > lefts[i];
            T_EQ_INT(atomic_load(&kt.drops[i]), ready ? 0 : 1);
            /* A finished child's output nobody will read is released. */
            T_EQ_INT(atomic_load(&kt.out_drops[i]), ready ? 1 : 0);
        }
    }
}

Test(join_all, bad_input_is_refused_and_owns_nothing)
{
    step s = {0};
    _Atomic int drops = 0;
    s.drops = &drops;
    ar_child good = AR_CHILD(&step_vt, &s);
    ar_child no_vt = AR_CHILD(NULL, &s);
    ar_child no_fut = AR_CHILD(&step_vt, NULL);
    ar_future_vt no_poll_vt = step_vt;
    no_poll_vt.poll = NULL;
    ar_child no_poll = AR_CHILD(&no_poll_vt, &s);
    ar_join_all j;
    T_EQ_INT(ar_join_all_init(NULL, &good, 1), -EINVAL);
    T_EQ_INT(ar_join_all_init(&j, NULL, 1), -EINVAL);
    T_EQ_INT(ar_join_all_init(&j, &good, AR_COMBINATOR_MAX + 1), -EINVAL);
    ar_child bad[3][2] = {{good, no_vt}, {good, no_fut}, {no_poll, good}};
    for (int b = 0; b < 3; b++) {
        T_EQ_INT(ar_join_all_init(&j, bad[b], 2), -EINVAL);
        t_waker w;
        t_waker_init(&w);
        ar_cx cx = t_cx(&w);
        cr_assert(eq(int, ar_join_all_poll(&j, &cx), AR_READY));
        T_EQ_INT(j.out, -EINVAL);
        ar_join_all_drop(&j);
    }
    ar_join_all_drop(NULL);
    T_EQ_INT(atomic_load(&drops), 0); /* nothing was taken, nothing dropped */
    T_EQ_INT(s.polls, 0);
}

Test(select, first_ready_wins_and_losers_are_dropped_once)
{
    kit k;
    kit_init(&k, &step_vt);
    /* lefts {0,3,1,5}: child 0 is ready at once; start from child 1. */
    ar_select s;
    T_OK(ar_select_init(&s, k.kids + 1, NK - 1));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int polls = 0;
    while (ar_select_poll(&s, &cx) == AR_PENDING)
        polls++;
    T_EQ_INT(polls, 1);
    T_EQ_INT(s.out, 1); /* kids+1 index 1 = step 2 (left 1) */
    T_EQ_INT(k.s[2].out, 102);
    T_EQ_INT(atomic_load(&k.drops[1]), 1);
    T_EQ_INT(atomic_load(&k.drops[2]), 0);
    T_EQ_INT(atomic_load(&k.drops[3]), 1);
    /* After completion: ready again, drops nothing more. */
    cr_assert(eq(int, ar_select_poll(&s, &cx), AR_READY));
    ar_select_drop(&s);
    T_EQ_INT(atomic_load(&k.drops[1]), 1);
    T_EQ_INT(atomic_load(&k.drops[3]), 1);
    T_EQ_INT(atomic_load(&k.drops[0]), 0); /* not in this select */
}

Test(select, biased_lowest_index_wins_and_unpolled_losers_are_dropped)
{
    kit k;
    kit_init(&k, &step_vt);
    k.s[3].left = 0; /* children 0 and 3 both ready at the first poll */
    ar_select s;
    T_OK(ar_select_init(&s, k.kids, NK));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_select_poll(&s, &cx), AR_READY));
    T_EQ_INT(s.out, 0);
    for (int i = 1; i < NK; i++) {
        T_EQ_INT(k.s[i].polls, 0);             /* never polled... */
        T_EQ_INT(atomic_load(&k.drops[i]), 1); /* ...but dropped once */
    }
    T_EQ_INT(atomic_load(&k.drops[0]), 0);
}

Test(select, drop_after_every_poll_drops_each_child_once)
{
    /* lefts 3, 1, 5: the select is pending at its first poll and ready
     * at its second, so it can be dropped after 0 or 1 polls. */
    for (int k = 0; k <= 1; k++) {
        kit kt;
        kit_init(&kt, &step_vt);
        ar_select s;
        T_OK(ar_select_init(&s, kt.kids + 1, NK - 1));
        t_waker w;
        t_waker_init(&w);
        ar_cx cx = t_cx(&w);
        for (int p = 0; p < k; p++)
            cr_assert(eq(int, ar_select_poll(&s, &cx), AR_PENDING));
        ar_select_drop(&s);
        ar_select_drop(&s);
        for (int i = 1; i < NK; i++)
            T_EQ_INT(atomic_load(&kt.drops[i]), 1);
    }
}

Test(select, bad_input)
{
    ar_select s;
    T_EQ_INT(ar_select_init(&s, NULL, 0), -EINVAL);
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_select_poll(&s, &cx), AR_READY));
    T_EQ_INT(s.out, -EINVAL);
    ar_select_drop(&s);
    T_EQ_INT(ar_select_init(NULL, NULL, 1), -EINVAL);
    T_EQ_INT(ar_select_init(&s, NULL, 2), -EINVAL);
    ar_child c = AR_CHILD(&step_vt, NULL);
    T_EQ_INT(ar_select_init(&s, &c, 1), -EINVAL);
    ar_select_drop(NULL);
    cr_assert(eq(int, ar_select_poll(NULL, &cx), AR_READY));
}

/* A NULL cx polls no child and reports -EINVAL; the combinator goes on. */
Test(combinator, null_cx_polls_nothing)
{
    kit k;
    kit_init(&k, &step_vt);
    ar_join_all j;
    T_OK(ar_join_all_init(&j, k.kids, NK));
    cr_assert(eq(int, ar_join_all_poll(&j, NULL), AR_READY));
    T_EQ_INT(j.out, -EINVAL);
    ar_select s;
    T_OK(ar_select_init(&s, k.kids, NK));
    cr_assert(eq(int, ar_select_poll(&s, NULL), AR_READY));
    T_EQ_INT(s.out, -EINVAL);
    for (int i = 0; i < NK; i++)
        T_EQ_INT(k.s[i].polls, 0);
    cr_assert(eq(int, ar_join_all_poll(NULL, NULL), AR_READY));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    while (ar_join_all_poll(&j, &cx) == AR_PENDING) {
    }
    T_EQ_INT(j.out, 0);
    T_EQ_INT(k.s[3].out, 103);
}

/* ------------------------------------------------------------------------
 * On a runtime: children that sleep, under ar_timeout and in selects.
 * --------------------------------------------------------------------- */
typedef struct napper {
    ar_sleep s;
    uint64_t ms;
    int started;
    int val;
    int out;
    _Atomic int *drops;
} napper;

static ar_poll napper_poll(void *p, ar_cx *cx)
{
    napper *n = p;
    if (!n->started) {
        ar_sleep_init(&n->s, n->ms);
        __atomic_store_n(&n->started, 1, __ATOMIC_RELEASE);
    }
    if (ar_sleep_poll(&n->s, cx) == AR_PENDING)
        return AR_PENDING;
    n->out = n->val;
    return AR_READY;
}
static void napper_drop(void *p)
{
    napper *n = p;
    if (n->started)
        ar_sleep_drop(&n->s);
    atomic_fetch_add(n->drops, 1);
}
static const ar_future_vt napper_vt = AR_FUTURE_VT(napper, napper_poll, napper_drop, out);

/* timeout(join_all(a, b), ms) */
typedef struct tj {
    ar_co co;
    napper a, b;
    ar_child kids[2];
    ar_join_all j;
    ar_timeout to;
    int res;
} tj;

static ar_poll tj_poll(void *p, ar_cx *cx)
{
    tj *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(ar_timeout_poll(&self->to, cx));
    self->res = self->to.res;
    AR_END;
}
static const ar_future_vt tj_vt = AR_FUTURE_VT_VOID(tj, tj_poll, NULL);

static void tj_init(tj *t, _Atomic int *drops, uint64_t ms_a, uint64_t ms_b, uint64_t limit)
{
    memset(t, 0, sizeof *t);
    t->a = (napper){.ms = ms_a, .val = 1, .drops = drops};
    t->b = (napper){.ms = ms_b, .val = 2, .drops = drops};
    t->kids[0] = AR_CHILD(&napper_vt, &t->a);
    t->kids[1] = AR_CHILD(&napper_vt, &t->b);
    T_OK(ar_join_all_init(&t->j, t->kids, 2));
    ar_timeout_init(&t->to, &ar_join_all_vt, &t->j, limit);
}

Test(combinator, timeout_of_join_all_drops_every_child_once, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static tj t;
    tj_init(&t, &drops, 10, 5000, 50);
    double t0 = t_now_s();
    T_OK(ar_block_on(rt, &tj_vt, &t));
    T_EQ_INT(t.res, -ETIMEDOUT);
    cr_assert_lt(t_now_s() - t0, 3.0, "the timeout did not cut the 5 s child short");
    /* a finished (its output is in it), b was pending: dropped once. */
    T_EQ_INT(t.a.out, 1);
    T_EQ_INT(atomic_load(&drops), 1);
    ar_rt_free(rt);
}

Test(combinator, join_all_within_its_timeout_gives_all_outputs, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static tj t;
    tj_init(&t, &drops, 10, 20, 5000);
    T_OK(ar_block_on(rt, &tj_vt, &t));
    T_EQ_INT(t.res, 0);
    T_EQ_INT(t.j.out, 0);
    T_EQ_INT(t.a.out, 1);
    T_EQ_INT(t.b.out, 2);
    T_EQ_INT(atomic_load(&drops), 0);
    ar_rt_free(rt);
}

/* select(slow, ar_sleep) and select(join_all(...), sleep) */
typedef struct ts {
    ar_co co;
    napper slow, fast;
    ar_sleep deadline;
    ar_child inner[2];
    ar_join_all j;
    ar_child race[2];
    ar_select sel;
    int winner;
} ts;

static ar_poll ts_poll(void *p, ar_cx *cx)
{
    ts *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(ar_select_poll(&self->sel, cx));
    self->winner = self->sel.out;
    AR_END;
}
static void ts_drop(void *p) { ar_select_drop(&((ts *)p)->sel); }
static const ar_future_vt ts_vt = AR_FUTURE_VT_VOID(ts, ts_poll, ts_drop);

Test(combinator, select_against_a_sleep_drops_the_slow_branch, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static ts t;
    memset(&t, 0, sizeof t);
    t.slow = (napper){.ms = 10000, .val = 7, .drops = &drops};
    ar_sleep_init(&t.deadline, 30);
    t.race[0] = AR_CHILD(&napper_vt, &t.slow);
    t.race[1] = AR_CHILD(&ar_sleep_vt, &t.deadline);
    T_OK(ar_select_init(&t.sel, t.race, 2));
    double t0 = t_now_s();
    T_OK(ar_block_on(rt, &ts_vt, &t));
    T_EQ_INT(t.winner, 1);
    T_EQ_INT(atomic_load(&drops), 1);
    T_EQ_INT(t.slow.out, 0);
    cr_assert_lt(t_now_s() - t0, 5.0);
    ar_rt_free(rt);
}

Test(combinator, select_of_a_join_all_and_a_sleep, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static ts t;
    memset(&t, 0, sizeof t);
    t.slow = (napper){.ms = 20, .val = 7, .drops = &drops};
    t.fast = (napper){.ms = 5, .val = 8, .drops = &drops};
    ar_sleep_init(&t.deadline, 10000);
    t.inner[0] = AR_CHILD(&napper_vt, &t.slow);
    t.inner[1] = AR_CHILD(&napper_vt, &t.fast);
    T_OK(ar_join_all_init(&t.j, t.inner, 2));
    t.race[0] = AR_CHILD(&ar_join_all_vt, &t.j);
    t.race[1] = AR_CHILD(&ar_sleep_vt, &t.deadline);
    T_OK(ar_select_init(&t.sel, t.race, 2));
    T_OK(ar_block_on(rt, &ts_vt, &t));
    T_EQ_INT(t.winner, 0);
    T_EQ_INT(t.slow.out, 7);
    T_EQ_INT(t.fast.out, 8);
    T_EQ_INT(atomic_load(&drops), 0);
    /* The losing sleep was dropped: its timer left the wheel. */
    uint64_t left = 0;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        left += atomic_load(&rt->workers[i].wheel.count);
    T_EQ_INT(left, 0);
    ar_rt_free(rt);
}

/* Dropping a select inside a task (abort) drops its children once. */
Test(combinator, aborting_a_task_running_a_select_drops_children_once, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static napper slow, fast;
    slow = (napper){.ms = 10000, .val = 7, .drops = &drops};
    fast = (napper){.ms = 10000, .val = 8, .drops = &drops};
    /* The task holds a copy of the select; the children it points to stay
     * in static storage. */
    static ar_child race[2];
    race[0] = AR_CHILD(&napper_vt, &slow);
    race[1] = AR_CHILD(&napper_vt, &fast);
    ar_select sel;
    T_OK(ar_select_init(&sel, race, 2));
    ar_join h;
    T_OK(ar_spawn(rt, &ar_select_vt, &sel, &h));
    T_WAIT_UNTIL(__atomic_load_n(&slow.started, __ATOMIC_ACQUIRE) &&
                 __atomic_load_n(&fast.started, __ATOMIC_ACQUIRE));
    T_OK(ar_join_abort(&h));
    int out = 0;
    T_EQ_INT(ar_join_wait(&h, &out, sizeof out), -ECANCELED);
    T_EQ_INT(atomic_load(&drops), 2);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&drops), 2);
}

Test(combinator, join_all_spawned_as_a_task_reports_its_output, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static napper n[3];
    static ar_child kids[3];
    for (int i = 0; i < 3; i++) {
        n[i] = (napper){.ms = (uint64_t)(5 * i), .val = 10 * i, .drops = &drops};
        kids[i] = AR_CHILD(&napper_vt, &n[i]);
    }
    ar_join_all j;
    T_OK(ar_join_all_init(&j, kids, 3));
    ar_join h;
    T_OK(ar_spawn(rt, &ar_join_all_vt, &j, &h));
    int out = -1;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 0);
    for (int i = 0; i < 3; i++)
        T_EQ_INT(n[i].out, 10 * i);
    T_EQ_INT(atomic_load(&drops), 0);
    ar_rt_free(rt);
}

/* timeout(select(a, b)): both branches dropped once at the deadline. */
typedef struct tsel {
    ar_co co;
    napper a, b;
    ar_child kids[2];
    ar_select sel;
    ar_timeout to;
    int res;
} tsel;

static ar_poll tsel_poll(void *p, ar_cx *cx)
{
    tsel *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(ar_timeout_poll(&self->to, cx));
    self->res = self->to.res;
    AR_END;
}
static const ar_future_vt tsel_vt = AR_FUTURE_VT_VOID(tsel, tsel_poll, NULL);

Test(combinator, timeout_of_select_drops_both_branches_once, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int drops = 0;
    static tsel t;
    memset(&t, 0, sizeof t);
    t.a = (napper){.ms = 10000, .val = 1, .drops = &drops};
    t.b = (napper){.ms = 20000, .val = 2, .drops = &drops};
    t.kids[0] = AR_CHILD(&napper_vt, &t.a);
    t.kids[1] = AR_CHILD(&napper_vt, &t.b);
    T_OK(ar_select_init(&t.sel, t.kids, 2));
    ar_timeout_init(&t.to, &ar_select_vt, &t.sel, 30);
    T_OK(ar_block_on(rt, &tsel_vt, &t));
    T_EQ_INT(t.res, -ETIMEDOUT);
    T_EQ_INT(atomic_load(&drops), 2);
    /* Dropping the finished timeout again drops nothing more. */
    ar_timeout_drop(&t.to);
    T_EQ_INT(atomic_load(&drops), 2);
    ar_rt_free(rt);
}
