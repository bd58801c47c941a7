/*
 * tests/test_coro.c - the switch-coroutine macros of asyncrt/future.h
 * (AR_BEGIN / AR_AWAIT / AR_YIELD / AR_RETURN / AR_END, ar_co_done), driven
 * by hand: no executor, a user waker object that counts what is done to it.
 *
 * What must hold (DESIGN.md section 1):
 *   - a child future embedded by value is polled until ready and the parent
 *     returns AR_PENDING upward meanwhile; on the next poll it resumes at the
 *     await it stopped at, without re-running what came before;
 *   - the output is written into the future;
 *   - every AR_PENDING has arranged a wake (here: counted exactly);
 *   - polling a finished coroutine is detected in debug builds (abort with a
 *     message naming the poll function).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* Criterion glue for the sanitizer builds (TSan arena placement, the
 * runner's own leaks), shared by all test files. */
#include "helpers.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asyncrt/future.h"

/* One timeout for every test of this file: Criterion 2.4.1's runner leaks
 * a timeout entry (48 bytes, reported by LeakSanitizer in the ASan build)
 * when tests with different timeouts run in parallel (--jobs=2). */
#define CORO_TIMEOUT 10

/* ------------------------------------------------------------------------
 * A waker object that counts wakes and references.
 * --------------------------------------------------------------------- */
typedef struct count_waker {
    ar_waker_obj obj; /* first member: the waker points here */
    int wakes;
    int refs; /* the test's own reference is 1 */
} count_waker;

static void cw_wake_by_ref(ar_waker_obj *o) { ((count_waker *)o)->wakes++; }
static void cw_clone(ar_waker_obj *o) { ((count_waker *)o)->refs++; }
static void cw_drop(ar_waker_obj *o) { ((count_waker *)o)->refs--; }

static const ar_waker_vtable cw_vt = {
    .wake_by_ref = cw_wake_by_ref,
    .clone = cw_clone,
    .drop = cw_drop,
};

static void cx_init(ar_cx *cx, count_waker *w)
{
    memset(w, 0, sizeof *w);
    w->obj.vt = &cw_vt;
    w->refs = 1;
    cx->waker = ar_waker_from_obj(&w->obj);
    cx->budget = AR_COOP_BUDGET;
    cx->worker = NULL;
}

/* ------------------------------------------------------------------------
 * Leaf futures (hand-written polls, no macros).
 *
 * gate: pending until the test opens it; keeps a clone of the waker of the
 * last poll (replacing it only when it would not wake the same thing) and
 * wakes it when opened, so each open is exactly one wake.
 * --------------------------------------------------------------------- */
typedef struct gate {
    bool open;
    int value;
    ar_waker w;
    int polls;
    int out;
} gate;

static ar_poll gate_poll(gate *g, ar_cx *cx)
{
    g->polls++;
    if (!g->open) {
        if (!ar_waker_will_wake(g->w, cx->waker)) {
            ar_waker_drop(g->w);
            g->w = ar_waker_clone(cx->waker);
        }
        return AR_PENDING;
    }
    ar_waker_drop(g->w);
    g->w = AR_WAKER_NONE;
    g->out = g->value;
    return AR_READY;
}

static void gate_open(gate *g)
{
    g->open = true;
    ar_waker w = g->w;
    g->w = AR_WAKER_NONE;
    ar_waker_wake(w); /* consumes the clone */
}

/* countdown: pending `remaining` times, waking itself each time (a future
 * that is ready "soon"), then ready with out = value. */
typedef struct countdown {
    int remaining;
    int value;
    int polls;
    int out;
} countdown;

static ar_poll countdown_poll(countdown *c, ar_cx *cx)
{
    c->polls++;
    if (c->remaining > 0) {
        c->remaining--;
        ar_waker_wake_by_ref(cx->waker);
        return AR_PENDING;
    }
    c->out = c->value;
    return AR_READY;
}

/* ------------------------------------------------------------------------
 * Three levels of coroutines, each embedding its children by value:
 *
 *   root { top { mid { gate a, gate b }, gate g }, countdown c }
 *
 *   mid.out  = a + b
 *   top.out  = mid.out * g
 *   root.out = top.out + c
 * --------------------------------------------------------------------- */
typedef struct mid {
    ar_co co;
    gate a, b;
    int entered;     /* times the code before the first await ran */
    int after_a;     /* times the code between the awaits ran */
    int out;
} mid;

static ar_poll mid_poll(void *p, ar_cx *cx)
{
    mid *self = p;
    AR_BEGIN(&self->co);
    self->entered++;
    AR_AWAIT(gate_poll(&self->a, cx));
    self->after_a++;
    AR_AWAIT(gate_poll(&self->b, cx));
    self->out = self->a.out + self->b.out;
    AR_END;
}

typedef struct top {
    ar_co co;
    mid m;
    gate g;
    int out;
} top;

static ar_poll top_poll(void *p, ar_cx *cx)
{
    top *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(mid_poll(&self->m, cx));
    AR_AWAIT(gate_poll(&self->g, cx));
    self->out = self->m.out * self->g.out;
    AR_END;
}

typedef struct root {
    ar_co co;
    top t;
    countdown c;
    int out;
} root;

static ar_poll root_poll(void *p, ar_cx *cx)
{
    root *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(top_poll(&self->t, cx));
    AR_AWAIT(countdown_poll(&self->c, cx));
    self->out = self->t.out + self->c.out;
    AR_END;
}

static void root_init(root *r)
{
    memset(r, 0, sizeof *r);
    r->co = (ar_co)AR_CO_INIT;
    r->t.m.a.value = 3;
    r->t.m.b.value = 4;
    r->t.g.value = 10;
    r->c.value = 5;
    r->c.remaining = 2;
}

Test(coro, nested_awaits_three_levels, .timeout = CORO_TIMEOUT)
{
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);
    root r;
    root_init(&r);

    cr_assert(not(ar_co_done(&r.co)));

    /* Nothing is open: pending all the way up, each level stopped at its
     * first await, and no wake yet (gates wake only when opened). */
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(eq(int, r.t.m.entered, 1));
    cr_assert(eq(int, r.t.m.a.polls, 1));
    cr_assert(eq(int, r.t.m.b.polls, 0));
    cr_assert(eq(int, r.t.g.polls, 0));
    cr_assert(eq(int, w.wakes, 0));
    cr_assert(eq(int, w.refs, 2)); /* gate a holds a clone */
    cr_assert(not(ar_co_done(&r.co)));
    cr_assert(not(ar_co_done(&r.t.co)));
    cr_assert(not(ar_co_done(&r.t.m.co)));

    /* A spurious poll resumes at the same await: no code before it re-runs,
     * and the gate keeps its waker (will_wake) rather than cloning again. */
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(eq(int, r.t.m.entered, 1));
    cr_assert(eq(int, r.t.m.a.polls, 2));
    cr_assert(eq(int, w.refs, 2));

    gate_open(&r.t.m.a);
    cr_assert(eq(int, w.wakes, 1));
    cr_assert(eq(int, w.refs, 1));

    /* mid moves on to b. */
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(eq(int, r.t.m.a.polls, 3));
    cr_assert(eq(int, r.t.m.after_a, 1));
    cr_assert(eq(int, r.t.m.b.polls, 1));
    cr_assert(eq(int, r.t.m.a.out, 3));
    cr_assert(not(ar_co_done(&r.t.m.co)));

    gate_open(&r.t.m.b);
    cr_assert(eq(int, w.wakes, 2));

    /* mid finishes (its output written into it), top moves on to g. */
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(ar_co_done(&r.t.m.co));
    cr_assert(eq(int, r.t.m.out, 7));
    cr_assert(eq(int, r.t.g.polls, 1));
    cr_assert(not(ar_co_done(&r.t.co)));

    /* A finished child is not polled again by its parent. */
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(eq(int, r.t.m.a.polls, 3));
    cr_assert(eq(int, r.t.m.b.polls, 2));
    cr_assert(eq(int, r.t.m.entered, 1));
    cr_assert(eq(int, r.t.m.after_a, 1));
    cr_assert(eq(int, r.t.g.polls, 2));

    gate_open(&r.t.g);
    cr_assert(eq(int, w.wakes, 3));

    /* top finishes; root reaches the countdown, which wakes itself twice. */
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(ar_co_done(&r.t.co));
    cr_assert(eq(int, r.t.out, 70));
    cr_assert(eq(int, w.wakes, 4));
    cr_assert(eq(int, root_poll(&r, &cx), AR_PENDING));
    cr_assert(eq(int, w.wakes, 5));
    cr_assert(not(ar_co_done(&r.co)));

    cr_assert(eq(int, root_poll(&r, &cx), AR_READY));
    cr_assert(ar_co_done(&r.co));
    cr_assert(eq(int, r.out, 75));
    cr_assert(eq(int, r.c.polls, 3));
    cr_assert(eq(int, w.wakes, 5));
    /* Every clone was released. */
    cr_assert(eq(int, w.refs, 1));
}

/* Children that are ready at once: the whole tree finishes in one poll
 * without a single wake. */
Test(coro, ready_children_finish_in_one_poll, .timeout = CORO_TIMEOUT)
{
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);
    root r;
    root_init(&r);
    r.t.m.a.open = r.t.m.b.open = r.t.g.open = true;
    r.c.remaining = 0;

    cr_assert(eq(int, root_poll(&r, &cx), AR_READY));
    cr_assert(eq(int, r.out, 75));
    cr_assert(ar_co_done(&r.co));
    cr_assert(ar_co_done(&r.t.co));
    cr_assert(ar_co_done(&r.t.m.co));
    cr_assert(eq(int, w.wakes, 0));
    cr_assert(eq(int, w.refs, 1));
}

/* ------------------------------------------------------------------------
 * Many resume points in one function: a loop with an AR_YIELD and an
 * AR_AWAIT of a child re-initialised each round, plus straight-line awaits
 * before and after; a trace records which code ran, in order.
 * --------------------------------------------------------------------- */
typedef struct looper {
    ar_co co;
    int n;
    int i; /* loop counter: lives in the struct, not on the stack */
    countdown c;
    gate g;
    long sum;
    char trace[512];
    int ntrace;
    int yields_resumed;
} looper;

static void tr(looper *l, char c)
{
    if (l->ntrace < (int)sizeof l->trace - 1)
        l->trace[l->ntrace++] = c;
}

static ar_poll looper_poll(void *p, ar_cx *cx)
{
    looper *self = p;
    AR_BEGIN(&self->co);
    tr(self, 'S');
    AR_YIELD(cx);
    tr(self, 'Y');
    for (self->i = 0; self->i < self->n; self->i++) {
        self->c = (countdown){.remaining = self->i % 3, .value = self->i * 10};
        AR_AWAIT(countdown_poll(&self->c, cx));
        self->sum += self->c.out;
        tr(self, (char)('0' + self->i % 10));
        AR_YIELD(cx);
        self->yields_resumed++;
    }
    tr(self, 'G');
    AR_AWAIT(gate_poll(&self->g, cx));
    tr(self, 'E');
    self->sum += self->g.out;
    AR_END;
}

Test(coro, loop_with_await_and_yield, .timeout = CORO_TIMEOUT)
{
    enum { N = 50 };
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);
    looper l;
    memset(&l, 0, sizeof l);
    l.n = N;
    l.g.value = 1000;

    int pendings = 0;
    ar_poll r;
    while ((r = looper_poll(&l, &cx)) == AR_PENDING) {
        pendings++;
        if (l.g.polls > 0)
            break; /* parked on the gate */
        cr_assert(lt(int, pendings, 10000), "coroutine does not make progress");
    }
    cr_assert(eq(int, r, AR_PENDING));
    cr_assert(not(ar_co_done(&l.co)));

    /* Expected pendings: 1 leading yield, per round i%3 countdown pendings
     * and one yield, then the gate. */
    int expect = 1;
    long expect_sum = 0;
    for (int i = 0; i < N; i++) {
        expect += i % 3 + 1;
        expect_sum += i * 10;
    }
    expect += 1; /* the gate */
    cr_assert(eq(int, pendings, expect));
    /* Every pending except the gate's woke the task exactly once. */
    cr_assert(eq(int, w.wakes, expect - 1));
    cr_assert(eq(int, l.yields_resumed, N));
    cr_assert(eq(long, l.sum, expect_sum));
    cr_assert(eq(int, l.i, N));

    gate_open(&l.g);
    cr_assert(eq(int, w.wakes, expect));
    cr_assert(eq(int, looper_poll(&l, &cx), AR_READY));
    cr_assert(ar_co_done(&l.co));
    cr_assert(eq(long, l.sum, expect_sum + 1000));

    char want[512];
    int k = 0;
    want[k++] = 'S';
    want[k++] = 'Y';
    for (int i = 0; i < N; i++)
        want[k++] = (char)('0' + i % 10);
    want[k++] = 'G';
    want[k++] = 'E';
    want[k] = '\0';
    l.trace[l.ntrace] = '\0';
    cr_assert(eq(str, l.trace, want));
    cr_assert(eq(int, w.refs, 1));
}

/* ------------------------------------------------------------------------
 * AR_RETURN: early exit after an await; the rest of the body never runs.
 * --------------------------------------------------------------------- */
typedef struct early {
    ar_co co;
    gate first;
    gate second;
    bool bail;
    bool reached_end;
    int out;
} early;

static ar_poll early_poll(void *p, ar_cx *cx)
{
    early *self = p;
    AR_BEGIN(&self->co);
    AR_AWAIT(gate_poll(&self->first, cx));
    if (self->bail) {
        self->out = -self->first.out;
        AR_RETURN();
    }
    AR_AWAIT(gate_poll(&self->second, cx));
    self->reached_end = true;
    self->out = self->first.out + self->second.out;
    AR_END;
}

Test(coro, ar_return_exits_early, .timeout = CORO_TIMEOUT)
{
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);
    early e;
    memset(&e, 0, sizeof e);
    e.first.value = 8;
    e.second.value = 9;
    e.bail = true;

    cr_assert(eq(int, early_poll(&e, &cx), AR_PENDING));
    cr_assert(not(ar_co_done(&e.co)));
    gate_open(&e.first);
    cr_assert(eq(int, early_poll(&e, &cx), AR_READY));
    cr_assert(ar_co_done(&e.co));
    cr_assert(eq(int, e.out, -8));
    cr_assert(not(e.reached_end));
    cr_assert(eq(int, e.second.polls, 0));
    cr_assert(eq(int, w.refs, 1));
}

Test(coro, no_early_return_runs_to_end, .timeout = CORO_TIMEOUT)
{
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);
    early e;
    memset(&e, 0, sizeof e);
    e.first.value = 8;
    e.second.value = 9;
    e.first.open = true;

    cr_assert(eq(int, early_poll(&e, &cx), AR_PENDING));
    cr_assert(eq(int, e.second.polls, 1));
    gate_open(&e.second);
    cr_assert(eq(int, early_poll(&e, &cx), AR_READY));
    cr_assert(e.reached_end);
    cr_assert(eq(int, e.out, 17));
}

/* AR_RETURN as the very first statement: ready on the first poll. */
typedef struct immediate {
    ar_co co;
    int out;
} immediate;

static ar_poll immediate_poll(void *p, ar_cx *cx)
{
    immediate *self = p;
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = 42;
    AR_RETURN();
    self->out = -1; /* never reached */
    AR_END;
}

/* ------------------------------------------------------------------------
 * ar_co_done and restarting by re-initialising.
 * --------------------------------------------------------------------- */
Test(coro, co_done_states_and_reinit, .timeout = CORO_TIMEOUT)
{
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);

    immediate im = {.co = AR_CO_INIT};
    cr_assert(not(ar_co_done(&im.co)));
    cr_assert(eq(u32, im.co.line, 0));
    cr_assert(eq(int, immediate_poll(&im, &cx), AR_READY));
    cr_assert(eq(int, im.out, 42));
    cr_assert(ar_co_done(&im.co));

    /* A finished future is started over by re-initialising it. */
    im = (immediate){.co = AR_CO_INIT};
    cr_assert(not(ar_co_done(&im.co)));
    cr_assert(eq(int, immediate_poll(&im, &cx), AR_READY));
    cr_assert(eq(int, im.out, 42));

    /* Pending: the resume point is some line, not "done". */
    early e;
    memset(&e, 0, sizeof e);
    cr_assert(eq(int, early_poll(&e, &cx), AR_PENDING));
    cr_assert(ne(u32, e.co.line, 0));
    cr_assert(not(ar_co_done(&e.co)));
    ar_waker_drop(e.first.w); /* release the gate's clone */
    cr_assert(eq(int, w.refs, 1));
    cr_assert(eq(int, w.wakes, 0));
}

/* ------------------------------------------------------------------------
 * Polling a finished coroutine (debug builds only).
 * --------------------------------------------------------------------- */
#ifndef NDEBUG
Test(coro, poll_after_done_aborts, .timeout = CORO_TIMEOUT, .signal = SIGABRT)
{
    count_waker w;
    ar_cx cx;
    cx_init(&cx, &w);
    immediate im = {.co = AR_CO_INIT};
    cr_assert(eq(int, immediate_poll(&im, &cx), AR_READY));
    immediate_poll(&im, &cx); /* aborts */
}

/* The same through a nested parent: the finished child is the parent's
 * business, but polling the finished parent names the parent. */
Test(coro, poll_after_done_message_names_function, .timeout = CORO_TIMEOUT)
{
    int fds[2];
    cr_assert(eq(int, pipe(fds), 0));
    pid_t pid = fork();
    cr_assert(ge(int, pid, 0));
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        count_waker w;
        ar_cx cx;
        cx_init(&cx, &w);
        root r;
        root_init(&r);
        r.t.m.a.open = r.t.m.b.open = r.t.g.open = true;
        r.c.remaining = 0;
        if (root_poll(&r, &cx) != AR_READY)
            _exit(3);
        root_poll(&r, &cx); /* must abort */
        _exit(4);
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    cr_assert(eq(int, waitpid(pid, &status, 0), pid));
    bool signaled = WIFSIGNALED(status);
    cr_assert(signaled, "child exited normally (status %d), stderr: %s",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, buf);
    int sig = WTERMSIG(status);
    cr_assert(eq(int, sig, SIGABRT));
    cr_assert(not(eq(ptr, strstr(buf, "root_poll"), NULL)),
              "message does not name the function: %s", buf);
    cr_assert(not(eq(ptr, strstr(buf, "test_coro.c"), NULL)),
              "message does not name the file: %s", buf);
}
#else
Test(coro, poll_after_done_unchecked_in_release, .timeout = CORO_TIMEOUT)
{
    cr_skip_test("NDEBUG build: polling a finished future is not checked");
}
#endif
