/*
 * examples/http/main.c - the HTTP/1.1 server of issue 7.
 *
 *     http_server --port P [--workers N] [--root DIR] [--addr IP]
 *                 [--timeout-ms T] [--max-header B] [--max-body B]
 *                 [--max-conns C]
 *
 * Routes, limits and the connection's protocol: http_router.h,
 * http_request.h, http_conn.h.  Each connection is a task running one call
 * of the AR_FN closure `http_handler`, whose environment (runtime, root
 * directory, limits, deadline) every connection borrows shared.
 *
 * SIGINT/SIGTERM: stop accepting, give open connections up to 5 s to
 * finish (ar_rt_shutdown_timeout), then drop the rest; the environment is
 * freed only once the closure reports no borrow left.
 *
 * The serving loop below (listen, accept with EMFILE backoff, connection
 * cap, signals) is the part the shared server skeleton of the other
 * examples provides; it is kept in serve() alone so that moving onto that
 * skeleton replaces serve() and nothing else.
 */
#include <asyncrt.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_conn.h"

/* Connections open now; written by the acceptor (+1) and by each
 * connection's end (-1), read by the acceptor: relaxed is enough, it is a
 * cap, not a synchronisation. */
static atomic_uint live_conns;

static ar_poll handler_body(const http_env *env, http_conn *self, ar_cx *cx);
static void handler_drop(http_conn *self);
AR_CLOSURE(http_handler, AR_FN, http_env, http_conn, handler_body, handler_drop, NULL);

static ar_poll handler_body(const http_env *env, http_conn *self, ar_cx *cx)
{
    if (http_conn_run(env, self, cx) == AR_PENDING)
        return AR_PENDING;
    atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
    return AR_READY;
}

static void handler_drop(http_conn *self)
{
    http_conn_drop(self);
    atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
}

typedef struct server_opts {
    const char *addr;
    int port;
    unsigned workers;
    unsigned max_conns;
} server_opts;

/* The accept loop: one task, a multishot accept stream (which backs off
 * by itself on EMFILE/ENFILE). */
typedef struct acceptor {
    ar_co co;
    int lfd;
    unsigned max_conns;
    http_handler *handler;
    ar_accept_stream acc;
} acceptor;

static ar_poll acceptor_poll(void *p, ar_cx *cx)
{
    acceptor *self = p;
    AR_BEGIN(&self->co);
    ar_accept_stream_init(&self->acc, self->lfd, SOCK_CLOEXEC);
    for (;;) {
        AR_AWAIT(ar_accept_stream_next(&self->acc, cx));
        if (self->acc.res < 0) {
            if (self->acc.res == -EMFILE || self->acc.res == -ENFILE)
                continue;
            fprintf(stderr, "http_server: accept: %s\n", ar_strerror(self->acc.res));
            break;
        }
        int fd = self->acc.res;
        if (atomic_load_explicit(&live_conns, memory_order_relaxed) >= self->max_conns) {
            close(fd); /* over the cap: refuse at once rather than queue */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add_explicit(&live_conns, 1, memory_order_relaxed);
        if (ar_spawn_call(NULL, self->handler, NULL, fd) < 0) {
            atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
            close(fd);
        }
    }
    ar_accept_stream_drop(&self->acc);
    AR_END;
}
static void acceptor_drop(void *p) { ar_accept_stream_drop(&((acceptor *)p)->acc); }
static const ar_future_vt acceptor_vt = AR_FUTURE_VT_VOID(acceptor, acceptor_poll, acceptor_drop);

/* Listen, serve until SIGINT/SIGTERM, stop gracefully, free the
 * environment.  Returns the process exit status. */
static int serve(const server_opts *o, http_env env)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    /* Blocked before the workers start, so they inherit the mask and the
     * signals wait for sigwait below. */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    int lfd = ar_tcp_listen(o->addr, (uint16_t)o->port, 4096);
    if (lfd < 0) {
        fprintf(stderr, "http_server: listen on %s:%d: %s\n", o->addr, o->port, ar_strerror(lfd));
        return 1;
    }
    ar_rt_opts ro;
    ar_rt_opts_init(&ro);
    ro.workers = o->workers;
    ar_rt *rt;
    int rc = ar_rt_new(&rt, &ro);
    if (rc < 0) {
        fprintf(stderr, "http_server: ar_rt_new: %s\n", ar_strerror(rc));
        close(lfd);
        return 1;
    }
    env.rt = rt;
    http_handler *handler = malloc(sizeof *handler);
    if (!handler) {
        ar_rt_free(rt);
        close(lfd);
        return 1;
    }
    *handler = AR_CLOSURE_NEW(http_handler, {0});
    handler->env = env;
    acceptor a = {.lfd = lfd, .max_conns = o->max_conns, .handler = handler};
    ar_join aj;
    if ((rc = ar_spawn(rt, &acceptor_vt, &a, &aj)) < 0) {
        fprintf(stderr, "http_server: spawn: %s\n", ar_strerror(rc));
        return 1;
    }
    printf("http_server: listening on %s:%d, %u workers%s%s\n", o->addr,
           ar_tcp_local_port(lfd), o->workers, env.root_fd >= 0 ? ", static files" : "",
           "");
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "http_server: %s: stopping\n", strsignal(sig));
    ar_join_abort(&aj);
    ar_join_wait(&aj, NULL, 0);
    close(lfd);
    rc = ar_rt_shutdown_timeout(rt, 5000);
    if (rc < 0)
        fprintf(stderr, "http_server: shutdown: %s\n", ar_strerror(rc));
    /* Every call has ended or was dropped by the shutdown: the borrows are
     * gone, so the drop succeeds and the environment can go. */
    rc = ar_closure_try_drop(&handler->base);
    if (rc < 0)
        fprintf(stderr, "http_server: handler still borrowed: %s\n", ar_strerror(rc));
    else
        free(handler);
    ar_rt_free(rt);
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --port P [--workers N] [--root DIR] [--addr IP] [--timeout-ms T]\n"
            "          [--max-header BYTES] [--max-body BYTES] [--max-conns C]\n",
            argv0);
}

/* A decimal argument in [lo, hi], or exit 2. */
static unsigned long long num_arg(const char *argv0, const char *flag, const char *s,
                                  unsigned long long lo, unsigned long long hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "%s: %s wants a number in %llu..%llu, not '%s'\n", argv0, flag, lo, hi, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    server_opts o = {.addr = "127.0.0.1", .port = -1, .workers = 2, .max_conns = 10000};
    http_env env = {.root_fd = -1, .lim = HTTP_LIMITS_DEFAULT, .timeout_ms = 10000};
    const char *root = NULL;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (i + 1 >= argc) {
            usage(argv[0]);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(f, "--port"))
            o.port = (int)num_arg(argv[0], f, v, 0, 65535);
        else if (!strcmp(f, "--workers"))
            o.workers = (unsigned)num_arg(argv[0], f, v, 1, 256);
        else if (!strcmp(f, "--root"))
            root = v;
        else if (!strcmp(f, "--addr"))
            o.addr = v;
        else if (!strcmp(f, "--timeout-ms"))
            env.timeout_ms = (uint32_t)num_arg(argv[0], f, v, 1, 3600000);
        else if (!strcmp(f, "--max-header"))
            env.lim.max_header = (uint32_t)num_arg(argv[0], f, v, 16, 1u << 20);
        else if (!strcmp(f, "--max-body"))
            env.lim.max_body = num_arg(argv[0], f, v, 0, 1ull << 40);
        else if (!strcmp(f, "--max-conns"))
            o.max_conns = (unsigned)num_arg(argv[0], f, v, 1, 1u << 20);
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (o.port < 0) {
        usage(argv[0]);
        return 2;
    }
    if (root) {
        env.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (env.root_fd < 0) {
            fprintf(stderr, "%s: --root %s: %s\n", argv[0], root, strerror(errno));
            return 1;
        }
    }
    int rc = serve(&o, env);
    if (env.root_fd >= 0)
        close(env.root_fd);
    return rc;
}
