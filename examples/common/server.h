/*
 * examples/common/server.h - the skeleton every example server is built on
 * (issue 7, "Shape"): flags, a listening socket, an accept loop, one task per
 * connection running an AR_FN closure, a connection cap, graceful stop.
 *
 * A server is a handler closure of kind AR_FN whose argument is a srv_conn
 * and whose output is ar_unit:
 *
 *     typedef struct { ar_co co; srv_conn arg; ar_unit out; ... } echo_frame;
 *     AR_CLOSURE(echo, AR_FN, echo_env, echo_frame, echo_body, echo_frame_drop, NULL);
 *
 *     srv_opts o;
 *     srv_opts_init(&o);
 *     if (srv_opts_parse(&o, argc, argv, NULL, NULL) < 0) return 2;
 *     echo h = AR_CLOSURE_NEW(echo, {...});
 *     return srv_main(&o, &h.base);       // runs until SIGINT / SIGTERM
 *
 * What the skeleton does (and the handler therefore does not):
 *   1. Listens on --bind (default "::" with IPV6_V6ONLY off, so IPv4 and
 *      IPv6 clients alike; "0.0.0.0" where the host has no IPv6), with
 *      SO_REUSEADDR, on --port (0: a free one, srv_port tells which).
 *   2. Accepts with a multishot accept stream (asyncrt/stream.h), which on
 *      EMFILE/ENFILE backs off (1 ms doubling to 1 s) instead of spinning.
 *   3. Runs each connection as one task that calls the handler by ar_call
 *      (a SHARED borrow of the closure: the environment, i.e. the
 *      configuration, routes or store, is read by every connection at once)
 *      and owns the descriptor: it sets TCP_NODELAY before the call and
 *      closes the descriptor after the call ends or is dropped.  The
 *      handler never closes conn.fd.
 *   4. Caps open connections at --max-conns: one over the cap gets
 *      opts.reject_msg (if any) written without waiting, then is closed.
 *   5. On SIGINT or SIGTERM (or srv_stop): stops accepting (the acceptor
 *      task is aborted and the listening socket closed), sets the draining
 *      flag that handlers read between requests (srv_draining) to end
 *      their connection at the next request boundary, waits up to
 *      --shutdown-timeout-ms for the connection tasks to end by themselves,
 *      shuts the runtime down (dropping the connections left: each call's
 *      borrow is given back when its future is dropped), and only then
 *      drops the handler closure, which runs its env_drop: the environment
 *      is freed once no borrow of it is left (ar_closure_try_drop would
 *      refuse it before).
 *   6. On SIGUSR1 prints the runtime's metrics and its task dump
 *      (ar_rt_dump_tasks: every live task with its state and name:
 *      srv_acceptor, srv_signals, srv_conn, the background tasks) on
 *      stderr, from a blocking-pool job (the dump waits for every worker).
 *
 * Threads: srv_start / srv_stop / srv_wait are called from plain threads,
 * never from a task (srv_wait blocks; it returns -EDEADLK inside a task).
 */
#ifndef EXAMPLES_SERVER_H
#define EXAMPLES_SERVER_H

#include <asyncrt.h>
#include <asyncrt/closure.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of the flags. */
#define SRV_DEFAULT_MAX_CONNS 10000u
#define SRV_DEFAULT_SHUTDOWN_TIMEOUT_MS 5000u
/* Background tasks (srv_spawn_background) a server may have. */
#define SRV_MAX_BACKGROUND 8

typedef struct srv_opts {
    const char *bind;             /* --bind ADDR: numeric IPv4/IPv6; NULL: "::" (dual stack) */
    uint16_t port;                /* --port P (0: a free port) */
    uint32_t workers;             /* --workers N (>= 1; default 1) */
    uint32_t max_conns;           /* --max-conns N (>= 1) */
    uint32_t shutdown_timeout_ms; /* --shutdown-timeout-ms MS */
    bool quiet;                   /* --quiet: no "listening on" line */
    bool task_sites;              /* --task-sites: the SIGUSR1 dump shows where
                                     each task was spawned (ar_rt_opts) */
    bool handle_signals;          /* srv_start listens for SIGINT/SIGTERM/SIGUSR1
                                     (srv_opts_init: true; tests turn it off) */
    const char *name;             /* program name for messages (argv[0]) */
    /* Written to a connection refused over the cap (NULL: close silently);
     * e.g. "-ERR max number of clients reached\r\n". */
    const char *reject_msg;
} srv_opts;

struct srv;

/* The argument of every handler call: the connection's descriptor (owned by
 * the skeleton: do not close it) and its server (for srv_draining). */
typedef struct srv_conn {
    int fd;
    struct srv *srv;
} srv_conn;

/*
 * A server.  Embedded by value by its owner; the members are private, read
 * them through the functions below.  Lifetime: from srv_start to the end of
 * srv_wait; the handler closure must outlive srv_wait (the skeleton drops
 * it, but its storage is the caller's).
 */
typedef struct srv {
    srv_opts opts;
    ar_rt *rt;
    ar_closure *handler;
    int lfd;
    uint16_t port;
    /* Open connections: incremented by the acceptor before the spawn,
     * decremented by the connection task when it ends or is dropped
     * (relaxed: a count, nothing is published through it). */
    atomic_uint conns;
    atomic_ulong accepted, refused;
    /* Set once by srv_stop (release), read by handlers (acquire). */
    atomic_bool draining;
    /* Stop request: stop_req under stop_lock, stop_cond signalled. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stop_req;
    bool started;
    ar_join acceptor, signals;
    ar_join background[SRV_MAX_BACKGROUND];
    uint32_t nbackground;
    /* The connection task's vtable: its size depends on the handler's
     * call future, known only at run time (ar_closure_future_size). */
    ar_future_vt conn_vt;
    void *conn_template; /* conn_vt.size zeroed bytes, the acceptor's */
    size_t call_off, call_size;
} srv;

/* Fill o with the defaults (port 6380 is not a default: port 0). */
void srv_opts_init(srv_opts *o);

/*
 * Parse --port, --workers, --max-conns, --shutdown-timeout-ms, --bind,
 * --quiet.  An argument it does not know goes to extra(ud, argc, argv, i),
 * which returns how many arguments it consumed (>= 1) or -1 (unknown:
 * usage error).  extra NULL: unknown arguments are errors.  Prints the
 * problem on stderr and returns -EINVAL on a bad or missing value; 0 on
 * success.  -h/--help prints usage and returns -ECANCELED.
 */
int srv_opts_parse(srv_opts *o, int argc, char **argv,
                   int (*extra)(void *ud, int argc, char **argv, int i), void *ud);

/* The usage line of the common flags, for a program's own help. */
extern const char srv_usage[];

/*
 * Create the runtime (opts.workers workers), listen, and start accepting;
 * each connection calls `handler` (an AR_FN closure taking srv_conn).
 * Returns 0 or a negative errno (-EINVAL: a handler of another kind or
 * argument size; a listen error such as -EADDRINUSE), with nothing left
 * behind on error.
 */
int srv_start(srv *s, const srv_opts *opts, ar_closure *handler);

/* The port it listens on (after srv_start). */
uint16_t srv_port(const srv *s);
/* The runtime (after srv_start): to spawn a server's own tasks. */
ar_rt *srv_rt(const srv *s);

/* Spawn a task that runs as long as the server (a store's expiry timer):
 * aborted when the server stops, before the connections are waited for.
 * Returns 0, -ENOSPC (SRV_MAX_BACKGROUND already), or ar_spawn's error. */
int srv_spawn_background(srv *s, const ar_future_vt *vt, const void *fut);

/* Ask the server to stop (what SIGINT/SIGTERM do).  Any thread or task. */
void srv_stop(srv *s);

/* True once the server is stopping: a handler ends its connection at the
 * next request boundary.  A task may call it. */
bool srv_draining(const srv *s);

/* Open connections now (a snapshot). */
uint32_t srv_conn_count(const srv *s);

/*
 * Block until a stop is asked (srv_stop or a signal), then shut down as in
 * step 5 above.  Returns 0 when every connection ended by itself within
 * the timeout, -ETIMEDOUT when some were dropped, -EDEADLK from a task,
 * or the handler's drop error (should not happen).
 */
int srv_wait(srv *s);

/* srv_start, a "listening" line on stderr, srv_wait.  Returns the exit
 * status for main: 0, or 1 with the error printed. */
int srv_main(const srv_opts *opts, ar_closure *handler);

#ifdef __cplusplus
}
#endif

#endif
