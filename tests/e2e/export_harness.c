/*
 * export_harness.c - the export path without the preload: configuration from
 * the environment (the OTEL_* variables), a registry, the span queue and the
 * export threads, driven by the test.
 *
 * Usage: export_harness SPANS [STAY_MS [hostile]]
 * Pushes SPANS spans (pairs: a SERVER root and a CLIENT child, see below) to
 * the queue, waits STAY_MS (default 0), then shuts the exporter down with
 * ARGUS_SHUTDOWN_TIMEOUT_MS, as the exit path does. Prints one line
 * "queued=<n> dropped=<n>" on stdout. tests/e2e/test_export.py checks what the
 * receiver got.
 * With "hostile" (issue 14), every string the spans carry (names, attributes,
 * event attributes, status) and the attributes of a counter are bytes no
 * UTF-8 decoder accepts; the receiver must still accept every export.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "exporter.h"
#include "log.h"
#include "reg.h"
#include "resource.h"
#include "spans.h"

static const char *env(const char *name)
{
    return getenv(name);
}

/* A whole number from 0 to max, or -1. */
static int parse_arg(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *s == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Invalid UTF-8 of each kind: a stray byte after the event name, an
 * overlong, a surrogate, a sequence cut short. */
static const char *const hostile[] = {"MESSAGE_CREATE\xFF", "\xC0\xAF", "\xED\xA0\x80",
                                      "/channels/\xE2\x82"};

static void record_hostile(struct reg *reg)
{
    struct reg_metric *c =
        reg_counter(reg, "harness.events", "Hostile attribute values", "{event}", REG_NUMBER_U64);
    for (unsigned i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        reg_counter_add(c, REG_ATTRS({"event", hostile[i]}), 1);
}

/* The span's name is hostile already (span_init); the rest here. */
static void make_hostile(struct span *s)
{
    span_set_str(s, "discord.command", hostile[1]);
    span_set_str(s, "error.type", hostile[2]);
    int ev = span_add_event(s, s->start_unix_ns + 1000, "discord.close");
    span_event_set_str(s, ev, "reason", hostile[3]);
    span_set_status(s, SPAN_STATUS_ERROR, hostile[0]);
}

int main(int argc, char **argv)
{
    static struct argus_config cfg;
    uint64_t n_spans = 0, stay_ms = 0;
    bool hostile_mode = argc > 3 && strcmp(argv[3], "hostile") == 0;
    if (argc < 2 || parse_arg(argv[1], 100000, &n_spans) != 0 ||
        (argc > 2 && parse_arg(argv[2], 600000, &stay_ms) != 0) || (argc > 3 && !hostile_mode)) {
        fprintf(stderr, "usage: export_harness SPANS [STAY_MS [hostile]]\n");
        return 2;
    }
    argus_config_load(&cfg, env);
    argus_log_set_level(cfg.log_level);
    argus_config_report(&cfg);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct reg *reg = reg_create(cfg.max_series, cfg.cluster);
    struct spanq *q = spanq_create(cfg.bsp_max_queue_size, cfg.bsp_max_export_batch_size);
    static struct resource res;
    resource_build(&res, &cfg);
    struct exporter *e = exporter_create(&cfg, reg, q, &res, NULL);
    if (reg == NULL || q == NULL || e == NULL)
        return 1;
    if (hostile_mode)
        record_hostile(reg);

    /* Queue first, then start: the queue limit is what a burst meets. */
    uint64_t queued = 0;
    for (uint64_t i = 0; i < n_spans; i++) {
        struct span s;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
        static uint8_t root_trace[16], root_span[8];
        if (i % 2 == 0) {
            span_init(&s, hostile_mode ? hostile[0] : "discord.app_command", SPAN_KIND_SERVER, t);
            span_new_trace_id(s.trace_id);
            memcpy(root_trace, s.trace_id, 16);
            memcpy(root_span, s.span_id, 8);
            span_set_str(&s, "discord.command", "ping");
            span_set_int(&s, "harness.index", (int64_t)i);
            span_add_event(&s, t + 1000, "discord.initial_response");
        } else {
            span_init(&s, hostile_mode ? hostile[3] : "POST", SPAN_KIND_CLIENT, t);
            memcpy(s.trace_id, root_trace, 16);
            memcpy(s.parent_span_id, root_span, 8);
            s.has_parent = true;
            span_set_int(&s, "harness.index", (int64_t)i);
            span_set_int(&s, "http.response.status_code", 204);
        }
        if (hostile_mode)
            make_hostile(&s);
        s.end_unix_ns = t + 5000000;
        if (spanq_push(q, &s) == 0)
            queued++;
    }
    exporter_start(e);
    if (stay_ms > 0) {
        struct timespec ts = {(time_t)(stay_ms / 1000), (long)(stay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    exporter_shutdown(e, cfg.shutdown_timeout_ms);
    printf("queued=%llu dropped=%llu\n", (unsigned long long)queued,
           (unsigned long long)spanq_dropped(q));
    return 0;
}
