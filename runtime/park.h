/*
 * runtime/park.h - a one-thread parker on a futex word.
 *
 * Exactly one thread parks on a parker (its owner); any thread unparks it.
 * An unpark that arrives before the park is remembered (the park returns at
 * once), so the classic "check, then sleep" race cannot lose a wake-up.
 *
 * state: EMPTY -> (unpark) NOTIFIED -> (park consumes) EMPTY
 *        EMPTY -> (park) PARKED -> (unpark) NOTIFIED + futex wake
 * Written by the owner (park) and by unparkers, both with SeqCst RMWs; the
 * owner's consuming exchange is Acquire-paired with the unparker's Release,
 * so what the unparker wrote before unparking is visible after the park.
 */
#ifndef AR_RUNTIME_PARK_H
#define AR_RUNTIME_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ar__parker {
    _Atomic uint32_t state;
} ar__parker;

enum { AR__PARK_EMPTY = 0, AR__PARK_PARKED = 1, AR__PARK_NOTIFIED = 2 };

/*
 * The two halves of the protocol, shared by the futex parker below and the
 * io_uring driver (which sleeps in io_uring_enter instead of on the futex).
 *
 * ar__park_begin: owner, before sleeping.  Returns false when an unpark was
 * already pending (consumed: do not sleep), true when the state is now
 * PARKED (sleep, then call ar__park_end).
 * ar__park_end: owner, after sleeping: back to EMPTY, consuming an unpark
 * that may have arrived (Acquire: pairs with the unparker's exchange).
 * ar__unpark_mark: any thread: mark NOTIFIED; true when the owner is
 * PARKED and must be woken by the caller's means (futex, eventfd).
 */
static inline bool ar__park_begin(ar__parker *p)
{
    uint32_t expect = AR__PARK_NOTIFIED;
    if (atomic_compare_exchange_strong_explicit(&p->state, &expect, AR__PARK_EMPTY,
                                                memory_order_acquire, memory_order_relaxed))
        return false;
    expect = AR__PARK_EMPTY;
    if (!atomic_compare_exchange_strong_explicit(&p->state, &expect, AR__PARK_PARKED,
                                                 memory_order_seq_cst, memory_order_seq_cst)) {
        /* It became NOTIFIED in between: consume it. */
        atomic_store_explicit(&p->state, AR__PARK_EMPTY, memory_order_seq_cst);
        return false;
    }
    return true;
}

static inline void ar__park_end(ar__parker *p)
{
    atomic_exchange_explicit(&p->state, AR__PARK_EMPTY, memory_order_acquire);
}

static inline bool ar__unpark_mark(ar__parker *p)
{
    return atomic_exchange_explicit(&p->state, AR__PARK_NOTIFIED, memory_order_seq_cst) ==
           AR__PARK_PARKED;
}

void ar__parker_init(ar__parker *p);
/* Block until unparked (or a spurious futex return; callers loop). */
void ar__park(ar__parker *p);
/* The same, giving up after timeout_ns (UINT64_MAX: no timeout). */
void ar__park_timeout(ar__parker *p, uint64_t timeout_ns);
void ar__unpark(ar__parker *p);

#endif
