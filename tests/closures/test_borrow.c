/*
 * tests/closures/test_borrow.c - borrow counters: the state machine, each
 * conflict with its Rust error code and both sites, "a failed borrow
 * changes nothing", releasing twice, bad arguments, the diagnostic text,
 * and the three error modes (return, log, abort; build default overridden
 * by AR_BORROW_ABORT / AR_BORROW_LOG and by ar_borrow_set_mode).
 */
#include "closure_helpers.h"

static uint64_t word(const ar_borrow *b) { return __atomic_load_n(&b->word, __ATOMIC_SEQ_CST); }

Test(borrow, shared_borrows_stack_up, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l1, l2, l3;
    T_OK(ar_borrow_shared(&b, &l1));
    T_OK(ar_borrow_shared(&b, &l2));
    T_OK(ar_borrow_shared(&b, &l3));
    uint32_t n = 0;
    cr_assert(eq(int, ar_borrow_inspect(&b, &n, NULL), AR_BORROW_SHARED));
    T_EQ_INT(n, 3);
    cr_assert(t_is(ar_loan_held(&l2)));
    T_OK(ar_loan_release(&l2));
    cr_assert(t_is(!ar_loan_held(&l2)));
    T_OK(ar_loan_release(&l1));
    T_OK(ar_loan_release(&l3));
    cr_assert(eq(int, ar_borrow_inspect(&b, &n, NULL), AR_BORROW_FREE));
    T_EQ_INT(n, 0);
}

Test(borrow, exclusive_then_free_again, .timeout = 10)
{
    ar_borrow b;
    ar_borrow_init(&b, "x");
    ar_loan l;
    T_OK(ar_borrow_mut(&b, &l));
    cr_assert(eq(int, ar_borrow_inspect(&b, NULL, NULL), AR_BORROW_EXCLUSIVE));
    T_OK(ar_loan_release(&l));
    T_EQ_U64(word(&b), 0);
    T_OK(ar_borrow_mut(&b, &l));
    T_OK(ar_loan_release(&l));
    T_OK(ar_borrow_shared(&b, &l));
    T_OK(ar_loan_release(&l));
}

Test(borrow, site_recorded_on_success, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l1, l2;
    const ar_site *s = NULL;
    int line = __LINE__ + 1;
    T_OK(ar_borrow_mut(&b, &l1));
    ar_borrow_inspect(&b, NULL, &s);
    cr_assert(t_is(s != NULL));
    T_EQ_INT(s->line, line);
    cr_assert(t_is(!strcmp(s->func, "borrow_site_recorded_on_success_impl")), "%s", s->func);
    T_OK(ar_loan_release(&l1));
    /* Shared: the most recent borrower's site. */
    T_OK(ar_borrow_shared(&b, &l1));
    line = __LINE__ + 1;
    T_OK(ar_borrow_shared(&b, &l2));
    ar_borrow_inspect(&b, NULL, &s);
    T_EQ_INT(s->line, line);
    T_OK(ar_loan_release(&l1));
    T_OK(ar_loan_release(&l2));
}

Test(borrow, two_mutable_borrows_E0499, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("v");
    ar_loan first, second;
    int line1 = __LINE__ + 1;
    T_OK(ar_borrow_mut(&b, &first));
    uint64_t before = word(&b);
    int line2 = __LINE__ + 1;
    T_EQ_INT(ar_borrow_mut(&b, &second), AR_EBORROWED);
    T_EQ_U64(word(&b), before); /* nothing changed */
    cr_assert(t_is(!ar_loan_held(&second)));
    T_DIAG("E0499", "cannot borrow `v` as mutable more than once at a time");
    const ar_borrow_error *e = ar_borrow_last_error();
    T_EQ_INT(e->err, AR_EBORROWED);
    cr_assert(t_is(!strcmp(e->name, "v")));
    T_EQ_INT(e->at->line, line2);
    T_EQ_INT(e->held->line, line1);
    char want[256];
    snprintf(want, sizeof want, "first mutable borrow occurs here: %s:%d", __FILE__, line1);
    T_DIAG("E0499", want);
    snprintf(want, sizeof want, "second mutable borrow occurs here: %s:%d", __FILE__, line2);
    T_DIAG("E0499", want);
    T_DIAG("E0499", "= help: ");
    T_OK(ar_loan_release(&first));
    T_OK(ar_borrow_mut(&b, &second));
    T_OK(ar_loan_release(&second));
}

Test(borrow, shared_and_mutable_E0502, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("v");
    ar_loan s1, s2, m;
    T_OK(ar_borrow_shared(&b, &s1));
    int line = __LINE__ + 1;
    T_OK(ar_borrow_shared(&b, &s2));
    uint64_t before = word(&b);
    T_EQ_INT(ar_borrow_mut(&b, &m), AR_EBORROWED);
    T_EQ_U64(word(&b), before);
    T_DIAG("E0502", "cannot borrow `v` as mutable because it is also borrowed as immutable");
    T_DIAG("E0502", "(the most recent of 2)");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_OK(ar_loan_release(&s1));
    T_OK(ar_loan_release(&s2));

    T_OK(ar_borrow_mut(&b, &m));
    before = word(&b);
    T_EQ_INT(ar_borrow_shared(&b, &s1), AR_EBORROWED);
    T_EQ_U64(word(&b), before);
    T_DIAG("E0502", "cannot borrow `v` as immutable because it is also borrowed as mutable");
    T_DIAG("E0502", "mutable borrow occurs here");
    T_OK(ar_loan_release(&m));
}

Test(borrow, move_while_borrowed_E0505_and_after_move_E0382, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("s");
    ar_loan l;
    T_OK(ar_borrow_shared(&b, &l));
    T_EQ_INT(ar_borrow_move(&b), AR_EBORROWED);
    T_DIAG("E0505", "cannot move out of `s` because it is borrowed");
    T_OK(ar_loan_release(&l));

    int line = __LINE__ + 1;
    T_OK(ar_borrow_move(&b));
    cr_assert(eq(int, ar_borrow_inspect(&b, NULL, NULL), AR_BORROW_MOVED));
    uint64_t before = word(&b);
    T_EQ_INT(ar_borrow_move(&b), AR_EMOVED);
    T_DIAG("E0382", "use of moved value: `s`");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_EQ_INT(ar_borrow_shared(&b, &l), AR_EMOVED);
    T_DIAG("E0382", "borrow of moved value: `s`");
    T_DIAG("E0382", "value moved here");
    T_EQ_INT(ar_borrow_mut(&b, &l), AR_EMOVED);
    T_EQ_U64(word(&b), before);
}

Test(borrow, release_twice, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l, s2;
    T_OK(ar_borrow_shared(&b, &s2)); /* another holder that must survive */
    T_OK(ar_borrow_shared(&b, &l));
    int line = __LINE__ + 1;
    T_OK(ar_loan_release(&l));
    T_EQ_INT(ar_loan_release(&l), AR_ERELEASED);
    T_DIAG("", "borrow of `x` released twice");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_EQ_INT(t_shared_count(&b), 1); /* the other holder's borrow is intact */
    T_OK(ar_loan_release(&s2));

    T_OK(ar_borrow_mut(&b, &l));
    T_OK(ar_loan_release(&l));
    T_EQ_INT(ar_loan_release(&l), AR_ERELEASED);
    cr_assert(eq(int, ar_borrow_inspect(&b, NULL, NULL), AR_BORROW_FREE));
}

Test(borrow, release_of_a_copied_loan_is_caught, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l;
    T_OK(ar_borrow_mut(&b, &l));
    ar_loan copy = l;
    T_OK(ar_loan_release(&l));
    ar_loan other;
    T_OK(ar_borrow_shared(&b, &other));
    /* The copy claims an exclusive borrow the counter does not have. */
    T_EQ_INT(ar_loan_release(&copy), AR_ERELEASED);
    T_DIAG("", "is not mutably borrowed");
    T_EQ_INT(t_shared_count(&b), 1);
    T_OK(ar_loan_release(&other));
    /* A shared copy released on a free counter. */
    T_OK(ar_borrow_shared(&b, &l));
    copy = l;
    T_OK(ar_loan_release(&l));
    T_EQ_INT(ar_loan_release(&copy), AR_ERELEASED);
    T_DIAG("", "has no shared borrow");
    T_EQ_U64(word(&b) & AR__BW_TAG_MASK, 0);
}

Test(borrow, bad_arguments, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l = {0};
    T_EQ_INT(ar_borrow_shared(NULL, &l), -EINVAL);
    T_EQ_INT(ar_borrow_mut(NULL, &l), -EINVAL);
    T_EQ_INT(ar_borrow_shared(&b, NULL), -EINVAL);
    T_EQ_INT(ar_borrow_mut(&b, NULL), -EINVAL);
    T_EQ_INT(ar_borrow_move(NULL), -EINVAL);
    T_EQ_INT(ar_loan_release(NULL), -EINVAL);
    T_DIAG("", "NULL loan");
    /* An empty loan: -EBADF without a diagnostic (cleanup may release it). */
    ar_loan empty = {0};
    T_EQ_INT(ar_loan_release(&empty), -EBADF);
    cr_assert(eq(int, ar_borrow_inspect(&b, NULL, NULL), AR_BORROW_FREE));
    cr_assert(eq(int, ar_borrow_inspect(NULL, NULL, NULL), AR_BORROW_FREE));
    ar_borrow_init(NULL, "x"); /* no-op */
    T_EQ_INT(ar_borrow_set_mode((ar_borrow_mode)7), -EINVAL);
    T_EQ_INT(ar_borrow_set_mode((ar_borrow_mode)-1), -EINVAL);
}

Test(borrow, too_many_shared_borrows, .timeout = 30)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l;
    for (uint32_t i = 0; i < AR_BORROW_SHARED_MAX; i++)
        if (ar_borrow_shared(&b, &l) != 0)
            cr_fatal("shared borrow %u failed", i);
    T_EQ_INT(t_shared_count(&b), AR_BORROW_SHARED_MAX);
    uint64_t before = word(&b);
    ar_loan m;
    T_EQ_INT(ar_borrow_shared(&b, &m), -EOVERFLOW);
    T_EQ_U64(word(&b), before);
    T_DIAG("", "too many shared borrows of `x`");
    T_EQ_INT(ar_borrow_mut(&b, &m), AR_EBORROWED);
    T_OK(ar_loan_release(&l)); /* the last one taken */
    T_EQ_INT(t_shared_count(&b), AR_BORROW_SHARED_MAX - 1);
}

Test(borrow, unknown_site_is_tolerated, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT(NULL);
    ar_loan l, m;
    T_OK(ar_borrow_mut_at(&b, &l, NULL));
    T_EQ_INT(ar_borrow_mut_at(&b, &m, NULL), AR_EBORROWED);
    T_DIAG("E0499", "(unknown site)");
    T_DIAG("E0499", "`value`");
    T_OK(ar_loan_release_at(&l, NULL));
}

/* Another thread: no error of its own yet, then one that names `y`. */
static void *other_thread_errors(void *arg)
{
    (void)arg;
    long ok = ar_borrow_last_error() == NULL;
    ar_borrow b = AR_BORROW_INIT("y");
    ar_loan l, m;
    ok &= ar_borrow_shared(&b, &l) == 0;
    ok &= ar_borrow_mut(&b, &m) == AR_EBORROWED;
    ok &= ar_borrow_last_error() != NULL && strcmp(ar_borrow_last_error()->name, "y") == 0;
    ok &= ar_loan_release(&l) == 0;
    return (void *)ok;
}

Test(borrow, last_error_is_per_thread, .timeout = 10)
{
    ar_borrow b = AR_BORROW_INIT("x");
    ar_loan l, m;
    T_OK(ar_borrow_mut(&b, &l));
    T_EQ_INT(ar_borrow_mut(&b, &m), AR_EBORROWED);
    cr_assert(t_is(ar_borrow_last_error() != NULL));
    pthread_t t;
    cr_assert(eq(int, pthread_create(&t, NULL, other_thread_errors, NULL), 0));
    void *ok = NULL;
    pthread_join(t, &ok);
    cr_assert(t_is(ok != NULL), "the other thread saw this thread's error, or none of its own");
    /* Ours still names `x`, not the other thread's `y`. */
    T_STREQ(ar_borrow_last_error()->name, "x");
    T_OK(ar_loan_release(&l));
}

/* ------------------------------------------------------------------------
 * Modes
 * --------------------------------------------------------------------- */
static void conflict_E0499(void *arg)
{
    (void)arg;
    ar_borrow b = AR_BORROW_INIT("pusher");
    ar_loan l, m;
    if (ar_borrow_mut(&b, &l))
        _exit(3);
    int rc = ar_borrow_mut(&b, &m);
    _exit(rc == AR_EBORROWED ? 0 : 4);
}

static void abort_mode(void *arg)
{
    (void)arg;
    ar_borrow_set_mode(AR_BORROW_MODE_ABORT);
    conflict_E0499(NULL);
}

Test(borrow, abort_mode_prints_rustc_diagnostic_and_aborts, .timeout = 20)
{
    t_child_result r;
    t_child(abort_mode, NULL, &r);
    cr_assert(t_is(t_aborted(&r)), "status %d, stderr:\n%s", r.status, r.err);
    cr_assert(t_is(strstr(r.err, "error[E0499]: cannot borrow `pusher` as mutable more than "
                                    "once at a time\n  --> ") != NULL), "%s", r.err);
    cr_assert(t_is(strstr(r.err, "first mutable borrow occurs here: ") != NULL), "%s", r.err);
    cr_assert(t_is(strstr(r.err, "second mutable borrow occurs here: ") != NULL), "%s", r.err);
    cr_assert(t_is(strstr(r.err, "test_borrow.c:") != NULL), "%s", r.err);
    cr_assert(t_is(strstr(r.err, "= help: ") != NULL), "%s", r.err);
}

/* kv: NULL-terminated name, value pairs set before the first error. */
static void with_env(void *arg)
{
    const char **kv = arg;
    unsetenv("AR_BORROW_ABORT");
    unsetenv("AR_BORROW_LOG");
    for (; kv[0]; kv += 2)
        setenv(kv[0], kv[1], 1);
    ar__borrow_mode_reset();
    conflict_E0499(NULL);
}

/* Without environment, the build option decides (-Dborrow_abort). */
Test(borrow, default_mode_follows_the_build_option, .timeout = 20)
{
    static const char *kv[] = {NULL};
    t_child_result r;
    t_child(with_env, kv, &r);
#if defined(T_BORROW_ABORT_BUILD)
    cr_assert(t_is(t_aborted(&r)), "status %d", r.status);
    cr_assert(t_is(strstr(r.err, "error[E0499]") != NULL), "%s", r.err);
#else
    cr_assert(t_is(t_exited_ok(&r)), "status %d, stderr:\n%s", r.status, r.err);
    cr_assert(t_is(r.err[0] == 0), "%s", r.err);
#endif
}

Test(borrow, env_AR_BORROW_ABORT_1_aborts, .timeout = 20)
{
    static const char *kv[] = {"AR_BORROW_ABORT", "1", NULL};
    t_child_result r;
    t_child(with_env, kv, &r);
    cr_assert(t_is(t_aborted(&r)), "status %d", r.status);
    cr_assert(t_is(strstr(r.err, "error[E0499]") != NULL), "%s", r.err);
}

Test(borrow, env_AR_BORROW_ABORT_0_returns, .timeout = 20)
{
    static const char *kv[] = {"AR_BORROW_ABORT", "0", NULL};
    t_child_result r;
    t_child(with_env, kv, &r);
    cr_assert(t_is(t_exited_ok(&r)), "status %d, stderr:\n%s", r.status, r.err);
    cr_assert(t_is(r.err[0] == 0), "%s", r.err);
}

Test(borrow, env_AR_BORROW_LOG_prints_and_returns, .timeout = 20)
{
    /* LOG prints; ABORT=0 so that this holds in -Dborrow_abort builds too. */
    static const char *kv[] = {"AR_BORROW_LOG", "1", "AR_BORROW_ABORT", "0", NULL};
    t_child_result r;
    t_child(with_env, kv, &r);
    cr_assert(t_is(t_exited_ok(&r)), "status %d, stderr:\n%s", r.status, r.err);
    cr_assert(t_is(strstr(r.err, "error[E0499]") != NULL), "%s", r.err);
}

Test(borrow, set_mode_returns_previous, .timeout = 10)
{
    cr_assert(eq(int, ar_borrow_get_mode(), AR_BORROW_MODE_RETURN));
    T_EQ_INT(ar_borrow_set_mode(AR_BORROW_MODE_LOG), AR_BORROW_MODE_RETURN);
    cr_assert(eq(int, ar_borrow_get_mode(), AR_BORROW_MODE_LOG));
    T_EQ_INT(ar_borrow_set_mode(AR_BORROW_MODE_RETURN), AR_BORROW_MODE_LOG);
}

/* Two plain threads hammer one counter: shared holders and exclusive
 * holders never overlap, and the counter ends free. */
typedef struct hammer {
    ar_borrow b;
    _Atomic int readers, writers;
    _Atomic int bad;
    int iters;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < h->iters; i++) {
        ar_loan l;
        if (i % 3 == 0) {
            if (ar_borrow_mut(&h->b, &l) == 0) {
                if (atomic_fetch_add(&h->writers, 1) != 0 || atomic_load(&h->readers) != 0)
                    atomic_store(&h->bad, 1);
                atomic_fetch_sub(&h->writers, 1);
                ar_loan_release(&l);
            }
        } else if (ar_borrow_shared(&h->b, &l) == 0) {
            atomic_fetch_add(&h->readers, 1);
            if (atomic_load(&h->writers) != 0)
                atomic_store(&h->bad, 1);
            atomic_fetch_sub(&h->readers, 1);
            ar_loan_release(&l);
        }
    }
    return NULL;
}

Test(borrow, threads_never_overlap_shared_and_exclusive, .timeout = 60)
{
    static hammer h;
    ar_borrow_init(&h.b, "h");
    h.iters = T_N(100000) / (T_SANITIZED ? 10 : 1);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        th[i] = t_thread(hammer_thread, &h);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    T_EQ_INT(atomic_load(&h.bad), 0);
    T_EQ_U64(word(&h.b) & AR__BW_TAG_MASK, 0);
}
