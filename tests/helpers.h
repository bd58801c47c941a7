/*
 * tests/helpers.h - shared scaffolding of the runtime tests (test_task,
 * test_join, test_executor, test_current_thread, test_oneshot, test_notify,
 * test_bad_input).
 *
 *   T_N(n)         iteration count scaled down under ASan / TSan (the
 *                  machines have 2 cores; every test must stay well under
 *                  its timeout in the sanitizer builds).
 *   T_OK(expr)     expr returns 0; prints the errno text otherwise.
 *   T_EQ_INT(a,b)  integer equality printing both operands.
 *   T_WAIT_UNTIL   spin (with short sleeps) until a condition holds, failing
 *                  the test with the condition's text after T_WAIT_S.
 *   t_waker        a user waker object counting wakes, clones and drops, for
 *                  polling futures by hand from the test thread.
 *   t_rt_new       a runtime of the given flavour and worker count.
 *   t_count_fds    open descriptors of the process (leak checks).
 *   t_blocker      a task that occupies a worker until released (or until
 *                  the runtime shuts down), to keep other tasks queued.
 *
 * Tests link the static library with runtime/ on the include path, so the
 * internal headers (task state word, runtime object) are reachable.
 */
#ifndef AR_TESTS_HELPERS_H
#define AR_TESTS_HELPERS_H

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <asyncrt.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt.h"
#include "state.h"
#include "task.h"

#if defined(__SANITIZE_THREAD__)
#define T_SCALE_DIV 2
#define T_SANITIZED 1
#elif defined(__SANITIZE_ADDRESS__)
#define T_SCALE_DIV 2
#define T_SANITIZED 1
#else
#define T_SCALE_DIV 1
#define T_SANITIZED 0
#endif

/* Sanitizer glue for Criterion itself (ASan runner leaks, TSan rand_r). */
#include "criterion_glue.h"

/* n scaled for the sanitizer builds, never below 1. */
#define T_N(n) ((n) / T_SCALE_DIV > 0 ? (n) / T_SCALE_DIV : 1)

/* Seconds a T_WAIT_UNTIL waits before failing. */
#define T_WAIT_S 15

#define T_OK(expr)                                                               \
    do {                                                                         \
        int t_rc_ = (expr);                                                      \
        cr_assert(eq(int, t_rc_, 0), "%s failed: %s", #expr, ar_strerror(t_rc_)); \
    } while (0)

#define T_EQ_INT(a, b) cr_assert(eq(llong, (long long)(a), (long long)(b)), "%s == %s", #a, #b)
#define T_EQ_U64(a, b)                                                           \
    cr_assert(eq(ullong, (unsigned long long)(a), (unsigned long long)(b)), "%s == %s", #a, #b)

/* Wrap plain conditions given to cr_assert: the new assertion API pastes
 * the first token of its argument, which must be an identifier. */
static inline bool t_is(bool b) { return b; }

static inline double t_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void t_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Spin until cond holds; fail the test with its text after T_WAIT_S. */
#define T_WAIT_UNTIL(cond)                                                       \
    do {                                                                         \
        double t_deadline_ = t_now_s() + T_WAIT_S;                               \
        unsigned t_spins_ = 0;                                                   \
        while (!(cond)) {                                                        \
            if (t_now_s() > t_deadline_)                                         \
                cr_fatal("timed out waiting for: %s", #cond);              \
            if (++t_spins_ < 100)                                                \
                sched_yield();                                                   \
            else                                                                 \
                t_sleep_ms(1);                                                   \
        }                                                                        \
    } while (0)

/* ------------------------------------------------------------------------
 * Checks from tasks and plain threads.  Criterion's assertions may only run
 * on the test's own thread (they longjmp out of the test), so code running
 * on workers or helper threads records failures here and the test thread
 * calls T_BG_ASSERT_CLEAN() at the end.  Each test is its own process.
 * --------------------------------------------------------------------- */
static _Atomic int t_bg_failures;
static char t_bg_first[512];

static inline void t_bg_fail(const char *file, int line, const char *what, long long a,
                             long long b)
{
    if (atomic_fetch_add(&t_bg_failures, 1) == 0)
        snprintf(t_bg_first, sizeof t_bg_first, "%s:%d: %s (%lld vs %lld)", file, line, what, a,
                 b);
}

#define T_BG_CHECK(cond)                                                         \
    do {                                                                         \
        if (!(cond))                                                             \
            t_bg_fail(__FILE__, __LINE__, #cond, 0, 0);                          \
    } while (0)

#define T_BG_EQ(a, b)                                                            \
    do {                                                                         \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                  \
        if (t_a_ != t_b_)                                                        \
            t_bg_fail(__FILE__, __LINE__, #a " == " #b, t_a_, t_b_);             \
    } while (0)

#define T_BG_ASSERT_CLEAN()                                                      \
    cr_assert(eq(int, atomic_load(&t_bg_failures), 0), "first failure: %s", t_bg_first)

/* ------------------------------------------------------------------------
 * Counting waker
 * --------------------------------------------------------------------- */
typedef struct t_waker {
    ar_waker_obj obj;
    _Atomic int wakes;  /* wake_by_ref calls (wake by value counts here too) */
    _Atomic int clones;
    _Atomic int drops;
} t_waker;

static inline void t_waker_wake_by_ref(ar_waker_obj *o)
{
    atomic_fetch_add(&((t_waker *)o)->wakes, 1);
}
static inline void t_waker_clone(ar_waker_obj *o) { atomic_fetch_add(&((t_waker *)o)->clones, 1); }
static inline void t_waker_drop(ar_waker_obj *o) { atomic_fetch_add(&((t_waker *)o)->drops, 1); }

static const ar_waker_vtable t_waker_vt = {t_waker_wake_by_ref, t_waker_clone, t_waker_drop};

static inline void t_waker_init(t_waker *w)
{
    w->obj.vt = &t_waker_vt;
    atomic_init(&w->wakes, 0);
    atomic_init(&w->clones, 0);
    atomic_init(&w->drops, 0);
}

static inline ar_waker t_waker_get(t_waker *w) { return ar_waker_from_obj(&w->obj); }

/* References the library still holds on w (clones not yet dropped). */
static inline int t_waker_held(t_waker *w)
{
    return atomic_load(&w->clones) - atomic_load(&w->drops);
}

/* A context for polling by hand with waker w. */
static inline ar_cx t_cx(t_waker *w)
{
    ar_cx cx = {.waker = t_waker_get(w), .budget = AR_COOP_BUDGET, .worker = NULL};
    return cx;
}

/* ------------------------------------------------------------------------
 * Runtimes
 * --------------------------------------------------------------------- */
static inline ar_rt *t_rt_new(ar_rt_flavor flavor, uint32_t workers)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.flavor = flavor;
    o.workers = workers;
    ar_rt *rt = NULL;
    int rc = ar_rt_new(&rt, &o);
    cr_assert(eq(int, rc, 0), "ar_rt_new(workers=%u): %s", workers, ar_strerror(rc));
    cr_assert(ne(ptr, rt, NULL));
    return rt;
}

static inline ar_rt *t_rt_mt(uint32_t workers) { return t_rt_new(AR_RT_MULTI_THREAD, workers); }

/* Open descriptors of this process (entries of /proc/self/fd), for the
 * "no descriptor leaked" checks: count before and after. */
static inline int t_count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - (d != NULL); /* opendir's own descriptor was counted */
}

static inline uint32_t t_state(const ar_join *h)
{
    return atomic_load_explicit(&h->task->state, memory_order_acquire);
}

/* ------------------------------------------------------------------------
 * Blocker: occupies the worker that polls it until `release` is set or the
 * runtime shuts down; then finishes.
 * --------------------------------------------------------------------- */
typedef struct t_block_ctl {
    _Atomic int running; /* the blocker is inside its poll */
    _Atomic int release;
    _Atomic int done;
    ar_rt *rt;
} t_block_ctl;

typedef struct t_blocker {
    t_block_ctl *ctl;
} t_blocker;

static inline ar_poll t_blocker_poll(void *p, ar_cx *cx)
{
    (void)cx;
    t_block_ctl *c = ((t_blocker *)p)->ctl;
    atomic_store(&c->running, 1);
    while (!atomic_load(&c->release) &&
           !(c->rt && atomic_load_explicit(&c->rt->shutdown, memory_order_acquire)))
        sched_yield();
    atomic_store(&c->running, 0);
    atomic_store(&c->done, 1);
    return AR_READY;
}

static const ar_future_vt t_blocker_vt = AR_FUTURE_VT_VOID(t_blocker, t_blocker_poll, NULL);

/* Spawn a blocker on rt and wait until a worker is inside it. */
static inline void t_block_worker(ar_rt *rt, t_block_ctl *c, ar_join *h)
{
    memset(c, 0, sizeof *c);
    c->rt = rt;
    t_blocker b = {c};
    T_OK(ar_spawn(rt, &t_blocker_vt, &b, h));
    T_WAIT_UNTIL(atomic_load(&c->running));
}

/* ------------------------------------------------------------------------
 * A trivial task computing in * 3 + 1, to prove a runtime is still usable.
 * --------------------------------------------------------------------- */
typedef struct t_calc {
    int in;
    int out;
} t_calc;

static inline ar_poll t_calc_poll(void *p, ar_cx *cx)
{
    (void)cx;
    t_calc *c = p;
    c->out = c->in * 3 + 1;
    return AR_READY;
}

static const ar_future_vt t_calc_vt = AR_FUTURE_VT(t_calc, t_calc_poll, NULL, out);

/* Spawn and join a t_calc on rt from a plain thread. */
static inline void t_assert_rt_usable(ar_rt *rt)
{
    t_calc c = {.in = 14};
    ar_join h;
    T_OK(ar_spawn(rt, &t_calc_vt, &c, &h));
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 43);
}

/* Start a plain thread or fail the test. */
static inline pthread_t t_thread(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    int rc = pthread_create(&th, NULL, fn, arg);
    cr_assert(eq(int, rc, 0), "pthread_create: %s", strerror(rc));
    return th;
}

#endif
