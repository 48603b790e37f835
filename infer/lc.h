/*
 * lc.h - the lifecycle tracker: from decoded Discord events to command
 * outcomes, the metric catalogue of issue 7, and one span per command.
 *
 * It consumes struct argus_event (decode/event.h) and owns:
 *   - the open lifecycles: every interaction (application command, component,
 *     autocomplete, modal submit) from its INTERACTION_CREATE, and every prefix
 *     command from its MESSAGE_CREATE, until an outcome is decided: success
 *     (answered, Discord accepted), error (Discord rejected the answer;
 *     error_type is its JSON code, else http_<status>) or timeout (no initial
 *     response within 3 s, no deferred completion within
 *     ARGUS_DEFERRED_TIMEOUT_S, no prefix answer within ARGUS_PREFIX_TIMEOUT_S).
 *     The wire cannot tell a command that raised from one that was slow: both
 *     are timeouts, which is also what Discord showed the user;
 *   - the metrics derived from events: interactions, responses, app and
 *     prefix commands with durations, command errors, gateway events, REST
 *     requests and durations, rate limits, decode errors, evicted and
 *     abandoned lifecycles, discord_bot_info, (through lc_gw.h) shards,
 *     guilds, the registered command count, the send cap, loop lag and the
 *     library's caches (users, emojis, stickers, DM channels, voice), and
 *     (through lc_warn.h) rate-limit headroom, invalid requests and the
 *     IDENTIFY budget;
 *   - the spans: a SERVER span per lifecycle (discord.app_command,
 *     discord.interaction, discord.command; none for autocomplete) with a
 *     CLIENT child per REST call that carries the interaction's token (and the
 *     prefix command's reply).
 * Metric names use cfg->ns in place of "discord"; no guild, user or channel id
 * is ever a label, and discord.guild_id appears on spans only with
 * cfg->per_guild.
 *
 * This is the tracker's whole interface; its parts are modules of their own:
 * lc_table.h (the open lifecycles), lc_entry.h (one lifecycle), lc_span.h
 * (span building), lc_metrics.h (the metric catalogue), lc_rest.h (REST
 * metrics), lc_info.h (discord_bot_info), lc_gw.h (shards, guilds, caches;
 * lc_users.h behind discord_cached_users), lc_warn.h (the REST warnings) and
 * lc_prefix.h (prefix-command labels).
 *
 * Bounds: at most cfg->max_open_lifecycles lifecycles are open; opening one
 * more evicts the oldest, which gets no outcome and is counted in
 * argus_timers_evicted_total. Prefix labels are bounded by lc_prefix.h.
 *
 * Secrets: tokens arrive hashed and are kept hashed; message content is read
 * only inside lc_on_event() (the prefix match) and never kept. A prefix
 * command keeps only its candidate name, already restricted to
 * [a-z0-9_-]{1,32}.
 *
 * Threads: lc_on_event(), lc_tick(), lc_shutdown() and lc_destroy() belong to
 * the decode thread; the gauges' callbacks run on reader threads and read only
 * state that lc_gw guards with its own mutex.
 *
 * Ownership: lc_create() borrows cfg, reg and spans (all must outlive the
 * tracker; spans may be NULL when tracing is off) and returns a heap object,
 * or NULL when allocation failed. Because the registry keeps callbacks into
 * the tracker, lc_destroy() (accepts NULL) may run only once no reader will
 * collect reg again.
 */
#ifndef ARGUS_LC_H
#define ARGUS_LC_H

#include <stdint.h>

#include "config.h"
#include "event.h"
#include "reg.h"
#include "spans.h"

#define LC_INITIAL_RESPONSE_NS (3ull * 1000000000ull) /* Discord's 3 s */

/* A REST exchange is reported when its response has been read, so a callback
 * written just before a deadline is seen up to one round trip later. Deadlines
 * are therefore decided this long after they pass; the decision still compares
 * the write time with the deadline itself. */
#define LC_DECISION_DELAY_NS (2ull * 1000000000ull)

/* A lifecycle that timed out stays findable this long, so a late answer (and
 * Discord's reply to it, usually 404 code 10062) becomes an event of its span
 * before the span is exported. */
#define LC_LATE_ANSWER_WINDOW_NS (30ull * 1000000000ull)

struct lc;

struct lc *lc_create(const struct argus_config *cfg, struct reg *reg, struct spanq *spans);

/* An argus_event_fn: arg is the struct lc. */
void lc_on_event(const struct argus_event *ev, void *arg);

/* Decides the deadlines that have passed by now_mono_ns (CLOCK_MONOTONIC, as
 * the events' t_ns) and exports the spans whose late-answer window closed.
 * Call at least every 100 ms. */
void lc_tick(struct lc *lc, uint64_t now_mono_ns);

/* At exit: lifecycles whose deadline has already passed (by the latest time
 * the tracker has seen) get their timeout; every other open lifecycle is
 * counted in argus_lifecycles_abandoned_total and given no outcome; spans
 * waiting for late answers are exported. Idempotent. */
void lc_shutdown(struct lc *lc);

void lc_destroy(struct lc *lc);

#endif
