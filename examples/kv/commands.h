/*
 * examples/kv/commands.h - the key-value server's commands: one parsed
 * request in, its RESP2 reply appended to the connection's output.
 *
 *   PING [msg]  ECHO msg  GET key  SET key value [EX s|PX ms] [NX|XX] [KEEPTTL]
 *   DEL key...  EXISTS key...  INCR key  DECR key  INCRBY key n  DECRBY key n
 *   MGET key...  MSET key value...  EXPIRE key s  PEXPIRE key ms  TTL key
 *   PTTL key  DBSIZE  FLUSHALL [ASYNC|SYNC]  FLUSHDB  QUIT
 *
 * Command names are case-insensitive.  Errors use Redis's texts, so clients
 * that match on them keep working: "ERR unknown command 'x', with args
 * beginning with: ...", "ERR wrong number of arguments for 'get' command",
 * "ERR syntax error", "ERR value is not an integer or out of range",
 * "ERR invalid expire time in 'set' command".  MSET is atomic and all or
 * nothing, as Redis's: an MGET (itself a snapshot) sees all of an MSET or
 * none of it; out of memory sets nothing.
 */
#ifndef EXAMPLES_KV_COMMANDS_H
#define EXAMPLES_KV_COMMANDS_H

#include "resp.h"
#include "store.h"

enum {
    KV_CONTINUE = 0,
    KV_CLOSE = 1, /* QUIT: close the connection once the reply is sent */
};

/*
 * Run the request argv[0..argc) (offsets into base, as resp_parse gives
 * them; argc >= 1) against store at time now (ar_now_ms units) and append
 * its reply to out.  Returns KV_CONTINUE or KV_CLOSE.
 */
int kv_exec(kv_store *store, const char *base, const resp_arg *argv, uint32_t argc,
            uint64_t now, resp_buf *out);

#endif
