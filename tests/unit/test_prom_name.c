/*
 * test_prom_name.c - Prometheus names of metrics, units and label keys, as
 * prometheus/otlptranslator gives them.
 */
#include "prom_name.h"

#include <check.h>
#include <errno.h>
#include <string.h>
#include "check_run.h"

/* ---- names ---------------------------------------------------------------- */

struct name_case {
    const char *name, *unit;
    enum prom_name_type type;
    const char *want; /* NULL: must fail */
};

/* From prometheus/otlptranslator metric_namer_test.go (UTF8Allowed = false,
 * WithMetricSuffixes = true, no namespace) and the specification's examples. */
static const struct name_case otlptranslator_cases[] = {
    {"requests", "", PROM_NAME_MONOTONIC_COUNTER, "requests_total"},
    {"cpu_usage", "1", PROM_NAME_GAUGE, "cpu_usage_ratio"},
    {"items", "1", PROM_NAME_MONOTONIC_COUNTER, "items_total"},
    {"response_time", "ms", PROM_NAME_GAUGE, "response_time_milliseconds"},
    {"memory_usage", "By", PROM_NAME_GAUGE, "memory_usage_bytes"},
    {"requests", "1/s", PROM_NAME_GAUGE, "requests_per_second"},
    {"throughput", "By/s", PROM_NAME_GAUGE, "throughput_bytes_per_second"},
    {"custom_metric", "custom_unit", PROM_NAME_GAUGE, "custom_metric_custom_unit"},
    {"custom_metric", "{custom}", PROM_NAME_GAUGE, "custom_metric"},
    {"custom_metric", "By/{custom}", PROM_NAME_GAUGE, "custom_metric_bytes"},
    {"requests_total", "", PROM_NAME_MONOTONIC_COUNTER, "requests_total"},
    {"cpu_usage_ratio", "1", PROM_NAME_GAUGE, "cpu_usage_ratio"},
    {"response_time_seconds", "s", PROM_NAME_GAUGE, "response_time_seconds"},
    {"metric__with__multiple__underscores", "unit__multiple__underscores", PROM_NAME_GAUGE,
     "metric_with_multiple_underscores_unit_multiple_underscores"},
    {"custom_metric", "unit@with#special/chars", PROM_NAME_GAUGE,
     "custom_metric_unit_with_special_per_chars"},
    {"@#$%", "", PROM_NAME_GAUGE, NULL},
    {"request_duration", "s", PROM_NAME_HISTOGRAM, "request_duration_seconds"},
    {"active_connections", "", PROM_NAME_NON_MONOTONIC_COUNTER, "active_connections"},
    {"uptime", "d", PROM_NAME_GAUGE, "uptime_days"},
    {"duration", "h", PROM_NAME_GAUGE, "duration_hours"},
    {"http.server.duration", "s", PROM_NAME_HISTOGRAM, "http_server_duration_seconds"},
    {"system.io", "By", PROM_NAME_MONOTONIC_COUNTER, "system_io_bytes_total"},
    {"123_requests", "", PROM_NAME_MONOTONIC_COUNTER, "_123_requests_total"},
    {"total_requests", "", PROM_NAME_MONOTONIC_COUNTER, "requests_total"},
    {"a.b-c", "", PROM_NAME_GAUGE, "a_b_c"},
    {"seconds_elapsed", "s", PROM_NAME_GAUGE, "seconds_elapsed"}, /* unit token anywhere counts */
};

START_TEST(metric_names_follow_otlptranslator)
{
    for (size_t i = 0; i < sizeof(otlptranslator_cases) / sizeof(otlptranslator_cases[0]); i++) {
        const struct name_case *c = &otlptranslator_cases[i];
        char out[256];
        int rc = prom_name_metric(c->name, c->unit, c->type, out, sizeof(out));
        if (!c->want) {
            ck_assert_msg(rc == -EINVAL, "%s: expected -EINVAL, got %d", c->name, rc);
            continue;
        }
        ck_assert_msg(rc == (int)strlen(c->want), "%s [%s]: rc %d", c->name, c->unit, rc);
        ck_assert_str_eq(out, c->want);
    }
}
END_TEST

/* Argus' catalogue is named so that its OTLP names survive every strategy:
 * translating them changes nothing (otlp-notes §9). */
START_TEST(argus_catalogue_names_are_fixed_points)
{
    static const struct name_case cases[] = {
        {"discord_commands_total", "{command}", PROM_NAME_MONOTONIC_COUNTER,
         "discord_commands_total"},
        {"discord_app_command_duration_seconds", "s", PROM_NAME_HISTOGRAM,
         "discord_app_command_duration_seconds"},
        {"discord_shard_latency_seconds", "s", PROM_NAME_GAUGE, "discord_shard_latency_seconds"},
        {"discord_shard_up", "", PROM_NAME_GAUGE, "discord_shard_up"},
        {"discord_guilds", "{guild}", PROM_NAME_GAUGE, "discord_guilds"},
        {"discord_uptime_seconds", "s", PROM_NAME_GAUGE, "discord_uptime_seconds"},
        {"argus_up", "", PROM_NAME_GAUGE, "argus_up"},
        {"argus_capture_dropped_bytes_total", "By", PROM_NAME_MONOTONIC_COUNTER,
         "argus_capture_dropped_bytes_total"},
        {"discord_bot_info", "", PROM_NAME_GAUGE, "discord_bot_info"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        ck_assert_int_gt(
            prom_name_metric(cases[i].name, cases[i].unit, cases[i].type, out, sizeof(out)), 0);
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

/* Issue 13's metrics keep argus-dpy's names (and the warnings theirs). */
START_TEST(issue_13_names_are_fixed_points)
{
    static const struct name_case cases[] = {
        {"discord_shard_ws_ratelimited", "", PROM_NAME_GAUGE, "discord_shard_ws_ratelimited"},
        {"discord_event_loop_lag_seconds", "s", PROM_NAME_GAUGE, "discord_event_loop_lag_seconds"},
        {"discord_cached_users", "{user}", PROM_NAME_GAUGE, "discord_cached_users"},
        {"discord_emojis", "{emoji}", PROM_NAME_GAUGE, "discord_emojis"},
        {"discord_stickers", "{sticker}", PROM_NAME_GAUGE, "discord_stickers"},
        {"discord_private_channels", "{channel}", PROM_NAME_GAUGE, "discord_private_channels"},
        {"discord_voice_clients", "{connection}", PROM_NAME_GAUGE, "discord_voice_clients"},
        {"discord_ratelimit_headroom", "", PROM_NAME_GAUGE, "discord_ratelimit_headroom"},
        {"discord_invalid_requests", "{response}", PROM_NAME_GAUGE, "discord_invalid_requests"},
        {"discord_gateway_session_starts_remaining", "{session}", PROM_NAME_GAUGE,
         "discord_gateway_session_starts_remaining"},
        {"discord_gateway_session_starts_total", "{session}", PROM_NAME_GAUGE,
         "discord_gateway_session_starts_total"},
        {"discord_gateway_shards_recommended", "{shard}", PROM_NAME_GAUGE,
         "discord_gateway_shards_recommended"},
        {"argus_state_dropped_total", "{id}", PROM_NAME_MONOTONIC_COUNTER,
         "argus_state_dropped_total"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        ck_assert_int_gt(
            prom_name_metric(cases[i].name, cases[i].unit, cases[i].type, out, sizeof(out)), 0);
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

START_TEST(metric_name_reports_a_short_buffer)
{
    char out[16];

    /* "requests_total" needs 15 bytes with its NUL. */
    ck_assert_int_eq(prom_name_metric("requests", "", PROM_NAME_MONOTONIC_COUNTER, out, 14),
                     -ENAMETOOLONG);
    ck_assert_int_eq(prom_name_metric("requests", "", PROM_NAME_MONOTONIC_COUNTER, out, 15), 14);
    ck_assert_str_eq(out, "requests_total");
}
END_TEST

START_TEST(unit_names_follow_otlptranslator)
{
    static const char *const cases[][2] = {
        {"s", "seconds"}, {"By/s", "bytes_per_second"}, {"1", ""},
        {"{guild}", ""},  {"1/s", "per_second"},        {"%", "percent"},
        {"", ""},         {"TiBy", "tebibytes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        ck_assert_int_eq(prom_name_unit(cases[i][0], out, sizeof(out)), (int)strlen(cases[i][1]));
        ck_assert_str_eq(out, cases[i][1]);
    }
}
END_TEST

START_TEST(label_names_follow_otlptranslator)
{
    static const char *const cases[][2] = {
        {"http.method", "http_method"},
        {"123invalid", "key_123invalid"},
        {"_private", "key_private"},
        {"__reserved__", "__reserved__"},
        {"service.instance.id", "service_instance_id"},
        {"otel.metric.overflow", "otel_metric_overflow"},
        {"a..b", "a__b"},                /* otlptranslator keeps runs in labels */
        {"\xC3\xA9t\xC3\xA9", "key_t_"}, /* "été": one '_' per character */
        {"cluster", "cluster"},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(prom_name_label(cases[i][0], out, sizeof(out)), (int)strlen(cases[i][1]));
        ck_assert_str_eq(out, cases[i][1]);
    }
    ck_assert_int_eq(prom_name_label("", out, sizeof(out)), -EINVAL);
    ck_assert_int_eq(prom_name_label("a.b", out, 3), -ENAMETOOLONG);
}
END_TEST

static Suite *prom_name_suite(void)
{
    Suite *s = suite_create("prom_name");
    TCase *tc = tcase_create("names");

    tcase_add_test(tc, metric_names_follow_otlptranslator);
    tcase_add_test(tc, argus_catalogue_names_are_fixed_points);
    tcase_add_test(tc, issue_13_names_are_fixed_points);
    tcase_add_test(tc, metric_name_reports_a_short_buffer);
    tcase_add_test(tc, unit_names_follow_otlptranslator);
    tcase_add_test(tc, label_names_follow_otlptranslator);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(prom_name_suite());
}
