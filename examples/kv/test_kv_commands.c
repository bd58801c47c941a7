/*
 * examples/kv/test_kv_commands.c - every command's handler through kv_exec
 * against a real store, with time driven by the test: the exact reply
 * bytes, the error texts, option conflicts, lazy and active expiry.
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static kv_store *st;
static uint64_t now = 1000000;

static void setup(void) { st = kv_store_new(); }
static void teardown(void) { kv_store_free(st); }

/* Run one command given as NULL-terminated words; return its reply (a
 * static buffer, valid until the next call). */
static const char *run(const char *w0, ...)
{
    static char reply[4096];
    char base[2048];
    resp_arg argv[32];
    uint32_t argc = 0;
    size_t at = 0;
    va_list ap;
    va_start(ap, w0);
    for (const char *w = w0; w; w = va_arg(ap, const char *)) {
        size_t n = strlen(w);
        memcpy(base + at, w, n);
        argv[argc++] = (resp_arg){at, n};
        at += n;
    }
    va_end(ap);
    resp_buf out = {0};
    kv_exec(st, base, argv, argc, now, &out);
    cr_assert(out.len < sizeof reply);
    memcpy(reply, out.data, out.len);
    reply[out.len] = 0;
    resp_buf_free(&out);
    return reply;
}

#define R(want, ...) cr_assert_str_eq(run(__VA_ARGS__, NULL), want)

TestSuite(kv_commands, .init = setup, .fini = teardown);

Test(kv_commands, ping_echo)
{
    R("+PONG\r\n", "PING");
    R("$5\r\nhello\r\n", "ping", "hello");
    R("-ERR wrong number of arguments for 'ping' command\r\n", "PING", "a", "b");
    R("$3\r\nabc\r\n", "ECHO", "abc");
    R("-ERR wrong number of arguments for 'echo' command\r\n", "ECHO");
}

Test(kv_commands, get_set)
{
    R("$-1\r\n", "GET", "k");
    R("+OK\r\n", "SET", "k", "v1");
    R("$2\r\nv1\r\n", "get", "k");
    R("+OK\r\n", "SET", "k", "");
    R("$0\r\n\r\n", "GET", "k");
    R("-ERR wrong number of arguments for 'get' command\r\n", "GET");
    R("-ERR wrong number of arguments for 'set' command\r\n", "SET", "k");
    R("-ERR syntax error\r\n", "SET", "k", "v", "BOGUS");
}

Test(kv_commands, set_nx_xx)
{
    R("$-1\r\n", "SET", "k", "v", "XX");
    R("$-1\r\n", "GET", "k");
    R("+OK\r\n", "SET", "k", "v", "NX");
    R("$-1\r\n", "SET", "k", "w", "NX");
    R("$1\r\nv\r\n", "GET", "k");
    R("+OK\r\n", "SET", "k", "w", "xx");
    R("$1\r\nw\r\n", "GET", "k");
    R("-ERR syntax error\r\n", "SET", "k", "v", "NX", "XX");
}

Test(kv_commands, set_ex_px)
{
    R("+OK\r\n", "SET", "a", "1", "EX", "10");
    R(":10\r\n", "TTL", "a");
    R(":10000\r\n", "PTTL", "a");
    R("+OK\r\n", "SET", "b", "1", "PX", "1500");
    R(":1500\r\n", "PTTL", "b");
    R(":2\r\n", "TTL", "b"); /* rounded as Redis does */
    R("-ERR invalid expire time in 'set' command\r\n", "SET", "c", "1", "EX", "0");
    R("-ERR invalid expire time in 'set' command\r\n", "SET", "c", "1", "PX", "-5");
    R("-ERR value is not an integer or out of range\r\n", "SET", "c", "1", "EX", "ten");
    R("-ERR syntax error\r\n", "SET", "c", "1", "EX", "1", "PX", "1");
    R("-ERR syntax error\r\n", "SET", "c", "1", "EX");
    R("-ERR invalid expire time in 'set' command\r\n", "SET", "c", "1", "EX",
      "9223372036854775807");
    R("$-1\r\n", "GET", "c");
    /* A plain SET drops the deadline; KEEPTTL keeps it. */
    R("+OK\r\n", "SET", "a", "2", "KEEPTTL");
    R(":10\r\n", "TTL", "a");
    R("+OK\r\n", "SET", "a", "3");
    R(":-1\r\n", "TTL", "a");
    R(":-2\r\n", "TTL", "nope");
    /* Lazy expiry: past the deadline the key is gone on access. */
    now += 1500;
    R("$-1\r\n", "GET", "b");
    R(":0\r\n", "EXISTS", "b");
}

Test(kv_commands, del_exists_dbsize_flushall)
{
    R("+OK\r\n", "MSET", "a", "1", "b", "2", "c", "3");
    R(":3\r\n", "DBSIZE");
    R(":3\r\n", "EXISTS", "a", "b", "a");
    R(":2\r\n", "DEL", "a", "b", "zz");
    R(":0\r\n", "EXISTS", "a");
    R(":1\r\n", "DBSIZE");
    R("+OK\r\n", "FLUSHALL");
    R(":0\r\n", "DBSIZE");
    R("+OK\r\n", "FLUSHALL", "ASYNC");
    R("-ERR syntax error\r\n", "FLUSHALL", "NOW");
    R("-ERR wrong number of arguments for 'del' command\r\n", "DEL");
}

Test(kv_commands, incr_decr)
{
    R(":1\r\n", "INCR", "n");
    R(":2\r\n", "INCR", "n");
    R(":-1\r\n", "DECR", "n2");
    R(":-2\r\n", "DECR", "n2");
    R(":12\r\n", "INCRBY", "n", "10");
    R(":2\r\n", "DECRBY", "n", "10");
    R("$1\r\n2\r\n", "GET", "n");
    R("+OK\r\n", "SET", "s", "abc");
    R("-ERR value is not an integer or out of range\r\n", "INCR", "s");
    R("+OK\r\n", "SET", "big", "9223372036854775807");
    R("-ERR increment or decrement would overflow\r\n", "INCR", "big");
    R("+OK\r\n", "SET", "small", "-9223372036854775808");
    R("-ERR increment or decrement would overflow\r\n", "DECR", "small");
    R("-ERR value is not an integer or out of range\r\n", "INCRBY", "n", "x");
    /* The deadline survives INCR; a value growing past its room too. */
    R("+OK\r\n", "SET", "t", "9", "EX", "100");
    R(":10\r\n", "INCR", "t");
    R(":100\r\n", "TTL", "t");
    R(":9223372036854775807\r\n", "INCRBY", "t", "9223372036854775797");
    R(":100\r\n", "TTL", "t");
}

Test(kv_commands, mget_mset)
{
    R("+OK\r\n", "MSET", "a", "1", "b", "22");
    R("*3\r\n$1\r\n1\r\n$-1\r\n$2\r\n22\r\n", "MGET", "a", "x", "b");
    R("-ERR wrong number of arguments for 'mset' command\r\n", "MSET", "a", "1", "b");
    R("-ERR wrong number of arguments for 'mget' command\r\n", "MGET");
}

Test(kv_commands, expire_ttl)
{
    R(":0\r\n", "EXPIRE", "k", "10");
    R("+OK\r\n", "SET", "k", "v");
    R(":1\r\n", "EXPIRE", "k", "10");
    R(":10\r\n", "TTL", "k");
    R(":1\r\n", "PEXPIRE", "k", "2500");
    R(":2500\r\n", "PTTL", "k");
    now += 2499;
    R("$1\r\nv\r\n", "GET", "k");
    now += 1;
    R("$-1\r\n", "GET", "k");
    /* A deadline in the past deletes at once. */
    R("+OK\r\n", "SET", "k", "v");
    R(":1\r\n", "EXPIRE", "k", "-1");
    R(":0\r\n", "EXISTS", "k");
    R("-ERR value is not an integer or out of range\r\n", "EXPIRE", "k", "soon");
    R("-ERR invalid expire time in 'expire' command\r\n", "EXPIRE", "k", "9223372036854775807");
}

Test(kv_commands, active_expiry_removes_unread_keys)
{
    char key[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(kv_store_set(st, key, strlen(key), "v", 1, 0, i % 2 ? now + 100 : 0, now), 1);
    }
    cr_assert_eq(kv_store_size(st), 5000);
    cr_assert_eq(kv_store_expire_cycle(st, now), 0);
    /* Nobody reads them: the cycle alone brings the size down. */
    uint64_t removed = 0;
    for (int i = 0; i < 10; i++)
        removed += kv_store_expire_cycle(st, now + 100);
    cr_assert_eq(removed, 2500);
    cr_assert_eq(kv_store_size(st), 2500);
}

Test(kv_commands, unknown_and_case)
{
    R("-ERR unknown command 'FOO', with args beginning with: 'a' 'b c' \r\n", "FOO", "a", "b c");
    R("-ERR unknown command 'x', with args beginning with: \r\n", "x");
    R("+OK\r\n", "sEt", "k", "v");
    R("$1\r\nv\r\n", "gEt", "k");
    /* Control bytes never break the reply line. */
    R("-ERR unknown command 'a?b', with args beginning with: \r\n", "a\nb");
    R("+OK\r\n", "QUIT");
}

Test(kv_commands, many_keys_grow_the_tables)
{
    char key[16], val[16];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        snprintf(val, sizeof val, "%d", i * 7);
        kv_store_set(st, key, strlen(key), val, strlen(val), 0, 0, now);
    }
    cr_assert_eq(kv_store_size(st), 100000);
    for (int i = 0; i < 100000; i += 997) {
        snprintf(key, sizeof key, "key:%d", i);
        char got[16] = {0};
        cr_assert_eq(kv_store_get(st, key, strlen(key), now, got, sizeof got - 1),
                     (int64_t)snprintf(val, sizeof val, "%d", i * 7));
        cr_assert_str_eq(got, val);
    }
}
