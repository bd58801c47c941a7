/*
 * tests/test_signal.c - signals as futures: delivery to waiting listeners
 * on any worker, every listener told, a stream of deliveries, several
 * signals per listener, nothing reported from before a listener existed,
 * bad input, and listeners created and dropped by the thousand without a
 * leaked slot or descriptor.  Each Criterion test is its own process, so
 * the handlers these tests install stay local to them.
 */
#include "helpers.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

/* A task that reports `want` deliveries of its listener into `seen`. */
typedef struct waiter {
    ar_co co;
    ar_signal sig;
    int want, i;
    _Atomic int *seen;     /* deliveries reported so far */
    _Atomic int *last;     /* the last signal number reported */
    _Atomic int *polled;   /* set once the task waits */
} waiter;

static ar_poll waiter_poll(void *p, ar_cx *cx)
{
    waiter *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->want; self->i++) {
        if (self->polled)
            atomic_fetch_add(self->polled, 1);
        AR_AWAIT(ar_signal_poll(&self->sig, cx));
        T_BG_CHECK(self->sig.res > 0);
        atomic_store(self->last, self->sig.res);
        atomic_fetch_add(self->seen, 1);
    }
    ar_signal_drop(&self->sig);
    AR_END;
}
static void waiter_drop(void *p) { ar_signal_drop(&((waiter *)p)->sig); }
static const ar_future_vt waiter_vt = AR_FUTURE_VT_VOID(waiter, waiter_poll, waiter_drop);

Test(signal, delivered_to_a_waiting_listener, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int seen = 0, last = 0, polled = 0;
    waiter w = {.want = 1, .seen = &seen, .last = &last, .polled = &polled};
    T_OK(ar_signal_init(&w.sig, SIGUSR1));
    T_OK(ar_spawn(rt, &waiter_vt, &w, NULL));
    T_WAIT_UNTIL(atomic_load(&polled) == 1);
    usleep(20 * 1000); /* let it reach its read of the pipe */
    T_EQ_INT(atomic_load(&seen), 0);
    T_OK(kill(getpid(), SIGUSR1));
    T_WAIT_UNTIL(atomic_load(&seen) == 1);
    T_EQ_INT(atomic_load(&last), SIGUSR1);
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}

Test(signal, every_listener_is_told, .timeout = 30)
{
    enum { N = 8 };
    ar_rt *rt = t_rt_mt(2);
    _Atomic int seen = 0, last = 0, polled = 0;
    for (int i = 0; i < N; i++) {
        waiter w = {.want = 1, .seen = &seen, .last = &last, .polled = &polled};
        T_OK(ar_signal_init(&w.sig, SIGUSR2));
        T_OK(ar_spawn(rt, &waiter_vt, &w, NULL));
    }
    T_WAIT_UNTIL(atomic_load(&polled) == N);
    T_OK(kill(getpid(), SIGUSR2));
    T_WAIT_UNTIL(atomic_load(&seen) == N);
    T_EQ_INT(atomic_load(&last), SIGUSR2);
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}

Test(signal, a_listener_is_a_stream_of_deliveries, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    _Atomic int seen = 0, last = 0, polled = 0;
    waiter w = {.want = 5, .seen = &seen, .last = &last, .polled = &polled};
    T_OK(ar_signal_init(&w.sig, SIGUSR1));
    T_OK(ar_spawn(rt, &waiter_vt, &w, NULL));
    for (int i = 1; i <= 5; i++) {
        /* Wait until the task waits again, so deliveries do not coalesce. */
        T_WAIT_UNTIL(atomic_load(&polled) == i);
        T_OK(kill(getpid(), SIGUSR1));
        T_WAIT_UNTIL(atomic_load(&seen) == i);
    }
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}

/* Polls a listener `n` times from block_on, recording what it reported. */
typedef struct take_n {
    ar_co co;
    ar_signal *sig;
    int n, i;
    int got[4];
} take_n;

static ar_poll take_n_poll(void *p, ar_cx *cx)
{
    take_n *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        AR_AWAIT(ar_signal_poll(self->sig, cx));
        self->got[self->i] = self->sig->res;
    }
    AR_END;
}
static const ar_future_vt take_n_vt = AR_FUTURE_VT_VOID(take_n, take_n_poll, NULL);

Test(signal, one_listener_several_signals_lowest_first, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    ar_signal sig;
    T_OK(ar_signal_init(&sig, SIGUSR2));
    T_OK(ar_signal_add(&sig, SIGUSR1));
    /* Both pending before the first poll; the same signal twice coalesces. */
    T_OK(kill(getpid(), SIGUSR2));
    T_OK(kill(getpid(), SIGUSR1));
    T_OK(kill(getpid(), SIGUSR2));
    take_n t = {.sig = &sig, .n = 2};
    T_OK(ar_block_on(rt, &take_n_vt, &t));
    T_EQ_INT(t.got[0], SIGUSR1);
    T_EQ_INT(t.got[1], SIGUSR2);
    ar_signal_drop(&sig);
    ar_rt_free(rt);
}

/* Polls a listener under a timeout. */
typedef struct bounded {
    ar_co co;
    ar_signal *sig;
    ar_timeout to;
} bounded;

static ar_poll sig_child_poll(void *p, ar_cx *cx) { return ar_signal_poll(p, cx); }
static void sig_child_drop(void *p) { (void)p; /* the test drops it */ }
static const ar_future_vt sig_child_vt = AR_FUTURE_VT_VOID(ar_signal, sig_child_poll,
                                                           sig_child_drop);

static ar_poll bounded_poll(void *p, ar_cx *cx)
{
    bounded *self = p;
    AR_BEGIN(&self->co);
    ar_timeout_init(&self->to, &sig_child_vt, self->sig, 200);
    AR_AWAIT(ar_timeout_poll(&self->to, cx));
    AR_END;
}
static const ar_future_vt bounded_vt = AR_FUTURE_VT_VOID(bounded, bounded_poll, NULL);

Test(signal, deliveries_before_a_listener_existed_are_not_reported, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    ar_signal early;
    T_OK(ar_signal_init(&early, SIGUSR1)); /* installs the handler */
    T_OK(kill(getpid(), SIGUSR1));
    ar_signal late;
    T_OK(ar_signal_init(&late, SIGUSR1));
    bounded b = {.sig = &late};
    T_OK(ar_block_on(rt, &bounded_vt, &b));
    T_EQ_INT(b.to.res, -ETIMEDOUT);
    /* The early listener did get it. */
    take_n t = {.sig = &early, .n = 1};
    T_OK(ar_block_on(rt, &take_n_vt, &t));
    T_EQ_INT(t.got[0], SIGUSR1);
    ar_signal_drop(&late);
    ar_signal_drop(&early);
    ar_rt_free(rt);
}

Test(signal, sigterm_is_caught_once_listened_for, .timeout = 30)
{
    ar_rt *rt = t_rt_mt(2);
    ar_signal sig;
    T_OK(ar_signal_init(&sig, SIGTERM));
    T_OK(raise(SIGTERM)); /* would end the process without the listener */
    take_n t = {.sig = &sig, .n = 1};
    T_OK(ar_block_on(rt, &take_n_vt, &t));
    T_EQ_INT(t.got[0], SIGTERM);
    ar_signal_drop(&sig);
    ar_rt_free(rt);
}

Test(signal, bad_input, .timeout = 30)
{
    ar_signal s;
    int bad[] = {0, -1, 65, 1000, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect(eq(int, ar_signal_init(&s, bad[i]), -EINVAL), "signo %d", bad[i]);
        /* An inert listener: poll is ready with the error, add refuses,
         * drop is harmless. */
        T_EQ_INT(ar_signal_poll(&s, NULL), AR_READY);
        T_EQ_INT(s.res, -EINVAL);
        T_EQ_INT(ar_signal_add(&s, SIGUSR1), -EBADF);
        ar_signal_drop(&s);
    }
    T_EQ_INT(ar_signal_init(NULL, SIGUSR1), -EINVAL);
    T_EQ_INT(ar_signal_add(NULL, SIGUSR1), -EINVAL);
    ar_signal_drop(NULL);
    T_OK(ar_signal_init(&s, SIGUSR1));
    T_EQ_INT(ar_signal_add(&s, SIGKILL), -EINVAL);
    ar_signal_drop(&s);
    ar_signal_drop(&s); /* idempotent */
    T_EQ_INT(ar_signal_poll(&s, NULL), AR_READY);
    T_EQ_INT(s.res, -EBADF);
}

Test(signal, listeners_beyond_the_limit_get_emfile, .timeout = 30)
{
    static ar_signal s[AR_SIGNAL_MAX + 1];
    for (int i = 0; i < AR_SIGNAL_MAX; i++)
        T_OK(ar_signal_init(&s[i], SIGUSR1));
    T_EQ_INT(ar_signal_init(&s[AR_SIGNAL_MAX], SIGUSR1), -EMFILE);
    ar_signal_drop(&s[7]);
    T_OK(ar_signal_init(&s[AR_SIGNAL_MAX], SIGUSR1));
    for (int i = 0; i <= AR_SIGNAL_MAX; i++)
        ar_signal_drop(&s[i]);
}

/* Polls a fresh listener once (it waits on its pipe), then drops it. */
typedef struct poll_once_drop {
    ar_co co;
    int rounds, i;
    ar_signal sig;
    ar_yield_now y;
} poll_once_drop;

static ar_poll poll_once_drop_poll(void *p, ar_cx *cx)
{
    poll_once_drop *self = p;
    AR_BEGIN(&self->co);
    for (self->i = 0; self->i < self->rounds; self->i++) {
        T_BG_EQ(ar_signal_init(&self->sig, SIGUSR1), 0);
        T_BG_EQ(ar_signal_poll(&self->sig, cx), AR_PENDING);
        ar_signal_drop(&self->sig);
        self->y = (ar_yield_now){0};
        AR_AWAIT(ar_yield_now_poll(&self->y, cx));
    }
    AR_END;
}
static const ar_future_vt poll_once_drop_vt = AR_FUTURE_VT_VOID(poll_once_drop,
                                                                poll_once_drop_poll, NULL);

Test(signal, dropping_waiting_listeners_leaks_nothing, .timeout = 60)
{
    ar_rt *rt = t_rt_mt(2);
    poll_once_drop warm = {.rounds = 4};
    T_OK(ar_block_on(rt, &poll_once_drop_vt, &warm)); /* the slot's pipe exists */
    int before = t_count_fds();
    poll_once_drop d = {.rounds = T_N(5000)};
    T_OK(ar_block_on(rt, &poll_once_drop_vt, &d));
    T_EQ_INT(t_count_fds(), before);
    /* The slot still works after all that. */
    ar_signal sig;
    T_OK(ar_signal_init(&sig, SIGUSR1));
    T_OK(kill(getpid(), SIGUSR1));
    take_n t = {.sig = &sig, .n = 1};
    T_OK(ar_block_on(rt, &take_n_vt, &t));
    T_EQ_INT(t.got[0], SIGUSR1);
    ar_signal_drop(&sig);
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
}
