/*
 * lc.c - command lifecycles, the metric catalogue, and spans.
 *
 * DESIGN
 *
 * A lifecycle is one slot of a fixed table (allocated once, cfg's cap), linked
 * into a list in opening order and indexed twice: by key (the interaction id,
 * or the prefix command's message id; snowflakes never collide across the
 * two) and by token hash (interactions only: follow-ups and @original edits
 * name the interaction by its token, not its id). Eviction takes the head of
 * the list, the oldest lifecycle.
 *
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
 * Spans: the trace id, the server span id and the sampling decision are drawn
 * when the lifecycle opens, so each REST call that belongs to it is pushed as a
 * finished CLIENT child the moment it is seen, and the slot stays small (no
 * span bodies in the table). The SERVER span is built from the slot when the
 * lifecycle ends. A lifecycle evicted or abandoned at exit pushes no span;
 * children already pushed then arrive without their parent, which tracing
 * backends show as an incomplete trace rather than a wrong one.
 *
 * Rejected: a timer wheel. lc_tick() remembers the earliest due time and scans
 * the open list only when it has passed, which is at most a few times a
 * second with lifecycles that mostly end in milliseconds.
 */
#include "lc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argus_build.h"
#include "lc_gw.h"
#include "lc_map.h"
#include "lc_prefix.h"
#include "log.h"

#define LC_NONE UINT32_MAX
#define LC_NS_PER_S 1000000000ull
#define LC_NO_DUE UINT64_MAX
#define LC_ENDED_KEYS 256

enum lc_kind {
    LC_KIND_INTERACTION = 0,
    LC_KIND_PREFIX,
};

enum lc_phase {
    LC_AWAIT_ANSWER = 0,
    LC_AWAIT_COMPLETION,
    LC_LINGER,
};

enum lc_outcome {
    LC_SUCCESS = 0,
    LC_ERROR,
    LC_TIMEOUT,
};

static const char *const lc_outcome_names[] = {"success", "error", "timeout"};

/* One REST answer as the span events need it. request_ns == 0: none yet. */
struct lc_answer {
    uint64_t request_ns;
    uint64_t response_ns;
    int status;
    int code;          /* Discord's JSON error code, 0 if none */
    int callback_type; /* interaction callbacks only, else -1 */
};

struct lc_entry {
    uint64_t key;        /* interaction id or message id; 0 marks a free slot */
    uint64_t token_hash; /* interactions; 0 for prefix commands */
    uint64_t channel_id; /* prefix commands: where the answer is expected */
    uint64_t guild_id;   /* spans only, and only with cfg->per_guild */
    uint64_t start_ns;
    uint64_t deadline_ns; /* of the current phase */
    uint64_t due_ns;      /* when lc_tick() must act on it */
    uint64_t end_ns;      /* once decided */
    uint32_t prev, next;  /* open list; next also links the free list */
    uint8_t kind, phase, outcome;
    uint8_t interaction_type; /* enum ev_interaction_type */
    bool sampled;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    char name[EV_NAME_MAX];         /* qualified app command, or the prefix candidate */
    char label[LC_PREFIX_NAME_MAX]; /* prefix commands: the label, once decided */
    char error_type[16];            /* "10062", "http_403", "timeout" */
    struct lc_answer initial;       /* the in-time callback or prefix answer */
    struct lc_answer completion;    /* the follow-up / @original edit of a deferral */
    struct lc_answer late;          /* the first answer after a timeout */
};

struct lc_metrics {
    struct reg_metric *interactions;
    struct reg_metric *responses;
    struct reg_metric *app_commands;
    struct reg_metric *commands;
    struct reg_metric *command_errors;
    struct reg_metric *app_command_duration;
    struct reg_metric *command_duration;
    struct reg_metric *response_time;
    struct reg_metric *gateway_events;
    struct reg_metric *http_requests;
    struct reg_metric *http_duration;
    struct reg_metric *ratelimits;
    struct reg_metric *bot_info;
    struct reg_metric *decode_errors;
    struct reg_metric *timers_evicted;
    struct reg_metric *abandoned;
};

struct lc_bot_info {
    char bot_id[24];
    char bot_name[40];
    char library[24];
    char library_version[16];
    char runtime[24];
};

struct lc {
    const struct argus_config *cfg;
    struct reg *reg;
    struct spanq *spans; /* NULL when tracing is off */
    struct lc_metrics m;
    struct lc_gw *gw;
    struct lc_prefix_labels labels;

    struct lc_entry *entries;
    uint32_t capacity;
    uint32_t n_used;     /* slots [0, n_used) have been handed out at least once */
    uint32_t head, tail; /* open list, oldest first */
    uint32_t free_head;  /* slots freed since, for reuse first */
    uint32_t n_open;
    struct lc_map by_key;
    struct lc_map by_token;

    uint64_t now_ns; /* the latest time seen, from events and ticks */
    uint64_t next_due_ns;
    bool shut_down;
    uint64_t bot_id;
    /* Keys of the last lifecycles that ended: a dispatch replayed after a
     * RESUME must not open (or count) its lifecycle again, and a second reply
     * to an ended prefix command must not answer another one. */
    uint64_t ended_keys[LC_ENDED_KEYS];
    unsigned ended_next;
    struct lc_bot_info info;
    atomic_bool said_index_full;

    struct span scratch; /* spans are built here, not on the stack (a few KB) */
};

/* ---- small helpers -------------------------------------------------------- */

static const char *lc_interaction_type_name(int type)
{
    switch (type) {
    case EV_INTERACTION_APPLICATION_COMMAND:
        return "application_command";
    case EV_INTERACTION_COMPONENT:
        return "component";
    case EV_INTERACTION_AUTOCOMPLETE:
        return "autocomplete";
    case EV_INTERACTION_MODAL_SUBMIT:
        return "modal_submit";
    default:
        return NULL; /* PING and unknown types are not gateway lifecycles */
    }
}

static bool lc_is_2xx(int status)
{
    return status >= 200 && status < 300;
}

static struct lc_answer lc_answer_of(const struct ev_rest *r)
{
    return (struct lc_answer){.request_ns = r->request_ns,
                              .response_ns = r->response_ns ? r->response_ns : r->request_ns,
                              .status = r->status,
                              .code = r->discord_error_code,
                              .callback_type = r->callback_type};
}

/* error_type: Discord's code when the body had one, else http_<status>
 * ("http_0" when the connection ended before a response). */
static void lc_error_type_of(const struct lc_answer *a, char out[16])
{
    if (a->code > 0)
        snprintf(out, 16, "%d", a->code);
    else
        snprintf(out, 16, "http_%d", a->status);
}

static double lc_seconds(uint64_t from_ns, uint64_t to_ns)
{
    return to_ns > from_ns ? (double)(to_ns - from_ns) / (double)LC_NS_PER_S : 0.0;
}

static void lc_set_due(struct lc *lc, struct lc_entry *e, uint64_t due_ns)
{
    e->due_ns = due_ns;
    if (due_ns < lc->next_due_ns)
        lc->next_due_ns = due_ns;
}

/* ---- the table ------------------------------------------------------------- */

static void lc_unlink(struct lc *lc, uint32_t i)
{
    struct lc_entry *e = &lc->entries[i];
    if (e->prev != LC_NONE)
        lc->entries[e->prev].next = e->next;
    else
        lc->head = e->next;
    if (e->next != LC_NONE)
        lc->entries[e->next].prev = e->prev;
    else
        lc->tail = e->prev;
}

static void lc_free(struct lc *lc, struct lc_entry *e)
{
    uint32_t i = (uint32_t)(e - lc->entries);
    lc->ended_keys[lc->ended_next] = e->key;
    lc->ended_next = (lc->ended_next + 1) % LC_ENDED_KEYS;
    lc_unlink(lc, i);
    lc_map_del(&lc->by_key, e->key);
    if (e->token_hash)
        lc_map_del(&lc->by_token, e->token_hash);
    e->key = 0;
    e->next = lc->free_head;
    lc->free_head = i;
    lc->n_open--;
}

/* Whether key is open or among the last LC_ENDED_KEYS that ended. */
static bool lc_seen(const struct lc *lc, uint64_t key)
{
    if (key == 0)
        return false; /* "none", and what the ring holds before it fills */
    if (lc_map_get(&lc->by_key, key, NULL))
        return true;
    for (unsigned i = 0; i < LC_ENDED_KEYS; i++) {
        if (lc->ended_keys[i] == key)
            return true;
    }
    return false;
}

static struct lc_entry *lc_find(struct lc *lc, struct lc_map *map, uint64_t key, enum lc_kind kind)
{
    uint32_t i;
    if (!key || !lc_map_get(map, key, &i))
        return NULL;
    return lc->entries[i].kind == kind ? &lc->entries[i] : NULL;
}

static void lc_finish(struct lc *lc, struct lc_entry *e);

/* Makes room by ending the oldest lifecycle: one that already timed out is
 * simply finished early (its outcome is recorded); any other is evicted
 * without an outcome and counted. */
static void lc_evict_oldest(struct lc *lc)
{
    struct lc_entry *oldest = &lc->entries[lc->head];
    if (oldest->phase == LC_LINGER) {
        lc_finish(lc, oldest);
        return;
    }
    reg_counter_add(lc->m.timers_evicted, REG_NO_ATTRS, 1);
    lc_free(lc, oldest);
}

/* Opens a lifecycle at start_ns; NULL if key is already open (callers check
 * lc_seen() first) or the indexes could not take it. */
static struct lc_entry *lc_open(struct lc *lc, enum lc_kind kind, uint64_t key, uint64_t token_hash,
                                uint64_t start_ns, uint64_t deadline_ns)
{
    if (key == 0 || lc_map_get(&lc->by_key, key, NULL))
        return NULL;
    if (token_hash && lc_map_get(&lc->by_token, token_hash, NULL))
        token_hash = 0; /* a 64-bit hash collision: keep the older owner */
    if (lc->free_head == LC_NONE && lc->n_used == lc->capacity)
        lc_evict_oldest(lc);
    uint32_t i = lc->free_head != LC_NONE ? lc->free_head : lc->n_used;
    struct lc_entry *e = &lc->entries[i];
    if (lc_map_put(&lc->by_key, key, i) < 0 ||
        (token_hash && lc_map_put(&lc->by_token, token_hash, i) < 0)) {
        /* Only allocation can fail here: both maps are sized to the table. */
        lc_map_del(&lc->by_key, key);
        argus_log_once(&lc->said_index_full, ARGUS_LOG_WARN,
                       "%s: out of memory indexing lifecycles; some are not tracked", __func__);
        return NULL;
    }
    if (i == lc->free_head)
        lc->free_head = e->next;
    else
        lc->n_used++;
    *e = (struct lc_entry){.key = key,
                           .token_hash = token_hash,
                           .start_ns = start_ns,
                           .deadline_ns = deadline_ns,
                           .kind = (uint8_t)kind,
                           .phase = LC_AWAIT_ANSWER,
                           .initial.callback_type = -1,
                           .completion.callback_type = -1,
                           .late.callback_type = -1,
                           .prev = lc->tail,
                           .next = LC_NONE};
    if (lc->tail != LC_NONE)
        lc->entries[lc->tail].next = i;
    else
        lc->head = i;
    lc->tail = i;
    lc->n_open++;
    lc_set_due(lc, e, deadline_ns + LC_DECISION_DELAY_NS);
    return e;
}

/* ---- spans ----------------------------------------------------------------- */

/* Converts mono_ns to Unix time with the clock offset sampled once for the
 * whole span (base_mono_ns -> base_unix_ns), so that a span's duration and its
 * events' offsets are exactly what the capture measured. */
static uint64_t lc_unix(uint64_t base_mono_ns, uint64_t base_unix_ns, uint64_t mono_ns)
{
    return mono_ns >= base_mono_ns ? base_unix_ns + (mono_ns - base_mono_ns)
                                   : base_unix_ns - (base_mono_ns - mono_ns);
}

static bool lc_tracing(const struct lc *lc)
{
    return lc->spans && lc->cfg->traces_exporters != 0;
}

static void lc_start_trace(struct lc *lc, struct lc_entry *e)
{
    if (!lc_tracing(lc))
        return;
    span_new_trace_id(e->trace_id);
    e->sampled = span_sampled(lc->cfg->sampler, lc->cfg->sampler_ratio, e->trace_id);
    if (e->sampled)
        span_new_span_id(e->span_id);
}

/* A finished CLIENT span for one REST call of lifecycle e. */
static void lc_push_child(struct lc *lc, const struct lc_entry *e, const struct ev_rest *r)
{
    struct span *s = &lc->scratch;
    char name[SPAN_NAME_MAX];
    if (!e->sampled)
        return;
    /* "POST /channels/{channel_id}/messages"; a long template is cut to fit. */
    snprintf(name, sizeof(name), "%.7s %.*s", r->method, SPAN_NAME_MAX - 9, r->route);
    span_init(s, name, SPAN_KIND_CLIENT, span_mono_to_unix_ns(r->request_ns));
    uint64_t base = s->start_unix_ns;
    memcpy(s->trace_id, e->trace_id, sizeof(s->trace_id));
    memcpy(s->parent_span_id, e->span_id, sizeof(s->parent_span_id));
    s->has_parent = true;
    s->end_unix_ns = lc_unix(r->request_ns, base,
                             r->response_ns > r->request_ns ? r->response_ns : r->request_ns);
    span_set_str(s, "http.request.method", r->method);
    span_set_str(s, "url.template", r->route);
    if (r->status > 0)
        span_set_int(s, "http.response.status_code", r->status);
    if (r->bucket[0])
        span_set_str(s, "discord.ratelimit.bucket", r->bucket);
    if (r->status >= 400 || r->status == 0) {
        /* OpenTelemetry HTTP client convention: 4xx, 5xx and no response are
         * errors. */
        struct lc_answer a = lc_answer_of(r);
        char error_type[16];
        lc_error_type_of(&a, error_type);
        span_set_str(s, "error.type", error_type);
        span_set_status(s, SPAN_STATUS_ERROR, error_type);
    }
    spanq_push(lc->spans, s);
}

static void lc_span_answer_event(struct span *s, const struct lc_entry *e, const char *name,
                                 const struct lc_answer *a)
{
    int ev = span_add_event(s, lc_unix(e->start_ns, s->start_unix_ns, a->request_ns), name);
    if (ev < 0)
        return;
    if (a->status > 0)
        span_event_set_int(s, ev, "http.response.status_code", a->status);
    if (a->callback_type >= 0)
        span_event_set_int(s, ev, "discord.callback_type", a->callback_type);
    if (a->code > 0)
        span_event_set_int(s, ev, "discord.error_code", a->code);
}

static void lc_push_server(struct lc *lc, const struct lc_entry *e)
{
    struct span *s = &lc->scratch;
    const char *name = e->kind == LC_KIND_PREFIX ? "discord.command"
                       : e->interaction_type == EV_INTERACTION_APPLICATION_COMMAND
                           ? "discord.app_command"
                           : "discord.interaction";
    if (!e->sampled)
        return;
    span_init(s, name, SPAN_KIND_SERVER, span_mono_to_unix_ns(e->start_ns));
    memcpy(s->trace_id, e->trace_id, sizeof(s->trace_id));
    memcpy(s->span_id, e->span_id, sizeof(s->span_id));
    s->end_unix_ns = lc_unix(e->start_ns, s->start_unix_ns, e->end_ns);

    if (e->kind == LC_KIND_PREFIX)
        span_set_str(s, "discord.command", e->label);
    else if (e->name[0])
        span_set_str(s, "discord.command", e->name);
    span_set_str(s, "discord.outcome", lc_outcome_names[e->outcome]);
    if (e->kind == LC_KIND_INTERACTION)
        span_set_str(s, "discord.interaction_type", lc_interaction_type_name(e->interaction_type));
    span_set_str(s, "cluster", lc->cfg->cluster);
    if (lc->cfg->per_guild && e->guild_id) {
        char guild[24];
        snprintf(guild, sizeof(guild), "%" PRIu64, e->guild_id);
        span_set_str(s, "discord.guild_id", guild);
    }
    if (e->outcome != LC_SUCCESS) {
        span_set_str(s, "error.type", e->error_type);
        span_set_status(s, SPAN_STATUS_ERROR, e->error_type);
    }

    if (e->initial.request_ns)
        lc_span_answer_event(
            s, e, e->kind == LC_KIND_PREFIX ? "discord.answer" : "discord.initial_response",
            &e->initial);
    if (e->completion.request_ns)
        lc_span_answer_event(s, e, "discord.completion", &e->completion);
    if (e->outcome == LC_TIMEOUT) {
        int ev = span_add_event(s, s->end_unix_ns, "discord.timeout");
        if (ev >= 0)
            span_event_set_str(s, ev, "discord.deadline",
                               e->kind == LC_KIND_PREFIX ? "answer"
                               : e->initial.request_ns   ? "deferred"
                                                         : "initial_response");
    }
    if (e->late.request_ns)
        lc_span_answer_event(s, e, "discord.late_response", &e->late);
    spanq_push(lc->spans, s);
}

/* ---- outcomes ---------------------------------------------------------------- */

/* Records the outcome's metrics; the caller then finishes or lingers. */
static void lc_decide(struct lc *lc, struct lc_entry *e, enum lc_outcome outcome,
                      const struct lc_answer *answer, uint64_t end_ns)
{
    const char *status = lc_outcome_names[outcome];
    const char *command;
    double duration = lc_seconds(e->start_ns, end_ns);
    e->outcome = (uint8_t)outcome;
    e->end_ns = end_ns > e->start_ns ? end_ns : e->start_ns;
    if (outcome == LC_TIMEOUT)
        snprintf(e->error_type, sizeof(e->error_type), "timeout");
    else if (outcome == LC_ERROR)
        lc_error_type_of(answer, e->error_type);

    if (e->kind == LC_KIND_INTERACTION) {
        const char *type = lc_interaction_type_name(e->interaction_type);
        reg_counter_add(lc->m.responses, REG_ATTRS({"type", type}, {"status", status}), 1);
        if (e->interaction_type != EV_INTERACTION_APPLICATION_COMMAND)
            return;
        command = e->name[0] ? e->name : LC_PREFIX_UNKNOWN;
        reg_counter_add(lc->m.app_commands, REG_ATTRS({"command", command}, {"status", status}), 1);
        reg_histogram_record(lc->m.app_command_duration, REG_ATTRS({"command", command}), duration);
    } else {
        command = lc_prefix_label(&lc->labels, e->name, outcome != LC_TIMEOUT);
        snprintf(e->label, sizeof(e->label), "%s", command);
        command = e->label;
        reg_counter_add(lc->m.commands, REG_ATTRS({"command", command}, {"status", status}), 1);
        reg_histogram_record(lc->m.command_duration, REG_ATTRS({"command", command}), duration);
    }
    if (outcome != LC_SUCCESS)
        reg_counter_add(lc->m.command_errors,
                        REG_ATTRS({"command", command}, {"error_type", e->error_type}), 1);
}

/* Ends a decided lifecycle: its span goes out and the slot is freed. */
static void lc_finish(struct lc *lc, struct lc_entry *e)
{
    lc_push_server(lc, e);
    lc_free(lc, e);
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

/* ---- interactions -------------------------------------------------------------- */

static void lc_on_interaction_create(struct lc *lc, const struct argus_event *ev)
{
    const typeof(ev->u.gw.u.interaction) *in = &ev->u.gw.u.interaction;
    const char *type = lc_interaction_type_name(in->type);
    /* Without an id (a truncated payload) nothing could be correlated: such
     * an interaction is neither counted nor tracked. A replay after a RESUME
     * is not counted again: the first delivery counts. */
    if (!type || in->id == 0 || lc_seen(lc, in->id))
        return;
    reg_counter_add(lc->m.interactions, REG_ATTRS({"type", type}, {"status", "received"}), 1);
    struct lc_entry *e = lc_open(lc, LC_KIND_INTERACTION, in->id, in->token_hash, ev->t_ns,
                                 ev->t_ns + LC_INITIAL_RESPONSE_NS);
    if (!e)
        return;
    e->interaction_type = (uint8_t)in->type;
    e->guild_id = in->guild_id;
    if (in->type == EV_INTERACTION_APPLICATION_COMMAND)
        snprintf(e->name, sizeof(e->name), "%s", in->name);
    /* Autocomplete fires on every keystroke: metrics only, never a span. */
    if (in->type != EV_INTERACTION_AUTOCOMPLETE)
        lc_start_trace(lc, e);
}

static bool lc_is_deferral(int callback_type)
{
    return callback_type == 5 || callback_type == 6;
}

static void lc_on_callback(struct lc *lc, struct lc_entry *e, const struct ev_rest *r)
{
    struct lc_answer a = lc_answer_of(r);
    if (r->status == 429 || e->initial.request_ns || e->late.request_ns)
        return; /* a retry decides; or a second callback (Discord: 40060), a child only */
    reg_histogram_record(lc->m.response_time,
                         REG_ATTRS({"type", lc_interaction_type_name(e->interaction_type)}),
                         lc_seconds(e->start_ns, r->request_ns));
    if (e->phase == LC_LINGER || r->request_ns > e->deadline_ns) {
        lc_late_answer(lc, e, &a, !(lc_is_2xx(r->status) && lc_is_deferral(r->callback_type)));
        return;
    }
    e->initial = a;
    if (!lc_is_2xx(r->status)) {
        lc_decide(lc, e, LC_ERROR, &a, a.response_ns);
        lc_finish(lc, e);
    } else if (lc_is_deferral(r->callback_type)) {
        e->phase = LC_AWAIT_COMPLETION;
        e->deadline_ns = e->start_ns + (uint64_t)lc->cfg->deferred_timeout_s * LC_NS_PER_S;
        lc_set_due(lc, e, e->deadline_ns + LC_DECISION_DELAY_NS);
    } else {
        lc_decide(lc, e, LC_SUCCESS, &a, a.response_ns);
        lc_finish(lc, e);
    }
}

/* A follow-up or @original edit. */
static void lc_on_completion(struct lc *lc, struct lc_entry *e, const struct ev_rest *r)
{
    struct lc_answer a = lc_answer_of(r);
    if (r->status == 429)
        return;
    if (e->phase == LC_LINGER) {
        lc_late_answer(lc, e, &a, true);
        return;
    }
    if (e->phase != LC_AWAIT_COMPLETION)
        return; /* before any callback: Discord refuses it; a child span only */
    if (r->request_ns > e->deadline_ns) {
        lc_late_answer(lc, e, &a, true);
        return;
    }
    e->completion = a;
    lc_decide(lc, e, lc_is_2xx(r->status) ? LC_SUCCESS : LC_ERROR, &a, a.response_ns);
    lc_finish(lc, e);
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
     * a cut word for a whole one. It goes before lc_seen(), which scans the
     * ended keys, because most messages are not commands. */
    if (!lc_prefix_match(&lc->cfg->prefixes, lc->bot_id, msg->content_head, len,
                         len == EV_CONTENT_HEAD, name) ||
        lc_seen(lc, msg->id))
        return;
    uint64_t timeout_ns = (uint64_t)lc->cfg->prefix_timeout_s * LC_NS_PER_S;
    struct lc_entry *e = lc_open(lc, LC_KIND_PREFIX, msg->id, 0, ev->t_ns, ev->t_ns + timeout_ns);
    if (!e)
        return;
    e->channel_id = msg->channel_id;
    e->guild_id = msg->guild_id;
    memcpy(e->name, name, sizeof(name));
    lc_start_trace(lc, e);
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
    struct lc_entry *e = lc_find(lc, &lc->by_key, ref_message_id, LC_KIND_PREFIX);
    if (e)
        return e;
    if (ref_message_id && lc_seen(lc, ref_message_id))
        return NULL; /* not open, so it ended */
    for (uint32_t i = lc->head; i != LC_NONE; i = lc->entries[i].next) {
        e = &lc->entries[i];
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
    struct lc_answer a = lc_answer_of(r);
    if (r->status == 429)
        return;
    if (e->phase == LC_LINGER || r->request_ns > e->deadline_ns) {
        lc_late_answer(lc, e, &a, true);
        return;
    }
    e->initial = a;
    lc_decide(lc, e, lc_is_2xx(r->status) ? LC_SUCCESS : LC_ERROR, &a, a.response_ns);
    lc_finish(lc, e);
}

/* ---- REST -------------------------------------------------------------------- */

/* HTTP clients whose User-Agent stands in for the bot library's on some calls
 * (discord.py's webhook adapter sends aiohttp's own); a Discord library's UA
 * replaces them, never the other way round. */
static bool lc_is_http_client(const char *library)
{
    static const char *const clients[] = {"aiohttp",         "undici", "node-fetch", "axios",
                                          "python-requests", "httpx",  "Python",     "Node.js"};
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        if (strcmp(library, clients[i]) == 0)
            return true;
    }
    return false;
}

static void lc_publish_info(struct lc *lc)
{
    const struct lc_bot_info *i = &lc->info;
    reg_info_set(lc->m.bot_info,
                 REG_ATTRS({"bot_id", i->bot_id}, {"bot_name", i->bot_name},
                           {"library", i->library}, {"library_version", i->library_version},
                           {"runtime", i->runtime}, {"argus_version", ARGUS_VERSION}));
}

static void lc_learn_library(struct lc *lc, const struct ev_rest *r)
{
    struct lc_bot_info *i = &lc->info;
    if (!r->library[0] || strcmp(i->library, r->library) == 0)
        return;
    if (i->library[0] && (!lc_is_http_client(i->library) || lc_is_http_client(r->library)))
        return;
    snprintf(i->library, sizeof(i->library), "%s", r->library);
    snprintf(i->library_version, sizeof(i->library_version), "%s", r->library_version);
    snprintf(i->runtime, sizeof(i->runtime), "%s", r->runtime);
    lc_publish_info(lc);
}

static void lc_record_rest(struct lc *lc, const struct ev_rest *r)
{
    char status[12];
    snprintf(status, sizeof(status), "%d", r->status);
    reg_counter_add(lc->m.http_requests,
                    REG_ATTRS({"method", r->method}, {"route", r->route}, {"status", status}), 1);
    if (r->status > 0 && r->response_ns >= r->request_ns)
        reg_histogram_record(lc->m.http_duration,
                             REG_ATTRS({"method", r->method}, {"route", r->route}),
                             lc_seconds(r->request_ns, r->response_ns));
    if (r->status == 429) {
        const char *scope = r->scope[0] ? r->scope : r->global ? "global" : "user";
        reg_counter_add(lc->m.ratelimits, REG_ATTRS({"route", r->route}, {"scope", scope}), 1);
    }
}

static void lc_on_rest(struct lc *lc, const struct argus_event *ev)
{
    const struct ev_rest *r = &ev->u.rest;
    struct lc_entry *e;
    lc_record_rest(lc, r);
    lc_learn_library(lc, r);
    if (r->commands_synced >= 0 && lc_is_2xx(r->status))
        lc_gw_set_commands_registered(lc->gw, r->commands_synced);

    if (r->interaction_id || r->token_hash) {
        e = lc_find(lc, &lc->by_key, r->interaction_id, LC_KIND_INTERACTION);
        if (!e)
            e = lc_find(lc, &lc->by_token, r->token_hash, LC_KIND_INTERACTION);
        if (!e)
            return;
        lc_push_child(lc, e, r);
        if (r->interaction_id && strcmp(r->method, "POST") == 0)
            lc_on_callback(lc, e, r);
        else if (r->is_original_edit || (strcmp(r->method, "POST") == 0 &&
                                         strcmp(r->route, "/webhooks/{webhook_id}/{token}") == 0))
            lc_on_completion(lc, e, r);
        return;
    }
    if (r->channel_id && strcmp(r->method, "POST") == 0 &&
        strcmp(r->route, "/channels/{channel_id}/messages") == 0)
        e = lc_prefix_for_message(lc, r->channel_id, r->ref_message_id);
    else if (r->is_reaction && strcmp(r->method, "PUT") == 0)
        e = lc_find(lc, &lc->by_key, r->message_id, LC_KIND_PREFIX);
    else
        return;
    if (!e)
        return;
    lc_push_child(lc, e, r);
    lc_on_prefix_answer(lc, e, r);
}

/* ---- gateway ------------------------------------------------------------------- */

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
        snprintf(lc->info.bot_id, sizeof(lc->info.bot_id), "%" PRIu64, g->u.ready.user_id);
        snprintf(lc->info.bot_name, sizeof(lc->info.bot_name), "%s", g->u.ready.username);
        lc_publish_info(lc);
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
        lc_on_rest(lc, ev);
        break;
    case EV_DECODE_ERROR:
        reg_counter_add(
            lc->m.decode_errors,
            REG_ATTRS({"stage", ev->u.decode_error.stage ? ev->u.decode_error.stage : "unknown"}),
            1);
        break;
    case EV_CONN_OPEN:
    case EV_CONN_KIND:
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
    for (uint32_t i = lc->head, next; i != LC_NONE; i = next) {
        struct lc_entry *e = &lc->entries[i];
        next = e->next;
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
    for (uint32_t i = lc->head, next; i != LC_NONE; i = next) {
        struct lc_entry *e = &lc->entries[i];
        next = e->next;
        if (e->phase != LC_LINGER && e->deadline_ns <= lc->now_ns)
            lc_time_out(lc, e);
        if (e->phase == LC_LINGER) {
            lc_finish(lc, e);
        } else {
            reg_counter_add(lc->m.abandoned, REG_NO_ATTRS, 1);
            lc_free(lc, e);
        }
    }
    lc->shut_down = true;
}

/* ---- create / destroy -------------------------------------------------------------- */

/* argus-dpy's buckets, in seconds. */
static const double lc_duration_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static void lc_define_metrics(struct lc *lc)
{
    char name[REG_NAME_MAX];
    const char *ns = lc->cfg->ns;
    const unsigned n_bounds = sizeof(lc_duration_bounds) / sizeof(lc_duration_bounds[0]);
    /* prefix true: the name is "<ns>_<suffix>", else it is Argus' own name.
     * Units are chosen for the OTLP -> Prometheus translation (otlp-notes.md
     * §9): histograms in "s" named *_seconds, counters named *_total with a
     * {annotation}, so every strategy yields argus-dpy's names. */
    const struct {
        struct reg_metric **out;
        enum reg_kind kind;
        bool prefix;
        const char *suffix, *description, *unit;
    } defs[] = {
        {&lc->m.interactions, REG_COUNTER, true, "interactions_total",
         "Interactions received, counted on arrival (status=received)", "{interaction}"},
        {&lc->m.responses, REG_COUNTER, true, "interaction_responses_total",
         "Interactions by outcome: success, error (Discord rejected the answer), timeout",
         "{interaction}"},
        {&lc->m.app_commands, REG_COUNTER, true, "app_commands_total",
         "Application commands by qualified name and outcome", "{command}"},
        {&lc->m.commands, REG_COUNTER, true, "commands_total",
         "Prefix commands by inferred name and outcome", "{command}"},
        {&lc->m.command_errors, REG_COUNTER, true, "command_errors_total",
         "Commands that ended in error or timeout, by Discord error code, http_<status> or "
         "timeout",
         "{command}"},
        {&lc->m.app_command_duration, REG_HISTOGRAM, true, "app_command_duration_seconds",
         "Application command from INTERACTION_CREATE read to completion (timeouts: to the "
         "deadline)",
         "s"},
        {&lc->m.command_duration, REG_HISTOGRAM, true, "command_duration_seconds",
         "Prefix command from its message read to the answer (timeouts: to the deadline)", "s"},
        {&lc->m.response_time, REG_HISTOGRAM, true, "interaction_response_seconds",
         "INTERACTION_CREATE read to the initial response written (Discord allows 3 s)", "s"},
        {&lc->m.gateway_events, REG_COUNTER, true, "gateway_events_total",
         "Gateway dispatches read, by event name", "{event}"},
        {&lc->m.http_requests, REG_COUNTER, true, "http_requests_total",
         "REST requests by method, route template and status", "{request}"},
        {&lc->m.http_duration, REG_HISTOGRAM, true, "http_request_duration_seconds",
         "REST request written to response read, by method and route template", "s"},
        {&lc->m.ratelimits, REG_COUNTER, true, "ratelimits_total",
         "429 responses by route template and X-RateLimit-Scope (user when absent)", "{response}"},
        {&lc->m.bot_info, REG_INFO, true, "bot_info",
         "The bot's identity and library, and Argus' version", NULL},
        {&lc->m.decode_errors, REG_COUNTER, false, "argus_decode_errors_total",
         "Connections whose decoding was abandoned, by stage", "{error}"},
        {&lc->m.timers_evicted, REG_COUNTER, false, "argus_timers_evicted_total",
         "Open command lifecycles evicted because the table was full (no outcome recorded)",
         "{lifecycle}"},
        {&lc->m.abandoned, REG_COUNTER, false, "argus_lifecycles_abandoned_total",
         "Command lifecycles still open when the process exited (no outcome recorded)",
         "{lifecycle}"},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (defs[i].prefix)
            snprintf(name, sizeof(name), "%s_%s", ns, defs[i].suffix);
        else
            snprintf(name, sizeof(name), "%s", defs[i].suffix);
        switch (defs[i].kind) {
        case REG_COUNTER:
            *defs[i].out =
                reg_counter(lc->reg, name, defs[i].description, defs[i].unit, REG_NUMBER_U64);
            break;
        case REG_HISTOGRAM:
            *defs[i].out = reg_histogram(lc->reg, name, defs[i].description, defs[i].unit,
                                         lc_duration_bounds, n_bounds);
            break;
        case REG_INFO:
            *defs[i].out = reg_info(lc->reg, name, defs[i].description);
            break;
        default:
            break;
        }
        /* A refused definition leaves that metric out; recorders accept NULL. */
        if (!*defs[i].out)
            argus_log_warn("%s: could not define %s", __func__, name);
    }
}

struct lc *lc_create(const struct argus_config *cfg, struct reg *reg, struct spanq *spans)
{
    uint32_t capacity = cfg->max_open_lifecycles ? cfg->max_open_lifecycles : 1;
    struct lc *lc = calloc(1, sizeof(*lc));
    if (!lc)
        goto fail;
    lc->cfg = cfg;
    lc->reg = reg;
    lc->spans = spans;
    lc->head = lc->tail = LC_NONE;
    lc->next_due_ns = LC_NO_DUE;
    lc->capacity = capacity;
    /* calloc, and slots handed out in order: the untouched tail of the table
     * costs no resident memory. */
    lc->entries = calloc(capacity, sizeof(*lc->entries));
    if (!lc->entries || lc_map_init(&lc->by_key, capacity) < 0 ||
        lc_map_init(&lc->by_token, capacity) < 0 ||
        lc_prefix_labels_init(&lc->labels, &cfg->prefix_commands,
                              cfg->max_prefix_commands ? cfg->max_prefix_commands : 1) < 0)
        goto fail;
    lc->free_head = LC_NONE;
    /* Last, because from here on the registry holds callbacks into lc->gw and
     * nothing may fail. */
    lc->gw = lc_gw_create(reg, cfg->ns);
    if (!lc->gw)
        goto fail;
    lc_define_metrics(lc);
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
    lc_prefix_labels_fini(&lc->labels);
    lc_map_fini(&lc->by_token);
    lc_map_fini(&lc->by_key);
    free(lc->entries);
    free(lc);
}
