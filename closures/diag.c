/*
 * closures/diag.c - rendering and reporting borrow diagnostics.
 *
 * The text imitates rustc, without the source excerpt (the library does not
 * have the sources):
 *
 *     error[E0505]: cannot move out of `greeter` because it is borrowed
 *       --> examples/closures/lending.c:80 in drop_in_flight
 *        |
 *        = borrow of `greeter` occurs here: examples/closures/lending.c:71 in drop_in_flight
 *        = move out of `greeter` occurs here: examples/closures/lending.c:80 in drop_in_flight
 *        |
 *        = help: wait until every call future borrowing `greeter` has completed ...
 *
 * Shared state: the mode word (below) and, per thread, the last error.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"

/* ------------------------------------------------------------------------
 * Mode
 *
 * g_mode: -1 until the first error or ar_borrow_get/set_mode resolves it
 * from the build default and the environment.  Written by whoever resolves
 * it first (a CAS from -1, so a concurrent ar_borrow_set_mode wins over the
 * environment) and by ar_borrow_set_mode; read by every error.  Relaxed:
 * it orders nothing else.
 * --------------------------------------------------------------------- */
#ifndef AR_BORROW_ABORT_DEFAULT
#define AR_BORROW_ABORT_DEFAULT 0
#endif

static _Atomic int g_mode = -1;

static bool env_flag(const char *name, bool *value)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return false;
    *value = !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
    return true;
}

static int mode_resolve(void)
{
    int m = atomic_load_explicit(&g_mode, memory_order_relaxed);
    if (m >= 0)
        return m;
    int def = AR_BORROW_ABORT_DEFAULT ? AR_BORROW_MODE_ABORT : AR_BORROW_MODE_RETURN;
    bool on;
    if (env_flag("AR_BORROW_ABORT", &on))
        def = on ? AR_BORROW_MODE_ABORT : AR_BORROW_MODE_RETURN;
    if (env_flag("AR_BORROW_LOG", &on) && on && def == AR_BORROW_MODE_RETURN)
        def = AR_BORROW_MODE_LOG;
    int expect = -1;
    if (atomic_compare_exchange_strong_explicit(&g_mode, &expect, def, memory_order_relaxed,
                                                memory_order_relaxed))
        return def;
    return expect; /* someone resolved or set it meanwhile */
}

int ar_borrow_set_mode(ar_borrow_mode mode)
{
    if ((int)mode < AR_BORROW_MODE_RETURN || mode > AR_BORROW_MODE_ABORT)
        return -EINVAL;
    int prev = mode_resolve();
    atomic_store_explicit(&g_mode, (int)mode, memory_order_relaxed);
    return prev;
}

ar_borrow_mode ar_borrow_get_mode(void) { return (ar_borrow_mode)mode_resolve(); }

void ar__borrow_mode_reset(void) { atomic_store_explicit(&g_mode, -1, memory_order_relaxed); }

/* ------------------------------------------------------------------------
 * Last error: one per thread, written only by its own thread.
 * --------------------------------------------------------------------- */
static __thread ar_borrow_error t_last;
static __thread bool t_has_last;

const ar_borrow_error *ar_borrow_last_error(void) { return t_has_last ? &t_last : NULL; }

/* Append to the buffer; silently truncates (the text is for people). */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

__attribute__((format(printf, 2, 3))) static void put(buf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len = b->len + (size_t)n < b->cap ? b->len + (size_t)n : b->cap - 1;
}

static void put_site(buf *b, const ar_site *s)
{
    if (s && s->file)
        put(b, "%s:%d in %s", s->file, s->line, s->func ? s->func : "?");
    else
        put(b, "(unknown site)");
}

/* A headline or label: fmt with every %s replaced by the name (no other
 * conversions are allowed in it). */
static void put_headline(buf *b, const char *fmt, const char *name)
{
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            put(b, "%s", name);
            p++;
        } else {
            put(b, "%c", *p);
        }
    }
}

/* The error code as the headers name it. */
static const char *err_name(int err)
{
    switch (err) {
    case AR_EBORROWED: return "AR_EBORROWED (-EBUSY)";
    case AR_EMOVED: return "AR_EMOVED (-EBADF)";
    case AR_EKIND: return "AR_EKIND (-EOPNOTSUPP)";
    case AR_ERELEASED: return "AR_ERELEASED (-EALREADY)";
    case AR_ESTORAGE: return "AR_ESTORAGE (-ENOBUFS)";
    case -EOVERFLOW: return "-EOVERFLOW";
    case -EINVAL: return "-EINVAL";
    default: return "an error";
    }
}

int ar__diag_raise(const ar__diag *d, const char *headline)
{
    ar_borrow_error *e = &t_last;
    const char *name = d->name ? d->name : "value";
    e->err = d->err;
    e->code = d->code ? d->code : "";
    e->name = name;
    e->at = d->at;
    e->held = d->held;

    buf b = {e->text, 0, sizeof e->text};
    if (d->code)
        put(&b, "error[%s]: ", d->code);
    else
        put(&b, "error: ");
    put_headline(&b, headline, name);
    put(&b, "\n  --> ");
    put_site(&b, d->at);
    put(&b, "\n   |\n");
    if (d->held_label) {
        put(&b, "   = ");
        put_headline(&b, d->held_label, name);
        put(&b, ": ");
        put_site(&b, d->held);
        put(&b, "\n");
    }
    if (d->at_label) {
        put(&b, "   = ");
        put_headline(&b, d->at_label, name);
        put(&b, ": ");
        put_site(&b, d->at);
        put(&b, "\n");
    }
    if (d->note)
        put(&b, "   = note: %s\n", d->note);
    if (d->help) {
        put(&b, "   |\n   = help: ");
        put_headline(&b, d->help, name);
        put(&b, "\n");
    }
    put(&b, "   = asyncrt: the call returns %s\n", err_name(d->err));
    t_has_last = true;

    int mode = mode_resolve();
    if (mode >= AR_BORROW_MODE_LOG) {
        /* One write, so that diagnostics of concurrent threads do not mix. */
        ssize_t w = write(STDERR_FILENO, e->text, b.len);
        (void)w;
    }
    if (mode == AR_BORROW_MODE_ABORT) {
        static const char msg[] = "asyncrt: aborting on a borrow error (AR_BORROW_ABORT)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
    return d->err;
}
