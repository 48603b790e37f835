/*
 * test_send.c - the OTLP/HTTP sender against a scripted HTTP server in the
 * test process: retries and backoff, Retry-After, permanent refusals, gzip,
 * headers, unreachable collectors, and cutting an export in flight.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "config.h"
#include "send.h"
#include "check_run.h"

/* ---- a scripted HTTP/1.1 server --------------------------------------------- */

#define MAX_SCRIPT 8

struct server {
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    /* One response per request, in order; the last one repeats. A status of 0
     * means: read the request and never answer. */
    int statuses[MAX_SCRIPT];
    const char *extra_headers[MAX_SCRIPT];
    int n_script;
    atomic_int requests;
    char last_head[4096];
    uint8_t last_body[4096];
    size_t last_body_len;
    pthread_mutex_t lock;
    pthread_cond_t got_request;
};

static ssize_t read_request(int fd, struct server *s)
{
    char buf[8192];
    size_t used = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - buf) + 4;
    size_t content_length = 0;
    const char *cl = strcasestr(buf, "content-length:");
    if (cl != NULL)
        content_length = strtoul(cl + 15, NULL, 10);
    while (used < head_len + content_length) {
        ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (n <= 0)
            return -1;
        used += (size_t)n;
    }
    pthread_mutex_lock(&s->lock);
    memcpy(s->last_head, buf, head_len < sizeof(s->last_head) ? head_len : sizeof(s->last_head));
    s->last_head[head_len < sizeof(s->last_head) ? head_len : sizeof(s->last_head) - 1] = '\0';
    s->last_body_len =
        content_length < sizeof(s->last_body) ? content_length : sizeof(s->last_body);
    memcpy(s->last_body, buf + head_len, s->last_body_len);
    atomic_fetch_add(&s->requests, 1);
    pthread_cond_broadcast(&s->got_request);
    pthread_mutex_unlock(&s->lock);
    return (ssize_t)used;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL); /* fails once server_stop() shut it */
        if (fd < 0)
            return NULL;
        while (read_request(fd, s) > 0) {
            int i = atomic_load(&s->requests) - 1;
            if (i >= s->n_script)
                i = s->n_script - 1;
            if (s->statuses[i] == 0) {
                char c;
                while (read(fd, &c, 1) > 0) /* hold the connection until the client leaves */
                    ;
                break;
            }
            char resp[512];
            int n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 %d X\r\nContent-Type: application/x-protobuf\r\n%s"
                             "Content-Length: 0\r\n\r\n",
                             s->statuses[i], s->extra_headers[i] ? s->extra_headers[i] : "");
            if (write(fd, resp, (size_t)n) != n)
                break;
        }
        close(fd);
    }
}

static void server_start(struct server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->got_request, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->listen_fd, 0);
    ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->listen_fd, 8), 0);
    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, server_main, s), 0);
}

/* After the sender is gone (so a held connection has been closed). */
static void server_stop(struct server *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    close(s->listen_fd);
    pthread_join(s->thread, NULL);
}

static char url_buf[128];

/* OTEL_EXPORTER_OTLP_HEADERS=raw as the configuration parses it (NULL:
 * unset), so the sender sees exactly what it gets in a process. */
static const char *env_headers;

static const char *headers_getenv(const char *name)
{
    return strcmp(name, "OTEL_EXPORTER_OTLP_HEADERS") == 0 ? env_headers : NULL;
}

static struct argus_kv_list parsed_headers(const char *raw)
{
    static struct argus_config cfg;
    env_headers = raw;
    argus_config_load(&cfg, headers_getenv);
    ck_assert_uint_eq(cfg.n_problems, 0);
    return cfg.metrics.headers;
}

static struct argus_otlp_signal signal_for(const struct server *s, bool gzip, const char *raw)
{
    struct argus_kv_list headers = parsed_headers(raw);
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%u/v1/metrics", s->port);
    struct argus_otlp_signal sig = {
        .url = url_buf, .headers = headers, .gzip = gzip, .timeout_ms = 10000};
    return sig;
}

static const uint8_t body[] = {0x0a, 0x03, 'a', 'b', 'c', 0x12, 0x01, 0x00};

static uint64_t in_ms(uint64_t ms)
{
    return send_now_ns() + ms * 1000000ull;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- tests --------------------------------------------------------------------- */

START_TEST(retries_503_then_succeeds)
{
    struct server s = {.statuses = {503, 503, 200}, .n_script = 3};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(10000), 0, &o);
    ck_assert_int_eq(o.result, SEND_OK);
    ck_assert_uint_eq(o.attempts, 3);
    ck_assert_int_eq(o.http_status, 200);
    ck_assert_int_eq(atomic_load(&s.requests), 3);
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

START_TEST(retry_after_beyond_the_budget_ends_the_export)
{
    struct server s = {.statuses = {429}, .extra_headers = {"Retry-After: 30\r\n"}, .n_script = 1};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(3000), 0, &o);
    ck_assert_int_eq(o.result, SEND_FAILED);
    ck_assert_str_eq(o.reason, "http_429");
    ck_assert_uint_eq(o.attempts, 1); /* did not sleep 30 s into a 3 s budget */
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

/* Issue 14: a 429 with Retry-After: 3600 got one POST per interval. */
START_TEST(retry_after_holds_later_exports)
{
    struct server s = {
        .statuses = {429, 200}, .extra_headers = {"Retry-After: 3600\r\n"}, .n_script = 2};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(3000), 0, &o);
    ck_assert_int_eq(o.result, SEND_FAILED);
    ck_assert_str_eq(o.reason, "http_429");
    ck_assert_uint_eq(o.hold_ms, 3600u * 1000u);
    for (int i = 0; i < 3; i++) {
        send_export(snd, body, sizeof(body), in_ms(3000), 0, &o);
        ck_assert_int_eq(o.result, SEND_THROTTLED);
        ck_assert_str_eq(o.reason, "throttled");
        ck_assert_uint_eq(o.attempts, 0);
        ck_assert_uint_gt(o.hold_ms, 3590u * 1000u);
        ck_assert_uint_le(o.hold_ms, 3600u * 1000u);
    }
    /* The final export at exit (one attempt) is held too. */
    send_export(snd, body, sizeof(body), in_ms(300), 1, &o);
    ck_assert_int_eq(o.result, SEND_THROTTLED);
    ck_assert_int_eq(atomic_load(&s.requests), 1);
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

START_TEST(retry_after_beyond_the_hold_cap_is_capped)
{
    struct server s = {
        .statuses = {503}, .extra_headers = {"Retry-After: 86400\r\n"}, .n_script = 1};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(3000), 0, &o);
    ck_assert_int_eq(o.result, SEND_FAILED);
    ck_assert_uint_eq(o.hold_ms, SEND_HOLD_MAX_MS);
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

START_TEST(retry_after_within_the_budget_leaves_no_hold)
{
    struct server s = {
        .statuses = {429, 200}, .extra_headers = {"Retry-After: 1\r\n"}, .n_script = 2};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(5000), 0, &o);
    ck_assert_int_eq(o.result, SEND_OK);
    ck_assert_uint_eq(o.attempts, 2);
    ck_assert_uint_eq(o.hold_ms, 0);
    send_export(snd, body, sizeof(body), in_ms(5000), 0, &o);
    ck_assert_int_eq(o.result, SEND_OK);
    ck_assert_int_eq(atomic_load(&s.requests), 3);
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

START_TEST(client_errors_drop_the_batch_without_retry)
{
    struct server s = {.statuses = {400}, .n_script = 1};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(5000), 0, &o);
    ck_assert_int_eq(o.result, SEND_DROPPED);
    ck_assert_str_eq(o.reason, "http_4xx");
    ck_assert_uint_eq(o.attempts, 1);
    ck_assert_int_eq(atomic_load(&s.requests), 1);
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

START_TEST(gzip_body_and_headers_are_sent)
{
    struct server s = {.statuses = {200}, .n_script = 1};
    server_start(&s);
    struct argus_otlp_signal sig =
        signal_for(&s, true, "x-api-key=se%20cret,bad=a%0D%0AInjected: 1");
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(5000), 0, &o);
    ck_assert_int_eq(o.result, SEND_OK);
    ck_assert_ptr_nonnull(strcasestr(s.last_head, "content-encoding: gzip\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s.last_head, "content-type: application/x-protobuf\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s.last_head, "x-api-key: se cret\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s.last_head, "user-agent: argus-preload/"));
    ck_assert_ptr_null(strcasestr(s.last_head, "injected"));
    ck_assert_ptr_null(strcasestr(s.last_head, "expect:"));
    uint8_t plain[256];
    uLongf plain_len = sizeof(plain);
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = s.last_body;
    z.avail_in = (uInt)s.last_body_len;
    z.next_out = plain;
    z.avail_out = (uInt)plain_len;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, sizeof(body));
    ck_assert_mem_eq(plain, body, sizeof(body));
    inflateEnd(&z);
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

/* The configuration hands over values of up to 1023 bytes (a long bearer
 * token, a JWT); every one of them must reach the collector. */
START_TEST(the_longest_header_value_the_config_accepts_is_sent)
{
    struct server s = {.statuses = {200}, .n_script = 1};
    server_start(&s);
    static char headers[64 + 1024];
    static char expected[64 + 1024];
    char value[1024];
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(headers, sizeof(headers), "authorization=%s", value);
    snprintf(expected, sizeof(expected), "authorization: %s\r\n", value);
    struct argus_otlp_signal sig = signal_for(&s, false, headers);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    send_export(snd, body, sizeof(body), in_ms(5000), 0, &o);
    ck_assert_int_eq(o.result, SEND_OK);
    ck_assert_ptr_nonnull(strcasestr(s.last_head, expected));
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

/* A header written the HTTP way ("Authorization: Basic dXNlcjpwYXNz=") has
 * its '=' in the secret, so the secret lands in the key, which is not a
 * valid header name. The warning must not show that key. */
START_TEST(an_invalid_header_name_is_not_echoed)
{
    char path[] = "/tmp/test_send_stderr_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    struct argus_otlp_signal sig = {.url = "http://127.0.0.1:9/v1/metrics",
                                    .headers =
                                        parsed_headers("Authorization: Basic dXNlcjpwYXNz=")};
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    ck_assert_ptr_nonnull(snd);
    char logged[1024] = {0};
    ck_assert_int_gt(pread(fd, logged, sizeof(logged) - 1, 0), 0);
    ck_assert_ptr_nonnull(strstr(logged, "OTEL_EXPORTER_OTLP_HEADERS"));
    ck_assert_ptr_null(strstr(logged, "dXNlcjpwYXNz"));
    send_destroy(snd);
}
END_TEST

START_TEST(unreachable_collector_fails_within_the_deadline)
{
    /* A port that was just free: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%u/v1/metrics", ntohs(a.sin_port));
    struct argus_otlp_signal sig = {.url = url_buf};
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct send_outcome o;
    uint64_t deadline = in_ms(1200);
    send_export(snd, body, sizeof(body), deadline, 0, &o);
    ck_assert_int_eq(o.result, SEND_FAILED);
    ck_assert_str_eq(o.reason, "unreachable");
    ck_assert_uint_ge(o.attempts, 1);
    ck_assert_uint_le(send_now_ns(), deadline + 100 * 1000000ull);
    send_destroy(snd);
}
END_TEST

struct cut_arg {
    struct server *s;
    struct sender *snd;
};

static void *cut_when_request_arrives(void *arg)
{
    struct cut_arg *c = arg;
    pthread_mutex_lock(&c->s->lock);
    while (atomic_load(&c->s->requests) == 0)
        pthread_cond_wait(&c->s->got_request, &c->s->lock);
    pthread_mutex_unlock(&c->s->lock);
    send_cut(c->snd, 0);
    return NULL;
}

START_TEST(cut_ends_an_export_the_server_never_answers)
{
    struct server s = {.statuses = {0}, .n_script = 1};
    server_start(&s);
    struct argus_otlp_signal sig = signal_for(&s, false, NULL);
    struct sender *snd = send_create(&sig, OTLP_METRICS);
    struct cut_arg c = {&s, snd};
    pthread_t t;
    pthread_create(&t, NULL, cut_when_request_arrives, &c);
    struct send_outcome o;
    /* Without the cut this would wait the full minute (and the test time out). */
    send_export(snd, body, sizeof(body), in_ms(60000), 0, &o);
    pthread_join(t, NULL);
    ck_assert_int_eq(o.result, SEND_CUT);
    ck_assert_str_eq(o.reason, "cut");
    send_destroy(snd);
    server_stop(&s);
}
END_TEST

START_TEST(retry_after_accepts_seconds_and_http_dates)
{
    uint64_t ms;
    ck_assert_int_eq(send_parse_retry_after("3", 0, &ms), 0);
    ck_assert_uint_eq(ms, 3000);
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    ck_assert_int_eq(send_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770, &ms), 0);
    ck_assert_uint_eq(ms, 7000);
    ck_assert_int_eq(send_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800, &ms), 0);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(send_parse_retry_after("soon", 0, &ms), -EINVAL);
    ck_assert_int_eq(send_parse_retry_after("-1", 0, &ms), -EINVAL);
    ck_assert_int_eq(send_parse_retry_after("", 0, &ms), -EINVAL);
    ck_assert_int_eq(send_parse_retry_after(" 3", 0, &ms), -EINVAL);
    ck_assert_int_eq(send_parse_retry_after("3s", 0, &ms), -EINVAL);
    /* More seconds than a year (or than 64 bits) still means "later than any
     * budget", not a malformed header. */
    ck_assert_int_eq(send_parse_retry_after("99999999999999999999999", 0, &ms), 0);
    ck_assert_uint_eq(ms, 86400ull * 365 * 1000);
}
END_TEST

static Suite *send_suite(void)
{
    Suite *s = suite_create("send");
    TCase *tc = tcase_create("send");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, retries_503_then_succeeds);
    tcase_add_test(tc, retry_after_beyond_the_budget_ends_the_export);
    tcase_add_test(tc, retry_after_holds_later_exports);
    tcase_add_test(tc, retry_after_beyond_the_hold_cap_is_capped);
    tcase_add_test(tc, retry_after_within_the_budget_leaves_no_hold);
    tcase_add_test(tc, client_errors_drop_the_batch_without_retry);
    tcase_add_test(tc, gzip_body_and_headers_are_sent);
    tcase_add_test(tc, the_longest_header_value_the_config_accepts_is_sent);
    tcase_add_test(tc, an_invalid_header_name_is_not_echoed);
    tcase_add_test(tc, unreachable_collector_fails_within_the_deadline);
    tcase_add_test(tc, cut_ends_an_export_the_server_never_answers);
    tcase_add_test(tc, retry_after_accepts_seconds_and_http_dates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(send_suite());
}
