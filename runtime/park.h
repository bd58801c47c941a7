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
#include <stdint.h>

typedef struct ar__parker {
    _Atomic uint32_t state;
} ar__parker;

void ar__parker_init(ar__parker *p);
/* Block until unparked (or a spurious futex return; callers loop). */
void ar__park(ar__parker *p);
/* The same, giving up after timeout_ns (UINT64_MAX: no timeout). */
void ar__park_timeout(ar__parker *p, uint64_t timeout_ns);
void ar__unpark(ar__parker *p);

#endif
