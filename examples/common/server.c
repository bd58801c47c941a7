/*
 * examples/common/server.c - the example servers' skeleton (server.h says
 * what it does).  Three kinds of task:
 *
 *   acceptor   one: an accept stream on the listening socket; spawns a
 *              connection task per descriptor (or refuses it over the cap).
 *   signals    one (unless opts.handle_signals is off): SIGINT/SIGTERM call
 *              srv_stop, SIGUSR1 prints the dump from a blocking-pool job.
 *   connection one per client: runs one AR_FN call of the handler in its
 *              own memory and owns the descriptor.
 *
 * The connection task's size is known only at run time (it embeds the
 * handler's call future, whose size ar_closure_future_size gives), so its
 * vtable lives in the srv, not in static memory; the acceptor spawns it
 * from a zeroed template.  Layout of a connection task:
 *
 *     conn_task header | padding to 16 | call future (call_size bytes)
 *
 * Stop protocol (srv_wait):
 *   1. srv_stop sets `draining` (release) and `stop_req` (under stop_lock),
 *      and signals stop_cond.
 *   2. srv_wait aborts the acceptor and waits for it, so no connection task
 *      is spawned after this point; then closes the listening socket
 *      (after the stream was dropped: the epoll backend must not see the
 *      descriptor closed under an armed operation).
 *   3. Idle connections end at once (shut_idle_conns): srv_wait stores
 *      `draining` again, issues the barrier (membarrier, else seq_cst
 *      accesses on both sides), and
 *      under conns_lock shuts the reading side of every registered
 *      connection whose handler marked it idle; its pending receive (the
 *      multishot recv on io_uring, the epoll wait on the fallback) returns
 *      0 and the handler ends the connection.  A handler marking itself
 *      idle after the scan sees `draining` in srv_conn_idle (server.h has
 *      the Dekker argument) and ends by itself.  Busy connections (part of
 *      a request read, an answer being written) are not touched: they
 *      finish the request, mark themselves idle, see `draining`, and end.
 *   4. The signal and background tasks are aborted and waited for.
 *   5. ar_rt_shutdown_timeout lets the connection tasks end by themselves
 *      for up to the timeout, then drops those left: dropping a connection
 *      task drops its call future, which gives back the shared borrow of
 *      the handler.
 *   6. Only now can ar_closure_try_drop succeed: it runs the env_drop,
 *      freeing the environment (store, routes).
 *
 * The race left, by design: a request whose first bytes arrive while the
 * stop scans a connection still marked idle (the handler has not yet been
 * woken by them to mark it busy).  Bytes already queued in the kernel are
 * seen (FIONREAD) and the connection is skipped; bytes the handler already
 * holds (io_uring's multishot recv copies them out on arrival) or that
 * arrive between that check and the shutdown are still read after it (a
 * shut reading side returns what was queued before EOF): a request that
 * arrived whole is answered, one cut by the shutdown ends unanswered with
 * the connection.  That is the race every keep-alive server has when it
 * closes an idle connection as the client reuses it; HTTP clients retry.
 */
#include "server.h"

#include <asyncrt/task_dump.h>

#include <errno.h>
#include <linux/membarrier.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Task memory aligns a future to 16 bytes (runtime/task.h): the call
 * future inside the connection task is placed on that alignment. */
#define CALL_ALIGN 16u
#define LISTEN_BACKLOG 4096

const char srv_usage[] = "--port P [--workers N] [--max-conns N] [--shutdown-timeout-ms MS] "
                         "[--bind ADDR] [--quiet] [--task-sites]";

void srv_opts_init(srv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = 1;
    o->max_conns = SRV_DEFAULT_MAX_CONNS;
    o->shutdown_timeout_ms = SRV_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    o->handle_signals = true;
    o->name = "server";
}

/* Parse a decimal in [lo, hi]; false on anything else. */
static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

int srv_opts_parse(srv_opts *o, int argc, char **argv,
                   int (*extra)(void *ud, int argc, char **argv, int i), void *ud)
{
    if (argc > 0 && argv[0])
        o->name = argv[0];
    bool have_port = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fprintf(stderr, "usage: %s %s\n", o->name, srv_usage);
            return -ECANCELED;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if (!strcmp(a, "--task-sites")) {
            o->task_sites = true;
        } else if (!strcmp(a, "--port")) {
            if (!parse_u32(v, 0, 65535, &n))
                goto bad;
            o->port = (uint16_t)n;
            have_port = true;
            i++;
        } else if (!strcmp(a, "--workers")) {
            if (!parse_u32(v, 1, 1024, &n))
                goto bad;
            o->workers = n;
            i++;
        } else if (!strcmp(a, "--max-conns")) {
            if (!parse_u32(v, 1, 10000000, &n))
                goto bad;
            o->max_conns = n;
            i++;
        } else if (!strcmp(a, "--shutdown-timeout-ms")) {
            if (!parse_u32(v, 0, 3600000, &n))
                goto bad;
            o->shutdown_timeout_ms = n;
            i++;
        } else if (!strcmp(a, "--bind")) {
            if (!v)
                goto bad;
            o->bind = v;
            i++;
        } else {
            int used = extra ? extra(ud, argc, argv, i) : -1;
            if (used < 1) {
                fprintf(stderr, "%s: unknown or bad argument '%s'\nusage: %s %s\n", o->name, a,
                        o->name, srv_usage);
                return -EINVAL;
            }
            i += used - 1;
        }
        continue;
    bad:
        fprintf(stderr, "%s: %s needs a valid value (got '%s')\nusage: %s %s\n", o->name, a,
                v ? v : "nothing", o->name, srv_usage);
        return -EINVAL;
    }
    if (!have_port) {
        fprintf(stderr, "%s: --port is required\nusage: %s %s\n", o->name, o->name, srv_usage);
        return -EINVAL;
    }
    return 0;
}

/* ---- listening --------------------------------------------------------- */

/* "::" with IPV6_V6ONLY off takes IPv4 clients too (as v4-mapped
 * addresses); a host without IPv6 gets "0.0.0.0". */
static int listen_any(uint16_t port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ar_tcp_listen("0.0.0.0", port, LISTEN_BACKLOG);
    int zero = 0, one = 1;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port),
                              .sin6_addr = IN6ADDR_ANY_INIT};
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int err = -errno;
        close(fd);
        if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT)
            return ar_tcp_listen("0.0.0.0", port, LISTEN_BACKLOG);
        return err;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* ---- connection task ----------------------------------------------------- */

typedef struct conn_task {
    srv *s;
    int fd;      /* owned: closed by conn_end */
    int started; /* the call was made (its future lives in the tail) */
    int linked;  /* link is in s's registry (this task's own flag) */
    srv_link link;
} conn_task;

static void *conn_call(conn_task *c) { return (char *)c + c->s->call_off; }

/* Into the registry, BUSY (a handler that never marks itself idle is never
 * shut by the stop). */
static void conn_link(conn_task *c)
{
    srv *s = c->s;
    c->link.fd = c->fd;
    atomic_store_explicit(&c->link.state, SRV_CONN_BUSY, memory_order_relaxed);
    pthread_mutex_lock(&s->conns_lock);
    c->link.prev = NULL;
    c->link.next = s->conns_head;
    if (s->conns_head)
        s->conns_head->prev = &c->link;
    s->conns_head = &c->link;
    pthread_mutex_unlock(&s->conns_lock);
    c->linked = 1;
}

/* Out of the registry: before the descriptor is closed (the stop path
 * shuts registered descriptors under conns_lock). */
static void conn_unlink(conn_task *c)
{
    if (!c->linked)
        return;
    srv *s = c->s;
    pthread_mutex_lock(&s->conns_lock);
    if (c->link.prev)
        c->link.prev->next = c->link.next;
    else
        s->conns_head = c->link.next;
    if (c->link.next)
        c->link.next->prev = c->link.prev;
    pthread_mutex_unlock(&s->conns_lock);
    c->linked = 0;
}

/* The connection is over: out of the registry, close it, give back its
 * slot.  Runs once (fd is -1 afterwards), from the poll that finished or
 * from the drop. */
static void conn_end(conn_task *c)
{
    if (c->fd < 0)
        return;
    conn_unlink(c); /* before close: see srv_link */
    close(c->fd);
    c->fd = -1;
    atomic_fetch_sub_explicit(&c->s->conns, 1, memory_order_relaxed);
}

static ar_poll conn_poll(void *p, ar_cx *cx)
{
    conn_task *self = p;
    srv *s = self->s;
    void *call = conn_call(self);
    if (!self->started) {
        self->started = 1;
        int one = 1;
        setsockopt(self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_link(self);
        srv_conn arg = {.fd = self->fd, .srv = s, .link = &self->link};
        /* A shared borrow of the handler, held by the call future until it
         * completes or is dropped. */
        int rc = ar_closure_call_at(s->handler, AR_FN, call, s->call_size, &arg, sizeof arg,
                                    AR_HERE);
        if (rc < 0) {
            /* The closure was dropped or never valid: nothing to serve. */
            conn_end(self);
            return AR_READY;
        }
    }
    if (ar_call_poll(call, cx) == AR_PENDING)
        return AR_PENDING;
    conn_end(self);
    return AR_READY;
}

static void conn_drop(void *p)
{
    conn_task *self = p;
    if (self->started)
        ar_call_drop(conn_call(self)); /* gives the borrow back; idempotent */
    conn_end(self);
}

/* ---- acceptor -------------------------------------------------------------- */

typedef struct acceptor {
    ar_co co;
    srv *s;
    bool short_of_fds; /* an EMFILE episode was logged and has not ended */
    ar_accept_stream acc;
} acceptor;

/* Over the cap: say so without waiting (a full socket buffer just loses the
 * message), then close. */
static void refuse(srv *s, int fd)
{
    if (s->opts.reject_msg)
        (void)!send(fd, s->opts.reject_msg, strlen(s->opts.reject_msg),
                    MSG_DONTWAIT | MSG_NOSIGNAL);
    close(fd);
    atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
}

static ar_poll acceptor_poll(void *p, ar_cx *cx)
{
    acceptor *self = p;
    srv *s = self->s;
    AR_BEGIN(&self->co);
    ar_accept_stream_init(&self->acc, s->lfd, SOCK_CLOEXEC);
    for (;;) {
        AR_AWAIT(ar_accept_stream_next(&self->acc, cx));
        int fd = self->acc.res;
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS) {
                /* The stream backs off by itself (1 ms doubling to 1 s):
                 * the next `next` simply waits.  Log once per episode. */
                if (!self->short_of_fds)
                    fprintf(stderr, "%s: accept: %s; backing off\n", s->opts.name,
                            ar_strerror(fd));
                self->short_of_fds = true;
                continue;
            }
            if (fd != -ECANCELED)
                fprintf(stderr, "%s: accept stream ended: %s\n", s->opts.name, ar_strerror(fd));
            break;
        }
        self->short_of_fds = false;
        atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
        if (atomic_load_explicit(&s->conns, memory_order_relaxed) >= s->opts.max_conns) {
            refuse(s, fd);
            continue;
        }
        atomic_fetch_add_explicit(&s->conns, 1, memory_order_relaxed);
        conn_task *t = s->conn_template;
        t->s = s;
        t->fd = fd;
        t->started = 0;
        t->linked = 0;
        if (ar_spawn_named(NULL, "srv_conn", &s->conn_vt, t, NULL) < 0) {
            close(fd);
            atomic_fetch_sub_explicit(&s->conns, 1, memory_order_relaxed);
        }
    }
    ar_accept_stream_drop(&self->acc);
    AR_END;
}
static void acceptor_drop(void *p) { ar_accept_stream_drop(&((acceptor *)p)->acc); }
static const ar_future_vt acceptor_vt = AR_FUTURE_VT_VOID(acceptor, acceptor_poll, acceptor_drop);

/* ---- signals and the dump -------------------------------------------------- */

/* Runs on the blocking pool: a dump that waits for every worker must not
 * run on one. */
static void *dump_job(void *arg)
{
    srv *s = arg;
    ar_rt_metrics m;
    if (ar_rt_metrics_read(s->rt, &m) == 0)
        fprintf(stderr,
                "%s: dump: %u workers, %llu tasks alive (%u connections open, %lu accepted, "
                "%lu refused), %llu polls, %llu steals, %llu parks, io %llu/%llu, "
                "queues %u+%u\n",
                s->opts.name, m.workers, (unsigned long long)m.tasks_alive,
                srv_conn_count(s), atomic_load(&s->accepted), atomic_load(&s->refused),
                (unsigned long long)m.polls, (unsigned long long)m.steals,
                (unsigned long long)m.parks, (unsigned long long)m.io_submitted,
                (unsigned long long)m.io_completed, m.queue_depth, m.injection_depth);
    /* Blocks until every worker listed its tasks: never on a worker. */
    int n = ar_rt_dump_tasks(s->rt, stderr);
    if (n < 0)
        fprintf(stderr, "%s: task dump: %s\n", s->opts.name, ar_strerror(n));
    return NULL;
}

typedef struct signals {
    ar_co co;
    srv *s;
    ar_signal sig;
    ar_blocking dump;
} signals;

static ar_poll signals_poll(void *p, ar_cx *cx)
{
    signals *self = p;
    AR_BEGIN(&self->co);
    for (;;) {
        AR_AWAIT(ar_signal_poll(&self->sig, cx));
        if (self->sig.res < 0) {
            fprintf(stderr, "%s: signals: %s\n", self->s->opts.name, ar_strerror(self->sig.res));
            break;
        }
        if (self->sig.res == SIGUSR1) {
            if (ar_spawn_blocking(NULL, dump_job, self->s, &self->dump) < 0)
                continue;
            AR_AWAIT(ar_blocking_poll(&self->dump, cx));
            ar_blocking_drop(&self->dump);
            continue;
        }
        fprintf(stderr, "%s: %s: stopping (open connections get %u ms)\n", self->s->opts.name,
                strsignal(self->sig.res), self->s->opts.shutdown_timeout_ms);
        srv_stop(self->s);
    }
    AR_END;
}
static void signals_drop(void *p)
{
    signals *self = p;
    ar_blocking_drop(&self->dump);
    ar_signal_drop(&self->sig);
}
static const ar_future_vt signals_vt = AR_FUTURE_VT_VOID(signals, signals_poll, signals_drop);

/* ---- lifecycle ----------------------------------------------------------------- */

/* End a task that never ends by itself; its join handle is consumed. */
static void abort_and_wait(ar_join *j)
{
    (void)ar_join_abort(j);
    (void)ar_join_wait(j, NULL, 0); /* -ECANCELED, or its result if it had ended */
}

int srv_start(srv *s, const srv_opts *opts, ar_closure *handler)
{
    if (!s || !opts || !handler || opts->workers < 1 || opts->max_conns < 1)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    s->opts = *opts;
    s->handler = handler;
    s->lfd = -1;
    /* The handler must be an AsyncFn taking a srv_conn: every connection
     * borrows it shared. */
    if (ar_closure_kind(handler) != AR_FN)
        return -EINVAL;
    s->call_size = ar_closure_future_size(handler, AR_FN);
    if (s->call_size == 0)
        return -EINVAL;
    s->call_off = (sizeof(conn_task) + CALL_ALIGN - 1) & ~(size_t)(CALL_ALIGN - 1);
    s->conn_vt = (ar_future_vt){.poll = conn_poll,
                                .drop = conn_drop,
                                .name = "srv_conn",
                                .size = (uint32_t)(s->call_off + s->call_size)};
    s->conn_template = calloc(1, s->conn_vt.size);
    if (!s->conn_template)
        return -ENOMEM;
    pthread_mutex_init(&s->stop_lock, NULL);
    pthread_cond_init(&s->stop_cond, NULL);
    pthread_mutex_init(&s->conns_lock, NULL);
    /* The stop path's barrier (srv_conn_idle): one membarrier there
     * instead of a fence in every handler's idle mark.  Registering is
     * per process and idempotent; a kernel without it (< 4.14) or a
     * seccomp filter refusing it leaves both sides fencing. */
    s->asym_fence = !opts->force_fences &&
                    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;

    int rc;
    s->lfd = opts->bind ? ar_tcp_listen(opts->bind, opts->port, LISTEN_BACKLOG)
                        : listen_any(opts->port);
    if (s->lfd < 0) {
        rc = s->lfd;
        goto fail;
    }
    rc = ar_tcp_local_port(s->lfd);
    if (rc < 0)
        goto fail;
    s->port = (uint16_t)rc;

    ar_rt_opts ro;
    ar_rt_opts_init(&ro);
    ro.workers = opts->workers;
    ro.task_sites = opts->task_sites;
    if ((rc = ar_rt_new(&s->rt, &ro)) < 0)
        goto fail;
    if (opts->handle_signals) {
        signals sg = {.s = s};
        rc = ar_signal_init(&sg.sig, SIGINT);
        if (rc == 0)
            rc = ar_signal_add(&sg.sig, SIGTERM);
        if (rc == 0)
            rc = ar_signal_add(&sg.sig, SIGUSR1);
        if (rc == 0)
            rc = ar_spawn_named(s->rt, "srv_signals", &signals_vt, &sg, &s->signals);
        if (rc < 0) {
            ar_signal_drop(&sg.sig);
            goto fail;
        }
    }
    acceptor a = {.s = s};
    if ((rc = ar_spawn_named(s->rt, "srv_acceptor", &acceptor_vt, &a, &s->acceptor)) < 0) {
        if (opts->handle_signals)
            abort_and_wait(&s->signals);
        goto fail;
    }
    s->started = true;
    return 0;
fail:
    if (s->rt) {
        ar_rt_free(s->rt);
        s->rt = NULL;
    }
    if (s->lfd >= 0)
        close(s->lfd);
    s->lfd = -1;
    free(s->conn_template);
    s->conn_template = NULL;
    pthread_mutex_destroy(&s->stop_lock);
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->conns_lock);
    return rc;
}

uint16_t srv_port(const srv *s) { return s->port; }
ar_rt *srv_rt(const srv *s) { return s->rt; }
uint32_t srv_conn_count(const srv *s)
{
    return atomic_load_explicit(&s->conns, memory_order_relaxed);
}

int srv_spawn_background(srv *s, const ar_future_vt *vt, const void *fut)
{
    if (s->nbackground >= SRV_MAX_BACKGROUND)
        return -ENOSPC;
    int rc = ar_spawn_named(s->rt, vt->name, vt, fut, &s->background[s->nbackground]);
    if (rc == 0)
        s->nbackground++;
    return rc;
}

void srv_stop(srv *s)
{
    /* Pairs with the acquire load in srv_draining. */
    atomic_store_explicit(&s->draining, true, memory_order_release);
    pthread_mutex_lock(&s->stop_lock);
    s->stop_req = true;
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
}

bool srv_draining(const srv *s)
{
    return atomic_load_explicit(&s->draining, memory_order_acquire);
}

/* Step 3 of the stop protocol: end the connections idle between requests.
 * The stop side of srv_conn_idle's Dekker pair: store draining, barrier,
 * then read each link's state. */
static void shut_idle_conns(srv *s)
{
    /* Stored here again, on this thread, so the pair's store and load are
     * in one thread's program order whoever called srv_stop. */
    atomic_store_explicit(&s->draining, true, memory_order_seq_cst);
    /* With membarrier the handlers' stores are relaxed and this call is
     * the barrier of both sides.  Without it (asym_fence false) the seq_cst
     * store above and loads below pair with the handlers' seq_cst ones.
     * Should membarrier fail after a successful registration (it does
     * not), a handler that only had a compiler barrier may be missed: it
     * then ends at the timeout, never wrongly. */
    if (s->asym_fence)
        (void)syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    uint32_t n = 0;
    pthread_mutex_lock(&s->conns_lock);
    for (srv_link *l = s->conns_head; l; l = l->next) {
        if (atomic_load_explicit(&l->state, memory_order_seq_cst) != SRV_CONN_IDLE)
            continue;
        /* Bytes waiting in the kernel: a request is arriving; its handler
         * will mark the connection busy, answer, then see draining. */
        int queued = 0;
        if (ioctl(l->fd, FIONREAD, &queued) == 0 && queued > 0)
            continue;
        /* The pending receive returns 0; writing still works. */
        if (shutdown(l->fd, SHUT_RD) == 0)
            n++;
    }
    pthread_mutex_unlock(&s->conns_lock);
    s->shut_idle = n;
}

int srv_wait(srv *s)
{
    if (!s || !s->started)
        return -EINVAL;
    if (ar_rt_current())
        return -EDEADLK;
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stop_req)
        pthread_cond_wait(&s->stop_cond, &s->stop_lock);
    pthread_mutex_unlock(&s->stop_lock);

    /* Step 2 of the stop protocol. */
    abort_and_wait(&s->acceptor);
    close(s->lfd);
    s->lfd = -1;
    /* Step 3: the idle connections end now. */
    shut_idle_conns(s);
    if (s->opts.handle_signals)
        abort_and_wait(&s->signals);
    for (uint32_t i = 0; i < s->nbackground; i++)
        abort_and_wait(&s->background[i]);

    /* Step 5: the connections get the timeout, then are dropped. */
    int rc = ar_rt_shutdown_timeout(s->rt, s->opts.shutdown_timeout_ms);

    /* Step 6: no task is left, so no call borrows the handler. */
    int drc = ar_closure_try_drop(s->handler);
    if (drc < 0) {
        fprintf(stderr, "%s: handler still borrowed after shutdown: %s\n", s->opts.name,
                ar_strerror(drc));
        rc = drc;
    }
    ar_rt_free(s->rt);
    s->rt = NULL;
    free(s->conn_template);
    s->conn_template = NULL;
    pthread_mutex_destroy(&s->stop_lock);
    pthread_cond_destroy(&s->stop_cond);
    pthread_mutex_destroy(&s->conns_lock);
    s->started = false;
    return rc;
}

int srv_main(const srv_opts *opts, ar_closure *handler)
{
    srv s;
    int rc = srv_start(&s, opts, handler);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot start on port %u: %s\n", opts->name, opts->port,
                ar_strerror(rc));
        ar_closure_try_drop(handler);
        return 1;
    }
    if (!opts->quiet)
        fprintf(stderr, "%s: listening on port %u (%u workers, %s, max %u connections)\n",
                opts->name, srv_port(&s), opts->workers, ar_rt_io_backend(s.rt), opts->max_conns);
    rc = srv_wait(&s);
    if (rc == -ETIMEDOUT)
        fprintf(stderr, "%s: stopped; connections still open after %u ms were closed\n",
                opts->name, opts->shutdown_timeout_ms);
    return rc < 0 && rc != -ETIMEDOUT ? 1 : 0;
}
