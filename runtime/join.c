/*
 * runtime/join.c - join handles: await, block on, detach, abort.
 *
 * A live handle holds one task reference and the JOIN_INTEREST flag.  The
 * join waker follows the JOIN_WAKER rules in state.h (those of Tokio's
 * task/mod.rs): the handle writes join_waker only while it owns the slot,
 * i.e. JOIN_WAKER clear and the task not complete.
 */
#include <errno.h>
#include <string.h>

#include "remote.h"
#include "rt.h"
#include "task.h"
#include "thread_waker.h"

enum { JOIN_LIVE = 0, JOIN_JOINED = 1, JOIN_DETACHED = 2 };

static int check(const ar_join *h)
{
    if (!h)
        return -EINVAL;
    if (h->task)
        return 0;
    return h->state == JOIN_JOINED ? -EALREADY : -EBADF;
}

/* Release the handle.  output_taken: the joiner copied the output out
 * (it owns it now); otherwise a finished task's output is dropped here. */
static void release(ar_join *h, uint32_t new_state, bool output_taken)
{
    ar_task *t = h->task;
    uint32_t s = ar__st_join_handle_dropped(&t->state);
    if (!(s & AR__ST_JOIN_WAKER)) {
        /* safety: the transition gave the handle exclusive access. */
        ar_waker_drop(t->join_waker);
        t->join_waker = AR_WAKER_NONE;
    }
    if ((s & AR__ST_COMPLETE) && !(s & AR__ST_RES_CANCELLED) && !output_taken)
        ar__task_drop_output(t);
    h->task = NULL;
    h->state = new_state;
    ar__task_ref_dec(t);
}

/* Store waker as the join waker unless the task completed.  Returns true
 * when the output is ready to read. */
static bool can_read_output(ar_task *t, ar_waker waker)
{
    uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (s & AR__ST_COMPLETE)
        return true;
    if (s & AR__ST_JOIN_WAKER) {
        /* safety: JOIN_WAKER set, !COMPLETE: nobody writes the slot; we
         * only compare. */
        if (ar_waker_will_wake(t->join_waker, waker))
            return false;
        if (!ar__st_unset_join_waker(&t->state))
            return true; /* completed meanwhile */
        ar_waker_drop(t->join_waker);
        t->join_waker = AR_WAKER_NONE;
    }
    /* safety: JOIN_WAKER clear and !COMPLETE: the slot is ours. */
    t->join_waker = ar_waker_clone(waker);
    if (ar__st_set_join_waker(&t->state))
        return false;
    ar_waker_drop(t->join_waker);
    t->join_waker = AR_WAKER_NONE;
    return true;
}

ar_poll ar_join_poll(ar_join *h, ar_cx *cx, void *out, size_t out_size, int *res)
{
    int rc = check(h);
    if (!rc && !cx)
        rc = -EINVAL;
    if (rc) {
        if (res)
            *res = rc;
        return AR_READY;
    }
    ar_task *t = h->task;
    if (out && out_size != t->vt->out_size) {
        if (res)
            *res = -EINVAL;
        return AR_READY;
    }
    if (!ar_coop_proceed(cx))
        return AR_PENDING;
    if (!can_read_output(t, cx->waker))
        return AR_PENDING;
    uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    bool taken = false;
    if (s & AR__ST_RES_CANCELLED) {
        rc = -ECANCELED;
    } else {
        if (out && out_size) {
            memcpy(out, t->future + t->vt->out_off, out_size);
            taken = true;
        }
        rc = 0;
    }
    release(h, JOIN_JOINED, taken);
    if (res)
        *res = rc;
    return AR_READY;
}

int ar_join_wait(ar_join *h, void *out, size_t out_size)
{
    int rc = check(h);
    if (rc)
        return rc;
    if (ar__tls_worker)
        return -EDEADLK;
    if (out && out_size != h->task->vt->out_size)
        return -EINVAL;
    ar__thread_waker *tw = ar__thread_waker_new(NULL, NULL);
    if (!tw)
        return -ENOMEM;
    for (;;) {
        ar_cx cx = {.waker = ar__thread_waker_get(tw), .budget = AR_COOP_BUDGET, .worker = NULL};
        ar__thread_waker_take(tw);
        if (ar_join_poll(h, &cx, out, out_size, &rc) == AR_READY)
            break;
        if (!ar__thread_waker_take(tw))
            ar__park(&tw->own);
    }
    ar__thread_waker_detach(tw);
    return rc;
}

int ar_join_detach(ar_join *h)
{
    int rc = check(h);
    if (rc)
        return rc;
    release(h, JOIN_DETACHED, false);
    return 0;
}

int ar_join_abort(ar_join *h)
{
    int rc = check(h);
    if (rc)
        return rc;
    ar_task *t = h->task;
    /* Like a remote wake (remote.h): the runtime may be shutting down. */
    unsigned g = ar__remote_enter();
    if (ar__st_notify_and_cancel(&t->state) == AR__ACT_SUBMIT)
        ar__schedule(t, false);
    ar__remote_exit(g);
    return 0;
}

bool ar_join_is_finished(const ar_join *h)
{
    if (!h || !h->task)
        return false;
    return atomic_load_explicit(&h->task->state, memory_order_acquire) & AR__ST_COMPLETE;
}
