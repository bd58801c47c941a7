/*
 * runtime/select.c - ar_select: a future that is ready as soon as one of
 * its N children is, dropping the others.
 *
 * Child states are those of join_all.c (0 pending, 1 ready, 2 dropped),
 * touched only by the thread polling or dropping the select.  The losers
 * are dropped inside the poll that found the winner, before it returns
 * AR_READY, so that whatever they hold (timers, I/O, borrows, join handles)
 * is released as soon as the race is decided, as Rust does when select!
 * returns.  Children are polled in index order (biased).
 */
#include <errno.h>

#include "children.h"

enum { CHILD_PENDING = 0, CHILD_READY = 1, CHILD_DROPPED = 2 };
enum { S_RUNNING = 0, S_COMPLETE = 1, S_DEAD = 2 };

int ar_select_init(ar_select *s, ar_child *children, uint32_t n)
{
    if (!s)
        return -EINVAL;
    s->children = children;
    s->n = n;
    s->out = -1;
    s->done = S_RUNNING;
    int rc = n ? ar__children_check(children, n) : -EINVAL;
    if (rc) {
        s->n = 0;
        s->out = rc;
        s->done = S_DEAD;
        return rc;
    }
    for (uint32_t i = 0; i < n; i++)
        children[i].state = CHILD_PENDING;
    return 0;
}

/* Drop every pending child except `keep` (UINT32_MAX: all). */
static void drop_others(ar_select *s, uint32_t keep)
{
    for (uint32_t i = 0; i < s->n; i++) {
        ar_child *c = &s->children[i];
        if (i == keep || c->state != CHILD_PENDING)
            continue;
        c->state = CHILD_DROPPED;
        if (c->vt->drop)
            c->vt->drop(c->fut);
    }
}

ar_poll ar_select_poll(ar_select *s, ar_cx *cx)
{
    if (!s)
        return AR_READY;
    if (s->done != S_RUNNING) /* checked first: a finished select keeps its out */
        return AR_READY;
    if (!cx) {
        s->out = -EINVAL; /* nothing polled; a later poll goes on */
        return AR_READY;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        ar_child *c = &s->children[i];
        if (c->vt->poll(c->fut, cx) == AR_READY) {
            c->state = CHILD_READY;
            s->out = (int)i;
            s->done = S_COMPLETE;
            drop_others(s, i);
            return AR_READY;
        }
    }
    return AR_PENDING;
}

void ar_select_drop(ar_select *s)
{
    if (!s || s->done != S_RUNNING)
        return;
    s->done = S_DEAD;
    drop_others(s, UINT32_MAX);
}

static ar_poll select_poll_v(void *self, ar_cx *cx) { return ar_select_poll(self, cx); }
static void select_drop_v(void *self) { ar_select_drop(self); }

const ar_future_vt ar_select_vt = AR_FUTURE_VT(ar_select, select_poll_v, select_drop_v, out);
