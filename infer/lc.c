/*
 * lc.c - command lifecycles: from decoded events to outcomes.
 *
 * DESIGN
 *
 * A lifecycle is a slot of the table (lc_table.h), opened at its
 * INTERACTION_CREATE or prefix command's MESSAGE_CREATE and found again by
 * the id, the token hash or the channel of the REST calls that answer it.
 * Each slot moves through phases:
 *
 *   AWAIT_ANSWER      waits for the initial response (interaction callback) or
 *                     the prefix answer (reply, next message in the channel, a
 *                     reaction). Deadline: start + 3 s, or + the prefix timeout.
 *   AWAIT_COMPLETION  a deferred callback (type 5 or 6) was accepted; waits
 *                     for the first follow-up or @original edit. Deadline:
 *                     start + the deferred timeout.
 *   LINGER            timed out; the outcome is recorded but the span waits
 *                     LC_LATE_ANSWER_WINDOW_NS for a late answer, which becomes
 *                     its event instead of changing the outcome (Discord has
 *                     already told the user the bot did not respond).
 *
 * success and error end a lifecycle at once: metrics recorded, span pushed,
 * slot freed. Deadlines are judged on the bot's write time (the 3 s run to the
 * callback's write), but a REST exchange only reaches us once its response is
 * read, so lc_tick() decides a deadline LC_DECISION_DELAY_NS after it passed;
 * an answer arriving in that delay with a write time before the deadline still
 * counts as in time. A 429 is not an answer: the libraries retry after
 * Retry-After, and the retry decides.
 *
 * Spans (lc_span.h): the ids and the sampling decision are drawn when the
 * lifecycle opens, so each REST call that belongs to it is pushed as a
 * finished CLIENT child the moment it is seen. The SERVER span is built from
 * the slot when the lifecycle ends. A lifecycle evicted or abandoned at exit
 * pushes no span; children already pushed then arrive without their parent,
 * which tracing backends show as an incomplete trace rather than a wrong one.
 *
 * The full table makes room by ending its oldest lifecycle: one that already
 * timed out is finished early (its outcome was recorded); any other is
 * evicted without an outcome and counted in argus_timers_evicted_total.
 *
 * Rejected: a timer wheel. lc_tick() remembers the earliest due time and scans
 * the open list only when it has passed, which is at most a few times a
 * second with lifecycles that mostly end in milliseconds.
 */
#include "lc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_entry.h"
#include "lc_gw.h"
#include "lc_info.h"
#include "lc_metrics.h"
#include "lc_prefix.h"
#include "lc_rest.h"
#include "lc_warn.h"
#include "lc_span.h"
#include "lc_table.h"

#define LC_NO_DUE UINT64_MAX

struct lc {
    const struct argus_config *cfg;
    struct lc_metrics m;
    struct lc_gw *gw;
    struct lc_warn *warn;
    struct lc_prefix_labels labels;
    struct lc_table table;
    struct lc_info info;
    uint64_t now_ns; /* the latest time seen, from events and ticks */
    uint64_t next_due_ns;
    bool shut_down;
    uint64_t bot_id;
    struct lc_span_builder spans;
};

static bool lc_is_2xx(int status)
{
    return status >= 200 && status < 300;
}

static void lc_set_due(struct lc *lc, struct lc_entry *e, uint64_t due_ns)
{
    e->due_ns = due_ns;
    if (due_ns < lc->next_due_ns)
        lc->next_due_ns = due_ns;
}

/* ---- outcomes ---------------------------------------------------------------- */

/* An application command's `command` label: its qualified name, or _unknown
 * when the event had none. */
static const char *lc_app_command_label(const struct lc_entry *e)
{
    return e->name[0] ? e->name : LC_PREFIX_UNKNOWN;
}

/* A decided command's outcome under its label: counted by status, its
 * duration, and its error_type unless it succeeded. */
static void lc_record_command(struct lc *lc, struct reg_metric *outcomes,
                              struct reg_metric *durations, const struct lc_entry *e,
                              const char *command, double duration)
{
    const char *status = lc_entry_outcome_name(e->outcome);
    reg_counter_add(outcomes, REG_ATTRS({"command", command}, {"status", status}), 1);
    reg_histogram_record(durations, REG_ATTRS({"command", command}), duration);
    if (e->outcome != LC_SUCCESS)
        reg_counter_add(lc->m.command_errors,
                        REG_ATTRS({"command", command}, {"error_type", e->error_type}), 1);
}

static void lc_record_interaction(struct lc *lc, struct lc_entry *e, double duration)
{
    const char *status = lc_entry_outcome_name(e->outcome);
    const char *type = lc_entry_type_name(e->interaction_type);
    reg_counter_add(lc->m.responses, REG_ATTRS({"type", type}, {"status", status}), 1);
    if (e->interaction_type != EV_INTERACTION_APPLICATION_COMMAND)
        return;
    lc_record_command(lc, lc->m.app_commands, lc->m.app_command_duration, e,
                      lc_app_command_label(e), duration);
}

static void lc_record_prefix(struct lc *lc, struct lc_entry *e, double duration)
{
    const char *command = lc_prefix_label(&lc->labels, e->name, e->outcome != LC_TIMEOUT);
    snprintf(e->label, sizeof(e->label), "%s", command);
    command = e->label;
    /* A prefix label is decided only when its command ends (lc_prefix.h), so
     * its other outcomes start at 0 with its first one. */
    lc_metrics_zero_outcomes(lc->m.commands, command);
    lc_record_command(lc, lc->m.commands, lc->m.command_duration, e, command, duration);
}

/* Decides e's outcome and records its metrics; the caller then finishes or
 * lingers. answer: the rejected answer of an error, else unused. */
static void lc_decide(struct lc *lc, struct lc_entry *e, enum lc_outcome outcome,
                      const struct lc_answer *answer, uint64_t end_ns)
{
    double duration = lc_metrics_seconds(e->start_ns, end_ns);
    e->outcome = (uint8_t)outcome;
    e->end_ns = end_ns > e->start_ns ? end_ns : e->start_ns;
    if (outcome == LC_TIMEOUT)
        snprintf(e->error_type, sizeof(e->error_type), "timeout");
    else if (outcome == LC_ERROR)
        lc_entry_error_type(answer, e->error_type);
    if (e->kind == LC_KIND_INTERACTION)
        lc_record_interaction(lc, e, duration);
    else
        lc_record_prefix(lc, e, duration);
}

/* Ends a decided lifecycle: its span goes out and the slot is freed. */
static void lc_finish(struct lc *lc, struct lc_entry *e)
{
    lc_span_push_server(&lc->spans, e);
    lc_table_close(&lc->table, e);
}

/* Decides e as answered (success or error, by Discord's status) and ends it. */
static void lc_answered(struct lc *lc, struct lc_entry *e, const struct lc_answer *a)
{
    lc_decide(lc, e, lc_is_2xx(a->status) ? LC_SUCCESS : LC_ERROR, a, a->response_ns);
    lc_finish(lc, e);
}

static void lc_time_out(struct lc *lc, struct lc_entry *e)
{
    lc_decide(lc, e, LC_TIMEOUT, NULL, e->deadline_ns);
    e->phase = LC_LINGER;
    uint64_t from = lc->now_ns > e->deadline_ns ? lc->now_ns : e->deadline_ns;
    lc_set_due(lc, e, from + LC_LATE_ANSWER_WINDOW_NS);
}

/* An answer written after the deadline: the outcome stays timeout and the
 * answer becomes the span's late_response event. final says no further answer
 * is expected (anything but an accepted deferral), so the span can go now. */
static void lc_late_answer(struct lc *lc, struct lc_entry *e, const struct lc_answer *a, bool final)
{
    if (e->phase != LC_LINGER)
        lc_time_out(lc, e);
    if (!e->late.request_ns)
        e->late = *a;
    else if (!e->completion.request_ns)
        e->completion = *a; /* a late deferral's follow-up */
    if (e->kind == LC_KIND_PREFIX)
        lc_prefix_label(&lc->labels, e->name, true); /* the bot does know this command */
    if (final)
        lc_finish(lc, e);
}

/* An answer after which none is expected: in time, it is kept in *slot and
 * decides the outcome; after the deadline, it becomes the late answer. */
static void lc_final_answer(struct lc *lc, struct lc_entry *e, struct lc_answer *slot,
                            const struct lc_answer *a)
{
    if (e->phase == LC_LINGER || a->request_ns > e->deadline_ns) {
        lc_late_answer(lc, e, a, true);
        return;
    }
    *slot = *a;
    lc_answered(lc, e, a);
}

/* ---- opening ----------------------------------------------------------------- */

static void lc_evict_oldest(struct lc *lc)
{
    struct lc_entry *oldest = lc_table_oldest(&lc->table);
    if (oldest->phase == LC_LINGER) {
        lc_finish(lc, oldest);
        return;
    }
    reg_counter_add(lc->m.timers_evicted, REG_NO_ATTRS, 1);
    lc_table_close(&lc->table, oldest);
}

/* Opens a lifecycle at start_ns, making room first when the table is full;
 * NULL when the table could not take it. Callers check lc_table_seen(). */
static struct lc_entry *lc_open(struct lc *lc, enum lc_kind kind, uint64_t key, uint64_t token_hash,
                                uint64_t start_ns, uint64_t deadline_ns)
{
    if (lc_table_full(&lc->table))
        lc_evict_oldest(lc);
    struct lc_entry *e = lc_table_open(&lc->table, key, token_hash);
    if (!e)
        return NULL;
    e->kind = (uint8_t)kind;
    e->phase = LC_AWAIT_ANSWER;
    e->start_ns = start_ns;
    e->deadline_ns = deadline_ns;
    e->initial.callback_type = e->completion.callback_type = e->late.callback_type = -1;
    lc_set_due(lc, e, deadline_ns + LC_DECISION_DELAY_NS);
    return e;
}

/* ---- interactions -------------------------------------------------------------- */

static void lc_on_interaction_create(struct lc *lc, const struct argus_event *ev)
{
    const typeof(ev->u.gw.u.interaction) *in = &ev->u.gw.u.interaction;
    const char *type = lc_entry_type_name(in->type);
    /* Without an id (a truncated payload) nothing could be correlated: such
     * an interaction is neither counted nor tracked. A replay after a RESUME
     * is not counted again: the first delivery counts. */
    if (!type || in->id == 0 || lc_table_seen(&lc->table, in->id))
        return;
    reg_counter_add(lc->m.interactions, REG_ATTRS({"type", type}, {"status", "received"}), 1);
    struct lc_entry *e = lc_open(lc, LC_KIND_INTERACTION, in->id, in->token_hash, ev->t_ns,
                                 ev->t_ns + LC_INITIAL_RESPONSE_NS);
    if (!e)
        return;
    e->interaction_type = (uint8_t)in->type;
    e->guild_id = in->guild_id;
    if (in->type == EV_INTERACTION_APPLICATION_COMMAND) {
        snprintf(e->name, sizeof(e->name), "%s", in->name);
        lc_metrics_zero_outcomes(lc->m.app_commands, lc_app_command_label(e));
    }
    /* Autocomplete fires on every keystroke: metrics only, never a span. */
    if (in->type != EV_INTERACTION_AUTOCOMPLETE)
        lc_span_start(&lc->spans, e);
}

static bool lc_is_deferral(int callback_type)
{
    return callback_type == 5 || callback_type == 6;
}

static void lc_on_callback(struct lc *lc, struct lc_entry *e, const struct ev_rest *r)
{
    struct lc_answer a = lc_entry_answer_of(r);
    if (r->status == 429 || e->initial.request_ns || e->late.request_ns)
        return; /* a retry decides; or a second callback (Discord: 40060), a child only */
    reg_histogram_record(lc->m.response_time,
                         REG_ATTRS({"type", lc_entry_type_name(e->interaction_type)}),
                         lc_metrics_seconds(e->start_ns, r->request_ns));
    if (e->phase == LC_LINGER || r->request_ns > e->deadline_ns) {
        lc_late_answer(lc, e, &a, !(lc_is_2xx(r->status) && lc_is_deferral(r->callback_type)));
        return;
    }
    e->initial = a;
    if (lc_is_2xx(r->status) && lc_is_deferral(r->callback_type)) {
        e->phase = LC_AWAIT_COMPLETION;
        e->deadline_ns = e->start_ns + (uint64_t)lc->cfg->deferred_timeout_s * LC_METRICS_NS_PER_S;
        lc_set_due(lc, e, e->deadline_ns + LC_DECISION_DELAY_NS);
    } else {
        lc_answered(lc, e, &a);
    }
}

/* A follow-up or @original edit. */
static void lc_on_completion(struct lc *lc, struct lc_entry *e, const struct ev_rest *r)
{
    struct lc_answer a = lc_entry_answer_of(r);
    if (r->status == 429)
        return;
    if (e->phase == LC_AWAIT_ANSWER)
        return; /* before any callback: Discord refuses it; a child span only */
    lc_final_answer(lc, e, &e->completion, &a);
}

/* A REST call that carries an interaction's id or token. */
static void lc_on_interaction_rest(struct lc *lc, const struct ev_rest *r)
{
    struct lc_entry *e = lc_table_find(&lc->table, r->interaction_id, LC_KIND_INTERACTION);
    if (!e)
        e = lc_table_find_token(&lc->table, r->token_hash, LC_KIND_INTERACTION);
    if (!e)
        return;
    lc_span_push_child(&lc->spans, e, r);
    if (r->interaction_id && strcmp(r->method, "POST") == 0)
        lc_on_callback(lc, e, r);
    else if (r->is_original_edit || (strcmp(r->method, "POST") == 0 &&
                                     strcmp(r->route, "/webhooks/{webhook_id}/{token}") == 0))
        lc_on_completion(lc, e, r);
}

/* ---- prefix commands ----------------------------------------------------------- */

static void lc_on_message_create(struct lc *lc, const struct argus_event *ev)
{
    const typeof(ev->u.gw.u.message) *msg = &ev->u.gw.u.message;
    char name[LC_PREFIX_NAME_MAX];
    size_t len = msg->content_len < EV_CONTENT_HEAD ? msg->content_len : EV_CONTENT_HEAD;
    if (msg->author_bot || msg->has_webhook_id || msg->id == 0)
        return;
    /* A head filled to the brim may have been cut: the matcher must not take
     * a cut word for a whole one. It goes before lc_table_seen(), which scans
     * the ended keys, because most messages are not commands. */
    if (!lc_prefix_match(&lc->cfg->prefixes, lc->bot_id, msg->content_head, len,
                         len == EV_CONTENT_HEAD, name) ||
        lc_table_seen(&lc->table, msg->id))
        return;
    uint64_t timeout_ns = (uint64_t)lc->cfg->prefix_timeout_s * LC_METRICS_NS_PER_S;
    struct lc_entry *e = lc_open(lc, LC_KIND_PREFIX, msg->id, 0, ev->t_ns, ev->t_ns + timeout_ns);
    if (!e)
        return;
    e->channel_id = msg->channel_id;
    e->guild_id = msg->guild_id;
    memcpy(e->name, name, sizeof(name));
    lc_span_start(&lc->spans, e);
}

/* The prefix command a bot message in channel answers: the one it references,
 * else the oldest unanswered one in that channel (ctx.send has no reference),
 * else one that timed out there and has no late answer yet. A reply to a
 * command that already ended (a second answer) answers nothing; a reply to
 * any other message (a quote) may still answer the channel's command. */
static struct lc_entry *lc_prefix_for_message(struct lc *lc, uint64_t channel_id,
                                              uint64_t ref_message_id)
{
    struct lc_entry *linger = NULL;
    struct lc_entry *e = lc_table_find(&lc->table, ref_message_id, LC_KIND_PREFIX);
    if (e)
        return e;
    if (ref_message_id && lc_table_seen(&lc->table, ref_message_id))
        return NULL; /* not open, so it ended */
    for (e = lc_table_oldest(&lc->table); e; e = lc_table_next(&lc->table, e)) {
        if (e->kind != LC_KIND_PREFIX || e->channel_id != channel_id)
            continue;
        if (e->phase == LC_AWAIT_ANSWER)
            return e;
        if (!linger && !e->late.request_ns)
            linger = e;
    }
    return linger;
}

static void lc_on_prefix_answer(struct lc *lc, struct lc_entry *e, const struct ev_rest *r)
{
    struct lc_answer a = lc_entry_answer_of(r);
    if (r->status == 429)
        return;
    lc_final_answer(lc, e, &e->initial, &a);
}

/* A bot message or reaction that may answer a prefix command. */
static void lc_on_prefix_rest(struct lc *lc, const struct ev_rest *r)
{
    struct lc_entry *e;
    if (r->channel_id && strcmp(r->method, "POST") == 0 &&
        strcmp(r->route, "/channels/{channel_id}/messages") == 0)
        e = lc_prefix_for_message(lc, r->channel_id, r->ref_message_id);
    else if (r->is_reaction && strcmp(r->method, "PUT") == 0)
        e = lc_table_find(&lc->table, r->message_id, LC_KIND_PREFIX);
    else
        return;
    if (!e)
        return;
    lc_span_push_child(&lc->spans, e, r);
    lc_on_prefix_answer(lc, e, r);
}

/* ---- events -------------------------------------------------------------------- */

static void lc_on_rest(struct lc *lc, const struct ev_rest *r, uint64_t t_ns)
{
    lc_rest_record(&lc->m, r);
    lc_warn_on_rest(lc->warn, r, t_ns);
    lc_info_on_rest(&lc->info, r);
    if (r->commands_synced >= 0 && lc_is_2xx(r->status))
        lc_gw_set_commands_registered(lc->gw, r->commands_synced);
    if (r->interaction_id || r->token_hash)
        lc_on_interaction_rest(lc, r);
    else
        lc_on_prefix_rest(lc, r);
}

static void lc_on_gateway_recv(struct lc *lc, const struct argus_event *ev)
{
    const struct ev_gw *g = &ev->u.gw;
    if (g->op != 0 || !g->t[0])
        return;
    reg_counter_add(lc->m.gateway_events, REG_ATTRS({"event", g->t}), 1);
    if (strcmp(g->t, "INTERACTION_CREATE") == 0) {
        lc_on_interaction_create(lc, ev);
    } else if (strcmp(g->t, "MESSAGE_CREATE") == 0) {
        lc_on_message_create(lc, ev);
    } else if (strcmp(g->t, "READY") == 0 && g->u.ready.user_id) {
        lc->bot_id = g->u.ready.user_id;
        lc_info_on_ready(&lc->info, g->u.ready.user_id, g->u.ready.username);
    }
}

void lc_on_event(const struct argus_event *ev, void *arg)
{
    struct lc *lc = arg;
    if (!lc || lc->shut_down)
        return;
    if (ev->t_ns > lc->now_ns)
        lc->now_ns = ev->t_ns;
    switch (ev->kind) {
    case EV_GW_RECV:
        lc_gw_on_payload(lc->gw, ev);
        lc_on_gateway_recv(lc, ev);
        break;
    case EV_GW_SEND:
        lc_gw_on_payload(lc->gw, ev);
        break;
    case EV_WS_CLOSE:
    case EV_CONN_CLOSE:
        lc_gw_on_close(lc->gw, ev);
        break;
    case EV_REST:
        lc_on_rest(lc, &ev->u.rest, ev->t_ns);
        break;
    case EV_DECODE_ERROR: {
        const char *stage = ev->u.decode_error.stage ? ev->u.decode_error.stage : "unknown";
        const char *reason = ev->u.decode_error.reason;
        reg_counter_add(lc->m.decode_errors, REG_ATTRS({"stage", stage}), 1);
        /* Issue 14: a message cut at its cap is told apart from a malformed
         * one, because its fix is a setting, not a bug. */
        if (reason != NULL && strcmp(reason, "too_large") == 0)
            reg_counter_add(lc->m.messages_cut, REG_ATTRS({"stage", stage}), 1);
        break;
    }
    case EV_CONN_KIND:
        lc_gw_on_kind(lc->gw, ev);
        break;
    case EV_CONN_OPEN:
        break;
    }
}

/* ---- deadlines ----------------------------------------------------------------- */

void lc_tick(struct lc *lc, uint64_t now_mono_ns)
{
    if (!lc || lc->shut_down)
        return;
    if (now_mono_ns > lc->now_ns)
        lc->now_ns = now_mono_ns;
    if (lc->now_ns < lc->next_due_ns)
        return;
    lc->next_due_ns = LC_NO_DUE;
    for (struct lc_entry *e = lc_table_oldest(&lc->table), *next; e; e = next) {
        next = lc_table_next(&lc->table, e);
        if (e->due_ns > lc->now_ns) {
            if (e->due_ns < lc->next_due_ns)
                lc->next_due_ns = e->due_ns;
            continue;
        }
        if (e->phase == LC_LINGER)
            lc_finish(lc, e);
        else
            lc_time_out(lc, e); /* sets the next due time (the late-answer window) */
    }
}

void lc_shutdown(struct lc *lc)
{
    if (!lc || lc->shut_down)
        return;
    for (struct lc_entry *e = lc_table_oldest(&lc->table), *next; e; e = next) {
        next = lc_table_next(&lc->table, e);
        if (e->phase != LC_LINGER && e->deadline_ns <= lc->now_ns)
            lc_time_out(lc, e);
        if (e->phase == LC_LINGER) {
            lc_finish(lc, e);
        } else {
            reg_counter_add(lc->m.abandoned, REG_NO_ATTRS, 1);
            lc_table_close(&lc->table, e);
        }
    }
    lc->shut_down = true;
}

/* ---- create / destroy -------------------------------------------------------------- */

struct lc *lc_create(const struct argus_config *cfg, struct reg *reg, struct spanq *spans)
{
    uint32_t capacity = cfg->max_open_lifecycles ? cfg->max_open_lifecycles : 1;
    struct lc *lc = calloc(1, sizeof(*lc));
    if (!lc)
        goto fail;
    lc->cfg = cfg;
    lc->next_due_ns = LC_NO_DUE;
    lc_span_init(&lc->spans, cfg, spans);
    if (lc_table_init(&lc->table, capacity) < 0 ||
        lc_prefix_labels_init(&lc->labels, &cfg->prefix_commands,
                              cfg->max_prefix_commands ? cfg->max_prefix_commands : 1) < 0)
        goto fail;
    lc->warn = lc_warn_create();
    if (!lc->warn)
        goto fail;
    /* Last, because from here on the registry holds callbacks into lc->gw and
     * nothing may fail. */
    lc->gw = lc_gw_create(reg, cfg->ns);
    if (!lc->gw)
        goto fail;
    lc_warn_define(lc->warn, reg, cfg->ns, lc_gw_dropped(lc->gw));
    lc_metrics_define(&lc->m, reg, cfg->ns);
    lc_info_init(&lc->info, lc->m.bot_info);
    return lc;
fail:
    lc_destroy(lc);
    return NULL;
}

void lc_destroy(struct lc *lc)
{
    if (!lc)
        return;
    lc_gw_destroy(lc->gw);
    lc_warn_destroy(lc->warn);
    lc_prefix_labels_fini(&lc->labels);
    lc_table_fini(&lc->table);
    free(lc);
}
