/*
 * tests/test_oom.c - out of memory at every allocation of spawn, channel
 * creation, runtime creation and notify registration: a clear -ENOMEM (or
 * a retry that never loses anything), nothing leaked (the ASan build runs
 * this with LeakSanitizer), and the runtime stays usable afterwards.
 */
#include <asyncrt.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>

#include "alloc.h"

typedef struct answer { int out; } answer;

static ar_poll answer_poll(void *p, ar_cx *cx)
{
    (void)cx;
    ((answer *)p)->out = 42;
    return AR_READY;
}
static const ar_future_vt answer_vt = AR_FUTURE_VT(answer, answer_poll, NULL, out);

static ar_rt *new_rt(uint32_t workers)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = workers;
    ar_rt *rt = NULL;
    cr_assert_eq(ar_rt_new(&rt, &o), 0);
    return rt;
}

static void spawn_and_join_ok(ar_rt *rt)
{
    answer a = {0};
    ar_join h;
    int v = 0;
    cr_assert_eq(ar_spawn(rt, &answer_vt, &a, &h), 0);
    cr_assert_eq(ar_join_wait(&h, &v, sizeof v), 0);
    cr_assert_eq(v, 42);
}

Test(oom, spawn_task_allocation_fails_cleanly, .timeout = 30)
{
    ar_rt *rt = new_rt(2);
    spawn_and_join_ok(rt); /* the plain-thread shard has its array now */
    answer a = {0};
    ar_join h = {0};
    ar__alloc_fail_nth(1); /* the task block */
    cr_assert_eq(ar_spawn(rt, &answer_vt, &a, &h), -ENOMEM);
    ar__alloc_fail_nth(0);
    cr_assert_null(h.task, "a failed spawn leaves an empty handle");
    cr_assert_eq(ar_join_wait(&h, NULL, 0), -EBADF);
    spawn_and_join_ok(rt); /* still usable */
    ar_rt_free(rt);
}

Test(oom, spawn_registry_growth_fails_cleanly, .timeout = 30)
{
    ar_rt *rt = new_rt(1);
    answer a = {0};
    ar_join h;
    /* First spawn from this thread: 1 = task block, 2 = registry array. */
    ar__alloc_fail_nth(2);
    cr_assert_eq(ar_spawn(rt, &answer_vt, &a, &h), -ENOMEM);
    ar__alloc_fail_nth(0);
    spawn_and_join_ok(rt);
    ar_rt_free(rt);
}

Test(oom, oneshot_new_fails_cleanly, .timeout = 30)
{
    ar_oneshot_tx tx = {0};
    ar_oneshot_rx rx = {0};
    ar__alloc_fail_nth(1);
    cr_assert_eq(ar_oneshot_new(&tx, &rx, sizeof(int)), -ENOMEM);
    ar__alloc_fail_nth(0);
    cr_assert_eq(ar_oneshot_send(&tx, &(int){1}), -EBADF);
    cr_assert_eq(ar_oneshot_new(&tx, &rx, sizeof(int)), 0);
    cr_assert_eq(ar_oneshot_send(&tx, &(int){7}), 0);
    ar_oneshot_rx_drop(&rx);
}

Test(oom, rt_new_fails_at_every_allocation_without_leaking, .timeout = 30)
{
    /* Fail the 1st, 2nd, ... allocation made by ar_rt_new until it
     * succeeds; every failure must be -ENOMEM and leave nothing behind. */
    int failures = 0;
    for (long n = 1; n < 64; n++) {
        ar_rt *rt = (ar_rt *)0x1;
        ar__alloc_fail_nth(n);
        int rc = ar_rt_new(&rt, NULL);
        ar__alloc_fail_nth(0);
        if (rc == 0) {
            spawn_and_join_ok(rt);
            ar_rt_free(rt);
            break;
        }
        cr_assert_eq(rc, -ENOMEM, "allocation %ld: %s", n, ar_strerror(rc));
        cr_assert_null(rt);
        failures++;
    }
    cr_assert_gt(failures, 0, "ar_rt_new allocates through the hook");
}

/* A waiter whose ring cannot grow retries on its next poll: it is neither
 * lost nor reported as notified. */
typedef struct waiter { ar_notified w; _Atomic int *done; } waiter;

static ar_poll waiter_poll(void *p, ar_cx *cx)
{
    waiter *self = p;
    if (ar_notified_poll(&self->w, cx) == AR_PENDING)
        return AR_PENDING;
    atomic_fetch_add(self->done, 1);
    return AR_READY;
}
static void waiter_drop(void *p) { ar_notified_drop(&((waiter *)p)->w); }
static const ar_future_vt waiter_vt = AR_FUTURE_VT_VOID(waiter, waiter_poll, waiter_drop);

Test(oom, notify_registration_retries_after_failed_growth, .timeout = 30)
{
    ar_notify n;
    cr_assert_eq(ar_notify_init(&n), 0);
    _Atomic int done = 0;
    ar_rt *rt = new_rt(1);
    spawn_and_join_ok(rt);
    waiter w = {.done = &done};
    ar_notified_init(&w.w, &n);
    ar_join h;
    /* 1 = the task block; 2 = the notify's first ring, in the first poll. */
    ar__alloc_fail_nth(2);
    cr_assert_eq(ar_spawn(rt, &waiter_vt, &w, &h), 0);
    while (ar_notify_waiters(&n) == 0)
        ;
    ar__alloc_fail_nth(0);
    cr_assert_eq(atomic_load(&done), 0);
    ar_notify_one(&n);
    cr_assert_eq(ar_join_wait(&h, NULL, 0), 0);
    cr_assert_eq(atomic_load(&done), 1);
    ar_rt_free(rt);
    cr_assert_eq(ar_notify_destroy(&n), 0);
}
