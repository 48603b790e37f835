/*
 * otlp_dump.c - writes one ExportMetricsServiceRequest and one
 * ExportTraceServiceRequest with known content, for otlp_js_check.js to
 * decode with the OpenTelemetry JS SDK's own protobuf definitions.
 *
 * Usage: otlp_dump METRICS_OUT TRACES_OUT
 * The values written here are the ones otlp_js_check.js expects; change both
 * together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "otlp.h"
#include "reg.h"
#include "resource.h"
#include "spans.h"

static void observe_shards(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe(obs, REG_ATTRS({"shard", "0"}), 0.042);
    reg_observe(obs, REG_ATTRS({"shard", "1"}), 0.5);
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = fwrite(buf, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    if (argc != 3) {
        fprintf(stderr, "usage: otlp_dump METRICS_OUT TRACES_OUT\n");
        return 2;
    }
    struct argus_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.service_name = "js-check";
    static const struct argus_kv attrs[] = {{"deployment.environment", "ci"}};
    cfg.resource_attributes = (struct argus_kv_list){attrs, 1};
    struct resource res;
    resource_build(&res, &cfg);

    struct reg *r = reg_create(0, "c7");
    struct reg_metric *cmds =
        reg_counter(r, "discord_commands_total", "Commands", "{command}", REG_NUMBER_U64);
    struct reg_metric *dur =
        reg_histogram(r, "discord_command_duration_seconds", "Command durations", "s", bounds, 8);
    struct reg_metric *info = reg_info(r, "discord_bot_info", "Bot");
    reg_gauge(r, "discord_shard_latency_seconds", "Heartbeat round trip", "s", REG_NUMBER_DOUBLE, 0,
              observe_shards, NULL);
    reg_counter_add(cmds, REG_ATTRS({"command", "ping"}, {"status", "success"}), 3);
    reg_histogram_record(dur, REG_ATTRS({"command", "ping"}), 0.05); /* bucket 0 (edge) */
    reg_histogram_record(dur, REG_ATTRS({"command", "ping"}), 0.3);  /* bucket 3 */
    reg_histogram_record(dur, REG_ATTRS({"command", "ping"}), 12);   /* bucket 8 (+Inf) */
    reg_info_set(info, REG_ATTRS({"bot_name", "argus"}, {"library", "discord.py"}));

    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *snap = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (reg_collect(rd, &snap) != 0 || otlp_encode_metrics(snap, &res, &buf, &len) != 0 ||
        write_file(argv[1], buf, len) != 0)
        return 1;
    free(buf);

    struct span sp[2];
    span_init(&sp[0], "discord.app_command", SPAN_KIND_SERVER, 1700000000000000000ull);
    static const uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                         0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static const uint8_t span_id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    memcpy(sp[0].trace_id, trace_id, 16);
    memcpy(sp[0].span_id, span_id, 8);
    sp[0].end_unix_ns = 1700000000250000000ull;
    span_set_str(&sp[0], "discord.command", "ping");
    span_set_str(&sp[0], "discord.outcome", "error");
    span_set_int(&sp[0], "discord.interaction_type", 2);
    span_set_status(&sp[0], SPAN_STATUS_ERROR, "10062");
    int ev = span_add_event(&sp[0], 1700000000100000000ull, "discord.initial_response");
    span_event_set_int(&sp[0], ev, "http.response.status_code", 404);
    span_init(&sp[1], "POST /interactions/{id}/{token}/callback", SPAN_KIND_CLIENT,
              1700000000050000000ull);
    memcpy(sp[1].trace_id, trace_id, 16);
    memcpy(sp[1].parent_span_id, span_id, 8);
    sp[1].has_parent = true;
    sp[1].end_unix_ns = 1700000000100000000ull;
    span_set_str(&sp[1], "http.request.method", "POST");
    span_set_int(&sp[1], "http.response.status_code", 404);
    if (otlp_encode_spans(sp, 2, &res, &buf, &len) != 0 || write_file(argv[2], buf, len) != 0)
        return 1;
    free(buf);
    reg_snapshot_destroy(snap);
    reg_reader_destroy(rd);
    reg_destroy(r);
    return 0;
}
