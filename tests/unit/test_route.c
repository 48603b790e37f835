/*
 * test_route.c - REST paths to route templates and correlation keys.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "decode_fixture.h"
#include "route.h"
#include "tokhash.h"

#define ITOKEN "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OkZBS0VUT0tFTg"

static struct ev_rest parse(const char *method, const char *target)
{
    struct ev_rest r;

    memset(&r, 0, sizeof(r));
    route_parse(method, target, strlen(target), &r);
    return r;
}

/* Every template must be free of query strings, escapes and ids. */
static void assert_template_safe(const char *route)
{
    int digits = 0;

    ck_assert_ptr_null(strchr(route, '?'));
    ck_assert_ptr_null(strchr(route, '%'));
    for (const char *p = route; *p != '\0'; p++) {
        digits = *p >= '0' && *p <= '9' ? digits + 1 : 0;
        ck_assert_int_lt(digits, 6);
    }
    ck_assert_int_eq(route[0], '/');
}

static const struct {
    const char *method, *target, *route;
} cases[] = {
    {"GET", "/api/v10/users/@me", "/users/@me"},
    {"GET", "/api/v9/gateway/bot", "/gateway/bot"},
    {"GET", "/api/oauth2/applications/@me", "/oauth2/applications/@me"},
    {"POST", "/api/v10/channels/1200000000000000003/messages?x=1",
     "/channels/{channel_id}/messages"},
    {"PATCH", "/api/v10/channels/1200000000000000003/messages/1300000000000000004",
     "/channels/{channel_id}/messages/{id}"},
    {"PUT",
     "/api/v10/channels/1200000000000000003/messages/1300000000000000004/reactions/"
     "%F0%9F%91%8D/@me",
     "/channels/{channel_id}/messages/{id}/reactions/{emoji}/@me"},
    {"DELETE", "/api/v10/channels/12/messages/13/reactions/custom:123456789012345678/4444444444",
     "/channels/{channel_id}/messages/{id}/reactions/{emoji}/{id}"},
    {"POST", "/api/v10/interactions/1100000000000000001/" ITOKEN "/callback?with_response=false",
     "/interactions/{id}/{token}/callback"},
    {"PATCH", "/api/v10/webhooks/900000000000000002/" ITOKEN "/messages/@original",
     "/webhooks/{webhook_id}/{token}/messages/@original"},
    {"POST", "/api/v10/webhooks/900000000000000002/sometoken_abc?wait=1",
     "/webhooks/{webhook_id}/{token}"},
    {"PUT", "/api/v10/applications/900000000000000002/guilds/1000000000000000010/commands",
     "/applications/{id}/guilds/{guild_id}/commands"},
    {"GET", "/api/v10/guilds/1000000000000000010/members/search?query=bob",
     "/guilds/{guild_id}/members/search"},
    {"GET", "/api/v10/users/@me/somethingnew/ab%2Fcd", "/users/@me/{param}/{param}"},
    {"GET", "https://discord.com/api/v10/users/@me", "/users/@me"},
    {"GET", "/", "/"},
    {"GET", "", "/"},
    {"GET", "/api/v10", "/"},
    {"GET", "/avatars/123456789012345678/a_0123456789abcdef.png", "/{param}/{id}/{param}"},
};

START_TEST(paths_become_the_documented_templates)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ev_rest r = parse(cases[i].method, cases[i].target);
        ck_assert_msg(strcmp(r.route, cases[i].route) == 0, "%s -> %s, want %s", cases[i].target,
                      r.route, cases[i].route);
        assert_template_safe(r.route);
    }
}
END_TEST

START_TEST(correlation_keys_come_from_the_path)
{
    struct ev_rest r =
        parse("POST", "/api/v10/interactions/1100000000000000001/" ITOKEN "/callback");
    ck_assert_uint_eq(r.api_version, 10);
    ck_assert_uint_eq(r.interaction_id, 1100000000000000001ull);
    ck_assert_uint_eq(r.token_hash, tokhash(ITOKEN, strlen(ITOKEN)));

    r = parse("PATCH", "/api/v10/webhooks/900000000000000002/" ITOKEN "/messages/@original");
    ck_assert_uint_eq(r.webhook_id, 900000000000000002ull);
    ck_assert_uint_eq(r.token_hash, tokhash(ITOKEN, strlen(ITOKEN)));
    ck_assert(r.is_original_edit);
    r = parse("GET", "/api/v10/webhooks/900000000000000002/" ITOKEN "/messages/@original");
    ck_assert(!r.is_original_edit);

    r = parse("PUT", "/api/v10/channels/12/messages/13/reactions/%F0%9F%91%8D/@me");
    ck_assert_uint_eq(r.channel_id, 12);
    ck_assert_uint_eq(r.message_id, 13);
    ck_assert(r.is_reaction);
    r = parse("DELETE", "/api/v10/channels/12/messages/13/reactions/%F0%9F%91%8D/@me");
    ck_assert(!r.is_reaction);
    ck_assert_uint_eq(r.token_hash, 0);
}
END_TEST

START_TEST(no_template_leaks_whatever_the_path)
{
    /* Random paths drawn from digits, tokens, escapes and literals. */
    static const char *const parts[] = {"channels",
                                        "123456789012345678",
                                        "%41",
                                        "?q=1",
                                        "webhooks",
                                        "abc",
                                        "",
                                        "@me",
                                        "interactions",
                                        "99999999999999999999999",
                                        "reactions",
                                        "x?y",
                                        "a%"};
    char path[400];
    unsigned seed = 1;

    for (int round = 0; round < 20000; round++) {
        size_t at = 0;
        int n = (int)(rand_r(&seed) % 12);
        for (int i = 0; i < n && at + 40 < sizeof(path); i++) {
            const char *p = parts[rand_r(&seed) % (sizeof(parts) / sizeof(parts[0]))];
            path[at++] = '/';
            memcpy(path + at, p, strlen(p));
            at += strlen(p);
        }
        path[at] = '\0';
        struct ev_rest r = parse("GET", path);
        assert_template_safe(r.route);
    }
}
END_TEST

START_TEST(an_overlong_path_is_cut_at_a_segment)
{
    char path[2048] = "/api/v10";

    for (int i = 0; i < 100; i++)
        strcat(path, "/channels");
    struct ev_rest r = parse("GET", path);
    ck_assert_uint_lt(strlen(r.route), EV_ROUTE_MAX);
    ck_assert_int_eq(strlen(r.route) % strlen("/channels"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, paths_become_the_documented_templates);
    tcase_add_test(tc, correlation_keys_come_from_the_path);
    tcase_add_test(tc, no_template_leaks_whatever_the_path);
    tcase_add_test(tc, an_overlong_path_is_cut_at_a_segment);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
