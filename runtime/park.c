/*
 * runtime/park.c - futex parker (see park.h for the protocol).
 */
#include "park.h"

#include <errno.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The futex syscall takes the word's address; an _Atomic uint32_t has the
 * same size and representation as uint32_t on Linux targets. */
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "futex word size");

static void futex_wait(_Atomic uint32_t *w, uint32_t val, const struct timespec *rel)
{
    syscall(SYS_futex, (void *)(uintptr_t)w, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (void *)(uintptr_t)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void ar__parker_init(ar__parker *p) { atomic_init(&p->state, AR__PARK_EMPTY); }

void ar__park_timeout(ar__parker *p, uint64_t timeout_ns)
{
    if (!ar__park_begin(p))
        return; /* an unpark already arrived */
    uint32_t expect;
    struct timespec rel, *relp = NULL;
    if (timeout_ns != UINT64_MAX) {
        rel.tv_sec = (time_t)(timeout_ns / 1000000000u);
        rel.tv_nsec = (long)(timeout_ns % 1000000000u);
        relp = &rel;
    }
    for (;;) {
        futex_wait(&p->state, AR__PARK_PARKED, relp);
        expect = AR__PARK_NOTIFIED;
        if (atomic_compare_exchange_strong_explicit(&p->state, &expect, AR__PARK_EMPTY,
                                                    memory_order_acquire, memory_order_relaxed))
            return;
        if (relp) {
            /* Timed out (or a signal): go back to EMPTY unless an unpark
             * raced in, which we then consume. */
            expect = AR__PARK_PARKED;
            if (!atomic_compare_exchange_strong_explicit(&p->state, &expect, AR__PARK_EMPTY,
                                                         memory_order_acquire,
                                                         memory_order_relaxed))
                atomic_store_explicit(&p->state, AR__PARK_EMPTY, memory_order_seq_cst);
            return;
        }
        /* Spurious wake-up (signal, EAGAIN): still PARKED, wait again. */
    }
}

void ar__park(ar__parker *p) { ar__park_timeout(p, UINT64_MAX); }

void ar__unpark(ar__parker *p)
{
    if (ar__unpark_mark(p))
        futex_wake(&p->state);
}
