/*
 * spans.h - finished spans and the bounded queue between their producer and
 * the trace exporter.
 *
 * A struct span is a self-contained value: fixed-size arrays and a small
 * string pool, no pointer into anyone's buffer except attribute keys and
 * event names, which must be static strings. The lifecycle tracker (decode
 * thread) fills one with span_init() and the span_set_*() / span_event_*()
 * helpers, then hands a copy to spanq_push(). What does not fit (attributes
 * beyond SPAN_MAX_ATTRS, events beyond SPAN_MAX_EVENTS, strings beyond the
 * pool) is dropped and counted in the span's dropped_* fields, as the SDK's
 * span limits do. The span name, string values and the status message are
 * copied as valid UTF-8 (text.h: an invalid byte becomes U+FFFD), cut
 * between characters to fit (a string value: SPAN_STR_MAX - 1 bytes).
 *
 * The queue (OTEL_BSP_MAX_QUEUE_SIZE slots, allocated once) is the batch span
 * processor's: any Argus thread may push; a push never waits on the exporter
 * (a short mutex around a memcpy) and, when the queue is full, drops the span
 * and counts it (spanq_dropped). Only the trace export thread pops. The slots
 * are calloc()ed, so untouched ones cost no resident memory.
 *
 * Ids and sampling: span_new_trace_id()/span_new_span_id() draw from
 * getrandom(2) (never all zero; safe after fork). span_sampled() is the
 * spec's sampler decision for a root span (parentbased_* behave as their root
 * sampler here, since Argus' spans have no remote parent).
 *
 * Return values: int functions give 0 or a negative errno; the span setters
 * give -ENOSPC when the item was dropped (and counted).
 */
#ifndef ARGUS_SPANS_H
#define ARGUS_SPANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h" /* enum argus_sampler */

#define SPAN_NAME_MAX 64
#define SPAN_STR_MAX 128 /* one string attribute value, NUL included */
#define SPAN_STATUS_MSG_MAX 128
#define SPAN_MAX_ATTRS 16
#define SPAN_MAX_EVENTS 8
#define SPAN_MAX_EVENT_ATTRS 4
#define SPAN_POOL_BYTES 1024 /* string values of the span and its events */

/* = OTLP Span.SpanKind */
enum span_kind {
    SPAN_KIND_INTERNAL = 1,
    SPAN_KIND_SERVER = 2,
    SPAN_KIND_CLIENT = 3,
};

/* = OTLP Status.StatusCode */
enum span_status {
    SPAN_STATUS_UNSET = 0,
    SPAN_STATUS_OK = 1,
    SPAN_STATUS_ERROR = 2,
};

enum span_attr_type {
    SPAN_ATTR_STRING = 0,
    SPAN_ATTR_INT,
};

struct span_attr {
    const char *key; /* static string */
    enum span_attr_type type;
    union {
        struct {
            uint16_t off; /* into span.pool */
            uint16_t len;
        } str;
        int64_t i;
    } v;
};

struct span_event {
    uint64_t time_unix_ns;
    const char *name; /* static string */
    unsigned n_attrs;
    uint32_t dropped_attributes_count;
    struct span_attr attrs[SPAN_MAX_EVENT_ATTRS];
};

struct span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent;
    char name[SPAN_NAME_MAX];
    enum span_kind kind;
    uint64_t start_unix_ns;
    uint64_t end_unix_ns;
    enum span_status status;
    char status_message[SPAN_STATUS_MSG_MAX]; /* only sent with SPAN_STATUS_ERROR */

    unsigned n_attrs;
    uint32_t dropped_attributes_count;
    struct span_attr attrs[SPAN_MAX_ATTRS];

    unsigned n_events;
    uint32_t dropped_events_count;
    struct span_event events[SPAN_MAX_EVENTS];

    uint16_t pool_used;
    char pool[SPAN_POOL_BYTES];
};

/* ---- building a span (the thread that owns it) ------------------------- */

/* Zeroes *s and sets name (copied, truncated), kind and start; draws a new
 * span id. The caller then sets trace_id (span_new_trace_id for a root, the
 * parent's for a child) and, for a child, parent_span_id + has_parent. */
void span_init(struct span *s, const char *name, enum span_kind kind, uint64_t start_unix_ns);

/* Sets an attribute; a key already present is overwritten in place. */
int span_set_str(struct span *s, const char *key, const char *value);
int span_set_int(struct span *s, const char *key, int64_t value);

/* Status; message is copied (truncated) and matters only for ERROR. */
void span_set_status(struct span *s, enum span_status status, const char *message);

/* Appends an event; returns its index (for span_event_set_*) or -ENOSPC. */
int span_add_event(struct span *s, uint64_t time_unix_ns, const char *name);
int span_event_set_str(struct span *s, int event, const char *key, const char *value);
int span_event_set_int(struct span *s, int event, const char *key, int64_t value);

/* The string of a SPAN_ATTR_STRING attribute (not NUL-terminated: use len). */
static inline const char *span_attr_str(const struct span *s, const struct span_attr *a)
{
    return s->pool + a->v.str.off;
}

/* ---- ids, time, sampling (any thread) ---------------------------------- */

void span_new_trace_id(uint8_t out[16]);
void span_new_span_id(uint8_t out[8]);

/* Converts a CLOCK_MONOTONIC timestamp (as captured) to Unix ns, using the
 * current offset between the two clocks. */
uint64_t span_mono_to_unix_ns(uint64_t mono_ns);

/* The sampling decision for a new root trace. traceidratio follows the
 * OpenTelemetry trace SDK's TraceIdRatioBased: the 56 least significant bits
 * of the trace id are compared with the rejection threshold (1 - ratio) * 2^56,
 * so every process decides the same way for one trace id. */
bool span_sampled(enum argus_sampler sampler, double ratio, const uint8_t trace_id[16]);

/* ---- the queue ---------------------------------------------------------- */

struct spanq;

/* capacity: OTEL_BSP_MAX_QUEUE_SIZE (>= 1); batch: OTEL_BSP_MAX_EXPORT_BATCH_SIZE
 * (clamped to capacity), the length at which spanq_wait() returns early.
 * Returns NULL on allocation failure. */
struct spanq *spanq_create(uint32_t capacity, uint32_t batch);
void spanq_destroy(struct spanq *q); /* accepts NULL */

/* Any Argus thread. Copies *s in; 0, or -ENOSPC when the queue is full (the
 * span is dropped and counted). A NULL queue (tracing off) gives -EINVAL. */
int spanq_push(struct spanq *q, const struct span *s);

/* Exporter thread. Moves up to max spans, oldest first, into out[]; returns
 * how many. */
unsigned spanq_pop(struct spanq *q, struct span *out, unsigned max);

/* Exporter thread. Sleeps until the queue holds a full batch, spanq_wake() is
 * called, or timeout_ms passes; returns the queue length. */
size_t spanq_wait(struct spanq *q, uint32_t timeout_ms);
void spanq_wake(struct spanq *q);

size_t spanq_len(struct spanq *q);
/* Spans dropped because the queue was full; 0 for a NULL queue. */
uint64_t spanq_dropped(const struct spanq *q);

#endif
