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
 *      flag (srv_draining), and ends at once every connection that is idle
 *      between two requests: a handler tells the skeleton where its
 *      request boundaries are (srv_conn_idle before it waits for the next
 *      request, srv_conn_busy once bytes of one arrived), and the stop
 *      shuts the reading side (shutdown SHUT_RD) of each connection marked
 *      idle, so its pending receive returns 0 and the handler ends the
 *      connection; a handler that marks itself idle after that scan is
 *      told by srv_conn_idle's result to end by itself.  A connection in
 *      the middle of a request (part of it read, or its answer being
 *      written) is left alone and finishes it.  Then the skeleton waits up
 *      to --shutdown-timeout-ms for the connection tasks to end, shuts the
 *      runtime down (dropping the connections left: each call's borrow is
 *      given back when its future is dropped), and only then drops the
 *      handler closure, which runs its env_drop: the environment is freed
 *      once no borrow of it is left (ar_closure_try_drop would refuse it
 *      before).  A handler that never calls srv_conn_idle is never shut:
 *      it ends at its own next boundary (srv_draining) or at the timeout.
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
    bool force_fences;            /* srv_conn_idle fences even where membarrier
                                     works (tests: the fallback's path) */
    const char *name;             /* program name for messages (argv[0]) */
    /* Written to a connection refused over the cap (NULL: close silently);
     * e.g. "-ERR max number of clients reached\r\n". */
    const char *reject_msg;
} srv_opts;

struct srv;

/*
 * One open connection in the server's registry (the skeleton's; it lives
 * in the connection task, which does not move).  Linked by the connection
 * task under srv.conns_lock before the handler's call starts, unlinked
 * under it BEFORE the descriptor is closed: so the stop path, which holds
 * conns_lock while it shuts idle connections, never touches a closed (or
 * closed and reused) descriptor.
 *
 * state: written by the handler's task only (srv_conn_idle/busy, relaxed
 * stores: one per request boundary, no locked instruction), read by the
 * stop path (srv_wait, under conns_lock).  The Dekker pair that makes the
 * idle mark race-free is described at srv_conn_idle.
 */
typedef struct srv_link {
    struct srv_link *prev, *next; /* under srv.conns_lock */
    int fd;                       /* the connection's; constant while linked */
    _Atomic unsigned char state;  /* SRV_CONN_BUSY / SRV_CONN_IDLE */
} srv_link;

enum { SRV_CONN_BUSY = 0, SRV_CONN_IDLE = 1 };

/* The argument of every handler call: the connection's descriptor (owned by
 * the skeleton: do not close it), its server (for srv_draining) and its
 * registry entry (for srv_conn_idle / srv_conn_busy). */
typedef struct srv_conn {
    int fd;
    struct srv *srv;
    srv_link *link;
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
    /* Set by srv_stop (release) and again by srv_wait before it scans the
     * registry; read by handlers (acquire: srv_draining, srv_conn_idle). */
    atomic_bool draining;
    /* How srv_conn_idle orders its store before its load: true when the
     * process registered for membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
     * so the stop path's membarrier stands in for the handler's fence
     * (a compiler barrier is enough there); false: seq_cst accesses on
     * both sides.  Written by srv_start before any task runs, then
     * read-only. */
    bool asym_fence;
    /* The registry of open connections (srv_link): conns_head and every
     * link's prev/next under conns_lock. */
    pthread_mutex_t conns_lock;
    srv_link *conns_head;
    /* Idle connections srv_wait shut at the stop (for tests and logs). */
    uint32_t shut_idle;
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

/* Ask the server to stop (what SIGINT/SIGTERM do).  Any thread or task.
 * It sets the draining flag and wakes srv_wait, which runs the stop
 * (closing the listener, ending the idle connections, waiting for the
 * rest): until srv_wait runs, idle connections stay open. */
void srv_stop(srv *s);

/* True once the server is stopping: a handler ends its connection at the
 * next request boundary (srv_conn_idle reads it too).  A task may call it. */
bool srv_draining(const srv *s);

/*
 * Request boundaries, called by a handler on its own srv_conn.
 *
 * srv_conn_idle: the connection is between two requests (nothing of the
 * next one read, every answer written) and is about to wait for the next.
 * Returns false when the server is stopping: end the connection now.
 * Returns true otherwise; if a stop comes while the connection waits, the
 * skeleton shuts its reading side and the pending receive returns 0 (EOF).
 *
 * Why one of the two always happens (a Dekker pair):
 *   handler:  state = IDLE; barrier; load draining
 *   stop:     draining = true; barrier; load state (of every link)
 * With a barrier between each side's store and load, at least one side
 * sees the other's store: the handler sees draining (and ends by itself)
 * or the stop sees IDLE (and shuts the connection), or both (harmless).
 * The handler's barrier is only a compiler barrier when the stop side
 * issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full
 * fence on every thread of the process (srv.asym_fence), so the hot path
 * has no locked instruction; without membarrier every one of the four
 * accesses is seq_cst (the handler's store is then one xchg on x86).
 *
 * srv_conn_busy: bytes of a request arrived; the connection is not shut
 * by a stop until it marks itself idle again (a relaxed store: the stop
 * reading a stale IDLE here is the race of a request arriving as the stop
 * runs, see server.c).
 *
 * A new connection starts BUSY: a handler that never calls these is never
 * shut by the skeleton (it ends at its next srv_draining check or at the
 * timeout).
 */
static inline bool srv_conn_idle(const srv_conn *c)
{
    if (c->srv->asym_fence) {
        atomic_store_explicit(&c->link->state, SRV_CONN_IDLE, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the stop's membarrier fences us */
        return !atomic_load_explicit(&c->srv->draining, memory_order_acquire);
    }
    /* Without membarrier: a seq_cst store and a seq_cst load (the stop's
     * store and loads are seq_cst too), so the four are in one total order
     * that keeps each side's program order. */
    atomic_store_explicit(&c->link->state, SRV_CONN_IDLE, memory_order_seq_cst);
    return !atomic_load_explicit(&c->srv->draining, memory_order_seq_cst);
}

static inline void srv_conn_busy(const srv_conn *c)
{
    atomic_store_explicit(&c->link->state, SRV_CONN_BUSY, memory_order_relaxed);
}

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
