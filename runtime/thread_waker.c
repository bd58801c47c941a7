/*
 * runtime/thread_waker.c - waker for plain threads (see thread_waker.h).
 */
#include "thread_waker.h"

#include "alloc.h"

static void tw_wake(ar_waker_obj *o)
{
    ar__thread_waker *tw = (ar__thread_waker *)o;
    atomic_store_explicit(&tw->woken, true, memory_order_release);
    ar__spin_lock(&tw->lock);
    if (tw->unpark)
        tw->unpark(tw->arg);
    ar__spin_unlock(&tw->lock);
}

static void tw_clone(ar_waker_obj *o)
{
    ar__thread_waker *tw = (ar__thread_waker *)o;
    atomic_fetch_add_explicit(&tw->refs, 1, memory_order_relaxed);
}

static void tw_drop(ar_waker_obj *o)
{
    ar__thread_waker *tw = (ar__thread_waker *)o;
    if (atomic_fetch_sub_explicit(&tw->refs, 1, memory_order_acq_rel) == 1)
        ar__free(tw, sizeof *tw);
}

static const ar_waker_vtable tw_vt = {tw_wake, tw_clone, tw_drop};

static void unpark_own(void *arg) { ar__unpark(arg); }

ar__thread_waker *ar__thread_waker_new(void (*unpark)(void *arg), void *arg)
{
    ar__thread_waker *tw = ar__alloc(sizeof *tw);
    if (!tw)
        return NULL;
    tw->obj.vt = &tw_vt;
    atomic_init(&tw->refs, 1);
    atomic_init(&tw->woken, true);
    ar__spin_init(&tw->lock);
    ar__parker_init(&tw->own);
    tw->unpark = unpark ? unpark : unpark_own;
    tw->arg = unpark ? arg : &tw->own;
    return tw;
}

ar_waker ar__thread_waker_get(ar__thread_waker *tw) { return ar_waker_from_obj(&tw->obj); }

bool ar__thread_waker_take(ar__thread_waker *tw)
{
    return atomic_exchange_explicit(&tw->woken, false, memory_order_acq_rel);
}

void ar__thread_waker_detach(ar__thread_waker *tw)
{
    ar__spin_lock(&tw->lock);
    tw->unpark = NULL;
    ar__spin_unlock(&tw->lock);
    tw_drop(&tw->obj);
}
