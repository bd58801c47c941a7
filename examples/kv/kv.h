/*
 * examples/kv/kv.h - the key-value server's connection handler and expiry
 * task, shared by the program (kv_main.c) and its tests.
 */
#ifndef EXAMPLES_KV_H
#define EXAMPLES_KV_H

#include "resp.h"
#include "server.h"
#include "store.h"

typedef struct kv_config {
    resp_limits lim;  /* the parser's limits */
    size_t max_query; /* most unparsed bytes a connection may hold (one
                         request plus what follows it): over it, a
                         protocol error; default 1 GiB + 64 KiB */
} kv_config;

#define KV_DEFAULT_MAX_QUERY ((1ull << 30) + (64u << 10))

/* The defaults (RESP_DEFAULT_* limits). */
void kv_config_init(kv_config *c);

/*
 * A new handler closure (AR_FN, argument srv_conn) serving RESP2 from
 * `store`, which it takes over: its env_drop frees the store, so the store
 * lives exactly as long as some connection may borrow it.  NULL without
 * memory (the store is then freed).  free() the closure after srv_wait.
 */
ar_closure *kv_handler_new(const kv_config *cfg, kv_store *store);

/* Start the timer-driven expiry of `store` on server s (a background task:
 * aborted when the server stops, before the handler and its store are
 * dropped).  0 or a negative errno. */
int kv_start_expiry(srv *s, kv_store *store);

#endif
