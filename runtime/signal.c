/*
 * runtime/signal.c - signals as futures (see asyncrt/signal.h).
 *
 * Listener slots (process-wide, AR_SIGNAL_MAX of them):
 *   mask     the signals the slot's listener wants.  Written (release) by
 *            the listener under `mu` when it claims the slot, adds a
 *            signal or leaves; read (acquire) by the handler, on any
 *            thread, to decide whether to tell the slot.
 *   pending  signals delivered to the slot and not yet taken: the handler
 *            ORs bits in (release) before it writes the wake-up byte; the
 *            listener takes them all with an exchange (acquire).  So a
 *            listener that finds no bit and then waits for a byte cannot
 *            miss a delivery: the bit was set before the byte was written.
 *   rfd/wfd  the slot's socket pair, created under `mu` before the slot's first
 *            mask store (release) and never closed or changed afterwards:
 *            a handler that read an old mask can at worst write a stale
 *            byte into a socket that now serves another listener, which
 *            then sees no bit of its own and waits again.
 *   used     under `mu` only.
 * Stale bits from a previous listener are cleared when a slot is claimed,
 * and a listener only takes the bits of its own mask.
 *
 * Waiting: the listener waits for the slot's socket to hold a byte with a
 * peeking recv (MSG_PEEK), then drains the socket itself with
 * non-blocking recvs on its own thread.  A wait consumes nothing, so a
 * listener dropped while its wait is still in flight on another worker's
 * ring (the cancel reaches that ring later) cannot swallow the byte meant
 * for the slot's next listener: that stale wait completes, or is
 * cancelled, with the byte left in place.  (A socket pair and not a pipe:
 * pipes cannot be peeked.)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "asyncrt/signal.h"

typedef struct sig_slot {
    _Atomic uint64_t mask;
    _Atomic uint64_t pending;
    int rfd, wfd;
    bool used, created;
} sig_slot;

static sig_slot slots[AR_SIGNAL_MAX];
static uint64_t installed; /* signals whose handler is in place; under mu */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static inline uint64_t bit_of(int signo) { return 1ull << (signo - 1); }

/* Async-signal-safe: lock-free atomics and write(2) only. */
static void on_signal(int signo)
{
    int saved = errno;
    uint64_t bit = bit_of(signo);
    for (int i = 0; i < AR_SIGNAL_MAX; i++) {
        sig_slot *s = &slots[i];
        if (!(atomic_load_explicit(&s->mask, memory_order_acquire) & bit))
            continue;
        atomic_fetch_or_explicit(&s->pending, bit, memory_order_release);
        /* Non-blocking: a full socket is readable already. */
        ssize_t n = write(s->wfd, "s", 1);
        (void)n;
    }
    errno = saved;
}

static bool listenable(int signo)
{
    if (signo < 1 || signo > 64)
        return false;
    switch (signo) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
        return false;
    default:
        return true;
    }
}

/* Install the handler of signo once per process (mu held). */
static int install(int signo)
{
    if (installed & bit_of(signo))
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, NULL) != 0)
        return -errno;
    installed |= bit_of(signo);
    return 0;
}

static void set_inert(ar_signal *s, int err)
{
    memset(s, 0, sizeof *s);
    s->slot = -1;
    s->res = err;
}

int ar_signal_init(ar_signal *s, int signo)
{
    if (!s)
        return -EINVAL;
    if (!listenable(signo)) {
        set_inert(s, -EINVAL);
        return -EINVAL;
    }
    pthread_mutex_lock(&mu);
    int rc = install(signo);
    int idx = -1;
    for (int i = 0; rc == 0 && i < AR_SIGNAL_MAX; i++) {
        if (!slots[i].used) {
            idx = i;
            break;
        }
    }
    if (rc == 0 && idx < 0)
        rc = -EMFILE;
    sig_slot *sl = idx >= 0 ? &slots[idx] : NULL;
    if (rc == 0 && sl && !sl->created) {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
            rc = errno == ENFILE ? -EMFILE : -errno;
        } else {
            /* The handler's end never blocks; the reactor's end stays
             * blocking so that io_uring waits for data instead of
             * answering -EAGAIN (the drain asks for MSG_DONTWAIT). */
            (void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
            sl->rfd = fds[0];
            sl->wfd = fds[1];
            sl->created = true;
        }
    }
    if (rc == 0 && sl) {
        sl->used = true;
        atomic_store_explicit(&sl->pending, 0, memory_order_relaxed);
        /* release: publishes rfd/wfd (and the cleared pending) to the
         * handler's acquire load of mask. */
        atomic_store_explicit(&sl->mask, bit_of(signo), memory_order_release);
    }
    pthread_mutex_unlock(&mu);
    if (rc != 0) {
        set_inert(s, rc);
        return rc;
    }
    memset(s, 0, sizeof *s);
    s->slot = idx;
    s->mask = bit_of(signo);
    return 0;
}

int ar_signal_add(ar_signal *s, int signo)
{
    if (!s)
        return -EINVAL;
    if (s->slot < 0)
        return -EBADF;
    if (!listenable(signo))
        return -EINVAL;
    pthread_mutex_lock(&mu);
    int rc = install(signo);
    if (rc == 0)
        atomic_fetch_or_explicit(&slots[s->slot].mask, bit_of(signo), memory_order_release);
    pthread_mutex_unlock(&mu);
    if (rc == 0)
        s->mask |= bit_of(signo);
    return rc;
}

ar_poll ar_signal_poll(ar_signal *s, ar_cx *cx)
{
    if (s->slot < 0) /* res: the error of init, or -EBADF after a drop */
        return AR_READY;
    sig_slot *sl = &slots[s->slot];
    for (;;) {
        s->got |= atomic_exchange_explicit(&sl->pending, 0, memory_order_acquire) & s->mask;
        if (s->got) {
            s->res = __builtin_ctzll(s->got) + 1;
            s->got &= s->got - 1;
            return AR_READY;
        }
        if (!s->reading) {
            ar_io_recv(&s->io, sl->rfd, s->buf, sizeof s->buf, MSG_PEEK);
            s->reading = 1;
        }
        if (ar_io_poll(&s->io, cx) == AR_PENDING)
            return AR_PENDING;
        s->reading = 0;
        int64_t r = s->io.res;
        if (r == 0)
            r = -EPIPE; /* cannot happen: the write end is never closed */
        if (r < 0 && r != -EINTR && r != -EAGAIN) {
            s->res = (int)r;
            return AR_READY;
        }
        /* Take the bytes now that they told us to look.  Bits set after
         * this drain come with a byte written after it, which the next
         * wait sees; bits set before it are taken by the exchange above
         * on the next turn of the loop. */
        while (r > 0 && recv(sl->rfd, s->buf, sizeof s->buf, MSG_DONTWAIT) > 0)
            ;
    }
}

void ar_signal_drop(ar_signal *s)
{
    if (!s || s->slot < 0)
        return;
    if (s->reading)
        ar_io_drop(&s->io);
    pthread_mutex_lock(&mu);
    /* release: the slot's next owner claims it under mu anyway; the store
     * stops the handler from telling a slot nobody listens on. */
    atomic_store_explicit(&slots[s->slot].mask, 0, memory_order_release);
    slots[s->slot].used = false;
    pthread_mutex_unlock(&mu);
    s->slot = -1;
    s->reading = 0;
    s->res = -EBADF;
}
