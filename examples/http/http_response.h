/*
 * examples/http/http_response.h - writing HTTP/1.1 responses into a
 * connection's output buffer.
 *
 * Every response carries Server, Date, Content-Length and, when it matters,
 * Connection: "close" when the server closes after it, "keep-alive" when an
 * HTTP/1.0 client asked to keep the connection.  Writers never overflow:
 * they return the bytes written or -ENOSPC and write nothing.
 */
#ifndef HTTP_RESPONSE_H
#define HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http_request.h"

/* How the connection goes on after a response. */
typedef enum http_conn_mode {
    HTTP_KEEP,        /* HTTP/1.1 persistent: no Connection header */
    HTTP_KEEP_10,     /* HTTP/1.0 client that asked for keep-alive */
    HTTP_CLOSE,       /* the server closes after this response */
} http_conn_mode;

/* The mode a request's answer takes. */
static inline http_conn_mode http_mode_of(const http_request *req)
{
    if (!req->keep_alive || req->upgrade)
        return HTTP_CLOSE;
    return (req->major == 1 && req->minor == 0) ? HTTP_KEEP_10 : HTTP_KEEP;
}

/* "Not Found" for 404...; "Unknown" for codes it does not know. */
const char *http_reason(int status);

/* The status line and headers of a response with a body of content_length
 * bytes (not written here).  extra: more header lines, each ending in
 * "\r\n", or NULL. */
ssize_t http_write_head(char *dst, size_t cap, int status, const char *content_type,
                        uint64_t content_length, http_conn_mode mode, const char *extra);

/* A whole response: head and body (the body is left out when head_only, as
 * for HEAD, while Content-Length still says its size). */
ssize_t http_write_response(char *dst, size_t cap, int status, const char *content_type,
                            const char *body, size_t body_len, http_conn_mode mode,
                            bool head_only, const char *extra);

/* A short text/plain error page ("404 Not Found\n"); extra as above (405
 * passes its Allow line). */
ssize_t http_write_error(char *dst, size_t cap, int status, http_conn_mode mode, bool head_only,
                         const char *extra);

/* "HTTP/1.1 100 Continue\r\n\r\n" */
ssize_t http_write_continue(char *dst, size_t cap);

/* The IMF-fixdate of now ("Sun, 06 Nov 1994 08:49:37 GMT", 29 bytes),
 * formatted at most once a second per thread. */
const char *http_date_now(void);

#endif
