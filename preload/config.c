/*
 * config.c - one descriptor table, one strict parser per kind.
 *
 * Every variable Argus reads is a row of var_table: its name, its kind, where
 * its value goes in struct argus_config, its bounds and its default. Loading
 * walks the table once; a value that does not parse leaves the default in
 * place and one problem line that names the variable, shows the value (never
 * for a secret), says what is accepted and what Argus does instead.
 *
 * The OTLP exporter variables come in a generic and a per-signal form
 * (OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, ...); they
 * are resolved after the table by otlp_signal_load(), because the per-signal
 * value wins and the endpoint rules differ between the two forms
 * (otlp-notes.md, "Endpoint URL construction").
 *
 * Booleans follow the SDK specification for OTEL_* (only "true" is true) and
 * are a little more liberal for ARGUS_* ("1", "yes", "on" too), because
 * ARGUS_EAGER=1 is what users write.
 *
 * Nothing here allocates: the constructor of a process that never talks to
 * Discord must stay cheap and leave no heap behind.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

enum var_kind {
    VAR_BOOL,    /* bool */
    VAR_UINT32,  /* uint32_t within [min, max] */
    VAR_UINT64,  /* uint64_t within [min, max] */
    VAR_STRING,  /* const char *, any non-empty value */
    VAR_ENUM,    /* int, from a name table */
    VAR_EXPORTS, /* unsigned bit set from a comma list */
    VAR_RATIO,   /* double in [0, 1] */
    VAR_KV_LIST, /* const char *, validated with argus_kv_list_walk */
    VAR_HOSTS,   /* ARGUS_DISCORD_HOSTS */
};

struct enum_name {
    const char *name;
    int value;
};

struct var_desc {
    const char *name;
    enum var_kind kind;
    size_t offset;
    uint64_t min, max;    /* VAR_UINT*: bounds; VAR_EXPORTS: allowed bits */
    const char *def_text; /* how the default is described in a problem line */
    const struct enum_name *names;
    bool secret; /* never echo the value */
};

static const struct enum_name log_levels[] = {
    {"none", ARGUS_LOG_NONE},   {"off", ARGUS_LOG_NONE},     {"error", ARGUS_LOG_ERROR},
    {"warn", ARGUS_LOG_WARN},   {"warning", ARGUS_LOG_WARN}, {"info", ARGUS_LOG_INFO},
    {"debug", ARGUS_LOG_DEBUG}, {"trace", ARGUS_LOG_DEBUG},  {NULL, 0},
};

static const struct enum_name temporalities[] = {
    {"cumulative", ARGUS_TEMPORALITY_CUMULATIVE},
    {"delta", ARGUS_TEMPORALITY_DELTA},
    {"lowmemory", ARGUS_TEMPORALITY_LOWMEMORY},
    {NULL, 0},
};

/* There is no parent span in a process Argus observes, so the parentbased_
 * samplers behave as their root sampler. */
static const struct enum_name samplers[] = {
    {"always_on", ARGUS_SAMPLER_ALWAYS_ON},
    {"always_off", ARGUS_SAMPLER_ALWAYS_OFF},
    {"traceidratio", ARGUS_SAMPLER_TRACEIDRATIO},
    {"parentbased_always_on", ARGUS_SAMPLER_ALWAYS_ON},
    {"parentbased_always_off", ARGUS_SAMPLER_ALWAYS_OFF},
    {"parentbased_traceidratio", ARGUS_SAMPLER_TRACEIDRATIO},
    {NULL, 0},
};

static const struct enum_name exporters[] = {
    {"otlp", ARGUS_EXPORTER_OTLP},
    {"console", ARGUS_EXPORTER_CONSOLE},
    {"prometheus", ARGUS_EXPORTER_PROMETHEUS},
    {"none", 0},
    {NULL, 0},
};

#define FIELD(f) offsetof(struct argus_config, f)
#define MS_MAX 86400000u /* one day: longer is certainly a typo */

static const struct var_desc var_table[] = {
    {"OTEL_SDK_DISABLED", VAR_BOOL, FIELD(sdk_disabled), 0, 0, "false", NULL, false},
    {"OTEL_LOG_LEVEL", VAR_ENUM, FIELD(log_level), 0, 0, "info", log_levels, false},
    {"OTEL_SERVICE_NAME", VAR_STRING, FIELD(service_name), 0, 0, NULL, NULL, false},
    {"OTEL_RESOURCE_ATTRIBUTES", VAR_KV_LIST, FIELD(resource_attributes), 0, 0, "none", NULL,
     false},
    {"OTEL_METRICS_EXPORTER", VAR_EXPORTS, FIELD(metrics_exporters),
     ARGUS_EXPORTER_OTLP | ARGUS_EXPORTER_CONSOLE | ARGUS_EXPORTER_PROMETHEUS, 0, "otlp", exporters,
     false},
    {"OTEL_TRACES_EXPORTER", VAR_EXPORTS, FIELD(traces_exporters),
     ARGUS_EXPORTER_OTLP | ARGUS_EXPORTER_CONSOLE, 0, "otlp", exporters, false},
    {"OTEL_METRIC_EXPORT_INTERVAL", VAR_UINT32, FIELD(metric_export_interval_ms), 1, MS_MAX,
     "60000", NULL, false},
    {"OTEL_METRIC_EXPORT_TIMEOUT", VAR_UINT32, FIELD(metric_export_timeout_ms), 0, MS_MAX, "30000",
     NULL, false},
    {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", VAR_ENUM, FIELD(temporality), 0, 0,
     "cumulative", temporalities, false},
    {"OTEL_TRACES_SAMPLER", VAR_ENUM, FIELD(sampler), 0, 0, "parentbased_always_on", samplers,
     false},
    {"OTEL_TRACES_SAMPLER_ARG", VAR_RATIO, FIELD(sampler_ratio), 0, 0, "1.0", NULL, false},
    {"OTEL_BSP_SCHEDULE_DELAY", VAR_UINT32, FIELD(bsp_schedule_delay_ms), 0, MS_MAX, "5000", NULL,
     false},
    {"OTEL_BSP_EXPORT_TIMEOUT", VAR_UINT32, FIELD(bsp_export_timeout_ms), 0, MS_MAX, "30000", NULL,
     false},
    {"OTEL_BSP_MAX_QUEUE_SIZE", VAR_UINT32, FIELD(bsp_max_queue_size), 1, 1u << 20, "2048", NULL,
     false},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", VAR_UINT32, FIELD(bsp_max_export_batch_size), 1, 1u << 20,
     "512", NULL, false},
    {"OTEL_EXPORTER_PROMETHEUS_HOST", VAR_STRING, FIELD(prometheus_host), 0, 0, "localhost", NULL,
     false},
    {"ARGUS_EAGER", VAR_BOOL, FIELD(eager), 0, 0, "false", NULL, false},
    {"ARGUS_CLUSTER_ID", VAR_STRING, FIELD(cluster), 0, 0, "default", NULL, false},
    {"ARGUS_NAMESPACE", VAR_STRING, FIELD(ns), 0, 0, "discord", NULL, false},
    {"ARGUS_MAX_SERIES", VAR_UINT32, FIELD(max_series), 1, 1000000, "2000", NULL, false},
    {"ARGUS_SHUTDOWN_TIMEOUT_MS", VAR_UINT32, FIELD(shutdown_timeout_ms), 0, 60000, "2000", NULL,
     false},
    {"ARGUS_DISCORD_HOSTS", VAR_HOSTS, 0, 0, 0, "none", NULL, false},
    {"ARGUS_MAX_CONNECTIONS", VAR_UINT32, FIELD(max_connections), 8, 1u << 20, "1024", NULL, false},
    {"ARGUS_RING_BYTES", VAR_UINT64, FIELD(ring_bytes), 1u << 16, 1ull << 32, "4194304", NULL,
     false},
    {"ARGUS_MAX_MESSAGE_BYTES", VAR_UINT32, FIELD(max_message_bytes), 4096, 1u << 30, "16777216",
     NULL, false},
    {"ARGUS_DEFERRED_TIMEOUT_S", VAR_UINT32, FIELD(deferred_timeout_s), 1, 86400, "900", NULL,
     false},
    {"ARGUS_PREFIX", VAR_STRING, FIELD(prefixes), 0, 0, "!", NULL, false},
    {"ARGUS_PREFIX_TIMEOUT_S", VAR_UINT32, FIELD(prefix_timeout_s), 1, 3600, "10", NULL, false},
    {"ARGUS_MAX_PREFIX_COMMANDS", VAR_UINT32, FIELD(max_prefix_commands), 1, 10000, "100", NULL,
     false},
    {"ARGUS_PREFIX_COMMANDS", VAR_STRING, FIELD(prefix_commands), 0, 0, NULL, NULL, false},
    {"ARGUS_MAX_OPEN_LIFECYCLES", VAR_UINT32, FIELD(max_open_lifecycles), 16, 1u << 22, "10000",
     NULL, false},
    {"ARGUS_ENABLE_PER_GUILD", VAR_BOOL, FIELD(per_guild), 0, 0, "false", NULL, false},
    {"ARGUS_CORE_PATH", VAR_STRING, FIELD(core_path), 0, 0, NULL, NULL, false},
};

static void config_defaults(struct argus_config *cfg)
{
    /* Only the fields: the problem lines and the arena are used up to their
     * counters, and leaving their ~24 KiB untouched keeps a dormant child's
     * footprint to the one page it must write. */
    memset(cfg, 0, offsetof(struct argus_config, problems));
    cfg->arena_used = 0;
    cfg->log_level = ARGUS_LOG_INFO;
    cfg->metrics_exporters = ARGUS_EXPORTER_OTLP;
    cfg->traces_exporters = ARGUS_EXPORTER_OTLP;
    cfg->metric_export_interval_ms = 60000;
    cfg->metric_export_timeout_ms = 30000;
    cfg->temporality = ARGUS_TEMPORALITY_CUMULATIVE;
    cfg->max_series = 2000;
    cfg->cluster = "default";
    cfg->ns = "discord";
    cfg->sampler = ARGUS_SAMPLER_ALWAYS_ON;
    cfg->sampler_ratio = 1.0;
    cfg->bsp_schedule_delay_ms = 5000;
    cfg->bsp_export_timeout_ms = 30000;
    cfg->bsp_max_queue_size = 2048;
    cfg->bsp_max_export_batch_size = 512;
    cfg->prometheus_host = "localhost";
    cfg->prometheus_port = 9464;
    cfg->max_connections = 1024;
    /* 4 MiB holds the GUILD_CREATE burst of a bot in a few thousand guilds
     * between two wake-ups of the decode thread, and costs no memory until
     * touched. */
    cfg->ring_bytes = 4u << 20;
    cfg->max_message_bytes = 16u << 20;
    cfg->deferred_timeout_s = 900;
    cfg->prefixes = "!";
    cfg->prefix_timeout_s = 10;
    cfg->max_prefix_commands = 100;
    cfg->max_open_lifecycles = 10000;
    cfg->shutdown_timeout_ms = 2000;
}

__attribute__((format(printf, 2, 3))) static void problem(struct argus_config *cfg, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (cfg->n_problems >= ARGUS_CONFIG_MAX_PROBLEMS)
        return;
    va_start(ap, fmt);
    vsnprintf(cfg->problems[cfg->n_problems++], ARGUS_CONFIG_PROBLEM_LEN, fmt, ap);
    va_end(ap);
}

/* Echoes a value in a problem line, bounded, or elides a secret one. */
static const char *shown(const struct var_desc *d, const char *value)
{
    return d->secret ? "<elided>" : value;
}

static char *arena_dup(struct argus_config *cfg, const char *s, size_t len)
{
    if (cfg->arena_used + len + 1 > sizeof(cfg->arena))
        return NULL;
    char *p = cfg->arena + cfg->arena_used;
    memcpy(p, s, len);
    p[len] = '\0';
    cfg->arena_used += len + 1;
    return p;
}

/* Empty means unset (sdk-environment-variables.md). */
static const char *env_value(const char *(*getenv_fn)(const char *), const char *name)
{
    const char *v = getenv_fn(name);
    return v && *v ? v : NULL;
}

int argus_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned digit = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -EINVAL;
        v = v * 10 + digit;
    }
    if (v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_bool(const char *name, const char *v, bool *out)
{
    bool liberal = strncmp(name, "ARGUS_", 6) == 0;

    if (strcasecmp(v, "true") == 0 ||
        (liberal && (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")))) {
        *out = true;
        return 0;
    }
    if (strcasecmp(v, "false") == 0 ||
        (liberal && (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off")))) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

static int parse_enum(const struct enum_name *names, const char *v, int *out)
{
    for (; names->name; names++) {
        if (strcasecmp(names->name, v) == 0) {
            *out = names->value;
            return 0;
        }
    }
    return -EINVAL;
}

static void enum_choices(const struct enum_name *names, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (; names->name && used < size; names++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", names->name);
}

/* A comma list of exporter names; "none" alone means no exporter. */
static int parse_exporters(const char *v, unsigned allowed, unsigned *out)
{
    unsigned bits = 0;
    char item[32];

    while (*v) {
        size_t n = strcspn(v, ",");
        const char *start = v;
        while (n && isspace((unsigned char)*start)) {
            start++;
            n--;
        }
        while (n && isspace((unsigned char)start[n - 1]))
            n--;
        if (n == 0 || n >= sizeof(item))
            return -EINVAL;
        memcpy(item, start, n);
        item[n] = '\0';
        int bit;
        if (parse_enum(exporters, item, &bit) < 0 || (bit & ~(int)allowed))
            return -EINVAL;
        bits |= (unsigned)bit;
        v += strcspn(v, ",");
        if (*v == ',')
            v++;
    }
    *out = bits;
    return 0;
}

static int parse_ratio(const char *v, double *out)
{
    char *end;

    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || end == v || !(d >= 0.0 && d <= 1.0))
        return -EINVAL;
    *out = d;
    return 0;
}

static int kv_ignore(const char *key, const char *value, void *arg)
{
    (void)key;
    (void)value;
    (void)arg;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Copies [s, s+len) trimmed of blanks into buf, percent-decoding if asked. */
static int kv_copy(const char *s, size_t len, bool decode, char *buf, size_t size)
{
    size_t out = 0;

    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (decode && c == '%') {
            if (i + 2 >= len)
                return -EINVAL;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (out + 1 >= size)
            return -EINVAL;
        buf[out++] = c;
    }
    buf[out] = '\0';
    return 0;
}

int argus_kv_list_walk(const char *list, int (*cb)(const char *key, const char *value, void *arg),
                       void *arg)
{
    char key[256], value[1024];

    if (!list)
        return 0;
    while (*list) {
        size_t n = strcspn(list, ",");
        const char *eq = memchr(list, '=', n);
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            blank = blank && isspace((unsigned char)list[i]);
        if (!blank) {
            if (!eq)
                return -EINVAL;
            if (kv_copy(list, (size_t)(eq - list), true, key, sizeof(key)) < 0 || !key[0])
                return -EINVAL;
            if (kv_copy(eq + 1, n - (size_t)(eq + 1 - list), true, value, sizeof(value)) < 0)
                return -EINVAL;
            int rc = cb(key, value, arg);
            if (rc)
                return rc;
        }
        list += n;
        if (*list == ',')
            list++;
    }
    return 0;
}

/* "host[:port],host[:port]" -> cfg->discord_hosts, lower-cased. */
static int parse_hosts(struct argus_config *cfg, const char *v)
{
    unsigned n_hosts = 0;

    while (*v) {
        size_t n = strcspn(v, ",");
        const char *item = v;
        while (n && isspace((unsigned char)*item)) {
            item++;
            n--;
        }
        while (n && isspace((unsigned char)item[n - 1]))
            n--;
        if (n) {
            const char *colon = memchr(item, ':', n);
            size_t host_len = colon ? (size_t)(colon - item) : n;
            uint64_t port = 0;
            char port_text[8];
            if (host_len == 0 || n_hosts >= ARGUS_CONFIG_MAX_HOSTS)
                return -EINVAL;
            if (colon) {
                size_t plen = n - host_len - 1;
                if (plen == 0 || plen >= sizeof(port_text))
                    return -EINVAL;
                memcpy(port_text, colon + 1, plen);
                port_text[plen] = '\0';
                if (argus_parse_u64(port_text, 1, 65535, &port) < 0)
                    return -EINVAL;
            }
            for (size_t i = 0; i < host_len; i++) {
                unsigned char c = (unsigned char)item[i];
                if (!isalnum(c) && c != '.' && c != '-' && c != '_')
                    return -EINVAL;
            }
            char *host = arena_dup(cfg, item, host_len);
            if (!host)
                return -ENOMEM;
            for (char *p = host; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            cfg->discord_hosts[n_hosts].host = host;
            cfg->discord_hosts[n_hosts].port = (uint16_t)port;
            n_hosts++;
        }
        v += strcspn(v, ",");
        if (*v == ',')
            v++;
    }
    cfg->n_discord_hosts = n_hosts;
    return 0;
}

static void load_var(struct argus_config *cfg, const struct var_desc *d, const char *v)
{
    void *field = (char *)cfg + d->offset;
    char choices[160];
    uint64_t u;
    int e;

    switch (d->kind) {
    case VAR_BOOL:
        if (parse_bool(d->name, v, field) < 0)
            problem(cfg, "%s=\"%s\" is not a boolean (true or false); using %s", d->name,
                    shown(d, v), d->def_text);
        return;
    case VAR_UINT32:
    case VAR_UINT64:
        if (argus_parse_u64(v, d->min, d->max, &u) < 0) {
            problem(cfg, "%s=\"%s\" is not a whole number from %llu to %llu; using %s", d->name,
                    shown(d, v), (unsigned long long)d->min, (unsigned long long)d->max,
                    d->def_text);
            return;
        }
        if (d->kind == VAR_UINT32)
            *(uint32_t *)field = (uint32_t)u;
        else
            *(uint64_t *)field = u;
        return;
    case VAR_STRING:
        if (!(*(const char **)field = arena_dup(cfg, v, strlen(v))))
            problem(cfg, "%s is too long to keep; ignoring it", d->name);
        return;
    case VAR_ENUM:
        if (parse_enum(d->names, v, &e) < 0) {
            enum_choices(d->names, choices, sizeof(choices));
            problem(cfg, "%s=\"%s\" is not one of %s; using %s", d->name, shown(d, v), choices,
                    d->def_text);
            return;
        }
        *(int *)field = e;
        return;
    case VAR_EXPORTS:
        if (parse_exporters(v, (unsigned)d->min, field) < 0)
            problem(cfg, "%s=\"%s\" is not a comma-separated list of %s; using %s", d->name,
                    shown(d, v),
                    d->min & ARGUS_EXPORTER_PROMETHEUS ? "otlp, prometheus, console, none"
                                                       : "otlp, console, none",
                    d->def_text);
        return;
    case VAR_RATIO:
        if (parse_ratio(v, field) < 0)
            problem(cfg, "%s=\"%s\" is not a number from 0 to 1; using %s", d->name, shown(d, v),
                    d->def_text);
        return;
    case VAR_KV_LIST:
        if (argus_kv_list_walk(v, kv_ignore, NULL) < 0) {
            problem(cfg,
                    "%s is malformed: expected key=value pairs separated by commas, with %%XX "
                    "escapes for ',' '=' and '%%'; ignoring the whole variable",
                    d->name);
            return;
        }
        if (!(*(const char **)field = arena_dup(cfg, v, strlen(v))))
            problem(cfg, "%s is too long to keep; ignoring it", d->name);
        return;
    case VAR_HOSTS:
        if (parse_hosts(cfg, v) < 0) {
            cfg->n_discord_hosts = 0;
            problem(cfg,
                    "%s=\"%s\" is not a comma-separated list of host[:port] (at most %d); "
                    "watching only Discord's own hosts",
                    d->name, shown(d, v), ARGUS_CONFIG_MAX_HOSTS);
        }
        return;
    }
}

/* Looks up OTEL_EXPORTER_OTLP_<SIGNAL>_<what>, then OTEL_EXPORTER_OTLP_<what>.
 * *specific says which one answered. */
static const char *otlp_value(const char *(*getenv_fn)(const char *), const char *signal,
                              const char *what, char *name, size_t size, bool *specific)
{
    snprintf(name, size, "OTEL_EXPORTER_OTLP_%s_%s", signal, what);
    const char *v = env_value(getenv_fn, name);
    *specific = v != NULL;
    if (!v) {
        snprintf(name, size, "OTEL_EXPORTER_OTLP_%s", what);
        v = env_value(getenv_fn, name);
    }
    return v;
}

/* Copies url into out for a log line with its userinfo (user:password@,
 * the part of the authority before the last '@') replaced by "<elided>":
 * collectors that take basic auth in the URL get it there. A value that is
 * not a URL at all is treated as if it had no scheme. */
static const char *url_shown(const char *url, char *out, size_t size)
{
    const char *scheme_end = strstr(url, "://");
    const char *authority = scheme_end ? scheme_end + 3 : url;
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = NULL;
    for (const char *c = authority; c < authority + authority_len; c++)
        if (*c == '@')
            at = c;
    if (at == NULL)
        return url;
    snprintf(out, size, "%.*s<elided>%s", (int)(authority - url), url, at);
    return out;
}

static bool url_is_http(const char *url)
{
    const char *rest = NULL;

    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    return rest && *rest && *rest != '/' && !strpbrk(url, " \t\r\n");
}

/* The endpoint rules of the OTLP exporter specification: the generic
 * variable is a base that gets "v1/<signal>" appended; the per-signal one is
 * used as given, with only a "/" added when it has no path. */
static void otlp_endpoint(struct argus_config *cfg, struct argus_otlp_signal *sig,
                          const char *(*getenv_fn)(const char *), const char *signal,
                          const char *path)
{
    char name[80], url[1024];
    bool specific;
    const char *v = otlp_value(getenv_fn, signal, "ENDPOINT", name, sizeof(name), &specific);

    if (v && !url_is_http(v)) {
        problem(cfg,
                "%s=\"%s\" is not an http:// or https:// URL with a host; using "
                "http://localhost:4318",
                name, url_shown(v, url, sizeof(url)));
        v = NULL;
    }
    if (!v) {
        snprintf(url, sizeof(url), "http://localhost:4318/%s", path);
    } else if (specific) {
        const char *after_scheme = strstr(v, "://") + 3;
        snprintf(url, sizeof(url), "%s%s", v, strchr(after_scheme, '/') ? "" : "/");
    } else {
        size_t len = strlen(v);
        snprintf(url, sizeof(url), "%s%s%s", v, len && v[len - 1] == '/' ? "" : "/", path);
    }
    if (!(sig->url = arena_dup(cfg, url, strlen(url)))) {
        problem(cfg, "%s is too long to keep; using http://localhost:4318", name);
        sig->url =
            path[3] == 'm' ? "http://localhost:4318/v1/metrics" : "http://localhost:4318/v1/traces";
    }
}

static void otlp_signal_load(struct argus_config *cfg, struct argus_otlp_signal *sig,
                             const char *(*getenv_fn)(const char *), const char *signal,
                             const char *path)
{
    char name[80];
    bool specific;
    const char *v;
    uint64_t u;

    otlp_endpoint(cfg, sig, getenv_fn, signal, path);

    sig->timeout_ms = 10000;
    if ((v = otlp_value(getenv_fn, signal, "TIMEOUT", name, sizeof(name), &specific))) {
        if (argus_parse_u64(v, 0, MS_MAX, &u) < 0)
            problem(cfg,
                    "%s=\"%s\" is not a whole number of milliseconds (0 = no limit); using "
                    "10000",
                    name, v);
        else
            sig->timeout_ms = (uint32_t)u;
    }

    if ((v = otlp_value(getenv_fn, signal, "COMPRESSION", name, sizeof(name), &specific))) {
        if (strcasecmp(v, "gzip") == 0)
            sig->gzip = true;
        else if (strcasecmp(v, "none") != 0)
            problem(cfg, "%s=\"%s\" is not gzip or none; sending uncompressed", name, v);
    }

    if ((v = otlp_value(getenv_fn, signal, "PROTOCOL", name, sizeof(name), &specific))) {
        if (strcasecmp(v, "grpc") == 0)
            sig->grpc_requested = true;
        else if (strcasecmp(v, "http/protobuf") != 0)
            problem(cfg, "%s=\"%s\" is not supported (only http/protobuf); using http/protobuf",
                    name, v);
    }

    if ((v = otlp_value(getenv_fn, signal, "HEADERS", name, sizeof(name), &specific))) {
        if (argus_kv_list_walk(v, kv_ignore, NULL) < 0)
            problem(cfg,
                    "%s is malformed (value not shown): expected key=value pairs separated by "
                    "commas, values percent-encoded (Authorization=Bearer%%20abc); sending no "
                    "extra headers",
                    name);
        else if (!(sig->headers = arena_dup(cfg, v, strlen(v))))
            problem(cfg, "%s is too long to keep; sending no extra headers", name);
    }

    static const char *const tls_names[] = {"CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"};
    const char **tls_fields[] = {&sig->certificate, &sig->client_key, &sig->client_certificate};
    for (size_t i = 0; i < 3; i++) {
        if ((v = otlp_value(getenv_fn, signal, tls_names[i], name, sizeof(name), &specific)))
            *tls_fields[i] = arena_dup(cfg, v, strlen(v));
    }
}

static const char *libc_getenv(const char *name)
{
    return getenv(name);
}

void argus_config_load(struct argus_config *cfg, const char *(*getenv_fn)(const char *name))
{
    const char *v;

    if (!getenv_fn)
        getenv_fn = libc_getenv;
    config_defaults(cfg);

    for (size_t i = 0; i < sizeof(var_table) / sizeof(var_table[0]); i++) {
        if ((v = env_value(getenv_fn, var_table[i].name)))
            load_var(cfg, &var_table[i], v);
    }

    if ((v = env_value(getenv_fn, "OTEL_EXPORTER_PROMETHEUS_PORT"))) {
        uint64_t port;
        if (argus_parse_u64(v, 1, 65535, &port) < 0)
            problem(cfg,
                    "OTEL_EXPORTER_PROMETHEUS_PORT=\"%s\" is not a port from 1 to 65535; "
                    "using 9464",
                    v);
        else
            cfg->prometheus_port = (uint16_t)port;
    }

    otlp_signal_load(cfg, &cfg->metrics, getenv_fn, "METRICS", "v1/metrics");
    otlp_signal_load(cfg, &cfg->traces, getenv_fn, "TRACES", "v1/traces");

    if (cfg->bsp_max_export_batch_size > cfg->bsp_max_queue_size) {
        problem(cfg,
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=%u is larger than OTEL_BSP_MAX_QUEUE_SIZE=%u; "
                "using %u",
                cfg->bsp_max_export_batch_size, cfg->bsp_max_queue_size, cfg->bsp_max_queue_size);
        cfg->bsp_max_export_batch_size = cfg->bsp_max_queue_size;
    }
    if (env_value(getenv_fn, "OTEL_TRACES_SAMPLER_ARG") &&
        cfg->sampler != ARGUS_SAMPLER_TRACEIDRATIO)
        cfg->sampler_ratio = 1.0;
    if (env_value(getenv_fn, "OTEL_CONFIG_FILE"))
        problem(cfg, "OTEL_CONFIG_FILE is set, but Argus does not read declarative configuration "
                     "files; using the OTEL_* and ARGUS_* variables");
}

void argus_config_report(const struct argus_config *cfg)
{
    for (unsigned i = 0; i < cfg->n_problems; i++)
        argus_log_warn("%s", cfg->problems[i]);
    if (cfg->n_problems == ARGUS_CONFIG_MAX_PROBLEMS)
        argus_log_warn("further configuration problems were not recorded");
}

/* Appends "name=value" to buf if it fits; keeps buf NUL-terminated. */
static void describe_add(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void describe_add(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    va_list ap;

    if (*used >= size)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < size - *used ? (size_t)n : size - *used - 1;
}

static const char *exporters_text(unsigned bits, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s", bits & ARGUS_EXPORTER_OTLP ? "otlp," : "",
             bits & ARGUS_EXPORTER_PROMETHEUS ? "prometheus," : "",
             bits & ARGUS_EXPORTER_CONSOLE ? "console," : "", bits ? "" : "none");
    size_t len = strlen(buf);
    if (len && buf[len - 1] == ',')
        buf[len - 1] = '\0';
    return buf;
}

void argus_config_describe(const struct argus_config *cfg, char *buf, size_t size)
{
    static const char *const temporality_names[] = {"cumulative", "delta", "lowmemory"};
    static const char *const sampler_names[] = {"always_on", "always_off", "traceidratio"};
    char metrics[40], traces[40], metrics_url[1024], traces_url[1024];
    size_t used = 0;

    if (size == 0)
        return;
    buf[0] = '\0';
    describe_add(buf, size, &used,
                 "service.name=%s metrics=%s (%s, every %u ms, %s%s) traces=%s (%s, %s %.3g) "
                 "headers=%s",
                 cfg->service_name ? cfg->service_name : "(default)",
                 exporters_text(cfg->metrics_exporters, metrics, sizeof(metrics)),
                 url_shown(cfg->metrics.url, metrics_url, sizeof(metrics_url)),
                 cfg->metric_export_interval_ms, temporality_names[cfg->temporality],
                 cfg->metrics.gzip ? ", gzip" : "",
                 exporters_text(cfg->traces_exporters, traces, sizeof(traces)),
                 url_shown(cfg->traces.url, traces_url, sizeof(traces_url)),
                 sampler_names[cfg->sampler], cfg->sampler_ratio,
                 cfg->metrics.headers || cfg->traces.headers ? "set (values not shown)" : "none");
    if (cfg->metrics_exporters & ARGUS_EXPORTER_PROMETHEUS)
        describe_add(buf, size, &used, " prometheus=%s:%u", cfg->prometheus_host,
                     cfg->prometheus_port);
    describe_add(buf, size, &used, " cluster=%s namespace=%s discord_hosts=", cfg->cluster,
                 cfg->ns);
    for (unsigned i = 0; i < cfg->n_discord_hosts; i++)
        describe_add(buf, size, &used, "%s%s", i ? "," : "", cfg->discord_hosts[i].host);
    describe_add(
        buf, size, &used, "%s prefixes=%s ring=%llu B max_connections=%u shutdown_timeout=%u ms",
        cfg->n_discord_hosts ? "" : "(discord only)", cfg->prefixes,
        (unsigned long long)cfg->ring_bytes, cfg->max_connections, cfg->shutdown_timeout_ms);
}
