/*
 * asyncrt/task_set.h - task sets and scopes (structured concurrency).
 *
 * An ar_task_set (Tokio's JoinSet) owns the join handles of the tasks
 * spawned into it: await the next one to finish, abort them all, and when
 * the set is dropped whatever is left is aborted and every handle released.
 *
 *     ar_task_set_init(&self->set, NULL, sizeof(int));
 *     for (i = 0; i < 8; i++) ar_task_set_spawn(&self->set, &work_vt, &w[i], NULL);
 *     for (;;) {
 *         AR_AWAIT(ar_task_set_next_poll(&self->set, cx, &self->v, sizeof self->v,
 *                                        &self->id, &self->res));
 *         if (self->res == -ENOENT) break;       // the set is empty
 *         ...                                     // 0: self->v; -ECANCELED: aborted
 *     }
 *     ar_task_set_drop(&self->set);
 *
 * An ar_scope is a task set whose end waits for its children: its close
 * future is not ready before every task spawned in it has ended (finished,
 * or aborted and dropped), so children may use memory that lives as long as
 * the scope.  ar_scope_run is the blocking form (std::thread::scope).
 *
 * Threads: a set or scope belongs to the one future (or thread) that
 * created it, like any future's fields; it is not safe to spawn into it or
 * poll it from two threads at once, and tasks must not spawn into the set
 * they run in.  The tasks themselves run anywhere on the runtime.
 *
 * Cost: a set allocates one array of handles (grown by doubling); waiting
 * for the next completion checks the handles that are still running (one
 * atomic load each, O(n) per poll: no per-task wakers).
 *
 * C has no panics: a task that did not finish (aborted, or dropped by a
 * runtime shutdown) is reported as -ECANCELED.
 */
#ifndef ASYNCRT_TASK_SET_H
#define ASYNCRT_TASK_SET_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out_size of a set that takes tasks with any output and discards them
 * (next_poll must then be given out == NULL). */
#define AR_TASK_SET_ANY_OUTPUT ((size_t)-1)

typedef struct ar__task_set_entry {
    ar_join h;
    uint64_t id;
} ar__task_set_entry;

/* Members are private. */
typedef struct ar_task_set {
    ar_rt *rt;
    ar__task_set_entry *entries;
    uint32_t len, cap;
    size_t out_size;
    uint64_t next_id;
    uint32_t cursor; /* where the next scan starts: no task is favoured */
    uint32_t magic;  /* initialised and not dropped */
} ar_task_set;

/*
 * Prepare an empty set whose tasks run on rt (NULL: the runtime of the
 * calling task or block_on, looked up now) and have outputs of out_size
 * bytes (0: no output; AR_TASK_SET_ANY_OUTPUT: any, discarded).  Allocates
 * nothing.  Returns 0, -EINVAL (s NULL, or rt NULL outside a runtime).
 */
AR_EXTERN int ar_task_set_init(ar_task_set *s, ar_rt *rt, size_t out_size);

/*
 * Spawn a copy of the future into the set (as ar_spawn).  *id (id may be
 * NULL) receives the task's id in the set, which next_poll reports.
 * Returns 0, -EINVAL (uninitialised or dropped set, bad future, vt->out_size
 * differs from the set's), -ESHUTDOWN, -ENOMEM (nothing spawned).
 */
AR_EXTERN int ar_task_set_spawn(ar_task_set *s, const ar_future_vt *vt, const void *fut,
                                uint64_t *id);
/* The same with a name and site for the task dump (see ar_spawn_at);
 * ar_task_set_spawn and ar_task_set_spawn_named are macros over it that
 * pass the caller's file:line. */
AR_EXTERN int ar_task_set_spawn_at(ar_task_set *s, const ar_future_vt *vt, const void *fut,
                                   uint64_t *id, const char *name, const char *site);
#define ar_task_set_spawn(s, vt, fut, id) ar_task_set_spawn_at((s), (vt), (fut), (id), NULL, AR_SITE)
#define ar_task_set_spawn_named(s, name, vt, fut, id)                            \
    ar_task_set_spawn_at((s), (vt), (fut), (id), (name), AR_SITE)

/* Tasks in the set (running, or finished and not yet taken by next_poll). */
AR_EXTERN uint32_t ar_task_set_len(const ar_task_set *s);

/*
 * Wait for the next task of the set to end and take it out of the set.
 * When AR_READY, *res (res must not be NULL) is:
 *   0           the task finished: its output is in out (out NULL: dropped);
 *   -ECANCELED  the task was aborted, or dropped by a runtime shutdown;
 *   -ENOENT     the set is empty (Tokio's None);
 *   -EINVAL     bad arguments (NULL cx, uninitialised set, out given with a
 *               size other than the set's): nothing was taken.
 * *id (id may be NULL) is the task's id for 0 and -ECANCELED.  Dropping
 * this wait before it is ready is always safe (nothing was taken).
 */
AR_EXTERN ar_poll ar_task_set_next_poll(ar_task_set *s, ar_cx *cx, void *out, size_t out_size,
                                        uint64_t *id, int *res);

/* The same as a future with a vtable (for ar_timeout and combinators):
 * init it with the set and output slot, poll; res and id are its output. */
typedef struct ar_task_set_next {
    ar_task_set *set;
    void *out;
    size_t out_size;
    uint64_t id;
    int res;
} ar_task_set_next;

AR_EXTERN void ar_task_set_next_init(ar_task_set_next *n, ar_task_set *s, void *out,
                                     size_t out_size);
AR_EXTERN extern const ar_future_vt ar_task_set_next_vt; /* output: res */

/*
 * Ask every task in the set to stop (ar_join_abort): each is dropped at its
 * next scheduling point and next_poll then reports it as -ECANCELED (or its
 * output, if it had finished already).  The tasks stay in the set until
 * taken.  Returns the number of tasks asked, or -EINVAL.
 */
AR_EXTERN int ar_task_set_abort_all(ar_task_set *s);

/*
 * Abort every task and wait until each has ended (Tokio's
 * JoinSet::shutdown); outputs are dropped.  AR_READY when the set is empty;
 * *cancelled (may be NULL) then holds how many of the tasks taken by this
 * call ended cancelled.  The set stays usable.  A NULL cx checks without
 * registering a waker (never ready early).
 */
AR_EXTERN ar_poll ar_task_set_shutdown_poll(ar_task_set *s, ar_cx *cx, uint32_t *cancelled);

/*
 * Drop the set: tasks left in it are aborted and their handles released
 * (outputs of finished ones are dropped), then the array is freed.  It
 * does not wait for the aborted tasks to end: a task being polled on
 * another worker finishes that poll first (use ar_task_set_shutdown_poll,
 * or a scope, to wait).  Idempotent; NULL and uninitialised sets are a
 * no-op once zeroed.
 */
AR_EXTERN void ar_task_set_drop(ar_task_set *s);

/* ------------------------------------------------------------------------
 * Scopes
 * --------------------------------------------------------------------- */
typedef struct ar_scope {
    ar_task_set set;
    uint32_t out; /* after close: how many children ended cancelled */
} ar_scope;

/* Open a scope on rt (NULL: the current runtime).  Returns 0, -EINVAL. */
AR_EXTERN int ar_scope_init(ar_scope *sc, ar_rt *rt);

/* Spawn a child (any output; it is dropped).  Same results as
 * ar_task_set_spawn. */
AR_EXTERN int ar_scope_spawn(ar_scope *sc, const ar_future_vt *vt, const void *fut);

/* Abort every child; close still waits for them to end.  Returns how many
 * were asked, or -EINVAL. */
AR_EXTERN int ar_scope_cancel(ar_scope *sc);

/*
 * Close the scope: AR_READY only once every child spawned in it has ended
 * (finished, or aborted and its future dropped); sc->out then counts the
 * cancelled ones.  It then frees the scope's array.  It does not abort
 * anything by itself: call ar_scope_cancel first to end the children early.
 * A NULL cx checks without registering a waker (never ready early).
 */
AR_EXTERN ar_poll ar_scope_close_poll(ar_scope *sc, ar_cx *cx);

/*
 * Drop a scope that was not closed (its owner was cancelled): the children
 * are aborted and released, but a poll to drop cannot wait, so a child
 * running on another worker at that moment may still be inside its poll
 * when this returns.  Children that use memory owned by the scope's owner
 * must therefore be waited for with ar_scope_cancel + ar_scope_close_poll
 * (or ar_scope_run) before that memory goes away.  Idempotent.
 */
AR_EXTERN void ar_scope_drop(ar_scope *sc);

/*
 * Blocking scope for plain threads (std::thread::scope): opens a scope on
 * rt, calls body(sc, arg) (which spawns children with ar_scope_spawn and
 * may cancel them), then blocks until every child has ended, even when
 * body returns an error, and frees the scope.  Works with both flavours
 * (a current-thread runtime is driven by this thread while it waits).
 * Returns body's result, or -EINVAL (rt or body NULL), -EDEADLK (called
 * from inside a task or block_on: the body is not run).  If the runtime is
 * shut down meanwhile, the children are dropped by the shutdown and this
 * still returns once they are.
 */
AR_EXTERN int ar_scope_run(ar_rt *rt, int (*body)(ar_scope *sc, void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif
