/*
 * closures/diag.h - rustc-style diagnostics of borrow, cell and closure
 * errors (internal).
 *
 * Every error of closures/ goes through ar__diag_raise: it renders the
 * diagnostic into the calling thread's ar_borrow_error (what
 * ar_borrow_last_error returns), then, by the process-wide mode, returns
 * the error code, prints it first, or prints it and aborts.  Only error
 * paths come here; nothing on a fast path formats text.
 */
#ifndef AR_CLOSURES_DIAG_H
#define AR_CLOSURES_DIAG_H

#include "asyncrt/borrow.h"

typedef struct ar__diag {
    int err;                /* negative errno to return */
    const char *code;       /* "E0499", or NULL when Rust has no such error */
    const char *name;       /* what the error is about (NULL: "value") */
    const ar_site *at;      /* the failing operation */
    const char *at_label;   /* "second mutable borrow occurs here" */
    const ar_site *held;    /* the conflicting borrow / move / definition */
    const char *held_label; /* "first mutable borrow occurs here" */
    const char *note;       /* optional "= note:" line */
    const char *help;       /* the one-line "= help:" */
} ar__diag;

/*
 * Render d into the thread's last error, apply the mode, and return d->err
 * (does not return in abort mode).  In the headline, the labels and the
 * help, every `%s` stands for d->name; they take no other conversions.
 */
int ar__diag_raise(const ar__diag *d, const char *headline);

/* Tests: forget the resolved mode, so that the next error reads the
 * environment again. */
void ar__borrow_mode_reset(void);

#endif
