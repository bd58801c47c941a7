/*
 * examples/kv/test_kv_server.c - the key-value server end to end: driven by
 * Debian's redis-cli (a client nobody here wrote; skipped with a message
 * where it is missing) and by raw sockets for the bad input of issue 7:
 * truncated requests, a 1 GB bulk announced, a large bulk announced and
 * never sent (memory must not grow), clients that disconnect mid-reply,
 * thousands of connections at once; plus the program itself under
 * SIGUSR1 and SIGTERM.
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <pthread.h>

#include "kv.h"
#include "test_net.h"

static srv g_srv;
static ar_closure *g_h;

static void start_kv_timeout(uint32_t workers, uint32_t max_conns, uint32_t timeout_ms)
{
    kv_store *st = kv_store_new();
    cr_assert_not_null(st);
    g_h = kv_handler_new(NULL, st);
    cr_assert_not_null(g_h);
    srv_opts o;
    srv_opts_init(&o);
    o.handle_signals = false;
    o.workers = workers;
    o.max_conns = max_conns;
    o.shutdown_timeout_ms = timeout_ms;
    o.reject_msg = "-ERR max number of clients reached\r\n";
    o.name = "kv_test";
    cr_assert_eq(srv_start(&g_srv, &o, g_h), 0);
    cr_assert_eq(kv_start_expiry(&g_srv, st), 0);
}

static void start_kv(uint32_t workers, uint32_t max_conns)
{
    start_kv_timeout(workers, max_conns, 2000);
}

static void stop_kv(void)
{
    srv_stop(&g_srv);
    int rc = srv_wait(&g_srv);
    cr_assert(rc == 0 || rc == -ETIMEDOUT, "srv_wait: %s", ar_strerror(rc));
    free(g_h);
}

static bool have_redis_cli(void)
{
    return system("command -v redis-cli >/dev/null 2>&1") == 0;
}

/* Run `redis-cli -p PORT <args>`; its stdout (trailing newline removed). */
static const char *cli(const char *args)
{
    static char out[8192];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "redis-cli -p %u %s 2>&1", srv_port(&g_srv), args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    pclose(f);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = 0;
    return out;
}

#define CLI(want, args) cr_assert_str_eq(cli(args), want, "redis-cli %s", args)

Test(kv_server, redis_cli_commands, .timeout = 120)
{
    if (!have_redis_cli())
        cr_skip_test("redis-cli not installed (apt-get install redis-tools): skipped");
    start_kv(2, 1000);
    CLI("PONG", "PING");
    CLI("hello world", "ECHO 'hello world'");
    CLI("OK", "SET greeting hi");
    CLI("hi", "GET greeting");
    CLI("", "SET greeting hey NX");
    CLI("OK", "SET greeting hey XX");
    CLI("OK", "SET tmp 1 EX 100");
    CLI("100", "TTL tmp");
    CLI("1", "EXPIRE greeting 50");
    CLI("50", "TTL greeting");
    CLI("1", "INCR counter");
    CLI("0", "DECR counter");
    CLI("OK", "MSET a 1 b 2");
    CLI("1\n2\n\nhey", "MGET a b nope greeting");
    CLI("2", "EXISTS a b");
    CLI("2", "DEL a b");
    CLI("3", "DBSIZE");
    CLI("ERR unknown command 'LPUSH', with args beginning with: 'l' 'x' ", "LPUSH l x");
    CLI("ERR wrong number of arguments for 'get' command", "GET");
    CLI("OK", "FLUSHALL");
    CLI("0", "DBSIZE");
    stop_kv();
}

Test(kv_server, expiry_by_timer, .timeout = 60)
{
    /* Keys with a deadline that nobody reads again leave the store: DBSIZE
     * counts keys without touching them, so only the timer can bring it
     * down. */
    start_kv(1, 100);
    int fd = tn_connect("127.0.0.1", srv_port(&g_srv));
    cr_assert_geq(fd, 0);
    char req[128];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(req, sizeof req, "*5\r\n$3\r\nSET\r\n$3\r\nk%02d\r\n$1\r\nv\r\n$2\r\nPX\r\n$2\r\n50\r\n", i);
        cr_assert_eq(tn_write_all(fd, req, (size_t)n), 0);
        char ok[5];
        cr_assert_eq(tn_read_exact(fd, ok, 5), 5);
        cr_assert_eq(memcmp(ok, "+OK\r\n", 5), 0);
    }
    cr_assert_eq(tn_write_str(fd, "SET keep v\r\n"), 0);
    char ok[5];
    cr_assert_eq(tn_read_exact(fd, ok, 5), 5);
    char got[16] = {0};
    for (int i = 0; i < 500; i++) {
        cr_assert_eq(tn_write_str(fd, "DBSIZE\r\n"), 0);
        memset(got, 0, sizeof got);
        cr_assert_eq(tn_read_exact(fd, got, 4), 4); /* ":1\r\n" or ":NN\r" */
        if (!strcmp(got, ":1\r\n"))
            break;
        if (got[3] != '\n')
            cr_assert_eq(tn_read_exact(fd, got + 4, 1), 1);
        tn_sleep_ms(20);
    }
    cr_assert_str_eq(got, ":1\r\n", "expired keys were not removed by the timer");
    close(fd);
    stop_kv();
}

Test(kv_server, pipelining, .timeout = 60)
{
    if (!have_redis_cli())
        cr_skip_test("redis-cli not installed (apt-get install redis-tools): skipped");
    start_kv(2, 100);
    /* redis-cli --pipe: many commands written without waiting. */
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "for i in $(seq 1 5000); do printf 'SET key:%%s %%s\\r\\n' $i $i; done | "
             "redis-cli -p %u --pipe 2>&1", srv_port(&g_srv));
    FILE *f = popen(cmd, "r");
    char out[1024] = {0};
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    pclose(f);
    cr_assert_not_null(strstr(out, "errors: 0, replies: 5000"), "redis-cli --pipe said: %s", out);
    CLI("5000", "DBSIZE");
    CLI("4321", "GET key:4321");
    /* 1000 pipelined PINGs in one write: 1000 answers, in order. */
    int fd = tn_connect("127.0.0.1", srv_port(&g_srv));
    static char buf[14 * 1000 + 1];
    for (int i = 0; i < 1000; i++)
        memcpy(buf + i * 14, "*1\r\n$4\r\nPING\r\n", 14);
    cr_assert_eq(tn_write_all(fd, buf, 14 * 1000), 0);
    cr_assert_eq(tn_read_exact(fd, buf, 7 * 1000), 7 * 1000);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(memcmp(buf + i * 7, "+PONG\r\n", 7), 0);
    close(fd);
    stop_kv();
}

/* A client that is served normally: proof that the others still are. */
static void still_served(void)
{
    int fd = tn_connect("127.0.0.1", srv_port(&g_srv));
    cr_assert_geq(fd, 0);
    cr_assert_eq(tn_write_str(fd, "*1\r\n$4\r\nPING\r\n"), 0);
    char got[8] = {0};
    cr_assert_eq(tn_read_exact(fd, got, 7), 7);
    cr_assert_str_eq(got, "+PONG\r\n");
    close(fd);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

Test(kv_server, bad_input, .timeout = 120)
{
    start_kv(2, 1000);
    uint16_t port = srv_port(&g_srv);
    /* Truncated requests, then the client goes away. */
    const char *truncated[] = {"*2\r\n$3\r\nGET\r\n$5\r\nab", "*3\r\n$3\r\nSET", "*", "GET k"};
    for (size_t i = 0; i < 4; i++) {
        int fd = tn_connect("127.0.0.1", port);
        cr_assert_eq(tn_write_str(fd, truncated[i]), 0);
        close(fd);
    }
    still_served();
    /* 1 GB announced: a protocol error, then the connection is closed. */
    int fd = tn_connect("127.0.0.1", port);
    cr_assert_eq(tn_write_str(fd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n"), 0);
    char got[128] = {0};
    ssize_t n = tn_read_to_eof(fd, got, sizeof got - 1);
    cr_assert_str_eq(got, "-ERR Protocol error: invalid bulk length\r\n", "got %zd bytes", n);
    close(fd);
    /* Malformed: an error then closed; a mid-pipeline error answers what
     * came before it. */
    fd = tn_connect("127.0.0.1", port);
    cr_assert_eq(tn_write_str(fd, "PING\r\n*1\r\n!4\r\nPING\r\nPING\r\n"), 0);
    memset(got, 0, sizeof got);
    tn_read_to_eof(fd, got, sizeof got - 1);
    cr_assert_str_eq(got, "+PONG\r\n-ERR Protocol error: expected '$'\r\n");
    close(fd);
    /* 400 MB announced (under the cap) and never sent, by 8 clients: the
     * server waits for the bytes without allocating them. */
    long before = rss_kib();
    int hold[8];
    for (int i = 0; i < 8; i++) {
        hold[i] = tn_connect("127.0.0.1", port);
        cr_assert_eq(tn_write_str(hold[i], "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$419430400\r\nabc"), 0);
    }
    still_served();
    tn_sleep_ms(100);
    long after = rss_kib();
    cr_assert_lt(after - before, 32 * 1024, "RSS grew by %ld KiB for announced bulks", after - before);
    for (int i = 0; i < 8; i++)
        close(hold[i]);
    still_served();
    stop_kv();
}

Test(kv_server, client_gone_mid_reply, .timeout = 120)
{
    start_kv(2, 1000);
    uint16_t port = srv_port(&g_srv);
    /* An 8 MiB value, fetched 16 times per request burst by clients that
     * reset the connection without reading. */
    size_t vlen = 8u << 20;
    char *req = malloc(vlen + 64);
    int h = snprintf(req, 64, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%zu\r\n", vlen);
    memset(req + h, 'x', vlen);
    memcpy(req + h + vlen, "\r\n", 2);
    int fd = tn_connect("127.0.0.1", port);
    cr_assert_eq(tn_write_all(fd, req, (size_t)h + vlen + 2), 0);
    char ok[5];
    cr_assert_eq(tn_read_exact(fd, ok, 5), 5);
    cr_assert_eq(memcmp(ok, "+OK\r\n", 5), 0);
    close(fd);
    free(req);
    for (int r = 0; r < 10; r++) {
        int c = tn_connect("127.0.0.1", port);
        for (int i = 0; i < 16; i++)
            cr_assert_eq(tn_write_str(c, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"), 0);
        char part[1000];
        tn_read_exact(c, part, sizeof part); /* read a little, then reset */
        struct linger lg = {1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c);
    }
    still_served();
    for (int i = 0; i < 2000 && srv_conn_count(&g_srv) != 0; i++)
        tn_sleep_ms(5);
    cr_assert_eq(srv_conn_count(&g_srv), 0, "connections left open");
    stop_kv();
}

Test(kv_server, many_connections, .timeout = 240)
{
    /* As many connections as the descriptor limit allows, up to 10,000:
     * client and server ends both live in this process. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int want = 10000;
    if ((rlim_t)want * 2 + 200 > rl.rlim_cur)
        want = (int)((rl.rlim_cur - 200) / 2);
    cr_assert_gt(want, 500, "descriptor limit too low for the test");
    start_kv(2, (uint32_t)want + 10);
    int *fds = malloc(sizeof(int) * (size_t)want);
    for (int i = 0; i < want; i++) {
        fds[i] = tn_connect("127.0.0.1", srv_port(&g_srv));
        cr_assert_geq(fds[i], 0, "connection %d: %s", i, strerror(-fds[i]));
        cr_assert_eq(tn_write_str(fds[i], "PING\r\n"), 0);
    }
    for (int i = 0; i < want; i++) {
        char got[8] = {0};
        cr_assert_eq(tn_read_exact(fds[i], got, 7), 7, "connection %d", i);
        cr_assert_str_eq(got, "+PONG\r\n");
    }
    cr_assert_eq(srv_conn_count(&g_srv), (uint32_t)want);
    for (int i = 0; i < want; i++)
        close(fds[i]);
    free(fds);
    still_served();
    stop_kv();
}

Test(kv_server, max_connections, .timeout = 60)
{
    start_kv(1, 3);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = tn_connect("127.0.0.1", srv_port(&g_srv));
        cr_assert_eq(tn_write_str(fds[i], "PING\r\n"), 0);
        char got[8];
        cr_assert_eq(tn_read_exact(fds[i], got, 7), 7);
    }
    int fd = tn_connect("127.0.0.1", srv_port(&g_srv));
    char got[64] = {0};
    tn_read_to_eof(fd, got, sizeof got - 1);
    cr_assert_str_eq(got, "-ERR max number of clients reached\r\n");
    close(fd);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    stop_kv();
}

/* ---- graceful stop ----------------------------------------------------------- */

/* Idle keep-alive connections end at once on a stop (the 20 s timeout is
 * never waited for: srv_wait returns 0, not -ETIMEDOUT); a connection with
 * half a request read gets its reply once the rest arrives, then ends. */
Test(kv_server, stop_ends_idle_connections_at_once, .timeout = 60)
{
    start_kv_timeout(2, 100, 20000);
    uint16_t port = srv_port(&g_srv);
    int idle[8];
    for (int i = 0; i < 8; i++) {
        idle[i] = tn_connect("127.0.0.1", port);
        cr_assert_geq(idle[i], 0);
        cr_assert_eq(tn_write_str(idle[i], "PING\r\n"), 0);
        char got[8] = {0};
        cr_assert_eq(tn_read_exact(idle[i], got, 7), 7);
        cr_assert_str_eq(got, "+PONG\r\n");
    }
    int half = tn_connect("127.0.0.1", port);
    cr_assert_geq(half, 0);
    /* Idle first (waiting for its first request), then busy once the
     * handler read the half request: only bytes make it busy again. */
    cr_assert(tn_wait_conn_state(&g_srv, half, SRV_CONN_IDLE));
    cr_assert_eq(tn_write_str(half, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv"), 0);
    cr_assert(tn_wait_conn_state(&g_srv, half, SRV_CONN_BUSY));

    srv_stop(&g_srv);
    pthread_t th;
    pthread_create(&th, NULL, tn_srv_wait_thread, &g_srv);
    int open_one = tn_all_closed(idle, 8);
    cr_assert_eq(open_one, -1, "idle connection %d was not closed", open_one);
    char got[16];
    cr_assert(tn_finish(half, "1\r\n", "+OK\r\n", got, sizeof got), "got '%s'", got);
    close(half);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((int)(intptr_t)rc, 0, "srv_wait: %s", ar_strerror((int)(intptr_t)rc));
    free(g_h);
}

/* ---- the program ---------------------------------------------------------- */

Test(kv_server, program_signals, .timeout = 60)
{
    int errp[2];
    cr_assert_eq(pipe(errp), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        execl(KV_SERVER_PATH, "kv_server", "--port", "0", "--workers", "2",
              "--shutdown-timeout-ms", "20000", (char *)NULL);
        _exit(127);
    }
    close(errp[1]);
    FILE *err = fdopen(errp[0], "r");
    char line[512];
    unsigned port = 0;
    while (!port && fgets(line, sizeof line, err)) {
        const char *p = strstr(line, "listening on port ");
        if (p)
            port = (unsigned)atoi(p + strlen("listening on port "));
    }
    cr_assert_gt(port, 0, "no 'listening' line");
    int fd = tn_connect("127.0.0.1", (uint16_t)port);
    cr_assert_eq(tn_write_str(fd, "SET a 1\r\n"), 0);
    char got[8] = {0};
    cr_assert_eq(tn_read_exact(fd, got, 5), 5);
    /* SIGUSR1: a dump on stderr, the server keeps serving. */
    kill(pid, SIGUSR1);
    bool dumped = false;
    while (!dumped && fgets(line, sizeof line, err))
        dumped = strstr(line, "dump") != NULL;
    cr_assert(dumped, "no dump after SIGUSR1");
    cr_assert_eq(tn_write_str(fd, "GET a\r\n"), 0);
    cr_assert_eq(tn_read_exact(fd, got, 7), 7);
    cr_assert_eq(memcmp(got, "$1\r\n1\r\n", 7), 0);
    /* SIGTERM: the open, idle connection is closed at once (EOF, not the
     * 20 s shutdown timeout nor the client's 20 s receive timeout), the
     * program exits 0 without dropping anything. */
    kill(pid, SIGTERM);
    char rest[16] = {0};
    cr_assert_eq(tn_read_to_eof(fd, rest, sizeof rest - 1), 0, "got %s", rest);
    close(fd);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    bool dropped = false;
    while (fgets(line, sizeof line, err))
        dropped |= strstr(line, "still open") != NULL;
    cr_assert(!dropped, "connections were dropped at the timeout");
    fclose(err);
}
