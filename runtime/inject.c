/*
 * runtime/inject.c - global injection queue (see inject.h).
 */
#include "inject.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"

#define INJECT_INIT_CAP 256u

int ar__inject_init(ar__inject *q)
{
    ar__spin_init(&q->lock);
    atomic_init(&q->len, 0);
    q->head = 0;
    q->closed = false;
    q->cap = INJECT_INIT_CAP;
    q->ring = ar__alloc(q->cap * sizeof *q->ring);
    return q->ring ? 0 : -ENOMEM;
}

void ar__inject_destroy(ar__inject *q)
{
    ar__free_big(q->ring, q->cap * sizeof *q->ring);
    q->ring = NULL;
}

/* Make room for `extra` more entries; called under the lock. */
static int reserve(ar__inject *q, uint32_t len, uint32_t extra)
{
    if (len + extra <= q->cap)
        return 0;
    uint32_t ncap = q->cap;
    while (ncap < len + extra) {
        if (ncap > UINT32_MAX / 2)
            return -ENOMEM;
        ncap *= 2;
    }
    struct ar_task **n = ar__alloc_big((size_t)ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    /* Unwrap the ring so the oldest entry lands at index 0. */
    for (uint32_t i = 0; i < len; i++)
        n[i] = q->ring[(q->head + i) & (q->cap - 1)];
    ar__free_big(q->ring, (size_t)q->cap * sizeof *q->ring);
    q->ring = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

int ar__inject_push_batch(ar__inject *q, struct ar_task *const *ts, uint32_t n)
{
    ar__spin_lock(&q->lock);
    uint32_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    int rc = q->closed ? -ESHUTDOWN : reserve(q, len, n);
    if (rc == 0) {
        for (uint32_t i = 0; i < n; i++)
            q->ring[(q->head + len + i) & (q->cap - 1)] = ts[i];
        atomic_store_explicit(&q->len, len + n, memory_order_release);
    }
    ar__spin_unlock(&q->lock);
    return rc;
}

int ar__inject_push(ar__inject *q, struct ar_task *t) { return ar__inject_push_batch(q, &t, 1); }

uint32_t ar__inject_pop_n(ar__inject *q, struct ar_task **out, uint32_t max)
{
    if (ar__inject_is_empty(q))
        return 0;
    ar__spin_lock(&q->lock);
    uint32_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    uint32_t n = len < max ? len : max;
    for (uint32_t i = 0; i < n; i++)
        out[i] = q->ring[(q->head + i) & (q->cap - 1)];
    q->head = (q->head + n) & (q->cap - 1);
    atomic_store_explicit(&q->len, len - n, memory_order_release);
    if (len == n && n) {
        /* Drained: a burst that grew the ring should not pin its pages. */
        ar__discard_big(q->ring, (size_t)q->cap * sizeof *q->ring);
        q->head = 0;
    }
    ar__spin_unlock(&q->lock);
    return n;
}

struct ar_task *ar__inject_pop(ar__inject *q)
{
    struct ar_task *t = NULL;
    return ar__inject_pop_n(q, &t, 1) ? t : NULL;
}

void ar__inject_close(ar__inject *q)
{
    ar__spin_lock(&q->lock);
    q->closed = true;
    ar__spin_unlock(&q->lock);
}
