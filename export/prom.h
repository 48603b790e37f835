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
 * What a scrape returns is prom_text.h's rendering (names from prom_name.h),
 * in the format and encoding prom_negotiate.h picks from the request: text
 * format 0.0.4 unless the Accept header prefers OpenMetrics 1.0.0, gzip when
 * Accept-Encoding allows. Any other path is 404, any other method 405.
 *
 * Threads: prom_start() and prom_stop() are called from Argus' own thread
 * (the core's start and exit paths); scrapes are served on the server's
 * thread; prom_fork_child() in a fork()ed child only.
 *
Errors: nothing here reaches the bot: a taken port or any other failure to start is said once on
stderr and prom_start() returns NULL;
 * Argus carries on with its other exporters.
 */
#ifndef ARGUS_PROM_H
#define ARGUS_PROM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "prom_text.h"
#include "reg.h"
#include "resource.h"

/* The scope every Argus metric belongs to (the same as in OTLP). */
#define PROM_SCOPE_NAME "argus"

/* Largest response body; a registry this large gets 503 and one warning. */
#define PROM_MAX_BODY (32u << 20)

struct prom;

/* The resource and scope rendered with every scrape; borrowed for the call
 * (prom_start copies them). resource may be NULL (no target_info); a NULL
 * scope name or version means PROM_SCOPE_NAME and Argus' version. */
struct prom_target {
    const struct resource *resource;
    const char *scope_name;
    const char *scope_version;
};

/* Starts the endpoint on cfg->prometheus_host:cfg->prometheus_port with its
 * own cumulative reader of reg. target is copied (NULL: no target_info,
 * the default scope).
 * Returns NULL (having said why once, naming OTEL_EXPORTER_PROMETHEUS_PORT
 * when the port is taken) on any failure; the caller simply carries on
 * without the endpoint. */
struct prom *prom_start(const struct argus_config *cfg, struct reg *reg,
                        const struct prom_target *target);

/* Stops serving (waits for a scrape in progress), closes the socket, destroys
 * the reader and frees everything. Call before reg_destroy(). Accepts NULL. */
void prom_stop(struct prom *p);

/* In a fork()ed child: closes the inherited listening socket so the parent's
 * port is not held by the child, and forgets the rest (the server thread does
 * not exist in the child; nothing else is touched). Accepts NULL. */
void prom_fork_child(struct prom *p);

/* The port actually bound (OTEL_EXPORTER_PROMETHEUS_PORT=0 binds any free
 * one), or 0. */
unsigned prom_port(const struct prom *p);

#endif
