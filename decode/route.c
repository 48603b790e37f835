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

/* What a segment is, decided from itself and the segment before it. */
enum route_kind {
    ROUTE_LITERAL,        /* a word of Discord's routes, kept as it is */
    ROUTE_CHANNEL_ID,     /* channels/{channel_id} */
    ROUTE_GUILD_ID,       /* guilds/{guild_id} */
    ROUTE_WEBHOOK_ID,     /* webhooks/{webhook_id}, followed by a token */
    ROUTE_INTERACTION_ID, /* interactions/{id}, followed by a token */
    ROUTE_MESSAGE_ID,     /* channels/{channel_id}/messages/{id} */
    ROUTE_ID,             /* any other all-digit segment */
    ROUTE_TOKEN,          /* an interaction or webhook token: hashed, never copied */
    ROUTE_EMOJI,          /* reactions/{emoji} */
    ROUTE_PARAM,          /* anything else */
};

static const char *const route_kind_word[] = {
    [ROUTE_CHANNEL_ID] = "{channel_id}", [ROUTE_GUILD_ID] = "{guild_id}",
    [ROUTE_WEBHOOK_ID] = "{webhook_id}", [ROUTE_INTERACTION_ID] = "{id}",
    [ROUTE_MESSAGE_ID] = "{id}",         [ROUTE_ID] = "{id}",
    [ROUTE_TOKEN] = "{token}",           [ROUTE_EMOJI] = "{emoji}",
    [ROUTE_PARAM] = "{param}",
};

/* The walk along a path: the template so far, the segment before the
 * current one, and the buffers that hold a percent-decoded segment. */
struct route_walk {
    const char *method;
    struct ev_rest *rest;
    struct route_out out;
    struct route_seg prev;
    enum route_kind prev_kind;
    unsigned index;
    /* discord.js (discord-api-types' Routes) percent-encodes every argument
     * that is not URL-safe, so "@original" and "@me" passed as arguments
     * arrive as "%40original" and "%40me". Such a segment is matched in its
     * decoded form; two buffers because `prev` may still point at the last. */
    char at_segs[2][16];
};

static bool seg_is_token(struct route_seg s)
{
    size_t n = sizeof(route_interaction_token_prefix) - 1;

    return s.len >= n && memcmp(s.p, route_interaction_token_prefix, n) == 0;
}

/* The next segment of path[*at, len), percent-decoded if it is "%40...".
 * False at the end of the path. */
static bool next_seg(struct route_walk *w, const char *path, size_t len, size_t *at,
                     struct route_seg *s)
{
    while (*at < len && path[*at] == '/')
        (*at)++;
    if (*at >= len)
        return false;
    const char *slash = memchr(path + *at, '/', len - *at);
    s->p = path + *at;
    s->len = slash != NULL ? (size_t)(slash - s->p) : len - *at;
    *at += s->len;
    if (s->len > 3 && s->len - 2 <= sizeof(w->at_segs[0]) && memcmp(s->p, "%40", 3) == 0) {
        char *decoded = w->at_segs[w->index & 1];
        decoded[0] = '@';
        memcpy(decoded + 1, s->p + 3, s->len - 3);
        s->p = decoded;
        s->len -= 2;
    }
    return true;
}

/* "/api" and "/api/vN" lead the path and are not part of the template;
 * N goes to api_version. True if s was one of them. */
static bool api_prefix(struct route_walk *w, struct route_seg s)
{
    struct route_seg digits = {s.p + 1, s.len - 1};

    if (w->index == 0 && seg_is(s, "api"))
        return true;
    if (w->index == 1 && seg_is(w->prev, "api") && s.len >= 2 && s.len <= 3 && s.p[0] == 'v' &&
        seg_is_digits(digits)) {
        w->rest->api_version = (uint8_t)seg_u64(digits);
        return true;
    }
    return false;
}

/* An all-digit segment, named by the collection before it. */
static enum route_kind classify_id(const struct route_walk *w)
{
    if (seg_is(w->prev, "channels"))
        return ROUTE_CHANNEL_ID;
    if (seg_is(w->prev, "guilds"))
        return ROUTE_GUILD_ID;
    if (seg_is(w->prev, "webhooks"))
        return ROUTE_WEBHOOK_ID;
    if (seg_is(w->prev, "interactions"))
        return ROUTE_INTERACTION_ID;
    if (seg_is(w->prev, "messages") && w->rest->channel_id != 0)
        return ROUTE_MESSAGE_ID;
    return ROUTE_ID;
}

static enum route_kind classify(const struct route_walk *w, struct route_seg s)
{
    bool literal = seg_is_literal(s), digits = seg_is_digits(s);
    bool after_token_owner =
        w->prev_kind == ROUTE_WEBHOOK_ID || w->prev_kind == ROUTE_INTERACTION_ID;

    if (seg_is_token(s) || (after_token_owner && !digits && !literal))
        return ROUTE_TOKEN;
    if (digits)
        return classify_id(w);
    if (seg_is(w->prev, "reactions") && !literal)
        return ROUTE_EMOJI;
    return literal ? ROUTE_LITERAL : ROUTE_PARAM;
}

/* Appends the segment's template form and keeps the keys it carries. The
 * first channel, message and token seen win. */
static void take(struct route_walk *w, struct route_seg s, enum route_kind kind)
{
    struct ev_rest *r = w->rest;
    uint64_t id = kind != ROUTE_TOKEN && kind != ROUTE_LITERAL ? seg_u64(s) : 0;

    if (kind == ROUTE_LITERAL)
        out_append(&w->out, s.p, s.len);
    else
        out_word(&w->out, route_kind_word[kind]);
    switch (kind) {
    case ROUTE_TOKEN:
        if (r->token_hash == 0)
            r->token_hash = tokhash(s.p, s.len);
        break;
    case ROUTE_CHANNEL_ID:
        if (r->channel_id == 0)
            r->channel_id = id;
        break;
    case ROUTE_WEBHOOK_ID:
        r->webhook_id = id;
        break;
    case ROUTE_INTERACTION_ID:
        r->interaction_id = id;
        break;
    case ROUTE_MESSAGE_ID:
        if (r->message_id == 0)
            r->message_id = id;
        break;
    case ROUTE_LITERAL:
        /* PUT .../reactions/{emoji}/@me adds the bot's reaction;
         * PATCH /webhooks/{id}/{token}/messages/@original edits the answer. */
        if (w->prev_kind == ROUTE_EMOJI && seg_is(s, "@me") && strcmp(w->method, "PUT") == 0)
            r->is_reaction = true;
        if (seg_is(s, "@original") && seg_is(w->prev, "messages") && r->token_hash != 0 &&
            strcmp(w->method, "PATCH") == 0)
            r->is_original_edit = true;
        break;
    case ROUTE_GUILD_ID:
    case ROUTE_ID:
    case ROUTE_EMOJI:
    case ROUTE_PARAM:
        break;
    }
}

/* The path of a request-target: no authority, query or fragment. */
static void target_path(const char **target, size_t *len)
{
    const char *end;

    strip_authority(target, len);
    end = memchr(*target, '?', *len);
    if (end != NULL)
        *len = (size_t)(end - *target);
    end = memchr(*target, '#', *len);
    if (end != NULL)
        *len = (size_t)(end - *target);
}

static void clear_keys(struct ev_rest *out)
{
    out->route[0] = '\0';
    out->api_version = 0;
    out->interaction_id = 0;
    out->token_hash = 0;
    out->webhook_id = 0;
    out->is_original_edit = false;
    out->channel_id = 0;
    out->message_id = 0;
    out->is_reaction = false;
}

void route_parse(const char *method, const char *target, size_t len, struct ev_rest *out)
{
    struct route_walk w = {
        .method = method,
        .rest = out,
        .out = {.buf = out->route, .cap = sizeof(out->route)},
        .prev = {"", 0},
        .prev_kind = ROUTE_LITERAL,
    };
    struct route_seg s;
    size_t at = 0;

    clear_keys(out);
    target_path(&target, &len);
    while (next_seg(&w, target, len, &at, &s)) {
        if (!api_prefix(&w, s)) {
            enum route_kind kind = classify(&w, s);
            take(&w, s, kind);
            w.prev_kind = kind;
        }
        w.prev = s;
        w.index++;
    }
    if (w.out.len == 0)
        out_word(&w.out, "");
}
