/*
 * route.c - path segments to template segments, one pass, no allocation.
 *
 * Each segment is classified from itself and from the segment before it
 * (Discord's routes are "/collection/{id}/collection/{id}..."), which is all
 * the context the rules need. The list of literals is deliberately broad:
 * a literal we do not know becomes {param}, which merges routes on a
 * dashboard but can never leak an id; a literal list too narrow is safe, too
 * broad (say, containing a word users choose) would not be, so it holds only
 * words that appear in Discord's documented routes.
 */
#include "route.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tokhash.h"

/* Words that appear as fixed segments in Discord's REST routes. */
static const char *const route_literals[] = {
    "@me",
    "@original",
    "active",
    "activity-instances",
    "applications",
    "application-emojis",
    "archived",
    "attachments",
    "audit-logs",
    "auto-moderation",
    "bans",
    "bot",
    "bulk-ban",
    "bulk-delete",
    "callback",
    "channels",
    "commands",
    "connections",
    "consume",
    "crosspost",
    "directory-entries",
    "emojis",
    "entitlements",
    "followers",
    "gateway",
    "github",
    "guilds",
    "incident-actions",
    "integrations",
    "interactions",
    "invites",
    "joined",
    "lobbies",
    "member-verification",
    "members",
    "messages",
    "metadata",
    "mfa",
    "nick",
    "oauth2",
    "onboarding",
    "permissions",
    "pins",
    "polls",
    "answers",
    "expire",
    "preview",
    "private",
    "prune",
    "public",
    "reactions",
    "recipients",
    "regions",
    "role-connections",
    "roles",
    "rules",
    "scheduled-events",
    "search",
    "send-soundboard-sound",
    "skus",
    "slack",
    "soundboard-default-sounds",
    "soundboard-sounds",
    "stage-instances",
    "sticker-packs",
    "stickers",
    "subscriptions",
    "templates",
    "thread-members",
    "threads",
    "typing",
    "users",
    "vanity-url",
    "voice",
    "voice-states",
    "webhooks",
    "welcome-screen",
    "widget",
    "widget.json",
    "widget.png",
    "authorize",
    "token",
    "revoke",
    "keys",
    "@self",
    "ack",
    "channel",
    "message",
    "guild",
    "user",
    "emoji",
    "sticker",
    "voice-status",
    "safety-alerts",
    "threads-search",
    "webhook",
    "with-counts",
};

/* Base64 of "interaction:", the start of every interaction token. */
static const char route_interaction_token_prefix[] = "aW50ZXJhY3Rpb246";

struct route_seg {
    const char *p;
    size_t len;
};

static bool seg_is(struct route_seg s, const char *word)
{
    size_t n = strlen(word);

    return s.len == n && memcmp(s.p, word, n) == 0;
}

static bool seg_is_literal(struct route_seg s)
{
    for (size_t i = 0; i < sizeof(route_literals) / sizeof(route_literals[0]); i++)
        if (seg_is(s, route_literals[i]))
            return true;
    return false;
}

static bool seg_is_digits(struct route_seg s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return true;
}

/* A snowflake fits in 64 bits; a longer run of digits is not one. */
static uint64_t seg_u64(struct route_seg s)
{
    uint64_t x = 0;

    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned)(s.p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    return x;
}

struct route_out {
    char *buf;
    size_t cap;
    size_t len;
    bool full;
};

/* Appends "/" + text, or marks the template full (then nothing more is
 * appended, so the template stays a prefix of the real one). */
static void out_append(struct route_out *o, const char *text, size_t n)
{
    if (o->full || o->len + 1 + n >= o->cap) {
        o->full = true;
        return;
    }
    o->buf[o->len++] = '/';
    memcpy(o->buf + o->len, text, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_word(struct route_out *o, const char *word)
{
    out_append(o, word, strlen(word));
}

/* Strips "scheme://authority" of an absolute-form target (RFC 9112 §3.2.2). */
static void strip_authority(const char **p, size_t *len)
{
    size_t colon = 0;

    if (*len == 0 || **p == '/')
        return;
    while (colon < *len && (*p)[colon] != ':' && (*p)[colon] != '/')
        colon++;
    if (colon + 3 > *len || memcmp(*p + colon, "://", 3) != 0)
        return;
    const char *host = *p + colon + 3;
    size_t rest = *len - (size_t)(host - *p);
    const char *slash = memchr(host, '/', rest);
    if (slash == NULL) {
        *p = host + rest;
        *len = 0;
        return;
    }
    *len -= (size_t)(slash - *p);
    *p = slash;
}

void route_parse(const char *method, const char *target, size_t len, struct ev_rest *out)
{
    struct route_out o = {.buf = out->route, .cap = sizeof(out->route), .len = 0};
    struct route_seg prev = {"", 0};
    const char *end;
    bool expect_token = false, in_channel_messages = false;
    bool prev_was_emoji = false;
    unsigned index = 0;

    out->route[0] = '\0';
    out->api_version = 0;
    out->interaction_id = 0;
    out->token_hash = 0;
    out->webhook_id = 0;
    out->is_original_edit = false;
    out->channel_id = 0;
    out->message_id = 0;
    out->is_reaction = false;

    strip_authority(&target, &len);
    end = memchr(target, '?', len);
    if (end != NULL)
        len = (size_t)(end - target);
    end = memchr(target, '#', len);
    if (end != NULL)
        len = (size_t)(end - target);

    /* discord.js (discord-api-types' Routes) percent-encodes every argument
     * that is not URL-safe, so "@original" and "@me" passed as arguments
     * arrive as "%40original" and "%40me". Such a segment is matched in its
     * decoded form; two buffers because `prev` may still point at the last. */
    char at_segs[2][16];

    for (size_t i = 0; i < len;) {
        struct route_seg s;
        const char *slash;

        while (i < len && target[i] == '/')
            i++;
        if (i >= len)
            break;
        slash = memchr(target + i, '/', len - i);
        s.p = target + i;
        s.len = slash != NULL ? (size_t)(slash - s.p) : len - i;
        i += s.len;
        if (s.len > 3 && s.len - 2 <= sizeof(at_segs[0]) && memcmp(s.p, "%40", 3) == 0) {
            char *decoded = at_segs[index & 1];
            decoded[0] = '@';
            memcpy(decoded + 1, s.p + 3, s.len - 3);
            s.p = decoded;
            s.len -= 2;
        }

        if (index == 0 && seg_is(s, "api")) {
            prev = s;
            index++;
            continue;
        }
        if (index == 1 && seg_is(prev, "api") && s.len >= 2 && s.len <= 3 && s.p[0] == 'v' &&
            seg_is_digits((struct route_seg){s.p + 1, s.len - 1})) {
            out->api_version = (uint8_t)seg_u64((struct route_seg){s.p + 1, s.len - 1});
            prev = s;
            index++;
            continue;
        }
        index++;

        bool digits = seg_is_digits(s);
        bool token_like = s.len >= sizeof(route_interaction_token_prefix) - 1 &&
                          memcmp(s.p, route_interaction_token_prefix,
                                 sizeof(route_interaction_token_prefix) - 1) == 0;
        if (token_like || (expect_token && !digits && !seg_is_literal(s))) {
            if (out->token_hash == 0)
                out->token_hash = tokhash(s.p, s.len);
            out_word(&o, "{token}");
            expect_token = false;
        } else if (digits) {
            uint64_t id = seg_u64(s);
            expect_token = false;
            if (seg_is(prev, "channels")) {
                out_word(&o, "{channel_id}");
                if (out->channel_id == 0)
                    out->channel_id = id;
            } else if (seg_is(prev, "guilds")) {
                out_word(&o, "{guild_id}");
            } else if (seg_is(prev, "webhooks")) {
                out_word(&o, "{webhook_id}");
                out->webhook_id = id;
                expect_token = true;
            } else if (seg_is(prev, "interactions")) {
                out_word(&o, "{id}");
                out->interaction_id = id;
                expect_token = true;
            } else {
                out_word(&o, "{id}");
                if (in_channel_messages && seg_is(prev, "messages") && out->message_id == 0)
                    out->message_id = id;
            }
        } else if (seg_is(prev, "reactions") && !seg_is_literal(s)) {
            out_word(&o, "{emoji}");
            expect_token = false;
            prev = s;
            prev_was_emoji = true;
            continue;
        } else if (seg_is_literal(s)) {
            out_append(&o, s.p, s.len);
            if (seg_is(s, "messages") && out->channel_id != 0)
                in_channel_messages = true;
            if (prev_was_emoji && seg_is(s, "@me") && strcmp(method, "PUT") == 0)
                out->is_reaction = true;
            if (seg_is(s, "@original") && seg_is(prev, "messages") && out->token_hash != 0 &&
                strcmp(method, "PATCH") == 0)
                out->is_original_edit = true;
            expect_token = false;
        } else {
            out_word(&o, "{param}");
            expect_token = false;
        }
        prev = s;
        prev_was_emoji = false;
    }
    if (o.len == 0)
        out_word(&o, "");
}
