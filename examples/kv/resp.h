/*
 * examples/kv/resp.h - RESP2 (the Redis protocol): an incremental request
 * parser and the reply writers.
 *
 * Requests come in two shapes, as Redis takes them:
 *   multibulk  *<n>\r\n then n times $<len>\r\n<len bytes>\r\n  (what every
 *              client library, redis-cli and redis-benchmark send)
 *   inline     a line of words separated by spaces, ending in \n (telnet;
 *              "double" and 'single' quotes group words, with \n \r \t \\
 *              \" and \xHH escapes inside double quotes)
 *
 * Incremental: resp_parse looks at the unconsumed bytes of a connection's
 * read buffer.  When they hold a whole request it returns RESP_REQUEST
 * and the arguments as offsets into those bytes.  When they do not, it
 * returns RESP_MORE and remembers how far it got (which arguments are
 * complete, where the next one starts), so the next call, with the same
 * bytes plus whatever arrived, resumes there instead of starting over: a
 * request arriving in many pieces costs O(its size), not O(size^2).  The
 * caller may move the bytes (compact or grow its buffer) between calls,
 * as the state holds offsets only.
 *
 * Limits, each a protocol error (the connection gets "-ERR Protocol
 * error: ..." and is closed, as in Redis):
 *   - a bulk length above max_bulk (default 512 MiB, Redis's
 *     proto-max-bulk-len), or negative;
 *   - an argument count above max_args (default 1,048,576), or a count
 *     line that is not a number;
 *   - an inline request, or a count or length line, longer than
 *     max_inline (default 64 KiB) without its newline.
 * Nothing is preallocated from an announced length: the parser never
 * allocates for bulk data (arguments stay in the caller's buffer) and its
 * argument array grows by doubling as arguments actually arrive, so a
 * client announcing 1 GB (or a million arguments) and sending nothing
 * makes no memory grow.
 *
 * The reply writers append to a growable buffer; an allocation failure
 * sets `oom` and further appends are ignored (the caller closes the
 * connection).
 */
#ifndef EXAMPLES_KV_RESP_H
#define EXAMPLES_KV_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_DEFAULT_MAX_BULK (512ull << 20)
#define RESP_DEFAULT_MAX_ARGS (1u << 20)
#define RESP_DEFAULT_MAX_INLINE (64u << 10)

/* One argument: off and len in the bytes given to resp_parse. */
typedef struct resp_arg {
    size_t off, len;
} resp_arg;

typedef struct resp_limits {
    uint64_t max_bulk;
    uint32_t max_args;
    uint32_t max_inline;
} resp_limits;

/* A parser: one per connection.  Zero it then resp_parser_init. */
typedef struct resp_parser {
    resp_limits lim;
    /* Request in progress (all offsets relative to its first byte). */
    int64_t nargs;    /* announced count, 0 when no multibulk started */
    uint32_t got;     /* arguments complete */
    size_t pos;       /* first byte not parsed yet */
    int64_t bulk_len; /* length of the bulk whose header was read, or -1 */
    /* Arguments of the request (grown by doubling, never past what
     * arrived: at most got + 1 entries are ever needed). */
    resp_arg *argv;
    uint32_t argv_cap;
    const char *err;  /* the protocol error's text after RESP_ERROR */
} resp_parser;

enum {
    RESP_MORE = 0,    /* no complete request yet */
    RESP_REQUEST = 1, /* a request: p->argv[0..*argc), *used bytes */
    RESP_SKIP = 2,    /* *used bytes held no command (an empty line,
                         "*0\r\n"): drop them, parse on */
    RESP_ERROR = -1,  /* protocol error: p->err; the connection is done */
    RESP_NOMEM = -2,  /* the argument array could not grow */
};

/* lim NULL: the defaults. */
void resp_parser_init(resp_parser *p, const resp_limits *lim);
void resp_parser_free(resp_parser *p);

/*
 * Parse the request that starts at buf[0] (len bytes are there; an inline
 * request is decoded in place, so buf is written).  Returns one of the
 * RESP_ values; on RESP_REQUEST and RESP_SKIP, *argc and *used are set and
 * the parser is ready for the next request (at buf + *used).
 */
int resp_parse(resp_parser *p, char *buf, size_t len, uint32_t *argc, size_t *used);

/* The number of bytes the request in progress needs before it can
 * complete, as far as the parser knows (a hint for growing the read
 * buffer; at least len + 1). */
size_t resp_need(const resp_parser *p, size_t len);

/* ---- replies ------------------------------------------------------------- */

typedef struct resp_buf {
    char *data;
    size_t len, cap;
    bool oom;
} resp_buf;

void resp_buf_free(resp_buf *b);
/* Room for n more bytes; false (and oom set) when it cannot grow. */
bool resp_reserve(resp_buf *b, size_t n);
void resp_raw(resp_buf *b, const void *p, size_t n);
void resp_simple(resp_buf *b, const char *s);      /* +s\r\n */
void resp_error(resp_buf *b, const char *s);       /* -s\r\n (s starts with ERR ...) */
void resp_int(resp_buf *b, int64_t v);             /* :v\r\n */
void resp_bulk(resp_buf *b, const void *p, size_t n); /* $n\r\n...\r\n */
void resp_null(resp_buf *b);                       /* $-1\r\n */
void resp_array(resp_buf *b, int64_t n);           /* *n\r\n */

/* Strict decimal int64 ("-12"; no spaces, no '+', no leading zeros
 * beyond "0"): true and *out, or false. */
bool resp_parse_i64(const char *s, size_t n, int64_t *out);

#endif
