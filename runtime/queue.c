/*
 * runtime/queue.c - bounded local run queue with steal-half (see queue.h).
 */
#include "queue.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>

#include "chaos.h"
#include "inject.h"
#include "task.h"

static inline uint64_t pack(uint32_t steal, uint32_t real)
{
    return (uint64_t)real | ((uint64_t)steal << 32);
}
static inline uint32_t unpack_steal(uint64_t v) { return (uint32_t)(v >> 32); }
static inline uint32_t unpack_real(uint64_t v) { return (uint32_t)v; }

void ar__queue_init(ar__queue *q)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    for (uint32_t i = 0; i < AR__QUEUE_CAP; i++)
        atomic_init(&q->buf[i], NULL);
}

/* The wake path must not lose a task: if the injection queue cannot grow
 * (out of memory), back off and retry until it can.  A closed queue (the
 * runtime shut down) releases the entries instead. */
static void inject_batch_must(struct ar__inject *inj, struct ar_task *const *ts, uint32_t n)
{
    int rc;
    while ((rc = ar__inject_push_batch(inj, ts, n)) == -ENOMEM)
        sched_yield();
    if (rc == -ESHUTDOWN)
        for (uint32_t i = 0; i < n; i++)
            ar__task_drop_entry(ts[i]);
}

/* Move half the queue plus t to the injection queue.  Fails (false) when a
 * stealer moved head meanwhile; the caller retries the push. */
static bool push_overflow(ar__queue *q, struct ar_task *t, uint32_t head, uint32_t tail,
                          struct ar__inject *inj)
{
    enum { TAKEN = AR__QUEUE_CAP / 2 };
    assert(tail - head == AR__QUEUE_CAP);
    (void)tail;
    uint64_t prev = pack(head, head);
    /* Claim the oldest half.  Release: a stealer that later sees the new
     * head must not observe slots we are about to hand off as its own. */
    if (!atomic_compare_exchange_strong_explicit(&q->head, &prev,
                                                 pack(head + TAKEN, head + TAKEN),
                                                 memory_order_release, memory_order_relaxed))
        return false;
    struct ar_task *batch[TAKEN + 1];
    for (uint32_t i = 0; i < TAKEN; i++)
        batch[i] = atomic_load_explicit(&q->buf[(head + i) & AR__QUEUE_MASK], memory_order_relaxed);
    batch[TAKEN] = t;
    inject_batch_must(inj, batch, TAKEN + 1);
    return true;
}

void ar__queue_push_back(ar__queue *q, struct ar_task *t, struct ar__inject *inj)
{
    uint32_t tail;
    AR__CHAOS(AR__CHAOS_QUEUE_PUSH);
    for (;;) {
        uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t steal = unpack_steal(head), real = unpack_real(head);
        tail = atomic_load_explicit(&q->tail, memory_order_relaxed); /* we own it */
        if (tail - steal < AR__QUEUE_CAP)
            break; /* room */
        if (steal != real) {
            /* A stealer is about to free half the queue; do not wait for it. */
            inject_batch_must(inj, &t, 1);
            return;
        }
        if (push_overflow(q, t, real, tail, inj))
            return;
        /* A stealer took some entries: there is room now, retry. */
    }
    atomic_store_explicit(&q->buf[tail & AR__QUEUE_MASK], t, memory_order_relaxed);
    AR__CHAOS(AR__CHAOS_QUEUE_PUSH); /* slot written, tail not yet published */
    /* Release pairs with the stealer's Acquire load of tail. */
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
}

struct ar_task *ar__queue_pop(ar__queue *q)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t idx;
    for (;;) {
        uint32_t steal = unpack_steal(head), real = unpack_real(head);
        uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (real == tail)
            return NULL;
        uint32_t next_real = real + 1;
        /* When no steal is in progress both halves move together; else only
         * `real` moves and the stealer fixes `steal` when it is done. */
        uint64_t next = steal == real ? pack(next_real, next_real) : pack(steal, next_real);
        assert(steal == real || next_real != steal);
        AR__CHAOS(AR__CHAOS_QUEUE_POP);
        if (atomic_compare_exchange_weak_explicit(&q->head, &head, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            idx = real & AR__QUEUE_MASK;
            break;
        }
    }
    return atomic_load_explicit(&q->buf[idx], memory_order_relaxed);
}

uint32_t ar__queue_pop_batch(ar__queue *q, struct ar_task **out, uint32_t max)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t real, n;
    for (;;) {
        uint32_t steal = unpack_steal(head);
        real = unpack_real(head);
        uint32_t avail = atomic_load_explicit(&q->tail, memory_order_relaxed) - real;
        n = avail - avail / 2;
        if (n > max)
            n = max;
        if (n == 0)
            return 0;
        uint32_t next_real = real + n;
        uint64_t next = steal == real ? pack(next_real, next_real) : pack(steal, next_real);
        AR__CHAOS(AR__CHAOS_QUEUE_POP);
        if (atomic_compare_exchange_weak_explicit(&q->head, &head, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    /* safety: the claimed slots are ours; only we (the owner) could
     * overwrite them, and we do not push before copying them out. */
    for (uint32_t i = 0; i < n; i++)
        out[i] = atomic_load_explicit(&q->buf[(real + i) & AR__QUEUE_MASK], memory_order_relaxed);
    return n;
}

/* Claim half of src and copy it to dst's slots from dst_tail on.  Returns the
 * number copied (dst's tail is not published yet). */
static uint32_t steal_into2(ar__queue *src, ar__queue *dst, uint32_t dst_tail)
{
    uint64_t prev = atomic_load_explicit(&src->head, memory_order_acquire);
    uint64_t next;
    uint32_t n;
    for (;;) {
        uint32_t steal = unpack_steal(prev), real = unpack_real(prev);
        uint32_t src_tail = atomic_load_explicit(&src->tail, memory_order_acquire);
        if (steal != real)
            return 0; /* another stealer is at work */
        n = src_tail - real;
        n -= n / 2; /* half, rounded up */
        if (n == 0)
            return 0;
        next = pack(steal, real + n);
        AR__CHAOS(AR__CHAOS_QUEUE_STEAL);
        if (atomic_compare_exchange_weak_explicit(&src->head, &prev, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    assert(n <= AR__QUEUE_CAP / 2 + 1);
    uint32_t first = unpack_steal(next);
    /* Chaos: the owner pops and pushes while we hold the claim. */
    AR__CHAOS(AR__CHAOS_QUEUE_STEAL);
    for (uint32_t i = 0; i < n; i++) {
        struct ar_task *t =
            atomic_load_explicit(&src->buf[(first + i) & AR__QUEUE_MASK], memory_order_relaxed);
        atomic_store_explicit(&dst->buf[(dst_tail + i) & AR__QUEUE_MASK], t, memory_order_relaxed);
    }
    /* Done copying: let `steal` catch up with `real` so the owner may reuse
     * the slots.  The owner may have popped meanwhile (moving real). */
    prev = next;
    for (;;) {
        uint32_t real = unpack_real(prev);
        if (atomic_compare_exchange_weak_explicit(&src->head, &prev, pack(real, real),
                                                  memory_order_acq_rel, memory_order_acquire))
            return n;
        assert(unpack_steal(prev) != unpack_real(prev));
    }
}

struct ar_task *ar__queue_steal_into(ar__queue *src, ar__queue *dst)
{
    uint32_t dst_tail = atomic_load_explicit(&dst->tail, memory_order_relaxed);
    uint32_t dst_steal = unpack_steal(atomic_load_explicit(&dst->head, memory_order_acquire));
    /* Do not steal into a queue that is already more than half full: the
     * copy must fit without overwriting anything. */
    if (dst_tail - dst_steal > AR__QUEUE_CAP / 2)
        return NULL;
    uint32_t n = steal_into2(src, dst, dst_tail);
    if (n == 0)
        return NULL;
    /* Hand the last stolen task to the caller to run at once. */
    n--;
    struct ar_task *ret =
        atomic_load_explicit(&dst->buf[(dst_tail + n) & AR__QUEUE_MASK], memory_order_relaxed);
    if (n)
        atomic_store_explicit(&dst->tail, dst_tail + n, memory_order_release);
    return ret;
}

bool ar__queue_is_empty(ar__queue *q) { return ar__queue_len(q) == 0; }

uint32_t ar__queue_len(ar__queue *q)
{
    uint32_t real = unpack_real(atomic_load_explicit(&q->head, memory_order_acquire));
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    return tail - real;
}
