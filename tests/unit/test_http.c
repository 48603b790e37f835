/*
 * test_http.c - HTTP/1.1 framing: heads, Content-Length, chunked, until
 * close, 101, limits; every input fed whole, per byte and split everywhere.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_fixture.h"
#include "http.h"

/* Feeds input in pieces (piece = 0: whole; split > 0: two pieces) and logs
 * what the parser reports. Body bytes are logged as they are. */
static void run(enum http_kind kind, const char *input, size_t len, size_t piece, size_t split,
                struct fx_buf *log)
{
    struct http_parser *p = calloc(1, sizeof(*p));
    struct fx_slicer slices = fx_slicer(input, len, piece, split);
    const uint8_t *buf;
    size_t left;
    char line[256];

    ck_assert_ptr_nonnull(p);
    p->kind = kind;
    memset(log, 0, sizeof(*log));
    while (fx_next_slice(&slices, &buf, &left)) {
        size_t used;
        struct http_slice body;
        for (;;) {
            enum http_status st = http_parse(p, buf, left, &used, &body);
            buf += used;
            left -= used;
            if (st == HTTP_NEED_MORE && left == 0)
                break;
            switch (st) {
            case HTTP_HEAD_DONE: {
                const char *v;
                size_t vl;
                bool has = http_head_get(p, "x-test", &v, &vl);
                snprintf(line, sizeof(line), "head %.*s %.*s %d x-test=%.*s\n", (int)p->method.len,
                         http_head_str(p, p->method), (int)p->target.len,
                         http_head_str(p, p->target), p->status, has ? (int)vl : 0, has ? v : "");
                fx_puts(log, line);
                break;
            }
            case HTTP_BODY:
                fx_puts(log, "body ");
                fx_put(log, body.data, body.len);
                fx_puts(log, "\n");
                break;
            case HTTP_MESSAGE_DONE:
                fx_puts(log, "done\n");
                break;
            case HTTP_UPGRADED:
                fx_puts(log, "upgraded ");
                fx_put(log, buf, left);
                fx_puts(log, "\n");
                left = 0;
                break;
            case HTTP_ERROR:
                snprintf(line, sizeof(line), "error %s\n", p->error);
                fx_puts(log, line);
                left = 0;
                break;
            case HTTP_NEED_MORE:
                break;
            }
            if (left == 0 && st != HTTP_HEAD_DONE && st != HTTP_BODY)
                break;
            if (left == 0 && p->state != HTTP_S_BODY_LENGTH)
                break;
        }
    }
    if (http_parse_eof(p))
        fx_puts(log, "eof-done\n");
    fx_put(log, "", 1);
    free(p);
}

/* Body pieces differ by split; the log compares the concatenation. */
static void normalise(struct fx_buf *log)
{
    char *s = (char *)log->p, *w = s;
    /* Merge consecutive "body X\n" lines into one. */
    bool in_body = false;
    for (char *line = s; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        bool is_body = strncmp(line, "body ", 5) == 0;
        if (is_body && in_body) {
            w--; /* drop the previous newline */
            memmove(w, line + 5, n - 5);
            w += n - 5;
        } else {
            memmove(w, line, n);
            w += n;
        }
        in_body = is_body;
        line += n;
    }
    *w = '\0';
}

struct http_input {
    enum http_kind kind;
    const char *text;
};

/* An fx_feed_fn: run() with body pieces merged. */
static void feed(const void *arg, size_t piece, size_t split, struct fx_buf *log)
{
    const struct http_input *in = arg;

    run(in->kind, in->text, strlen(in->text), piece, split, log);
    normalise(log);
}

static void check_splits(enum http_kind kind, const char *input, const char *expected)
{
    struct http_input in = {kind, input};

    fx_check_feeds(feed, &in, strlen(input), expected);
}

START_TEST(keep_alive_requests_with_and_without_bodies)
{
    check_splits(HTTP_REQUEST,
                 "\r\nGET /api/v10/users/@me HTTP/1.1\r\nHost: discord.com\r\nX-Test:  a b \r\n\r\n"
                 "POST /x HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello"
                 "PUT /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3;ext=1\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n",
                 "head GET /api/v10/users/@me 0 x-test=a b\ndone\n"
                 "head POST /x 0 x-test=\nbody hello\ndone\n"
                 "head PUT /y 0 x-test=\nbody abc\ndone\n");
}
END_TEST

START_TEST(responses_204_chunked_and_until_close)
{
    check_splits(HTTP_RESPONSE,
                 "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                 "A\r\n0123456789\r\n00\r\n\r\n"
                 "HTTP/1.0 200 OK\r\n\r\nrest of the stream",
                 "head   204 x-test=\ndone\n"
                 "head   200 x-test=\nbody 0123456789\ndone\n"
                 "head   200 x-test=\nbody rest of the stream\neof-done\n");
}
END_TEST

START_TEST(an_interim_response_precedes_the_final_one)
{
    check_splits(HTTP_RESPONSE,
                 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Test: final\r\n"
                 "Content-Length: 1\r\n\r\nx",
                 "head   100 x-test=\nhead   200 x-test=final\nbody x\ndone\n");
}
END_TEST

START_TEST(switching_protocols_hands_over_the_rest)
{
    check_splits(HTTP_RESPONSE, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                 "head   101 x-test=\n");
    /* The bytes after the head are left to the caller (whole feed). */
    struct fx_buf log;
    const char *in = "HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi";
    run(HTTP_RESPONSE, in, strlen(in), 0, 0, &log);
    ck_assert_str_eq((char *)log.p, "head   101 x-test=\nupgraded \x81\x02hi\n");
    fx_free(&log);
}
END_TEST

START_TEST(malformed_heads_are_errors)
{
    static const struct {
        enum http_kind kind;
        const char *in, *error;
    } bad[] = {
        {HTTP_REQUEST, "GET /\r\n\r\n", "bad_request_line"},
        {HTTP_REQUEST, "G(T / HTTP/1.1\r\n\r\n", "bad_method"},
        {HTTP_REQUEST, "GET / HTTP/2.0\r\n\r\n", "bad_request_line"},
        {HTTP_REQUEST, "GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "obsolete_line_folding"},
        {HTTP_REQUEST, "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "bad_header"},
        {HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         "bad_content_length"},
        {HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "bad_content_length"},
        {HTTP_RESPONSE, "HTTP/1.1 2x0 OK\r\n\r\n", "bad_status_line"},
        {HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n",
         "bad_chunk_size"},
        {HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab",
         "bad_chunk_end"},
        {HTTP_RESPONSE,
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
         "bad_chunk_size"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fx_buf log;
        char want[64];
        run(bad[i].kind, bad[i].in, strlen(bad[i].in), 0, 0, &log);
        snprintf(want, sizeof(want), "error %s\n", bad[i].error);
        ck_assert_msg(strstr((char *)log.p, want) != NULL, "%s: %s", bad[i].in, (char *)log.p);
        fx_free(&log);
    }
}
END_TEST

START_TEST(a_head_larger_than_the_cap_is_refused)
{
    struct fx_buf in = {0}, log;

    fx_puts(&in, "GET / HTTP/1.1\r\n");
    while (in.len < HTTP_HEAD_MAX + 10)
        fx_puts(&in, "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    fx_puts(&in, "\r\n");
    run(HTTP_REQUEST, (char *)in.p, in.len, 0, 0, &log);
    ck_assert_str_eq((char *)log.p, "error head_too_large\n");
    fx_free(&log);
    fx_free(&in);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, keep_alive_requests_with_and_without_bodies);
    tcase_add_test(tc, responses_204_chunked_and_until_close);
    tcase_add_test(tc, an_interim_response_precedes_the_final_one);
    tcase_add_test(tc, switching_protocols_hands_over_the_rest);
    tcase_add_test(tc, malformed_heads_are_errors);
    tcase_add_test(tc, a_head_larger_than_the_cap_is_refused);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
