/*
 * examples/kv/test_kv_store.c - the store's multi-key operations and its
 * seeded hash: MSET all or nothing and atomic against MGET across shards
 * (threads), a repeated key's last value winning, no deadlock between
 * MSETs that name the same shards in opposite orders, and two stores
 * placing the same keys differently.
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 3000
#else
#define ROUNDS 20000
#endif

#define NKEYS 8

static uint32_t shard_of(kv_store *s, const char *k)
{
    return (uint32_t)(kv_store_hash(s, k, strlen(k)) >> 56) & (KV_SHARDS - 1);
}

/* NKEYS key names that land in NKEYS different shards of s. */
static void distinct_shard_keys(kv_store *s, char keys[NKEYS][16])
{
    bool used[KV_SHARDS] = {false};
    int n = 0;
    for (int i = 0; n < NKEYS; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        uint32_t sh = shard_of(s, k);
        if (used[sh])
            continue;
        used[sh] = true;
        strcpy(keys[n++], k);
    }
}

/* A request as kv_exec takes it: words packed into base, offsets in argv. */
typedef struct cmd {
    char base[512];
    resp_arg argv[2 * NKEYS + 1];
    uint32_t argc;
    size_t at;
} cmd;

static void cmd_word(cmd *c, const char *w)
{
    size_t n = strlen(w);
    memcpy(c->base + c->at, w, n);
    c->argv[c->argc++] = (resp_arg){c->at, n};
    c->at += n;
}

static const char *exec(kv_store *st, cmd *c, resp_buf *out)
{
    out->len = 0;
    kv_exec(st, c->base, c->argv, c->argc, 1000, out);
    resp_raw(out, "", 1); /* NUL-terminated */
    return out->data;
}

typedef struct race {
    kv_store *st;
    char keys[NKEYS][16];
    atomic_int writers_left;
    atomic_long torn;      /* MGETs that saw two different values */
    atomic_long reads;
    char torn_reply[256];
} race;

typedef struct writer_arg {
    race *r;
    int id;
} writer_arg;

/* MSET key_0 X .. key_7 X (writer 1 names the keys in the opposite order:
 * a lock order taken from the arguments would deadlock the two). */
static void *writer(void *p)
{
    writer_arg *w = p;
    race *r = w->r;
    resp_buf out = {0};
    for (int i = 0; i < ROUNDS; i++) {
        cmd c = {0};
        char val[32];
        snprintf(val, sizeof val, "w%d-%d", w->id, i);
        cmd_word(&c, "MSET");
        for (int k = 0; k < NKEYS; k++) {
            cmd_word(&c, r->keys[w->id ? NKEYS - 1 - k : k]);
            cmd_word(&c, val);
        }
        const char *rep = exec(r->st, &c, &out);
        if (strcmp(rep, "+OK\r\n") != 0)
            break;
    }
    resp_buf_free(&out);
    atomic_fetch_sub(&r->writers_left, 1);
    return NULL;
}

/* MGET every key until the writers are done: each reply's values must be
 * one and the same. */
static void *reader(void *p)
{
    race *r = p;
    resp_buf out = {0};
    cmd c = {0};
    cmd_word(&c, "MGET");
    for (int k = 0; k < NKEYS; k++)
        cmd_word(&c, r->keys[k]);
    while (atomic_load(&r->writers_left) > 0) {
        const char *rep = exec(r->st, &c, &out);
        /* *8\r\n then 8 bulks "$n\r\nvalue\r\n": compare the values. */
        const char *first = strstr(rep, "\r\n$");
        const char *v0 = first ? strstr(first + 3, "\r\n") : NULL;
        bool same = v0 != NULL;
        if (same) {
            v0 += 2;
            size_t len = strcspn(v0, "\r");
            for (const char *q = v0 + len + 2; *q == '$' && same;) {
                const char *v = strstr(q, "\r\n") + 2;
                size_t l = strcspn(v, "\r");
                same = l == len && memcmp(v, v0, len) == 0;
                q = v + l + 2;
            }
        }
        atomic_fetch_add(&r->reads, 1);
        if (!same && atomic_fetch_add(&r->torn, 1) == 0)
            snprintf(r->torn_reply, sizeof r->torn_reply, "%s", rep);
    }
    resp_buf_free(&out);
    return NULL;
}

Test(kv_store, mset_is_atomic_against_mget)
{
    race *r = calloc(1, sizeof *r);
    r->st = kv_store_new();
    cr_assert_not_null(r->st);
    distinct_shard_keys(r->st, r->keys);
    /* Every key present before the readers start. */
    {
        resp_buf out = {0};
        cmd c = {0};
        cmd_word(&c, "MSET");
        for (int k = 0; k < NKEYS; k++) {
            cmd_word(&c, r->keys[k]);
            cmd_word(&c, "start");
        }
        cr_assert_str_eq(exec(r->st, &c, &out), "+OK\r\n");
        resp_buf_free(&out);
    }
    atomic_store(&r->writers_left, 2);
    pthread_t w[2], rd[2];
    writer_arg wa[2] = {{r, 0}, {r, 1}};
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, reader, r);
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, writer, &wa[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    cr_assert_gt(atomic_load(&r->reads), 0);
    cr_assert_eq(atomic_load(&r->torn), 0, "%ld of %ld MGETs saw part of an MSET, e.g. %s",
                 atomic_load(&r->torn), atomic_load(&r->reads), r->torn_reply);
    kv_store_free(r->st);
    free(r);
}

static const char *get(kv_store *st, const char *k, char *buf, size_t cap)
{
    int64_t n = kv_store_get(st, k, strlen(k), 1000, buf, cap - 1);
    if (n < 0)
        return NULL;
    buf[n < (int64_t)cap - 1 ? n : (int64_t)cap - 1] = 0;
    return buf;
}

/* Pairs as kv_store_mset takes them (offsets into base). */
static size_t pairs(char *base, resp_arg *kv, const char *const *words, size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(words[i]);
        memcpy(base + at, words[i], l);
        kv[i] = (resp_arg){at, l};
        at += l;
    }
    return n / 2;
}

Test(kv_store, mset_later_duplicate_wins)
{
    kv_store *st = kv_store_new();
    char base[128], buf[32];
    resp_arg kv[8];
    const char *const w[] = {"a", "1", "b", "2", "a", "3", "a", "4"};
    cr_assert_eq(kv_store_mset(st, base, kv, pairs(base, kv, w, 8), 1000), 0);
    cr_assert_str_eq(get(st, "a", buf, sizeof buf), "4");
    cr_assert_str_eq(get(st, "b", buf, sizeof buf), "2");
    cr_assert_eq(kv_store_size(st), 2);
    /* MSET clears a deadline, as SET does. */
    cr_assert_eq(kv_store_set(st, "t", 1, "v", 1, 0, 5000, 1000), 1);
    const char *const w2[] = {"t", "x"};
    cr_assert_eq(kv_store_mset(st, base, kv, pairs(base, kv, w2, 2), 1000), 0);
    cr_assert_eq(kv_store_pttl(st, "t", 1, 1000), -1);
    cr_assert_eq(kv_store_mset(st, base, kv, 0, 1000), 0);
    kv_store_free(st);
}

/* An entry that cannot be allocated (a value over the 4 GiB an entry can
 * hold: entry_new fails before reading it, the same path as malloc
 * failing) fails the whole MSET: nothing set, nothing replaced. */
Test(kv_store, mset_allocation_failure_sets_nothing)
{
    kv_store *st = kv_store_new();
    char buf[32];
    cr_assert_eq(kv_store_set(st, "keep", 4, "old", 3, 0, 0, 1000), 1);
    char base[64];
    resp_arg kv[6];
    const char *const w[] = {"keep", "new", "fresh", "v", "big", "x"};
    size_t n = pairs(base, kv, w, 6);
    kv[5].len = (size_t)UINT32_MAX + 1; /* never read: refused by size */
    cr_assert_eq(kv_store_mset(st, base, kv, n, 1000), -ENOMEM);
    cr_assert_str_eq(get(st, "keep", buf, sizeof buf), "old");
    cr_assert_null(get(st, "fresh", buf, sizeof buf));
    cr_assert_null(get(st, "big", buf, sizeof buf));
    cr_assert_eq(kv_store_size(st), 1);
    kv_store_free(st);
}

/* Each store draws its own SipHash key: the same keys land in other
 * shards.  With 256 shards, two independent keys agree on a shard for
 * about 64/256 = 0.25 of 64 keys; an unseeded hash agrees on all 64. */
Test(kv_store, two_stores_place_keys_differently)
{
    kv_store *a = kv_store_new(), *b = kv_store_new();
    int same_shard = 0, same_hash = 0;
    for (int i = 0; i < 64; i++) {
        char k[16];
        snprintf(k, sizeof k, "user:%d", i);
        same_shard += shard_of(a, k) == shard_of(b, k);
        same_hash += kv_store_hash(a, k, strlen(k)) == kv_store_hash(b, k, strlen(k));
    }
    cr_assert_eq(same_hash, 0);
    cr_assert_leq(same_shard, 8, "%d of 64 keys in the same shard of both stores", same_shard);
    /* Within a store the hash is a function of the key. */
    cr_assert_eq(kv_store_hash(a, "k", 1), kv_store_hash(a, "k", 1));
    kv_store_free(a);
    kv_store_free(b);
}
