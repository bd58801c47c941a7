/*
 * closures/closure.c - async closures: starting calls (the slow path and
 * the type-erased entry points), polling and dropping call futures,
 * spawning calls, dropping closures.
 *
 * Who holds what
 * --------------
 * The closure's counter (`base.borrow`) is the only shared state:
 *   - a reference future of a MUT call holds it EXCLUSIVE, of an FN call
 *     one SHARED count, from a successful start until it completes
 *     (ar__call_end from its poll) or is dropped (ar_call_drop);
 *   - ar_call_once and ar_closure_drop turn it MOVED for good (except that a
 *     failed ar_spawn_call_once moves it back: ar__call_undo).
 * The environment inside the closure is read by the bodies of reference
 * futures (shared for FN, exclusively for MUT) and written only while the
 * counter is exclusive or moved; the counter's acquire/release pairs order
 * those accesses (borrow.h).  A value future owns its own copy of the env.
 *
 * A call future is owned by one thread at a time, like every future: its
 * header is plain memory.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "asyncrt/closure.h"
#include "diag.h"

/* ------------------------------------------------------------------------
 * Diagnostics of calls
 * --------------------------------------------------------------------- */
static __thread char t_note[160];

static const char *closure_name(const ar_closure *c)
{
    return c && c->vt && c->vt->name ? c->vt->name : "closure";
}

static int bad_call(const ar_closure *c, const char *headline, const char *note,
                    const ar_site *site, int err)
{
    ar__diag d = {
        .err = err,
        .name = closure_name(c),
        .at = site,
        .at_label = "called here",
        .held = c && c->vt ? c->vt->def : NULL,
        .held_label = c && c->vt ? "closure type defined here" : NULL,
        .note = note,
        .help = "pass a closure made by AR_CLOSURE_NEW and still alive, and storage for its "
                "future",
    };
    return ar__diag_raise(&d, headline);
}

/* A call by a method the closure's kind does not have. */
static int bad_kind(const ar_closure *c, unsigned how, const ar_site *site)
{
    const ar_closure_vt *vt = c->vt;
    ar__diag d = {
        .err = AR_EKIND,
        .name = vt->name,
        .at = site,
        .held = vt->def,
    };
    if (vt->kind == AR_ONCE) {
        /* The seed's greeter: call_mut would have to move the captures out
         * of `&mut self`. */
        d.code = "E0507";
        d.at_label = how == AR_FN ? "borrowed for ar_call here" : "borrowed for ar_call_mut here";
        d.held_label = "closure defined AR_ONCE (AsyncFnOnce) here";
        d.note = "an AR_ONCE body consumes its captures, so only ar_call_once may run it";
        d.help = "call `%s` with ar_call_once, or define it AR_MUT / AR_FN if its body only "
                 "borrows its captures";
        return ar__diag_raise(&d, how == AR_FN
                                      ? "cannot move out of the captures of `%s`, which are "
                                        "behind a shared reference"
                                      : "cannot move out of the captures of `%s`, which are "
                                        "behind a mutable reference");
    }
    d.code = "E0525";
    d.at_label = "ar_call (AsyncFn) required here";
    d.held_label = "closure defined AR_MUT (AsyncFnMut) here";
    d.note = "an AR_MUT body may change its captures, so its calls cannot overlap";
    d.help = "call `%s` with ar_call_mut (one call at a time), or define it AR_FN if its body "
             "only reads its captures";
    return ar__diag_raise(&d, "expected a closure that implements `AsyncFn`, but `%s` only "
                              "implements `AsyncFnMut`");
}

static size_t need_for(const ar_closure_vt *vt, unsigned how)
{
    return how == AR_ONCE ? vt->val_vt.size : vt->ref_vt.size;
}

/* Everything a call checks before it borrows; 0 or the reported error. */
static int check_call(ar_closure *c, const void *storage, unsigned how, size_t size,
                      const ar_site *site)
{
    if (!c)
        return bad_call(c, "NULL %s passed to a call", NULL, site, -EINVAL);
    const ar_closure_vt *vt = c->vt;
    if (!vt)
        return bad_call(c, "call of a %s that was never created",
                        "its vtable is NULL (zeroed memory?)", site, -EINVAL);
    if (!storage)
        return bad_call(c, "NULL future storage for a call of `%s`", NULL, site, -EINVAL);
    if (how < AR_ONCE || how > AR_FN)
        return bad_call(c, "bad call method for `%s`", "use AR_ONCE, AR_MUT or AR_FN", site,
                        -EINVAL);
    if (how > vt->kind)
        return bad_kind(c, how, site);
    if (size < need_for(vt, how)) {
        snprintf(t_note, sizeof t_note, "a %s future of `%s` needs %u bytes; the storage has %zu",
                 how == AR_ONCE ? "value" : "reference", vt->name, (unsigned)need_for(vt, how),
                 size);
        ar__diag d = {
            .err = AR_ESTORAGE,
            .name = vt->name,
            .at = site,
            .at_label = "called here",
            .held = vt->def,
            .held_label = "closure type defined here",
            .note = t_note,
            .help = how == AR_ONCE ? "use a `%s_val_fut`, or AR_CALL_STORAGE sized by "
                                     "ar_closure_future_size(c, AR_ONCE)"
                                   : "use a `%s_ref_fut`, or AR_CALL_STORAGE sized by "
                                     "ar_closure_future_size(c, how)",
        };
        return ar__diag_raise(&d, "storage too small for a call of `%s`");
    }
    if ((uintptr_t)storage % vt->align)
        return bad_call(c, "misaligned future storage for a call of `%s`",
                        "use AR_CALL_STORAGE or the typed futures", site, -EINVAL);
    return 0;
}

/* Leave a failed future behind, when the storage can hold (and is aligned
 * for) a header: polling it is ready at once, ar_call_result tells why.
 * Storage that holds a live call of the same closure -- the seed's second
 * `call_mut` into the future of the first, which fails like E0499 -- is
 * left alone: overwriting it would lose that call's borrow (or a value
 * future's env) for good. */
static void mark_failed(void *storage, size_t size, const ar_closure *c, int rc)
{
    if (!storage || size < sizeof(ar_call_hdr) ||
        (uintptr_t)storage % _Alignof(ar_call_hdr) != 0)
        return;
    ar_call_hdr *h = storage;
    if (c && h->closure == c && h->vt == c->vt && h->mode >= AR__CALL_LIVE &&
        h->mode <= AR__CALL_VALUE)
        return;
    *h = (ar_call_hdr){c ? c->vt : NULL, NULL, NULL, rc, AR__CALL_FAILED};
}

int ar__call_start_slow(ar_closure *c, ar_call_hdr *h, unsigned how, size_t size,
                        const ar_site *site)
{
    int rc = check_call(c, h, how, size, site);
    if (rc == 0) {
        const ar_closure_vt *vt = c->vt;
        bool shared = how == AR_FN || (how == AR_MUT && vt->kind == AR_FN);
        ar__bop op = how == AR_ONCE ? AR__BOP_MOVE_OUT : shared ? AR__BOP_SHARED : AR__BOP_MUT;
        rc = ar__borrow_slow(&c->borrow, op, AR__CTX_CLOSURE, site);
        if (rc == 0) {
            void *env = how == AR_ONCE ? NULL : (char *)c + vt->env_off;
            uint32_t mode = how == AR_ONCE ? AR__CALL_VALUE
                            : shared       ? AR__CALL_REF_SHARED
                                           : AR__CALL_REF_MUT;
            *h = (ar_call_hdr){vt, c, env, 0, mode};
            return 0;
        }
    }
    mark_failed(h, size, c, rc);
    return rc;
}

/* ------------------------------------------------------------------------
 * Call futures
 * --------------------------------------------------------------------- */
ar_poll ar__call_poll_dead(ar_call_hdr *h)
{
    (void)h;
#ifndef NDEBUG
    if (h->mode == AR__CALL_DONE)
        ar__co_poll_after_done(h->vt ? h->vt->ref_vt.name : "call future", __FILE__, __LINE__);
#endif
    /* Failed, dropped or never started: nothing to run.  The error (if
     * any) is in ar_call_result. */
    return AR_READY;
}

ar_poll ar_call_poll(void *fut, ar_cx *cx)
{
    ar_call_hdr *h = fut;
    if (!h)
        return AR_READY;
    if (h->mode < AR__CALL_LIVE)
        return ar__call_poll_dead(h);
    return ar__call_poll_with(fut, cx, h->vt->body, h->vt->frame_off, h->vt->val_env_off);
}

void ar_call_drop(void *fut)
{
    ar_call_hdr *h = fut;
    if (!h || h->mode < AR__CALL_LIVE)
        return;
    const ar_closure_vt *vt = h->vt;
    void *env = h->mode == AR__CALL_VALUE ? (char *)fut + vt->val_env_off : h->env;
    /* The frame first: its locals may still refer to the env. */
    if (vt->frame_drop)
        vt->frame_drop((char *)fut + vt->frame_off);
    ar__call_end(h, env, AR__CALL_DROPPED);
}

int ar_call_result(const void *fut)
{
    const ar_call_hdr *h = fut;
    if (!h || h->mode == AR__CALL_EMPTY)
        return -EINVAL;
    return h->mode == AR__CALL_FAILED ? h->err : 0;
}

void *ar_call_output(void *fut)
{
    ar_call_hdr *h = fut;
    if (!h || h->mode != AR__CALL_DONE || !h->vt)
        return NULL;
    return (char *)fut + h->vt->ref_vt.out_off;
}

/* ------------------------------------------------------------------------
 * Type-erased calls
 * --------------------------------------------------------------------- */
/* Start a type-erased call; a value future's move is published at once
 * (publish) or left to ar__call_spawn. */
static int call_at(ar_closure *c, ar_fn_kind how, void *storage, size_t size, const void *arg,
                   size_t arg_size, const ar_site *site, bool publish)
{
    int rc = check_call(c, storage, how, size, site);
    if (rc == 0 && (arg_size != c->vt->arg_size || (!arg && arg_size))) {
        snprintf(t_note, sizeof t_note, "`%s` takes a %u-byte argument; %zu bytes were passed%s",
                 c->vt->name, (unsigned)c->vt->arg_size, arg_size, arg ? "" : " (NULL)");
        rc = bad_call(c, "wrong argument for a call of `%s`", t_note, site, -EINVAL);
    }
    if (rc) {
        mark_failed(storage, size, c, rc);
        return rc;
    }
    ar_call_hdr *h = storage;
    rc = ar__call_start(c, h, how, size, site);
    if (rc)
        return rc;
    const ar_closure_vt *vt = c->vt;
    char *frame = (char *)storage + vt->frame_off;
    memset(frame, 0, vt->frame_size);
    if (arg_size)
        memcpy(frame + vt->arg_off, arg, arg_size);
    if (h->mode == AR__CALL_VALUE) {
        /* safety: EXCL is ours: nobody else touches the env meanwhile. */
        memcpy((char *)storage + vt->val_env_off, (char *)c + vt->env_off, vt->env_size);
        if (publish)
            ar__call_moved(h);
    }
    return 0;
}

int ar_closure_call_at(ar_closure *c, ar_fn_kind how, void *storage, size_t size, const void *arg,
                       size_t arg_size, const ar_site *site)
{
    return call_at(c, how, storage, size, arg, arg_size, site, true);
}

/* Undo a started call that was never polled (its spawn failed). */
static void call_undo(ar_call_hdr *h)
{
    if (h->mode == AR__CALL_VALUE) {
        /* The move was never published: the counter is still our EXCL and
         * the closure's env was only copied, never touched.  Freeing the
         * counter makes the closure callable again (release: pairs with the
         * acquire of the next borrower). */
        h->mode = AR__CALL_DROPPED;
        __atomic_store_n(&h->closure->borrow.word, 0, __ATOMIC_RELEASE);
    } else {
        ar__call_end(h, h->env, AR__CALL_DROPPED);
    }
}

/* Task memory gives a future 16-byte alignment (runtime/task.h). */
#define TASK_FUTURE_ALIGN 16u

int ar__call_spawn(ar_rt *rt, ar_call_hdr *h, ar_join *join)
{
    const ar_future_vt *fvt = h->mode == AR__CALL_VALUE ? &h->vt->val_vt : &h->vt->ref_vt;
    int rc = -EINVAL;
    /* A frame or env that needs more alignment than a task gives cannot
     * run as a task (its body would see misaligned members). */
    if (h->vt->align <= TASK_FUTURE_ALIGN)
        rc = ar_spawn_at(rt, fvt, h, join, h->vt->name, NULL);
    /* ar_spawn copied the started future into the task, which took over its
     * borrow (or env); the caller's copy is abandoned, never dropped. */
    if (rc)
        call_undo(h);
    else if (h->mode == AR__CALL_VALUE)
        ar__call_moved(h);
    return rc;
}

int ar_closure_spawn_at(ar_rt *rt, ar_closure *c, ar_fn_kind how, const void *arg,
                        size_t arg_size, ar_join *join, const ar_site *site)
{
    enum { STACK = 1024 };
    _Alignas(16) unsigned char stack[STACK];
    if (join)
        *join = (ar_join){0};
    size_t need = ar_closure_future_size(c, how);
    void *buf = stack;
    size_t size = sizeof stack;
    if (need > STACK) {
        buf = ar__alloc(need);
        if (!buf)
            return -ENOMEM;
        size = need;
    }
    int rc = call_at(c, how, buf, size, arg, arg_size, site, false);
    if (rc == 0)
        rc = ar__call_spawn(rt, buf, join);
    if (buf != stack)
        ar__free(buf, size);
    return rc;
}

/* ------------------------------------------------------------------------
 * Closures
 * --------------------------------------------------------------------- */
int ar_closure_drop_at(ar_closure *c, const ar_site *site)
{
    if (!c || !c->vt)
        return bad_call(c, c ? "drop of a %s that was never created" : "NULL %s dropped",
                        NULL, site, -EINVAL);
    int rc = ar__bw_try_take(&c->borrow, AR__BW_MOVED, site)
                 ? 0
                 : ar__borrow_slow(&c->borrow, AR__BOP_DROP, AR__CTX_CLOSURE, site);
    if (rc == 1)
        return 0; /* moved or dropped already: its env is gone or elsewhere */
    if (rc)
        return rc;
    /* safety: MOVED is ours (acquire: every call's reads and writes of the
     * env happened before). */
    if (c->vt->env_drop)
        c->vt->env_drop((char *)c + c->vt->env_off);
    return 0;
}

int ar_closure_try_drop_at(ar_closure *c, const ar_site *site)
{
    if (!c || !c->vt)
        return ar_closure_drop_at(c, site); /* reports the bad argument */
    for (;;) {
        if (ar__bw_try_take(&c->borrow, AR__BW_MOVED, site)) {
            /* safety: as in ar_closure_drop_at. */
            if (c->vt->env_drop)
                c->vt->env_drop((char *)c + c->vt->env_off);
            return 0;
        }
        uint64_t tag = __atomic_load_n(&c->borrow.word, __ATOMIC_RELAXED) & AR__BW_TAG_MASK;
        if (tag == AR__BW_MOVED)
            return 0; /* moved or dropped already */
        if (tag != 0)
            return AR_EBORROWED; /* calls still borrow it: no diagnostic */
        /* Free again (a call ended meanwhile): try once more. */
    }
}

ar_fn_kind ar_closure_kind(const ar_closure *c)
{
    return c && c->vt ? (ar_fn_kind)c->vt->kind : (ar_fn_kind)0;
}

size_t ar_closure_future_size(const ar_closure *c, ar_fn_kind how)
{
    if (!c || !c->vt || how < AR_ONCE || (unsigned)how > c->vt->kind)
        return 0;
    return need_for(c->vt, how);
}
