/*
 * runtime/runtime.c - creating, shutting down and freeing runtimes; spawn
 * and block_on.
 *
 * Shutdown protocol (ar_rt_shutdown):
 *   1. Set `shutdown` (SeqCst) and unpark every worker; wait for a
 *      current-thread block_on driving the runtime on another thread to
 *      return.  Workers finish the poll they are in and stop running tasks.
 *   2. Close every registry shard: spawns now fail with -ESHUTDOWN.
 *   3. Pop every registered task and shut it down: an idle task has its
 *      future dropped (drop function, once) and completes as cancelled.
 *      Drop functions may wake other tasks; those are either complete
 *      already (nothing happens) or still registered (handled in this pass).
 *   4. Wait for wakes from plain threads that submitted a task before it
 *      completed to finish queueing it (remote.h).  Close the injection
 *      queue (a push now releases its entry) and drain LIFO slots, batches,
 *      local queues and the injection queue, releasing each entry.
 *   5. Workers, which left their loops in step 1, linger on their io_uring
 *      (only they may use it) serving the cancels of the operations that
 *      step 3 dropped; now they finish every operation, free their rings
 *      and exit; join them.
 *   6. The blocking pool (blocking.c) refuses jobs, cancels the queued ones
 *      and waits up to its timeout for the running ones; jobs still running
 *      then are left detached and shutdown reports -ETIMEDOUT.  It comes
 *      last because the tasks dropped in step 3 drop their blocking futures.
 * After that every task is complete and referenced only by join handles and
 * wakers held by user code, none of which touches the runtime again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "blocking.h"
#include "remote.h"
#include "rt.h"
#include "task.h"
#include "thread_waker.h"

#ifdef AR_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
static void *alloc_aligned(size_t size)
{
    return ar__alloc_should_fail() ? NULL : mallocx(size, MALLOCX_ALIGN(64) | MALLOCX_ZERO);
}
static void free_aligned(void *p, size_t size)
{
    if (p)
        sdallocx(p, size, MALLOCX_ALIGN(64));
}
#else
#include <stdlib.h>
static void *alloc_aligned(size_t size)
{
    void *p = NULL;
    if (ar__alloc_should_fail() || posix_memalign(&p, 64, size))
        return NULL;
    memset(p, 0, size);
    return p;
}
static void free_aligned(void *p, size_t size)
{
    (void)size;
    free(p);
}
#endif

const char *ar_version(void) { return "0.1.0"; }

void ar_rt_opts_init(ar_rt_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->flavor = AR_RT_MULTI_THREAD;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    opts->workers = n > 0 ? (uint32_t)(n > AR_RT_MAX_WORKERS ? AR_RT_MAX_WORKERS : n) : 1;
    opts->max_blocking_threads = 512;
    opts->blocking_keep_alive_ms = 10000;
    opts->blocking_shutdown_timeout_ms = 10000;
}

static void rt_destroy(ar_rt *rt)
{
    /* Worker threads closed their own rings; free them (and close the
     * current-thread flavour's, or that of a worker that never started). */
    for (uint32_t i = 0; rt->workers && i < rt->nworkers; i++)
        ar__reactor_free(rt->workers[i].reactor);
    for (uint32_t i = 0; rt->workers && i < rt->nworkers; i++)
        ar__shard_destroy(&rt->workers[i].shard);
    ar__shard_destroy(&rt->ext_shard);
    free_aligned(rt->workers, rt->workers_size);
    ar__idle_destroy(&rt->idle);
    ar__inject_destroy(&rt->inject);
    pthread_mutex_destroy(&rt->shutdown_mu);
    pthread_mutex_destroy(&rt->dump_mu);
    ar__blocking_unref(rt->blocking); /* freed now, or by its last thread */
    free_aligned(rt, sizeof *rt);
}

/* A multi-thread ar_block_on in progress (lives on its caller's stack). */
typedef struct ar__blocker {
    struct ar__blocker *next, *prev;
    ar__thread_waker *tw;
} ar__blocker;

static void wake_blockers(ar_rt *rt)
{
    ar__spin_lock(&rt->blockers_lock);
    for (ar__blocker *b = rt->blockers; b; b = b->next)
        ar_waker_wake_by_ref(ar__thread_waker_get(b->tw));
    ar__spin_unlock(&rt->blockers_lock);
}

/* Let lingering workers finish their rings and exit; join them. */
static void join_threads(ar_rt *rt)
{
    atomic_store_explicit(&rt->drop_done, true, memory_order_release);
    for (uint32_t i = 0; i < rt->nworkers; i++)
        ar__worker_unpark(&rt->workers[i]);
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        if (rt->workers[i].thread_started) {
            pthread_join(rt->workers[i].thread, NULL);
            rt->workers[i].thread_started = false;
        }
    }
}

/* Stop running tasks: workers leave their loops (and linger on their
 * rings, see worker.c) and a current-thread driver returns. */
static void stop_threads(ar_rt *rt)
{
    atomic_store_explicit(&rt->shutdown, true, memory_order_seq_cst);
    wake_blockers(rt);
    for (uint32_t i = 0; i < rt->nworkers; i++)
        ar__worker_unpark(&rt->workers[i]);
    /* Wait until every worker thread has left its task loop: from then on
     * its queues, LIFO slot and registry shard are ours to drain. */
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        ar_worker *w = &rt->workers[i];
        while (w->thread_started && !atomic_load_explicit(&w->stopped, memory_order_acquire)) {
            ar__worker_unpark(w);
            sched_yield();
        }
    }
    /* A current-thread block_on on another thread sees `shutdown` and
     * returns; wait for it to let go of the worker. */
    /* SeqCst: a Dekker pair with ar_block_on's CAS of `driving` followed by
     * its SeqCst load of `shutdown`. */
    while (atomic_load_explicit(&rt->driving, memory_order_seq_cst)) {
        ar__unpark(&rt->workers[0].parker);
        sched_yield();
    }
}

/* Give every worker a reactor of one backend (reactor.c says how it is
 * chosen).  On failure the reactors made so far are left for rt_destroy. */
static int create_reactors(ar_rt *rt, ar_io_backend opt)
{
    bool single_issuer = rt->flavor == AR_RT_MULTI_THREAD;
    ar_io_backend want = ar__backend_wanted(opt);
    int rc = 0;
    if (want != AR_IO_BACKEND_EPOLL) {
        for (uint32_t i = 0; i < rt->nworkers && !rc; i++)
            rc = ar__reactor_new(&rt->workers[i].reactor, AR__BACKEND_URING, single_issuer,
                                 ar__worker_unpark_cb, &rt->workers[i]);
        if (!rc) {
            rt->backend = AR__BACKEND_URING;
            return 0;
        }
        for (uint32_t i = 0; i < rt->nworkers; i++) {
            ar__reactor_free(rt->workers[i].reactor);
            rt->workers[i].reactor = NULL;
        }
        if (want == AR_IO_BACKEND_URING) {
            ar__backend_report_forced_failure(rc);
            return rc;
        }
        ar__backend_report_fallback(rc);
    }
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        rc = ar__reactor_new(&rt->workers[i].reactor, AR__BACKEND_EPOLL, single_issuer,
                             ar__worker_unpark_cb, &rt->workers[i]);
        if (rc)
            return rc;
    }
    rt->backend = AR__BACKEND_EPOLL;
    return 0;
}

int ar_rt_new(ar_rt **out, const ar_rt_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    ar_rt_opts def;
    if (!opts) {
        ar_rt_opts_init(&def);
        opts = &def;
    }
    uint32_t nworkers;
    if (opts->flavor == AR_RT_MULTI_THREAD) {
        if (opts->workers == 0 || opts->workers > AR_RT_MAX_WORKERS)
            return -EINVAL;
        nworkers = opts->workers;
    } else if (opts->flavor == AR_RT_CURRENT_THREAD) {
        if (opts->workers > 1)
            return -EINVAL;
        nworkers = 1;
    } else {
        return -EINVAL;
    }
    if ((unsigned)opts->backend > AR_IO_BACKEND_EPOLL)
        return -EINVAL;

    ar_rt *rt = alloc_aligned(sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->flavor = opts->flavor;
    rt->task_sites = opts->task_sites;
    rt->nworkers = nworkers;
    rt->nthreads = 0;
    atomic_init(&rt->shutdown, false);
    atomic_init(&rt->driving, false);
    atomic_init(&rt->drop_done, false);
    rt->shut_done = false;
    pthread_mutex_init(&rt->shutdown_mu, NULL);
    atomic_init(&rt->dump_gen, 0);
    atomic_init(&rt->dump_req, NULL);
    pthread_mutex_init(&rt->dump_mu, NULL);
    ar__spin_init(&rt->blockers_lock);
    rt->blockers = NULL;
    ar__shard_init(&rt->ext_shard, rt, true);
    int rc = ar__inject_init(&rt->inject);
    int rc2 = ar__idle_init(&rt->idle, nworkers);
    int rc3 = ar__blocking_new(&rt->blocking, opts);
    rt->workers_size = nworkers * sizeof(ar_worker);
    rt->workers = alloc_aligned(rt->workers_size);
    if (rc || rc2 || rc3 || !rt->workers) {
        rt_destroy(rt);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < nworkers; i++) {
        ar_worker *w = &rt->workers[i];
        w->rt = rt;
        w->index = i;
        w->lifo_enabled = true;
        w->dump_seen = 0;
        atomic_init(&w->stopped, false);
        ar__parker_init(&w->parker);
        ar__queue_init(&w->queue);
        ar__shard_init(&w->shard, rt, false);
        ar__wheel_init(&w->wheel);
    }
    rc = create_reactors(rt, opts->backend);
    if (rc) {
        rt_destroy(rt);
        return rc;
    }
    if (rt->flavor == AR_RT_MULTI_THREAD) {
        for (uint32_t i = 0; i < nworkers; i++) {
            ar_worker *w = &rt->workers[i];
            int err = pthread_create(&w->thread, NULL, ar__worker_main, w);
            if (err) {
                stop_threads(rt);
                join_threads(rt);
                rt_destroy(rt);
                return -err;
            }
            w->thread_started = true;
            rt->nthreads++;
        }
    }
    *out = rt;
    return 0;
}

static bool on_own_thread(const ar_rt *rt)
{
    return (ar__tls_worker && ar__tls_worker->rt == rt) || ar__tls_rt == rt;
}

static void drain_entries(ar_rt *rt)
{
    ar_task *e;
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        ar_worker *w = &rt->workers[i];
        if ((e = w->lifo)) {
            w->lifo = NULL;
            ar__task_drop_entry(e);
        }
        while (w->batch_pos < w->batch_len)
            ar__task_drop_entry(w->batch[w->batch_pos++]);
        while ((e = ar__queue_pop(&w->queue)))
            ar__task_drop_entry(e);
    }
    while ((e = ar__inject_pop(&rt->inject)))
        ar__task_drop_entry(e);
}

/* Set while this thread runs a shutdown: a drop function calling
 * ar_rt_shutdown again would otherwise deadlock on shutdown_mu. */
static __thread bool in_shutdown;

int ar_rt_shutdown(ar_rt *rt)
{
    if (!rt)
        return -EINVAL;
    if (on_own_thread(rt) || in_shutdown)
        return -EDEADLK;
    pthread_mutex_lock(&rt->shutdown_mu);
    if (rt->shut_done) {
        pthread_mutex_unlock(&rt->shutdown_mu);
        return 0;
    }
    in_shutdown = true;
    stop_threads(rt);                                   /* step 1 */
    ar__shard *shards[AR_RT_MAX_WORKERS + 1];
    uint32_t nshards = 0;
    for (uint32_t i = 0; i < rt->nworkers; i++)
        shards[nshards++] = &rt->workers[i].shard;
    shards[nshards++] = &rt->ext_shard;
    for (uint32_t i = 0; i < nshards; i++)              /* step 2 */
        ar__shard_close(shards[i]);
    for (uint32_t i = 0; i < nshards; i++) {            /* step 3 */
        ar_task *t;
        while ((t = ar__shard_pop(shards[i])))
            ar__task_shutdown(t);
    }
    /* Every task is complete: no wake can submit any more.  Let the wakes
     * from plain threads that submitted before finish queueing. */
    ar__remote_quiesce();
    ar__inject_close(&rt->inject); /* from now on a push releases its entry */
    drain_entries(rt);                                   /* step 4 */
    join_threads(rt);                                    /* step 5 */
    int rc = ar__blocking_shutdown(rt->blocking);         /* step 6 */
    rt->shut_done = true;
    in_shutdown = false;
    pthread_mutex_unlock(&rt->shutdown_mu);
    return rc;
}

void ar_rt_free(ar_rt *rt)
{
    if (!rt)
        return;
    if (ar_rt_shutdown(rt) == -EDEADLK)
        return; /* refuse to free the runtime we are running on */
    rt_destroy(rt);
}

uint32_t ar_rt_workers(const ar_rt *rt) { return rt ? rt->nthreads : 0; }

const char *ar_rt_io_backend(const ar_rt *rt)
{
    return rt ? ar__backend_name((enum ar__backend)rt->backend) : NULL;
}

ar_rt *ar_rt_current(void)
{
    ar_worker *w = ar__tls_worker;
    return w ? w->rt : ar__tls_rt;
}

int ar_spawn_at(ar_rt *rt, const ar_future_vt *vt, const void *fut, ar_join *join,
                const char *name, const char *site)
{
    if (join) {
        join->task = NULL;
        join->state = 0;
    }
    if (!rt)
        rt = ar_rt_current();
    if (!rt || !vt || !vt->poll || !fut || vt->size > AR_FUTURE_MAX_SIZE ||
        (vt->out_size && (uint64_t)vt->out_off + vt->out_size > vt->size))
        return -EINVAL;
    ar_worker *w = ar__tls_worker;
    bool local = w && w->rt == rt;
    /* From a plain thread, the spawn is bracketed like a remote wake
     * (remote.h) so that a concurrent shutdown waits for its entry to be
     * queued before draining (the SeqCst load pairs with shutdown's store). */
    unsigned g = local ? 0 : ar__remote_enter();
    int err = 0;
    if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst)) {
        err = -ESHUTDOWN;
    } else {
        ar__task_info info = {.name = name, .site = rt->task_sites ? site : NULL};
        ar_task *t = ar__task_new(local ? &w->shard : &rt->ext_shard, vt, fut, join != NULL,
                                  &info, &err);
        if (t) {
            if (local)
                AR__COUNT(w->m.spawned);
            else
                atomic_fetch_add_explicit(&rt->ext_spawned, 1, memory_order_relaxed);
            if (join)
                join->task = t;
            ar__schedule(ar__entry_running(t), false);
        }
    }
    if (!local)
        ar__remote_exit(g);
    return err;
}

/* The function behind the ar_spawn macro (asyncrt/runtime.h), for callers
 * that take its address or write (ar_spawn)(...). */
int(ar_spawn)(ar_rt *rt, const ar_future_vt *vt, const void *fut, ar_join *join)
{
    return ar_spawn_at(rt, vt, fut, join, NULL, NULL);
}

static int block_on_thread(ar_rt *rt, const ar_future_vt *vt, void *fut)
{
    ar__thread_waker *tw = ar__thread_waker_new(NULL, NULL);
    if (!tw)
        return -ENOMEM;
    ar__blocker me = {.next = NULL, .prev = NULL, .tw = tw};
    ar__spin_lock(&rt->blockers_lock);
    me.next = rt->blockers;
    if (me.next)
        me.next->prev = &me;
    rt->blockers = &me;
    ar__spin_unlock(&rt->blockers_lock);
    ar__tls_rt = rt;
    int rc = 0;
    for (;;) {
        /* SeqCst: pairs with stop_threads' store, made before it wakes the
         * blockers (which happens after we are on the list). */
        if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst)) {
            rc = -ECANCELED; /* shut down from another thread meanwhile */
            break;
        }
        if (ar__thread_waker_take(tw)) {
            ar_cx cx = {.waker = ar__thread_waker_get(tw), .budget = AR_COOP_BUDGET, .worker = NULL};
            if (vt->poll(fut, &cx) == AR_READY)
                break;
            continue; /* re-check the flag before sleeping */
        }
        ar__park(&tw->own);
    }
    ar__tls_rt = NULL;
    ar__spin_lock(&rt->blockers_lock);
    if (me.prev)
        me.prev->next = me.next;
    else
        rt->blockers = me.next;
    if (me.next)
        me.next->prev = me.prev;
    ar__spin_unlock(&rt->blockers_lock);
    ar__thread_waker_detach(tw);
    return rc;
}

int ar_block_on(ar_rt *rt, const ar_future_vt *vt, void *fut)
{
    if (!rt || !vt || !vt->poll || !fut)
        return -EINVAL;
    if (ar__tls_worker || ar__tls_rt)
        return -EDEADLK;
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return -ESHUTDOWN;
    if (rt->flavor == AR_RT_MULTI_THREAD)
        return block_on_thread(rt, vt, fut);

    bool expect = false;
    if (!atomic_compare_exchange_strong(&rt->driving, &expect, true))
        return -EBUSY; /* another thread drives this current-thread runtime */
    int rc;
    if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst)) {
        rc = -ESHUTDOWN;
    } else {
        ar__thread_waker *tw = ar__thread_waker_new(ar__worker_unpark_cb, &rt->workers[0]);
        if (!tw) {
            rc = -ENOMEM;
        } else {
            rc = ar__worker_block_on(&rt->workers[0], vt, fut, tw);
            ar__thread_waker_detach(tw);
        }
    }
    atomic_store_explicit(&rt->driving, false, memory_order_release);
    return rc;
}
