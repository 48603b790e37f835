/*
 * prom.h - the opt-in Prometheus /metrics endpoint (OTEL_METRICS_EXPORTER=prometheus).
 *
 * Owns one embedded HTTP server (libmicrohttpd, one internal polling thread
 * started with every signal blocked) listening on OTEL_EXPORTER_PROMETHEUS_HOST
 * and _PORT, and one cumulative reader of the registry. Every scrape of
 * GET /metrics collects the registry on that thread (so gauges are evaluated
 * at scrape time) and renders it. The OTLP exporter reads the same registry
 * through its own reader; neither disturbs the other.
 *
 * What a scrape returns follows the OpenTelemetry "OTLP Metric points to
 * Prometheus" rules for SDK pull exporters, with the metric and label names of
 * prometheus/otlptranslator's default strategy (UnderscoreEscapingWithSuffixes),
 * so a series has the same name whether it was scraped here or pushed through
 * an OpenTelemetry Collector:
 *   - unit and `_total` suffixes (prom_metric_name), label keys escaped
 *     (prom_label_name), colliding keys' values joined by ';' in key order;
 *   - `otel_scope_name` / `otel_scope_version` labels on every sample;
 *   - the resource as one `target_info` (its labels are the resource
 *     attributes and nothing else; `job` and `instance` are the scraper's, as
 *     the specification requires of an SDK exporter);
 *   - HELP and TYPE for every family; Prometheus text format 0.0.4 unless the
 *     Accept header prefers OpenMetrics 1.0.0; gzip when Accept-Encoding allows.
 *
 * Threads: prom_start() and prom_stop() are called from Argus' own thread
 * (the core's start and exit paths); scrapes are served on the server's thread.
 * The pure functions below (names, negotiation, rendering) may be called from
 * any thread; they exist separately so tests can check them without a socket.
 *
 * Errors: functions returning int give 0 (or a length) on success and a
 * negative errno on failure. Nothing here reaches the bot: a taken port or any
 * other failure to start is said once on stderr and prom_start() returns NULL;
 * Argus carries on with its other exporters.
 */
#ifndef ARGUS_PROM_H
#define ARGUS_PROM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "reg.h"
#include "resource.h"

/* The scope every Argus metric belongs to (the same as in OTLP). */
#define PROM_SCOPE_NAME "argus"

/* Largest response body; a registry this large gets 503 and one warning. */
#define PROM_MAX_BODY (32u << 20)

struct prom;

/* The resource and scope rendered with every scrape; borrowed for the call
 * (prom_start copies them). resource may be NULL (no target_info). */
struct prom_target {
    const struct resource *resource;
    const char *scope_name;
    const char *scope_version;
};

/* Starts the endpoint on cfg->prometheus_host:cfg->prometheus_port with its
 * own cumulative reader of reg. target is copied. Returns NULL (having said
 * why once, naming OTEL_EXPORTER_PROMETHEUS_PORT when the port is taken) on
 * any failure; the caller simply carries on without the endpoint. */
struct prom *prom_start(const struct argus_config *cfg, struct reg *reg,
                        const struct prom_target *target);

/* Stops serving (waits for a scrape in progress), closes the socket, destroys
 * the reader and frees everything. Call before reg_destroy(). Accepts NULL. */
void prom_stop(struct prom *p);

/* In a fork()ed child: closes the inherited listening socket so the parent's
 * port is not held by the child, and forgets the rest (the server thread does
 * not exist in the child; nothing else is touched). Accepts NULL. */
void prom_fork_child(struct prom *p);

/* The port actually bound (useful with port 0 in tests), or 0. */
unsigned prom_port(const struct prom *p);

/* ---- the translation, exposed for tests -------------------------------- */

/* The OTLP metric types that decide the suffixes (otlptranslator MetricType). */
enum prom_metric_type {
    PROM_GAUGE = 0,
    PROM_MONOTONIC_COUNTER,
    PROM_NON_MONOTONIC_COUNTER,
    PROM_HISTOGRAM,
};

/* The Prometheus name of an OTLP metric (name, UCUM unit, type), exactly as
 * otlptranslator's normalizeName gives it with suffixes and escaping:
 *   - split the name at every character outside [A-Za-z0-9:] (runs of '_'
 *     collapse as a consequence);
 *   - unit "a/b": main word from the unit table (s->seconds, By->bytes, 1->"",
 *     ...; unknown units kept, "{...}" dropped), "per_" + per word (s->second,
 *     ...), each cleaned to [A-Za-z0-9:_]; a word already among the name's
 *     tokens is not added again;
 *   - monotonic counters end in a single "total" token, gauges with unit "1"
 *     in a single "ratio" token;
 *   - joined with '_', prefixed with '_' if it would start with a digit.
 * Writes a NUL-terminated name into out and returns its length; -EINVAL if the
 * result would be empty, -ENAMETOOLONG if it does not fit in cap. */
int prom_metric_name(const char *name, const char *unit, enum prom_metric_type type, char *out,
                     size_t cap);

/* The unit word of a UCUM unit as otlptranslator's UnitNamer gives it ("s" ->
 * "seconds", "By/s" -> "bytes_per_second", "1" and "{x}" -> ""), used for the
 * OpenMetrics UNIT line. Same return convention as prom_metric_name. */
int prom_unit_name(const char *unit, char *out, size_t cap);

/* A Prometheus label name for an attribute key (otlptranslator LabelNamer):
 * characters outside [A-Za-z0-9_] become '_', a leading digit gets "key_", a
 * single leading '_' gets "key" (a "__" prefix is kept). Same return
 * convention. */
int prom_label_name(const char *key, char *out, size_t cap);

/* ---- negotiation and rendering, exposed for tests ----------------------- */

enum prom_format {
    PROM_TEXT_0_0_4 = 0,  /* text/plain; version=0.0.4 */
    PROM_OPENMETRICS_1_0, /* application/openmetrics-text; version=1.0.0 */
};

/* Picks the format from an Accept header (NULL = text): OpenMetrics when the
 * header gives application/openmetrics-text (version 1.0.0, 0.0.1 or none) a
 * higher quality than text/plain, text otherwise. */
enum prom_format prom_negotiate(const char *accept);

/* The Content-Type header value for a format. */
const char *prom_content_type(enum prom_format format);

/* True when an Accept-Encoding header accepts gzip (q > 0). */
bool prom_accepts_gzip(const char *accept_encoding);

/* A growable output buffer with a hard cap set at init. */
struct prom_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    int error; /* 0, or -E2BIG (max reached) / -ENOMEM: data is incomplete */
};

void prom_buf_init(struct prom_buf *b, size_t max);
void prom_buf_fini(struct prom_buf *b);
/* Hands the bytes to the caller (free() them) and leaves b empty. */
char *prom_buf_take(struct prom_buf *b, size_t *len);

/* Renders a snapshot in the given format, appending to out. Metrics whose
 * Prometheus name collides with an earlier one are left out (and said once),
 * as the specification requires. Returns 0, -ENOMEM, or -E2BIG when out's cap
 * was reached. */
int prom_render(const struct reg_snapshot *s, const struct prom_target *t, enum prom_format format,
                struct prom_buf *out);

/* gzip of in[0, len) into a new malloc'd buffer. Returns 0 or -ENOMEM/-EIO. */
int prom_gzip(const char *in, size_t len, char **out, size_t *out_len);

#endif
