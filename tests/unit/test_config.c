/* Unit tests for preload/config.c: defaults, strict parsing, endpoint rules,
 * header and resource-attribute lists, and the problem lines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "check_run.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
    for (const char *const *p = fake_env; p && p[0]; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static struct argus_config cfg;

static void load(const char *const *env)
{
    fake_env = env;
    argus_config_load(&cfg, fake_getenv);
}

static bool has_problem(const char *needle)
{
    for (unsigned i = 0; i < cfg.n_problems; i++) {
        if (strstr(cfg.problems[i], needle))
            return true;
    }
    return false;
}

START_TEST(defaults_match_the_specification)
{
    load((const char *const[]){NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert(!cfg.sdk_disabled);
    ck_assert(!cfg.eager);
    ck_assert_str_eq(cfg.metrics.url, "http://localhost:4318/v1/metrics");
    ck_assert_str_eq(cfg.traces.url, "http://localhost:4318/v1/traces");
    ck_assert_uint_eq(cfg.metric_export_interval_ms, 60000);
    ck_assert_uint_eq(cfg.metric_export_timeout_ms, 30000);
    ck_assert_uint_eq(cfg.metrics.timeout_ms, 10000);
    ck_assert_uint_eq(cfg.metrics_exporters, ARGUS_EXPORTER_OTLP);
    ck_assert_uint_eq(cfg.max_series, 2000);
    ck_assert_str_eq(cfg.cluster, "default");
    ck_assert_str_eq(cfg.ns, "discord");
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 2000);
    ck_assert_uint_eq(cfg.bsp_max_queue_size, 2048);
    ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 512);
    ck_assert_uint_eq(cfg.prometheus_port, 9464);
    ck_assert_int_eq(cfg.temporality, ARGUS_TEMPORALITY_CUMULATIVE);
}
END_TEST

START_TEST(empty_values_count_as_unset)
{
    load((const char *const[]){"OTEL_METRIC_EXPORT_INTERVAL", "", "OTEL_SERVICE_NAME", "", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_uint_eq(cfg.metric_export_interval_ms, 60000);
    ck_assert_ptr_null(cfg.service_name);
}
END_TEST

START_TEST(generic_endpoint_gets_the_signal_path_appended)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base", NULL});
    ck_assert_str_eq(cfg.metrics.url, "http://c:4318/base/v1/metrics");
    ck_assert_str_eq(cfg.traces.url, "http://c:4318/base/v1/traces");
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318/", NULL});
    ck_assert_str_eq(cfg.metrics.url, "https://c:4318/v1/metrics");
}
END_TEST

START_TEST(signal_endpoint_is_used_verbatim)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318",
                               "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://x/v1/metrics/",
                               "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318", NULL});
    ck_assert_str_eq(cfg.metrics.url, "https://x/v1/metrics/");
    ck_assert_str_eq(cfg.traces.url, "http://t:4318/");
}
END_TEST

START_TEST(bad_endpoint_is_one_problem_naming_the_variable)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", NULL});
    ck_assert(has_problem("OTEL_EXPORTER_OTLP_ENDPOINT=\"collector:4318\""));
    ck_assert_str_eq(cfg.metrics.url, "http://localhost:4318/v1/metrics");
}
END_TEST

/* An endpoint may carry credentials (user:password@host): they are never
 * echoed, neither in a problem line nor in the debug description. */
START_TEST(endpoint_credentials_are_never_echoed)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "user:s3cr3t@collector:4318", NULL});
    ck_assert(has_problem("OTEL_EXPORTER_OTLP_ENDPOINT=\"<elided>@collector:4318\""));
    ck_assert(!has_problem("s3cr3t"));

    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:s3cr3t@collector:4318",
                               NULL});
    ck_assert_str_eq(cfg.metrics.url, "https://user:s3cr3t@collector:4318/v1/metrics");
    char summary[1024];
    argus_config_describe(&cfg, summary, sizeof(summary));
    ck_assert_ptr_nonnull(strstr(summary, "https://<elided>@collector:4318/v1/metrics"));
    ck_assert_ptr_null(strstr(summary, "s3cr3t"));
}
END_TEST

START_TEST(number_parsing_is_strict)
{
    load((const char *const[]){"OTEL_METRIC_EXPORT_INTERVAL", "5s", "ARGUS_MAX_SERIES", "-1",
                               "OTEL_BSP_MAX_QUEUE_SIZE", "99999999999999999999999", NULL});
    ck_assert_uint_eq(cfg.n_problems, 3);
    ck_assert(has_problem("OTEL_METRIC_EXPORT_INTERVAL=\"5s\" is not a whole number"));
    ck_assert(has_problem("using 60000"));
    ck_assert_uint_eq(cfg.metric_export_interval_ms, 60000);
    ck_assert_uint_eq(cfg.max_series, 2000);
    ck_assert_uint_eq(cfg.bsp_max_queue_size, 2048);
}
END_TEST

START_TEST(booleans_follow_the_sdk_rules)
{
    load((const char *const[]){"OTEL_SDK_DISABLED", "TRUE", "ARGUS_EAGER", "1", NULL});
    ck_assert(cfg.sdk_disabled);
    ck_assert(cfg.eager);
    /* Only "true" is true for OTEL_*: "1" is a problem there. */
    load((const char *const[]){"OTEL_SDK_DISABLED", "1", NULL});
    ck_assert(!cfg.sdk_disabled);
    ck_assert(has_problem("OTEL_SDK_DISABLED"));
}
END_TEST

START_TEST(exporter_lists_and_enums)
{
    load((const char *const[]){"OTEL_METRICS_EXPORTER", "otlp, prometheus", "OTEL_TRACES_EXPORTER",
                               "none", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta",
                               "OTEL_LOG_LEVEL", "debug", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_uint_eq(cfg.metrics_exporters, ARGUS_EXPORTER_OTLP | ARGUS_EXPORTER_PROMETHEUS);
    ck_assert_uint_eq(cfg.traces_exporters, 0);
    ck_assert_int_eq(cfg.temporality, ARGUS_TEMPORALITY_DELTA);
    ck_assert_int_eq(cfg.log_level, ARGUS_LOG_DEBUG);
    load((const char *const[]){"OTEL_TRACES_EXPORTER", "prometheus", NULL});
    ck_assert(has_problem("OTEL_TRACES_EXPORTER"));
    ck_assert_uint_eq(cfg.traces_exporters, ARGUS_EXPORTER_OTLP);
}
END_TEST

START_TEST(signal_settings_override_generic_ones)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_TIMEOUT", "5000",
                               "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700",
                               "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip",
                               "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc", NULL});
    ck_assert_uint_eq(cfg.metrics.timeout_ms, 5000);
    ck_assert_uint_eq(cfg.traces.timeout_ms, 700);
    ck_assert(cfg.metrics.gzip && cfg.traces.gzip);
    ck_assert(cfg.metrics.grpc_requested);
    ck_assert(!cfg.traces.grpc_requested);
}
END_TEST

/* The pairs of a parsed list as "[k]=[v]" text. */
static const char *kv_text(const struct argus_kv_list *l)
{
    static char text[512];
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < l->n; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "[%s]=[%s]", l->items[i].key,
                                 l->items[i].value);
    return text;
}

START_TEST(kv_lists_are_trimmed_and_percent_decoded)
{
    load((const char *const[]){"OTEL_RESOURCE_ATTRIBUTES",
                               " a = 1 ,Authorization=Bearer%20abc,, k%3Dx=v%2C2", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_str_eq(kv_text(&cfg.resource_attributes),
                     "[a]=[1][Authorization]=[Bearer abc][k=x]=[v,2]");
    load((const char *const[]){"OTEL_EXPORTER_OTLP_HEADERS", " a = 1 ,Authorization=Bearer%20abc",
                               NULL});
    ck_assert_str_eq(kv_text(&cfg.metrics.headers), "[a]=[1][Authorization]=[Bearer abc]");
    ck_assert_str_eq(kv_text(&cfg.traces.headers), "[a]=[1][Authorization]=[Bearer abc]");
}
END_TEST

START_TEST(malformed_kv_lists_are_refused)
{
    static const char *const bad[] = {"novalue", "=v", "k=%zz", "k=%4", "k=a%00b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        load((const char *const[]){"OTEL_RESOURCE_ATTRIBUTES", bad[i], NULL});
        ck_assert_msg(has_problem("OTEL_RESOURCE_ATTRIBUTES is malformed"), "%s", bad[i]);
        ck_assert_uint_eq(cfg.resource_attributes.n, 0);
    }
}
END_TEST

START_TEST(malformed_headers_never_echo_their_value)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_HEADERS", "Authorization Bearer s3cr3t", NULL});
    ck_assert(has_problem("OTEL_EXPORTER_OTLP_HEADERS is malformed"));
    ck_assert(!has_problem("s3cr3t"));
    ck_assert_uint_eq(cfg.metrics.headers.n, 0);
}
END_TEST

START_TEST(malformed_resource_attributes_are_dropped_whole)
{
    load((const char *const[]){"OTEL_RESOURCE_ATTRIBUTES", "a=1,b", NULL});
    ck_assert(has_problem("OTEL_RESOURCE_ATTRIBUTES is malformed"));
    ck_assert_uint_eq(cfg.resource_attributes.n, 0);
    load((const char *const[]){"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod", NULL});
    ck_assert_str_eq(kv_text(&cfg.resource_attributes), "[deployment.environment]=[prod]");
}
END_TEST

START_TEST(discord_hosts_with_ports)
{
    load((const char *const[]){"ARGUS_DISCORD_HOSTS", "Proxy.example:8443, 127.0.0.1", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_uint_eq(cfg.n_discord_hosts, 2);
    ck_assert_str_eq(cfg.discord_hosts[0].host, "proxy.example");
    ck_assert_uint_eq(cfg.discord_hosts[0].port, 8443);
    ck_assert_str_eq(cfg.discord_hosts[1].host, "127.0.0.1");
    ck_assert_uint_eq(cfg.discord_hosts[1].port, 0);
    load((const char *const[]){"ARGUS_DISCORD_HOSTS", "a:99999", NULL});
    ck_assert(has_problem("ARGUS_DISCORD_HOSTS"));
    ck_assert_uint_eq(cfg.n_discord_hosts, 0);
}
END_TEST

START_TEST(batch_size_is_capped_by_queue_size)
{
    load((const char *const[]){"OTEL_BSP_MAX_QUEUE_SIZE", "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                               "512", NULL});
    ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 100);
    ck_assert(has_problem("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512"));
}
END_TEST

/* The generic endpoint is a base: the signal path goes at the end of its
 * path, before a query, which is kept as given (issue 14). */
START_TEST(endpoint_query_stays_after_the_signal_path)
{
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:pw@host/x?apikey=S", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_str_eq(cfg.metrics.url, "http://u:pw@host/x/v1/metrics?apikey=S");
    ck_assert_str_eq(cfg.traces.url, "http://u:pw@host/x/v1/traces?apikey=S");
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318?k=v&j=w#f", NULL});
    ck_assert_str_eq(cfg.metrics.url, "http://c:4318/v1/metrics?k=v&j=w#f");
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c/base/?k=v", NULL});
    ck_assert_str_eq(cfg.metrics.url, "https://c/base/v1/metrics?k=v");
    /* A "://" inside the query is not a scheme. */
    load((const char *const[]){"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c/p?next=http://x/y", NULL});
    ck_assert_str_eq(cfg.metrics.url, "http://c/p/v1/metrics?next=http://x/y");
    /* A signal endpoint is verbatim: only a missing path becomes "/". */
    load((const char *const[]){"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318?k=v",
                               "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://x/v1/m?k=v", NULL});
    ck_assert_str_eq(cfg.traces.url, "http://t:4318/?k=v");
    ck_assert_str_eq(cfg.metrics.url, "https://x/v1/m?k=v");
}
END_TEST

/* Neither a query value nor userinfo is ever printed: not in the debug
 * description, not in a problem line, not in the URL the core logs. */
START_TEST(query_values_and_userinfo_are_never_shown)
{
    load((const char *const[]){
        "OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:pw9x@host/x?apikey=S3CRET&flag&b=T0KEN",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://u:pw9x@host/?token=S3CRET#T0KEN", NULL});
    char summary[2048];
    argus_config_describe(&cfg, summary, sizeof(summary));
    ck_assert_ptr_nonnull(
        strstr(summary, "http://<elided>@host/x/v1/metrics?apikey=<elided>&<elided>&b=<elided>"));
    ck_assert_str_eq(cfg.metrics.url_shown,
                     "http://<elided>@host/x/v1/metrics?apikey=<elided>&<elided>&b=<elided>");
    ck_assert(has_problem("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"ftp://<elided>@host/"
                          "?token=<elided>#<elided>\""));
    static const char *const secrets[] = {"pw9x", "S3CRET", "T0KEN", "flag"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        ck_assert_msg(strstr(summary, secrets[i]) == NULL, "%s in %s", secrets[i], summary);
        ck_assert_msg(!has_problem(secrets[i]), "%s in a problem line", secrets[i]);
        ck_assert(strstr(cfg.metrics.url_shown, secrets[i]) == NULL);
        ck_assert(strstr(cfg.traces.url_shown, secrets[i]) == NULL);
    }
}
END_TEST

static const char *list_text(const struct argus_list *l)
{
    static char text[512];
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < l->n; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "[%s]", l->items[i]);
    return text;
}

START_TEST(prefixes_are_parsed_once_within_their_limits)
{
    load((const char *const[]){NULL});
    ck_assert_str_eq(list_text(&cfg.prefixes), "[!]");
    load((const char *const[]){"ARGUS_PREFIX", " ! ,?? ,,bot%20,%2C,%25", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_str_eq(list_text(&cfg.prefixes), "[!][??][bot ][,][%]");
    /* 16 bytes is the longest; a 17-byte one is dropped and said. */
    load((const char *const[]){"ARGUS_PREFIX", "0123456789abcdef,0123456789abcdefg,?", NULL});
    ck_assert_str_eq(list_text(&cfg.prefixes), "[0123456789abcdef][?]");
    ck_assert_uint_eq(cfg.n_problems, 1);
    ck_assert(has_problem("ARGUS_PREFIX=\"0123456789abcdef,0123456789abcdefg,?\": 1 of its "
                          "prefixes cannot be used (accepted: at most 16 prefixes of 1 to 16 "
                          "bytes"));
    ck_assert(has_problem("counting only the commands of the others"));
    /* Past the 16th: dropped and said. */
    load((const char *const[]){"ARGUS_PREFIX", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r", NULL});
    ck_assert_uint_eq(cfg.prefixes.n, 16);
    ck_assert_str_eq(cfg.prefixes.items[15], "p");
    ck_assert(has_problem("ARGUS_PREFIX=\"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r\": 2 of its"));
    /* Nothing usable: the default stays. */
    load((const char *const[]){"ARGUS_PREFIX", "%zz, ,", NULL});
    ck_assert_str_eq(list_text(&cfg.prefixes), "[!]");
    ck_assert(has_problem("ARGUS_PREFIX"));
    ck_assert(has_problem("using !"));
}
END_TEST

/* Every comma-separated variable is split the same way: blanks around an
 * item go, empty items are skipped. */
START_TEST(every_list_is_split_alike)
{
    load((const char *const[]){"ARGUS_PREFIX_COMMANDS", " ping , Stats,,help ",
                               "OTEL_METRICS_EXPORTER", " otlp ,, prometheus ",
                               "ARGUS_DISCORD_HOSTS", " a.example ,, b.example:1 ", NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_str_eq(list_text(&cfg.prefix_commands), "[ping][Stats][help]");
    ck_assert_uint_eq(cfg.metrics_exporters, ARGUS_EXPORTER_OTLP | ARGUS_EXPORTER_PROMETHEUS);
    ck_assert_uint_eq(cfg.n_discord_hosts, 2);
    ck_assert_str_eq(cfg.discord_hosts[1].host, "b.example");
    ck_assert_uint_eq(cfg.discord_hosts[1].port, 1);
    /* A list with no item at all names no exporter: that is not "none". */
    load((const char *const[]){"OTEL_METRICS_EXPORTER", " , ", NULL});
    ck_assert(has_problem("OTEL_METRICS_EXPORTER"));
    ck_assert_uint_eq(cfg.metrics_exporters, ARGUS_EXPORTER_OTLP);
    load((const char *const[]){NULL});
    ck_assert_uint_eq(cfg.prefix_commands.n, 0);
}
END_TEST

/* A header value of 1023 bytes (a long JWT) is kept; 1024 is over the limit
 * config.h states, and the list is refused without being shown. */
START_TEST(header_values_are_kept_up_to_their_limit)
{
    static char raw[64 + 1100];
    char value[1025];
    memset(value, 'a', sizeof(value) - 1);
    value[ARGUS_CONFIG_KV_VALUE_MAX] = '\0';
    snprintf(raw, sizeof(raw), "authorization=%s", value);
    load((const char *const[]){"OTEL_EXPORTER_OTLP_HEADERS", raw, NULL});
    ck_assert_uint_eq(cfg.n_problems, 0);
    ck_assert_uint_eq(cfg.metrics.headers.n, 1);
    ck_assert_uint_eq(strlen(cfg.metrics.headers.items[0].value), ARGUS_CONFIG_KV_VALUE_MAX);
    value[ARGUS_CONFIG_KV_VALUE_MAX] = 'a';
    value[ARGUS_CONFIG_KV_VALUE_MAX + 1] = '\0';
    snprintf(raw, sizeof(raw), "authorization=%s", value);
    load((const char *const[]){"OTEL_EXPORTER_OTLP_HEADERS", raw, NULL});
    ck_assert(has_problem("OTEL_EXPORTER_OTLP_HEADERS is malformed (value not shown)"));
    ck_assert(!has_problem("aaaa"));
    ck_assert_uint_eq(cfg.metrics.headers.n, 0);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults_match_the_specification);
    tcase_add_test(tc, empty_values_count_as_unset);
    tcase_add_test(tc, generic_endpoint_gets_the_signal_path_appended);
    tcase_add_test(tc, signal_endpoint_is_used_verbatim);
    tcase_add_test(tc, bad_endpoint_is_one_problem_naming_the_variable);
    tcase_add_test(tc, endpoint_credentials_are_never_echoed);
    tcase_add_test(tc, number_parsing_is_strict);
    tcase_add_test(tc, booleans_follow_the_sdk_rules);
    tcase_add_test(tc, exporter_lists_and_enums);
    tcase_add_test(tc, signal_settings_override_generic_ones);
    tcase_add_test(tc, kv_lists_are_trimmed_and_percent_decoded);
    tcase_add_test(tc, malformed_kv_lists_are_refused);
    tcase_add_test(tc, malformed_headers_never_echo_their_value);
    tcase_add_test(tc, malformed_resource_attributes_are_dropped_whole);
    tcase_add_test(tc, discord_hosts_with_ports);
    tcase_add_test(tc, batch_size_is_capped_by_queue_size);
    tcase_add_test(tc, endpoint_query_stays_after_the_signal_path);
    tcase_add_test(tc, query_values_and_userinfo_are_never_shown);
    tcase_add_test(tc, prefixes_are_parsed_once_within_their_limits);
    tcase_add_test(tc, every_list_is_split_alike);
    tcase_add_test(tc, header_values_are_kept_up_to_their_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(config_suite());
}
