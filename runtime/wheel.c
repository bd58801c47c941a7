/*
 * runtime/wheel.c - hierarchical timing wheel (see wheel.h).
 */
#include "wheel.h"

#include <time.h>

#define SLOT_BITS 6u
#define SLOT_MASK ((uint64_t)AR__WHEEL_SLOTS - 1)

uint64_t ar__now_tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ar__tick_after_ns(uint64_t ns_from_now)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns_from_now;
    return (ns + 999999u) / 1000000u; /* round up: never early */
}

void ar__wheel_init(ar__wheel *w)
{
    ar__spin_init(&w->lock);
    w->elapsed = ar__now_tick();
    atomic_init(&w->count, 0);
    for (int l = 0; l < AR__WHEEL_LEVELS; l++) {
        w->occupied[l] = 0;
        for (int s = 0; s < AR__WHEEL_SLOTS; s++)
            w->slots[l][s] = NULL;
    }
}

/* Level of a deadline relative to elapsed: the 6-bit group of the highest
 * differing bit. */
static unsigned level_for(uint64_t elapsed, uint64_t when)
{
    uint64_t masked = (elapsed ^ when) | SLOT_MASK;
    unsigned significant = 63u - (unsigned)__builtin_clzll(masked);
    unsigned level = significant / SLOT_BITS;
    /* link() keeps deadlines within the span; a carry out of the top digit
     * can still show as level 6: that is the top level. */
    return level < AR__WHEEL_LEVELS ? level : AR__WHEEL_LEVELS - 1;
}

static unsigned slot_for(uint64_t when, unsigned level)
{
    return (unsigned)((when >> (level * SLOT_BITS)) & SLOT_MASK);
}

/* Span of the wheel: 64^6 ms (about 795 days). */
#define MAX_SPAN ((uint64_t)1 << (SLOT_BITS * AR__WHEEL_LEVELS))
#define TOP_SLOT ((uint64_t)1 << (SLOT_BITS * (AR__WHEEL_LEVELS - 1)))

static void link(ar__wheel *w, ar__timer *t)
{
    /* A deadline beyond the span is filed at the farthest slot; when that
     * slot comes round the entry is filed again, closer each time.  The
     * real deadline still decides when it fires. */
    uint64_t when = t->deadline;
    if (when - w->elapsed >= MAX_SPAN - TOP_SLOT)
        when = w->elapsed + MAX_SPAN - TOP_SLOT; /* the top slot just behind the current one */
    unsigned level = level_for(w->elapsed, when);
    unsigned slot = slot_for(when, level);
    ar__timer **head = &w->slots[level][slot];
    t->prev = NULL;
    t->next = *head;
    if (*head)
        (*head)->prev = t;
    *head = t;
    t->slot = (uint16_t)(level * AR__WHEEL_SLOTS + slot);
    w->occupied[level] |= 1ull << slot;
}

static void unlink_(ar__wheel *w, ar__timer *t)
{
    unsigned level = t->slot / AR__WHEEL_SLOTS, slot = t->slot % AR__WHEEL_SLOTS;
    if (t->prev)
        t->prev->next = t->next;
    else
        w->slots[level][slot] = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (!w->slots[level][slot])
        w->occupied[level] &= ~(1ull << slot);
    t->prev = t->next = NULL;
}

bool ar__wheel_insert_locked(ar__wheel *w, ar__timer *t)
{
    if (t->deadline <= w->elapsed)
        return false;
    link(w, t);
    t->wheel = w;
    t->state = AR__TIMER_REGISTERED;
    atomic_fetch_add_explicit(&w->count, 1, memory_order_relaxed);
    return true;
}

void ar__wheel_remove_locked(ar__wheel *w, ar__timer *t)
{
    unlink_(w, t);
    atomic_fetch_sub_explicit(&w->count, 1, memory_order_relaxed);
}

/* The next slot to expire at `level`: its start tick, or NONE. */
static uint64_t level_next(const ar__wheel *w, unsigned level, unsigned *slot_out)
{
    uint64_t occ = w->occupied[level];
    if (!occ)
        return AR__TIMER_NONE;
    unsigned shift = level * SLOT_BITS;
    uint64_t slot_range = 1ull << shift;
    uint64_t level_range = slot_range << SLOT_BITS; /* 0 (wraps) only past level 9 */
    unsigned now_slot = (unsigned)((w->elapsed >> shift) & SLOT_MASK);
    /* Rotate so that the current slot is bit 0, find the next set one. */
    uint64_t rotated = (occ >> now_slot) | (now_slot ? occ << (64 - now_slot) : 0);
    unsigned slot = ((unsigned)__builtin_ctzll(rotated) + now_slot) % AR__WHEEL_SLOTS;
    uint64_t level_start = w->elapsed & ~(level_range - 1);
    uint64_t deadline = level_start + (uint64_t)slot * slot_range;
    if (deadline <= w->elapsed && slot != now_slot)
        deadline += level_range;
    /* The current slot of a higher level may start before `elapsed`: its
     * entries are due no earlier than elapsed + 1 (they were inserted with
     * deadline > elapsed) and cascade when processed. */
    if (deadline < w->elapsed)
        deadline = w->elapsed;
    *slot_out = slot;
    return deadline;
}

uint64_t ar__wheel_next_deadline(ar__wheel *w)
{
    /* The start of the earliest occupied slot: exact at level 0; for a
     * higher level a lower bound, at which processing cascades the slot
     * down and the next call is exact (Tokio does the same). */
    for (unsigned l = 0; l < AR__WHEEL_LEVELS; l++) {
        unsigned slot;
        uint64_t d = level_next(w, l, &slot);
        if (d != AR__TIMER_NONE)
            return d;
    }
    return AR__TIMER_NONE;
}

uint32_t ar__wheel_process(ar__wheel *w, uint64_t now)
{
    enum { BATCH = 32 };
    ar_waker wake[BATCH];
    uint32_t fired = 0;
    for (;;) {
        uint32_t n = 0;
        ar__spin_lock(&w->lock);
        while (n < BATCH) {
            /* Find the earliest expiring slot at or before now. */
            unsigned level = AR__WHEEL_LEVELS, slot = 0;
            uint64_t deadline = AR__TIMER_NONE;
            for (unsigned l = 0; l < AR__WHEEL_LEVELS; l++) {
                deadline = level_next(w, l, &slot);
                if (deadline != AR__TIMER_NONE) {
                    level = l;
                    break;
                }
            }
            if (level == AR__WHEEL_LEVELS || deadline > now)
                break;
            w->elapsed = deadline > w->elapsed ? deadline : w->elapsed;
            /* Take the whole slot; fire what is due, cascade the rest. */
            ar__timer *list = w->slots[level][slot];
            w->slots[level][slot] = NULL;
            w->occupied[level] &= ~(1ull << slot);
            while (list && n < BATCH) {
                ar__timer *t = list;
                list = t->next;
                if (t->deadline <= now) {
                    t->prev = t->next = NULL;
                    t->state = AR__TIMER_FIRED;
                    wake[n++] = t->waker;
                    t->waker = AR_WAKER_NONE;
                    atomic_fetch_sub_explicit(&w->count, 1, memory_order_relaxed);
                } else {
                    link(w, t);
                }
            }
            /* Batch full: put back what is left of the slot. */
            while (list) {
                ar__timer *t = list;
                list = t->next;
                link(w, t);
            }
        }
        if (n < BATCH && now > w->elapsed)
            w->elapsed = now;
        ar__spin_unlock(&w->lock);
        for (uint32_t i = 0; i < n; i++)
            ar_waker_wake(wake[i]);
        fired += n;
        if (n < BATCH)
            return fired;
    }
}
