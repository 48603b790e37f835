/*
 * core.c - the core's side of core_api.h: start, the decode loop, the exit
 * flush, and fork. Argus' own metrics are core_metrics.c's, the SIGTERM
 * hand-off core_sigterm.c's.
 *
 * Start (on Argus' thread, once per process image): curl_global_init (before
 * any thread of ours uses curl), the registry with Argus' own metrics, the
 * span queue, the resource, the export threads, then the exit flush with
 * atexit(). The order matters: exit handlers run in reverse order of
 * registration, and OpenSSL registers its cleanup during curl_global_init, so
 * a flush registered before it would run after OpenSSL is gone and an HTTPS
 * export could no longer work.
 *
 * Fork. No Argus thread is inside libcurl (so inside OpenSSL) when the
 * program forks: export/fork_gate.h. fork_child() forgets every object of the parent without
 * freeing or closing anything (a curl handle shares the parent's keep-alive socket; a mutex may
 * have been held by a thread that does not exist here), so a later start() in the child builds
 * fresh ones, with a new service.instance.id and process.pid.
 */
#include <curl/curl.h>
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "core_api.h"
#include "core_log.h"
#include "core_metrics.h"
#include "core_sigterm.h"
#include "exporter.h"
#include "fork_gate.h"
#include "lc.h"
#include "prom.h"
#include "reg.h"
#include "resource.h"
#include "ring.h"
#include "spans.h"
#include "stream.h"

#define CORE_RING_WAIT_MS 100

enum core_state {
    CORE_IDLE = 0,
    CORE_STARTED,
    CORE_FLUSHED,
};

static struct {
    _Atomic int state;
    atomic_bool stop;
    const struct argus_host *host;
    const struct argus_config *cfg;
    struct reg *reg;
    struct spanq *spans;
    struct exporter *exporter;
    struct prom *prom;            /* the optional /metrics endpoint (export/prom.h) */
    struct stream_table *streams; /* the decoder (decode/stream.h), decode thread only */
    struct lc *lc;                /* the lifecycle tracker (infer/lc.h), decode thread only */
    atomic_bool decoding;         /* core_run() is in its loop */
    sem_t decode_done;            /* posted when core_run() has ended the lifecycles */
    struct resource res;
} core;

/* Process-wide, survive fork (the child's libcurl and atexit list are the
 * parent's copies). */
static atomic_bool core_curl_ready;
static atomic_bool core_atexit_registered;

static void core_exit_flush(void);

/* ---- core_api.h ------------------------------------------------------------- */

/* Every decoded event passes here: Argus' connection counts, then the
 * lifecycle tracker. */
static void core_on_event(const struct argus_event *ev, void *arg)
{
    (void)arg;
    core_metrics_on_event(ev);
    lc_on_event(ev, core.lc);
}

static const char *core_push_target(unsigned exporters, const struct argus_otlp_signal *sig)
{
    if (exporters & ARGUS_EXPORTER_OTLP)
        return sig->grpc_requested ? "(none: grpc is not supported)" : sig->url_shown;
    return exporters & ARGUS_EXPORTER_CONSOLE ? "the console" : "(none)";
}

/* curl_global_init once per process (a forked child has the parent's), then
 * the registry with Argus' own metrics, the span queue, the decoder and the
 * lifecycle tracker. Returns 0, -EIO or -ENOMEM. */
static int core_build(const struct argus_host *host)
{
    int rc = 0;
    const struct argus_config *cfg = host->config;
    /* Every call into libcurl from here on, initialisation included, is
     * one step inside the fork gate (export/fork_gate.h). */
    if (fork_gate_install() != 0)
        argus_log_debug("pthread_atfork failed: a fork() may not wait for an export step");
    if (!atomic_load(&core_curl_ready)) {
        fork_gate_enter();
        CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
        fork_gate_leave();
        if (init != CURLE_OK) {
            rc = -EIO;
            goto out;
        }
        atomic_store(&core_curl_ready, true);
    }
    core.reg = reg_create(cfg->max_series, cfg->cluster);
    if (core.reg == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (cfg->traces_exporters != 0) {
        core.spans = spanq_create(cfg->bsp_max_queue_size ? cfg->bsp_max_queue_size : 2048,
                                  cfg->bsp_max_export_batch_size);
        if (core.spans == NULL)
            argus_log_warn("cannot allocate the span queue; tracing is off");
    }
    core_metrics_define(core.reg, cfg, host, core.spans);
    /* Decoding and lifecycles run on the decode thread (core_run). Without
     * them capture still counts bytes; say so once and carry on. */
    core.lc = lc_create(cfg, core.reg, core.spans);
    core.streams = stream_table_create(cfg, core_on_event, NULL);
    if (core.lc == NULL || core.streams == NULL)
        argus_log_warn("cannot allocate the decoder or the lifecycle tracker; Discord traffic "
                       "is counted but not decoded");
out:
    return rc;
}

/* The OTLP export threads and the optional Prometheus endpoint. Returns 0 or
 * -ENOMEM; a thread or a port that fails is said and the rest carries on. */
static int core_start_exporters(const struct argus_host *host)
{
    int rc = 0;
    const struct argus_config *cfg = host->config;
    resource_build(&core.res, cfg); /* a malformed list was said by the configuration */
    core.exporter = exporter_create(cfg, core.reg, core.spans, &core.res, host->mark_argus_thread);
    if (core.exporter == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    core_metrics_set_exporter(core.exporter);
    int err = exporter_start(core.exporter);
    if (err != 0)
        argus_log_warn("cannot start an export thread (%s)", strerror(-err));
    /* What goes where, once: the URLs as the configuration made them fit
     * for a log (no userinfo, no query value), header values never. */
    argus_log_debug(
        "core started: metrics to %s every %u ms, spans to %s, %u+%u extra "
        "header(s) (values not shown)",
        core_push_target(cfg->metrics_exporters, &cfg->metrics), cfg->metric_export_interval_ms,
        core.spans != NULL ? core_push_target(cfg->traces_exporters, &cfg->traces) : "(none)",
        cfg->metrics.headers.n, cfg->traces.headers.n);
    /* The Prometheus endpoint (OTEL_METRICS_EXPORTER=prometheus) reads the
     * same registry through its own cumulative reader. A failure (a taken
     * port) has been said once by prom_start. */
    if (cfg->metrics_exporters & ARGUS_EXPORTER_PROMETHEUS)
        core.prom = prom_start(cfg, core.reg,
                               &(struct prom_target){.resource = &core.res,
                                                     .scope_name = PROM_SCOPE_NAME,
                                                     .scope_version = NULL});
out:
    return rc;
}

static int core_start(const struct argus_host *host)
{
    int rc = 0;
    if (host == NULL || host->abi_version != ARGUS_CORE_ABI_VERSION ||
        host->struct_size < sizeof(struct argus_host) || host->config == NULL) {
        rc = -EPROTO;
        goto out;
    }
    if (atomic_load(&core.state) != CORE_IDLE) {
        rc = -EALREADY; /* start() runs once per process image (core_api.h) */
        goto out;
    }
    core_log_bind(host->log);
    core.host = host;
    core.cfg = host->config;
    atomic_store(&core.stop, false);
    sem_init(&core.decode_done, 0, 0);
    rc = core_build(host);
    if (rc == 0)
        rc = core_start_exporters(host);
    if (rc != 0)
        goto out;
    /* After curl_global_init: see the top of this file. */
    if (!atomic_exchange(&core_atexit_registered, true))
        atexit(core_exit_flush);
    core_sigterm_install(core_exit_flush, host->mark_argus_thread);
    atomic_store(&core.state, CORE_STARTED);
out:
    /* On failure the objects built so far are abandoned, not freed: a
     * half-started core is rare and the preload goes pass-through. */
    return rc;
}

static void core_consume(struct ring *ring, struct ring_record *rec)
{
    if (core.streams != NULL)
        stream_table_feed(core.streams, rec); /* events go to core_on_event */
    ring_release(ring, rec);
}

/* Records decoded between two deadline checks under sustained traffic; the
 * wait below bounds the gap when traffic is light (lc.h asks for <= 100 ms). */
#define CORE_TICK_EVERY_RECORDS 256u
/* At exit, records still in the ring are decoded, but no more than this many:
 * a bot that keeps writing must not hold the exit up. */
#define CORE_EXIT_DRAIN_RECORDS 65536u

static void core_run(void)
{
    struct ring *ring = core.host->ring;
    struct ring_record rec;
    atomic_store(&core.decoding, true);
    while (!atomic_load(&core.stop)) {
        ring_wait(ring, CORE_RING_WAIT_MS);
        unsigned n = 0;
        while (!atomic_load(&core.stop) && ring_pop(ring, &rec)) {
            core_consume(ring, &rec);
            if (++n % CORE_TICK_EVERY_RECORDS == 0)
                lc_tick(core.lc, clock_now_ns(CLOCK_MONOTONIC));
        }
        lc_tick(core.lc, clock_now_ns(CLOCK_MONOTONIC));
    }
    /* Stopping: decode what was captured before the stop, then give every
     * open lifecycle its end (lc_shutdown), so the final export that
     * core_exit_flush() is about to make sees them. */
    for (unsigned n = 0; n < CORE_EXIT_DRAIN_RECORDS && ring_pop(ring, &rec); n++)
        core_consume(ring, &rec);
    lc_tick(core.lc, clock_now_ns(CLOCK_MONOTONIC));
    lc_shutdown(core.lc);
    atomic_store(&core.decoding, false);
    sem_post(&core.decode_done);
}

/* Waits (bounded) for core_run() to finish its exit work. */
static void core_wait_for_decoder(uint32_t timeout_ms)
{
    if (!atomic_load(&core.decoding))
        return;
    struct timespec deadline = clock_deadline_ms(CLOCK_REALTIME, timeout_ms);
    while (sem_timedwait(&core.decode_done, &deadline) != 0 && errno == EINTR)
        ;
}

static void core_exit_flush(void)
{
    int expected = CORE_STARTED;
    if (!atomic_compare_exchange_strong(&core.state, &expected, CORE_FLUSHED))
        return;
    uint32_t budget_ms = core.cfg->shutdown_timeout_ms;
    uint64_t start_ns = clock_now_ns(CLOCK_MONOTONIC);
    atomic_store(&core.stop, true);
    if (core.host->ring != NULL)
        ring_wake(core.host->ring);
    /* A quarter of the shutdown budget for the decoder's last records and
     * lifecycle ends; the rest is the final export's. */
    core_wait_for_decoder(budget_ms / 4);
    prom_stop(core.prom); /* before the final export: no scrape races it */
    core.prom = NULL;
    /* ARGUS_SHUTDOWN_TIMEOUT_MS bounds the whole exit, not each step. */
    uint64_t spent_ms = (clock_now_ns(CLOCK_MONOTONIC) - start_ns) / 1000000ull;
    exporter_shutdown(core.exporter, spent_ms < budget_ms ? (uint32_t)(budget_ms - spent_ms) : 0);
}

static void core_fork_child(void)
{
    /* Abandon, never free: see the top of this file. */
    prom_fork_child(core.prom); /* closes the inherited listening socket only */
    core.prom = NULL;
    core.reg = NULL;
    core.spans = NULL;
    core.exporter = NULL;
    core.streams = NULL;
    core.lc = NULL;
    atomic_store(&core.decoding, false);
    atomic_store(&core.stop, false);
    atomic_store(&core.state, CORE_IDLE);
    core_metrics_fork_child();
    core_sigterm_fork_child();
}

static const struct argus_core_ops core_ops = {
    .abi_version = ARGUS_CORE_ABI_VERSION,
    .struct_size = sizeof(struct argus_core_ops),
    .start = core_start,
    .run = core_run,
    .exit_flush = core_exit_flush,
    .fork_child = core_fork_child,
};

/* The only symbol libargus_core.so exports. */
__attribute__((visibility("default"))) const struct argus_core_ops *
argus_core_entry(uint32_t abi_version)
{
    return abi_version == ARGUS_CORE_ABI_VERSION ? &core_ops : NULL;
}
