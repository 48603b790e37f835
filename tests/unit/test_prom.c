/*
 * test_prom.c - the Prometheus endpoint: name translation, negotiation,
 * rendering (exact text), gzip, and the live server (scrape, taken port,
 * signal mask of its thread, gauges evaluated per scrape).
 */
#include "prom.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include "check_run.h"

/* ---- names ---------------------------------------------------------------- */

struct name_case {
    const char *name, *unit;
    enum prom_metric_type type;
    const char *want; /* NULL: must fail */
};

/* From prometheus/otlptranslator metric_namer_test.go (UTF8Allowed = false,
 * WithMetricSuffixes = true, no namespace) and the specification's examples. */
static const struct name_case otlptranslator_cases[] = {
    {"requests", "", PROM_MONOTONIC_COUNTER, "requests_total"},
    {"cpu_usage", "1", PROM_GAUGE, "cpu_usage_ratio"},
    {"items", "1", PROM_MONOTONIC_COUNTER, "items_total"},
    {"response_time", "ms", PROM_GAUGE, "response_time_milliseconds"},
    {"memory_usage", "By", PROM_GAUGE, "memory_usage_bytes"},
    {"requests", "1/s", PROM_GAUGE, "requests_per_second"},
    {"throughput", "By/s", PROM_GAUGE, "throughput_bytes_per_second"},
    {"custom_metric", "custom_unit", PROM_GAUGE, "custom_metric_custom_unit"},
    {"custom_metric", "{custom}", PROM_GAUGE, "custom_metric"},
    {"custom_metric", "By/{custom}", PROM_GAUGE, "custom_metric_bytes"},
    {"requests_total", "", PROM_MONOTONIC_COUNTER, "requests_total"},
    {"cpu_usage_ratio", "1", PROM_GAUGE, "cpu_usage_ratio"},
    {"response_time_seconds", "s", PROM_GAUGE, "response_time_seconds"},
    {"metric__with__multiple__underscores", "unit__multiple__underscores", PROM_GAUGE,
     "metric_with_multiple_underscores_unit_multiple_underscores"},
    {"custom_metric", "unit@with#special/chars", PROM_GAUGE,
     "custom_metric_unit_with_special_per_chars"},
    {"@#$%", "", PROM_GAUGE, NULL},
    {"request_duration", "s", PROM_HISTOGRAM, "request_duration_seconds"},
    {"active_connections", "", PROM_NON_MONOTONIC_COUNTER, "active_connections"},
    {"uptime", "d", PROM_GAUGE, "uptime_days"},
    {"duration", "h", PROM_GAUGE, "duration_hours"},
    {"http.server.duration", "s", PROM_HISTOGRAM, "http_server_duration_seconds"},
    {"system.io", "By", PROM_MONOTONIC_COUNTER, "system_io_bytes_total"},
    {"123_requests", "", PROM_MONOTONIC_COUNTER, "_123_requests_total"},
    {"total_requests", "", PROM_MONOTONIC_COUNTER, "requests_total"},
    {"a.b-c", "", PROM_GAUGE, "a_b_c"},
    {"seconds_elapsed", "s", PROM_GAUGE, "seconds_elapsed"}, /* unit token anywhere counts */
};

START_TEST(metric_names_follow_otlptranslator)
{
    for (size_t i = 0; i < sizeof(otlptranslator_cases) / sizeof(otlptranslator_cases[0]); i++) {
        const struct name_case *c = &otlptranslator_cases[i];
        char out[256];
        int rc = prom_metric_name(c->name, c->unit, c->type, out, sizeof(out));
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
        {"discord_commands_total", "{command}", PROM_MONOTONIC_COUNTER, "discord_commands_total"},
        {"discord_app_command_duration_seconds", "s", PROM_HISTOGRAM,
         "discord_app_command_duration_seconds"},
        {"discord_shard_latency_seconds", "s", PROM_GAUGE, "discord_shard_latency_seconds"},
        {"discord_shard_up", "", PROM_GAUGE, "discord_shard_up"},
        {"discord_guilds", "{guild}", PROM_GAUGE, "discord_guilds"},
        {"discord_uptime_seconds", "s", PROM_GAUGE, "discord_uptime_seconds"},
        {"argus_up", "", PROM_GAUGE, "argus_up"},
        {"argus_capture_dropped_bytes_total", "By", PROM_MONOTONIC_COUNTER,
         "argus_capture_dropped_bytes_total"},
        {"discord_bot_info", "", PROM_GAUGE, "discord_bot_info"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        ck_assert_int_gt(
            prom_metric_name(cases[i].name, cases[i].unit, cases[i].type, out, sizeof(out)), 0);
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

START_TEST(metric_name_reports_a_short_buffer)
{
    char out[16];

    /* "requests_total" needs 15 bytes with its NUL. */
    ck_assert_int_eq(prom_metric_name("requests", "", PROM_MONOTONIC_COUNTER, out, 14),
                     -ENAMETOOLONG);
    ck_assert_int_eq(prom_metric_name("requests", "", PROM_MONOTONIC_COUNTER, out, 15), 14);
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
        ck_assert_int_eq(prom_unit_name(cases[i][0], out, sizeof(out)), (int)strlen(cases[i][1]));
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
        ck_assert_int_eq(prom_label_name(cases[i][0], out, sizeof(out)), (int)strlen(cases[i][1]));
        ck_assert_str_eq(out, cases[i][1]);
    }
    ck_assert_int_eq(prom_label_name("", out, sizeof(out)), -EINVAL);
    ck_assert_int_eq(prom_label_name("a.b", out, 3), -ENAMETOOLONG);
}
END_TEST

/* ---- negotiation ------------------------------------------------------------ */

START_TEST(negotiation_prefers_what_the_scraper_prefers)
{
    /* What Prometheus 2.42 sends. */
    ck_assert_int_eq(prom_negotiate("application/openmetrics-text;version=1.0.0,application/"
                                    "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0."
                                    "4;q=0.5,*/*;q=0.1"),
                     PROM_OPENMETRICS_1_0);
    ck_assert_int_eq(prom_negotiate(NULL), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate(""), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate("*/*"), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate("text/plain;version=0.0.4"), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate("application/openmetrics-text"), PROM_OPENMETRICS_1_0);
    ck_assert_int_eq(prom_negotiate("application/openmetrics-text; version=1.0.0; q=0.4, "
                                    "text/plain; q=0.5"),
                     PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate("application/openmetrics-text;version=2.0.0"), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate("application/openmetrics-text;q=0"), PROM_TEXT_0_0_4);
    ck_assert_str_eq(prom_content_type(PROM_TEXT_0_0_4),
                     "text/plain; version=0.0.4; charset=utf-8");
}
END_TEST

START_TEST(gzip_only_when_accepted)
{
    ck_assert(prom_accepts_gzip("gzip"));
    ck_assert(prom_accepts_gzip("deflate, GZIP;q=0.1"));
    ck_assert(prom_accepts_gzip("*"));
    ck_assert(!prom_accepts_gzip(NULL));
    ck_assert(!prom_accepts_gzip("identity"));
    ck_assert(!prom_accepts_gzip("deflate, gzip;q=0"));
    ck_assert(!prom_accepts_gzip("gzipx"));
}
END_TEST

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

static const struct prom_target target = {
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
    struct prom_buf b;

    build_snapshot();
    prom_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_render(&snapshot, &target, PROM_TEXT_0_0_4, &b), 0);
    ck_assert_str_eq(b.data, expected_text);
    prom_buf_fini(&b);
}
END_TEST

START_TEST(openmetrics_exposition_names_families_and_ends_with_eof)
{
    struct prom_buf b;

    build_snapshot();
    prom_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_render(&snapshot, &target, PROM_OPENMETRICS_1_0, &b), 0);
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
    prom_buf_fini(&b);
}
END_TEST

START_TEST(colliding_metric_is_left_out_whole)
{
    struct prom_buf b;
    struct reg_metric_snapshot two[2];

    build_snapshot();
    two[0] = metrics[0];
    two[1] = metrics[0];
    two[1].name = "discord.commands"; /* also discord_commands_total */
    two[1].description = "second";
    struct reg_snapshot s = {.metrics = two, .n_metrics = 2};
    prom_buf_init(&b, 1 << 20);
    ck_assert_int_eq(prom_render(&s, NULL, PROM_TEXT_0_0_4, &b), 0);
    ck_assert_ptr_null(strstr(b.data, "second"));
    char *first = strstr(b.data, "# TYPE discord_commands_total");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "# TYPE discord_commands_total"));
    prom_buf_fini(&b);
}
END_TEST

START_TEST(render_stops_at_the_cap)
{
    struct prom_buf b;

    build_snapshot();
    prom_buf_init(&b, 200);
    ck_assert_int_eq(prom_render(&snapshot, &target, PROM_TEXT_0_0_4, &b), -E2BIG);
    ck_assert_uint_le(b.len, 200);
    prom_buf_fini(&b);
}
END_TEST

START_TEST(gzip_round_trips)
{
    char *gz = NULL;
    size_t gz_len = 0;
    char back[sizeof(expected_text)];
    z_stream z = {0};

    ck_assert_int_eq(prom_gzip(expected_text, sizeof(expected_text) - 1, &gz, &gz_len), 0);
    ck_assert_uint_lt(gz_len, sizeof(expected_text));
    ck_assert_int_eq((unsigned char)gz[0], 0x1f); /* gzip magic (RFC 1952 §2.3.1) */
    ck_assert_int_eq((unsigned char)gz[1], 0x8b);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = (Bytef *)back;
    z.avail_out = sizeof(back);
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, sizeof(expected_text) - 1);
    ck_assert_int_eq(memcmp(back, expected_text, z.total_out), 0);
    inflateEnd(&z);
    free(gz);
}
END_TEST

/* ---- the live server ------------------------------------------------------- */

static struct argus_config *test_config(uint16_t port)
{
    struct argus_config *cfg = calloc(1, sizeof(*cfg));

    ck_assert_ptr_nonnull(cfg);
    cfg->prometheus_host = "127.0.0.1";
    cfg->prometheus_port = port;
    cfg->metrics_exporters = ARGUS_EXPORTER_PROMETHEUS | ARGUS_EXPORTER_OTLP;
    return cfg;
}

/* One HTTP/1.0 request; returns the whole response (headers and body) in a
 * malloc'd NUL-terminated buffer. */
static char *http_get(unsigned port, const char *path, const char *extra_headers)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[512];
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_ptr_nonnull(out);
    ck_assert_int_ge(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n%s\r\n", path,
                     extra_headers ? extra_headers : "");
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
        ssize_t r = read(fd, out + len, cap - len - 1);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    out[len] = '\0';
    close(fd);
    return out;
}

static atomic_uint gauge_calls;

static void count_calls(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_NO_ATTRS, atomic_fetch_add(&gauge_calls, 1) + 1);
}

START_TEST(scrape_serves_text_with_current_gauges)
{
    struct argus_config *cfg = test_config(0);
    struct reg *r = reg_create(0, "default");
    struct reg_metric *c = reg_counter(r, "argus_test_total", "A test counter", "", REG_NUMBER_U64);
    ck_assert_ptr_nonnull(reg_gauge(r, "argus_test_scrapes", "Scrapes seen", "", REG_NUMBER_U64, 0,
                                    count_calls, NULL));
    reg_counter_add(c, REG_ATTRS({"status", "ok"}), 5);

    struct prom *p = prom_start(cfg, r, &(struct prom_target){.scope_name = "argus"});
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ne(prom_port(p), 0);

    char *resp = http_get(prom_port(p), "/metrics", NULL);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200", 12) == 0 || strncmp(resp, "HTTP/1.1 200", 12) == 0,
                  "%s", resp);
    ck_assert_ptr_nonnull(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    ck_assert_ptr_nonnull(strstr(
        resp, "argus_test_total{cluster=\"default\",status=\"ok\",otel_scope_name=\"argus\""));
    ck_assert_ptr_nonnull(strstr(resp, "argus_test_scrapes{otel_scope_name=\"argus\""));
    ck_assert_ptr_nonnull(strstr(resp, "} 1\n"));
    free(resp);

    /* The gauge is evaluated again by the second scrape. */
    resp = http_get(prom_port(p), "/metrics", "Accept: application/openmetrics-text\r\n");
    ck_assert_ptr_nonnull(
        strstr(resp, "Content-Type: application/openmetrics-text; version=1.0.0"));
    char *g = strstr(resp, "\nargus_test_scrapes{");
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(strstr(g, "} 2\n"));
    ck_assert_ptr_nonnull(strstr(resp, "# EOF\n"));
    free(resp);

    resp = http_get(prom_port(p), "/metrics", "Accept-Encoding: gzip\r\n");
    ck_assert_ptr_nonnull(strstr(resp, "Content-Encoding: gzip"));
    free(resp);

    resp = http_get(prom_port(p), "/", NULL);
    ck_assert_ptr_nonnull(strstr(resp, " 404 "));
    free(resp);

    prom_stop(p);
    ck_assert_int_eq(reg_destroy(r), 0); /* the endpoint's reader is gone */
    free(cfg);
}
END_TEST

/* Redirects stderr into a temporary file until the returned fd is restored. */
static int capture_stderr(FILE **tmp)
{
    int saved = dup(STDERR_FILENO);

    *tmp = tmpfile();
    ck_assert_ptr_nonnull(*tmp);
    dup2(fileno(*tmp), STDERR_FILENO);
    return saved;
}

static char *captured(FILE *tmp, int saved)
{
    static char text[4096];
    size_t n;

    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(text, 1, sizeof(text) - 1, tmp);
    text[n] = '\0';
    fclose(tmp);
    return text;
}

START_TEST(taken_port_says_one_line_naming_the_variable)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    FILE *tmp;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(holder, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(holder, 1), 0);
    ck_assert_int_eq(getsockname(holder, (struct sockaddr *)&sa, &sl), 0);
    uint16_t port = ntohs(sa.sin_port);

    struct argus_config *cfg = test_config(port);
    struct reg *r = reg_create(0, "default");
    int saved = capture_stderr(&tmp);
    struct prom *p = prom_start(cfg, r, NULL);
    char *text = captured(tmp, saved);

    ck_assert_ptr_null(p);
    char want[64];
    snprintf(want, sizeof(want), "OTEL_EXPORTER_PROMETHEUS_PORT=%u is already in use", port);
    ck_assert_msg(strstr(text, want) != NULL, "got: %s", text);
    ck_assert_ptr_nonnull(strstr(text, "only pushes OTLP"));
    ck_assert_int_eq(strchr(text, '\n') - text + 1, (int)strlen(text)); /* exactly one line */
    ck_assert_int_eq(reg_destroy(r), 0);                                /* nothing left behind */
    close(holder);
    free(cfg);
}
END_TEST

/* The SigBlk mask (hex) of every thread but the calling one must block
 * SIGTERM and SIGINT: MHD's thread inherits the mask prom_start sets. */
START_TEST(server_thread_blocks_signals)
{
    struct argus_config *cfg = test_config(0);
    struct reg *r = reg_create(0, "default");
    struct prom *p = prom_start(cfg, r, NULL);
    unsigned others = 0;
    DIR *d;

    ck_assert_ptr_nonnull(p);
    d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], line[128];
        if (e->d_name[0] == '.' || strtol(e->d_name, NULL, 10) == (long)getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "SigBlk:", 7) == 0) {
                unsigned long long mask = strtoull(line + 7, NULL, 16);
                ck_assert(mask & (1ull << (SIGTERM - 1)));
                ck_assert(mask & (1ull << (SIGINT - 1)));
                ck_assert(mask & (1ull << (SIGCHLD - 1)));
                others++;
            }
        }
        fclose(f);
    }
    closedir(d);
    ck_assert_uint_ge(others, 1);
    prom_stop(p);
    reg_destroy(r);
    free(cfg);
}
END_TEST

START_TEST(stop_releases_the_port)
{
    struct argus_config *cfg = test_config(0);
    struct reg *r = reg_create(0, "default");
    struct prom *p = prom_start(cfg, r, NULL);

    ck_assert_ptr_nonnull(p);
    cfg->prometheus_port = (uint16_t)prom_port(p);
    prom_stop(p);
    p = prom_start(cfg, r, NULL); /* the same port again, at once */
    ck_assert_ptr_nonnull(p);
    prom_stop(p);
    prom_stop(NULL);
    reg_destroy(r);
    free(cfg);
}
END_TEST

static Suite *prom_suite(void)
{
    Suite *s = suite_create("prom");
    TCase *names = tcase_create("names");
    TCase *render = tcase_create("render");
    TCase *server = tcase_create("server");

    tcase_add_test(names, metric_names_follow_otlptranslator);
    tcase_add_test(names, argus_catalogue_names_are_fixed_points);
    tcase_add_test(names, metric_name_reports_a_short_buffer);
    tcase_add_test(names, unit_names_follow_otlptranslator);
    tcase_add_test(names, label_names_follow_otlptranslator);
    tcase_add_test(render, negotiation_prefers_what_the_scraper_prefers);
    tcase_add_test(render, gzip_only_when_accepted);
    tcase_add_test(render, text_exposition_is_exact);
    tcase_add_test(render, openmetrics_exposition_names_families_and_ends_with_eof);
    tcase_add_test(render, colliding_metric_is_left_out_whole);
    tcase_add_test(render, render_stops_at_the_cap);
    tcase_add_test(render, gzip_round_trips);
    tcase_add_test(server, scrape_serves_text_with_current_gauges);
    tcase_add_test(server, taken_port_says_one_line_naming_the_variable);
    tcase_add_test(server, server_thread_blocks_signals);
    tcase_add_test(server, stop_releases_the_port);
    suite_add_tcase(s, names);
    suite_add_tcase(s, render);
    suite_add_tcase(s, server);
    return s;
}

int main(void)
{
    return check_run_suite(prom_suite());
}
