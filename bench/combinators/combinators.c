/*
 * bench/combinators/combinators.c - cost of the combinators, task sets and
 * the blocking pool (issue 6).  Output in bench_common.h's format, one line
 * per measured iteration:
 *   join_all8     ns per ar_join_all of 8 ready children (init + poll)
 *   select8       ns per ar_select of 8 children, the last one ready
 *                 (init + poll, 7 losers dropped)
 *   task_set      ns per task: spawn 1,000 tasks into a set from a task and
 *                 take every output with ar_task_set_next_poll
 *   blocking_rtt  ns per job: a task runs 1,000 blocking jobs one after the
 *                 other (spawn, the pool thread runs it, the task is woken)
 *   blocking_par  ns per job: 1,000 jobs in flight at once from one task,
 *                 pool capped at 4 threads
 * Usage: bench_combinators [--threads N] [--iters K] [--warmup W]
 */
#include "../bench_common.h"

/* ------------------------------------------------------------------------
 * Hand-polled combinators
 * --------------------------------------------------------------------- */
typedef struct ready_fut {
    int v, out;
} ready_fut;
static ar_poll ready_poll(void *p, ar_cx *cx)
{
    (void)cx;
    ready_fut *r = p;
    r->out = r->v;
    return AR_READY;
}
typedef struct never_fut {
    int dropped;
    int out;
} never_fut;
static ar_poll never_poll(void *p, ar_cx *cx)
{
    (void)p;
    (void)cx;
    return AR_PENDING;
}
static void never_drop(void *p) { ((never_fut *)p)->dropped++; }
static const ar_future_vt ready_vt = AR_FUTURE_VT(ready_fut, ready_poll, NULL, out);
static const ar_future_vt never_vt = AR_FUTURE_VT(never_fut, never_poll, never_drop, out);

#define HAND_N 1000000

static double bench_join_all(void)
{
    static ready_fut r[8];
    static ar_child kids[8];
    ar_cx cx = {0};
    long sum = 0;
    double t0 = bench_now_ns();
    for (int n = 0; n < HAND_N; n++) {
        for (int i = 0; i < 8; i++) {
            r[i].v = i;
            kids[i] = AR_CHILD(&ready_vt, &r[i]);
        }
        ar_join_all j;
        BENCH_CHECK(ar_join_all_init(&j, kids, 8));
        if (ar_join_all_poll(&j, &cx) != AR_READY)
            abort();
        sum += r[7].out;
    }
    double t1 = bench_now_ns();
    if (sum != 7L * HAND_N)
        abort();
    return (t1 - t0) / HAND_N;
}

static double bench_select(void)
{
    static never_fut nv[7];
    static ready_fut r;
    static ar_child kids[8];
    ar_cx cx = {0};
    nv[0].dropped = 0;
    double t0 = bench_now_ns();
    for (int n = 0; n < HAND_N; n++) {
        for (int i = 0; i < 7; i++)
            kids[i] = AR_CHILD(&never_vt, &nv[i]);
        kids[7] = AR_CHILD(&ready_vt, &r);
        ar_select s;
        BENCH_CHECK(ar_select_init(&s, kids, 8));
        if (ar_select_poll(&s, &cx) != AR_READY || s.out != 7)
            abort();
    }
    double t1 = bench_now_ns();
    if (nv[0].dropped != HAND_N)
        abort();
    return (t1 - t0) / HAND_N;
}

/* ------------------------------------------------------------------------
 * Task set from a task
 * --------------------------------------------------------------------- */
#define SET_N 1000
typedef struct calc {
    int in, out;
} calc;
static ar_poll calc_poll(void *p, ar_cx *cx)
{
    (void)cx;
    calc *c = p;
    c->out = c->in + 1;
    return AR_READY;
}
static const ar_future_vt calc_vt = AR_FUTURE_VT(calc, calc_poll, NULL, out);

typedef struct set_root {
    ar_co co;
    ar_task_set set;
    int i, v, res;
    long sum;
} set_root;
static ar_poll set_root_poll(void *p, ar_cx *cx)
{
    set_root *self = p;
    AR_BEGIN(&self->co);
    BENCH_CHECK(ar_task_set_init(&self->set, NULL, sizeof(int)));
    for (self->i = 0; self->i < SET_N; self->i++) {
        calc c = {.in = self->i};
        BENCH_CHECK(ar_task_set_spawn(&self->set, &calc_vt, &c, NULL));
    }
    for (;;) {
        AR_AWAIT(ar_task_set_next_poll(&self->set, cx, &self->v, sizeof self->v, NULL,
                                       &self->res));
        if (self->res == -ENOENT)
            break;
        BENCH_CHECK(self->res);
        self->sum += self->v;
    }
    ar_task_set_drop(&self->set);
    AR_END;
}
static const ar_future_vt set_root_vt = AR_FUTURE_VT_VOID(set_root, set_root_poll, NULL);

/* ------------------------------------------------------------------------
 * Blocking pool
 * --------------------------------------------------------------------- */
#define JOBS 1000
static void *add_one(void *arg) { return (void *)((intptr_t)arg + 1); }

typedef struct rtt_root {
    ar_co co;
    int i;
    ar_blocking b;
} rtt_root;
static ar_poll rtt_root_poll(void *p, ar_cx *cx)
{
    rtt_root *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < JOBS; self->i++) {
        BENCH_CHECK(ar_spawn_blocking(NULL, add_one, (void *)(intptr_t)self->i, &self->b));
        AR_AWAIT(ar_blocking_poll(&self->b, cx));
        if ((intptr_t)self->b.out.value != self->i + 1)
            abort();
    }
    AR_END;
}
static const ar_future_vt rtt_root_vt = AR_FUTURE_VT_VOID(rtt_root, rtt_root_poll, NULL);

typedef struct par_root {
    ar_co co;
    int i;
    ar_blocking b[JOBS];
} par_root;
static ar_poll par_root_poll(void *p, ar_cx *cx)
{
    par_root *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < JOBS; self->i++)
        BENCH_CHECK(ar_spawn_blocking(NULL, add_one, (void *)(intptr_t)self->i, &self->b[self->i]));
    for (self->i = 0; self->i < JOBS; self->i++) {
        AR_AWAIT(ar_blocking_poll(&self->b[self->i], cx));
        if ((intptr_t)self->b[self->i].out.value != self->i + 1)
            abort();
    }
    AR_END;
}
static const ar_future_vt par_root_vt = AR_FUTURE_VT_VOID(par_root, par_root_poll, NULL);

static double run_root(ar_rt *rt, const ar_future_vt *vt, void *fut, size_t size, int per)
{
    memset(fut, 0, size);
    ar_join h;
    double t0 = bench_now_ns();
    BENCH_CHECK(ar_spawn(rt, vt, fut, &h));
    BENCH_CHECK(ar_join_wait(&h, NULL, 0));
    return (bench_now_ns() - t0) / per;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 20);
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = a.threads;
    o.max_blocking_threads = 4;
    ar_rt *rt;
    BENCH_CHECK(ar_rt_new(&rt, &o));
    static set_root sr;
    static rtt_root rr;
    static par_root pr;
    for (unsigned i = 0; i < a.warmup + a.iters; i++) {
        double j = bench_join_all(), s = bench_select();
        double ts = run_root(rt, &set_root_vt, &sr, sizeof sr, SET_N);
        double rtt = run_root(rt, &rtt_root_vt, &rr, sizeof rr, JOBS);
        double par = run_root(rt, &par_root_vt, &pr, sizeof pr, JOBS);
        if (i < a.warmup)
            continue;
        bench_print("join_all8", a.threads, j, "ns/join");
        bench_print("select8", a.threads, s, "ns/select");
        bench_print("task_set", a.threads, ts, "ns/task");
        bench_print("blocking_rtt", a.threads, rtt, "ns/job");
        bench_print("blocking_par", a.threads, par, "ns/job");
    }
    ar_rt_free(rt);
    return 0;
}
