/*
 * tests/test_inject.c - the global injection queue of runtime/inject.h: a
 * growable FIFO ring of task pointers under a spinlock.
 *
 * Tasks are fake (distinct 16-byte-aligned addresses): the injection queue
 * never dereferences them.  The ring starts at 256 entries; the growth
 * tests push past that with the ring's head wrapped.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* Criterion glue for the sanitizer builds (TSan arena placement, the
 * runner's own leaks), shared by all test files. */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"

typedef struct fake_task {
    _Alignas(16) char pad[64];
} fake_task;

static fake_task *items;
static size_t nitems;

static void items_alloc(size_t n)
{
    items = aligned_alloc(16, n * sizeof *items);
    cr_assert(not(eq(ptr, items, NULL)));
    nitems = n;
}

static struct ar_task *T(size_t i) { return (struct ar_task *)(void *)&items[i]; }

static ar__inject q;

static void setup(void)
{
    cr_assert(eq(int, ar__inject_init(&q), 0));
}

static void teardown(void)
{
    ar__inject_destroy(&q);
    free(items);
    items = NULL;
}

/* Every test gets the suite timeout (one value for the whole file: Criterion
 * 2.4.1 leaks a timeout entry when tests with different timeouts run in
 * parallel). */
TestSuite(inject, .init = setup, .fini = teardown, .timeout = 30);

Test(inject, init_empty)
{
    cr_assert(ar__inject_is_empty(&q));
    cr_assert(eq(u32, ar__inject_len(&q), 0));
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), NULL));
    struct ar_task *out[4];
    cr_assert(eq(u32, ar__inject_pop_n(&q, out, 4), 0));
}

Test(inject, push_pop_fifo)
{
    items_alloc(10);
    for (size_t i = 0; i < 10; i++) {
        cr_assert(eq(int, ar__inject_push(&q, T(i)), 0));
        cr_assert(eq(u32, ar__inject_len(&q), (uint32_t)i + 1));
        cr_assert(not(ar__inject_is_empty(&q)));
    }
    for (size_t i = 0; i < 10; i++) {
        cr_assert(eq(ptr, (void *)ar__inject_pop(&q), (void *)T(i)), "pop %zu", i);
        cr_assert(eq(u32, ar__inject_len(&q), 9 - (uint32_t)i));
    }
    cr_assert(ar__inject_is_empty(&q));
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), NULL));
}

Test(inject, push_batch_and_pop_n)
{
    items_alloc(8);
    struct ar_task *in[8];
    for (size_t i = 0; i < 8; i++)
        in[i] = T(i);
    cr_assert(eq(int, ar__inject_push_batch(&q, in, 5), 0));
    cr_assert(eq(u32, ar__inject_len(&q), 5));
    cr_assert(eq(int, ar__inject_push(&q, T(5)), 0));
    cr_assert(eq(int, ar__inject_push_batch(&q, in + 6, 2), 0));
    cr_assert(eq(u32, ar__inject_len(&q), 8));

    struct ar_task *out[16];
    memset(out, 0, sizeof out);
    cr_assert(eq(u32, ar__inject_pop_n(&q, out, 3), 3));
    for (size_t i = 0; i < 3; i++)
        cr_assert(eq(ptr, (void *)out[i], (void *)T(i)));
    cr_assert(eq(u32, ar__inject_len(&q), 5));
    /* max 0 takes nothing. */
    cr_assert(eq(u32, ar__inject_pop_n(&q, out, 0), 0));
    cr_assert(eq(u32, ar__inject_len(&q), 5));
    /* More than there is: takes what is there, leaves out[] beyond alone. */
    out[5] = (struct ar_task *)(void *)&q;
    cr_assert(eq(u32, ar__inject_pop_n(&q, out, 16), 5));
    for (size_t i = 0; i < 5; i++)
        cr_assert(eq(ptr, (void *)out[i], (void *)T(3 + i)));
    cr_assert(eq(ptr, (void *)out[5], (void *)&q));
    cr_assert(ar__inject_is_empty(&q));
}

Test(inject, empty_batch_is_ok)
{
    items_alloc(1);
    struct ar_task *in[1] = {T(0)};
    cr_assert(eq(int, ar__inject_push_batch(&q, in, 0), 0));
    cr_assert(ar__inject_is_empty(&q));
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), NULL));
}

/* Growth with the head wrapped: entries at the end and the start of the
 * ring must come out in order after the ring is reallocated. */
Test(inject, grows_past_initial_capacity_with_wrap)
{
    items_alloc(2000);
    size_t next_in = 0, next_out = 0;
    for (; next_in < 200; next_in++)
        cr_assert(eq(int, ar__inject_push(&q, T(next_in)), 0));
    for (; next_out < 150; next_out++)
        cr_assert(eq(ptr, (void *)ar__inject_pop(&q), (void *)T(next_out)));
    /* head is now 150 of 256; push 100 -> wraps, then 250 more -> grows
     * (twice: 256 -> 512 -> ...). */
    for (; next_in < 300; next_in++)
        cr_assert(eq(int, ar__inject_push(&q, T(next_in)), 0));
    cr_assert(eq(u32, ar__inject_len(&q), 150));
    struct ar_task *batch[250];
    for (size_t i = 0; i < 250; i++)
        batch[i] = T(next_in + i);
    cr_assert(eq(int, ar__inject_push_batch(&q, batch, 250), 0));
    next_in += 250;
    for (; next_in < 1100; next_in++)
        cr_assert(eq(int, ar__inject_push(&q, T(next_in)), 0));
    cr_assert(eq(u32, ar__inject_len(&q), (uint32_t)(next_in - next_out)));
    cr_assert(ge(u32, q.cap, ar__inject_len(&q)));

    struct ar_task *out[64];
    while (next_out < next_in) {
        uint32_t n = ar__inject_pop_n(&q, out, 64);
        cr_assert(gt(u32, n, 0));
        for (uint32_t i = 0; i < n; i++, next_out++)
            if (out[i] != T(next_out))
                cr_assert(eq(ptr, (void *)out[i], (void *)T(next_out)), "entry %zu", next_out);
    }
    cr_assert(ar__inject_is_empty(&q));
}

/* Random pushes / batches / pop_n against a model FIFO, long enough to wrap
 * the ring's head many times at several capacities. */
Test(inject, random_ops_match_model_fifo)
{
    enum { N = 200000 };
    items_alloc(N);
    size_t next_in = 0, next_out = 0;
    uint32_t rng = 42;
    struct ar_task *buf[700];
    while (next_out < N) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        uint32_t op = rng % 4;
        /* The amount pushed drifts so the queue grows to ~thousands and
         * drains back to zero several times. */
        uint32_t bias = (uint32_t)((next_in / 20000) % 2);
        if (next_in < N && (op < 2 + bias)) {
            uint32_t n = (rng >> 8) % 600 + 1;
            if (n > N - next_in)
                n = (uint32_t)(N - next_in);
            if (n == 1) {
                cr_assert(eq(int, ar__inject_push(&q, T(next_in)), 0));
            } else {
                for (uint32_t i = 0; i < n; i++)
                    buf[i] = T(next_in + i);
                cr_assert(eq(int, ar__inject_push_batch(&q, buf, n), 0));
            }
            next_in += n;
        } else {
            uint32_t max = (rng >> 8) % 700;
            uint32_t n = ar__inject_pop_n(&q, buf, max);
            size_t avail = next_in - next_out;
            cr_assert(eq(u32, n, (uint32_t)(avail < max ? avail : max)));
            for (uint32_t i = 0; i < n; i++, next_out++)
                if (buf[i] != T(next_out))
                    cr_assert(eq(ptr, (void *)buf[i], (void *)T(next_out)), "entry %zu",
                              next_out);
        }
        cr_assert(eq(u32, ar__inject_len(&q), (uint32_t)(next_in - next_out)));
        cr_assert(eq(int, ar__inject_is_empty(&q), next_in == next_out));
    }
    cr_assert(eq(u64, next_in, N));
}

Test(inject, large_batch_grows_several_times)
{
    enum { N = 5000 };
    items_alloc(N);
    struct ar_task **in = malloc(N * sizeof *in);
    for (size_t i = 0; i < N; i++)
        in[i] = T(i);
    cr_assert(eq(int, ar__inject_push(&q, T(0)), 0));
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), (void *)T(0)));
    cr_assert(eq(int, ar__inject_push_batch(&q, in, N), 0));
    cr_assert(eq(u32, ar__inject_len(&q), N));
    cr_assert(ge(u32, q.cap, N));
    cr_assert(eq(u32, q.cap & (q.cap - 1), 0), "capacity %u is not a power of two", q.cap);
    for (size_t i = 0; i < N; i++) {
        struct ar_task *t = ar__inject_pop(&q);
        if (t != T(i))
            cr_assert(eq(ptr, (void *)t, (void *)T(i)), "entry %zu out of order", i);
    }
    cr_assert(ar__inject_is_empty(&q));
    free(in);
}

Test(inject, close_refuses_pushes_keeps_entries)
{
    items_alloc(4);
    cr_assert(eq(int, ar__inject_push(&q, T(0)), 0));
    cr_assert(eq(int, ar__inject_push(&q, T(1)), 0));
    ar__inject_close(&q);

    cr_assert(eq(int, ar__inject_push(&q, T(2)), -ESHUTDOWN));
    struct ar_task *in[2] = {T(2), T(3)};
    cr_assert(eq(int, ar__inject_push_batch(&q, in, 2), -ESHUTDOWN));
    /* Refused pushes changed nothing. */
    cr_assert(eq(u32, ar__inject_len(&q), 2));
    /* What was accepted before the close is not lost. */
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), (void *)T(0)));
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), (void *)T(1)));
    cr_assert(eq(ptr, (void *)ar__inject_pop(&q), NULL));
    /* Still closed when empty. */
    cr_assert(eq(int, ar__inject_push(&q, T(3)), -ESHUTDOWN));
    cr_assert(ar__inject_is_empty(&q));
}

/* ------------------------------------------------------------------------
 * Concurrent producers and consumers: every item out exactly once, and
 * each producer's items come out in the order it pushed them.
 * --------------------------------------------------------------------- */
enum { PRODUCERS = 3, CONSUMERS = 2, PER_PRODUCER = 100000 };

typedef struct {
    int id;
    _Atomic int *producers_left;
    unsigned char *seen; /* consumers: per item */
    uint64_t order_errors;
    size_t last[PRODUCERS]; /* consumers: last index seen per producer + 1 */
} mpmc_arg;

static void *producer(void *p)
{
    mpmc_arg *a = p;
    size_t base = (size_t)a->id * PER_PRODUCER;
    struct ar_task *batch[8];
    for (size_t i = 0; i < PER_PRODUCER;) {
        size_t n = (i / 3) % 8 + 1;
        if (n > PER_PRODUCER - i)
            n = PER_PRODUCER - i;
        for (size_t k = 0; k < n; k++)
            batch[k] = T(base + i + k);
        int rc = n == 1 ? ar__inject_push(&q, batch[0])
                        : ar__inject_push_batch(&q, batch, (uint32_t)n);
        if (rc != 0)
            a->order_errors++; /* reported after the join */
        i += n;
    }
    atomic_fetch_sub(a->producers_left, 1);
    return NULL;
}

static void consume(mpmc_arg *a, struct ar_task *t)
{
    size_t i = (size_t)((fake_task *)(void *)t - items);
    if (a->seen[i] < 255)
        a->seen[i]++;
    size_t prod = i / PER_PRODUCER;
    /* FIFO per producer as seen by one consumer: indices increase. */
    if (a->last[prod] > i)
        a->order_errors++;
    a->last[prod] = i + 1;
}

static void *consumer(void *p)
{
    mpmc_arg *a = p;
    struct ar_task *out[16];
    for (;;) {
        bool last_round = atomic_load(a->producers_left) == 0;
        uint32_t n = ar__inject_pop_n(&q, out, (uint32_t)(a->id % 2 ? 16 : 1));
        for (uint32_t i = 0; i < n; i++)
            consume(a, out[i]);
        if (n == 0) {
            if (last_round)
                return NULL;
            sched_yield();
        }
    }
}

Test(inject, stress_producers_consumers)
{
    items_alloc((size_t)PRODUCERS * PER_PRODUCER);
    _Atomic int left = PRODUCERS;
    mpmc_arg pa[PRODUCERS], ca[CONSUMERS];
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        ca[i] = (mpmc_arg){.id = i, .producers_left = &left,
                           .seen = calloc(nitems, 1)};
        cr_assert(not(eq(ptr, ca[i].seen, NULL)));
        cr_assert(eq(int, pthread_create(&ct[i], NULL, consumer, &ca[i]), 0));
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i] = (mpmc_arg){.id = i, .producers_left = &left};
        cr_assert(eq(int, pthread_create(&pt[i], NULL, producer, &pa[i]), 0));
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(ct[i], NULL);

    for (int i = 0; i < PRODUCERS; i++)
        cr_assert(eq(u64, pa[i].order_errors, 0), "producer %d: push failed", i);
    cr_assert(ar__inject_is_empty(&q));
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < nitems; i++) {
        unsigned c = 0;
        for (int k = 0; k < CONSUMERS; k++)
            c += ca[k].seen[i];
        if (c != 1 && bad++ == 0)
            first_bad = i;
    }
    cr_assert(eq(sz, bad, 0), "%zu items not taken exactly once (first %zu)", bad, first_bad);
    for (int k = 0; k < CONSUMERS; k++) {
        cr_assert(eq(u64, ca[k].order_errors, 0), "consumer %d saw a producer out of order", k);
        free(ca[k].seen);
    }
}
