/*
 * closures/cell.c - ar_cell: a value plus its borrow counter.
 *
 * Every access is a borrow of the cell's counter (borrow.c), so the value
 * follows the counter's memory order: what an exclusive holder (a loan, a
 * write, a closure's `&mut` capture) wrote is visible to whoever borrows
 * next (release store / acquire CAS), on any thread.
 *
 * Shared fields: `borrow.word` (atomic, borrow.c); `size`, `off`, `name`
 * (written by init before the cell is shared, read-only after); the value
 * (written only under an exclusive borrow or during a move, read under any
 * borrow).
 */
#include <string.h>

#include "asyncrt/cell.h"
#include "diag.h"

static void *cell_value(ar_cell *c) { return (char *)c + c->off; }

static int bad_arg(const ar_cell *c, const char *what, const ar_site *site)
{
    ar__diag d = {
        .err = -EINVAL,
        .name = c && c->borrow.name ? c->borrow.name : "cell",
        .at = site,
        .at_label = "called here",
        .note = what,
        .help = "pass an initialised cell (ar_cell_init) and a buffer of its value's size",
    };
    return ar__diag_raise(&d, "bad argument for cell `%s`");
}

int ar_cell_init_raw(ar_cell *c, const char *name, size_t size, size_t off)
{
    if (!c || size == 0 || size > UINT32_MAX || off < sizeof *c || off > UINT32_MAX)
        return -EINVAL;
    ar_borrow_init(&c->borrow, name ? name : "cell");
    c->size = (uint32_t)size;
    c->off = (uint32_t)off;
    return 0;
}

static bool cell_ok(const ar_cell *c) { return c && c->size != 0 && c->off >= sizeof *c; }

static int borrow_into(ar_cell *c, ar_loan *loan, ar__bop op, const ar_site *site)
{
    if (!loan)
        return bad_arg(c, "NULL loan", site);
    *loan = (ar_loan){0};
    if (!cell_ok(c))
        return bad_arg(c, "NULL or uninitialised cell", site);
    bool ok = op == AR__BOP_SHARED ? ar__bw_try_shared(&c->borrow, site)
                                   : ar__bw_try_take(&c->borrow, AR__BW_EXCL, site);
    if (!ok) {
        int rc = ar__borrow_slow(&c->borrow, op, AR__CTX_CELL, site);
        if (rc)
            return rc;
    }
    *loan = (ar_loan){&c->borrow, cell_value(c), site,
                      op == AR__BOP_SHARED ? AR__LOAN_SHARED : AR__LOAN_MUT};
    return 0;
}

int ar_cell_borrow_at(ar_cell *c, ar_loan *loan, const ar_site *site)
{
    return borrow_into(c, loan, AR__BOP_SHARED, site);
}

int ar_cell_borrow_mut_at(ar_cell *c, ar_loan *loan, const ar_site *site)
{
    return borrow_into(c, loan, AR__BOP_MUT, site);
}

static int check_io(ar_cell *c, const void *buf, size_t size, const ar_site *site)
{
    if (!cell_ok(c))
        return bad_arg(c, "NULL or uninitialised cell", site);
    if (!buf)
        return bad_arg(c, "NULL buffer", site);
    if (size != c->size)
        return bad_arg(c, "buffer size is not the size of the cell's value", site);
    return 0;
}

int ar_cell_read_at(ar_cell *c, void *dst, size_t size, const ar_site *site)
{
    int rc = check_io(c, dst, size, site);
    if (rc)
        return rc;
    if (!ar__bw_try_shared(&c->borrow, site)) {
        rc = ar__borrow_slow(&c->borrow, AR__BOP_SHARED, AR__CTX_CELL, site);
        if (rc)
            return rc;
    }
    memcpy(dst, cell_value(c), size);
    if (!ar__bw_release_shared(&c->borrow)) /* cannot fail: we hold one */
        ar__borrow_release_failed(&c->borrow, AR__LOAN_SHARED, site);
    return 0;
}

int ar_cell_write_at(ar_cell *c, const void *src, size_t size, const ar_site *site)
{
    int rc = check_io(c, src, size, site);
    if (rc)
        return rc;
    if (!ar__bw_try_take(&c->borrow, AR__BW_EXCL, site)) {
        rc = ar__borrow_slow(&c->borrow, AR__BOP_ASSIGN, AR__CTX_CELL, site);
        if (rc)
            return rc;
    }
    memcpy(cell_value(c), src, size);
    if (!ar__bw_release_mut(&c->borrow)) /* cannot fail: we hold it */
        ar__borrow_release_failed(&c->borrow, AR__LOAN_MUT, site);
    return 0;
}

int ar_cell_take_at(ar_cell *c, void *dst, size_t size, const ar_site *site)
{
    int rc = check_io(c, dst, size, site);
    if (rc)
        return rc;
    /* EXCL while copying: an assignment may re-initialise a MOVED cell, so
     * MOVED is published only once the value is out. */
    if (!ar__bw_try_take(&c->borrow, AR__BW_EXCL, site)) {
        rc = ar__borrow_slow(&c->borrow, AR__BOP_MOVE_OUT, AR__CTX_CELL, site);
        if (rc)
            return rc;
    }
    /* safety: EXCL is ours, and our acquire CAS made the last holder's
     * writes visible. */
    memcpy(dst, cell_value(c), size);
    /* release: pairs with the acquire of the assignment that re-initialises
     * the cell, which so cannot overwrite the value before we copied it. */
    ar__bw_publish_moved(&c->borrow);
    return 0;
}
