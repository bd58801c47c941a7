/*
 * runtime/waker.c - the four waker operations.  A waker word with bit 0
 * clear is a task (direct calls into the task harness); with bit 0 set it is
 * a user ar_waker_obj (calls through its vtable).
 */
#include "asyncrt/future.h"
#include "task.h"

static inline ar_waker_obj *obj_of(ar_waker w) { return (ar_waker_obj *)(w.bits & ~(uintptr_t)1); }

ar_waker ar_waker_clone(ar_waker w)
{
    if (w.bits == 0)
        return w;
    if (!(w.bits & 1))
        ar__st_ref_inc(&((ar_task *)w.bits)->state);
    else
        obj_of(w)->vt->clone(obj_of(w));
    return w;
}

void ar_waker_wake(ar_waker w)
{
    if (w.bits == 0)
        return;
    if (!(w.bits & 1)) {
        ar__task_wake_by_val((ar_task *)w.bits);
    } else {
        ar_waker_obj *o = obj_of(w);
        o->vt->wake_by_ref(o);
        o->vt->drop(o);
    }
}

void ar_waker_wake_by_ref(ar_waker w)
{
    if (w.bits == 0)
        return;
    if (!(w.bits & 1))
        ar__task_wake_by_ref((ar_task *)w.bits);
    else
        obj_of(w)->vt->wake_by_ref(obj_of(w));
}

void ar_waker_drop(ar_waker w)
{
    if (w.bits == 0)
        return;
    if (!(w.bits & 1))
        ar__task_ref_dec((ar_task *)w.bits);
    else
        obj_of(w)->vt->drop(obj_of(w));
}
