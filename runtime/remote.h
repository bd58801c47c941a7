/*
 * runtime/remote.h - quiescence of wakes made from outside a runtime's
 * workers, so that a runtime is never freed under a thread that is waking
 * one of its tasks.
 *
 * The race it closes: a plain thread's wake wins the transition to NOTIFIED
 * (SUBMIT) just before shutdown completes the task, then touches the
 * runtime (injection queue, idle state) to queue it.  Such a wake brackets
 * its state transition and the queueing with enter/exit on a counter; after
 * shutdown has completed every task (so no new wake can submit), it waits
 * until every counter has been seen at zero.
 *
 * Pairing: enter is a SeqCst increment made before the wake's transition; a
 * wake whose transition shutdown observed (it saw NOTIFIED) therefore has
 * its increment visible to shutdown's later SeqCst load.  exit (Release)
 * pairs with that load (Acquire side of SeqCst): everything the wake did to
 * the runtime happens before the free.
 *
 * Counters are sharded by thread so that plain threads waking in parallel
 * do not all write one cache line.
 */
#ifndef AR_RUNTIME_REMOTE_H
#define AR_RUNTIME_REMOTE_H

#include <stdatomic.h>
#include <stdint.h>

#define AR__REMOTE_SLOTS 16u

typedef struct ar__remote_slot {
    _Alignas(64) _Atomic long n;
} ar__remote_slot;

extern ar__remote_slot ar__remote_slots[AR__REMOTE_SLOTS];
extern __thread char ar__remote_tls_anchor __attribute__((tls_model("initial-exec")));

static inline unsigned ar__remote_enter(void)
{
    unsigned i = (unsigned)(((uintptr_t)&ar__remote_tls_anchor >> 12) % AR__REMOTE_SLOTS);
    atomic_fetch_add_explicit(&ar__remote_slots[i].n, 1, memory_order_seq_cst);
    return i;
}

static inline void ar__remote_exit(unsigned i)
{
    atomic_fetch_sub_explicit(&ar__remote_slots[i].n, 1, memory_order_release);
}

/* Wait until every remote wake in flight now has finished. */
void ar__remote_quiesce(void);

#endif
