/*
 * runtime/idle.h - which workers are searching for work and which are parked
 * (the protocol of Tokio's multi_thread/idle.rs).
 *
 * state packs two counts in one atomic word:
 *   searching (low 16 bits)  workers looking for work to steal;
 *   unparked  (high 16 bits) workers not parked.
 * sleepers: the indices of parked workers, under `lock`.
 *
 * Protocol (every state access is SeqCst, so the two sides form a Dekker
 * pair and no wake-up is lost):
 *   1. A producer makes work visible (queue push), then calls
 *      ar__idle_worker_to_notify: if nobody searches and someone is parked,
 *      it unparks one, which starts out searching.
 *   2. A worker that runs dry becomes a searcher only while fewer than half
 *      the workers search (so stealing does not become a stampede).
 *   3. A worker that finds work leaves the searching state; if it was the
 *      last searcher it notifies another worker so that remaining work is
 *      picked up (work tends to come in bursts).
 *   4. A worker parks by moving to `sleepers` (unparked--, searching-- if it
 *      was searching).  If it was the last searcher, it re-checks every
 *      queue once more after that SeqCst step and notifies if any has work:
 *      a producer that saw "someone is searching" in step 1 relied on it.
 */
#ifndef AR_RUNTIME_IDLE_H
#define AR_RUNTIME_IDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spinlock.h"

/* state: searching in the low 16 bits, unparked in the high 16. */
#define AR__IDLE_SEARCH_MASK 0xffffu

typedef struct ar__idle {
    _Atomic uint32_t state;
    uint32_t nworkers;
    ar__spinlock lock;
    uint32_t nsleepers;
    uint32_t *sleepers; /* nworkers entries */
} ar__idle;

int ar__idle_init(ar__idle *idle, uint32_t nworkers);
void ar__idle_destroy(ar__idle *idle);

/* A relaxed hint that step 1 might find a worker to unpark (nobody
 * searching, someone parked), for callers to whom waking is an
 * optimisation only. */
static inline bool ar__idle_maybe_wanted(ar__idle *idle)
{
    uint32_t s = atomic_load_explicit(&idle->state, memory_order_relaxed);
    return (s & AR__IDLE_SEARCH_MASK) == 0 && (s >> 16) < idle->nworkers;
}

/* Step 1: index of a worker to unpark, or -1. */
int ar__idle_worker_to_notify(ar__idle *idle);
/* Step 2. */
bool ar__idle_to_searching(ar__idle *idle);
/* Step 3: true if this was the last searcher. */
bool ar__idle_from_searching(ar__idle *idle);
/* Step 4: true if this was the last searcher (re-check the queues). */
bool ar__idle_to_parked(ar__idle *idle, uint32_t worker, bool searching);
/* A parked worker that was unparked for a reason of its own (its queue has
 * work): remove it from sleepers.  Returns true if it was still there
 * (then it is unparked but not searching). */
bool ar__idle_unpark_worker_by_id(ar__idle *idle, uint32_t worker);
bool ar__idle_is_parked(ar__idle *idle, uint32_t worker);
uint32_t ar__idle_searching(ar__idle *idle);

#endif
