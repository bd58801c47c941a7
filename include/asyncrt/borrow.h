/*
 * asyncrt/borrow.h - borrow counters: Rust's borrow rules, checked at run
 * time.
 *
 * Rust rejects at compile time what this header rejects when it happens:
 * two mutable borrows of one value (E0499), a mutable and a shared borrow
 * together (E0502), moving or dropping a value while it is borrowed (E0505),
 * assigning to a borrowed value (E0506) and using a value after it was moved
 * (E0382).  Cells (cell.h) and async closures (closure.h) are built on it.
 *
 * A borrow counter is ONE atomic 64-bit word:
 *
 *     bits 0..19   tag: 0 free, 1..AR_BORROW_SHARED_MAX shared borrows,
 *                  exclusive, or moved
 *     bits 20..63  the site (file, line, function) of the exclusive borrow or
 *                  the move, or of the most recent shared borrow
 *
 * Keeping the site in the same word as the state makes every conflict report
 * exact and free of races: a failed borrow reads the state and the site of
 * the borrow it conflicts with in one atomic load.  A site is a static
 * ar_site made by AR_HERE at the call site, so recording one costs nothing
 * but the store that changes the state anyway.  (Sites are 16-byte aligned
 * static objects below 2^48 -- every user address on x86-64 and on arm64
 * with 48-bit addresses -- so 44 bits hold one; a site that does not fit is
 * recorded as unknown.)
 *
 * A successful borrow gives an ar_loan, released exactly once.  A conflicting
 * borrow returns an error, changes nothing, and leaves a diagnostic naming
 * both sites in ar_borrow_last_error().  In abort mode (build option
 * -Dborrow_abort=true, or AR_BORROW_ABORT=1 in the environment) the
 * diagnostic is printed in rustc's format and the program aborts, for
 * debugging:
 *
 *     error[E0499]: cannot borrow `counter` as mutable more than once at a time
 *       --> examples/closures/lending.c:95 in walk_poll
 *        |
 *        = first mutable borrow occurs here: examples/closures/lending.c:94 in walk_poll
 *        = second mutable borrow occurs here: examples/closures/lending.c:95 in walk_poll
 *        |
 *        = help: await the first call's future, or drop it (ar_call_drop), before calling ...
 *        = asyncrt: the call returns AR_EBORROWED (-EBUSY)
 *
 * Error codes (negative errno, so ar_strerror has a text for each; the AR_E*
 * names say which rule failed, and the diagnostic says the rest):
 *
 *     AR_EBORROWED (-EBUSY)        conflicting borrow: E0499, E0502, E0505, E0506
 *     AR_EMOVED    (-EBADF)        use of a moved value: E0382 (a released handle,
 *                                  as for join handles and oneshot halves)
 *     AR_EKIND     (-EOPNOTSUPP)   closure kind does not allow the call: E0507, E0525
 *     AR_ERELEASED (-EALREADY)     loan released twice
 *     AR_ESTORAGE  (-ENOBUFS)      call storage too small for the closure's future
 *     -EOVERFLOW                   more than AR_BORROW_SHARED_MAX shared borrows
 *     -EINVAL                      NULL or uninitialised argument
 *
 * Memory order: taking a borrow is an acquire, giving it back a release, so
 * whatever an exclusive holder wrote is visible to the next borrower and
 * whatever shared holders read was read before the next exclusive holder
 * writes (the pairs are named at each operation below).
 *
 * Everything here is thread-safe.  The fast paths are header inlines (one
 * load and one compare-and-swap to borrow; a load and a store, or one CAS,
 * to give back); every error goes to the out-of-line slow path in
 * closures/borrow.c.
 */
#ifndef ASYNCRT_BORROW_H
#define ASYNCRT_BORROW_H

#include <errno.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Sites
 * --------------------------------------------------------------------- */

/* Where a borrow, move or release happened.  Always a static object;
 * 16-byte aligned so that its address fits the counter word (below). */
typedef struct __attribute__((aligned(16))) ar_site {
    const char *file;
    const char *func;
    int line;
} ar_site;

/*
 * The site of the expression it appears in: a pointer to a static ar_site,
 * made once per source location (a GNU statement expression, which GCC and
 * Clang support; __extension__ keeps -Wpedantic quiet).  Usable inside
 * functions only.
 */
#define AR_HERE                                                                  \
    (__extension__({                                                             \
        static const ar_site ar__here_ = {__FILE__, __func__, __LINE__};         \
        &ar__here_;                                                              \
    }))

/* ------------------------------------------------------------------------
 * Error codes
 * --------------------------------------------------------------------- */
#define AR_EBORROWED (-EBUSY)
#define AR_EMOVED (-EBADF)
#define AR_EKIND (-EOPNOTSUPP)
#define AR_ERELEASED (-EALREADY)
#define AR_ESTORAGE (-ENOBUFS)

/* ------------------------------------------------------------------------
 * Counters and loans
 * --------------------------------------------------------------------- */

/*
 * A borrow counter.  `word` is private and only ever accessed atomically;
 * `name` (what the diagnostics call the borrowed thing) is written by
 * ar_borrow_init before the counter is shared and only read afterwards.  It
 * must outlive the counter (a string literal, normally).
 */
typedef struct ar_borrow {
    uint64_t word;
    const char *name;
} ar_borrow;

#define AR_BORROW_INIT(name_str) {0, (name_str)}

/* The most shared borrows one counter holds at once. */
#define AR_BORROW_SHARED_MAX ((uint32_t)0xffffd)

typedef enum ar_borrow_state {
    AR_BORROW_FREE = 0,
    AR_BORROW_SHARED = 1,
    AR_BORROW_EXCLUSIVE = 2,
    AR_BORROW_MOVED = 3,
} ar_borrow_state;

/*
 * A borrow held.  Filled by a successful borrow, emptied by
 * ar_loan_release.  Members are read-only for users: `ptr` is the borrowed
 * value (cells), NULL for a bare counter.
 *
 * A loan belongs to one holder at a time: it may move between threads (with
 * the future that holds it) but must not be copied and released twice.
 * Releasing the same loan twice is detected (AR_ERELEASED).  Releasing a
 * bitwise copy is detected when the counter is no longer in the state the
 * loan left it in: for an exclusive loan, when the counter is free, shared,
 * moved, or borrowed exclusively from another site; not when it was
 * re-borrowed exclusively at the very same site, nor when other shared
 * borrows hide a copied shared loan.
 */
typedef struct ar_loan {
    ar_borrow *b;        /* the counter; kept after release for diagnostics */
    void *ptr;           /* the borrowed value, or NULL */
    const ar_site *site; /* where it was taken; after release, where released */
    uint32_t state;      /* private: AR__LOAN_* */
} ar_loan;

AR_EXTERN void ar_borrow_init(ar_borrow *b, const char *name);

/*
 * Take a shared (`&x`) or exclusive (`&mut x`) borrow into *loan, or move
 * the value out (`let y = x;`: the counter becomes moved for good).
 * Returns 0, AR_EBORROWED, AR_EMOVED, -EOVERFLOW or -EINVAL; on error
 * nothing changed (not *loan either, beyond being left empty).
 * The lower-case macros record the call site.
 */
AR_EXTERN int ar_borrow_shared_at(ar_borrow *b, ar_loan *loan, const ar_site *site);
AR_EXTERN int ar_borrow_mut_at(ar_borrow *b, ar_loan *loan, const ar_site *site);
AR_EXTERN int ar_borrow_move_at(ar_borrow *b, const ar_site *site);

/* Give a loan back.  Returns 0, AR_ERELEASED (released already; nothing
 * changes), -EBADF (an empty loan that never held a borrow: no diagnostic,
 * so that cleanup code may release unconditionally), -EINVAL (NULL). */
AR_EXTERN int ar_loan_release_at(ar_loan *loan, const ar_site *site);

#define ar_borrow_shared(b, loan) ar_borrow_shared_at((b), (loan), AR_HERE)
#define ar_borrow_mut(b, loan) ar_borrow_mut_at((b), (loan), AR_HERE)
#define ar_borrow_move(b) ar_borrow_move_at((b), AR_HERE)
#define ar_loan_release(loan) ar_loan_release_at((loan), AR_HERE)

/* True while the loan holds a borrow. */
static inline bool ar_loan_held(const ar_loan *loan);

/*
 * A snapshot of the counter (it may change right after): the state, the
 * number of shared borrows when SHARED (else 0) in *shared, and the recorded
 * site in *site (either may be NULL).
 */
AR_EXTERN ar_borrow_state ar_borrow_inspect(const ar_borrow *b, uint32_t *shared,
                                            const ar_site **site);

/* ------------------------------------------------------------------------
 * Diagnostics
 * --------------------------------------------------------------------- */

/* The last borrow error raised on the calling thread (thread-local: read it
 * on the thread that got the error code, before the next error). */
typedef struct ar_borrow_error {
    int err;              /* the negative errno that was returned */
    const char *code;     /* Rust's error code ("E0499"), "" when Rust has none */
    const char *name;     /* what was borrowed (closure, cell or counter name) */
    const ar_site *at;    /* the operation that failed (NULL: unknown) */
    const ar_site *held;  /* the borrow or move it conflicts with (NULL: none/unknown) */
    char text[1024];      /* the whole rustc-like diagnostic, '\n'-separated */
} ar_borrow_error;

/* NULL when no borrow error happened on this thread yet. */
AR_EXTERN const ar_borrow_error *ar_borrow_last_error(void);

typedef enum ar_borrow_mode {
    AR_BORROW_MODE_RETURN = 0, /* return the error code (default) */
    AR_BORROW_MODE_LOG = 1,    /* also print the diagnostic to stderr */
    AR_BORROW_MODE_ABORT = 2,  /* print the diagnostic and abort() */
} ar_borrow_mode;

/*
 * What an error does, process-wide.  The default is ABORT when built with
 * -Dborrow_abort=true, else RETURN; the environment overrides it when the
 * first error happens: AR_BORROW_ABORT=1 (abort), AR_BORROW_ABORT=0 (do not),
 * AR_BORROW_LOG=1 (print; with AR_BORROW_ABORT=0 also in an abort build).
 * The environment is read once, when the first error happens (or the mode is
 * first asked for).  ar_borrow_set_mode overrides both and returns the
 * previous mode (or -EINVAL).
 */
AR_EXTERN int ar_borrow_set_mode(ar_borrow_mode mode);
AR_EXTERN ar_borrow_mode ar_borrow_get_mode(void);

/* ========================================================================
 * Private: the word encoding and the inline fast paths.  Everything below
 * may change; use the functions above.
 * ===================================================================== */
#define AR__BW_TAG_BITS 20
#define AR__BW_TAG_MASK ((UINT64_C(1) << AR__BW_TAG_BITS) - 1)
#define AR__BW_EXCL (AR__BW_TAG_MASK - 1)
#define AR__BW_MOVED AR__BW_TAG_MASK
#define AR__BW_SITE_SHIFT (AR__BW_TAG_BITS - 4) /* sites are 16-byte aligned */

enum { AR__LOAN_EMPTY = 0, AR__LOAN_SHARED = 1, AR__LOAN_MUT = 2, AR__LOAN_RELEASED = 3 };

/* Operations, as the diagnostics name them. */
typedef enum ar__bop {
    AR__BOP_SHARED = 0, /* &x */
    AR__BOP_MUT,        /* &mut x */
    AR__BOP_MOVE,       /* let y = x */
    AR__BOP_ASSIGN,     /* x = v (cells) */
    AR__BOP_DROP,       /* drop(x) */
    AR__BOP_MOVE_OUT,   /* let y = x, copying x out: diagnosed as a move, but
                           it takes EXCL; the mover publishes MOVED once the
                           copy is done (ar__bw_publish_moved) */
} ar__bop;

#if defined(__GNUC__)
#define AR__LIKELY(x) __builtin_expect(!!(x), 1)
#define AR__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define AR__LIKELY(x) (x)
#define AR__UNLIKELY(x) (x)
#endif

/* The site bits of a word (0: unknown). */
static inline uint64_t ar__bw_site(const ar_site *site)
{
    uintptr_t a = (uintptr_t)site;
    if ((uint64_t)a >> 48 || (a & 15u))
        return 0;
    return (uint64_t)a << AR__BW_SITE_SHIFT;
}

static inline const ar_site *ar__bw_site_of(uint64_t w)
{
    return (const ar_site *)(uintptr_t)((w >> AR__BW_SITE_SHIFT) & ~(uint64_t)15);
}

/*
 * Fast paths.  Each returns true when done; false sends the caller to the
 * slow path, which retries and, on a real conflict, reports it.  All use
 * the GCC/Clang __atomic builtins on the plain word so that this header
 * needs no <stdatomic.h>.
 *
 * Shared: CAS tag n -> n+1 with the new site (acquire: pairs with the
 * release store of the previous exclusive holder).
 */
static inline bool ar__bw_try_shared(ar_borrow *b, const ar_site *site)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    uint64_t s = ar__bw_site(site);
    for (;;) {
        uint64_t tag = w & AR__BW_TAG_MASK;
        if (AR__UNLIKELY(tag >= AR_BORROW_SHARED_MAX))
            return false;
        if (AR__LIKELY(__atomic_compare_exchange_n(&b->word, &w, s | (tag + 1), true,
                                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
            return true;
    }
}

/* Exclusive or moved: CAS free -> tag with the site (acquire: pairs with the
 * release of the last holder, shared or exclusive). */
static inline bool ar__bw_try_take(ar_borrow *b, uint64_t tag, const ar_site *site)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    if (AR__UNLIKELY((w & AR__BW_TAG_MASK) != 0))
        return false;
    return __atomic_compare_exchange_n(&b->word, &w, ar__bw_site(site) | tag, false,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Give back a shared borrow: CAS tag n -> n-1, keeping the site (release:
 * pairs with the acquire of the next exclusive borrow or move).  False when
 * the counter holds no shared borrow: a double release, reported by the
 * caller's slow path. */
static inline bool ar__bw_release_shared(ar_borrow *b)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t tag = w & AR__BW_TAG_MASK;
        if (AR__UNLIKELY(tag == 0 || tag > AR_BORROW_SHARED_MAX))
            return false;
        if (AR__LIKELY(__atomic_compare_exchange_n(&b->word, &w, w - 1, true, __ATOMIC_RELEASE,
                                                   __ATOMIC_RELAXED)))
            return true;
    }
}

/* Give back an exclusive borrow: a plain release store of 0 (pairs with the
 * acquire of the next borrow).  safety: while the tag is EXCL nobody else
 * changes the word (every other transition is a CAS from a non-EXCL tag),
 * so the check and the store need no CAS.  False when the tag is not EXCL:
 * a double release. */
static inline bool ar__bw_release_mut(ar_borrow *b)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    if (AR__UNLIKELY((w & AR__BW_TAG_MASK) != AR__BW_EXCL))
        return false;
    __atomic_store_n(&b->word, 0, __ATOMIC_RELEASE);
    return true;
}

/* The same, for a holder that knows the exact word it stored (site and
 * EXCL): a stale copy of a loan whose counter was re-borrowed elsewhere
 * finds another site there and is refused. */
static inline bool ar__bw_release_mut_exact(ar_borrow *b, uint64_t expect)
{
    if (AR__UNLIKELY(__atomic_load_n(&b->word, __ATOMIC_RELAXED) != expect))
        return false;
    __atomic_store_n(&b->word, 0, __ATOMIC_RELEASE);
    return true;
}

/* Publish MOVED, keeping the site, over an EXCL the caller holds (release:
 * whoever finds it moved -- a drop, a later call -- sees everything done
 * under EXCL, e.g. the environment copied out).  Used by the moves that
 * copy the value out: copying under EXCL keeps a concurrent drop or
 * assignment out until the copy is complete. */
static inline void ar__bw_publish_moved(ar_borrow *b)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    __atomic_store_n(&b->word, (w & ~AR__BW_TAG_MASK) | AR__BW_MOVED, __ATOMIC_RELEASE);
}

static inline bool ar_loan_held(const ar_loan *loan)
{
    return loan && (loan->state == AR__LOAN_SHARED || loan->state == AR__LOAN_MUT);
}

/* What a counter guards, for the wording of the help lines. */
enum { AR__CTX_BORROW = 0, AR__CTX_CELL = 1, AR__CTX_CLOSURE = 2 };

/* Slow paths used by the inlines of this header, cell.h and closure.h
 * (closures/borrow.c).  ar__borrow_slow retries the transition of `op` and
 * returns 0, or reports the conflict and returns its error code. */
AR_EXTERN int ar__borrow_slow(ar_borrow *b, ar__bop op, unsigned ctx, const ar_site *site);
AR_EXTERN void ar__borrow_release_failed(ar_borrow *b, uint32_t loan_kind, const ar_site *site);

#ifdef __cplusplus
}
#endif

#endif
