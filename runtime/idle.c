/*
 * runtime/idle.c - searching / parked worker bookkeeping (see idle.h).
 */
#include "idle.h"

#include <errno.h>

#include "alloc.h"

#define SEARCH_MASK AR__IDLE_SEARCH_MASK
#define UNPARK_ONE (1u << 16)

static inline uint32_t n_searching(uint32_t s) { return s & SEARCH_MASK; }
static inline uint32_t n_unparked(uint32_t s) { return s >> 16; }

int ar__idle_init(ar__idle *idle, uint32_t nworkers)
{
    atomic_init(&idle->state, nworkers * UNPARK_ONE); /* all start unparked */
    idle->nworkers = nworkers;
    ar__spin_init(&idle->lock);
    idle->nsleepers = 0;
    idle->sleepers = ar__alloc(nworkers * sizeof *idle->sleepers);
    return idle->sleepers ? 0 : -ENOMEM;
}

void ar__idle_destroy(ar__idle *idle)
{
    ar__free(idle->sleepers, idle->nworkers * sizeof *idle->sleepers);
    idle->sleepers = NULL;
}

static bool should_wakeup(ar__idle *idle)
{
    /* An RMW rather than a load: it is the SeqCst read that pairs with the
     * parking worker's SeqCst decrement (step 4). */
    uint32_t s = atomic_fetch_add_explicit(&idle->state, 0, memory_order_seq_cst);
    return n_searching(s) == 0 && n_unparked(s) < idle->nworkers;
}

int ar__idle_worker_to_notify(ar__idle *idle)
{
    if (!should_wakeup(idle))
        return -1;
    ar__spin_lock(&idle->lock);
    int ret = -1;
    if (should_wakeup(idle) && idle->nsleepers > 0) {
        /* The woken worker starts out searching. */
        atomic_fetch_add_explicit(&idle->state, UNPARK_ONE + 1, memory_order_seq_cst);
        ret = (int)idle->sleepers[--idle->nsleepers];
    }
    ar__spin_unlock(&idle->lock);
    return ret;
}

bool ar__idle_to_searching(ar__idle *idle)
{
    uint32_t s = atomic_load_explicit(&idle->state, memory_order_seq_cst);
    if (2 * n_searching(s) >= idle->nworkers)
        return false;
    /* Racy by design (as in Tokio): two workers may both pass the check; the
     * bound is a throttle, not an invariant anything relies on. */
    atomic_fetch_add_explicit(&idle->state, 1, memory_order_seq_cst);
    return true;
}

bool ar__idle_from_searching(ar__idle *idle)
{
    uint32_t prev = atomic_fetch_sub_explicit(&idle->state, 1, memory_order_seq_cst);
    return n_searching(prev) == 1;
}

bool ar__idle_to_parked(ar__idle *idle, uint32_t worker, bool searching)
{
    ar__spin_lock(&idle->lock);
    uint32_t dec = UNPARK_ONE + (searching ? 1u : 0u);
    uint32_t prev = atomic_fetch_sub_explicit(&idle->state, dec, memory_order_seq_cst);
    idle->sleepers[idle->nsleepers++] = worker;
    ar__spin_unlock(&idle->lock);
    return searching && n_searching(prev) == 1;
}

bool ar__idle_unpark_worker_by_id(ar__idle *idle, uint32_t worker)
{
    bool found = false;
    ar__spin_lock(&idle->lock);
    for (uint32_t i = 0; i < idle->nsleepers; i++) {
        if (idle->sleepers[i] == worker) {
            idle->sleepers[i] = idle->sleepers[--idle->nsleepers];
            atomic_fetch_add_explicit(&idle->state, UNPARK_ONE, memory_order_seq_cst);
            found = true;
            break;
        }
    }
    ar__spin_unlock(&idle->lock);
    return found;
}

bool ar__idle_is_parked(ar__idle *idle, uint32_t worker)
{
    bool found = false;
    ar__spin_lock(&idle->lock);
    for (uint32_t i = 0; i < idle->nsleepers && !found; i++)
        found = idle->sleepers[i] == worker;
    ar__spin_unlock(&idle->lock);
    return found;
}

uint32_t ar__idle_searching(ar__idle *idle)
{
    return n_searching(atomic_load_explicit(&idle->state, memory_order_seq_cst));
}
