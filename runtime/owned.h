/*
 * runtime/owned.h - the registry of a runtime's tasks, so that shutdown can
 * find and drop tasks that sit in no queue (parked on a notify, a channel,
 * a timer).
 *
 * Sharded: one shard per worker, for the tasks spawned on it, plus one
 * shared shard for spawns from plain threads.  A shard is an array of task
 * pointers; each task remembers its slot (owned_idx) and removal swaps the
 * last entry into the hole.  Each entry holds one task reference.
 *
 * Who may touch a shard:
 *   - a worker shard: its owner worker thread only, without a lock (and the
 *     shutdown thread once the workers have been joined).  A task that
 *     completes on another worker stays registered; the owner's sweep finds
 *     it COMPLETE and drops the entry.  So the hot spawn/complete path takes
 *     no lock and writes no cache line of another core.
 *   - the shared shard: any thread, under `lock`.
 *
 * Invariants: slots[i]->owned_idx == i for i < len; a task not in the
 * registry has owned_idx == AR__OWNED_NONE.  Once `closed`, inserts fail
 * with -ESHUTDOWN.
 *
 * Task info for the dump (task_dump.c): `info`, when not NULL, runs parallel
 * to `slots` (info[i] describes slots[i], same capacity) and moves with it.
 * It is allocated on the first insert that has a name or site to keep (and
 * brought to cap by the next insert after slots grew), so a
 * runtime that never names a task nor records sites pays nothing for it.
 */
#ifndef AR_RUNTIME_OWNED_H
#define AR_RUNTIME_OWNED_H

#include <stdbool.h>
#include <stdint.h>

#include "spinlock.h"

struct ar_rt;
struct ar_task;

typedef struct ar__shard {
    struct ar_rt *rt; /* immutable */
    bool shared;      /* immutable: the plain-threads shard */
    bool closed;
    ar__spinlock lock; /* shared shard only */
    uint32_t len, cap;
    uint32_t swept_len; /* len after the last sweep */
    struct ar_task **slots;
    struct ar__task_info *info; /* NULL, or info_cap entries parallel to slots */
    uint32_t info_cap;          /* >= len whenever info != NULL */
} ar__shard;

/* What the task dump shows of a task besides its state; static strings. */
typedef struct ar__task_info {
    const char *name; /* NULL: the future type's name (vt->name) */
    const char *site; /* "file:line" of the spawn, or NULL */
} ar__task_info;

void ar__shard_init(ar__shard *s, struct ar_rt *rt, bool shared);
/* 0, -ENOMEM, -ESHUTDOWN.  info may be NULL (nothing to record). */
int ar__shard_insert(ar__shard *s, struct ar_task *t, const ar__task_info *info);
/* Remove t if registered; true if it was (the caller now owns the
 * registry's reference).  Worker shards: owner thread only. */
bool ar__shard_remove(ar__shard *s, struct ar_task *t);
/* Owner: drop the entries of tasks that completed on other workers. */
void ar__shard_sweep(ar__shard *s);
/* Owner, before parking: sweep if enough was spawned since the last one. */
void ar__shard_maybe_sweep(ar__shard *s);
void ar__shard_close(ar__shard *s);
/* Pop any registered task (with its reference), NULL when empty. */
struct ar_task *ar__shard_pop(ar__shard *s);
void ar__shard_destroy(ar__shard *s);

#endif
