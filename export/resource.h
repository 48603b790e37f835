/*
 * resource.h - the OpenTelemetry resource Argus reports: who is sending.
 *
 * Built once per start() (and again in a forked child, so process.pid and
 * service.instance.id are the child's). Attributes, later ones overriding
 * earlier ones with the same key:
 *   telemetry.sdk.name = argus-preload, telemetry.sdk.language = c,
 *   telemetry.sdk.version, process.pid, process.executable.name, host.name,
 *   service.instance.id (a random UUIDv4 per process: the processes of a
 *   clustered bot share one environment and must not collide);
 *   then every OTEL_RESOURCE_ATTRIBUTES pair (percent-decoded by config.h);
 *   then service.name: OTEL_SERVICE_NAME, else the one from
 *   OTEL_RESOURCE_ATTRIBUTES, else unknown_service:<executable name>.
 * The struct is plain data owned by its caller; nothing in it is a secret.
 */
#ifndef ARGUS_RESOURCE_H
#define ARGUS_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

struct argus_config;

#define RESOURCE_MAX_ATTRS 48
#define RESOURCE_KEY_MAX 128
#define RESOURCE_VALUE_MAX 256

struct resource_attr {
    char key[RESOURCE_KEY_MAX];
    bool is_int;
    int64_t int_value;
    char value[RESOURCE_VALUE_MAX]; /* when !is_int */
};

struct resource {
    unsigned n_attrs;
    uint32_t dropped_attributes_count; /* beyond RESOURCE_MAX_ATTRS */
    struct resource_attr attrs[RESOURCE_MAX_ATTRS];
};

/* Fills *res. OTEL_RESOURCE_ATTRIBUTES arrives parsed (config.h): one that
 * did not parse was ignored whole by the configuration, as the spec requires,
 * and said there. Any thread. */
void resource_build(struct resource *res, const struct argus_config *cfg);

#endif
