/*
 * runtime/scope.c - ar_scope: a task set whose end waits for its children.
 *
 * The close future only becomes ready when the set is empty, and a task
 * leaves the set only once ar_join_poll saw it complete, i.e. after its
 * future returned AR_READY or was dropped (task.c completes a task after
 * the poll or the drop returned).  So when close is ready no child runs or
 * will run again: memory the children used may be freed.
 *
 * ar_scope_run waits with ar_block_on (which also drives a current-thread
 * runtime).  If the runtime shuts down meanwhile, block_on returns
 * -ECANCELED; shutdown has then completed every task, so the remaining
 * handles are finished and a last non-blocking pass takes them.
 */
#include <errno.h>
#include <sched.h>

#include "set_wait.h"

int ar_scope_init(ar_scope *sc, ar_rt *rt)
{
    if (!sc)
        return -EINVAL;
    sc->out = 0;
    return ar_task_set_init(&sc->set, rt, AR_TASK_SET_ANY_OUTPUT);
}

int ar_scope_spawn(ar_scope *sc, const ar_future_vt *vt, const void *fut)
{
    if (!sc)
        return -EINVAL;
    return ar_task_set_spawn(&sc->set, vt, fut, NULL);
}

int ar_scope_cancel(ar_scope *sc)
{
    return sc ? ar_task_set_abort_all(&sc->set) : -EINVAL;
}

ar_poll ar_scope_close_poll(ar_scope *sc, ar_cx *cx)
{
    if (!sc)
        return AR_READY;
    ar_cx none = {.waker = ar__noop_waker(), .budget = 0, .worker = NULL};
    if (!cx)
        cx = &none; /* still never ready before the children ended */
    if (ar__task_set_wait_all(&sc->set, cx, &sc->out) == AR_PENDING)
        return AR_PENDING;
    ar_task_set_drop(&sc->set); /* empty: frees the array */
    return AR_READY;
}

void ar_scope_drop(ar_scope *sc)
{
    if (sc)
        ar_task_set_drop(&sc->set);
}

typedef struct scope_close_fut {
    ar_scope *sc;
} scope_close_fut;

static ar_poll scope_close_poll_v(void *self, ar_cx *cx)
{
    return ar_scope_close_poll(((scope_close_fut *)self)->sc, cx);
}

static const ar_future_vt scope_close_vt = AR_FUTURE_VT_VOID(scope_close_fut, scope_close_poll_v, NULL);

int ar_scope_run(ar_rt *rt, int (*body)(ar_scope *sc, void *arg), void *arg)
{
    if (!rt || !body)
        return -EINVAL;
    if (ar_rt_current())
        return -EDEADLK;
    ar_scope sc;
    int rc = ar_scope_init(&sc, rt);
    if (rc)
        return rc;
    int ret = body(&sc, arg);
    scope_close_fut f = {&sc};
    int brc;
    while ((brc = ar_block_on(rt, &scope_close_vt, &f)) == -ENOMEM)
        sched_yield(); /* its thread waker: retry, the children go on */
    if (brc) {
        /* Shut down (every task completed), or another thread drives this
         * current-thread runtime: wait for the remaining handles without
         * driving it. */
        ar_cx cx = {.waker = ar__noop_waker(), .budget = 0, .worker = NULL};
        while (ar_scope_close_poll(&sc, &cx) == AR_PENDING)
            sched_yield();
    }
    return ret;
}
