/*
 * examples/kv/kv.c - the key-value server's connection handler: RESP2
 * requests in, replies out, with pipelining.
 *
 * One call of the handler serves one connection:
 *   1. receive whatever has arrived (a multishot recv stream: one armed
 *      receive for the connection's life) into the read buffer;
 *   2. parse and run every complete request in the buffer, appending each
 *      reply to the write buffer (resp_parse resumes a partial request
 *      where it stopped);
 *   3. send the whole write buffer (one send for all the replies of a
 *      pipeline), then go back to 1.  While replies are being sent nothing
 *      is read: a client that does not read its replies stops being read,
 *      and the write buffer holds at most one read buffer's worth of
 *      replies (capped at WBUF_FLUSH: past it, replies are sent before the
 *      remaining requests run).
 * A protocol error gets "-ERR Protocol error: ..." and the connection is
 * closed after it, as Redis does.  Graceful stop: the connection is idle
 * (srv_conn_idle) when every reply was sent and no request is
 * half-received, busy (srv_conn_busy) from the moment bytes arrive; a
 * stopping server ends an idle connection at once and lets a busy one
 * finish its requests first.
 *
 * Read buffer: rbuf[rpos..rlen) are the bytes not consumed yet (at most one
 * partial request once step 2 ran); rcap its size.  It grows by doubling
 * only when what has ARRIVED fills it, never to a length a client
 * announced, so memory follows the bytes actually received (at most
 * twice them, and max_query bounds those).
 */
#include "kv.h"

#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A connection starts with 4 KiB (a pipeline of small requests fits) and
 * grows as bytes arrive. */
#define RBUF_INIT 4096u
#define RBUF_MIN_ROOM 1024u
/* Buffers bigger than this after a request are given back. */
#define RBUF_KEEP (64u << 10)
#define WBUF_KEEP (1u << 20)
/* Replies queued before they are sent even if requests remain. */
#define WBUF_FLUSH (16u << 20)
/* Largest single send (the reactor's AR_IO_MAX_LEN is 64 MiB). */
#define SEND_MAX (16u << 20)

typedef struct kv_env {
    kv_store *store;
    kv_config cfg;
} kv_env;

typedef struct kv_frame {
    ar_co co;
    srv_conn arg;
    ar_unit out;
    ar_recv_stream rs;
    ar_io io;
    resp_parser p;
    char *rbuf;
    size_t rcap, rlen, rpos;
    resp_buf wbuf;
    size_t sent;
    bool closing; /* close once the write buffer is sent */
    bool more;    /* complete requests are left in the read buffer */
} kv_frame;

static void kv_frame_release(kv_frame *f)
{
    ar_recv_stream_drop(&f->rs);
    ar_io_drop(&f->io);
    resp_parser_free(&f->p);
    free(f->rbuf);
    f->rbuf = NULL;
    resp_buf_free(&f->wbuf);
}
static void kv_env_drop(kv_env *e)
{
    kv_store_free(e->store);
    e->store = NULL;
}

AR_CLOSURE(kv_handler, AR_FN, kv_env, kv_frame, kv_body, kv_frame_release, kv_env_drop);

void kv_config_init(kv_config *c)
{
    c->lim = (resp_limits){RESP_DEFAULT_MAX_BULK, RESP_DEFAULT_MAX_ARGS, RESP_DEFAULT_MAX_INLINE};
    c->max_query = KV_DEFAULT_MAX_QUERY;
}

/* Make room for a receive; false when the pending bytes hit max_query or
 * memory ran out (the caller reports a protocol error). */
static bool make_room(kv_frame *f, const kv_env *env)
{
    if (f->rpos == f->rlen) {
        f->rpos = f->rlen = 0;
        if (f->rcap > RBUF_KEEP) { /* a big request is over: shrink back */
            char *b = realloc(f->rbuf, RBUF_INIT);
            if (b) {
                f->rbuf = b;
                f->rcap = RBUF_INIT;
            }
        }
    }
    if (f->rcap - f->rlen >= RBUF_MIN_ROOM)
        return true;
    if (f->rpos > 0) {
        memmove(f->rbuf, f->rbuf + f->rpos, f->rlen - f->rpos);
        f->rlen -= f->rpos;
        f->rpos = 0;
        if (f->rcap - f->rlen >= RBUF_MIN_ROOM)
            return true;
    }
    if (f->rlen >= env->cfg.max_query)
        return false;
    size_t cap = f->rcap * 2;
    if (cap > env->cfg.max_query + RBUF_MIN_ROOM)
        cap = env->cfg.max_query + RBUF_MIN_ROOM;
    char *b = realloc(f->rbuf, cap);
    if (!b)
        return false;
    f->rbuf = b;
    f->rcap = cap;
    return true;
}

/* Step 2: run the complete requests; true if some remain because the
 * write buffer reached WBUF_FLUSH. */
static bool run_requests(kv_frame *f, const kv_env *env)
{
    uint64_t now = ar_now_ms();
    while (!f->closing && f->rpos < f->rlen) {
        if (f->wbuf.len >= WBUF_FLUSH)
            return true;
        uint32_t argc;
        size_t used;
        int rc = resp_parse(&f->p, f->rbuf + f->rpos, f->rlen - f->rpos, &argc, &used);
        if (rc == RESP_MORE)
            break;
        if (rc == RESP_SKIP) {
            f->rpos += used;
            continue;
        }
        if (rc < 0) {
            if (rc == RESP_NOMEM) {
                resp_error(&f->wbuf, "ERR out of memory");
            } else {
                char msg[128];
                snprintf(msg, sizeof msg, "ERR %s", f->p.err);
                resp_error(&f->wbuf, msg);
            }
            f->closing = true;
            break;
        }
        if (kv_exec(env->store, f->rbuf + f->rpos, f->p.argv, argc, now, &f->wbuf) == KV_CLOSE)
            f->closing = true;
        f->rpos += used;
        if (f->wbuf.oom)
            f->closing = true; /* the reply is lost: nothing sane to send */
    }
    return false;
}

static ar_poll kv_body(const kv_env *env, kv_frame *self, ar_cx *cx)
{
    AR_BEGIN(&self->co);
    resp_parser_init(&self->p, &env->cfg.lim);
    self->rbuf = malloc(RBUF_INIT);
    if (!self->rbuf)
        goto end;
    self->rcap = RBUF_INIT;
    ar_recv_stream_init(&self->rs, self->arg.fd);
    for (;;) {
        if (!make_room(self, env)) {
            resp_error(&self->wbuf, "ERR Protocol error: query buffer limit exceeded");
            self->closing = true;
        } else {
            /* Between requests (nothing half-received, every reply sent):
             * idle, and a stopping server ends the connection here (or
             * shuts its reading side while we wait: the receive gets 0). */
            if (self->rpos == self->rlen && !srv_conn_idle(&self->arg))
                break;
            AR_AWAIT(ar_recv_stream_next(&self->rs, cx, self->rbuf + self->rlen,
                                         self->rcap - self->rlen));
            if (self->rs.res <= 0)
                break; /* EOF or error: the skeleton closes the descriptor */
            srv_conn_busy(&self->arg);
            self->rlen += (size_t)self->rs.res;
        }
        do {
            self->more = run_requests(self, env);
            if (self->wbuf.oom)
                goto end;
            for (self->sent = 0; self->sent < self->wbuf.len; self->sent += (size_t)self->io.res) {
                size_t n = self->wbuf.len - self->sent;
                ar_io_send(&self->io, self->arg.fd, self->wbuf.data + self->sent,
                           n < SEND_MAX ? n : SEND_MAX, 0);
                AR_AWAIT(ar_io_poll(&self->io, cx));
                if (self->io.res <= 0)
                    goto end; /* the client went away mid-reply */
            }
            self->wbuf.len = 0;
            if (self->wbuf.cap > WBUF_KEEP)
                resp_buf_free(&self->wbuf);
        } while (self->more && !self->closing);
        if (self->closing)
            break;
    }
end:
    kv_frame_release(self);
    AR_END;
}

ar_closure *kv_handler_new(const kv_config *cfg, kv_store *store)
{
    kv_handler *h = malloc(sizeof *h);
    if (!h) {
        kv_store_free(store);
        return NULL;
    }
    kv_config c;
    if (cfg)
        c = *cfg;
    else
        kv_config_init(&c);
    *h = AR_CLOSURE_NEW(kv_handler, {.store = store, .cfg = c});
    return &h->base;
}

/* ---- timer-driven expiry --------------------------------------------------- */

/* Holds the store by plain pointer: srv_wait aborts background tasks
 * before it drops the handler whose env_drop frees the store. */
typedef struct expiry_task {
    ar_co co;
    kv_store *store;
    ar_interval iv;
} expiry_task;

static ar_poll expiry_poll(void *p, ar_cx *cx)
{
    expiry_task *self = p;
    AR_BEGIN(&self->co);
    ar_interval_init(&self->iv, KV_EXPIRE_PERIOD_MS);
    for (;;) {
        AR_AWAIT(ar_interval_tick_poll(&self->iv, cx));
        kv_store_expire_cycle(self->store, ar_now_ms());
    }
    AR_END;
}
static void expiry_drop(void *p) { ar_interval_drop(&((expiry_task *)p)->iv); }
static const ar_future_vt expiry_vt = AR_FUTURE_VT_VOID(expiry_task, expiry_poll, expiry_drop);

int kv_start_expiry(srv *s, kv_store *store)
{
    expiry_task t = {.store = store};
    return srv_spawn_background(s, &expiry_vt, &t);
}
