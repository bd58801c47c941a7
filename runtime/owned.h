/*
 * runtime/owned.h - the registry of a runtime's unfinished tasks, so that
 * shutdown can find and drop tasks that sit in no queue (parked on a
 * notify, a channel, a timer).
 *
 * Sharded: one shard per worker (tasks spawned on that worker) plus one for
 * spawns from plain threads, so the common insert takes an uncontended lock.
 * A shard is an array of task pointers; each task remembers its slot
 * (owned_idx) and removal swaps the last entry into the hole.
 *
 * Invariants (all under the shard lock): slots[i]->owned_idx == i for
 * i < len; a task not in the registry has owned_idx == AR__OWNED_NONE.
 * The registry holds one task reference per entry.  Once `closed`, inserts
 * fail with -ESHUTDOWN.
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
    ar__spinlock lock;
    bool closed;
    uint32_t len, cap;
    struct ar_task **slots;
} ar__shard;

void ar__shard_init(ar__shard *s, struct ar_rt *rt);
/* 0, -ENOMEM, -ESHUTDOWN. */
int ar__shard_insert(ar__shard *s, struct ar_task *t);
/* True if t was registered (the caller now owns the registry reference). */
bool ar__shard_remove(ar__shard *s, struct ar_task *t);
/* Close the shard to inserts. */
void ar__shard_close(ar__shard *s);
/* Pop any registered task (with its reference), NULL when empty. */
struct ar_task *ar__shard_pop(ar__shard *s);
/* Free the (empty) slot array. */
void ar__shard_destroy(ar__shard *s);
uint32_t ar__shard_len(ar__shard *s);

#endif
