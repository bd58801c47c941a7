/*
 * examples/kv/store.c - the sharded store (store.h).
 *
 * Shard invariants (all under the shard's lock):
 *   - buckets[mask + 1] chains; an entry is in the chain of (hash & mask)
 *     of the shard (hash >> 56) & (KV_SHARDS - 1) picks;
 *   - count = entries in the table, expiring = those with expire_at != 0;
 *   - count is also read without the lock by kv_store_size and expiring by
 *     the expire cycle's skip test: both are atomics written with relaxed
 *     stores under the lock (a snapshot is all those readers want).
 * Memory: an entry is one allocation (header, key, value); memory that
 * leaves the table is freed after the lock is released where that is
 * simple (replaced values, flushed tables, expired batches).
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"

#define INITIAL_BUCKETS 16u

typedef struct kv_entry {
    struct kv_entry *next;
    uint64_t hash;
    uint64_t expire_at; /* 0: none */
    uint32_t klen;
    uint32_t vcap; /* bytes allocated for the value (>= vlen) */
    size_t vlen;
    char data[]; /* key, then value */
} kv_entry;

typedef struct shard {
    _Alignas(64) pthread_mutex_t lock;
    kv_entry **buckets;
    size_t mask;
    size_t cursor; /* next bucket the expire cycle visits */
    atomic_size_t count;
    atomic_size_t expiring;
} shard;

struct kv_store {
    shard shards[KV_SHARDS];
    siphash_key key; /* set once by kv_store_new, then read-only */
};

/* ---- hashing ------------------------------------------------------------- */

/* SipHash-1-3 under the store's own random key (kv_store_new): which
 * shard and bucket a key lands in cannot be predicted by a client, so it
 * cannot send keys that all share one chain (hash flooding).  The round
 * counts are Redis's for its dicts. */
static inline uint64_t hash_key(const kv_store *s, const char *p, size_t n)
{
    return siphash13(&s->key, p, n);
}

/* The store's SipHash key: 16 bytes from getrandom(2) (non-blocking: a
 * machine whose entropy pool is not initialised yet, early at boot, or a
 * kernel or seccomp filter without the call falls back).  The fallback
 * mixes what differs between runs and stores, the realtime and monotonic
 * clocks, the pid, the store's address (ASLR) and a counter, through
 * SipHash under a fixed key: unpredictable to a remote client that cannot
 * see them, but weaker than getrandom against one that can guess them. */
static void seed_key(kv_store *s)
{
    unsigned char k[16];
    ssize_t got = getrandom(k, sizeof k, GRND_NONBLOCK);
    if (got == (ssize_t)sizeof k) {
        memcpy(&s->key.k0, k, 8);
        memcpy(&s->key.k1, k + 8, 8);
        return;
    }
    static _Atomic uint64_t counter;
    struct timespec rt = {0}, mt = {0};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    uint64_t e[6] = {(uint64_t)rt.tv_sec, (uint64_t)rt.tv_nsec, (uint64_t)mt.tv_nsec,
                     (uint64_t)getpid(), (uint64_t)(uintptr_t)s,
                     atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed)};
    const siphash_key fixed = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    s->key.k0 = siphash24(&fixed, e, sizeof e);
    e[5] ^= 0x5bd1e995ull; /* a second, different input for the other half */
    s->key.k1 = siphash24(&fixed, e, sizeof e);
}

uint64_t kv_store_hash(const kv_store *s, const char *key, size_t klen)
{
    return hash_key(s, key, klen);
}

/* A key's shard: the top bits of its hash (the bucket uses the low ones). */
static inline uint32_t shard_index(uint64_t h)
{
    return (uint32_t)((h >> 56) & (KV_SHARDS - 1));
}

static inline shard *shard_of(kv_store *s, uint64_t h)
{
    return &s->shards[shard_index(h)];
}

static inline const char *val_of(const kv_entry *e) { return e->data + e->klen; }

static inline bool expired(const kv_entry *e, uint64_t now)
{
    return e->expire_at != 0 && e->expire_at <= now;
}

/* ---- shards ---------------------------------------------------------------- */

kv_store *kv_store_new(void)
{
    kv_store *s = aligned_alloc(64, sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    seed_key(s);
    for (uint32_t i = 0; i < KV_SHARDS; i++) {
        shard *sh = &s->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->buckets = calloc(INITIAL_BUCKETS, sizeof *sh->buckets);
        sh->mask = INITIAL_BUCKETS - 1;
        if (!sh->buckets) {
            for (uint32_t j = 0; j <= i; j++) {
                free(s->shards[j].buckets);
                pthread_mutex_destroy(&s->shards[j].lock);
            }
            free(s);
            return NULL;
        }
    }
    return s;
}

static void free_chains(kv_entry **b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kv_entry *e = b[i];
        while (e) {
            kv_entry *next = e->next;
            free(e);
            e = next;
        }
    }
}

void kv_store_free(kv_store *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < KV_SHARDS; i++) {
        free_chains(s->shards[i].buckets, s->shards[i].mask + 1);
        free(s->shards[i].buckets);
        pthread_mutex_destroy(&s->shards[i].lock);
    }
    free(s);
}

/* Under the lock: the link that points at key's entry (or at the NULL that
 * ends its chain). */
static kv_entry **find(shard *sh, uint64_t h, const char *key, size_t klen)
{
    kv_entry **pp = &sh->buckets[h & sh->mask];
    for (kv_entry *e; (e = *pp); pp = &e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0)
            return pp;
    return pp;
}

static void count_add(atomic_size_t *c, size_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}
static void count_sub(atomic_size_t *c, size_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - d,
                          memory_order_relaxed);
}

/* Under the lock: take *pp's entry out of the table; the caller frees it. */
static kv_entry *unlink_entry(shard *sh, kv_entry **pp)
{
    kv_entry *e = *pp;
    *pp = e->next;
    count_sub(&sh->count, 1);
    if (e->expire_at)
        count_sub(&sh->expiring, 1);
    return e;
}

/* Under the lock: the live entry of key, removing it if it expired. */
static kv_entry **find_live(shard *sh, uint64_t h, const char *key, size_t klen, uint64_t now)
{
    kv_entry **pp = find(sh, h, key, klen);
    if (*pp && expired(*pp, now)) {
        free(unlink_entry(sh, pp));
        /* *pp is now the next entry of the chain, not ours. */
        return find(sh, h, key, klen);
    }
    return pp;
}

/* Under the lock: double the table when it is fuller than one entry per
 * bucket (allocation failure just keeps the longer chains). */
static void maybe_grow(shard *sh)
{
    size_t n = sh->mask + 1;
    if (atomic_load_explicit(&sh->count, memory_order_relaxed) <= n || n > (SIZE_MAX >> 4))
        return;
    kv_entry **nb = calloc(n * 2, sizeof *nb);
    if (!nb)
        return;
    size_t nmask = n * 2 - 1;
    for (size_t i = 0; i < n; i++) {
        kv_entry *e = sh->buckets[i];
        while (e) {
            kv_entry *next = e->next;
            e->next = nb[e->hash & nmask];
            nb[e->hash & nmask] = e;
            e = next;
        }
    }
    free(sh->buckets);
    sh->buckets = nb;
    sh->mask = nmask;
    sh->cursor = 0;
}

static kv_entry *entry_new(uint64_t h, const char *key, size_t klen, const char *val,
                           size_t vlen, size_t vcap)
{
    if (klen > UINT32_MAX || vcap > UINT32_MAX)
        return NULL;
    kv_entry *e = malloc(sizeof *e + klen + vcap);
    if (!e)
        return NULL;
    e->next = NULL;
    e->hash = h;
    e->expire_at = 0;
    e->klen = (uint32_t)klen;
    e->vcap = (uint32_t)vcap;
    e->vlen = vlen;
    memcpy(e->data, key, klen);
    if (vlen)
        memcpy(e->data + klen, val, vlen);
    return e;
}

/* Under the lock: put ne where pp points (pp from find_live of ne's key):
 * replacing the entry there (returned, for the caller to free after the
 * unlock) or appended to the chain (NULL returned). */
static kv_entry *install(shard *sh, kv_entry **pp, kv_entry *ne)
{
    kv_entry *old = *pp;
    if (old) {
        ne->next = old->next;
        *pp = ne;
        if (old->expire_at)
            count_sub(&sh->expiring, 1);
        if (ne->expire_at)
            count_add(&sh->expiring, 1);
    } else {
        ne->next = NULL;
        *pp = ne;
        count_add(&sh->count, 1);
        if (ne->expire_at)
            count_add(&sh->expiring, 1);
        maybe_grow(sh);
    }
    return old;
}

/* ---- operations ------------------------------------------------------------ */

int kv_store_set(kv_store *s, const char *key, size_t klen, const char *val, size_t vlen,
                 int flags, uint64_t expire_at, uint64_t now)
{
    uint64_t h = hash_key(s, key, klen);
    /* Allocate and copy outside the lock. */
    kv_entry *ne = entry_new(h, key, klen, val, vlen, vlen);
    if (!ne)
        return -ENOMEM;
    ne->expire_at = expire_at;
    shard *sh = shard_of(s, h);
    kv_entry *old = NULL;
    int rc = 1;
    pthread_mutex_lock(&sh->lock);
    kv_entry **pp = find_live(sh, h, key, klen, now);
    if (((flags & KV_SET_NX) && *pp) || ((flags & KV_SET_XX) && !*pp)) {
        rc = 0;
        old = ne; /* freed below, unused */
    } else {
        if (*pp && (flags & KV_SET_KEEPTTL))
            ne->expire_at = (*pp)->expire_at;
        old = install(sh, pp, ne);
    }
    pthread_mutex_unlock(&sh->lock);
    free(old);
    return rc;
}

/* ---- several shards at once (MSET, MGET) -------------------------------------
 *
 * Lock order: a path that holds several shard locks takes them in
 * ascending shard index, each once (a bitmap of the shards involved,
 * walked upwards); every other path holds one shard lock at a time.  So
 * no cycle of waiters can form: no deadlock. */

typedef struct shard_set {
    uint64_t bits[KV_SHARDS / 64];
} shard_set;

static void shard_set_add(shard_set *ss, uint64_t h)
{
    uint32_t i = shard_index(h);
    ss->bits[i / 64] |= 1ull << (i % 64);
}

/* op (pthread_mutex_lock or _unlock) on the lock of every shard in ss,
 * in ascending index. */
static void shard_set_each(kv_store *s, const shard_set *ss, int (*op)(pthread_mutex_t *))
{
    for (uint32_t w = 0; w < KV_SHARDS / 64; w++)
        for (uint64_t b = ss->bits[w]; b; b &= b - 1)
            op(&s->shards[w * 64 + (uint32_t)__builtin_ctzll(b)].lock);
}

static void shard_set_lock(kv_store *s, const shard_set *ss)
{
    shard_set_each(s, ss, pthread_mutex_lock);
}

static void shard_set_unlock(kv_store *s, const shard_set *ss)
{
    shard_set_each(s, ss, pthread_mutex_unlock);
}

int kv_store_mset(kv_store *s, const char *base, const resp_arg *kv, size_t npairs, uint64_t now)
{
    if (npairs == 0)
        return 0;
    if (npairs > SIZE_MAX / sizeof(kv_entry *))
        return -ENOMEM;
    /* Every entry first, outside the locks: a failure sets nothing. */
    kv_entry **ne = malloc(npairs * sizeof *ne);
    if (!ne)
        return -ENOMEM;
    shard_set ss = {{0}};
    for (size_t i = 0; i < npairs; i++) {
        const resp_arg *k = &kv[2 * i], *v = &kv[2 * i + 1];
        uint64_t h = hash_key(s, base + k->off, k->len);
        ne[i] = entry_new(h, base + k->off, k->len, base + v->off, v->len, v->len);
        if (!ne[i]) {
            while (i > 0)
                free(ne[--i]);
            free(ne);
            return -ENOMEM;
        }
        shard_set_add(&ss, h);
    }
    /* Applied in argument order under every lock involved, so a later
     * duplicate replaces an earlier one (Redis: the last wins) and no
     * reader holding these locks sees part of it.  Replaced entries are
     * chained on `gone` and freed after the unlock. */
    kv_entry *gone = NULL;
    shard_set_lock(s, &ss);
    for (size_t i = 0; i < npairs; i++) {
        kv_entry *e = ne[i];
        shard *sh = shard_of(s, e->hash);
        kv_entry *old = install(sh, find_live(sh, e->hash, e->data, e->klen, now), e);
        if (old) {
            old->next = gone;
            gone = old;
        }
    }
    shard_set_unlock(s, &ss);
    free(ne);
    while (gone) {
        kv_entry *next = gone->next;
        free(gone);
        gone = next;
    }
    return 0;
}

void kv_store_mget_reply(kv_store *s, const char *base, const resp_arg *keys, size_t n,
                         uint64_t now, resp_buf *out)
{
    /* The hashes of the first MGET_KEEP keys are kept for the second pass;
     * longer MGETs hash the rest twice rather than allocate. */
    enum { MGET_KEEP = 64 };
    uint64_t hs[MGET_KEEP];
    shard_set ss = {{0}};
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hash_key(s, base + keys[i].off, keys[i].len);
        if (i < MGET_KEEP)
            hs[i] = h;
        shard_set_add(&ss, h);
    }
    resp_array(out, (int64_t)n);
    shard_set_lock(s, &ss);
    for (size_t i = 0; i < n; i++) {
        const char *key = base + keys[i].off;
        uint64_t h = i < MGET_KEEP ? hs[i] : hash_key(s, key, keys[i].len);
        kv_entry *e = *find_live(shard_of(s, h), h, key, keys[i].len, now);
        if (e)
            resp_bulk(out, val_of(e), e->vlen); /* copied under the locks */
        else
            resp_null(out);
    }
    shard_set_unlock(s, &ss);
}

int kv_store_get_reply(kv_store *s, const char *key, size_t klen, uint64_t now, resp_buf *out)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->lock);
    kv_entry *e = *find_live(sh, h, key, klen, now);
    if (e)
        resp_bulk(out, val_of(e), e->vlen); /* copied under the lock */
    else
        resp_null(out);
    pthread_mutex_unlock(&sh->lock);
    return e != NULL;
}

int64_t kv_store_get(kv_store *s, const char *key, size_t klen, uint64_t now, char *buf,
                     size_t cap)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    int64_t n = -1;
    pthread_mutex_lock(&sh->lock);
    kv_entry *e = *find_live(sh, h, key, klen, now);
    if (e) {
        n = (int64_t)e->vlen;
        memcpy(buf, val_of(e), e->vlen < cap ? e->vlen : cap);
    }
    pthread_mutex_unlock(&sh->lock);
    return n;
}

int kv_store_del(kv_store *s, const char *key, size_t klen, uint64_t now)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    kv_entry *gone = NULL;
    pthread_mutex_lock(&sh->lock);
    kv_entry **pp = find_live(sh, h, key, klen, now);
    if (*pp)
        gone = unlink_entry(sh, pp);
    pthread_mutex_unlock(&sh->lock);
    free(gone);
    return gone != NULL;
}

int kv_store_exists(kv_store *s, const char *key, size_t klen, uint64_t now)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->lock);
    int found = *find_live(sh, h, key, klen, now) != NULL;
    pthread_mutex_unlock(&sh->lock);
    return found;
}

int kv_store_incrby(kv_store *s, const char *key, size_t klen, int64_t delta, uint64_t now,
                    int64_t *result)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    int rc = 0;
    kv_entry *old = NULL;
    pthread_mutex_lock(&sh->lock);
    kv_entry **pp = find_live(sh, h, key, klen, now);
    kv_entry *e = *pp;
    int64_t v = 0;
    if (e && !resp_parse_i64(val_of(e), e->vlen, &v)) {
        rc = -EINVAL;
        goto out;
    }
    if ((delta > 0 && v > INT64_MAX - delta) || (delta < 0 && v < INT64_MIN - delta)) {
        rc = -ERANGE;
        goto out;
    }
    v += delta;
    char digits[24];
    size_t n = (size_t)snprintf(digits, sizeof digits, "%lld", (long long)v);
    if (e && e->vcap >= n) {
        memcpy(e->data + e->klen, digits, n); /* in place */
        e->vlen = n;
    } else {
        /* Room for any int64, so later INCRs rewrite in place. */
        kv_entry *ne = entry_new(h, key, klen, digits, n, 20);
        if (!ne) {
            rc = -ENOMEM;
            goto out;
        }
        if (e) {
            ne->expire_at = e->expire_at;
            ne->next = e->next;
            *pp = ne;
            old = e;
        } else {
            *pp = ne;
            count_add(&sh->count, 1);
            maybe_grow(sh);
        }
    }
    *result = v;
out:
    pthread_mutex_unlock(&sh->lock);
    free(old);
    return rc;
}

int kv_store_expire(kv_store *s, const char *key, size_t klen, uint64_t expire_at, uint64_t now)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    kv_entry *gone = NULL;
    int rc = 0;
    pthread_mutex_lock(&sh->lock);
    kv_entry **pp = find_live(sh, h, key, klen, now);
    kv_entry *e = *pp;
    if (e) {
        rc = 1;
        if (expire_at <= now) {
            gone = unlink_entry(sh, pp);
        } else {
            if (!e->expire_at)
                count_add(&sh->expiring, 1);
            e->expire_at = expire_at;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    free(gone);
    return rc;
}

int64_t kv_store_pttl(kv_store *s, const char *key, size_t klen, uint64_t now)
{
    uint64_t h = hash_key(s, key, klen);
    shard *sh = shard_of(s, h);
    int64_t ttl;
    pthread_mutex_lock(&sh->lock);
    kv_entry *e = *find_live(sh, h, key, klen, now);
    if (!e)
        ttl = -2;
    else if (!e->expire_at)
        ttl = -1;
    else
        ttl = (int64_t)(e->expire_at - now);
    pthread_mutex_unlock(&sh->lock);
    return ttl;
}

uint64_t kv_store_size(kv_store *s)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < KV_SHARDS; i++)
        n += atomic_load_explicit(&s->shards[i].count, memory_order_relaxed);
    return n;
}

void kv_store_flush(kv_store *s)
{
    for (uint32_t i = 0; i < KV_SHARDS; i++) {
        shard *sh = &s->shards[i];
        kv_entry **fresh = calloc(INITIAL_BUCKETS, sizeof *fresh);
        pthread_mutex_lock(&sh->lock);
        kv_entry **old = sh->buckets;
        size_t n = sh->mask + 1;
        if (fresh) {
            sh->buckets = fresh;
            sh->mask = INITIAL_BUCKETS - 1;
        } else {
            /* No memory for a new table: empty this one in place. */
            free_chains(old, n);
            memset(old, 0, n * sizeof *old);
            old = NULL;
        }
        sh->cursor = 0;
        atomic_store_explicit(&sh->count, 0, memory_order_relaxed);
        atomic_store_explicit(&sh->expiring, 0, memory_order_relaxed);
        pthread_mutex_unlock(&sh->lock);
        if (old) {
            free_chains(old, n);
            free(old);
        }
    }
}

uint64_t kv_store_expire_cycle(kv_store *s, uint64_t now)
{
    uint64_t removed = 0;
    for (uint32_t i = 0; i < KV_SHARDS; i++) {
        shard *sh = &s->shards[i];
        if (atomic_load_explicit(&sh->expiring, memory_order_relaxed) == 0)
            continue;
        kv_entry *gone = NULL;
        pthread_mutex_lock(&sh->lock);
        size_t n = sh->mask + 1;
        size_t visit = n < KV_EXPIRE_SCAN ? n : KV_EXPIRE_SCAN;
        for (size_t k = 0; k < visit; k++) {
            size_t b = (sh->cursor + k) & sh->mask;
            kv_entry **pp = &sh->buckets[b];
            while (*pp) {
                if (expired(*pp, now)) {
                    kv_entry *e = unlink_entry(sh, pp);
                    e->next = gone;
                    gone = e;
                    removed++;
                } else {
                    pp = &(*pp)->next;
                }
            }
        }
        sh->cursor = (sh->cursor + visit) & sh->mask;
        pthread_mutex_unlock(&sh->lock);
        while (gone) {
            kv_entry *next = gone->next;
            free(gone);
            gone = next;
        }
    }
    return removed;
}
