/*
 * examples/http/fuzz_http_request.c - libFuzzer target for the request
 * side of the HTTP server: the http-parser glue (http_request.c), the
 * router and the static path check (http_router.c, http_static.c) and the
 * error writer, on arbitrary bytes split at arbitrary points.
 *
 * The first input byte picks the split size (1..255 bytes, 0: whole), the
 * rest is the connection's byte stream.  Besides the sanitizers' checks it
 * traps when an invariant breaks: the URL stays within its buffer and
 * NUL-terminated, a body never exceeds the limit, a request is reported
 * only with bytes consumed, a failed reader answers 400 or 413, and a
 * static path is never absolute nor holds a "." or ".." segment.
 *
 * Built with -Dfuzz=true (clang); `meson test --suite fuzz` runs it for 20
 * seconds on the seed corpus in fuzz_corpus/.  Longer, by hand:
 *     build-fuzz/examples/http/fuzz_http_request -max_total_time=600 \
 *         examples/http/fuzz_corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http_request.h"
#include "http_response.h"
#include "http_router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

static void check_route(const http_request *req)
{
    http_route r;
    http_route_request(req, true, &r);
    if (r.kind != HTTP_ROUTE_STATIC)
        return;
    size_t n = strlen(r.rel);
    check(n > 0 && n <= HTTP_MAX_URL && r.rel[0] != '/');
    for (const char *seg = r.rel;;) {
        check(seg[0] != '.' && seg[0] != '/' && seg[0] != '\0');
        const char *slash = strchr(seg, '/');
        if (!slash)
            break;
        seg = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = data[0] ? data[0] : size;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    http_limits lim = {.max_header = 512, .max_body = 1024};
    http_reader r;
    http_reader_init(&r, &lim);
    char out[256];
    for (size_t off = 0; off < len;) {
        size_t piece = len - off < step ? len - off : step;
        size_t pos = 0;
        while (pos < piece) {
            size_t used = SIZE_MAX;
            http_parse_rc rc = http_reader_feed(&r, buf + off + pos, piece - pos, &used);
            check(used <= piece - pos);
            pos += used;
            if (rc == HTTP_PARSE_ERROR) {
                check(r.error_status == 400 || r.error_status == 413);
                check(http_write_error(out, sizeof out, r.error_status, HTTP_CLOSE, false, NULL) >
                      0);
                return 0;
            }
            if (rc == HTTP_PARSE_MORE) {
                check(pos == piece);
                break;
            }
            check(r.req.url_len <= HTTP_MAX_URL && r.req.url[r.req.url_len] == '\0');
            check(r.req.body_len <= lim.max_body);
            check_route(&r.req);
            http_write_error(out, sizeof out, 404, http_mode_of(&r.req),
                             r.req.method == HTTP_HEAD, NULL);
        }
        off += piece;
    }
    return 0;
}
