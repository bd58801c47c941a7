/*
 * examples/http/http_request.h - the request side of the HTTP server: glue
 * between a connection's bytes and Debian's packaged nodejs/http-parser
 * (libhttp-parser-dev, 2.9.4).
 *
 * The parser is a push parser: feed it whatever recv returned, in pieces as
 * small as one byte, and it calls back as it recognises the request line,
 * each header, the body and the end of the message.  The reader copies what
 * the router needs (method, version, URL, keep-alive, the Expect header,
 * body length) into one http_request and pauses the parser at the end of
 * each message, so a caller holding several pipelined requests in one
 * buffer answers them one at a time, in order, and resumes where the
 * previous one ended.  Bodies are counted and discarded, never stored: a
 * connection's memory does not grow with what a client sends.
 *
 * Limits (a request over one is refused with 413 and the connection
 * closed):
 *   max_header  bytes of URL plus header names and values of one request
 *               (the request line and headers of a 1 GB announcement fail
 *               here, after max_header bytes, not after 1 GB);
 *   max_body    bytes of body, checked against Content-Length as soon as
 *               the headers end and against the bytes of a chunked body as
 *               they arrive;
 *   the URL     at most HTTP_MAX_URL bytes (it is kept in the request).
 * Anything the parser rejects (bad method, bad version, a bad
 * Content-Length, bad chunk sizes, stray bytes) is a 400.
 */
#ifndef HTTP_REQUEST_H
#define HTTP_REQUEST_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { HTTP_MAX_URL = 2048 };

typedef struct http_limits {
    uint32_t max_header; /* URL + header bytes of one request */
    uint64_t max_body;   /* body bytes of one request */
} http_limits;

/* Defaults: 8 KiB of headers (nginx's large_client_header_buffers), 1 MiB
 * of body (nginx's client_max_body_size). */
#define HTTP_LIMITS_DEFAULT ((http_limits){.max_header = 8192, .max_body = 1u << 20})

/* One parsed request; valid from HTTP_PARSE_REQUEST until the next feed. */
typedef struct http_request {
    unsigned method;          /* enum http_method */
    unsigned short major, minor;
    bool keep_alive;          /* the version's default and Connection: decide */
    bool upgrade;             /* Upgrade/CONNECT: not served, the connection ends */
    bool expect_continue;     /* Expect: 100-continue was sent */
    uint64_t body_len;        /* body bytes received (discarded) */
    size_t url_len;
    char url[HTTP_MAX_URL + 1]; /* NUL-terminated request target */
} http_request;

typedef enum http_parse_rc {
    HTTP_PARSE_MORE,    /* every byte consumed, no complete request yet */
    HTTP_PARSE_REQUEST, /* r->req is complete; feed the rest (from *used) next */
    HTTP_PARSE_ERROR,   /* r->error_status says what to answer; stop reading */
} http_parse_rc;

typedef struct http_reader {
    http_parser p;
    http_limits lim;
    http_request req;
    uint32_t head_bytes;   /* URL + header bytes of the current request */
    int error_status;      /* 400 or 413 once feed returned HTTP_PARSE_ERROR */
    bool too_big;          /* a callback refused a limit: 413, not 400 */
    bool in_message;       /* bytes of a request seen, not complete yet */
    bool complete;         /* paused at the end of req */
    bool send_continue;    /* headers asked for 100-continue: the caller
                              answers "100 Continue" and clears this */
    /* The header being parsed: its name (lower-cased, first 15 bytes) and
     * value, both possibly arriving in several pieces. */
    bool in_value;
    bool is_expect;
    uint8_t name_len, value_len;
    char name[16], value[16];
} http_reader;

void http_reader_init(http_reader *r, const http_limits *lim);

/*
 * Parse buf[0..len).  *used is set to the bytes consumed.  HTTP_PARSE_MORE:
 * all of them, wait for more.  HTTP_PARSE_REQUEST: r->req is a complete
 * request; answer it, then call again with buf + *used (the parser resumes
 * by itself).  HTTP_PARSE_ERROR: r->error_status (400, 413) is the answer;
 * the reader stays failed.  len 0 returns HTTP_PARSE_MORE.
 */
http_parse_rc http_reader_feed(http_reader *r, const char *buf, size_t len, size_t *used);

#endif
