/*
 * examples/kv/resp.c - the RESP2 request parser and reply writers
 * (resp.h says what they accept and why they are shaped so).
 *
 * Parser invariants, between calls on one request:
 *   - nargs == 0: nothing of the request is parsed (pos == 0).
 *   - nargs > 0: the "*<n>\r\n" line was read; argv[0..got) are complete;
 *     pos is the first byte after the last complete element (a header line
 *     or a bulk with its CRLF); bulk_len >= 0 when the "$<len>\r\n" of
 *     argument `got` was read (pos is then the first byte of its data),
 *     -1 when pos points at that header.
 * Everything the parser remembers is an offset from the request's first
 * byte, so the caller may move the bytes between calls.
 */
#include "resp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest "*<n>" or "$<len>" line: a sign, 20 digits and more than enough
 * slack; a longer one is an error well before max_inline. */
#define HEADER_MAX 32

void resp_parser_init(resp_parser *p, const resp_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->lim = lim ? *lim
                 : (resp_limits){RESP_DEFAULT_MAX_BULK, RESP_DEFAULT_MAX_ARGS,
                                 RESP_DEFAULT_MAX_INLINE};
    p->bulk_len = -1;
}

void resp_parser_free(resp_parser *p)
{
    free(p->argv);
    p->argv = NULL;
    p->argv_cap = 0;
}

static void reset(resp_parser *p)
{
    p->nargs = 0;
    p->got = 0;
    p->pos = 0;
    p->bulk_len = -1;
}

bool resp_parse_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (n == 1)
            return false;
    }
    if (s[i] == '0' && n > i + 1)
        return false; /* leading zeros, and "-0..." */
    if (neg && s[i] == '0')
        return false; /* "-0" */
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

/* Make room for argument index i (grow by doubling: only arguments that
 * arrived ever get an entry). */
static bool argv_room(resp_parser *p, uint32_t i)
{
    if (i < p->argv_cap)
        return true;
    uint32_t cap = p->argv_cap ? p->argv_cap * 2 : 8;
    resp_arg *a = realloc(p->argv, (size_t)cap * sizeof *a);
    if (!a)
        return false;
    p->argv = a;
    p->argv_cap = cap;
    return true;
}

static int fail(resp_parser *p, const char *why)
{
    p->err = why;
    reset(p);
    return RESP_ERROR;
}

/*
 * Read a "<c><number>\r\n" line at buf[pos]: RESP_REQUEST with *v and
 * *next set, RESP_MORE, or RESP_ERROR (err_len for a bad number).
 */
static int header(resp_parser *p, const char *buf, size_t len, size_t pos, int64_t *v,
                  size_t *next, const char *err_long, const char *err_num)
{
    size_t avail = len - pos;
    size_t look = avail < HEADER_MAX ? avail : HEADER_MAX;
    const char *cr = memchr(buf + pos, '\r', look);
    if (!cr)
        return avail >= HEADER_MAX ? fail(p, err_long) : RESP_MORE;
    size_t at = (size_t)(cr - buf);
    if (at + 1 >= len)
        return RESP_MORE; /* the \n has not arrived */
    if (buf[at + 1] != '\n')
        return fail(p, err_num);
    if (!resp_parse_i64(buf + pos + 1, at - pos - 1, v))
        return fail(p, err_num);
    *next = at + 2;
    return RESP_REQUEST;
}

/* ---- inline requests ------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Split the line buf[0..end) into words, decoding quotes in place (a
 * decoded word is never longer than its source). */
static int parse_inline(resp_parser *p, char *buf, size_t len, uint32_t *argc, size_t *used)
{
    size_t look = len < (size_t)p->lim.max_inline + 1 ? len : (size_t)p->lim.max_inline + 1;
    char *nl = memchr(buf, '\n', look);
    if (!nl)
        return len > p->lim.max_inline ? fail(p, "Protocol error: too big inline request")
                                       : RESP_MORE;
    size_t end = (size_t)(nl - buf);
    *used = end + 1;
    if (end > 0 && buf[end - 1] == '\r')
        end--;
    uint32_t n = 0;
    size_t i = 0;
    for (;;) {
        while (i < end && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r'))
            i++;
        if (i >= end)
            break;
        if (n >= p->lim.max_args)
            return fail(p, "Protocol error: too many arguments in inline request");
        if (!argv_room(p, n)) {
            reset(p);
            return RESP_NOMEM;
        }
        size_t out = i, start = i;
        if (buf[i] == '"' || buf[i] == '\'') {
            char q = buf[i++];
            bool closed = false;
            while (i < end) {
                char c = buf[i];
                if (c == q) {
                    closed = true;
                    i++;
                    break;
                }
                if (q == '"' && c == '\\' && i + 1 < end) {
                    char e = buf[i + 1];
                    i += 2;
                    if (e == 'x' && i + 1 < end && hexval(buf[i]) >= 0 && hexval(buf[i + 1]) >= 0) {
                        c = (char)(hexval(buf[i]) * 16 + hexval(buf[i + 1]));
                        i += 2;
                    } else {
                        c = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e == 'b' ? '\b'
                            : e == 'a' ? '\a' : e;
                    }
                } else if (q == '\'' && c == '\\' && i + 1 < end && buf[i + 1] == '\'') {
                    c = '\'';
                    i += 2;
                } else {
                    i++;
                }
                buf[out++] = c;
            }
            /* A closing quote must end the word, as in Redis. */
            if (!closed || (i < end && buf[i] != ' ' && buf[i] != '\t'))
                return fail(p, "Protocol error: unbalanced quotes in request");
        } else {
            while (i < end && buf[i] != ' ' && buf[i] != '\t')
                i++;
            out = i;
        }
        p->argv[n].off = start;
        p->argv[n].len = out - start;
        n++;
    }
    reset(p);
    if (n == 0)
        return RESP_SKIP;
    *argc = n;
    return RESP_REQUEST;
}

/* ---- multibulk requests ---------------------------------------------------- */

int resp_parse(resp_parser *p, char *buf, size_t len, uint32_t *argc, size_t *used)
{
    if (len == 0)
        return RESP_MORE;
    int rc;
    if (p->nargs == 0) {
        if (buf[0] != '*')
            return parse_inline(p, buf, len, argc, used);
        int64_t n;
        size_t next;
        rc = header(p, buf, len, 0, &n, &next, "Protocol error: too big mbulk count string",
                    "Protocol error: invalid multibulk length");
        if (rc != RESP_REQUEST)
            return rc;
        if (n > (int64_t)p->lim.max_args)
            return fail(p, "Protocol error: invalid multibulk length");
        if (n <= 0) { /* "*0" and "*-1": no command, as in Redis */
            *used = next;
            reset(p);
            return RESP_SKIP;
        }
        p->nargs = n;
        p->pos = next;
        p->got = 0;
        p->bulk_len = -1;
    }
    while (p->got < p->nargs) {
        if (p->bulk_len < 0) {
            if (p->pos >= len)
                return RESP_MORE;
            if (buf[p->pos] != '$') {
                /* Redis: "expected '$', got 'X'"; the text must be static. */
                return fail(p, "Protocol error: expected '$'");
            }
            int64_t n;
            size_t next;
            rc = header(p, buf, len, p->pos, &n, &next, "Protocol error: too big bulk count string",
                        "Protocol error: invalid bulk length");
            if (rc != RESP_REQUEST)
                return rc;
            if (n < 0 || (uint64_t)n > p->lim.max_bulk)
                return fail(p, "Protocol error: invalid bulk length");
            p->bulk_len = n;
            p->pos = next;
        }
        /* The bulk and its CRLF; only what arrived is looked at. */
        size_t blen = (size_t)p->bulk_len;
        if (len - p->pos < blen + 2)
            return RESP_MORE;
        if (buf[p->pos + blen] != '\r' || buf[p->pos + blen + 1] != '\n')
            return fail(p, "Protocol error: bulk string not followed by CRLF");
        if (!argv_room(p, p->got)) {
            reset(p);
            return RESP_NOMEM;
        }
        p->argv[p->got].off = p->pos;
        p->argv[p->got].len = blen;
        p->got++;
        p->pos += blen + 2;
        p->bulk_len = -1;
    }
    *argc = p->got;
    *used = p->pos;
    reset(p);
    return RESP_REQUEST;
}

size_t resp_need(const resp_parser *p, size_t len)
{
    if (p->nargs > 0 && p->bulk_len >= 0) {
        size_t need = p->pos + (size_t)p->bulk_len + 2;
        return need > len ? need : len + 1;
    }
    return len + 1;
}

/* ---- replies ----------------------------------------------------------------- */

void resp_buf_free(resp_buf *b)
{
    free(b->data);
    *b = (resp_buf){0};
}

bool resp_reserve(resp_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->len >= n)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void resp_raw(resp_buf *b, const void *p, size_t n)
{
    if (!resp_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Append <c><decimal v>\r\n. */
static void prefixed_num(resp_buf *b, char c, int64_t v)
{
    if (!resp_reserve(b, 24))
        return;
    char tmp[24];
    char *e = tmp + sizeof tmp, *s = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--s = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--s = '-';
    char *d = b->data + b->len;
    *d++ = c;
    memcpy(d, s, (size_t)(e - s));
    d += e - s;
    *d++ = '\r';
    *d++ = '\n';
    b->len = (size_t)(d - b->data);
}

void resp_simple(resp_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!resp_reserve(b, n + 3))
        return;
    b->data[b->len++] = '+';
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

void resp_error(resp_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!resp_reserve(b, n + 3))
        return;
    b->data[b->len++] = '-';
    /* An error line must not break the framing. */
    for (size_t i = 0; i < n; i++)
        b->data[b->len++] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

void resp_int(resp_buf *b, int64_t v) { prefixed_num(b, ':', v); }
void resp_array(resp_buf *b, int64_t n) { prefixed_num(b, '*', n); }
void resp_null(resp_buf *b) { resp_raw(b, "$-1\r\n", 5); }

void resp_bulk(resp_buf *b, const void *p, size_t n)
{
    if (!resp_reserve(b, n + 26))
        return;
    prefixed_num(b, '$', (int64_t)n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}
