/*
 * examples/http/http_conn.h - one HTTP/1.1 connection: the server's request
 * handler, an AR_FN closure (asyncrt/closure.h) run by the example server
 * skeleton (examples/common/server.h) once per connection.  Its
 * environment, http_env, is borrowed shared by every connection; the
 * skeleton frees it (closing the root directory) only once no connection
 * borrows it.  One call serves one connection: its argument is the
 * skeleton's srv_conn (descriptor and server); the skeleton closes the
 * descriptor when the call ends or is dropped.
 *
 * What a connection does, in order:
 *   1. receive through a multishot recv stream (asyncrt/stream.h: one armed
 *      receive for the connection's life, no submission per read) into a
 *      4 KiB buffer and feed the parser (http_request.h);
 *   2. answer each complete request into an 8 KiB output buffer, so every
 *      request a pipelining client put in one segment is answered by one
 *      send, in order; the buffer is sent when the input runs dry, when it
 *      is nearly full, or before a file is streamed;
 *   3. a static file: asynchronous openat under the root, then 64 KiB
 *      lending reads, each sent (with whatever was buffered before it) by
 *      one sendmsg.  A read that fails or comes back short (the file was
 *      truncated or removed meanwhile: Linux keeps an unlinked file
 *      readable, a truncated one ends early) ends the connection, since
 *      Content-Length promised more;
 *   4. deadlines: from the end of a request (or the accept) the next one
 *      must arrive whole within timeout_ms, or the client gets 408 and is
 *      closed, whether it is idle or trickling bytes; a send that makes no
 *      progress for timeout_ms ends the connection.  One sleep per
 *      connection carries the deadline: it is re-armed only when it fires
 *      and the deadline has moved on (no timer insert per request);
 *   5. errors: 400 (malformed), 413 (a limit), 408: the answer carries
 *      Connection: close, is sent after the answers to the requests before
 *      it, and the server then stops sending (shutdown SHUT_WR) and reads
 *      and discards for up to a second (a lingering close, as nginx does),
 *      so the client reads the error instead of a reset;
 *   6. Connection: close, an HTTP/1.0 request without keep-alive, or an
 *      Upgrade: answered, then closed;
 *   7. a stopping server (srv_draining): the request being answered gets
 *      Connection: close and the connection ends after it; a connection
 *      idle between requests (srv_conn_idle: every answer sent, nothing of
 *      the next request read) ends at once, one with part of a request
 *      read is answered first.
 */
#ifndef HTTP_CONN_H
#define HTTP_CONN_H

#include <asyncrt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "http_request.h"
#include "http_response.h"
#include "http_router.h"
#include "server.h"

enum {
    HTTP_RBUF = 4096,          /* recv buffer per connection */
    HTTP_OBUF = 8192,          /* response buffer per connection */
    HTTP_OBUF_RESERVE = 4096,  /* free space guaranteed before a request is answered */
    HTTP_FILE_BLOCK = 65536,   /* one file read */
    HTTP_LINGER_MS = 1000,     /* reading after an error response */
};

/* The handler's environment, shared (read-only) by every connection.
 * Fields are set before the first connection and never change while a
 * call borrows them; the closure's borrow counter keeps it alive until the
 * last connection ended. */
typedef struct http_env {
    int root_fd;          /* O_PATH directory of static files, or -1 (owned:
                             closed when the closure is dropped) */
    http_limits lim;
    uint32_t timeout_ms;  /* request and send deadline (408) */
} http_env;

/* Sends a (then b) to fd whole: one send, or one sendmsg for both. */
typedef struct http_send {
    ar_io io;
    struct iovec iov[2];
    struct msghdr msg;
    const char *a, *b;
    size_t alen, blen;
    int fd;
    bool started;
    int res; /* 0 once all was sent, -errno */
} http_send;

/* One call's frame: everything that lives across an await. */
typedef struct http_conn {
    ar_co co;
    srv_conn arg;        /* descriptor (the skeleton's) and server */
    ar_unit out;
    uint32_t served;     /* requests answered */
    int fd;              /* arg.fd */
    int file_fd;         /* the static file being sent, or -1 */
    http_conn_mode mode; /* of the request being answered */
    int status;          /* the error being answered */
    bool timed_out;
    bool armed;          /* sleep registered for armed_deadline */
    http_parse_rc prc;
    uint64_t deadline, armed_deadline;
    size_t rpos, rlen, olen;
    uint64_t fsize, foff, linger_bytes;
    ar_recv_stream rs;   /* the connection's bytes (multishot recv) */
    ar_io io;            /* openat */
    ar_io fio;           /* file reads (lending) */
    ar_sleep sleep;      /* the deadline */
    http_send snd;
    http_reader rd;
    http_route route;
    char rbuf[HTTP_RBUF];
    char obuf[HTTP_OBUF];
} http_conn;

/* A handler closure for srv_start/srv_main, capturing *env (which it owns
 * from now on: root_fd is closed when the closure is dropped).  NULL when
 * out of memory.  Free it with free() after srv_main/srv_wait returned. */
ar_closure *http_handler_new(const http_env *env);

#endif
