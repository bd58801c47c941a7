/*
 * asyncrt/time.h - sleeps, deadlines, intervals and timeouts.
 *
 * Time is CLOCK_MONOTONIC in milliseconds (ar_now_ms).  A sleep never
 * fires early: its deadline is rounded up to the next millisecond tick and
 * it is woken at the first tick at or after it.  Timers live in a
 * hierarchical timing wheel per worker (six levels of 64 slots: O(1) insert
 * and cancel); a sleep first polled outside any worker goes to worker 0's.
 *
 * Like every future that registers itself somewhere, a sleep must stay at
 * the same address from its first poll until it completes or is dropped
 * (a future embedded in a task never moves).
 */
#ifndef ASYNCRT_TIME_H
#define ASYNCRT_TIME_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds of CLOCK_MONOTONIC. */
AR_EXTERN uint64_t ar_now_ms(void);

/* Private: the timer entry a sleep embeds.  Guarded by its wheel's lock. */
typedef struct ar__timer {
    struct ar__timer *prev, *next;
    uint64_t deadline;      /* wheel tick (ms) at or after which it fires */
    ar_waker waker;
    struct ar__wheel *wheel; /* set at registration, never changed after */
    uint16_t slot;          /* level * 64 + slot while registered */
    uint16_t state;         /* init, registered, fired */
    uint32_t pad_;
} ar__timer;

/* A future that is ready once its deadline has passed (48 bytes). */
typedef struct ar_sleep {
    ar__timer t;
} ar_sleep;

/* Sleep for ms milliseconds counted from now (the call). */
AR_EXTERN void ar_sleep_init(ar_sleep *s, uint64_t ms);
/* Sleep until ar_now_ms() >= deadline_ms. */
AR_EXTERN void ar_sleep_until_init(ar_sleep *s, uint64_t deadline_ms);
/* AR_READY once the deadline passed; then stays ready.  If the timer wheel
 * cannot be reached (no runtime on this thread and none given), it falls
 * back to waking itself and re-checking the clock. */
AR_EXTERN ar_poll ar_sleep_poll(ar_sleep *s, ar_cx *cx);
/* Cancel (O(1)); safe in any state, idempotent. */
AR_EXTERN void ar_sleep_drop(ar_sleep *s);
/* A vtable for an ar_sleep (no output), so a sleep can be a child of
 * ar_select / ar_join_all (combinator.h) or run as a task. */
AR_EXTERN extern const ar_future_vt ar_sleep_vt;
/* Deadline in ar_now_ms() units. */
static inline uint64_t ar_sleep_deadline(const ar_sleep *s) { return s->t.deadline; }

/* A stream of ticks every period_ms; the first tick is one period from
 * now.  Ticks missed while nobody polled are skipped, not bunched. */
typedef struct ar_interval {
    ar_sleep s;
    uint64_t period;
} ar_interval;

/* period_ms 0 is treated as 1. */
AR_EXTERN void ar_interval_init(ar_interval *iv, uint64_t period_ms);
/* AR_READY once per tick; call again for the next one. */
AR_EXTERN ar_poll ar_interval_tick_poll(ar_interval *iv, ar_cx *cx);
AR_EXTERN void ar_interval_drop(ar_interval *iv);

/*
 * Bound a child future (embedded elsewhere, usually beside this one in the
 * parent) by a duration.  When AR_READY, res is 0 (the child finished: its
 * output is in the child) or -ETIMEDOUT (the deadline passed first: the
 * child was dropped with vt->drop and must not be polled again).
 */
typedef struct ar_timeout {
    ar_sleep s;
    const ar_future_vt *vt;
    void *child;
    int res;
    int done;
} ar_timeout;

AR_EXTERN void ar_timeout_init(ar_timeout *t, const ar_future_vt *child_vt, void *child,
                               uint64_t ms);
AR_EXTERN ar_poll ar_timeout_poll(ar_timeout *t, ar_cx *cx);
/* Drops the timer and, unless it finished, the child. */
AR_EXTERN void ar_timeout_drop(ar_timeout *t);
/* A vtable for an ar_timeout; its output is `res`. */
AR_EXTERN extern const ar_future_vt ar_timeout_vt;

#ifdef __cplusplus
}
#endif

#endif
