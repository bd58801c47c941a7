/*
 * bench/soak/soak.c - soak test of a server under churning load (issue 8
 * item 6).
 *
 *     soak [--proto echo|kv] [--seconds N] [--clients N] [--seed S]
 *          -- SERVER ARGS...      ("{port}" in ARGS becomes the chosen port)
 *
 * Starts the server, then runs N client threads for the given time, each
 * repeatedly picking one of:
 *   - normal (70 %): connect, 1-20 requests of 1-8192 random bytes (echo) or
 *     SET/GET of binary values up to 1 KiB on the thread's own keys (kv),
 *     every reply checked byte for byte, close;
 *   - slow (10 %): 1-3 requests (echo: up to 512 bytes), written in 1-16
 *     byte pieces with 0.2-2 ms pauses and read back in small pieces;
 *   - reset (10 %): send part of a request, then close with SO_LINGER 0 (RST);
 *   - abandon (10 %): send a whole request and close without reading.
 * It reports requests served, bytes checked, corrupted bytes, errors
 * (refused connects, timeouts, a reply cut short on the normal path), and
 * the server's RSS and open descriptors: before the load, after the first
 * fifth of the run (warm: the allocator has its working set), at the end
 * (after the load stopped and the server had up to 5 s to close what the
 * clients closed), and the peak.  Exit 0 only with no corrupted byte, no
 * error, the same descriptor count as before the load, RSS at the end
 * within max(8 MiB, 25 %) of the warm figure, and a server that was alive
 * until the SIGTERM that ends it.  The seed is printed; --seed replays the
 * same choices (timing differs).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PROTO_ECHO, PROTO_KV };
static int proto = PROTO_ECHO;
static int port;
static pid_t server;
static _Atomic bool stop;
static uint64_t seed;

/* Totals, added to by every client thread. */
static _Atomic uint64_t requests, bytes_checked, corrupted, errors, conns, resets, abandons,
    slows;
static char first_error[256];
static _Atomic bool have_error;

static void note_error(const char *what, int err)
{
    atomic_fetch_add(&errors, 1);
    if (!atomic_exchange(&have_error, true))
        snprintf(first_error, sizeof first_error, "%s: %s", what, strerror(err));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* --- the server's resources --------------------------------------------- */
static long server_rss_kib(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)server);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static int server_fds(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)server);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return d ? n : -1;
}

static bool server_alive(void) { return waitpid(server, NULL, WNOHANG) == 0; }

/* --- sockets ---------------------------------------------------------- */
static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Write all of buf; slow: in small pieces with pauses. */
static int send_all(int fd, const char *buf, size_t len, bool slow, uint64_t *rs)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (slow) {
            size_t piece = 1 + rnd(rs) % 16;
            n = n < piece ? n : piece;
            usleep((useconds_t)(200 + rnd(rs) % 1800));
        }
        ssize_t w = send(fd, buf + off, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EPIPE;
        off += (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, char *buf, size_t len, bool slow, uint64_t *rs)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (slow) {
            size_t piece = 1 + rnd(rs) % 64;
            n = n < piece ? n : piece;
            usleep((useconds_t)(rnd(rs) % 500));
        }
        ssize_t r = recv(fd, buf + off, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -ECONNRESET;
        off += (size_t)r;
    }
    return 0;
}

static void reset_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* Compare, counting every wrong byte. */
static void check(const char *got, const char *want, size_t len)
{
    uint64_t bad = 0;
    for (size_t i = 0; i < len; i++)
        bad += got[i] != want[i];
    atomic_fetch_add(&bytes_checked, len);
    if (bad) {
        atomic_fetch_add(&corrupted, bad);
        if (!atomic_exchange(&have_error, true))
            snprintf(first_error, sizeof first_error, "%llu corrupted bytes in a %zu-byte reply",
                     (unsigned long long)bad, len);
    }
}

/* --- key-value: RESP2 SET/GET on keys this thread owns ---------------- */
enum { KEYS = 32, VMAX = 1024 };
typedef struct kv_state {
    int id;
    uint16_t len[KEYS]; /* 0: never set (or unknown) */
    char val[KEYS][VMAX];
} kv_state;

static size_t resp_cmd(char *out, const char *cmd, const char *key, const char *v, size_t vlen)
{
    size_t klen = strlen(key), n;
    if (v)
        n = (size_t)sprintf(out, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(cmd), cmd,
                            klen, key, vlen);
    else
        n = (size_t)sprintf(out, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd, klen, key);
    if (v) {
        memcpy(out + n, v, vlen);
        memcpy(out + n + vlen, "\r\n", 2);
        n += vlen + 2;
    }
    return n;
}

/* One request; returns 0, or -errno when the connection failed. */
static int kv_request(int fd, kv_state *st, bool slow, uint64_t *rs, char *req, char *rep)
{
    int k = (int)(rnd(rs) % KEYS);
    char key[32];
    snprintf(key, sizeof key, "soak:%d:%d", st->id, k);
    int rc;
    if (rnd(rs) % 2) {
        size_t vlen = 1 + rnd(rs) % VMAX;
        char v[VMAX];
        for (size_t i = 0; i < vlen; i++)
            v[i] = (char)rnd(rs);
        size_t n = resp_cmd(req, "SET", key, v, vlen);
        if ((rc = send_all(fd, req, n, slow, rs)))
            return rc;
        st->len[k] = 0; /* unknown until the reply */
        if ((rc = recv_all(fd, rep, 5, slow, rs)))
            return rc;
        check(rep, "+OK\r\n", 5);
        memcpy(st->val[k], v, vlen);
        st->len[k] = (uint16_t)vlen;
    } else {
        size_t n = resp_cmd(req, "GET", key, NULL, 0);
        if ((rc = send_all(fd, req, n, slow, rs)))
            return rc;
        char want[VMAX + 32];
        size_t wlen;
        if (st->len[k]) {
            wlen = (size_t)sprintf(want, "$%u\r\n", st->len[k]);
            memcpy(want + wlen, st->val[k], st->len[k]);
            memcpy(want + wlen + st->len[k], "\r\n", 2);
            wlen += st->len[k] + 2u;
        } else {
            /* Never set by us in this run: either nil or unknown (a SET cut
             * short); read the header to learn the length. */
            if ((rc = recv_all(fd, rep, 1, slow, rs)))
                return rc;
            size_t h = 1;
            while (h < 16 && (h < 2 || rep[h - 1] != '\n'))
                if ((rc = recv_all(fd, rep + h++, 1, slow, rs)))
                    return rc;
            long len = rep[0] == '$' ? atol(rep + 1) : -2;
            if (len == -1)
                return 0;
            if (len < 0 || len > VMAX) {
                check(rep, "$-1\r\n", 5);
                return 0;
            }
            return recv_all(fd, rep, (size_t)len + 2, slow, rs); /* not ours to check */
        }
        if ((rc = recv_all(fd, rep, wlen, slow, rs)))
            return rc;
        check(rep, want, wlen);
    }
    atomic_fetch_add(&requests, 1);
    return 0;
}

/* --- echo ------------------------------------------------------------------ */
static int echo_request(int fd, bool slow, uint64_t *rs, char *req, char *rep)
{
    size_t len = 1 + rnd(rs) % (slow ? 512 : 8192); /* a slow one trickles: keep it short */
    for (size_t i = 0; i < len; i++)
        req[i] = (char)rnd(rs);
    int rc;
    if ((rc = send_all(fd, req, len, slow, rs)))
        return rc;
    if ((rc = recv_all(fd, rep, len, slow, rs)))
        return rc;
    check(rep, req, len);
    atomic_fetch_add(&requests, 1);
    return 0;
}

static void *client(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t rs = seed * 0x9E3779B97F4A7C15ull + (uint64_t)id + 1;
    char *req = malloc(16384), *rep = malloc(16384);
    kv_state *st = calloc(1, sizeof *st);
    st->id = id;
    while (!atomic_load(&stop)) {
        unsigned pick = (unsigned)(rnd(&rs) % 10);
        int fd = dial();
        if (fd < 0) {
            note_error("connect", -fd);
            usleep(10000);
            continue;
        }
        atomic_fetch_add(&conns, 1);
        if (pick == 8) { /* reset in the middle of a request */
            size_t n = proto == PROTO_KV ? resp_cmd(req, "SET", "soak:junk", "xxxxxxxx", 8) : 4096;
            if (proto == PROTO_ECHO)
                memset(req, 'r', n);
            send_all(fd, req, 1 + rnd(&rs) % (n - 1), false, &rs);
            reset_close(fd);
            atomic_fetch_add(&resets, 1);
            continue;
        }
        if (pick == 9) { /* a whole request, then gone without reading */
            size_t n = proto == PROTO_KV ? resp_cmd(req, "GET", "soak:junk", NULL, 0) : 8192;
            if (proto == PROTO_ECHO)
                memset(req, 'a', n);
            send_all(fd, req, n, false, &rs);
            close(fd);
            atomic_fetch_add(&abandons, 1);
            continue;
        }
        bool slow = pick == 7;
        atomic_fetch_add(&slows, slow);
        int nreq = slow ? 1 + (int)(rnd(&rs) % 3) : 1 + (int)(rnd(&rs) % 20);
        for (int i = 0; i < nreq && !atomic_load(&stop); i++) {
            int rc = proto == PROTO_KV ? kv_request(fd, st, slow, &rs, req, rep)
                                       : echo_request(fd, slow, &rs, req, rep);
            if (rc) {
                note_error("request on an open connection", -rc);
                break;
            }
        }
        close(fd);
    }
    free(req);
    free(rep);
    free(st);
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("soak: free port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void start_server(char **argv)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    for (char **a = argv; *a; a++)
        if (!strcmp(*a, "{port}"))
            *a = strdup(portstr);
    server = fork();
    if (server == 0) {
        execv(argv[0], argv);
        perror("soak: exec server");
        _exit(127);
    }
    /* Ready when a connection succeeds. */
    for (double t0 = now_s(); now_s() - t0 < 10; usleep(20000)) {
        if (!server_alive()) {
            fprintf(stderr, "soak: the server exited at start\n");
            exit(1);
        }
        int fd = dial();
        if (fd >= 0) {
            close(fd);
            usleep(100000); /* let it close that probe */
            return;
        }
    }
    fprintf(stderr, "soak: the server did not accept within 10 s\n");
    kill(server, SIGKILL);
    exit(1);
}

int main(int argc, char **argv)
{
    double seconds = 10;
    int clients = 8;
    seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--") && i + 1 < argc) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--proto") && i + 1 < argc) {
            const char *p = argv[++i];
            proto = !strcmp(p, "kv") ? PROTO_KV : PROTO_ECHO;
            if (strcmp(p, "kv") && strcmp(p, "echo"))
                goto usage;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
            clients = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else {
            goto usage;
        }
    }
    if (i >= argc || seconds <= 0 || clients < 1 || clients > 256)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    port = free_port();
    start_server(argv + i);
    printf("soak: %s server pid %d port %d, %d clients, %.0f s, seed %llu\n",
           proto == PROTO_KV ? "kv" : "echo", (int)server, port, clients, seconds,
           (unsigned long long)seed);

    long rss0 = server_rss_kib(), rss_warm = -1, rss_peak = rss0;
    int fds0 = server_fds();
    pthread_t th[256];
    for (int c = 0; c < clients; c++)
        pthread_create(&th[c], NULL, client, (void *)(intptr_t)c);
    double t0 = now_s();
    bool died = false;
    while (now_s() - t0 < seconds) {
        usleep(100000);
        long r = server_rss_kib();
        rss_peak = r > rss_peak ? r : rss_peak;
        if (rss_warm < 0 && now_s() - t0 >= seconds / 5)
            rss_warm = r;
        if (!server_alive()) {
            died = true;
            break;
        }
    }
    atomic_store(&stop, true);
    for (int c = 0; c < clients; c++)
        pthread_join(th[c], NULL);
    double elapsed = now_s() - t0;
    /* The server closes what the clients closed (resets, abandons) a little
     * later: give it up to 5 s to come back to its starting count. */
    int fds_end = server_fds();
    for (double t1 = now_s(); !died && fds_end != fds0 && now_s() - t1 < 5; usleep(50000))
        fds_end = server_fds();
    long rss_end = server_rss_kib();
    if (!died)
        died = !server_alive();

    printf("soak: %.1f s: %llu requests (%.0f/s) on %llu connections (%llu slow, %llu reset "
           "mid-request, %llu abandoned)\n",
           elapsed, (unsigned long long)requests, (double)requests / elapsed,
           (unsigned long long)conns, (unsigned long long)slows, (unsigned long long)resets,
           (unsigned long long)abandons);
    printf("soak: %llu bytes checked, %llu corrupted, %llu errors%s%s\n",
           (unsigned long long)bytes_checked, (unsigned long long)corrupted,
           (unsigned long long)errors, have_error ? "; first: " : "", have_error ? first_error : "");
    printf("soak: server RSS %ld KiB at start, %ld warm, %ld peak, %ld at end; open fds %d at "
           "start, %d at end%s\n",
           rss0, rss_warm, rss_peak, rss_end, fds0, fds_end, died ? "; THE SERVER DIED" : "");

    long slack = rss_warm / 4 > 8192 ? rss_warm / 4 : 8192;
    bool ok = !died && corrupted == 0 && errors == 0 && requests > 0 && fds_end == fds0 &&
              rss_end <= rss_warm + slack;
    if (!died) {
        kill(server, SIGTERM);
        int status;
        waitpid(server, &status, 0);
    }
    printf("soak: %s (seed %llu)\n", ok ? "PASS" : "FAIL", (unsigned long long)seed);
    return ok ? 0 : 1;
usage:
    fprintf(stderr,
            "usage: %s [--proto echo|kv] [--seconds N] [--clients N] [--seed S] -- SERVER ARGS "
            "({port} in ARGS becomes the port)\n",
            argv[0]);
    return 2;
}
