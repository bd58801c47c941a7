/*
 * tests/closures/closure_helpers.h - scaffolding shared by the tests of
 * borrow counters, cells and closures (on top of tests/helpers.h).
 *
 *   errors return     every test process starts in AR_BORROW_MODE_RETURN,
 *                     whatever -Dborrow_abort says, so that error paths are
 *                     testable; the abort-mode tests switch modes in a child.
 *   T_DIAG(code, s)   the thread's last borrow error has Rust code `code`
 *                     and its text contains s.
 *   t_child           run a function in a forked child with stderr captured:
 *                     how it ended and what it printed.
 *   t_drive           poll a future by hand (counting waker) until ready.
 */
#ifndef AR_TESTS_CLOSURE_HELPERS_H
#define AR_TESTS_CLOSURE_HELPERS_H

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

void ar__borrow_mode_reset(void); /* closures/diag.c (internal) */

__attribute__((constructor)) static void t_borrow_mode_return(void)
{
    ar_borrow_set_mode(AR_BORROW_MODE_RETURN);
}

static inline const char *t_diag_text(void)
{
    const ar_borrow_error *e = ar_borrow_last_error();
    return e ? e->text : "(no borrow error recorded)";
}

/* The last error is Rust's `code` ("" for none) and mentions `sub`. */
#define T_DIAG(code_, sub_)                                                      \
    do {                                                                         \
        const ar_borrow_error *t_e_ = ar_borrow_last_error();                    \
        cr_assert(t_is(t_e_ != NULL), "no borrow error recorded");               \
        cr_assert(t_is(!strcmp(t_e_->code, (code_))), "want %s, got:\n%s", (code_), \
                  t_e_->text);                                                   \
        cr_assert(t_is(strstr(t_e_->text, (sub_)) != NULL), "missing \"%s\" in:\n%s", \
                  (sub_), t_e_->text);                                           \
    } while (0)

/* String equality printing both sides. */
#define T_STREQ(a, b)                                                            \
    cr_assert(t_is(!strcmp((a), (b))), "%s is \"%s\", want \"%s\"", #a, (a), (b))

/* "file:line" of a site, for comparing with the text. */
static inline const char *t_site_str(const ar_site *s, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d", s ? s->file : "?", s ? s->line : -1);
    return buf;
}

/* ------------------------------------------------------------------------
 * Child processes: fn runs in a fork with stderr going to a pipe.
 * --------------------------------------------------------------------- */
typedef struct t_child_result {
    int status;      /* from waitpid */
    char err[4096];  /* what the child wrote to stderr */
} t_child_result;

static inline void t_child(void (*fn)(void *), void *arg, t_child_result *r)
{
    int fds[2];
    cr_assert(eq(int, pipe(fds), 0));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(ne(int, pid, -1));
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], r->err + len, sizeof r->err - 1 - len)) > 0)
        len += (size_t)n;
    r->err[len] = 0;
    close(fds[0]);
    cr_assert(eq(int, waitpid(pid, &r->status, 0), pid));
}

static inline bool t_aborted(const t_child_result *r)
{
    return WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT;
}

static inline bool t_exited_ok(const t_child_result *r)
{
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* ------------------------------------------------------------------------
 * Driving futures by hand
 * --------------------------------------------------------------------- */

/*
 * Poll until ready; returns the number of polls.  A future that sleeps
 * (nap) is pending until its deadline, so this waits between polls; `max`
 * bounds the polls of futures that do not sleep (0: only the T_WAIT_S
 * deadline applies).
 */
static inline int t_drive(ar_poll (*poll)(void *, ar_cx *), void *fut, int max)
{
    t_waker w;
    t_waker_init(&w);
    double deadline = t_now_s() + T_WAIT_S;
    for (int i = 1;; i++) {
        ar_cx cx = t_cx(&w);
        if (poll(fut, &cx) == AR_READY)
            return i;
        if (atomic_load(&w.wakes) == 0 && max && i >= max)
            cr_fatal("future pending without a wake-up after %d polls", i);
        if (t_now_s() > deadline)
            cr_fatal("future not ready after %d s", T_WAIT_S);
        atomic_store(&w.wakes, 0);
        if (i > 2)
            t_sleep_ms(1);
    }
}

/* One poll. */
static inline ar_poll t_poll1(ar_poll (*poll)(void *, ar_cx *), void *fut)
{
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    return poll(fut, &cx);
}

static inline uint32_t t_shared_count(const ar_borrow *b)
{
    uint32_t n = 0;
    ar_borrow_inspect(b, &n, NULL);
    return n;
}

#endif
