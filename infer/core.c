/*
 * core.c - the core's side of core_api.h: start, the decode loop, the exit
 * flush, the SIGTERM hand-off, and fork.
 *
 * Start (on Argus' thread, once per process image): curl_global_init (before
 * any thread of ours uses curl), the registry with Argus' own metrics, the
 * span queue, the resource, the export threads, then the exit flush with
 * atexit(). The order matters: exit handlers run in reverse order of
 * registration, and OpenSSL registers its cleanup during curl_global_init, so
 * a flush registered before it would run after OpenSSL is gone and an HTTPS
 * export could no longer work.
 *
 * SIGTERM. A bot stopped by `docker stop` or systemd gets SIGTERM, and with the
 * default action the process dies without running exit handlers, losing the
 * last interval. If (and only if) SIGTERM is at SIG_DFL when the core starts,
 * we install a handler. It does one async-signal-safe thing: sem_post() to a
 * thread of ours that waits for it. That thread flushes (bounded by
 * ARGUS_SHUTDOWN_TIMEOUT_MS), puts the default action back and sends SIGTERM
 * to the process again, so the bot still dies of SIGTERM (status 143). The
 * handler is installed from Argus' thread, never in the constructor: Python
 * reads the handlers at start and would take a foreign one for the program's.
 * A program that installs its own handler, before or after, replaces ours and
 * is never wrapped. A forked child inherits the handler but not the thread:
 * there the handler restores the default and re-raises at once.
 *
 * Fork. No Argus thread is inside libcurl (so inside OpenSSL) when the
 * program forks: export/fork_gate.h. fork_child() forgets every object of the parent without
 * freeing or closing anything (a curl handle shares the parent's keep-alive socket; a mutex may
 * have been held by a thread that does not exist here), so a later start() in the child builds
 * fresh ones, with a new service.instance.id and process.pid.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "core_api.h"
#include "core_log.h"
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
    /* Discord connections by kind, as the decoder found them (written by the
     * decode thread, read by exporters). */
    atomic_uint_fast64_t conns_unknown; /* closed before they showed a kind */
    atomic_uint_fast64_t conns_rest;
    atomic_uint_fast64_t conns_gateway;
} core;

/* Process-wide, survive fork (the child's libcurl and atexit list are the
 * parent's copies). */
static atomic_bool curl_ready;
static atomic_bool atexit_registered;

/* SIGTERM hand-off. */
static sem_t sigterm_sem;
static _Atomic pid_t sigterm_owner; /* the pid whose thread waits on sigterm_sem */

/* ---- Argus' own metrics --------------------------------------------------- */

static void observe_up(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, 1);
}

static void observe_uptime(struct reg_observer *obs, void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t start = core.host->process_start_ns;
    reg_observe(obs, REG_NO_ATTRS, now > start ? (double)(now - start) / 1e9 : 0.0);
}

static void observe_subsystems(struct reg_observer *obs, void *arg)
{
    (void)arg;
    if (exporter_enabled(core.exporter, OTLP_METRICS))
        reg_observe_u64(obs, REG_ATTRS({"subsystem", "exporter"}),
                        exporter_healthy(core.exporter, OTLP_METRICS) ? 1 : 0);
    if (exporter_enabled(core.exporter, OTLP_TRACES))
        reg_observe_u64(obs, REG_ATTRS({"subsystem", "tracing"}),
                        exporter_healthy(core.exporter, OTLP_TRACES) ? 1 : 0);
}

static uint64_t load(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void observe_capture_bytes(struct reg_observer *obs, void *arg)
{
    (void)arg;
    struct cap_stats *st = core.host->stats;
    reg_observe_u64(obs, REG_ATTRS({"direction", "read"}), load(&st->captured_bytes[0]));
    reg_observe_u64(obs, REG_ATTRS({"direction", "write"}), load(&st->captured_bytes[1]));
}

static void observe_dropped_bytes(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, load(&core.host->stats->dropped_bytes));
}

static void observe_evicted(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, load(&core.host->stats->connections_evicted));
}

static void observe_instr_errors(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, load(&core.host->stats->instrumentation_errors));
}

static void observe_connections(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_ATTRS({"kind", "rest"}), load(&core.conns_rest));
    reg_observe_u64(obs, REG_ATTRS({"kind", "gateway"}), load(&core.conns_gateway));
    reg_observe_u64(obs, REG_ATTRS({"kind", "ignored"}),
                    load(&core.host->stats->connections_ignored));
    uint64_t unknown = load(&core.conns_unknown);
    if (unknown > 0)
        reg_observe_u64(obs, REG_ATTRS({"kind", "unknown"}), unknown);
}

static void observe_spans_dropped(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, spanq_dropped(core.spans));
}

/* Defines Argus' own instruments. A failed definition leaves a NULL
 * instrument, which records nothing: Argus keeps running without it. */
static void define_own_metrics(struct reg *r, const struct argus_config *cfg)
{
    char name[REG_NAME_MAX];
    const char *ns = cfg->ns != NULL && cfg->ns[0] != '\0' ? cfg->ns : "discord";
    const unsigned cl = REG_F_CLUSTER;

    reg_gauge(r, "argus_up", "1 while Argus runs in this process", "", REG_NUMBER_U64, cl,
              observe_up, NULL);
    snprintf(name, sizeof(name), "%s_uptime_seconds", ns);
    reg_gauge(r, name, "Seconds since the bot process started", "s", REG_NUMBER_DOUBLE, cl,
              observe_uptime, NULL);
    reg_gauge(r, "argus_subsystem_up", "1 while an Argus subsystem works, 0 while it fails", "",
              REG_NUMBER_U64, 0, observe_subsystems, NULL);
    reg_observable_counter(r, "argus_capture_bytes_total",
                           "Plaintext bytes of Discord traffic captured", "By", REG_NUMBER_U64, cl,
                           observe_capture_bytes, NULL);
    reg_observable_counter(r, "argus_capture_dropped_bytes_total",
                           "Captured bytes dropped because the capture ring was full", "By",
                           REG_NUMBER_U64, cl, observe_dropped_bytes, NULL);
    reg_observable_counter(r, "argus_connections_evicted_total",
                           "Connections dropped from the full connection table", "{connection}",
                           REG_NUMBER_U64, cl, observe_evicted, NULL);
    reg_observable_counter(r, "argus_instrumentation_errors_total",
                           "Interposed calls Argus could not observe", "{error}", REG_NUMBER_U64,
                           cl, observe_instr_errors, NULL);
    reg_observable_counter(r, "argus_connections_total",
                           "TLS connections seen, by kind (rest, gateway; ignored: not Discord; "
                           "unknown: closed before writing, or opened in a burst beyond "
                           "the table)",
                           "{connection}", REG_NUMBER_U64, cl, observe_connections, NULL);
    if (core.spans != NULL)
        reg_observable_counter(r, "argus_spans_dropped_total",
                               "Spans dropped because the span queue was full", "{span}",
                               REG_NUMBER_U64, cl, observe_spans_dropped, NULL);
}

/* ---- SIGTERM hand-off ---------------------------------------------------- */

static void core_exit_flush(void);

static void on_sigterm(int sig)
{
    int saved_errno = errno;
    if (getpid() != atomic_load(&sigterm_owner)) {
        /* A forked child: no thread waits here. Die as SIGTERM would. */
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        sem_post(&sigterm_sem);
    }
    errno = saved_errno;
}

static bool sigterm_is_ours(void)
{
    struct sigaction cur;
    return sigaction(SIGTERM, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
           cur.sa_handler == on_sigterm;
}

static void *sigterm_main(void *arg)
{
    (void)arg;
    if (core.host->mark_argus_thread != NULL)
        core.host->mark_argus_thread();
    pthread_setname_np(pthread_self(), "argus-sigterm");
    while (sem_wait(&sigterm_sem) != 0 && errno == EINTR)
        ;
    core_exit_flush();
    /* Only if the program has not put its own handler in meanwhile. */
    if (sigterm_is_ours()) {
        signal(SIGTERM, SIG_DFL);
        kill(getpid(), SIGTERM); /* process-directed: lands on a bot thread */
    }
    return NULL;
}

static void install_sigterm_handoff(void)
{
    struct sigaction cur;
    if (sigaction(SIGTERM, NULL, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) ||
        cur.sa_handler != SIG_DFL)
        return; /* the program has its own (or ignores it): leave it alone */
    if (sem_init(&sigterm_sem, 0, 0) != 0)
        return;
    atomic_store(&sigterm_owner, getpid());
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t t;
    int err = pthread_create(&t, NULL, sigterm_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        return;
    pthread_detach(t);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    /* Re-check: install only over the default action. */
    if (sigaction(SIGTERM, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
        cur.sa_handler == SIG_DFL)
        sigaction(SIGTERM, &sa, NULL);
}

/* ---- core_api.h ------------------------------------------------------------- */

/* Every decoded event passes here on its way to the lifecycle tracker.
 * Connections are counted by the kind the decoder established (a request
 * that is not an upgrade: REST; a 101 answer: gateway), once each; one that
 * closes without having shown a kind counts as unknown. */
static void core_on_event(const struct argus_event *ev, void *arg)
{
    (void)arg;
    if (ev->kind == EV_CONN_KIND && ev->conn_kind == CONN_KIND_REST)
        atomic_fetch_add_explicit(&core.conns_rest, 1, memory_order_relaxed);
    else if (ev->kind == EV_CONN_KIND && ev->conn_kind == CONN_KIND_GATEWAY)
        atomic_fetch_add_explicit(&core.conns_gateway, 1, memory_order_relaxed);
    else if (ev->kind == EV_CONN_CLOSE && ev->conn_kind == CONN_KIND_UNKNOWN)
        atomic_fetch_add_explicit(&core.conns_unknown, 1, memory_order_relaxed);
    lc_on_event(ev, core.lc);
}

static const char *core_push_target(unsigned exporters, const struct argus_otlp_signal *sig)
{
    if (exporters & ARGUS_EXPORTER_OTLP)
        return sig->grpc_requested ? "(none: grpc is not supported)" : sig->url_shown;
    return exporters & ARGUS_EXPORTER_CONSOLE ? "the console" : "(none)";
}

static int core_start(const struct argus_host *host)
{
    int rc = 0;
    if (host == NULL || host->abi_version != ARGUS_CORE_ABI_VERSION ||
        host->struct_size < sizeof(struct argus_host) || host->config == NULL)
        return -EPROTO;
    if (atomic_load(&core.state) != CORE_IDLE)
        return -EALREADY; /* start() runs once per process image (core_api.h) */
    const struct argus_config *cfg = host->config;
    core_log_bind(host->log);
    core.host = host;
    core.cfg = cfg;
    atomic_store(&core.stop, false);

    /* Every call into libcurl from here on, initialisation included, is
     * one step inside the fork gate (export/fork_gate.h). */
    if (fork_gate_install() != 0)
        argus_log_debug("pthread_atfork failed: a fork() may not wait for an export step");
    if (!atomic_load(&curl_ready)) {
        fork_gate_enter();
        CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
        fork_gate_leave();
        if (init != CURLE_OK) {
            rc = -EIO;
            goto out;
        }
        atomic_store(&curl_ready, true);
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
    define_own_metrics(core.reg, cfg);
    /* Decoding and lifecycles run on the decode thread (core_run). Without
     * them capture still counts bytes; say so once and carry on. */
    core.lc = lc_create(cfg, core.reg, core.spans);
    core.streams = stream_table_create(cfg, core_on_event, NULL);
    if (core.lc == NULL || core.streams == NULL)
        argus_log_warn("cannot allocate the decoder or the lifecycle tracker; Discord traffic "
                       "is counted but not decoded");
    sem_init(&core.decode_done, 0, 0);
    resource_build(&core.res, cfg);
    core.exporter = exporter_create(cfg, core.reg, core.spans, &core.res, host->mark_argus_thread);
    if (core.exporter == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = exporter_start(core.exporter);
    if (rc != 0)
        argus_log_warn("cannot start an export thread (%s)", strerror(-rc));
    /* What goes where, once: the URLs as the configuration made them fit
     * for a log (no userinfo, no query value), header values never. */
    argus_log_debug(
        "core started: metrics to %s every %u ms, spans to %s, %u+%u extra "
        "header(s) (values not shown)",
        core_push_target(cfg->metrics_exporters, &cfg->metrics), cfg->metric_export_interval_ms,
        core.spans != NULL ? core_push_target(cfg->traces_exporters, &cfg->traces) : "(none)",
        cfg->metrics.headers.n, cfg->traces.headers.n);
    rc = 0;
    /* The Prometheus endpoint (OTEL_METRICS_EXPORTER=prometheus) reads the
     * same registry through its own cumulative reader. A failure (a taken
     * port) has been said once by prom_start; the other exporters carry on. */
    if (cfg->metrics_exporters & ARGUS_EXPORTER_PROMETHEUS)
        core.prom = prom_start(cfg, core.reg,
                               &(struct prom_target){.resource = &core.res,
                                                     .scope_name = PROM_SCOPE_NAME,
                                                     .scope_version = NULL});
    /* After curl_global_init: see the top of this file. */
    if (!atomic_exchange(&atexit_registered, true))
        atexit(core_exit_flush);
    install_sigterm_handoff();
    atomic_store(&core.state, CORE_STARTED);
out:
    /* On failure the objects built so far are abandoned, not freed: a
     * half-started core is rare and the preload goes pass-through. */
    return rc;
}

static uint64_t mono_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void consume(struct ring *ring, struct ring_record *rec)
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
            consume(ring, &rec);
            if (++n % CORE_TICK_EVERY_RECORDS == 0)
                lc_tick(core.lc, mono_now_ns());
        }
        lc_tick(core.lc, mono_now_ns());
    }
    /* Stopping: decode what was captured before the stop, then give every
     * open lifecycle its end (lc_shutdown), so the final export that
     * core_exit_flush() is about to make sees them. */
    for (unsigned n = 0; n < CORE_EXIT_DRAIN_RECORDS && ring_pop(ring, &rec); n++)
        consume(ring, &rec);
    lc_tick(core.lc, mono_now_ns());
    lc_shutdown(core.lc);
    atomic_store(&core.decoding, false);
    sem_post(&core.decode_done);
}

/* Waits (bounded) for core_run() to finish its exit work. */
static void wait_for_decoder(uint32_t timeout_ms)
{
    struct timespec deadline;
    if (!atomic_load(&core.decoding))
        return;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&core.decode_done, &deadline) != 0 && errno == EINTR)
        ;
}

static void core_exit_flush(void)
{
    int expected = CORE_STARTED;
    if (!atomic_compare_exchange_strong(&core.state, &expected, CORE_FLUSHED))
        return;
    uint32_t budget_ms = core.cfg->shutdown_timeout_ms;
    uint64_t start_ns = mono_now_ns();
    atomic_store(&core.stop, true);
    if (core.host->ring != NULL)
        ring_wake(core.host->ring);
    /* A quarter of the shutdown budget for the decoder's last records and
     * lifecycle ends; the rest is the final export's. */
    wait_for_decoder(budget_ms / 4);
    prom_stop(core.prom); /* before the final export: no scrape races it */
    core.prom = NULL;
    /* ARGUS_SHUTDOWN_TIMEOUT_MS bounds the whole exit, not each step. */
    uint64_t spent_ms = (mono_now_ns() - start_ns) / 1000000ull;
    exporter_shutdown(core.exporter, spent_ms < budget_ms ? (uint32_t)(budget_ms - spent_ms) : 0);
}

static void core_fork_child(void)
{
    /* Abandon, never free: see the top of this file. */
    prom_fork_child(core.prom); /* closes the inherited listening socket only */
    core.prom = NULL;
    atomic_store(&core.conns_unknown, 0);
    core.reg = NULL;
    core.spans = NULL;
    core.exporter = NULL;
    core.streams = NULL;
    core.lc = NULL;
    atomic_store(&core.decoding, false);
    atomic_store(&core.conns_rest, 0);
    atomic_store(&core.conns_gateway, 0);
    atomic_store(&core.stop, false);
    atomic_store(&core.state, CORE_IDLE);
    if (sigterm_is_ours())
        signal(SIGTERM, SIG_DFL);
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
