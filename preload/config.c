/*
 * config.c - one descriptor table, one strict parser per kind, one splitter.
 *
 * Every variable Argus reads is a row of var_table: its name, its kind, where
 * its value goes in struct argus_config, its bounds and its default. Loading
 * walks the table once; a value that does not parse leaves the default in
 * place and one problem line that names the variable, shows the value, says
 * what is accepted and what Argus does instead.
 *
 * Nothing secret is echoed, and that is decided by kind, not by a flag on a
 * row: a header list is never shown (its values are credentials), an endpoint
 * is shown only through url_shown() (userinfo and query values elided), and a
 * key=value list that does not parse is named, not shown.
 *
 * Lists are parsed here, once, into arrays the core reads (config.h): every
 * comma-separated variable goes through list_split(), so they all trim and
 * skip empty items alike, and every percent-escape through pct_decode().
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
 * Discord must stay cheap and leave no heap behind. Arrays and strings live in
 * the struct's arena.
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
#include "strbuf.h"
#include "url.h"

enum var_kind {
    VAR_BOOL,     /* bool */
    VAR_UINT32,   /* uint32_t within [min, max] */
    VAR_UINT64,   /* uint64_t within [min, max] */
    VAR_STRING,   /* const char *, any non-empty value */
    VAR_ENUM,     /* int, from a name table */
    VAR_EXPORTS,  /* unsigned bit set from a comma list */
    VAR_RATIO,    /* double in [0, 1] */
    VAR_KV_LIST,  /* struct argus_kv_list, from k=v,k=v */
    VAR_HOSTS,    /* ARGUS_DISCORD_HOSTS */
    VAR_PREFIXES, /* struct argus_list, percent-decoded, within the prefix limits */
    VAR_NAMES,    /* struct argus_list of plain names */
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
    {"OTEL_SDK_DISABLED", VAR_BOOL, FIELD(sdk_disabled), 0, 0, "false", NULL},
    {"OTEL_LOG_LEVEL", VAR_ENUM, FIELD(log_level), 0, 0, "info", log_levels},
    {"OTEL_SERVICE_NAME", VAR_STRING, FIELD(service_name), 0, 0, NULL, NULL},
    {"OTEL_RESOURCE_ATTRIBUTES", VAR_KV_LIST, FIELD(resource_attributes), 0, 0, "none", NULL},
    {"OTEL_METRICS_EXPORTER", VAR_EXPORTS, FIELD(metrics_exporters),
     ARGUS_EXPORTER_OTLP | ARGUS_EXPORTER_CONSOLE | ARGUS_EXPORTER_PROMETHEUS, 0, "otlp",
     exporters},
    {"OTEL_TRACES_EXPORTER", VAR_EXPORTS, FIELD(traces_exporters),
     ARGUS_EXPORTER_OTLP | ARGUS_EXPORTER_CONSOLE, 0, "otlp", exporters},
    {"OTEL_METRIC_EXPORT_INTERVAL", VAR_UINT32, FIELD(metric_export_interval_ms), 1, MS_MAX,
     "60000", NULL},
    {"OTEL_METRIC_EXPORT_TIMEOUT", VAR_UINT32, FIELD(metric_export_timeout_ms), 0, MS_MAX, "30000",
     NULL},
    {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", VAR_ENUM, FIELD(temporality), 0, 0,
     "cumulative", temporalities},
    {"OTEL_TRACES_SAMPLER", VAR_ENUM, FIELD(sampler), 0, 0, "parentbased_always_on", samplers},
    {"OTEL_TRACES_SAMPLER_ARG", VAR_RATIO, FIELD(sampler_ratio), 0, 0, "1.0", NULL},
    {"OTEL_BSP_SCHEDULE_DELAY", VAR_UINT32, FIELD(bsp_schedule_delay_ms), 0, MS_MAX, "5000", NULL},
    {"OTEL_BSP_EXPORT_TIMEOUT", VAR_UINT32, FIELD(bsp_export_timeout_ms), 0, MS_MAX, "30000", NULL},
    {"OTEL_BSP_MAX_QUEUE_SIZE", VAR_UINT32, FIELD(bsp_max_queue_size), 1, 1u << 20, "2048", NULL},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", VAR_UINT32, FIELD(bsp_max_export_batch_size), 1, 1u << 20,
     "512", NULL},
    {"OTEL_EXPORTER_PROMETHEUS_HOST", VAR_STRING, FIELD(prometheus_host), 0, 0, "localhost", NULL},
    {"ARGUS_EAGER", VAR_BOOL, FIELD(eager), 0, 0, "false", NULL},
    {"ARGUS_CLUSTER_ID", VAR_STRING, FIELD(cluster), 0, 0, "default", NULL},
    {"ARGUS_NAMESPACE", VAR_STRING, FIELD(ns), 0, 0, "discord", NULL},
    {"ARGUS_MAX_SERIES", VAR_UINT32, FIELD(max_series), 1, 1000000, "2000", NULL},
    {"ARGUS_SHUTDOWN_TIMEOUT_MS", VAR_UINT32, FIELD(shutdown_timeout_ms), 0, 60000, "2000", NULL},
    {"ARGUS_DISCORD_HOSTS", VAR_HOSTS, 0, 0, 0, "none", NULL},
    {"ARGUS_MAX_CONNECTIONS", VAR_UINT32, FIELD(max_connections), 8, 1u << 20, "1024", NULL},
    {"ARGUS_RING_BYTES", VAR_UINT64, FIELD(ring_bytes), 1u << 16, 1ull << 32, "4194304", NULL},
    {"ARGUS_MAX_MESSAGE_BYTES", VAR_UINT32, FIELD(max_message_bytes), 4096, 1u << 30, "16777216",
     NULL},
    {"ARGUS_DEFERRED_TIMEOUT_S", VAR_UINT32, FIELD(deferred_timeout_s), 1, 86400, "900", NULL},
    {"ARGUS_PREFIX", VAR_PREFIXES, FIELD(prefixes), 0, 0, "!", NULL},
    {"ARGUS_PREFIX_TIMEOUT_S", VAR_UINT32, FIELD(prefix_timeout_s), 1, 3600, "10", NULL},
    {"ARGUS_MAX_PREFIX_COMMANDS", VAR_UINT32, FIELD(max_prefix_commands), 1, 10000, "100", NULL},
    {"ARGUS_PREFIX_COMMANDS", VAR_NAMES, FIELD(prefix_commands), 0, 0, "inference", NULL},
    {"ARGUS_MAX_OPEN_LIFECYCLES", VAR_UINT32, FIELD(max_open_lifecycles), 16, 1u << 22, "10000",
     NULL},
    {"ARGUS_ENABLE_PER_GUILD", VAR_BOOL, FIELD(per_guild), 0, 0, "false", NULL},
    {"ARGUS_CORE_PATH", VAR_STRING, FIELD(core_path), 0, 0, NULL, NULL},
};

static const char *const default_prefixes[] = {"!"};

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
    cfg->prefixes = (struct argus_list){default_prefixes, 1};
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

/* size bytes of the arena, aligned to align (a power of two), or NULL. */
static void *arena_reserve(struct argus_config *cfg, size_t size, size_t align)
{
    size_t at = (cfg->arena_used + align - 1) & ~(align - 1);

    if (at > sizeof(cfg->arena) || size > sizeof(cfg->arena) - at)
        return NULL;
    cfg->arena_used = at + size;
    return cfg->arena + at;
}

static char *arena_dup(struct argus_config *cfg, const char *s, size_t len)
{
    char *p = arena_reserve(cfg, len + 1, 1);

    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* Empty means unset (sdk-environment-variables.md). */
static const char *env_value(const char *(*getenv_fn)(const char *), const char *name)
{
    const char *v = getenv_fn(name);
    return v && *v ? v : NULL;
}

/* Strict: digits only, no sign or blank, within [min, max]. */
static int parse_u64(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned digit = (unsigned)(s[i] - '0');
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

/* Looks up [v, v+len) (case-insensitive) in names. */
static int parse_enum(const struct enum_name *names, const char *v, size_t len, int *out)
{
    for (; names->name; names++) {
        if (strlen(names->name) == len && strncasecmp(names->name, v, len) == 0) {
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

/* ---- lists ------------------------------------------------------------------ */

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* The one splitter (the rule is in config.h): calls item() for each item of
 * the comma-separated v, trimmed, skipping empty ones. Returns the number of
 * items, or the first negative value item() returned. */
static int list_split(const char *v, int (*item)(const char *s, size_t len, void *arg), void *arg)
{
    int n = 0;

    while (*v) {
        const char *s = v;
        size_t len = strcspn(v, ",");
        v += len;
        if (*v == ',')
            v++;
        trim(&s, &len);
        if (len == 0)
            continue;
        int rc = item(s, len, arg);
        if (rc < 0)
            return rc;
        n++;
    }
    return n;
}

/* An upper bound on what list_split() will find in v, to size an array. */
static size_t list_max_items(const char *v)
{
    size_t n = 1;

    for (; *v; v++)
        n += *v == ',';
    return n;
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

/* Percent-decodes [s, s+len) into the arena as a string of at most max
 * bytes. -EINVAL for a bad escape, a NUL byte (%00) or a longer result,
 * -ENOMEM when the arena is full; the arena is left as it was on failure. */
static int pct_decode(struct argus_config *cfg, const char *s, size_t len, size_t max,
                      const char **out)
{
    size_t mark = cfg->arena_used, n = 0;
    char *buf = arena_reserve(cfg, (len < max ? len : max) + 1, 1);
    int rc = 0;

    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                rc = -EINVAL;
                goto out;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n == max) {
            rc = -EINVAL;
            goto out;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    cfg->arena_used = mark + n + 1;
    *out = buf;
out:
    if (rc < 0)
        cfg->arena_used = mark;
    return rc;
}

/* A list being parsed into an array of cap elements in the arena. */
struct list_fill {
    struct argus_config *cfg;
    void *items; /* const char ** or struct argus_kv * */
    unsigned n, cap;
    unsigned dropped; /* prefixes only */
};

/* Reserves f->cap elements of size bytes and fills them with item() over the
 * items of v. Returns what list_split() returned; on failure the arena is as
 * it was. */
static int list_fill(struct list_fill *f, const char *v, size_t size, size_t align,
                     int (*item)(const char *s, size_t len, void *arg))
{
    size_t mark = f->cfg->arena_used;
    int rc = -ENOMEM;

    f->items = arena_reserve(f->cfg, f->cap * size, align);
    if (f->items != NULL)
        rc = list_split(v, item, f);
    if (rc < 0)
        f->cfg->arena_used = mark;
    return rc;
}

static int kv_item(const char *s, size_t len, void *arg)
{
    struct list_fill *f = arg;
    struct argus_kv *kv = (struct argus_kv *)f->items + f->n;
    const char *eq = memchr(s, '=', len);
    int rc;

    if (eq == NULL)
        return -EINVAL;
    const char *value = eq + 1;
    size_t key_len = (size_t)(eq - s), value_len = len - key_len - 1;
    trim(&s, &key_len);
    trim(&value, &value_len);
    if (key_len == 0)
        return -EINVAL;
    if ((rc = pct_decode(f->cfg, s, key_len, ARGUS_CONFIG_KV_KEY_MAX, &kv->key)) < 0 ||
        (rc = pct_decode(f->cfg, value, value_len, ARGUS_CONFIG_KV_VALUE_MAX, &kv->value)) < 0)
        return rc;
    f->n++;
    return 0;
}

/* A W3C-baggage style list (OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_RESOURCE_ATTRIBUTES) into out, whole or not at all: 0, -EINVAL when
 * malformed (no '=', an empty key, a bad escape, a key or value over its
 * limit), -ENOMEM when it does not fit the arena. */
static int parse_kv_list(struct argus_config *cfg, const char *v, struct argus_kv_list *out)
{
    struct list_fill f = {cfg, NULL, 0, (unsigned)list_max_items(v), 0};
    int rc = list_fill(&f, v, sizeof(struct argus_kv), _Alignof(struct argus_kv), kv_item);

    if (rc < 0)
        return rc;
    *out = (struct argus_kv_list){f.items, f.n};
    return 0;
}

static int prefix_item(const char *s, size_t len, void *arg)
{
    struct list_fill *f = arg;
    const char **items = f->items;
    int rc =
        f->n < f->cap ? pct_decode(f->cfg, s, len, ARGUS_CONFIG_PREFIX_MAX, &items[f->n]) : -EINVAL;

    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        f->dropped++;
    else
        f->n++;
    return 0;
}

/* ARGUS_PREFIX: keeps the prefixes within the limits of config.h and says
 * in one line how many were dropped; with none left, the default stays. */
static void parse_prefixes(struct argus_config *cfg, const char *name, const char *v,
                           struct argus_list *out)
{
    struct list_fill f = {cfg, NULL, 0, ARGUS_CONFIG_MAX_PREFIXES, 0};

    if (list_fill(&f, v, sizeof(char *), _Alignof(char *), prefix_item) < 0) {
        problem(cfg, "%s is too long to keep; using %s", name, default_prefixes[0]);
        return;
    }
    if (f.dropped > 0 || f.n == 0)
        problem(cfg,
                "%s=\"%.80s\": %u of its prefixes cannot be used (accepted: at most %d prefixes "
                "of 1 to %d bytes, comma-separated; write a comma as %%2C, a percent sign as "
                "%%25, a trailing space as %%20); %s%s",
                name, v, f.dropped, ARGUS_CONFIG_MAX_PREFIXES, ARGUS_CONFIG_PREFIX_MAX,
                f.n ? "counting only the commands of the others" : "using ",
                f.n ? "" : default_prefixes[0]);
    if (f.n > 0)
        *out = (struct argus_list){f.items, f.n};
}

static int name_item(const char *s, size_t len, void *arg)
{
    struct list_fill *f = arg;
    const char **items = f->items;

    if ((items[f->n] = arena_dup(f->cfg, s, len)) == NULL)
        return -ENOMEM;
    f->n++;
    return 0;
}

/* A list of plain names (ARGUS_PREFIX_COMMANDS): 0 or -ENOMEM. */
static int parse_names(struct argus_config *cfg, const char *v, struct argus_list *out)
{
    struct list_fill f = {cfg, NULL, 0, (unsigned)list_max_items(v), 0};
    int rc = list_fill(&f, v, sizeof(char *), _Alignof(char *), name_item);

    if (rc < 0)
        return rc;
    *out = (struct argus_list){f.items, f.n};
    return 0;
}

struct exporters_fill {
    unsigned allowed, bits;
};

static int exporter_item(const char *s, size_t len, void *arg)
{
    struct exporters_fill *f = arg;
    int bit;

    if (parse_enum(exporters, s, len, &bit) < 0 || (bit & ~(int)f->allowed))
        return -EINVAL;
    f->bits |= (unsigned)bit;
    return 0;
}

/* A comma list of exporter names; "none" alone means no exporter, and a
 * value with no name at all is not a list. */
static int parse_exporters(const char *v, unsigned allowed, unsigned *out)
{
    struct exporters_fill f = {allowed, 0};
    int n = list_split(v, exporter_item, &f);

    if (n <= 0)
        return -EINVAL;
    *out = f.bits;
    return 0;
}

/* "host[:port]" -> the next of cfg->discord_hosts, lower-cased. */
static int host_item(const char *s, size_t len, void *arg)
{
    struct argus_config *cfg = arg;
    const char *colon = memchr(s, ':', len);
    size_t host_len = colon ? (size_t)(colon - s) : len;
    uint64_t port = 0;

    if (host_len == 0 || cfg->n_discord_hosts >= ARGUS_CONFIG_MAX_HOSTS)
        return -EINVAL;
    if (colon && parse_u64(colon + 1, len - host_len - 1, 1, 65535, &port) < 0)
        return -EINVAL;
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_')
            return -EINVAL;
    }
    char *host = arena_dup(cfg, s, host_len);
    if (host == NULL)
        return -ENOMEM;
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    cfg->discord_hosts[cfg->n_discord_hosts].host = host;
    cfg->discord_hosts[cfg->n_discord_hosts].port = (uint16_t)port;
    cfg->n_discord_hosts++;
    return 0;
}

/* ---- the table --------------------------------------------------------------- */

static void load_var(struct argus_config *cfg, const struct var_desc *d, const char *v)
{
    void *field = (char *)cfg + d->offset;
    char choices[160];
    uint64_t u;
    int e;

    switch (d->kind) {
    case VAR_BOOL:
        if (parse_bool(d->name, v, field) < 0)
            problem(cfg, "%s=\"%s\" is not a boolean (true or false); using %s", d->name, v,
                    d->def_text);
        return;
    case VAR_UINT32:
    case VAR_UINT64:
        if (parse_u64(v, strlen(v), d->min, d->max, &u) < 0) {
            problem(cfg, "%s=\"%s\" is not a whole number from %llu to %llu; using %s", d->name, v,
                    (unsigned long long)d->min, (unsigned long long)d->max, d->def_text);
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
        if (parse_enum(d->names, v, strlen(v), &e) < 0) {
            enum_choices(d->names, choices, sizeof(choices));
            problem(cfg, "%s=\"%s\" is not one of %s; using %s", d->name, v, choices, d->def_text);
            return;
        }
        *(int *)field = e;
        return;
    case VAR_EXPORTS:
        if (parse_exporters(v, (unsigned)d->min, field) < 0)
            problem(cfg, "%s=\"%s\" is not a comma-separated list of %s; using %s", d->name, v,
                    d->min & ARGUS_EXPORTER_PROMETHEUS ? "otlp, prometheus, console, none"
                                                       : "otlp, console, none",
                    d->def_text);
        return;
    case VAR_RATIO:
        if (parse_ratio(v, field) < 0)
            problem(cfg, "%s=\"%s\" is not a number from 0 to 1; using %s", d->name, v,
                    d->def_text);
        return;
    case VAR_KV_LIST:
        /* Not shown: a value may hold anything, credentials included. */
        e = parse_kv_list(cfg, v, field);
        if (e == -ENOMEM)
            problem(cfg, "%s is too long to keep; ignoring it", d->name);
        else if (e < 0)
            problem(cfg,
                    "%s is malformed: expected key=value pairs separated by commas, with %%XX "
                    "escapes for ',' '=' and '%%'; ignoring the whole variable",
                    d->name);
        return;
    case VAR_HOSTS:
        if (list_split(v, host_item, cfg) < 0) {
            cfg->n_discord_hosts = 0;
            problem(cfg,
                    "%s=\"%s\" is not a comma-separated list of host[:port] (at most %d); "
                    "watching only Discord's own hosts",
                    d->name, v, ARGUS_CONFIG_MAX_HOSTS);
        }
        return;
    case VAR_PREFIXES:
        parse_prefixes(cfg, d->name, v, field);
        return;
    case VAR_NAMES:
        if (parse_names(cfg, v, field) < 0)
            problem(cfg, "%s is too long to keep; using %s", d->name, d->def_text);
        return;
    }
}

/* ---- endpoints ------------------------------------------------------------- */

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

/* The endpoint rules of the OTLP exporter specification: the generic
 * variable is a base whose path gets "v1/<signal>" appended; the per-signal
 * one is used as given, with only a "/" added when it has no path. Either
 * way the query (and fragment) stay where they are, after the path. */
static void otlp_endpoint(struct argus_config *cfg, struct argus_otlp_signal *sig,
                          const char *(*getenv_fn)(const char *), const char *signal,
                          const char *path)
{
    char name[80], url[1024], shown[1024];
    bool specific;
    const char *v = otlp_value(getenv_fn, signal, "ENDPOINT", name, sizeof(name), &specific);
    int n = 0;

    if (v && !url_is_http(v)) {
        problem(cfg,
                "%s=\"%s\" is not an http:// or https:// URL with a host; using "
                "http://localhost:4318",
                name, url_shown(v, shown, sizeof(shown)));
        v = NULL;
    }
    if (v) {
        struct url_parts u = url_split(v);
        bool has_slash = u.tail > u.path && v[u.tail - 1] == '/';
        if (specific)
            n = snprintf(url, sizeof(url), "%.*s%s%s", (int)u.tail, v, u.tail > u.path ? "" : "/",
                         v + u.tail);
        else
            n = snprintf(url, sizeof(url), "%.*s%s%s%s", (int)u.tail, v, has_slash ? "" : "/", path,
                         v + u.tail);
    }
    if (v && (n < 0 || (size_t)n >= sizeof(url))) {
        problem(cfg, "%s is too long for a URL; using http://localhost:4318", name);
        v = NULL;
    }
    sig->url = NULL;
    if (v) {
        url_shown(url, shown, sizeof(shown));
        sig->url = arena_dup(cfg, url, strlen(url));
        sig->url_shown = arena_dup(cfg, shown, strlen(shown));
        if (sig->url == NULL || sig->url_shown == NULL) {
            problem(cfg, "%s is too long to keep; using http://localhost:4318", name);
            sig->url = NULL;
        }
    }
    if (sig->url == NULL) {
        sig->url =
            path[3] == 'm' ? "http://localhost:4318/v1/metrics" : "http://localhost:4318/v1/traces";
        sig->url_shown = sig->url;
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
    int rc;

    otlp_endpoint(cfg, sig, getenv_fn, signal, path);

    sig->timeout_ms = 10000;
    if ((v = otlp_value(getenv_fn, signal, "TIMEOUT", name, sizeof(name), &specific))) {
        if (parse_u64(v, strlen(v), 0, MS_MAX, &u) < 0)
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

    /* Never shown: the values are credentials. */
    if ((v = otlp_value(getenv_fn, signal, "HEADERS", name, sizeof(name), &specific))) {
        rc = parse_kv_list(cfg, v, &sig->headers);
        if (rc == -ENOMEM)
            problem(cfg, "%s is too long to keep; sending no extra headers", name);
        else if (rc < 0)
            problem(cfg,
                    "%s is malformed (value not shown): expected key=value pairs separated by "
                    "commas, values percent-encoded (Authorization=Bearer%%20abc); sending no "
                    "extra headers",
                    name);
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
        if (parse_u64(v, strlen(v), 1, 65535, &port) < 0)
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
    char metrics[40], traces[40];
    size_t used = 0;

    if (size == 0)
        return;
    buf[0] = '\0';
    text_add(buf, size, &used,
             "service.name=%s metrics=%s (%s, every %u ms, %s%s) traces=%s (%s, %s %.3g) "
             "headers=%s",
             cfg->service_name ? cfg->service_name : "(default)",
             exporters_text(cfg->metrics_exporters, metrics, sizeof(metrics)),
             cfg->metrics.url_shown, cfg->metric_export_interval_ms,
             temporality_names[cfg->temporality], cfg->metrics.gzip ? ", gzip" : "",
             exporters_text(cfg->traces_exporters, traces, sizeof(traces)), cfg->traces.url_shown,
             sampler_names[cfg->sampler], cfg->sampler_ratio,
             cfg->metrics.headers.n || cfg->traces.headers.n ? "set (values not shown)" : "none");
    if (cfg->metrics_exporters & ARGUS_EXPORTER_PROMETHEUS)
        text_add(buf, size, &used, " prometheus=%s:%u", cfg->prometheus_host, cfg->prometheus_port);
    text_add(buf, size, &used, " cluster=%s namespace=%s discord_hosts=", cfg->cluster, cfg->ns);
    for (unsigned i = 0; i < cfg->n_discord_hosts; i++)
        text_add(buf, size, &used, "%s%s", i ? "," : "", cfg->discord_hosts[i].host);
    text_add(buf, size, &used, "%s prefixes=", cfg->n_discord_hosts ? "" : "(discord only)");
    for (unsigned i = 0; i < cfg->prefixes.n; i++)
        text_add(buf, size, &used, "%s\"%s\"", i ? "," : "", cfg->prefixes.items[i]);
    text_add(buf, size, &used, " ring=%llu B max_connections=%u shutdown_timeout=%u ms",
             (unsigned long long)cfg->ring_bytes, cfg->max_connections, cfg->shutdown_timeout_ms);
}
