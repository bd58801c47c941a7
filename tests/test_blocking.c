/*
 * tests/test_blocking.c - the blocking pool: results, growth to the cap,
 * reuse and idle exit, workers kept free while jobs block, cancellation
 * before and during a job (release runs once), timeout composition,
 * shutdown with queued jobs and with a job that never returns, bad input.
 */
#include "helpers.h"

#include <asyncrt/blocking.h>

#include "alloc.h"

static ar_rt *rt_pool(uint32_t workers, uint32_t cap, uint32_t keep_ms, uint32_t shut_ms)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = workers;
    o.max_blocking_threads = cap;
    o.blocking_keep_alive_ms = keep_ms;
    o.blocking_shutdown_timeout_ms = shut_ms;
    ar_rt *rt = NULL;
    T_OK(ar_rt_new(&rt, &o));
    return rt;
}

static uint32_t pool_threads(ar_rt *rt)
{
    uint32_t n = 0;
    T_OK(ar_blocking_stats(rt, &n, NULL, NULL));
    return n;
}

static uint32_t pool_idle(ar_rt *rt)
{
    uint32_t n = 0;
    T_OK(ar_blocking_stats(rt, NULL, &n, NULL));
    return n;
}

static uint32_t pool_queued(ar_rt *rt)
{
    uint32_t n = 0;
    T_OK(ar_blocking_stats(rt, NULL, NULL, &n));
    return n;
}

/* ------------------------------------------------------------------------
 * Jobs
 * --------------------------------------------------------------------- */
static void *add_one(void *arg) { return (void *)((intptr_t)arg + 1); }

/* A job that waits on a gate, counting how many run at once. */
typedef struct gate {
    _Atomic int open;
    _Atomic int running, max_running, ran;
} gate;

static void *gated(void *arg)
{
    gate *g = arg;
    int now = atomic_fetch_add(&g->running, 1) + 1;
    int m = atomic_load(&g->max_running);
    while (now > m && !atomic_compare_exchange_weak(&g->max_running, &m, now)) {
    }
    while (!atomic_load(&g->open))
        t_sleep_ms(1);
    atomic_fetch_sub(&g->running, 1);
    atomic_fetch_add(&g->ran, 1);
    return (void *)(intptr_t)7;
}

static _Atomic int rel_not_ran, rel_ran;
static _Atomic intptr_t rel_result;
static void count_release(void *arg, void *result, bool ran)
{
    (void)arg;
    if (ran) {
        /* The result first: a test that sees rel_ran reads rel_result. */
        atomic_store(&rel_result, (intptr_t)result);
        atomic_fetch_add(&rel_ran, 1);
    } else {
        atomic_fetch_add(&rel_not_ran, 1);
    }
}

/* Poll a blocking future from the test thread until ready. */
static void wait_ready(ar_blocking *b)
{
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    T_WAIT_UNTIL(ar_blocking_poll(b, &cx) == AR_READY);
    T_WAIT_UNTIL(t_waker_held(&w) == 0); /* the job lets go of our waker */
}

Test(blocking, result_through_block_on, .timeout = 30)
{
    ar_rt *rt = rt_pool(2, 4, 0, 0);
    ar_blocking b;
    T_OK(ar_spawn_blocking(rt, add_one, (void *)(intptr_t)41, &b));
    T_OK(ar_block_on(rt, &ar_blocking_vt, &b));
    T_EQ_INT(b.out.res, 0);
    T_EQ_INT((intptr_t)b.out.value, 42);
    /* Empty now: polls again as ready with the same output. */
    wait_ready(&b);
    T_EQ_INT((intptr_t)b.out.value, 42);
    ar_blocking_drop(&b);
    ar_rt_free(rt);
}

/* A task awaiting a job: spawned from inside the task (rt NULL). */
typedef struct awaiter {
    ar_co co;
    ar_blocking b;
    intptr_t in;
    intptr_t out;
} awaiter;

static ar_poll awaiter_poll(void *p, ar_cx *cx)
{
    awaiter *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_spawn_blocking(NULL, add_one, (void *)self->in, &self->b), 0);
    AR_AWAIT(ar_blocking_poll(&self->b, cx));
    T_BG_EQ(self->b.out.res, 0);
    self->out = (intptr_t)self->b.out.value;
    AR_END;
}
static void awaiter_drop(void *p) { ar_blocking_drop(&((awaiter *)p)->b); }
static const ar_future_vt awaiter_vt = AR_FUTURE_VT(awaiter, awaiter_poll, awaiter_drop, out);

Test(blocking, tasks_await_jobs, .timeout = 60)
{
    ar_rt *rt = rt_pool(2, 4, 0, 0);
    enum { N = 200 };
    static ar_join h[N];
    for (int i = 0; i < N; i++) {
        awaiter a = {.in = i};
        T_OK(ar_spawn(rt, &awaiter_vt, &a, &h[i]));
    }
    for (int i = 0; i < N; i++) {
        intptr_t out = 0;
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        T_EQ_INT(out, i + 1);
    }
    cr_assert_leq(pool_threads(rt), 4);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(blocking, pool_grows_to_its_cap_and_no_further, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 3, 0, 0);
    static gate g;
    ar_blocking b[6];
    for (int i = 0; i < 6; i++)
        T_OK(ar_spawn_blocking(rt, gated, &g, &b[i]));
    T_WAIT_UNTIL(atomic_load(&g.running) == 3);
    uint32_t threads = 0, idle = 0, queued = 0;
    T_OK(ar_blocking_stats(rt, &threads, &idle, &queued));
    T_EQ_INT(threads, 3);
    T_EQ_INT(idle, 0);
    T_EQ_INT(queued, 3);
    t_sleep_ms(50);
    T_EQ_INT(atomic_load(&g.running), 3); /* the other 3 wait their turn */
    atomic_store(&g.open, 1);
    for (int i = 0; i < 6; i++) {
        wait_ready(&b[i]);
        T_EQ_INT(b[i].out.res, 0);
        T_EQ_INT((intptr_t)b[i].out.value, 7);
    }
    T_EQ_INT(atomic_load(&g.ran), 6);
    T_EQ_INT(atomic_load(&g.max_running), 3);
    cr_assert_leq(pool_threads(rt), 3);
    ar_rt_free(rt);
}

Test(blocking, idle_threads_are_reused_then_exit_after_keep_alive, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 8, 200, 0);
    ar_blocking b;
    T_OK(ar_spawn_blocking(rt, add_one, NULL, &b));
    wait_ready(&b);
    /* The thread that ran it waits idle; the next job reuses it. */
    T_WAIT_UNTIL(pool_idle(rt) == 1);
    T_OK(ar_spawn_blocking(rt, add_one, NULL, &b));
    wait_ready(&b);
    T_EQ_INT(pool_threads(rt), 1);
    /* Two at once need two threads: the idle one and a new one. */
    T_WAIT_UNTIL(pool_idle(rt) == 1);
    static gate g;
    ar_blocking b2[2];
    for (int i = 0; i < 2; i++)
        T_OK(ar_spawn_blocking(rt, gated, &g, &b2[i]));
    T_WAIT_UNTIL(atomic_load(&g.running) == 2);
    T_EQ_INT(pool_threads(rt), 2);
    atomic_store(&g.open, 1);
    for (int i = 0; i < 2; i++)
        wait_ready(&b2[i]);
    double t0 = t_now_s();
    T_WAIT_UNTIL(pool_threads(rt) == 0);
    double idle_s = t_now_s() - t0;
    cr_assert_geq(idle_s, 0.1, "threads left after %.3f s, keep-alive is 0.2 s", idle_s);
    /* The pool starts threads again afterwards. */
    T_OK(ar_spawn_blocking(rt, add_one, (void *)(intptr_t)1, &b));
    wait_ready(&b);
    T_EQ_INT((intptr_t)b.out.value, 2);
    ar_rt_free(rt);
}

/* One worker keeps running tasks while two blocking jobs sleep. */
static _Atomic int sleeping, max_sleeping;
static void *sleep_300(void *arg)
{
    (void)arg;
    int now = atomic_fetch_add(&sleeping, 1) + 1;
    int m = atomic_load(&max_sleeping);
    while (now > m && !atomic_compare_exchange_weak(&max_sleeping, &m, now)) {
    }
    t_sleep_ms(300);
    atomic_fetch_sub(&sleeping, 1);
    return NULL;
}

typedef struct ticker {
    ar_co co;
    ar_sleep s;
    int i;
    double *done_at;
} ticker;

static ar_poll ticker_poll(void *p, ar_cx *cx)
{
    ticker *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < 20; self->i++) {
        ar_sleep_init(&self->s, 1);
        AR_AWAIT(ar_sleep_poll(&self->s, cx));
    }
    *self->done_at = t_now_s();
    AR_END;
}
static void ticker_drop(void *p) { ar_sleep_drop(&((ticker *)p)->s); }
static const ar_future_vt ticker_vt = AR_FUTURE_VT_VOID(ticker, ticker_poll, ticker_drop);

typedef struct sleeper_task {
    ar_co co;
    ar_blocking b;
    double *done_at;
} sleeper_task;

static ar_poll sleeper_task_poll(void *p, ar_cx *cx)
{
    sleeper_task *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_spawn_blocking(NULL, sleep_300, NULL, &self->b), 0);
    AR_AWAIT(ar_blocking_poll(&self->b, cx));
    *self->done_at = t_now_s();
    AR_END;
}
static void sleeper_task_drop(void *p) { ar_blocking_drop(&((sleeper_task *)p)->b); }
static const ar_future_vt sleeper_task_vt =
    AR_FUTURE_VT_VOID(sleeper_task, sleeper_task_poll, sleeper_task_drop);

Test(blocking, a_worker_runs_other_tasks_while_jobs_block, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 4, 0, 0);
    double job_done[2] = {0, 0}, tick_done = 0;
    ar_join hs[2], ht;
    double t0 = t_now_s();
    for (int i = 0; i < 2; i++) {
        sleeper_task s = {.done_at = &job_done[i]};
        T_OK(ar_spawn(rt, &sleeper_task_vt, &s, &hs[i]));
    }
    ticker tk = {.done_at = &tick_done};
    T_OK(ar_spawn(rt, &ticker_vt, &tk, &ht));
    T_OK(ar_join_wait(&ht, NULL, 0));
    for (int i = 0; i < 2; i++)
        T_OK(ar_join_wait(&hs[i], NULL, 0));
    /* 20 ticks of 1 ms end long before the 300 ms jobs; on a blocked
     * worker they could not start until both jobs had ended (600 ms). */
    for (int i = 0; i < 2; i++) {
        cr_assert_lt(tick_done, job_done[i], "ticker at %.3f s, job %d at %.3f s",
                     tick_done - t0, i, job_done[i] - t0);
        cr_assert_geq(job_done[i] - t0, 0.29);
    }
    /* Both jobs slept at the same time, on two pool threads. */
    T_EQ_INT(atomic_load(&max_sleeping), 2);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

Test(blocking, drop_before_it_runs_cancels_the_job, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 1, 0, 0);
    static gate g;
    ar_blocking busy, queued;
    T_OK(ar_spawn_blocking(rt, gated, &g, &busy));
    T_WAIT_UNTIL(atomic_load(&g.running) == 1);
    static gate g2;
    atomic_store(&g2.open, 1);
    T_OK(ar_spawn_blocking_ex(rt, gated, &g2, count_release, &queued));
    /* Poll once (registers a waker), then drop: cancelled at once. */
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_blocking_poll(&queued, &cx), AR_PENDING));
    ar_blocking_drop(&queued);
    ar_blocking_drop(&queued); /* idempotent */
    T_EQ_INT(atomic_load(&rel_not_ran), 1);
    T_EQ_INT(t_waker_held(&w), 0);
    atomic_store(&g.open, 1);
    wait_ready(&busy);
    /* Let the pool thread pass the cancelled entry. */
    T_WAIT_UNTIL(pool_queued(rt) == 0 && pool_idle(rt) == 1);
    t_sleep_ms(20);
    T_EQ_INT(atomic_load(&g2.ran), 0); /* its function never ran */
    T_EQ_INT(atomic_load(&rel_not_ran), 1);
    T_EQ_INT(atomic_load(&rel_ran), 0);
    ar_rt_free(rt);
}

Test(blocking, drop_while_it_runs_releases_the_result_once, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 2, 0, 0);
    static gate g;
    ar_blocking b;
    T_OK(ar_spawn_blocking_ex(rt, gated, &g, count_release, &b));
    T_WAIT_UNTIL(atomic_load(&g.running) == 1);
    ar_blocking_drop(&b);
    T_EQ_INT(atomic_load(&rel_ran), 0); /* still running */
    atomic_store(&g.open, 1);
    T_WAIT_UNTIL(atomic_load(&rel_ran) == 1);
    T_EQ_INT(atomic_load(&rel_result), 7);
    T_EQ_INT(atomic_load(&rel_not_ran), 0);
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&rel_ran), 1);
}

/* ar_timeout over a blocking future: the future is dropped at the
 * deadline, the job's result released when it returns. */
static _Atomic int slow_started;
static void *sleep_1s(void *arg)
{
    atomic_store(&slow_started, 1);
    t_sleep_ms(1000);
    return arg;
}

typedef struct timed {
    ar_co co;
    ar_blocking b;
    ar_timeout to;
    int res;
} timed;

static ar_poll timed_poll(void *p, ar_cx *cx)
{
    timed *self = p;
    AR_BEGIN(&self->co);
    /* self->b was spawned, and its job started, by the test: a job still
     * queued at the deadline would be cancelled instead (ran = false), and
     * under the chaos scheduler the pool thread may well start it late. */
    ar_timeout_init(&self->to, &ar_blocking_vt, &self->b, 20);
    AR_AWAIT(ar_timeout_poll(&self->to, cx));
    self->res = self->to.res;
    AR_END;
}
static const ar_future_vt timed_vt = AR_FUTURE_VT_VOID(timed, timed_poll, NULL);

Test(blocking, timeout_drops_a_slow_job_future, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 2, 0, 0);
    static timed t;
    T_OK(ar_spawn_blocking_ex(rt, sleep_1s, NULL, count_release, &t.b));
    T_WAIT_UNTIL(atomic_load(&slow_started) == 1);
    double t0 = t_now_s();
    T_OK(ar_block_on(rt, &timed_vt, &t));
    T_EQ_INT(t.res, -ETIMEDOUT);
    cr_assert_lt(t_now_s() - t0, 0.9); /* did not wait for the 1 s job */
    T_WAIT_UNTIL(atomic_load(&rel_ran) == 1);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}

/* Shutdown: queued jobs are cancelled (released, futures see -ECANCELED),
 * the running one is waited for. */
static void free_release(void *arg, void *result, bool ran)
{
    (void)result;
    (void)ran;
    free(arg);
    atomic_fetch_add(&rel_not_ran, 1);
}

static _Atomic int started_100, open_100;
static void *held_free(void *arg)
{
    atomic_fetch_add(&started_100, 1);
    /* Held until the test's opener thread says so (shutdown has then
     * drained the queue), so no queued job can start before it. */
    while (!atomic_load(&open_100))
        t_sleep_ms(1);
    free(arg);
    return (void *)(intptr_t)5;
}

static void *open_later(void *arg)
{
    (void)arg;
    t_sleep_ms(200);
    atomic_store(&open_100, 1);
    return NULL;
}

Test(blocking, shutdown_cancels_queued_jobs_and_waits_for_running_ones, .timeout = 30)
{
    ar_rt *rt = rt_pool(1, 1, 0, 5000);
    ar_blocking run, q[3];
    T_OK(ar_spawn_blocking(rt, held_free, malloc(16), &run));
    T_WAIT_UNTIL(atomic_load(&started_100) == 1); /* the one thread is busy */
    for (int i = 0; i < 3; i++)
        T_OK(ar_spawn_blocking_ex(rt, held_free, malloc(16), free_release, &q[i]));
    /* Spawned from a task and never awaited: dropped with the task. */
    awaiter a = {.in = 1};
    T_OK(ar_spawn(rt, &awaiter_vt, &a, NULL));
    T_WAIT_UNTIL(pool_queued(rt) == 4); /* 3 + the task's */
    pthread_t opener = t_thread(open_later, NULL);
    double t0 = t_now_s();
    T_OK(ar_rt_shutdown(rt)); /* waits for the running job */
    cr_assert_lt(t_now_s() - t0, 3.0);
    pthread_join(opener, NULL);
    T_EQ_INT(atomic_load(&rel_not_ran), 3); /* each queued arg freed */
    for (int i = 0; i < 3; i++) {
        wait_ready(&q[i]);
        T_EQ_INT(q[i].out.res, -ECANCELED);
    }
    wait_ready(&run);
    T_EQ_INT(run.out.res, 0);
    T_EQ_INT(atomic_load(&started_100), 1); /* no queued job ran */
    T_EQ_INT((intptr_t)run.out.value, 5);
    T_EQ_INT(pool_threads(rt), 0);
    /* No jobs after shutdown. */
    ar_blocking late;
    T_EQ_INT(ar_spawn_blocking(rt, add_one, NULL, &late), -ESHUTDOWN);
    wait_ready(&late);
    T_EQ_INT(late.out.res, -EBADF);
    ar_rt_free(rt);
}

/* A job that does not return: shutdown gives up after its timeout,
 * reports -ETIMEDOUT, and the runtime can be freed while the job runs. */
static _Atomic int stuck_release, stuck_started;
static void *stuck(void *arg)
{
    atomic_store(&stuck_started, 1);
    while (!atomic_load(&stuck_release))
        t_sleep_ms(5);
    return arg;
}

typedef struct stuck_task {
    ar_co co;
    ar_blocking b;
} stuck_task;
static ar_poll stuck_task_poll(void *p, ar_cx *cx)
{
    stuck_task *self = p;
    AR_BEGIN(&self->co);
    T_BG_EQ(ar_spawn_blocking_ex(NULL, stuck, (void *)(intptr_t)3, count_release, &self->b), 0);
    AR_AWAIT(ar_blocking_poll(&self->b, cx));
    AR_END;
}
static void stuck_task_drop(void *p) { ar_blocking_drop(&((stuck_task *)p)->b); }
static const ar_future_vt stuck_task_vt =
    AR_FUTURE_VT_VOID(stuck_task, stuck_task_poll, stuck_task_drop);

Test(blocking, shutdown_with_a_stuck_job_returns_within_its_timeout, .timeout = 30)
{
    ar_rt *rt = rt_pool(2, 4, 0, 300);
    stuck_task s = {0};
    ar_join h;
    T_OK(ar_spawn(rt, &stuck_task_vt, &s, &h));
    /* The job itself must be running: a pool thread that started but has
     * not taken it yet would see it cancelled by the shutdown. */
    T_WAIT_UNTIL(atomic_load(&stuck_started) == 1);
    T_EQ_INT(pool_threads(rt), 1);
    double t0 = t_now_s();
    T_EQ_INT(ar_rt_shutdown(rt), -ETIMEDOUT);
    double took = t_now_s() - t0;
    cr_assert_geq(took, 0.25, "gave up after %.3f s, timeout 0.3 s", took);
    cr_assert_lt(took, 3.0, "shutdown took %.3f s, timeout 0.3 s", took);
    T_EQ_INT(ar_rt_shutdown(rt), 0); /* idempotent: done */
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    ar_rt_free(rt); /* the pool outlives it while the job runs */
    T_EQ_INT(atomic_load(&rel_ran), 0);
    atomic_store(&stuck_release, 1);
    /* The job returns on its detached thread: its result is released. */
    T_WAIT_UNTIL(atomic_load(&rel_ran) == 1);
    T_EQ_INT(atomic_load(&rel_result), 3);
    t_sleep_ms(50); /* let the thread exit and free the pool (LSan) */
}

Test(blocking, bad_input)
{
    ar_blocking b;
    T_EQ_INT(ar_spawn_blocking(NULL, add_one, NULL, &b), -EINVAL); /* no runtime here */
    wait_ready(&b);
    T_EQ_INT(b.out.res, -EBADF);
    ar_blocking_drop(&b);
    ar_blocking_drop(NULL);
    cr_assert(eq(int, ar_blocking_poll(NULL, NULL), AR_READY));
    ar_rt *rt = rt_pool(1, 0, 0, 0); /* zeros: the defaults */
    T_OK(ar_spawn_blocking(rt, add_one, (void *)(intptr_t)2, &b));
    cr_assert(eq(int, ar_blocking_poll(&b, NULL), AR_READY));
    T_EQ_INT(b.out.res, -EINVAL); /* the job goes on */
    wait_ready(&b);
    T_EQ_INT(b.out.res, 0);
    T_EQ_INT((intptr_t)b.out.value, 3);
    T_EQ_INT(ar_spawn_blocking(rt, NULL, NULL, &b), -EINVAL);
    T_EQ_INT(ar_spawn_blocking(rt, add_one, NULL, NULL), -EINVAL);
    T_EQ_INT(ar_blocking_stats(NULL, NULL, NULL, NULL), -EINVAL);
    T_OK(ar_blocking_stats(rt, NULL, NULL, NULL));
    /* Out of memory for the job: refused, the pool stays usable. */
    ar__alloc_fail_nth(1);
    T_EQ_INT(ar_spawn_blocking(rt, add_one, NULL, &b), -ENOMEM);
    ar__alloc_fail_nth(0);
    T_OK(ar_spawn_blocking(rt, add_one, (void *)(intptr_t)9, &b));
    wait_ready(&b);
    T_EQ_INT((intptr_t)b.out.value, 10);
    ar_rt_free(rt);
}

Test(blocking, many_jobs_from_many_tasks, .timeout = 60)
{
    ar_rt *rt = rt_pool(2, 4, 50, 0);
    const int n = T_N(2000);
    ar_join *h = calloc((size_t)n, sizeof *h);
    for (int i = 0; i < n; i++) {
        awaiter a = {.in = i};
        T_OK(ar_spawn(rt, &awaiter_vt, &a, &h[i]));
    }
    for (int i = 0; i < n; i++) {
        intptr_t out = 0;
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        T_EQ_INT(out, i + 1);
    }
    free(h);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
}
