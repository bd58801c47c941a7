/*
 * tests/closures/test_closure_edges.c - the edges a review found (each of
 * these failed before its fix): a failed call into the storage of a live
 * call must leave that call alone; moving a value out (cell take, a spawned
 * call_once whose spawn fails) must not race with an assignment or a drop;
 * futures that need more than 16-byte alignment are refused as tasks, not
 * run misaligned; a site at a high (arm64 PIE) address is still recorded;
 * a stale copy of a released exclusive loan cannot free another holder's
 * borrow.
 */
#include "closure_helpers.h"
#include "nap.h"

static _Atomic int g_env_drops;

typedef struct adder_env { int total; } adder_env;
typedef struct adder_frame { ar_co co; int arg; nap n; int out; } adder_frame;
static void adder_frame_drop(adder_frame *f) { nap_drop(&f->n); }
AR_CLOSURE(adder, AR_MUT, adder_env, adder_frame, adder_body, adder_frame_drop, NULL);
static ar_poll adder_body(adder_env *env, adder_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    nap_init(&self->n, 1);
    AR_AWAIT(nap_poll(&self->n, cx));
    env->total += self->arg;
    self->out = env->total;
    AR_END;
}

typedef struct consumer_env { char *s; } consumer_env;
typedef struct consumer_frame { ar_co co; int arg; int out; } consumer_frame;
static void consumer_env_drop(consumer_env *e) { free(e->s); e->s = NULL; atomic_fetch_add(&g_env_drops, 1); }
AR_CLOSURE(consumer, AR_ONCE, consumer_env, consumer_frame, consumer_body, NULL, consumer_env_drop);
static ar_poll consumer_body(consumer_env *env, consumer_frame *self, ar_cx *cx)
{
    (void)cx; (void)env;
    AR_BEGIN(&self->co);
    self->out = 1;
    AR_END;
}

/* R1: a failed call into the storage of a live call wipes the live call. */
Test(closure_edges, failed_call_into_live_storage_loses_the_borrow, .timeout = 10)
{
    adder a = AR_CLOSURE_NEW(adder, {0});
    adder_ref_fut f;
    T_OK(ar_call_mut(&a, &f, 5));
    cr_assert(eq(int, t_poll1(adder_poll, &f), AR_PENDING));
    T_EQ_INT(ar_call_mut(&a, &f, 2), AR_EBORROWED); /* E0499, same storage */
    T_EQ_INT(ar_call_result(&f), 0); /* still the first call, running */
    /* The first call goes on and completes, giving its borrow back. */
    t_drive(adder_poll, &f, 10);
    T_EQ_INT(f.frame.out, 5);
    cr_assert(eq(int, ar_borrow_inspect(&a.base.borrow, NULL, NULL), AR_BORROW_FREE),
              "the first call's exclusive borrow leaked");
    T_OK(ar_closure_drop(&a.base));
}

Test(closure_edges, failed_call_into_live_value_future_leaks_env, .timeout = 10)
{
    atomic_store(&g_env_drops, 0);
    consumer c = AR_CLOSURE_NEW(consumer, {strdup("abc")});
    consumer_val_fut f;
    T_OK(ar_call_once(&c, &f, 1));
    T_EQ_INT(ar_call_once(&c, &f, 1), AR_EMOVED); /* E0382, same storage */
    ar_call_drop(&f); /* drops the env the first call owns */
    T_EQ_INT(atomic_load(&g_env_drops), 1);
}

/* R2: release of a copied MUT loan after someone else took the borrow. */
Test(closure_edges, copied_mut_loan_frees_another_holders_borrow, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l, m, third;
    T_OK(ar_borrow_mut(&b, &l));
    ar_loan copy = l;
    T_OK(ar_loan_release(&l));
    T_OK(ar_borrow_mut(&b, &m)); /* another holder */
    T_EQ_INT(ar_loan_release(&copy), AR_ERELEASED);
    T_EQ_INT(ar_borrow_mut(&b, &third), AR_EBORROWED); /* m still holds it */
    T_OK(ar_loan_release(&m));
}

/* R3: ar_cell_take races with ar_cell_set (MOVED -> assign is allowed while
 * the taker still copies the value out). */
typedef struct big { int v[1024]; } big;
typedef AR_CELL(big) big_cell;
static big_cell g_bc;
static _Atomic int g_stop;
static _Atomic long g_torn, g_takes, g_sets;
static void *taker(void *arg)
{
    (void)arg;
    static big out;
    while (!atomic_load(&g_stop)) {
        if (ar_cell_take(&g_bc, &out) == 0) {
            atomic_fetch_add(&g_takes, 1);
            for (int i = 1; i < 1024; i++)
                if (out.v[i] != out.v[0]) {
                    atomic_fetch_add(&g_torn, 1);
                    break;
                }
        }
    }
    return NULL;
}
static void *setter(void *arg)
{
    (void)arg;
    static big in;
    for (int k = 1; k <= T_N(20000) && !atomic_load(&g_stop); k++) {
        for (int i = 0; i < 1024; i++)
            in.v[i] = k;
        /* wait until the taker made the cell MOVED, then assign */
        while (ar_cell_state(&g_bc.cell, NULL) != AR_BORROW_MOVED && !atomic_load(&g_stop))
            sched_yield();
        if (ar_cell_write_at(&g_bc.cell, &in, sizeof in, AR_HERE) == 0)
            atomic_fetch_add(&g_sets, 1);
    }
    return NULL;
}
Test(closure_edges, cell_take_races_with_set, .timeout = 60)
{
    T_OK(ar_cell_init(&g_bc, "bc"));
    pthread_t a = t_thread(taker, NULL), s = t_thread(setter, NULL);
    pthread_join(s, NULL);
    atomic_store(&g_stop, 1);
    pthread_join(a, NULL);
    cr_expect(gt(long, atomic_load(&g_takes), 0));
    cr_expect(eq(long, atomic_load(&g_torn), 0), "%ld torn takes of %ld",
              atomic_load(&g_torn), atomic_load(&g_takes));
}

/* R4: a failed ar_spawn_call_once undoes the move with a plain store, racing
 * with an ar_closure_drop that saw MOVED and returned 0. */
static consumer g_c;
static _Atomic int g_go;
static ar_rt *g_dead_rt;
static _Atomic int g_drop_rc;
static void *dropper(void *arg)
{
    long n = (long)arg;
    ar_borrow_set_mode(AR_BORROW_MODE_RETURN);
    for (long i = 0; i < n; i++) {
        while (atomic_load(&g_go) != 2 * i + 1)
            sched_yield();
        atomic_store(&g_drop_rc, ar_closure_drop(&g_c.base));
        atomic_store(&g_go, 2 * i + 2);
    }
    return NULL;
}
Test(closure_edges, failed_spawn_undo_races_with_drop, .timeout = 60)
{
    g_dead_rt = t_rt_mt(1);
    T_OK(ar_rt_shutdown(g_dead_rt));
    long n = T_N(20000), resurrected = 0, lost = 0;
    pthread_t d = t_thread(dropper, (void *)n);
    for (long i = 0; i < n; i++) {
        atomic_store(&g_env_drops, 0);
        g_c = AR_CLOSURE_NEW(consumer, {NULL});
        atomic_store(&g_go, 2 * i + 1);
        ar_join h;
        int src = ar_spawn_call_once(g_dead_rt, &g_c, &h, 1);
        T_BG_CHECK(src == -ESHUTDOWN || src == AR_EMOVED || src == AR_EBORROWED);
        while (atomic_load(&g_go) != 2 * i + 2)
            sched_yield();
        int st = ar_borrow_inspect(&g_c.base.borrow, NULL, NULL);
        int drc = atomic_load(&g_drop_rc), drops = atomic_load(&g_env_drops);
        /* A drop that succeeded dropped the env, once, and the closure stays
         * moved; one refused (E0505 while the spawn held it) dropped nothing. */
        if (drc == 0 && (drops != 1 || st != AR_BORROW_MOVED))
            resurrected++;
        if (drc != 0) {
            if (drops != 0 || st != AR_BORROW_FREE)
                lost++;
            T_OK(ar_closure_drop(&g_c.base)); /* free for the next round */
        }
    }
    pthread_join(d, NULL);
    ar_rt_free(g_dead_rt);
    cr_expect(eq(long, resurrected, 0));
    cr_expect(eq(long, lost, 0));
}

/* R5: closures whose futures need more than 16-byte alignment. */
typedef struct wide_env { int k; } wide_env;
typedef struct wide_frame { ar_co co; int arg; _Alignas(64) char line[64]; int out; } wide_frame;
AR_CLOSURE(wide, AR_FN, wide_env, wide_frame, wide_body, NULL, NULL);
static ar_poll wide_body(const wide_env *env, wide_frame *self, ar_cx *cx)
{
    (void)cx;
    AR_BEGIN(&self->co);
    self->out = (int)((uintptr_t)self->line % 64) + env->k * 0;
    AR_END;
}
Test(closure_edges, over_aligned_frames, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(1);
    wide w = AR_CLOSURE_NEW(wide, {1});
    /* A task gives 16-byte alignment: both spawns are refused and give the
     * borrow back. */
    ar_join h;
    T_EQ_INT(ar_spawn_call(rt, &w, &h, 0), -EINVAL);
    int x = 0;
    T_EQ_INT(ar_closure_spawn(rt, &w.base, AR_FN, &x, &h), -EINVAL);
    cr_assert(eq(int, ar_borrow_inspect(&w.base.borrow, NULL, NULL), AR_BORROW_FREE));
    /* Storage aligned for it runs the body on an aligned frame. */
    _Alignas(64) wide_ref_fut f;
    T_OK(ar_call(&w, &f, 0));
    t_drive(wide_poll, &f, 10);
    T_EQ_INT(f.frame.out, 0);
    T_OK(ar_closure_drop(&w.base));
    ar_rt_free(rt);
}

/* R6: a site at an arm64 PIE address (ELF_ET_DYN_BASE = 2/3 of 2^48). */
/* arm64 Linux loads PIE programs at about 2/3 of 2^48 and libraries just
 * below 2^48: sites there must fit the word.  x86-64 cannot map such an
 * address, so the site is a pointer that is recorded but never read (no
 * conflict is raised while it is held: a diagnostic would read it). */
Test(closure_edges, site_at_a_high_address_is_recorded, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l;
    const ar_site *fake = (const ar_site *)(uintptr_t)0xaaaaaaab1000ull;
    T_OK(ar_borrow_mut_at(&b, &l, fake));
    const ar_site *s = NULL;
    T_EQ_INT(ar_borrow_inspect(&b, NULL, &s), AR_BORROW_EXCLUSIVE);
    cr_assert(s == fake, "the site was not recorded: %p", (const void *)s);
    /* The exact-word release finds its own site there. */
    T_OK(ar_loan_release(&l));
    const ar_site *top = (const ar_site *)(uintptr_t)0xfffffffff000ull; /* just below 2^48 */
    T_OK(ar_borrow_mut_at(&b, &l, top));
    T_EQ_INT(ar_borrow_inspect(&b, NULL, &s), AR_BORROW_EXCLUSIVE);
    cr_assert(s == top);
    T_OK(ar_loan_release(&l));
}
