/*
 * runtime/inject.h - the global injection queue: tasks spawned or woken from
 * outside the workers, and the overflow of full local queues.
 *
 * A growable ring of task pointers under a spinlock.  `len` mirrors the
 * number of entries so that workers can skip the lock when it is empty:
 * written under the lock (release), read without it (acquire) as a hint;
 * a stale zero is covered by the idle protocol, which re-checks after a
 * SeqCst transition before any worker parks (idle.h).
 */
#ifndef AR_RUNTIME_INJECT_H
#define AR_RUNTIME_INJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spinlock.h"

struct ar_task;

typedef struct ar__inject {
    ar__spinlock lock;
    _Atomic uint32_t len;
    uint32_t head; /* index of the oldest entry */
    uint32_t cap;  /* power of two */
    bool closed;   /* set by shutdown after the final drain: pushes fail */
    struct ar_task **ring;
} ar__inject;

int ar__inject_init(ar__inject *q);
void ar__inject_destroy(ar__inject *q);

static inline bool ar__inject_is_empty(ar__inject *q)
{
    return atomic_load_explicit(&q->len, memory_order_acquire) == 0;
}
static inline uint32_t ar__inject_len(ar__inject *q)
{
    return atomic_load_explicit(&q->len, memory_order_acquire);
}

/* Push one or n tasks.  Returns 0, -ENOMEM or -ESHUTDOWN (closed); on
 * failure the caller keeps the tasks (and their references). */
int ar__inject_push(ar__inject *q, struct ar_task *t);
int ar__inject_push_batch(ar__inject *q, struct ar_task *const *ts, uint32_t n);
/* Pop up to max tasks into out; returns how many. */
uint32_t ar__inject_pop_n(ar__inject *q, struct ar_task **out, uint32_t max);
struct ar_task *ar__inject_pop(ar__inject *q);
/* Refuse further pushes (shutdown, after the last drain). */
void ar__inject_close(ar__inject *q);

#endif
