/*
 * examples/kv/commands.c - the commands of the key-value server
 * (commands.h).  Each handler checks its arguments completely before it
 * touches the store, so a request with a bad option changes nothing.
 */
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

typedef struct req {
    kv_store *st;
    const char *base;
    const resp_arg *argv;
    uint32_t argc;
    uint64_t now;
    resp_buf *out;
} req;

static inline const char *A(const req *r, uint32_t i) { return r->base + r->argv[i].off; }
static inline size_t L(const req *r, uint32_t i) { return r->argv[i].len; }

/* Argument i equals the keyword kw (ASCII, case-insensitive). */
static bool is(const req *r, uint32_t i, const char *kw)
{
    size_t n = strlen(kw);
    return L(r, i) == n && strncasecmp(A(r, i), kw, n) == 0;
}

static bool int_arg(const req *r, uint32_t i, int64_t *v)
{
    return resp_parse_i64(A(r, i), L(r, i), v);
}

#define E_NOTINT "ERR value is not an integer or out of range"
#define E_SYNTAX "ERR syntax error"
#define E_NOMEM "ERR out of memory"

static int c_ping(req *r)
{
    if (r->argc > 2)
        resp_error(r->out, "ERR wrong number of arguments for 'ping' command");
    else if (r->argc == 1)
        resp_raw(r->out, "+PONG\r\n", 7);
    else
        resp_bulk(r->out, A(r, 1), L(r, 1));
    return 0;
}

static int c_echo(req *r)
{
    resp_bulk(r->out, A(r, 1), L(r, 1));
    return 0;
}

static int c_get(req *r)
{
    kv_store_get_reply(r->st, A(r, 1), L(r, 1), r->now, r->out);
    return 0;
}

/* now + ms, or 0 when that does not fit (the caller reports it). */
static uint64_t deadline(uint64_t now, int64_t ms)
{
    if (ms <= 0 || (uint64_t)ms > UINT64_MAX - now)
        return 0;
    return now + (uint64_t)ms;
}

static int c_set(req *r)
{
    int flags = 0;
    int64_t ms = 0;
    bool have_ttl = false;
    for (uint32_t i = 3; i < r->argc; i++) {
        if (is(r, i, "NX") && !(flags & KV_SET_XX)) {
            flags |= KV_SET_NX;
        } else if (is(r, i, "XX") && !(flags & KV_SET_NX)) {
            flags |= KV_SET_XX;
        } else if (is(r, i, "KEEPTTL") && !have_ttl) {
            flags |= KV_SET_KEEPTTL;
        } else if ((is(r, i, "EX") || is(r, i, "PX")) && !have_ttl &&
                   !(flags & KV_SET_KEEPTTL) && i + 1 < r->argc) {
            bool secs = is(r, i, "EX");
            int64_t v;
            if (!int_arg(r, i + 1, &v)) {
                resp_error(r->out, E_NOTINT);
                return 0;
            }
            if (v <= 0 || (secs && v > INT64_MAX / 1000)) {
                resp_error(r->out, "ERR invalid expire time in 'set' command");
                return 0;
            }
            ms = secs ? v * 1000 : v;
            have_ttl = true;
            i++;
        } else {
            resp_error(r->out, E_SYNTAX);
            return 0;
        }
    }
    uint64_t at = 0;
    if (have_ttl && !(at = deadline(r->now, ms))) {
        resp_error(r->out, "ERR invalid expire time in 'set' command");
        return 0;
    }
    int rc = kv_store_set(r->st, A(r, 1), L(r, 1), A(r, 2), L(r, 2), flags, at, r->now);
    if (rc < 0)
        resp_error(r->out, E_NOMEM);
    else if (rc == 0)
        resp_null(r->out);
    else
        resp_raw(r->out, "+OK\r\n", 5);
    return 0;
}

static int c_del(req *r)
{
    int64_t n = 0;
    for (uint32_t i = 1; i < r->argc; i++)
        n += kv_store_del(r->st, A(r, i), L(r, i), r->now);
    resp_int(r->out, n);
    return 0;
}

static int c_exists(req *r)
{
    int64_t n = 0;
    for (uint32_t i = 1; i < r->argc; i++)
        n += kv_store_exists(r->st, A(r, i), L(r, i), r->now);
    resp_int(r->out, n);
    return 0;
}

static void incr(req *r, int64_t delta)
{
    int64_t v;
    int rc = kv_store_incrby(r->st, A(r, 1), L(r, 1), delta, r->now, &v);
    if (rc == 0)
        resp_int(r->out, v);
    else if (rc == -ERANGE)
        resp_error(r->out, "ERR increment or decrement would overflow");
    else if (rc == -EINVAL)
        resp_error(r->out, E_NOTINT);
    else
        resp_error(r->out, E_NOMEM);
}

static int c_incr(req *r)
{
    incr(r, 1);
    return 0;
}
static int c_decr(req *r)
{
    incr(r, -1);
    return 0;
}
static int c_incrby(req *r)
{
    int64_t d;
    if (!int_arg(r, 2, &d))
        resp_error(r->out, E_NOTINT);
    else
        incr(r, d);
    return 0;
}
static int c_decrby(req *r)
{
    int64_t d;
    if (!int_arg(r, 2, &d) || d == INT64_MIN)
        resp_error(r->out, d == INT64_MIN ? "ERR decrement would overflow" : E_NOTINT);
    else
        incr(r, -d);
    return 0;
}

static int c_mget(req *r)
{
    kv_store_mget_reply(r->st, r->base, r->argv + 1, r->argc - 1, r->now, r->out);
    return 0;
}

static int c_mset(req *r)
{
    if (r->argc % 2 == 0) {
        resp_error(r->out, "ERR wrong number of arguments for 'mset' command");
        return 0;
    }
    /* All or nothing, atomic across shards (store.h). */
    if (kv_store_mset(r->st, r->base, r->argv + 1, (r->argc - 1) / 2, r->now) < 0) {
        resp_error(r->out, E_NOMEM);
        return 0;
    }
    resp_raw(r->out, "+OK\r\n", 5);
    return 0;
}

static void expire(req *r, bool secs, const char *name)
{
    int64_t v;
    if (!int_arg(r, 2, &v)) {
        resp_error(r->out, E_NOTINT);
        return;
    }
    if (secs && (v > INT64_MAX / 1000 || v < INT64_MIN / 1000)) {
        char msg[64];
        snprintf(msg, sizeof msg, "ERR invalid expire time in '%s' command", name);
        resp_error(r->out, msg);
        return;
    }
    int64_t ms = secs ? v * 1000 : v;
    /* A deadline not after now deletes the key (Redis does the same). */
    uint64_t at = ms <= 0 ? r->now : deadline(r->now, ms);
    if (at == 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "ERR invalid expire time in '%s' command", name);
        resp_error(r->out, msg);
        return;
    }
    resp_int(r->out, kv_store_expire(r->st, A(r, 1), L(r, 1), at, r->now));
}

static int c_expire(req *r)
{
    expire(r, true, "expire");
    return 0;
}
static int c_pexpire(req *r)
{
    expire(r, false, "pexpire");
    return 0;
}

static int c_ttl(req *r)
{
    int64_t t = kv_store_pttl(r->st, A(r, 1), L(r, 1), r->now);
    resp_int(r->out, t < 0 ? t : (t + 500) / 1000);
    return 0;
}
static int c_pttl(req *r)
{
    resp_int(r->out, kv_store_pttl(r->st, A(r, 1), L(r, 1), r->now));
    return 0;
}

static int c_dbsize(req *r)
{
    resp_int(r->out, (int64_t)kv_store_size(r->st));
    return 0;
}

static int c_flushall(req *r)
{
    if (r->argc > 2 || (r->argc == 2 && !is(r, 1, "ASYNC") && !is(r, 1, "SYNC"))) {
        resp_error(r->out, E_SYNTAX);
        return 0;
    }
    kv_store_flush(r->st);
    resp_raw(r->out, "+OK\r\n", 5);
    return 0;
}

static int c_quit(req *r)
{
    resp_raw(r->out, "+OK\r\n", 5);
    return KV_CLOSE;
}

typedef struct command {
    const char *name;
    int arity; /* n: exactly n arguments (name included); -n: at least n */
    int (*fn)(req *r);
} command;

/* GET and SET first: they are what the server spends its time on. */
static const command commands[] = {
    {"get", 2, c_get},         {"set", -3, c_set},         {"ping", -1, c_ping},
    {"mget", -2, c_mget},      {"mset", -3, c_mset},       {"incr", 2, c_incr},
    {"decr", 2, c_decr},       {"incrby", 3, c_incrby},    {"decrby", 3, c_decrby},
    {"del", -2, c_del},        {"exists", -2, c_exists},   {"echo", 2, c_echo},
    {"expire", 3, c_expire},   {"pexpire", 3, c_pexpire},  {"ttl", 2, c_ttl},
    {"pttl", 2, c_pttl},       {"dbsize", 1, c_dbsize},    {"flushall", -1, c_flushall},
    {"flushdb", -1, c_flushall}, {"quit", -1, c_quit},
};

/* Append 'text' to msg (at most 128 bytes of it, non-printable bytes as
 * '?': the reply is one line). */
static size_t quoted(char *msg, size_t at, size_t cap, const char *s, size_t n)
{
    if (n > 128)
        n = 128;
    if (at + n + 4 >= cap)
        return at;
    msg[at++] = '\'';
    for (size_t i = 0; i < n; i++)
        msg[at++] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    msg[at++] = '\'';
    msg[at] = 0;
    return at;
}

static void unknown(req *r)
{
    char msg[768];
    size_t at = (size_t)snprintf(msg, sizeof msg, "ERR unknown command ");
    at = quoted(msg, at, sizeof msg, A(r, 0), L(r, 0));
    at += (size_t)snprintf(msg + at, sizeof msg - at, ", with args beginning with: ");
    for (uint32_t i = 1; i < r->argc && at < 600; i++) {
        at = quoted(msg, at, sizeof msg, A(r, i), L(r, i));
        if (at + 1 < sizeof msg) {
            msg[at++] = ' ';
            msg[at] = 0;
        }
    }
    resp_error(r->out, msg);
}

int kv_exec(kv_store *store, const char *base, const resp_arg *argv, uint32_t argc,
            uint64_t now, resp_buf *out)
{
    req r = {store, base, argv, argc, now, out};
    const char *name = A(&r, 0);
    size_t n = L(&r, 0);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const command *c = &commands[i];
        if (strlen(c->name) != n || strncasecmp(c->name, name, n) != 0)
            continue;
        if ((c->arity > 0 && argc != (uint32_t)c->arity) ||
            (c->arity < 0 && argc < (uint32_t)-c->arity)) {
            char msg[96];
            snprintf(msg, sizeof msg, "ERR wrong number of arguments for '%s' command", c->name);
            resp_error(out, msg);
            return KV_CONTINUE;
        }
        return c->fn(&r);
    }
    unknown(&r);
    return KV_CONTINUE;
}
