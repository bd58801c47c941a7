/*
 * examples/http/main.c - the HTTP/1.1 server of issue 7.
 *
 *     http_server --port P [--workers N] [--root DIR] [--timeout-ms T]
 *                 [--max-header BYTES] [--max-body BYTES]
 *                 [--bind ADDR] [--max-conns C] [--shutdown-timeout-ms T]
 *
 * Routes: http_router.h; limits: http_request.h; what a connection does:
 * http_conn.h.  Listening, accepting, the connection cap, SIGINT/SIGTERM
 * (stop accepting, let connections finish, then free the handler's
 * environment) and SIGUSR1 (task dump) are the example skeleton's
 * (examples/common/server.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_conn.h"

typedef struct http_flags {
    http_env env;
    const char *root;
} http_flags;

/* A decimal in [lo, hi] into *out; false if it is not one. */
static bool parse_num(const char *s, unsigned long long lo, unsigned long long hi,
                      unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The HTTP server's own flags, for srv_opts_parse: consumed count or -1. */
static int http_flag(void *ud, int argc, char **argv, int i)
{
    http_flags *f = ud;
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long n;
    if (!strcmp(a, "--root") && v) {
        f->root = v;
    } else if (!strcmp(a, "--timeout-ms") && parse_num(v, 1, 3600000, &n)) {
        f->env.timeout_ms = (uint32_t)n;
    } else if (!strcmp(a, "--max-header") && parse_num(v, 16, 1u << 20, &n)) {
        f->env.lim.max_header = (uint32_t)n;
    } else if (!strcmp(a, "--max-body") && parse_num(v, 0, 1ull << 40, &n)) {
        f->env.lim.max_body = n;
    } else {
        fprintf(stderr, "%s: bad or unknown argument '%s'%s%s\n", argv[0], a, v ? " " : "",
                v ? v : "");
        return -1;
    }
    return 2;
}

int main(int argc, char **argv)
{
    srv_opts o;
    srv_opts_init(&o);
    http_flags f = {.env = {.root_fd = -1, .lim = HTTP_LIMITS_DEFAULT, .timeout_ms = 10000}};
    if (srv_opts_parse(&o, argc, argv, http_flag, &f) < 0) {
        fprintf(stderr, "       HTTP: [--root DIR] [--timeout-ms T] [--max-header BYTES] "
                        "[--max-body BYTES]\n");
        return 2;
    }
    if (f.root) {
        f.env.root_fd = open(f.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (f.env.root_fd < 0) {
            fprintf(stderr, "%s: --root %s: %s\n", argv[0], f.root, strerror(errno));
            return 1;
        }
    }
    ar_closure *h = http_handler_new(&f.env); /* owns root_fd from here */
    if (!h) {
        if (f.env.root_fd >= 0)
            close(f.env.root_fd);
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    int rc = srv_main(&o, h);
    free(h);
    return rc;
}
