/*
 * lc_metrics.h - the metric catalogue of the lifecycle tracker (issue 7):
 * every instrument the tracker records into, defined once in the registry.
 *
 * It owns the definitions (name, kind, unit, description, histogram bounds)
 * of the metrics derived from events: interactions, responses, application
 * and prefix commands with their durations, command errors, gateway
 * dispatches, REST requests and durations, rate limits, discord_bot_info,
 * decode errors, and evicted and abandoned lifecycles. ("discord" in a name
 * is cfg->ns; argus_* names are never renamed.) Shards, guilds and the
 * command count are lc_gw.h's; Argus' own health metrics are core_metrics.h's.
 *
 * Promises: names and units translate to argus-dpy's Prometheus names under
 * every OTLP-to-Prometheus strategy (otlp-notes.md §9): counters are *_total
 * with a {annotation} unit, histograms *_seconds in "s" with argus-dpy's
 * buckets. Series whose label values are known start at 0, so that rate(),
 * increase() and absent() work from the first collection (issue 13). A
 * definition the registry refuses leaves that pointer NULL (said
 * once as a warning); the registry's recorders accept NULL, so nothing else
 * needs to check.
 *
 * Threads: lc_metrics_define() once, from whoever creates the tracker; the
 * pointers are then read by the decode thread. Ownership: the registry owns
 * the instruments; struct lc_metrics only points at them.
 */
#ifndef ARGUS_LC_METRICS_H
#define ARGUS_LC_METRICS_H

#include <stdint.h>

#include "reg.h"

#define LC_METRICS_NS_PER_S 1000000000ull

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
    struct reg_metric *messages_cut;
    struct reg_metric *timers_evicted;
    struct reg_metric *abandoned;
};

/* ns: the metric name prefix (ARGUS_NAMESPACE), read during the call. The
 * series whose label values are known from the start exist at once, at 0:
 * argus_decode_errors_total for every stage decode/ reports (http, ws,
 * inflate, gateway, capture), argus_messages_cut_total for gateway and http,
 * argus_timers_evicted_total and
 * argus_lifecycles_abandoned_total. */
void lc_metrics_define(struct lc_metrics *m, struct reg *reg, const char *ns);

/* Creates counter's series {command, status} at 0 for every status (success,
 * error, timeout) that does not exist yet; one that exists keeps its value.
 * For discord_app_commands_total and discord_commands_total, once the command
 * is known, so that its first outcome of each kind is an increase from 0. */
void lc_metrics_zero_outcomes(struct reg_metric *counter, const char *command);

/* A duration as the histograms record it: seconds, 0 when to_ns is not after
 * from_ns. */
double lc_metrics_seconds(uint64_t from_ns, uint64_t to_ns);

#endif
