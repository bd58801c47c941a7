/*
 * runtime/blocking.c - the blocking pool: threads that run plain C
 * functions for ar_spawn_blocking, and the futures of their results.
 *
 * Pool protocol (every field of ar__blocking below `mu` is guarded by mu):
 *   1. Submit: push the job on the FIFO queue.  If a thread is idle and not
 *      yet claimed (nidle > 0), claim it (nidle--, nnotify++) and signal
 *      `work`; else, below the cap, start a thread (nthreads++), which pops
 *      the job itself; else the job waits for a busy thread.
 *   2. A thread pops and runs jobs until the queue is empty, then waits on
 *      `work` as idle (nidle++) for at most keep_alive.  On waking it first
 *      consumes a claim (nnotify > 0: a submitter already took it off nidle)
 *      and goes back to the queue; else on shutdown or timeout it takes
 *      itself off nidle and exits; else (spurious wake-up) it waits again.
 *      This is Tokio's blocking/pool.rs scheme: a claim is never lost to a
 *      thread that times out at the same moment.
 *   3. Shutdown: set `shutdown`, take the whole queue (those jobs are
 *      cancelled outside the lock), wake every idle thread, and wait on
 *      `exited` until nthreads is 0 or the timeout passes.
 *   4. The pool is reference counted (the runtime holds one reference, each
 *      thread one), so a thread left running a stuck job after shutdown can
 *      still lock mu and exit after the runtime was freed; the last
 *      reference frees the pool.
 *
 * Job protocol: a job is one heap block with two references (the future,
 * the pool: its queue entry, then the thread running it).  Its `state` is
 * one atomic word moved by CAS, so that exactly one party decides what
 * becomes of the result:
 *     QUEUED --thread-->  RUNNING --thread--> DONE       (future takes it)
 *        |                   \--future drop--> ABANDONED (thread releases
 *        |                                                the result)
 *        \--future drop or shutdown--> CANCELLED         (fn never runs)
 * The thread writes `result` before its CAS to DONE (acq_rel); the future
 * reads it after an acquire load that saw DONE.  `waker` is guarded by the
 * job's spinlock: the poller stores it after re-checking the state under
 * the lock, the finisher takes it under the lock after its CAS, so a wake
 * is never lost (whichever takes the lock second sees the other's write).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "asyncrt/blocking.h"
#include "blocking.h"
#include "rt.h"
#include "spinlock.h"

#define DEFAULT_MAX_THREADS 512u
#define DEFAULT_KEEP_ALIVE_MS 10000u
#define DEFAULT_SHUTDOWN_TIMEOUT_MS 10000u

enum { J_QUEUED, J_RUNNING, J_DONE, J_ABANDONED, J_CANCELLED };

struct ar__bjob {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
    ar_blocking_fn fn;
    void *arg;
    ar_blocking_release_fn release;
    void *result;           /* thread writes before DONE; future reads after */
    ar__spinlock lock;      /* guards waker */
    ar_waker waker;         /* the future's poller, or none */
    struct ar__bjob *next;  /* queue link, under the pool's mu */
};

typedef struct ar__blocking {
    _Atomic uint32_t refs;  /* the runtime + one per thread */
    uint32_t cap;
    uint64_t keep_alive_ns, shutdown_timeout_ns;
    pthread_mutex_t mu;
    pthread_cond_t work;    /* signalled for a claimed idle thread, shutdown */
    pthread_cond_t exited;  /* broadcast whenever a pool thread exits */
    struct ar__bjob *head, *tail;
    uint32_t queued, nthreads, nidle, nnotify;
    bool shutdown;
} ar__blocking;

/* The pool whose thread this is, or NULL (a shutdown called from a job
 * must not wait for its own thread). */
static __thread ar__blocking *tls_pool;

/* ------------------------------------------------------------------------
 * Jobs
 * --------------------------------------------------------------------- */

static void job_unref(struct ar__bjob *j)
{
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    ar_waker_drop(j->waker); /* a waker nobody took (none in the usual case) */
    ar__free(j, sizeof *j);
}

static ar_waker job_take_waker(struct ar__bjob *j)
{
    ar__spin_lock(&j->lock);
    ar_waker w = j->waker;
    j->waker = AR_WAKER_NONE;
    ar__spin_unlock(&j->lock);
    return w;
}

/* Cancel a queued job (drop or shutdown).  True when this call did it:
 * fn will never run and release(arg, NULL, false) has run. */
static bool job_cancel_queued(struct ar__bjob *j)
{
    uint32_t s = J_QUEUED;
    if (!atomic_compare_exchange_strong_explicit(&j->state, &s, J_CANCELLED,
                                                 memory_order_acq_rel, memory_order_acquire))
        return false;
    if (j->release)
        j->release(j->arg, NULL, false);
    return true;
}

/* Run a job popped from the queue (owning the pool's reference). */
static void job_run(struct ar__bjob *j)
{
    uint32_t s = J_QUEUED;
    if (atomic_compare_exchange_strong_explicit(&j->state, &s, J_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire)) {
        void *r = j->fn(j->arg);
        j->result = r;
        s = J_RUNNING;
        if (atomic_compare_exchange_strong_explicit(&j->state, &s, J_DONE,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            ar_waker_wake(job_take_waker(j));
        } else if (j->release) {
            /* ABANDONED: the future was dropped while fn ran. */
            j->release(j->arg, r, true);
        }
    }
    /* else CANCELLED by the future's drop: release already ran there. */
    job_unref(j);
}

/* ------------------------------------------------------------------------
 * Pool
 * --------------------------------------------------------------------- */

static void pool_unref(ar__blocking *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->exited);
    pthread_mutex_destroy(&p->mu);
    ar__free(p, sizeof *p);
}

void ar__blocking_unref(ar__blocking *p) { pool_unref(p); }

static int cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

static struct timespec deadline_after(uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t sum = (uint64_t)ts.tv_nsec + ns % 1000000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u + sum / 1000000000u);
    ts.tv_nsec = (long)(sum % 1000000000u);
    return ts;
}

int ar__blocking_new(ar__blocking **out, const ar_rt_opts *opts)
{
    ar__blocking *p = ar__calloc(sizeof *p);
    *out = p;
    if (!p)
        return -ENOMEM;
    atomic_init(&p->refs, 1);
    p->cap = opts->max_blocking_threads ? opts->max_blocking_threads : DEFAULT_MAX_THREADS;
    uint32_t ka = opts->blocking_keep_alive_ms ? opts->blocking_keep_alive_ms
                                               : DEFAULT_KEEP_ALIVE_MS;
    uint32_t st = opts->blocking_shutdown_timeout_ms ? opts->blocking_shutdown_timeout_ms
                                                     : DEFAULT_SHUTDOWN_TIMEOUT_MS;
    p->keep_alive_ns = (uint64_t)ka * 1000000u;
    p->shutdown_timeout_ns = (uint64_t)st * 1000000u;
    pthread_mutex_init(&p->mu, NULL);
    cond_init_mono(&p->work);
    cond_init_mono(&p->exited);
    return 0;
}

static struct ar__bjob *pop_locked(ar__blocking *p)
{
    struct ar__bjob *j = p->head;
    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
    }
    return j;
}

static void *pool_thread(void *arg)
{
    ar__blocking *p = arg;
    tls_pool = p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct ar__bjob *j;
        while ((j = pop_locked(p))) {
            pthread_mutex_unlock(&p->mu);
            job_run(j);
            pthread_mutex_lock(&p->mu);
        }
        if (p->shutdown)
            break;
        /* Step 2: idle, until claimed, shut down or timed out. */
        p->nidle++;
        struct timespec dl = deadline_after(p->keep_alive_ns);
        bool leave = false;
        for (;;) {
            int rc = pthread_cond_timedwait(&p->work, &p->mu, &dl);
            if (p->nnotify > 0) {
                p->nnotify--; /* claimed: the submitter took us off nidle */
                break;
            }
            if (p->shutdown || rc == ETIMEDOUT) {
                p->nidle--;
                leave = true;
                break;
            }
        }
        if (leave)
            break;
    }
    /* Every exit, not only the last: a shutdown run from a pool thread
     * waits for the count to reach 1 (itself). */
    --p->nthreads;
    pthread_cond_broadcast(&p->exited);
    pthread_mutex_unlock(&p->mu);
    tls_pool = NULL;
    pool_unref(p);
    return NULL;
}

/* Start one pool thread (mu held).  Returns 0 or -errno. */
static int start_thread_locked(ar__blocking *p)
{
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    p->nthreads++;
    pthread_t th;
    int rc = pthread_create(&th, &a, pool_thread, p);
    pthread_attr_destroy(&a);
    if (rc) {
        p->nthreads--;
        atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed); /* we hold another */
        return -rc;
    }
    return 0;
}

int ar__blocking_shutdown(ar__blocking *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->shutdown = true;                                  /* step 3 */
    struct ar__bjob *list = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    /* Cancel what never started, outside the lock: release functions and
     * wakers are user code. */
    while (list) {
        struct ar__bjob *j = list;
        list = j->next;
        if (job_cancel_queued(j))
            ar_waker_wake(job_take_waker(j));
        job_unref(j);
    }
    pthread_mutex_lock(&p->mu);
    uint32_t self = tls_pool == p ? 1 : 0;
    struct timespec dl = deadline_after(p->shutdown_timeout_ns);
    while (p->nthreads > self) {
        if (pthread_cond_timedwait(&p->exited, &p->mu, &dl) == ETIMEDOUT)
            break;
    }
    bool stuck = p->nthreads > self;
    pthread_mutex_unlock(&p->mu);
    return stuck ? -ETIMEDOUT : 0;
}

/* ------------------------------------------------------------------------
 * Public API
 * --------------------------------------------------------------------- */

int ar_spawn_blocking_ex(ar_rt *rt, ar_blocking_fn fn, void *arg,
                         ar_blocking_release_fn release, ar_blocking *fut)
{
    if (!fut)
        return -EINVAL;
    fut->job = NULL;
    fut->out.value = NULL;
    fut->out.res = -EBADF;
    if (!rt)
        rt = ar_rt_current();
    if (!rt || !fn)
        return -EINVAL;
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return -ESHUTDOWN;
    ar__blocking *p = rt->blocking;
    struct ar__bjob *j = ar__alloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    atomic_init(&j->state, J_QUEUED);
    atomic_init(&j->refs, 2);
    j->fn = fn;
    j->arg = arg;
    j->release = release;
    j->result = NULL;
    ar__spin_init(&j->lock);
    j->waker = AR_WAKER_NONE;
    j->next = NULL;

    pthread_mutex_lock(&p->mu);                          /* step 1 */
    if (p->shutdown) {
        pthread_mutex_unlock(&p->mu);
        ar__free(j, sizeof *j);
        return -ESHUTDOWN;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    int rc = 0;
    if (p->nidle > 0) {
        p->nidle--;
        p->nnotify++;
        pthread_cond_signal(&p->work);
    } else if (p->nthreads < p->cap) {
        rc = start_thread_locked(p);
        if (rc && p->nthreads > 0)
            rc = 0; /* a busy thread will get to it */
        if (rc) {
            /* Nobody could ever run it: take it back (it is the tail, and
             * with no thread nothing popped since we pushed it). */
            struct ar__bjob **pp = &p->head;
            while (*pp != j)
                pp = &(*pp)->next;
            *pp = NULL;
            p->tail = NULL;
            for (struct ar__bjob *k = p->head; k; k = k->next)
                p->tail = k;
            p->queued--;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc) {
        ar__free(j, sizeof *j);
        return -EAGAIN; /* pthread_create's error, as documented */
    }
    fut->job = j;
    fut->out.res = 0;
    return 0;
}

int ar_spawn_blocking(ar_rt *rt, ar_blocking_fn fn, void *arg, ar_blocking *fut)
{
    return ar_spawn_blocking_ex(rt, fn, arg, NULL, fut);
}

/* The job ended (DONE or CANCELLED): give its result to the future. */
static ar_poll finish(ar_blocking *fut, struct ar__bjob *j, uint32_t s)
{
    if (s == J_DONE) {
        fut->out.value = j->result;
        fut->out.res = 0;
    } else {
        fut->out.value = NULL;
        fut->out.res = -ECANCELED;
    }
    fut->job = NULL;
    ar_waker_drop(job_take_waker(j));
    job_unref(j);
    return AR_READY;
}

ar_poll ar_blocking_poll(ar_blocking *fut, ar_cx *cx)
{
    if (!fut)
        return AR_READY;
    struct ar__bjob *j = fut->job;
    if (!j)
        return AR_READY;
    if (!cx) {
        fut->out.res = -EINVAL; /* the job goes on: poll again with a cx */
        return AR_READY;
    }
    uint32_t s = atomic_load_explicit(&j->state, memory_order_acquire);
    if (s == J_DONE || s == J_CANCELLED)
        return finish(fut, j, s);
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&j->lock);
    s = atomic_load_explicit(&j->state, memory_order_acquire);
    if (s != J_DONE && s != J_CANCELLED && !ar_waker_will_wake(j->waker, cx->waker)) {
        old = j->waker;
        j->waker = ar_waker_clone(cx->waker);
    }
    ar__spin_unlock(&j->lock);
    ar_waker_drop(old);
    if (s == J_DONE || s == J_CANCELLED)
        return finish(fut, j, s);
    return AR_PENDING;
}

void ar_blocking_drop(ar_blocking *fut)
{
    if (!fut || !fut->job)
        return;
    struct ar__bjob *j = fut->job;
    fut->job = NULL;
    for (;;) {
        uint32_t s = atomic_load_explicit(&j->state, memory_order_acquire);
        if (s == J_QUEUED) {
            if (job_cancel_queued(j))
                break;
        } else if (s == J_RUNNING) {
            if (atomic_compare_exchange_strong_explicit(&j->state, &s, J_ABANDONED,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire))
                break;
        } else {
            /* DONE: nobody will take the result.  CANCELLED: released by
             * whoever cancelled it. */
            if (s == J_DONE && j->release)
                j->release(j->arg, j->result, true);
            break;
        }
    }
    ar_waker_drop(job_take_waker(j));
    job_unref(j);
}

static ar_poll blocking_poll_v(void *self, ar_cx *cx) { return ar_blocking_poll(self, cx); }
static void blocking_drop_v(void *self) { ar_blocking_drop(self); }

const ar_future_vt ar_blocking_vt = AR_FUTURE_VT(ar_blocking, blocking_poll_v, blocking_drop_v, out);

int ar_blocking_stats(const ar_rt *rt, uint32_t *threads, uint32_t *idle, uint32_t *queued)
{
    if (!rt || !rt->blocking)
        return -EINVAL;
    ar__blocking *p = rt->blocking;
    pthread_mutex_lock(&p->mu);
    if (threads)
        *threads = p->nthreads;
    if (idle)
        *idle = p->nidle;
    if (queued)
        *queued = p->queued;
    pthread_mutex_unlock(&p->mu);
    return 0;
}
