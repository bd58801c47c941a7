/*
 * examples/http/http_conn.c - one connection (the protocol is in
 * http_conn.h).  The body is a switch coroutine: every local is dead after
 * an AR_AWAIT, so what must survive one is in the frame, and no AR_AWAIT
 * sits inside a switch of ours (the route switch below awaits nothing).
 */
#include "http_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_response.h"
#include "http_static.h"
#include "http_status.h"

/* ---- sending ------------------------------------------------------- */

static void send_init(http_send *s, int fd, const char *a, size_t alen, const char *b,
                      size_t blen)
{
    s->fd = fd;
    s->a = a;
    s->alen = alen;
    s->b = b;
    s->blen = blen;
    s->started = false;
    s->res = 0;
}

/* Ready once every byte went out (res 0) or the peer is gone (res < 0).
 * Both pieces are copied by the operation at its first poll; a partial
 * send continues from where the kernel stopped, so they must stay valid
 * until ready. */
static ar_poll send_poll(http_send *s, ar_cx *cx)
{
    for (;;) {
        if (!s->started) {
            if (s->alen == 0) { /* the first piece is done (or empty) */
                s->a = s->b;
                s->alen = s->blen;
                s->blen = 0;
            }
            if (s->alen == 0) {
                s->res = 0;
                return AR_READY;
            }
            if (s->blen == 0) {
                ar_io_send(&s->io, s->fd, s->a, s->alen, 0);
            } else {
                s->iov[0] = (struct iovec){(void *)(uintptr_t)s->a, s->alen};
                s->iov[1] = (struct iovec){(void *)(uintptr_t)s->b, s->blen};
                s->msg = (struct msghdr){.msg_iov = s->iov, .msg_iovlen = 2};
                ar_io_sendmsg(&s->io, s->fd, &s->msg, 0);
            }
            s->started = true;
        }
        if (ar_io_poll(&s->io, cx) == AR_PENDING)
            return AR_PENDING;
        s->started = false;
        int64_t n = s->io.res;
        if (n <= 0) {
            s->res = n < 0 ? (int)n : -EPIPE;
            return AR_READY;
        }
        size_t k = (size_t)n < s->alen ? (size_t)n : s->alen;
        s->a += k;
        s->alen -= k;
        n -= (int64_t)k;
        s->b += n;
        s->blen -= (size_t)n;
    }
}

/* ---- the deadline --------------------------------------------------- */

/*
 * True once self->deadline has passed.  The sleep stays registered for
 * armed_deadline while the deadline moves later; when it fires before the
 * current deadline it is re-armed for it (set_deadline disarms it when the
 * deadline moves earlier).  So a keep-alive
 * connection answering many requests a second inserts a timer about once
 * per timeout, not once per request.
 */
static bool deadline_passed(http_conn *self, ar_cx *cx)
{
    for (;;) {
        if (!self->armed) {
            ar_sleep_until_init(&self->sleep, self->deadline);
            self->armed_deadline = self->deadline;
            self->armed = true;
        }
        if (ar_sleep_poll(&self->sleep, cx) == AR_PENDING)
            return false;
        self->armed = false;
        if (self->deadline <= self->armed_deadline)
            return true;
    }
}

/* Await the next bytes of self->rs into rbuf, or the deadline (then
 * timed_out is set; the stream stays armed until the connection ends). */
static ar_poll recv_or_deadline(http_conn *self, ar_cx *cx)
{
    if (ar_recv_stream_next(&self->rs, cx, self->rbuf, sizeof self->rbuf) == AR_READY)
        return AR_READY;
    if (!deadline_passed(self, cx))
        return AR_PENDING;
    self->timed_out = true;
    return AR_READY;
}

/* Await self->snd, or the deadline (then the send is dropped). */
static ar_poll send_or_deadline(http_conn *self, ar_cx *cx)
{
    if (send_poll(&self->snd, cx) == AR_READY)
        return AR_READY;
    if (!deadline_passed(self, cx))
        return AR_PENDING;
    ar_io_drop(&self->snd.io);
    self->snd.res = -ETIMEDOUT;
    self->timed_out = true;
    return AR_READY;
}

/* Move the deadline to ms from now.  Later than the armed sleep: it stays
 * (deadline_passed re-arms it when it fires).  Earlier (the lingering close
 * after an error): the sleep is dropped and armed afresh at the next wait. */
static void set_deadline(http_conn *self, uint64_t ms)
{
    self->deadline = ar_now_ms() + ms;
    if (self->armed && self->deadline < self->armed_deadline) {
        ar_sleep_drop(&self->sleep);
        self->armed = false;
    }
}

/* ---- answering ------------------------------------------------------ */

/* Append an error page; the caller guaranteed HTTP_OBUF_RESERVE bytes. */
static void put_error(http_conn *self, int status, bool head_only, const char *extra)
{
    ssize_t n = http_write_error(self->obuf + self->olen, HTTP_OBUF - self->olen, status,
                                 self->mode, head_only, extra);
    if (n > 0)
        self->olen += (size_t)n;
}

/*
 * Answer the request in self->rd.req that needs no I/O (everything but a
 * static file), into obuf.  Returns false for a static file, which the
 * caller streams.
 */
static bool answer_now(const http_env *env, http_conn *self)
{
    static const char hello[] = "Hello, world!\n";
    const http_request *req = &self->rd.req;
    http_conn_mode mode = self->mode;
    bool head = req->method == HTTP_HEAD;
    char *dst = self->obuf + self->olen;
    size_t room = HTTP_OBUF - self->olen;
    ssize_t n = 0;

    http_route_request(req, env->root_fd >= 0, &self->route);
    switch (self->route.kind) {
    case HTTP_ROUTE_HELLO:
        n = http_write_response(dst, room, 200, "text/plain", hello, sizeof hello - 1, mode, head,
                                NULL);
        break;
    case HTTP_ROUTE_STATUS: {
        char body[HTTP_OBUF_RESERVE - 512];
        ssize_t len = http_status_json(srv_rt(self->arg.srv), body, sizeof body);
        if (len < 0) {
            put_error(self, 500, head, NULL);
            return true;
        }
        n = http_write_response(dst, room, 200, "application/json", body, (size_t)len, mode, head,
                                NULL);
        break;
    }
    case HTTP_ROUTE_BODY: {
        char body[64];
        int len = snprintf(body, sizeof body, "received %llu bytes\n",
                           (unsigned long long)req->body_len);
        n = http_write_response(dst, room, 200, "text/plain", body, (size_t)len, mode, head, NULL);
        break;
    }
    case HTTP_ROUTE_STATIC:
        return false;
    case HTTP_ROUTE_NOT_FOUND:
        put_error(self, 404, head, NULL);
        return true;
    case HTTP_ROUTE_BAD_METHOD:
        put_error(self, 405, head, self->route.allow);
        return true;
    case HTTP_ROUTE_BAD_TARGET:
        put_error(self, 400, head, NULL);
        return true;
    }
    if (n < 0)
        put_error(self, 500, head, NULL);
    else
        self->olen += (size_t)n;
    return true;
}

/* What an openat error becomes. */
static int open_status(int err)
{
    switch (err) {
    case -ENOENT: case -ENOTDIR: case -ELOOP: case -ENAMETOOLONG: case -EISDIR:
        return 404;
    case -EACCES: case -EPERM:
        return 403;
    default:
        return 500;
    }
}

/* ---- the connection ------------------------------------------------- */

/* Send obuf (when it holds anything); on failure end the connection.  A
 * macro so that each use is its own resume point (one per line). */
#define FLUSH_OR_GOTO(label)                                                                   \
    do {                                                                                       \
        if (self->olen) {                                                                      \
            send_init(&self->snd, self->fd, self->obuf, self->olen, NULL, 0);                  \
            AR_AWAIT(send_or_deadline(self, cx));                                              \
            self->olen = 0;                                                                    \
            if (self->snd.res < 0)                                                             \
                goto label;                                                                    \
        }                                                                                      \
    } while (0)

static void conn_drop(http_conn *self);
static void env_drop(http_env *env);

AR_CLOSURE(http_handler, AR_FN, http_env, http_conn, conn_run, conn_drop, env_drop);

static ar_poll conn_run(const http_env *env, http_conn *self, ar_cx *cx)
{
    size_t used;
    AR_BEGIN(&self->co);
    self->fd = self->arg.fd;
    self->file_fd = -1;
    ar_recv_stream_init(&self->rs, self->fd);
    http_reader_init(&self->rd, &env->lim);
    set_deadline(self, env->timeout_ms);

    for (;;) {
        if (self->rpos == self->rlen) {
            /* The input ran dry: what was answered goes out in one send. */
            FLUSH_OR_GOTO(done);
            /* Between requests (every answer sent, nothing of the next one
             * read): idle, and a stopping server ends the connection here
             * (or shuts its reading side while we wait: the receive gets
             * 0).  Part of a request read: still busy. */
            if (!self->rd.in_message && !srv_conn_idle(&self->arg))
                goto done;
            AR_AWAIT(recv_or_deadline(self, cx));
            if (self->timed_out) {
                self->status = 408;
                goto fail;
            }
            if (self->rs.res <= 0)
                goto done; /* EOF or reset */
            srv_conn_busy(&self->arg);
            self->rpos = 0;
            self->rlen = (size_t)self->rs.res;
        }
        self->prc = http_reader_feed(&self->rd, self->rbuf + self->rpos,
                                     self->rlen - self->rpos, &used);
        self->rpos += used;
        if (self->rd.send_continue) {
            if (HTTP_OBUF - self->olen < 64)
                FLUSH_OR_GOTO(done);
            self->olen += (size_t)http_write_continue(self->obuf + self->olen,
                                                      HTTP_OBUF - self->olen);
            self->rd.send_continue = false;
        }
        if (self->prc == HTTP_PARSE_MORE)
            continue;
        if (self->prc == HTTP_PARSE_ERROR) {
            self->status = self->rd.error_status;
            goto fail;
        }

        /* A complete request.  A stopping server answers it and closes. */
        self->served++;
        self->mode = srv_draining(self->arg.srv) ? HTTP_CLOSE : http_mode_of(&self->rd.req);
        if (HTTP_OBUF - self->olen < HTTP_OBUF_RESERVE)
            FLUSH_OR_GOTO(done);
        if (!answer_now(env, self)) {
            /* A static file: open it under the root, asynchronously. */
            ar_io_openat(&self->io, env->root_fd, self->route.rel,
                         O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
            AR_AWAIT(ar_io_poll(&self->io, cx));
            if (self->io.res < 0) {
                put_error(self, open_status((int)self->io.res), self->rd.req.method == HTTP_HEAD,
                          NULL);
            } else {
                self->file_fd = (int)self->io.res;
                /* fstat of an open descriptor reads the inode the open
                 * just loaded: no disk I/O, so it does not block. */
                struct stat st;
                if (fstat(self->file_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                    close(self->file_fd);
                    self->file_fd = -1;
                    put_error(self, 404, self->rd.req.method == HTTP_HEAD, NULL);
                } else {
                    self->fsize = (uint64_t)st.st_size;
                    ssize_t n = http_write_head(self->obuf + self->olen, HTTP_OBUF - self->olen,
                                                200, http_content_type(self->route.rel),
                                                self->fsize, self->mode, NULL);
                    if (n > 0)
                        self->olen += (size_t)n;
                    if (self->rd.req.method == HTTP_HEAD)
                        self->foff = self->fsize;
                    else
                        self->foff = 0;
                    while (self->foff < self->fsize) {
                        ar_io_read_lend(&self->fio, self->file_fd,
                                        self->fsize - self->foff < HTTP_FILE_BLOCK
                                            ? (size_t)(self->fsize - self->foff)
                                            : HTTP_FILE_BLOCK,
                                        (int64_t)self->foff);
                        AR_AWAIT(ar_io_poll(&self->fio, cx));
                        if (self->fio.res <= 0) {
                            /* Truncated, removed or unreadable while being
                             * served: Content-Length cannot be kept. */
                            ar_io_drop(&self->fio);
                            goto done;
                        }
                        send_init(&self->snd, self->fd, self->obuf, self->olen,
                                  ar_io_lent(&self->fio), (size_t)self->fio.res);
                        set_deadline(self, env->timeout_ms);
                        AR_AWAIT(send_or_deadline(self, cx));
                        self->olen = 0;
                        self->foff += (uint64_t)self->fio.res;
                        ar_io_drop(&self->fio);
                        if (self->snd.res < 0)
                            goto done;
                    }
                    close(self->file_fd);
                    self->file_fd = -1;
                }
            }
        }
        if (self->mode == HTTP_CLOSE) {
            FLUSH_OR_GOTO(done);
            goto done;
        }
        set_deadline(self, env->timeout_ms);
    }

fail:
    /* An error answer after the answers before it, then a lingering close:
     * the client reads it instead of a reset for the bytes we never read. */
    self->timed_out = false;
    set_deadline(self, HTTP_LINGER_MS);
    if (HTTP_OBUF - self->olen < 512)
        FLUSH_OR_GOTO(done);
    self->mode = HTTP_CLOSE;
    put_error(self, self->status, false, NULL);
    FLUSH_OR_GOTO(done);
    shutdown(self->fd, SHUT_WR);
    for (self->linger_bytes = 0; self->linger_bytes < (1u << 20);
         self->linger_bytes += (uint64_t)self->rs.res) {
        AR_AWAIT(recv_or_deadline(self, cx));
        if (self->timed_out || self->rs.res <= 0)
            break;
    }

done:
    /* The skeleton closes the connection's descriptor. */
    ar_recv_stream_drop(&self->rs);
    ar_sleep_drop(&self->sleep);
    if (self->file_fd >= 0)
        close(self->file_fd);
    self->file_fd = -1;
    AR_END;
}

static void conn_drop(http_conn *self)
{
    ar_recv_stream_drop(&self->rs);
    ar_io_drop(&self->io);
    ar_io_drop(&self->fio);
    ar_io_drop(&self->snd.io);
    ar_sleep_drop(&self->sleep);
    /* A call dropped before its first poll (a zeroed frame but for arg)
     * has opened no file. */
    if (self->co.line != 0 && self->file_fd >= 0)
        close(self->file_fd);
}

static void env_drop(http_env *env)
{
    if (env->root_fd >= 0)
        close(env->root_fd);
    env->root_fd = -1;
}

ar_closure *http_handler_new(const http_env *env)
{
    http_handler *h = malloc(sizeof *h);
    if (!h)
        return NULL;
    *h = AR_CLOSURE_NEW(http_handler, {0});
    h->env = *env;
    return &h->base;
}
