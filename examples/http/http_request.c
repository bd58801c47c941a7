/*
 * examples/http/http_request.c - http-parser callbacks that fill one
 * http_request and enforce the limits (http_request.h says what each is).
 *
 * Invariant: between feeds the parser is either running (HPE_OK) with
 * r->complete false, paused (HPE_PAUSED) with r->complete true and r->req
 * the request it paused after, or failed with r->error_status set.  Only
 * the connection's task touches a reader.
 */
#include "http_request.h"

#include <string.h>

static http_reader *reader_of(http_parser *p) { return p->data; }

/* Count head bytes; refuse once over the limit (the callback's non-zero
 * return makes http_parser_execute stop with HPE_CB_*). */
static int count_head(http_reader *r, size_t len)
{
    if (len > r->lim.max_header || r->head_bytes + len > r->lim.max_header) {
        r->too_big = true;
        return 1;
    }
    r->head_bytes += (uint32_t)len;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    http_reader *r = reader_of(p);
    memset(&r->req, 0, offsetof(http_request, url));
    r->req.url_len = 0;
    r->req.url[0] = '\0';
    r->head_bytes = 0;
    r->in_message = true;
    r->in_value = false;
    r->name_len = r->value_len = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    http_reader *r = reader_of(p);
    if (count_head(r, len))
        return 1;
    if (r->req.url_len + len > HTTP_MAX_URL) {
        r->too_big = true;
        return 1;
    }
    memcpy(r->req.url + r->req.url_len, at, len);
    r->req.url_len += len;
    r->req.url[r->req.url_len] = '\0';
    return 0;
}

/* Append a piece to a short lower-cased buffer; bytes past its size are
 * dropped but still counted (so a long name never matches a short one). */
static void append_lc(char *buf, uint8_t *n, const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (*n < 15) {
            char c = at[i];
            buf[*n] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        if (*n < 255)
            (*n)++;
    }
}

/* The value of the previous header is complete: act on it. */
static void end_header(http_reader *r)
{
    if (r->in_value && r->name_len == 6 && !memcmp(r->name, "expect", 6) &&
        r->value_len == 12 && !memcmp(r->value, "100-continue", 12))
        r->req.expect_continue = true;
    r->in_value = false;
    r->name_len = r->value_len = 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    http_reader *r = reader_of(p);
    if (count_head(r, len))
        return 1;
    if (r->in_value)
        end_header(r);
    append_lc(r->name, &r->name_len, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    http_reader *r = reader_of(p);
    if (count_head(r, len))
        return 1;
    r->in_value = true;
    append_lc(r->value, &r->value_len, at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    http_reader *r = reader_of(p);
    end_header(r);
    r->req.method = p->method;
    r->req.major = p->http_major;
    r->req.minor = p->http_minor;
    /* content_length is ULLONG_MAX when there is none (chunked or empty). */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->lim.max_body) {
        r->too_big = true;
        return -1; /* any value but 0, 1, 2: an error (HPE_CB_headers_complete) */
    }
    /* Answer 100-continue only when a body is coming and will be read. */
    if (r->req.expect_continue && (p->flags & (F_CONTENTLENGTH | F_CHUNKED)) &&
        !((p->flags & F_CONTENTLENGTH) && p->content_length == 0))
        r->send_continue = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    (void)at;
    http_reader *r = reader_of(p);
    if (r->req.body_len + len > r->lim.max_body) {
        r->too_big = true;
        return 1;
    }
    r->req.body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_reader *r = reader_of(p);
    r->req.keep_alive = http_should_keep_alive(p) != 0;
    r->req.upgrade = p->upgrade != 0;
    r->complete = true;
    r->in_message = false;
    /* Stop here: the caller answers this request before the parser looks
     * at the next one (pipelining keeps its order). */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_reader_init(http_reader *r, const http_limits *lim)
{
    memset(r, 0, offsetof(http_reader, req));
    r->lim = lim ? *lim : HTTP_LIMITS_DEFAULT;
    memset(&r->req, 0, offsetof(http_request, url));
    r->req.url_len = 0;
    r->req.url[0] = '\0';
    r->head_bytes = 0;
    r->error_status = 0;
    r->too_big = r->in_message = r->complete = r->send_continue = false;
    r->in_value = r->is_expect = false;
    r->name_len = r->value_len = 0;
    http_parser_init(&r->p, HTTP_REQUEST);
    r->p.data = r;
}

http_parse_rc http_reader_feed(http_reader *r, const char *buf, size_t len, size_t *used)
{
    *used = 0;
    if (r->error_status)
        return HTTP_PARSE_ERROR;
    if (r->complete) {
        r->complete = false;
        http_parser_pause(&r->p, 0);
    }
    if (len == 0)
        return HTTP_PARSE_MORE; /* a zero length means EOF to http-parser */
    size_t n = http_parser_execute(&r->p, &settings, buf, len);
    *used = n;
    if (r->complete)
        return HTTP_PARSE_REQUEST;
    if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK || n != len || r->p.upgrade) {
        /* A request the parser stops at without completing (an upgrade
         * whose message never ends) counts as malformed here. */
        r->error_status = (r->too_big || HTTP_PARSER_ERRNO(&r->p) == HPE_HEADER_OVERFLOW) ? 413
                                                                                           : 400;
        return HTTP_PARSE_ERROR;
    }
    return HTTP_PARSE_MORE;
}
