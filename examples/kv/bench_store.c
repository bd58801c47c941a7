/*
 * examples/kv/bench_store.c - the store's GET and SET cost on one thread,
 * without the network: what the key hash (SipHash-1-3 since issue 7's
 * follow-up) and the shard lock cost per operation.
 *
 *     build/examples/kv/bench_kv_store [keys] [rounds]
 *
 * SET then GET each of `keys` keys ("key:<n>", 16-byte values) `rounds`
 * times in a scrambled order; prints ns per SET, per GET, and per hash of
 * a 10-byte key.  Median of the rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int keys = argc > 1 ? atoi(argv[1]) : 100000;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (keys < 1 || rounds < 1 || rounds > 99)
        return 2;
    kv_store *st = kv_store_new();
    char (*names)[16] = malloc((size_t)keys * 16);
    int *order = malloc((size_t)keys * sizeof *order);
    if (!st || !names || !order)
        return 1;
    for (int i = 0; i < keys; i++) {
        snprintf(names[i], 16, "key:%d", i);
        order[i] = (int)(((uint64_t)i * 2654435761u) % (uint64_t)keys);
    }
    const char val[17] = "0123456789abcdef";
    double set_ns[99], get_ns[99], hash_ns[99];
    resp_buf out = {0};
    volatile uint64_t sink = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (int i = 0; i < keys; i++) {
            const char *k = names[order[i]];
            kv_store_set(st, k, strlen(k), val, 16, 0, 0, 1000);
        }
        double t1 = now_ns();
        for (int i = 0; i < keys; i++) {
            const char *k = names[order[i]];
            out.len = 0;
            kv_store_get_reply(st, k, strlen(k), 1000, &out);
        }
        double t2 = now_ns();
        for (int i = 0; i < keys; i++)
            sink += kv_store_hash(st, "key:123456", 10 + (i & 0));
        double t3 = now_ns();
        set_ns[r] = (t1 - t0) / keys;
        get_ns[r] = (t2 - t1) / keys;
        hash_ns[r] = (t3 - t2) / keys;
    }
    qsort(set_ns, (size_t)rounds, sizeof(double), cmp_d);
    qsort(get_ns, (size_t)rounds, sizeof(double), cmp_d);
    qsort(hash_ns, (size_t)rounds, sizeof(double), cmp_d);
    printf("keys %d rounds %d: SET %.1f ns, GET %.1f ns, hash(10 B) %.1f ns (medians)\n", keys,
           rounds, set_ns[rounds / 2], get_ns[rounds / 2], hash_ns[rounds / 2]);
    (void)sink;
    resp_buf_free(&out);
    free(names);
    free(order);
    kv_store_free(st);
    return 0;
}
