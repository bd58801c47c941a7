/*
 * examples/http/http_response.c - response heads and bodies.  The hello
 * route runs through here once per request, so the writer appends pieces
 * with memcpy and formats the date once a second per thread (a thread-local
 * cache: workers never share it) instead of calling snprintf per response.
 */
#include "http_response.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

const char *http_date_now(void)
{
    static _Thread_local time_t last = -1;
    static _Thread_local char buf[32];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

/* A bounded appender: once a piece does not fit, `ok` stays false. */
typedef struct sink {
    char *p, *end;
    bool ok;
} sink;

static void put(sink *s, const char *src, size_t n)
{
    if (!s->ok || (size_t)(s->end - s->p) < n) {
        s->ok = false;
        return;
    }
    memcpy(s->p, src, n);
    s->p += n;
}
static void puts_(sink *s, const char *str) { put(s, str, strlen(str)); }

static void put_u64(sink *s, uint64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *b = e;
    do {
        *--b = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(s, b, (size_t)(e - b));
}

ssize_t http_write_head(char *dst, size_t cap, int status, const char *content_type,
                        uint64_t content_length, http_conn_mode mode, const char *extra)
{
    sink s = {dst, dst + cap, true};
    if (status < 100 || status > 999)
        return -EINVAL;
    puts_(&s, "HTTP/1.1 ");
    put_u64(&s, (uint64_t)status);
    put(&s, " ", 1);
    puts_(&s, http_reason(status));
    puts_(&s, "\r\nServer: asyncrt\r\nDate: ");
    puts_(&s, http_date_now());
    if (content_type) {
        puts_(&s, "\r\nContent-Type: ");
        puts_(&s, content_type);
    }
    puts_(&s, "\r\nContent-Length: ");
    put_u64(&s, content_length);
    if (mode == HTTP_CLOSE)
        puts_(&s, "\r\nConnection: close");
    else if (mode == HTTP_KEEP_10)
        puts_(&s, "\r\nConnection: keep-alive");
    put(&s, "\r\n", 2);
    if (extra)
        puts_(&s, extra);
    put(&s, "\r\n", 2);
    return s.ok ? (ssize_t)(s.p - dst) : -ENOSPC;
}

ssize_t http_write_response(char *dst, size_t cap, int status, const char *content_type,
                            const char *body, size_t body_len, http_conn_mode mode,
                            bool head_only, const char *extra)
{
    ssize_t n = http_write_head(dst, cap, status, content_type, body_len, mode, extra);
    if (n < 0 || head_only)
        return n;
    if (cap - (size_t)n < body_len)
        return -ENOSPC;
    if (body_len)
        memcpy(dst + n, body, body_len);
    return n + (ssize_t)body_len;
}

ssize_t http_write_error(char *dst, size_t cap, int status, http_conn_mode mode, bool head_only,
                         const char *extra)
{
    char body[64];
    int len = snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
    if (len < 0 || (size_t)len >= sizeof body)
        return -EINVAL;
    return http_write_response(dst, cap, status, "text/plain; charset=utf-8", body, (size_t)len,
                               mode, head_only, extra);
}

ssize_t http_write_continue(char *dst, size_t cap)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (cap < sizeof msg - 1)
        return -ENOSPC;
    memcpy(dst, msg, sizeof msg - 1);
    return (ssize_t)(sizeof msg - 1);
}
