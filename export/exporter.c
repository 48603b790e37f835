/*
 * exporter.c - see exporter.h.
 *
 * Design. Each signal is a pipeline: a thread, a sender, and (metrics) a
 * registry reader. The threads sleep on one condition variable (metrics) or
 * on the span queue (traces), so shutdown can wake them at once.
 *
 * Shutdown ordering. The exiting thread, under the lock, marks each pipeline
 * final and cuts its sender at "now" (an export in flight ends within
 * milliseconds, see send.c). The pipeline thread, when it sees the final
 * mark (also under the lock, so it cannot see the mark without the cut having
 * happened), moves its sender's cut to the final deadline, exports once more,
 * and reports done. The exiting thread waits for "done" no later than the
 * deadline: it never waits on the network itself, and a collector that
 * accepts and never answers costs exactly the shutdown budget.
 *
 * Rejected: running the final export on the exiting thread. The pipeline
 * thread may be inside libcurl with the same handle, and waiting for it to
 * leave is the unbounded wait we must avoid.
 */
#include "exporter.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "reg.h"
#include "resource.h"
#include "send.h"
#include "spans.h"

#define FINAL_SLACK_MS 20 /* beyond the deadline, for the thread to report back */

struct pipeline {
    struct exporter *e;
    enum otlp_signal signal;
    bool otlp, console;
    struct sender *sender;
    struct reg_reader *reader; /* metrics only */
    pthread_t thread;
    bool running;
    atomic_bool healthy;
    atomic_bool said_failing;
    bool final_requested; /* under e->lock */
    atomic_bool stopping; /* set with final_requested; read without the lock */
    bool final_done;
    uint64_t final_deadline_ns;
};

struct exporter {
    const struct argus_config *cfg;
    struct reg *reg;
    struct spanq *spans;
    const struct resource *res;
    void (*thread_init)(void);
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool shut_down;
    struct reg_metric *failures;
    struct span *batch; /* traces thread's pop buffer */
    uint32_t batch_cap;
    struct pipeline p[2];
};

static void deadline_to_timespec(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* The tighter of two timeouts where 0 means "no limit"; no limit at all
 * becomes fallback_ms so nothing waits forever. */
static uint32_t tighter_ms(uint32_t a, uint32_t b, uint32_t fallback_ms)
{
    if (a == 0)
        return b ? b : fallback_ms;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

/* ---- console exporter ----------------------------------------------------- */

static void console_write(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

static void console_metrics(const struct reg_snapshot *snap)
{
    char line[1024];
    for (size_t i = 0; i < snap->n_metrics; i++) {
        const struct reg_metric_snapshot *m = &snap->metrics[i];
        for (size_t j = 0; j < m->n_points; j++) {
            const struct reg_point *p = &m->points[j];
            size_t n = (size_t)snprintf(line, sizeof(line), "argus: metric %s{", m->name);
            for (unsigned k = 0; k < p->n_attrs && n < sizeof(line); k++)
                n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s=\"%s\"", k ? "," : "",
                                      p->attrs[k].key, p->attrs[k].value);
            if (p->overflow && n < sizeof(line))
                n += (size_t)snprintf(line + n, sizeof(line) - n, "%s" REG_OVERFLOW_KEY "=true",
                                      p->n_attrs ? "," : "");
            const char *sep = m->unit[0] ? " " : "";
            if (n < sizeof(line)) {
                if (m->kind == REG_HISTOGRAM)
                    n += (size_t)snprintf(line + n, sizeof(line) - n, "} count=%llu sum=%g%s%s\n",
                                          (unsigned long long)p->count, p->sum, sep, m->unit);
                else if (m->number == REG_NUMBER_DOUBLE)
                    n += (size_t)snprintf(line + n, sizeof(line) - n, "} %g%s%s\n", p->value.dbl,
                                          sep, m->unit);
                else
                    n += (size_t)snprintf(line + n, sizeof(line) - n, "} %llu%s%s\n",
                                          (unsigned long long)p->value.u64, sep, m->unit);
            }
            if (n >= sizeof(line)) {
                n = sizeof(line);
                line[n - 1] = '\n';
            }
            console_write(line, n);
        }
    }
}

static void console_spans(const struct span *spans, unsigned n)
{
    char line[512];
    for (unsigned i = 0; i < n; i++) {
        const struct span *s = &spans[i];
        char tid[33];
        for (int k = 0; k < 16; k++)
            snprintf(tid + 2 * k, 3, "%02x", s->trace_id[k]);
        int len =
            snprintf(line, sizeof(line), "argus: span %s trace=%s %.3f ms status=%d\n", s->name,
                     tid, (double)(s->end_unix_ns - s->start_unix_ns) / 1e6, (int)s->status);
        if (len > 0)
            console_write(line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line));
    }
}

/* ---- one export ------------------------------------------------------------ */

/* The one line of a failure streak, naming the variable to fix: the URL
 * itself is not echoed, since it may carry credentials. */
static void say_failing(struct pipeline *p, const struct send_outcome *o, const char *what)
{
    bool metrics = p->signal == OTLP_METRICS;
    const char *var =
        metrics ? "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" : "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

    if (o->hold_ms > 0)
        argus_log_once(&p->said_failing, ARGUS_LOG_WARN,
                       "the collector asked Argus to wait %llu s before sending %s again "
                       "(HTTP %ld with Retry-After); until then no %s are sent, and each batch "
                       "that falls due is dropped and counted in argus_export_failures_total"
                       "{reason=\"throttled\"}",
                       (unsigned long long)((o->hold_ms + 999) / 1000), what, o->http_status, what);
    else if (o->http_status != 0)
        argus_log_once(&p->said_failing, ARGUS_LOG_WARN,
                       "cannot export %s: the collector answered HTTP %ld (%s); %s; check that "
                       "OTEL_EXPORTER_OTLP_ENDPOINT (or %s) names an OTLP/HTTP receiver and that "
                       "OTEL_EXPORTER_OTLP_HEADERS carries what it requires",
                       what, o->http_status, o->reason,
                       o->result == SEND_DROPPED ? "batch dropped" : "will retry next time", var);
    else if (o->reason != NULL && strcmp(o->reason, "tls") == 0)
        argus_log_once(&p->said_failing, ARGUS_LOG_WARN,
                       "cannot export %s: TLS with the collector failed (%s); will retry next "
                       "time; if the collector's certificate is not signed by a CA this system "
                       "trusts, give that CA's PEM file in OTEL_EXPORTER_OTLP_CERTIFICATE (or "
                       "OTEL_EXPORTER_OTLP_%s_CERTIFICATE)",
                       what, o->detail != NULL ? o->detail : "no detail",
                       metrics ? "METRICS" : "TRACES");
    else
        argus_log_once(&p->said_failing, ARGUS_LOG_WARN,
                       "cannot export %s: collector %s after %u attempt(s); will keep trying; "
                       "start an OTLP/HTTP collector there or point OTEL_EXPORTER_OTLP_ENDPOINT "
                       "(or %s) at one (default http://localhost:4318)",
                       what, o->reason, o->attempts, var);
}

/* Health and the log follow failure streaks: one line when a streak starts,
 * one when it ends, and the next streak is said again (issue 14: the flag
 * was never reset, so a second outage was silent and its recovery printed
 * "works again" alone). */
static void record_outcome(struct pipeline *p, const struct send_outcome *o)
{
    const char *what = p->signal == OTLP_METRICS ? "metrics" : "spans";

    if (o->result == SEND_OK) {
        atomic_store(&p->healthy, true);
        if (atomic_exchange(&p->said_failing, false))
            argus_log_info("exporting %s works again", what);
        return;
    }
    reg_counter_add(p->e->failures, REG_ATTRS({"reason", o->reason}), 1);
    if (o->result == SEND_CUT)
        return; /* shutdown, not a collector fault */
    atomic_store(&p->healthy, false);
    say_failing(p, o, what);
}

static void export_encoded(struct pipeline *p, uint8_t *body, size_t len, int rc,
                           uint64_t deadline_ns, bool final)
{
    struct send_outcome o = {.result = SEND_FAILED};
    if (rc == -ENODATA)
        return;
    if (rc != 0) {
        /* -EFBIG: over OTLP_MAX_BODY, dropped as the spec allows. */
        o.reason = rc == -EFBIG ? "too_large" : "internal";
        record_outcome(p, &o);
        return;
    }
    send_export(p->sender, body, len, deadline_ns, final ? 1 : 0, &o);
    free(body);
    record_outcome(p, &o);
}

static void export_metrics_once(struct pipeline *p, uint64_t deadline_ns, bool final)
{
    struct reg_snapshot *snap = NULL;
    if (reg_collect(p->reader, &snap) != 0)
        return;
    if (snap->n_points > 0) {
        if (p->console)
            console_metrics(snap);
        if (p->otlp) {
            uint8_t *body = NULL;
            size_t len = 0;
            int rc = otlp_encode_metrics(snap, p->e->res, &body, &len);
            export_encoded(p, body, len, rc, deadline_ns, final);
        }
    }
    reg_snapshot_destroy(snap);
}

/* Exports queued spans in batches until the queue holds less than a batch
 * (or, when drain, until it is empty) or the deadline passes. */
static void export_spans(struct pipeline *p, uint64_t deadline_ns, bool drain)
{
    struct exporter *e = p->e;
    for (;;) {
        /* Once shutdown began, spans stay queued for the final drain: a
         * batch popped now would go to a sender that has just been cut. */
        if (!drain && atomic_load(&p->stopping))
            return;
        unsigned n = spanq_pop(e->spans, e->batch, e->batch_cap);
        if (n == 0)
            return;
        if (p->console)
            console_spans(e->batch, n);
        if (p->otlp) {
            uint8_t *body = NULL;
            size_t len = 0;
            int rc = otlp_encode_spans(e->batch, n, e->res, &body, &len);
            export_encoded(p, body, len, rc, deadline_ns, drain);
        }
        if (send_now_ns() >= deadline_ns || (!drain && spanq_len(e->spans) < e->batch_cap))
            return;
    }
}

/* ---- threads ---------------------------------------------------------------- */

/* Waits until the final mark; returns with e->lock held and the sender's cut
 * moved to the final deadline. */
static void final_export(struct pipeline *p)
{
    struct exporter *e = p->e;
    uint64_t deadline = p->final_deadline_ns;
    send_cut(p->sender, deadline);
    pthread_mutex_unlock(&e->lock);
    if (p->signal == OTLP_METRICS)
        export_metrics_once(p, deadline, true);
    else
        export_spans(p, deadline, true);
    pthread_mutex_lock(&e->lock);
    p->final_done = true;
    pthread_cond_broadcast(&e->cond);
}

static void *metrics_thread(void *arg)
{
    struct pipeline *p = arg;
    struct exporter *e = p->e;
    if (e->thread_init != NULL)
        e->thread_init();
    pthread_setname_np(pthread_self(), "argus-metrics");
    const struct argus_config *cfg = e->cfg;
    uint64_t interval_ns =
        (uint64_t)(cfg->metric_export_interval_ms ? cfg->metric_export_interval_ms : 60000) *
        1000000ull;
    /* With cumulative totals the next collection carries everything a lost
     * batch had, so one export never retries into the next interval. */
    uint32_t interval_ms = cfg->metric_export_interval_ms ? cfg->metric_export_interval_ms : 60000;
    uint32_t timeout_ms =
        tighter_ms(tighter_ms(cfg->metric_export_timeout_ms, cfg->metrics.timeout_ms, interval_ms),
                   interval_ms, interval_ms);

    pthread_mutex_lock(&e->lock);
    uint64_t next = send_now_ns() + interval_ns;
    while (!p->final_requested) {
        struct timespec ts;
        deadline_to_timespec(next, &ts);
        while (!p->final_requested && send_now_ns() < next)
            pthread_cond_timedwait(&e->cond, &e->lock, &ts);
        if (p->final_requested)
            break;
        pthread_mutex_unlock(&e->lock);
        uint64_t now = send_now_ns();
        export_metrics_once(p, now + (uint64_t)timeout_ms * 1000000ull, false);
        pthread_mutex_lock(&e->lock);
        next += interval_ns;
        now = send_now_ns();
        if (next <= now)
            next = now + interval_ns; /* an export overran: skip, never pile up */
    }
    final_export(p);
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

static void *traces_thread(void *arg)
{
    struct pipeline *p = arg;
    struct exporter *e = p->e;
    if (e->thread_init != NULL)
        e->thread_init();
    pthread_setname_np(pthread_self(), "argus-traces");
    const struct argus_config *cfg = e->cfg;
    uint32_t delay_ms = cfg->bsp_schedule_delay_ms ? cfg->bsp_schedule_delay_ms : 5000;
    uint32_t timeout_ms = tighter_ms(cfg->bsp_export_timeout_ms, cfg->traces.timeout_ms, 30000);

    pthread_mutex_lock(&e->lock);
    while (!p->final_requested) {
        pthread_mutex_unlock(&e->lock);
        spanq_wait(e->spans, delay_ms);
        pthread_mutex_lock(&e->lock);
        if (p->final_requested)
            break;
        pthread_mutex_unlock(&e->lock);
        export_spans(p, send_now_ns() + (uint64_t)timeout_ms * 1000000ull, false);
        pthread_mutex_lock(&e->lock);
    }
    final_export(p);
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

/* Returns true when the signal asked for gRPC, which is refused. */
static bool pipeline_init(struct exporter *e, enum otlp_signal signal, unsigned exporters,
                          const struct argus_otlp_signal *sig)
{
    struct pipeline *p = &e->p[signal];
    p->e = e;
    p->signal = signal;
    atomic_store(&p->healthy, true);
    p->console = (exporters & ARGUS_EXPORTER_CONSOLE) != 0;
    p->otlp = (exporters & ARGUS_EXPORTER_OTLP) != 0;
    if (p->otlp && sig->grpc_requested) {
        p->otlp = false;
        return true;
    }
    return false;
}

/* exporter_create's failure path: no thread has started yet. */
static void exporter_free(struct exporter *e)
{
    for (int i = 0; i < 2; i++) {
        send_destroy(e->p[i].sender);
        reg_reader_destroy(e->p[i].reader);
    }
    free(e->batch);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e);
}

/* The pipelines the configuration asks for, each with what it needs: a
 * reader (metrics), the batch buffer (traces), an OTLP sender. gRPC is said
 * once and leaves its signal without OTLP. Returns 0 or -ENOMEM. */
static int pipelines_init(struct exporter *e)
{
    const struct argus_config *cfg = e->cfg;
    struct pipeline *m = &e->p[OTLP_METRICS], *t = &e->p[OTLP_TRACES];
    bool grpc_metrics = pipeline_init(e, OTLP_METRICS, cfg->metrics_exporters, &cfg->metrics);
    bool grpc_traces =
        pipeline_init(e, OTLP_TRACES, e->spans != NULL ? cfg->traces_exporters : 0, &cfg->traces);

    if (grpc_metrics || grpc_traces)
        argus_log_warn("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported (only http/protobuf); "
                       "no %s will be sent",
                       grpc_metrics && grpc_traces ? "metrics or spans"
                       : grpc_metrics              ? "metrics"
                                                   : "spans");
    if (m->otlp || m->console) {
        m->reader = reg_reader_create(e->reg, cfg->temporality);
        if (m->reader == NULL)
            return -ENOMEM;
    }
    if (t->otlp || t->console) {
        e->batch_cap = cfg->bsp_max_export_batch_size ? cfg->bsp_max_export_batch_size : 512;
        e->batch = calloc(e->batch_cap, sizeof(struct span));
        if (e->batch == NULL)
            return -ENOMEM;
    }
    for (int i = 0; i < 2; i++) {
        if (!e->p[i].otlp)
            continue;
        e->p[i].sender =
            send_create(i == OTLP_METRICS ? &cfg->metrics : &cfg->traces, (enum otlp_signal)i);
        if (e->p[i].sender == NULL)
            return -ENOMEM;
    }
    return 0;
}

struct exporter *exporter_create(const struct argus_config *cfg, struct reg *reg,
                                 struct spanq *spans, const struct resource *res,
                                 void (*thread_init)(void))
{
    struct exporter *e = calloc(1, sizeof(*e));
    pthread_condattr_t ca;

    if (e == NULL)
        return NULL;
    e->cfg = cfg;
    e->reg = reg;
    e->spans = spans;
    e->res = res;
    e->thread_init = thread_init;
    pthread_mutex_init(&e->lock, NULL);
    /* Deadlines are CLOCK_MONOTONIC: a wall-clock jump must not stretch them. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
    e->failures = reg_counter(reg, "argus_export_failures_total", "Exports that failed, by reason",
                              "{export}", REG_NUMBER_U64);
    /* Every reason exists at 0 from the start (issue 13), so an alert on
     * rate(argus_export_failures_total[5m]) has a series before the first
     * failure. The list is send.h's, plus the exporter's own too_large. */
    static const char *const reasons[] = {"unreachable", "tls",      "timeout", "http_429",
                                          "http_5xx",    "http_4xx", "cut",     "throttled",
                                          "internal",    "too_large"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        reg_counter_add(e->failures, REG_ATTRS({"reason", reasons[i]}), 0);
    if (pipelines_init(e) != 0) {
        exporter_free(e);
        e = NULL;
    }
    return e;
}

int exporter_start(struct exporter *e)
{
    int rc = 0;
    sigset_t all, old;
    sigfillset(&all);
    /* Threads inherit the creator's mask: block everything around the
     * create so no signal meant for the bot can ever land on ours. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < 2; i++) {
        struct pipeline *p = &e->p[i];
        if (!(p->otlp || p->console) || p->running)
            continue;
        int err =
            pthread_create(&p->thread, NULL, i == OTLP_METRICS ? metrics_thread : traces_thread, p);
        if (err != 0)
            rc = -err;
        else
            p->running = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void exporter_shutdown(struct exporter *e, uint32_t timeout_ms)
{
    if (e == NULL)
        return;
    uint64_t now = send_now_ns();
    uint64_t deadline = now + (uint64_t)timeout_ms * 1000000ull;
    pthread_mutex_lock(&e->lock);
    if (e->shut_down) {
        pthread_mutex_unlock(&e->lock);
        return;
    }
    e->shut_down = true;
    for (int i = 0; i < 2; i++) {
        struct pipeline *p = &e->p[i];
        if (!p->running)
            continue;
        p->final_requested = true;
        atomic_store(&p->stopping, true);
        p->final_deadline_ns = deadline;
        send_cut(p->sender, now);
    }
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
    if (e->spans != NULL)
        spanq_wake(e->spans);

    struct timespec ts;
    deadline_to_timespec(deadline + FINAL_SLACK_MS * 1000000ull, &ts);
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < 2; i++) {
        struct pipeline *p = &e->p[i];
        while (p->running && !p->final_done) {
            if (pthread_cond_timedwait(&e->cond, &e->lock, &ts) == ETIMEDOUT)
                break;
        }
    }
    bool joinable[2];
    for (int i = 0; i < 2; i++)
        joinable[i] = e->p[i].running && e->p[i].final_done;
    pthread_mutex_unlock(&e->lock);
    for (int i = 0; i < 2; i++) {
        if (joinable[i]) {
            pthread_join(e->p[i].thread, NULL);
            e->p[i].running = false;
        }
    }
}

bool exporter_healthy(const struct exporter *e, enum otlp_signal signal)
{
    return e != NULL && atomic_load(&((struct exporter *)e)->p[signal].healthy);
}

bool exporter_enabled(const struct exporter *e, enum otlp_signal signal)
{
    return e != NULL && (e->p[signal].otlp || e->p[signal].console);
}
