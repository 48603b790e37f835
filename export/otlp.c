/*
 * otlp.c - see otlp.h.
 *
 * Design. protobuf-c packs from a graph of generated structs that point at
 * each other. Building that graph takes one allocation per message, so it is
 * built in an arena (arena.h) that dies right after the single pack, the way
 * fluent/cmetrics encodes. Strings are not copied: the graph only lives
 * during this call, and the snapshot or spans it points into outlive it
 * (protobuf-c never writes through the non-const char * fields when packing).
 *
 * Presence matters in three places: histogram sum/min/max are proto3
 * `optional` (written as one-field oneofs, see export/proto/metrics.proto),
 * NumberDataPoint.value and AnyValue.value are oneofs. Each sets its case
 * explicitly, so a zero value is still sent. A histogram's min/max are only
 * sent when it counted something.
 */
#include "otlp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "argus_build.h"
#include "arena.h"
#include "metrics_service.pb-c.h"
#include "reg.h"
#include "resource.h"
#include "spans.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Gauge Gauge;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsRequest;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse MetricsResponse;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event SpanEvent;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse TraceResponse;

/* W3C trace flags: sampled; bit 8: "is the parent remote" is known (it is not). */
#define OTLP_SPAN_FLAGS (0x01u | 0x100u)

/* ---- common pieces -------------------------------------------------------- */

static KeyValue *kv_new(struct arena *a, const char *key)
{
    KeyValue *kv = arena_alloc(a, sizeof(*kv));
    AnyValue *v = arena_alloc(a, sizeof(*v));
    if (kv == NULL || v == NULL)
        return NULL;
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    return kv;
}

static KeyValue *kv_str(struct arena *a, const char *key, const char *value)
{
    KeyValue *kv = kv_new(a, key);
    if (kv != NULL) {
        kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        kv->value->string_value = (char *)value;
    }
    return kv;
}

static KeyValue *kv_int(struct arena *a, const char *key, int64_t value)
{
    KeyValue *kv = kv_new(a, key);
    if (kv != NULL) {
        kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        kv->value->int_value = value;
    }
    return kv;
}

static KeyValue *kv_bool(struct arena *a, const char *key, bool value)
{
    KeyValue *kv = kv_new(a, key);
    if (kv != NULL) {
        kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        kv->value->bool_value = value;
    }
    return kv;
}

static Resource *resource_msg(struct arena *a, const struct resource *res)
{
    Resource *r = arena_alloc(a, sizeof(*r));
    KeyValue **attrs = arena_calloc(a, res->n_attrs ? res->n_attrs : 1, sizeof(*attrs));
    if (r == NULL || attrs == NULL)
        return NULL;
    opentelemetry__proto__resource__v1__resource__init(r);
    for (unsigned i = 0; i < res->n_attrs; i++) {
        const struct resource_attr *ra = &res->attrs[i];
        attrs[i] = ra->is_int ? kv_int(a, ra->key, ra->int_value) : kv_str(a, ra->key, ra->value);
        if (attrs[i] == NULL)
            return NULL;
    }
    r->attributes = attrs;
    r->n_attributes = res->n_attrs;
    r->dropped_attributes_count = res->dropped_attributes_count;
    return r;
}

static Scope *scope_msg(struct arena *a)
{
    Scope *s = arena_alloc(a, sizeof(*s));
    if (s == NULL)
        return NULL;
    opentelemetry__proto__common__v1__instrumentation_scope__init(s);
    s->name = "argus";
    s->version = ARGUS_VERSION;
    return s;
}

/* Packs msg into a malloc()ed buffer. */
static int pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > OTLP_MAX_BODY)
        return -EFBIG;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return -ENOMEM;
    protobuf_c_message_pack(msg, buf);
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- metrics --------------------------------------------------------------- */

static KeyValue **point_attrs(struct arena *a, const struct reg_point *p, size_t *n_out)
{
    size_t n = p->n_attrs + (p->overflow ? 1 : 0);
    KeyValue **attrs = arena_calloc(a, n ? n : 1, sizeof(*attrs));
    if (attrs == NULL)
        return NULL;
    for (unsigned i = 0; i < p->n_attrs; i++) {
        attrs[i] = kv_str(a, p->attrs[i].key, p->attrs[i].value);
        if (attrs[i] == NULL)
            return NULL;
    }
    if (p->overflow) {
        attrs[p->n_attrs] = kv_bool(a, REG_OVERFLOW_KEY, true);
        if (attrs[p->n_attrs] == NULL)
            return NULL;
    }
    *n_out = n;
    return attrs;
}

static NumberDataPoint *number_point(struct arena *a, const struct reg_metric_snapshot *m,
                                     const struct reg_point *p)
{
    NumberDataPoint *dp = arena_alloc(a, sizeof(*dp));
    if (dp == NULL)
        return NULL;
    opentelemetry__proto__metrics__v1__number_data_point__init(dp);
    dp->attributes = point_attrs(a, p, &dp->n_attributes);
    if (dp->attributes == NULL)
        return NULL;
    dp->start_time_unix_nano = p->start_ns;
    dp->time_unix_nano = p->time_ns;
    if (m->number == REG_NUMBER_DOUBLE) {
        dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
        dp->as_double = p->value.dbl;
    } else {
        dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        /* sfixed64: a count above INT64_MAX would be centuries of traffic. */
        dp->as_int = p->value.u64 > INT64_MAX ? INT64_MAX : (int64_t)p->value.u64;
    }
    return dp;
}

static HistogramDataPoint *histogram_point(struct arena *a, const struct reg_metric_snapshot *m,
                                           const struct reg_point *p)
{
    HistogramDataPoint *dp = arena_alloc(a, sizeof(*dp));
    if (dp == NULL)
        return NULL;
    opentelemetry__proto__metrics__v1__histogram_data_point__init(dp);
    dp->attributes = point_attrs(a, p, &dp->n_attributes);
    if (dp->attributes == NULL)
        return NULL;
    dp->start_time_unix_nano = p->start_ns;
    dp->time_unix_nano = p->time_ns;
    dp->count = p->count;
    dp->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
    dp->sum = p->sum;
    if (p->count > 0) {
        dp->_min_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MIN_MIN;
        dp->min = p->min;
        dp->_max_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MAX_MAX;
        dp->max = p->max;
    }
    dp->n_bucket_counts = m->n_bounds + 1;
    dp->bucket_counts = (uint64_t *)p->bucket_counts;
    dp->n_explicit_bounds = m->n_bounds;
    dp->explicit_bounds = (double *)m->bounds;
    return dp;
}

/* Each of the three below fills msg's data (its oneof) from the snapshot;
 * false when the arena ran out. */
static bool histogram_data(struct arena *a, const struct reg_metric_snapshot *m, Metric *msg)
{
    Histogram *h = arena_alloc(a, sizeof(*h));
    HistogramDataPoint **dps = arena_calloc(a, m->n_points, sizeof(*dps));
    if (h == NULL || dps == NULL)
        return false;
    opentelemetry__proto__metrics__v1__histogram__init(h);
    for (size_t i = 0; i < m->n_points; i++) {
        dps[i] = histogram_point(a, m, &m->points[i]);
        if (dps[i] == NULL)
            return false;
    }
    h->data_points = dps;
    h->n_data_points = m->n_points;
    h->aggregation_temporality =
        (Opentelemetry__Proto__Metrics__V1__AggregationTemporality)m->temporality;
    msg->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
    msg->histogram = h;
    return true;
}

static NumberDataPoint **number_points(struct arena *a, const struct reg_metric_snapshot *m)
{
    NumberDataPoint **dps = arena_calloc(a, m->n_points, sizeof(*dps));
    for (size_t i = 0; dps != NULL && i < m->n_points; i++) {
        dps[i] = number_point(a, m, &m->points[i]);
        if (dps[i] == NULL)
            return NULL;
    }
    return dps;
}

static bool sum_data(struct arena *a, const struct reg_metric_snapshot *m, Metric *msg)
{
    Sum *s = arena_alloc(a, sizeof(*s));
    NumberDataPoint **dps = number_points(a, m);
    if (s == NULL || dps == NULL)
        return false;
    opentelemetry__proto__metrics__v1__sum__init(s);
    s->data_points = dps;
    s->n_data_points = m->n_points;
    s->aggregation_temporality =
        (Opentelemetry__Proto__Metrics__V1__AggregationTemporality)m->temporality;
    s->is_monotonic = m->monotonic;
    msg->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
    msg->sum = s;
    return true;
}

static bool gauge_data(struct arena *a, const struct reg_metric_snapshot *m, Metric *msg)
{
    Gauge *g = arena_alloc(a, sizeof(*g));
    NumberDataPoint **dps = number_points(a, m);
    if (g == NULL || dps == NULL)
        return false;
    opentelemetry__proto__metrics__v1__gauge__init(g);
    g->data_points = dps;
    g->n_data_points = m->n_points;
    msg->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    msg->gauge = g;
    return true;
}

static Metric *metric_msg(struct arena *a, const struct reg_metric_snapshot *m)
{
    Metric *msg = arena_alloc(a, sizeof(*msg));
    bool ok = false;

    if (msg == NULL)
        return NULL;
    opentelemetry__proto__metrics__v1__metric__init(msg);
    msg->name = (char *)m->name;
    msg->description = (char *)m->description;
    msg->unit = (char *)m->unit;
    switch (m->kind) {
    case REG_HISTOGRAM:
        ok = histogram_data(a, m, msg);
        break;
    case REG_COUNTER:
    case REG_OBSERVABLE_COUNTER:
        ok = sum_data(a, m, msg);
        break;
    case REG_GAUGE:
    case REG_INFO:
        ok = gauge_data(a, m, msg);
        break;
    }
    return ok ? msg : NULL;
}

int otlp_encode_metrics(const struct reg_snapshot *snap, const struct resource *res, uint8_t **out,
                        size_t *out_len)
{
    int rc = -ENOMEM;
    struct arena a;
    arena_init(&a);
    if (snap == NULL || snap->n_points == 0 || snap->n_metrics == 0) {
        rc = -ENODATA;
        goto out;
    }
    MetricsRequest req;
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
    ResourceMetrics *rm = arena_alloc(&a, sizeof(*rm));
    ResourceMetrics **rms = arena_alloc(&a, sizeof(*rms));
    ScopeMetrics *sm = arena_alloc(&a, sizeof(*sm));
    ScopeMetrics **sms = arena_alloc(&a, sizeof(*sms));
    Metric **metrics = arena_calloc(&a, snap->n_metrics, sizeof(*metrics));
    if (rm == NULL || rms == NULL || sm == NULL || sms == NULL || metrics == NULL)
        goto out;
    opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
    opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
    rm->resource = resource_msg(&a, res);
    sm->scope = scope_msg(&a);
    if (rm->resource == NULL || sm->scope == NULL)
        goto out;
    size_t n = 0;
    for (size_t i = 0; i < snap->n_metrics; i++) {
        if (snap->metrics[i].n_points == 0)
            continue;
        metrics[n] = metric_msg(&a, &snap->metrics[i]);
        if (metrics[n] == NULL)
            goto out;
        n++;
    }
    sm->metrics = metrics;
    sm->n_metrics = n;
    sms[0] = sm;
    rm->scope_metrics = sms;
    rm->n_scope_metrics = 1;
    rms[0] = rm;
    req.resource_metrics = rms;
    req.n_resource_metrics = 1;
    rc = pack(&req.base, out, out_len);
out:
    arena_fini(&a);
    return rc;
}

/* ---- traces ---------------------------------------------------------------- */

static KeyValue *span_kv(struct arena *a, const struct span *s, const struct span_attr *sa)
{
    switch (sa->type) {
    case SPAN_ATTR_STRING: {
        char *v = arena_strndup(a, span_attr_str(s, sa), sa->v.str.len);
        return v != NULL ? kv_str(a, sa->key, v) : NULL;
    }
    case SPAN_ATTR_INT:
        return kv_int(a, sa->key, sa->v.i);
    }
    return NULL;
}

static KeyValue **span_kvs(struct arena *a, const struct span *s, const struct span_attr *attrs,
                           unsigned n)
{
    KeyValue **kvs = arena_calloc(a, n ? n : 1, sizeof(*kvs));
    if (kvs == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++) {
        kvs[i] = span_kv(a, s, &attrs[i]);
        if (kvs[i] == NULL)
            return NULL;
    }
    return kvs;
}

static Span *span_msg(struct arena *a, const struct span *s)
{
    Span *m = arena_alloc(a, sizeof(*m));
    Status *st = arena_alloc(a, sizeof(*st));
    SpanEvent **events = arena_calloc(a, s->n_events ? s->n_events : 1, sizeof(*events));
    if (m == NULL || st == NULL || events == NULL)
        return NULL;
    opentelemetry__proto__trace__v1__span__init(m);
    opentelemetry__proto__trace__v1__status__init(st);
    m->trace_id.data = (uint8_t *)s->trace_id;
    m->trace_id.len = sizeof(s->trace_id);
    m->span_id.data = (uint8_t *)s->span_id;
    m->span_id.len = sizeof(s->span_id);
    if (s->has_parent) {
        m->parent_span_id.data = (uint8_t *)s->parent_span_id;
        m->parent_span_id.len = sizeof(s->parent_span_id);
    }
    m->flags = OTLP_SPAN_FLAGS;
    m->name = (char *)s->name;
    m->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
    m->start_time_unix_nano = s->start_unix_ns;
    m->end_time_unix_nano = s->end_unix_ns;
    m->attributes = span_kvs(a, s, s->attrs, s->n_attrs);
    if (m->attributes == NULL)
        return NULL;
    m->n_attributes = s->n_attrs;
    m->dropped_attributes_count = s->dropped_attributes_count;
    for (unsigned i = 0; i < s->n_events; i++) {
        const struct span_event *se = &s->events[i];
        SpanEvent *e = arena_alloc(a, sizeof(*e));
        if (e == NULL)
            return NULL;
        opentelemetry__proto__trace__v1__span__event__init(e);
        e->time_unix_nano = se->time_unix_ns;
        e->name = (char *)(se->name != NULL ? se->name : "");
        e->attributes = span_kvs(a, s, se->attrs, se->n_attrs);
        if (e->attributes == NULL)
            return NULL;
        e->n_attributes = se->n_attrs;
        e->dropped_attributes_count = se->dropped_attributes_count;
        events[i] = e;
    }
    m->events = events;
    m->n_events = s->n_events;
    m->dropped_events_count = s->dropped_events_count;
    st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status;
    /* The spec: the description is only meaningful with ERROR. */
    if (s->status == SPAN_STATUS_ERROR)
        st->message = (char *)s->status_message;
    m->status = st;
    return m;
}

int otlp_encode_spans(const struct span *spans, size_t n_spans, const struct resource *res,
                      uint8_t **out, size_t *out_len)
{
    int rc = -ENOMEM;
    struct arena a;
    arena_init(&a);
    if (n_spans == 0) {
        rc = -ENODATA;
        goto out;
    }
    TraceRequest req;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    ResourceSpans *rs = arena_alloc(&a, sizeof(*rs));
    ResourceSpans **rss = arena_alloc(&a, sizeof(*rss));
    ScopeSpans *ss = arena_alloc(&a, sizeof(*ss));
    ScopeSpans **sss = arena_alloc(&a, sizeof(*sss));
    Span **msgs = arena_calloc(&a, n_spans, sizeof(*msgs));
    if (rs == NULL || rss == NULL || ss == NULL || sss == NULL || msgs == NULL)
        goto out;
    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    rs->resource = resource_msg(&a, res);
    ss->scope = scope_msg(&a);
    if (rs->resource == NULL || ss->scope == NULL)
        goto out;
    for (size_t i = 0; i < n_spans; i++) {
        msgs[i] = span_msg(&a, &spans[i]);
        if (msgs[i] == NULL)
            goto out;
    }
    ss->spans = msgs;
    ss->n_spans = n_spans;
    sss[0] = ss;
    rs->scope_spans = sss;
    rs->n_scope_spans = 1;
    rss[0] = rs;
    req.resource_spans = rss;
    req.n_resource_spans = 1;
    rc = pack(&req.base, out, out_len);
out:
    arena_fini(&a);
    return rc;
}

/* ---- responses ----------------------------------------------------------- */

/* The collector's message ends up in a log line: anything but printable
 * ASCII becomes '?', so it can neither forge a line nor drive a terminal. */
static void copy_msg(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    while (src != NULL && n + 1 < cap && src[n] != '\0') {
        unsigned char c = (unsigned char)src[n];
        dst[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        n++;
    }
    if (cap > 0)
        dst[n] = '\0';
}

int otlp_decode_response(enum otlp_signal signal, const uint8_t *body, size_t len,
                         int64_t *rejected, char *msg, size_t msg_cap)
{
    *rejected = 0;
    copy_msg(msg, msg_cap, "");
    if (len == 0)
        return 0;
    if (len > OTLP_MAX_RESPONSE)
        return -EBADMSG;
    if (signal == OTLP_METRICS) {
        MetricsResponse *r =
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
                NULL, len, body);
        if (r == NULL)
            return -EBADMSG;
        if (r->partial_success != NULL) {
            *rejected = r->partial_success->rejected_data_points;
            copy_msg(msg, msg_cap, r->partial_success->error_message);
        }
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(
            r, NULL);
    } else {
        TraceResponse *r =
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
                NULL, len, body);
        if (r == NULL)
            return -EBADMSG;
        if (r->partial_success != NULL) {
            *rejected = r->partial_success->rejected_spans;
            copy_msg(msg, msg_cap, r->partial_success->error_message);
        }
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
            r, NULL);
    }
    return 0;
}
