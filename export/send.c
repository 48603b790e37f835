/*
 * send.c - see send.h.
 *
 * Design. A transfer runs on a curl multi handle driven by our own loop
 * (curl_multi_perform + curl_multi_poll of at most SEND_POLL_MS), not by
 * curl_easy_perform: easy_perform only looks at its progress callback when
 * its internal wait returns, which can be a second later, and a bot exiting
 * with a 300 ms shutdown budget cannot wait that long. curl_multi_wakeup()
 * lets send_cut() end the wait at once; the backoff sleep is the same
 * curl_multi_poll with no transfer attached, so it is cut the same way.
 * The easy handle is kept across exports, and the multi handle's connection
 * cache keeps the collector connection alive between them.
 *
 * Retry-After is capped by the remaining budget (if the server asks for more
 * than we have, the export ends now: with cumulative metrics the next
 * interval carries the totals anyway, see otlp-notes.md §1), and the rest of
 * the wait becomes a hold on the sender: later exports send nothing until it
 * ends. Rejected: holding the batch for the hold's end. A metrics batch is
 * superseded by the next collection (cumulative), a span batch would pin
 * the span queue's memory for up to an hour, and a collector that sheds load
 * is better served by fresh data when it asks again.
 */
#include "send.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "argus_build.h"
#include "config.h"
#include "fork_gate.h"
#include "gzip.h"
#include "log.h"

#define SEND_POLL_MS 50
#define SEND_USER_AGENT "argus-preload/" ARGUS_VERSION " (OTLP/HTTP exporter)"
/* "key: value" for the longest pair the configuration hands over (config.h:
 * long bearer tokens and JWTs fit), and its NUL. */
#define SEND_HEADER_MAX (ARGUS_CONFIG_KV_KEY_MAX + 2 + ARGUS_CONFIG_KV_VALUE_MAX + 1)

struct sender {
    const struct argus_otlp_signal *sig;
    enum otlp_signal signal;
    CURL *easy;
    CURLM *multi;
    struct curl_slist *headers;
    _Atomic uint64_t cut_at_ns; /* UINT64_MAX: no cut */
    uint64_t deadline_ns;       /* of the export in progress */
    uint64_t hold_until_ns;     /* Retry-After: no request before this (0: none) */

    /* Per attempt. */
    char retry_after[64];
    char error[CURL_ERROR_SIZE]; /* libcurl's detail of a failed transfer */
    uint8_t *resp;
    size_t resp_len;
    bool resp_truncated;

    atomic_bool said_partial;
    atomic_bool said_headers;
};

uint64_t send_now_ns(void)
{
    return clock_now_ns(CLOCK_MONOTONIC);
}

static uint64_t effective_deadline(struct sender *s)
{
    uint64_t cut = atomic_load(&s->cut_at_ns);
    return cut < s->deadline_ns ? cut : s->deadline_ns;
}

/* ---- headers --------------------------------------------------------------- */

static bool header_name_ok(const char *k)
{
    if (*k == '\0')
        return false;
    for (; *k; k++) {
        unsigned char c = (unsigned char)*k;
        /* RFC 9110 token characters. */
        if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
            return false;
    }
    return true;
}

/* Says once per sender that a pair is not sent; never shows the value, and
 * shows the key only if it is a valid header name: a header pasted the HTTP
 * way ("Authorization: Basic dXNl...=") puts the secret in the key. */
static void refuse_header(struct sender *s, const char *key, const char *why)
{
    bool show = header_name_ok(key);
    argus_log_once(&s->said_headers, ARGUS_LOG_WARN,
                   "OTEL_EXPORTER_OTLP_HEADERS (or its %s variant): %s%s%s %s; not sending it "
                   "(values are never shown)",
                   s->signal == OTLP_METRICS ? "_METRICS" : "_TRACES", show ? "\"" : "",
                   show ? key : "a header name", show ? "\"" : "", why);
}

static int add_header(struct sender *s, const char *key, const char *value)
{
    char line[SEND_HEADER_MAX];
    /* A decoded value with CR or LF would inject headers: refuse the pair. */
    if (!header_name_ok(key) || strpbrk(value, "\r\n") != NULL) {
        refuse_header(s, key,
                      "is not a valid HTTP header (expected key=value pairs, values "
                      "percent-encoded)");
        return 0;
    }
    int n = snprintf(line, sizeof(line), "%s: %s", key, value);
    struct curl_slist *l = NULL;
    if (n >= 0 && (size_t)n < sizeof(line))
        l = curl_slist_append(s->headers, line);
    /* The line held a secret: do not leave it on the stack. */
    explicit_bzero(line, sizeof(line));
    if (n < 0 || (size_t)n >= sizeof(line)) {
        refuse_header(s, key, "is too long");
        return 0;
    }
    if (l == NULL)
        return -ENOMEM;
    s->headers = l;
    return 0;
}

/* ---- curl callbacks ------------------------------------------------------- */

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct sender *s = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        size_t j = len;
        while (j > i && (buf[j - 1] == '\r' || buf[j - 1] == '\n' || buf[j - 1] == ' '))
            j--;
        size_t vlen = j - i < sizeof(s->retry_after) - 1 ? j - i : sizeof(s->retry_after) - 1;
        memcpy(s->retry_after, buf + i, vlen);
        s->retry_after[vlen] = '\0';
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
    struct sender *s = arg;
    size_t len = size * n;
    if (s->resp_len + len > OTLP_MAX_RESPONSE) {
        s->resp_truncated = true;
        return len; /* read and discard the rest */
    }
    uint8_t *grown = realloc(s->resp, s->resp_len + len);
    if (grown == NULL) {
        s->resp_truncated = true;
        return len;
    }
    memcpy(grown + s->resp_len, buf, len);
    s->resp = grown;
    s->resp_len += len;
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct sender *s = arg;
    return send_now_ns() >= effective_deadline(s) ? 1 : 0; /* non-zero aborts */
}

/* ---- lifecycle ------------------------------------------------------------ */

struct sender *send_create(const struct argus_otlp_signal *sig, enum otlp_signal signal)
{
    struct sender *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->sig = sig;
    s->signal = signal;
    atomic_store(&s->cut_at_ns, UINT64_MAX);
    s->easy = curl_easy_init();
    s->multi = curl_multi_init();
    if (s->easy == NULL || s->multi == NULL)
        goto fail;
    static const char *const fixed[] = {"Content-Type: application/x-protobuf", "Expect:"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        struct curl_slist *l = curl_slist_append(s->headers, fixed[i]);
        if (l == NULL)
            goto fail;
        s->headers = l;
    }
    if (sig->gzip) {
        struct curl_slist *l = curl_slist_append(s->headers, "Content-Encoding: gzip");
        if (l == NULL)
            goto fail;
        s->headers = l;
    }
    for (unsigned i = 0; i < sig->headers.n; i++) {
        if (add_header(s, sig->headers.items[i].key, sig->headers.items[i].value) == -ENOMEM)
            goto fail;
    }

    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, sig->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, SEND_USER_AGENT);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (sig->certificate != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, sig->certificate);
    if (sig->client_certificate != NULL)
        curl_easy_setopt(e, CURLOPT_SSLCERT, sig->client_certificate);
    if (sig->client_key != NULL)
        curl_easy_setopt(e, CURLOPT_SSLKEY, sig->client_key);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->error);
    return s;
fail:
    send_destroy(s);
    return NULL;
}

void send_destroy(struct sender *s)
{
    if (s == NULL)
        return;
    fork_gate_enter(); /* closing a TLS connection runs OpenSSL */
    if (s->easy != NULL)
        curl_easy_cleanup(s->easy);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    fork_gate_leave();
    curl_slist_free_all(s->headers);
    free(s->resp);
    free(s);
}

void send_cut(struct sender *s, uint64_t at_ns)
{
    if (s == NULL)
        return;
    atomic_store(&s->cut_at_ns, at_ns);
    curl_multi_wakeup(s->multi);
}

/* ---- helpers ------------------------------------------------------------- */

/* RFC 9110 delay-seconds: one or more digits and nothing else. A value past
 * SEND_RETRY_AFTER_MAX_S is read as that: either way it is beyond any budget. */
#define SEND_RETRY_AFTER_MAX_S (86400ull * 365)

static int send_delay_seconds(const char *value, uint64_t *secs)
{
    uint64_t v = 0;

    if (*value == '\0')
        return -EINVAL;
    for (const char *p = value; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > SEND_RETRY_AFTER_MAX_S)
            v = SEND_RETRY_AFTER_MAX_S;
    }
    *secs = v;
    return 0;
}

int send_parse_retry_after(const char *value, int64_t now_unix_s, uint64_t *delay_ms)
{
    uint64_t secs;
    if (send_delay_seconds(value, &secs) == 0) {
        *delay_ms = secs * 1000;
        return 0;
    }
    time_t when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -EINVAL;
    *delay_ms = when > now_unix_s ? (uint64_t)(when - now_unix_s) * 1000 : 0;
    return 0;
}

static double jitter(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)send_now_ns();
    return 0.8 + 0.4 * ((double)r / 4294967295.0);
}

/* Sleeps until now + ms, the deadline, or a cut; returns false if the
 * deadline (or a cut) comes first. */
static bool backoff_sleep(struct sender *s, uint64_t ms)
{
    uint64_t until = send_now_ns() + ms * 1000000ull;
    if (until >= effective_deadline(s))
        return false;
    for (;;) {
        uint64_t now = send_now_ns();
        if (now >= effective_deadline(s))
            return false;
        if (now >= until)
            return true;
        uint64_t left_ms = (until - now) / 1000000ull + 1;
        curl_multi_poll(s->multi, NULL, 0, left_ms > SEND_POLL_MS ? SEND_POLL_MS : (int)left_ms,
                        NULL);
    }
}

/* One POST. Returns the CURLcode; *status is the HTTP status or 0. */
static CURLcode attempt(struct sender *s, const uint8_t *body, size_t len, long *status)
{
    CURLcode code = CURLE_OK;
    *status = 0;
    s->retry_after[0] = '\0';
    s->error[0] = '\0';
    s->resp_len = 0;
    s->resp_truncated = false;
    uint64_t now = send_now_ns();
    uint64_t deadline = effective_deadline(s);
    if (now >= deadline)
        return CURLE_OPERATION_TIMEDOUT;
    uint64_t budget_ms = (deadline - now) / 1000000ull;
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)(budget_ms ? budget_ms : 1));
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    for (;;) {
        int running = 0;
        /* One non-blocking step; the wait below is outside the gate. */
        fork_gate_enter();
        curl_multi_perform(s->multi, &running);
        fork_gate_leave();
        int left;
        CURLMsg *msg;
        bool done = false;
        while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == s->easy) {
                code = msg->data.result;
                done = true;
            }
        }
        if (done)
            break;
        if (send_now_ns() >= effective_deadline(s)) {
            code = CURLE_OPERATION_TIMEDOUT;
            break;
        }
        curl_multi_poll(s->multi, NULL, 0, SEND_POLL_MS, NULL);
    }
    fork_gate_enter();
    curl_multi_remove_handle(s->multi, s->easy);
    fork_gate_leave();
    if (code == CURLE_OK)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, status);
    return code;
}

/* TLS failures, told apart from an absent collector (issue 14): the fix is
 * a certificate, not starting a collector. None of them mends itself within
 * seconds, so they are not retried within one export. */
static bool code_is_tls(CURLcode code)
{
    switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return true;
    default:
        return false;
    }
}

static bool status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static void note_partial_success(struct sender *s, struct send_outcome *out)
{
    char msg[256];
    int64_t rejected = 0;
    if (s->resp_truncated ||
        otlp_decode_response(s->signal, s->resp, s->resp_len, &rejected, msg, sizeof(msg)) != 0)
        return;
    out->rejected = rejected;
    if (rejected > 0 || msg[0] != '\0')
        argus_log_once(&s->said_partial, ARGUS_LOG_WARN,
                       "the collector accepted %s only in part (%lld rejected): %s",
                       s->signal == OTLP_METRICS ? "metrics" : "spans", (long long)rejected,
                       msg[0] ? msg : "(no message)");
}

void send_export(struct sender *s, const uint8_t *body, size_t len, uint64_t deadline_ns,
                 unsigned max_attempts, struct send_outcome *out)
{
    uint8_t *gz = NULL;
    size_t gz_len = 0;
    memset(out, 0, sizeof(*out));
    s->deadline_ns = deadline_ns;
    uint64_t now = send_now_ns();
    if (now < s->hold_until_ns) {
        out->result = SEND_THROTTLED;
        out->reason = "throttled";
        out->hold_ms = (s->hold_until_ns - now) / 1000000ull + 1;
        goto out;
    }
    s->hold_until_ns = 0;
    if (max_attempts == 0 || max_attempts > SEND_MAX_ATTEMPTS)
        max_attempts = SEND_MAX_ATTEMPTS;
    if (s->sig->gzip) {
        if (gzip_compress(body, len, &gz, &gz_len) != 0) {
            out->result = SEND_FAILED;
            out->reason = "internal";
            goto out;
        }
        body = gz;
        len = gz_len;
    }
    double backoff_ms = SEND_BACKOFF_INITIAL_MS;
    for (;;) {
        long status = 0;
        CURLcode code = attempt(s, body, len, &status);
        out->attempts++;
        out->http_status = status;
        bool cut = send_now_ns() >= atomic_load(&s->cut_at_ns);
        if (code == CURLE_OK && status >= 200 && status < 300) {
            out->result = SEND_OK;
            out->reason = NULL;
            note_partial_success(s, out);
            goto out;
        }
        if (cut) {
            out->result = SEND_CUT;
            out->reason = "cut";
            goto out;
        }
        if (code == CURLE_OK && !status_retryable(status)) {
            out->result = SEND_DROPPED;
            out->reason = status >= 500 ? "http_5xx" : "http_4xx";
            goto out;
        }
        out->result = SEND_FAILED;
        if (code == CURLE_OK)
            out->reason = status == 429 ? "http_429" : "http_5xx";
        else if (code == CURLE_OPERATION_TIMEDOUT || code == CURLE_ABORTED_BY_CALLBACK)
            out->reason = "timeout";
        else if (code_is_tls(code))
            out->reason = "tls";
        else
            out->reason = "unreachable";
        out->detail = s->error[0] != '\0' ? s->error : curl_easy_strerror(code);
        uint64_t delay = (uint64_t)(backoff_ms * jitter());
        uint64_t server_delay;
        bool asked =
            code == CURLE_OK && s->retry_after[0] != '\0' &&
            send_parse_retry_after(s->retry_after, (int64_t)time(NULL), &server_delay) == 0;
        if (asked) {
            delay = server_delay < SEND_HOLD_MAX_MS ? server_delay : SEND_HOLD_MAX_MS;
            s->hold_until_ns = send_now_ns() + delay * 1000000ull;
        }
        if (out->attempts >= max_attempts || code_is_tls(code) ||
            (asked && send_now_ns() + delay * 1000000ull >= effective_deadline(s))) {
            if (asked)
                out->hold_ms = delay;
            goto out;
        }
        if (!backoff_sleep(s, delay)) {
            if (send_now_ns() >= atomic_load(&s->cut_at_ns)) {
                out->result = SEND_CUT;
                out->reason = "cut";
            }
            goto out;
        }
        backoff_ms =
            backoff_ms * 1.5 > SEND_BACKOFF_MAX_MS ? SEND_BACKOFF_MAX_MS : backoff_ms * 1.5;
    }
out:
    free(gz);
}
