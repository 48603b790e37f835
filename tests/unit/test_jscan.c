/*
 * test_jscan.c - the JSON skimmer checked against an independent parser.
 *
 * For a corpus of realistic gateway payloads, every field gw_parse() reads
 * through jscan equals what jansson's parse of the same text gives
 * (jansson_ref.h), and jscan's iterators see the same members, keys and
 * values as jansson's DOM. Every cut of those payloads, which jansson
 * refuses, yields each field either whole or not at all. Inputs sit just
 * before an unreadable page, so any read past them faults.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_fixture.h"
#include "gw.h"
#include "jansson_ref.h"
#include "jscan.h"
#include "tokhash.h"

#define PREFIXES (&(struct argus_list){(const char *const[]){"!", "?", ";;"}, 3})

struct payload {
    const char *what;
    enum ev_dir dir;
    const char *json;
};

/* Shaped like what Discord and discord.py/discord.js send, trimmed. */
static const struct payload corpus[] = {
    {"HELLO", EV_DIR_IN,
     "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250,\"_trace\":"
     "[\"[\\\"gateway-prd-us-east1-b-0568\\\",{\\\"micros\\\":0.0}]\"]}}"},
    {"heartbeat ACK", EV_DIR_IN, "{\"t\":null,\"s\":null,\"op\":11,\"d\":null}"},
    {"heartbeat", EV_DIR_OUT, "{\"op\":1,\"d\":251}"},
    {"server heartbeat request", EV_DIR_IN, "{\"t\":null,\"s\":null,\"op\":1,\"d\":null}"},
    {"INVALID_SESSION resumable", EV_DIR_IN, "{\"t\":null,\"s\":null,\"op\":9,\"d\":true}"},
    {"INVALID_SESSION", EV_DIR_IN, "{\"t\":null,\"s\":null,\"op\":9,\"d\":false}"},
    {"RECONNECT", EV_DIR_IN, "{\"t\":null,\"s\":null,\"op\":7,\"d\":null}"},
    {"IDENTIFY (discord.py)", EV_DIR_OUT,
     "{\"op\":2,\"d\":{\"token\":\"MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.shaped-like-a-token\","
     "\"properties\":{\"os\":\"linux\",\"browser\":\"discord.py\",\"device\":\"discord.py\"},"
     "\"compress\":true,\"large_threshold\":250,\"intents\":3276799,\"shard\":[3,16],"
     "\"presence\":{\"status\":\"online\",\"since\":0,\"activities\":[],\"afk\":false}}}"},
    {"IDENTIFY (discord.js, shard after token, intents as string)", EV_DIR_OUT,
     "{\"op\":2,\"d\":{\"intents\":\"33281\",\"properties\":{\"os\":\"linux\",\"browser\":"
     "\"@discordjs/ws 1.0.2\",\"device\":\"@discordjs/ws 1.0.2\"},\"token\":\"Bot x.y.z\","
     "\"compress\":false,\"large_threshold\":50,\"shard\":[0,1]}}"},
    {"RESUME", EV_DIR_OUT,
     "{\"op\":6,\"d\":{\"token\":\"MTA5.Ga.t\",\"session_id\":\"d3b07384d113edec49eaa6238ad5ff00\","
     "\"seq\":1337}}"},
    {"READY", EV_DIR_IN,
     "{\"t\":\"READY\",\"s\":1,\"op\":0,\"d\":{\"v\":10,\"user_settings\":{},\"user\":{"
     "\"verified\":true,\"username\":\"Argus T\\u00e9st \\ud83e\\udd16\",\"mfa_enabled\":false,"
     "\"id\":\"1098765432109876543\",\"global_name\":null,\"flags\":0,\"email\":null,"
     "\"discriminator\":\"4410\",\"bot\":true,\"avatar\":null},\"session_type\":\"normal\","
     "\"session_id\":\"a1b2c3\",\"resume_gateway_url\":\"wss://gateway-us-east1-b.discord.gg\","
     "\"relationships\":[],\"private_channels\":[],\"presences\":[],\"guilds\":[{\"unavailable\":"
     "true,\"id\":\"81384788765712384\"},{\"unavailable\":true,\"id\":\"613425648685547541\"},"
     "{\"unavailable\":true,\"id\":\"222078108977594368\"}],\"guild_join_requests\":[],"
     "\"geo_ordered_rtc_regions\":[\"us-east\",\"us-central\"],\"auth\":{},\"application\":{"
     "\"id\":\"1098765432109876543\",\"flags\":565248},\"shard\":[3,16],\"_trace\":["
     "\"[\\\"gateway-prd\\\",{\\\"micros\\\":48270}]\"]}}"},
    {"GUILD_CREATE", EV_DIR_IN,
     "{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"name\":\"Argus \\\"test\\\" guild\","
     "\"roles\":[{\"id\":\"81384788765712384\",\"name\":\"@everyone\",\"permissions\":"
     "\"1071698660929\"}],\"channels\":[{\"type\":0,\"topic\":\"say \\\"op\\\":1 here\","
     "\"name\":\"general\",\"id\":\"81384788765712385\"},{\"type\":2,\"name\":\"voice\",\"id\":"
     "\"81384788765712386\",\"bitrate\":64000}],\"members\":[{\"user\":{\"id\":"
     "\"1098765432109876543\",\"username\":\"argus\"},\"roles\":[],\"joined_at\":"
     "\"2023-01-01T00:00:00.000000+00:00\"}],\"member_count\":3,\"large\":false,"
     "\"unavailable\":false,\"id\":\"81384788765712384\",\"emojis\":[],\"stickers\":[],"
     "\"threads\":[],\"voice_states\":[]}}"},
    {"GUILD_DELETE (outage)", EV_DIR_IN,
     "{\"t\":\"GUILD_DELETE\",\"s\":77,\"op\":0,\"d\":{\"unavailable\":true,\"id\":"
     "\"613425648685547541\"}}"},
    {"GUILD_DELETE (removed)", EV_DIR_IN,
     "{\"t\":\"GUILD_DELETE\",\"s\":78,\"op\":0,\"d\":{\"id\":\"613425648685547541\"}}"},
    {"INTERACTION_CREATE (subcommand group)", EV_DIR_IN,
     "{\"t\":\"INTERACTION_CREATE\",\"s\":5,\"op\":0,\"d\":{\"version\":1,\"type\":2,"
     "\"token\":\"aW50ZXJhY3Rpb246MTEwMDAwMDAwMDAwMDAwMDAwMDpzZWNyZXQ\",\"member\":{\"user\":{"
     "\"id\":\"80351110224678912\",\"username\":\"nelly\"},\"roles\":[],\"permissions\":"
     "\"2199023255551\"},\"locale\":\"en-US\",\"id\":\"1100000000000000000\",\"guild_id\":"
     "\"81384788765712384\",\"guild_locale\":\"en-US\",\"entitlements\":[],\"data\":{"
     "\"type\":1,\"options\":[{\"type\":2,\"name\":\"roles\",\"options\":[{\"type\":1,\"name\":"
     "\"add\",\"options\":[{\"value\":\"41771983423143936\",\"type\":8,\"name\":\"role\"},"
     "{\"value\":true,\"type\":5,\"name\":\"silent\"}]}]}],\"name\":\"admin\",\"id\":"
     "\"1098000000000000001\",\"guild_id\":\"81384788765712384\"},\"channel_id\":"
     "\"81384788765712385\",\"application_id\":\"1098765432109876543\",\"app_permissions\":"
     "\"2248473465835073\"}}"},
    {"INTERACTION_CREATE (subcommand, data before type)", EV_DIR_IN,
     "{\"t\":\"INTERACTION_CREATE\",\"s\":6,\"op\":0,\"d\":{\"data\":{\"name\":\"stats\","
     "\"options\":[{\"name\":\"server\",\"type\":1,\"options\":[]}],\"id\":\"1\",\"type\":1},"
     "\"type\":2,\"id\":\"1100000000000000001\",\"application_id\":\"1098765432109876543\","
     "\"token\":\"aW50ZXJhY3Rpb246Mg\",\"channel_id\":\"81384788765712385\"}}"},
    {"INTERACTION_CREATE (button: no name)", EV_DIR_IN,
     "{\"t\":\"INTERACTION_CREATE\",\"s\":7,\"op\":0,\"d\":{\"type\":3,\"token\":\"aW50Mw\","
     "\"id\":\"1100000000000000002\",\"data\":{\"name\":\"not-a-command\",\"custom_id\":"
     "\"confirm\",\"component_type\":2},\"guild_id\":\"81384788765712384\",\"channel_id\":"
     "\"81384788765712385\",\"application_id\":\"1098765432109876543\"}}"},
    {"INTERACTION_CREATE (autocomplete, non-ASCII name)", EV_DIR_IN,
     "{\"t\":\"INTERACTION_CREATE\",\"s\":8,\"op\":0,\"d\":{\"type\":4,\"token\":\"aW50NA\","
     "\"id\":\"1100000000000000003\",\"data\":{\"name\":\"\\u043f\\u043e\\u0438\\u0441\\u043a\","
     "\"options\":[{\"type\":3,\"name\":\"q\",\"value\":\"ar\",\"focused\":true}]},"
     "\"application_id\":\"1098765432109876543\",\"channel_id\":\"81384788765712385\"}}"},
    {"MESSAGE_CREATE (prefix command, decoys)", EV_DIR_IN,
     "{\"t\":\"MESSAGE_CREATE\",\"s\":9,\"op\":0,\"d\":{\"type\":0,\"tts\":false,\"timestamp\":"
     "\"2024-05-01T12:00:00.000000+00:00\",\"referenced_message\":null,\"pinned\":false,"
     "\"nonce\":\"1234567890\",\"mentions\":[],\"mention_roles\":[],\"mention_everyone\":false,"
     "\"member\":{\"roles\":[],\"op\":7,\"t\":\"READY\"},\"id\":\"1234567890123456789\","
     "\"flags\":0,\"embeds\":[{\"type\":\"rich\",\"description\":\"{\\\"op\\\":9,"
     "\\\"t\\\":\\\"X\\\"}\",\"fields\":[{\"name\":\"s\",\"value\":\"}]}\"}]}],"
     "\"edited_timestamp\":null,\"content\":\"!ping \\\"quoted\\\" \\\\ tab\\there "
     "\\u00e9\\u6f22 \\ud83d\\ude00 {\\\"op\\\":1}\",\"components\":[],\"channel_id\":"
     "\"81384788765712385\",\"author\":{\"username\":\"nelly\",\"public_flags\":0,\"id\":"
     "\"80351110224678912\",\"global_name\":\"Nelly \\u2728\",\"discriminator\":\"0\","
     "\"bot\":false,\"avatar\":\"a_1269e74af4df7417b13759eae50c83dc\"},\"attachments\":[],"
     "\"guild_id\":\"81384788765712384\"}}"},
    {"MESSAGE_CREATE (reply by a bot, not a candidate)", EV_DIR_IN,
     "{\"t\":\"MESSAGE_CREATE\",\"s\":10,\"op\":0,\"d\":{\"webhook_id\":null,\"type\":19,"
     "\"content\":\"pong! took 42 ms\",\"channel_id\":\"81384788765712385\",\"author\":{\"id\":"
     "\"1098765432109876543\",\"username\":\"argus\",\"bot\":true},\"message_reference\":{"
     "\"type\":0,\"message_id\":\"1234567890123456789\",\"channel_id\":\"81384788765712385\","
     "\"guild_id\":\"81384788765712384\"},\"referenced_message\":{\"id\":\"1\",\"content\":"
     "\"!ping\",\"author\":{\"id\":\"2\"}},\"id\":\"1234567890123456790\",\"guild_id\":"
     "\"81384788765712384\"}}"},
    {"MESSAGE_CREATE (interaction reply through a webhook)", EV_DIR_IN,
     "{\"t\":\"MESSAGE_CREATE\",\"s\":11,\"op\":0,\"d\":{\"webhook_id\":\"1098765432109876543\","
     "\"type\":20,\"interaction_metadata\":{\"type\":2,\"id\":\"1100000000000000000\","
     "\"user\":{\"id\":\"80351110224678912\"}},\"id\":\"1234567890123456791\",\"content\":"
     "\"<@80351110224678912> done\",\"channel_id\":\"81384788765712385\",\"author\":{"
     "\"bot\":true,\"id\":\"1098765432109876543\"}}}"},
    {"MESSAGE_CREATE (d before op/s/t, DM, null author fields)", EV_DIR_IN,
     "{\"d\":{\"content\":\"?help\",\"author\":{\"id\":\"80351110224678912\",\"bot\":null},"
     "\"id\":\"1234567890123456792\",\"channel_id\":\"81384788765712390\"},\"op\":0,\"s\":12,"
     "\"t\":\"MESSAGE_CREATE\"}"},
    {"GUILD_CREATE (caches: members, presences, emojis, stickers)", EV_DIR_IN,
     "{\"t\":\"GUILD_CREATE\",\"s\":20,\"op\":0,\"d\":{\"id\":\"81384788765712384\","
     "\"emojis\":[{\"id\":\"1\",\"name\":\"a\",\"roles\":[]},{\"id\":\"2\",\"name\":\"]\"}],"
     "\"members\":[{\"user\":{\"id\":\"80351110224678912\",\"username\":\"n\"}},{\"user\":{"
     "\"id\":\"80351110224678913\"},\"nick\":\"\\\"id\\\"\"}],\"presences\":[{\"user\":{\"id\":"
     "\"80351110224678912\"},\"status\":\"online\"}],\"stickers\":[],\"unavailable\":false,"
     "\"voice_states\":[]}}"},
    {"GUILD_MEMBER_ADD", EV_DIR_IN,
     "{\"t\":\"GUILD_MEMBER_ADD\",\"s\":21,\"op\":0,\"d\":{\"roles\":[],\"user\":{\"id\":"
     "\"80351110224678914\",\"username\":\"z\"},\"guild_id\":\"81384788765712384\","
     "\"joined_at\":\"2024-05-01T12:00:00.000000+00:00\"}}"},
    {"GUILD_EMOJIS_UPDATE", EV_DIR_IN,
     "{\"t\":\"GUILD_EMOJIS_UPDATE\",\"s\":22,\"op\":0,\"d\":{\"guild_id\":"
     "\"81384788765712384\",\"emojis\":[{\"id\":\"3\"}]}}"},
    {"CHANNEL_CREATE (DM)", EV_DIR_IN,
     "{\"t\":\"CHANNEL_CREATE\",\"s\":23,\"op\":0,\"d\":{\"id\":\"81384788765712399\",\"type\":1,"
     "\"recipients\":[{\"id\":\"80351110224678912\"}]}}"},
    {"VOICE_STATE_UPDATE (left)", EV_DIR_IN,
     "{\"t\":\"VOICE_STATE_UPDATE\",\"s\":24,\"op\":0,\"d\":{\"member\":{\"user\":{\"id\":\"5\"}},"
     "\"user_id\":\"1098765432109876543\",\"channel_id\":null,\"guild_id\":"
     "\"81384788765712384\"}}"},
    {"CHANNEL_UPDATE (not read)", EV_DIR_IN,
     "{\"t\":\"CHANNEL_UPDATE\",\"s\":13,\"op\":0,\"d\":{\"id\":\"81384788765712385\","
     "\"name\":\"general\",\"type\":0}}"},
    {"PRESENCE_UPDATE (outbound)", EV_DIR_OUT,
     "{\"op\":3,\"d\":{\"since\":null,\"activities\":[{\"name\":\"with fire\",\"type\":0}],"
     "\"status\":\"dnd\",\"afk\":false}}"},
    {"REQUEST_GUILD_MEMBERS", EV_DIR_OUT,
     "{\"op\":8,\"d\":{\"guild_id\":\"81384788765712384\",\"query\":\"\",\"limit\":0,"
     "\"presences\":false,\"nonce\":\"r1\"}}"},
    {"whitespace between tokens", EV_DIR_IN,
     " {\n  \"t\" : \"MESSAGE_CREATE\" ,\r\n  \"s\" : 14 ,\t\"op\" : 0 , \"d\" : { \"content\" :"
     " \";;x\" , \"author\" : { \"id\" : 5 } , \"id\" : \"15\" } \n}\n"},
};
#define N_CORPUS (sizeof(corpus) / sizeof(corpus[0]))

static json_t *load(const char *text, size_t len)
{
    json_error_t err;

    return json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
}

/* gw_parse on a guarded copy of text[0, len). */
static enum gw_result parse(const char *text, size_t len, enum ev_dir dir, struct ev_gw *g)
{
    struct gw_opts o;
    struct fx_guard guard = fx_guarded(text, len);
    enum gw_result r;

    gw_opts_init(&o, PREFIXES);
    r = gw_parse((const char *)guard.data, len, dir, &o, g);
    fx_unguard(&guard);
    return r;
}

/* gw_parse and the jansson reference agree on text, in direction dir. */
static void check_against_jansson(const char *what, const char *text, size_t len, enum ev_dir dir,
                                  struct ev_gw *got)
{
    struct gw_opts o;
    struct ev_gw want;
    json_t *root = load(text, len);

    ck_assert_msg(root != NULL, "%s: jansson refuses the corpus text", what);
    gw_opts_init(&o, PREFIXES);
    enum gw_result want_r = ref_gw(root, dir, &o, &want);
    enum gw_result got_r = parse(text, len, dir, got);
    ck_assert_msg(got_r == want_r, "%s (dir %d): gw_parse %d, reference %d", what, dir, got_r,
                  want_r);
    const char *diff = ref_gw_diff(got, &want, dir);
    ck_assert_msg(diff == NULL, "%s (dir %d): %s", what, dir, diff);
    json_decref(root);
}

START_TEST(gw_fields_equal_the_jansson_reference_in_both_directions)
{
    for (size_t i = 0; i < N_CORPUS; i++) {
        struct ev_gw g;
        size_t len = strlen(corpus[i].json);
        check_against_jansson(corpus[i].what, corpus[i].json, len, EV_DIR_IN, &g);
        check_against_jansson(corpus[i].what, corpus[i].json, len, EV_DIR_OUT, &g);
    }
}
END_TEST

/* The differential alone would pass if gw and the reference shared a
 * mistake; these are the values a reader of the payloads expects. */
START_TEST(the_corpus_reads_as_a_person_would_read_it)
{
    struct ev_gw g;
    const struct payload *p;

#define PARSE(i) (p = &corpus[i], parse(p->json, strlen(p->json), p->dir, &g))
    ck_assert_int_eq(PARSE(0), GW_OK);
    ck_assert_uint_eq(g.u.hello.heartbeat_interval_ms, 41250);
    ck_assert_int_eq(PARSE(4), GW_OK);
    ck_assert(g.u.invalid_session.resumable);
    ck_assert_int_eq(PARSE(7), GW_OK);
    ck_assert_int_eq(g.u.identify.shard_id, 3);
    ck_assert_int_eq(g.u.identify.shard_count, 16);
    ck_assert_uint_eq(g.u.identify.intents, 3276799);
    ck_assert_int_eq(PARSE(8), GW_OK);
    ck_assert_uint_eq(g.u.identify.intents, 33281);
    ck_assert_int_eq(PARSE(9), GW_OK);
    ck_assert_int_eq(g.u.resume.seq, 1337);
    ck_assert_int_eq(PARSE(10), GW_OK);
    ck_assert_str_eq(g.u.ready.username, "Argus T\xc3\xa9st \xf0\x9f\xa4\x96");
    ck_assert_uint_eq(g.u.ready.user_id, 1098765432109876543ULL);
    ck_assert_int_eq(g.u.ready.guild_count, 3);
    ck_assert_int_eq(g.u.ready.shard_id, 3);
    ck_assert_int_eq(PARSE(11), GW_OK);
    ck_assert_uint_eq(g.u.guild.guild_id, 81384788765712384ULL);
    ck_assert(!g.u.guild.unavailable);
    ck_assert_int_eq(PARSE(14), GW_OK);
    ck_assert_str_eq(g.u.interaction.name, "admin roles add");
    ck_assert_uint_eq(g.u.interaction.token_hash,
                      tokhash("aW50ZXJhY3Rpb246MTEwMDAwMDAwMDAwMDAwMDAwMDpzZWNyZXQ", 51));
    ck_assert_int_eq(PARSE(15), GW_OK);
    ck_assert_str_eq(g.u.interaction.name, "stats server");
    ck_assert_int_eq(PARSE(16), GW_OK);
    ck_assert_str_eq(g.u.interaction.name, "");
    ck_assert_int_eq(PARSE(17), GW_OK);
    ck_assert_str_eq(g.u.interaction.name, "\xd0\xbf\xd0\xbe\xd0\xb8\xd1\x81\xd0\xba");
    ck_assert_int_eq(PARSE(18), GW_OK);
    ck_assert_int_eq(g.op, 0);
    ck_assert_int_eq(g.seq, 9);
    ck_assert_str_eq(g.t, "MESSAGE_CREATE");
    static const char content[] = "!ping \"quoted\" \\ tab\there \xc3\xa9\xe6\xbc\xa2 "
                                  "\xf0\x9f\x98\x80 {\"op\":1}";
    ck_assert_uint_eq(g.u.message.content_len, sizeof(content) - 1);
    ck_assert(memcmp(g.u.message.content_head, content, sizeof(content) - 1) == 0);
    ck_assert_uint_eq(g.u.message.author_id, 80351110224678912ULL);
    ck_assert_int_eq(PARSE(19), GW_OK);
    ck_assert_uint_eq(g.u.message.content_len, 0);
    ck_assert_uint_eq(g.u.message.ref_message_id, 1234567890123456789ULL);
    ck_assert(g.u.message.author_bot);
    ck_assert(!g.u.message.has_webhook_id);
    ck_assert_int_eq(PARSE(20), GW_OK);
    ck_assert(g.u.message.has_webhook_id);
    ck_assert_uint_eq(g.u.message.interaction_id, 1100000000000000000ULL);
    ck_assert_int_eq(PARSE(21), GW_OK);
    ck_assert_int_eq(g.seq, 12);
    ck_assert_uint_eq(g.u.message.content_len, 5);
#undef PARSE
}
END_TEST

START_TEST(jscan_sees_the_members_and_values_jansson_sees)
{
    for (size_t i = 0; i < N_CORPUS; i++) {
        size_t len = strlen(corpus[i].json);
        json_t *root = load(corpus[i].json, len);
        ck_assert_ptr_nonnull(root);
        struct fx_guard guard = fx_guarded(corpus[i].json, len);
        const char *diff = ref_text_diff((const char *)guard.data, len, root);
        ck_assert_msg(diff == NULL, "%s: %s", corpus[i].what, diff);
        fx_unguard(&guard);
        json_decref(root);
    }
}
END_TEST

/* A message cut anywhere (as at the size cap) is refused by jansson; the
 * skimmer may still read what the prefix holds, but each field is either
 * what the whole message says or absent, never a value cut short. */
START_TEST(every_cut_of_the_corpus_yields_whole_fields_or_none)
{
    for (size_t i = 0; i < N_CORPUS; i++) {
        const struct payload *p = &corpus[i];
        size_t len = strlen(p->json);
        struct ev_gw full, cut;
        ck_assert_int_eq(parse(p->json, len, p->dir, &full), GW_OK);
        /* Trailing whitespace is not a cut. */
        while (len > 0 && ref_is_space(p->json[len - 1]))
            len--;
        for (size_t at = 0; at < len; at++) {
            json_t *root = load(p->json, at);
            ck_assert_msg(root == NULL, "%s cut at %zu: jansson accepts it", p->what, at);
            if (parse(p->json, at, p->dir, &cut) == GW_MALFORMED)
                continue;
            ck_assert_msg(cut.op == full.op, "%s cut at %zu: op %d, whole %d", p->what, at, cut.op,
                          full.op);
            ck_assert_msg(cut.seq == full.seq || cut.seq == -1, "%s cut at %zu: seq %lld", p->what,
                          at, (long long)cut.seq);
            ck_assert_msg(strcmp(cut.t, full.t) == 0 || cut.t[0] == '\0', "%s cut at %zu: t \"%s\"",
                          p->what, at, cut.t);
            /* "d" is read only when it is whole, so the payload fields are
             * all those of the whole message or all unset. */
            ck_assert_msg(memcmp(&cut.u, &full.u, sizeof(cut.u)) == 0 ||
                              ref_all_zero(&cut.u, sizeof(cut.u)),
                          "%s cut at %zu: payload fields partly read", p->what, at);
        }
    }
}
END_TEST

/* Texts jansson refuses: gw_parse must not find fields in them that are not
 * there (each case says what a lenient misreading would produce). */
START_TEST(malformed_texts_never_yield_a_half_read_field)
{
    static const struct {
        const char *json;
        enum gw_result result;
        int op;
        long long seq;
    } cases[] = {
        /* Cut inside a number: "op":10 would read as HEARTBEAT (1). */
        {"{\"op\":1", GW_MALFORMED, -1, -1},
        {"{\"t\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250},\"s\":4", GW_OK, 10, -1},
        /* Cut inside a literal. */
        {"{\"op\":0,\"s\":nul", GW_OK, 0, -1},
        /* Cut inside a string, a key, after a colon. */
        {"{\"op\":0,\"t\":\"MESSAGE_CRE", GW_OK, 0, -1},
        {"{\"op\":0,\"s\":5,\"t", GW_OK, 0, 5},
        {"{\"op\":", GW_MALFORMED, -1, -1},
        /* Not JSON values. */
        {"{\"op\":0x10}", GW_MALFORMED, -1, -1},
        /* Numbers are not validated (jscan.h): lenient, but not misread. */
        {"{\"op\":010}", GW_OK, 10, -1},
        {"{op:1}", GW_MALFORMED, -1, -1},
        {"{\"op\":1,}", GW_OK, 1, -1},
        {"", GW_MALFORMED, -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ev_gw g;
        size_t len = strlen(cases[i].json);
        json_t *root = load(cases[i].json, len);
        ck_assert_msg(root == NULL, "case %zu: jansson accepts it", i);
        enum gw_result r = parse(cases[i].json, len, EV_DIR_IN, &g);
        ck_assert_msg(r == cases[i].result, "case %zu: result %d", i, r);
        ck_assert_msg(g.op == cases[i].op, "case %zu: op %d", i, g.op);
        ck_assert_msg(g.seq == cases[i].seq, "case %zu: seq %lld", i, (long long)g.seq);
        if (cases[i].result == GW_OK)
            ck_assert_msg(g.t[0] == '\0', "case %zu: t \"%s\"", i, g.t);
    }
}
END_TEST

/* JSON that is not a gateway payload: gw_parse agrees with the reference
 * (and refuses an "op" that is not an integer in range). */
START_TEST(valid_json_that_is_no_gateway_payload_agrees_with_jansson)
{
    static const char *const texts[] = {
        "{\"op\":\"10\"}",
        "{\"op\":1.0}",
        "{\"op\":1e1}",
        "{\"op\":-1}",
        "{\"op\":null}",
        "{\"op\":99999999999}",
        "{\"op\":0,\"s\":-0,\"t\":7}",
        "{}",
        "[]",
        "[{\"op\":1}]",
        "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"d\":[]}",
        "{\"op\":0,\"t\":\"READY\",\"d\":{\"user\":[],\"guilds\":{},\"shard\":[-1,1.5]}}",
        "{\"op\":0,\"t\":\"INTERACTION_CREATE\",\"d\":{\"type\":2,\"data\":{\"name\":1,"
        "\"options\":[3,{\"type\":1,\"name\":\"x\"}]}}}",
        "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"d\":{\"author\":null,\"webhook_id\":0,"
        "\"id\":\"18446744073709551616\",\"channel_id\":-5,\"content\":\"<@\"}}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct ev_gw g;
        check_against_jansson(texts[i], texts[i], strlen(texts[i]), EV_DIR_IN, &g);
        check_against_jansson(texts[i], texts[i], strlen(texts[i]), EV_DIR_OUT, &g);
    }
}
END_TEST

/* jscan_string() cuts at the last whole UTF-8 character that fits. */
START_TEST(strings_are_cut_at_the_last_whole_character)
{
    /* "é" (2 bytes) then "x": with room for 3 bytes, "aé" fits whole. */
    static const char raw[] = "a\xc3\xa9x";
    struct jscan_span v = {raw, 4, true};
    char out[4];
    ck_assert_int_eq(jscan_string(&v, out, sizeof(out)), 3);
    ck_assert_str_eq(out, "a\xc3\xa9");
    /* With room for 2, "é" would be cut: only "a". */
    ck_assert_int_eq(jscan_string(&v, out, 3), 1);
    ck_assert_str_eq(out, "a");
    /* The same through an escape. */
    struct jscan_span e = {"a\\u00e9x", 8, true};
    ck_assert_int_eq(jscan_string(&e, out, sizeof(out)), 3);
    ck_assert_str_eq(out, "a\xc3\xa9");
    ck_assert_int_eq(jscan_string(&e, out, 3), 1);
    /* A 4-byte character cut after 1, 2 or 3 of its bytes is dropped whole. */
    struct jscan_span emoji = {"ab\xf0\x9f\x98\x80", 6, true};
    char big[8];
    for (size_t cap = 3; cap <= 6; cap++) {
        ck_assert_int_eq(jscan_string(&emoji, big, cap), 2);
        ck_assert_str_eq(big, "ab");
    }
    ck_assert_int_eq(jscan_string(&emoji, big, 7), 6);
}
END_TEST

/* Reads tests/data/<name> (ARGUS_TEST_DATA is set by meson). */
static char *read_data(const char *name, size_t *len)
{
    const char *dir = getenv("ARGUS_TEST_DATA");
    char path[512];
    FILE *f;
    char *buf;

    ck_assert_ptr_nonnull(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* Regression inputs the differential found (issue 6). */
START_TEST(issue_6_regressions)
{
    struct ev_gw g;
    size_t len;
    char *text;

    /* A MESSAGE_CREATE whose content fills the head exactly with a
     * two-byte character last: the head kept one character less. */
    text = read_data("issue_6_content_head_utf8_cut.json", &len);
    check_against_jansson("issue_6_content_head_utf8_cut", text, len, EV_DIR_IN, &g);
    ck_assert_uint_eq(g.u.message.content_len, EV_CONTENT_HEAD);
    free(text);
    /* A HELLO cut at the size cap inside "op":10 read as op 1 (HEARTBEAT). */
    text = read_data("issue_6_cut_number.json", &len);
    ck_assert_ptr_null(load(text, len));
    ck_assert_int_eq(parse(text, len, EV_DIR_IN, &g), GW_MALFORMED);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jscan");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, gw_fields_equal_the_jansson_reference_in_both_directions);
    tcase_add_test(tc, the_corpus_reads_as_a_person_would_read_it);
    tcase_add_test(tc, jscan_sees_the_members_and_values_jansson_sees);
    tcase_add_test(tc, every_cut_of_the_corpus_yields_whole_fields_or_none);
    tcase_add_test(tc, malformed_texts_never_yield_a_half_read_field);
    tcase_add_test(tc, valid_json_that_is_no_gateway_payload_agrees_with_jansson);
    tcase_add_test(tc, strings_are_cut_at_the_last_whole_character);
    tcase_add_test(tc, issue_6_regressions);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
