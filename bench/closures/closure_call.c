/*
 * bench/closures/closure_call.c - what calling an async closure costs over
 * polling the same body as a plain future.
 *
 * Workloads (unit: ns per call; each line is the mean over CALLS calls, the
 * runner takes medians over iterations):
 *   closure_call_plain         a plain future holding a pointer to the same
 *                              environment: set it up in its parent's frame,
 *                              poll it to completion, read the output
 *   closure_call_once          AR_CLOSURE_NEW + ar_call_once (value future,
 *                              environment moved in) + poll
 *   closure_call_mut           ar_call_mut (exclusive borrow) + poll
 *                              (the borrow is given back at completion)
 *   closure_call_fn            ar_call (shared borrow) + poll
 *   closure_call_atomic_floor  not a call: one compare-and-swap and one store
 *                              on a word, the least any checked exclusive
 *                              borrow costs on this machine (reference)
 *   closure_call_fn_contended  closure_call_fn on --threads workers at once,
 *                              all calling the same closure (its counter
 *                              word bounces between the cores); the mean of
 *                              the workers' ns per call
 * The body is the same for all (output = captured k + argument, ready at
 * once), so the differences are the call machinery: the borrow CAS and its
 * release, the header, the moved environment.  No call allocates.
 *
 * Every future lives in memory (a parent's frame) and a compiler barrier
 * separates iterations, so the compiler can neither keep the future in
 * registers nor merge iterations; plain and closure paths get the same
 * treatment.  Usage: bench_closure_call [--threads N] [--iters K] [--warmup W]
 */
#include <stdatomic.h>

#include "../bench_common.h"

#define CALLS 1000000

static inline void barrier(void) { __asm__ __volatile__("" ::: "memory"); }

/* ------------------------------------------------------------------------
 * The body, as a plain future and as closures of each kind.
 * --------------------------------------------------------------------- */
typedef struct k_env {
    int k;
} k_env;

typedef struct plain_fut {
    ar_co co;
    const k_env *env;
    int arg;
    int out;
} plain_fut;

static ar_poll plain_poll(void *p, ar_cx *cx)
{
    (void)cx;
    plain_fut *self = p;
    AR_BEGIN(&self->co);
    self->out = self->env->k + self->arg;
    AR_END;
}

typedef struct k_frame {
    ar_co co;
    int arg;
    int out;
} k_frame;

AR_CLOSURE(k_once, AR_ONCE, k_env, k_frame, k_once_body, NULL, NULL);
AR_CLOSURE(k_mut, AR_MUT, k_env, k_frame, k_mut_body, NULL, NULL);
AR_CLOSURE(k_fn, AR_FN, k_env, k_frame, k_fn_body, NULL, NULL);

static ar_poll k_once_body(k_env *env, k_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = env->k + self->arg;
    AR_END;
}

static ar_poll k_mut_body(k_env *env, k_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = env->k + self->arg;
    AR_END;
}

static ar_poll k_fn_body(const k_env *env, k_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = env->k + self->arg;
    AR_END;
}

static void fail(const char *what, int rc)
{
    fprintf(stderr, "bench_closure_call: %s: %s\n%s", what, ar_strerror(rc),
            ar_borrow_last_error() ? ar_borrow_last_error()->text : "");
    exit(1);
}

/* A parent's frame: where the futures live. */
typedef struct frame {
    plain_fut plain;
    k_once once;
    k_once_val_fut once_fut;
    k_mut mut;
    k_mut_ref_fut mut_fut;
    k_fn_ref_fut fn_fut;
} frame;

static volatile long sink;

static double run_plain(frame *f, const k_env *env)
{
    ar_cx cx = {0};
    long acc = 0;
    double t0 = bench_now_ns();
    for (int i = 0; i < CALLS; i++) {
        f->plain = (plain_fut){.env = env, .arg = i};
        barrier();
        while (plain_poll(&f->plain, &cx) == AR_PENDING) {
        }
        acc += f->plain.out;
        barrier();
    }
    double t1 = bench_now_ns();
    sink = acc;
    return (t1 - t0) / CALLS;
}

static double run_once(frame *f)
{
    ar_cx cx = {0};
    long acc = 0;
    double t0 = bench_now_ns();
    for (int i = 0; i < CALLS; i++) {
        f->once = AR_CLOSURE_NEW(k_once, {3});
        int rc = ar_call_once(&f->once, &f->once_fut, i);
        if (AR__UNLIKELY(rc))
            fail("ar_call_once", rc);
        barrier();
        while (k_once_poll(&f->once_fut, &cx) == AR_PENDING) {
        }
        acc += f->once_fut.frame.out;
        barrier();
    }
    double t1 = bench_now_ns();
    sink = acc;
    return (t1 - t0) / CALLS;
}

static double run_mut(frame *f)
{
    ar_cx cx = {0};
    long acc = 0;
    double t0 = bench_now_ns();
    for (int i = 0; i < CALLS; i++) {
        int rc = ar_call_mut(&f->mut, &f->mut_fut, i);
        if (AR__UNLIKELY(rc))
            fail("ar_call_mut", rc);
        barrier();
        while (k_mut_poll(&f->mut_fut, &cx) == AR_PENDING) {
        }
        acc += f->mut_fut.frame.out;
        barrier();
    }
    double t1 = bench_now_ns();
    sink = acc;
    return (t1 - t0) / CALLS;
}

static double run_fn(k_fn *c, k_fn_ref_fut *fut)
{
    ar_cx cx = {0};
    long acc = 0;
    double t0 = bench_now_ns();
    for (int i = 0; i < CALLS; i++) {
        int rc = ar_call(c, fut, i);
        if (AR__UNLIKELY(rc))
            fail("ar_call", rc);
        barrier();
        while (k_fn_poll(fut, &cx) == AR_PENDING) {
        }
        acc += fut->frame.out;
        barrier();
    }
    double t1 = bench_now_ns();
    sink = acc;
    return (t1 - t0) / CALLS;
}

/* The floor: a CAS and a release store, as a MUT call's borrow and give-back
 * do, with nothing else. */
static double run_floor(void)
{
    static uint64_t word;
    double t0 = bench_now_ns();
    for (int i = 0; i < CALLS; i++) {
        uint64_t w = 0;
        if (AR__UNLIKELY(!__atomic_compare_exchange_n(&word, &w, (uint64_t)i | 1, false,
                                                      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
            fail("floor", -EBUSY);
        barrier();
        __atomic_store_n(&word, 0, __ATOMIC_RELEASE);
        barrier();
    }
    return (bench_now_ns() - t0) / CALLS;
}

/* ------------------------------------------------------------------------
 * Contended: one task per worker, all calling the same FN closure.
 * --------------------------------------------------------------------- */
typedef struct contend_ctl {
    k_fn *c;
    unsigned n;
    _Atomic unsigned ready;
} contend_ctl;

typedef struct contender {
    contend_ctl *ctl;
    k_fn_ref_fut fut; /* this task's own future, in its own task block */
    double out;       /* ns per call */
} contender;

static ar_poll contender_poll(void *p, ar_cx *cx)
{
    (void)cx;
    contender *self = p;
    /* Start together: each worker spins until all are here (one poll, no
     * yield: the workers are dedicated to this for the measurement). */
    atomic_fetch_add(&self->ctl->ready, 1);
    while (atomic_load(&self->ctl->ready) < self->ctl->n) {
    }
    self->out = run_fn(self->ctl->c, &self->fut);
    return AR_READY;
}

static const ar_future_vt contender_vt = AR_FUTURE_VT(contender, contender_poll, NULL, out);

static double run_contended(ar_rt *rt, k_fn *c, unsigned threads)
{
    contend_ctl ctl = {.c = c, .n = threads};
    ar_join h[64];
    for (unsigned i = 0; i < threads; i++) {
        contender t = {.ctl = &ctl};
        BENCH_CHECK(ar_spawn(rt, &contender_vt, &t, &h[i]));
    }
    double sum = 0;
    for (unsigned i = 0; i < threads; i++) {
        double ns = 0;
        BENCH_CHECK(ar_join_wait(&h[i], &ns, sizeof ns));
        sum += ns;
    }
    return sum / threads;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    bench_args a;
    bench_parse(argc, argv, &a, 50);
    if (a.threads > 64)
        a.threads = 64;
    ar_rt *rt = bench_rt(a.threads);
    static frame f;
    static const k_env env = {3};
    f.mut = AR_CLOSURE_NEW(k_mut, {3});
    static k_fn fn;
    fn = AR_CLOSURE_NEW(k_fn, {3});

    double *m[6];
    for (int k = 0; k < 6; k++) {
        m[k] = calloc(a.iters, sizeof(double));
        if (!m[k])
            return 1;
    }
    for (unsigned i = 0; i < a.warmup + a.iters; i++) {
        double v[6];
        v[0] = run_plain(&f, &env);
        v[1] = run_once(&f);
        v[2] = run_mut(&f);
        v[3] = run_fn(&fn, &f.fn_fut);
        v[4] = run_contended(rt, &fn, a.threads);
        v[5] = run_floor();
        if (i < a.warmup)
            continue;
        bench_print("closure_call_plain", 1, v[0], "ns/call");
        bench_print("closure_call_once", 1, v[1], "ns/call");
        bench_print("closure_call_mut", 1, v[2], "ns/call");
        bench_print("closure_call_fn", 1, v[3], "ns/call");
        bench_print("closure_call_fn_contended", a.threads, v[4], "ns/call");
        bench_print("closure_call_atomic_floor", 1, v[5], "ns/call");
        for (int k = 0; k < 6; k++)
            m[k][i - a.warmup] = v[k];
    }
    double med[6];
    for (int k = 0; k < 6; k++)
        med[k] = median(m[k], a.iters);
    fprintf(stderr,
            "medians over %u iterations (ns/call): plain %.2f, once %.2f (+%.2f), mut %.2f "
            "(+%.2f), fn %.2f (+%.2f), fn contended on %u workers %.2f (+%.2f); one CAS + "
            "store alone %.2f\n",
            a.iters, med[0], med[1], med[1] - med[0], med[2], med[2] - med[0], med[3],
            med[3] - med[0], a.threads, med[4], med[4] - med[0], med[5]);
    uint32_t n = 1;
    if (ar_borrow_inspect(&fn.base.borrow, &n, NULL) != AR_BORROW_FREE ||
        ar_closure_drop(&fn.base) || ar_closure_drop(&f.mut.base)) {
        fprintf(stderr, "bench_closure_call: a borrow was not given back\n");
        return 1;
    }
    for (int k = 0; k < 6; k++)
        free(m[k]);
    ar_rt_free(rt);
    return 0;
}
