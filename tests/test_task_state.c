/*
 * tests/test_task_state.c - the task state word of runtime/state.h: every
 * pure transition on a local atomic word, the lifecycle sequences the
 * executor performs (wake while running, wake twice, wake after completion,
 * abort while queued / running / completed), and a multi-threaded hammer
 * that checks the two promises of DESIGN.md section 2: a task is never
 * polled by two threads at once, and never lost between "notified" and
 * "running".
 *
 * Reference accounting convention in these tests: the word starts with the
 * references a real task would have (registry, join handle, queue entry),
 * and each assertion checks the full word, flags and count, so that a
 * transition leaking or double-dropping a reference fails here.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* Criterion glue for the sanitizer builds (TSan arena placement, the
 * runner's own leaks), shared by all test files. */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>

#include "state.h"

/* One timeout for every test of this file: Criterion 2.4.1's runner leaks
 * a timeout entry (48 bytes, reported by LeakSanitizer in the ASan build)
 * when tests with different timeouts run in parallel (--jobs=2). */
#define STATE_TIMEOUT 120

#define REF(n) ((uint32_t)(n) * AR__ST_REF_ONE)
#define RUNNING AR__ST_RUNNING
#define COMPLETE AR__ST_COMPLETE
#define NOTIFIED AR__ST_NOTIFIED
#define JOIN_INTEREST AR__ST_JOIN_INTEREST
#define JOIN_WAKER AR__ST_JOIN_WAKER
#define CANCELLED AR__ST_CANCELLED
#define RES_CANCELLED AR__ST_RES_CANCELLED

static uint32_t ld(_Atomic uint32_t *s) { return atomic_load(s); }

/* Assert the full state word. */
#define ASSERT_ST(s, want) cr_assert(eq(u32, ld(s), (uint32_t)(want)))
#define ASSERT_ACT(expr, want) cr_assert(eq(int, (int)(expr), (int)(want)))

/* A freshly spawned joinable task: registry + join handle + queue entry. */
#define FRESH (NOTIFIED | JOIN_INTEREST | REF(3))

/* ar__st_join_handle_dropped returns the state after; the handle side
 * drops the join waker when JOIN_WAKER is clear in it. */
static bool handle_drops_waker(_Atomic uint32_t *s)
{
    return !(ar__st_join_handle_dropped(s) & AR__ST_JOIN_WAKER);
}

Test(task_state, flags_are_distinct_bits_below_refcount, .timeout = STATE_TIMEOUT)
{
    uint32_t all = RUNNING | COMPLETE | NOTIFIED | JOIN_INTEREST | JOIN_WAKER | CANCELLED |
                   RES_CANCELLED;
    cr_assert(eq(int, __builtin_popcount(all), 7));
    cr_assert(lt(u32, all, AR__ST_REF_ONE));
    cr_assert(eq(u32, ar__st_refs(REF(5) | all), 5));
}

/* ------------------------------------------------------------------------
 * to_running
 * --------------------------------------------------------------------- */
Test(task_state, to_running_from_notified, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    /* The queue's reference became the running reference. */
    ASSERT_ST(&s, RUNNING | JOIN_INTEREST | REF(3));
}

Test(task_state, to_running_cancelled_while_queued, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH | CANCELLED;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_CANCEL);
    /* The worker owns the future (to drop it). */
    ASSERT_ST(&s, RUNNING | CANCELLED | JOIN_INTEREST | REF(3));
}

Test(task_state, to_running_when_running_fails_and_drops_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | NOTIFIED | REF(3);
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_FAILED);
    ASSERT_ST(&s, RUNNING | NOTIFIED | REF(2));
}

Test(task_state, to_running_when_complete, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = COMPLETE | JOIN_INTEREST | REF(2);
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_FAILED);
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(1));
    /* The entry held the last reference. */
    _Atomic uint32_t s2 = COMPLETE | REF(1);
    ASSERT_ACT(ar__st_to_running(&s2), AR__ACT_DEALLOC);
    ASSERT_ST(&s2, COMPLETE | REF(0));
}

/* ------------------------------------------------------------------------
 * to_idle
 * --------------------------------------------------------------------- */
Test(task_state, to_idle_not_notified_drops_running_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | JOIN_INTEREST | REF(3);
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, JOIN_INTEREST | REF(2));
}

Test(task_state, to_idle_last_ref_deallocs, .timeout = STATE_TIMEOUT)
{
    /* Detached task whose registry reference is gone and no waker exists. */
    _Atomic uint32_t s = RUNNING | REF(1);
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_DEALLOC);
    ASSERT_ST(&s, REF(0));
}

Test(task_state, to_idle_notified_requeues_keeping_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | NOTIFIED | JOIN_INTEREST | REF(3);
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_OK_NOTIFIED);
    /* The running reference moved to the new queue entry. */
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(3));
}

Test(task_state, to_idle_cancelled_keeps_running, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | NOTIFIED | CANCELLED | REF(3);
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_CANCEL);
    /* Still RUNNING: the poller drops the future and completes. */
    ASSERT_ST(&s, RUNNING | NOTIFIED | CANCELLED | REF(3));
}

/* ------------------------------------------------------------------------
 * to_complete, refcount helpers
 * --------------------------------------------------------------------- */
Test(task_state, to_complete_ok_and_cancelled, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | JOIN_INTEREST | REF(3);
    cr_assert(eq(u32, ar__st_to_complete(&s, false), COMPLETE | JOIN_INTEREST | REF(3)));
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(3));

    _Atomic uint32_t c = RUNNING | CANCELLED | NOTIFIED | REF(2);
    cr_assert(eq(u32, ar__st_to_complete(&c, true),
                 COMPLETE | RES_CANCELLED | CANCELLED | NOTIFIED | REF(2)));
    ASSERT_ST(&c, COMPLETE | RES_CANCELLED | CANCELLED | NOTIFIED | REF(2));
}

Test(task_state, ref_inc_and_dec_n, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = NOTIFIED | REF(1);
    ar__st_ref_inc(&s);
    ar__st_ref_inc(&s);
    ASSERT_ST(&s, NOTIFIED | REF(3));
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    ASSERT_ST(&s, NOTIFIED | REF(1));
    cr_assert(ar__st_ref_dec_n(&s, 1));
    ASSERT_ST(&s, NOTIFIED | REF(0));

    _Atomic uint32_t t = COMPLETE | REF(2);
    cr_assert(ar__st_ref_dec_n(&t, 2));
    ASSERT_ST(&t, COMPLETE);
}

/* ------------------------------------------------------------------------
 * notify_by_ref: the waker keeps its reference.
 * --------------------------------------------------------------------- */
Test(task_state, notify_by_ref_idle_submits_with_new_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = JOIN_INTEREST | REF(3); /* registry, handle, waker */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_SUBMIT);
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(4));
}

Test(task_state, notify_by_ref_running_sets_notified_only, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | REF(3);
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, RUNNING | NOTIFIED | REF(3));
    /* Again: still nothing. */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, RUNNING | NOTIFIED | REF(3));
}

Test(task_state, notify_by_ref_notified_or_complete_is_noop, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t n = NOTIFIED | REF(4);
    ASSERT_ACT(ar__st_notify_by_ref(&n), AR__ACT_NOTHING);
    ASSERT_ST(&n, NOTIFIED | REF(4));

    _Atomic uint32_t c = COMPLETE | JOIN_INTEREST | REF(2);
    ASSERT_ACT(ar__st_notify_by_ref(&c), AR__ACT_NOTHING);
    ASSERT_ST(&c, COMPLETE | JOIN_INTEREST | REF(2));
}

/* ------------------------------------------------------------------------
 * notify_by_val: the waker's reference is consumed.
 * --------------------------------------------------------------------- */
Test(task_state, notify_by_val_idle_submits_with_waker_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = JOIN_INTEREST | REF(3);
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_SUBMIT);
    /* The waker's reference became the queue entry's: count unchanged. */
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(3));
}

Test(task_state, notify_by_val_running_drops_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | REF(3);
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, RUNNING | NOTIFIED | REF(2));
}

Test(task_state, notify_by_val_notified_drops_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = NOTIFIED | REF(4);
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, NOTIFIED | REF(3));
}

Test(task_state, notify_by_val_complete_drops_ref_and_deallocs_last, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = COMPLETE | REF(2);
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, COMPLETE | REF(1));
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_DEALLOC);
    ASSERT_ST(&s, COMPLETE | REF(0));
}

/* ------------------------------------------------------------------------
 * notify_and_cancel (abort) in every lifecycle state.
 * --------------------------------------------------------------------- */
Test(task_state, cancel_idle_submits_with_new_ref, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = JOIN_INTEREST | REF(2);
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_SUBMIT);
    ASSERT_ST(&s, NOTIFIED | CANCELLED | JOIN_INTEREST | REF(3));
}

Test(task_state, cancel_notified_marks_only, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, FRESH | CANCELLED);
}

Test(task_state, cancel_running_marks_notified_and_cancelled, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | JOIN_INTEREST | REF(3);
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, RUNNING | NOTIFIED | CANCELLED | JOIN_INTEREST | REF(3));
}

Test(task_state, cancel_complete_or_cancelled_is_noop, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t c = COMPLETE | JOIN_INTEREST | REF(1);
    ASSERT_ACT(ar__st_notify_and_cancel(&c), AR__ACT_NOTHING);
    ASSERT_ST(&c, COMPLETE | JOIN_INTEREST | REF(1));

    _Atomic uint32_t k = NOTIFIED | CANCELLED | REF(3);
    ASSERT_ACT(ar__st_notify_and_cancel(&k), AR__ACT_NOTHING);
    ASSERT_ST(&k, NOTIFIED | CANCELLED | REF(3));

    /* An idle task already cancelled is not queued a second time. */
    _Atomic uint32_t i = CANCELLED | REF(2);
    ASSERT_ACT(ar__st_notify_and_cancel(&i), AR__ACT_NOTHING);
    ASSERT_ST(&i, CANCELLED | REF(2));
}

/* ------------------------------------------------------------------------
 * to_shutdown
 * --------------------------------------------------------------------- */
Test(task_state, shutdown_idle_takes_running, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = JOIN_INTEREST | REF(2);
    cr_assert(ar__st_to_shutdown(&s));
    ASSERT_ST(&s, RUNNING | CANCELLED | JOIN_INTEREST | REF(2));

    /* Idle but queued counts as idle: the shutdown thread owns the future,
     * the queue entry later fails to_running and only drops its ref. */
    _Atomic uint32_t q = FRESH;
    cr_assert(ar__st_to_shutdown(&q));
    ASSERT_ST(&q, FRESH | RUNNING | CANCELLED);
    ASSERT_ACT(ar__st_to_running(&q), AR__ACT_FAILED);
    ASSERT_ST(&q, NOTIFIED | RUNNING | CANCELLED | JOIN_INTEREST | REF(2));
}

Test(task_state, shutdown_running_only_marks, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | REF(3);
    cr_assert(not(ar__st_to_shutdown(&s)));
    ASSERT_ST(&s, RUNNING | CANCELLED | REF(3));
    /* The poller sees it when the poll returns. */
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_CANCEL);
}

Test(task_state, shutdown_complete_leaves_lifecycle, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = COMPLETE | JOIN_INTEREST | REF(2);
    cr_assert(not(ar__st_to_shutdown(&s)));
    uint32_t v = ld(&s);
    cr_assert(eq(u32, v & (RUNNING | COMPLETE | RES_CANCELLED), COMPLETE));
    cr_assert(eq(u32, ar__st_refs(v), 2));
}

/* ------------------------------------------------------------------------
 * Join waker protocol.
 * --------------------------------------------------------------------- */
Test(task_state, join_waker_set_unset_before_complete, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = RUNNING | JOIN_INTEREST | REF(3);
    cr_assert(ar__st_set_join_waker(&s));
    ASSERT_ST(&s, RUNNING | JOIN_INTEREST | JOIN_WAKER | REF(3));
    /* The handle takes the slot back to replace the waker. */
    cr_assert(ar__st_unset_join_waker(&s));
    ASSERT_ST(&s, RUNNING | JOIN_INTEREST | REF(3));
    cr_assert(ar__st_set_join_waker(&s));
    ASSERT_ST(&s, RUNNING | JOIN_INTEREST | JOIN_WAKER | REF(3));
}

Test(task_state, join_waker_set_fails_when_complete, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = COMPLETE | JOIN_INTEREST | REF(1);
    cr_assert(not(ar__st_set_join_waker(&s)));
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(1));
}

Test(task_state, join_waker_unset_fails_when_complete, .timeout = STATE_TIMEOUT)
{
    /* The task completed after the waker was set: the task side owns it
     * and will wake it; the handle must not touch it. */
    _Atomic uint32_t s = COMPLETE | JOIN_INTEREST | JOIN_WAKER | REF(1);
    cr_assert(not(ar__st_unset_join_waker(&s)));
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | JOIN_WAKER | REF(1));
    /* Task side: after waking it, clear the flag. */
    cr_assert(eq(u32, ar__st_unset_waker_after_complete(&s), COMPLETE | JOIN_INTEREST | REF(1)));
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(1));
}

Test(task_state, join_handle_dropped_before_complete, .timeout = STATE_TIMEOUT)
{
    /* No waker stored: handle side owns the (empty) slot. */
    _Atomic uint32_t a = RUNNING | JOIN_INTEREST | REF(3);
    cr_assert(handle_drops_waker(&a));
    ASSERT_ST(&a, RUNNING | REF(3));

    /* Waker stored: the handle takes it back and must drop it. */
    _Atomic uint32_t b = NOTIFIED | JOIN_INTEREST | JOIN_WAKER | REF(3);
    cr_assert(handle_drops_waker(&b));
    ASSERT_ST(&b, NOTIFIED | REF(3));
}

Test(task_state, join_handle_dropped_after_complete, .timeout = STATE_TIMEOUT)
{
    /* Complete with the waker flag still set: the completing thread is
     * using it; it (not the handle) drops it. */
    _Atomic uint32_t a = COMPLETE | JOIN_INTEREST | JOIN_WAKER | REF(2);
    cr_assert(not(handle_drops_waker(&a)));
    ASSERT_ST(&a, COMPLETE | JOIN_WAKER | REF(2));
    uint32_t after = ar__st_unset_waker_after_complete(&a);
    cr_assert(eq(u32, after & JOIN_INTEREST, 0), "task side must see the handle is gone");

    /* Complete, waker already woken and released by the task side. */
    _Atomic uint32_t b = COMPLETE | JOIN_INTEREST | REF(1);
    cr_assert(handle_drops_waker(&b));
    ASSERT_ST(&b, COMPLETE | REF(1));
}

/* ------------------------------------------------------------------------
 * Sequences, as the executor performs them.
 * --------------------------------------------------------------------- */
Test(task_state, seq_wake_while_running, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    /* The future clones the waker and hands it to another thread, which
     * wakes it while the poll is still going. */
    ar__st_ref_inc(&s);
    ASSERT_ST(&s, RUNNING | JOIN_INTEREST | REF(4));
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, RUNNING | NOTIFIED | JOIN_INTEREST | REF(3));
    /* The poll returns PENDING: requeued, not lost. */
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_OK_NOTIFIED);
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(3));
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    ASSERT_ST(&s, RUNNING | JOIN_INTEREST | REF(3));
    /* This time it completes. */
    cr_assert(eq(u32, ar__st_to_complete(&s, false), COMPLETE | JOIN_INTEREST | REF(3)));
    /* Running + registry references dropped, handle's remains. */
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(1));
    cr_assert(handle_drops_waker(&s));
    cr_assert(ar__st_ref_dec_n(&s, 1));
}

Test(task_state, seq_wake_twice_queues_once, .timeout = STATE_TIMEOUT)
{
    /* Idle task parked on something that holds two waker clones. */
    _Atomic uint32_t s = JOIN_INTEREST | REF(4); /* registry, handle, 2 wakers */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_SUBMIT);
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(5));
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING); /* consumes waker 2 */
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(4));
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING); /* consumes waker 1 */
    ASSERT_ST(&s, NOTIFIED | JOIN_INTEREST | REF(3));
    /* Exactly one queue entry: it runs once, a second entry would fail. */
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, JOIN_INTEREST | REF(2));
}

Test(task_state, seq_wake_after_completion, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    ar__st_ref_inc(&s); /* a waker stored somewhere */
    ar__st_ref_inc(&s); /* and another */
    ar__st_to_complete(&s, false);
    cr_assert(not(ar__st_ref_dec_n(&s, 2))); /* running + registry */
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(3));
    /* Late wakes: never queued again. */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(3));
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_NOTHING);
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(2));
    /* Handle released, then the last waker's wake frees the task. */
    cr_assert(handle_drops_waker(&s));
    cr_assert(not(ar__st_ref_dec_n(&s, 1)));
    ASSERT_ACT(ar__st_notify_by_val(&s), AR__ACT_DEALLOC);
    ASSERT_ST(&s, COMPLETE | REF(0));
}

Test(task_state, seq_abort_while_queued, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    /* The existing entry is picked up and sees the cancellation. */
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_CANCEL);
    ASSERT_ST(&s, RUNNING | CANCELLED | JOIN_INTEREST | REF(3));
    uint32_t done = ar__st_to_complete(&s, true);
    cr_assert(eq(u32, done, COMPLETE | RES_CANCELLED | CANCELLED | JOIN_INTEREST | REF(3)));
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    /* The joiner reads RES_CANCELLED (-ECANCELED), then releases. */
    cr_assert(eq(u32, ld(&s) & RES_CANCELLED, RES_CANCELLED));
    cr_assert(handle_drops_waker(&s));
    cr_assert(ar__st_ref_dec_n(&s, 1));
}

Test(task_state, seq_abort_while_idle, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = JOIN_INTEREST | REF(3); /* registry, handle, waker */
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_SUBMIT);
    ASSERT_ST(&s, NOTIFIED | CANCELLED | JOIN_INTEREST | REF(4));
    /* A wake racing in after the abort does not queue it again. */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_CANCEL);
    ar__st_to_complete(&s, true);
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    ASSERT_ST(&s, COMPLETE | RES_CANCELLED | CANCELLED | JOIN_INTEREST | REF(2));
}

Test(task_state, seq_abort_while_running, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    /* No entry was made: the poller handles it when the poll returns. */
    ASSERT_ST(&s, RUNNING | NOTIFIED | CANCELLED | JOIN_INTEREST | REF(3));
    /* Wakes during the rest of the poll change nothing. */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ACT(ar__st_to_idle(&s), AR__ACT_CANCEL);
    ar__st_to_complete(&s, true);
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    ASSERT_ST(&s, COMPLETE | RES_CANCELLED | NOTIFIED | CANCELLED | JOIN_INTEREST | REF(1));
    /* Nothing is queued any more: later wakes and aborts are no-ops. */
    ASSERT_ACT(ar__st_notify_by_ref(&s), AR__ACT_NOTHING);
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    cr_assert(handle_drops_waker(&s));
    cr_assert(ar__st_ref_dec_n(&s, 1));
}

Test(task_state, seq_abort_after_completion, .timeout = STATE_TIMEOUT)
{
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    ar__st_to_complete(&s, false);
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(1));
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    /* The output stands: no RES_CANCELLED. */
    ASSERT_ST(&s, COMPLETE | JOIN_INTEREST | REF(1));
}

Test(task_state, seq_abort_while_running_but_poll_finishes, .timeout = STATE_TIMEOUT)
{
    /* The poll that was running when the abort came returned READY: the
     * output stands (as in Tokio) and no queue entry is left behind. */
    _Atomic uint32_t s = FRESH;
    ASSERT_ACT(ar__st_to_running(&s), AR__ACT_SUCCESS);
    ASSERT_ACT(ar__st_notify_and_cancel(&s), AR__ACT_NOTHING);
    uint32_t done = ar__st_to_complete(&s, false);
    cr_assert(eq(u32, done & (COMPLETE | RES_CANCELLED | RUNNING), COMPLETE));
    cr_assert(not(ar__st_ref_dec_n(&s, 2)));
    cr_assert(eq(u32, ar__st_refs(ld(&s)), 1));
}

/* ------------------------------------------------------------------------
 * Multi-threaded hammer.
 *
 * NOTIFIERS threads wake one task word as fast as they can, alternating
 * wake_by_ref and (clone + wake_by_val).  A SUBMIT puts an entry in a
 * simulated run queue (a counter).  WORKERS threads take entries and run
 * the task: to_running, a short "poll", to_idle, requeueing on OK_NOTIFIED.
 *
 * Checked: never two polls at once; never more than one queue entry (a
 * wake of a scheduled task does nothing); every entry is run exactly once
 * (submits + requeues == to_running calls); no unexpected action; at the
 * end the word is back to idle with exactly the base reference.
 *
 * In the abort variant one more thread aborts the task midway; the worker
 * that sees CANCEL completes it (cancelled) and it is never run again.
 * --------------------------------------------------------------------- */
enum { NOTIFIERS = 3, WORKERS = 2, WAKES_PER_NOTIFIER = 20000, BASE_REFS = 1 };

typedef struct hammer {
    _Atomic uint32_t word;
    _Atomic int entries;     /* simulated run queue */
    _Atomic int max_entries; /* most entries ever outstanding */
    _Atomic int in_poll;
    _Atomic uint64_t submits, requeues, runs, polls_with_wake, cancels, completes;
    _Atomic uint64_t bad_action, double_poll;
    _Atomic int bad_last; /* last unexpected action, for the message */
    _Atomic bool notifiers_done;
    _Atomic bool stalled; /* a wake stayed NOTIFIED for seconds */
    _Atomic bool abort_now;
    _Atomic int aborted; /* the abort thread's result: 1 submit, 2 nothing */
    bool with_abort;
} hammer;

static void h_bad(hammer *h, int act)
{
    atomic_fetch_add(&h->bad_action, 1);
    atomic_store(&h->bad_last, act);
}

static void h_push_entry(hammer *h)
{
    int n = atomic_fetch_add(&h->entries, 1) + 1;
    int m = atomic_load(&h->max_entries);
    while (n > m && !atomic_compare_exchange_weak(&h->max_entries, &m, n)) {
    }
}

static bool h_take_entry(hammer *h)
{
    int n = atomic_load(&h->entries);
    while (n > 0)
        if (atomic_compare_exchange_weak(&h->entries, &n, n - 1))
            return true;
    return false;
}

static inline void ar__cpu_relax_(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

static void *h_notifier(void *p)
{
    hammer *h = p;
    uint32_t rng = (uint32_t)(uintptr_t)&rng | 1u;
    for (int i = 0; i < WAKES_PER_NOTIFIER; i++) {
        /* Random pauses so that wakes land in every state: idle, queued,
         * running, and just between running and idle. */
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        for (uint32_t k = rng % 256; k > 0; k--)
            __asm__ __volatile__("" ::: "memory");
        /* Mostly wait for the previous wake to be taken (so that most
         * wakes find the task idle or running, the interesting states),
         * sometimes wake a task that is still queued. */
        if ((rng >> 16) % 8 != 0 && !atomic_load(&h->stalled)) {
            /* Bounded: a lost wakeup (NOTIFIED left set with no entry)
             * must fail the test, not hang it. */
            double t0 = 0;
            for (unsigned spins = 1; atomic_load(&h->word) & NOTIFIED; spins++) {
                if (atomic_load(&h->word) & COMPLETE)
                    break;
                if (spins % 64 == 0) {
                    sched_yield();
                    if (t0 == 0) {
                        t0 = t_now_s();
                    } else if (t_now_s() - t0 > 10.0) {
                        atomic_store(&h->stalled, true);
                        break;
                    }
                }
            }
        }
        /* A quarter of the wakes aim at a poll in progress. */
        if ((rng >> 20) % 4 == 0)
            for (int spins = 0; spins < 4096 && !(atomic_load(&h->word) & RUNNING); spins++)
                ar__cpu_relax_();
        ar__st_action a;
        if (i & 1) {
            a = ar__st_notify_by_ref(&h->word);
        } else {
            ar__st_ref_inc(&h->word); /* ar_waker_clone */
            a = ar__st_notify_by_val(&h->word);
        }
        if (a == AR__ACT_SUBMIT) {
            atomic_fetch_add(&h->submits, 1);
            h_push_entry(h);
        } else if (a != AR__ACT_NOTHING) {
            h_bad(h, (int)a);
        }
        if (h->with_abort && i == WAKES_PER_NOTIFIER / 2)
            atomic_store(&h->abort_now, true);
    }
    return NULL;
}

static void *h_aborter(void *p)
{
    hammer *h = p;
    while (!atomic_load(&h->abort_now))
        sched_yield();
    ar__st_action a = ar__st_notify_and_cancel(&h->word);
    if (a == AR__ACT_SUBMIT) {
        atomic_fetch_add(&h->submits, 1);
        h_push_entry(h);
        atomic_store(&h->aborted, 1);
    } else if (a == AR__ACT_NOTHING) {
        atomic_store(&h->aborted, 2);
    } else {
        h_bad(h, (int)a);
    }
    return NULL;
}

static void h_complete(hammer *h, bool cancelled)
{
    uint32_t s = ar__st_to_complete(&h->word, cancelled);
    if (!(s & COMPLETE) || (s & RUNNING))
        h_bad(h, 100);
    atomic_fetch_add(&h->completes, 1);
    /* Drop the running reference; the base one keeps the word alive. */
    if (ar__st_ref_dec_n(&h->word, 1))
        h_bad(h, AR__ACT_DEALLOC);
}

static void *h_worker(void *p)
{
    hammer *h = p;
    unsigned idle_spins = 0;
    unsigned poll_len = (unsigned)(uintptr_t)&idle_spins;
    for (;;) {
        if (!h_take_entry(h)) {
            if (atomic_load(&h->notifiers_done) && atomic_load(&h->entries) == 0)
                return NULL;
            if (++idle_spins % 256 == 0)
                sched_yield();
            continue;
        }
        ar__st_action a = ar__st_to_running(&h->word);
        atomic_fetch_add(&h->runs, 1);
        if (a == AR__ACT_CANCEL) {
            atomic_fetch_add(&h->cancels, 1);
            if (atomic_fetch_add(&h->in_poll, 1) != 0)
                atomic_fetch_add(&h->double_poll, 1);
            atomic_fetch_sub(&h->in_poll, 1);
            h_complete(h, true);
            continue;
        }
        if (a != AR__ACT_SUCCESS) {
            h_bad(h, (int)a);
            continue;
        }
        if (atomic_fetch_add(&h->in_poll, 1) != 0)
            atomic_fetch_add(&h->double_poll, 1);
        /* The "poll": long enough for wakes to land while RUNNING. */
        poll_len = poll_len * 1103515245u + 12345u;
        for (unsigned i = (poll_len >> 16) % 1024; i > 0; i--)
            __asm__ __volatile__("" ::: "memory");
        if (atomic_load(&h->word) & NOTIFIED)
            atomic_fetch_add(&h->polls_with_wake, 1);
        atomic_fetch_sub(&h->in_poll, 1);
        a = ar__st_to_idle(&h->word);
        if (a == AR__ACT_OK_NOTIFIED) {
            atomic_fetch_add(&h->requeues, 1);
            h_push_entry(h);
        } else if (a == AR__ACT_CANCEL) {
            atomic_fetch_add(&h->cancels, 1);
            h_complete(h, true);
        } else if (a != AR__ACT_NOTHING) {
            h_bad(h, (int)a);
        }
    }
}

static void run_hammer(hammer *h)
{
    pthread_t nt[NOTIFIERS], wt[WORKERS], at;
    for (int i = 0; i < WORKERS; i++)
        cr_assert(eq(int, pthread_create(&wt[i], NULL, h_worker, h), 0));
    if (h->with_abort)
        cr_assert(eq(int, pthread_create(&at, NULL, h_aborter, h), 0));
    for (int i = 0; i < NOTIFIERS; i++)
        cr_assert(eq(int, pthread_create(&nt[i], NULL, h_notifier, h), 0));
    for (int i = 0; i < NOTIFIERS; i++)
        pthread_join(nt[i], NULL);
    if (h->with_abort)
        pthread_join(at, NULL);
    atomic_store(&h->notifiers_done, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(wt[i], NULL);

    cr_assert(not(atomic_load(&h->stalled)),
              "the task stayed NOTIFIED for seconds: a wakeup was lost (state %#x, entries %d)",
              atomic_load(&h->word), atomic_load(&h->entries));
    cr_assert(eq(u64, atomic_load(&h->bad_action), 0), "unexpected action %d",
              atomic_load(&h->bad_last));
    cr_assert(eq(u64, atomic_load(&h->double_poll), 0), "task polled by two threads at once");
    cr_assert(le(int, atomic_load(&h->max_entries), 1),
                 "a scheduled task was queued a second time");
    cr_assert(eq(int, atomic_load(&h->entries), 0));
    /* Every SUBMIT and every requeue was matched by exactly one run. */
    cr_assert(eq(u64, atomic_load(&h->submits) + atomic_load(&h->requeues),
                 atomic_load(&h->runs)));
    cr_assert(gt(u64, atomic_load(&h->submits), 0));
}

Test(task_state, stress_wakes_vs_polls, .timeout = STATE_TIMEOUT)
{
    static hammer h;
    atomic_init(&h.word, REF(BASE_REFS));
    h.with_abort = false;
    run_hammer(&h);

    /* Idle, not notified, exactly the base reference left: every waker
     * reference taken by the notifiers was consumed exactly once. */
    ASSERT_ST(&h.word, REF(BASE_REFS));
    cr_assert(eq(u64, atomic_load(&h.completes), 0));
    cr_assert(eq(u64, atomic_load(&h.cancels), 0));
    cr_log_info("submits %llu requeues %llu runs %llu polls_with_wake %llu",
            (unsigned long long)atomic_load(&h.submits),
            (unsigned long long)atomic_load(&h.requeues),
            (unsigned long long)atomic_load(&h.runs),
            (unsigned long long)atomic_load(&h.polls_with_wake));
    cr_assert(ar__st_ref_dec_n(&h.word, BASE_REFS));
}

Test(task_state, stress_wakes_vs_polls_with_abort, .timeout = STATE_TIMEOUT)
{
    static hammer h;
    atomic_init(&h.word, REF(BASE_REFS));
    h.with_abort = true;
    run_hammer(&h);

    int ab = atomic_load(&h.aborted);
    cr_assert(ab == 1 || ab == 2, "abort thread did not run (%d)", ab);
    /* Completed exactly once, as cancelled, and nothing ran afterwards. */
    cr_assert(eq(u64, atomic_load(&h.completes), 1));
    cr_assert(eq(u64, atomic_load(&h.cancels), 1));
    uint32_t v = ld(&h.word);
    cr_assert(eq(u32, v & (RUNNING | COMPLETE | RES_CANCELLED | CANCELLED),
                 COMPLETE | RES_CANCELLED | CANCELLED));
    cr_assert(eq(u32, ar__st_refs(v), BASE_REFS));
    cr_assert(ar__st_ref_dec_n(&h.word, BASE_REFS));
}
