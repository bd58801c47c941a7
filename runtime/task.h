/*
 * runtime/task.h - the task object: one heap block holding a 32-byte header
 * followed by the future (and, inside it, the future's output).
 *
 *   offset  0  state       atomic word: flags + refcount (state.h)
 *           4  owned_idx   slot in the owner shard's registry, or
 *                          AR__OWNED_NONE; written under the shard lock
 *           8  vt          the future's vtable; immutable
 *          16  shard       registry shard the task was spawned into; gives
 *                          the runtime to schedule on; immutable
 *          24  join_waker  waker of the joiner (JOIN_WAKER rules, state.h)
 *          32  future      vt->size bytes, 16-byte aligned
 *
 * The header is deliberately small (idle_task_memory target: 64 B per
 * task).  Run queues hold task pointers in arrays, so the header needs no
 * queue links.
 */
#ifndef AR_RUNTIME_TASK_H
#define AR_RUNTIME_TASK_H

#include "asyncrt/runtime.h"
#include "state.h"

struct ar__shard;
struct ar__task_info;
struct ar_worker;

struct ar_task {
    _Atomic uint32_t state;
    uint32_t owned_idx;
    const ar_future_vt *vt;
    struct ar__shard *shard;
    ar_waker join_waker;
    _Alignas(16) unsigned char future[];
};

#define AR__OWNED_NONE UINT32_MAX

/*
 * Run-queue entries are task pointers, tagged in bit 0 (tasks are 16-byte
 * aligned) when the entry owns the task's RUNNING bit: a task that yielded
 * is requeued without giving RUNNING up, which saves the two state CASes of
 * an idle/running round trip.  Whoever takes such an entry owns the future.
 */
#define AR__ENTRY_RUNNING ((uintptr_t)1)

static inline ar_task *ar__entry_task(ar_task *e)
{
    return (ar_task *)((uintptr_t)e & ~AR__ENTRY_RUNNING);
}
static inline bool ar__entry_owns_running(ar_task *e)
{
    return ((uintptr_t)e & AR__ENTRY_RUNNING) != 0;
}
static inline ar_task *ar__entry_running(ar_task *t)
{
    return (ar_task *)((uintptr_t)t | AR__ENTRY_RUNNING);
}

/* Release a queue entry without polling it (shutdown drain): drops the
 * queue's reference, or, for a RUNNING entry, drops the future. */
void ar__task_drop_entry(ar_task *entry);

static inline void *ar__task_future(ar_task *t) { return t->future; }
static inline size_t ar__task_alloc_size(const ar_future_vt *vt)
{
    return sizeof(ar_task) + vt->size;
}

/* Allocate and register a task (refs: registry, queue entry, + join).  The
 * task starts RUNNING: schedule it as ar__entry_running(t).
 * Returns NULL with *err set (-ENOMEM, -ESHUTDOWN). */
ar_task *ar__task_new(struct ar__shard *shard, const ar_future_vt *vt, const void *fut,
                      bool joinable, const struct ar__task_info *info, int *err);

/* Poll the task of a run-queue entry (owning the entry's reference) with
 * cx (budget and worker set by the caller).  Handles completion,
 * cancellation and requeueing after a yield. */
void ar__task_run(ar_task *entry, ar_cx *cx);

/* Drop the future of a task whose RUNNING bit the caller owns, complete it
 * as cancelled and release the running reference. */
void ar__task_cancel_and_complete(ar_task *t);

/* Runtime shutdown of a task popped from the registry (owning the registry
 * reference). */
void ar__task_shutdown(ar_task *t);

/* Drop one reference (a queue entry, a waker, a handle). */
void ar__task_ref_dec(ar_task *t);

void ar__task_dealloc(ar_task *t);

/* Release an output nobody took (vt->drop_output), once. */
void ar__task_drop_output(ar_task *t);

/* Wake paths used by the waker functions. */
void ar__task_wake_by_val(ar_task *t);
void ar__task_wake_by_ref(ar_task *t);

#endif
