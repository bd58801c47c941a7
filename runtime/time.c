/*
 * runtime/time.c - sleeps, intervals and timeouts on the per-worker timing
 * wheels (wheel.h).
 *
 * A sleep registers on the wheel of the worker that first polls it (or of
 * worker 0 when polled by a plain thread inside ar_block_on), and stays
 * there even if its task migrates: the wheel's lock makes polls, drops and
 * firing from different threads safe, and the stored waker wakes the task
 * wherever it runs.  Registering on another thread's wheel unparks that
 * worker so it re-computes how long to sleep.
 */
#include <errno.h>

#include "asyncrt/time.h"
#include "rt.h"
#include "wheel.h"

uint64_t ar_now_ms(void) { return ar__now_tick(); }

void ar_sleep_until_init(ar_sleep *s, uint64_t deadline_ms)
{
    if (!s)
        return;
    s->t.prev = s->t.next = NULL;
    s->t.deadline = deadline_ms;
    s->t.waker = AR_WAKER_NONE;
    s->t.wheel = NULL;
    s->t.slot = 0;
    s->t.state = AR__TIMER_INIT;
    s->t.pad_ = 0;
}

void ar_sleep_init(ar_sleep *s, uint64_t ms)
{
    uint64_t ns = ms > UINT64_MAX / 1000000u ? UINT64_MAX / 2 : ms * 1000000u;
    ar_sleep_until_init(s, ar__tick_after_ns(ns));
}

/* The wheel a sleep polled on this thread registers with, or NULL. */
static ar__wheel *home_wheel(ar_worker **owner)
{
    ar_worker *w = ar__tls_worker;
    if (!w) {
        ar_rt *rt = ar__tls_rt;
        if (!rt)
            return NULL;
        w = &rt->workers[0];
    }
    *owner = w;
    return &w->wheel;
}

ar_poll ar_sleep_poll(ar_sleep *s, ar_cx *cx)
{
    ar__timer *t = &s->t;
    if (t->state == AR__TIMER_FIRED)
        return AR_READY;
    if (t->state == AR__TIMER_INIT) {
        if (ar__now_tick() >= t->deadline) {
            t->state = AR__TIMER_FIRED;
            return AR_READY;
        }
        ar_worker *owner = NULL;
        ar__wheel *w = home_wheel(&owner);
        if (!w) {
            /* No runtime here: re-check the clock on every poll. */
            ar_waker_wake_by_ref(cx->waker);
            return AR_PENDING;
        }
        ar__spin_lock(&w->lock);
        t->waker = ar_waker_clone(cx->waker);
        bool registered = ar__wheel_insert_locked(w, t);
        if (!registered) {
            ar_waker_drop(t->waker);
            t->waker = AR_WAKER_NONE;
            t->state = AR__TIMER_FIRED;
        }
        ar__spin_unlock(&w->lock);
        if (!registered)
            return AR_READY;
        if (owner != ar__tls_worker)
            ar__worker_unpark(owner);
        return AR_PENDING;
    }
    /* Registered: fired meanwhile, or refresh the waker. */
    ar__wheel *w = t->wheel;
    ar_waker old = AR_WAKER_NONE;
    ar_poll ret = AR_PENDING;
    ar__spin_lock(&w->lock);
    if (t->state == AR__TIMER_FIRED) {
        ret = AR_READY;
    } else if (!ar_waker_will_wake(t->waker, cx->waker)) {
        old = t->waker;
        t->waker = ar_waker_clone(cx->waker);
    }
    ar__spin_unlock(&w->lock);
    ar_waker_drop(old);
    return ret;
}

void ar_sleep_drop(ar_sleep *s)
{
    if (!s)
        return;
    ar__timer *t = &s->t;
    if (t->state != AR__TIMER_REGISTERED) {
        t->state = AR__TIMER_FIRED;
        return;
    }
    ar__wheel *w = t->wheel;
    ar_waker old = AR_WAKER_NONE;
    ar__spin_lock(&w->lock);
    if (t->state == AR__TIMER_REGISTERED) {
        ar__wheel_remove_locked(w, t);
        old = t->waker;
        t->waker = AR_WAKER_NONE;
    }
    t->state = AR__TIMER_FIRED;
    ar__spin_unlock(&w->lock);
    ar_waker_drop(old);
}

void ar_interval_init(ar_interval *iv, uint64_t period_ms)
{
    if (!iv)
        return;
    iv->period = period_ms ? period_ms : 1;
    ar_sleep_init(&iv->s, iv->period);
}

ar_poll ar_interval_tick_poll(ar_interval *iv, ar_cx *cx)
{
    if (ar_sleep_poll(&iv->s, cx) == AR_PENDING)
        return AR_PENDING;
    /* Next tick one period after this one; skip ticks already missed. */
    uint64_t next = iv->s.t.deadline + iv->period;
    uint64_t now = ar__now_tick();
    if (next <= now)
        next = now + iv->period - (now - iv->s.t.deadline) % iv->period;
    ar_sleep_until_init(&iv->s, next);
    return AR_READY;
}

void ar_interval_drop(ar_interval *iv)
{
    if (iv)
        ar_sleep_drop(&iv->s);
}

void ar_timeout_init(ar_timeout *t, const ar_future_vt *child_vt, void *child, uint64_t ms)
{
    if (!t)
        return;
    ar_sleep_init(&t->s, ms);
    t->vt = child_vt;
    t->child = child;
    t->res = 0;
    t->done = 0;
}

ar_poll ar_timeout_poll(ar_timeout *t, ar_cx *cx)
{
    if (t->done)
        return AR_READY;
    if (!t->vt || !t->vt->poll || !t->child) {
        t->res = -EINVAL;
        t->done = 1;
        return AR_READY;
    }
    if (t->vt->poll(t->child, cx) == AR_READY) {
        ar_sleep_drop(&t->s);
        t->res = 0;
        t->done = 1;
        return AR_READY;
    }
    if (ar_sleep_poll(&t->s, cx) == AR_PENDING)
        return AR_PENDING;
    if (t->vt->drop)
        t->vt->drop(t->child);
    t->res = -ETIMEDOUT;
    t->done = 1;
    return AR_READY;
}

void ar_timeout_drop(ar_timeout *t)
{
    if (!t)
        return;
    ar_sleep_drop(&t->s);
    if (!t->done && t->vt && t->vt->drop && t->child)
        t->vt->drop(t->child);
    t->done = 1;
}

/* Vtables, so that sleeps and timeouts can be children of combinators. */
static ar_poll sleep_poll_v(void *self, ar_cx *cx) { return ar_sleep_poll(self, cx); }
static void sleep_drop_v(void *self) { ar_sleep_drop(self); }
const ar_future_vt ar_sleep_vt = AR_FUTURE_VT_VOID(ar_sleep, sleep_poll_v, sleep_drop_v);

static ar_poll timeout_poll_v(void *self, ar_cx *cx) { return ar_timeout_poll(self, cx); }
static void timeout_drop_v(void *self) { ar_timeout_drop(self); }
const ar_future_vt ar_timeout_vt = AR_FUTURE_VT(ar_timeout, timeout_poll_v, timeout_drop_v, res);
