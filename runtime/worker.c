/*
 * runtime/worker.c - the worker loop: where tasks are taken from, how they
 * are scheduled when woken, stealing, and parking.
 *
 * Protocol of one worker (owner thread), per tick:
 *   1. Every AR__GLOBAL_QUEUE_INTERVAL ticks take from the injection queue
 *      first (fairness to tasks from outside); otherwise from the local
 *      queue, then a batch from the injection queue.
 *   2. Run the task, then up to AR__MAX_LIFO_POLLS tasks it woke through the
 *      LIFO slot (message-passing latency: the woken partner runs next,
 *      while its data is hot in this core's cache).
 *   3. With nothing local: become a searcher (at most half the workers at
 *      once, idle.h), steal half of a random victim's queue.
 *   4. Still nothing: park (idle.h step 4) until unparked or shut down.
 *
 * Who touches what: w->lifo, w->current, w->yielded, w->tick, w->searching
 * are the owner's alone.  w->queue is shared with stealers (queue.h),
 * w->parker with unparkers (park.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"
#include "task_dump.h"
#include "task.h"
#include "thread_waker.h"

__thread ar_worker *ar__tls_worker __attribute__((tls_model("initial-exec")));
__thread ar_rt *ar__tls_rt __attribute__((tls_model("initial-exec")));

static inline bool is_shutdown(ar_rt *rt)
{
    return atomic_load_explicit(&rt->shutdown, memory_order_acquire);
}

/* xorshift64*: victim choice only needs to be cheap and spread out. */
static inline uint32_t next_rand(ar_worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

void ar__worker_unpark(ar_worker *w)
{
    if (w->reactor)
        ar__reactor_unpark(w->reactor, &w->parker);
    else
        ar__unpark(&w->parker);
}

void ar__worker_unpark_cb(void *w) { ar__worker_unpark(w); }

/* Sleep until unparked, an I/O completion or the timeout.  With a ring,
 * the wait is in io_uring_enter, which also submits what was prepared. */
static void park_wait(ar_worker *w, uint64_t timeout_ns)
{
    AR__COUNT(w->m.parks);
    if (w->reactor)
        ar__reactor_turn(w->reactor, &w->parker, true, timeout_ns);
    else
        ar__park_timeout(&w->parker, timeout_ns);
}

/* Submit prepared SQEs and reap completions without blocking. */
static inline void poll_io(ar_worker *w)
{
    if (w->reactor && ar__reactor_pending(w->reactor))
        ar__reactor_turn(w->reactor, &w->parker, false, 0);
}

void ar__notify_parked(ar_rt *rt)
{
    int idx = ar__idle_worker_to_notify(&rt->idle);
    if (idx >= 0)
        ar__worker_unpark(&rt->workers[idx]);
}

/* Fire this worker's due timers (their tasks land in our LIFO slot and
 * queue); returns how many fired. */
static uint32_t process_timers(ar_worker *w)
{
    if (!atomic_load_explicit(&w->wheel.count, memory_order_relaxed))
        return 0; /* racy read is fine: only we advance the wheel, and an
                   * insert from elsewhere unparks us */
    return ar__wheel_process(&w->wheel, ar__now_tick());
}

/* How long parking may last: until the next timer, or forever. */
static uint64_t park_timeout_ns(ar_worker *w)
{
    ar__spin_lock(&w->wheel.lock);
    uint64_t next = ar__wheel_next_deadline(&w->wheel);
    ar__spin_unlock(&w->wheel.lock);
    if (next == AR__TIMER_NONE)
        return UINT64_MAX;
    uint64_t now = ar__now_tick();
    return next > now ? (next - now) * 1000000u : 0;
}

/* A cheap pre-check for local pushes: notifying is only a hint there (the
 * pushing worker runs its own queue anyway), so a relaxed read that avoids
 * the SeqCst read-modify-write of the full check is enough. */
static inline void notify_parked_local(ar_rt *rt)
{
    if (ar__idle_maybe_wanted(&rt->idle))
        ar__notify_parked(rt);
}

static void schedule_remote(ar_rt *rt, ar_task *e)
{
    int rc;
    while ((rc = ar__inject_push(&rt->inject, e)) == -ENOMEM)
        sched_yield(); /* never lose a wake-up; memory comes back */
    if (rc == -ESHUTDOWN) {
        ar__task_drop_entry(e);
        return;
    }
    if (rt->flavor == AR_RT_CURRENT_THREAD)
        ar__worker_unpark(&rt->workers[0]);
    else
        ar__notify_parked(rt);
}

void ar__schedule(ar_task *e, bool is_yield)
{
    ar__shard *sh = ar__entry_task(e)->shard;
    ar_worker *w = ar__tls_worker;
    if (!w || !ar__rt_owns_shard(w->rt, sh)) {
        schedule_remote(sh->rt, e);
        return;
    }
    ar_rt *rt = w->rt;
    bool should_notify;
    if (is_yield || !w->lifo_enabled) {
        ar__queue_push_back(&w->queue, e, &rt->inject);
        /* A lone yielding task needs no helper. */
        should_notify = ar__queue_len(&w->queue) > 1;
    } else {
        ar_task *prev = w->lifo;
        w->lifo = e;
        should_notify = prev != NULL;
        if (prev)
            ar__queue_push_back(&w->queue, prev, &rt->inject);
    }
    if (should_notify && rt->nthreads > 1)
        notify_parked_local(rt);
}

/* Step 1. */
static ar_task *next_task(ar_worker *w)
{
    ar_rt *rt = w->rt;
    ar_task *t;
    /* The LIFO slot is normally drained by run_task; it is non-empty here
     * only when the current-thread main future (polled outside run_task)
     * spawned or woke a task. */
    if ((t = w->lifo)) {
        w->lifo = NULL;
        return t;
    }
    if (w->tick % AR__GLOBAL_QUEUE_INTERVAL == 0 && (t = ar__inject_pop(&rt->inject)))
        return t;
    if (w->batch_pos < w->batch_len)
        return w->batch[w->batch_pos++];
    w->batch_len = ar__queue_pop_batch(&w->queue, w->batch, AR__POP_BATCH);
    w->batch_pos = 0;
    if (w->batch_len)
        return w->batch[w->batch_pos++];
    if (ar__inject_is_empty(&rt->inject))
        return NULL;
    /* Take a fair share of the injection queue, leaving the rest for the
     * other workers, and never more than half a local queue. */
    enum { MAX_BATCH = AR__QUEUE_CAP / 2 < 64 ? AR__QUEUE_CAP / 2 : 64 };
    ar_task *batch[MAX_BATCH > 0 ? MAX_BATCH : 1];
    uint32_t want = ar__inject_len(&rt->inject) / rt->nworkers + 1;
    uint32_t room = AR__QUEUE_CAP - ar__queue_len(&w->queue);
    if (want > room)
        want = room;
    if (want > MAX_BATCH)
        want = MAX_BATCH;
    if (want == 0)
        want = 1;
    uint32_t n = ar__inject_pop_n(&rt->inject, batch, want);
    if (n == 0)
        return NULL;
    for (uint32_t i = 1; i < n; i++)
        ar__queue_push_back(&w->queue, batch[i], &rt->inject);
    return batch[0];
}

/* Step 2. */
static void run_task(ar_worker *w, ar_task *e)
{
    ar_rt *rt = w->rt;
    if (w->searching) {
        w->searching = false;
        /* The last searcher found work: wake another to keep looking. */
        if (ar__idle_from_searching(&rt->idle))
            ar__notify_parked(rt);
    }
    w->lifo_enabled = true;
    ar_cx cx = {.waker = AR_WAKER_NONE, .budget = AR_COOP_BUDGET, .worker = w};
    ar__task_run(e, &cx);
    for (int polls = 0; w->lifo; polls++) {
        e = w->lifo;
        w->lifo = NULL;
        if (cx.budget < 0 || is_shutdown(rt)) {
            ar__queue_push_back(&w->queue, e, &rt->inject);
            break;
        }
        if (polls + 1 >= AR__MAX_LIFO_POLLS)
            w->lifo_enabled = false;
        ar__task_run(e, &cx);
    }
}

/* Step 3. */
static ar_task *steal_work(ar_worker *w)
{
    ar_rt *rt = w->rt;
    if (!w->searching) {
        if (!ar__idle_to_searching(&rt->idle))
            return NULL;
        w->searching = true;
    }
    uint32_t n = rt->nworkers;
    uint32_t start = next_rand(w) % n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = (start + i) % n;
        if (v == w->index)
            continue;
        ar_task *t = ar__queue_steal_into(&rt->workers[v].queue, &w->queue);
        if (t) {
            AR__COUNT(w->m.steals);
            return t;
        }
    }
    return ar__inject_pop(&rt->inject);
}

static void notify_if_work_pending(ar_rt *rt)
{
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        if (!ar__queue_is_empty(&rt->workers[i].queue)) {
            ar__notify_parked(rt);
            return;
        }
    }
    if (!ar__inject_is_empty(&rt->inject))
        ar__notify_parked(rt);
}

static bool has_local_work(ar_worker *w)
{
    return w->lifo || w->batch_pos < w->batch_len || !ar__queue_is_empty(&w->queue);
}

/* Step 4 (multi-thread flavour). */
static void park(ar_worker *w)
{
    ar_rt *rt = w->rt;
    if (process_timers(w) || has_local_work(w))
        return;
    /* Give back the memory of our tasks that finished on other workers. */
    ar__shard_maybe_sweep(&w->shard);
    bool last = ar__idle_to_parked(&rt->idle, w->index, w->searching);
    w->searching = false;
    if (last)
        notify_if_work_pending(rt);
    while (!is_shutdown(rt)) {
        park_wait(w, park_timeout_ns(w));
        ar__dump_serve(w); /* a dump request unparks us without work */
        process_timers(w);
        if (has_local_work(w)) {
            /* Unparked for our own reasons: leave the sleepers ourselves.
             * If a notifier already removed us, it made us a searcher. */
            w->searching = !ar__idle_unpark_worker_by_id(&rt->idle, w->index);
            return;
        }
        if (ar__idle_is_parked(&rt->idle, w->index))
            continue; /* spurious */
        w->searching = true; /* a notifier picked us: we start searching */
        return;
    }
}

/* Current-thread flavour: no idle bookkeeping.  Remote schedulers and the
 * main waker unpark w->parker after making their work visible, and the
 * parker remembers an unpark that comes before the park, so checking then
 * parking cannot lose a wake-up. */
static void park_current(ar_worker *w, _Atomic bool *woken)
{
    ar__shard_maybe_sweep(&w->shard);
    if (process_timers(w) || has_local_work(w) || !ar__inject_is_empty(&w->rt->inject) ||
        atomic_load_explicit(woken, memory_order_acquire) || is_shutdown(w->rt))
        return;
    park_wait(w, park_timeout_ns(w));
    process_timers(w);
}

static void worker_init_tls(ar_worker *w)
{
    ar__tls_worker = w;
    w->rng = 0x9E3779B97F4A7C15ULL * (w->index + 1) ^ (uint64_t)(uintptr_t)w;
    if (!w->rng)
        w->rng = 1;
}

/* One scheduling round; returns false when there was nothing to run. */
static bool tick(ar_worker *w)
{
    w->tick++;
    /* Maintenance: timers and I/O are also driven while the worker stays
     * busy. */
    if (w->tick % AR__GLOBAL_QUEUE_INTERVAL == 0) {
        process_timers(w);
        poll_io(w);
    }
    ar_task *t = next_task(w);
    if (!t && w->reactor && ar__reactor_pending(w->reactor)) {
        poll_io(w); /* completions may have made tasks runnable */
        t = next_task(w);
    }
    /* Even a single worker goes through the searching state: parking as the
     * last searcher is what re-checks the injection queue (idle.h step 4). */
    if (!t && w->rt->flavor == AR_RT_MULTI_THREAD)
        t = steal_work(w);
    if (!t)
        return false;
    run_task(w, t);
    return true;
}

void *ar__worker_main(void *arg)
{
    ar_worker *w = arg;
    ar_rt *rt = w->rt;
    char name[16];
    snprintf(name, sizeof name, "ar-worker-%u", w->index);
    pthread_setname_np(pthread_self(), name);
    worker_init_tls(w);
    if (w->reactor && ar__reactor_enable(w->reactor) == 0)
        ar__tls_reactor = w->reactor;
    while (!is_shutdown(rt)) {
        ar__dump_serve(w);
        if (!tick(w))
            park(w);
    }
    ar__dump_serve(w); /* a request published before we stop gets its answer */
    if (w->searching) {
        w->searching = false;
        ar__idle_from_searching(&rt->idle);
    }
    /* Linger (shutdown step 5): no more tasks run here, but the ring must
     * keep serving cancels of the operations of tasks that shutdown drops,
     * and only this thread may use it.  Wakes from here are remote ones. */
    ar__tls_worker = NULL;
    atomic_store_explicit(&w->stopped, true, memory_order_release);
    if (w->reactor) {
        while (!atomic_load_explicit(&rt->drop_done, memory_order_acquire))
            ar__reactor_turn(w->reactor, &w->parker, true, UINT64_MAX);
        ar__reactor_close(w->reactor); /* freed by rt_destroy, after the join */
        ar__tls_reactor = NULL;
    }
    return NULL;
}

int ar__worker_block_on(ar_worker *w, const ar_future_vt *vt, void *fut,
                        ar__thread_waker *tw)
{
    ar_rt *rt = w->rt;
    int rc = 0;
    worker_init_tls(w);
    ar__tls_reactor = w->reactor;
    for (;;) {
        if (is_shutdown(rt)) {
            rc = -ECANCELED; /* shut down from another thread meanwhile */
            break;
        }
        ar__dump_serve(w);
        if (ar__thread_waker_take(tw)) {
            ar_cx cx = {.waker = ar__thread_waker_get(tw), .budget = AR_COOP_BUDGET, .worker = NULL};
            if (vt->poll(fut, &cx) == AR_READY)
                break;
        }
        /* Run tasks between polls of the main future; at least one even
         * when the main future woke itself, or a main future that yields
         * while waiting for a task would starve it. */
        bool ran = false;
        for (int i = 0; i < 64; i++) {
            if (i > 0 && atomic_load_explicit(&tw->woken, memory_order_relaxed))
                break;
            if (!tick(w))
                break;
            ran = true;
        }
        if (!ran)
            park_current(w, &tw->woken);
    }
    /* A task left in the LIFO slot goes back to the queue for the next run. */
    if (w->lifo) {
        ar__queue_push_back(&w->queue, w->lifo, &rt->inject);
        w->lifo = NULL;
    }
    w->searching = false;
    ar__tls_worker = NULL;
    ar__tls_reactor = NULL;
    return rc;
}
