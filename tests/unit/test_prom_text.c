/*
 * test_prom_text.c - a snapshot rendered as Prometheus text (exactly) and
 * OpenMetrics, collisions, the output cap, and hostile bytes (issue 14).
 */
#include "prom_text.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_run.h"
#include "utf8_strict.h"

/* ---- rendering -------------------------------------------------------------- */

static const struct reg_attr cmd_ok[] = {
    {"cluster", "default"}, {"command", "ping"}, {"status", "success"}};
static const struct reg_attr cmd_weird[] = {
    {"cluster", "default"}, {"command", "a\"b\\c\nd\xFF"}, {"status", "error"}};
static const struct reg_attr only_cluster[] = {{"cluster", "default"}};
static const struct reg_attr shard0[] = {{"shard", "0"}};
static const struct reg_attr bot[] = {{"bot_id", "42"}, {"library", "discord.py"}};
static const double bounds[] = {0.05, 1, 10};
static const uint64_t buckets[] = {1, 2, 0, 1};

static struct reg_point points_counter[3];
static struct reg_point points_hist[1];
static struct reg_point points_gauge[1];
static struct reg_point points_info[1];
static struct reg_metric_snapshot metrics[4];
static struct reg_snapshot snapshot;
static struct resource resource;

static void build_snapshot(void)
{
    points_counter[0] = (struct reg_point){.attrs = cmd_ok, .n_attrs = 3, .value.u64 = 3};
    points_counter[1] = (struct reg_point){.attrs = cmd_weird, .n_attrs = 3, .value.u64 = 1};
    points_counter[2] =
        (struct reg_point){.attrs = only_cluster, .n_attrs = 1, .overflow = true, .value.u64 = 7};
    points_hist[0] = (struct reg_point){
        .attrs = cmd_ok, .n_attrs = 2, .count = 4, .sum = 12.5, .bucket_counts = buckets};
    points_gauge[0] = (struct reg_point){.attrs = shard0, .n_attrs = 1, .value.dbl = 0.0425};
    points_info[0] = (struct reg_point){.attrs = bot, .n_attrs = 2, .value.u64 = 1};
    metrics[0] = (struct reg_metric_snapshot){.name = "discord_commands_total",
                                              .description = "Commands by outcome",
                                              .unit = "{command}",
                                              .kind = REG_COUNTER,
                                              .number = REG_NUMBER_U64,
                                              .temporality = REG_TEMPORALITY_CUMULATIVE,
                                              .monotonic = true,
                                              .points = points_counter,
                                              .n_points = 3};
    metrics[1] = (struct reg_metric_snapshot){.name = "discord_command_duration",
                                              .description = "Command duration",
                                              .unit = "s",
                                              .kind = REG_HISTOGRAM,
                                              .temporality = REG_TEMPORALITY_CUMULATIVE,
                                              .bounds = bounds,
                                              .n_bounds = 3,
                                              .points = points_hist,
                                              .n_points = 1};
    metrics[2] = (struct reg_metric_snapshot){.name = "discord_shard_latency_seconds",
                                              .description = "Heartbeat\\ACK round trip",
                                              .unit = "s",
                                              .kind = REG_GAUGE,
                                              .number = REG_NUMBER_DOUBLE,
                                              .points = points_gauge,
                                              .n_points = 1};
    metrics[3] = (struct reg_metric_snapshot){.name = "discord_bot_info",
                                              .description = "The bot",
                                              .unit = "",
                                              .kind = REG_INFO,
                                              .points = points_info,
                                              .n_points = 1};
    snapshot = (struct reg_snapshot){.metrics = metrics, .n_metrics = 4};
    memset(&resource, 0, sizeof(resource));
    resource.n_attrs = 3;
    snprintf(resource.attrs[0].key, RESOURCE_KEY_MAX, "service.name");
    snprintf(resource.attrs[0].value, RESOURCE_VALUE_MAX, "mybot");
    snprintf(resource.attrs[1].key, RESOURCE_KEY_MAX, "process.pid");
    resource.attrs[1].is_int = true;
    resource.attrs[1].int_value = 1234;
    snprintf(resource.attrs[2].key, RESOURCE_KEY_MAX, "service.instance.id");
    snprintf(resource.attrs[2].value, RESOURCE_VALUE_MAX, "abc");
}

static const struct prom_text_target target = {
    .resource = &resource, .scope_name = "argus", .scope_version = "0.1.0"};

#define SCOPE "otel_scope_name=\"argus\",otel_scope_version=\"0.1.0\""

static const char expected_text[] =
    "# HELP target_info Target metadata\n"
    "# TYPE target_info gauge\n"
    "target_info{process_pid=\"1234\",service_instance_id=\"abc\",service_name=\"mybot\"} 1\n"
    "# HELP discord_commands_total Commands by outcome\n"
    "# TYPE discord_commands_total counter\n"
    "discord_commands_total{cluster=\"default\",command=\"ping\",status=\"success\"," SCOPE "} 3\n"
    "discord_commands_total{cluster=\"default\",command=\"a\\\"b\\\\c\\nd\xEF\xBF\xBD\","
    "status=\"error\"," SCOPE "} 1\n"
    "discord_commands_total{cluster=\"default\",otel_metric_overflow=\"true\"," SCOPE "} 7\n"
    "# HELP discord_command_duration_seconds Command duration\n"
    "# TYPE discord_command_duration_seconds histogram\n"
    "discord_command_duration_seconds_bucket{cluster=\"default\",command=\"ping\"," SCOPE
    ",le=\"0.05\"} 1\n"
    "discord_command_duration_seconds_bucket{cluster=\"default\",command=\"ping\"," SCOPE
    ",le=\"1.0\"} 3\n"
    "discord_command_duration_seconds_bucket{cluster=\"default\",command=\"ping\"," SCOPE
    ",le=\"10.0\"} 3\n"
    "discord_command_duration_seconds_bucket{cluster=\"default\",command=\"ping\"," SCOPE
    ",le=\"+Inf\"} 4\n"
    "discord_command_duration_seconds_sum{cluster=\"default\",command=\"ping\"," SCOPE "} 12.5\n"
    "discord_command_duration_seconds_count{cluster=\"default\",command=\"ping\"," SCOPE "} 4\n"
    "# HELP discord_shard_latency_seconds Heartbeat\\\\ACK round trip\n"
    "# TYPE discord_shard_latency_seconds gauge\n"
    "discord_shard_latency_seconds{shard=\"0\"," SCOPE "} 0.0425\n"
    "# HELP discord_bot_info The bot\n"
    "# TYPE discord_bot_info gauge\n"
    "discord_bot_info{bot_id=\"42\",library=\"discord.py\"," SCOPE "} 1\n";

START_TEST(text_exposition_is_exact)
{
    struct prom_text_buf b;

    build_snapshot();
    prom_text_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_text_render(&snapshot, &target, PROM_TEXT_0_0_4, &b), 0);
    ck_assert_str_eq(b.data, expected_text);
    prom_text_buf_fini(&b);
}
END_TEST

START_TEST(openmetrics_exposition_names_families_and_ends_with_eof)
{
    struct prom_text_buf b;

    build_snapshot();
    prom_text_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_text_render(&snapshot, &target, PROM_TEXT_OPENMETRICS_1_0, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "# TYPE target info\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\ntarget_info{"));
    ck_assert_ptr_nonnull(strstr(b.data, "# TYPE discord_commands counter\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\ndiscord_commands_total{cluster=\"default\","));
    ck_assert_ptr_nonnull(strstr(b.data, "# TYPE discord_command_duration_seconds histogram\n"
                                         "# UNIT discord_command_duration_seconds seconds\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "# TYPE discord_bot info\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "\ndiscord_bot_info{bot_id=\"42\""));
    ck_assert_ptr_null(strstr(b.data, "# UNIT discord_commands ")); /* {command} has no unit */
    ck_assert_str_eq(b.data + b.len - 6, "# EOF\n");
    prom_text_buf_fini(&b);
}
END_TEST

START_TEST(colliding_metric_is_left_out_whole)
{
    struct prom_text_buf b;
    struct reg_metric_snapshot two[2];

    build_snapshot();
    two[0] = metrics[0];
    two[1] = metrics[0];
    two[1].name = "discord.commands"; /* also discord_commands_total */
    two[1].description = "second";
    struct reg_snapshot s = {.metrics = two, .n_metrics = 2};
    prom_text_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_text_render(&s, NULL, PROM_TEXT_0_0_4, &b), 0);
    ck_assert_ptr_null(strstr(b.data, "second"));
    char *first = strstr(b.data, "# TYPE discord_commands_total");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "# TYPE discord_commands_total"));
    prom_text_buf_fini(&b);
}
END_TEST

START_TEST(render_stops_at_the_cap)
{
    struct prom_text_buf b;

    build_snapshot();
    prom_text_buf_init(&b, 200);
    ck_assert_int_eq(prom_text_render(&snapshot, &target, PROM_TEXT_0_0_4, &b), -E2BIG);
    ck_assert_uint_le(b.len, 200);
    prom_text_buf_fini(&b);
}
END_TEST

/* The renderer's own line of defence (issue 14): raw bytes that did not come
 * through the registry's intake, in label values, the resource and HELP. */
START_TEST(hostile_bytes_render_as_utf8)
{
    static const struct reg_attr raw[] = {{"command", "\xC0\xAF\xED\xA0\x80"},
                                          {"reason", "\xF4\x90\x80\x80\xE2\x82"}};
    struct reg_point pt = {.attrs = raw, .n_attrs = 2, .value.u64 = 1};
    struct reg_metric_snapshot m = {.name = "x",
                                    .description = "help \xFF",
                                    .unit = "",
                                    .kind = REG_GAUGE,
                                    .number = REG_NUMBER_U64,
                                    .points = &pt,
                                    .n_points = 1};
    struct reg_snapshot s = {.metrics = &m, .n_metrics = 1};
    struct prom_text_buf b;

    build_snapshot();
    snprintf(resource.attrs[0].value, RESOURCE_VALUE_MAX, "bot\xFE");
    for (int f = PROM_TEXT_0_0_4; f <= PROM_TEXT_OPENMETRICS_1_0; f++) {
        prom_text_buf_init(&b, 1 << 20);
        ck_assert_int_eq(prom_text_render(&s, &target, (enum prom_text_format)f, &b), 0);
        ck_assert(utf8_strict_valid(b.data, b.len));
        ck_assert_ptr_nonnull(strstr(b.data, "service_name=\"bot\xEF\xBF\xBD\""));
        ck_assert_ptr_nonnull(strstr(b.data, "# HELP x help \xEF\xBF\xBD\n"));
        prom_text_buf_fini(&b);
    }
}
END_TEST

static Suite *prom_text_suite(void)
{
    Suite *s = suite_create("prom_text");
    TCase *tc = tcase_create("render");

    tcase_add_test(tc, text_exposition_is_exact);
    tcase_add_test(tc, openmetrics_exposition_names_families_and_ends_with_eof);
    tcase_add_test(tc, colliding_metric_is_left_out_whole);
    tcase_add_test(tc, render_stops_at_the_cap);
    tcase_add_test(tc, hostile_bytes_render_as_utf8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(prom_text_suite());
}
