/*
 * otlp.h - OTLP/HTTP protobuf encoding of metrics and spans, and decoding of
 * the collector's answer.
 *
 * Turns a registry snapshot (reg.h) or a batch of finished spans (spans.h),
 * plus the resource (resource.h), into one ExportMetricsServiceRequest or
 * ExportTraceServiceRequest, with the field numbers of the official
 * opentelemetry-proto definitions (export/proto/). The scope is `argus` with
 * the library version. The message graph is built in an arena, packed once
 * into a malloc()ed buffer that the caller frees with free(), and the arena is
 * dropped.
 *
 * Threads: any, no shared state. Returns 0, -ENODATA when there is nothing to
 * send (never an empty envelope), -ENOMEM, or -EFBIG when the packed message
 * would exceed OTLP_MAX_BODY (it is then dropped, as the spec allows).
 */
#ifndef ARGUS_OTLP_H
#define ARGUS_OTLP_H

#include <stddef.h>
#include <stdint.h>

struct reg_snapshot;
struct resource;
struct span;

#define OTLP_MAX_BODY (64u << 20)    /* never send more (pre-compression) */
#define OTLP_MAX_RESPONSE (4u << 20) /* never parse more */

enum otlp_signal {
    OTLP_METRICS = 0,
    OTLP_TRACES,
};

int otlp_encode_metrics(const struct reg_snapshot *snap, const struct resource *res, uint8_t **out,
                        size_t *out_len);

int otlp_encode_spans(const struct span *spans, size_t n_spans, const struct resource *res,
                      uint8_t **out, size_t *out_len);

/* Reads an Export{Metrics,Trace}ServiceResponse. *rejected gets
 * rejected_data_points / rejected_spans (0 when partial_success is unset) and
 * msg its error_message (truncated, NUL-terminated; "" when none). Returns 0,
 * or -EBADMSG when the body does not decode (an empty body is a valid, empty
 * response). */
int otlp_decode_response(enum otlp_signal signal, const uint8_t *body, size_t len,
                         int64_t *rejected, char *msg, size_t msg_cap);

#endif
