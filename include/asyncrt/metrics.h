/*
 * asyncrt/metrics.h - what the runtime is doing, readable from C at any
 * time, from any thread (Tokio's RuntimeMetrics).
 *
 * Counters count since the runtime was created.  Each is read whole but
 * they are not read at one instant: while tasks run, a snapshot may be a
 * little old and its figures may not add up exactly (tasks_alive is
 * computed from two such counters and is exact once the runtime is quiet).
 * Reading costs a few loads per worker; the counting itself costs the
 * workers no locked instruction.
 */
#ifndef ASYNCRT_METRICS_H
#define ASYNCRT_METRICS_H

#include <stdint.h>

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ar_worker_metrics {
    uint64_t polls;      /* tasks polled */
    uint64_t spawned;    /* ar_spawn calls made from this worker's tasks */
    uint64_t completed;  /* tasks that finished (or were aborted) here */
    uint64_t steals;     /* times it stole work from another worker */
    uint64_t parks;      /* times it went to sleep waiting for work or I/O */
    uint64_t io_submitted; /* I/O operations its reactor started (a
                              multishot stream's re-arm counts one) */
    uint64_t io_completed; /* completions its reactor delivered (each of a
                              multishot stream's counts) */
    uint32_t queue_depth; /* tasks in its local run queue now */
} ar_worker_metrics;

typedef struct ar_rt_metrics {
    uint32_t workers;         /* worker threads (0: current-thread flavour) */
    uint64_t tasks_spawned;   /* every successful ar_spawn */
    uint64_t tasks_alive;     /* spawned and not yet finished or dropped */
    uint64_t remote_spawned;  /* spawns from threads that are not workers */
    uint64_t polls, steals, parks; /* sums over the workers */
    uint64_t io_submitted, io_completed; /* sums over the workers' reactors */
    uint32_t queue_depth;     /* sum of the workers' local queues */
    uint32_t injection_depth; /* tasks in the global injection queue */
} ar_rt_metrics;

/* Fill *m.  Returns 0, or -EINVAL for NULL. */
AR_EXTERN int ar_rt_metrics_read(const ar_rt *rt, ar_rt_metrics *m);

/* Fill *m for worker i (0 .. ar_rt_workers(rt)-1; the current-thread
 * flavour has one, index 0).  Returns 0, or -EINVAL (NULL, i out of
 * range). */
AR_EXTERN int ar_rt_worker_metrics_read(const ar_rt *rt, uint32_t i, ar_worker_metrics *m);

#ifdef __cplusplus
}
#endif

#endif
