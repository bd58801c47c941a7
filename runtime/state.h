/*
 * runtime/state.h - the task state word: lifecycle flags and the reference
 * count in one atomic 32-bit word (the design of Tokio's task/state.rs).
 *
 * Every transition is one read-modify-write that returns an action the
 * caller must carry out (submit to a queue, deallocate, cancel, nothing).
 * Only an action of DEALLOC frees the task.
 *
 * Flags
 *   RUNNING        a thread owns the future (polling it, or dropping it).
 *                  Only the thread that set RUNNING touches the future.
 *   COMPLETE       the future finished or was dropped; the output (if any)
 *                  is readable by the join handle.  Never cleared.
 *   NOTIFIED       the task is, or is about to be, in a run queue; the queue
 *                  entry holds one reference.
 *   JOIN_INTEREST  a join handle exists.
 *   JOIN_WAKER     the join_waker field is set and owned by the task side
 *                  (rules copied from Tokio's task/mod.rs):
 *                    - JOIN_INTEREST clear or JOIN_WAKER clear and !COMPLETE:
 *                      the join handle may write join_waker;
 *                    - JOIN_WAKER set and !COMPLETE: nobody writes it;
 *                    - COMPLETE and JOIN_WAKER set: the completing thread
 *                      reads it, wakes it, then clears JOIN_WAKER.
 *   CANCELLED      abort or shutdown asked for the future to be dropped.
 *   RES_CANCELLED  set together with COMPLETE when the task ended by being
 *                  dropped: the joiner gets -ECANCELED.
 *
 * References (count in bits REF_SHIFT..31).  A new task starts RUNNING
 * (not NOTIFIED: its first run-queue entry owns RUNNING, see task.h) with:
 *   1 for the owned-tasks registry (dropped on completion or by a sweep),
 *   1 for the join handle (when not detached),
 *   1 for the run-queue entry.
 * Each cloned waker holds one more.
 *
 * Chaos mode (chaos.h): a hook before each read-modify-write may yield or
 * delay, so the window between a load and its CAS is exercised.
 *
 * Memory order: transitions are AcqRel so that what the previous owner of
 * RUNNING wrote into the future (and the output) is visible to the next
 * owner and to the joiner that sees COMPLETE.
 */
#ifndef AR_RUNTIME_STATE_H
#define AR_RUNTIME_STATE_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chaos.h"

enum {
    AR__ST_RUNNING = 1u << 0,
    AR__ST_COMPLETE = 1u << 1,
    AR__ST_NOTIFIED = 1u << 2,
    AR__ST_JOIN_INTEREST = 1u << 3,
    AR__ST_JOIN_WAKER = 1u << 4,
    AR__ST_CANCELLED = 1u << 5,
    AR__ST_RES_CANCELLED = 1u << 6,
    AR__ST_REF_SHIFT = 7,
};
#define AR__ST_REF_ONE (1u << AR__ST_REF_SHIFT)
#define AR__ST_LIFECYCLE (AR__ST_RUNNING | AR__ST_COMPLETE)

static inline uint32_t ar__st_refs(uint32_t s) { return s >> AR__ST_REF_SHIFT; }

/* Actions a transition hands back. */
typedef enum ar__st_action {
    AR__ACT_NOTHING = 0,
    AR__ACT_SUBMIT,  /* put the task in a run queue (a reference goes with it) */
    AR__ACT_DEALLOC, /* last reference gone: free the task */
    AR__ACT_SUCCESS, /* to_running: poll it */
    AR__ACT_CANCEL,  /* to_running / to_idle: drop the future, complete */
    AR__ACT_FAILED,  /* to_running: already running/complete; ref dropped */
    AR__ACT_OK_NOTIFIED, /* to_idle: woken during the poll, requeue (yield) */
} ar__st_action;

#define AR__CAS(s, cur, next)                                                    \
    atomic_compare_exchange_weak_explicit((s), (cur), (next), memory_order_acq_rel, \
                                          memory_order_acquire)

/* Queue entry -> poll.  Consumes nothing on SUCCESS/CANCEL (the queue's
 * reference becomes the running reference); on FAILED drops it. */
static inline ar__st_action ar__st_to_running(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        uint32_t next;
        ar__st_action act;
        if (!(cur & AR__ST_LIFECYCLE)) {
            next = (cur | AR__ST_RUNNING) & ~AR__ST_NOTIFIED;
            act = (cur & AR__ST_CANCELLED) ? AR__ACT_CANCEL : AR__ACT_SUCCESS;
        } else {
            assert(ar__st_refs(cur) > 0);
            next = cur - AR__ST_REF_ONE;
            act = ar__st_refs(next) == 0 ? AR__ACT_DEALLOC : AR__ACT_FAILED;
        }
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return act;
    }
}

/* After a poll returned AR_PENDING. */
static inline ar__st_action ar__st_to_idle(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        assert(cur & AR__ST_RUNNING);
        if (cur & AR__ST_CANCELLED)
            return AR__ACT_CANCEL;
        uint32_t next = cur & ~AR__ST_RUNNING;
        ar__st_action act;
        if (cur & AR__ST_NOTIFIED) {
            /* The running reference moves to the new queue entry. */
            act = AR__ACT_OK_NOTIFIED;
        } else {
            next -= AR__ST_REF_ONE;
            act = ar__st_refs(next) == 0 ? AR__ACT_DEALLOC : AR__ACT_NOTHING;
        }
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return act;
    }
}

/* RUNNING -> COMPLETE (with RES_CANCELLED if the future was dropped).
 * Returns the new state. */
static inline uint32_t ar__st_to_complete(_Atomic uint32_t *s, bool cancelled)
{
    uint32_t delta = AR__ST_RUNNING | AR__ST_COMPLETE | (cancelled ? AR__ST_RES_CANCELLED : 0);
    AR__CHAOS(AR__CHAOS_STATE);
    uint32_t prev = atomic_fetch_xor_explicit(s, delta, memory_order_acq_rel);
    assert((prev & AR__ST_RUNNING) && !(prev & AR__ST_COMPLETE));
    return prev ^ delta;
}

/* Drop `count` references; true when they were the last (dealloc). */
static inline bool ar__st_ref_dec_n(_Atomic uint32_t *s, uint32_t count)
{
    AR__CHAOS(AR__CHAOS_STATE);
    uint32_t prev = atomic_fetch_sub_explicit(s, count * AR__ST_REF_ONE, memory_order_acq_rel);
    assert(ar__st_refs(prev) >= count);
    return ar__st_refs(prev) == count;
}

static inline void ar__st_ref_inc(_Atomic uint32_t *s)
{
    uint32_t prev = atomic_fetch_add_explicit(s, AR__ST_REF_ONE, memory_order_relaxed);
    /* Overflow of 25 bits of references means a waker leak: stop here. */
    if (ar__st_refs(prev) >= (UINT32_MAX >> AR__ST_REF_SHIFT) - 1)
        __builtin_trap();
}

/* Wake consuming a waker reference. */
static inline ar__st_action ar__st_notify_by_val(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        uint32_t next;
        ar__st_action act;
        if (cur & AR__ST_RUNNING) {
            /* The poller requeues it; the running reference keeps it alive. */
            next = (cur | AR__ST_NOTIFIED) - AR__ST_REF_ONE;
            act = AR__ACT_NOTHING;
        } else if (cur & (AR__ST_COMPLETE | AR__ST_NOTIFIED)) {
            next = cur - AR__ST_REF_ONE;
            act = ar__st_refs(next) == 0 ? AR__ACT_DEALLOC : AR__ACT_NOTHING;
        } else {
            /* The waker's reference becomes the queue entry's. */
            next = cur | AR__ST_NOTIFIED;
            act = AR__ACT_SUBMIT;
        }
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return act;
    }
}

/* Wake keeping the waker reference. */
static inline ar__st_action ar__st_notify_by_ref(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        uint32_t next;
        ar__st_action act;
        if (cur & (AR__ST_COMPLETE | AR__ST_NOTIFIED)) {
            return AR__ACT_NOTHING;
        } else if (cur & AR__ST_RUNNING) {
            next = cur | AR__ST_NOTIFIED;
            act = AR__ACT_NOTHING;
        } else {
            next = (cur | AR__ST_NOTIFIED) + AR__ST_REF_ONE;
            act = AR__ACT_SUBMIT;
        }
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return act;
    }
}

/* Abort: returns SUBMIT when the caller must queue the task (a new
 * reference was taken for the entry) so a worker drops the future. */
static inline ar__st_action ar__st_notify_and_cancel(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        uint32_t next;
        ar__st_action act = AR__ACT_NOTHING;
        if (cur & (AR__ST_CANCELLED | AR__ST_COMPLETE))
            return AR__ACT_NOTHING;
        if (cur & AR__ST_RUNNING) {
            /* The poller sees CANCELLED in to_idle and drops the future. */
            next = cur | AR__ST_NOTIFIED | AR__ST_CANCELLED;
        } else if (cur & AR__ST_NOTIFIED) {
            /* Already queued: the worker sees CANCELLED in to_running. */
            next = cur | AR__ST_CANCELLED;
        } else {
            next = (cur | AR__ST_NOTIFIED | AR__ST_CANCELLED) + AR__ST_REF_ONE;
            act = AR__ACT_SUBMIT;
        }
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return act;
    }
}

/* Runtime shutdown: mark CANCELLED; if the task was idle (neither running
 * nor complete) take RUNNING too and return true: the caller now owns the
 * future and must drop it and complete the task. */
static inline bool ar__st_to_shutdown(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        bool idle = !(cur & AR__ST_LIFECYCLE);
        uint32_t next = cur | AR__ST_CANCELLED | (idle ? AR__ST_RUNNING : 0);
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return idle;
    }
}

/* Join side: store the waker flag unless the task completed meanwhile.
 * Returns false when COMPLETE was seen (nothing changed). */
static inline bool ar__st_set_join_waker(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        assert(cur & AR__ST_JOIN_INTEREST);
        assert(!(cur & AR__ST_JOIN_WAKER));
        if (cur & AR__ST_COMPLETE)
            return false;
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, cur | AR__ST_JOIN_WAKER))
            return true;
    }
}

/* Join side: take back the waker slot to replace it (fails if COMPLETE). */
static inline bool ar__st_unset_join_waker(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        assert(cur & AR__ST_JOIN_INTEREST);
        assert(cur & AR__ST_JOIN_WAKER);
        if (cur & AR__ST_COMPLETE)
            return false;
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, cur & ~AR__ST_JOIN_WAKER))
            return true;
    }
}

/* Task side after waking the joiner: clear JOIN_WAKER; returns the state
 * after.  If JOIN_INTEREST is gone, the task side drops the waker. */
static inline uint32_t ar__st_unset_waker_after_complete(_Atomic uint32_t *s)
{
    uint32_t prev = atomic_fetch_and_explicit(s, ~(uint32_t)AR__ST_JOIN_WAKER, memory_order_acq_rel);
    assert((prev & AR__ST_COMPLETE) && (prev & AR__ST_JOIN_WAKER));
    return prev & ~(uint32_t)AR__ST_JOIN_WAKER;
}

/* Join handle released.  Returns the state after the transition: the
 * handle side must drop the join waker when JOIN_WAKER is clear in it (it
 * then holds exclusive access), and owns the output when COMPLETE is set
 * (the task side saw JOIN_INTEREST and left the output alone). */
static inline uint32_t ar__st_join_handle_dropped(_Atomic uint32_t *s)
{
    uint32_t cur = atomic_load_explicit(s, memory_order_acquire);
    for (;;) {
        assert(cur & AR__ST_JOIN_INTEREST);
        uint32_t next = cur & ~AR__ST_JOIN_INTEREST;
        if (!(cur & AR__ST_COMPLETE))
            next &= ~AR__ST_JOIN_WAKER;
        AR__CHAOS(AR__CHAOS_STATE);
        if (AR__CAS(s, &cur, next))
            return next;
    }
}

#endif
