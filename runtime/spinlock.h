/*
 * runtime/spinlock.h - a small test-and-test-and-set lock for critical
 * sections of a few dozen instructions (registry insert/remove, inject queue
 * push/pop).  After a short spin it yields the CPU, so a holder preempted on
 * these 2-core shared machines costs a sched_yield, not a burned time slice.
 *
 * lock: exchange(1, acquire)  pairs with  unlock: store(0, release).
 */
#ifndef AR_RUNTIME_SPINLOCK_H
#define AR_RUNTIME_SPINLOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct ar__spinlock {
    _Atomic int held;
} ar__spinlock;

static inline void ar__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void ar__spin_init(ar__spinlock *l) { atomic_init(&l->held, 0); }

static inline void ar__spin_lock(ar__spinlock *l)
{
    for (;;) {
        if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
            return;
        for (int i = 0; atomic_load_explicit(&l->held, memory_order_relaxed); i++) {
            if (i < 64)
                ar__cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void ar__spin_unlock(ar__spinlock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif
