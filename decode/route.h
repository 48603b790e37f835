/*
 * route.h - a REST request target turned into a metric-safe route template.
 *
 * route_parse() maps "/api/v10/channels/1234.../messages?limit=5" to
 * "/channels/{channel_id}/messages" and pulls out the correlation keys the
 * lifecycle tracker needs. The template is the only form of the path that
 * leaves this module, so it promises: no query string, no percent escape, no
 * run of six or more digits, no token, no user text. Rules (issue 6):
 *   - /api and /api/vN are dropped (N goes to api_version); so is the query;
 *   - a snowflake after channels/guilds/webhooks is {channel_id}/{guild_id}/
 *     {webhook_id}; any other all-digit segment is {id};
 *   - the segment after a webhook id or an interaction id is {token} (hashed
 *     with tokhash(), never copied), as is anything starting with the base64
 *     of "interaction:";
 *   - the segment after reactions is {emoji};
 *   - a segment that is a known literal of Discord's routes is kept, anything
 *     else becomes {param}.
 *
 * Threads: any; no state. The method is borrowed ("PUT", ...), target is the
 * raw request-target (origin-form, or absolute-form through a proxy).
 */
#ifndef ARGUS_ROUTE_H
#define ARGUS_ROUTE_H

#include <stddef.h>

#include "event.h"

/* Fills route, api_version, interaction_id, token_hash, webhook_id,
 * is_original_edit, channel_id, message_id and is_reaction of *out; leaves
 * every other field alone. */
void route_parse(const char *method, const char *target, size_t len, struct ev_rest *out);

#endif
