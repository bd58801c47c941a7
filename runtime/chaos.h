/*
 * runtime/chaos.h - the seeded chaos scheduler of the test mode
 * (-Dchaos=true, which defines AR_CHAOS).  Compiled out otherwise: every
 * hook below is an empty macro or the constant false, so a normal build
 * carries no code and no branch for it.
 *
 * At each hook point (queue push/pop/steal, the task state word's
 * read-modify-write loops, scheduling a woken task, the worker's tick) the
 * calling thread draws from its own PRNG and, with a small probability,
 *   - yields the CPU (sched_yield), widening the window between a load and
 *     the compare-and-swap that follows it, or
 *   - spins a random few hundred iterations (a short delay), or
 *   - (AR__CHAOS_COIN sites) takes the slow path: a forced steal from a
 *     random victim before the worker looks at its own queue, a local wake
 *     that skips the LIFO slot (through the queue, overflowing into the
 *     injection queue when full).
 *
 * Not done on purpose: diverting local wakes to the injection queue.  A
 * test that floods the injection queue from plain threads (test_executor's
 * no_lost_wakeup) then starves the diverted task behind millions of
 * entries (FIFO fairness, not a bug), so such tests would only time out.
 *
 * Seeding: AR_CHAOS_SEED=<u64> in the environment, else a random seed.  The
 * seed is printed on start-up ("asyncrt chaos: seed N") and again when the
 * process dies of SIGSEGV/SIGABRT/SIGBUS/SIGILL, and it is exported to the
 * environment so that processes started from this one (Criterion's test
 * workers) draw from the same seed.  Thread k (in order of first hook)
 * seeds its PRNG from splitmix(seed + k), so a seed replays the decisions
 * each thread makes; which thread reaches which hook first still depends
 * on the OS, so a replay reproduces a failure often, not always.
 * AR_CHAOS_RATE=<per mille> (default 40) sets how often a hook acts;
 * AR_CHAOS_VERBOSE=1 makes processes that inherited the seed print it too.
 */
#ifndef AR_RUNTIME_CHAOS_H
#define AR_RUNTIME_CHAOS_H

#include <stdbool.h>
#include <stdint.h>

/* Hook sites, for the per-site counters (ar__chaos_counts). */
enum ar__chaos_site {
    AR__CHAOS_QUEUE_PUSH,
    AR__CHAOS_QUEUE_POP,
    AR__CHAOS_QUEUE_STEAL,
    AR__CHAOS_STATE,
    AR__CHAOS_WAKE,
    AR__CHAOS_WAKE_NO_LIFO, /* coin: a local wake skips the LIFO slot */
    AR__CHAOS_FORCE_STEAL, /* coin: steal before looking at our own queue */
    AR__CHAOS_NSITES,
};

#ifdef AR_CHAOS
/* Maybe yield or delay (see above). */
void ar__chaos_point(enum ar__chaos_site site);
/* Maybe take the slow path: true with the configured probability. */
bool ar__chaos_coin(enum ar__chaos_site site);
#define AR__CHAOS(site) ar__chaos_point(site)
#define AR__CHAOS_COIN(site) ar__chaos_coin(site)
#else
#define AR__CHAOS(site) ((void)0)
#define AR__CHAOS_COIN(site) false
#endif

/* Always defined (tests call them in every build): whether the chaos mode
 * is compiled in, its seed (0 when it is not), and how many times hooks
 * acted since start-up, summed over all sites (approximate: relaxed). */
bool ar__chaos_enabled(void);
uint64_t ar__chaos_seed(void);
uint64_t ar__chaos_acted(void);

#endif
