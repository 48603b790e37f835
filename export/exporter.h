/*
 * exporter.h - the export threads: the periodic metric reader and the batch
 * span processor, with their OTLP senders and the console exporter.
 *
 * exporter_start() starts up to two threads, each with every signal blocked
 * (libcurl's resolver threads inherit that mask):
 *   metrics: every OTEL_METRIC_EXPORT_INTERVAL, collect the registry with its
 *     own reader (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE), encode,
 *     send within OTEL_METRIC_EXPORT_TIMEOUT (and the signal's
 *     OTEL_EXPORTER_OTLP_*TIMEOUT), and/or print to stderr (console);
 *   traces: the batch span processor: export when OTEL_BSP_SCHEDULE_DELAY has
 *     passed or a full OTEL_BSP_MAX_EXPORT_BATCH_SIZE batch is queued, within
 *     OTEL_BSP_EXPORT_TIMEOUT; never two exports at once.
 * An empty collection or queue sends nothing. Failures are counted in
 * argus_export_failures_total{reason} (defined here) and reflected by
 * exporter_healthy(); they never reach the caller.
 *
 * exporter_shutdown() is the bounded final flush: it cuts any export in flight
 * (never awaits it), has each thread export once more, and returns when they
 * are done or timeout_ms has passed, whichever is first. Safe to call twice.
 * The exporter is never freed: exporter_shutdown() is its end, at the exit of
 * the process. A forked child simply forgets the pointer, leaking the
 * parent's threads and handles on purpose (a curl handle shares the parent's
 * keep-alive socket, so touching it in the child would disturb the parent).
 *
 * Threads: create/start/shutdown from any one Argus thread at a time (the
 * exit path included). The registry, span queue, resource and config are
 * borrowed and must outlive the exporter.
 */
#ifndef ARGUS_EXPORTER_H
#define ARGUS_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>

#include "otlp.h"

struct argus_config;
struct reg;
struct spanq;
struct resource;
struct exporter;

/* Returns NULL on allocation failure. spans may be NULL (no tracing).
 * thread_init, if not NULL, runs first on each export thread (the preload's
 * mark_argus_thread, so the hooks skip our own TLS to the collector). */
struct exporter *exporter_create(const struct argus_config *cfg, struct reg *reg,
                                 struct spanq *spans, const struct resource *res,
                                 void (*thread_init)(void));
/* 0 or a negative errno (a thread could not start; the other may run). */
int exporter_start(struct exporter *e);
void exporter_shutdown(struct exporter *e, uint32_t timeout_ms);

/* False while the last export of that signal failed; true before the first. */
bool exporter_healthy(const struct exporter *e, enum otlp_signal signal);
/* Whether the signal is exported at all (configured, and not gRPC). */
bool exporter_enabled(const struct exporter *e, enum otlp_signal signal);

#endif
