/*
 * tests/http/test_http_request.c - the request glue over http-parser
 * (examples/http/http_request.h): complete requests, pipelining, requests
 * split at every byte, keep-alive rules of 1.0 and 1.1, bodies, limits
 * (413) and malformed input (400).
 */
#include "../helpers.h"

#define T_STREQ(a, b)                                                            \
    cr_assert(t_is(strcmp((a), (b)) == 0), "%s is \"%s\", not \"%s\"", #a, (a), (b))

#include "http_request.h"

/* Feed all of s (in pieces of `step` bytes), collecting the requests. */
typedef struct fed {
    int n;              /* requests seen */
    http_request req[8];
    http_parse_rc last;
    int error_status;
} fed;

static fed feed_all(const http_limits *lim, const char *s, size_t len, size_t step)
{
    http_reader r;
    http_reader_init(&r, lim);
    fed f = {0};
    f.last = HTTP_PARSE_MORE;
    for (size_t off = 0; off < len && f.last != HTTP_PARSE_ERROR;) {
        size_t piece = len - off < step ? len - off : step;
        size_t pos = 0;
        while (pos < piece) {
            size_t used;
            f.last = http_reader_feed(&r, s + off + pos, piece - pos, &used);
            cr_assert(t_is(used <= piece - pos));
            pos += used;
            if (f.last == HTTP_PARSE_REQUEST) {
                if (f.n < 8)
                    f.req[f.n] = r.req;
                f.n++;
            } else {
                break;
            }
        }
        if (f.last == HTTP_PARSE_ERROR) {
            f.error_status = r.error_status;
            break;
        }
        off += piece;
    }
    return f;
}

#define FEED(lit, step) feed_all(NULL, lit, sizeof lit - 1, step)

Test(http_request, simple_get)
{
    fed f = FEED("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 4096);
    T_EQ_INT(f.n, 1);
    T_EQ_INT(f.req[0].method, HTTP_GET);
    T_STREQ(f.req[0].url, "/hello?x=1");
    T_EQ_INT(f.req[0].major, 1);
    T_EQ_INT(f.req[0].minor, 1);
    cr_assert(t_is(f.req[0].keep_alive));
    cr_assert(t_is(!f.req[0].upgrade));
}

Test(http_request, pipelined_requests_come_out_one_at_a_time_in_order)
{
    static const char s[] = "GET /a HTTP/1.1\r\n\r\n"
                            "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                            "HEAD /c HTTP/1.1\r\nConnection: close\r\n\r\n";
    /* Whole, and split at every possible size: the same three requests. */
    for (size_t step = 1; step <= sizeof s; step++) {
        fed f = feed_all(NULL, s, sizeof s - 1, step);
        cr_assert(eq(int, f.n, 3), "step %zu", step);
        T_STREQ(f.req[0].url, "/a");
        T_STREQ(f.req[1].url, "/b");
        T_EQ_INT(f.req[1].method, HTTP_POST);
        T_EQ_U64(f.req[1].body_len, 5);
        cr_assert(t_is(f.req[1].keep_alive));
        T_STREQ(f.req[2].url, "/c");
        T_EQ_INT(f.req[2].method, HTTP_HEAD);
        cr_assert(t_is(!f.req[2].keep_alive), "Connection: close is honoured");
    }
}

Test(http_request, http10_closes_unless_keep_alive_asked)
{
    fed f = FEED("GET / HTTP/1.0\r\n\r\n", 4096);
    T_EQ_INT(f.n, 1);
    T_EQ_INT(f.req[0].minor, 0);
    cr_assert(t_is(!f.req[0].keep_alive));
    f = FEED("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 4096);
    T_EQ_INT(f.n, 1);
    cr_assert(t_is(f.req[0].keep_alive));
}

Test(http_request, chunked_body_is_counted)
{
    fed f = FEED("POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                 7);
    T_EQ_INT(f.n, 2);
    T_EQ_U64(f.req[0].body_len, 11);
}

Test(http_request, expect_continue_is_reported_once_for_a_body)
{
    http_reader r;
    http_reader_init(&r, NULL);
    static const char s[] = "POST /body HTTP/1.1\r\nEXPECT: 100-Continue\r\nContent-Length: 3\r\n\r\n";
    size_t used;
    T_EQ_INT(http_reader_feed(&r, s, sizeof s - 1, &used), HTTP_PARSE_MORE);
    cr_assert(t_is(r.send_continue));
    T_EQ_INT(http_reader_feed(&r, "abc", 3, &used), HTTP_PARSE_REQUEST);
    cr_assert(t_is(r.req.expect_continue));
    /* No body announced: nothing to continue. */
    http_reader_init(&r, NULL);
    static const char g[] = "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
    T_EQ_INT(http_reader_feed(&r, g, sizeof g - 1, &used), HTTP_PARSE_REQUEST);
    cr_assert(t_is(!r.send_continue));
}

Test(http_request, malformed_is_400)
{
    static const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "\x01\x02\x03",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fed f = feed_all(NULL, bad[i], strlen(bad[i]), 4096);
        cr_assert(eq(int, f.error_status, 400), "case %zu", i);
        T_EQ_INT(f.last, HTTP_PARSE_ERROR);
        T_EQ_INT(f.n, 0);
    }
}

Test(http_request, limits_are_413)
{
    http_limits lim = {.max_header = 100, .max_body = 10};
    char buf[512];
    /* A URL over the header limit. */
    int n = snprintf(buf, sizeof buf, "GET /%0200d HTTP/1.1\r\n\r\n", 0);
    fed f = feed_all(&lim, buf, (size_t)n, 4096);
    T_EQ_INT(f.error_status, 413);
    /* Headers over it, fed a byte at a time: refused once over, not at the end. */
    n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nX: %0200d\r\n\r\n", 0);
    f = feed_all(&lim, buf, (size_t)n, 1);
    T_EQ_INT(f.error_status, 413);
    /* A Content-Length over the body limit: refused at the headers. */
    static const char cl[] = "POST / HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n";
    f = feed_all(&lim, cl, sizeof cl - 1, 4096);
    T_EQ_INT(f.error_status, 413);
    /* A chunked body that grows over it. */
    static const char ch[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n";
    f = feed_all(&lim, ch, sizeof ch - 1, 3);
    T_EQ_INT(f.error_status, 413);
    /* At the limits exactly: fine. */
    static const char ok[] = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    f = feed_all(&lim, ok, sizeof ok - 1, 5);
    T_EQ_INT(f.n, 1);
    T_EQ_U64(f.req[0].body_len, 10);
}

Test(http_request, long_url_over_the_url_buffer_is_413)
{
    http_limits lim = {.max_header = 1u << 20, .max_body = 10};
    static char buf[HTTP_MAX_URL + 64];
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "GET /", 5);
    fed f = feed_all(&lim, buf, sizeof buf, 100);
    T_EQ_INT(f.error_status, 413);
}

Test(http_request, a_failed_reader_stays_failed)
{
    http_reader r;
    http_reader_init(&r, NULL);
    size_t used;
    T_EQ_INT(http_reader_feed(&r, "XX\r\n", 4, &used), HTTP_PARSE_ERROR);
    T_EQ_INT(http_reader_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18, &used), HTTP_PARSE_ERROR);
    T_EQ_INT(used, 0);
    T_EQ_INT(http_reader_feed(&r, "", 0, &used), HTTP_PARSE_ERROR);
}

Test(http_request, upgrade_is_reported)
{
    fed f = FEED("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 4096);
    T_EQ_INT(f.n, 1);
    cr_assert(t_is(f.req[0].upgrade));
}
