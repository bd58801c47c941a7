/*
 * runtime/task_set.c - ar_task_set: join handles owned by a set.
 *
 * Invariants (the set belongs to one future or thread: no locking):
 *   - entries[0..len) are live join handles (ar_join state LIVE), each with
 *     a distinct id; entries[len..cap) are garbage.
 *   - A handle leaves the set only through a completed ar_join_poll (which
 *     released it) or through drop (abort + detach): each handle is
 *     released exactly once.
 *   - Waiting polls the handles with the caller's waker and an unlimited
 *     budget: ar_join_poll stores the waker as the task's join waker (a
 *     no-op compare when it is already the same), so the task that waits
 *     is woken by whichever task ends first.  The caller's budget is spent
 *     once per wait, not once per handle, so a big set cannot exhaust it
 *     before every handle has the waker.
 */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "set_wait.h"

#define SET_MAGIC 0x7a5e7001u

static bool live(const ar_task_set *s) { return s && s->magic == SET_MAGIC; }

int ar_task_set_init(ar_task_set *s, ar_rt *rt, size_t out_size)
{
    if (!s)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    if (!rt)
        rt = ar_rt_current();
    if (!rt)
        return -EINVAL;
    s->rt = rt;
    s->out_size = out_size;
    s->next_id = 1;
    s->magic = SET_MAGIC;
    return 0;
}

static int grow(ar_task_set *s)
{
    if (s->len < s->cap)
        return 0;
    if (s->cap >= UINT32_MAX / 2)
        return -ENOMEM;
    uint32_t ncap = s->cap ? s->cap * 2 : 8;
    void *p = ar__realloc(s->entries, (size_t)s->cap * sizeof *s->entries,
                          (size_t)ncap * sizeof *s->entries);
    if (!p)
        return -ENOMEM;
    s->entries = p;
    s->cap = ncap;
    return 0;
}

int ar_task_set_spawn_at(ar_task_set *s, const ar_future_vt *vt, const void *fut, uint64_t *id,
                         const char *name, const char *site)
{
    if (!live(s) || !vt)
        return -EINVAL;
    if (s->out_size != AR_TASK_SET_ANY_OUTPUT && vt->out_size != s->out_size)
        return -EINVAL;
    int rc = grow(s);
    if (rc)
        return rc;
    ar__task_set_entry *e = &s->entries[s->len];
    rc = ar_spawn_at(s->rt, vt, fut, &e->h, name, site);
    if (rc)
        return rc;
    e->id = s->next_id++;
    s->len++;
    if (id)
        *id = e->id;
    return 0;
}

/* The function behind the ar_task_set_spawn macro. */
int(ar_task_set_spawn)(ar_task_set *s, const ar_future_vt *vt, const void *fut, uint64_t *id)
{
    return ar_task_set_spawn_at(s, vt, fut, id, NULL, NULL);
}

uint32_t ar_task_set_len(const ar_task_set *s) { return live(s) ? s->len : 0; }

/* Take entry i out (its handle was released by a completed join poll). */
static void remove_at(ar_task_set *s, uint32_t i)
{
    s->entries[i] = s->entries[--s->len];
}

ar_poll ar_task_set_next_poll(ar_task_set *s, ar_cx *cx, void *out, size_t out_size,
                              uint64_t *id, int *res)
{
    int dummy;
    if (!res)
        res = &dummy;
    if (!live(s) || !cx ||
        (out && (s->out_size == AR_TASK_SET_ANY_OUTPUT || out_size != s->out_size))) {
        *res = -EINVAL;
        return AR_READY;
    }
    if (s->len == 0) {
        *res = -ENOENT;
        return AR_READY;
    }
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    ar_cx inner = *cx;
    inner.budget = 0; /* unconstrained: see the invariants above */
    uint32_t n = s->len;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (s->cursor + k) % n;
        int r = 0;
        if (ar_join_poll(&s->entries[i].h, &inner, out, out ? out_size : 0, &r) == AR_READY) {
            if (id)
                *id = s->entries[i].id;
            remove_at(s, i);
            s->cursor = i + 1; /* start after it next time */
            *res = r;
            return AR_READY;
        }
    }
    return AR_PENDING;
}

void ar_task_set_next_init(ar_task_set_next *n, ar_task_set *s, void *out, size_t out_size)
{
    if (!n)
        return;
    n->set = s;
    n->out = out;
    n->out_size = out_size;
    n->id = 0;
    n->res = 0;
}

static ar_poll next_poll_v(void *self, ar_cx *cx)
{
    ar_task_set_next *n = self;
    return ar_task_set_next_poll(n->set, cx, n->out, n->out_size, &n->id, &n->res);
}

const ar_future_vt ar_task_set_next_vt = AR_FUTURE_VT(ar_task_set_next, next_poll_v, NULL, res);

int ar_task_set_abort_all(ar_task_set *s)
{
    if (!live(s))
        return -EINVAL;
    for (uint32_t i = 0; i < s->len; i++)
        ar_join_abort(&s->entries[i].h);
    return (int)(s->len > INT32_MAX ? INT32_MAX : s->len);
}

/* One pass over the set (backwards, so that a swap-remove brings in an
 * entry already visited): take every task that has ended, count the
 * cancelled ones.  AR_READY when the set is empty. */
static ar_poll drain(ar_task_set *s, ar_cx *cx, uint32_t *cancelled)
{
    ar_cx inner = *cx;
    inner.budget = 0;
    for (uint32_t i = s->len; i-- > 0;) {
        int r = 0;
        if (ar_join_poll(&s->entries[i].h, &inner, NULL, 0, &r) == AR_READY) {
            if (r == -ECANCELED && cancelled)
                (*cancelled)++;
            remove_at(s, i);
        }
    }
    return s->len ? AR_PENDING : AR_READY;
}

/* A waker that does nothing (set_wait.h). */
static void noop_wake(ar_waker_obj *w) { (void)w; }
static const ar_waker_vtable noop_vt = {noop_wake, noop_wake, noop_wake};
static ar_waker_obj noop_obj = {&noop_vt};
ar_waker ar__noop_waker(void) { return ar_waker_from_obj(&noop_obj); }

ar_poll ar_task_set_shutdown_poll(ar_task_set *s, ar_cx *cx, uint32_t *cancelled)
{
    if (!live(s))
        return AR_READY;
    ar_cx none = {.waker = ar__noop_waker(), .budget = 0, .worker = NULL};
    if (!cx)
        cx = &none; /* checks, never ready early */
    /* Aborting again is harmless (it only sets a flag that is set). */
    ar_task_set_abort_all(s);
    return drain(s, cx, cancelled);
}

ar_poll ar__task_set_wait_all(ar_task_set *s, ar_cx *cx, uint32_t *cancelled)
{
    if (!live(s))
        return AR_READY;
    return drain(s, cx, cancelled);
}

void ar_task_set_drop(ar_task_set *s)
{
    if (!live(s))
        return;
    for (uint32_t i = 0; i < s->len; i++) {
        ar_join_abort(&s->entries[i].h);
        ar_join_detach(&s->entries[i].h); /* drops an unread output */
    }
    ar__free(s->entries, (size_t)s->cap * sizeof *s->entries);
    s->entries = NULL;
    s->len = s->cap = 0;
    s->magic = 0;
}
