/*
 * tests/http/test_http_server.c - the HTTP server end to end: each test
 * starts the server binary (HTTP_SERVER, set by meson) on a free port with
 * a temporary --root, drives it with curl (skipped with a message where
 * curl is missing; build.sh installs it) or a raw socket, and stops it
 * with SIGTERM, which must end it with status 0 (graceful stop).
 */
#include "../helpers.h"

#define T_STREQ(a, b)                                                            \
    cr_assert(t_is(strcmp((a), (b)) == 0), "%s is \"%s\", not \"%s\"", #a, (a), (b))

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct srv {
    pid_t pid;
    int port;
    char root[64];
} srv;

/* A port nobody listens on now (bound to 0, then released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(t_is(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0));
    cr_assert(t_is(getsockname(fd, (struct sockaddr *)&a, &len) == 0));
    close(fd);
    return ntohs(a.sin_port);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(t_is(fd >= 0), "open %s: %s", path, strerror(errno));
    cr_assert(t_is(write(fd, data, len) == (ssize_t)len));
    close(fd);
}

/* Start the server with extra flags (NULL-terminated). */
static void srv_start(srv *s, const char *const *extra)
{
    const char *bin = getenv("HTTP_SERVER");
    cr_assert(t_is(bin), "HTTP_SERVER is not set (meson sets it)");
    strcpy(s->root, "/tmp/http_test_XXXXXX");
    cr_assert(t_is(mkdtemp(s->root)));
    s->port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[32] = {bin, "--port", port, "--workers", "2", "--root", s->root};
    int n = 7;
    for (; extra && *extra && n < 30; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    s->pid = fork();
    cr_assert(t_is(s->pid >= 0));
    if (s->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execv(bin, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        int fd = connect_to(s->port);
        if (fd >= 0) {
            close(fd);
            return;
        }
        int st;
        cr_assert(t_is(waitpid(s->pid, &st, WNOHANG) == 0), "the server exited at start");
        usleep(10000);
    }
    cr_assert(t_is(false), "the server did not listen on %d within 10 s", s->port);
}

/* SIGTERM: the server stops accepting, lets connections end, exits 0. */
static void srv_stop(srv *s)
{
    kill(s->pid, SIGTERM);
    int st;
    cr_assert(t_is(waitpid(s->pid, &st, 0) == s->pid));
    cr_assert(t_is(WIFEXITED(st) && WEXITSTATUS(st) == 0), "the server ended with status %#x", st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->root);
    cr_assert(t_is(system(cmd) == 0));
}

/* Run a shell command, capture its stdout (NUL-terminated); returns the
 * exit status. */
static int run(char *out, size_t cap, const char *fmt, ...)
{
    static char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    cr_assert(t_is(p), "popen %s", cmd);
    size_t n = 0, r;
    while (cap && n < cap - 1 && (r = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += r;
    if (cap)
        out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_curl(void)
{
    if (system("curl --version >/dev/null 2>&1") != 0)
        cr_skip_test("curl is missing: install it (build.sh does) to run the curl tests");
}

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    cr_assert(t_is(send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len));
}

/* Read until EOF (or the 10 s receive timeout); returns the bytes read. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            break;
    }
    buf[n] = '\0';
    return n;
}

static int count(const char *hay, const char *needle)
{
    int c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        c++;
    return c;
}

Test(http_server, curl_hello_keep_alive, .timeout = 60)
{
    need_curl();
    srv s;
    srv_start(&s, NULL);
    char out[1024];
    /* Two transfers in one curl: the second reuses the connection. */
    T_EQ_INT(run(out, sizeof out, "curl -s -w '|%%{num_connects}\\n' http://127.0.0.1:%d/ "
                                  "http://127.0.0.1:%d/hello", s.port, s.port), 0);
    T_STREQ(out, "Hello, world!\n|1\nHello, world!\n|0\n");
    /* HTTP/1.0 without keep-alive: answered, then closed. */
    T_EQ_INT(run(out, sizeof out, "curl -si --http1.0 http://127.0.0.1:%d/hello", s.port), 0);
    cr_assert(t_is(strstr(out, "HTTP/1.1 200 OK\r\n") && strstr(out, "\r\nConnection: close\r\n")), "%s",
              out);
    cr_assert(t_is(strstr(out, "\r\n\r\nHello, world!\n")));
    srv_stop(&s);
}

Test(http_server, pipelined_requests_answered_in_order, .timeout = 60)
{
    srv s;
    srv_start(&s, NULL);
    int fd = connect_to(s.port);
    cr_assert(t_is(fd >= 0));
    send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
                 "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                 "GET /never HTTP/1.1\r\n\r\n");
    static char buf[65536];
    read_all(fd, buf, sizeof buf);
    close(fd);
    const char *a = strstr(buf, "Hello, world!\n");
    const char *b = strstr(buf, "{\"workers\":2,");
    const char *c = strstr(buf, "received 4 bytes\n");
    const char *d = strstr(buf, "HTTP/1.1 404 Not Found\r\n");
    cr_assert(t_is(a && b && c && d), "%s", buf);
    cr_assert(t_is(a < b && b < c && c < d), "answers in request order");
    T_EQ_INT(count(buf, "HTTP/1.1 "), 5); /* nothing after Connection: close */
    T_EQ_INT(count(buf, "Hello, world!\n"), 2);
    cr_assert(t_is(strstr(d, "Connection: close")));
    srv_stop(&s);
}

Test(http_server, curl_404_405_413, .timeout = 60)
{
    need_curl();
    srv s;
    const char *extra[] = {"--max-body", "1000", "--max-header", "4096", NULL};
    srv_start(&s, extra);
    char out[256], path[128];
    T_EQ_INT(run(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' "
                                  "http://127.0.0.1:%d/nope", s.port), 0);
    T_STREQ(out, "404");
    T_EQ_INT(run(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' -X DELETE "
                                  "http://127.0.0.1:%d/hello", s.port), 0);
    T_STREQ(out, "405");
    /* A body over --max-body, and one within it. */
    snprintf(path, sizeof path, "%s/../http_body_%d", s.root, s.port);
    static char body[5000];
    memset(body, 'x', sizeof body);
    write_file(path, body, sizeof body);
    T_EQ_INT(run(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' --data-binary @%s "
                                  "http://127.0.0.1:%d/body", path, s.port), 0);
    T_STREQ(out, "413");
    write_file(path, body, 999);
    T_EQ_INT(run(out, sizeof out, "curl -s --data-binary @%s http://127.0.0.1:%d/body", path,
                 s.port), 0);
    T_STREQ(out, "received 999 bytes\n");
    unlink(path);
    /* Headers over --max-header. */
    static char big[5000];
    memset(big, 'h', sizeof big - 1);
    T_EQ_INT(run(out, sizeof out, "curl -s -o /dev/null -w '%%{http_code}' -H 'X-Big: %s' "
                                  "http://127.0.0.1:%d/", big, s.port), 0);
    T_STREQ(out, "413");
    srv_stop(&s);
}

Test(http_server, malformed_is_400_then_closed, .timeout = 60)
{
    srv s;
    srv_start(&s, NULL);
    int fd = connect_to(s.port);
    send_str(fd, "GET / HTTP/1.1\r\n\r\nGARBAGE / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    char buf[4096];
    read_all(fd, buf, sizeof buf);
    close(fd);
    /* The request before the bad one is answered, then 400, then nothing. */
    const char *ok = strstr(buf, "HTTP/1.1 200 OK\r\n");
    const char *bad = strstr(buf, "HTTP/1.1 400 Bad Request\r\n");
    cr_assert(t_is(ok && bad && ok < bad), "%s", buf);
    T_EQ_INT(count(buf, "HTTP/1.1 "), 2);
    cr_assert(t_is(strstr(bad, "Connection: close\r\n")));
    srv_stop(&s);
}

Test(http_server, slow_and_idle_clients_get_408, .timeout = 60)
{
    srv s;
    const char *extra[] = {"--timeout-ms", "600", NULL};
    srv_start(&s, extra);
    /* One byte every 150 ms: never a whole request within 600 ms. */
    int fd = connect_to(s.port);
    const char *req = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    ssize_t got = 0;
    for (const char *p = req; *p && got <= 0; p++) {
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(150000);
        got = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    }
    if (got <= 0)
        got = recv(fd, buf, sizeof buf - 1, 0);
    cr_assert(t_is(got > 0), "no answer to the slow client");
    buf[got] = '\0';
    cr_assert(t_is(!strncmp(buf, "HTTP/1.1 408 Request Timeout\r\n", 30)), "%s", buf);
    cr_assert(t_is(strstr(buf, "Connection: close")));
    close(fd);
    /* Idle after a request: 408 as well, then EOF. */
    fd = connect_to(s.port);
    send_str(fd, "GET / HTTP/1.1\r\n\r\n");
    read_all(fd, buf, sizeof buf);
    cr_assert(t_is(strstr(buf, "HTTP/1.1 200 OK\r\n") && strstr(buf, "HTTP/1.1 408 Request Timeout")),
              "%s", buf);
    close(fd);
    srv_stop(&s);
}

Test(http_server, static_files_byte_for_byte_and_no_escape, .timeout = 60)
{
    need_curl();
    srv s;
    srv_start(&s, NULL);
    char path[256], out[512];
    size_t big = 3u << 20; /* several 64 KiB reads, a partial last one */
    big += 12345;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    snprintf(path, sizeof path, "%s/sub", s.root);
    cr_assert(t_is(mkdir(path, 0755) == 0));
    snprintf(path, sizeof path, "%s/sub/big.bin", s.root);
    write_file(path, data, big);
    snprintf(path, sizeof path, "%s/empty.txt", s.root);
    write_file(path, "", 0);
    snprintf(path, sizeof path, "%s/../http_secret_%d", s.root, s.port);
    write_file(path, "secret", 6);
    T_EQ_INT(run(out, sizeof out, "curl -s -o %s.out -w '%%{http_code} %%{content_type}' "
                                  "http://127.0.0.1:%d/static/sub/big.bin && cmp %s/sub/big.bin "
                                  "%s.out && echo ' same'", s.root, s.port, s.root, s.root), 0);
    T_STREQ(out, "200 application/octet-stream same\n");
    T_EQ_INT(run(out, sizeof out, "curl -s -w '%%{http_code} %%{size_download}' "
                                  "http://127.0.0.1:%d/static/empty.txt", s.port), 0);
    T_STREQ(out, "200 0");
    /* HEAD: the length, no body. */
    T_EQ_INT(run(out, sizeof out, "curl -sI http://127.0.0.1:%d/static/sub/big.bin", s.port), 0);
    char want[64];
    snprintf(want, sizeof want, "Content-Length: %zu\r\n", big);
    cr_assert(t_is(strstr(out, want)), "%s", out);
    /* Outside the root, directories, missing files: 404. */
    static const char *refused[] = {"../http_secret", "%2e%2e/http_secret", "sub", "sub/",
                                    "missing", "sub/../sub/big.bin"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        T_EQ_INT(run(out, sizeof out, "curl -s --path-as-is -o /dev/null -w '%%{http_code}' "
                                      "http://127.0.0.1:%d/static/%s", s.port, refused[i]), 0);
        cr_assert(t_is(!strcmp(out, "404")), "%s: %s", refused[i], out);
    }
    unlink(path);
    free(data);
    srv_stop(&s);
}

Test(http_server, status_is_valid_json, .timeout = 60)
{
    need_curl();
    if (system("python3 -c 1 >/dev/null 2>&1") != 0)
        cr_skip_test("python3 is missing: it checks the JSON");
    srv s;
    srv_start(&s, NULL);
    char out[256];
    T_EQ_INT(run(out, sizeof out, "curl -s http://127.0.0.1:%d/status | python3 -c 'import "
                                  "json,sys; d=json.load(sys.stdin); print(d[\"workers\"], "
                                  "len(d[\"per_worker\"]), d[\"tasks_alive\"] >= 1)'", s.port),
                 0);
    T_STREQ(out, "2 2 True\n");
    srv_stop(&s);
}

/* A file truncated and removed while it is being sent: that connection
 * ends short of Content-Length, and the server goes on serving. */
Test(http_server, file_vanishing_mid_transfer_closes_only_that_connection, .timeout = 60)
{
    srv s;
    srv_start(&s, NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/vanish.bin", s.root);
    size_t len = 32u << 20;
    char *data = calloc(1, len);
    write_file(path, data, len);
    free(data);
    int fd = connect_to(s.port);
    send_str(fd, "GET /static/vanish.bin HTTP/1.1\r\n\r\n");
    static char buf[1 << 16];
    ssize_t r = recv(fd, buf, sizeof buf, MSG_WAITALL);
    cr_assert(t_is(r > 0 && !strncmp(buf, "HTTP/1.1 200 OK", 15)));
    /* The client reads nothing more for a while: the server is stuck in a
     * send with the rest of the file to go.  Now the file goes away. */
    usleep(100000);
    cr_assert(t_is(truncate(path, 0) == 0));
    cr_assert(t_is(unlink(path) == 0));
    size_t total = (size_t)r;
    while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
        total += (size_t)r;
    T_EQ_INT(r, 0); /* closed, not timed out */
    cr_assert(t_is(total < len), "got %zu of %zu bytes", total, len);
    close(fd);
    /* Everyone else is still served. */
    fd = connect_to(s.port);
    send_str(fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    read_all(fd, buf, sizeof buf);
    cr_assert(t_is(strstr(buf, "Hello, world!\n")), "%s", buf);
    close(fd);
    srv_stop(&s);
}

/* Clients that vanish mid-response (with a reset) do not hurt the others. */
Test(http_server, clients_disconnecting_mid_response, .timeout = 60)
{
    srv s;
    srv_start(&s, NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/big.bin", s.root);
    size_t len = 8u << 20;
    char *data = calloc(1, len);
    write_file(path, data, len);
    free(data);
    char buf[4096];
    for (int i = 0; i < 20; i++) {
        int fd = connect_to(s.port);
        send_str(fd, "GET /static/big.bin HTTP/1.1\r\n\r\nGET /static/big.bin HTTP/1.1\r\n\r\n");
        cr_assert(t_is(recv(fd, buf, 100, 0) > 0));
        struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with a reset */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    int fd = connect_to(s.port);
    send_str(fd, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
    read_all(fd, buf, sizeof buf);
    cr_assert(t_is(strstr(buf, "Hello, world!\n")), "%s", buf);
    close(fd);
    srv_stop(&s);
}

Test(http_server, bad_flags_exit_2, .timeout = 30)
{
    const char *bin = getenv("HTTP_SERVER");
    cr_assert(t_is(bin));
    char out[64];
    T_EQ_INT(run(out, sizeof out, "%s --port 99999 2>/dev/null", bin), 2);
    T_EQ_INT(run(out, sizeof out, "%s --port 0 --workers 0 2>/dev/null", bin), 2);
    T_EQ_INT(run(out, sizeof out, "%s --bogus 1 2>/dev/null", bin), 2);
    T_EQ_INT(run(out, sizeof out, "%s --port 0 --root /nonexistent/dir 2>/dev/null", bin), 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* SIGTERM with keep-alive connections open, and a 20 s shutdown timeout:
 * the server stops accepting; the idle connections are closed at once (EOF
 * without an answer, long before the timeout or the 10 s receive timeout);
 * a connection in the middle of a request (headers read, the body not yet:
 * the 100 Continue says the server has them) still gets its answer, with
 * Connection: close, once the body arrives; then the server exits 0, well
 * under the timeout (nothing was left to drop). */
Test(http_server, sigterm_drains_open_connections, .timeout = 60)
{
    srv s;
    const char *extra[] = {"--shutdown-timeout-ms", "20000", NULL};
    srv_start(&s, extra);
    int idle[4];
    char buf[4096];
    for (int i = 0; i < 4; i++) {
        idle[i] = connect_to(s.port);
        cr_assert(idle[i] >= 0);
        send_str(idle[i], "GET / HTTP/1.1\r\n\r\n");
        ssize_t r = recv(idle[i], buf, sizeof buf - 1, 0);
        cr_assert(r > 0);
        buf[r] = '\0';
        cr_assert(t_is(!strstr(buf, "Connection: close")), "%s", buf);
    }
    int mid = connect_to(s.port);
    send_str(mid, "POST /body HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    ssize_t r = recv(mid, buf, sizeof buf - 1, 0);
    cr_assert(r > 0);
    buf[r] = '\0';
    T_STREQ(buf, "HTTP/1.1 100 Continue\r\n\r\n");

    double t0 = now_s();
    kill(s.pid, SIGTERM);
    for (int i = 0; i < 4; i++) {
        cr_assert(t_is(read_all(idle[i], buf, sizeof buf) == 0), "idle connection %d: %s", i,
                  buf);
        close(idle[i]);
    }
    double idle_s = now_s() - t0;
    cr_assert(t_is(idle_s < 5.0), "idle connections took %.1f s to close", idle_s);
    cr_assert(t_is(connect_to(s.port) < 0), "still accepting after SIGTERM");
    send_str(mid, "hello");
    read_all(mid, buf, sizeof buf);
    cr_assert(t_is(strstr(buf, "received 5 bytes\n") && strstr(buf, "Connection: close\r\n")),
              "%s", buf);
    close(mid);
    int st;
    cr_assert(waitpid(s.pid, &st, 0) == s.pid);
    double took = now_s() - t0;
    cr_assert(t_is(WIFEXITED(st) && WEXITSTATUS(st) == 0), "status %#x", st);
    cr_assert(t_is(took < 10.0), "the server took %.1f s to stop (timeout 20 s)", took);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s.root);
    cr_assert(system(cmd) == 0);
}

/* 10,000 connections open at once (or as many as RLIMIT_NOFILE allows),
 * each with a request in flight: every one is answered. */
Test(http_server, ten_thousand_connections, .timeout = 120)
{
    struct rlimit rl;
    cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl); /* the server, forked next, inherits it */
    int n = 10000;
    if (rl.rlim_cur < (rlim_t)n + 200)
        n = (int)rl.rlim_cur - 200;
    cr_assert(n >= 500, "RLIMIT_NOFILE is %llu", (unsigned long long)rl.rlim_cur);
    srv s;
    const char *extra[] = {"--max-conns", "20000", NULL};
    srv_start(&s, extra);
    int *fds = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        fds[i] = connect_to(s.port);
        cr_assert(fds[i] >= 0, "connection %d: %s", i, strerror(errno));
        send_str(fds[i], "GET /hello HTTP/1.1\r\n\r\n");
    }
    char buf[512];
    for (int i = 0; i < n; i++) {
        ssize_t r = recv(fds[i], buf, sizeof buf - 1, 0);
        cr_assert(r > 0, "connection %d: no answer", i);
        buf[r] = '\0';
        cr_assert(t_is(strstr(buf, "Hello, world!\n") != NULL), "connection %d: %s", i, buf);
        close(fds[i]);
    }
    free(fds);
    srv_stop(&s);
}

/* Expect: 100-continue: the interim answer comes before the body is sent,
 * then the final one; a body refused by its length gets 413 at once. */
Test(http_server, expect_100_continue, .timeout = 60)
{
    srv s;
    const char *extra[] = {"--max-body", "100", NULL};
    srv_start(&s, extra);
    int fd = connect_to(s.port);
    send_str(fd, "POST /body HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    char buf[1024];
    ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
    cr_assert(r > 0);
    buf[r] = '\0';
    T_STREQ(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    send_str(fd, "hello");
    r = recv(fd, buf, sizeof buf - 1, 0);
    cr_assert(r > 0);
    buf[r] = '\0';
    cr_assert(t_is(strstr(buf, "HTTP/1.1 200 OK\r\n") == buf && strstr(buf, "received 5 bytes\n")),
              "%s", buf);
    close(fd);
    fd = connect_to(s.port);
    send_str(fd, "POST /body HTTP/1.1\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n");
    read_all(fd, buf, sizeof buf);
    cr_assert(t_is(strstr(buf, "HTTP/1.1 413 ") == buf), "%s", buf);
    close(fd);
    srv_stop(&s);
}
