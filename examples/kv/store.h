/*
 * examples/kv/store.h - the key-value store: string keys to string values
 * with optional expiry, sharded so that workers rarely contend.
 *
 * KV_SHARDS shards, each a chained hash table under its own mutex; a key's
 * shard is picked by the top bits of its hash, its bucket by the low bits,
 * so the two are independent.  The hash is SipHash-1-3 under a key each
 * store draws from getrandom(2) when it is made, so where a key lands
 * differs from store to store and cannot be chosen by a client.  With 256 shards and a handful of workers,
 * two workers touch the same shard at the same moment about workers/256 of
 * the time, and each critical section is a lookup plus a copy.
 *
 * Expiry (deadlines in ar_now_ms units, i.e. CLOCK_MONOTONIC ms; every call
 * takes `now` so tests can drive time):
 *   - lazily: every access to a key whose deadline passed removes it and
 *     behaves as if it were missing;
 *   - actively: kv_store_expire_cycle, which the server calls from a timer
 *     of the runtime (every KV_EXPIRE_PERIOD_MS), walks a bounded number of
 *     buckets per shard that has keys with deadlines, from a cursor that
 *     goes round the table, and removes the expired keys it meets, so keys
 *     nobody reads again do not stay in memory.
 *
 * All functions are thread-safe.  Values are copied in and out under the
 * shard's lock; nothing returned points into the store.  MSET and MGET
 * take every shard lock their keys need, in ascending shard order, so each
 * is atomic: no reader sees part of an MSET.
 */
#ifndef EXAMPLES_KV_STORE_H
#define EXAMPLES_KV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resp.h"

#define KV_SHARDS 256u
#define KV_EXPIRE_PERIOD_MS 100u
/* Buckets one expire cycle visits per shard at most. */
#define KV_EXPIRE_SCAN 1024u

typedef struct kv_store kv_store;

/* NULL without memory. */
kv_store *kv_store_new(void);
void kv_store_free(kv_store *s);

/* SET conditions and TTL handling. */
enum {
    KV_SET_NX = 1,      /* only if missing */
    KV_SET_XX = 2,      /* only if present */
    KV_SET_KEEPTTL = 4, /* keep the key's deadline */
};

/*
 * Set key to value; expire_at 0: no deadline (unless KEEPTTL).  Returns
 * 1 (set), 0 (NX/XX condition not met), -ENOMEM.
 */
int kv_store_set(kv_store *s, const char *key, size_t klen, const char *val, size_t vlen,
                 int flags, uint64_t expire_at, uint64_t now);

/* Append the value as a bulk reply to out, or a null reply.  Returns 1
 * (found), 0 (missing). */
int kv_store_get_reply(kv_store *s, const char *key, size_t klen, uint64_t now, resp_buf *out);

/* Copy the value into buf (up to cap bytes); returns its full length, or
 * -1 when missing.  (Tests and tools.) */
int64_t kv_store_get(kv_store *s, const char *key, size_t klen, uint64_t now, char *buf,
                     size_t cap);

/* 1 removed, 0 missing. */
int kv_store_del(kv_store *s, const char *key, size_t klen, uint64_t now);
/* 1 present, 0 missing. */
int kv_store_exists(kv_store *s, const char *key, size_t klen, uint64_t now);

/*
 * Add delta to the integer value (a missing key counts as 0; the deadline
 * is kept).  Returns 0 with *result, -EINVAL (not an integer), -ERANGE
 * (overflow), -ENOMEM.
 */
int kv_store_incrby(kv_store *s, const char *key, size_t klen, int64_t delta, uint64_t now,
                    int64_t *result);

/* Set a deadline (expire_at <= now deletes the key).  1 done, 0 missing. */
int kv_store_expire(kv_store *s, const char *key, size_t klen, uint64_t expire_at, uint64_t now);

/* Milliseconds left: >= 0, -1 (no deadline), -2 (missing). */
int64_t kv_store_pttl(kv_store *s, const char *key, size_t klen, uint64_t now);

/*
 * MSET: npairs (key, value) pairs, kv[2i] the key and kv[2i+1] the value,
 * as offsets into base (resp_parse's arguments).  All or nothing, and
 * atomic: every entry is allocated first (-ENOMEM: nothing was set), then
 * every shard involved is locked (ascending order) while the pairs are
 * applied in order, so a key repeated later in the list wins and a
 * concurrent MGET sees all of it or none.  Keys lose their deadline, as
 * with SET.  Returns 0 or -ENOMEM.
 */
int kv_store_mset(kv_store *s, const char *base, const resp_arg *kv, size_t npairs,
                  uint64_t now);

/* MGET: an array reply of the n keys' values (null for a missing one),
 * read under every shard lock involved at once: a snapshot. */
void kv_store_mget_reply(kv_store *s, const char *base, const resp_arg *keys, size_t n,
                         uint64_t now, resp_buf *out);

/* The store's (seeded) hash of a key: its shard is bits 56..63, modulo
 * KV_SHARDS.  (Tests and tools.) */
uint64_t kv_store_hash(const kv_store *s, const char *key, size_t klen);

/* Keys held (expired ones not yet removed included, as Redis's DBSIZE). */
uint64_t kv_store_size(kv_store *s);

/* Remove every key. */
void kv_store_flush(kv_store *s);

/* One active expiry pass; returns the keys it removed. */
uint64_t kv_store_expire_cycle(kv_store *s, uint64_t now);

#endif
