/*
 * gw.c - the gateway envelope and the few payloads whose fields we need.
 *
 * Everything goes through the jscan skimmer rather than jansson: the payloads
 * that need fields are either huge (READY, GUILD_CREATE), frequent
 * (MESSAGE_CREATE), or carry a token (IDENTIFY, RESUME, INTERACTION_CREATE)
 * that a DOM parser would copy to the heap. The skimmer reads the fields in
 * place, so the only copies made are the bounded ones into the event.
 */
#include "gw.h"

#include <string.h>

#include "jscan.h"
#include "tokhash.h"

void gw_opts_init(struct gw_opts *o, const struct argus_list *prefixes)
{
    memset(o, 0, sizeof(*o));
    for (unsigned i = 0; i < prefixes->n && o->n_prefixes < GW_MAX_PREFIXES; i++) {
        /* The configuration keeps every prefix within the limits; a longer
         * one could not be matched the same way by lc_prefix_match(). */
        size_t n = strlen(prefixes->items[i]);
        if (n > 0 && n <= GW_PREFIX_MAX) {
            memcpy(o->prefix[o->n_prefixes], prefixes->items[i], n);
            o->prefix_len[o->n_prefixes++] = (unsigned char)n;
        }
    }
}

static void copy_str(const struct jscan_span *v, char *dst, size_t cap)
{
    if (jscan_string(v, dst, cap) < 0)
        dst[0] = '\0';
}

static uint64_t span_u64(const struct jscan_span *v)
{
    uint64_t x = 0;

    return jscan_u64(v, &x) == 0 ? x : 0;
}

/* [a, b] as in "shard":[0,1]. */
static void read_pair(const struct jscan_span *v, int *a, int *b)
{
    struct jscan_iter it;
    struct jscan_span e;
    int64_t x;

    if (jscan_array(&it, v->p, v->len) < 0)
        return;
    if (jscan_array_next(&it, &e) == 1 && jscan_i64(&e, &x) == 0 && x >= 0 && x <= INT32_MAX)
        *a = (int)x;
    if (jscan_array_next(&it, &e) == 1 && jscan_i64(&e, &x) == 0 && x >= 0 && x <= INT32_MAX)
        *b = (int)x;
}

/* Elements of an array value, skimmed without being read; -1 when v is
 * not an array (or a malformed one). GUILD_CREATE's member list can be
 * megabytes: this walks it once and keeps nothing. */
static int count_array(const struct jscan_span *v)
{
    struct jscan_iter it;
    struct jscan_span e;
    int n = 0, rc;

    if (jscan_array(&it, v->p, v->len) < 0)
        return -1;
    while ((rc = jscan_array_next(&it, &e)) == 1 && n < INT32_MAX)
        n++;
    return rc < 0 ? -1 : n;
}

static void parse_hello(const struct jscan_span *d, struct ev_gw *g)
{
    struct jscan_span v;
    int64_t ms;

    if (jscan_find(d->p, d->len, "heartbeat_interval", &v) == 1 && jscan_i64(&v, &ms) == 0 &&
        ms > 0 && ms <= UINT32_MAX)
        g->u.hello.heartbeat_interval_ms = (uint32_t)ms;
}

static void parse_identify(const struct jscan_span *d, struct ev_gw *g)
{
    struct jscan_iter it;
    struct jscan_span k, v;
    uint64_t intents;

    g->u.identify.shard_id = -1;
    g->u.identify.shard_count = 1;
    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    /* The "token" member is skipped like any other value: never read. */
    while (jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, "shard"))
            read_pair(&v, &g->u.identify.shard_id, &g->u.identify.shard_count);
        else if (jscan_key_is(&k, "intents") && jscan_u64(&v, &intents) == 0)
            g->u.identify.intents = intents;
    }
}

static void parse_ready(const struct jscan_span *d, struct ev_gw *g)
{
    struct jscan_iter it, sub;
    struct jscan_span k, v, sk, sv;

    g->u.ready.shard_id = -1;
    g->u.ready.shard_count = 1;
    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    while (jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, "user") && jscan_object(&sub, v.p, v.len) == 0) {
            while (jscan_object_next(&sub, &sk, &sv) == 1) {
                if (jscan_key_is(&sk, "id"))
                    g->u.ready.user_id = span_u64(&sv);
                else if (jscan_key_is(&sk, "username"))
                    copy_str(&sv, g->u.ready.username, sizeof(g->u.ready.username));
            }
        } else if (jscan_key_is(&k, "application")) {
            if (jscan_find(v.p, v.len, "id", &sv) == 1)
                g->u.ready.application_id = span_u64(&sv);
        } else if (jscan_key_is(&k, "shard")) {
            read_pair(&v, &g->u.ready.shard_id, &g->u.ready.shard_count);
        } else if (jscan_key_is(&k, "guilds")) {
            int n = count_array(&v);
            g->u.ready.guild_count = n > 0 ? n : 0;
        } else if (jscan_key_is(&k, "private_channels")) {
            int n = count_array(&v);
            g->u.ready.private_channels = n > 0 ? (uint32_t)n : 0;
        }
    }
}

/* The guild events: GUILD_CREATE and GUILD_DELETE name the guild "id", the
 * others "guild_id" (and may hold an "id" of something else). GUILD_DELETE,
 * the frequent small one, stops as soon as it has what it needs; the others
 * are scanned whole (their arrays are skipped, or counted, never
 * materialised). */
static void parse_guild(const struct jscan_span *d, const char *id_key, bool is_delete,
                        struct ev_gw *g)
{
    struct jscan_iter it;
    struct jscan_span k, v, sv;
    bool have_id = false, have_unavailable = false;

    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    g->u.guild.emojis = -1;
    g->u.guild.stickers = -1;
    while (!(is_delete && have_id && have_unavailable) && jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, id_key)) {
            g->u.guild.guild_id = span_u64(&v);
            have_id = true;
        } else if (jscan_key_is(&k, "unavailable")) {
            have_unavailable = jscan_bool(&v, &g->u.guild.unavailable) == 0;
        } else if (jscan_key_is(&k, "emojis")) {
            g->u.guild.emojis = count_array(&v);
        } else if (jscan_key_is(&k, "stickers")) {
            g->u.guild.stickers = count_array(&v);
        } else if (jscan_key_is(&k, "members") && !v.is_string) {
            g->members = v.p;
            g->members_len = v.len;
        } else if (jscan_key_is(&k, "user") && jscan_find(v.p, v.len, "id", &sv) == 1) {
            g->u.guild.user_id = span_u64(&sv);
        }
    }
}

static void parse_channel(const struct jscan_span *d, struct ev_gw *g)
{
    struct jscan_iter it;
    struct jscan_span v;
    int64_t type;

    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    g->u.channel.type = -1;
    if (jscan_find(d->p, d->len, "id", &v) == 1)
        g->u.channel.id = span_u64(&v);
    if (jscan_find(d->p, d->len, "type", &v) == 1 && jscan_i64(&v, &type) == 0 && type >= 0 &&
        type < 256)
        g->u.channel.type = (int)type;
}

static void parse_voice_state(const struct jscan_span *d, struct ev_gw *g)
{
    struct jscan_iter it;
    struct jscan_span k, v;

    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    while (jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, "user_id"))
            g->u.voice.user_id = span_u64(&v);
        else if (jscan_key_is(&k, "guild_id"))
            g->u.voice.guild_id = span_u64(&v);
        else if (jscan_key_is(&k, "channel_id"))
            g->u.voice.channel_id = span_u64(&v); /* null reads as 0 */
    }
}

int gw_members_begin(struct gw_members *m, const char *members, size_t len)
{
    return jscan_array(&m->it, members, len);
}

int gw_members_next(struct gw_members *m, uint64_t *user_id)
{
    struct jscan_span e, u, id;
    int rc;

    /* A member without a user object (never sent in these events) is
     * skipped rather than ending the walk. */
    while ((rc = jscan_array_next(&m->it, &e)) == 1) {
        if (jscan_find(e.p, e.len, "user", &u) == 1 && jscan_find(u.p, u.len, "id", &id) == 1 &&
            jscan_u64(&id, user_id) == 0 && *user_id != 0)
            return 1;
    }
    return rc;
}

/* Appends " name" (or "name" when empty) to the qualified command name. */
static void name_append(char *name, size_t cap, const struct jscan_span *v)
{
    size_t at = strlen(name);

    if (at > 0 && at + 1 < cap)
        name[at++] = ' ';
    if (at + 1 < cap && jscan_string(v, name + at, cap - at) < 0)
        name[at > 0 ? at - 1 : 0] = '\0';
}

/* data.name plus the SUB_COMMAND_GROUP (2) and SUB_COMMAND (1) names along
 * the options tree, which has at most one such option per level. */
static void interaction_name(const struct jscan_span *data, char *name, size_t cap)
{
    struct jscan_span v, options;
    bool have_options = false;

    if (jscan_find(data->p, data->len, "name", &v) != 1)
        return;
    name_append(name, cap, &v);
    have_options = jscan_find(data->p, data->len, "options", &options) == 1;
    for (int level = 0; level < 2 && have_options; level++) {
        struct jscan_iter it;
        struct jscan_span opt, type, oname;
        int64_t t;
        have_options = false;
        if (jscan_array(&it, options.p, options.len) < 0)
            break;
        while (jscan_array_next(&it, &opt) == 1) {
            if (jscan_find(opt.p, opt.len, "type", &type) != 1 || jscan_i64(&type, &t) < 0 ||
                (t != 1 && t != 2))
                continue;
            if (jscan_find(opt.p, opt.len, "name", &oname) == 1)
                name_append(name, cap, &oname);
            have_options = jscan_find(opt.p, opt.len, "options", &options) == 1;
            break;
        }
    }
}

static void parse_interaction(const struct jscan_span *d, struct ev_gw *g)
{
    struct jscan_iter it;
    struct jscan_span k, v, data = {0};
    int64_t type;
    bool have_data = false;

    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    while (jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, "id"))
            g->u.interaction.id = span_u64(&v);
        else if (jscan_key_is(&k, "application_id"))
            g->u.interaction.application_id = span_u64(&v);
        else if (jscan_key_is(&k, "token") && v.is_string)
            g->u.interaction.token_hash = tokhash(v.p, v.len);
        else if (jscan_key_is(&k, "guild_id"))
            g->u.interaction.guild_id = span_u64(&v);
        else if (jscan_key_is(&k, "channel_id"))
            g->u.interaction.channel_id = span_u64(&v);
        else if (jscan_key_is(&k, "type") && jscan_i64(&v, &type) == 0 && type >= 0 && type < 256)
            g->u.interaction.type = (int)type;
        else if (jscan_key_is(&k, "data")) {
            data = v;
            have_data = true;
        }
    }
    if (have_data && (g->u.interaction.type == EV_INTERACTION_APPLICATION_COMMAND ||
                      g->u.interaction.type == EV_INTERACTION_AUTOCOMPLETE))
        interaction_name(&data, g->u.interaction.name, sizeof(g->u.interaction.name));
}

static bool is_prefix_candidate(const struct gw_opts *o, const char *text, size_t len)
{
    if (len >= 2 && text[0] == '<' && text[1] == '@')
        return true;
    for (unsigned i = 0; i < o->n_prefixes; i++)
        if (len >= o->prefix_len[i] && memcmp(text, o->prefix[i], o->prefix_len[i]) == 0)
            return true;
    return false;
}

static void parse_message(const struct jscan_span *d, const struct gw_opts *o, struct ev_gw *g)
{
    struct jscan_iter it;
    struct jscan_span k, v, sv;
    bool author_bot = false;

    if (jscan_object(&it, d->p, d->len) < 0)
        return;
    while (jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, "id")) {
            g->u.message.id = span_u64(&v);
        } else if (jscan_key_is(&k, "channel_id")) {
            g->u.message.channel_id = span_u64(&v);
        } else if (jscan_key_is(&k, "guild_id")) {
            g->u.message.guild_id = span_u64(&v);
        } else if (jscan_key_is(&k, "author") && !jscan_is_null(&v)) {
            if (jscan_find(v.p, v.len, "id", &sv) == 1)
                g->u.message.author_id = span_u64(&sv);
            if (jscan_find(v.p, v.len, "bot", &sv) == 1 && jscan_bool(&sv, &author_bot) == 0)
                g->u.message.author_bot = author_bot;
        } else if (jscan_key_is(&k, "webhook_id")) {
            g->u.message.has_webhook_id = !jscan_is_null(&v);
        } else if (jscan_key_is(&k, "message_reference") && !jscan_is_null(&v)) {
            if (jscan_find(v.p, v.len, "message_id", &sv) == 1)
                g->u.message.ref_message_id = span_u64(&sv);
        } else if (jscan_key_is(&k, "interaction_metadata") && !jscan_is_null(&v)) {
            if (jscan_find(v.p, v.len, "id", &sv) == 1)
                g->u.message.interaction_id = span_u64(&sv);
        } else if (jscan_key_is(&k, "content") && v.is_string) {
            /* content_len < EV_CONTENT_HEAD must mean "the whole content"
             * (lc_prefix_match). A cut jscan_string() ends up to 7 bytes
             * short of its cap (a 4-byte character that did not fit, then a
             * cut UTF-8 sequence of up to 3 dropped), so decode 8 bytes past
             * the head: longer content then always fills it. */
            char head[EV_CONTENT_HEAD + 8];
            int n = jscan_string(&v, head, sizeof(head));
            if (n > EV_CONTENT_HEAD)
                n = EV_CONTENT_HEAD;
            if (n > 0 && is_prefix_candidate(o, head, (size_t)n)) {
                memcpy(g->u.message.content_head, head, (size_t)n);
                g->u.message.content_len = (uint16_t)n;
            }
        }
    }
}

static bool t_is(const struct ev_gw *g, const char *name)
{
    return strcmp(g->t, name) == 0;
}

bool gw_is_guild_event(const char *t)
{
    static const char *const names[] = {
        "GUILD_CREATE",        "GUILD_DELETE",        "GUILD_MEMBERS_CHUNK",   "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_REMOVE", "GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE",
    };
    if (strncmp(t, "GUILD_", 6) != 0)
        return false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(t, names[i]) == 0)
            return true;
    return false;
}

enum gw_result gw_parse(const char *json, size_t len, enum ev_dir dir, const struct gw_opts *opts,
                        struct ev_gw *out)
{
    struct jscan_iter it;
    struct jscan_span k, v, d = {0};
    bool have_op = false, have_t = false, have_s = false, have_d = false;
    int64_t x;
    size_t first = 0;

    memset(out, 0, sizeof(*out));
    out->op = -1;
    out->seq = -1;
    while (first < len && (json[first] == ' ' || json[first] == '\n' || json[first] == '\r' ||
                           json[first] == '\t'))
        first++;
    if (first < len && (unsigned char)json[first] == 0x83)
        return GW_ETF;
    if (jscan_object(&it, json, len) < 0)
        return GW_MALFORMED;
    while (jscan_object_next(&it, &k, &v) == 1) {
        if (jscan_key_is(&k, "op")) {
            if (jscan_i64(&v, &x) < 0 || x < 0 || x > INT32_MAX)
                return GW_MALFORMED;
            out->op = (int)x;
            have_op = true;
        } else if (jscan_key_is(&k, "s")) {
            if (jscan_i64(&v, &x) == 0)
                out->seq = x;
            have_s = true;
        } else if (jscan_key_is(&k, "t")) {
            if (v.is_string)
                copy_str(&v, out->t, sizeof(out->t));
            have_t = true;
        } else if (jscan_key_is(&k, "d")) {
            d = v;
            have_d = true;
        }
        /* Stop once the envelope is known and its "d" is either in hand or
         * of no interest (the common case: a dispatch nobody needs). */
        if (have_op && have_t && have_s && !have_d && out->op == 0 &&
            !(t_is(out, "READY") || gw_is_guild_event(out->t) || t_is(out, "CHANNEL_CREATE") ||
              t_is(out, "CHANNEL_DELETE") || t_is(out, "VOICE_STATE_UPDATE") ||
              t_is(out, "INTERACTION_CREATE") || t_is(out, "MESSAGE_CREATE")))
            break;
    }
    if (!have_op)
        return GW_MALFORMED;
    if (!have_d)
        return GW_OK;

    if (out->op == 0 && dir == EV_DIR_IN) {
        if (t_is(out, "READY"))
            parse_ready(&d, out);
        else if (gw_is_guild_event(out->t))
            parse_guild(&d,
                        t_is(out, "GUILD_CREATE") || t_is(out, "GUILD_DELETE") ? "id" : "guild_id",
                        t_is(out, "GUILD_DELETE"), out);
        else if (t_is(out, "CHANNEL_CREATE") || t_is(out, "CHANNEL_DELETE"))
            parse_channel(&d, out);
        else if (t_is(out, "VOICE_STATE_UPDATE"))
            parse_voice_state(&d, out);
        else if (t_is(out, "INTERACTION_CREATE"))
            parse_interaction(&d, out);
        else if (t_is(out, "MESSAGE_CREATE"))
            parse_message(&d, opts, out);
    } else if (out->op == 10 && dir == EV_DIR_IN) {
        parse_hello(&d, out);
    } else if (out->op == 9 && dir == EV_DIR_IN) {
        bool resumable = false;
        if (jscan_bool(&d, &resumable) == 0)
            out->u.invalid_session.resumable = resumable;
    } else if (out->op == 2 && dir == EV_DIR_OUT) {
        parse_identify(&d, out);
    } else if (out->op == 6 && dir == EV_DIR_OUT) {
        if (jscan_find(d.p, d.len, "seq", &v) == 1 && jscan_i64(&v, &x) == 0)
            out->u.resume.seq = x;
    }
    return GW_OK;
}
