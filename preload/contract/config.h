/*
 * config.h - Argus' configuration, read once from the environment.
 *
 * argus_config_load() runs in the preload's constructor. It reads every
 * variable it knows (the OTEL_* of the OpenTelemetry SDK specification and the
 * Discord-specific ARGUS_*) into one struct argus_config that nobody writes
 * afterwards: the bot may call setenv() on another thread, so nothing calls
 * getenv() later. It never allocates: strings are copied into the struct's own
 * arena, and every pointer in the struct points there (or to a literal).
 *
 * Every value arrives parsed. Lists come as arrays (struct argus_list,
 * struct argus_kv_list), already split, trimmed, percent-decoded and checked
 * against their limits, so the core (which receives the struct through
 * core_api.h and links none of this) never parses a variable again. All
 * comma-separated variables follow one rule: items are separated by ',',
 * blanks at both ends of an item are removed, and empty items are skipped.
 *
 * A value that does not parse falls back to its default and leaves one problem
 * line (naming the variable, the value, what is accepted and what Argus does
 * instead). A problem line never shows a header value, an endpoint's userinfo
 * or a query value. Problems are not printed by the loader: a dormant child
 * must stay silent, so argus_config_report() prints them once, when Argus
 * activates.
 *
 * Threads: load in the constructor (or a test); everything else may read the
 * struct from any thread without locks. load, report and describe are the
 * preload's: the core only reads the struct.
 */
#ifndef ARGUS_CONFIG_H
#define ARGUS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum argus_temporality {
    ARGUS_TEMPORALITY_CUMULATIVE = 0,
    ARGUS_TEMPORALITY_DELTA,
    ARGUS_TEMPORALITY_LOWMEMORY,
};

enum argus_sampler {
    ARGUS_SAMPLER_ALWAYS_ON = 0,
    ARGUS_SAMPLER_ALWAYS_OFF,
    ARGUS_SAMPLER_TRACEIDRATIO,
};

/* Bits of argus_config.metrics_exporters / traces_exporters. */
#define ARGUS_EXPORTER_OTLP 0x1u
#define ARGUS_EXPORTER_CONSOLE 0x2u
#define ARGUS_EXPORTER_PROMETHEUS 0x4u

#define ARGUS_CONFIG_MAX_PROBLEMS 24
#define ARGUS_CONFIG_PROBLEM_LEN 320
#define ARGUS_CONFIG_ARENA 16384
#define ARGUS_CONFIG_MAX_HOSTS 16
/* ARGUS_PREFIX: at most this many prefixes, each 1 to ARGUS_CONFIG_PREFIX_MAX
 * bytes once percent-decoded. Longer ones and those past the count are
 * dropped with a problem line; the others are kept. */
#define ARGUS_CONFIG_MAX_PREFIXES 16
#define ARGUS_CONFIG_PREFIX_MAX 16
/* Key and value of a key=value pair, in bytes once percent-decoded (a long
 * bearer token or JWT fits the value). A longer one makes its list malformed. */
#define ARGUS_CONFIG_KV_KEY_MAX 255
#define ARGUS_CONFIG_KV_VALUE_MAX 1023

/* A comma-separated list, split: n strings in the configuration's arena. */
struct argus_list {
    const char *const *items;
    unsigned n;
};

/* One pair of a W3C-baggage style list (k1=v1,k2=v2), key and value trimmed
 * and percent-decoded; neither holds a NUL byte, the key is never empty. */
struct argus_kv {
    const char *key;
    const char *value;
};

struct argus_kv_list {
    const struct argus_kv *items;
    unsigned n;
};

/* One OTLP signal (metrics or traces), with the signal-specific variables
 * already resolved against the generic ones. */
struct argus_otlp_signal {
    const char *url; /* full URL, e.g. http://localhost:4318/v1/metrics */
    /* The same URL fit for a log line: its userinfo and every query value
     * replaced by <elided>. */
    const char *url_shown;
    struct argus_kv_list headers; /* OTEL_EXPORTER_OTLP_[<SIGNAL>_]HEADERS; never logged */
    const char *certificate;      /* PEM paths or NULL */
    const char *client_key;
    const char *client_certificate;
    uint32_t timeout_ms; /* per export; 0 = no limit */
    bool gzip;
    bool grpc_requested; /* protocol=grpc: unsupported, nothing is sent */
};

struct argus_discord_host {
    const char *host; /* lower-case */
    uint16_t port;    /* 0 = any */
};

struct argus_config {
    bool sdk_disabled; /* OTEL_SDK_DISABLED: every hook is a pure pass-through */
    bool eager;        /* ARGUS_EAGER, already narrowed to this process (see preload.c) */
    enum argus_log_level log_level;

    /* Resource */
    const char *service_name;                 /* NULL: derive unknown_service:<exe> */
    struct argus_kv_list resource_attributes; /* OTEL_RESOURCE_ATTRIBUTES */

    /* Metrics */
    unsigned metrics_exporters; /* ARGUS_EXPORTER_* bits; 0 = none */
    struct argus_otlp_signal metrics;
    uint32_t metric_export_interval_ms;
    uint32_t metric_export_timeout_ms;
    enum argus_temporality temporality;
    uint32_t max_series; /* ARGUS_MAX_SERIES, per metric */
    const char *cluster; /* ARGUS_CLUSTER_ID */
    const char *ns;      /* ARGUS_NAMESPACE, replaces "discord" in metric names */

    /* Traces */
    unsigned traces_exporters;
    struct argus_otlp_signal traces;
    enum argus_sampler sampler;
    double sampler_ratio;
    uint32_t bsp_schedule_delay_ms;
    uint32_t bsp_export_timeout_ms;
    uint32_t bsp_max_queue_size;
    uint32_t bsp_max_export_batch_size;

    /* Prometheus pull endpoint */
    const char *prometheus_host;
    uint16_t prometheus_port;

    /* Capture */
    struct argus_discord_host discord_hosts[ARGUS_CONFIG_MAX_HOSTS];
    unsigned n_discord_hosts;
    uint32_t max_connections;
    uint64_t ring_bytes;
    uint32_t max_message_bytes;

    /* Lifecycles */
    uint32_t deferred_timeout_s;
    /* ARGUS_PREFIX (default "!"): 1 to ARGUS_CONFIG_MAX_PREFIXES prefixes of
     * 1 to ARGUS_CONFIG_PREFIX_MAX bytes each. Percent-decoded, so "%20" keeps
     * a trailing blank ("bot%20"), "%2C" is a comma and "%25" a percent. */
    struct argus_list prefixes;
    uint32_t prefix_timeout_s;
    uint32_t max_prefix_commands;
    struct argus_list prefix_commands; /* ARGUS_PREFIX_COMMANDS allow-list; n = 0: none */
    uint32_t max_open_lifecycles;
    bool per_guild; /* ARGUS_ENABLE_PER_GUILD */

    /* Lifecycle of Argus itself */
    uint32_t shutdown_timeout_ms;
    const char *core_path; /* ARGUS_CORE_PATH override, or NULL */

    /* Problems found while loading, printed by argus_config_report(). */
    unsigned n_problems;
    char problems[ARGUS_CONFIG_MAX_PROBLEMS][ARGUS_CONFIG_PROBLEM_LEN];

    /* Storage behind every string above. */
    size_t arena_used;
    _Alignas(sizeof(void *)) char arena[ARGUS_CONFIG_ARENA];
};

/* Fills *cfg from the environment (getenv_fn lets tests supply their own;
 * pass NULL for getenv). Never fails: bad values fall back to defaults and are
 * recorded as problems. */
void argus_config_load(struct argus_config *cfg, const char *(*getenv_fn)(const char *name));

/* Prints each recorded problem as one "argus: ..." line on stderr. */
void argus_config_report(const struct argus_config *cfg);

/* Writes a one-line summary of the configuration in force into buf (always
 * NUL-terminated, truncated to size), for the debug line at activation.
 * Header values, userinfo and query values are never included. */
void argus_config_describe(const struct argus_config *cfg, char *buf, size_t size);

#endif
