/*
 * tests/test_mpsc.c - bounded and unbounded MPSC channels: FIFO order,
 * backpressure (a full channel makes senders wait, in FIFO order, and each
 * receive lets exactly one in), closing from the receiver (senders woken
 * with -EPIPE, buffered values still drained) and from the senders (the
 * receiver drains then gets -EPIPE), cancellation at every await point (a
 * waiting send dropped, a send granted room and dropped, a pending receive
 * abandoned), bad input, unbounded growth across the ring's wrap, and
 * multi-worker stress with many producers.
 */
#include "helpers.h"

typedef struct hsend {
    ar_mpsc_send s;
    t_waker w;
    long v;
    int res;
} hsend;

static void hsend_init(hsend *h, ar_mpsc_tx *tx, long v)
{
    h->v = v;
    ar_mpsc_send_init(&h->s, tx, &h->v);
    t_waker_init(&h->w);
    h->res = 1234;
}

static ar_poll hsend_poll(hsend *h)
{
    ar_cx cx = t_cx(&h->w);
    return ar_mpsc_send_poll(&h->s, &cx, &h->res);
}

#define T_SEND_PENDING(h) cr_assert(eq(int, hsend_poll(h), AR_PENDING), "%s should wait", #h)
#define T_SEND_READY(h, rc)                                                      \
    do {                                                                         \
        cr_assert(eq(int, hsend_poll(h), AR_READY), "%s should be ready", #h);   \
        T_EQ_INT((h)->res, (rc));                                                \
    } while (0)

static ar_poll recv_poll(ar_mpsc_rx *rx, t_waker *w, long *out, int *res)
{
    ar_cx cx = t_cx(w);
    return ar_mpsc_recv_poll(rx, &cx, out, res);
}

#define T_RECV(rx, w, expect)                                                    \
    do {                                                                         \
        long t_v_ = -1;                                                          \
        int t_r_ = 1234;                                                         \
        cr_assert(eq(int, recv_poll(rx, w, &t_v_, &t_r_), AR_READY));            \
        T_EQ_INT(t_r_, 0);                                                       \
        T_EQ_INT(t_v_, (expect));                                                \
    } while (0)

Test(mpsc, bounded_fifo_try_send_try_recv, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 3));
    for (long i = 0; i < 3; i++)
        T_OK(ar_mpsc_try_send(&tx, &i));
    long v = 99;
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EAGAIN);
    T_EQ_INT(ar_mpsc_len(&rx), 3);
    for (long i = 0; i < 3; i++) {
        T_OK(ar_mpsc_try_recv(&rx, &v));
        T_EQ_INT(v, i);
    }
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EAGAIN);
    /* Around the ring several times. */
    for (long i = 0; i < 100; i++) {
        T_OK(ar_mpsc_try_send(&tx, &i));
        T_OK(ar_mpsc_try_recv(&rx, &v));
        T_EQ_INT(v, i);
    }
    ar_mpsc_tx_drop(&tx);
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EPIPE);
    ar_mpsc_rx_drop(&rx);
}

Test(mpsc, backpressure_fifo_senders, .timeout = 10)
{
    ar_mpsc_tx tx, tx2;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 2));
    T_OK(ar_mpsc_tx_clone(&tx, &tx2));
    hsend a, b, c, d;
    hsend_init(&a, &tx, 0);
    hsend_init(&b, &tx2, 1);
    T_SEND_READY(&a, 0);
    T_SEND_READY(&b, 0);
    T_EQ_INT(atomic_load(&a.w.clones), 0); /* room: no waiting */
    hsend_init(&c, &tx, 2);
    hsend_init(&d, &tx2, 3);
    T_SEND_PENDING(&c);
    T_SEND_PENDING(&d);
    long v = 42;
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EAGAIN); /* no barging */
    t_waker rw;
    t_waker_init(&rw);
    T_RECV(&rx, &rw, 0); /* room for c only */
    T_EQ_INT(atomic_load(&c.w.wakes), 1);
    T_EQ_INT(atomic_load(&d.w.wakes), 0);
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EAGAIN); /* the room is c's */
    T_SEND_PENDING(&d);
    T_SEND_READY(&c, 0);
    T_RECV(&rx, &rw, 1);
    T_EQ_INT(atomic_load(&d.w.wakes), 1);
    T_SEND_READY(&d, 0);
    T_RECV(&rx, &rw, 2);
    T_RECV(&rx, &rw, 3);
    long out;
    int res;
    cr_assert(eq(int, recv_poll(&rx, &rw, &out, &res), AR_PENDING));
    T_OK(ar_mpsc_try_send(&tx2, &v)); /* wakes the receiver */
    T_EQ_INT(atomic_load(&rw.wakes), 1);
    T_RECV(&rx, &rw, 42);
    hsend *all[] = {&a, &b, &c, &d};
    for (int i = 0; i < 4; i++)
        cr_assert(eq(int, t_waker_held(&all[i]->w), 0), "sender %d leaked its waker", i);
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_tx_drop(&tx2);
    ar_mpsc_rx_drop(&rx);
    T_EQ_INT(t_waker_held(&rw), 0);
}

Test(mpsc, receiver_close_wakes_senders_and_drains, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 1));
    hsend a, b, c;
    hsend_init(&a, &tx, 7);
    hsend_init(&b, &tx, 8);
    hsend_init(&c, &tx, 9);
    T_SEND_READY(&a, 0);
    T_SEND_PENDING(&b);
    T_SEND_PENDING(&c);
    t_waker rw;
    t_waker_init(&rw);
    T_RECV(&rx, &rw, 7); /* b granted room, has not written yet */
    T_OK(ar_mpsc_close(&rx));
    T_OK(ar_mpsc_close(&rx)); /* idempotent */
    T_EQ_INT(atomic_load(&c.w.wakes), 1);
    T_SEND_READY(&b, -EPIPE); /* granted before the close: still refused */
    T_SEND_READY(&c, -EPIPE);
    long v = 1;
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EPIPE);
    int res = 0;
    cr_assert(eq(int, recv_poll(&rx, &rw, &v, &res), AR_READY));
    T_EQ_INT(res, -EPIPE);
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_rx_drop(&rx);

    /* Buffered values survive the close. */
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 4));
    for (long i = 0; i < 3; i++)
        T_OK(ar_mpsc_try_send(&tx, &i));
    T_OK(ar_mpsc_close(&rx));
    for (long i = 0; i < 3; i++)
        T_RECV(&rx, &rw, i);
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EPIPE);
    ar_mpsc_rx_drop(&rx);
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EPIPE); /* receiver gone */
    ar_mpsc_tx_drop(&tx);                        /* frees the block */
}

Test(mpsc, last_sender_drop_ends_the_stream, .timeout = 10)
{
    ar_mpsc_tx tx, tx2;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 8));
    T_OK(ar_mpsc_tx_clone(&tx, &tx2));
    long v = 5;
    T_OK(ar_mpsc_try_send(&tx, &v));
    ar_mpsc_tx_drop(&tx);
    t_waker rw;
    t_waker_init(&rw);
    T_RECV(&rx, &rw, 5);
    int res = 1234;
    cr_assert(eq(int, recv_poll(&rx, &rw, &v, &res), AR_PENDING)); /* tx2 lives */
    T_EQ_INT(res, 1234);
    v = 6;
    T_OK(ar_mpsc_try_send(&tx2, &v));
    ar_mpsc_tx_drop(&tx2); /* the value stays */
    T_RECV(&rx, &rw, 6);
    cr_assert(eq(int, recv_poll(&rx, &rw, &v, &res), AR_READY));
    T_EQ_INT(res, -EPIPE);
    cr_assert(eq(int, recv_poll(&rx, &rw, &v, &res), AR_READY)); /* and stays so */
    T_EQ_INT(res, -EPIPE);
    /* A receiver waiting when the last sender goes is woken. */
    ar_mpsc_rx_drop(&rx);
    T_OK(ar_mpsc_unbounded(&tx, &rx, sizeof(long)));
    t_waker rw2;
    t_waker_init(&rw2);
    cr_assert(eq(int, recv_poll(&rx, &rw2, &v, &res), AR_PENDING));
    ar_mpsc_tx_drop(&tx);
    T_EQ_INT(atomic_load(&rw2.wakes), 1);
    cr_assert(eq(int, recv_poll(&rx, &rw2, &v, &res), AR_READY));
    T_EQ_INT(res, -EPIPE);
    ar_mpsc_rx_drop(&rx);
    T_EQ_INT(t_waker_held(&rw) + t_waker_held(&rw2), 0);
}

Test(mpsc, dropped_waiting_send_delivers_nothing, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 1));
    hsend a, b, c;
    hsend_init(&a, &tx, 1);
    hsend_init(&b, &tx, 2);
    hsend_init(&c, &tx, 3);
    T_SEND_READY(&a, 0);
    T_SEND_PENDING(&b);
    T_SEND_PENDING(&c);
    ar_mpsc_send_drop(&b.s);
    T_EQ_INT(t_waker_held(&b.w), 0);
    t_waker rw;
    t_waker_init(&rw);
    T_RECV(&rx, &rw, 1);
    T_EQ_INT(atomic_load(&b.w.wakes), 0);
    T_EQ_INT(atomic_load(&c.w.wakes), 1);
    T_SEND_READY(&c, 0);
    T_RECV(&rx, &rw, 3); /* 2 was never delivered */
    long v;
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EAGAIN);
    ar_mpsc_send_drop(&c.s); /* after ready: nothing */
    ar_mpsc_send_drop(&b.s); /* idempotent */
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EAGAIN);
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_rx_drop(&rx);
}

Test(mpsc, dropped_granted_send_passes_its_room_on, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 1));
    hsend a, b, c;
    hsend_init(&a, &tx, 1);
    hsend_init(&b, &tx, 2);
    hsend_init(&c, &tx, 3);
    T_SEND_READY(&a, 0);
    T_SEND_PENDING(&b);
    T_SEND_PENDING(&c);
    t_waker rw;
    t_waker_init(&rw);
    T_RECV(&rx, &rw, 1); /* room granted to b */
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    ar_mpsc_send_drop(&b.s); /* ...which goes away: c gets it */
    T_EQ_INT(atomic_load(&c.w.wakes), 1);
    T_SEND_READY(&c, 0);
    T_RECV(&rx, &rw, 3);
    /* Granted and dropped with nobody behind: the room is free again. */
    hsend d, e;
    hsend_init(&d, &tx, 4);
    hsend_init(&e, &tx, 5);
    T_SEND_READY(&d, 0);
    T_SEND_PENDING(&e);
    T_RECV(&rx, &rw, 4);
    ar_mpsc_send_drop(&e.s);
    long v = 6;
    T_OK(ar_mpsc_try_send(&tx, &v));
    T_RECV(&rx, &rw, 6);
    T_EQ_INT(t_waker_held(&b.w) + t_waker_held(&c.w) + t_waker_held(&e.w), 0);
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_rx_drop(&rx);
}

Test(mpsc, abandoned_receive_loses_nothing, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 4));
    t_waker r1, r2;
    t_waker_init(&r1);
    t_waker_init(&r2);
    long v;
    int res;
    cr_assert(eq(int, recv_poll(&rx, &r1, &v, &res), AR_PENDING));
    /* The receive is abandoned; a later one with another waker gets the
     * value, and the first waker is released. */
    v = 11;
    T_OK(ar_mpsc_try_send(&tx, &v));
    T_EQ_INT(atomic_load(&r1.wakes), 1);
    T_RECV(&rx, &r2, 11);
    cr_assert(eq(int, recv_poll(&rx, &r2, &v, &res), AR_PENDING));
    cr_assert(eq(int, recv_poll(&rx, &r1, &v, &res), AR_PENDING)); /* replaces r2 */
    T_EQ_INT(t_waker_held(&r2), 0);
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_rx_drop(&rx);
    T_EQ_INT(t_waker_held(&r1), 0);
}

Test(mpsc, receiver_drop_refuses_waiting_senders, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 1));
    hsend a, b;
    hsend_init(&a, &tx, 1);
    hsend_init(&b, &tx, 2);
    T_SEND_READY(&a, 0);
    T_SEND_PENDING(&b);
    ar_mpsc_rx_drop(&rx); /* discards 1 */
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_SEND_READY(&b, -EPIPE);
    ar_mpsc_tx_drop(&tx);
    T_EQ_INT(t_waker_held(&b.w), 0);
}

Test(mpsc, bad_input, .timeout = 10)
{
    ar_mpsc_tx tx = {0}, tx2;
    ar_mpsc_rx rx = {0};
    long v = 1;
    T_EQ_INT(ar_mpsc_bounded(&tx, &rx, 0, 4), -EINVAL);
    T_EQ_INT(ar_mpsc_bounded(&tx, &rx, 8, 0), -EINVAL);
    T_EQ_INT(ar_mpsc_bounded(&tx, &rx, AR_MPSC_MAX_VALUE + 1, 4), -EINVAL);
    T_EQ_INT(ar_mpsc_bounded(&tx, &rx, 8, AR_MPSC_MAX_CAPACITY + 1), -EINVAL);
    T_EQ_INT(ar_mpsc_bounded(NULL, &rx, 8, 4), -EINVAL);
    T_EQ_INT(ar_mpsc_unbounded(&tx, NULL, 8), -EINVAL);
    T_EQ_INT(ar_mpsc_unbounded(&tx, &rx, 0), -EINVAL);
    /* Empty (zeroed) handles. */
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EBADF);
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EBADF);
    T_EQ_INT(ar_mpsc_tx_clone(&tx, &tx2), -EBADF);
    T_EQ_INT(ar_mpsc_close(&rx), -EBADF);
    T_EQ_INT(ar_mpsc_len(&rx), -EBADF);
    hsend s;
    hsend_init(&s, &tx, 1);
    T_SEND_READY(&s, -EBADF);
    t_waker rw;
    t_waker_init(&rw);
    int res = 0;
    cr_assert(eq(int, recv_poll(&rx, &rw, &v, &res), AR_READY));
    T_EQ_INT(res, -EBADF);
    ar_mpsc_tx_drop(&tx); /* no-ops */
    ar_mpsc_rx_drop(&rx);
    /* Released handles are zeroed and refuse too. */
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 2));
    T_EQ_INT(ar_mpsc_try_send(&tx, NULL), -EINVAL);
    hsend_init(&s, &tx, 1);
    s.s.value = NULL;
    T_SEND_READY(&s, -EINVAL);
    T_EQ_INT(ar_mpsc_tx_clone(&tx, NULL), -EINVAL);
    ar_mpsc_tx_drop(&tx);
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EBADF);
    ar_mpsc_tx_drop(&tx); /* twice: no-op */
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EPIPE);
    ar_mpsc_rx_drop(&rx);
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EBADF);
}

Test(mpsc, unbounded_grows_across_the_wrap, .timeout = 30)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_unbounded(&tx, &rx, sizeof(long)));
    long next_in = 0, next_out = 0, v;
    /* Leave the head in the middle of the ring, then grow several times. */
    for (int i = 0; i < 10; i++) {
        T_OK(ar_mpsc_try_send(&tx, &next_in));
        next_in++;
    }
    for (int i = 0; i < 7; i++) {
        T_OK(ar_mpsc_try_recv(&rx, &v));
        T_EQ_INT(v, next_out++);
    }
    for (int i = 0; i < 100000; i++) {
        hsend s; /* a send future on an unbounded channel never waits */
        hsend_init(&s, &tx, next_in++);
        T_SEND_READY(&s, 0);
    }
    T_EQ_INT(ar_mpsc_len(&rx), next_in - next_out);
    while (next_out < next_in) {
        T_OK(ar_mpsc_try_recv(&rx, &v));
        cr_assert(eq(long, v, next_out), "value %ld", next_out);
        next_out++;
    }
    T_EQ_INT(ar_mpsc_try_recv(&rx, &v), -EAGAIN);
    /* Dropping the receiver with values buffered frees them. */
    for (long i = 0; i < 1000; i++)
        T_OK(ar_mpsc_try_send(&tx, &i));
    ar_mpsc_rx_drop(&rx);
    ar_mpsc_tx_drop(&tx);
}

Test(mpsc, large_values, .timeout = 10)
{
    typedef struct { char bytes[100]; } big;
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(big), 3));
    for (int i = 0; i < 10; i++) {
        big b;
        memset(&b, 'a' + i, sizeof b);
        T_OK(ar_mpsc_try_send(&tx, &b));
        big o;
        T_OK(ar_mpsc_try_recv(&rx, &o));
        cr_assert(eq(int, memcmp(&b, &o, sizeof b), 0));
    }
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_rx_drop(&rx);
}

/* ------------------------------------------------------------------------
 * Stress: PRODUCERS tasks each send N values (id << 32 | seq) through one
 * channel; one consumer task checks per-producer order and the total.
 * Bounded with capacity 4 (constant backpressure) or 64 (batched wake-ups).  Every eleventh send is
 * polled once and, if it has to wait, dropped and done again (so dropped
 * sends at the await point are exercised and must deliver nothing).
 * --------------------------------------------------------------------- */
enum { PRODUCERS = 6 };
static ar_mpsc_rx g_rx;
static _Atomic long g_received;

typedef struct producer {
    ar_co co;
    ar_mpsc_tx tx;
    ar_mpsc_send s;
    long id, seq, n, v;
    int res;
} producer;

static ar_poll producer_poll(void *p, ar_cx *cx)
{
    producer *self = p;
    AR_BEGIN(&self->co);
    for (self->seq = 0; self->seq < self->n; self->seq++) {
        self->v = self->id << 32 | self->seq;
        ar_mpsc_send_init(&self->s, &self->tx, &self->v);
        if (self->seq % 11 == 5 &&
            ar_mpsc_send_poll(&self->s, cx, &self->res) == AR_PENDING) {
            ar_mpsc_send_drop(&self->s); /* not sent: send it again */
            ar_mpsc_send_init(&self->s, &self->tx, &self->v);
        }
        AR_AWAIT(ar_mpsc_send_poll(&self->s, cx, &self->res));
        T_BG_EQ(self->res, 0);
    }
    ar_mpsc_tx_drop(&self->tx);
    AR_END;
}

static void producer_drop(void *p)
{
    producer *self = p;
    ar_mpsc_send_drop(&self->s);
    ar_mpsc_tx_drop(&self->tx);
}

static const ar_future_vt producer_vt = AR_FUTURE_VT_VOID(producer, producer_poll, producer_drop);

typedef struct consumer {
    ar_co co;
    long next[PRODUCERS];
    long v;
    int res;
} consumer;

static ar_poll consumer_poll(void *p, ar_cx *cx)
{
    consumer *self = p;
    AR_BEGIN(&self->co);
    for (;;) {
        AR_AWAIT(ar_mpsc_recv_poll(&g_rx, cx, &self->v, &self->res));
        if (self->res == -EPIPE)
            break;
        T_BG_EQ(self->res, 0);
        long id = self->v >> 32, seq = self->v & 0xffffffffL;
        T_BG_CHECK(id >= 0 && id < PRODUCERS);
        if (id >= 0 && id < PRODUCERS) {
            T_BG_EQ(seq, self->next[id]);
            self->next[id] = seq + 1;
        }
        atomic_fetch_add(&g_received, 1);
    }
    AR_END;
}

static const ar_future_vt consumer_vt = AR_FUTURE_VT_VOID(consumer, consumer_poll, NULL);

static void run_stress(size_t capacity, long n)
{
    ar_mpsc_tx tx;
    if (capacity)
        T_OK(ar_mpsc_bounded(&tx, &g_rx, sizeof(long), capacity));
    else
        T_OK(ar_mpsc_unbounded(&tx, &g_rx, sizeof(long)));
    ar_rt *rt = t_rt_mt(2);
    ar_join hc, hp[PRODUCERS];
    consumer c = {0};
    T_OK(ar_spawn(rt, &consumer_vt, &c, &hc));
    for (long i = 0; i < PRODUCERS; i++) {
        producer pr = {.id = i, .n = n};
        T_OK(ar_mpsc_tx_clone(&tx, &pr.tx));
        T_OK(ar_spawn(rt, &producer_vt, &pr, &hp[i]));
    }
    ar_mpsc_tx_drop(&tx);
    for (int i = 0; i < PRODUCERS; i++)
        T_OK(ar_join_wait(&hp[i], NULL, 0));
    T_OK(ar_join_wait(&hc, NULL, 0));
    ar_rt_free(rt);
    T_BG_ASSERT_CLEAN();
    T_EQ_INT(atomic_load(&g_received), PRODUCERS * n);
    ar_mpsc_rx_drop(&g_rx);
}

Test(mpsc, stress_bounded_many_producers, .timeout = 120)
{
    run_stress(4, T_N(20000));
}

Test(mpsc, stress_bounded_batched_wakeups, .timeout = 120)
{
    run_stress(64, T_N(20000)); /* senders woken 8 slots at a time */
}

Test(mpsc, stress_unbounded_many_producers, .timeout = 120)
{
    run_stress(0, T_N(20000));
}

/* Close from the receiver while producers wait on a full channel: every
 * producer finishes (its send returns -EPIPE or 0), none hangs. */
typedef struct closer_prod {
    ar_co co;
    ar_mpsc_tx tx;
    ar_mpsc_send s;
    long v;
    int res;
} closer_prod;

static _Atomic long g_refused;

static ar_poll closer_prod_poll(void *p, ar_cx *cx)
{
    closer_prod *self = p;
    AR_BEGIN(&self->co);
    for (;;) {
        ar_mpsc_send_init(&self->s, &self->tx, &self->v);
        AR_AWAIT(ar_mpsc_send_poll(&self->s, cx, &self->res));
        if (self->res == -EPIPE)
            break;
        T_BG_EQ(self->res, 0);
    }
    atomic_fetch_add(&g_refused, 1);
    ar_mpsc_tx_drop(&self->tx);
    AR_END;
}

static void closer_prod_drop(void *p)
{
    closer_prod *self = p;
    ar_mpsc_send_drop(&self->s);
    ar_mpsc_tx_drop(&self->tx);
}

static const ar_future_vt closer_prod_vt =
    AR_FUTURE_VT_VOID(closer_prod, closer_prod_poll, closer_prod_drop);

Test(mpsc, stress_close_while_senders_wait, .timeout = 60)
{
    for (int round = 0; round < T_N(20); round++) {
        ar_mpsc_tx tx;
        ar_mpsc_rx rx;
        T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 2));
        ar_rt *rt = t_rt_mt(2);
        ar_join h[PRODUCERS];
        atomic_store(&g_refused, 0);
        for (int i = 0; i < PRODUCERS; i++) {
            closer_prod cp = {.v = i};
            T_OK(ar_mpsc_tx_clone(&tx, &cp.tx));
            T_OK(ar_spawn(rt, &closer_prod_vt, &cp, &h[i]));
        }
        ar_mpsc_tx_drop(&tx);
        long v;
        for (int i = 0; i < 50; i++) {
            int rc;
            while ((rc = ar_mpsc_try_recv(&rx, &v)) == -EAGAIN)
                sched_yield();
            T_OK(rc);
        }
        T_OK(ar_mpsc_close(&rx));
        for (int i = 0; i < PRODUCERS; i++)
            T_OK(ar_join_wait(&h[i], NULL, 0));
        T_EQ_INT(atomic_load(&g_refused), PRODUCERS);
        /* Drain what was buffered before the close, then closed. */
        int rc;
        while ((rc = ar_mpsc_try_recv(&rx, &v)) == 0) {
        }
        T_EQ_INT(rc, -EPIPE);
        ar_rt_free(rt);
        ar_mpsc_rx_drop(&rx);
    }
    T_BG_ASSERT_CLEAN();
}

/* Capacity 64: waiting senders are woken once 8 slots are free, then get
 * one slot each, in order; meanwhile nobody overtakes them. */
Test(mpsc, waiting_senders_are_woken_in_batches, .timeout = 10)
{
    ar_mpsc_tx tx;
    ar_mpsc_rx rx;
    T_OK(ar_mpsc_bounded(&tx, &rx, sizeof(long), 64));
    for (long i = 0; i < 64; i++)
        T_OK(ar_mpsc_try_send(&tx, &i));
    hsend a, b;
    hsend_init(&a, &tx, 64);
    hsend_init(&b, &tx, 65);
    T_SEND_PENDING(&a);
    T_SEND_PENDING(&b);
    t_waker rw;
    t_waker_init(&rw);
    long v = 99;
    for (long i = 0; i < 7; i++) {
        T_RECV(&rx, &rw, i);
        T_EQ_INT(atomic_load(&a.w.wakes), 0);
        T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EAGAIN); /* room, but a and b wait */
    }
    T_RECV(&rx, &rw, 7); /* 8 free: a and b get one slot each */
    T_EQ_INT(atomic_load(&a.w.wakes), 1);
    T_EQ_INT(atomic_load(&b.w.wakes), 1);
    T_SEND_READY(&b, 0); /* granted sends write when polled */
    T_SEND_READY(&a, 0);
    for (long i = 0; i < 6; i++) /* the 6 slots left are free for anyone */
        T_OK(ar_mpsc_try_send(&tx, &v));
    T_EQ_INT(ar_mpsc_try_send(&tx, &v), -EAGAIN);
    for (long i = 8; i < 64; i++)
        T_RECV(&rx, &rw, i);
    T_RECV(&rx, &rw, 65); /* values are buffered in the order they were written */
    T_RECV(&rx, &rw, 64);
    ar_mpsc_tx_drop(&tx);
    ar_mpsc_rx_drop(&rx);
    T_EQ_INT(t_waker_held(&a.w) + t_waker_held(&b.w), 0);
}
