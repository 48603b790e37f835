/*
 * lc_metrics.c - the tracker's metric catalogue (lc_metrics.h).
 *
 * One table, one loop: each row is what README.md and docs/lifecycles.md
 * list, so a name, unit or description is changed in exactly one place.
 */
#include "lc_metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lc_entry.h"
#include "log.h"

/* argus-dpy's buckets, in seconds. */
static const double lc_metrics_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct lc_metrics_def {
    size_t offset; /* of the instrument pointer in struct lc_metrics */
    enum reg_kind kind;
    bool prefix; /* the name is "<ns>_<suffix>", else the suffix is Argus' own name */
    const char *suffix, *description, *unit;
};

#define LC_METRICS_AT(field) offsetof(struct lc_metrics, field)

static const struct lc_metrics_def lc_metrics_defs[] = {
    {LC_METRICS_AT(interactions), REG_COUNTER, true, "interactions_total",
     "Interactions received, counted on arrival (status=received)", "{interaction}"},
    {LC_METRICS_AT(responses), REG_COUNTER, true, "interaction_responses_total",
     "Interactions by outcome: success, error (Discord rejected the answer), timeout",
     "{interaction}"},
    {LC_METRICS_AT(app_commands), REG_COUNTER, true, "app_commands_total",
     "Application commands by qualified name and outcome", "{command}"},
    {LC_METRICS_AT(commands), REG_COUNTER, true, "commands_total",
     "Prefix commands by inferred name and outcome", "{command}"},
    {LC_METRICS_AT(command_errors), REG_COUNTER, true, "command_errors_total",
     "Commands that ended in error or timeout, by Discord error code, http_<status> or timeout",
     "{command}"},
    {LC_METRICS_AT(app_command_duration), REG_HISTOGRAM, true, "app_command_duration_seconds",
     "Application command from INTERACTION_CREATE read to completion (timeouts: to the deadline)",
     "s"},
    {LC_METRICS_AT(command_duration), REG_HISTOGRAM, true, "command_duration_seconds",
     "Prefix command from its message read to the answer (timeouts: to the deadline)", "s"},
    {LC_METRICS_AT(response_time), REG_HISTOGRAM, true, "interaction_response_seconds",
     "INTERACTION_CREATE read to the initial response written (Discord allows 3 s)", "s"},
    {LC_METRICS_AT(gateway_events), REG_COUNTER, true, "gateway_events_total",
     "Gateway dispatches read, by event name", "{event}"},
    {LC_METRICS_AT(http_requests), REG_COUNTER, true, "http_requests_total",
     "REST requests by method, route template and status", "{request}"},
    {LC_METRICS_AT(http_duration), REG_HISTOGRAM, true, "http_request_duration_seconds",
     "REST request written to response read, by method and route template", "s"},
    {LC_METRICS_AT(ratelimits), REG_COUNTER, true, "ratelimits_total",
     "429 responses by route template and X-RateLimit-Scope (user when absent)", "{response}"},
    {LC_METRICS_AT(bot_info), REG_INFO, true, "bot_info",
     "The bot's identity and library, and Argus' version", NULL},
    {LC_METRICS_AT(decode_errors), REG_COUNTER, false, "argus_decode_errors_total",
     "Connections whose decoding was abandoned, by stage", "{error}"},
    {LC_METRICS_AT(messages_cut), REG_COUNTER, false, "argus_messages_cut_total",
     "Gateway messages and REST bodies past ARGUS_MAX_MESSAGE_BYTES, dropped whole and never "
     "read as events (also in argus_decode_errors_total), by stage",
     "{message}"},
    {LC_METRICS_AT(timers_evicted), REG_COUNTER, false, "argus_timers_evicted_total",
     "Open command lifecycles evicted because the table was full (no outcome recorded)",
     "{lifecycle}"},
    {LC_METRICS_AT(abandoned), REG_COUNTER, false, "argus_lifecycles_abandoned_total",
     "Command lifecycles still open when the process exited (no outcome recorded)", "{lifecycle}"},
};

static struct reg_metric *lc_metrics_define_one(struct reg *reg, const struct lc_metrics_def *d,
                                                const char *name)
{
    const unsigned n_bounds = sizeof(lc_metrics_bounds) / sizeof(lc_metrics_bounds[0]);
    switch (d->kind) {
    case REG_COUNTER:
        return reg_counter(reg, name, d->description, d->unit, REG_NUMBER_U64);
    case REG_HISTOGRAM:
        return reg_histogram(reg, name, d->description, d->unit, lc_metrics_bounds, n_bounds);
    case REG_INFO:
        return reg_info(reg, name, d->description);
    default:
        return NULL;
    }
}

/* The stages decode/ reports a decode error in (decode/event.h). A stage
 * missing here still counts; it only starts without its 0. */
static const char *const lc_metrics_decode_stages[] = {"http", "ws", "inflate", "gateway",
                                                       "capture"};

/* Adding 0 creates a counter's series without changing its value. */
static void lc_metrics_zero_errors(const struct lc_metrics *m)
{
    const size_t n_stages = sizeof(lc_metrics_decode_stages) / sizeof(lc_metrics_decode_stages[0]);
    for (size_t i = 0; i < n_stages; i++)
        reg_counter_add(m->decode_errors, REG_ATTRS({"stage", lc_metrics_decode_stages[i]}), 0);
    reg_counter_add(m->messages_cut, REG_ATTRS({"stage", "gateway"}), 0);
    reg_counter_add(m->messages_cut, REG_ATTRS({"stage", "http"}), 0);
    reg_counter_add(m->timers_evicted, REG_NO_ATTRS, 0);
    reg_counter_add(m->abandoned, REG_NO_ATTRS, 0);
}

void lc_metrics_zero_outcomes(struct reg_metric *counter, const char *command)
{
    for (int o = 0; o < LC_N_OUTCOMES; o++)
        reg_counter_add(
            counter,
            REG_ATTRS({"command", command}, {"status", lc_entry_outcome_name((enum lc_outcome)o)}),
            0);
}

void lc_metrics_define(struct lc_metrics *m, struct reg *reg, const char *ns)
{
    char name[REG_NAME_MAX];
    for (size_t i = 0; i < sizeof(lc_metrics_defs) / sizeof(lc_metrics_defs[0]); i++) {
        const struct lc_metrics_def *d = &lc_metrics_defs[i];
        struct reg_metric **out = (struct reg_metric **)((char *)m + d->offset);
        if (d->prefix)
            snprintf(name, sizeof(name), "%s_%s", ns, d->suffix);
        else
            snprintf(name, sizeof(name), "%s", d->suffix);
        *out = lc_metrics_define_one(reg, d, name);
        if (!*out)
            argus_log_warn("%s: could not define %s", __func__, name);
    }
    lc_metrics_zero_errors(m);
}

double lc_metrics_seconds(uint64_t from_ns, uint64_t to_ns)
{
    return to_ns > from_ns ? (double)(to_ns - from_ns) / (double)LC_METRICS_NS_PER_S : 0.0;
}
