/*
 * prom.c - the Prometheus /metrics endpoint.
 *
 * Design. A scrape is rare (every 15 to 60 s) and cheap, so the endpoint is
 * one libmicrohttpd daemon with a single internal polling thread: no thread
 * per connection, at most PROM_MAX_CONNECTIONS clients, each cut after
 * PROM_CONNECTION_TIMEOUT_S of silence. The handler collects the registry
 * through the endpoint's own cumulative reader (reg_collect evaluates gauges
 * now, so a scrape sees current values, invariant 5), renders the snapshot
 * into a capped buffer, gzips it when the scraper accepts gzip, and hands the
 * buffer to MHD, which frees it.
 *
 * The listening socket is made here rather than by MHD so that
 *   - a taken port is recognised exactly (EADDRINUSE from our own bind) and
 *     said in one line that names OTEL_EXPORTER_PROMETHEUS_PORT;
 *   - it is SOCK_CLOEXEC: a bot that execs ffmpeg per track must not leave
 *     children holding the port;
 *   - SO_REUSEADDR is set (a restarted bot rebinds past TIME_WAIT) and
 *     SO_REUSEPORT never is: two processes sharing one port would each answer
 *     half the scrapes with their own numbers.
 * MHD copies the thread's signal mask into its thread, so prom_start blocks
 * every signal around MHD_start_daemon: a signal meant for the bot never
 * lands on the server thread.
 *
 * What a scrape returns is prom_text.c's business (with prom_name.c's
 * names); what the scraper asked for is prom_negotiate.c's. This file only
 * serves.
 *
 * Rejected: writing an HTTP server (the issue asks for a well-kept library);
 * the protobuf exposition (text is what promtool checks and every scraper
 * accepts).
 */
#include "prom.h"

#include "argus_build.h"
#include "gzip.h"
#include "log.h"
#include "prom_negotiate.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROM_MAX_CONNECTIONS 16
#define PROM_CONNECTION_TIMEOUT_S 10
#define PROM_LISTEN_BACKLOG 16

/* ---- the server -------------------------------------------------------- */

struct prom {
    struct MHD_Daemon *daemon;
    struct reg_reader *reader;
    int listen_fd; /* owned by the daemon once it runs; kept for prom_fork_child */
    unsigned port;
    struct resource resource; /* copied: the caller's may be rebuilt */
    char scope_name[64], scope_version[64];
    struct prom_text_target target;
    atomic_bool said_collect_failed, said_too_big;
};

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text,
                                    const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* A scrape that could not be rendered: 503 when the exposition is over
 * PROM_MAX_BODY (a registry problem the user can fix), 500 otherwise. */
static enum MHD_Result respond_failure(struct prom *p, struct MHD_Connection *c, int rc)
{
    if (rc == -E2BIG) {
        argus_log_once(&p->said_too_big, ARGUS_LOG_WARN,
                       "/metrics: the exposition exceeds %u MiB; answering 503 (lower "
                       "ARGUS_MAX_SERIES)",
                       PROM_MAX_BODY >> 20);
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Exposition too large.\n", NULL);
    }
    argus_log_once(&p->said_collect_failed, ARGUS_LOG_WARN,
                   "/metrics: collecting the registry failed (%s); answering 500", strerror(-rc));
    return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Collection failed.\n", NULL);
}

/* The body of a scrape in the negotiated format and encoding, or an error
 * answer. Returns what MHD_queue_response returned. */
static enum MHD_Result respond_metrics(struct prom *p, struct MHD_Connection *c)
{
    enum prom_text_format format = prom_negotiate_format(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    bool gzip = prom_negotiate_gzip(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    struct reg_snapshot *snap = NULL;
    struct prom_text_buf body;
    struct MHD_Response *r = NULL;
    enum MHD_Result ok = MHD_NO;
    uint8_t *gz = NULL;
    size_t len = 0, gz_len = 0;
    char *data = NULL;

    prom_text_buf_init(&body, PROM_MAX_BODY);
    int rc = reg_collect(p->reader, &snap);
    if (rc == 0)
        rc = prom_text_render(snap, &p->target, format, &body);
    if (rc < 0) {
        ok = respond_failure(p, c, rc);
        goto out;
    }
    data = prom_text_buf_take(&body, &len);
    if (gzip && gzip_compress(data ? data : "", len, &gz, &gz_len) == 0) {
        free(data);
        data = (char *)gz;
        len = gz_len;
    } else {
        gzip = false;
    }
    /* MHD frees data with free() once sent (MHD_RESPMEM_MUST_FREE). */
    r = MHD_create_response_from_buffer(len, data ? data : (void *)(uintptr_t) "",
                                        data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r)
        goto out;
    data = NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, prom_negotiate_content_type(format));
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
    if (gzip)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    ok = MHD_queue_response(c, MHD_HTTP_OK, r);
out:
    MHD_destroy_response(r);
    free(data);
    prom_text_buf_fini(&body);
    reg_snapshot_destroy(snap);
    return ok;
}

/* One request, on the server thread. GET carries no body, so the request is
 * answered on the handler's first call. */
static enum MHD_Result prom_handle(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    enum MHD_Result ok;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        ok = respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET /metrics is served here.\n",
                          "GET, HEAD");
    else if (strcmp(url, "/metrics") != 0)
        ok = respond_text(c, MHD_HTTP_NOT_FOUND, "Argus serves its metrics at /metrics.\n", NULL);
    else
        ok = respond_metrics(cls, c);
    return ok;
}

/* MHD's own diagnostics, kept at debug level: the one line a user needs is
 * written by prom_start. */
static void prom_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    size_t len;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    len = strlen(line);
    while (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    argus_log_debug("libmicrohttpd: %s", line);
}

/* Binds and listens on host:port. IPv4 addresses are tried first so that
 * "localhost" means 127.0.0.1, which is what a scrape config's
 * localhost:9464 reaches first. A taken port stops the search at once: binding
 * the same port on another family of "localhost" would make two processes
 * answer for one target. Returns the socket or a negative errno; *bound_port
 * gets the port bound, *gai_error the resolver's code. */
static int prom_listen(const char *host, uint16_t port, unsigned *bound_port, int *gai_error)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    char service[8];
    int fd = -1, rc = -EADDRNOTAVAIL;

    *gai_error = 0;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    *gai_error = getaddrinfo(host && host[0] ? host : NULL, service, &hints, &list);
    if (*gai_error != 0)
        return -EHOSTUNREACH;

    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
            if ((pass == 0) != (ai->ai_family == AF_INET))
                continue;
            int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                           ai->ai_protocol);
            if (s < 0) {
                rc = -errno;
                continue;
            }
            int one = 1;
            (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, PROM_LISTEN_BACKLOG) < 0) {
                rc = -errno;
                close(s);
                if (rc == -EADDRINUSE)
                    goto out;
                continue;
            }
            fd = s;
            break;
        }
    }
    if (fd < 0)
        goto out;

    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    *bound_port = port;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        *bound_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                     : ((struct sockaddr_in *)&sa)->sin_port);
    rc = fd;
out:
    freeaddrinfo(list);
    return rc;
}

static void prom_say_why(const struct argus_config *cfg, const char *host, int rc, int gai_error)
{
    bool pushes = cfg->metrics_exporters & ARGUS_EXPORTER_OTLP;

    if (rc == -EADDRINUSE)
        argus_log_warn("OTEL_EXPORTER_PROMETHEUS_PORT=%u is already in use on %s (another "
                       "process, perhaps another shard of this bot, serves it); this process "
                       "serves no /metrics%s. Give each process its own port, e.g. "
                       "OTEL_EXPORTER_PROMETHEUS_PORT=%u",
                       (unsigned)cfg->prometheus_port, host, pushes ? " and only pushes OTLP" : "",
                       cfg->prometheus_port < 65535 ? (unsigned)cfg->prometheus_port + 1 : 9465u);
    else if (rc == -EHOSTUNREACH)
        argus_log_warn("OTEL_EXPORTER_PROMETHEUS_HOST=\"%s\" does not resolve (%s); no /metrics "
                       "endpoint. Use a local address such as localhost or 0.0.0.0",
                       host, gai_strerror(gai_error));
    else
        argus_log_warn("the Prometheus endpoint on %s:%u could not start (%s); no /metrics "
                       "endpoint. Check OTEL_EXPORTER_PROMETHEUS_HOST and "
                       "OTEL_EXPORTER_PROMETHEUS_PORT",
                       host, (unsigned)cfg->prometheus_port, strerror(-rc));
}

/* True when fd is still open and is the socket keep duplicates: if MHD closed
 * fd and another thread reused the number, the inode differs. */
static bool same_socket(int fd, int keep)
{
    struct stat a, b;

    return keep >= 0 && fstat(fd, &a) == 0 && fstat(keep, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Copies what every scrape renders besides the metrics: the caller's
 * resource may be rebuilt (a forked child) and its strings may go. */
static void prom_keep_target(struct prom *p, const struct prom_target *target)
{
    const struct prom_target none = {0};
    const struct prom_target *t = target ? target : &none;

    if (t->resource)
        p->resource = *t->resource;
    snprintf(p->scope_name, sizeof(p->scope_name), "%s",
             t->scope_name ? t->scope_name : PROM_SCOPE_NAME);
    snprintf(p->scope_version, sizeof(p->scope_version), "%s",
             t->scope_version ? t->scope_version : ARGUS_VERSION);
    p->target = (struct prom_text_target){
        .resource = t->resource ? &p->resource : NULL,
        .scope_name = p->scope_name,
        .scope_version = p->scope_version,
    };
}

/* Starts MHD's thread on the listening socket fd, with every signal blocked
 * (MHD copies the mask into its thread). Returns 0, or -EIO with fd closed. */
static int prom_serve(struct prom *p, int fd)
{
    /* Whether MHD closes a passed socket when it fails to start is not
     * documented; a duplicate lets us close exactly what is still open. */
    int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    sigset_t all, old;
    int rc = 0;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    p->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, prom_handle, p, MHD_OPTION_EXTERNAL_LOGGER,
        prom_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)PROM_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)PROM_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->daemon) {
        p->listen_fd = fd;
    } else {
        if (same_socket(fd, keep))
            close(fd);
        rc = -EIO;
    }
    if (keep >= 0)
        close(keep);
    return rc;
}

struct prom *prom_start(const struct argus_config *cfg, struct reg *reg,
                        const struct prom_target *target)
{
    const char *host = cfg->prometheus_host ? cfg->prometheus_host : "localhost";
    struct prom *p = calloc(1, sizeof(*p));
    int gai_error = 0, rc = -ENOMEM;

    if (!p)
        goto out;
    p->listen_fd = -1;
    prom_keep_target(p, target);
    p->reader = reg_reader_create(reg, ARGUS_TEMPORALITY_CUMULATIVE);
    if (!p->reader)
        goto out;
    rc = prom_listen(host, cfg->prometheus_port, &p->port, &gai_error);
    if (rc >= 0)
        rc = prom_serve(p, rc);
out:
    if (rc < 0) {
        prom_say_why(cfg, host, rc, gai_error);
        prom_stop(p);
        p = NULL;
    } else {
        argus_log_debug("serving Prometheus metrics at http://%s:%u/metrics", host, p->port);
    }
    return p;
}

void prom_stop(struct prom *p)
{
    if (!p)
        return;
    if (p->daemon)
        MHD_stop_daemon(p->daemon); /* joins the thread, closes the socket */
    reg_reader_destroy(p->reader);
    free(p);
}

void prom_fork_child(struct prom *p)
{
    if (!p || p->listen_fd < 0)
        return;
    close(p->listen_fd);
    p->listen_fd = -1;
    /* The daemon's thread and state belong to the parent: leaked on purpose,
     * as the core's fork_child abandons everything. */
}

unsigned prom_port(const struct prom *p)
{
    return p ? p->port : 0;
}
