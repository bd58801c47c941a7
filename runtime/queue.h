/*
 * runtime/queue.h - a worker's bounded local run queue (the algorithm of
 * Tokio's multi_thread/queue.rs).
 *
 * Single producer (the owning worker pushes and pops), many stealers that
 * take half of it.  Layout:
 *
 *   head  packs two u32 indices: `real` (low half), the next entry to pop,
 *         and `steal` (high half), the first entry a stealer is still
 *         copying out.  steal == real when no steal is in progress.
 *         Written with CAS by the owner (pop, overflow) and by stealers.
 *   tail  next free slot.  Written only by the owner (Release), read by
 *         stealers (Acquire) so that a slot's content is visible before the
 *         slot is claimable.
 *   buf   CAP task pointers indexed by (index & MASK).  The owner writes a
 *         slot only when tail - steal < CAP, so a slot a stealer is copying
 *         (between steal and real) is never overwritten.
 *
 * Indices are free-running u32 and wrap: only differences are meaningful.
 * AR_TINY_QUEUE (test mode) shrinks CAP to 4 so overflow and stealing
 * happen constantly.
 */
#ifndef AR_RUNTIME_QUEUE_H
#define AR_RUNTIME_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef AR_TINY_QUEUE
#define AR__QUEUE_CAP 4u
#else
#define AR__QUEUE_CAP 256u
#endif
#define AR__QUEUE_MASK (AR__QUEUE_CAP - 1)

struct ar_task;
struct ar__inject;

typedef struct ar__queue {
    _Atomic uint64_t head;
    _Atomic uint32_t tail;
    _Atomic(struct ar_task *) buf[AR__QUEUE_CAP];
} ar__queue;

void ar__queue_init(ar__queue *q);

/* Owner: push to the back.  When full, moves half of the queue plus t to
 * the injection queue in one batch (overflow). */
void ar__queue_push_back(ar__queue *q, struct ar_task *t, struct ar__inject *overflow);

/* Owner: pop from the front, NULL when empty. */
struct ar_task *ar__queue_pop(ar__queue *q);

/* Owner: pop up to max entries from the front with one CAS, taking at most
 * half (rounded up) of what is there so stealers keep the rest.  Returns
 * how many were written to out, oldest first. */
uint32_t ar__queue_pop_batch(ar__queue *q, struct ar_task **out, uint32_t max);

/* Stealer (owner of dst): move half of src into dst and return one of the
 * stolen tasks to run now; NULL when there was nothing to take. */
struct ar_task *ar__queue_steal_into(ar__queue *src, ar__queue *dst);

/* Any thread: a hint of emptiness / length. */
bool ar__queue_is_empty(ar__queue *q);
uint32_t ar__queue_len(ar__queue *q);

#endif
