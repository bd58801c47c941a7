/*
 * runtime/owned.c - the owned-tasks registry (see owned.h).
 */
#include "owned.h"

#include <errno.h>

#include "alloc.h"
#include "task.h"

void ar__shard_init(ar__shard *s, struct ar_rt *rt)
{
    s->rt = rt;
    ar__spin_init(&s->lock);
    s->closed = false;
    s->len = s->cap = 0;
    s->slots = NULL;
}

/* Grow outside the lock would race with other inserters; growth is rare
 * (doubling) so it happens under the lock. */
static int shard_grow(ar__shard *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : 64;
    if (ncap < s->cap)
        return -ENOMEM;
    ar_task **n = ar__realloc(s->slots, (size_t)s->cap * sizeof *n, (size_t)ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    s->slots = n;
    s->cap = ncap;
    return 0;
}

int ar__shard_insert(ar__shard *s, ar_task *t)
{
    int rc = 0;
    ar__spin_lock(&s->lock);
    if (s->closed) {
        rc = -ESHUTDOWN;
    } else if (s->len == s->cap && (rc = shard_grow(s)) != 0) {
        /* rc set */
    } else {
        t->owned_idx = s->len;
        s->slots[s->len++] = t;
    }
    ar__spin_unlock(&s->lock);
    return rc;
}

bool ar__shard_remove(ar__shard *s, ar_task *t)
{
    bool was = false;
    ar__spin_lock(&s->lock);
    uint32_t i = t->owned_idx;
    if (i != AR__OWNED_NONE) {
        ar_task *last = s->slots[--s->len];
        s->slots[i] = last;
        last->owned_idx = i;
        t->owned_idx = AR__OWNED_NONE;
        was = true;
    }
    ar__spin_unlock(&s->lock);
    return was;
}

void ar__shard_close(ar__shard *s)
{
    ar__spin_lock(&s->lock);
    s->closed = true;
    ar__spin_unlock(&s->lock);
}

ar_task *ar__shard_pop(ar__shard *s)
{
    ar_task *t = NULL;
    ar__spin_lock(&s->lock);
    if (s->len) {
        t = s->slots[--s->len];
        t->owned_idx = AR__OWNED_NONE;
    }
    ar__spin_unlock(&s->lock);
    return t;
}

uint32_t ar__shard_len(ar__shard *s)
{
    ar__spin_lock(&s->lock);
    uint32_t n = s->len;
    ar__spin_unlock(&s->lock);
    return n;
}

void ar__shard_destroy(ar__shard *s)
{
    ar__free(s->slots, (size_t)s->cap * sizeof *s->slots);
    s->slots = NULL;
    s->cap = s->len = 0;
}
