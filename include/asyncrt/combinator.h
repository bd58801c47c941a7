/*
 * asyncrt/combinator.h - join of N futures and select of N futures.
 *
 * Children are given as ar_child entries: a future vtable plus a pointer to
 * the future, which lives in the caller's storage (usually beside the
 * combinator in the parent future's struct, as ar_timeout's child does).
 * Neither combinator allocates or copies a child: the children must stay
 * at the same address from the first poll until the combinator completes or
 * is dropped, and their outputs are read from the children themselves.
 *
 * Both combinators are futures with vtables (ar_join_all_vt, ar_select_vt),
 * so they nest and compose with ar_timeout:
 *
 *     ar_child kids[2] = {AR_CHILD(&fetch_vt, &self->a), AR_CHILD(&fetch_vt, &self->b)};
 *     ar_join_all_init(&self->all, self->kids, 2);
 *     ar_timeout_init(&self->to, &ar_join_all_vt, &self->all, 500);
 *     AR_AWAIT(ar_timeout_poll(&self->to, cx));   // -ETIMEDOUT: both dropped
 *
 *     ar_child race[2] = {AR_CHILD(&fetch_vt, &self->a), AR_CHILD(&ar_sleep_vt, &self->s)};
 *     ar_select_init(&self->sel, self->race, 2);
 *     AR_AWAIT(ar_select_poll(&self->sel, cx));   // self->sel.out: winner's index
 *
 * Waking: every poll of a combinator polls each child that has not finished
 * yet (no per-child wakers: O(n) per poll, no allocation).  That suits the
 * small n these are meant for (a handful to a few hundred children); for
 * many independent tasks use an ar_task_set (task_set.h).
 *
 * Ownership: from a successful init until the combinator completes or is
 * dropped, the combinator owns the children: it polls them and runs their
 * drop functions (each at most once, never after the child was ready).  If
 * init fails, nothing was taken and the caller still owns every child.
 */
#ifndef ASYNCRT_COMBINATOR_H
#define ASYNCRT_COMBINATOR_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One child of a combinator.  `state` is private (zeroed by init). */
typedef struct ar_child {
    const ar_future_vt *vt;
    void *fut;
    uint32_t state;
} ar_child;

#define AR_CHILD(vt_, fut_) ((ar_child){.vt = (vt_), .fut = (fut_), .state = 0})

/* Upper bound on children per combinator (more is -EINVAL). */
#define AR_COMBINATOR_MAX 65536u

/* True when child i finished (its output is in its future). */
static inline bool ar_child_ready(const ar_child *c) { return c->state == 1; }

/* ------------------------------------------------------------------------
 * Join all: ready once every child is ready.
 * --------------------------------------------------------------------- */
typedef struct ar_join_all {
    ar_child *children;
    uint32_t n;
    uint32_t remaining; /* children not ready yet */
    int out;            /* 0 once all are ready; -EINVAL after a bad init */
    uint32_t done;      /* private */
} ar_join_all;

/*
 * Prepare a join of the n children (n may be 0: ready at the first poll).
 * Returns 0, or -EINVAL (j NULL, children NULL with n > 0, n above
 * AR_COMBINATOR_MAX, a child with a NULL vt, poll or future); on error the
 * join is still safe to poll (ready, out = -EINVAL) and to drop (it drops no
 * child).
 */
AR_EXTERN int ar_join_all_init(ar_join_all *j, ar_child *children, uint32_t n);

/* AR_READY once every child finished: j->out is 0 and each child's output
 * is in the child (ar_child_ready is true for all).  Children finished in
 * earlier polls are not polled again.  A NULL cx polls nothing and reports
 * AR_READY with out = -EINVAL (the join stays as it was). */
AR_EXTERN ar_poll ar_join_all_poll(ar_join_all *j, ar_cx *cx);

/*
 * Drop before completion (cancellation): every child that has not finished
 * is dropped (vt->drop, once); the outputs of children that did finish are
 * released with vt->drop_output where the vtable has one, since nobody will
 * read them (as Rust drops the outputs a join already holds).  After the
 * join completed it drops nothing: the outputs belong to the caller.
 * Idempotent; NULL is a no-op.
 */
AR_EXTERN void ar_join_all_drop(ar_join_all *j);

/* A vtable for running an ar_join_all as a task, under ar_timeout or inside
 * another combinator; its output is `out`. */
AR_EXTERN extern const ar_future_vt ar_join_all_vt;

/* ------------------------------------------------------------------------
 * Select: ready as soon as one child is ready; the others are dropped.
 * --------------------------------------------------------------------- */
typedef struct ar_select {
    ar_child *children;
    uint32_t n;
    int out;       /* winner's index (>= 0), or -EINVAL after a bad init */
    uint32_t done; /* private */
} ar_select;

/*
 * Prepare a select over the n children (n >= 1).  Children are polled in
 * index order on every poll (biased, like Tokio's `select! { biased; }`):
 * when several are ready in the same poll the lowest index wins, so put the
 * branch that must not starve (a shutdown signal, a deadline) first.
 * Returns 0, or -EINVAL (as ar_join_all_init, and n == 0: a select of
 * nothing would never finish); on error the select is ready with
 * out = -EINVAL and drops nothing.
 */
AR_EXTERN int ar_select_init(ar_select *s, ar_child *children, uint32_t n);

/*
 * AR_READY once a child is ready: s->out is its index and its output is in
 * it; every other child has been dropped (vt->drop, exactly once each,
 * whether or not it was ever polled) before this returns.  A NULL cx polls
 * nothing and reports AR_READY with out = -EINVAL (the select stays as it
 * was).
 */
AR_EXTERN ar_poll ar_select_poll(ar_select *s, ar_cx *cx);

/* Drop before completion: every child is dropped once.  After completion
 * it drops nothing (the winner's output belongs to the caller).
 * Idempotent; NULL is a no-op. */
AR_EXTERN void ar_select_drop(ar_select *s);

/* Vtable of ar_select; its output is `out`. */
AR_EXTERN extern const ar_future_vt ar_select_vt;

#ifdef __cplusplus
}
#endif

#endif
