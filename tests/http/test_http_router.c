/*
 * tests/http/test_http_router.c - routing (examples/http/http_router.h),
 * static path checks (http_static.h), responses (http_response.h) and the
 * /status JSON (http_status.h).
 */
#include "../helpers.h"

#define T_STREQ(a, b)                                                            \
    cr_assert(t_is(strcmp((a), (b)) == 0), "%s is \"%s\", not \"%s\"", #a, (a), (b))

#include "http_response.h"
#include "http_router.h"
#include "http_static.h"
#include "http_status.h"

static http_route route_of(unsigned method, const char *url, bool root)
{
    http_request req = {.method = method, .major = 1, .minor = 1, .keep_alive = true};
    req.url_len = strlen(url);
    memcpy(req.url, url, req.url_len + 1);
    http_route r;
    http_route_request(&req, root, &r);
    return r;
}

Test(http_router, routes)
{
    T_EQ_INT(route_of(HTTP_GET, "/", true).kind, HTTP_ROUTE_HELLO);
    T_EQ_INT(route_of(HTTP_GET, "/hello", true).kind, HTTP_ROUTE_HELLO);
    T_EQ_INT(route_of(HTTP_HEAD, "/hello?x=1#f", true).kind, HTTP_ROUTE_HELLO);
    T_EQ_INT(route_of(HTTP_GET, "http://example.org/hello", true).kind, HTTP_ROUTE_HELLO);
    T_EQ_INT(route_of(HTTP_GET, "http://example.org", true).kind, HTTP_ROUTE_HELLO);
    T_EQ_INT(route_of(HTTP_GET, "/status", true).kind, HTTP_ROUTE_STATUS);
    T_EQ_INT(route_of(HTTP_POST, "/body", true).kind, HTTP_ROUTE_BODY);
    T_EQ_INT(route_of(HTTP_GET, "/hello/", true).kind, HTTP_ROUTE_NOT_FOUND);
    T_EQ_INT(route_of(HTTP_GET, "/nope", true).kind, HTTP_ROUTE_NOT_FOUND);
    T_EQ_INT(route_of(HTTP_OPTIONS, "*", true).kind, HTTP_ROUTE_BAD_TARGET);
    http_route r = route_of(HTTP_POST, "/hello", true);
    T_EQ_INT(r.kind, HTTP_ROUTE_BAD_METHOD);
    T_STREQ(r.allow, "Allow: GET, HEAD\r\n");
    r = route_of(HTTP_GET, "/body", true);
    T_EQ_INT(r.kind, HTTP_ROUTE_BAD_METHOD);
    T_STREQ(r.allow, "Allow: POST, PUT\r\n");
}

Test(http_router, static_files_only_with_a_root_and_safe_paths)
{
    http_route r = route_of(HTTP_GET, "/static/sub/a%20b.txt?v=2", true);
    T_EQ_INT(r.kind, HTTP_ROUTE_STATIC);
    T_STREQ(r.rel, "sub/a b.txt");
    T_EQ_INT(route_of(HTTP_GET, "/static/a.txt", false).kind, HTTP_ROUTE_NOT_FOUND);
    T_EQ_INT(route_of(HTTP_POST, "/static/a.txt", true).kind, HTTP_ROUTE_BAD_METHOD);
    static const char *refused[] = {
        "/static/../etc/passwd", "/static/a/../../x", "/static/%2e%2e/x", "/static/%2E%2e",
        "/static/./a", "/static/.hidden", "/static//etc/passwd", "/static/%2fetc/passwd",
        "/static/a%00b", "/static/a//b", "/static/a/", "/static/%zz", "/static/a%2",
        "/static/a/.git/config",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        cr_assert(eq(int, route_of(HTTP_GET, refused[i], true).kind, HTTP_ROUTE_NOT_FOUND), "%s",
                  refused[i]);
}

Test(http_static, path_decoding_bounds)
{
    char out[8];
    cr_assert(t_is(http_static_path("abcdefg", 7, out, sizeof out)));
    cr_assert(t_is(!http_static_path("abcdefgh", 8, out, sizeof out)), "does not fit");
    cr_assert(t_is(!http_static_path("", 0, out, sizeof out)));
    cr_assert(t_is(!http_static_path("a", 1, out, 0)));
}

Test(http_static, content_types)
{
    T_STREQ(http_content_type("a/b.HTML"), "text/html; charset=utf-8");
    T_STREQ(http_content_type("x.png"), "image/png");
    T_STREQ(http_content_type("dir.d/noext"), "application/octet-stream");
    T_STREQ(http_content_type("x."), "application/octet-stream");
}

Test(http_response, hello_keep_alive_and_close)
{
    char buf[512];
    ssize_t n = http_write_response(buf, sizeof buf, 200, "text/plain", "Hello, world!\n", 14,
                                    HTTP_KEEP, false, NULL);
    cr_assert(t_is(n > 0));
    buf[n] = '\0';
    cr_assert(t_is(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17)));
    cr_assert(t_is(strstr(buf, "\r\nContent-Length: 14\r\n")));
    cr_assert(t_is(strstr(buf, "\r\nDate: ") && strstr(buf, " GMT\r\n")));
    cr_assert(t_is(!strstr(buf, "Connection:")));
    cr_assert(t_is(!strcmp(buf + n - 18, "\r\n\r\nHello, world!\n")));

    n = http_write_response(buf, sizeof buf, 200, "text/plain", "Hello, world!\n", 14, HTTP_CLOSE,
                            true, NULL);
    buf[n] = '\0';
    cr_assert(t_is(strstr(buf, "\r\nConnection: close\r\n")));
    cr_assert(t_is(strstr(buf, "\r\nContent-Length: 14\r\n")), "HEAD keeps the length");
    cr_assert(t_is(!strcmp(buf + n - 4, "\r\n\r\n")), "HEAD has no body");

    n = http_write_head(buf, sizeof buf, 200, NULL, 0, HTTP_KEEP_10, NULL);
    buf[n] = '\0';
    cr_assert(t_is(strstr(buf, "\r\nConnection: keep-alive\r\n")));
}

Test(http_response, errors_and_overflow)
{
    char buf[512];
    ssize_t n = http_write_error(buf, sizeof buf, 405, HTTP_CLOSE, false, "Allow: GET, HEAD\r\n");
    cr_assert(t_is(n > 0));
    buf[n] = '\0';
    cr_assert(t_is(!strncmp(buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33)));
    cr_assert(t_is(strstr(buf, "\r\nAllow: GET, HEAD\r\n")));
    cr_assert(t_is(!strcmp(buf + n - 23, "405 Method Not Allowed\n")));
    for (size_t cap = 0; cap < (size_t)n; cap++)
        cr_assert(eq(long, (long)http_write_error(buf, cap, 405, HTTP_CLOSE, false, "Allow: GET, HEAD\r\n"),
                     (long)-ENOSPC));
    T_EQ_INT(http_write_head(buf, sizeof buf, 42, NULL, 0, HTTP_KEEP, NULL), -EINVAL);
    T_STREQ(http_reason(413), "Content Too Large");
    T_STREQ(http_reason(408), "Request Timeout");
    n = http_write_continue(buf, sizeof buf);
    T_EQ_INT(n, 25);
    T_EQ_INT(http_write_continue(buf, 3), -ENOSPC);
}

Test(http_status, json_of_the_metrics, .timeout = 30)
{
    ar_rt_opts o;
    ar_rt_opts_init(&o);
    o.workers = 2;
    ar_rt *rt;
    T_OK(ar_rt_new(&rt, &o));
    char buf[4096];
    ssize_t n = http_status_json(rt, buf, sizeof buf);
    cr_assert(t_is(n > 0));
    buf[n] = '\0';
    cr_assert(t_is(!strncmp(buf, "{\"workers\":2,", 13)), "%s", buf);
    cr_assert(t_is(!strcmp(buf + n - 4, "}]}\n")), "%s", buf);
    /* Two per-worker objects, balanced braces and brackets. */
    int depth = 0, objects = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '{' || buf[i] == '[')
            depth++, objects += buf[i] == '{';
        if (buf[i] == '}' || buf[i] == ']')
            depth--;
        cr_assert(t_is(depth >= 0));
    }
    T_EQ_INT(depth, 0);
    T_EQ_INT(objects, 3);
    T_EQ_INT(http_status_json(rt, buf, 40), -ENOSPC);
    T_EQ_INT(http_status_json(NULL, buf, sizeof buf), -EINVAL);
    ar_rt_free(rt);
}
