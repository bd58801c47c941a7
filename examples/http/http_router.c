/*
 * examples/http/http_router.c - a fixed table of routes (http_router.h).
 * A table of four entries is faster to search by comparing strings than
 * any structure would be, and reads as the list it is.
 */
#include "http_router.h"

#include <string.h>

#include "http_static.h"

static const char allow_get[] = "Allow: GET, HEAD\r\n";
static const char allow_post[] = "Allow: POST, PUT\r\n";

static bool is_get(unsigned m) { return m == HTTP_GET || m == HTTP_HEAD; }

static bool path_is(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && !memcmp(p, lit, l);
}

void http_route_request(const http_request *req, bool have_root, http_route *out)
{
    out->allow = NULL;
    out->rel[0] = '\0';
    const char *p = req->url;
    size_t n = req->url_len;
    /* Absolute form: skip "scheme://authority". */
    if (n && p[0] != '/') {
        const char *sep = strstr(p, "://");
        if (!sep) {
            out->kind = HTTP_ROUTE_BAD_TARGET; /* "*" and the like */
            return;
        }
        const char *path = strchr(sep + 3, '/');
        if (!path) {
            path = "/";
            n = 1;
            p = path;
        } else {
            n -= (size_t)(path - p);
            p = path;
        }
    }
    if (n == 0) {
        out->kind = HTTP_ROUTE_BAD_TARGET;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (p[i] == '?' || p[i] == '#') {
            n = i;
            break;
        }

    if (path_is(p, n, "/") || path_is(p, n, "/hello")) {
        out->kind = is_get(req->method) ? HTTP_ROUTE_HELLO : HTTP_ROUTE_BAD_METHOD;
    } else if (path_is(p, n, "/status")) {
        out->kind = is_get(req->method) ? HTTP_ROUTE_STATUS : HTTP_ROUTE_BAD_METHOD;
    } else if (path_is(p, n, "/body")) {
        out->kind = req->method == HTTP_POST || req->method == HTTP_PUT ? HTTP_ROUTE_BODY
                                                                        : HTTP_ROUTE_BAD_METHOD;
        out->allow = allow_post;
        return;
    } else if (n > 8 && !memcmp(p, "/static/", 8) && have_root) {
        if (!is_get(req->method))
            out->kind = HTTP_ROUTE_BAD_METHOD;
        else if (http_static_path(p + 8, n - 8, out->rel, sizeof out->rel))
            out->kind = HTTP_ROUTE_STATIC;
        else
            out->kind = HTTP_ROUTE_NOT_FOUND;
    } else {
        out->kind = HTTP_ROUTE_NOT_FOUND;
    }
    if (out->kind == HTTP_ROUTE_BAD_METHOD)
        out->allow = allow_get;
}
