/*
 * tests/test_oneshot.c - the oneshot channel: send/recv in both orders,
 * value sizes, closing from either side (-EPIPE), released halves (-EBADF),
 * waker replacement, cancellation safety of a waiting receiver, and
 * cross-thread stress (tasks on different workers, plain threads racing).
 */
#include "helpers.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31u + seed);
}

Test(oneshot, send_then_recv, .timeout = 10)
{
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    int v = 1234;
    T_OK(ar_oneshot_send(&tx, &v));
    cr_assert(eq(ptr, tx.ch, NULL)); /* the sender is released */
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int out = 0, res = 1;
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, 0);
    T_EQ_INT(out, 1234);
    cr_assert(eq(ptr, rx.ch, NULL));
    T_EQ_INT(atomic_load(&w.clones), 0); /* ready at once: nothing stored */
    T_EQ_INT(atomic_load(&w.wakes), 0);
}

Test(oneshot, recv_then_send, .timeout = 10)
{
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(long)));
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    long out = 0;
    int res = 1;
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_PENDING));
    T_EQ_INT(t_waker_held(&w), 1);
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_PENDING));
    T_EQ_INT(atomic_load(&w.clones), 1); /* same waker: kept */
    T_EQ_INT(atomic_load(&w.wakes), 0);
    long v = -77;
    T_OK(ar_oneshot_send(&tx, &v));
    T_EQ_INT(atomic_load(&w.wakes), 1);
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, 0);
    T_EQ_INT(out, -77);
    T_EQ_INT(t_waker_held(&w), 0); /* the block is gone, its waker released */
    T_EQ_INT(atomic_load(&w.wakes), 1);
}

Test(oneshot, waker_replacement, .timeout = 10)
{
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    t_waker a, b;
    t_waker_init(&a);
    t_waker_init(&b);
    ar_cx ca = t_cx(&a), cb = t_cx(&b);
    int out = 0, res = 1;
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &ca, &out, &res), AR_PENDING));
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cb, &out, &res), AR_PENDING));
    T_EQ_INT(t_waker_held(&a), 0);
    T_EQ_INT(t_waker_held(&b), 1);
    int v = 5;
    T_OK(ar_oneshot_send(&tx, &v));
    T_EQ_INT(atomic_load(&a.wakes), 0);
    T_EQ_INT(atomic_load(&b.wakes), 1);
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cb, &out, &res), AR_READY));
    T_EQ_INT(out, 5);
    T_EQ_INT(t_waker_held(&b), 0);
}

Test(oneshot, value_sizes, .timeout = 10)
{
    static const size_t sizes[] = {1, 2, 7, 8, 64, 1000, AR_ONESHOT_MAX_VALUE};
    static unsigned char in[AR_ONESHOT_MAX_VALUE], out[AR_ONESHOT_MAX_VALUE + 64];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        ar_oneshot_tx tx;
        ar_oneshot_rx rx;
        T_OK(ar_oneshot_new(&tx, &rx, n));
        fill(in, n, (unsigned)k);
        memset(out, 0xA5, sizeof out);
        t_waker w;
        t_waker_init(&w);
        ar_cx cx = t_cx(&w);
        int res = 1;
        /* Half the sizes pending first, half sent first. */
        if (k % 2)
            cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, out, &res), AR_PENDING));
        T_OK(ar_oneshot_send(&tx, in));
        cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, out, &res), AR_READY));
        T_EQ_INT(res, 0);
        cr_assert(eq(int, memcmp(in, out, n), 0), "size %zu: value differs", n);
        for (size_t i = n; i < sizeof out; i++)
            cr_assert(eq(u8, out[i], 0xA5), "size %zu: wrote past the value at %zu", n, i);
    }
    ar_oneshot_tx tx = {(ar_oneshot *)0x1};
    ar_oneshot_rx rx = {(ar_oneshot *)0x1};
    T_EQ_INT(ar_oneshot_new(&tx, &rx, 0), -EINVAL);
    T_EQ_INT(ar_oneshot_new(&tx, &rx, AR_ONESHOT_MAX_VALUE + 1), -EINVAL);
    T_EQ_INT(ar_oneshot_new(&tx, &rx, SIZE_MAX), -EINVAL);
    T_EQ_INT(ar_oneshot_new(NULL, &rx, 4), -EINVAL);
    T_EQ_INT(ar_oneshot_new(&tx, NULL, 4), -EINVAL);
}

Test(oneshot, sender_dropped_is_epipe, .timeout = 10)
{
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int out = -1, res = 1;
    /* Dropped before the receiver looks. */
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    ar_oneshot_tx_drop(&tx);
    cr_assert(eq(ptr, tx.ch, NULL));
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, -EPIPE);
    T_EQ_INT(out, -1);
    /* Dropped while the receiver waits: it is woken. */
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_PENDING));
    ar_oneshot_tx_drop(&tx);
    T_EQ_INT(atomic_load(&w.wakes), 1);
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, -EPIPE);
    T_EQ_INT(out, -1);
    T_EQ_INT(t_waker_held(&w), 0);
}

Test(oneshot, receiver_dropped_send_is_epipe, .timeout = 10)
{
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    ar_oneshot_rx_drop(&rx);
    cr_assert(eq(ptr, rx.ch, NULL));
    int v = 3;
    T_EQ_INT(ar_oneshot_send(&tx, &v), -EPIPE);
    cr_assert(eq(ptr, tx.ch, NULL)); /* released anyway */
    /* The receiver had registered a waker before it was dropped. */
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    int out = 0, res = 1;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_PENDING));
    ar_oneshot_rx_drop(&rx);
    T_EQ_INT(ar_oneshot_send(&tx, &v), -EPIPE);
    T_EQ_INT(atomic_load(&w.wakes), 0); /* nobody to wake */
    T_EQ_INT(t_waker_held(&w), 0);
}

Test(oneshot, released_halves_are_ebadf, .timeout = 10)
{
    ar_oneshot_tx tx;
    ar_oneshot_rx rx;
    T_OK(ar_oneshot_new(&tx, &rx, sizeof(int)));
    int v = 8, out = 0, res = 1;
    T_OK(ar_oneshot_send(&tx, &v));
    T_EQ_INT(ar_oneshot_send(&tx, &v), -EBADF);
    ar_oneshot_tx_drop(&tx); /* no-op */
    t_waker w;
    t_waker_init(&w);
    ar_cx cx = t_cx(&w);
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(out, 8);
    out = 0;
    cr_assert(eq(int, ar_oneshot_recv_poll(&rx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, -EBADF);
    T_EQ_INT(out, 0);
    ar_oneshot_rx_drop(&rx); /* no-op */
    ar_oneshot_rx_drop(&rx);
    T_EQ_INT(ar_oneshot_send(NULL, &v), -EBADF);
    cr_assert(eq(int, ar_oneshot_recv_poll(NULL, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, -EBADF);
    ar_oneshot_tx_drop(NULL);
    ar_oneshot_rx_drop(NULL);
    /* Zeroed halves count as released. */
    ar_oneshot_tx ztx = {0};
    ar_oneshot_rx zrx = {0};
    T_EQ_INT(ar_oneshot_send(&ztx, &v), -EBADF);
    cr_assert(eq(int, ar_oneshot_recv_poll(&zrx, &cx, &out, &res), AR_READY));
    T_EQ_INT(res, -EBADF);
    /* res may be NULL. */
    cr_assert(eq(int, ar_oneshot_recv_poll(&zrx, &cx, &out, NULL), AR_READY));
    T_EQ_INT(t_waker_held(&w), 0);
}

/* ------------------------------------------------------------------------
 * Cancellation safety: a task waiting on a receive is dropped (abort,
 * shutdown); its drop function releases the receiver; nothing leaks.
 * --------------------------------------------------------------------- */
typedef struct recv_task {
    ar_co co;
    ar_oneshot_rx rx;
    int v, res;
    int out;
} recv_task;

static _Atomic int recv_drops;

static ar_poll recv_task_poll(void *self, ar_cx *cx)
{
    recv_task *r = self;
    AR_BEGIN(&r->co);
    AR_AWAIT(ar_oneshot_recv_poll(&r->rx, cx, &r->v, &r->res));
    r->out = r->res ? r->res : r->v;
    AR_END;
}

static void recv_task_drop(void *self)
{
    atomic_fetch_add(&recv_drops, 1);
    ar_oneshot_rx_drop(&((recv_task *)self)->rx);
}

static const ar_future_vt recv_task_vt = AR_FUTURE_VT(recv_task, recv_task_poll, recv_task_drop, out);

typedef struct send_task {
    ar_co co;
    ar_oneshot_tx tx;
    ar_yield_now y;
    int yields, i, v;
    int out; /* send result */
} send_task;

static ar_poll send_task_poll(void *self, ar_cx *cx)
{
    send_task *s = self;
    AR_BEGIN(&s->co);
    for (s->i = 0; s->i < s->yields; s->i++)
        AR_AWAIT(ar_yield_now_poll(&s->y, cx));
    s->out = ar_oneshot_send(&s->tx, &s->v);
    AR_END;
}

static _Atomic int send_drops;

static void send_task_drop(void *self)
{
    atomic_fetch_add(&send_drops, 1);
    ar_oneshot_tx_drop(&((send_task *)self)->tx);
}

static const ar_future_vt send_task_vt = AR_FUTURE_VT(send_task, send_task_poll, send_task_drop, out);

Test(oneshot, receiver_task_aborted_while_waiting, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx;
    recv_task r = {0};
    T_OK(ar_oneshot_new(&tx, &r.rx, sizeof(int)));
    ar_join h;
    T_OK(ar_spawn(rt, &recv_task_vt, &r, &h));
    /* Wait until the receiver registered its waker (it is parked). */
    T_WAIT_UNTIL(t_state(&h) && !(t_state(&h) & (AR__ST_RUNNING | AR__ST_NOTIFIED)) &&
                 ar__st_refs(t_state(&h)) == 3); /* registry + handle + channel */
    T_OK(ar_join_abort(&h));
    T_EQ_INT(ar_join_wait(&h, NULL, 0), -ECANCELED);
    T_EQ_INT(atomic_load(&recv_drops), 1);
    int v = 1;
    T_EQ_INT(ar_oneshot_send(&tx, &v), -EPIPE); /* frees the block */
    ar_rt_free(rt);
}

Test(oneshot, sender_task_aborted, .timeout = 20)
{
    ar_rt *rt = t_rt_mt(2);
    recv_task r = {0};
    send_task s = {.yields = 1000000, .v = 4};
    T_OK(ar_oneshot_new(&s.tx, &r.rx, sizeof(int)));
    ar_join hr, hs;
    T_OK(ar_spawn(rt, &recv_task_vt, &r, &hr));
    T_OK(ar_spawn(rt, &send_task_vt, &s, &hs));
    T_OK(ar_join_abort(&hs));
    T_EQ_INT(ar_join_wait(&hs, NULL, 0), -ECANCELED);
    T_EQ_INT(atomic_load(&send_drops), 1);
    int out = 0;
    T_OK(ar_join_wait(&hr, &out, sizeof out));
    T_EQ_INT(out, -EPIPE);
    ar_rt_free(rt);
}

Test(oneshot, waiting_receivers_dropped_by_shutdown, .timeout = 20)
{
    enum { N = 100 };
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx tx[N];
    ar_join h[N];
    for (int i = 0; i < N; i++) {
        recv_task r = {0};
        T_OK(ar_oneshot_new(&tx[i], &r.rx, sizeof(int)));
        T_OK(ar_spawn(rt, &recv_task_vt, &r, &h[i]));
    }
    for (int i = 0; i < N; i += 2) {
        int v = i;
        T_OK(ar_oneshot_send(&tx[i], &v));
        int out = -1;
        T_OK(ar_join_wait(&h[i], &out, sizeof out));
        T_EQ_INT(out, i);
    }
    ar_rt_free(rt);
    T_EQ_INT(atomic_load(&recv_drops), N / 2);
    for (int i = 1; i < N; i += 2) {
        T_EQ_INT(ar_join_wait(&h[i], NULL, 0), -ECANCELED);
        if (i % 4 == 1) {
            int v = i;
            T_EQ_INT(ar_oneshot_send(&tx[i], &v), -EPIPE);
        } else {
            ar_oneshot_tx_drop(&tx[i]);
        }
    }
}

/* ------------------------------------------------------------------------
 * Cross-thread stress
 * --------------------------------------------------------------------- */
static _Atomic int stress_ok, stress_bad;

typedef struct checked_recv {
    ar_co co;
    ar_oneshot_rx rx;
    int i;
    int v[4]; /* 16-byte values: a torn copy would show */
    int res;
} checked_recv;

static ar_poll checked_recv_poll(void *self, ar_cx *cx)
{
    checked_recv *r = self;
    AR_BEGIN(&r->co);
    AR_AWAIT(ar_oneshot_recv_poll(&r->rx, cx, r->v, &r->res));
    if (r->res == 0 && r->v[0] == r->i && r->v[1] == ~r->i && r->v[2] == r->i * 3 &&
        r->v[3] == (r->i ^ 0x5a5a))
        atomic_fetch_add(&stress_ok, 1);
    else
        atomic_fetch_add(&stress_bad, 1);
    AR_END;
}

static void checked_recv_drop(void *self) { ar_oneshot_rx_drop(&((checked_recv *)self)->rx); }

static const ar_future_vt checked_recv_vt =
    AR_FUTURE_VT_VOID(checked_recv, checked_recv_poll, checked_recv_drop);

typedef struct checked_send {
    ar_co co;
    ar_oneshot_tx tx;
    ar_yield_now y;
    int i;
} checked_send;

static ar_poll checked_send_poll(void *self, ar_cx *cx)
{
    checked_send *s = self;
    AR_BEGIN(&s->co);
    if (s->i % 3 == 0)
        AR_AWAIT(ar_yield_now_poll(&s->y, cx));
    {
        int v[4] = {s->i, ~s->i, s->i * 3, s->i ^ 0x5a5a};
        T_BG_EQ(ar_oneshot_send(&s->tx, v), 0);
    }
    AR_END;
}

static void checked_send_drop(void *self) { ar_oneshot_tx_drop(&((checked_send *)self)->tx); }

static const ar_future_vt checked_send_vt =
    AR_FUTURE_VT_VOID(checked_send, checked_send_poll, checked_send_drop);

typedef struct plain_senders {
    ar_oneshot_tx *tx;
    int from, to;
} plain_senders;

static void *plain_send_thread(void *arg)
{
    plain_senders *p = arg;
    for (int i = p->from; i < p->to; i++) {
        int v[4] = {i, ~i, i * 3, i ^ 0x5a5a};
        T_BG_EQ(ar_oneshot_send(&p->tx[i], v), 0);
    }
    return NULL;
}

Test(oneshot, stress_cross_worker_channels, .timeout = 60)
{
    const int n = T_N(40000);
    ar_rt *rt = t_rt_mt(2);
    ar_oneshot_tx *tx = calloc((size_t)n, sizeof *tx);
    /* Receivers first: most of them wait before their value is sent. */
    for (int i = 0; i < n; i++) {
        checked_recv r = {.i = i};
        T_OK(ar_oneshot_new(&tx[i], &r.rx, sizeof r.v));
        T_OK(ar_spawn(rt, &checked_recv_vt, &r, NULL));
    }
    /* The first half is sent by tasks, the second by two plain threads. */
    for (int i = 0; i < n / 2; i++) {
        checked_send s = {.tx = tx[i], .i = i};
        T_OK(ar_spawn(rt, &checked_send_vt, &s, NULL));
    }
    plain_senders ps[2] = {{tx, n / 2, 3 * n / 4}, {tx, 3 * n / 4, n}};
    pthread_t th[2] = {t_thread(plain_send_thread, &ps[0]), t_thread(plain_send_thread, &ps[1])};
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    T_WAIT_UNTIL(atomic_load(&stress_ok) + atomic_load(&stress_bad) == n);
    T_EQ_INT(atomic_load(&stress_bad), 0);
    T_BG_ASSERT_CLEAN();
    ar_rt_free(rt);
    free(tx);
}

/* Two plain threads race on every channel: one sends or drops the sender,
 * the other receives (polling by hand) or drops the receiver.  Every
 * outcome must be consistent and every block freed exactly once. */
typedef struct race_ctx {
    ar_oneshot_tx *tx;
    ar_oneshot_rx *rx;
    int n;
    t_waker w;
    _Atomic int sent_ok, sent_pipe, got, got_pipe;
} race_ctx;

static void *race_tx_thread(void *arg)
{
    race_ctx *c = arg;
    for (int i = 0; i < c->n; i++) {
        if (i % 3 == 0) {
            ar_oneshot_tx_drop(&c->tx[i]);
            continue;
        }
        int rc = ar_oneshot_send(&c->tx[i], &i);
        if (rc == 0)
            atomic_fetch_add(&c->sent_ok, 1);
        else if (rc == -EPIPE)
            atomic_fetch_add(&c->sent_pipe, 1);
        else
            T_BG_EQ(rc, 0);
    }
    return NULL;
}

static void *race_rx_thread(void *arg)
{
    race_ctx *c = arg;
    for (int i = 0; i < c->n; i++) {
        if (i % 2 == 0) {
            ar_oneshot_rx_drop(&c->rx[i]);
            continue;
        }
        int v = -1, res = 1;
        for (;;) {
            /* A fresh context per poll, as an executor gives: the budget
             * is per poll. */
            ar_cx cx = t_cx(&c->w);
            if (ar_oneshot_recv_poll(&c->rx[i], &cx, &v, &res) == AR_READY)
                break;
            sched_yield();
        }
        if (res == 0) {
            T_BG_EQ(v, i);
            T_BG_CHECK(i % 3 != 0);
            atomic_fetch_add(&c->got, 1);
        } else {
            T_BG_EQ(res, -EPIPE);
            T_BG_EQ(i % 3, 0);
            atomic_fetch_add(&c->got_pipe, 1);
        }
    }
    return NULL;
}

Test(oneshot, stress_plain_threads_race_both_ends, .timeout = 60)
{
    static race_ctx c;
    c.n = T_N(200000);
    c.tx = calloc((size_t)c.n, sizeof *c.tx);
    c.rx = calloc((size_t)c.n, sizeof *c.rx);
    t_waker_init(&c.w);
    for (int i = 0; i < c.n; i++)
        T_OK(ar_oneshot_new(&c.tx[i], &c.rx[i], sizeof(int)));
    pthread_t a = t_thread(race_tx_thread, &c), b = t_thread(race_rx_thread, &c);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    T_BG_ASSERT_CLEAN();
    int received = 0, recv_pipe = 0, want_got = 0, want_pipe = 0;
    for (int i = 1; i < c.n; i += 2) {
        if (i % 3 == 0)
            want_pipe++;
        else
            want_got++;
    }
    received = atomic_load(&c.got);
    recv_pipe = atomic_load(&c.got_pipe);
    T_EQ_INT(received, want_got);
    T_EQ_INT(recv_pipe, want_pipe);
    /* Sends to kept receivers all succeed; to dropped ones, either. */
    int sends = 0;
    for (int i = 0; i < c.n; i++)
        sends += i % 3 != 0;
    T_EQ_INT(atomic_load(&c.sent_ok) + atomic_load(&c.sent_pipe), sends);
    cr_assert(t_is(atomic_load(&c.sent_ok) >= want_got));
    T_EQ_INT(t_waker_held(&c.w), 0); /* every stored waker was released */
    for (int i = 0; i < c.n; i++) {
        cr_assert(eq(ptr, c.tx[i].ch, NULL));
        cr_assert(eq(ptr, c.rx[i].ch, NULL));
    }
    free(c.tx);
    free(c.rx);
}
