/*
 * runtime/yield.c - ar_yield_now: give other tasks a turn.
 */
#include "asyncrt/runtime.h"

ar_poll ar_yield_now_poll(ar_yield_now *y, ar_cx *cx)
{
    if (!y || !cx)
        return AR_READY;
    if (y->yielded) {
        y->yielded = 0; /* ready, and reusable for the next yield */
        return AR_READY;
    }
    y->yielded = 1;
    /* A self-wake: the executor requeues the task behind the others. */
    ar_waker_wake_by_ref(cx->waker);
    return AR_PENDING;
}
