/*
 * asyncrt/future.h - the poll protocol, wakers and switch coroutines.
 *
 * A future is a plain C struct plus a poll function
 *
 *     ar_poll my_poll(void *self, ar_cx *cx);
 *
 * Polling either finishes (AR_READY; the output has been written into the
 * future struct itself or a slot the caller gave it) or returns AR_PENDING
 * after arranging for cx->waker to be woken when progress is possible,
 * exactly as in Rust.  Child futures are embedded BY VALUE in their parent's
 * struct, so awaiting costs no allocation.
 *
 * This header is usable on its own: it needs only the waker functions
 * (runtime/waker.c) to link.
 *
 * Coroutine macros
 * ----------------
 * AR_BEGIN / AR_END turn a poll function into a resumable state machine in
 * the style of protothreads: the resume point (__LINE__) lives in an ar_co
 * member of the future and a switch statement jumps back to it.
 *
 *     typedef struct { ar_co co; ar_oneshot_rx rx; int v, res; int out; } add_one;
 *
 *     static ar_poll add_one_poll(void *p, ar_cx *cx) {
 *         add_one *self = p;
 *         AR_BEGIN(&self->co);
 *         AR_AWAIT(ar_oneshot_recv_poll(&self->rx, cx, &self->v, &self->res));
 *         self->out = self->v + 1;
 *         AR_END;
 *     }
 *
 * Two rules follow from how the switch works, the same as in protothreads
 * and lc-switch.h:
 *   1. Stack locals do NOT survive an AR_AWAIT or AR_YIELD: the function
 *      returns and is re-entered.  Everything that must outlive an await
 *      lives in the future struct.
 *   2. Never put an AR_AWAIT / AR_YIELD inside a `switch` statement of your
 *      own (its case labels would capture the resume jump), and never put
 *      two of them on one source line (they would share a case label).
 */
#ifndef ASYNCRT_FUTURE_H
#define ASYNCRT_FUTURE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Result of one poll.  Errors are never poll results: they are outputs. */
typedef enum ar_poll {
    AR_PENDING = 0,
    AR_READY = 1,
} ar_poll;

/* ------------------------------------------------------------------------
 * Wakers
 *
 * An ar_waker is one word.  When bit 0 is clear it is a task of the
 * executor (the fast, common case: waking it is a direct call); when bit 0
 * is set the rest points to an ar_waker_obj, a user-defined waker whose
 * first member is a pointer to its vtable.  AR_WAKER_NONE (0) wakes nothing.
 *
 * Ownership: ar_waker_clone returns a new reference that must be released
 * exactly once, either by ar_waker_wake (wakes and releases) or by
 * ar_waker_drop.  ar_waker_wake_by_ref wakes and keeps the reference.
 * All functions are thread-safe; waking a task that is already scheduled,
 * running-and-notified or finished does nothing.
 * --------------------------------------------------------------------- */
typedef struct ar_waker { uintptr_t bits; } ar_waker;

#define AR_WAKER_NONE ((ar_waker){0})

typedef struct ar_waker_obj ar_waker_obj;

typedef struct ar_waker_vtable {
    void (*wake_by_ref)(ar_waker_obj *w);
    void (*clone)(ar_waker_obj *w); /* take one more reference */
    void (*drop)(ar_waker_obj *w);  /* release one reference */
} ar_waker_vtable;

struct ar_waker_obj {
    const ar_waker_vtable *vt;
};

/* Make a waker from a user object (must be at least 2-byte aligned). */
static inline ar_waker ar_waker_from_obj(ar_waker_obj *obj)
{
    return (ar_waker){(uintptr_t)obj | 1u};
}

static inline bool ar_waker_is_none(ar_waker w) { return w.bits == 0; }

/* True when a and b wake the same thing (so a stored waker need not be
 * replaced: the will_wake optimisation of Rust). */
static inline bool ar_waker_will_wake(ar_waker a, ar_waker b) { return a.bits == b.bits; }

AR_EXTERN ar_waker ar_waker_clone(ar_waker w);
AR_EXTERN void ar_waker_wake(ar_waker w);
AR_EXTERN void ar_waker_wake_by_ref(ar_waker w);
AR_EXTERN void ar_waker_drop(ar_waker w);

/* ------------------------------------------------------------------------
 * Context passed to every poll.
 *
 * waker:  wakes the task being polled (borrowed: clone it to keep it).
 * budget: cooperative budget.  Leaf futures that can be ready many times in
 *         a row (channel receives, joins, notify) call ar_coop_proceed()
 *         first; when the budget is spent they wake the task and return
 *         AR_PENDING so that one busy task cannot starve the others.
 *         > 0: units left; 0: unconstrained (a zero-initialised ar_cx built
 *         by hand polls without limit); < 0: spent for this poll.
 * worker: the executor worker polling (opaque), NULL outside workers.
 * --------------------------------------------------------------------- */
typedef struct ar_cx {
    ar_waker waker;
    int32_t budget;
    void *worker;
} ar_cx;

/* Budget given to a task for one scheduling: the same figure as Tokio's. */
#define AR_COOP_BUDGET 128

/* Consume one unit of budget.  Returns false (after waking the task so it is
 * polled again soon) when the budget is spent: the caller returns AR_PENDING. */
static inline bool ar_coop_proceed(ar_cx *cx)
{
    if (cx->budget == 0)
        return true; /* unconstrained */
    if (cx->budget > 0) {
        if (--cx->budget == 0)
            cx->budget = -1; /* the last unit: spent from now on */
        return true;
    }
    ar_waker_wake_by_ref(cx->waker);
    return false;
}

/* ------------------------------------------------------------------------
 * Future vtables: what the executor needs to run a future it did not
 * compile against (a spawned task, a block_on).
 *
 * poll:     the poll function.
 * drop:     releases what the future holds when it is dropped before it
 *           completed (cancellation); NULL when there is nothing to release.
 *           Never called after the future returned AR_READY: a finished
 *           future holds nothing but its output.
 * name:     type name, for diagnostics and task dumps.
 * size:     sizeof the future struct (at most AR_FUTURE_MAX_SIZE).
 * out_off, out_size: where the output lives inside the future once it is
 *           ready (out_size 0: no output).  A join copies it from there
 *           and the output then belongs to the joiner.
 * drop_output: releases an output nobody took (the task was detached, or
 *           joined with out == NULL); NULL when the output owns nothing.
 *           Runs at most once, on whichever thread lets go of it last.
 * --------------------------------------------------------------------- */
typedef struct ar_future_vt {
    ar_poll (*poll)(void *self, ar_cx *cx);
    void (*drop)(void *self);
    const char *name;
    uint32_t size;
    uint32_t out_off;
    uint32_t out_size;
    void (*drop_output)(void *out);
} ar_future_vt;

#define AR_FUTURE_MAX_SIZE (1u << 30)

/* A vtable for future struct type T whose output is member `out`. */
#define AR_FUTURE_VT(T, poll_fn, drop_fn, out)                                   \
    {.poll = (poll_fn), .drop = (drop_fn), .name = #T, .size = sizeof(T),       \
     .out_off = (uint32_t)offsetof(T, out), .out_size = sizeof(((T *)0)->out)}

/* The same, with a function that releases an output nobody took. */
#define AR_FUTURE_VT_OWNED(T, poll_fn, drop_fn, out, drop_out_fn)                \
    {.poll = (poll_fn), .drop = (drop_fn), .name = #T, .size = sizeof(T),       \
     .out_off = (uint32_t)offsetof(T, out), .out_size = sizeof(((T *)0)->out),  \
     .drop_output = (drop_out_fn)}

/* The same for a future with no output. */
#define AR_FUTURE_VT_VOID(T, poll_fn, drop_fn)                                   \
    {.poll = (poll_fn), .drop = (drop_fn), .name = #T, .size = sizeof(T),       \
     .out_off = 0, .out_size = 0}

/* ------------------------------------------------------------------------
 * Switch coroutines
 * --------------------------------------------------------------------- */

/* Resume point of a coroutine future.  Zero-initialise it (e.g. with the
 * rest of the struct) before the first poll. */
typedef struct ar_co {
    uint32_t line;
} ar_co;

#define AR_CO_INIT {0}
#define AR__CO_DONE UINT32_MAX

/* Reports a poll of a finished future (debug builds) and aborts. */
AR_EXTERN void ar__co_poll_after_done(const char *fn, const char *file, int line);

#ifdef NDEBUG
#define AR__CO_CHECK(co) ((void)0)
#else
#define AR__CO_CHECK(co)                                                         \
    do {                                                                         \
        if ((co)->line == AR__CO_DONE)                                           \
            ar__co_poll_after_done(__func__, __FILE__, __LINE__);                \
    } while (0)
#endif

/* Start of a coroutine body.  `co` points to the future's ar_co. */
#define AR_BEGIN(co)                                                             \
    ar_co *const ar__co = (co);                                                  \
    AR__CO_CHECK(ar__co);                                                        \
    switch (ar__co->line) {                                                      \
    case 0:

/* Poll a child (any expression returning ar_poll, normally the poll of a
 * future embedded in self) until it is ready, returning AR_PENDING upward
 * meanwhile. */
#define AR_AWAIT(poll_expr)                                                      \
    do {                                                                         \
        ar__co->line = __LINE__;                                                 \
        /* fallthrough */                                                        \
    case __LINE__:                                                               \
        if ((poll_expr) == AR_PENDING)                                           \
            return AR_PENDING;                                                   \
    } while (0)

/* Give the executor a chance to run others: wake self and return once.
 * The executor requeues a task that woke itself behind the others. */
#define AR_YIELD(cx)                                                             \
    do {                                                                         \
        ar__co->line = __LINE__;                                                 \
        ar_waker_wake_by_ref((cx)->waker);                                       \
        return AR_PENDING;                                                       \
    case __LINE__:;                                                              \
    } while (0)

/* Finish now (after writing the output into the future). */
#define AR_RETURN()                                                              \
    do {                                                                         \
        ar__co->line = AR__CO_DONE;                                              \
        return AR_READY;                                                         \
    } while (0)

/* End of a coroutine body: falling off the end finishes the future. */
#define AR_END                                                                   \
    default:                                                                     \
        break;                                                                   \
    }                                                                            \
    ar__co->line = AR__CO_DONE;                                                  \
    return AR_READY

/* True once the coroutine finished. */
static inline bool ar_co_done(const ar_co *co) { return co->line == AR__CO_DONE; }

#ifdef __cplusplus
}
#endif

#endif
