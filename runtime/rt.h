/*
 * runtime/rt.h - the runtime object (opaque to users) and its workers.
 */
#ifndef AR_RUNTIME_RT_H
#define AR_RUNTIME_RT_H

#include <pthread.h>
#include <stdatomic.h>

#include "asyncrt/runtime.h"
#include "idle.h"
#include "inject.h"
#include "owned.h"
#include "park.h"
#include "queue.h"
#include "reactor.h"
#include "wheel.h"

/* Check the injection queue first every this many ticks, so that tasks
 * from outside are not starved by a busy local queue (Tokio's figure). */
#define AR__GLOBAL_QUEUE_INTERVAL 61u
/* At most this many LIFO-slot polls in a row; then the slot is disabled
 * until the next task from the queue, so ping-ponging pairs cannot starve
 * the queue. */
#define AR__MAX_LIFO_POLLS 3
/* The owner takes up to this many entries of its queue per CAS into a
 * private batch (a locked CAS costs more than the rest of a yield here).
 * Small, because batched tasks cannot be stolen. */
#define AR__POP_BATCH 8u

/*
 * Metrics of one worker (asyncrt/metrics.h).  Each counter is written by the
 * worker's own thread only, with a relaxed load and store (no locked
 * instruction on the hot path), and read relaxed by ar_rt_metrics_read on
 * any thread: a reader sees each counter whole, perhaps a little old.
 */
typedef struct ar__wmetrics {
    _Atomic uint64_t polls;     /* task polls (ar__task_run) */
    _Atomic uint64_t spawned;   /* ar_spawn calls made on this worker */
    _Atomic uint64_t completed; /* tasks that finished or were dropped here */
    _Atomic uint64_t steals;    /* successful steals from other workers */
    _Atomic uint64_t parks;     /* waits in the parker or the ring */
} ar__wmetrics;

#define AR__COUNT(c)                                                             \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + 1, \
                          memory_order_relaxed)

typedef struct ar_worker {
    /* Owner-only fields (the worker's own thread). */
    struct ar_rt *rt;
    uint32_t index;
    uint32_t tick;
    uint64_t rng;
    bool searching;
    bool lifo_enabled;
    bool yielded;          /* current task woke itself during its poll */
    ar_task *lifo;         /* LIFO slot: the last task woken by this worker */
    ar_task *current;      /* task being polled, for the self-wake fast path */
    uint32_t batch_pos, batch_len; /* batch[pos..len) taken from the queue */
    ar_task *batch[AR__POP_BATCH];
    pthread_t thread;
    bool thread_started;
    _Atomic bool stopped;  /* the thread left its task loop (Release), so
                            * shutdown may touch its queues (Acquire) */
    ar__reactor *reactor;  /* never NULL once ar_rt_new returned; written before the
                            * thread starts, immutable until it exits */
    ar__wmetrics m;        /* written by the owner, read by anyone */
    uint64_t dump_seen;    /* owner: the last task dump request answered */
    /* Shared with other threads. */
    ar__parker parker;     /* owner parks, anyone unparks */
    _Alignas(64) ar__queue queue; /* stealers read and CAS head */
    _Alignas(64) ar__shard shard; /* tasks spawned here; owner-only (owned.h) */
    _Alignas(64) ar__wheel wheel; /* timers of sleeps first polled here */
} ar_worker;

struct ar_rt {
    ar_rt_flavor flavor;
    uint8_t backend;          /* enum ar__backend of every worker's reactor;
                               * written by ar_rt_new, then immutable */
    uint32_t nworkers;        /* worker structs: 1 for current-thread */
    uint32_t nthreads;        /* threads started: 0 for current-thread */
    _Atomic bool shutdown;    /* written once by ar_rt_shutdown; read by all */
    /* Task dump requests (task_dump.c): dump_req is written by the
     * requester (under dump_mu) before it bumps dump_gen with Release;
     * workers load dump_gen every tick (relaxed, next to shutdown's
     * cache line) and, when it moved, dump_req with Acquire. */
    _Atomic uint64_t dump_gen;
    struct ar__dump_req *_Atomic dump_req;
    pthread_mutex_t dump_mu;
    bool task_sites;          /* ar_rt_opts.task_sites; immutable */
    bool shut_done;           /* under shutdown_mu */
    pthread_mutex_t shutdown_mu;
    _Atomic bool driving;     /* current-thread: a block_on is running */
    /* Set by shutdown once every task is dropped: lingering workers then
     * finish their rings' operations and exit (runtime.c step 5). */
    _Atomic bool drop_done;
    /* Multi-thread ar_block_on calls in progress, so that shutdown can wake
     * them (they return -ECANCELED).  Guarded by blockers_lock. */
    ar__spinlock blockers_lock;
    struct ar__blocker *blockers;
    ar_worker *workers;       /* nworkers entries, 64-byte aligned */
    /* Blocking pool (blocking.c): created with the runtime, shut down at
     * the end of ar_rt_shutdown; immutable pointer, the pool locks itself. */
    struct ar__blocking *blocking;
    size_t workers_size;
    _Alignas(64) ar__inject inject;
    _Alignas(64) ar__idle idle;
    _Alignas(64) ar__shard ext_shard; /* spawns from plain threads */
    /* Metrics of what happens off the workers: spawns from plain threads,
     * tasks finished or dropped off a worker (shutdown, aborts from block_on
     * threads).  Atomic adds: these paths are not hot. */
    _Atomic uint64_t ext_spawned;
    _Atomic uint64_t ext_completed;
};

/* The worker the calling thread is, or NULL. */
extern __thread ar_worker *ar__tls_worker __attribute__((tls_model("initial-exec")));
/* The runtime of the ar_block_on running on this thread, or NULL. */
extern __thread ar_rt *ar__tls_rt __attribute__((tls_model("initial-exec")));

/* True when the shard (by address, without dereferencing it) belongs to rt. */
static inline bool ar__rt_owns_shard(const ar_rt *rt, const ar__shard *sh)
{
    uintptr_t a = (uintptr_t)sh, lo = (uintptr_t)rt->workers;
    return (a >= lo && a < lo + rt->workers_size) || sh == &rt->ext_shard;
}

/* Schedule a task (entry) woken or spawned: to the calling worker's LIFO
 * slot or queue when the task belongs to that worker's runtime, else to the
 * injection queue of the task's runtime.  Callers on threads that are not
 * workers of that runtime bracket the wake with ar__remote_enter/exit
 * (remote.h). */
void ar__schedule(ar_task *entry, bool is_yield);

/* Unpark one parked worker if nobody is searching. */
void ar__notify_parked(ar_rt *rt);

/* Wake worker w if it is parked (it re-checks its queues and timers). */
void ar__worker_unpark(ar_worker *w);
void ar__worker_unpark_cb(void *w); /* the same, as a callback */

void *ar__worker_main(void *arg);

/* Current-thread flavour: run the main future and the tasks on the calling
 * thread until the future is ready (0) or the runtime is shut down from
 * another thread (-ECANCELED). */
struct ar__thread_waker;
int ar__worker_block_on(ar_worker *w, const ar_future_vt *vt, void *fut,
                         struct ar__thread_waker *tw);

#endif
