/*
 * core_metrics.c - Argus' own metrics (core_metrics.h).
 *
 * The core exists once per process image, so this module keeps its sources
 * in one static struct rather than handing a context around: the callbacks
 * receive it as their argument all the same, so they read nothing else. The
 * exporter is created after these metrics are defined (it needs the
 * registry), hence core_metrics_set_exporter(); no reader can collect before
 * the exporter's threads start, which happens after it is set.
 */
#include "core_metrics.h"
#include "clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

struct core_metrics {
    const struct argus_host *host;
    struct exporter *exporter;
    struct spanq *spans;
    atomic_uint_fast64_t conns_unknown; /* closed before they showed a kind */
    atomic_uint_fast64_t conns_rest;
    atomic_uint_fast64_t conns_gateway;
};

static struct core_metrics core_metrics;

static uint64_t core_metrics_load(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void core_metrics_observe_up(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, 1);
}

static void core_metrics_observe_uptime(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    uint64_t now = clock_now_ns(CLOCK_REALTIME);
    uint64_t start = cm->host->process_start_ns;
    reg_observe(obs, REG_NO_ATTRS, now > start ? (double)(now - start) / 1e9 : 0.0);
}

static void core_metrics_observe_subsystems(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    if (exporter_enabled(cm->exporter, OTLP_METRICS))
        reg_observe_u64(obs, REG_ATTRS({"subsystem", "exporter"}),
                        exporter_healthy(cm->exporter, OTLP_METRICS) ? 1 : 0);
    if (exporter_enabled(cm->exporter, OTLP_TRACES))
        reg_observe_u64(obs, REG_ATTRS({"subsystem", "tracing"}),
                        exporter_healthy(cm->exporter, OTLP_TRACES) ? 1 : 0);
}

static void core_metrics_observe_capture_bytes(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    struct cap_stats *st = cm->host->stats;
    reg_observe_u64(obs, REG_ATTRS({"direction", "read"}),
                    core_metrics_load(&st->captured_bytes[0]));
    reg_observe_u64(obs, REG_ATTRS({"direction", "write"}),
                    core_metrics_load(&st->captured_bytes[1]));
}

static void core_metrics_observe_dropped_bytes(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    reg_observe_u64(obs, REG_NO_ATTRS, core_metrics_load(&cm->host->stats->dropped_bytes));
}

static void core_metrics_observe_evicted(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    reg_observe_u64(obs, REG_NO_ATTRS, core_metrics_load(&cm->host->stats->connections_evicted));
}

/* argus-dpy labels its instrumentation errors by the hook they happened in,
 * and its dashboards group them by (hook). Every error Argus can count today
 * happens in one of its OpenSSL hooks (SSL_read, SSL_read_ex, SSL_write,
 * SSL_write_ex, SSL_free: no real function to forward to), and the preload
 * counts them in one counter, so the label names that family of hooks, not
 * the function. */
static void core_metrics_observe_instr_errors(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    reg_observe_u64(obs, REG_ATTRS({"hook", "openssl"}),
                    core_metrics_load(&cm->host->stats->instrumentation_errors));
}

static void core_metrics_observe_connections(struct reg_observer *obs, void *arg)
{
    struct core_metrics *cm = arg;
    reg_observe_u64(obs, REG_ATTRS({"kind", "rest"}), core_metrics_load(&cm->conns_rest));
    reg_observe_u64(obs, REG_ATTRS({"kind", "gateway"}), core_metrics_load(&cm->conns_gateway));
    reg_observe_u64(obs, REG_ATTRS({"kind", "ignored"}),
                    core_metrics_load(&cm->host->stats->connections_ignored));
    uint64_t unknown = core_metrics_load(&cm->conns_unknown);
    if (unknown > 0)
        reg_observe_u64(obs, REG_ATTRS({"kind", "unknown"}), unknown);
}

static void core_metrics_observe_spans_dropped(struct reg_observer *obs, void *arg)
{
    const struct core_metrics *cm = arg;
    reg_observe_u64(obs, REG_NO_ATTRS, spanq_dropped(cm->spans));
}

/* The observable counters: all carry `cluster` and count in u64. */
static void core_metrics_define_counters(struct reg *r, struct core_metrics *cm)
{
    const struct {
        const char *name, *description, *unit;
        reg_observe_fn fn;
    } defs[] = {
        {"argus_capture_bytes_total", "Plaintext bytes of Discord traffic captured", "By",
         core_metrics_observe_capture_bytes},
        {"argus_capture_dropped_bytes_total",
         "Captured bytes dropped because the capture ring was full", "By",
         core_metrics_observe_dropped_bytes},
        {"argus_connections_evicted_total", "Connections dropped from the full connection table",
         "{connection}", core_metrics_observe_evicted},
        {"argus_instrumentation_errors_total",
         "Interposed calls Argus could not observe, by hook (openssl: its OpenSSL hooks)",
         "{error}", core_metrics_observe_instr_errors},
        {"argus_connections_total",
         "TLS connections seen, by kind (rest, gateway; ignored: not Discord; unknown: closed "
         "before writing, or opened in a burst beyond the table)",
         "{connection}", core_metrics_observe_connections},
        {"argus_spans_dropped_total", "Spans dropped because the span queue was full", "{span}",
         core_metrics_observe_spans_dropped},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (defs[i].fn == core_metrics_observe_spans_dropped && cm->spans == NULL)
            continue;
        reg_observable_counter(r, defs[i].name, defs[i].description, defs[i].unit, REG_NUMBER_U64,
                               REG_F_CLUSTER, defs[i].fn, cm);
    }
}

void core_metrics_define(struct reg *r, const struct argus_config *cfg,
                         const struct argus_host *host, struct spanq *spans)
{
    char name[REG_NAME_MAX];
    const char *ns = cfg->ns != NULL && cfg->ns[0] != '\0' ? cfg->ns : "discord";
    struct core_metrics *cm = &core_metrics;
    cm->host = host;
    cm->spans = spans;
    reg_gauge(r, "argus_up", "1 while Argus runs in this process", "", REG_NUMBER_U64,
              REG_F_CLUSTER, core_metrics_observe_up, cm);
    snprintf(name, sizeof(name), "%s_uptime_seconds", ns);
    reg_gauge(r, name, "Seconds since the bot process started", "s", REG_NUMBER_DOUBLE,
              REG_F_CLUSTER, core_metrics_observe_uptime, cm);
    reg_gauge(r, "argus_subsystem_up", "1 while an Argus subsystem works, 0 while it fails", "",
              REG_NUMBER_U64, 0, core_metrics_observe_subsystems, cm);
    core_metrics_define_counters(r, cm);
}

void core_metrics_set_exporter(struct exporter *e)
{
    core_metrics.exporter = e;
}

void core_metrics_on_event(const struct argus_event *ev)
{
    atomic_uint_fast64_t *count = NULL;
    if (ev->kind == EV_CONN_KIND && ev->conn_kind == CONN_KIND_REST)
        count = &core_metrics.conns_rest;
    else if (ev->kind == EV_CONN_KIND && ev->conn_kind == CONN_KIND_GATEWAY)
        count = &core_metrics.conns_gateway;
    else if (ev->kind == EV_CONN_CLOSE && ev->conn_kind == CONN_KIND_UNKNOWN)
        count = &core_metrics.conns_unknown;
    if (count != NULL)
        atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

void core_metrics_fork_child(void)
{
    core_metrics.host = NULL;
    core_metrics.exporter = NULL;
    core_metrics.spans = NULL;
    atomic_store(&core_metrics.conns_unknown, 0);
    atomic_store(&core_metrics.conns_rest, 0);
    atomic_store(&core_metrics.conns_gateway, 0);
}
