/*
 * runtime/join_all.c - ar_join_all: a future that is ready once each of its
 * N children is.
 *
 * State of a child (ar_child.state, written and read only by whoever polls
 * or drops the join, i.e. one thread at a time like any future's fields):
 *   0  pending: owned by the join, polled on every poll of the join;
 *   1  ready:   its output is in it; never polled or dropped again;
 *   2  dropped: the join ran vt->drop on it (cancellation).
 * The join itself (j->done): 0 running, 1 complete, 2 dropped or invalid.
 *
 * Every poll walks all children that are still pending (no per-child
 * wakers, see combinator.h): a poll costs O(pending children) but nothing is
 * allocated and a child is never polled after it returned AR_READY.
 */
#include <errno.h>

#include "children.h"

enum { CHILD_PENDING = 0, CHILD_READY = 1, CHILD_DROPPED = 2 };
enum { J_RUNNING = 0, J_COMPLETE = 1, J_DEAD = 2 };

int ar__children_check(ar_child *children, uint32_t n)
{
    if (n > AR_COMBINATOR_MAX || (n && !children))
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (!children[i].vt || !children[i].vt->poll || !children[i].fut)
            return -EINVAL;
    return 0;
}

int ar_join_all_init(ar_join_all *j, ar_child *children, uint32_t n)
{
    if (!j)
        return -EINVAL;
    j->children = children;
    j->n = n;
    j->remaining = n;
    j->out = 0;
    j->done = J_RUNNING;
    int rc = ar__children_check(children, n);
    if (rc) {
        j->n = j->remaining = 0;
        j->out = rc;
        j->done = J_DEAD; /* owns nothing: poll reports, drop drops nothing */
        return rc;
    }
    for (uint32_t i = 0; i < n; i++)
        children[i].state = CHILD_PENDING;
    return 0;
}

ar_poll ar_join_all_poll(ar_join_all *j, ar_cx *cx)
{
    if (!j)
        return AR_READY;
    if (j->done != J_RUNNING)
        return AR_READY; /* complete, or invalid (out says so) */
    if (!cx) {
        j->out = -EINVAL; /* nothing polled; a later poll goes on */
        return AR_READY;
    }
    for (uint32_t i = 0; i < j->n && j->remaining; i++) {
        ar_child *c = &j->children[i];
        if (c->state != CHILD_PENDING)
            continue;
        if (c->vt->poll(c->fut, cx) == AR_READY) {
            c->state = CHILD_READY;
            j->remaining--;
        }
    }
    if (j->remaining)
        return AR_PENDING;
    j->out = 0;
    j->done = J_COMPLETE;
    return AR_READY;
}

void ar_join_all_drop(ar_join_all *j)
{
    if (!j || j->done != J_RUNNING)
        return;
    j->done = J_DEAD;
    for (uint32_t i = 0; i < j->n; i++) {
        ar_child *c = &j->children[i];
        if (c->state == CHILD_PENDING) {
            c->state = CHILD_DROPPED;
            if (c->vt->drop)
                c->vt->drop(c->fut);
        } else if (c->state == CHILD_READY && c->vt->out_size && c->vt->drop_output) {
            /* Nobody will read this output: the join never completed. */
            c->vt->drop_output((unsigned char *)c->fut + c->vt->out_off);
        }
    }
}

static ar_poll join_all_poll_v(void *self, ar_cx *cx) { return ar_join_all_poll(self, cx); }
static void join_all_drop_v(void *self) { ar_join_all_drop(self); }

const ar_future_vt ar_join_all_vt = AR_FUTURE_VT(ar_join_all, join_all_poll_v, join_all_drop_v, out);
