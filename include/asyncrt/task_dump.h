/*
 * asyncrt/task_dump.h - list a runtime's live tasks, on demand.
 *
 * Each line gives a task's address, its state, its name and where it was
 * spawned:
 *
 *     task dump: 3 live tasks, 2 workers
 *     worker 0: 2 tasks
 *       0x7f3a5c001040  idle       conn         examples/kv/main.c:212
 *       0x7f3a5c001100  scheduled  expiry_loop  examples/kv/main.c:305
 *     worker 1: 0 tasks
 *     other threads: 1 task
 *       0x7f3a5c0011c0  running    accept_loop  ?
 *
 * States:
 *   running     being polled now, or spawned and not yet polled;
 *   scheduled   woken, waiting in a run queue;
 *   idle        waiting for a wake (I/O, timer, channel, lock, ...);
 *   with ",cancelling" appended once abort or shutdown asked for the drop.
 * Names: the one given to ar_spawn_named / ar_task_set_spawn_named, else the
 * future type's (vt->name, from AR_FUTURE_VT).  Sites ("file:line" of the
 * ar_spawn call) are recorded only when the runtime was created with
 * ar_rt_opts.task_sites set; "?" otherwise, and for tasks spawned through
 * closures (ar_spawn_call*).
 *
 * Tasks are grouped by the worker they were spawned on ("other threads":
 * spawned from plain threads), which is not always the worker running them
 * now (work stealing).  The list is a snapshot taken worker by worker: a
 * task that starts or ends meanwhile may be missing or listed.
 */
#ifndef ASYNCRT_TASK_DUMP_H
#define ASYNCRT_TASK_DUMP_H

#include <stdio.h>

#include "asyncrt/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Write the list of rt's live tasks to out.  Each worker lists the tasks
 * spawned on it between two polls (its registry is its own), so this call
 * blocks until every worker has answered: a worker busy in one long poll
 * delays it.  Call it from a plain thread or a blocking-pool job
 * (ar_spawn_blocking), e.g. on SIGUSR1:
 *
 *     static void *dump_job(void *rt) { ar_rt_dump_tasks(rt, stderr); return NULL; }
 *     ...  ar_spawn_blocking(rt, dump_job, rt, &self->job);  (then await or drop it)
 *
 * Returns the number of tasks listed (>= 0), or
 *   -EINVAL     rt or out NULL;
 *   -EDEADLK    called on a worker thread of rt (it would wait for itself);
 *               a current-thread runtime's own thread is served directly;
 *   -ESHUTDOWN  rt is shut down (or shutting down before every worker
 *               answered: what was gathered is still written);
 *   -ENOMEM     no memory for the listing;
 *   -EIO        writing to out failed.
 * Concurrent calls are serialised.  Must not race with ar_rt_free(rt).
 */
AR_EXTERN int ar_rt_dump_tasks(ar_rt *rt, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
