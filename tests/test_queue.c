/*
 * tests/test_queue.c - the bounded local run queue of runtime/queue.h
 * (single owner, stealers take half, overflow to the injection queue).
 *
 * Tasks are fake: distinct 16-byte-aligned addresses in an array.  The
 * queue never dereferences them; only a push overflowing into a CLOSED
 * injection queue would (ar__task_drop_entry), which no test here does.
 *
 * Every test works for both queue sizes (AR__QUEUE_CAP is 256, or 4 in the
 * -Dtiny_queue=true build).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* Criterion glue for the sanitizer builds (TSan arena placement, the
 * runner's own leaks), shared by all test files. */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "queue.h"

/* One timeout for every test of this file: Criterion 2.4.1's runner leaks
 * a timeout entry (48 bytes, reported by LeakSanitizer in the ASan build)
 * when tests with different timeouts run in parallel (--jobs=2). */
#define QUEUE_TIMEOUT 240

#define CAP AR__QUEUE_CAP

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

static void items_free(void)
{
    free(items);
    items = NULL;
}

static struct ar_task *T(size_t i) { return (struct ar_task *)(void *)&items[i]; }

static size_t idx_of(struct ar_task *t)
{
    fake_task *f = (fake_task *)(void *)t;
    cr_assert(f >= items && f < items + nitems, "pointer %p is not a fake task", (void *)t);
    return (size_t)(f - items);
}

/* Queue structs are large (CAP pointers) and must be 64-byte friendly;
 * allocate them rather than putting them on the test's stack. */
static ar__queue *queue_new(void)
{
    ar__queue *q = aligned_alloc(64, (sizeof(ar__queue) + 63) / 64 * 64);
    cr_assert(not(eq(ptr, q, NULL)));
    ar__queue_init(q);
    return q;
}

/* Put a queue's free-running indices at `start`, as if 2^32-ish tasks had
 * gone through it: the queue must only ever use their differences. */
static void queue_set_index(ar__queue *q, uint32_t start)
{
    atomic_store(&q->head, ((uint64_t)start << 32) | start);
    atomic_store(&q->tail, start);
}

static ar__inject inj_storage;
static ar__inject *inject_new(void)
{
    cr_assert(eq(int, ar__inject_init(&inj_storage), 0));
    return &inj_storage;
}

/* ------------------------------------------------------------------------
 * Single-threaded behaviour.
 * --------------------------------------------------------------------- */
Test(queue, init_is_empty, .timeout = QUEUE_TIMEOUT)
{
    ar__queue *q = queue_new();
    cr_assert(ar__queue_is_empty(q));
    cr_assert(eq(u32, ar__queue_len(q), 0));
    cr_assert(eq(ptr, (void *)ar__queue_pop(q), NULL));
    cr_assert(eq(ptr, (void *)ar__queue_pop(q), NULL));
    free(q);
}

Test(queue, push_pop_fifo_to_capacity, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(CAP);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();

    for (uint32_t i = 0; i < CAP; i++) {
        ar__queue_push_back(q, T(i), inj);
        cr_assert(eq(u32, ar__queue_len(q), i + 1));
    }
    cr_assert(not(ar__queue_is_empty(q)));
    /* Exactly full: nothing overflowed. */
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    for (uint32_t i = 0; i < CAP; i++) {
        struct ar_task *t = ar__queue_pop(q);
        cr_assert(eq(ptr, (void *)t, (void *)T(i)), "pop %u", i);
        cr_assert(eq(u32, ar__queue_len(q), CAP - i - 1));
    }
    cr_assert(eq(ptr, (void *)ar__queue_pop(q), NULL));
    cr_assert(ar__queue_is_empty(q));
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

/* Push/pop in uneven batches, many times around the ring: FIFO order and
 * len hold at every step (a model counter tracks the expected values). */
static void interleaved_fifo(uint32_t start_index, uint32_t rounds)
{
    items_alloc(CAP);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();
    queue_set_index(q, start_index);

    uint64_t pushed = 0, popped = 0;
    uint32_t rng = 12345;
    for (uint32_t r = 0; r < rounds; r++) {
        rng = rng * 1103515245u + 12345u;
        uint32_t len = (uint32_t)(pushed - popped);
        uint32_t np = (rng >> 16) % (CAP - len + 1); /* never overflow */
        for (uint32_t i = 0; i < np; i++, pushed++)
            ar__queue_push_back(q, T(pushed % CAP), inj);
        cr_assert(eq(u32, ar__queue_len(q), (uint32_t)(pushed - popped)));
        uint32_t nq = (rng >> 8) % ((uint32_t)(pushed - popped) + 1);
        for (uint32_t i = 0; i < nq; i++, popped++) {
            struct ar_task *t = ar__queue_pop(q);
            if (t != T(popped % CAP))
                cr_assert(eq(ptr, (void *)t, (void *)T(popped % CAP)),
                          "round %u: pop #%llu out of order", r, (unsigned long long)popped);
        }
        cr_assert(eq(u32, ar__queue_len(q), (uint32_t)(pushed - popped)));
    }
    while (popped < pushed) {
        struct ar_task *t = ar__queue_pop(q);
        cr_assert(eq(ptr, (void *)t, (void *)T(popped % CAP)));
        popped++;
    }
    cr_assert(eq(ptr, (void *)ar__queue_pop(q), NULL));
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    cr_assert(gt(u64, pushed, (uint64_t)1 << 16), "too few items went through (%llu)",
              (unsigned long long)pushed);
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

Test(queue, interleaved_fifo_many_times_around, .timeout = QUEUE_TIMEOUT)
{
    /* > 2^16 items, i.e. hundreds of times CAP (tens of thousands in the
     * tiny build). */
    interleaved_fifo(0, CAP >= 64 ? 2000 : 200000);
}

Test(queue, interleaved_fifo_across_u32_wrap, .timeout = QUEUE_TIMEOUT)
{
    /* Indices start just below 2^32 so they wrap during the test. */
    interleaved_fifo(UINT32_MAX - CAP / 2 - 3, CAP >= 64 ? 2000 : 200000);
}

Test(queue, push_pop_one_at_a_time_past_2_pow_16, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(CAP);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();
    for (uint32_t i = 0; i < (1u << 16) + 3 * CAP; i++) {
        ar__queue_push_back(q, T(i % CAP), inj);
        cr_assert(eq(u32, ar__queue_len(q), 1));
        struct ar_task *t = ar__queue_pop(q);
        if (t != T(i % CAP))
            cr_assert(eq(ptr, (void *)t, (void *)T(i % CAP)), "item %u", i);
    }
    cr_assert(ar__queue_is_empty(q));
    uint32_t tail = atomic_load(&q->tail);
    cr_assert(eq(u32, tail, (1u << 16) + 3 * CAP));
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

/* Full queue + one more: the oldest half and the new task go to the
 * injection queue in one batch, in order; the newest half stays. */
static void overflow_moves_half(uint32_t start_index)
{
    items_alloc(CAP + 1);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();
    queue_set_index(q, start_index);

    for (uint32_t i = 0; i < CAP; i++)
        ar__queue_push_back(q, T(i), inj);
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    ar__queue_push_back(q, T(CAP), inj);

    cr_assert(eq(u32, ar__queue_len(q), CAP / 2));
    cr_assert(eq(u32, ar__inject_len(inj), CAP / 2 + 1));
    for (uint32_t i = 0; i < CAP / 2; i++)
        cr_assert(eq(ptr, (void *)ar__inject_pop(inj), (void *)T(i)), "inject #%u", i);
    cr_assert(eq(ptr, (void *)ar__inject_pop(inj), (void *)T(CAP)));
    cr_assert(eq(ptr, (void *)ar__inject_pop(inj), NULL));
    for (uint32_t i = CAP / 2; i < CAP; i++)
        cr_assert(eq(ptr, (void *)ar__queue_pop(q), (void *)T(i)), "queue #%u", i);
    cr_assert(eq(ptr, (void *)ar__queue_pop(q), NULL));
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

Test(queue, overflow_moves_half_plus_new, .timeout = QUEUE_TIMEOUT) { overflow_moves_half(0); }

Test(queue, overflow_across_u32_wrap, .timeout = QUEUE_TIMEOUT)
{
    overflow_moves_half(UINT32_MAX - CAP / 4);
}

/* Pushing far more than CAP without popping: everything ends up either in
 * the queue or in the injection queue, each exactly once. */
Test(queue, repeated_overflow_loses_nothing, .timeout = QUEUE_TIMEOUT)
{
    enum { N = 20000 };
    items_alloc(N);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();
    for (uint32_t i = 0; i < N; i++) {
        ar__queue_push_back(q, T(i), inj);
        cr_assert(le(u32, ar__queue_len(q), CAP));
        cr_assert(eq(u32, ar__queue_len(q) + ar__inject_len(inj), i + 1));
    }
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    struct ar_task *t;
    while ((t = ar__queue_pop(q)))
        seen[idx_of(t)]++;
    while ((t = ar__inject_pop(inj)))
        seen[idx_of(t)]++;
    for (uint32_t i = 0; i < N; i++)
        if (seen[i] != 1)
            cr_assert(eq(int, seen[i], 1), "item %u", i);
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

/* ------------------------------------------------------------------------
 * Stealing (single-threaded).
 * --------------------------------------------------------------------- */
static void steal_half(uint32_t n, uint32_t src_start, uint32_t dst_start)
{
    items_alloc(CAP);
    ar__queue *src = queue_new();
    ar__queue *dst = queue_new();
    ar__inject *inj = inject_new();
    queue_set_index(src, src_start);
    queue_set_index(dst, dst_start);
    for (uint32_t i = 0; i < n; i++)
        ar__queue_push_back(src, T(i), inj);

    uint32_t k = n - n / 2; /* half, rounded up */
    struct ar_task *ret = ar__queue_steal_into(src, dst);
    cr_assert(not(eq(ptr, (void *)ret, NULL)), "n=%u: nothing stolen", n);
    cr_assert(eq(u32, ar__queue_len(src), n - k), "n=%u", n);
    cr_assert(eq(u32, ar__queue_len(dst), k - 1), "n=%u", n);

    /* The stolen ones are the oldest k: the returned one plus dst's. */
    static unsigned char seen[1024];
    memset(seen, 0, sizeof seen);
    seen[idx_of(ret)]++;
    struct ar_task *t;
    size_t prev = 0;
    bool first = true;
    while ((t = ar__queue_pop(dst))) {
        size_t i = idx_of(t);
        seen[i]++;
        if (!first)
            cr_assert(gt(sz, i, prev), "dst out of order");
        prev = i;
        first = false;
    }
    for (uint32_t i = 0; i < k; i++)
        cr_assert(eq(int, seen[i], 1), "n=%u: item %u stolen %d times", n, i, seen[i]);
    /* The victim keeps the newest ones, in order. */
    for (uint32_t i = k; i < n; i++)
        cr_assert(eq(ptr, (void *)ar__queue_pop(src), (void *)T(i)), "n=%u", n);
    cr_assert(eq(ptr, (void *)ar__queue_pop(src), NULL));
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    ar__inject_destroy(inj);
    free(src);
    free(dst);
    items_free();
}

Test(queue, steal_takes_half_rounded_up, .timeout = QUEUE_TIMEOUT)
{
    for (uint32_t n = 1; n <= CAP; n++)
        steal_half(n, 0, 0);
}

Test(queue, steal_across_u32_wrap, .timeout = QUEUE_TIMEOUT)
{
    for (uint32_t n = 1; n <= CAP; n++) {
        steal_half(n, UINT32_MAX - n / 2, 0);
        steal_half(n, 7, UINT32_MAX - 1);
    }
}

Test(queue, steal_one_returns_it_and_leaves_dst_empty, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(1);
    ar__queue *src = queue_new();
    ar__queue *dst = queue_new();
    ar__inject *inj = inject_new();
    ar__queue_push_back(src, T(0), inj);
    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), (void *)T(0)));
    cr_assert(ar__queue_is_empty(src));
    cr_assert(ar__queue_is_empty(dst));
    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), NULL));
    ar__inject_destroy(inj);
    free(src);
    free(dst);
    items_free();
}

Test(queue, steal_from_empty_returns_null, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(CAP);
    ar__queue *src = queue_new();
    ar__queue *dst = queue_new();
    ar__inject *inj = inject_new();
    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), NULL));
    /* dst's content is untouched by a failed steal. */
    ar__queue_push_back(dst, T(0), inj);
    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), NULL));
    cr_assert(eq(u32, ar__queue_len(dst), 1));
    cr_assert(eq(ptr, (void *)ar__queue_pop(dst), (void *)T(0)));
    /* Emptied by pops: still nothing to steal. */
    ar__queue_push_back(src, T(1), inj);
    cr_assert(eq(ptr, (void *)ar__queue_pop(src), (void *)T(1)));
    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), NULL));
    ar__inject_destroy(inj);
    free(src);
    free(dst);
    items_free();
}

Test(queue, never_steals_into_more_than_half_full, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(2 * CAP);
    ar__queue *src = queue_new();
    ar__queue *dst = queue_new();
    ar__inject *inj = inject_new();
    for (uint32_t i = 0; i < CAP; i++)
        ar__queue_push_back(src, T(i), inj);
    for (uint32_t i = 0; i < CAP / 2 + 1; i++)
        ar__queue_push_back(dst, T(CAP + i), inj);

    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), NULL));
    cr_assert(eq(u32, ar__queue_len(src), CAP));
    cr_assert(eq(u32, ar__queue_len(dst), CAP / 2 + 1));

    /* Exactly half full is allowed, and the result fits: dst ends full at
     * most, nothing overwritten. */
    cr_assert(eq(ptr, (void *)ar__queue_pop(dst), (void *)T(CAP)));
    struct ar_task *ret = ar__queue_steal_into(src, dst);
    cr_assert(eq(ptr, (void *)ret, (void *)T(CAP / 2 - 1)));
    cr_assert(eq(u32, ar__queue_len(src), CAP / 2));
    cr_assert(eq(u32, ar__queue_len(dst), CAP / 2 + CAP / 2 - 1));
    for (uint32_t i = 1; i < CAP / 2 + 1; i++)
        cr_assert(eq(ptr, (void *)ar__queue_pop(dst), (void *)T(CAP + i)));
    for (uint32_t i = 0; i < CAP / 2 - 1; i++)
        cr_assert(eq(ptr, (void *)ar__queue_pop(dst), (void *)T(i)));
    cr_assert(eq(ptr, (void *)ar__queue_pop(dst), NULL));
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    ar__inject_destroy(inj);
    free(src);
    free(dst);
    items_free();
}

/* ------------------------------------------------------------------------
 * pop_batch: the owner takes up to max from the front with one CAS, at
 * most half (rounded up) of what is there.
 * --------------------------------------------------------------------- */
static void pop_batch_case(uint32_t start_index)
{
    items_alloc(CAP);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();
    queue_set_index(q, start_index);
    struct ar_task *out[CAP + 1];

    cr_assert(eq(u32, ar__queue_pop_batch(q, out, CAP), 0));
    for (uint32_t n = 1; n <= CAP; n++) {
        for (uint32_t i = 0; i < n; i++)
            ar__queue_push_back(q, T(i), inj);
        static const uint32_t maxes[] = {0, 1, 2, 3, 7, 64, 129, CAP, CAP + 1};
        for (size_t mi = 0; mi < sizeof maxes / sizeof maxes[0]; mi++) {
            uint32_t max = maxes[mi];
            /* Take a batch, check it, put the queue back to 0..n-1. */
            uint32_t want = n - n / 2;
            if (want > max)
                want = max;
            uint32_t got = ar__queue_pop_batch(q, out, max);
            cr_assert(eq(u32, got, want), "n=%u max=%u", n, max);
            for (uint32_t i = 0; i < got; i++)
                cr_assert(eq(ptr, (void *)out[i], (void *)T(i)), "n=%u max=%u #%u", n, max, i);
            cr_assert(eq(u32, ar__queue_len(q), n - got));
            /* The rest is still there, in order, behind the batch. */
            struct ar_task *rest[CAP];
            uint32_t k = 0;
            struct ar_task *t;
            while ((t = ar__queue_pop(q)))
                rest[k++] = t;
            cr_assert(eq(u32, k, n - got));
            for (uint32_t i = 0; i < k; i++)
                cr_assert(eq(ptr, (void *)rest[i], (void *)T(got + i)));
            for (uint32_t i = 0; i < n; i++)
                ar__queue_push_back(q, T(i), inj);
        }
        while (ar__queue_pop(q)) {
        }
    }
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

Test(queue, pop_batch_takes_half_rounded_up_capped, .timeout = QUEUE_TIMEOUT)
{
    pop_batch_case(0);
}

Test(queue, pop_batch_across_u32_wrap, .timeout = QUEUE_TIMEOUT)
{
    pop_batch_case(UINT32_MAX - CAP / 2);
}

/* With a steal in progress, pop_batch moves only `real` and leaves the
 * stealer's `steal` mark alone. */
Test(queue, pop_batch_during_steal, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(CAP);
    ar__queue *q = queue_new();
    ar__inject *inj = inject_new();
    for (uint32_t i = 0; i < CAP; i++)
        ar__queue_push_back(q, T(i), inj);
    /* A stealer claimed entry 0 and is copying it (steal = 0, real = 1). */
    atomic_store(&q->head, 1u);
    struct ar_task *out[CAP];
    uint32_t avail = CAP - 1;
    uint32_t got = ar__queue_pop_batch(q, out, CAP);
    cr_assert(eq(u32, got, avail - avail / 2));
    for (uint32_t i = 0; i < got; i++)
        cr_assert(eq(ptr, (void *)out[i], (void *)T(1 + i)));
    uint64_t h = atomic_load(&q->head);
    cr_assert(eq(u32, (uint32_t)(h >> 32), 0), "steal mark moved");
    cr_assert(eq(u32, (uint32_t)h, 1 + got));
    ar__inject_destroy(inj);
    free(q);
    items_free();
}

/* A steal in progress (steal != real, as a stealer copying out leaves it):
 * other stealers back off, the owner still pops past it, and a push into
 * the full queue goes to the injection queue alone rather than waiting. */
Test(queue, steal_in_progress_state, .timeout = QUEUE_TIMEOUT)
{
    items_alloc(CAP + 2);
    ar__queue *src = queue_new();
    ar__queue *dst = queue_new();
    ar__inject *inj = inject_new();
    for (uint32_t i = 0; i < CAP; i++)
        ar__queue_push_back(src, T(i), inj);
    /* Pretend a stealer claimed the first entry (steal = 0, real = 1). */
    atomic_store(&src->head, ((uint64_t)0 << 32) | 1u);
    cr_assert(eq(u32, ar__queue_len(src), CAP - 1));

    cr_assert(eq(ptr, (void *)ar__queue_steal_into(src, dst), NULL));
    cr_assert(eq(u32, ar__queue_len(dst), 0));

    /* The slot being copied must not be reused: tail - steal == CAP. */
    ar__queue_push_back(src, T(CAP), inj);
    cr_assert(eq(u32, ar__inject_len(inj), 1));
    cr_assert(eq(ptr, (void *)ar__inject_pop(inj), (void *)T(CAP)));
    cr_assert(eq(u32, ar__queue_len(src), CAP - 1));

    /* The owner pops; steal stays where the stealer left it. */
    cr_assert(eq(ptr, (void *)ar__queue_pop(src), (void *)T(1)));
    uint64_t h = atomic_load(&src->head);
    cr_assert(eq(u32, (uint32_t)(h >> 32), 0));
    cr_assert(eq(u32, (uint32_t)h, 2));

    /* The stealer finishes (steal catches up): the push has room again. */
    atomic_store(&src->head, ((uint64_t)2 << 32) | 2u);
    ar__queue_push_back(src, T(CAP + 1), inj);
    cr_assert(eq(u32, ar__inject_len(inj), 0));
    for (uint32_t i = 2; i < CAP; i++)
        cr_assert(eq(ptr, (void *)ar__queue_pop(src), (void *)T(i)));
    cr_assert(eq(ptr, (void *)ar__queue_pop(src), (void *)T(CAP + 1)));
    cr_assert(eq(ptr, (void *)ar__queue_pop(src), NULL));
    ar__inject_destroy(inj);
    free(src);
    free(dst);
    items_free();
}

/* ------------------------------------------------------------------------
 * Concurrent stress: one owner pushes and pops (one at a time and in
 * batches) 1,000,000 fake tasks
 * (overflowing into an injection queue); stealers steal from it and from
 * each other, pop what they stole and sometimes take from the injection
 * queue.  At the end every item was taken exactly once.  Each thread counts
 * into its own array; the arrays are summed after the joins.
 * --------------------------------------------------------------------- */
enum { STRESS_N = 1000000, MAX_STEALERS = 3 };

typedef struct stress {
    ar__queue *owner_q;
    ar__queue *thief_q[MAX_STEALERS];
    int nthieves;
    ar__inject inj;
    _Atomic bool owner_done;
    _Atomic uint64_t steals; /* successful steals, all thieves */
} stress;

typedef struct thief_arg {
    stress *s;
    int id;
    unsigned char *seen; /* STRESS_N counters */
    uint64_t taken;
} thief_arg;

static void take(unsigned char *seen, uint64_t *taken, struct ar_task *t)
{
    fake_task *f = (fake_task *)(void *)t;
    size_t i = (size_t)(f - items);
    /* Checked after the join (cr_assert must stay on the main thread). */
    if (i < STRESS_N && seen[i] < 255)
        seen[i]++;
    (*taken)++;
}

static void *owner_main(void *p)
{
    thief_arg *a = p;
    stress *s = a->s;
    uint32_t rng = 987654321u;
    for (size_t i = 0; i < STRESS_N; i++) {
        ar__queue_push_back(s->owner_q, T(i), &s->inj);
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        /* Pop a bit less than we push so the queue stays busy and
         * overflows now and then. */
        if (rng % 8 < 7) {
            struct ar_task *t = ar__queue_pop(s->owner_q);
            if (t)
                take(a->seen, &a->taken, t);
        }
        if (rng % 64 == 1) {
            struct ar_task *b[8];
            uint32_t n = ar__queue_pop_batch(s->owner_q, b, 8);
            for (uint32_t k = 0; k < n; k++)
                take(a->seen, &a->taken, b[k]);
        }
        if (rng % 4096 == 0) {
            struct ar_task *t;
            while ((t = ar__inject_pop(&s->inj)))
                take(a->seen, &a->taken, t);
        }
    }
    atomic_store(&s->owner_done, true);
    return NULL;
}

static void *thief_main(void *p)
{
    thief_arg *a = p;
    stress *s = a->s;
    ar__queue *mine = s->thief_q[a->id];
    uint32_t rng = 0x9e3779b9u * (uint32_t)(a->id + 1);
    for (;;) {
        bool done = atomic_load(&s->owner_done);
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        /* Mostly the owner; sometimes another thief (whose owner pops
         * concurrently). */
        ar__queue *victim = s->owner_q;
        if (s->nthieves > 1 && rng % 4 == 0) {
            int v = (int)((rng >> 8) % (uint32_t)s->nthieves);
            if (v != a->id)
                victim = s->thief_q[v];
        }
        struct ar_task *t = ar__queue_steal_into(victim, mine);
        if (t) {
            atomic_fetch_add_explicit(&s->steals, 1, memory_order_relaxed);
            take(a->seen, &a->taken, t);
            /* Pop only part of the loot so others can steal it from us. */
            uint32_t keep = (rng >> 12) % 3;
            while (ar__queue_len(mine) > keep && (t = ar__queue_pop(mine)))
                take(a->seen, &a->taken, t);
        } else if ((t = ar__queue_pop(mine))) {
            take(a->seen, &a->taken, t);
        } else if ((t = ar__inject_pop(&s->inj))) {
            take(a->seen, &a->taken, t);
        } else if (done) {
            break;
        } else if (rng % 16 == 0) {
            sched_yield();
        }
    }
    /* Drain what is left in our own queue (others may still steal from it:
     * what they claim is theirs). */
    struct ar_task *t;
    while ((t = ar__queue_pop(mine)))
        take(a->seen, &a->taken, t);
    return NULL;
}

static void run_stress(int nthieves)
{
    items_alloc(STRESS_N);
    static stress s;
    memset(&s, 0, sizeof s);
    s.owner_q = queue_new();
    s.nthieves = nthieves;
    for (int i = 0; i < nthieves; i++)
        s.thief_q[i] = queue_new();
    cr_assert(eq(int, ar__inject_init(&s.inj), 0));

    thief_arg args[MAX_STEALERS + 1];
    pthread_t th[MAX_STEALERS + 1];
    for (int i = 0; i <= nthieves; i++) {
        args[i] = (thief_arg){.s = &s, .id = i - 1, .seen = calloc(STRESS_N, 1)};
        cr_assert(not(eq(ptr, args[i].seen, NULL)));
    }
    for (int i = 1; i <= nthieves; i++)
        cr_assert(eq(int, pthread_create(&th[i], NULL, thief_main, &args[i]), 0));
    cr_assert(eq(int, pthread_create(&th[0], NULL, owner_main, &args[0]), 0));
    for (int i = 0; i <= nthieves; i++)
        pthread_join(th[i], NULL);

    /* The owner thread is gone: this thread drains its queue and the
     * injection queue. */
    unsigned char *rest = calloc(STRESS_N, 1);
    uint64_t rest_taken = 0;
    struct ar_task *t;
    while ((t = ar__queue_pop(s.owner_q)))
        take(rest, &rest_taken, t);
    while ((t = ar__inject_pop(&s.inj)))
        take(rest, &rest_taken, t);
    for (int i = 0; i < nthieves; i++)
        cr_assert(ar__queue_is_empty(s.thief_q[i]), "thief %d queue not drained", i);

    uint64_t total = rest_taken;
    for (int i = 0; i <= nthieves; i++)
        total += args[i].taken;
    size_t missing = 0, dup = 0, first_bad = SIZE_MAX;
    for (size_t i = 0; i < STRESS_N; i++) {
        unsigned c = rest[i];
        for (int k = 0; k <= nthieves; k++)
            c += args[k].seen[i];
        if (c == 0)
            missing++;
        if (c > 1)
            dup++;
        if (c != 1 && first_bad == SIZE_MAX)
            first_bad = i;
    }
    cr_assert(eq(sz, missing, 0), "%zu items lost (first bad %zu)", missing, first_bad);
    cr_assert(eq(sz, dup, 0), "%zu items taken twice (first bad %zu)", dup, first_bad);
    cr_assert(eq(u64, total, STRESS_N), "taken %llu", (unsigned long long)total);
    cr_assert(gt(u64, atomic_load(&s.steals), 0), "no steal ever succeeded");
    cr_log_info("%d thieves: steals %llu, owner took %llu, thieves took %llu, left %llu",
                nthieves, (unsigned long long)atomic_load(&s.steals),
                (unsigned long long)args[0].taken,
                (unsigned long long)(total - args[0].taken - rest_taken),
                (unsigned long long)rest_taken);

    for (int i = 0; i <= nthieves; i++)
        free(args[i].seen);
    free(rest);
    ar__inject_destroy(&s.inj);
    for (int i = 0; i < nthieves; i++)
        free(s.thief_q[i]);
    free(s.owner_q);
    items_free();
}

Test(queue, stress_owner_vs_1_stealer, .timeout = QUEUE_TIMEOUT) { run_stress(1); }
Test(queue, stress_owner_vs_2_stealers, .timeout = QUEUE_TIMEOUT) { run_stress(2); }
Test(queue, stress_owner_vs_3_stealers, .timeout = QUEUE_TIMEOUT) { run_stress(3); }
