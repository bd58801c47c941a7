/*
 * runtime/owned.c - the task registry (see owned.h).
 */
#include "owned.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "task.h"

/* Sweep before parking once this many tasks were spawned since the last
 * sweep: bounds how many finished tasks wait for their memory to go back. */
#define SWEEP_BEFORE_PARK 64u

void ar__shard_init(ar__shard *s, struct ar_rt *rt, bool shared)
{
    s->rt = rt;
    s->shared = shared;
    s->closed = false;
    ar__spin_init(&s->lock);
    s->len = s->cap = s->swept_len = 0;
    s->slots = NULL;
    s->info = NULL;
    s->info_cap = 0;
}

static inline void lock(ar__shard *s)
{
    if (s->shared)
        ar__spin_lock(&s->lock);
}
static inline void unlock(ar__shard *s)
{
    if (s->shared)
        ar__spin_unlock(&s->lock);
}

static void remove_at(ar__shard *s, uint32_t i)
{
    ar_task *t = s->slots[i];
    ar_task *last = s->slots[--s->len];
    s->slots[i] = last;
    last->owned_idx = i;
    t->owned_idx = AR__OWNED_NONE;
    if (s->info)
        s->info[i] = s->info[s->len];
}

/* Drop the entries of finished tasks (lock held for the shared shard).  A
 * dropped reference may free the task; that touches only the allocator. */
static void sweep_locked(ar__shard *s)
{
    for (uint32_t i = 0; i < s->len;) {
        ar_task *t = s->slots[i];
        if (atomic_load_explicit(&t->state, memory_order_acquire) & AR__ST_COMPLETE) {
            remove_at(s, i);
            ar__task_ref_dec(t);
        } else {
            i++;
        }
    }
    s->swept_len = s->len;
}

static int grow(ar__shard *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : 64;
    if (ncap < s->cap)
        return -ENOMEM;
    ar_task **n = ar__realloc_big(s->slots, (size_t)s->cap * sizeof *n, (size_t)ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    s->slots = n;
    s->cap = ncap;
    return 0;
}

/* Bring the side table to the slots' capacity (lock held for the shared
 * shard); it is created by the first insert that has something to record,
 * and entries of tasks registered before that are empty. */
static int ensure_info(ar__shard *s)
{
    if (s->info_cap == s->cap)
        return 0;
    ar__task_info *ni = ar__realloc_big(s->info, (size_t)s->info_cap * sizeof *ni,
                                        (size_t)s->cap * sizeof *ni);
    if (!ni)
        return -ENOMEM;
    memset(ni + s->info_cap, 0, (size_t)(s->cap - s->info_cap) * sizeof *ni);
    s->info = ni;
    s->info_cap = s->cap;
    return 0;
}

int ar__shard_insert(ar__shard *s, ar_task *t, const ar__task_info *info)
{
    int rc = 0;
    lock(s);
    if (s->closed) {
        rc = -ESHUTDOWN;
        goto out;
    }
    if (s->len == s->cap) {
        /* Amortised: a sweep costs len loads and happens once per len
         * inserts; grow only if it freed less than a quarter. */
        if (s->len)
            sweep_locked(s);
        if (s->len > s->cap - s->cap / 4 || s->cap == 0) {
            rc = grow(s);
            if (rc && s->len < s->cap)
                rc = 0; /* the sweep left room: use it */
        }
        if (rc)
            goto out;
    }
    bool want_info = info && (info->name || info->site);
    if ((want_info || s->info) && (rc = ensure_info(s)))
        goto out;
    if (s->info)
        s->info[s->len] = want_info ? *info : (ar__task_info){NULL, NULL};
    t->owned_idx = s->len;
    s->slots[s->len++] = t;
out:
    unlock(s);
    return rc;
}

bool ar__shard_remove(ar__shard *s, ar_task *t)
{
    bool was = false;
    lock(s);
    uint32_t i = t->owned_idx;
    if (i != AR__OWNED_NONE) {
        remove_at(s, i);
        if (s->swept_len > s->len)
            s->swept_len = s->len;
        was = true;
    }
    unlock(s);
    return was;
}

void ar__shard_sweep(ar__shard *s)
{
    lock(s);
    sweep_locked(s);
    unlock(s);
}

void ar__shard_maybe_sweep(ar__shard *s)
{
    if (s->len - s->swept_len >= SWEEP_BEFORE_PARK)
        ar__shard_sweep(s);
}

void ar__shard_close(ar__shard *s)
{
    lock(s);
    s->closed = true;
    unlock(s);
}

ar_task *ar__shard_pop(ar__shard *s)
{
    ar_task *t = NULL;
    lock(s);
    if (s->len) {
        t = s->slots[--s->len];
        t->owned_idx = AR__OWNED_NONE;
    }
    s->swept_len = s->len;
    unlock(s);
    return t;
}

void ar__shard_destroy(ar__shard *s)
{
    ar__free_big(s->slots, (size_t)s->cap * sizeof *s->slots);
    ar__free_big(s->info, (size_t)s->info_cap * sizeof *s->info);
    s->slots = NULL;
    s->info = NULL;
    s->info_cap = 0;
    s->cap = s->len = 0;
}
