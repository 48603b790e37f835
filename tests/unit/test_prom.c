/*
 * test_prom.c - the live Prometheus endpoint: scrape, taken port, signal
 * mask of its thread, gauges evaluated per scrape.
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

START_TEST(target_is_copied_at_start)
{
    struct argus_config *cfg = test_config(0);
    struct reg *r = reg_create(0, "default");
    struct reg_metric *c = reg_counter(r, "argus_test_total", "A test counter", "", REG_NUMBER_U64);
    char scope[16] = "mine";
    reg_counter_add(c, REG_NO_ATTRS, 1);

    struct prom *p = prom_start(cfg, r, &(struct prom_target){.scope_name = scope});
    ck_assert_ptr_nonnull(p);
    memcpy(scope, "gone", 5); /* the caller's buffer changes after the start */
    char *resp = http_get(prom_port(p), "/metrics", NULL);
    ck_assert_ptr_nonnull(strstr(resp, "otel_scope_name=\"mine\""));
    free(resp);
    prom_stop(p);
    ck_assert_int_eq(reg_destroy(r), 0);
    free(cfg);
}
END_TEST

static Suite *prom_suite(void)
{
    Suite *s = suite_create("prom");
    TCase *server = tcase_create("server");

    tcase_add_test(server, scrape_serves_text_with_current_gauges);
    tcase_add_test(server, taken_port_says_one_line_naming_the_variable);
    tcase_add_test(server, server_thread_blocks_signals);
    tcase_add_test(server, stop_releases_the_port);
    tcase_add_test(server, target_is_copied_at_start);
    suite_add_tcase(s, server);
    return s;
}

int main(void)
{
    return check_run_suite(prom_suite());
}
