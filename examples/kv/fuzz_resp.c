/*
 * examples/kv/fuzz_resp.c - libFuzzer target for the RESP2 parser (and the
 * commands behind it).
 *
 * For each input, the bytes are parsed twice: all at once, and as if they
 * arrived in pieces (sizes drawn from the input's first byte), resuming on
 * a buffer that is copied to a new place before every call (as a
 * connection's buffer is compacted or grown).  Both must see the same
 * sequence of requests and the same end (an error, or bytes left over);
 * every argument must lie inside the bytes of its request.  The complete
 * requests run against a small store, so command handling is fuzzed too.
 * Limits are small (64 KiB bulks, 1024 arguments, 4 KiB inline) so
 * the fuzzer reaches them.
 *
 *     build-fuzz/examples/kv/fuzz_resp -max_total_time=600 examples/kv/fuzz/resp_corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "resp.h"

#define MAX_EVENTS 4096

typedef struct event {
    int rc;
    uint32_t argc;
    size_t used;
    uint64_t arg_hash;
} event;

static const resp_limits lim = {.max_bulk = 64u << 10, .max_args = 1024, .max_inline = 4096};
static kv_store *store;

static uint64_t hash_args(const resp_parser *p, const char *base, uint32_t argc)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < argc; i++) {
        for (size_t k = 0; k < p->argv[i].len; k++)
            h = (h ^ (unsigned char)base[p->argv[i].off + k]) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return h;
}

/* Parse data[0..size) feeding `step(i)` more bytes at a time; record what
 * happened.  Returns the number of events. */
static size_t run(const uint8_t *data, size_t size, unsigned seed, event *ev, bool exec)
{
    resp_parser p;
    resp_parser_init(&p, &lim);
    char *buf = NULL;
    size_t start = 0, avail = 0, nev = 0;
    unsigned r = seed;
    for (;;) {
        /* More bytes arrive. */
        if (avail < size) {
            size_t n = seed ? 1 + (r = r * 1103515245u + 12345u) % 97 : size;
            avail = avail + n < size ? avail + n : size;
        }
        for (;;) {
            size_t len = avail - start;
            /* A fresh copy each call: the parser must keep offsets only. */
            free(buf);
            buf = malloc(len ? len : 1);
            memcpy(buf, data + start, len);
            uint32_t argc = 0;
            size_t used = 0;
            int rc = resp_parse(&p, buf, len, &argc, &used);
            if (rc == RESP_MORE)
                break;
            if (nev < MAX_EVENTS)
                ev[nev] = (event){rc, argc, used, 0};
            if (rc < 0) {
                nev++;
                goto out;
            }
            if (used == 0 || used > len)
                abort(); /* no progress or past the bytes: a parser bug */
            if (rc == RESP_REQUEST) {
                if (argc == 0)
                    abort();
                for (uint32_t i = 0; i < argc; i++)
                    if (p.argv[i].off > used || p.argv[i].len > used - p.argv[i].off)
                        abort();
                if (nev < MAX_EVENTS)
                    ev[nev].arg_hash = hash_args(&p, buf, argc);
                if (exec) {
                    resp_buf out = {0};
                    kv_exec(store, buf, p.argv, argc, 1000, &out);
                    if (out.len == 0 || (out.data[0] != '+' && out.data[0] != '-' &&
                                         out.data[0] != ':' && out.data[0] != '$' &&
                                         out.data[0] != '*'))
                        abort(); /* every command answers with a RESP reply */
                    resp_buf_free(&out);
                }
            }
            nev++;
            start += used;
        }
        if (avail == size)
            break;
    }
    if (nev < MAX_EVENTS)
        ev[nev++] = (event){RESP_MORE, 0, avail - start, 0}; /* what was left */
out:
    free(buf);
    resp_parser_free(&p);
    return nev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store)
        store = kv_store_new();
    if (kv_store_size(store) > 10000)
        kv_store_flush(store);
    static event a[MAX_EVENTS], b[MAX_EVENTS];
    size_t na = run(data, size, 0, a, true);
    unsigned seed = size ? 1u + data[0] : 1u;
    size_t nb = run(data, size, seed, b, false);
    if (na != nb)
        abort();
    size_t n = na < MAX_EVENTS ? na : MAX_EVENTS;
    for (size_t i = 0; i < n; i++)
        if (a[i].rc != b[i].rc || a[i].argc != b[i].argc || a[i].used != b[i].used ||
            a[i].arg_hash != b[i].arg_hash)
            abort(); /* pieces and all-at-once disagree */
    return 0;
}
