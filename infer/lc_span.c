/*
 * lc_span.c - building lifecycle spans (lc_span.h).
 *
 * Times: the capture measures CLOCK_MONOTONIC; spans carry Unix time. Each
 * span samples the clock offset once, at its start, and places its end and
 * its events with that same offset, so a span's duration and its events'
 * offsets are exactly what the capture measured even if the wall clock steps
 * meanwhile.
 *
 * Rejected: keeping span bodies in the lifecycle table. A span is a few KB;
 * the table holds up to ARGUS_MAX_OPEN_LIFECYCLES slots. The entry keeps the
 * answers (a few words each) and the span is built at the end, in one
 * scratch buffer.
 */
#include "lc_span.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void lc_span_init(struct lc_span_builder *b, const struct argus_config *cfg, struct spanq *spans)
{
    b->cfg = cfg;
    b->spans = spans;
}

/* mono_ns in Unix time, by the offset sampled once for the whole span. */
static uint64_t lc_span_unix(uint64_t base_mono_ns, uint64_t base_unix_ns, uint64_t mono_ns)
{
    return mono_ns >= base_mono_ns ? base_unix_ns + (mono_ns - base_mono_ns)
                                   : base_unix_ns - (base_mono_ns - mono_ns);
}

void lc_span_start(const struct lc_span_builder *b, struct lc_entry *e)
{
    if (!b->spans || b->cfg->traces_exporters == 0)
        return;
    span_new_trace_id(e->trace_id);
    e->sampled = span_sampled(b->cfg->sampler, b->cfg->sampler_ratio, e->trace_id);
    if (e->sampled)
        span_new_span_id(e->span_id);
}

/* OpenTelemetry HTTP client convention: 4xx, 5xx and no response are errors. */
static void lc_span_child_status(struct span *s, const struct ev_rest *r)
{
    char error_type[LC_ERROR_TYPE_MAX];
    if (r->status < 400 && r->status != 0)
        return;
    struct lc_answer a = lc_entry_answer_of(r);
    lc_entry_error_type(&a, error_type);
    span_set_str(s, "error.type", error_type);
    span_set_status(s, SPAN_STATUS_ERROR, error_type);
}

void lc_span_push_child(struct lc_span_builder *b, const struct lc_entry *e,
                        const struct ev_rest *r)
{
    struct span *s = &b->scratch;
    char name[SPAN_NAME_MAX];
    if (!e->sampled)
        return;
    /* "POST /channels/{channel_id}/messages"; a long template is cut to fit. */
    snprintf(name, sizeof(name), "%.7s %.*s", r->method, SPAN_NAME_MAX - 9, r->route);
    span_init(s, name, SPAN_KIND_CLIENT, span_mono_to_unix_ns(r->request_ns));
    memcpy(s->trace_id, e->trace_id, sizeof(s->trace_id));
    memcpy(s->parent_span_id, e->span_id, sizeof(s->parent_span_id));
    s->has_parent = true;
    s->end_unix_ns = lc_span_unix(r->request_ns, s->start_unix_ns,
                                  r->response_ns > r->request_ns ? r->response_ns : r->request_ns);
    span_set_str(s, "http.request.method", r->method);
    span_set_str(s, "url.template", r->route);
    if (r->status > 0)
        span_set_int(s, "http.response.status_code", r->status);
    if (r->bucket[0])
        span_set_str(s, "discord.ratelimit.bucket", r->bucket);
    lc_span_child_status(s, r);
    spanq_push(b->spans, s);
}

static void lc_span_answer_event(struct span *s, const struct lc_entry *e, const char *name,
                                 const struct lc_answer *a)
{
    if (!a->request_ns)
        return;
    int ev = span_add_event(s, lc_span_unix(e->start_ns, s->start_unix_ns, a->request_ns), name);
    if (ev < 0)
        return;
    if (a->status > 0)
        span_event_set_int(s, ev, "http.response.status_code", a->status);
    if (a->callback_type >= 0)
        span_event_set_int(s, ev, "discord.callback_type", a->callback_type);
    if (a->code > 0)
        span_event_set_int(s, ev, "discord.error_code", a->code);
}

static const char *lc_span_server_name(const struct lc_entry *e)
{
    if (e->kind == LC_KIND_PREFIX)
        return "discord.command";
    return e->interaction_type == EV_INTERACTION_APPLICATION_COMMAND ? "discord.app_command"
                                                                     : "discord.interaction";
}

/* Which deadline passed, for the discord.timeout event. */
static const char *lc_span_deadline_name(const struct lc_entry *e)
{
    if (e->kind == LC_KIND_PREFIX)
        return "answer";
    return e->initial.request_ns ? "deferred" : "initial_response";
}

static void lc_span_server_attrs(const struct lc_span_builder *b, struct span *s,
                                 const struct lc_entry *e)
{
    if (e->kind == LC_KIND_PREFIX)
        span_set_str(s, "discord.command", e->label);
    else if (e->name[0])
        span_set_str(s, "discord.command", e->name);
    span_set_str(s, "discord.outcome", lc_entry_outcome_name(e->outcome));
    if (e->kind == LC_KIND_INTERACTION)
        span_set_str(s, "discord.interaction_type", lc_entry_type_name(e->interaction_type));
    span_set_str(s, "cluster", b->cfg->cluster);
    if (b->cfg->per_guild && e->guild_id) {
        char guild[24];
        snprintf(guild, sizeof(guild), "%" PRIu64, e->guild_id);
        span_set_str(s, "discord.guild_id", guild);
    }
    if (e->outcome != LC_SUCCESS) {
        span_set_str(s, "error.type", e->error_type);
        span_set_status(s, SPAN_STATUS_ERROR, e->error_type);
    }
}

static void lc_span_server_events(struct span *s, const struct lc_entry *e)
{
    lc_span_answer_event(s, e,
                         e->kind == LC_KIND_PREFIX ? "discord.answer" : "discord.initial_response",
                         &e->initial);
    lc_span_answer_event(s, e, "discord.completion", &e->completion);
    if (e->outcome == LC_TIMEOUT) {
        int ev = span_add_event(s, s->end_unix_ns, "discord.timeout");
        if (ev >= 0)
            span_event_set_str(s, ev, "discord.deadline", lc_span_deadline_name(e));
    }
    lc_span_answer_event(s, e, "discord.late_response", &e->late);
}

void lc_span_push_server(struct lc_span_builder *b, const struct lc_entry *e)
{
    struct span *s = &b->scratch;
    if (!e->sampled)
        return;
    span_init(s, lc_span_server_name(e), SPAN_KIND_SERVER, span_mono_to_unix_ns(e->start_ns));
    memcpy(s->trace_id, e->trace_id, sizeof(s->trace_id));
    memcpy(s->span_id, e->span_id, sizeof(s->span_id));
    s->end_unix_ns = lc_span_unix(e->start_ns, s->start_unix_ns, e->end_ns);
    lc_span_server_attrs(b, s, e);
    lc_span_server_events(s, e);
    spanq_push(b->spans, s);
}
