/* Unit tests for infer/lc.c and infer/lc_gw.c: synthetic event sequences for
 * every outcome, every deadline, eviction, shards, guilds and REST metrics,
 * read back through a cumulative registry snapshot and the span queue. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "argus_build.h"
#include "config.h"
#include "event.h"
#include "lc.h"
#include "reg.h"
#include "spans.h"
#include "check_run.h"

/* ---- fixture -------------------------------------------------------------- */

#define S(x) ((uint64_t)((x)*1e9))                  /* seconds -> ns */
#define T(ms) (S(1000) + (uint64_t)(ms)*1000000ull) /* a monotonic time, in ms */

static const char *const *fake_env;
static struct argus_config cfg;
static struct reg *reg;
static struct reg_reader *reader;
static struct spanq *spans;
static struct lc *lc;
static struct reg_snapshot *snap;

static const char *fake_getenv(const char *name)
{
    for (const char *const *p = fake_env; p && p[0]; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static void start_with(const char *const *env)
{
    fake_env = env;
    argus_config_load(&cfg, fake_getenv);
    ck_assert_uint_eq(cfg.n_problems, 0);
    reg = reg_create(0, cfg.cluster);
    ck_assert_ptr_nonnull(reg);
    spans = spanq_create(256, 256);
    ck_assert_ptr_nonnull(spans);
    lc = lc_create(&cfg, reg, spans);
    ck_assert_ptr_nonnull(lc);
    reader = reg_reader_create(reg, ARGUS_TEMPORALITY_CUMULATIVE);
    ck_assert_ptr_nonnull(reader);
}

static void start(void)
{
    start_with((const char *const[]){"ARGUS_CLUSTER_ID", "c1", NULL});
}

static void stop(void)
{
    reg_snapshot_destroy(snap);
    snap = NULL;
    reg_reader_destroy(reader);
    lc_destroy(lc);
    spanq_destroy(spans);
    ck_assert_int_eq(reg_destroy(reg), 0);
}

static void collect(void)
{
    reg_snapshot_destroy(snap);
    snap = NULL;
    ck_assert_int_eq(reg_collect(reader, &snap), 0);
}

static const struct reg_metric_snapshot *metric(const char *name)
{
    for (size_t i = 0; i < snap->n_metrics; i++) {
        if (strcmp(snap->metrics[i].name, name) == 0)
            return &snap->metrics[i];
    }
    return NULL;
}

/* The point of name whose attributes, `cluster` aside, are exactly the
 * NULL-terminated key/value pairs given; NULL if none. Collects first. */
static const struct reg_point *vpoint(const char *name, va_list ap)
{
    const char *want[2 * REG_MAX_ATTRS];
    unsigned n_want = 0;
    for (const char *k; (k = va_arg(ap, const char *)) != NULL && n_want < 2 * REG_MAX_ATTRS;) {
        want[n_want++] = k;
        want[n_want++] = va_arg(ap, const char *);
    }
    collect();
    const struct reg_metric_snapshot *m = metric(name);
    if (!m)
        return NULL;
    for (size_t p = 0; p < m->n_points; p++) {
        const struct reg_point *pt = &m->points[p];
        unsigned matched = 0, others = 0;
        for (unsigned a = 0; a < pt->n_attrs; a++) {
            if (strcmp(pt->attrs[a].key, "cluster") == 0)
                continue;
            bool found = false;
            for (unsigned w = 0; w < n_want; w += 2) {
                if (strcmp(pt->attrs[a].key, want[w]) == 0 &&
                    strcmp(pt->attrs[a].value, want[w + 1]) == 0)
                    found = true;
            }
            if (found)
                matched++;
            else
                others++;
        }
        if (others == 0 && matched * 2 == n_want)
            return pt;
    }
    return NULL;
}

static const struct reg_point *point(const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    const struct reg_point *pt = vpoint(name, ap);
    va_end(ap);
    return pt;
}

/* A counter's value, 0 when the series does not exist. */
static uint64_t counter(const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    const struct reg_point *pt = vpoint(name, ap);
    va_end(ap);
    return pt ? pt->value.u64 : 0;
}

static size_t n_points(const char *name)
{
    collect();
    const struct reg_metric_snapshot *m = metric(name);
    return m ? m->n_points : 0;
}

/* How many of a counter's series have counted something: series that exist
 * at 0 (issue 13: the outcomes of a command once it is seen) are left out. */
static size_t n_counted(const char *name)
{
    size_t n = 0;
    collect();
    const struct reg_metric_snapshot *m = metric(name);
    for (size_t p = 0; m && p < m->n_points; p++)
        n += m->points[p].value.u64 != 0;
    return n;
}

static const char *attr_of(const struct reg_point *pt, const char *key)
{
    for (unsigned a = 0; a < pt->n_attrs; a++) {
        if (strcmp(pt->attrs[a].key, key) == 0)
            return pt->attrs[a].value;
    }
    return NULL;
}

/* ---- spans ---------------------------------------------------------------- */

static struct span popped[64];
static unsigned n_popped;

static void pop_spans(void)
{
    n_popped = spanq_pop(spans, popped, 64);
}

static const struct span *span_named(const char *name)
{
    for (unsigned i = 0; i < n_popped; i++) {
        if (strcmp(popped[i].name, name) == 0)
            return &popped[i];
    }
    return NULL;
}

static const struct span_attr *span_attr(const struct span *s, const char *key)
{
    for (unsigned i = 0; i < s->n_attrs; i++) {
        if (strcmp(s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    }
    return NULL;
}

static bool span_str_is(const struct span *s, const char *key, const char *value)
{
    const struct span_attr *a = span_attr(s, key);
    return a && a->type == SPAN_ATTR_STRING && a->v.str.len == strlen(value) &&
           memcmp(span_attr_str(s, a), value, a->v.str.len) == 0;
}

static const struct span_event *span_event_named(const struct span *s, const char *name)
{
    for (unsigned i = 0; i < s->n_events; i++) {
        if (strcmp(s->events[i].name, name) == 0)
            return &s->events[i];
    }
    return NULL;
}

static int64_t event_int(const struct span_event *e, const char *key)
{
    for (unsigned i = 0; i < e->n_attrs; i++) {
        if (strcmp(e->attrs[i].key, key) == 0)
            return e->attrs[i].v.i;
    }
    return -1;
}

static unsigned children_of(const struct span *parent)
{
    unsigned n = 0;
    for (unsigned i = 0; i < n_popped; i++) {
        const struct span *c = &popped[i];
        if (c->has_parent && memcmp(c->parent_span_id, parent->span_id, 8) == 0 &&
            memcmp(c->trace_id, parent->trace_id, 16) == 0 && c->kind == SPAN_KIND_CLIENT)
            n++;
    }
    return n;
}

/* ---- events ----------------------------------------------------------------- */

#define APP 2
#define COMPONENT 3
#define AUTOCOMPLETE 4
#define MODAL 5
#define GW_CONN 100
#define REST_CONN 200

static void feed(const struct argus_event *ev)
{
    lc_on_event(ev, lc);
}

static void interaction(uint64_t at_ms, uint64_t id, uint64_t token, int type, const char *name)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = GW_CONN, .t_ns = T(at_ms)};
    ev.u.gw.op = 0;
    ev.u.gw.seq = 5;
    snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "INTERACTION_CREATE");
    ev.u.gw.u.interaction.id = id;
    ev.u.gw.u.interaction.token_hash = token;
    ev.u.gw.u.interaction.type = type;
    ev.u.gw.u.interaction.guild_id = 777;
    snprintf(ev.u.gw.u.interaction.name, EV_NAME_MAX, "%s", name);
    feed(&ev);
}

static struct argus_event rest(const char *method, const char *route, int status, uint64_t req_ms,
                               uint64_t resp_ms)
{
    struct argus_event ev = {.kind = EV_REST, .conn_id = REST_CONN, .t_ns = T(resp_ms)};
    struct ev_rest *r = &ev.u.rest;
    snprintf(r->method, sizeof(r->method), "%s", method);
    snprintf(r->route, sizeof(r->route), "%s", route);
    r->status = status;
    r->request_ns = T(req_ms);
    r->response_ns = T(resp_ms);
    r->reset_after_s = r->retry_after_s = -1;
    r->callback_type = -1;
    r->commands_synced = -1;
    return ev;
}

static void callback(uint64_t req_ms, uint64_t resp_ms, uint64_t id, uint64_t token, int type,
                     int status, int code)
{
    struct argus_event ev =
        rest("POST", "/interactions/{id}/{token}/callback", status, req_ms, resp_ms);
    ev.u.rest.interaction_id = id;
    ev.u.rest.token_hash = token;
    ev.u.rest.callback_type = type;
    ev.u.rest.discord_error_code = code;
    feed(&ev);
}

static void followup(uint64_t req_ms, uint64_t resp_ms, uint64_t token, int status)
{
    struct argus_event ev = rest("POST", "/webhooks/{webhook_id}/{token}", status, req_ms, resp_ms);
    ev.u.rest.webhook_id = 55;
    ev.u.rest.token_hash = token;
    feed(&ev);
}

static void edit_original(uint64_t req_ms, uint64_t resp_ms, uint64_t token, int status)
{
    struct argus_event ev =
        rest("PATCH", "/webhooks/{webhook_id}/{token}/messages/@original", status, req_ms, resp_ms);
    ev.u.rest.webhook_id = 55;
    ev.u.rest.token_hash = token;
    ev.u.rest.is_original_edit = true;
    feed(&ev);
}

static void message(uint64_t at_ms, uint64_t id, uint64_t channel, const char *content, bool bot)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = GW_CONN, .t_ns = T(at_ms)};
    ev.u.gw.op = 0;
    snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "MESSAGE_CREATE");
    ev.u.gw.u.message.id = id;
    ev.u.gw.u.message.channel_id = channel;
    ev.u.gw.u.message.guild_id = 777;
    ev.u.gw.u.message.author_id = 9;
    ev.u.gw.u.message.author_bot = bot;
    size_t len = strlen(content);
    ev.u.gw.u.message.content_len = (uint16_t)(len < EV_CONTENT_HEAD ? len : EV_CONTENT_HEAD);
    memcpy(ev.u.gw.u.message.content_head, content, ev.u.gw.u.message.content_len);
    feed(&ev);
}

static void reply(uint64_t req_ms, uint64_t resp_ms, uint64_t channel, uint64_t ref, int status)
{
    struct argus_event ev =
        rest("POST", "/channels/{channel_id}/messages", status, req_ms, resp_ms);
    ev.u.rest.channel_id = channel;
    ev.u.rest.ref_message_id = ref;
    feed(&ev);
}

static void react(uint64_t req_ms, uint64_t resp_ms, uint64_t channel, uint64_t msg, int status)
{
    struct argus_event ev =
        rest("PUT", "/channels/{channel_id}/messages/{id}/reactions/{emoji}/@me", status, req_ms,
             resp_ms);
    ev.u.rest.channel_id = channel;
    ev.u.rest.message_id = msg;
    ev.u.rest.is_reaction = true;
    feed(&ev);
}

static void gw_send(uint64_t conn, uint64_t at_ms, int op, int shard, int count)
{
    struct argus_event ev = {.kind = EV_GW_SEND, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = op;
    ev.u.gw.seq = -1;
    if (op == 2) {
        ev.u.gw.u.identify.shard_id = shard;
        ev.u.gw.u.identify.shard_count = count;
    }
    feed(&ev);
}

static void gw_recv(uint64_t conn, uint64_t at_ms, int op, const char *t)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = op;
    ev.u.gw.seq = -1;
    snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "%s", t);
    feed(&ev);
}

static void ready(uint64_t conn, uint64_t at_ms, int shard, int count, int guilds)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = 0;
    ev.u.gw.seq = 1;
    snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "READY");
    ev.u.gw.u.ready.user_id = 4242;
    snprintf(ev.u.gw.u.ready.username, sizeof(ev.u.gw.u.ready.username), "argusbot");
    ev.u.gw.u.ready.shard_id = shard;
    ev.u.gw.u.ready.shard_count = count;
    ev.u.gw.u.ready.guild_count = guilds;
    feed(&ev);
}

static void guild(uint64_t conn, uint64_t at_ms, const char *t, uint64_t id, bool unavailable)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = 0;
    snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "%s", t);
    ev.u.gw.u.guild.guild_id = id;
    ev.u.gw.u.guild.unavailable = unavailable;
    feed(&ev);
}

static void close_conn(enum ev_kind kind, uint64_t conn, uint64_t at_ms, int code)
{
    struct argus_event ev = {.kind = kind, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.close.code = code;
    feed(&ev);
}

static double hist_sum(const char *name, const char *k, const char *v)
{
    const struct reg_point *pt = point(name, k, v, NULL);
    return pt ? pt->sum : -1;
}

static uint64_t hist_count(const char *name, const char *k, const char *v)
{
    const struct reg_point *pt = point(name, k, v, NULL);
    return pt ? pt->count : 0;
}

/* ---- application commands ------------------------------------------------------ */

START_TEST(app_command_answered_at_once_succeeds)
{
    start();
    interaction(0, 11, 0xa1, APP, "admin stats");
    ck_assert_uint_eq(counter("discord_interactions_total", "type", "application_command", "status",
                              "received", NULL),
                      1);
    callback(400, 500, 11, 0xa1, 4, 204, 0);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "application_command",
                              "status", "success", NULL),
                      1);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "admin stats", "status", "success", NULL),
        1);
    ck_assert_uint_eq(hist_count("discord_app_command_duration_seconds", "command", "admin stats"),
                      1);
    ck_assert_double_eq_tol(
        hist_sum("discord_app_command_duration_seconds", "command", "admin stats"), 0.5, 1e-9);
    ck_assert_double_eq_tol(
        hist_sum("discord_interaction_response_seconds", "type", "application_command"), 0.4, 1e-9);
    ck_assert_uint_eq(n_points("discord_command_errors_total"), 0);
    const struct reg_point *pt =
        point("discord_app_commands_total", "command", "admin stats", "status", "success", NULL);
    ck_assert_str_eq(attr_of(pt, "cluster"), "c1");

    pop_spans();
    ck_assert_uint_eq(n_popped, 2);
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->kind, SPAN_KIND_SERVER);
    ck_assert(span_str_is(s, "discord.command", "admin stats"));
    ck_assert(span_str_is(s, "discord.outcome", "success"));
    ck_assert(span_str_is(s, "discord.interaction_type", "application_command"));
    ck_assert(span_str_is(s, "cluster", "c1"));
    ck_assert_ptr_null(span_attr(s, "discord.guild_id"));
    ck_assert_ptr_null(span_attr(s, "error.type"));
    ck_assert_int_ne(s->status, SPAN_STATUS_ERROR);
    ck_assert_uint_eq(s->end_unix_ns - s->start_unix_ns, S(0.5));
    const struct span_event *e = span_event_named(s, "discord.initial_response");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(event_int(e, "http.response.status_code"), 204);
    ck_assert_int_eq(event_int(e, "discord.callback_type"), 4);
    ck_assert_uint_eq(children_of(s), 1);
    const struct span *c = span_named("POST /interactions/{id}/{token}/callback");
    ck_assert_ptr_nonnull(c);
    ck_assert(span_str_is(c, "url.template", "/interactions/{id}/{token}/callback"));
    ck_assert(span_str_is(c, "http.request.method", "POST"));
    stop();
}
END_TEST

START_TEST(deferred_answer_completes_at_the_first_followup)
{
    start();
    interaction(0, 12, 0xa2, APP, "report");
    callback(100, 150, 12, 0xa2, 5, 204, 0);
    ck_assert_uint_eq(n_counted("discord_app_commands_total"), 0); /* not complete yet */
    lc_tick(lc, T(4000));                                          /* past 3 s: answered in time */
    ck_assert_uint_eq(n_points("discord_interaction_responses_total"), 0);
    followup(7000, 7200, 0xa2, 200);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "report", "status", "success", NULL), 1);
    ck_assert_double_eq_tol(hist_sum("discord_app_command_duration_seconds", "command", "report"),
                            7.2, 1e-9);
    ck_assert_double_eq_tol(
        hist_sum("discord_interaction_response_seconds", "type", "application_command"), 0.1, 1e-9);
    followup(8000, 8100, 0xa2, 200); /* a second follow-up belongs to nothing now */
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "report", "status", "success", NULL), 1);

    pop_spans();
    ck_assert_uint_eq(n_popped, 3);
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(children_of(s), 2);
    ck_assert_ptr_nonnull(span_event_named(s, "discord.initial_response"));
    const struct span_event *done = span_event_named(s, "discord.completion");
    ck_assert_ptr_nonnull(done);
    ck_assert_int_eq(event_int(done, "http.response.status_code"), 200);
    stop();
}
END_TEST

START_TEST(deferred_answer_completes_at_the_original_edit)
{
    start();
    interaction(0, 13, 0xa3, APP, "slow");
    callback(200, 250, 13, 0xa3, 5, 204, 0);
    edit_original(1500, 1600, 0xa3, 200);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "slow", "status", "success", NULL), 1);
    ck_assert_double_eq_tol(hist_sum("discord_app_command_duration_seconds", "command", "slow"),
                            1.6, 1e-9);
    stop();
}
END_TEST

START_TEST(rejected_callback_is_an_error_with_discords_code)
{
    start();
    interaction(0, 14, 0xa4, APP, "ping");
    callback(1000, 1100, 14, 0xa4, 4, 404, 10062);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "error", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_command_errors_total", "command", "ping", "error_type", "10062", NULL), 1);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "application_command",
                              "status", "error", NULL),
                      1);
    /* Without a JSON code the status stands in. */
    interaction(2000, 15, 0xa5, APP, "ping");
    callback(2100, 2200, 15, 0xa5, 4, 500, 0);
    ck_assert_uint_eq(
        counter("discord_command_errors_total", "command", "ping", "error_type", "http_500", NULL),
        1);

    pop_spans();
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->status, SPAN_STATUS_ERROR);
    ck_assert(span_str_is(s, "error.type", "10062"));
    ck_assert(span_str_is(s, "discord.outcome", "error"));
    stop();
}
END_TEST

START_TEST(late_callback_keeps_timeout_and_becomes_a_span_event)
{
    start();
    interaction(0, 16, 0xa6, APP, "ping");
    lc_tick(lc, T(4999)); /* 3 s passed, but an answer may still be in flight */
    ck_assert_uint_eq(n_counted("discord_app_commands_total"), 0);
    lc_tick(lc, T(5001));
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_command_errors_total", "command", "ping", "error_type", "timeout", NULL),
        1);
    ck_assert_double_eq_tol(hist_sum("discord_app_command_duration_seconds", "command", "ping"),
                            3.0, 1e-9);
    pop_spans();
    ck_assert_uint_eq(n_popped, 0); /* held for a late answer */

    callback(6000, 6100, 16, 0xa6, 4, 404, 10062);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(n_points("discord_command_errors_total"), 1); /* no 10062 error added */
    ck_assert_double_eq_tol(
        hist_sum("discord_interaction_response_seconds", "type", "application_command"), 6.0, 1e-9);
    pop_spans();
    ck_assert_uint_eq(n_popped, 2);
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert(span_str_is(s, "discord.outcome", "timeout"));
    ck_assert(span_str_is(s, "error.type", "timeout"));
    ck_assert_uint_eq(s->end_unix_ns - s->start_unix_ns, S(3));
    const struct span_event *late = span_event_named(s, "discord.late_response");
    ck_assert_ptr_nonnull(late);
    ck_assert_int_eq(event_int(late, "http.response.status_code"), 404);
    ck_assert_int_eq(event_int(late, "discord.error_code"), 10062);
    ck_assert_ptr_null(span_event_named(s, "discord.initial_response"));
    ck_assert_uint_eq(children_of(s), 1);
    stop();
}
END_TEST

START_TEST(callback_written_in_time_counts_even_if_answered_after_3s)
{
    start();
    interaction(0, 17, 0xa7, APP, "ping");
    callback(2900, 3400, 17, 0xa7, 4, 204, 0);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "success", NULL), 1);
    /* Written after 3 s but seen before the tick decided: still a timeout. */
    interaction(10000, 18, 0xa8, APP, "ping");
    callback(13500, 13600, 18, 0xa8, 4, 404, 10062);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "error", NULL), 0);
    pop_spans();
    const struct span *late = NULL;
    for (unsigned i = 0; i < n_popped; i++) {
        if (strcmp(popped[i].name, "discord.app_command") == 0 &&
            span_str_is(&popped[i], "discord.outcome", "timeout"))
            late = &popped[i];
    }
    ck_assert_ptr_nonnull(late);
    ck_assert_ptr_nonnull(span_event_named(late, "discord.late_response"));
    stop();
}
END_TEST

START_TEST(never_answered_times_out_and_its_span_waits_for_the_window)
{
    start();
    interaction(0, 19, 0xa9, APP, "ping");
    lc_tick(lc, T(5000) + 1);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "application_command",
                              "status", "timeout", NULL),
                      1);
    ck_assert_uint_eq(
        hist_count("discord_interaction_response_seconds", "type", "application_command"), 0);
    lc_tick(lc, T(5000) + LC_LATE_ANSWER_WINDOW_NS);
    pop_spans();
    ck_assert_uint_eq(n_popped, 0);
    lc_tick(lc, T(5000) + LC_LATE_ANSWER_WINDOW_NS + 1);
    pop_spans();
    ck_assert_uint_eq(n_popped, 1);
    ck_assert(span_str_is(&popped[0], "discord.outcome", "timeout"));
    ck_assert_ptr_nonnull(span_event_named(&popped[0], "discord.timeout"));
    ck_assert_uint_eq(popped[0].end_unix_ns - popped[0].start_unix_ns, S(3));
    /* A callback after the span left matches nothing. */
    callback(40000, 40100, 19, 0xa9, 4, 404, 10062);
    pop_spans();
    ck_assert_uint_eq(n_popped, 0);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    stop();
}
END_TEST

START_TEST(deferred_never_completed_times_out_after_the_deferred_timeout)
{
    start_with((const char *const[]){"ARGUS_DEFERRED_TIMEOUT_S", "60", NULL});
    interaction(0, 20, 0xaa, APP, "export");
    callback(500, 600, 20, 0xaa, 5, 204, 0);
    lc_tick(lc, T(61999));
    ck_assert_uint_eq(n_counted("discord_app_commands_total"), 0);
    lc_tick(lc, T(62001));
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "export", "status", "timeout", NULL), 1);
    const struct reg_point *pt =
        point("discord_app_command_duration_seconds", "command", "export", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_double_eq_tol(pt->sum, 60.0, 1e-9);
    ck_assert_uint_eq(pt->bucket_counts[8], 1); /* (10, +Inf] */
    /* The late follow-up is an event, not a success. */
    followup(63000, 63100, 0xaa, 200);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "export", "status", "success", NULL), 0);
    pop_spans();
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(span_event_named(s, "discord.initial_response"));
    ck_assert_ptr_nonnull(span_event_named(s, "discord.late_response"));
    ck_assert_uint_eq(children_of(s), 2);
    stop();
}
END_TEST

START_TEST(a_429_on_the_callback_waits_for_the_retry)
{
    start();
    interaction(0, 21, 0xab, APP, "ping");
    callback(100, 200, 21, 0xab, 4, 429, 0);
    ck_assert_uint_eq(n_counted("discord_app_commands_total"), 0);
    callback(1200, 1300, 21, 0xab, 4, 204, 0);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "success", NULL), 1);
    ck_assert_double_eq_tol(
        hist_sum("discord_interaction_response_seconds", "type", "application_command"), 1.2, 1e-9);
    stop();
}
END_TEST

START_TEST(a_replayed_dispatch_counts_once)
{
    start();
    interaction(0, 23, 0xad, APP, "ping");
    interaction(10, 23, 0xad, APP, "ping"); /* still open */
    callback(100, 200, 23, 0xad, 4, 204, 0);
    interaction(5000, 23, 0xad, APP, "ping"); /* replayed after a RESUME */
    message(5100, 570, 68, "!ping", false);
    reply(5200, 5300, 68, 570, 200);
    message(5400, 570, 68, "!ping", false);
    lc_tick(lc, T(20000));
    ck_assert_uint_eq(counter("discord_interactions_total", "type", "application_command", "status",
                              "received", NULL),
                      1);
    ck_assert_uint_eq(n_counted("discord_app_commands_total"), 1);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "ping", "status", "success", NULL), 1);
    ck_assert_uint_eq(n_counted("discord_commands_total"), 1);
    stop();
}
END_TEST

/* ---- other interaction types ------------------------------------------------------ */

START_TEST(components_modals_and_autocomplete_are_counted_by_type)
{
    start();
    interaction(0, 30, 0xb0, COMPONENT, "");
    callback(100, 150, 30, 0xb0, 7, 204, 0);
    interaction(200, 31, 0xb1, COMPONENT, "");
    callback(300, 350, 31, 0xb1, 6, 204, 0); /* deferred update */
    edit_original(900, 1000, 0xb1, 200);
    interaction(1000, 32, 0xb2, MODAL, "");
    callback(1100, 1150, 32, 0xb2, 4, 204, 0);
    interaction(1200, 33, 0xb3, AUTOCOMPLETE, "search");
    callback(1250, 1300, 33, 0xb3, 8, 204, 0);
    interaction(1400, 34, 0xb4, AUTOCOMPLETE, "search");
    lc_tick(lc, T(6500));

    ck_assert_uint_eq(
        counter("discord_interactions_total", "type", "component", "status", "received", NULL), 2);
    ck_assert_uint_eq(
        counter("discord_interactions_total", "type", "modal_submit", "status", "received", NULL),
        1);
    ck_assert_uint_eq(
        counter("discord_interactions_total", "type", "autocomplete", "status", "received", NULL),
        2);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "component", "status",
                              "success", NULL),
                      2);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "modal_submit",
                              "status", "success", NULL),
                      1);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "autocomplete",
                              "status", "success", NULL),
                      1);
    ck_assert_uint_eq(counter("discord_interaction_responses_total", "type", "autocomplete",
                              "status", "timeout", NULL),
                      1);
    ck_assert_uint_eq(hist_count("discord_interaction_response_seconds", "type", "component"), 2);
    ck_assert_uint_eq(hist_count("discord_interaction_response_seconds", "type", "autocomplete"),
                      1);
    /* Only type 2 is an application command. */
    ck_assert_uint_eq(n_points("discord_app_commands_total"), 0);
    ck_assert_uint_eq(n_points("discord_command_errors_total"), 0);

    lc_tick(lc, T(6500) + LC_LATE_ANSWER_WINDOW_NS + 1);
    pop_spans();
    unsigned servers = 0, autocomplete = 0;
    for (unsigned i = 0; i < n_popped; i++) {
        if (popped[i].kind != SPAN_KIND_SERVER)
            continue;
        servers++;
        ck_assert_str_eq(popped[i].name, "discord.interaction");
        autocomplete += span_str_is(&popped[i], "discord.interaction_type", "autocomplete");
    }
    ck_assert_uint_eq(servers, 3); /* two components and the modal; no autocomplete */
    ck_assert_uint_eq(autocomplete, 0);
    ck_assert_uint_eq(n_popped, 3 + 4); /* 4 REST children: 3 callbacks + 1 edit */
    stop();
}
END_TEST

/* ---- prefix commands -------------------------------------------------------------- */

START_TEST(prefix_command_succeeds_at_a_reply_referencing_it)
{
    start();
    message(0, 500, 60, "!ping please", false);
    message(10, 501, 60, "!ping", true);  /* bots are ignored */
    message(20, 502, 60, "hello", false); /* not a command */
    reply(300, 400, 60, 500, 200);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "ping", "status", "success", NULL), 1);
    ck_assert_double_eq_tol(hist_sum("discord_command_duration_seconds", "command", "ping"), 0.4,
                            1e-9);
    ck_assert_uint_eq(n_counted("discord_commands_total"), 1);
    pop_spans();
    const struct span *s = span_named("discord.command");
    ck_assert_ptr_nonnull(s);
    ck_assert(span_str_is(s, "discord.command", "ping"));
    ck_assert(span_str_is(s, "discord.outcome", "success"));
    ck_assert_ptr_null(span_attr(s, "discord.interaction_type"));
    ck_assert_uint_eq(children_of(s), 1);
    ck_assert_ptr_nonnull(span_event_named(s, "discord.answer"));
    stop();
}
END_TEST

START_TEST(prefix_command_succeeds_at_the_next_message_in_its_channel)
{
    start();
    message(0, 510, 61, "!help", false);
    message(100, 511, 62, "!help", false);
    reply(500, 600, 62, 0, 200); /* channel 62: the second command */
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "help", "status", "success", NULL), 1);
    ck_assert_double_eq_tol(hist_sum("discord_command_duration_seconds", "command", "help"), 0.5,
                            1e-9);
    reply(700, 800, 61, 0, 403); /* channel 61 answered, rejected */
    ck_assert_uint_eq(counter("discord_commands_total", "command", "help", "status", "error", NULL),
                      1);
    ck_assert_uint_eq(
        counter("discord_command_errors_total", "command", "help", "error_type", "http_403", NULL),
        1);
    stop();
}
END_TEST

START_TEST(prefix_command_succeeds_at_a_reaction_on_it)
{
    start();
    message(0, 520, 63, "!vote yes", false);
    react(250, 300, 63, 520, 204);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "vote", "status", "success", NULL), 1);
    pop_spans();
    const struct span *s = span_named("discord.command");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(children_of(s), 1);
    stop();
}
END_TEST

START_TEST(prefix_command_times_out_and_stays_unknown_until_answered)
{
    start();
    message(0, 530, 64, "!foo", false);
    lc_tick(lc, T(11999));
    ck_assert_uint_eq(n_points("discord_commands_total"), 0);
    lc_tick(lc, T(12001));
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "_unknown", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(counter("discord_command_errors_total", "command", "_unknown", "error_type",
                              "timeout", NULL),
                      1);
    ck_assert_double_eq_tol(hist_sum("discord_command_duration_seconds", "command", "_unknown"),
                            10.0, 1e-9);
    message(20000, 531, 64, "!FOO", false);
    reply(20100, 20200, 64, 531, 200);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "foo", "status", "success", NULL), 1);
    message(30000, 532, 64, "!foo", false);
    lc_tick(lc, T(42001));
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "foo", "status", "timeout", NULL), 1);
    stop();
}
END_TEST

START_TEST(prefix_labels_are_bounded_and_mentions_count)
{
    start_with(
        (const char *const[]){"ARGUS_MAX_PREFIX_COMMANDS", "2", "ARGUS_PREFIX", "!,?", NULL});
    ready(GW_CONN, 0, -1, 0, 0); /* the bot's id, for mentions */
    const char *msgs[] = {"!one", "?two", "!three", "<@4242> one", "!bad.name", "<@99> one"};
    for (unsigned i = 0; i < 6; i++) {
        message(1000 + 100 * i, 540 + i, 65, msgs[i], false);
        reply(1050 + 100 * i, 1060 + 100 * i, 65, 540 + i, 200);
    }
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "one", "status", "success", NULL), 2);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "two", "status", "success", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "_other", "status", "success", NULL), 2);
    ck_assert_uint_eq(n_counted("discord_commands_total"), 3); /* "<@99> one" is no command */
    stop();
}
END_TEST

START_TEST(prefix_allow_list_replaces_inference)
{
    start_with((const char *const[]){"ARGUS_PREFIX_COMMANDS", "ping,Stats", NULL});
    message(0, 550, 66, "!stats", false);
    reply(100, 200, 66, 550, 200);
    message(300, 551, 66, "!hello", false);
    reply(400, 500, 66, 551, 200);
    message(600, 552, 66, "!ping", false);
    lc_tick(lc, T(12601));
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "stats", "status", "success", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "_other", "status", "success", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    stop();
}
END_TEST

START_TEST(a_second_reply_to_an_ended_command_answers_no_other)
{
    start();
    message(0, 560, 67, "!help", false);
    reply(100, 200, 67, 560, 200);
    message(300, 561, 67, "!slow", false);
    reply(400, 500, 67, 560, 200); /* help's second message, not slow's answer */
    ck_assert_uint_eq(n_counted("discord_commands_total"), 1);
    reply(600, 700, 67, 999, 200); /* a reply quoting another message answers slow */
    ck_assert_uint_eq(
        counter("discord_commands_total", "command", "slow", "status", "success", NULL), 1);
    stop();
}
END_TEST

START_TEST(a_late_deferral_keeps_timeout_and_records_its_completion)
{
    start();
    interaction(0, 22, 0xac, APP, "slowpoke");
    callback(3500, 3600, 22, 0xac, 5, 204, 0); /* Discord accepted it here */
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "slowpoke", "status", "timeout", NULL), 1);
    pop_spans();
    ck_assert_uint_eq(n_popped, 1); /* the callback child; the server span waits */
    followup(5000, 5100, 0xac, 200);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "slowpoke", "status", "success", NULL), 0);
    pop_spans();
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(span_event_named(s, "discord.late_response"));
    ck_assert_ptr_nonnull(span_event_named(s, "discord.completion"));
    ck_assert(span_str_is(s, "discord.outcome", "timeout"));
    stop();
}
END_TEST

/* ---- bounds, exit ------------------------------------------------------------------ */

START_TEST(a_full_table_evicts_the_oldest_and_counts_it)
{
    start_with((const char *const[]){"ARGUS_MAX_OPEN_LIFECYCLES", "16", NULL});
    for (uint64_t i = 0; i < 17; i++)
        interaction(i, 1000 + i, 0xc000 + i, APP, "ping");
    ck_assert_uint_eq(counter("argus_timers_evicted_total", NULL), 1);
    callback(100, 200, 1000, 0xc000, 4, 204, 0); /* the evicted one: unknown now */
    callback(100, 200, 1016, 0xc010, 4, 204, 0);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "success", NULL), 1);
    lc_tick(lc, T(6000));
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 15);
    /* Timed-out lifecycles waiting for late answers make room without an
     * eviction. */
    for (uint64_t i = 0; i < 16; i++)
        interaction(7000 + i, 2000 + i, 0xd000 + i, APP, "ping");
    ck_assert_uint_eq(counter("argus_timers_evicted_total", NULL), 1);
    stop();
}
END_TEST

START_TEST(shutdown_abandons_what_is_still_open)
{
    start();
    interaction(0, 40, 0xe0, APP, "ping");
    interaction(3500, 41, 0xe1, APP, "ping");
    message(3600, 600, 70, "!x", false);
    lc_tick(lc, T(3600)); /* first one past its deadline, not yet decided */
    lc_shutdown(lc);
    ck_assert_uint_eq(counter("argus_lifecycles_abandoned_total", NULL), 2);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(n_points("discord_commands_total"), 0);
    pop_spans();
    ck_assert_uint_eq(n_popped, 1);
    lc_shutdown(lc);
    callback(3700, 3800, 41, 0xe1, 4, 204, 0);
    ck_assert_uint_eq(counter("argus_lifecycles_abandoned_total", NULL), 2);
    ck_assert_uint_eq(n_points("discord_interaction_responses_total"), 1);
    stop();
}
END_TEST

/* Issue 13: a span held for a late answer is not lost at exit. lc_shutdown()
 * pushes every held span with the outcome known then (timeout) and the late
 * answers seen so far, and counts none of them as abandoned. */
START_TEST(shutdown_sends_every_span_held_for_a_late_answer)
{
    start();
    interaction(0, 42, 0xe2, APP, "ping");
    interaction(100, 43, 0xe3, APP, "export");
    lc_tick(lc, T(5200)); /* both timed out: held for LC_LATE_ANSWER_WINDOW_NS */
    callback(6000, 6100, 43, 0xe3, 5, 204, 0); /* a late deferral: still held */
    pop_spans();
    ck_assert_uint_eq(n_popped, 1); /* the callback's child only */
    lc_shutdown(lc);
    pop_spans();
    ck_assert_uint_eq(n_popped, 2);
    for (unsigned i = 0; i < n_popped; i++) {
        ck_assert(span_str_is(&popped[i], "discord.outcome", "timeout"));
        ck_assert_ptr_nonnull(span_event_named(&popped[i], "discord.timeout"));
    }
    const struct span *late = NULL;
    for (unsigned i = 0; i < n_popped; i++) {
        if (span_str_is(&popped[i], "discord.command", "export"))
            late = &popped[i];
    }
    ck_assert_ptr_nonnull(late);
    ck_assert_ptr_nonnull(span_event_named(late, "discord.late_response"));
    ck_assert_uint_eq(counter("argus_lifecycles_abandoned_total", NULL), 0);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "timeout", NULL), 1);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "export", "status", "timeout", NULL), 1);
    stop();
}
END_TEST

/* ---- series that start at 0 (issue 13) --------------------------------------------- */

/* The value of a series that must exist; UINT64_MAX when it does not, so an
 * absent series never passes for a 0. */
static uint64_t existing(const char *name, const char *k1, const char *v1, const char *k2,
                         const char *v2)
{
    const struct reg_point *pt = k2   ? point(name, k1, v1, k2, v2, NULL)
                                 : k1 ? point(name, k1, v1, NULL)
                                      : point(name, NULL);
    return pt ? pt->value.u64 : UINT64_MAX;
}

START_TEST(error_and_drop_counters_start_at_zero)
{
    start();
    const char *stages[] = {"http", "ws", "inflate", "gateway", "capture"};
    for (unsigned i = 0; i < 5; i++)
        ck_assert_uint_eq(existing("argus_decode_errors_total", "stage", stages[i], NULL, NULL), 0);
    ck_assert_uint_eq(existing("argus_timers_evicted_total", NULL, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(existing("argus_lifecycles_abandoned_total", NULL, NULL, NULL, NULL), 0);
    struct argus_event ev = {.kind = EV_DECODE_ERROR, .conn_id = 5, .t_ns = T(0)};
    ev.u.decode_error.stage = "ws";
    feed(&ev);
    ck_assert_uint_eq(existing("argus_decode_errors_total", "stage", "ws", NULL, NULL), 1);
    ck_assert_uint_eq(existing("argus_decode_errors_total", "stage", "http", NULL, NULL), 0);
    stop();
}
END_TEST

START_TEST(a_seen_app_command_exports_every_outcome_from_zero)
{
    start();
    interaction(0, 90, 0x4f0, APP, "admin stats");
    const char *statuses[] = {"success", "error", "timeout"};
    for (unsigned i = 0; i < 3; i++)
        ck_assert_uint_eq(
            existing("discord_app_commands_total", "command", "admin stats", "status", statuses[i]),
            0);
    interaction(10, 91, 0x4f1, APP, ""); /* no name: the _unknown label */
    ck_assert_uint_eq(
        existing("discord_app_commands_total", "command", "_unknown", "status", "timeout"), 0);
    interaction(20, 92, 0x4f2, COMPONENT, ""); /* not an application command */
    ck_assert_uint_eq(n_points("discord_app_commands_total"), 6);
    callback(100, 200, 90, 0x4f0, 4, 204, 0);
    ck_assert_uint_eq(
        existing("discord_app_commands_total", "command", "admin stats", "status", "success"), 1);
    ck_assert_uint_eq(
        existing("discord_app_commands_total", "command", "admin stats", "status", "error"), 0);
    ck_assert_uint_eq(
        existing("discord_app_commands_total", "command", "admin stats", "status", "timeout"), 0);
    stop();
}
END_TEST

/* A prefix label is decided when its command ends (lc_prefix.h): its other
 * outcomes appear at 0 with its first one, and nothing before. */
START_TEST(a_prefix_command_exports_every_outcome_once_labelled)
{
    start();
    message(0, 610, 71, "!ping", false);
    ck_assert_uint_eq(n_points("discord_commands_total"), 0);
    reply(100, 200, 71, 610, 200);
    ck_assert_uint_eq(existing("discord_commands_total", "command", "ping", "status", "success"),
                      1);
    ck_assert_uint_eq(existing("discord_commands_total", "command", "ping", "status", "error"), 0);
    ck_assert_uint_eq(existing("discord_commands_total", "command", "ping", "status", "timeout"),
                      0);
    ck_assert_uint_eq(n_points("discord_commands_total"), 3);
    stop();
}
END_TEST

START_TEST(a_shard_that_identified_has_reconnects_from_zero)
{
    start();
    gw_send(1, 0, 1, 0, 0); /* a heartbeat before IDENTIFY names no shard */
    ck_assert_uint_eq(n_points("discord_shard_reconnects_total"), 0);
    gw_send(1, 5, 2, -1, 0); /* unsharded: shard 0 */
    ck_assert_uint_eq(existing("discord_shard_reconnects_total", "shard", "0", NULL, NULL), 0);
    ready(2, 10, 3, 4, 0); /* a READY whose IDENTIFY Argus missed */
    ck_assert_uint_eq(existing("discord_shard_reconnects_total", "shard", "3", NULL, NULL), 0);
    /* A close code is unknown until the disconnect: no 0 there. */
    ck_assert_uint_eq(n_points("discord_shard_disconnects_total"), 0);
    ready(1, 100, -1, 0, 2);
    close_conn(EV_CONN_CLOSE, 1, 5000, 1006);
    gw_send(4, 6000, 6, 0, 0); /* RESUME of shard 0 */
    ck_assert_uint_eq(existing("discord_shard_reconnects_total", "shard", "0", NULL, NULL), 1);
    ck_assert_uint_eq(n_points("discord_shard_reconnects_total"), 2);
    stop();
}
END_TEST

/* ---- spans: sampling, guild ----------------------------------------------------------- */

START_TEST(spans_follow_the_sampler_and_the_per_guild_switch)
{
    start_with((const char *const[]){"OTEL_TRACES_SAMPLER", "always_off", NULL});
    interaction(0, 50, 0xf0, APP, "ping");
    callback(100, 200, 50, 0xf0, 4, 204, 0);
    ck_assert_uint_eq(spanq_len(spans), 0);
    ck_assert_uint_eq(
        counter("discord_app_commands_total", "command", "ping", "status", "success", NULL), 1);
    stop();

    start_with((const char *const[]){"OTEL_TRACES_EXPORTER", "none", NULL});
    interaction(0, 50, 0xf0, APP, "ping");
    callback(100, 200, 50, 0xf0, 4, 204, 0);
    ck_assert_uint_eq(spanq_len(spans), 0);
    stop();

    start_with((const char *const[]){"ARGUS_ENABLE_PER_GUILD", "true", NULL});
    interaction(0, 50, 0xf0, APP, "ping");
    callback(100, 200, 50, 0xf0, 4, 204, 0);
    pop_spans();
    const struct span *s = span_named("discord.app_command");
    ck_assert_ptr_nonnull(s);
    ck_assert(span_str_is(s, "discord.guild_id", "777"));
    stop();
}
END_TEST

/* ---- shards and guilds ------------------------------------------------------------------ */

START_TEST(shard_latency_is_heartbeat_to_ack_per_connection)
{
    start();
    gw_send(GW_CONN, 0, 1, 0, 0); /* discord.py beats on HELLO, before IDENTIFY */
    gw_send(GW_CONN, 5, 2, 3, 4);
    gw_recv(GW_CONN, 60, 11, "");
    ck_assert_uint_eq(n_points("discord_shard_latency_seconds"), 1);
    const struct reg_point *pt = point("discord_shard_latency_seconds", "shard", "3", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_double_eq_tol(pt->value.dbl, 0.060, 1e-9);
    ready(GW_CONN, 100, 3, 4, 0);
    gw_send(GW_CONN, 41000, 1, 0, 0);
    gw_recv(GW_CONN, 41042, 11, "");
    pt = point("discord_shard_latency_seconds", "shard", "3", NULL);
    ck_assert_double_eq_tol(pt->value.dbl, 0.042, 1e-9);
    ck_assert_uint_eq(point("discord_shard_up", "shard", "3", NULL)->value.u64, 1);
    ck_assert_uint_eq(point("discord_shards_connected", NULL)->value.u64, 1);
    ck_assert_uint_eq(point("discord_shards_configured", NULL)->value.u64, 4);
    ck_assert_str_eq(attr_of(point("discord_shards_connected", NULL), "cluster"), "c1");
    /* An ACK with no beat outstanding changes nothing. */
    gw_recv(GW_CONN, 42000, 11, "");
    ck_assert_double_eq_tol(point("discord_shard_latency_seconds", "shard", "3", NULL)->value.dbl,
                            0.042, 1e-9);
    stop();
}
END_TEST

START_TEST(disconnects_and_reconnects_follow_the_connections)
{
    start();
    gw_send(1, 0, 2, -1, 0); /* unsharded: shard 0 */
    ready(1, 100, -1, 0, 2);
    close_conn(EV_WS_CLOSE, 1, 5000, 4000);
    close_conn(EV_CONN_CLOSE, 1, 5001, 4000);
    ck_assert_uint_eq(
        counter("discord_shard_disconnects_total", "shard", "0", "code", "4000", NULL), 1);
    ck_assert_uint_eq(point("discord_shard_up", "shard", "0", NULL)->value.u64, 0);
    ck_assert_uint_eq(point("discord_shards_connected", NULL)->value.u64, 0);

    gw_send(2, 6000, 6, 0, 0); /* RESUME on a new connection */
    ck_assert_uint_eq(counter("discord_shard_reconnects_total", "shard", "0", NULL), 1);
    gw_recv(2, 6100, 0, "RESUMED");
    ck_assert_uint_eq(point("discord_shard_up", "shard", "0", NULL)->value.u64, 1);
    close_conn(EV_CONN_CLOSE, 2, 9000, 1006); /* no close frame */
    ck_assert_uint_eq(
        counter("discord_shard_disconnects_total", "shard", "0", "code", "1006", NULL), 1);

    gw_send(3, 10000, 2, -1, 0); /* a fresh IDENTIFY for a shard that was up */
    ck_assert_uint_eq(counter("discord_shard_reconnects_total", "shard", "0", NULL), 2);
    ready(3, 10100, -1, 0, 2);
    ck_assert_uint_eq(point("discord_shard_up", "shard", "0", NULL)->value.u64, 1);
    /* A socket that never identified is no shard's disconnect. */
    close_conn(EV_CONN_CLOSE, 4, 11000, 1006);
    ck_assert_uint_eq(n_points("discord_shard_disconnects_total"), 2);
    ck_assert_uint_eq(counter("discord_gateway_events_total", "event", "READY", NULL), 2);
    ck_assert_uint_eq(counter("discord_gateway_events_total", "event", "RESUMED", NULL), 1);
    stop();
}
END_TEST

START_TEST(guild_count_follows_ready_and_guild_events)
{
    start();
    ck_assert_uint_eq(n_points("discord_guilds"), 0);
    gw_send(GW_CONN, 0, 2, 0, 1);
    ready(GW_CONN, 10, 0, 1, 3);
    ck_assert_uint_eq(point("discord_guilds", NULL)->value.u64, 3); /* before GUILD_CREATEs */
    for (uint64_t g = 1; g <= 3; g++)
        guild(GW_CONN, 20 + g, "GUILD_CREATE", g, false);
    ck_assert_uint_eq(point("discord_guilds", NULL)->value.u64, 3);
    guild(GW_CONN, 30, "GUILD_CREATE", 4, false); /* joined */
    guild(GW_CONN, 31, "GUILD_CREATE", 4, false); /* seen again */
    ck_assert_uint_eq(point("discord_guilds", NULL)->value.u64, 4);
    guild(GW_CONN, 40, "GUILD_DELETE", 2, true); /* outage: still a guild */
    ck_assert_uint_eq(point("discord_guilds", NULL)->value.u64, 4);
    guild(GW_CONN, 50, "GUILD_DELETE", 2, false); /* removed */
    guild(GW_CONN, 51, "GUILD_DELETE", 4, false);
    ck_assert_uint_eq(point("discord_guilds", NULL)->value.u64, 2);
    ck_assert_str_eq(attr_of(point("discord_guilds", NULL), "cluster"), "c1");
    stop();
}
END_TEST

/* Gauges are evaluated on reader threads while the decode thread changes the
 * state behind them (run under ThreadSanitizer in CI). */
static void *collect_in_a_loop(void *arg)
{
    struct reg_reader *rd = reg_reader_create(reg, ARGUS_TEMPORALITY_CUMULATIVE);
    atomic_bool *stop_flag = arg;
    unsigned rounds = 0;
    while (!atomic_load(stop_flag) || rounds < 10) {
        struct reg_snapshot *sn = NULL;
        if (reg_collect(rd, &sn) == 0)
            reg_snapshot_destroy(sn);
        rounds++;
    }
    reg_reader_destroy(rd);
    return NULL;
}

START_TEST(gauges_are_read_safely_while_events_arrive)
{
    start();
    atomic_bool done = false;
    pthread_t reader_thread;
    ck_assert_int_eq(pthread_create(&reader_thread, NULL, collect_in_a_loop, (void *)&done), 0);
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t conn = 1 + i % 5;
        gw_send(conn, 10 * i, 2, (int)(i % 5), 5);
        ready(conn, 10 * i + 1, (int)(i % 5), 5, 2);
        guild(conn, 10 * i + 2, "GUILD_CREATE", 1 + i % 300, false);
        gw_send(conn, 10 * i + 3, 1, 0, 0);
        gw_recv(conn, 10 * i + 4, 11, "");
        if (i % 7 == 0)
            close_conn(EV_CONN_CLOSE, conn, 10 * i + 5, 4000);
        struct argus_event ev = rest("PUT", "/applications/{id}/commands", 200, 10 * i, 10 * i);
        ev.u.rest.commands_synced = (int)(i % 10);
        feed(&ev);
    }
    atomic_store(&done, true);
    pthread_join(reader_thread, NULL);
    ck_assert_uint_eq(point("discord_guilds", NULL)->value.u64, 300);
    ck_assert_uint_eq(point("discord_shards_configured", NULL)->value.u64, 5);
    stop();
}
END_TEST

/* ---- REST, info, errors, names ------------------------------------------------------------ */

START_TEST(rest_requests_durations_and_ratelimits)
{
    start();
    struct argus_event ev = rest("GET", "/users/@me", 200, 0, 120);
    feed(&ev);
    ev = rest("POST", "/channels/{channel_id}/messages", 429, 200, 250);
    snprintf(ev.u.rest.scope, sizeof(ev.u.rest.scope), "shared");
    feed(&ev);
    ev = rest("POST", "/channels/{channel_id}/messages", 429, 300, 350);
    feed(&ev);
    ev = rest("POST", "/channels/{channel_id}/messages", 429, 400, 450);
    ev.u.rest.global = true;
    feed(&ev);
    ck_assert_uint_eq(counter("discord_http_requests_total", "method", "GET", "route", "/users/@me",
                              "status", "200", NULL),
                      1);
    ck_assert_uint_eq(counter("discord_http_requests_total", "method", "POST", "route",
                              "/channels/{channel_id}/messages", "status", "429", NULL),
                      3);
    const struct reg_point *pt = point("discord_http_request_duration_seconds", "method", "GET",
                                       "route", "/users/@me", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_uint_eq(pt->count, 1);
    ck_assert_double_eq_tol(pt->sum, 0.12, 1e-9);
    ck_assert_uint_eq(counter("discord_ratelimits_total", "route",
                              "/channels/{channel_id}/messages", "scope", "shared", NULL),
                      1);
    ck_assert_uint_eq(counter("discord_ratelimits_total", "route",
                              "/channels/{channel_id}/messages", "scope", "user", NULL),
                      1);
    ck_assert_uint_eq(counter("discord_ratelimits_total", "route",
                              "/channels/{channel_id}/messages", "scope", "global", NULL),
                      1);
    stop();
}
END_TEST

START_TEST(command_sync_sets_the_registered_count)
{
    start();
    ck_assert_uint_eq(n_points("discord_app_commands_registered"), 0);
    struct argus_event ev = rest("PUT", "/applications/{id}/commands", 200, 0, 10);
    ev.u.rest.commands_synced = 7;
    feed(&ev);
    ck_assert_uint_eq(point("discord_app_commands_registered", NULL)->value.u64, 7);
    stop();
}
END_TEST

START_TEST(bot_info_comes_from_ready_and_the_user_agent)
{
    start();
    ck_assert_uint_eq(n_points("discord_bot_info"), 0);
    struct argus_event ev = rest("POST", "/interactions/{id}/{token}/callback", 204, 0, 10);
    snprintf(ev.u.rest.library, sizeof(ev.u.rest.library), "aiohttp");
    snprintf(ev.u.rest.library_version, sizeof(ev.u.rest.library_version), "3.8.4");
    feed(&ev);
    ev = rest("GET", "/users/@me", 200, 20, 30);
    snprintf(ev.u.rest.library, sizeof(ev.u.rest.library), "discord.py");
    snprintf(ev.u.rest.library_version, sizeof(ev.u.rest.library_version), "2.2.2");
    snprintf(ev.u.rest.runtime, sizeof(ev.u.rest.runtime), "Python/3.11");
    feed(&ev);
    ev = rest("POST", "/webhooks/{webhook_id}/{token}", 200, 40, 50);
    snprintf(ev.u.rest.library, sizeof(ev.u.rest.library), "aiohttp"); /* never replaces */
    feed(&ev);
    ready(GW_CONN, 100, -1, 0, 0);
    const struct reg_point *pt = point(
        "discord_bot_info", "bot_id", "4242", "bot_name", "argusbot", "library", "discord.py",
        "library_version", "2.2.2", "runtime", "Python/3.11", "argus_version", ARGUS_VERSION, NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_uint_eq(pt->value.u64, 1);
    ck_assert_uint_eq(n_points("discord_bot_info"), 1);
    stop();
}
END_TEST

START_TEST(decode_errors_are_counted_by_stage)
{
    start();
    struct argus_event ev = {.kind = EV_DECODE_ERROR, .conn_id = 5, .t_ns = T(0)};
    ev.u.decode_error.stage = "inflate";
    ev.u.decode_error.reason = "bad block";
    feed(&ev);
    feed(&ev);
    ck_assert_uint_eq(counter("argus_decode_errors_total", "stage", "inflate", NULL), 2);
    stop();
}
END_TEST

/* Issue 14: a message past ARGUS_MAX_MESSAGE_BYTES is counted as cut, apart
 * from malformed input, and the cut series exist from the start. */
START_TEST(a_message_past_its_cap_is_counted_as_cut)
{
    start();
    ck_assert_uint_eq(existing("argus_messages_cut_total", "stage", "gateway", NULL, NULL), 0);
    ck_assert_uint_eq(existing("argus_messages_cut_total", "stage", "http", NULL, NULL), 0);
    struct argus_event ev = {.kind = EV_DECODE_ERROR, .conn_id = 5, .t_ns = T(0)};
    ev.u.decode_error.stage = "gateway";
    ev.u.decode_error.reason = "too_large";
    feed(&ev);
    ev.u.decode_error.reason = "malformed";
    feed(&ev);
    ck_assert_uint_eq(counter("argus_messages_cut_total", "stage", "gateway", NULL), 1);
    ck_assert_uint_eq(counter("argus_decode_errors_total", "stage", "gateway", NULL), 2);
    stop();
}
END_TEST

START_TEST(the_namespace_replaces_discord_in_names)
{
    start_with((const char *const[]){"ARGUS_NAMESPACE", "mybot", NULL});
    interaction(0, 60, 0x1f0, APP, "ping");
    ck_assert_uint_eq(counter("mybot_interactions_total", "type", "application_command", "status",
                              "received", NULL),
                      1);
    ck_assert_ptr_null(metric("discord_interactions_total"));
    stop();
}
END_TEST

START_TEST(catalogue_units_translate_to_argus_dpy_names)
{
    start();
    collect();
    /* Everything defined exports nothing yet; check the definitions through a
     * populated snapshot instead. */
    interaction(0, 70, 0x2f0, APP, "ping");
    callback(100, 200, 70, 0x2f0, 4, 204, 0);
    gw_send(GW_CONN, 0, 2, 0, 1);
    ready(GW_CONN, 10, 0, 1, 1);
    gw_send(GW_CONN, 20, 1, 0, 0);
    gw_recv(GW_CONN, 30, 11, "");
    collect();
    for (size_t i = 0; i < snap->n_metrics; i++) {
        const struct reg_metric_snapshot *m = &snap->metrics[i];
        size_t len = strlen(m->name);
        ck_assert_str_ne(m->unit, "1"); /* would become _ratio on a gauge */
        if (m->kind == REG_HISTOGRAM) {
            ck_assert_str_eq(m->unit, "s");
            ck_assert_str_eq(m->name + len - 8, "_seconds");
            ck_assert_uint_eq(m->n_bounds, 8);
            ck_assert_double_eq(m->bounds[0], 0.05);
            ck_assert_double_eq(m->bounds[7], 10);
        } else if (m->kind == REG_COUNTER) {
            ck_assert_str_eq(m->name + len - 6, "_total");
            ck_assert(m->unit[0] == '\0' || m->unit[0] == '{');
        } else if (m->kind == REG_GAUGE && strcmp(m->unit, "s") != 0) {
            ck_assert(m->unit[0] == '\0' || m->unit[0] == '{');
        }
        ck_assert(m->description[0] != '\0');
    }
    stop();
}
END_TEST

/* Random traffic against a small table: whatever the order, every lifecycle
 * that opened ends exactly once, as an outcome, an eviction or an abandonment
 * at exit. (A fixed seed keeps the sequence reproducible.) */
START_TEST(every_lifecycle_ends_exactly_once_under_random_traffic)
{
    start_with((const char *const[]){"ARGUS_MAX_OPEN_LIFECYCLES", "16", "ARGUS_PREFIX_TIMEOUT_S",
                                     "2", "ARGUS_DEFERRED_TIMEOUT_S", "5", NULL});
    unsigned seed = 12345;
    uint64_t now_ms = 0, opened = 0, next_id = 1;
    for (int step = 0; step < 5000; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) & 0x7fff;
        uint64_t target = next_id > 1 ? 1 + r % (next_id - 1) : 1; /* some earlier id */
        now_ms += r % 300;
        switch (r % 9) {
        case 0:
        case 1:
            interaction(now_ms, next_id, 0x10000 + next_id, 2 + (int)(r % 4), "cmd");
            opened++;
            next_id++;
            break;
        case 2:
            message(now_ms, next_id, 1 + r % 3, (r & 1) ? "!cmd" : "!other", false);
            opened++;
            next_id++;
            break;
        case 3:
            callback(now_ms, now_ms + r % 50, target, 0x10000 + target, (r & 4) ? 5 : 4,
                     (r & 8) ? 404 : 204, (r & 8) ? 10062 : 0);
            break;
        case 4:
            followup(now_ms, now_ms + 20, 0x10000 + target, (r & 2) ? 200 : 429);
            break;
        case 5:
            reply(now_ms, now_ms + 10, 1 + r % 3, (r & 2) ? target : 0, (r & 4) ? 200 : 403);
            break;
        case 6:
            react(now_ms, now_ms + 10, 1 + r % 3, target, 204);
            break;
        default:
            lc_tick(lc, T(now_ms));
            break;
        }
        if (step % 500 == 0)
            spanq_pop(spans, popped, 64); /* keep the queue from filling */
    }
    lc_shutdown(lc);
    collect();
    uint64_t ended = counter("argus_timers_evicted_total", NULL) +
                     counter("argus_lifecycles_abandoned_total", NULL);
    const char *statuses[] = {"success", "error", "timeout"};
    const char *types[] = {"application_command", "component", "autocomplete", "modal_submit"};
    for (unsigned st = 0; st < 3; st++) {
        for (unsigned ty = 0; ty < 4; ty++)
            ended += counter("discord_interaction_responses_total", "type", types[ty], "status",
                             statuses[st], NULL);
        const char *labels[] = {"cmd", "other", "_unknown", "_other"};
        for (unsigned l = 0; l < 4; l++)
            ended += counter("discord_commands_total", "command", labels[l], "status", statuses[st],
                             NULL);
    }
    ck_assert_uint_eq(ended, opened);
    ck_assert_uint_gt(counter("argus_timers_evicted_total", NULL), 0);
    stop();
}
END_TEST

/* ---- allocation failures ------------------------------------------------------ */

/* The Nth allocation from now fails (style.md: every create path with the Nth
 * allocation failing), through tests/support/alloc_fail.h, which works under
 * every sanitizer. */
START_TEST(create_survives_every_allocation_failure)
{
    fake_env = (const char *const[]){NULL};
    argus_config_load(&cfg, fake_getenv);
    bool created = false;
    for (long n = 0; n < 500 && !created; n++) {
        reg = reg_create(0, cfg.cluster);
        spans = spanq_create(16, 16);
        ck_assert_ptr_nonnull(reg);
        alloc_fail_nth(n + 1);
        lc = lc_create(&cfg, reg, spans);
        alloc_fail_nth(0);
        reader = reg_reader_create(reg, ARGUS_TEMPORALITY_CUMULATIVE);
        collect(); /* no gauge may point into a tracker that failed */
        if (lc) {
            created = true;
            interaction(0, 80, 0x3f0, APP, "ping");
            callback(100, 200, 80, 0x3f0, 4, 204, 0);
            ck_assert_uint_eq(
                counter("discord_app_commands_total", "command", "ping", "status", "success", NULL),
                1);
        }
        stop();
    }
    ck_assert(created);
}
END_TEST

START_TEST(an_allocation_failure_loses_at_most_one_lifecycle_not_the_tracker)
{
    bool lost_one = false;
    for (long n = 0; n < 40; n++) {
        start();
        alloc_fail_nth(n + 1); /* somewhere in opening the lifecycle (series, index growth) */
        interaction(0, 81, 0x3f1, APP, "ping");
        alloc_fail_nth(0);
        callback(100, 200, 81, 0x3f1, 4, 204, 0);
        uint64_t first =
            counter("discord_app_commands_total", "command", "ping", "status", "success", NULL);
        ck_assert_uint_le(first, 1);
        lost_one |= first == 0;
        interaction(300, 82, 0x3f2, APP, "ping");
        callback(400, 500, 82, 0x3f2, 4, 204, 0);
        ck_assert_uint_eq(
            counter("discord_app_commands_total", "command", "ping", "status", "success", NULL),
            first + 1);
        stop();
    }
    ck_assert(lost_one);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lc");
    TCase *tc = tcase_create("lc");
    tcase_add_test(tc, app_command_answered_at_once_succeeds);
    tcase_add_test(tc, deferred_answer_completes_at_the_first_followup);
    tcase_add_test(tc, deferred_answer_completes_at_the_original_edit);
    tcase_add_test(tc, rejected_callback_is_an_error_with_discords_code);
    tcase_add_test(tc, late_callback_keeps_timeout_and_becomes_a_span_event);
    tcase_add_test(tc, callback_written_in_time_counts_even_if_answered_after_3s);
    tcase_add_test(tc, never_answered_times_out_and_its_span_waits_for_the_window);
    tcase_add_test(tc, deferred_never_completed_times_out_after_the_deferred_timeout);
    tcase_add_test(tc, a_429_on_the_callback_waits_for_the_retry);
    tcase_add_test(tc, a_replayed_dispatch_counts_once);
    tcase_add_test(tc, components_modals_and_autocomplete_are_counted_by_type);
    tcase_add_test(tc, prefix_command_succeeds_at_a_reply_referencing_it);
    tcase_add_test(tc, prefix_command_succeeds_at_the_next_message_in_its_channel);
    tcase_add_test(tc, prefix_command_succeeds_at_a_reaction_on_it);
    tcase_add_test(tc, prefix_command_times_out_and_stays_unknown_until_answered);
    tcase_add_test(tc, prefix_labels_are_bounded_and_mentions_count);
    tcase_add_test(tc, prefix_allow_list_replaces_inference);
    tcase_add_test(tc, a_second_reply_to_an_ended_command_answers_no_other);
    tcase_add_test(tc, a_late_deferral_keeps_timeout_and_records_its_completion);
    tcase_add_test(tc, a_full_table_evicts_the_oldest_and_counts_it);
    tcase_add_test(tc, shutdown_abandons_what_is_still_open);
    tcase_add_test(tc, shutdown_sends_every_span_held_for_a_late_answer);
    tcase_add_test(tc, error_and_drop_counters_start_at_zero);
    tcase_add_test(tc, a_seen_app_command_exports_every_outcome_from_zero);
    tcase_add_test(tc, a_prefix_command_exports_every_outcome_once_labelled);
    tcase_add_test(tc, a_shard_that_identified_has_reconnects_from_zero);
    tcase_add_test(tc, spans_follow_the_sampler_and_the_per_guild_switch);
    tcase_add_test(tc, shard_latency_is_heartbeat_to_ack_per_connection);
    tcase_add_test(tc, disconnects_and_reconnects_follow_the_connections);
    tcase_add_test(tc, guild_count_follows_ready_and_guild_events);
    tcase_add_test(tc, gauges_are_read_safely_while_events_arrive);
    tcase_add_test(tc, rest_requests_durations_and_ratelimits);
    tcase_add_test(tc, command_sync_sets_the_registered_count);
    tcase_add_test(tc, bot_info_comes_from_ready_and_the_user_agent);
    tcase_add_test(tc, decode_errors_are_counted_by_stage);
    tcase_add_test(tc, a_message_past_its_cap_is_counted_as_cut);
    tcase_add_test(tc, the_namespace_replaces_discord_in_names);
    tcase_add_test(tc, catalogue_units_translate_to_argus_dpy_names);
    tcase_add_test(tc, every_lifecycle_ends_exactly_once_under_random_traffic);
    tcase_add_test(tc, create_survives_every_allocation_failure);
    tcase_add_test(tc, an_allocation_failure_loses_at_most_one_lifecycle_not_the_tracker);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
