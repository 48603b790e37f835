/*
 * resource.c - see resource.h. Built from values read now (pid, hostname,
 * /proc/self/exe) rather than cached at load, so a forked child that calls it
 * again describes itself, not its parent.
 */
#include "resource.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "argus_build.h"
#include "config.h"
#include "text.h"

static struct resource_attr *slot_for(struct resource *res, const char *key)
{
    for (unsigned i = 0; i < res->n_attrs; i++) {
        if (strcmp(res->attrs[i].key, key) == 0)
            return &res->attrs[i];
    }
    if (res->n_attrs == RESOURCE_MAX_ATTRS || strlen(key) >= RESOURCE_KEY_MAX) {
        res->dropped_attributes_count++;
        return NULL;
    }
    struct resource_attr *a = &res->attrs[res->n_attrs++];
    memset(a, 0, sizeof(*a));
    text_copy(a->key, sizeof(a->key), key);
    return a;
}

static void set_str(struct resource *res, const char *key, const char *value)
{
    struct resource_attr *a = slot_for(res, key);
    if (a != NULL) {
        a->is_int = false;
        text_copy(a->value, sizeof(a->value), value);
    }
}

static void set_int(struct resource *res, const char *key, int64_t value)
{
    struct resource_attr *a = slot_for(res, key);
    if (a != NULL) {
        a->is_int = true;
        a->int_value = value;
    }
}

/* The string value of key, or NULL. */
static const char *resource_get(const struct resource *res, const char *key)
{
    for (unsigned i = 0; i < res->n_attrs; i++) {
        if (!res->attrs[i].is_int && strcmp(res->attrs[i].key, key) == 0)
            return res->attrs[i].value;
    }
    return NULL;
}

/* Writes a random (version 4) UUID as 36 characters plus NUL. */
static void resource_uuid4(char out[37])
{
    uint8_t b[16] = {0};
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(b)) {
        /* No entropy source: still unique enough per process and time. */
        uint64_t mix = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&b;
        memcpy(b, &mix, sizeof(mix));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void executable_name(char *out, size_t cap)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    path[n] = '\0';
    const char *base = strrchr(path, '/');
    text_copy(out, cap, base != NULL ? base + 1 : path);
}

void resource_build(struct resource *res, const struct argus_config *cfg)
{
    char exe[RESOURCE_VALUE_MAX];
    char host[256];
    char uuid[37];

    memset(res, 0, sizeof(*res));
    executable_name(exe, sizeof(exe));
    set_str(res, "telemetry.sdk.name", "argus-preload");
    set_str(res, "telemetry.sdk.language", "c");
    set_str(res, "telemetry.sdk.version", ARGUS_VERSION);
    set_int(res, "process.pid", (int64_t)getpid());
    if (exe[0] != '\0')
        set_str(res, "process.executable.name", exe);
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        set_str(res, "host.name", host);
    }
    resource_uuid4(uuid);
    set_str(res, "service.instance.id", uuid);

    /* Parsed and checked by the configuration: a malformed variable arrives
     * as an empty list, never half. */
    for (unsigned i = 0; i < cfg->resource_attributes.n; i++)
        set_str(res, cfg->resource_attributes.items[i].key,
                cfg->resource_attributes.items[i].value);

    if (cfg->service_name != NULL && cfg->service_name[0] != '\0') {
        set_str(res, "service.name", cfg->service_name);
    } else if (resource_get(res, "service.name") == NULL) {
        char name[RESOURCE_VALUE_MAX + 32];
        snprintf(name, sizeof(name), "unknown_service%s%s", exe[0] ? ":" : "", exe);
        set_str(res, "service.name", name);
    }
}
