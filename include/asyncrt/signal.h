/*
 * asyncrt/signal.h - POSIX signals as futures (Tokio's tokio::signal).
 *
 *     ar_signal sig;
 *     ar_signal_init(&sig, SIGINT);          // listen from now on
 *     ar_signal_add(&sig, SIGTERM);          // ... to one more signal
 *     AR_AWAIT(ar_signal_poll(&sig, cx));    // sig.res: SIGINT or SIGTERM
 *     AR_AWAIT(ar_signal_poll(&sig, cx));    // the next delivery
 *     ar_signal_drop(&sig);
 *
 * A listener is a stream: each ar_signal_poll that returns AR_READY reports
 * one signal delivered since the listener was created or since its last
 * report, in `res` (the signal number, or -errno).  Deliveries of one
 * signal that arrive before they are reported coalesce into one report, as
 * the kernel coalesces pending signals; distinct signals are reported one
 * by one, lowest number first.  Any number of listeners may wait for the
 * same signal, on any workers: each is told.
 *
 * How: the first listener of a signal installs a process-wide handler
 * (sigaction, SA_RESTART) that marks the signal pending in every listener
 * of it and writes a byte to that listener's socket (a socket pair); the
 * listener waits for the byte through the reactor with a peeking recv, then
 * drains it.  Like Tokio, the handler stays
 * installed for the life of the process: once a program has listened for
 * SIGINT, a SIGINT nobody listens for no longer terminates it.  Sockets are
 * created on first use and reused by later listeners, never closed, so a
 * handler can never write into a descriptor that was closed and reused
 * (AR_SIGNAL_MAX listeners at once, two descriptors each at most).
 *
 * Signals that cannot be listened for: SIGKILL and SIGSTOP (the kernel
 * forbids it), and the synchronous fault signals SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL and SIGTRAP (a handler that returns would re-run the faulting
 * instruction).  The poll needs a runtime with I/O (it reads through the
 * reactor); elsewhere res is -ENOSYS.
 */
#ifndef ASYNCRT_SIGNAL_H
#define ASYNCRT_SIGNAL_H

#include <stdint.h>

#include "future.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Listeners that may exist at once in a process. */
#define AR_SIGNAL_MAX 128

typedef struct ar_signal {
    int res;        /* once ready: the signal delivered, or -errno */
    int slot;       /* private: listener slot, -1 when none */
    uint64_t mask;  /* private: the signals listened for (bit signo-1) */
    uint64_t got;   /* private: delivered, not yet reported */
    ar_io io;       /* private: the wait on the slot's socket */
    int reading;    /* private: io is in flight */
    unsigned char buf[32]; /* private: bytes drained from the socket */
} ar_signal;

/*
 * Start listening for signo.  Returns 0, or (and then the listener is
 * inert: poll gives res = the error, drop does nothing):
 *   -EINVAL   signo out of 1..64, or one that cannot be listened for;
 *   -EMFILE   AR_SIGNAL_MAX listeners exist already, or no descriptor
 *             was left for the listener's socket pair;
 *   -errno    sigaction failed.
 */
AR_EXTERN int ar_signal_init(ar_signal *s, int signo);

/* Listen to one more signal with the same listener (same errors; -EBADF
 * for a listener that failed or was dropped). */
AR_EXTERN int ar_signal_add(ar_signal *s, int signo);

/* AR_READY with s->res = the next signal delivered, or -errno (the error
 * of init, -ENOSYS without a reactor, an error reading the socket). */
AR_EXTERN ar_poll ar_signal_poll(ar_signal *s, ar_cx *cx);

/* Stop listening and free the slot.  Safe in any state, idempotent. */
AR_EXTERN void ar_signal_drop(ar_signal *s);

#ifdef __cplusplus
}
#endif

#endif
