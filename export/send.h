/*
 * send.h - the OTLP/HTTP sender: one POST per batch, with retries.
 *
 * One struct sender per signal (metrics, traces) owns a libcurl easy handle
 * (kept across exports, so the connection stays alive) and a multi handle
 * used only to wait interruptibly. It applies the signal's configuration:
 * URL (already resolved by config.c), OTEL_EXPORTER_OTLP_*HEADERS (values
 * never logged), gzip, TLS files, Content-Type, User-Agent and an empty
 * Expect header.
 *
 * Retries: 429, 502, 503, 504 and failures without a response (connect
 * error, reset, timeout; not TLS failures, reason "tls") are retried with
 * exponential backoff (initial SEND_BACKOFF_INITIAL_MS, x1.5, at most
 * SEND_BACKOFF_MAX_MS, each delay multiplied by a uniform jitter in [0.8, 1.2]); a Retry-After
 * header (seconds or HTTP-date) replaces the computed delay. Everything stays within the deadline
 * given to send_export(): a delay that would pass it ends the export instead. Other 4xx/5xx drop
 * the batch (no retry).
 *
 * Retry-After holds across exports (issue 14: a 429 with Retry-After: 3600
 * got one POST every interval): until the instant the collector named (at
 * most SEND_HOLD_MAX_MS ahead), send_export() sends nothing and returns
 * SEND_THROTTLED at once, the final export at exit included. The batch is
 * the caller's to drop and count. A 200 carrying a partial_success is a success; its message is
 * logged once per sender.
 *
 * Cutting: send_cut() (any thread, e.g. the exit path) moves the deadline to
 * a given instant and wakes the sender at once: a transfer in flight or a
 * backoff sleep ends within a few milliseconds, never awaited. libcurl's
 * progress callback enforces the same deadline as a second line.
 *
 * Threads: one exporting thread per sender; send_cut() from any thread.
 * curl_global_init() must have run. Returns: see enum send_result.
 */
#ifndef ARGUS_SEND_H
#define ARGUS_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "otlp.h" /* enum otlp_signal */

struct argus_otlp_signal;
struct sender;

#define SEND_BACKOFF_INITIAL_MS 500u
#define SEND_BACKOFF_MAX_MS 5000u
#define SEND_MAX_ATTEMPTS 5u
#define SEND_HOLD_MAX_MS (3600u * 1000u) /* the longest Retry-After honoured */

enum send_result {
    SEND_OK = 0,    /* accepted (possibly partially: see rejected) */
    SEND_DROPPED,   /* permanent refusal (4xx other than 429, other 5xx): not retried */
    SEND_FAILED,    /* retryable failures until the deadline or attempt limit */
    SEND_CUT,       /* cut by send_cut() */
    SEND_THROTTLED, /* not sent: a Retry-After still holds (see hold_ms) */
};

struct send_outcome {
    enum send_result result;
    const char *reason; /* static label for argus_export_failures_total, NULL on OK:
                           "unreachable", "tls", "timeout", "http_429", "http_5xx",
                           "http_4xx", "cut", "throttled", "internal"; the exporter adds
                           "too_large" for a batch over OTLP_MAX_BODY */
    const char *detail; /* libcurl's words for a failure without a response
                           (e.g. "SSL certificate problem: self-signed
                           certificate"), owned by the sender until its next
                           export; NULL otherwise */
    long http_status;   /* last HTTP status, 0 if none */
    unsigned attempts;
    int64_t rejected; /* partial_success rejected points/spans */
    uint64_t hold_ms; /* > 0: the collector asked for no request during the next hold_ms
                         (Retry-After beyond this export's budget, or still holding) */
};

/* sig is borrowed for the sender's life (it lives in the config). Returns
 * NULL on allocation failure. */
struct sender *send_create(const struct argus_otlp_signal *sig, enum otlp_signal signal);
void send_destroy(struct sender *s); /* accepts NULL */

/* POSTs body (protobuf, gzip'd here if configured) until accepted, refused,
 * max_attempts (0: SEND_MAX_ATTEMPTS) were made, or deadline_ns
 * (CLOCK_MONOTONIC) passes. Fills *out. The final export at exit passes 1: a
 * collector that refuses connections must not hold an exiting bot through
 * backoff sleeps. */
void send_export(struct sender *s, const uint8_t *body, size_t len, uint64_t deadline_ns,
                 unsigned max_attempts, struct send_outcome *out);

/* Any thread: from now on, the current and later exports end at at_ns
 * (CLOCK_MONOTONIC); at_ns = 0 cuts at once. */
void send_cut(struct sender *s, uint64_t at_ns);

/* Parses a Retry-After value (delta-seconds or HTTP-date) into a delay in
 * ms from now_unix_s; -EINVAL when it is neither. */
int send_parse_retry_after(const char *value, int64_t now_unix_s, uint64_t *delay_ms);

uint64_t send_now_ns(void); /* CLOCK_MONOTONIC */

#endif
