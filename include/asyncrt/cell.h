/*
 * asyncrt/cell.h - a value guarded by a borrow counter: what async
 * closures capture by reference.
 *
 * In Rust a closure that captures `&mut v` makes `v` unreachable until the
 * closure is gone; one that captures `&v` leaves it readable but not
 * writable.  Here `v` lives in a cell, and every access goes through the
 * cell's counter (asyncrt/borrow.h):
 *
 *     typedef AR_CELL(int_vec) vec_cell;   // a cell type holding an int_vec
 *     vec_cell v;
 *     ar_cell_init(&v, "v");               // the name is for diagnostics
 *     v.value = (int_vec){0};              // before anyone borrows it
 *
 *     ar_cell_borrow_mut(&v, &env.v);      // a closure captures &mut v
 *     ar_cell_get(&v, &copy);              // AR_EBORROWED: error[E0502]
 *     ...drop the closure (its env drop releases env.v)...
 *     ar_cell_get(&v, &copy);              // 0
 *
 * Borrow with ar_cell_borrow / ar_cell_borrow_mut (a loan whose `ptr` is
 * the value, held as long as you like: a closure's capture); copy in and out
 * with ar_cell_get / ar_cell_set (a borrow for the duration of the copy);
 * move out with ar_cell_take (a `move` capture: the cell becomes moved and
 * every later use fails like E0382 until ar_cell_set gives it a new value).
 *
 * Touch `value` directly only while nobody can borrow the cell (before it
 * is shared, or while you hold an exclusive loan, which is what `ptr` is
 * for).  Errors: as in borrow.h; -EINVAL for NULL or a size that is not the
 * cell's.  Thread-safe.
 */
#ifndef ASYNCRT_CELL_H
#define ASYNCRT_CELL_H

#include <stddef.h>

#include "borrow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The untyped part of every cell.  Members are private; `size` and `off`
 * are written by ar_cell_init_raw before the cell is shared. */
typedef struct ar_cell {
    ar_borrow borrow;
    uint32_t size; /* sizeof the value */
    uint32_t off;  /* offset of the value from the ar_cell */
} ar_cell;

/* A cell type holding a T (use it through a typedef). */
#define AR_CELL(T)                                                               \
    struct {                                                                     \
        ar_cell cell;                                                            \
        T value;                                                                 \
    }

/* Initialise a typed cell c (pointer) named `name` (must outlive the cell).
 * The value is left as it is: set c->value before sharing the cell. */
#define ar_cell_init(c, name)                                                    \
    ar_cell_init_raw(&(c)->cell, (name), sizeof((c)->value),                     \
                     offsetof(__typeof__(*(c)), value))

AR_EXTERN int ar_cell_init_raw(ar_cell *c, const char *name, size_t size, size_t off);

/* Shared (`&v`) or exclusive (`&mut v`) borrow; loan->ptr is the value.
 * Release with ar_loan_release. */
AR_EXTERN int ar_cell_borrow_at(ar_cell *c, ar_loan *loan, const ar_site *site);
AR_EXTERN int ar_cell_borrow_mut_at(ar_cell *c, ar_loan *loan, const ar_site *site);

/* Copy the value out under a shared borrow (`let x = v.clone()`). */
AR_EXTERN int ar_cell_read_at(ar_cell *c, void *dst, size_t size, const ar_site *site);

/* Replace the value under an exclusive borrow (`v = x`): AR_EBORROWED
 * (E0506) while borrowed; a moved-out cell is re-initialised. */
AR_EXTERN int ar_cell_write_at(ar_cell *c, const void *src, size_t size, const ar_site *site);

/* Move the value out (`let y = v;`): copies it to dst, and the cell is moved
 * until the next ar_cell_set.  AR_EBORROWED (E0505) while borrowed,
 * AR_EMOVED (E0382) when moved already. */
AR_EXTERN int ar_cell_take_at(ar_cell *c, void *dst, size_t size, const ar_site *site);

/* Snapshot of the cell's counter (see ar_borrow_inspect). */
static inline ar_borrow_state ar_cell_state(const ar_cell *c, uint32_t *shared)
{
    return ar_borrow_inspect(c ? &c->borrow : NULL, shared, NULL);
}

/* Typed forms for a typed cell pointer c; they record the call site and
 * check the value's type at compile time. */
#define ar_cell_borrow(c, loan) ar_cell_borrow_at(&(c)->cell, (loan), AR_HERE)
#define ar_cell_borrow_mut(c, loan) ar_cell_borrow_mut_at(&(c)->cell, (loan), AR_HERE)

#define ar_cell_get(c, dst)                                                      \
    ((void)sizeof(*(dst) = (c)->value),                                          \
     ar_cell_read_at(&(c)->cell, (dst), sizeof *(dst), AR_HERE))

#define ar_cell_take(c, dst)                                                     \
    ((void)sizeof(*(dst) = (c)->value),                                          \
     ar_cell_take_at(&(c)->cell, (dst), sizeof *(dst), AR_HERE))

#define ar_cell_set(c, v)                                                        \
    (__extension__({                                                             \
        __typeof__((c)->value) ar__cell_v_ = (v);                                \
        ar_cell_write_at(&(c)->cell, &ar__cell_v_, sizeof ar__cell_v_, AR_HERE); \
    }))

#ifdef __cplusplus
}
#endif

#endif
