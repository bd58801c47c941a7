/*
 * examples/echo/test_echo.c - the echo server end to end: several clients at
 * once each stream pseudo-random bytes in uneven writes from one thread
 * while another reads, and every byte that comes back is compared.
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"
#include <pthread.h>
#include <stdlib.h>

#include "echo.h"
#include "test_net.h"

#define CLIENTS 4
#define BYTES (1u << 20)

typedef struct client {
    int fd;
    unsigned seed;
    int write_rc;
} client;

static unsigned char byte_at(unsigned seed, size_t i)
{
    return (unsigned char)((i * 2654435761u) ^ (seed * 40503u) ^ (i >> 7));
}

static void *writer(void *arg)
{
    client *c = arg;
    unsigned char buf[7919];
    size_t off = 0;
    unsigned r = c->seed;
    while (off < BYTES) {
        r = r * 1103515245u + 12345u;
        size_t n = 1 + (r >> 8) % sizeof buf;
        if (n > BYTES - off)
            n = BYTES - off;
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(c->seed, off + i);
        if ((c->write_rc = tn_write_all(c->fd, buf, n)) < 0)
            return NULL;
        off += n;
    }
    shutdown(c->fd, SHUT_WR); /* EOF: the server ends the connection */
    return NULL;
}

Test(echo, every_byte_comes_back, .timeout = 60)
{
    ar_closure *h = echo_handler_new();
    cr_assert_not_null(h);
    srv_opts o;
    srv_opts_init(&o);
    o.handle_signals = false;
    o.workers = 2;
    srv s;
    cr_assert_eq(srv_start(&s, &o, h), 0);
    client cl[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){.fd = tn_connect(i % 2 ? "::1" : "127.0.0.1", srv_port(&s)),
                         .seed = 17u + (unsigned)i};
        if (cl[i].fd < 0) /* no IPv6 loopback here */
            cl[i].fd = tn_connect("127.0.0.1", srv_port(&s));
        cr_assert_geq(cl[i].fd, 0);
        pthread_create(&th[i], NULL, writer, &cl[i]);
    }
    unsigned char *got = malloc(BYTES + 1);
    for (int i = 0; i < CLIENTS; i++) {
        ssize_t n = tn_read_to_eof(cl[i].fd, got, BYTES + 1);
        pthread_join(th[i], NULL);
        cr_assert_eq(cl[i].write_rc, 0);
        cr_assert_eq(n, (ssize_t)BYTES, "client %d got %zd bytes", i, n);
        for (size_t k = 0; k < BYTES; k++)
            if (got[k] != byte_at(cl[i].seed, k))
                cr_assert_fail("client %d: byte %zu differs", i, k);
        close(cl[i].fd);
    }
    free(got);
    srv_stop(&s);
    cr_assert_eq(srv_wait(&s), 0);
    free(h);
}

Test(echo, client_gone_mid_echo, .timeout = 60)
{
    /* A client that writes a lot and closes without reading: the server's
     * send fails, the connection ends, the others are served. */
    ar_closure *h = echo_handler_new();
    srv_opts o;
    srv_opts_init(&o);
    o.handle_signals = false;
    srv s;
    cr_assert_eq(srv_start(&s, &o, h), 0);
    for (int r = 0; r < 20; r++) {
        int fd = tn_connect("127.0.0.1", srv_port(&s));
        cr_assert_geq(fd, 0);
        static char junk[256 * 1024];
        (void)tn_write_all(fd, junk, sizeof junk);
        struct linger lg = {1, 0}; /* close with a reset */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    int fd = tn_connect("127.0.0.1", srv_port(&s));
    cr_assert_eq(tn_write_str(fd, "still here"), 0);
    char buf[16] = {0};
    cr_assert_eq(tn_read_exact(fd, buf, 10), 10);
    cr_assert_str_eq(buf, "still here");
    close(fd);
    for (int i = 0; i < 2000 && srv_conn_count(&s) != 0; i++)
        tn_sleep_ms(5);
    cr_assert_eq(srv_conn_count(&s), 0, "connections left open");
    srv_stop(&s);
    cr_assert_eq(srv_wait(&s), 0);
    free(h);
}

/* A stop with a 20 s timeout ends idle echo connections at once (each
 * client sees EOF; srv_wait 0, not -ETIMEDOUT), whether they echoed a
 * chunk already or never sent one. */
Test(echo, stop_ends_idle_connections_at_once, .timeout = 60)
{
    ar_closure *h = echo_handler_new();
    srv_opts o;
    srv_opts_init(&o);
    o.handle_signals = false;
    o.workers = 2;
    o.shutdown_timeout_ms = 20000;
    srv s;
    cr_assert_eq(srv_start(&s, &o, h), 0);
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = tn_connect("127.0.0.1", srv_port(&s));
        cr_assert_geq(fds[i], 0);
        if (i % 2 == 0)
            continue; /* never sends */
        cr_assert_eq(tn_write_str(fds[i], "ping"), 0);
        char buf[8] = {0};
        cr_assert_eq(tn_read_exact(fds[i], buf, 4), 4);
        cr_assert_str_eq(buf, "ping");
    }
    for (int i = 0; i < 2000 && srv_conn_count(&s) != 6; i++)
        tn_sleep_ms(5);
    /* srv_wait runs the stop (as srv_main does, beside the signal that
     * called srv_stop): the clients read meanwhile. */
    srv_stop(&s);
    pthread_t th;
    pthread_create(&th, NULL, tn_srv_wait_thread, &s);
    int open_one = tn_all_closed(fds, 6);
    cr_assert_eq(open_one, -1, "connection %d was not closed", open_one);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((int)(intptr_t)rc, 0, "srv_wait: %s", ar_strerror((int)(intptr_t)rc));
    free(h);
}
