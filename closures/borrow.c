/*
 * closures/borrow.c - borrow counters: the slow paths and the diagnosis of
 * conflicts.
 *
 * The counter word (asyncrt/borrow.h) moves between four states:
 *
 *     FREE --shared--> SHARED(1) --shared--> SHARED(n+1)      (CAS, acquire)
 *     SHARED(n) --release--> SHARED(n-1) / FREE               (CAS, release)
 *     FREE --mut--> EXCLUSIVE --release--> FREE        (CAS acquire / store release)
 *     FREE --move or drop--> MOVED                             (CAS, acquire)
 *     MOVED --assign (cells only)--> EXCLUSIVE                 (CAS, acquire)
 *
 * Every transition is one read-modify-write on the word (or, for releasing
 * an exclusive borrow, a store that nobody can race with: see
 * ar__bw_release_mut), so a conflicting attempt changes nothing: it reads
 * the word, finds the conflict, and reports it from what it read.  The site
 * bits are written together with the tag they describe, so the report names
 * the holder's site exactly (for SHARED, the most recent shared borrower).
 *
 * Protocol of an operation, in the header inline and here:
 *   1. Fast path (header): load relaxed, CAS if the tag allows the
 *      transition.
 *   2. Slow path (ar__borrow_slow): loop { load; if allowed, CAS and return
 *      0; else report the conflict from the loaded word }.  A CAS that fails
 *      because another thread changed the word loops; it never reports a
 *      conflict that did not exist in some state the word really had.
 */
#include <stdio.h>
#include <string.h>

#include "asyncrt/borrow.h"
#include "diag.h"

void ar_borrow_init(ar_borrow *b, const char *name)
{
    if (!b)
        return;
    __atomic_store_n(&b->word, 0, __ATOMIC_RELAXED);
    b->name = name;
}

ar_borrow_state ar_borrow_inspect(const ar_borrow *b, uint32_t *shared, const ar_site **site)
{
    uint64_t w = b ? __atomic_load_n(&b->word, __ATOMIC_ACQUIRE) : 0;
    uint64_t tag = w & AR__BW_TAG_MASK;
    ar_borrow_state st = tag == 0                ? AR_BORROW_FREE
                         : tag == AR__BW_EXCL    ? AR_BORROW_EXCLUSIVE
                         : tag == AR__BW_MOVED   ? AR_BORROW_MOVED
                                                 : AR_BORROW_SHARED;
    if (shared)
        *shared = st == AR_BORROW_SHARED ? (uint32_t)tag : 0;
    if (site)
        *site = st == AR_BORROW_FREE ? NULL : ar__bw_site_of(w);
    return st;
}

/* ------------------------------------------------------------------------
 * Diagnosis
 * --------------------------------------------------------------------- */

/* The help line for a conflict, by what the counter guards.  `%s` is the
 * name. */
static const char *help_for(const char *code, unsigned ctx)
{
    bool closure = ctx == AR__CTX_CLOSURE, cell = ctx == AR__CTX_CELL;
    if (!strcmp(code, "E0382")) {
        if (closure)
            return "`%s` was consumed by ar_call_once or dropped; define it AR_MUT or AR_FN to "
                   "call it more than once";
        if (cell)
            return "`%s` was moved out (ar_cell_take or a move capture); assign it a new value "
                   "(ar_cell_set) before using it again";
        return "`%s` was moved; it cannot be borrowed or moved again";
    }
    if (!strcmp(code, "E0499")) {
        if (closure)
            return "await the first call's future, or drop it (ar_call_drop), before calling "
                   "`%s` again; an AR_FN closure allows calls at the same time";
        if (cell)
            return "the first borrow ends when its loan is released or the closure that "
                   "captured `%s` is dropped";
        return "release the first loan (ar_loan_release) before borrowing `%s` again";
    }
    if (!strcmp(code, "E0505")) {
        if (closure)
            return "wait until every call future borrowing `%s` has completed or been dropped, "
                   "then move or drop it";
        if (cell)
            return "release the loans of `%s` (drop the closures that captured it) first";
        return "release every loan of `%s` before moving it";
    }
    /* E0502, E0506 */
    if (cell)
        return "the borrow ends when its loan is released or the closure that captured `%s` "
               "is dropped";
    if (closure)
        return "wait until the calls borrowing `%s` have completed or been dropped";
    return "release the other loan of `%s` (ar_loan_release) first";
}

/* Report why op is not allowed on a counter whose word was w. */
static int report_conflict(ar_borrow *b, ar__bop op, unsigned ctx, const ar_site *site, uint64_t w)
{
    uint64_t tag = w & AR__BW_TAG_MASK;
    ar__diag d = {
        .err = AR_EBORROWED,
        .name = b->name,
        .at = site,
        .held = ar__bw_site_of(w),
    };
    const char *headline;
    static __thread char shared_label[96];

    if (tag == AR__BW_MOVED) {
        d.err = AR_EMOVED;
        d.code = "E0382";
        d.held_label = "value moved here";
        d.at_label = "value used here after move";
        headline = (op == AR__BOP_SHARED || op == AR__BOP_MUT) ? "borrow of moved value: `%s`"
                                                               : "use of moved value: `%s`";
    } else if (tag == AR_BORROW_SHARED_MAX && op == AR__BOP_SHARED) {
        d.err = -EOVERFLOW;
        d.held_label = "the most recent shared borrow occurs here";
        d.at_label = "one shared borrow too many occurs here";
        d.note = "a counter holds at most AR_BORROW_SHARED_MAX (1048573) shared borrows";
        headline = "too many shared borrows of `%s`";
    } else {
        bool excl = tag == AR__BW_EXCL;
        if (excl) {
            d.held_label = op == AR__BOP_MUT ? "first mutable borrow occurs here"
                                             : "mutable borrow occurs here";
        } else if (tag == 1) {
            d.held_label = "immutable borrow occurs here";
        } else {
            snprintf(shared_label, sizeof shared_label,
                     "immutable borrow occurs here (the most recent of %u)", (unsigned)tag);
            d.held_label = shared_label;
        }
        switch (op) {
        case AR__BOP_SHARED:
            d.code = "E0502";
            d.at_label = "immutable borrow occurs here";
            headline = "cannot borrow `%s` as immutable because it is also borrowed as mutable";
            break;
        case AR__BOP_MUT:
            d.code = excl ? "E0499" : "E0502";
            d.at_label = excl ? "second mutable borrow occurs here" : "mutable borrow occurs here";
            headline = excl ? "cannot borrow `%s` as mutable more than once at a time"
                            : "cannot borrow `%s` as mutable because it is also borrowed as "
                              "immutable";
            break;
        case AR__BOP_ASSIGN:
            d.code = "E0506";
            d.at_label = "assignment to borrowed `%s` occurs here";
            headline = "cannot assign to `%s` because it is borrowed";
            break;
        case AR__BOP_MOVE:
        case AR__BOP_DROP:
        default:
            d.code = "E0505";
            d.at_label = op == AR__BOP_DROP ? "move out of `%s` (drop) occurs here"
                                            : "move out of `%s` occurs here";
            headline = "cannot move out of `%s` because it is borrowed";
            break;
        }
        if (!excl && tag > 1)
            d.note = "a counter records the site of its most recent shared borrow only";
    }
    if (!d.help)
        d.help = help_for(d.code ? d.code : "", ctx);
    return ar__diag_raise(&d, headline);
}

int ar__borrow_slow(ar_borrow *b, ar__bop op, unsigned ctx, const ar_site *site)
{
    uint64_t s = ar__bw_site(site);
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t tag = w & AR__BW_TAG_MASK, next;
        switch (op) {
        case AR__BOP_SHARED:
            if (tag >= AR_BORROW_SHARED_MAX)
                return report_conflict(b, op, ctx, site, w);
            next = s | (tag + 1);
            break;
        case AR__BOP_MUT:
            if (tag != 0)
                return report_conflict(b, op, ctx, site, w);
            next = s | AR__BW_EXCL;
            break;
        case AR__BOP_ASSIGN:
            /* Assigning to a moved-out value re-initialises it, as in Rust:
             * the assignment holds EXCLUSIVE while it writes. */
            if (tag != 0 && tag != AR__BW_MOVED)
                return report_conflict(b, op, ctx, site, w);
            next = s | AR__BW_EXCL;
            break;
        case AR__BOP_DROP:
            if (tag == AR__BW_MOVED)
                return 1; /* moved or dropped already: nothing left to drop */
            if (tag != 0)
                return report_conflict(b, op, ctx, site, w);
            next = s | AR__BW_MOVED;
            break;
        case AR__BOP_MOVE_OUT:
            if (tag != 0)
                return report_conflict(b, op, ctx, site, w);
            next = s | AR__BW_EXCL;
            break;
        case AR__BOP_MOVE:
        default:
            if (tag != 0)
                return report_conflict(b, op, ctx, site, w);
            next = s | AR__BW_MOVED;
            break;
        }
        /* acquire: pairs with the release of the previous holder. */
        if (__atomic_compare_exchange_n(&b->word, &w, next, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 0;
    }
}

static int report_null(const char *what, const ar_site *site)
{
    ar__diag d = {
        .err = -EINVAL,
        .name = what,
        .at = site,
        .at_label = "called here",
        .help = "pass a valid pointer",
    };
    return ar__diag_raise(&d, "NULL %s");
}

void ar__borrow_release_failed(ar_borrow *b, uint32_t loan_kind, const ar_site *site)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_RELAXED);
    ar__diag d = {
        .err = AR_ERELEASED,
        .name = b->name,
        .at = site,
        .at_label = "released here",
        .held = ar__bw_site_of(w),
        .held_label = "the counter's last recorded borrow or move",
        .note = "a copy of a loan or of a started call future was released as well; the counter "
                "was left unchanged",
        .help = "release each borrow of `%s` exactly once, through the one loan or future "
                "that holds it",
    };
    ar__diag_raise(&d, loan_kind == AR__LOAN_MUT
                           ? "mutable borrow of `%s` released, but `%s` is not mutably borrowed"
                           : "shared borrow of `%s` released, but `%s` has no shared borrow");
}

/* ------------------------------------------------------------------------
 * Loans on bare counters
 * --------------------------------------------------------------------- */
static int take_loan(ar_borrow *b, ar_loan *loan, ar__bop op, const ar_site *site)
{
    if (!loan)
        return report_null("loan", site);
    *loan = (ar_loan){0};
    if (!b)
        return report_null("borrow counter", site);
    bool ok = op == AR__BOP_SHARED ? ar__bw_try_shared(b, site)
                                   : ar__bw_try_take(b, AR__BW_EXCL, site);
    if (!ok) {
        int rc = ar__borrow_slow(b, op, AR__CTX_BORROW, site);
        if (rc)
            return rc;
    }
    *loan = (ar_loan){b, NULL, site, op == AR__BOP_SHARED ? AR__LOAN_SHARED : AR__LOAN_MUT};
    return 0;
}

int ar_borrow_shared_at(ar_borrow *b, ar_loan *loan, const ar_site *site)
{
    return take_loan(b, loan, AR__BOP_SHARED, site);
}

int ar_borrow_mut_at(ar_borrow *b, ar_loan *loan, const ar_site *site)
{
    return take_loan(b, loan, AR__BOP_MUT, site);
}

int ar_borrow_move_at(ar_borrow *b, const ar_site *site)
{
    if (!b)
        return report_null("borrow counter", site);
    if (ar__bw_try_take(b, AR__BW_MOVED, site))
        return 0;
    return ar__borrow_slow(b, AR__BOP_MOVE, AR__CTX_BORROW, site);
}

int ar_loan_release_at(ar_loan *loan, const ar_site *site)
{
    if (!loan)
        return report_null("loan", site);
    uint32_t kind = loan->state;
    if (kind == AR__LOAN_RELEASED) {
        ar__diag d = {
            .err = AR_ERELEASED,
            .name = loan->b ? loan->b->name : NULL,
            .at = site,
            .at_label = "released again here",
            .held = loan->site,
            .held_label = "first released here",
            .help = "release each loan of `%s` exactly once",
        };
        return ar__diag_raise(&d, "borrow of `%s` released twice");
    }
    if ((kind != AR__LOAN_SHARED && kind != AR__LOAN_MUT) || !loan->b)
        return -EBADF; /* empty: never held a borrow */
    bool ok = kind == AR__LOAN_SHARED
                  ? ar__bw_release_shared(loan->b)
                  : ar__bw_release_mut_exact(loan->b, ar__bw_site(loan->site) | AR__BW_EXCL);
    loan->state = AR__LOAN_RELEASED;
    loan->site = site;
    if (!ok) {
        ar__borrow_release_failed(loan->b, kind, site);
        return AR_ERELEASED;
    }
    return 0;
}
