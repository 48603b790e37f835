/*
 * jansson_ref.h - reference answers for the JSON skimmer, computed with
 * jansson (an independent, validating DOM parser), for test_jscan.c and
 * tests/fuzz/fuzz_jscan_diff.c.
 *
 * - ref_gw(): what gw_parse() must report for a text jansson accepted,
 *   derived from the DOM by the rules gw.h and event.h state (top-level
 *   op/s/t, the per-type fields of struct ev_gw, strings truncated at a
 *   UTF-8 boundary to the field's size);
 * - ref_tree_diff(): walks a jansson value and the jscan spans of the same
 *   text side by side: same members in the same order, same unescaped keys
 *   and strings, same integers, literals and container shapes.
 *
 * Only meaningful for texts jansson loads with JSON_REJECT_DUPLICATES (a
 * DOM keeps one of two equal keys, the skimmer sees both; Discord never
 * sends duplicates). Two documented skimmer rules are mirrored here rather
 * than papered over: keys are matched raw (an escaped "o\u0070" is not
 * "op"), and a snowflake string is read only when it is plain digits; callers
 * that feed arbitrary text skip inputs where those rules apply
 * (ref_raw_top_key_escaped(), a backslash anywhere).
 *
 * Test code: allocates with malloc and aborts on failure; not thread-safe
 * (one static message buffer for the diff description).
 */
#ifndef ARGUS_JANSSON_REF_H
#define ARGUS_JANSSON_REF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "gw.h"
#include "jscan.h"
#include "tokhash.h"

/* The longest prefix of the valid UTF-8 s[0, len) that fits cap - 1 bytes,
 * NUL-terminated. */
static inline void ref_copy(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = len < cap - 1 ? len : cap - 1;

    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    memcpy(out, s, n);
    out[n] = '\0';
}

static inline void ref_copy_string(const json_t *v, char *out, size_t cap)
{
    ref_copy(json_string_value(v), json_string_length(v), out, cap);
}

/* A snowflake: a non-negative integer, or a string of 1 to 20 digits that
 * fits 64 bits; anything else reads as 0. */
static inline uint64_t ref_snowflake(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : 0;
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    uint64_t x = 0;
    if (len == 0 || len > 20)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - digit) / 10)
            return 0;
        x = x * 10 + digit;
    }
    return x;
}

static inline bool ref_int_in(const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = json_integer_value(v);
    return true;
}

/* "shard": [id, count]; each element kept only if an int in [0, INT32_MAX]. */
static inline void ref_pair(const json_t *v, int *a, int *b)
{
    json_int_t x;

    if (!json_is_array(v))
        return;
    if (ref_int_in(json_array_get(v, 0), 0, INT32_MAX, &x))
        *a = (int)x;
    if (ref_int_in(json_array_get(v, 1), 0, INT32_MAX, &x))
        *b = (int)x;
}

/* data.name, then the SUB_COMMAND_GROUP (2) / SUB_COMMAND (1) names down
 * the options tree (at most two levels), joined by spaces, cut to cap. */
static inline void ref_interaction_name(const json_t *data, char *out, size_t cap)
{
    char full[4 * EV_NAME_MAX];
    size_t len = 0;
    const json_t *options;

    out[0] = '\0';
    const json_t *name = json_object_get(data, "name"); /* NULL unless data is an object */
    if (name == NULL)
        return;
    if (json_is_string(name))
        len = (size_t)snprintf(full, sizeof(full), "%s", json_string_value(name));
    options = json_object_get(data, "options");
    for (int level = 0; level < 2 && options != NULL && json_is_array(options); level++) {
        const json_t *found = NULL;
        size_t i;
        json_t *opt;
        json_array_foreach(options, i, opt)
        {
            json_int_t type;
            if (json_is_object(opt) && ref_int_in(json_object_get(opt, "type"), 1, 2, &type)) {
                found = opt;
                break;
            }
        }
        if (found == NULL)
            break;
        const json_t *oname = json_object_get(found, "name");
        if (json_is_string(oname) && len < sizeof(full))
            len += (size_t)snprintf(full + len, sizeof(full) - len, "%s%s", len > 0 ? " " : "",
                                    json_string_value(oname));
        options = json_object_get(found, "options");
    }
    ref_copy(full, len < sizeof(full) ? len : sizeof(full) - 1, out, cap);
}

static inline bool ref_prefix_candidate(const struct gw_opts *o, const char *s, size_t len)
{
    if (len >= 2 && s[0] == '<' && s[1] == '@')
        return true;
    for (unsigned i = 0; i < o->n_prefixes; i++)
        if (len >= o->prefix_len[i] && memcmp(s, o->prefix[i], o->prefix_len[i]) == 0)
            return true;
    return false;
}

static inline void ref_message(const json_t *d, const struct gw_opts *o, struct ev_gw *g)
{
    const json_t *v;

    g->u.message.id = ref_snowflake(json_object_get(d, "id"));
    g->u.message.channel_id = ref_snowflake(json_object_get(d, "channel_id"));
    g->u.message.guild_id = ref_snowflake(json_object_get(d, "guild_id"));
    v = json_object_get(d, "author");
    g->u.message.author_id = ref_snowflake(json_object_get(v, "id"));
    g->u.message.author_bot = json_is_true(json_object_get(v, "bot"));
    v = json_object_get(d, "webhook_id");
    g->u.message.has_webhook_id = v != NULL && !json_is_null(v);
    v = json_object_get(d, "message_reference");
    g->u.message.ref_message_id = ref_snowflake(json_object_get(v, "message_id"));
    v = json_object_get(d, "interaction_metadata");
    g->u.message.interaction_id = ref_snowflake(json_object_get(v, "id"));
    v = json_object_get(d, "content");
    if (json_is_string(v)) {
        /* As gw.c: decode past the head and clamp, so content longer than
         * the head always fills it (a shorter head means the whole content). */
        char head[EV_CONTENT_HEAD + 8];
        ref_copy_string(v, head, sizeof(head));
        size_t n = strlen(head);
        if (n > EV_CONTENT_HEAD)
            n = EV_CONTENT_HEAD;
        if (n > 0 && ref_prefix_candidate(o, head, n)) {
            memcpy(g->u.message.content_head, head, n);
            g->u.message.content_len = (uint16_t)n;
        }
    }
}

static inline void ref_dispatch(const json_t *d, const struct gw_opts *o, struct ev_gw *g)
{
    const json_t *v;
    json_int_t x;

    if (strcmp(g->t, "READY") == 0) {
        g->u.ready.shard_id = -1;
        g->u.ready.shard_count = 1;
        v = json_object_get(d, "user");
        g->u.ready.user_id = ref_snowflake(json_object_get(v, "id"));
        if (json_is_string(json_object_get(v, "username")))
            ref_copy_string(json_object_get(v, "username"), g->u.ready.username,
                            sizeof(g->u.ready.username));
        g->u.ready.application_id =
            ref_snowflake(json_object_get(json_object_get(d, "application"), "id"));
        ref_pair(json_object_get(d, "shard"), &g->u.ready.shard_id, &g->u.ready.shard_count);
        v = json_object_get(d, "guilds");
        if (json_is_array(v))
            g->u.ready.guild_count = (int)json_array_size(v);
        v = json_object_get(d, "private_channels");
        if (json_is_array(v))
            g->u.ready.private_channels = (uint32_t)json_array_size(v);
    } else if (gw_is_guild_event(g->t)) {
        bool by_id = strcmp(g->t, "GUILD_CREATE") == 0 || strcmp(g->t, "GUILD_DELETE") == 0;
        g->u.guild.guild_id = ref_snowflake(json_object_get(d, by_id ? "id" : "guild_id"));
        g->u.guild.unavailable = json_is_true(json_object_get(d, "unavailable"));
        if (json_is_object(d)) {
            v = json_object_get(d, "emojis");
            g->u.guild.emojis = json_is_array(v) ? (int32_t)json_array_size(v) : -1;
            v = json_object_get(d, "stickers");
            g->u.guild.stickers = json_is_array(v) ? (int32_t)json_array_size(v) : -1;
            g->u.guild.user_id = ref_snowflake(json_object_get(json_object_get(d, "user"), "id"));
        }
    } else if (strcmp(g->t, "CHANNEL_CREATE") == 0 || strcmp(g->t, "CHANNEL_DELETE") == 0) {
        if (json_is_object(d)) {
            g->u.channel.id = ref_snowflake(json_object_get(d, "id"));
            g->u.channel.type = ref_int_in(json_object_get(d, "type"), 0, 255, &x) ? (int)x : -1;
        }
    } else if (strcmp(g->t, "VOICE_STATE_UPDATE") == 0) {
        g->u.voice.user_id = ref_snowflake(json_object_get(d, "user_id"));
        g->u.voice.guild_id = ref_snowflake(json_object_get(d, "guild_id"));
        g->u.voice.channel_id = ref_snowflake(json_object_get(d, "channel_id"));
    } else if (strcmp(g->t, "INTERACTION_CREATE") == 0) {
        g->u.interaction.id = ref_snowflake(json_object_get(d, "id"));
        g->u.interaction.application_id = ref_snowflake(json_object_get(d, "application_id"));
        g->u.interaction.guild_id = ref_snowflake(json_object_get(d, "guild_id"));
        g->u.interaction.channel_id = ref_snowflake(json_object_get(d, "channel_id"));
        v = json_object_get(d, "token");
        if (json_is_string(v))
            g->u.interaction.token_hash = tokhash(json_string_value(v), json_string_length(v));
        if (ref_int_in(json_object_get(d, "type"), 0, 255, &x))
            g->u.interaction.type = (int)x;
        v = json_object_get(d, "data");
        if (v != NULL && (g->u.interaction.type == EV_INTERACTION_APPLICATION_COMMAND ||
                          g->u.interaction.type == EV_INTERACTION_AUTOCOMPLETE))
            ref_interaction_name(v, g->u.interaction.name, sizeof(g->u.interaction.name));
    } else if (strcmp(g->t, "MESSAGE_CREATE") == 0) {
        ref_message(d, o, g);
    }
}

/* What gw_parse(text, dir) must give for the DOM `root` of that text. */
static inline enum gw_result ref_gw(const json_t *root, enum ev_dir dir, const struct gw_opts *o,
                                    struct ev_gw *g)
{
    const json_t *v, *d;
    json_int_t x;

    memset(g, 0, sizeof(*g));
    g->op = -1;
    g->seq = -1;
    if (!json_is_object(root) || !ref_int_in(json_object_get(root, "op"), 0, INT32_MAX, &x))
        return GW_MALFORMED;
    g->op = (int)x;
    v = json_object_get(root, "s");
    if (json_is_integer(v))
        g->seq = json_integer_value(v);
    v = json_object_get(root, "t");
    if (json_is_string(v))
        ref_copy_string(v, g->t, sizeof(g->t));
    d = json_object_get(root, "d");
    if (d == NULL)
        return GW_OK;
    if (g->op == 0 && dir == EV_DIR_IN) {
        ref_dispatch(d, o, g);
    } else if (g->op == 10 && dir == EV_DIR_IN) {
        if (ref_int_in(json_object_get(d, "heartbeat_interval"), 1, UINT32_MAX, &x))
            g->u.hello.heartbeat_interval_ms = (uint32_t)x;
    } else if (g->op == 9 && dir == EV_DIR_IN) {
        g->u.invalid_session.resumable = json_is_true(d);
    } else if (g->op == 2 && dir == EV_DIR_OUT) {
        g->u.identify.shard_id = -1;
        g->u.identify.shard_count = 1;
        ref_pair(json_object_get(d, "shard"), &g->u.identify.shard_id, &g->u.identify.shard_count);
        g->u.identify.intents = ref_snowflake(json_object_get(d, "intents"));
    } else if (g->op == 6 && dir == EV_DIR_OUT) {
        if (json_is_integer(json_object_get(d, "seq")))
            g->u.resume.seq = json_integer_value(json_object_get(d, "seq"));
    }
    return GW_OK;
}

/* Describes the first difference between two ev_gw for the payload type
 * (op, t, dir) they carry, or returns NULL. */
static inline const char *ref_gw_diff(const struct ev_gw *got, const struct ev_gw *want,
                                      enum ev_dir dir)
{
    static char msg[256];

#define REF_FIELD(f, fmt, cast)                                                                    \
    if (got->f != want->f) {                                                                       \
        snprintf(msg, sizeof(msg), #f ": got " fmt ", want " fmt, (cast)got->f, (cast)want->f);    \
        return msg;                                                                                \
    }
#define REF_STR(f)                                                                                 \
    if (strcmp(got->f, want->f) != 0) {                                                            \
        snprintf(msg, sizeof(msg), #f ": got \"%s\", want \"%s\"", got->f, want->f);               \
        return msg;                                                                                \
    }
    REF_FIELD(op, "%d", int)
    REF_FIELD(seq, "%lld", long long)
    REF_STR(t)
    if (want->op == 0 && dir == EV_DIR_IN && strcmp(want->t, "READY") == 0) {
        REF_FIELD(u.ready.user_id, "%llu", unsigned long long)
        REF_STR(u.ready.username)
        REF_FIELD(u.ready.application_id, "%llu", unsigned long long)
        REF_FIELD(u.ready.shard_id, "%d", int)
        REF_FIELD(u.ready.shard_count, "%d", int)
        REF_FIELD(u.ready.guild_count, "%d", int)
        REF_FIELD(u.ready.private_channels, "%u", unsigned)
    } else if (want->op == 0 && dir == EV_DIR_IN && gw_is_guild_event(want->t)) {
        REF_FIELD(u.guild.guild_id, "%llu", unsigned long long)
        REF_FIELD(u.guild.unavailable, "%d", int)
        /* GUILD_DELETE stops reading once it has those two. */
        if (strcmp(want->t, "GUILD_DELETE") != 0) {
            REF_FIELD(u.guild.emojis, "%d", int)
            REF_FIELD(u.guild.stickers, "%d", int)
            REF_FIELD(u.guild.user_id, "%llu", unsigned long long)
        }
    } else if (want->op == 0 && dir == EV_DIR_IN &&
               (strcmp(want->t, "CHANNEL_CREATE") == 0 || strcmp(want->t, "CHANNEL_DELETE") == 0)) {
        REF_FIELD(u.channel.id, "%llu", unsigned long long)
        REF_FIELD(u.channel.type, "%d", int)
    } else if (want->op == 0 && dir == EV_DIR_IN && strcmp(want->t, "VOICE_STATE_UPDATE") == 0) {
        REF_FIELD(u.voice.user_id, "%llu", unsigned long long)
        REF_FIELD(u.voice.guild_id, "%llu", unsigned long long)
        REF_FIELD(u.voice.channel_id, "%llu", unsigned long long)
    } else if (want->op == 0 && dir == EV_DIR_IN && strcmp(want->t, "INTERACTION_CREATE") == 0) {
        REF_FIELD(u.interaction.id, "%llu", unsigned long long)
        REF_FIELD(u.interaction.application_id, "%llu", unsigned long long)
        REF_FIELD(u.interaction.token_hash, "%llx", unsigned long long)
        REF_FIELD(u.interaction.guild_id, "%llu", unsigned long long)
        REF_FIELD(u.interaction.channel_id, "%llu", unsigned long long)
        REF_FIELD(u.interaction.type, "%d", int)
        REF_STR(u.interaction.name)
    } else if (want->op == 0 && dir == EV_DIR_IN && strcmp(want->t, "MESSAGE_CREATE") == 0) {
        REF_FIELD(u.message.id, "%llu", unsigned long long)
        REF_FIELD(u.message.channel_id, "%llu", unsigned long long)
        REF_FIELD(u.message.guild_id, "%llu", unsigned long long)
        REF_FIELD(u.message.author_id, "%llu", unsigned long long)
        REF_FIELD(u.message.author_bot, "%d", int)
        REF_FIELD(u.message.has_webhook_id, "%d", int)
        REF_FIELD(u.message.ref_message_id, "%llu", unsigned long long)
        REF_FIELD(u.message.interaction_id, "%llu", unsigned long long)
        REF_FIELD(u.message.content_len, "%u", unsigned)
        if (memcmp(got->u.message.content_head, want->u.message.content_head,
                   want->u.message.content_len) != 0) {
            snprintf(msg, sizeof(msg), "u.message.content_head: got \"%.*s\", want \"%.*s\"",
                     (int)got->u.message.content_len, got->u.message.content_head,
                     (int)want->u.message.content_len, want->u.message.content_head);
            return msg;
        }
    } else if (want->op == 10 && dir == EV_DIR_IN) {
        REF_FIELD(u.hello.heartbeat_interval_ms, "%u", unsigned)
    } else if (want->op == 9 && dir == EV_DIR_IN) {
        REF_FIELD(u.invalid_session.resumable, "%d", int)
    } else if (want->op == 2 && dir == EV_DIR_OUT) {
        REF_FIELD(u.identify.shard_id, "%d", int)
        REF_FIELD(u.identify.shard_count, "%d", int)
        REF_FIELD(u.identify.intents, "%llu", unsigned long long)
    } else if (want->op == 6 && dir == EV_DIR_OUT) {
        REF_FIELD(u.resume.seq, "%lld", long long)
    }
#undef REF_FIELD
#undef REF_STR
    return NULL;
}

/* True if the n bytes at p are all zero (an ev_gw union nobody filled). */
static inline bool ref_all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* jscan_string() of a span into a malloc'd buffer large enough never to
 * truncate (unescaping never lengthens). Returns the length or -1. */
static inline int ref_unescape(const struct jscan_span *s, char **out)
{
    *out = malloc(s->len + 1);
    if (*out == NULL)
        abort();
    int n = jscan_string(s, *out, s->len + 1);
    if (n < 0) {
        free(*out);
        *out = NULL;
    }
    return n;
}

/* Compares the jscan span v (a value of a text jansson loaded) with the
 * jansson value j, recursively. NULL if they agree, else what differs. */
static inline const char *ref_tree_diff(const struct jscan_span *v, const json_t *j)
{
    static char msg[160];
    struct jscan_iter it;
    struct jscan_span k, e;
    char *s = NULL;
    int rc, n;

    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        void *iter = json_object_iter((json_t *)j);
        if (v->is_string || jscan_object(&it, v->p, v->len) < 0)
            return "object not seen as one";
        while ((rc = jscan_object_next(&it, &k, &e)) == 1) {
            if (iter == NULL)
                return "jscan sees more members than jansson";
            n = ref_unescape(&k, &s);
            if (n < 0)
                return "a key jansson accepted does not unescape";
            bool same = (size_t)n == strlen(json_object_iter_key(iter)) &&
                        memcmp(s, json_object_iter_key(iter), (size_t)n) == 0;
            free(s);
            if (!same) {
                snprintf(msg, sizeof(msg), "member key differs: jansson has \"%.60s\"",
                         json_object_iter_key(iter));
                return msg;
            }
            const char *sub = ref_tree_diff(&e, json_object_iter_value(iter));
            if (sub != NULL)
                return sub;
            iter = json_object_iter_next((json_t *)j, iter);
        }
        if (rc < 0)
            return "jscan refuses an object jansson accepted";
        return iter == NULL ? NULL : "jscan sees fewer members than jansson";
    }
    case JSON_ARRAY: {
        size_t i = 0;
        if (v->is_string || jscan_array(&it, v->p, v->len) < 0)
            return "array not seen as one";
        while ((rc = jscan_array_next(&it, &e)) == 1) {
            if (i >= json_array_size(j))
                return "jscan sees more elements than jansson";
            const char *sub = ref_tree_diff(&e, json_array_get(j, i++));
            if (sub != NULL)
                return sub;
        }
        if (rc < 0)
            return "jscan refuses an array jansson accepted";
        return i == json_array_size(j) ? NULL : "jscan sees fewer elements than jansson";
    }
    case JSON_STRING: {
        n = ref_unescape(v, &s);
        bool same = n >= 0 && (size_t)n == json_string_length(j) &&
                    memcmp(s, json_string_value(j), (size_t)n) == 0;
        free(s);
        return same ? NULL : "string differs";
    }
    case JSON_INTEGER: {
        int64_t x;
        if (jscan_i64(v, &x) < 0 || x != json_integer_value(j))
            return "integer differs";
        return NULL;
    }
    case JSON_REAL: {
        char text[64];
        if (v->is_string || v->len == 0 || v->len >= sizeof(text))
            return v->is_string ? "real seen as a string" : NULL;
        memcpy(text, v->p, v->len);
        text[v->len] = '\0';
        return strtod(text, NULL) == json_real_value(j) ? NULL : "real differs";
    }
    case JSON_TRUE:
    case JSON_FALSE: {
        bool b;
        if (jscan_bool(v, &b) < 0 || b != json_is_true(j))
            return "boolean differs";
        return NULL;
    }
    case JSON_NULL:
        return jscan_is_null(v) ? NULL : "null differs";
    }
    return "unknown jansson type";
}

/* Whole-text form of ref_tree_diff (the top level is not a member). */
static inline bool ref_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline const char *ref_text_diff(const char *text, size_t len, const json_t *root)
{
    size_t start = 0, end = len;

    while (start < end && ref_is_space(text[start]))
        start++;
    while (end > start && ref_is_space(text[end - 1]))
        end--;
    struct jscan_span v = {text + start, end - start, false};
    return ref_tree_diff(&v, root);
}

/* True if a top-level key of the object `text` is spelled with an escape
 * and unescapes to one gw_parse() looks for: the skimmer compares keys raw,
 * on purpose (Discord never escapes them), so the reference would differ. */
static inline bool ref_raw_top_key_escaped(const char *text, size_t len)
{
    struct jscan_iter it;
    struct jscan_span k, v;
    bool escaped = false;

    if (jscan_object(&it, text, len) < 0)
        return false;
    while (!escaped && jscan_object_next(&it, &k, &v) == 1) {
        char *s;
        if (memchr(k.p, '\\', k.len) == NULL || ref_unescape(&k, &s) < 0)
            continue;
        escaped = strcmp(s, "op") == 0 || strcmp(s, "s") == 0 || strcmp(s, "t") == 0 ||
                  strcmp(s, "d") == 0;
        free(s);
    }
    return escaped;
}

#endif
