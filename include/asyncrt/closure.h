/*
 * asyncrt/closure.h - async closures that lend their captures: Rust's
 * AsyncFnOnce / AsyncFnMut / AsyncFn, with the borrow rules checked at run
 * time by a borrow counter (asyncrt/borrow.h).
 *
 * An async closure is an ENVIRONMENT (its captures: values, and loans of
 * cells for captures by reference) plus a coroutine BODY that reads the
 * environment through a pointer.  Calling it builds a future into storage
 * the caller provides; its size is known at compile time, so a parent
 * coroutine embeds it by value and no call allocates.
 *
 *   Rust                                   here
 *   -------------------------------------  -------------------------------------
 *   let hello = "Hello ".to_owned();       typedef struct { char hello[16]; } greeter_env;
 *   let greeter = async move |world: &str| typedef struct { ar_co co; const char *arg;
 *   {                                          ar_sleep sleep; char out[64]; } greeter_frame;
 *       sleep(1s).await;                   AR_CLOSURE(greeter, AR_FN, greeter_env,
 *       String::new() + &hello + world         greeter_frame, greeter_body, NULL, NULL);
 *   };                                     static ar_poll greeter_body(const greeter_env *env,
 *                                              greeter_frame *self, ar_cx *cx) {...}
 *                                          greeter g = AR_CLOSURE_NEW(greeter, {"Hello "});
 *   greeter("world!").await                ar_call(&g, &self->fut, "world!");
 *                                          AR_AWAIT(greeter_poll(&self->fut, cx));
 *                                          ... self->fut.frame.out ...
 *
 * The pieces, for a closure `name`:
 *   env_t     the captures (Rust's closure struct).  A capture by value is a
 *             member; a capture by reference is an ar_loan of a cell
 *             (ar_cell_borrow / ar_cell_borrow_mut into the env after
 *             AR_CLOSURE_NEW), held for the closure's life and released by
 *             env_drop.
 *   frame_t   one call's own state (Rust's future minus the captures):
 *             must have `ar_co co`, `arg` (the argument: one value or a
 *             struct of several; ar_unit for none) and `out` (the output;
 *             ar_unit for none), plus whatever lives across an await.  A
 *             call starts from a zeroed frame with `arg` set.
 *   body      static ar_poll body(env_t *env, frame_t *self, ar_cx *cx),
 *             a coroutine (AR_BEGIN ... AR_END) writing self->out.  For AR_FN
 *             the env is `const env_t *`: many calls read it at once.
 *   frame_drop, env_drop  (functions taking frame_t * / env_t *, or NULL):
 *             release what a frame holds when a call is dropped unfinished,
 *             and what the captures hold when the closure (or a value future
 *             that took them) goes away.  Both must accept zeroed members.
 *
 * Kinds and calls (what each Rust trait offers):
 *   AR_ONCE   ar_call_once only: moves the environment into a VALUE future
 *             (name_val_fut, Rust's CallOnceFuture); the closure is moved,
 *             and every later call fails like E0382 (AR_EMOVED).  The value
 *             future owns the env and runs env_drop when it completes or is
 *             dropped.  The body may consume the captures.
 *   AR_MUT    also ar_call_mut: a REFERENCE future (name_ref_fut, Rust's
 *             CallRefFuture) that borrows the closure exclusively until it
 *             completes or is dropped; a second call meanwhile fails like
 *             E0499 (AR_EBORROWED).
 *   AR_FN     also ar_call: a reference future holding a shared borrow; any
 *             number run at once, on any workers.  ar_call_mut on an AR_FN
 *             closure is its ar_call.
 * Calling a closure by a method its kind lacks fails with AR_EKIND (E0507:
 * a ONCE body would move captures out of a borrow; E0525: a MUT closure is
 * not AsyncFn).  Dropping a closure while a call borrows it fails like E0505
 * (AR_EBORROWED) and frees nothing; drop it again once the calls ended.
 *
 * Alignment: call futures need the alignment of the env and frame; a task
 * gives 16 bytes, so calls of a closure whose env or frame needs more are
 * refused by the spawns (-EINVAL) and run only in storage aligned for them.
 *
 * Lifetimes: a closure must stay where it is (not be copied or freed) while
 * reference futures borrow it; ar_closure_drop tells you when that is over.
 * A started call future must not be copied (ar_spawn_call* hands it over to
 * the task, which is the one exception), and its storage must not be reused
 * for another call before it completed or was dropped (its borrow would
 * never be given back).
 *
 * Exposed, not opaque: closures and call futures are embedded by value in
 * their owners (no allocation), so their sizes must be known to the
 * compiler.  Yours: a closure's `env`, a future's `frame` (read `out` once
 * the call completed).  Private: `base`, `hdr` and everything named ar__*.
 *
 * Every call macro records its call site; errors come with the rustc-like
 * diagnostic of borrow.h (ar_borrow_last_error, abort mode).  A call that
 * fails leaves its future in a failed state: polling it returns AR_READY at
 * once, ar_call_result gives the error, ar_call_drop is a no-op.  Two
 * exceptions: storage that holds a live call of the same closure (a second
 * ar_call_mut into the future of the first, E0499) is left alone, and that
 * call goes on; storage too small for a call header or misaligned is left
 * untouched (do not poll or drop it).
 *
 * The two rules of switch coroutines hold in bodies too: locals do not
 * survive an AR_AWAIT (keep them in the frame), and no AR_AWAIT inside a
 * switch of your own.
 */
#ifndef ASYNCRT_CLOSURE_H
#define ASYNCRT_CLOSURE_H

#include <stddef.h>
#include <string.h>

#include "borrow.h"
#include "future.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The closure kinds, ordered as Rust's traits nest (AsyncFn: AsyncFnMut:
 * AsyncFnOnce): a closure of kind K allows the calls of every kind <= K. */
typedef enum ar_fn_kind {
    AR_ONCE = 1,
    AR_MUT = 2,
    AR_FN = 3,
} ar_fn_kind;

/* Rust's (): the argument or output of a closure that has none. */
typedef struct ar_unit {
    uint8_t none;
} ar_unit;

typedef struct ar_closure_vt ar_closure_vt;

/*
 * The untyped head of every closure object.  `vt` is written at creation
 * and read-only after; `borrow` is the closure's counter (shared borrows by
 * FN calls, exclusive by MUT calls, moved by call_once and drop).
 */
typedef struct ar_closure {
    const ar_closure_vt *vt;
    ar_borrow borrow;
} ar_closure;

/*
 * The head of every call future.  Private; owned by whoever holds the
 * future (one thread at a time, like any future).
 */
typedef struct ar_call_hdr {
    const ar_closure_vt *vt; /* the closure's vtable (NULL until started) */
    ar_closure *closure;     /* the lender (reference futures; a value
                                future keeps it only to undo a failed spawn) */
    void *env;               /* reference futures: the closure's env */
    int32_t err;             /* why the call did not start */
    uint32_t mode;           /* AR__CALL_* */
} ar_call_hdr;

enum {
    AR__CALL_EMPTY = 0,   /* zeroed storage, never started */
    AR__CALL_FAILED = 1,  /* the call did not start: err */
    AR__CALL_DONE = 2,    /* completed: out is valid */
    AR__CALL_DROPPED = 3, /* dropped before completing */
    AR__CALL_LIVE = 4,    /* >= LIVE: started, holds what the mode says */
    AR__CALL_REF_SHARED = 4,
    AR__CALL_REF_MUT = 5,
    AR__CALL_VALUE = 6,
};

/* What AR_CLOSURE generates per closure type (private, read-only). */
struct ar_closure_vt {
    ar_future_vt ref_vt; /* a reference future run as a task */
    ar_future_vt val_vt; /* a value future run as a task */
    ar_poll (*body)(void *env, void *frame, ar_cx *cx);
    void (*frame_drop)(void *frame); /* NULL: nothing to release */
    void (*env_drop)(void *env);     /* NULL: nothing to release */
    const char *name;
    const ar_site *def; /* where AR_CLOSURE defined the type */
    uint32_t kind;
    uint32_t env_off;     /* env inside the closure object */
    uint32_t env_size;
    uint32_t val_env_off; /* env inside a value future */
    uint32_t frame_off;   /* frame inside either future */
    uint32_t frame_size;
    uint32_t arg_off; /* arg inside the frame */
    uint32_t arg_size;
    uint32_t align; /* alignment the futures need */
};

/* ------------------------------------------------------------------------
 * Defining closures
 * --------------------------------------------------------------------- */

/*
 * AR_CLOSURE(name, kind, env_t, frame_t, body, frame_drop, env_drop)
 *
 * Define closure type `name` of kind AR_ONCE, AR_MUT or AR_FN (the literal
 * token) with environment env_t, frame frame_t, the body function `body`
 * (defined anywhere later in the file; the macro ends with its prototype),
 * and the drops (function names or NULL).  Generates:
 *
 *   name           the closure: `base` (ar_closure) + `env`
 *   name_ref_fut   reference future (call_mut / call): `hdr` + `frame`
 *   name_val_fut   value future (call_once): `hdr` + `frame` + `env`
 *   name_poll      poll either future: ar_poll name_poll(void *fut, ar_cx *cx)
 *   name_vt        the closure's vtable
 *
 * The output of a finished call is fut.frame.out.
 */
#define AR_CLOSURE(N_, K_, env_t, frame_t, B_, FD_, ED_)                                \
    struct N_;                                                                          \
    typedef struct N_##_ref_fut {                                                       \
        union {                                                                         \
            ar_call_hdr hdr;                                                            \
            struct N_ *ar__owner; /* type tag for the call macros; never used */        \
        };                                                                              \
        frame_t frame;                                                                  \
    } N_##_ref_fut;                                                                     \
    typedef struct N_##_val_fut {                                                       \
        union {                                                                         \
            ar_call_hdr hdr;                                                            \
            struct N_ *ar__owner;                                                       \
        };                                                                              \
        frame_t frame;                                                                  \
        env_t env;                                                                      \
    } N_##_val_fut;                                                                     \
    typedef struct N_ {                                                                 \
        union {                                                                         \
            ar_closure base;                                                            \
            N_##_ref_fut *ar__ref; /* type tags: never used */                          \
            N_##_val_fut *ar__val;                                                      \
        };                                                                              \
        env_t env;                                                                      \
    } N_;                                                                               \
    static ar_poll B_(AR__ENV_QUAL_##K_ env_t *env, frame_t *self, ar_cx *cx);          \
    static inline ar_poll N_##__body(void *env, void *frame, ar_cx *cx)                 \
    {                                                                                   \
        return B_((AR__ENV_QUAL_##K_ env_t *)env, (frame_t *)frame, cx);                \
    }                                                                                   \
    static void N_##__frame_drop(void *frame)                                           \
    {                                                                                   \
        void (*ar__fn_)(frame_t *) = (FD_);                                             \
        if (ar__fn_)                                                                    \
            ar__fn_((frame_t *)frame);                                                  \
    }                                                                                   \
    static void N_##__env_drop(void *env)                                               \
    {                                                                                   \
        void (*ar__fn_)(env_t *) = (ED_);                                               \
        if (ar__fn_)                                                                    \
            ar__fn_((env_t *)env);                                                      \
    }                                                                                   \
    static const ar_site N_##__def = {__FILE__, "AR_CLOSURE(" #N_ ")", __LINE__};         \
    AR__UNUSED static const ar_closure_vt N_##_vt = {                                   \
        .ref_vt = {.poll = ar_call_poll,                                                \
                   .drop = ar_call_drop,                                                \
                   .name = #N_ "_ref_fut",                                              \
                   .size = sizeof(N_##_ref_fut),                                        \
                   .out_off = (uint32_t)offsetof(N_##_ref_fut, frame.out),              \
                   .out_size = sizeof(((frame_t *)0)->out)},                            \
        .val_vt = {.poll = ar_call_poll,                                                \
                   .drop = ar_call_drop,                                                \
                   .name = #N_ "_val_fut",                                              \
                   .size = sizeof(N_##_val_fut),                                        \
                   .out_off = (uint32_t)offsetof(N_##_val_fut, frame.out),              \
                   .out_size = sizeof(((frame_t *)0)->out)},                            \
        .body = N_##__body,                                                             \
        .frame_drop = AR__OPT_FN(FD_, N_##__frame_drop),                                \
        .env_drop = AR__OPT_FN(ED_, N_##__env_drop),                                    \
        .name = #N_,                                                                    \
        .def = &N_##__def,                                                              \
        .kind = (K_),                                                                   \
        .env_off = (uint32_t)offsetof(N_, env),                                         \
        .env_size = sizeof(env_t),                                                      \
        .val_env_off = (uint32_t)offsetof(N_##_val_fut, env),                           \
        .frame_off = (uint32_t)offsetof(N_##_ref_fut, frame),                           \
        .frame_size = sizeof(frame_t),                                                  \
        .arg_off = (uint32_t)offsetof(frame_t, arg),                                    \
        .arg_size = sizeof(((frame_t *)0)->arg),                                        \
        .align = _Alignof(N_##_val_fut),                                                \
    };                                                                                  \
    static inline ar_poll N_##_poll(void *fut, ar_cx *cx)                               \
    {                                                                                   \
        return ar__call_poll_with(fut, cx, N_##__body, offsetof(N_##_ref_fut, frame),   \
                                  offsetof(N_##_val_fut, env));                         \
    }                                                                                   \
    static ar_poll B_(AR__ENV_QUAL_##K_ env_t *env, frame_t *self, ar_cx *cx)

/*
 * A closure value of type `name`, its environment initialised by the
 * braced initializer that follows (`{0}` for none):
 *     greeter g = AR_CLOSURE_NEW(greeter, {.hello = "Hello "});
 */
#define AR_CLOSURE_NEW(name, ...)                                                       \
    ((name){.base = {&name##_vt, AR_BORROW_INIT(#name)}, .env = __VA_ARGS__})

/* ------------------------------------------------------------------------
 * Calling (typed): c is a closure of a type defined by AR_CLOSURE, fut its
 * future (name_ref_fut for ar_call_mut / ar_call, name_val_fut for
 * ar_call_once), the rest the argument: a value; for a struct argument its
 * members, in order or designated (`ar_call(&c, &f, 1, 2)`,
 * `ar_call(&c, &f, .x = 1, .y = 2)`: several arguments, as in Rust); 0 for
 * an ar_unit one.  Each returns 0 or an error code and records the call site;
 * then poll fut with name_poll (or ar_call_poll) until AR_READY and read
 * fut->frame.out.  A future of another closure type is a compile-time
 * warning (comparison of distinct pointer types).
 * --------------------------------------------------------------------- */
#define ar_call_once(c, fut, ...) AR__CALL_TYPED(AR_ONCE, 1, c, fut, __VA_ARGS__)
#define ar_call_mut(c, fut, ...) AR__CALL_TYPED(AR_MUT, 0, c, fut, __VA_ARGS__)
#define ar_call(c, fut, ...) AR__CALL_TYPED(AR_FN, 0, c, fut, __VA_ARGS__)

/*
 * Spawn a call as a task (one allocation: the task).  join as for ar_spawn
 * (NULL: detached); rt NULL: the current runtime.  Returns 0 or an error;
 * when the spawn itself fails (-ENOMEM, -ESHUTDOWN, -EINVAL) the call is
 * undone: a reference borrow is given back, a call_once's environment goes
 * back into the closure, which is callable again.
 */
#define ar_spawn_call_once(rt, c, join, ...)                                            \
    AR__SPAWN_TYPED(AR_ONCE, 2, ar__val, rt, c, join, __VA_ARGS__)
#define ar_spawn_call_mut(rt, c, join, ...)                                             \
    AR__SPAWN_TYPED(AR_MUT, 0, ar__ref, rt, c, join, __VA_ARGS__)
#define ar_spawn_call(rt, c, join, ...)                                                 \
    AR__SPAWN_TYPED(AR_FN, 0, ar__ref, rt, c, join, __VA_ARGS__)

/* Poll any call future (the typed name_poll is the same, inlined). */
AR_EXTERN ar_poll ar_call_poll(void *fut, ar_cx *cx);

/*
 * Drop a call future: if it is unfinished, its frame_drop runs and its
 * borrow is given back (a value future drops its environment).  Safe in any
 * state, idempotent.  A dropped call never finishes: poll it no more.
 */
AR_EXTERN void ar_call_drop(void *fut);

/* 0 for a started call (running, finished or dropped); the error of a call
 * that failed to start; -EINVAL for storage never used for a call. */
AR_EXTERN int ar_call_result(const void *fut);

/* The output of a call that completed, or NULL. */
AR_EXTERN void *ar_call_output(void *fut);

/* ------------------------------------------------------------------------
 * Closures through `ar_closure *` (generic callers, like Rust's
 * `impl AsyncFnMut(&str)`): the future goes into an opaque storage buffer,
 * the argument is passed by pointer.
 * --------------------------------------------------------------------- */

/* An opaque storage buffer of n bytes for any call future (a struct type;
 * embed a member `AR_CALL_STORAGE(256) call;`), 16-byte aligned.  n must
 * hold at least a call header (a smaller n does not compile), so that a
 * call that fails always leaves a failed future behind. */
#define AR_CALL_STORAGE(n)                                                              \
    struct {                                                                            \
        _Alignas(16) unsigned char bytes[(n) >= sizeof(ar_call_hdr) ? (n) : -1];        \
    }

/*
 * Start a call of `c` by method `how` into storage (size bytes, aligned for
 * the closure's futures), with arg_size bytes of argument at arg (must be
 * the closure's argument size).  Returns 0, -EINVAL (NULL closure or
 * storage, bad how, wrong argument size, misaligned storage), AR_ESTORAGE
 * (storage smaller than ar_closure_future_size), AR_EKIND, AR_EBORROWED,
 * AR_EMOVED, -EOVERFLOW.
 */
AR_EXTERN int ar_closure_call_at(ar_closure *c, ar_fn_kind how, void *storage, size_t size,
                                 const void *arg, size_t arg_size, const ar_site *site);
#define ar_closure_call(c, how, storage, arg)                                           \
    ar_closure_call_at((c), (how), (storage), sizeof *(storage), (arg), sizeof *(arg), AR_HERE)

/* Spawn a call as a task (see ar_spawn_call). */
AR_EXTERN int ar_closure_spawn_at(ar_rt *rt, ar_closure *c, ar_fn_kind how, const void *arg,
                                  size_t arg_size, ar_join *join, const ar_site *site);
#define ar_closure_spawn(rt, c, how, arg, join)                                         \
    ar_closure_spawn_at((rt), (c), (how), (arg), sizeof *(arg), (join), AR_HERE)

/*
 * Drop a closure (`drop(c)`): moves it, runs env_drop (releasing the
 * loans of its captures).  Returns 0; 0 again for a closure already moved
 * or dropped (nothing left to drop); AR_EBORROWED (E0505) while call
 * futures borrow it: nothing is freed, drop it again once they ended;
 * -EINVAL for NULL or a closure never created.
 */
AR_EXTERN int ar_closure_drop_at(ar_closure *c, const ar_site *site);
#define ar_closure_drop(c) ar_closure_drop_at((c), AR_HERE)

/*
 * The same, for code that waits for the calls to end (a shutdown loop
 * retrying until it succeeds): AR_EBORROWED comes back without a diagnostic,
 * so the loop works in log and abort modes too.  Other errors as above.
 */
AR_EXTERN int ar_closure_try_drop_at(ar_closure *c, const ar_site *site);
#define ar_closure_try_drop(c) ar_closure_try_drop_at((c), AR_HERE)

/* The kind (0 for NULL), and the storage a call by `how` needs (0: not
 * allowed by the kind, or NULL). */
AR_EXTERN ar_fn_kind ar_closure_kind(const ar_closure *c);
AR_EXTERN size_t ar_closure_future_size(const ar_closure *c, ar_fn_kind how);

/* ========================================================================
 * Private: macro plumbing and the inline fast paths.
 * ===================================================================== */
#define AR__ENV_QUAL_AR_ONCE
#define AR__ENV_QUAL_AR_MUT
#define AR__ENV_QUAL_AR_FN const

#if defined(__GNUC__)
#define AR__UNUSED __attribute__((unused))
#else
#define AR__UNUSED
#endif

/* fn, or NULL when fn is the NULL constant: drops are optional. */
#define AR__OPT_FN(fn, trampoline)                                                      \
    __builtin_choose_expr(__builtin_types_compatible_p(__typeof__(fn), void *),         \
                          (void (*)(void *))0, trampoline)

AR_EXTERN int ar__call_start_slow(ar_closure *c, ar_call_hdr *h, unsigned how, size_t size,
                                  const ar_site *site);
AR_EXTERN ar_poll ar__call_poll_dead(ar_call_hdr *h);
AR_EXTERN int ar__call_spawn(ar_rt *rt, ar_call_hdr *h, ar_join *join);

/*
 * Start a call: validate, take the borrow its method needs, fill the
 * header.  The fast path covers the valid, uncontended case; everything
 * else (including every error and its diagnostic) is ar__call_start_slow.
 * The caller initialises the frame on success; for a value future (mode
 * VALUE) it copies the env in while the counter is EXCL, then publishes
 * MOVED with ar__call_moved (a spawn does so only once the task exists).
 */
static inline int ar__call_start(ar_closure *c, ar_call_hdr *h, unsigned how, size_t size,
                                 const ar_site *site)
{
    const ar_closure_vt *vt;
    if (AR__LIKELY(c && h && (vt = c->vt) != NULL && how >= AR_ONCE && how <= vt->kind)) {
        if (how == AR_ONCE) {
            /* EXCL while the caller copies the env out; it then publishes
             * MOVED (ar__call_moved), or gives it back if a spawn fails. */
            if (AR__LIKELY(size >= vt->val_vt.size &&
                           ar__bw_try_take(&c->borrow, AR__BW_EXCL, site))) {
                *h = (ar_call_hdr){vt, c, NULL, 0, AR__CALL_VALUE};
                return 0;
            }
        } else if (how == AR_FN || vt->kind == AR_FN) {
            if (AR__LIKELY(size >= vt->ref_vt.size && ar__bw_try_shared(&c->borrow, site))) {
                *h = (ar_call_hdr){vt, c, (char *)c + vt->env_off, 0, AR__CALL_REF_SHARED};
                return 0;
            }
        } else if (AR__LIKELY(size >= vt->ref_vt.size &&
                              ar__bw_try_take(&c->borrow, AR__BW_EXCL, site))) {
            *h = (ar_call_hdr){vt, c, (char *)c + vt->env_off, 0, AR__CALL_REF_MUT};
            return 0;
        }
    }
    return ar__call_start_slow(c, h, how, size, site);
}

/* A value future has its copy of the env: the closure is moved for good. */
static inline void ar__call_moved(ar_call_hdr *h)
{
    ar__bw_publish_moved(&h->closure->borrow);
}

/* Give back what a live call holds (its borrow, or a value future's env)
 * and mark it `end` (DONE or DROPPED). */
static inline void ar__call_end(ar_call_hdr *h, void *env, uint32_t end)
{
    uint32_t mode = h->mode;
    h->mode = end;
    if (mode == AR__CALL_REF_MUT) {
        if (AR__UNLIKELY(!ar__bw_release_mut(&h->closure->borrow)))
            ar__borrow_release_failed(&h->closure->borrow, AR__LOAN_MUT, h->vt->def);
    } else if (mode == AR__CALL_REF_SHARED) {
        if (AR__UNLIKELY(!ar__bw_release_shared(&h->closure->borrow)))
            ar__borrow_release_failed(&h->closure->borrow, AR__LOAN_SHARED, h->vt->def);
    } else if (h->vt->env_drop) {
        h->vt->env_drop(env);
    }
}

/* Poll a call future whose body (trampoline) and layout are known. */
static inline ar_poll ar__call_poll_with(void *fut, ar_cx *cx,
                                         ar_poll (*body)(void *, void *, ar_cx *),
                                         size_t frame_off, size_t val_env_off)
{
    ar_call_hdr *h = (ar_call_hdr *)fut;
    if (AR__UNLIKELY(h->mode < AR__CALL_LIVE))
        return ar__call_poll_dead(h);
    void *env = h->mode == AR__CALL_VALUE ? (char *)fut + val_env_off : h->env;
    if (body(env, (char *)fut + frame_off, cx) == AR_PENDING)
        return AR_PENDING;
    ar__call_end(h, env, AR__CALL_DONE);
    return AR_READY;
}

/* The typed call: start, then zero the frame, set the argument and (value
 * futures) move the environment in. */
#define AR__CALL_TYPED(how, by_value, c, fut, ...)                                      \
    (__extension__({                                                                    \
        __typeof__(c) ar__call_c_ = (c);                                                \
        __typeof__(fut) ar__call_f_ = (fut);                                            \
        /* The future must belong to the closure's type: */                             \
        (void)sizeof(ar__call_c_ == ar__call_f_->ar__owner);                            \
        int ar__call_rc_ = ar__call_start(ar__call_c_ ? &ar__call_c_->base : NULL,      \
                                          ar__call_f_ ? &ar__call_f_->hdr : NULL,       \
                                          (how), sizeof *ar__call_f_, AR_HERE);         \
        if (ar__call_rc_ == 0) {                                                        \
            memset(&ar__call_f_->frame, 0, sizeof ar__call_f_->frame);                  \
            ar__call_f_->frame.arg = (__typeof__(ar__call_f_->frame.arg)){__VA_ARGS__}; \
            AR__CALL_MOVE_ENV_##by_value(ar__call_c_, ar__call_f_);                     \
        }                                                                               \
        ar__call_rc_;                                                                   \
    }))
/* by_value: 0 reference future; 1 value future, moved at once; 2 value
 * future whose move a spawn publishes (ar__call_spawn). */
#define AR__CALL_MOVE_ENV_0(c, f) ((void)0)
#define AR__CALL_MOVE_ENV_1(c, f) ((f)->env = (c)->env, ar__call_moved(&(f)->hdr))
#define AR__CALL_MOVE_ENV_2(c, f) ((f)->env = (c)->env)

#define AR__SPAWN_TYPED(how, by_value, tag, rt, c, join, ...)                           \
    (__extension__({                                                                    \
        __typeof__(*(c)->tag) ar__spawn_f_;                                             \
        int ar__spawn_rc_ = AR__CALL_TYPED(how, by_value, c, &ar__spawn_f_, __VA_ARGS__); \
        if (ar__spawn_rc_ == 0)                                                         \
            ar__spawn_rc_ = ar__call_spawn((rt), &ar__spawn_f_.hdr, (join));            \
        ar__spawn_rc_;                                                                  \
    }))

#ifdef __cplusplus
}
#endif

#endif
