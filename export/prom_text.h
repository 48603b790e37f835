/*
 * prom_text.h - a registry snapshot in the Prometheus exposition formats.
 *
 * Owns the rendering rules of the OpenTelemetry "OTLP Metric points to
 * Prometheus" compatibility specification for SDK pull exporters, with the
 * names of prom_name.h, and promises output that promtool accepts:
 *   - colliding label keys' values joined by ';' in key order;
 *   - `otel_scope_name` / `otel_scope_version` labels on every sample;
 *   - the resource as one `target_info` (its labels are the resource
 *     attributes and nothing else; `job` and `instance` are the scraper's);
 *   - HELP and TYPE for every family; text format 0.0.4 or OpenMetrics 1.0.0;
 *   - label values and HELP text escaped, and valid UTF-8 whatever the
 *     snapshot holds (an invalid byte becomes U+FFFD): Prometheus rejects a
 *     whole scrape over one bad byte (invariant 9).
 *
 * Threads: any, one caller per buffer. Ownership: a prom_text_buf owns its
 * bytes until prom_text_buf_take() hands them over (free() them); snapshot
 * and target are borrowed for the call. Functions returning int give 0 or a
 * negative errno.
 */
#ifndef ARGUS_PROM_TEXT_H
#define ARGUS_PROM_TEXT_H

#include <stddef.h>

#include "reg.h"
#include "resource.h"

enum prom_text_format {
    PROM_TEXT_0_0_4 = 0,       /* text/plain; version=0.0.4 */
    PROM_TEXT_OPENMETRICS_1_0, /* application/openmetrics-text; version=1.0.0 */
};

/* The resource and scope rendered with every scrape. resource may be NULL
 * (no target_info); scope_name and scope_version may be NULL (no label). */
struct prom_text_target {
    const struct resource *resource;
    const char *scope_name;
    const char *scope_version;
};

/* A growable output buffer with a hard cap set at init. */
struct prom_text_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    int error; /* 0, or -E2BIG (max reached) / -ENOMEM: data is incomplete */
};

void prom_text_buf_init(struct prom_text_buf *b, size_t max);
void prom_text_buf_fini(struct prom_text_buf *b);
/* Hands the bytes to the caller (free() them; NULL when nothing was written)
 * and leaves b empty. */
char *prom_text_buf_take(struct prom_text_buf *b, size_t *len);

/* Renders a snapshot (NULL = no metrics) in the given format, appending to
 * out. A metric whose Prometheus name collides with an earlier one, or that
 * has no Prometheus form (a delta sum), is left out and said once, as the
 * specification requires. Returns 0, -ENOMEM, or -E2BIG when out's cap was
 * reached. */
int prom_text_render(const struct reg_snapshot *s, const struct prom_text_target *t,
                     enum prom_text_format format, struct prom_text_buf *out);

#endif
