/*
 * examples/echo/echo.c - the echo server on the example skeleton: every byte
 * a client sends comes back, until it closes.  The bench suite's tcp_echo
 * workload, as a program a user would write.
 *
 *     build/examples/echo/echo_server --port 7000 --workers 2
 *
 * The handler is an AR_FN closure (examples/common/server.h); each
 * connection is one task running one call of it.  Reads go through a
 * multishot recv stream (asyncrt/stream.h: one armed receive per
 * connection, no submission per read); each chunk is written back in full
 * before the next is read, so a client that does not read its echo stops
 * being read from (the kernel's buffers are the only queue).  Each chunk
 * is a request for the graceful stop: between chunks the connection is
 * idle (srv_conn_idle) and a stop ends it at once; a chunk being echoed is
 * echoed in full first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "echo.h"

/* Nothing is captured: echo needs no configuration. */
typedef struct echo_env {
    int none;
} echo_env;

/* One connection's call: what lives across its awaits. */
typedef struct echo_frame {
    ar_co co;
    srv_conn arg;
    ar_unit out;
    ar_recv_stream rs;
    ar_io io;
    int64_t n, off;
    char buf[4096]; /* lives in the task: 10,000 connections hold 40 MiB of it */
} echo_frame;

static void echo_frame_drop(echo_frame *self);

AR_CLOSURE(echo, AR_FN, echo_env, echo_frame, echo_body, echo_frame_drop, NULL);

static ar_poll echo_body(const echo_env *env, echo_frame *self, ar_cx *cx)
{
    (void)env;
    AR_BEGIN(&self->co);
    ar_recv_stream_init(&self->rs, self->arg.fd);
    for (;;) {
        /* Between two chunks: idle.  A stopping server ends the connection
         * here, or (if the stop comes while we wait) shuts its reading side
         * so the receive below returns 0. */
        if (!srv_conn_idle(&self->arg))
            break;
        AR_AWAIT(ar_recv_stream_next(&self->rs, cx, self->buf, sizeof self->buf));
        if ((self->n = self->rs.res) <= 0)
            break; /* EOF or an error: the skeleton closes the descriptor */
        /* A chunk is a request: it is echoed in full even if a stop comes. */
        srv_conn_busy(&self->arg);
        for (self->off = 0; self->off < self->n; self->off += self->io.res) {
            ar_io_send(&self->io, self->arg.fd, self->buf + self->off,
                       (size_t)(self->n - self->off), 0);
            AR_AWAIT(ar_io_poll(&self->io, cx));
            if (self->io.res <= 0)
                goto done; /* the peer went away mid-echo */
        }
    }
done:
    ar_recv_stream_drop(&self->rs);
    AR_END;
}

static void echo_frame_drop(echo_frame *self)
{
    ar_recv_stream_drop(&self->rs);
    ar_io_drop(&self->io);
}

ar_closure *echo_handler_new(void)
{
    echo *h = malloc(sizeof *h);
    if (h)
        *h = AR_CLOSURE_NEW(echo, {0});
    return h ? &h->base : NULL;
}
