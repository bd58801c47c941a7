/*
 * tests/closures/test_closure.c - async closures: which calls each kind
 * allows, the borrow each call holds and when it is given back, value
 * versus reference futures, drops (of calls and of closures) and what they
 * free, calls embedded in a parent coroutine, spawned calls (and undoing a
 * spawn that failed), type-erased calls through ar_closure *, and every
 * bad input: never a crash, never a freed environment still borrowed.
 */
#include "closure_helpers.h"
#include "nap.h"

static _Atomic int g_frame_drops, g_env_drops;

/* ------------------------------------------------------------------------
 * adder: AR_MUT, adds its argument to a running total it captures.
 * --------------------------------------------------------------------- */
typedef struct adder_env {
    int total;
} adder_env;

typedef struct adder_frame {
    ar_co co;
    int arg;
    nap n;
    int out;
} adder_frame;

static void adder_frame_drop(adder_frame *f)
{
    nap_drop(&f->n);
    atomic_fetch_add(&g_frame_drops, 1);
}

static void adder_env_drop(adder_env *e)
{
    (void)e;
    atomic_fetch_add(&g_env_drops, 1);
}

AR_CLOSURE(adder, AR_MUT, adder_env, adder_frame, adder_body, adder_frame_drop, adder_env_drop);

static ar_poll adder_body(adder_env *env, adder_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->n, 1);
    AR_AWAIT(nap_poll(&self->n, cx));
    env->total += self->arg;
    self->out = env->total;
    AR_END;
}

/* ------------------------------------------------------------------------
 * reader: AR_FN, reads a base it captured by value.
 * --------------------------------------------------------------------- */
typedef struct reader_env {
    int base;
} reader_env;

typedef struct reader_frame {
    ar_co co;
    int arg;
    nap n;
    int out;
} reader_frame;

static void reader_frame_drop(reader_frame *f) { nap_drop(&f->n); }

AR_CLOSURE(reader, AR_FN, reader_env, reader_frame, reader_body, reader_frame_drop, NULL);

static ar_poll reader_body(const reader_env *env, reader_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->n, 1);
    AR_AWAIT(nap_poll(&self->n, cx));
    self->out = env->base + self->arg;
    AR_END;
}

/* ------------------------------------------------------------------------
 * consumer: AR_ONCE, consumes (frees) the string it owns.
 * --------------------------------------------------------------------- */
typedef struct consumer_env {
    char *s; /* owned; taken (NULL) by the body */
} consumer_env;

typedef struct consumer_frame {
    ar_co co;
    int arg;
    nap n;
    int out;
} consumer_frame;

static void consumer_env_drop(consumer_env *e)
{
    free(e->s);
    e->s = NULL;
    atomic_fetch_add(&g_env_drops, 1);
}

static void consumer_frame_drop(consumer_frame *f) { nap_drop(&f->n); }

AR_CLOSURE(consumer, AR_ONCE, consumer_env, consumer_frame, consumer_body, consumer_frame_drop,
           consumer_env_drop);

static ar_poll consumer_body(consumer_env *env, consumer_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->n, 1);
    AR_AWAIT(nap_poll(&self->n, cx));
    self->out = (int)strlen(env->s) + self->arg;
    free(env->s); /* drop(last_word) */
    env->s = NULL;
    AR_END;
}

static consumer new_consumer(const char *s)
{
    consumer c = AR_CLOSURE_NEW(consumer, {strdup(s)});
    return c;
}

/* ------------------------------------------------------------------------
 * gated: AR_FN, pending until the test opens its gate.
 * --------------------------------------------------------------------- */
typedef struct gated_env {
    _Atomic int *open;
    _Atomic int *started;
} gated_env;

typedef struct gated_frame {
    ar_co co;
    int arg;
    ar_yield_now y;
    int out;
} gated_frame;

AR_CLOSURE(gated, AR_FN, gated_env, gated_frame, gated_body, NULL, NULL);

static ar_poll gated_body(const gated_env *env, gated_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    atomic_fetch_add(env->started, 1);
    while (!atomic_load(env->open))
        AR_AWAIT(ar_yield_now_poll(&self->y, cx));
    self->out = self->arg * 2;
    AR_END;
}

static void reset_counts(void)
{
    atomic_store(&g_frame_drops, 0);
    atomic_store(&g_env_drops, 0);
}

/* ------------------------------------------------------------------------
 * Kinds
 * --------------------------------------------------------------------- */
Test(closure, kinds_allow_what_rusts_traits_allow, .timeout = 10)
{
    consumer once = new_consumer("abc");
    adder mut = AR_CLOSURE_NEW(adder, {0});
    reader fn = AR_CLOSURE_NEW(reader, {100});
    consumer_ref_fut cr;
    adder_ref_fut ar;
    reader_ref_fut rr;

    cr_assert(eq(int, ar_closure_kind(&once.base), AR_ONCE));
    cr_assert(eq(int, ar_closure_kind(&mut.base), AR_MUT));
    cr_assert(eq(int, ar_closure_kind(&fn.base), AR_FN));

    /* ONCE: no call by reference (E0507, as in the seed's greeter). */
    T_EQ_INT(ar_call_mut(&once, &cr, 1), AR_EKIND);
    T_DIAG("E0507", "cannot move out of the captures of `consumer`, which are behind a mutable "
                    "reference");
    T_DIAG("E0507", "closure defined AR_ONCE (AsyncFnOnce) here");
    T_EQ_INT(ar_call(&once, &cr, 1), AR_EKIND);
    T_DIAG("E0507", "behind a shared reference");
    T_EQ_INT(ar_call_result(&cr), AR_EKIND);
    cr_assert(eq(int, ar_borrow_inspect(&once.base.borrow, NULL, NULL), AR_BORROW_FREE));

    /* MUT: no shared call (E0525). */
    T_EQ_INT(ar_call(&mut, &ar, 1), AR_EKIND);
    T_DIAG("E0525", "expected a closure that implements `AsyncFn`, but `adder` only implements "
                    "`AsyncFnMut`");

    /* FN: call_mut is call, and shares. */
    reader_ref_fut rr2;
    T_OK(ar_call_mut(&fn, &rr, 1));
    T_OK(ar_call_mut(&fn, &rr2, 2));
    T_EQ_INT(t_shared_count(&fn.base.borrow), 2);
    t_drive(reader_poll, &rr, 10);
    t_drive(reader_poll, &rr2, 10);
    T_EQ_INT(rr.frame.out + rr2.frame.out, 203);
    cr_assert(eq(int, ar_borrow_inspect(&fn.base.borrow, NULL, NULL), AR_BORROW_FREE));

    T_OK(ar_closure_drop(&once.base));
    T_OK(ar_closure_drop(&mut.base));
    T_OK(ar_closure_drop(&fn.base));
}

Test(closure, future_sizes, .timeout = 10)
{
    consumer once = new_consumer("x");
    adder mut = AR_CLOSURE_NEW(adder, {0});
    T_EQ_INT(ar_closure_future_size(&once.base, AR_ONCE), sizeof(consumer_val_fut));
    T_EQ_INT(ar_closure_future_size(&once.base, AR_MUT), 0);
    T_EQ_INT(ar_closure_future_size(&mut.base, AR_MUT), sizeof(adder_ref_fut));
    T_EQ_INT(ar_closure_future_size(&mut.base, AR_ONCE), sizeof(adder_val_fut));
    T_EQ_INT(ar_closure_future_size(&mut.base, AR_FN), 0);
    T_EQ_INT(ar_closure_future_size(NULL, AR_MUT), 0);
    T_EQ_INT(ar_closure_future_size(&mut.base, (ar_fn_kind)0), 0);
    ar_closure_drop(&once.base);
}

/* ------------------------------------------------------------------------
 * MUT: exclusive until the future completes or is dropped
 * --------------------------------------------------------------------- */
Test(closure, call_mut_lends_exclusively_E0499, .timeout = 10)
{
    adder a = AR_CLOSURE_NEW(adder, {0});
    adder_ref_fut f1, f2;
    int line = __LINE__ + 1;
    T_OK(ar_call_mut(&a, &f1, 5));
    cr_assert(eq(int, t_poll1(adder_poll, &f1), AR_PENDING)); /* in flight */
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_EXCLUSIVE));

    T_EQ_INT(ar_call_mut(&a, &f2, 2), AR_EBORROWED);
    T_DIAG("E0499", "cannot borrow `adder` as mutable more than once at a time");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    /* The failed call's future: ready at once, says why, drops as a no-op. */
    T_EQ_INT(ar_call_result(&f2), AR_EBORROWED);
    cr_assert(eq(int, t_poll1(adder_poll, &f2), AR_READY));
    cr_assert(eq(ptr, ar_call_output(&f2), NULL));
    ar_call_drop(&f2);
    T_EQ_INT(a.env.total, 0);

    t_drive(adder_poll, &f1, 10);
    T_EQ_INT(f1.frame.out, 5);
    cr_assert(eq(ptr, ar_call_output(&f1), &f1.frame.out));
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE));

    T_OK(ar_call_mut(&a, &f2, 2));
    t_drive(adder_poll, &f2, 10);
    T_EQ_INT(f2.frame.out, 7);
    T_OK(ar_closure_drop(&a.base));
}

Test(closure, dropping_a_call_gives_the_borrow_back, .timeout = 10)
{
    reset_counts();
    adder a = AR_CLOSURE_NEW(adder, {0});
    adder_ref_fut f;
    T_OK(ar_call_mut(&a, &f, 5));
    ar_call_drop(&f); /* before the first poll */
    T_EQ_INT(atomic_load(&g_frame_drops), 1);
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_OK(ar_call_mut(&a, &f, 5));
    cr_assert(eq(int, t_poll1(adder_poll, &f), AR_PENDING));
    ar_call_drop(&f); /* mid-flight */
    ar_call_drop(&f); /* idempotent */
    T_EQ_INT(atomic_load(&g_frame_drops), 2);
    T_EQ_INT(a.env.total, 0); /* the body never got past its await */
    T_EQ_INT(ar_call_result(&f), 0);
    cr_assert(eq(ptr, ar_call_output(&f), NULL));
    T_OK(ar_call_mut(&a, &f, 1));
    t_drive(adder_poll, &f, 10);
    ar_call_drop(&f); /* after completion: nothing to release */
    T_EQ_INT(atomic_load(&g_frame_drops), 2);
    T_EQ_INT(atomic_load(&g_env_drops), 0);
    T_OK(ar_closure_drop(&a.base));
    T_EQ_INT(atomic_load(&g_env_drops), 1);
}

/* ------------------------------------------------------------------------
 * Dropping closures: E0505 while borrowed, frees nothing
 * --------------------------------------------------------------------- */
Test(closure, drop_while_in_flight_E0505, .timeout = 10)
{
    reset_counts();
    adder a = AR_CLOSURE_NEW(adder, {0});
    adder_ref_fut f;
    int line = __LINE__ + 1;
    T_OK(ar_call_mut(&a, &f, 3));
    cr_assert(eq(int, t_poll1(adder_poll, &f), AR_PENDING));
    T_EQ_INT(ar_closure_drop(&a.base), AR_EBORROWED);
    T_DIAG("E0505", "cannot move out of `adder` because it is borrowed");
    T_DIAG("E0505", "move out of `adder` (drop) occurs here");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_EQ_INT(atomic_load(&g_env_drops), 0); /* nothing freed */
    t_drive(adder_poll, &f, 10);             /* the env is still there */
    T_EQ_INT(f.frame.out, 3);
    T_OK(ar_closure_drop(&a.base));
    T_EQ_INT(atomic_load(&g_env_drops), 1);
    T_OK(ar_closure_drop(&a.base)); /* already dropped: nothing to do */
    T_EQ_INT(atomic_load(&g_env_drops), 1);
    T_EQ_INT(ar_call_mut(&a, &f, 1), AR_EMOVED);
    T_DIAG("E0382", "borrow of moved value: `adder`");
    T_DIAG("E0382", "value moved here");
}

Test(closure, drop_fn_while_shared_calls_live, .timeout = 10)
{
    reader r = AR_CLOSURE_NEW(reader, {1});
    reader_ref_fut f[3];
    for (int i = 0; i < 3; i++)
        T_OK(ar_call(&r, &f[i], i));
    for (int i = 0; i < 3; i++) {
        T_EQ_INT(ar_closure_drop(&r.base), AR_EBORROWED);
        T_DIAG("E0505", "immutable borrow occurs here");
        t_drive(reader_poll, &f[i], 10);
    }
    T_OK(ar_closure_drop(&r.base));
}

/* ------------------------------------------------------------------------
 * ONCE: the value future
 * --------------------------------------------------------------------- */
Test(closure, call_once_moves_the_environment, .timeout = 10)
{
    reset_counts();
    consumer c = new_consumer("last word: ");
    consumer_val_fut f, g;
    int line = __LINE__ + 1;
    T_OK(ar_call_once(&c, &f, 5));
    cr_assert(eq(int, ar_borrow_inspect(&c.base.borrow, NULL, NULL), AR_BORROW_MOVED));
    cr_assert(eq(ptr, f.env.s, c.env.s)); /* moved, not copied deeply */
    t_drive(consumer_poll, &f, 10);
    T_EQ_INT(f.frame.out, 16);
    cr_assert(eq(ptr, f.env.s, NULL));      /* the body consumed it */
    T_EQ_INT(atomic_load(&g_env_drops), 1); /* and the future dropped the rest */

    T_EQ_INT(ar_call_once(&c, &g, 5), AR_EMOVED);
    T_DIAG("E0382", "use of moved value: `consumer`");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_OK(ar_closure_drop(&c.base)); /* moved: its env went with the call */
    T_EQ_INT(atomic_load(&g_env_drops), 1);
}

Test(closure, value_future_dropped_unfinished_drops_env, .timeout = 10)
{
    reset_counts();
    consumer c = new_consumer("abc");
    consumer_val_fut f;
    T_OK(ar_call_once(&c, &f, 0));
    cr_assert(eq(int, t_poll1(consumer_poll, &f), AR_PENDING));
    ar_call_drop(&f);
    T_EQ_INT(atomic_load(&g_env_drops), 1); /* freed the string (ASan: no leak) */
    ar_call_drop(&f);
    T_EQ_INT(atomic_load(&g_env_drops), 1);
}

Test(closure, any_kind_offers_call_once, .timeout = 10)
{
    adder a = AR_CLOSURE_NEW(adder, {10});
    adder_val_fut v;
    adder_ref_fut r;
    reader rd = AR_CLOSURE_NEW(reader, {10});
    reader_val_fut rv;
    reader_ref_fut rr;
    T_OK(ar_call(&rd, &rr, 1));
    /* call_once while a reference future lives: E0505. */
    T_EQ_INT(ar_call_once(&rd, &rv, 1), AR_EBORROWED);
    T_DIAG("E0505", "cannot move out of `reader` because it is borrowed");
    t_drive(reader_poll, &rr, 10);
    T_OK(ar_call_once(&rd, &rv, 1));
    t_drive(reader_poll, &rv, 10);
    T_EQ_INT(rv.frame.out, 11);

    T_OK(ar_call_once(&a, &v, 5));
    t_drive(adder_poll, &v, 10);
    T_EQ_INT(v.frame.out, 15);
    T_EQ_INT(a.env.total, 10); /* the closure's copy is not the one that changed */
    T_EQ_INT(ar_call_mut(&a, &r, 1), AR_EMOVED);
}

/* ------------------------------------------------------------------------
 * Embedded in a parent coroutine
 * --------------------------------------------------------------------- */
typedef struct parent {
    ar_co co;
    adder a;
    adder_ref_fut call; /* embedded by value: no allocation per call */
    int i, rc;
    int out;
} parent;

static ar_poll parent_poll(void *p, ar_cx *cx)
{
    parent *self = p;
    AR_BEGIN(&self->co);
    self->a = AR_CLOSURE_NEW(adder, {0});
    for (self->i = 1; self->i <= 10; self->i++) {
        self->rc = ar_call_mut(&self->a, &self->call, self->i);
        if (self->rc)
            AR_RETURN();
        AR_AWAIT(adder_poll(&self->call, cx));
    }
    self->out = self->a.env.total;
    self->rc = ar_closure_drop(&self->a.base);
    AR_END;
}

static const ar_future_vt parent_vt = AR_FUTURE_VT(parent, parent_poll, NULL, out);

Test(closure, embedded_in_a_parent_on_both_flavours, .timeout = 20)
{
    for (int flavor = 0; flavor < 2; flavor++) {
        ar_rt *rt = flavor ? t_rt_new(AR_RT_CURRENT_THREAD, 0) : t_rt_mt(2);
        parent p = {0};
        T_OK(ar_block_on(rt, &parent_vt, &p));
        T_OK(p.rc);
        T_EQ_INT(p.out, 55);
        ar_rt_free(rt);
    }
}

/* ------------------------------------------------------------------------
 * Spawned calls
 * --------------------------------------------------------------------- */
Test(closure, spawn_calls_and_join_outputs, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    reader r = AR_CLOSURE_NEW(reader, {1000});
    ar_join h[8];
    for (int i = 0; i < 8; i++)
        T_OK(ar_spawn_call(rt, &r, &h[i], i));
    for (int i = 0; i < 8; i++) {
        int out = 0;
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        T_EQ_INT(out, 1000 + i);
    }
    cr_assert(eq(int, ar_borrow_inspect(&r.base.borrow, NULL, NULL), AR_BORROW_FREE));

    adder a = AR_CLOSURE_NEW(adder, {0});
    ar_join m;
    T_OK(ar_spawn_call_mut(rt, &a, &m, 4));
    int out = 0;
    T_OK(ar_join_wait(&m, &out, sizeof out));
    T_EQ_INT(out, 4);
    T_EQ_INT(a.env.total, 4);

    reset_counts();
    consumer c = new_consumer("abcd");
    T_OK(ar_spawn_call_once(rt, &c, &m, 1));
    T_OK(ar_join_wait(&m, &out, sizeof out));
    T_EQ_INT(out, 5);
    T_EQ_INT(atomic_load(&g_env_drops), 1);
    T_OK(ar_closure_drop(&r.base));
    T_OK(ar_closure_drop(&a.base));
    ar_rt_free(rt);
}

Test(closure, spawned_call_holds_its_borrow_until_done, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    static _Atomic int open, started;
    gated g = AR_CLOSURE_NEW(gated, {&open, &started});
    ar_join h;
    T_OK(ar_spawn_call(rt, &g, &h, 21));
    T_WAIT_UNTIL(atomic_load(&started) == 1);
    T_EQ_INT(t_shared_count(&g.base.borrow), 1);
    T_EQ_INT(ar_closure_drop(&g.base), AR_EBORROWED);
    atomic_store(&open, 1);
    int out = 0;
    T_OK(ar_join_wait(&h, &out, sizeof out));
    T_EQ_INT(out, 42);
    T_OK(ar_closure_drop(&g.base));
    ar_rt_free(rt);
}

Test(closure, aborted_or_shut_down_calls_give_borrows_back, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    static _Atomic int open, started;
    gated g = AR_CLOSURE_NEW(gated, {&open, &started});
    ar_join h[4];
    for (int i = 0; i < 4; i++)
        T_OK(ar_spawn_call(rt, &g, &h[i], i));
    T_WAIT_UNTIL(atomic_load(&started) == 4);
    T_OK(ar_join_abort(&h[0]));
    T_EQ_INT(ar_join_wait(&h[0], NULL, 0), -ECANCELED);
    T_EQ_INT(t_shared_count(&g.base.borrow), 3);
    /* Shutdown drops the others: each drop gives its borrow back. */
    T_OK(ar_rt_shutdown(rt));
    for (int i = 1; i < 4; i++)
        T_EQ_INT(ar_join_wait(&h[i], NULL, 0), -ECANCELED);
    cr_assert(eq(int, ar_borrow_inspect(&g.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_OK(ar_closure_drop(&g.base));
    ar_rt_free(rt);
}

Test(closure, failed_spawn_undoes_the_call, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    T_OK(ar_rt_shutdown(rt));
    reset_counts();
    consumer c = new_consumer("abc");
    char *s = c.env.s;
    ar_join h;
    T_EQ_INT(ar_spawn_call_once(rt, &c, &h, 1), -ESHUTDOWN);
    /* The environment went back into the closure, which is callable again. */
    cr_assert(eq(int, ar_borrow_inspect(&c.base.borrow, NULL, NULL), AR_BORROW_FREE));
    cr_assert(eq(ptr, c.env.s, s));
    T_EQ_INT(atomic_load(&g_env_drops), 0);
    adder a = AR_CLOSURE_NEW(adder, {0});
    T_EQ_INT(ar_spawn_call_mut(rt, &a, &h, 1), -ESHUTDOWN);
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_EQ_INT(ar_closure_spawn(rt, &a.base, AR_MUT, &(int){1}, &h), -ESHUTDOWN);
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE));
    ar_rt_free(rt);

    consumer_val_fut f;
    T_OK(ar_call_once(&c, &f, 1));
    t_drive(consumer_poll, &f, 10);
    T_EQ_INT(f.frame.out, 4);
}

/* ------------------------------------------------------------------------
 * Type-erased calls (what a generic caller uses)
 * --------------------------------------------------------------------- */
Test(closure, erased_calls_through_storage, .timeout = 10)
{
    adder a = AR_CLOSURE_NEW(adder, {0});
    ar_closure *op = &a.base;
    AR_CALL_STORAGE(128) st;
    int x = 3;
    T_OK(ar_closure_call(op, AR_MUT, &st, &x));
    t_drive(ar_call_poll, &st, 10);
    int *out = ar_call_output(&st);
    cr_assert(ne(ptr, out, NULL));
    T_EQ_INT(*out, 3);
    T_OK(ar_closure_call(op, AR_ONCE, &st, &x));
    t_drive(ar_call_poll, &st, 10);
    T_EQ_INT(*(int *)ar_call_output(&st), 6);
    T_EQ_INT(ar_closure_call(op, AR_MUT, &st, &x), AR_EMOVED);

    ar_rt *rt = t_rt_mt(2);
    reader r = AR_CLOSURE_NEW(reader, {7});
    ar_join h;
    T_OK(ar_closure_spawn(rt, &r.base, AR_FN, &x, &h));
    int got = 0;
    T_OK(ar_join_wait(&h, &got, sizeof got));
    T_EQ_INT(got, 10);
    ar_rt_free(rt);
}

Test(closure, storage_too_small, .timeout = 10)
{
    adder a = AR_CLOSURE_NEW(adder, {0});
    AR_CALL_STORAGE(32) small; /* a header fits, a frame does not */
    int x = 1;
    T_EQ_INT(ar_closure_call(&a.base, AR_MUT, &small, &x), AR_ESTORAGE);
    T_DIAG("", "storage too small for a call of `adder`");
    T_DIAG("", "needs");
    T_EQ_INT(ar_call_result(&small), AR_ESTORAGE);
    cr_assert(eq(int, t_poll1(ar_call_poll, &small), AR_READY));
    ar_call_drop(&small);
    /* Not even a header (AR_CALL_STORAGE(8) would not compile): refused,
     * left untouched. */
    _Alignas(16) unsigned char tiny[8];
    memset(tiny, 0x5a, sizeof tiny);
    T_EQ_INT(ar_closure_call_at(&a.base, AR_MUT, tiny, sizeof tiny, &x, sizeof x, AR_HERE),
             AR_ESTORAGE);
    T_EQ_INT(tiny[0], 0x5a);
    T_EQ_INT(tiny[7], 0x5a);
    /* A typed reference future cannot hold a value future. */
    adder_ref_fut r;
    T_EQ_INT(ar_closure_call_at(&a.base, AR_ONCE, &r, sizeof r, &x, sizeof x, AR_HERE),
             AR_ESTORAGE);
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE));
}

Test(closure, bad_input_never_crashes, .timeout = 10)
{
    AR_CALL_STORAGE(256) st;
    int x = 1;
    adder a = AR_CLOSURE_NEW(adder, {0});
    adder *nul = NULL;
    adder_ref_fut f;
    T_EQ_INT(ar_call_mut(nul, &f, 1), -EINVAL);
    T_DIAG("", "NULL closure passed to a call");
    T_EQ_INT(ar_call_result(&f), -EINVAL);
    T_EQ_INT(ar_closure_call(NULL, AR_MUT, &st, &x), -EINVAL);
    adder zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    T_EQ_INT(ar_call_mut(&zeroed, &f, 1), -EINVAL);
    T_DIAG("", "never created");
    T_EQ_INT(ar_closure_call_at(&a.base, AR_MUT, NULL, 256, &x, sizeof x, AR_HERE), -EINVAL);
    T_EQ_INT(ar_closure_call(&a.base, (ar_fn_kind)0, &st, &x), -EINVAL);
    T_EQ_INT(ar_closure_call(&a.base, (ar_fn_kind)4, &st, &x), -EINVAL);
    long big = 1;
    T_EQ_INT(ar_closure_call(&a.base, AR_MUT, &st, &big), -EINVAL);
    T_DIAG("", "takes a 4-byte argument; 8 bytes were passed");
    T_EQ_INT(ar_closure_call_at(&a.base, AR_MUT, &st, sizeof st, NULL, sizeof x, AR_HERE),
             -EINVAL);
    T_EQ_INT(ar_closure_call_at(&a.base, AR_MUT, st.bytes + 1, sizeof st - 1, &x, sizeof x,
                                AR_HERE),
             -EINVAL);
    T_DIAG("", "misaligned");
    T_EQ_INT(ar_closure_drop(NULL), -EINVAL);
    T_EQ_INT(ar_closure_drop(&zeroed.base), -EINVAL);
    T_EQ_INT(ar_closure_spawn(NULL, NULL, AR_FN, &x, NULL), -EINVAL);
    cr_assert(eq(int, ar_call_poll(NULL, NULL), AR_READY));
    ar_call_drop(NULL);
    T_EQ_INT(ar_call_result(NULL), -EINVAL);
    memset(&st, 0, sizeof st);
    T_EQ_INT(ar_call_result(&st), -EINVAL);
    cr_assert(eq(int, t_poll1(ar_call_poll, &st), AR_READY));
    cr_assert(eq(ptr, ar_call_output(NULL), NULL));
    cr_assert(eq(int, ar_closure_kind(NULL), 0));
    /* After all that, the closure works and nothing is borrowed. */
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_OK(ar_call_mut(&a, &f, 2));
    t_drive(adder_poll, &f, 10);
    T_EQ_INT(f.frame.out, 2);
}

Test(closure, poll_after_done_aborts_in_debug_builds, .signal = SIGABRT, .timeout = 10)
{
#ifdef NDEBUG
    abort(); /* release builds skip the check: nothing to test */
#else
    reader r = AR_CLOSURE_NEW(reader, {0});
    reader_ref_fut f;
    T_OK(ar_call(&r, &f, 1));
    t_drive(reader_poll, &f, 10);
    t_poll1(reader_poll, &f);
#endif
}

/* ------------------------------------------------------------------------
 * Captures by reference (cells)
 * --------------------------------------------------------------------- */
typedef AR_CELL(int) int_cell;

typedef struct bump_env {
    ar_loan counter; /* &mut counter */
} bump_env;

typedef struct bump_frame {
    ar_co co;
    int arg;
    int out;
} bump_frame;

static void bump_env_drop(bump_env *e) { ar_loan_release(&e->counter); }

AR_CLOSURE(bump, AR_MUT, bump_env, bump_frame, bump_body, NULL, bump_env_drop);

static ar_poll bump_body(bump_env *env, bump_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    *(int *)env->counter.ptr += self->arg;
    self->out = *(int *)env->counter.ptr;
    AR_END;
}

Test(closure, capture_by_mut_reference_holds_the_cell, .timeout = 10)
{
    int_cell counter;
    T_OK(ar_cell_init(&counter, "counter"));
    counter.value = 0;
    bump b = AR_CLOSURE_NEW(bump, {{0}});
    int line = __LINE__ + 1;
    T_OK(ar_cell_borrow_mut(&counter, &b.env.counter));
    int v;
    T_EQ_INT(ar_cell_get(&counter, &v), AR_EBORROWED);
    T_DIAG("E0502", "cannot borrow `counter` as immutable because it is also borrowed as mutable");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    bump_ref_fut f;
    T_OK(ar_call_mut(&b, &f, 2));
    t_drive(bump_poll, &f, 2);
    T_OK(ar_call_mut(&b, &f, 3));
    t_drive(bump_poll, &f, 2);
    T_EQ_INT(ar_cell_set(&counter, 0), AR_EBORROWED);
    T_DIAG("E0506", "cannot assign to `counter` because it is borrowed");
    T_OK(ar_closure_drop(&b.base)); /* gives `counter` back */
    T_OK(ar_cell_get(&counter, &v));
    T_EQ_INT(v, 5);
}

/* ------------------------------------------------------------------------
 * Arguments: several (a struct), none (ar_unit)
 * --------------------------------------------------------------------- */
typedef struct span {
    int from, to;
} span;

typedef struct span_frame {
    ar_co co;
    span arg;
    int out;
} span_frame;

AR_CLOSURE(span_len, AR_FN, reader_env, span_frame, span_body, NULL, NULL);

static ar_poll span_body(const reader_env *env, span_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = env->base * (self->arg.to - self->arg.from);
    AR_END;
}

typedef struct tick_frame {
    ar_co co;
    ar_unit arg;
    int out;
} tick_frame;

AR_CLOSURE(tick, AR_MUT, adder_env, tick_frame, tick_body, NULL, NULL);

static ar_poll tick_body(adder_env *env, tick_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = ++env->total;
    AR_END;
}

Test(closure, struct_and_unit_arguments, .timeout = 10)
{
    span_len s = AR_CLOSURE_NEW(span_len, {2});
    span_len_ref_fut f;
    T_OK(ar_call(&s, &f, 3, 10)); /* positional: from = 3, to = 10 */
    t_drive(span_len_poll, &f, 2);
    T_EQ_INT(f.frame.out, 14);
    T_OK(ar_call(&s, &f, .to = 5, .from = 4)); /* designated */
    t_drive(span_len_poll, &f, 2);
    T_EQ_INT(f.frame.out, 2);
    span arg = {0, 1};
    AR_CALL_STORAGE(64) st;
    T_OK(ar_closure_call(&s.base, AR_FN, &st, &arg)); /* erased: by pointer */
    t_drive(ar_call_poll, &st, 2);
    T_EQ_INT(*(int *)ar_call_output(&st), 2);

    tick t = AR_CLOSURE_NEW(tick, {0});
    tick_ref_fut g;
    for (int i = 1; i <= 3; i++) {
        T_OK(ar_call_mut(&t, &g, 0)); /* no argument: ar_unit */
        t_drive(tick_poll, &g, 2);
        T_EQ_INT(g.frame.out, i);
    }
    T_OK(ar_closure_drop(&t.base));
}

/* ------------------------------------------------------------------------
 * No call allocates: with the allocator set to fail its next allocation,
 * calls of every kind still work, and the failure is still pending after
 * them (the next spawn, which does allocate, gets it).
 * --------------------------------------------------------------------- */
#include "alloc.h"

Test(closure, calls_do_not_allocate, .timeout = 10)
{
    /* Current-thread: no worker thread that could allocate meanwhile. */
    ar_rt *rt = t_rt_new(AR_RT_CURRENT_THREAD, 0);
    adder a = AR_CLOSURE_NEW(adder, {0});
    reader r = AR_CLOSURE_NEW(reader, {1});
    consumer c = new_consumer("abc");
    adder_ref_fut af;
    reader_ref_fut rf;
    consumer_val_fut cf;
    AR_CALL_STORAGE(128) st;
    int x = 1;
    ar__alloc_fail_nth(1);
    for (int i = 0; i < 100; i++) {
        T_OK(ar_call_mut(&a, &af, 1));
        t_drive(adder_poll, &af, 10);
        T_OK(ar_call(&r, &rf, 1));
        t_drive(reader_poll, &rf, 10);
        T_OK(ar_closure_call(&r.base, AR_MUT, &st, &x));
        t_drive(ar_call_poll, &st, 10);
    }
    T_OK(ar_call_once(&c, &cf, 1));
    t_drive(consumer_poll, &cf, 10);
    ar_join h;
    T_EQ_INT(ar_spawn_call(rt, &r, &h, 1), -ENOMEM); /* the pending failure */
    ar__alloc_fail_nth(0);
    /* The failed spawn gave its borrow back. */
    cr_assert(eq(int, ar_borrow_inspect(&r.base.borrow, NULL, NULL), AR_BORROW_FREE));
    T_EQ_INT(a.env.total, 100);
    ar_rt_free(rt);
}
