/*
 * runtime/task.c - task allocation and the harness that polls, completes,
 * cancels and releases tasks.  The state machine itself is in state.h.
 */
#include "task.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "remote.h"
#include "rt.h"

ar_task *ar__task_new(ar__shard *shard, const ar_future_vt *vt, const void *fut, bool joinable,
                      const ar__task_info *info, int *err)
{
    ar_task *t = ar__alloc(ar__task_alloc_size(vt));
    if (!t) {
        *err = -ENOMEM;
        return NULL;
    }
    /* References: registry + queue entry (+ join handle).  A new task starts
     * RUNNING and its first queue entry owns that bit (an AR__ENTRY_RUNNING
     * entry): nobody else can hold a waker yet, so the first poll needs no
     * state CAS; an abort meanwhile sets CANCELLED, which the poller checks. */
    uint32_t refs = joinable ? 3 : 2;
    uint32_t st = AR__ST_RUNNING | (joinable ? AR__ST_JOIN_INTEREST : 0) | refs * AR__ST_REF_ONE;
    atomic_init(&t->state, st);
    t->owned_idx = AR__OWNED_NONE;
    t->vt = vt;
    t->shard = shard;
    t->join_waker = AR_WAKER_NONE;
    memcpy(t->future, fut, vt->size);
    int rc = ar__shard_insert(shard, t, info);
    if (rc) {
        ar__free(t, ar__task_alloc_size(vt));
        *err = rc;
        return NULL;
    }
    return t;
}

void ar__task_dealloc(ar_task *t) { ar__free(t, ar__task_alloc_size(t->vt)); }

void ar__task_drop_output(ar_task *t)
{
    if (t->vt->drop_output && t->vt->out_size)
        t->vt->drop_output(t->future + t->vt->out_off);
}

void ar__task_ref_dec(ar_task *t)
{
    if (ar__st_ref_dec_n(&t->state, 1))
        ar__task_dealloc(t);
}

/*
 * The caller owns RUNNING.  Leave the registry when this thread may touch
 * the task's shard (owned.h), publish COMPLETE, wake the joiner, and drop
 * the running reference plus the registry's if it was removed here.  A task
 * finishing on a worker that does not own its shard stays registered until
 * the owner's sweep sees COMPLETE.
 */
static void complete(ar_task *t, bool cancelled)
{
    ar__shard *sh = t->shard;
    ar_worker *w = ar__tls_worker;
    bool removed = false;
    if (sh->shared || (w && &w->shard == sh))
        removed = ar__shard_remove(sh, t);
    uint32_t drop = removed ? 2u : 1u;
    uint32_t res = cancelled ? AR__ST_RES_CANCELLED : 0;
    if (w && w->rt == sh->rt)
        AR__COUNT(w->m.completed);
    else
        atomic_fetch_add_explicit(&sh->rt->ext_completed, 1, memory_order_relaxed);

    /* Fast path, no join handle (it cannot appear later): one CAS does
     * RUNNING -> COMPLETE and drops the references.  Nobody will take the
     * output, so it is dropped first: once the CAS publishes COMPLETE, the
     * shard owner's sweep may free the task under us. */
    uint32_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    if (!(cur & AR__ST_JOIN_INTEREST) && !cancelled)
        ar__task_drop_output(t);
    while (!(cur & AR__ST_JOIN_INTEREST)) {
        uint32_t next = ((cur & ~(uint32_t)AR__ST_RUNNING) | AR__ST_COMPLETE | res) -
                        drop * AR__ST_REF_ONE;
        if (AR__CAS(&t->state, &cur, next)) {
            /* safety: t may be freed by a sweep from here on unless these
             * were the last references. */
            if (ar__st_refs(next) == 0)
                ar__task_dealloc(t);
            return;
        }
    }

    uint32_t s = ar__st_to_complete(&t->state, cancelled);
    if (!(s & AR__ST_JOIN_INTEREST) && !cancelled)
        ar__task_drop_output(t); /* the handle went away while we ran */
    if ((s & AR__ST_JOIN_INTEREST) && (s & AR__ST_JOIN_WAKER)) {
        /* safety: JOIN_WAKER set + COMPLETE set by us: we may read it. */
        ar_waker_wake_by_ref(t->join_waker);
        uint32_t after = ar__st_unset_waker_after_complete(&t->state);
        if (!(after & AR__ST_JOIN_INTEREST)) {
            /* The handle was released meanwhile: the waker is ours to drop. */
            ar_waker_drop(t->join_waker);
            t->join_waker = AR_WAKER_NONE;
        }
    }
    if (ar__st_ref_dec_n(&t->state, drop))
        ar__task_dealloc(t);
}

void ar__task_cancel_and_complete(ar_task *t)
{
    if (t->vt->drop)
        t->vt->drop(t->future);
    complete(t, true);
}

void ar__task_shutdown(ar_task *t)
{
    if (!ar__st_to_shutdown(&t->state)) {
        /* Running (a RUNNING queue entry will drop it) or complete: just
         * release the registry reference. */
        ar__task_ref_dec(t);
        return;
    }
    ar__task_cancel_and_complete(t);
}

void ar__task_drop_entry(ar_task *e)
{
    ar_task *t = ar__entry_task(e);
    if (ar__entry_owns_running(e))
        ar__task_cancel_and_complete(t);
    else
        ar__task_ref_dec(t);
}

void ar__task_run(ar_task *e, ar_cx *cx)
{
    ar_task *t = ar__entry_task(e);
    if (ar__entry_owns_running(e)) {
        /* Requeued after a yield: RUNNING is ours already; only an abort
         * that arrived meanwhile changes the plan. */
        if (atomic_load_explicit(&t->state, memory_order_acquire) & AR__ST_CANCELLED) {
            ar__task_cancel_and_complete(t);
            return;
        }
    } else {
        switch (ar__st_to_running(&t->state)) {
        case AR__ACT_SUCCESS:
            break;
        case AR__ACT_CANCEL:
            ar__task_cancel_and_complete(t);
            return;
        case AR__ACT_DEALLOC:
            ar__task_dealloc(t);
            return;
        default: /* FAILED: already running or complete; ref dropped */
            return;
        }
    }

    ar_worker *w = cx->worker;
    cx->waker.bits = (uintptr_t)t;
    if (w) {
        w->current = t;
        AR__COUNT(w->m.polls);
    }
    ar_poll p = t->vt->poll(t->future, cx);
    if (w)
        w->current = NULL;

    if (p == AR_READY) {
        if (w)
            w->yielded = false;
        complete(t, false);
        return;
    }
    if (w && w->yielded) {
        /* Self-wake fast path: requeue keeping RUNNING. */
        w->yielded = false;
        ar__schedule(ar__entry_running(t), true);
        return;
    }
    switch (ar__st_to_idle(&t->state)) {
    case AR__ACT_OK_NOTIFIED:
        ar__schedule(t, true);
        break;
    case AR__ACT_DEALLOC:
        ar__task_dealloc(t);
        break;
    case AR__ACT_CANCEL:
        ar__task_cancel_and_complete(t);
        break;
    default:
        break;
    }
}

/* Is the calling thread a worker of t's runtime?  (Only those may wake
 * without the remote-wake bracket: shutdown joins them first.) */
static inline bool on_own_worker(ar_worker *w, ar_task *t)
{
    return w && ar__rt_owns_shard(w->rt, t->shard);
}

void ar__task_wake_by_ref(ar_task *t)
{
    ar_worker *w = ar__tls_worker;
    if (w && w->current == t) {
        /* The task woke itself from its own poll: no atomics needed. */
        w->yielded = true;
        return;
    }
    if (on_own_worker(w, t)) {
        if (ar__st_notify_by_ref(&t->state) == AR__ACT_SUBMIT)
            ar__schedule(t, false);
        return;
    }
    unsigned g = ar__remote_enter();
    if (ar__st_notify_by_ref(&t->state) == AR__ACT_SUBMIT)
        ar__schedule(t, false);
    ar__remote_exit(g);
}

static void wake_by_val_slow(ar_task *t)
{
    switch (ar__st_notify_by_val(&t->state)) {
    case AR__ACT_SUBMIT:
        ar__schedule(t, false);
        break;
    case AR__ACT_DEALLOC:
        ar__task_dealloc(t);
        break;
    default:
        break;
    }
}

void ar__task_wake_by_val(ar_task *t)
{
    ar_worker *w = ar__tls_worker;
    if (w && w->current == t) {
        w->yielded = true;
        ar__task_ref_dec(t); /* never the last: we hold the running one */
        return;
    }
    if (on_own_worker(w, t)) {
        wake_by_val_slow(t);
        return;
    }
    unsigned g = ar__remote_enter();
    wake_by_val_slow(t);
    ar__remote_exit(g);
}
