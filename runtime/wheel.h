/*
 * runtime/wheel.h - a hierarchical timing wheel (the layout of Tokio's
 * time/wheel): 6 levels of 64 slots; level L slots are 64^L ms wide, so the
 * wheel spans 64^6 ms (about 795 days; later deadlines are re-filed as the
 * wheel turns).  An entry sits at the level of the
 * highest bit in which its deadline differs from `elapsed`: every entry of
 * a lower level expires before any entry of a higher one, and as time
 * reaches a higher-level slot its entries cascade down.  Insert and remove
 * are O(1) (intrusive doubly linked slot lists, a 64-bit occupancy mask per
 * level).
 *
 * One wheel per worker.  All fields, and the list/slot/state/waker fields
 * of every entry in it, are guarded by `lock`: the owner worker advances
 * and fires it; any thread may insert (a sleep polled elsewhere) or remove
 * (a sleep dropped on another worker).
 */
#ifndef AR_RUNTIME_WHEEL_H
#define AR_RUNTIME_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#include "asyncrt/time.h"
#include "spinlock.h"

#define AR__WHEEL_LEVELS 6
#define AR__WHEEL_SLOTS 64
#define AR__TIMER_NONE UINT64_MAX

enum { AR__TIMER_INIT = 0, AR__TIMER_REGISTERED = 1, AR__TIMER_FIRED = 2 };

typedef struct ar__wheel {
    ar__spinlock lock;
    uint64_t elapsed;  /* ticks (ms) processed so far */
    _Atomic uint32_t count; /* registered entries: written under the lock,
                             * read without it as a hint (relaxed) */
    uint64_t occupied[AR__WHEEL_LEVELS];
    ar__timer *slots[AR__WHEEL_LEVELS][AR__WHEEL_SLOTS];
} ar__wheel;

/* Monotonic clock in ms ticks, rounded down (now) and up (deadlines). */
uint64_t ar__now_tick(void);
uint64_t ar__tick_after_ns(uint64_t ns_from_now);

void ar__wheel_init(ar__wheel *w);

/* Register t (state INIT) with its deadline; the caller holds the lock.
 * Returns false when the deadline has already passed (not registered). */
bool ar__wheel_insert_locked(ar__wheel *w, ar__timer *t);
/* Unlink a registered t; the caller holds the lock. */
void ar__wheel_remove_locked(ar__wheel *w, ar__timer *t);

/* Owner: fire every entry due at `now` (ticks): state FIRED, wakers woken
 * after the lock is released.  Returns how many fired. */
uint32_t ar__wheel_process(ar__wheel *w, uint64_t now);

/* Tick of the earliest registered deadline, or AR__TIMER_NONE. */
uint64_t ar__wheel_next_deadline(ar__wheel *w);

#endif
