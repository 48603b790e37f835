/*
 * test_otlp.c - OTLP encoding round-trips through protobuf-c's decoder, and
 * wire bytes that only the official field numbers produce.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics_service.pb-c.h"
#include "otlp.h"
#include "reg.h"
#include "resource.h"
#include "spans.h"
#include "trace_service.pb-c.h"
#include "check_run.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsRequest;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;

static struct resource test_resource(void)
{
    struct argus_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.service_name = "t";
    static const struct argus_kv attrs[] = {{"deployment.environment", "test"}};
    cfg.resource_attributes = (struct argus_kv_list){attrs, 1};
    struct resource res;
    resource_build(&res, &cfg);
    return res;
}

static const Metric *metric_named(const MetricsRequest *req, const char *name)
{
    const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm =
        req->resource_metrics[0]->scope_metrics[0];
    for (size_t i = 0; i < sm->n_metrics; i++) {
        if (strcmp(sm->metrics[i]->name, name) == 0)
            return sm->metrics[i];
    }
    return NULL;
}

static bool has_bytes(const uint8_t *buf, size_t len, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(buf + i, needle, n) == 0)
            return true;
    }
    return false;
}

START_TEST(metrics_round_trip_keeps_every_field)
{
    static const double bounds[] = {0.5, 1};
    struct resource res = test_resource();
    struct reg *r = reg_create(0, "c9");
    struct reg_metric *c = reg_counter(r, "x_total", "things", "{thing}", REG_NUMBER_U64);
    struct reg_metric *h = reg_histogram(r, "d_seconds", "durations", "s", bounds, 2);
    struct reg_metric *empty = reg_histogram(r, "never_seconds", "", "s", bounds, 2);
    (void)empty;
    reg_counter_add(c, REG_ATTRS({"status", "ok"}), 3);
    reg_histogram_record(h, REG_NO_ATTRS, 0.0); /* sum 0 must still be sent */
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(otlp_encode_metrics(s, &res, &buf, &len), 0);

    MetricsRequest *req =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, len, buf);
    ck_assert_ptr_nonnull(req);
    ck_assert_uint_eq(req->n_resource_metrics, 1);
    const Opentelemetry__Proto__Resource__V1__Resource *rr = req->resource_metrics[0]->resource;
    bool saw_name = false, saw_env = false;
    for (size_t i = 0; i < rr->n_attributes; i++) {
        if (strcmp(rr->attributes[i]->key, "service.name") == 0)
            saw_name = strcmp(rr->attributes[i]->value->string_value, "t") == 0;
        if (strcmp(rr->attributes[i]->key, "deployment.environment") == 0)
            saw_env = true;
    }
    ck_assert(saw_name && saw_env);
    ck_assert_str_eq(req->resource_metrics[0]->scope_metrics[0]->scope->name, "argus");
    ck_assert_uint_eq(req->resource_metrics[0]->scope_metrics[0]->n_metrics, 2); /* no empty */

    const Metric *m = metric_named(req, "x_total");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->description, "things");
    ck_assert_str_eq(m->unit, "{thing}");
    ck_assert_int_eq(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
    ck_assert(m->sum->is_monotonic);
    ck_assert_int_eq(m->sum->aggregation_temporality, 2);
    ck_assert_int_eq(m->sum->data_points[0]->value_case,
                     OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
    ck_assert_int_eq(m->sum->data_points[0]->as_int, 3);
    ck_assert_uint_eq(m->sum->data_points[0]->n_attributes, 2);
    ck_assert_uint_ne(m->sum->data_points[0]->start_time_unix_nano, 0);
    ck_assert_uint_ge(m->sum->data_points[0]->time_unix_nano,
                      m->sum->data_points[0]->start_time_unix_nano);

    m = metric_named(req, "d_seconds");
    ck_assert_int_eq(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
    const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *hp = m->histogram->data_points[0];
    ck_assert_uint_eq(hp->count, 1);
    ck_assert_int_eq(hp->_sum_case,
                     OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM);
    ck_assert_double_eq(hp->sum, 0.0);
    ck_assert_uint_eq(hp->n_bucket_counts, 3);
    ck_assert_uint_eq(hp->n_explicit_bounds, 2);
    ck_assert_uint_eq(hp->bucket_counts[0], 1);

    /* HistogramDataPoint.sum is field 5, wire type 1: key 0x29, then 8 zero
     * bytes for 0.0. Present only because of the oneof. */
    static const uint8_t sum_zero[] = {0x29, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert(has_bytes(buf, len, sum_zero, sizeof(sum_zero)));

    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
        req, NULL);
    free(buf);
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    reg_destroy(r);
}
END_TEST

START_TEST(nothing_to_send_is_not_encoded)
{
    struct resource res = test_resource();
    struct reg *r = reg_create(0, NULL);
    reg_counter(r, "x_total", "", "", REG_NUMBER_U64);
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(otlp_encode_metrics(s, &res, &buf, &len), -ENODATA);
    ck_assert_int_eq(otlp_encode_spans(NULL, 0, &res, &buf, &len), -ENODATA);
    ck_assert_ptr_null(buf);
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    reg_destroy(r);
}
END_TEST

START_TEST(spans_round_trip_with_parent_events_and_status)
{
    struct resource res = test_resource();
    struct span sp[2];
    span_init(&sp[0], "discord.app_command", SPAN_KIND_SERVER, 1000);
    span_new_trace_id(sp[0].trace_id);
    sp[0].end_unix_ns = 5000;
    span_set_str(&sp[0], "discord.command", "ping");
    span_set_str(&sp[0], "flag", "true");
    span_set_int(&sp[0], "ratio", 1);
    span_set_status(&sp[0], SPAN_STATUS_ERROR, "10062");
    int ev = span_add_event(&sp[0], 2000, "discord.initial_response");
    span_event_set_int(&sp[0], ev, "http.response.status_code", 204);
    span_init(&sp[1], "POST", SPAN_KIND_CLIENT, 1500);
    memcpy(sp[1].trace_id, sp[0].trace_id, 16);
    memcpy(sp[1].parent_span_id, sp[0].span_id, 8);
    sp[1].has_parent = true;
    span_set_int(&sp[1], "http.response.status_code", 200);

    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(otlp_encode_spans(sp, 2, &res, &buf, &len), 0);
    TraceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len,
                                                                                         buf);
    ck_assert_ptr_nonnull(req);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
    ck_assert_uint_eq(ss->n_spans, 2);
    Opentelemetry__Proto__Trace__V1__Span *a = ss->spans[0], *b = ss->spans[1];
    ck_assert_str_eq(a->name, "discord.app_command");
    ck_assert_int_eq(a->kind, 2);
    ck_assert_uint_eq(a->trace_id.len, 16);
    ck_assert_uint_eq(a->span_id.len, 8);
    ck_assert_uint_eq(a->parent_span_id.len, 0);
    ck_assert_uint_eq(a->start_time_unix_nano, 1000);
    ck_assert_uint_eq(a->end_time_unix_nano, 5000);
    ck_assert_uint_eq(a->n_attributes, 3);
    ck_assert_str_eq(a->attributes[0]->value->string_value, "ping");
    ck_assert_int_eq(a->status->code, 2);
    ck_assert_str_eq(a->status->message, "10062");
    ck_assert_uint_eq(a->n_events, 1);
    ck_assert_str_eq(a->events[0]->name, "discord.initial_response");
    ck_assert_int_eq(a->events[0]->attributes[0]->value->int_value, 204);
    ck_assert_int_eq(a->flags & 0xff, 1);
    ck_assert_int_eq(b->kind, 3);
    ck_assert_uint_eq(b->parent_span_id.len, 8);
    ck_assert_mem_eq(b->parent_span_id.data, a->span_id.data, 8);
    ck_assert_mem_eq(b->trace_id.data, a->trace_id.data, 16);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
    free(buf);
}
END_TEST

START_TEST(partial_success_is_decoded)
{
    /* ExportMetricsServiceResponse{partial_success{rejected_data_points: 3,
     * error_message: "bad"}}, written by hand with the official numbers. */
    static const uint8_t body[] = {0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'};
    int64_t rejected;
    char msg[16];
    ck_assert_int_eq(
        otlp_decode_response(OTLP_METRICS, body, sizeof(body), &rejected, msg, sizeof(msg)), 0);
    ck_assert_int_eq(rejected, 3);
    ck_assert_str_eq(msg, "bad");
    ck_assert_int_eq(otlp_decode_response(OTLP_TRACES, NULL, 0, &rejected, msg, sizeof(msg)), 0);
    ck_assert_int_eq(rejected, 0);
    static const uint8_t junk[] = {0x0a, 0x7f, 0x01};
    ck_assert_int_eq(
        otlp_decode_response(OTLP_TRACES, junk, sizeof(junk), &rejected, msg, sizeof(msg)),
        -EBADMSG);
}
END_TEST

/* The collector's message goes into Argus' log line: a line break or an
 * escape sequence in it must not forge lines or drive the terminal. */
START_TEST(partial_success_message_is_made_printable)
{
    static const uint8_t body[] = {0x0a, 0x09, 0x08, 0x01, 0x12, 0x05, 'a', '\n', 0x1b, '[', 'b'};
    int64_t rejected;
    char msg[16];
    ck_assert_int_eq(
        otlp_decode_response(OTLP_METRICS, body, sizeof(body), &rejected, msg, sizeof(msg)), 0);
    ck_assert_str_eq(msg, "a??[b");
}
END_TEST

static Suite *otlp_suite(void)
{
    Suite *s = suite_create("otlp");
    TCase *tc = tcase_create("otlp");
    tcase_add_test(tc, metrics_round_trip_keeps_every_field);
    tcase_add_test(tc, nothing_to_send_is_not_encoded);
    tcase_add_test(tc, spans_round_trip_with_parent_events_and_status);
    tcase_add_test(tc, partial_success_is_decoded);
    tcase_add_test(tc, partial_success_message_is_made_printable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(otlp_suite());
}
