/*
 * test_gw.c - gateway envelopes and the payloads whose fields we read.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "decode_fixture.h"
#include "gw.h"
#include "tokhash.h"

#define BOT_TOKEN "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.shaped-like-a-token"

static enum gw_result parse(const char *json, enum ev_dir dir, struct ev_gw *g)
{
    struct gw_opts o;
    struct fx_guard guard = fx_guarded(json, strlen(json));
    enum gw_result r;

    gw_opts_init(&o, &(struct argus_list){(const char *const[]){"!", "?? "}, 2});
    r = gw_parse((const char *)guard.data, strlen(json), dir, &o, g);
    fx_unguard(&guard);
    return r;
}

START_TEST(envelope_keys_are_found_in_any_order)
{
    struct ev_gw g;

    ck_assert_int_eq(parse("{\"op\":0,\"d\":{\"t\":\"NOPE\",\"s\":99,\"op\":7},\"s\":42,"
                           "\"t\":\"CHANNEL_UPDATE\"}",
                           EV_DIR_IN, &g),
                     GW_OK);
    ck_assert_int_eq(g.op, 0);
    ck_assert_int_eq(g.seq, 42);
    ck_assert_str_eq(g.t, "CHANNEL_UPDATE");
    ck_assert_int_eq(parse(" {\"t\":null,\"s\":null,\"op\":11}", EV_DIR_IN, &g), GW_OK);
    ck_assert_int_eq(g.op, 11);
    ck_assert_int_eq(g.seq, -1);
    ck_assert_str_eq(g.t, "");
    /* A string value that looks like a key is not a key. */
    ck_assert_int_eq(parse("{\"x\":\"\\\",\\\"op\\\":3\",\"op\":9,\"d\":true}", EV_DIR_IN, &g),
                     GW_OK);
    ck_assert_int_eq(g.op, 9);
    ck_assert(g.u.invalid_session.resumable);
}
END_TEST

START_TEST(malformed_and_etf_are_told_apart)
{
    struct ev_gw g;

    ck_assert_int_eq(parse("\x83h\x04", EV_DIR_IN, &g), GW_ETF);
    ck_assert_int_eq(parse("{\"op\":\"1\"}", EV_DIR_IN, &g), GW_MALFORMED);
    ck_assert_int_eq(parse("{\"d\":1}", EV_DIR_IN, &g), GW_MALFORMED);
    ck_assert_int_eq(parse("[1,2]", EV_DIR_IN, &g), GW_MALFORMED);
    ck_assert_int_eq(parse("", EV_DIR_IN, &g), GW_MALFORMED);
    ck_assert_int_eq(parse("{\"op\":0,\"t\":\"READY\",\"d\":{\"user\":{\"id\":\"1", EV_DIR_IN, &g),
                     GW_OK);
    ck_assert_uint_eq(g.u.ready.user_id, 0); /* a cut message yields no half field */
}
END_TEST

START_TEST(identify_reads_shard_and_intents_but_never_the_token)
{
    struct ev_gw g;

    ck_assert_int_eq(parse("{\"op\":2,\"d\":{\"token\":\"" BOT_TOKEN "\",\"intents\":513,"
                           "\"shard\":[3,8],\"properties\":{}}}",
                           EV_DIR_OUT, &g),
                     GW_OK);
    ck_assert_int_eq(g.u.identify.shard_id, 3);
    ck_assert_int_eq(g.u.identify.shard_count, 8);
    ck_assert_uint_eq(g.u.identify.intents, 513);
    ck_assert_ptr_null(memmem(&g, sizeof(g), BOT_TOKEN, strlen(BOT_TOKEN)));
    ck_assert_int_eq(parse("{\"op\":2,\"d\":{\"token\":\"x\",\"intents\":1}}", EV_DIR_OUT, &g),
                     GW_OK);
    ck_assert_int_eq(g.u.identify.shard_id, -1);
    ck_assert_int_eq(parse("{\"op\":6,\"d\":{\"token\":\"" BOT_TOKEN "\",\"session_id\":\"s\","
                           "\"seq\":1234}}",
                           EV_DIR_OUT, &g),
                     GW_OK);
    ck_assert_int_eq(g.u.resume.seq, 1234);
    ck_assert_ptr_null(memmem(&g, sizeof(g), BOT_TOKEN, strlen(BOT_TOKEN)));
}
END_TEST

START_TEST(guild_delete_tells_outage_from_removal)
{
    struct ev_gw g;

    parse("{\"t\":\"GUILD_DELETE\",\"s\":3,\"op\":0,\"d\":{\"unavailable\":true,\"id\":\"41\"}}",
          EV_DIR_IN, &g);
    ck_assert_uint_eq(g.u.guild.guild_id, 41);
    ck_assert(g.u.guild.unavailable);
    parse("{\"t\":\"GUILD_DELETE\",\"s\":3,\"op\":0,\"d\":{\"id\":\"42\"}}", EV_DIR_IN, &g);
    ck_assert_uint_eq(g.u.guild.guild_id, 42);
    ck_assert(!g.u.guild.unavailable);
}
END_TEST

START_TEST(interaction_names_are_qualified_and_tokens_hashed)
{
    struct ev_gw g;
    const char *tok = "aW50ZXJhY3Rpb246OTk5OnNlY3JldA";

    parse("{\"t\":\"INTERACTION_CREATE\",\"s\":3,\"op\":0,\"d\":{\"id\":\"5\",\"token\":"
          "\"aW50ZXJhY3Rpb246OTk5OnNlY3JldA\",\"type\":2,\"guild_id\":\"6\",\"data\":{"
          "\"name\":\"admin\",\"options\":[{\"name\":\"users\",\"type\":2,\"options\":[{"
          "\"name\":\"ban\",\"type\":1,\"options\":[{\"name\":\"who\",\"type\":6}]}]}]}}}",
          EV_DIR_IN, &g);
    ck_assert_str_eq(g.u.interaction.name, "admin users ban");
    ck_assert_uint_eq(g.u.interaction.guild_id, 6);
    ck_assert_uint_eq(g.u.interaction.token_hash, tokhash(tok, strlen(tok)));
    ck_assert_ptr_null(memmem(&g, sizeof(g), tok, strlen(tok)));
    /* Components carry no command name. */
    parse("{\"t\":\"INTERACTION_CREATE\",\"s\":3,\"op\":0,\"d\":{\"id\":\"5\",\"type\":3,"
          "\"data\":{\"custom_id\":\"x\",\"name\":\"no\"}}}",
          EV_DIR_IN, &g);
    ck_assert_int_eq(g.u.interaction.type, 3);
    ck_assert_str_eq(g.u.interaction.name, "");
}
END_TEST

START_TEST(message_content_is_kept_only_for_prefix_candidates)
{
    struct ev_gw g;

    parse("{\"t\":\"MESSAGE_CREATE\",\"s\":3,\"op\":0,\"d\":{\"content\":\"hello there\","
          "\"author\":{\"id\":\"9\",\"bot\":true},\"webhook_id\":\"4\","
          "\"message_reference\":{\"message_id\":\"8\"},\"interaction_metadata\":{\"id\":\"7\"}}}",
          EV_DIR_IN, &g);
    ck_assert_uint_eq(g.u.message.content_len, 0);
    ck_assert(g.u.message.author_bot);
    ck_assert(g.u.message.has_webhook_id);
    ck_assert_uint_eq(g.u.message.ref_message_id, 8);
    ck_assert_uint_eq(g.u.message.interaction_id, 7);
    parse("{\"t\":\"MESSAGE_CREATE\",\"s\":3,\"op\":0,\"d\":{\"content\":\"?? help\"}}", EV_DIR_IN,
          &g);
    ck_assert_uint_eq(g.u.message.content_len, 7);
    parse("{\"t\":\"MESSAGE_CREATE\",\"s\":3,\"op\":0,\"d\":{\"content\":\"<@123> help\"}}",
          EV_DIR_IN, &g);
    ck_assert_uint_eq(g.u.message.content_len, 11);
    /* Long content is cut to the head. */
    char long_msg[400] = "{\"t\":\"MESSAGE_CREATE\",\"s\":3,\"op\":0,\"d\":{\"content\":\"!";
    for (int i = 0; i < 200; i++)
        strcat(long_msg, "a");
    strcat(long_msg, "\"}}");
    parse(long_msg, EV_DIR_IN, &g);
    ck_assert_uint_eq(g.u.message.content_len, EV_CONTENT_HEAD);
}
END_TEST

START_TEST(content_cut_inside_a_character_still_fills_the_head)
{
    /* lc_prefix_match() reads content_len == EV_CONTENT_HEAD as "may have been
     * cut"; anything shorter must be the whole content. Here the head ends
     * inside "\u00e9" (raw, then escaped), right after a word. */
    const char *forms[] = {"\xc3\xa9", "\\u00e9"};
    for (int f = 0; f < 2; f++) {
        char json[400];
        char content[200] = "<@123>";
        while (strlen(content) < EV_CONTENT_HEAD - 5)
            strcat(content, " ");
        strcat(content, "ping");
        strcat(content, forms[f]);
        strcat(content, " and more words after the cut");
        snprintf(json, sizeof(json),
                 "{\"t\":\"MESSAGE_CREATE\",\"s\":3,\"op\":0,\"d\":{\"content\":\"%s\"}}", content);
        struct ev_gw g;
        ck_assert_int_eq(parse(json, EV_DIR_IN, &g), GW_OK);
        ck_assert_uint_eq(g.u.message.content_len, EV_CONTENT_HEAD);
    }
}
END_TEST

/* Parses json in place (no guard copy), so that g.members stays valid. */
static enum gw_result parse_in_place(const char *json, struct ev_gw *g)
{
    struct gw_opts o;

    gw_opts_init(&o, &(struct argus_list){NULL, 0});
    return gw_parse(json, strlen(json), EV_DIR_IN, &o, g);
}

/* The user ids of g.members, in order; returns how many. */
static int member_ids(const struct ev_gw *g, uint64_t *ids, int cap)
{
    struct gw_members it;
    uint64_t id;
    int n = 0;

    if (g->members == NULL || gw_members_begin(&it, g->members, g->members_len) < 0)
        return -1;
    while (n < cap && gw_members_next(&it, &id) == 1)
        ids[n++] = id;
    return n;
}

START_TEST(guild_create_counts_caches_and_yields_member_ids_only)
{
    static const char json[] =
        "{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"id\":\"41\",\"name\":\"G\","
        "\"emojis\":[{\"id\":\"1\",\"name\":\"a\"},{\"id\":\"2\",\"name\":\"b\"},{\"id\":\"3\"}],"
        "\"stickers\":[{\"id\":\"9\",\"name\":\"s\"}],"
        "\"members\":[{\"user\":{\"id\":\"100\",\"username\":\"x\"},\"roles\":[]},"
        "{\"nick\":\"no user\"},{\"user\":{\"username\":\"y\",\"id\":101}}],"
        "\"presences\":[{\"user\":{\"id\":\"100\"}}],\"unavailable\":false}}";
    struct ev_gw g;
    uint64_t ids[8];

    ck_assert_int_eq(parse_in_place(json, &g), GW_OK);
    ck_assert_uint_eq(g.u.guild.guild_id, 41);
    ck_assert_int_eq(g.u.guild.emojis, 3);
    ck_assert_int_eq(g.u.guild.stickers, 1);
    ck_assert_int_eq(member_ids(&g, ids, 8), 2);
    ck_assert_uint_eq(ids[0], 100);
    ck_assert_uint_eq(ids[1], 101);
    /* Without the arrays, the counts say "unknown", not 0. */
    ck_assert_int_eq(
        parse_in_place("{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"id\":\"41\"}}", &g),
        GW_OK);
    ck_assert_int_eq(g.u.guild.emojis, -1);
    ck_assert_int_eq(g.u.guild.stickers, -1);
    ck_assert_ptr_null(g.members);
}
END_TEST

START_TEST(member_and_cache_updates_name_their_guild)
{
    struct ev_gw g;
    uint64_t ids[4];

    ck_assert_int_eq(
        parse_in_place("{\"t\":\"GUILD_MEMBER_ADD\",\"s\":3,\"op\":0,\"d\":{\"roles\":[],"
                       "\"user\":{\"id\":\"7\",\"username\":\"u\"},\"guild_id\":\"41\"}}",
                       &g),
        GW_OK);
    ck_assert_uint_eq(g.u.guild.guild_id, 41);
    ck_assert_uint_eq(g.u.guild.user_id, 7);
    ck_assert_int_eq(parse_in_place("{\"t\":\"GUILD_MEMBER_REMOVE\",\"s\":4,\"op\":0,\"d\":{"
                                    "\"guild_id\":\"41\",\"user\":{\"id\":\"7\"}}}",
                                    &g),
                     GW_OK);
    ck_assert_uint_eq(g.u.guild.user_id, 7);
    ck_assert_int_eq(
        parse_in_place("{\"t\":\"GUILD_MEMBERS_CHUNK\",\"s\":5,\"op\":0,\"d\":{"
                       "\"guild_id\":\"41\",\"members\":[{\"user\":{\"id\":\"8\"}},"
                       "{\"user\":{\"id\":\"9\"}}],\"chunk_index\":0,\"chunk_count\":1}}",
                       &g),
        GW_OK);
    ck_assert_uint_eq(g.u.guild.guild_id, 41);
    ck_assert_int_eq(member_ids(&g, ids, 4), 2);
    ck_assert_uint_eq(ids[1], 9);
    ck_assert_int_eq(
        parse_in_place("{\"t\":\"GUILD_EMOJIS_UPDATE\",\"s\":6,\"op\":0,\"d\":{"
                       "\"guild_id\":\"41\",\"emojis\":[{\"id\":\"1\"},{\"id\":\"2\"}]}}",
                       &g),
        GW_OK);
    ck_assert_int_eq(g.u.guild.emojis, 2);
    ck_assert_int_eq(g.u.guild.stickers, -1);
    ck_assert_int_eq(parse_in_place("{\"t\":\"GUILD_STICKERS_UPDATE\",\"s\":7,\"op\":0,\"d\":{"
                                    "\"guild_id\":\"41\",\"stickers\":[]}}",
                                    &g),
                     GW_OK);
    ck_assert_int_eq(g.u.guild.stickers, 0);
    ck_assert_int_eq(g.u.guild.emojis, -1);
}
END_TEST

START_TEST(dm_channels_voice_states_and_ready_dms_are_read)
{
    struct ev_gw g;

    ck_assert_int_eq(
        parse_in_place("{\"t\":\"CHANNEL_CREATE\",\"s\":3,\"op\":0,\"d\":{\"id\":\"55\","
                       "\"type\":1,\"recipients\":[{\"id\":\"7\"}]}}",
                       &g),
        GW_OK);
    ck_assert_uint_eq(g.u.channel.id, 55);
    ck_assert_int_eq(g.u.channel.type, 1);
    ck_assert_int_eq(parse_in_place("{\"t\":\"VOICE_STATE_UPDATE\",\"s\":4,\"op\":0,\"d\":{"
                                    "\"guild_id\":\"41\",\"channel_id\":\"77\",\"user_id\":\"5\","
                                    "\"session_id\":\"abc\"}}",
                                    &g),
                     GW_OK);
    ck_assert_uint_eq(g.u.voice.user_id, 5);
    ck_assert_uint_eq(g.u.voice.guild_id, 41);
    ck_assert_uint_eq(g.u.voice.channel_id, 77);
    ck_assert_int_eq(parse_in_place("{\"t\":\"VOICE_STATE_UPDATE\",\"s\":5,\"op\":0,\"d\":{"
                                    "\"guild_id\":\"41\",\"channel_id\":null,\"user_id\":\"5\"}}",
                                    &g),
                     GW_OK);
    ck_assert_uint_eq(g.u.voice.channel_id, 0);
    ck_assert_int_eq(
        parse_in_place("{\"t\":\"READY\",\"s\":1,\"op\":0,\"d\":{\"user\":{\"id\":\"5\"},"
                       "\"private_channels\":[{\"id\":\"1\"},{\"id\":\"2\"}],"
                       "\"guilds\":[{\"id\":\"41\"}]}}",
                       &g),
        GW_OK);
    ck_assert_uint_eq(g.u.ready.private_channels, 2);
    ck_assert_int_eq(g.u.ready.guild_count, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, envelope_keys_are_found_in_any_order);
    tcase_add_test(tc, malformed_and_etf_are_told_apart);
    tcase_add_test(tc, identify_reads_shard_and_intents_but_never_the_token);
    tcase_add_test(tc, guild_delete_tells_outage_from_removal);
    tcase_add_test(tc, interaction_names_are_qualified_and_tokens_hashed);
    tcase_add_test(tc, message_content_is_kept_only_for_prefix_candidates);
    tcase_add_test(tc, content_cut_inside_a_character_still_fills_the_head);
    tcase_add_test(tc, guild_create_counts_caches_and_yields_member_ids_only);
    tcase_add_test(tc, member_and_cache_updates_name_their_guild);
    tcase_add_test(tc, dm_channels_voice_states_and_ready_dms_are_read);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
