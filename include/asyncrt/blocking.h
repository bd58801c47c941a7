/*
 * asyncrt/blocking.h - running blocking C functions off the workers.
 *
 * ar_spawn_blocking hands a plain C function to the runtime's blocking
 * pool, a set of threads separate from the workers, and gives back a future
 * of its result, so a task awaiting it never blocks a worker:
 *
 *     T_OK(ar_spawn_blocking(NULL, read_config, path, &self->job));
 *     AR_AWAIT(ar_blocking_poll(&self->job, cx));
 *     if (self->job.out.res == 0) use(self->job.out.value);
 *
 * The pool (one per runtime, like Tokio's spawn_blocking pool):
 *   - starts with no thread and starts one per job while none is idle, up to
 *     ar_rt_opts.max_blocking_threads (default 512); beyond the cap jobs
 *     wait in a FIFO queue;
 *   - a thread idle for ar_rt_opts.blocking_keep_alive_ms (default 10 s)
 *     exits;
 *   - at runtime shutdown, after the tasks were dropped: queued jobs are
 *     cancelled (their functions never run), then ar_rt_shutdown waits up
 *     to ar_rt_opts.blocking_shutdown_timeout_ms (default 10 s) for running
 *     jobs to return.  A job still running after that is left detached: its
 *     thread keeps running it, and when it returns its result is released
 *     and the thread exits; ar_rt_shutdown then returns -ETIMEDOUT to say
 *     so (the runtime is shut down all the same, and may be freed: the pool
 *     lives on, holding no pointer to the runtime, until its last thread
 *     exits).  The function must not use the runtime after shutdown.
 *
 * Results and release: the result is a void * (a pointer, or an integer
 * through intptr_t).  When the result will never reach the future's owner,
 * the optional release function runs exactly once, on whichever thread lets
 * go last, so that arg and result can be freed:
 *   release(arg, NULL, false)   the job was cancelled before it ran (the
 *                               future was dropped, or shutdown drained
 *                               the queue);
 *   release(arg, result, true)  the job ran but the future was dropped
 *                               before it took the result.
 * It does not run when the future completes with res == 0 (the owner has
 * the result and arg).
 */
#ifndef ASYNCRT_BLOCKING_H
#define ASYNCRT_BLOCKING_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*ar_blocking_fn)(void *arg);
typedef void (*ar_blocking_release_fn)(void *arg, void *result, bool ran);

/* Output of a blocking future. */
typedef struct ar_blocking_out {
    void *value; /* the function's result when res == 0 */
    int res;     /* 0, or -ECANCELED: cancelled at shutdown before it ran;
                  * -EBADF: the future was empty (failed spawn, or done) */
} ar_blocking_out;

struct ar__bjob;

/* A future of a blocking job.  Members are private except `out`.  It may
 * be moved (it holds only a pointer to the job) and be polled from any
 * thread, one at a time. */
typedef struct ar_blocking {
    struct ar__bjob *job;
    ar_blocking_out out;
} ar_blocking;

/*
 * Queue fn(arg) on the blocking pool of rt (NULL: the current runtime) and
 * make *fut its future.  release may be NULL (see above).
 * Returns 0, or (with *fut empty, fn not run and release not called):
 *   -EINVAL     fut or fn NULL, or no runtime;
 *   -ESHUTDOWN  the runtime is shut down or shutting down;
 *   -ENOMEM     no memory for the job;
 *   -EAGAIN     the pool has no thread and none could be started.
 */
AR_EXTERN int ar_spawn_blocking(ar_rt *rt, ar_blocking_fn fn, void *arg, ar_blocking *fut);
AR_EXTERN int ar_spawn_blocking_ex(ar_rt *rt, ar_blocking_fn fn, void *arg,
                                   ar_blocking_release_fn release, ar_blocking *fut);

/* AR_READY once the job returned (out.res 0, out.value its result) or was
 * cancelled by shutdown before it ran (out.res -ECANCELED).  The future is
 * then empty: polling it again gives AR_READY with out unchanged.  A NULL
 * cx gives AR_READY with out.res -EINVAL and changes nothing else: the job
 * goes on and a later poll with a cx gets its result. */
AR_EXTERN ar_poll ar_blocking_poll(ar_blocking *fut, ar_cx *cx);

/* Drop the future: a job not started yet is cancelled (fn never runs); a
 * running one runs on and its result is released when it returns.
 * Idempotent; NULL is a no-op. */
AR_EXTERN void ar_blocking_drop(ar_blocking *fut);

/* Vtable of ar_blocking (output: out), to spawn it as a task or use it as
 * a child of ar_timeout, ar_select, ar_join_all. */
AR_EXTERN extern const ar_future_vt ar_blocking_vt;

/* Pool statistics of rt, for monitoring and tests: threads alive, of which
 * idle, and jobs queued.  Any pointer may be NULL.  Returns 0, -EINVAL. */
AR_EXTERN int ar_blocking_stats(const ar_rt *rt, uint32_t *threads, uint32_t *idle,
                                uint32_t *queued);

#ifdef __cplusplus
}
#endif

#endif
