/*
 * core_metrics.h - Argus' own metrics: that it runs, since when, whether its
 * exports work, what the capture took and dropped, and the connections it
 * saw.
 *
 * It owns argus_up, <ns>_uptime_seconds, argus_subsystem_up,
 * argus_capture_bytes_total, argus_capture_dropped_bytes_total,
 * argus_connections_evicted_total, argus_instrumentation_errors_total,
 * argus_connections_total and (with tracing) argus_spans_dropped_total. All of
 * them are computed when a reader collects (invariant 5): the capture's
 * counters are the relaxed atomics the bot's threads bump in the host's
 * struct cap_stats, the connection counts are atomics of this module, the
 * health is the exporter's. Each reports from the first collection, zeros
 * included. argus_instrumentation_errors_total carries hook="openssl": every
 * such error happens in an OpenSSL hook, which the preload counts together.
 *
 * Threads: core_metrics_define() and core_metrics_set_exporter() on Argus'
 * thread while the core starts, before any reader exists;
 * core_metrics_on_event() on the decode thread; the callbacks on reader
 * threads; core_metrics_fork_child() in a forked child. Ownership: everything
 * is borrowed (host, spans, exporter) and must live as long as the registry
 * may be collected; the registry owns the instruments. A definition the
 * registry refuses leaves that metric out; Argus runs on without it.
 */
#ifndef ARGUS_CORE_METRICS_H
#define ARGUS_CORE_METRICS_H

#include "config.h"
#include "core_api.h"
#include "event.h"
#include "exporter.h"
#include "reg.h"
#include "spans.h"

/* spans: the span queue, or NULL when tracing is off (then
 * argus_spans_dropped_total is not defined). */
void core_metrics_define(struct reg *r, const struct argus_config *cfg,
                         const struct argus_host *host, struct spanq *spans);

/* The exporter whose health argus_subsystem_up reports (NULL: none). */
void core_metrics_set_exporter(struct exporter *e);

/* Counts a connection by the kind the decoder established, once each (a
 * request that is not an upgrade: rest; a 101 answer: gateway); one that
 * closes without having shown a kind counts as unknown. Other events are
 * ignored. */
void core_metrics_on_event(const struct argus_event *ev);

/* Forgets the parent's objects and counts; a later core_metrics_define()
 * starts afresh. */
void core_metrics_fork_child(void);

#endif
