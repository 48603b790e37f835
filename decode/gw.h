/*
 * gw.h - gateway payloads {op, d, s, t} to struct ev_gw.
 *
 * gw_parse() reads one complete gateway message (decompressed JSON) and
 * fills a struct ev_gw (decode/event.h). It promises:
 *   - top-level "op", "s" and "t" are found whatever the key order and
 *     whatever strings inside "d" contain (keys are matched only at the top
 *     level, by a skimmer that skips values whole);
 *   - a dispatch whose fields nobody needs costs a scan of the envelope
 *     only: Discord sends "t", "s", "op" before "d", and the scan stops as
 *     soon as it has them;
 *   - fields are read only for HELLO, INVALID_SESSION, IDENTIFY, RESUME,
 *     READY, the guild events of gw_is_guild_event(), CHANNEL_CREATE,
 *     CHANNEL_DELETE, VOICE_STATE_UPDATE, INTERACTION_CREATE and
 *     MESSAGE_CREATE, without allocating and without copying any token: the
 *     interaction token becomes tokhash(), the bot token is never touched;
 *   - of the caches (members, emojis, stickers) only counts and user ids
 *     are taken: arrays are skimmed, never materialised, and no name is
 *     read;
 *   - message content is copied (into content_head) only for a prefix
 *     candidate: a message whose content starts with a configured prefix or
 *     with a mention ("<@").
 *
 * The pipeline never hands over a message cut at the size cap (it counts it
 * as cut, issue 14). Given a truncated message anyway, gw_parse reads only
 * what its prefix holds: a field whose value was cut is never read (the
 * skimmer refuses an unterminated value).
 *
 * Threads: any; struct gw_opts is read-only after gw_opts_init.
 */
#ifndef ARGUS_GW_H
#define ARGUS_GW_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "jscan.h"

/* The limits ARGUS_PREFIX is parsed within (config.h). */
#define GW_MAX_PREFIXES ARGUS_CONFIG_MAX_PREFIXES
#define GW_PREFIX_MAX ARGUS_CONFIG_PREFIX_MAX

struct gw_opts {
    unsigned n_prefixes;
    unsigned char prefix_len[GW_MAX_PREFIXES];
    char prefix[GW_MAX_PREFIXES][GW_PREFIX_MAX];
};

/* Copies the prefixes of ARGUS_PREFIX, as the configuration parsed them
 * (config.h: within GW_MAX_PREFIXES of 1 to GW_PREFIX_MAX bytes, the same
 * list lc_prefix_match() reads). An empty list means no text prefix: only a
 * mention makes a candidate. */
void gw_opts_init(struct gw_opts *o, const struct argus_list *prefixes);

enum gw_result {
    GW_OK,       /* *out is filled */
    GW_ETF,      /* the message is Erlang Term Format (first byte 0x83) */
    GW_MALFORMED /* not a JSON object with an integer "op" */
};

/* Whether dispatch name t is one whose fields go to ev_gw.u.guild. */
bool gw_is_guild_event(const char *t);

/* Walks an event's u.guild.members array (valid only inside the event's
 * callback): each call yields the next member's user id. begin returns 0
 * or -EINVAL; next returns 1 (an id), 0 (the end) or -EINVAL (malformed:
 * the ids already yielded stand). Members without a user id are skipped. */
struct gw_members {
    struct jscan_iter it;
};

int gw_members_begin(struct gw_members *m, const char *members, size_t len);
int gw_members_next(struct gw_members *m, uint64_t *user_id);

enum gw_result gw_parse(const char *json, size_t len, enum ev_dir dir, const struct gw_opts *opts,
                        struct ev_gw *out);

#endif
