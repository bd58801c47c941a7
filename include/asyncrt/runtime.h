/*
 * asyncrt/runtime.h - the executor: runtimes, spawning, join handles.
 *
 * Threading model
 * ---------------
 * A multi-thread runtime (AR_RT_MULTI_THREAD) runs `workers` threads, each
 * with its own bounded run queue and a LIFO slot; idle workers steal half of
 * a random victim's queue and park (without spinning) when nothing is left.
 * A current-thread runtime (AR_RT_CURRENT_THREAD) has no threads at all: the
 * thread inside ar_block_on runs every task, with the same scheduler code
 * and no stealing.
 *
 * Lifetimes
 * ---------
 * ar_rt_new -> (spawn, block_on)* -> ar_rt_shutdown -> ar_rt_free.
 * Shutdown stops the workers, drops every task that has not finished (each
 * future's drop function runs exactly once; their joiners see -ECANCELED)
 * and joins every thread.  Join handles may outlive the runtime: they still
 * report the result and must still be released.
 *
 * The runtime is opaque (a long-lived object, like lua_State): its layout is
 * free to change.  Join handles are exposed because users embed them by
 * value in their futures; treat their members as private.
 */
#ifndef ASYNCRT_RUNTIME_H
#define ASYNCRT_RUNTIME_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ar_rt ar_rt;
typedef struct ar_task ar_task;

typedef enum ar_rt_flavor {
    AR_RT_MULTI_THREAD = 0,
    AR_RT_CURRENT_THREAD = 1,
} ar_rt_flavor;

/* Upper bound on workers: more is refused with -EINVAL. */
#define AR_RT_MAX_WORKERS 1024

/*
 * The I/O backend (asyncrt/io.h): every worker of a runtime drives one
 * reactor of the same backend, chosen once in ar_rt_new.
 *   AR_IO_BACKEND_AUTO   the environment variable AR_BACKEND decides
 *                        ("uring" or "io_uring", "epoll", "auto"; any other
 *                        value is reported once on stderr and means auto);
 *                        auto is io_uring, or epoll when io_uring cannot be
 *                        set up (seccomp's EPERM in containers, ENOSYS, the
 *                        kernel.io_uring_disabled sysctl, ...), which is
 *                        said once per process on stderr with the error.
 *   AR_IO_BACKEND_URING  io_uring or nothing: when it cannot be set up,
 *                        ar_rt_new fails with its error (-EPERM, -ENOSYS,
 *                        ...) and says so on stderr.  AR_BACKEND=uring does
 *                        the same for an AUTO runtime.
 *   AR_IO_BACKEND_EPOLL  the epoll fallback, whatever the kernel has.
 * ar_rt_io_backend tells which one a runtime got.
 */
typedef enum ar_io_backend {
    AR_IO_BACKEND_AUTO = 0,
    AR_IO_BACKEND_URING = 1,
    AR_IO_BACKEND_EPOLL = 2,
} ar_io_backend;

typedef struct ar_rt_opts {
    ar_rt_flavor flavor;
    /* Worker threads (multi-thread only): 1..AR_RT_MAX_WORKERS.  The default
     * from ar_rt_opts_init is the number of online CPUs.  Must be 0 or 1 for
     * the current-thread flavour. */
    uint32_t workers;
    /* I/O backend; the default (AUTO, 0) lets AR_BACKEND decide. */
    ar_io_backend backend;
    /* Blocking pool (asyncrt/blocking.h); 0 means the default.
     * max_blocking_threads: cap on its threads (default 512).
     * blocking_keep_alive_ms: an idle pool thread exits after this long
     *   (default 10000).
     * blocking_shutdown_timeout_ms: how long ar_rt_shutdown waits for
     *   blocking jobs still running (default 10000; jobs still running
     *   after it are left detached and shutdown returns -ETIMEDOUT). */
    uint32_t max_blocking_threads;
    uint32_t blocking_keep_alive_ms;
    uint32_t blocking_shutdown_timeout_ms;
    /* Record where each task was spawned (file:line), for the task dump
     * (asyncrt/task_dump.h).  Costs 16 bytes per live task in a side table
     * and one store per spawn; off by default.  Names given to
     * ar_spawn_named are kept either way. */
    bool task_sites;
} ar_rt_opts;

/* Fill opts with the defaults: multi-thread, one worker per online CPU,
 * the blocking pool's defaults. */
AR_EXTERN void ar_rt_opts_init(ar_rt_opts *opts);

/*
 * Create a runtime.  opts may be NULL for the defaults.
 * Returns 0, -EINVAL (NULL out, bad flavour, worker count or backend),
 * -ENOMEM, the error of the I/O backend's setup (io_uring forced but
 * unavailable: -EPERM, -ENOSYS...; epoll: -EMFILE...), or the error of
 * pthread_create (as -errno), with nothing left behind.
 */
AR_EXTERN int ar_rt_new(ar_rt **out, const ar_rt_opts *opts);

/*
 * Stop the runtime: no new spawns (they fail with -ESHUTDOWN), workers finish
 * the poll they are in and exit, every unfinished task is dropped, every
 * thread joined.  Then the blocking pool's queued jobs are cancelled and its
 * running jobs are waited for up to blocking_shutdown_timeout_ms.
 * Idempotent.  Must not be called from inside a task (-EDEADLK).
 * Returns 0, -EINVAL (NULL), or -ETIMEDOUT: shut down all the same, but
 * blocking jobs were still running at the timeout and were left detached on
 * their threads (asyncrt/blocking.h); later calls return 0.
 */
AR_EXTERN int ar_rt_shutdown(ar_rt *rt);

/*
 * Graceful shutdown: let the tasks finish by themselves for up to
 * timeout_ms (no new work is refused meanwhile; a current-thread runtime is
 * driven by this call while it waits), then ar_rt_shutdown, which drops
 * what is left.  Tasks that never end by themselves (an accept loop, a task
 * parked forever) are waited for the whole timeout: tell them to stop first
 * (a notify, a closed channel).  Jobs of the blocking pool are not tasks:
 * the shutdown then waits for them up to blocking_shutdown_timeout_ms, so
 * the call returns within timeout_ms plus that.  Returns 0 when every task
 * had finished before the shutdown, -ETIMEDOUT when some were dropped or
 * blocking jobs were left running, -EDEADLK from inside the runtime,
 * -EINVAL (NULL).  The runtime is shut down in every case but -EDEADLK and
 * -EINVAL.
 */
AR_EXTERN int ar_rt_shutdown_timeout(ar_rt *rt, uint64_t timeout_ms);

/* Shut down (if not done yet) and free the runtime.  NULL is a no-op. */
AR_EXTERN void ar_rt_free(ar_rt *rt);

/* Number of worker threads (0 for the current-thread flavour). */
AR_EXTERN uint32_t ar_rt_workers(const ar_rt *rt);

/* The I/O backend the runtime drives: "io_uring" or "epoll" (static
 * strings), or NULL for a NULL runtime. */
AR_EXTERN const char *ar_rt_io_backend(const ar_rt *rt);

/* The runtime whose task (or ar_block_on) the calling thread is running,
 * or NULL. */
AR_EXTERN ar_rt *ar_rt_current(void);

/* ------------------------------------------------------------------------
 * Join handles
 *
 * Members are private.  A handle is in one of three states: live (refers to
 * a task), joined (its result was taken) or detached.  Zero-initialised
 * handles are "empty": every operation on one fails with -EBADF.
 * --------------------------------------------------------------------- */
typedef struct ar_join {
    ar_task *task;
    uint32_t state; /* AR__JOIN_* */
} ar_join;

/*
 * Spawn a task running a copy of the future `fut` (vt->size bytes are copied
 * into the task's single allocation, so `fut` may be a stack temporary).
 * join may be NULL to detach at once.  rt NULL means ar_rt_current().
 * Works from inside tasks and from any plain thread.
 * Returns 0, -EINVAL (no runtime, NULL vt/fut/poll, size too large),
 * -ESHUTDOWN (runtime shut down), -ENOMEM (the runtime stays usable).
 */
AR_EXTERN int ar_spawn(ar_rt *rt, const ar_future_vt *vt, const void *fut, ar_join *join);

/*
 * ar_spawn with a name and a spawn site for the task dump
 * (asyncrt/task_dump.h).  Both strings must outlive the task (string
 * literals do); either may be NULL.  The dump shows the future type's name
 * (vt->name) when name is NULL, and the site only when the runtime was
 * created with ar_rt_opts.task_sites.
 *
 * ar_spawn and ar_spawn_named are macros over it that pass the caller's
 * file:line, so every spawn site is known at no cost to the caller;
 * `(ar_spawn)(...)` still calls the plain function (no site).
 */
AR_EXTERN int ar_spawn_at(ar_rt *rt, const ar_future_vt *vt, const void *fut, ar_join *join,
                          const char *name, const char *site);

#define AR__STR2(x) #x
#define AR__STR(x) AR__STR2(x)
/* "file.c:123" of the line it is written on. */
#define AR_SITE __FILE__ ":" AR__STR(__LINE__)
#define ar_spawn(rt, vt, fut, join) ar_spawn_at((rt), (vt), (fut), (join), NULL, AR_SITE)
#define ar_spawn_named(rt, name, vt, fut, join)                                  \
    ar_spawn_at((rt), (vt), (fut), (join), (name), AR_SITE)

/*
 * Await the task from inside another future.  When AR_READY, *res is:
 *   0            the task finished; its output was copied to out
 *                (out_size must equal the task's vt->out_size, or out NULL);
 *   -ECANCELED   the task was aborted or dropped by shutdown;
 *   -EINVAL      out_size does not match (the handle stays live: retry);
 *   -EALREADY    the handle was joined already;  -EBADF  detached or empty.
 * After a result other than -EINVAL the handle is released: no ar_join_detach
 * is needed.  Dropping the awaiting future before it is ready is safe: call
 * ar_join_detach (or keep the handle and join later).
 */
AR_EXTERN ar_poll ar_join_poll(ar_join *join, ar_cx *cx, void *out, size_t out_size, int *res);

/*
 * Block the calling plain thread until the task finishes; same results as
 * ar_join_poll.  Called on a worker thread it returns -EDEADLK (it would
 * block the worker): await ar_join_poll there instead.
 */
AR_EXTERN int ar_join_wait(ar_join *join, void *out, size_t out_size);

/* Let the task run on with nobody waiting for it; releases the handle.
 * Returns 0, -EALREADY (joined), -EBADF (detached or empty). */
AR_EXTERN int ar_join_detach(ar_join *join);

/*
 * Ask the task to stop: its future is dropped (drop function runs once) at
 * its next scheduling point, and a join then gives -ECANCELED.  A task that
 * already finished keeps its output.  The handle stays live.
 * Returns 0, -EALREADY (joined), -EBADF (detached or empty).
 */
AR_EXTERN int ar_join_abort(ar_join *join);

/* True once the task finished (output ready or cancelled). */
AR_EXTERN bool ar_join_is_finished(const ar_join *join);

/* ------------------------------------------------------------------------
 * Running futures
 * --------------------------------------------------------------------- */

/*
 * Run the future `fut` (in the caller's storage, polled in place) to
 * completion on the calling thread; its output is then in *fut.  Tasks it
 * spawns run on the runtime's workers (current-thread flavour: on this
 * thread, between its polls).  Returns 0, -EINVAL (NULL), -ESHUTDOWN,
 * -EDEADLK (called from inside a task: await instead), -EBUSY (another
 * thread is in ar_block_on of the same current-thread runtime), -ECANCELED
 * (the runtime was shut down by another thread meanwhile; the future was
 * not finished and is left as it is, to be dropped by the caller), -ENOMEM.  The main future's wakers
 * stay safe to use (and do nothing) after ar_block_on returns.
 */
AR_EXTERN int ar_block_on(ar_rt *rt, const ar_future_vt *vt, void *fut);

/* A future that returns AR_PENDING once (rescheduling the task behind the
 * others in its worker's queue), then AR_READY.  Embed by value, zero-init. */
typedef struct ar_yield_now {
    uint8_t yielded;
} ar_yield_now;

AR_EXTERN ar_poll ar_yield_now_poll(ar_yield_now *y, ar_cx *cx);

#ifdef __cplusplus
}
#endif

#endif
