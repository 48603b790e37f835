/*
 * test_resource.c - the OpenTelemetry resource: precedence of service.name,
 * OTEL_RESOURCE_ATTRIBUTES decoding (and refusing it whole when malformed),
 * a new service.instance.id and process.pid in a forked child, and bytes
 * that are not UTF-8 replaced.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "resource.h"
#include "check_run.h"

/* A configuration loaded from an environment holding only these two
 * variables (NULL: unset), as the preload loads it. */
static const char *env_service_name, *env_attrs;

static const char *fake_getenv(const char *name)
{
    if (strcmp(name, "OTEL_SERVICE_NAME") == 0)
        return env_service_name;
    if (strcmp(name, "OTEL_RESOURCE_ATTRIBUTES") == 0)
        return env_attrs;
    return NULL;
}

static const struct argus_config *cfg_with(const char *service_name, const char *attrs)
{
    static struct argus_config cfg;
    env_service_name = service_name;
    env_attrs = attrs;
    argus_config_load(&cfg, fake_getenv);
    return &cfg;
}

/* The string value of key, or NULL. */
static const char *str_attr(const struct resource *res, const char *key)
{
    for (unsigned i = 0; i < res->n_attrs; i++) {
        if (!res->attrs[i].is_int && strcmp(res->attrs[i].key, key) == 0)
            return res->attrs[i].value;
    }
    return NULL;
}

static int64_t int_attr(const struct resource *res, const char *key)
{
    for (unsigned i = 0; i < res->n_attrs; i++) {
        if (res->attrs[i].is_int && strcmp(res->attrs[i].key, key) == 0)
            return res->attrs[i].int_value;
    }
    return -1;
}

START_TEST(service_name_env_wins_over_resource_attributes)
{
    const struct argus_config *cfg = cfg_with("svc", "service.name=other,team=a%2Cb");
    struct resource res;
    resource_build(&res, cfg);
    ck_assert_str_eq(str_attr(&res, "service.name"), "svc");
    ck_assert_str_eq(str_attr(&res, "team"), "a,b"); /* percent-decoded */
    ck_assert_str_eq(str_attr(&res, "telemetry.sdk.name"), "argus-preload");
    ck_assert_str_eq(str_attr(&res, "telemetry.sdk.language"), "c");
    ck_assert_int_eq(int_attr(&res, "process.pid"), getpid());
    ck_assert_ptr_nonnull(str_attr(&res, "host.name"));
    ck_assert_str_eq(str_attr(&res, "process.executable.name"), "test_resource");
}
END_TEST

START_TEST(service_name_falls_back_to_attributes_then_executable)
{
    const struct argus_config *cfg = cfg_with(NULL, "service.name=from-attrs");
    struct resource res;
    resource_build(&res, cfg);
    ck_assert_str_eq(str_attr(&res, "service.name"), "from-attrs");
    cfg = cfg_with(NULL, NULL);
    resource_build(&res, cfg);
    ck_assert_str_eq(str_attr(&res, "service.name"), "unknown_service:test_resource");
}
END_TEST

START_TEST(malformed_resource_attributes_are_dropped_whole)
{
    const struct argus_config *cfg = cfg_with(NULL, "good=1,broken,also=2");
    struct resource res;
    ck_assert_uint_eq(cfg->n_problems, 1); /* said once, by the configuration */
    resource_build(&res, cfg);
    ck_assert_ptr_null(str_attr(&res, "good")); /* not half applied */
    ck_assert_ptr_null(str_attr(&res, "also"));
    ck_assert_str_eq(str_attr(&res, "service.name"), "unknown_service:test_resource");
    cfg = cfg_with(NULL, "k=%zz");
    ck_assert_uint_eq(cfg->n_problems, 1);
    resource_build(&res, cfg);
    ck_assert_ptr_null(str_attr(&res, "k"));
}
END_TEST

/* Issue 14: a percent-decoded byte that is not UTF-8 reaches every export
 * as U+FFFD, never raw. */
START_TEST(attribute_bytes_that_are_not_utf8_are_replaced)
{
    const struct argus_config *cfg = cfg_with(NULL, "team=a%FFb,k%C0%AF=v");
    struct resource res;
    ck_assert_uint_eq(cfg->n_problems, 0);
    resource_build(&res, cfg);
    ck_assert_str_eq(str_attr(&res, "team"), "a\xEF\xBF\xBD"
                                             "b");
    ck_assert_str_eq(str_attr(&res, "k\xEF\xBF\xBD\xEF\xBF\xBD"), "v");
}
END_TEST

START_TEST(uuid_is_version_4)
{
    struct resource r1, r2;
    const struct argus_config *cfg = cfg_with(NULL, NULL);
    resource_build(&r1, cfg);
    resource_build(&r2, cfg);
    const char *a = str_attr(&r1, "service.instance.id");
    const char *b = str_attr(&r2, "service.instance.id");
    ck_assert_uint_eq(strlen(a), 36);
    ck_assert_int_eq(a[8], '-');
    ck_assert_int_eq(a[14], '4');
    ck_assert(strchr("89ab", a[19]) != NULL);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(forked_child_gets_its_own_instance_id_and_pid)
{
    const struct argus_config *cfg = cfg_with("svc", NULL);
    struct resource parent;
    resource_build(&parent, cfg);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct resource child;
        resource_build(&child, cfg);
        char line[128];
        int n = snprintf(line, sizeof(line), "%s %lld", str_attr(&child, "service.instance.id"),
                         (long long)int_attr(&child, "process.pid"));
        _exit(write(fds[1], line, (size_t)n) == n ? 0 : 1);
    }
    close(fds[1]);
    char got[128] = {0};
    ck_assert_int_gt(read(fds[0], got, sizeof(got) - 1), 0);
    int status;
    waitpid(pid, &status, 0);
    char child_id[37];
    long long child_pid;
    ck_assert_int_eq(sscanf(got, "%36s %lld", child_id, &child_pid), 2);
    ck_assert_str_ne(child_id, str_attr(&parent, "service.instance.id"));
    ck_assert_int_eq(child_pid, pid);
}
END_TEST

static Suite *resource_suite(void)
{
    Suite *s = suite_create("resource");
    TCase *tc = tcase_create("resource");
    tcase_add_test(tc, service_name_env_wins_over_resource_attributes);
    tcase_add_test(tc, service_name_falls_back_to_attributes_then_executable);
    tcase_add_test(tc, malformed_resource_attributes_are_dropped_whole);
    tcase_add_test(tc, attribute_bytes_that_are_not_utf8_are_replaced);
    tcase_add_test(tc, uuid_is_version_4);
    tcase_add_test(tc, forked_child_gets_its_own_instance_id_and_pid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(resource_suite());
}
