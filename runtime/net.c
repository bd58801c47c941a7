/*
 * runtime/net.c - TCP helpers: listen, numeric addresses, connect future.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "asyncrt/io.h"

int ar_sockaddr_from(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
    if (!ss)
        return -EINVAL;
    memset(ss, 0, sizeof *ss);
    if (!ip)
        ip = "127.0.0.1";
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        return (int)sizeof *in4;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return (int)sizeof *in6;
    }
    return -EINVAL;
}

int ar_tcp_listen(const char *ip, uint16_t port, int backlog)
{
    struct sockaddr_storage ss;
    int len = ar_sockaddr_from(ip, port, &ss);
    if (len < 0)
        return len;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ||
        listen(fd, backlog > 0 ? backlog : 1024) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int ar_tcp_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

void ar_tcp_connect_init(ar_tcp_connect *c, const char *ip, uint16_t port)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    c->fd = -1;
    int len = ar_sockaddr_from(ip, port, &c->ss);
    c->sslen = len > 0 ? (socklen_t)len : 0;
    c->res = len > 0 ? 0 : len;
}

ar_poll ar_tcp_connect_poll(ar_tcp_connect *c, ar_cx *cx)
{
    if (!c)
        return AR_READY;
    if (c->started == 2)
        return AR_READY;
    if (!c->started) {
        if (c->res < 0) {
            c->started = 2;
            return AR_READY;
        }
        c->fd = socket(c->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            c->res = -errno;
            c->started = 2;
            return AR_READY;
        }
        ar_io_connect(&c->io, c->fd, (struct sockaddr *)&c->ss, c->sslen);
        c->started = 1;
    }
    if (ar_io_poll(&c->io, cx) == AR_PENDING)
        return AR_PENDING;
    c->started = 2;
    if (c->io.res < 0) {
        close(c->fd);
        c->fd = -1;
        c->res = (int)c->io.res;
        return AR_READY;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->res = c->fd;
    return AR_READY;
}

void ar_tcp_connect_drop(ar_tcp_connect *c)
{
    if (!c)
        return;
    if (c->started == 1) {
        ar_io_drop(&c->io);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
    }
    c->started = 2;
}
