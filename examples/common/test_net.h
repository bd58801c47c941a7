/*
 * examples/common/test_net.h - blocking client helpers for the example
 * servers' end-to-end tests: connect, write all, read exactly / until EOF,
 * each bounded by a receive timeout so a broken server fails the test
 * instead of hanging it.
 */
#ifndef EXAMPLES_TEST_NET_H
#define EXAMPLES_TEST_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Seconds a blocking read waits before the helper reports -ETIMEDOUT. */
#define TN_RECV_TIMEOUT_S 20

/* A connected TCP socket to ip:port (IPv4 or IPv6), or -errno. */
static inline int tn_connect(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        len = sizeof *a6;
    } else {
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {TN_RECV_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Write all of buf; 0 or -errno. */
static inline int tn_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int tn_write_str(int fd, const char *s) { return tn_write_all(fd, s, strlen(s)); }

/* Read exactly len bytes: len, fewer at EOF, or -errno (-EAGAIN: timed
 * out). */
static inline ssize_t tn_read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Read until EOF (or cap bytes): the count, or -errno. */
static inline ssize_t tn_read_to_eof(int fd, void *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        char scratch[4096];
        char *dst = got < cap ? (char *)buf + got : scratch;
        size_t room = got < cap ? cap - got : sizeof scratch;
        ssize_t n = recv(fd, dst, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return (ssize_t)got;
        if (got < cap)
            got += (size_t)n;
    }
}

static inline void tn_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Send the rest of a request, then read the answer to EOF (the server
 * closes the connection after it): true when the answer is exactly want.
 * got (cap bytes) receives what was read, for the failure message. */
static inline bool tn_finish(int fd, const char *rest, const char *want, char *got, size_t cap)
{
    memset(got, 0, cap);
    if (tn_write_str(fd, rest) < 0)
        return false;
    ssize_t n = tn_read_to_eof(fd, got, cap - 1);
    return n == (ssize_t)strlen(want) && memcmp(got, want, (size_t)n) == 0;
}

/* Index of the first of fds[0..n) that is not closed by the server (a read
 * does not see EOF at once or within the receive timeout), -1 when all
 * are; every one is closed here. */
static inline int tn_all_closed(const int *fds, int n)
{
    int bad = -1;
    for (int i = 0; i < n; i++) {
        char c;
        if (recv(fds[i], &c, 1, 0) != 0 && bad < 0)
            bad = i;
        close(fds[i]);
    }
    return bad;
}

#ifdef EXAMPLES_SERVER_H
/* In-process servers only (include server.h first): the registry state of
 * the server's side of a client's connection (SRV_CONN_IDLE or
 * SRV_CONN_BUSY), -1 while it is not registered.  The server side's peer
 * port is the client's local port. */
static inline int tn_port_of(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
                                     : ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static inline int tn_conn_state(srv *s, int client_fd)
{
    struct sockaddr_storage me;
    socklen_t len = sizeof me;
    if (getsockname(client_fd, (struct sockaddr *)&me, &len) < 0)
        return -1;
    int st = -1;
    pthread_mutex_lock(&s->conns_lock);
    for (srv_link *l = s->conns_head; l; l = l->next) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (getpeername(l->fd, (struct sockaddr *)&peer, &plen) == 0 &&
            tn_port_of(&peer) == tn_port_of(&me)) {
            st = atomic_load(&l->state);
            break;
        }
    }
    pthread_mutex_unlock(&s->conns_lock);
    return st;
}

/* pthread body: srv_wait(arg) (a srv *), its result as the thread's. */
static inline void *tn_srv_wait_thread(void *arg)
{
    return (void *)(intptr_t)srv_wait(arg);
}

/* Wait (up to 20 s) for that state; true once it is there. */
static inline bool tn_wait_conn_state(srv *s, int client_fd, int want)
{
    for (int i = 0; i < 4000; i++) {
        if (tn_conn_state(s, client_fd) == want)
            return true;
        tn_sleep_ms(5);
    }
    return false;
}
#endif

#endif
