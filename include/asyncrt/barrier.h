/*
 * asyncrt/barrier.h - n tasks wait until all n have arrived (Tokio's
 * Barrier).
 *
 * Each party polls an ar_barrier_wait future.  The n-th arrival completes
 * the generation: it returns at once as the leader (*is_leader true, like
 * Tokio's BarrierWaitResult::is_leader), and the n - 1 others return with
 * *is_leader false.  The barrier is then ready for the next generation.
 *
 * Cancellation: dropping a wait future before its generation completed
 * withdraws its arrival (the barrier then waits for one more party); after
 * completion, dropping it changes nothing.
 */
#ifndef ASYNCRT_BARRIER_H
#define ASYNCRT_BARRIER_H

#include "waitnode.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Members are private; guarded by `lock`. */
typedef struct ar_barrier {
    _Atomic int lock;
    uint32_t n;       /* parties per generation */
    uint32_t arrived; /* arrivals in the current generation */
    uint64_t gen;     /* current generation */
    ar_waitlist waiters;
} ar_barrier;

typedef struct ar_barrier_wait {
    ar_waitnode node; /* node.need: the generation it arrived in */
    ar_barrier *b;
} ar_barrier_wait;

/* Returns 0, -EINVAL (NULL, n == 0). */
AR_EXTERN int ar_barrier_init(ar_barrier *b, uint32_t n);
/* Returns 0, -EINVAL, -EBUSY (parties wait: nothing changes). */
AR_EXTERN int ar_barrier_destroy(ar_barrier *b);

AR_EXTERN void ar_barrier_wait_init(ar_barrier_wait *w, ar_barrier *b);

/* AR_READY once the generation it arrived in completed; *res (may be NULL)
 * is 0 or -EINVAL (NULL barrier or cx); *is_leader (may be NULL) is true for
 * exactly one party per generation. */
AR_EXTERN ar_poll ar_barrier_wait_poll(ar_barrier_wait *w, ar_cx *cx, bool *is_leader, int *res);

/* Abandon the future (any state; idempotent). */
AR_EXTERN void ar_barrier_wait_drop(ar_barrier_wait *w);

#ifdef __cplusplus
}
#endif

#endif
