/*
 * examples/http/http_router.h - which handler answers a request.
 *
 *   GET|HEAD /, /hello       "Hello, world!\n" (text/plain)
 *   GET|HEAD /status         the runtime's metrics as JSON (http_status.h)
 *   GET|HEAD /static/PATH    the file PATH under --root (http_static.h)
 *   POST /body               reads the body, answers "received N bytes\n"
 *   a known path, other method   405 with an Allow line
 *   anything else            404
 *
 * The target may be in origin form ("/hello?x=1") or absolute form
 * ("http://host/hello"); the query and fragment are ignored.
 */
#ifndef HTTP_ROUTER_H
#define HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http_request.h"

typedef enum http_route_kind {
    HTTP_ROUTE_HELLO,
    HTTP_ROUTE_STATUS,
    HTTP_ROUTE_STATIC,
    HTTP_ROUTE_BODY,
    HTTP_ROUTE_NOT_FOUND,
    HTTP_ROUTE_BAD_METHOD, /* 405; allow says which */
    HTTP_ROUTE_BAD_TARGET, /* 400: a target that is not a path */
} http_route_kind;

typedef struct http_route {
    http_route_kind kind;
    const char *allow; /* the Allow header line of a 405 */
    /* HTTP_ROUTE_STATIC: the file's path relative to the root, decoded
     * and checked by http_static_path (never absolute, no "." or ".."
     * segment, no NUL). */
    char rel[HTTP_MAX_URL + 1];
} http_route;

/* Route req.  have_root: static files are served (--root given); without
 * it /static/... is a 404. */
void http_route_request(const http_request *req, bool have_root, http_route *out);

#endif
