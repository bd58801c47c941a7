/*
 * examples/kv/test_resp.c - the RESP2 parser and reply writers: whole and
 * split requests (every split point), pipelines, inline commands with
 * quotes, every limit, malformed input, and that an announced length never
 * allocates.
 */
#include <criterion/criterion.h>

#include "../../tests/criterion_glue.h"
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* Parse one request from s; check its arguments against want[]. */
static void expect_req(resp_parser *p, const char *s, size_t len, const char *const *want,
                       uint32_t nwant, size_t want_used)
{
    char *buf = malloc(len + 1);
    memcpy(buf, s, len);
    uint32_t argc = 0;
    size_t used = 0;
    int rc = resp_parse(p, buf, len, &argc, &used);
    cr_assert_eq(rc, RESP_REQUEST, "rc %d (%s)", rc, rc == RESP_ERROR ? p->err : "");
    cr_assert_eq(argc, nwant);
    cr_assert_eq(used, want_used);
    for (uint32_t i = 0; i < argc; i++) {
        cr_assert_eq(p->argv[i].len, strlen(want[i]), "arg %u", i);
        cr_assert_eq(memcmp(buf + p->argv[i].off, want[i], p->argv[i].len), 0, "arg %u", i);
    }
    free(buf);
}

Test(resp, multibulk_whole)
{
    resp_parser p;
    resp_parser_init(&p, NULL);
    const char *req = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n";
    const char *want[] = {"SET", "key", "va\r\nl"};
    expect_req(&p, req, strlen(req), want, 3, strlen(req));
    /* An empty bulk and a binary one. */
    const char bin[] = "*2\r\n$0\r\n\r\n$3\r\n\0\1\2\r\n";
    uint32_t argc;
    size_t used;
    char b[sizeof bin];
    memcpy(b, bin, sizeof bin);
    cr_assert_eq(resp_parse(&p, b, sizeof bin - 1, &argc, &used), RESP_REQUEST);
    cr_assert_eq(argc, 2);
    cr_assert_eq(p.argv[0].len, 0);
    cr_assert_eq(p.argv[1].len, 3);
    cr_assert_eq(b[p.argv[1].off + 1], 1);
    resp_parser_free(&p);
}

Test(resp, every_split_point)
{
    /* Fed one byte more each time, the parser must say MORE until the very
     * last byte, then give the same request: state resumes correctly. */
    const char *req = "*4\r\n$4\r\nMSET\r\n$1\r\na\r\n$10\r\n0123456789\r\n$0\r\n\r\n";
    size_t n = strlen(req);
    resp_parser p;
    resp_parser_init(&p, NULL);
    char *buf = malloc(n);
    memcpy(buf, req, n);
    for (size_t k = 1; k < n; k++) {
        uint32_t argc;
        size_t used;
        cr_assert_eq(resp_parse(&p, buf, k, &argc, &used), RESP_MORE, "at %zu", k);
        cr_assert_geq(resp_need(&p, k), k + 1);
    }
    uint32_t argc;
    size_t used;
    cr_assert_eq(resp_parse(&p, buf, n, &argc, &used), RESP_REQUEST);
    cr_assert_eq(argc, 4);
    cr_assert_eq(used, n);
    cr_assert_eq(p.argv[2].len, 10);
    cr_assert_eq(memcmp(buf + p.argv[2].off, "0123456789", 10), 0);
    /* The same with the bytes moved between calls (a compacted buffer). */
    char *moved = malloc(n + 7);
    memcpy(moved, buf, 20);
    cr_assert_eq(resp_parse(&p, moved, 20, &argc, &used), RESP_MORE);
    memcpy(moved + 7, buf, n);
    cr_assert_eq(resp_parse(&p, moved + 7, n, &argc, &used), RESP_REQUEST);
    cr_assert_eq(argc, 4);
    free(moved);
    free(buf);
    resp_parser_free(&p);
}

Test(resp, pipeline_and_skips)
{
    char buf[] = "*1\r\n$4\r\nPING\r\n*0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*1\r\n$4\r\nPI";
    size_t len = strlen(buf), pos = 0;
    resp_parser p;
    resp_parser_init(&p, NULL);
    int kinds[8], n = 0;
    for (;;) {
        uint32_t argc;
        size_t used;
        int rc = resp_parse(&p, buf + pos, len - pos, &argc, &used);
        kinds[n++] = rc;
        if (rc == RESP_MORE)
            break;
        cr_assert_geq(rc, 0);
        pos += used;
    }
    /* PING, *0 (skip), empty inline line (skip), GET k, inline PING, more */
    int want[] = {RESP_REQUEST, RESP_SKIP, RESP_SKIP, RESP_REQUEST, RESP_REQUEST, RESP_MORE};
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++)
        cr_assert_eq(kinds[i], want[i], "step %d", i);
    resp_parser_free(&p);
}

Test(resp, inline_commands)
{
    resp_parser p;
    resp_parser_init(&p, NULL);
    const char *a = "set  key \"va l\\x41\\n\" 'it''s'\r\n";
    /* 'it''s' is not one word: a closing quote must end the word */
    char b1[64];
    strcpy(b1, a);
    uint32_t argc;
    size_t used;
    cr_assert_eq(resp_parse(&p, b1, strlen(b1), &argc, &used), RESP_ERROR);
    const char *ok = "set  key \"va l\\x41\\n\" 'it\\'s'\n";
    const char *want[] = {"set", "key", "va lA\n", "it's"};
    expect_req(&p, ok, strlen(ok), want, 4, strlen(ok));
    char b2[] = "get \"unterminated\r\n";
    cr_assert_eq(resp_parse(&p, b2, strlen(b2), &argc, &used), RESP_ERROR);
    cr_assert_not_null(strstr(p.err, "unbalanced"));
    char b3[] = "get k"; /* no newline yet */
    cr_assert_eq(resp_parse(&p, b3, strlen(b3), &argc, &used), RESP_MORE);
    resp_parser_free(&p);
}

Test(resp, limits)
{
    resp_limits lim = {.max_bulk = 100, .max_args = 4, .max_inline = 64};
    resp_parser p;
    resp_parser_init(&p, &lim);
    uint32_t argc;
    size_t used;
    char b1[] = "*1\r\n$101\r\n";
    cr_assert_eq(resp_parse(&p, b1, strlen(b1), &argc, &used), RESP_ERROR);
    cr_assert_str_eq(p.err, "Protocol error: invalid bulk length");
    char b2[] = "*5\r\n";
    cr_assert_eq(resp_parse(&p, b2, strlen(b2), &argc, &used), RESP_ERROR);
    cr_assert_str_eq(p.err, "Protocol error: invalid multibulk length");
    char b3[100];
    memset(b3, 'a', sizeof b3); /* 100 bytes of inline, no newline */
    cr_assert_eq(resp_parse(&p, b3, sizeof b3, &argc, &used), RESP_ERROR);
    cr_assert_str_eq(p.err, "Protocol error: too big inline request");
    char b4[] = "*1\r\n$-1\r\n";
    cr_assert_eq(resp_parse(&p, b4, strlen(b4), &argc, &used), RESP_ERROR);
    char b5[] = "*1\r\n$100\r\n"; /* at the cap: waits for the data */
    cr_assert_eq(resp_parse(&p, b5, strlen(b5), &argc, &used), RESP_MORE);
    cr_assert_eq(resp_need(&p, strlen(b5)), strlen(b5) + 102);
    resp_parser_free(&p);
}

Test(resp, announced_gigabyte_allocates_nothing)
{
    /* Default limits: 1 GB is over the 512 MiB cap. */
    resp_parser p;
    resp_parser_init(&p, NULL);
    uint32_t argc;
    size_t used;
    char b1[] = "*1\r\n$1073741824\r\n";
    cr_assert_eq(resp_parse(&p, b1, strlen(b1), &argc, &used), RESP_ERROR);
    /* 500 MB (under the cap) and a million arguments announced: the parser
     * waits, its argument array holds only what arrived. */
    char b2[] = "*1000000\r\n$524288000\r\nabc";
    cr_assert_eq(resp_parse(&p, b2, strlen(b2), &argc, &used), RESP_MORE);
    cr_assert_leq(p.argv_cap, 8);
    resp_parser_free(&p);
}

Test(resp, malformed)
{
    const char *bad[] = {
        "*x\r\n", "*1\r\n!3\r\nabc\r\n", "*1\r\n$3\r\nabcde\r\n", "*1\r\n$03\r\nabc\r\n",
        "*1\r\n$3x\r\nabc\r\n", "*99999999999999999999999\r\n",
        "*1\r\n$1\r\na\n\n", "*-01\r\n", "*1\r\n$99999999999999999999\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        resp_parser p;
        resp_parser_init(&p, NULL);
        char buf[64];
        strcpy(buf, bad[i]);
        uint32_t argc;
        size_t used;
        int rc = resp_parse(&p, buf, strlen(buf), &argc, &used);
        cr_assert_eq(rc, RESP_ERROR, "case %zu (%s): rc %d", i, bad[i], rc);
        cr_assert_not_null(p.err);
        resp_parser_free(&p);
    }
}

Test(resp, integers)
{
    int64_t v;
    cr_assert(resp_parse_i64("0", 1, &v) && v == 0);
    cr_assert(resp_parse_i64("-9223372036854775808", 20, &v) && v == INT64_MIN);
    cr_assert(resp_parse_i64("9223372036854775807", 19, &v) && v == INT64_MAX);
    cr_assert_not(resp_parse_i64("9223372036854775808", 19, &v));
    cr_assert_not(resp_parse_i64("-0", 2, &v));
    cr_assert_not(resp_parse_i64("01", 2, &v));
    cr_assert_not(resp_parse_i64("+1", 2, &v));
    cr_assert_not(resp_parse_i64(" 1", 2, &v));
    cr_assert_not(resp_parse_i64("", 0, &v));
    cr_assert_not(resp_parse_i64("-", 1, &v));
}

Test(resp, replies)
{
    resp_buf b = {0};
    resp_simple(&b, "OK");
    resp_error(&b, "ERR bad\r\nthing");
    resp_int(&b, -42);
    resp_int(&b, INT64_MIN);
    resp_bulk(&b, "hi", 2);
    resp_null(&b);
    resp_array(&b, 3);
    const char *want = "+OK\r\n-ERR bad  thing\r\n:-42\r\n:-9223372036854775808\r\n$2\r\nhi\r\n"
                       "$-1\r\n*3\r\n";
    cr_assert_eq(b.len, strlen(want));
    cr_assert_eq(memcmp(b.data, want, b.len), 0);
    /* A large bulk grows the buffer. */
    char *big = calloc(1, 100000);
    resp_bulk(&b, big, 100000);
    cr_assert_eq(b.len, strlen(want) + 100000 + 11);
    cr_assert_not(b.oom);
    free(big);
    resp_buf_free(&b);
}
