/*
 * test_lc_catalogue.c - the argus-dpy gauges inferred from the gateway
 * (infer/lc_gw.c: caches, DM channels, voice, the send cap, loop lag), the
 * membership table behind discord_cached_users (infer/lc_users.c), and the
 * three REST warnings (infer/lc_warn.c, infer/lc_rest.c), each driven
 * through lc_on_event() as the decode thread drives it.
 *
 * The gauges with a time window compare with CLOCK_MONOTONIC when they are
 * read, so these events are stamped relative to the real monotonic clock.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "config.h"
#include "event.h"
#include "lc.h"
#include "lc_gw.h"
#include "lc_users.h"
#include "reg.h"

#define GW_CONN 11
#define GW_CONN2 12
#define VOICE_CONN 13
#define REST_CONN 21
#define BOT_ID 4242
#define MS(ms) ((uint64_t)(ms)*1000000ull)

static const char *const *fake_env;
static struct argus_config cfg;
static struct reg *reg;
static struct reg_reader *reader;
static struct lc *lc;
static struct reg_snapshot *snap;
static uint64_t base_ns; /* "now" minus 10 minutes, when the test started */

static const char *fake_getenv(const char *name)
{
    for (const char *const *p = fake_env; p && p[0]; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A time `ms` after base: base is 10 minutes ago, so T(600000) is now. */
static uint64_t T(uint64_t ms)
{
    return base_ns + MS(ms);
}

static void start(void)
{
    fake_env = (const char *const[]){"ARGUS_CLUSTER_ID", "c1", NULL};
    argus_config_load(&cfg, fake_getenv);
    reg = reg_create(0, cfg.cluster);
    ck_assert_ptr_nonnull(reg);
    lc = lc_create(&cfg, reg, NULL);
    ck_assert_ptr_nonnull(lc);
    reader = reg_reader_create(reg, ARGUS_TEMPORALITY_CUMULATIVE);
    ck_assert_ptr_nonnull(reader);
    uint64_t now = mono_ns();
    ck_assert_uint_gt(now, MS(700000));
    base_ns = now - MS(600000);
}

static void stop(void)
{
    reg_snapshot_destroy(snap);
    snap = NULL;
    reg_reader_destroy(reader);
    lc_destroy(lc);
    ck_assert_int_eq(reg_destroy(reg), 0);
}

/* The point of name with exactly the attributes given (cluster aside), or
 * NULL. */
static const struct reg_point *point(const char *name, ...)
{
    const char *want[2 * REG_MAX_ATTRS];
    unsigned n_want = 0;
    va_list ap;
    va_start(ap, name);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL && n_want < 2 * REG_MAX_ATTRS;) {
        want[n_want++] = k;
        want[n_want++] = va_arg(ap, const char *);
    }
    va_end(ap);
    reg_snapshot_destroy(snap);
    snap = NULL;
    ck_assert_int_eq(reg_collect(reader, &snap), 0);
    for (size_t i = 0; i < snap->n_metrics; i++) {
        const struct reg_metric_snapshot *m = &snap->metrics[i];
        if (strcmp(m->name, name) != 0)
            continue;
        for (size_t p = 0; p < m->n_points; p++) {
            const struct reg_point *pt = &m->points[p];
            unsigned matched = 0, others = 0;
            for (unsigned a = 0; a < pt->n_attrs; a++) {
                if (strcmp(pt->attrs[a].key, "cluster") == 0)
                    continue;
                bool found = false;
                for (unsigned w = 0; w < n_want; w += 2)
                    found = found || (strcmp(pt->attrs[a].key, want[w]) == 0 &&
                                      strcmp(pt->attrs[a].value, want[w + 1]) == 0);
                matched += found;
                others += !found;
            }
            if (others == 0 && matched * 2 == n_want)
                return pt;
        }
    }
    return NULL;
}

/* A gauge without labels (u64); -1 when it has no sample. */
static int64_t gauge(const char *name)
{
    const struct reg_point *pt = point(name, NULL);
    return pt ? (int64_t)pt->value.u64 : -1;
}

static double gauge_double(const char *name, const char *k, const char *v)
{
    const struct reg_point *pt = point(name, k, v, NULL);
    ck_assert_msg(pt != NULL, "%s{%s=%s} has no sample", name, k ? k : "", v ? v : "");
    return pt->value.dbl;
}

static void feed(struct argus_event *ev)
{
    lc_on_event(ev, lc);
}

static struct argus_event dispatch(uint64_t conn, uint64_t at_ms, const char *t)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = 0;
    ev.u.gw.seq = 1;
    snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "%s", t);
    return ev;
}

static void ready(uint64_t conn, uint64_t at_ms, int shard, int count, uint32_t dms)
{
    struct argus_event ev = dispatch(conn, at_ms, "READY");
    ev.u.gw.u.ready.user_id = BOT_ID;
    ev.u.gw.u.ready.shard_id = shard;
    ev.u.gw.u.ready.shard_count = count;
    ev.u.gw.u.ready.private_channels = dms;
    feed(&ev);
}

/* A guild event; members is a JSON array text or NULL. */
static void guild_event(uint64_t at_ms, const char *t, uint64_t guild, int emojis, int stickers,
                        const char *members, uint64_t user)
{
    struct argus_event ev = dispatch(GW_CONN, at_ms, t);
    ev.u.gw.u.guild.guild_id = guild;
    ev.u.gw.u.guild.emojis = emojis;
    ev.u.gw.u.guild.stickers = stickers;
    ev.u.gw.u.guild.user_id = user;
    ev.u.gw.members = members;
    ev.u.gw.members_len = members ? strlen(members) : 0;
    feed(&ev);
}

static void send_op(uint64_t conn, uint64_t at_ms, int op)
{
    struct argus_event ev = {.kind = EV_GW_SEND, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = op;
    ev.u.gw.seq = -1;
    if (op == 2)
        ev.u.gw.u.identify.shard_id = -1;
    feed(&ev);
}

static void hello(uint64_t conn, uint64_t at_ms, uint32_t interval_ms)
{
    struct argus_event ev = {.kind = EV_GW_RECV, .conn_id = conn, .t_ns = T(at_ms)};
    ev.u.gw.op = 10;
    ev.u.gw.seq = -1;
    ev.u.gw.u.hello.heartbeat_interval_ms = interval_ms;
    feed(&ev);
}

static struct argus_event rest(const char *route, int status, uint64_t at_ms)
{
    struct argus_event ev = {.kind = EV_REST, .conn_id = REST_CONN, .t_ns = T(at_ms)};
    struct ev_rest *r = &ev.u.rest;
    snprintf(r->method, sizeof(r->method), "GET");
    snprintf(r->route, sizeof(r->route), "%s", route);
    r->status = status;
    r->request_ns = r->response_ns = T(at_ms);
    r->reset_after_s = r->retry_after_s = -1;
    r->callback_type = r->commands_synced = -1;
    r->shards_recommended = r->session_starts_total = r->session_starts_remaining = -1;
    return ev;
}

static void rest_limit(const char *route, uint64_t at_ms, int64_t remaining, int64_t limit)
{
    struct argus_event ev = rest(route, 200, at_ms);
    ev.u.rest.has_remaining = ev.u.rest.has_limit = true;
    ev.u.rest.remaining = remaining;
    ev.u.rest.limit = limit;
    feed(&ev);
}

/* ---- lc_users ------------------------------------------------------------ */

START_TEST(users_count_once_across_guilds_and_leave_with_their_last_guild)
{
    struct lc_users u;
    ck_assert_int_eq(lc_users_init(&u, 1000), 0);
    for (uint64_t user = 1; user <= 300; user++)
        ck_assert_int_eq(lc_users_add(&u, 7, user), 0);
    for (uint64_t user = 201; user <= 400; user++)
        ck_assert_int_eq(lc_users_add(&u, 8, user), 0);
    ck_assert_int_eq(lc_users_add(&u, 8, 400), 0); /* again: no change */
    ck_assert_uint_eq(lc_users_count(&u), 400);
    ck_assert_uint_eq(lc_users_pairs(&u), 500);
    lc_users_remove(&u, 8, 250); /* still in guild 7 */
    ck_assert_uint_eq(lc_users_count(&u), 400);
    lc_users_remove(&u, 8, 350); /* only in guild 8 */
    ck_assert_uint_eq(lc_users_count(&u), 399);
    lc_users_remove_guild(&u, 7);
    ck_assert_uint_eq(lc_users_count(&u), 198); /* 201..400 less 250 and 350 */
    ck_assert_uint_eq(lc_users_pairs(&u), 198);
    lc_users_remove_guild(&u, 8);
    ck_assert_uint_eq(lc_users_count(&u), 0);
    ck_assert_int_eq(lc_users_add(&u, 0, 1), -EINVAL);
    lc_users_fini(&u);
}
END_TEST

START_TEST(users_past_the_cap_are_refused_and_the_rest_stay_exact)
{
    struct lc_users u;
    ck_assert_int_eq(lc_users_init(&u, 64), 0);
    int refused = 0;
    for (uint64_t user = 1; user <= 100; user++)
        refused += lc_users_add(&u, 9, user) == -ENOSPC;
    ck_assert_int_eq(refused, 36);
    ck_assert_uint_eq(lc_users_count(&u), 64);
    for (uint64_t user = 1; user <= 100; user++)
        lc_users_remove(&u, 9, user);
    ck_assert_uint_eq(lc_users_count(&u), 0);
    lc_users_fini(&u);
}
END_TEST

/* ---- caches through the tracker ------------------------------------------- */

START_TEST(caches_follow_guild_create_members_and_updates)
{
    start();
    ck_assert_int_eq(gauge("discord_cached_users"), -1); /* nothing seen yet */
    ready(GW_CONN, 0, -1, 1, 2);
    guild_event(10, "GUILD_CREATE", 100, 3, 1,
                "[{\"user\":{\"id\":\"1\"}},{\"user\":{\"id\":\"2\"}},{\"user\":{\"id\":\"3\"}}]",
                0);
    guild_event(20, "GUILD_CREATE", 200, 2, 2,
                "[{\"user\":{\"id\":\"3\"}},{\"user\":{\"id\":\"4\"}}]", 0);
    ck_assert_int_eq(gauge("discord_cached_users"), 4);
    ck_assert_int_eq(gauge("discord_emojis"), 5);
    ck_assert_int_eq(gauge("discord_stickers"), 3);
    guild_event(30, "GUILD_MEMBERS_CHUNK", 200, -1, -1,
                "[{\"user\":{\"id\":\"5\"}},{\"user\":{\"id\":\"6\"}}]", 0);
    guild_event(40, "GUILD_MEMBER_ADD", 100, -1, -1, NULL, 7);
    ck_assert_int_eq(gauge("discord_cached_users"), 7);
    guild_event(50, "GUILD_MEMBER_REMOVE", 200, -1, -1, NULL, 3); /* still in guild 100 */
    guild_event(60, "GUILD_MEMBER_REMOVE", 200, -1, -1, NULL, 6);
    ck_assert_int_eq(gauge("discord_cached_users"), 6);
    guild_event(70, "GUILD_EMOJIS_UPDATE", 100, 10, -1, NULL, 0);
    guild_event(80, "GUILD_STICKERS_UPDATE", 200, -1, 0, NULL, 0);
    ck_assert_int_eq(gauge("discord_emojis"), 12);
    ck_assert_int_eq(gauge("discord_stickers"), 1);
    /* An outage keeps the guild; a removal forgets it and its members. */
    struct argus_event ev = dispatch(GW_CONN, 90, "GUILD_DELETE");
    ev.u.gw.u.guild.guild_id = 200;
    ev.u.gw.u.guild.unavailable = true;
    feed(&ev);
    ck_assert_int_eq(gauge("discord_cached_users"), 6);
    ev.u.gw.u.guild.unavailable = false;
    feed(&ev);
    ck_assert_int_eq(gauge("discord_cached_users"), 4); /* 1, 2, 3 and 7 of guild 100 */
    ck_assert_int_eq(gauge("discord_emojis"), 10);
    ck_assert_int_eq(gauge("discord_stickers"), 1);
    /* Updates for a guild the bot is not in change nothing. */
    guild_event(95, "GUILD_EMOJIS_UPDATE", 999, 50, -1, NULL, 0);
    ck_assert_int_eq(gauge("discord_emojis"), 10);
    stop();
}
END_TEST

START_TEST(dm_channels_come_from_ready_and_channel_create)
{
    start();
    ready(GW_CONN, 0, 0, 1, 2);
    ck_assert_int_eq(gauge("discord_private_channels"), 2);
    struct argus_event ev = dispatch(GW_CONN, 10, "CHANNEL_CREATE");
    ev.u.gw.u.channel.id = 501;
    ev.u.gw.u.channel.type = 1;
    feed(&ev);
    feed(&ev); /* the same channel again */
    ev.u.gw.u.channel.id = 502;
    ev.u.gw.u.channel.type = 0; /* a guild text channel */
    feed(&ev);
    ck_assert_int_eq(gauge("discord_private_channels"), 3);
    ev = dispatch(GW_CONN, 20, "CHANNEL_DELETE");
    ev.u.gw.u.channel.id = 501;
    ev.u.gw.u.channel.type = 1;
    feed(&ev);
    ck_assert_int_eq(gauge("discord_private_channels"), 2);
    stop();
}
END_TEST

START_TEST(voice_clients_are_the_bots_voice_states_or_voice_connections)
{
    start();
    ready(GW_CONN, 0, -1, 1, 0);
    ck_assert_int_eq(gauge("discord_voice_clients"), 0);
    struct argus_event ev = dispatch(GW_CONN, 10, "VOICE_STATE_UPDATE");
    ev.u.gw.u.voice.user_id = 99; /* someone else */
    ev.u.gw.u.voice.guild_id = 100;
    ev.u.gw.u.voice.channel_id = 300;
    feed(&ev);
    ck_assert_int_eq(gauge("discord_voice_clients"), 0);
    ev.u.gw.u.voice.user_id = BOT_ID;
    feed(&ev);
    ev.u.gw.u.voice.channel_id = 301; /* moved: still one */
    feed(&ev);
    ck_assert_int_eq(gauge("discord_voice_clients"), 1);
    struct argus_event kind = {
        .kind = EV_CONN_KIND, .conn_id = VOICE_CONN, .conn_kind = CONN_KIND_VOICE, .t_ns = T(20)};
    feed(&kind);
    ck_assert_int_eq(gauge("discord_voice_clients"), 1);
    kind.conn_id = VOICE_CONN + 1;
    feed(&kind);
    ck_assert_int_eq(gauge("discord_voice_clients"), 2);
    struct argus_event close = {.kind = EV_CONN_CLOSE, .conn_id = VOICE_CONN + 1, .t_ns = T(30)};
    feed(&close);
    ev.u.gw.u.voice.channel_id = 0; /* left */
    feed(&ev);
    ck_assert_int_eq(gauge("discord_voice_clients"), 1);
    close.conn_id = VOICE_CONN;
    feed(&close);
    ck_assert_int_eq(gauge("discord_voice_clients"), 0);
    stop();
}
END_TEST

/* ---- the send cap and loop lag ---------------------------------------------- */

START_TEST(a_shard_at_its_send_cap_reads_ratelimited_for_a_minute)
{
    start();
    send_op(GW_CONN, 0, 2);
    ready(GW_CONN, 1, 0, 1, 0);
    send_op(GW_CONN2, 0, 2);
    struct argus_event r2 = dispatch(GW_CONN2, 1, "READY");
    r2.u.gw.u.ready.shard_id = 1;
    r2.u.gw.u.ready.shard_count = 2;
    feed(&r2);
    /* Shard 0: 110 payloads in the last 50 s. */
    for (int i = 0; i < LC_GW_SEND_CAP; i++)
        send_op(GW_CONN, 550000 + (uint64_t)i * 100, 3);
    /* Shard 1: twice as many, spread over 3 minutes: never 110 in one. */
    for (int i = 0; i < LC_GW_SEND_CAP * 2; i++)
        send_op(GW_CONN2, 420000 + (uint64_t)i * 800, 3);
    /* Heartbeats are exempt from the cap. */
    for (int i = 0; i < LC_GW_SEND_CAP * 2; i++)
        send_op(GW_CONN2, 560000 + (uint64_t)i * 100, 1);
    const struct reg_point *pt = point("discord_shard_ws_ratelimited", "shard", "0", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_uint_eq(pt->value.u64, 1);
    pt = point("discord_shard_ws_ratelimited", "shard", "1", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_uint_eq(pt->value.u64, 0);
    stop();
}
END_TEST

START_TEST(loop_lag_is_how_late_heartbeats_leave)
{
    start();
    ck_assert_ptr_null(point("discord_event_loop_lag_seconds", NULL));
    hello(GW_CONN, 300000, 1000);
    send_op(GW_CONN, 300000, 1); /* discord.py beats at HELLO */
    send_op(GW_CONN, 301000, 1); /* on time */
    ck_assert_double_eq_tol(gauge_double("discord_event_loop_lag_seconds", NULL, NULL), 0, 1e-9);
    send_op(GW_CONN, 305500, 1); /* 3.5 s late: the loop was blocked */
    send_op(GW_CONN, 306500, 1);
    /* Older than a minute: the last sample shows. */
    ck_assert_double_eq_tol(gauge_double("discord_event_loop_lag_seconds", NULL, NULL), 0, 1e-9);
    /* The largest sample of the last minute stands over later ones. */
    hello(GW_CONN2, 580000, 1000);
    send_op(GW_CONN2, 580200, 1); /* early (discord.js' jitter) reads as 0 */
    send_op(GW_CONN2, 583200, 1); /* 2 s late */
    send_op(GW_CONN2, 584200, 1);
    ck_assert_double_eq_tol(gauge_double("discord_event_loop_lag_seconds", NULL, NULL), 2.0, 1e-6);
    stop();
}

/* ---- the three warnings ---------------------------------------------------------- */

START_TEST(headroom_is_the_lowest_remaining_over_limit_of_the_last_minute)
{
    start();
    rest_limit("/channels/{channel_id}/messages", 570000, 4, 5);
    rest_limit("/channels/{channel_id}/messages", 575000, 0, 5);
    rest_limit("/channels/{channel_id}/messages", 580000, 5, 5);
    rest_limit("/users/@me", 500000, 1, 4); /* over a minute ago: the last sample */
    rest_limit("/users/@me", 501000, 3, 4);
    ck_assert_double_eq_tol(
        gauge_double("discord_ratelimit_headroom", "route", "/channels/{channel_id}/messages"), 0,
        1e-9);
    ck_assert_double_eq_tol(gauge_double("discord_ratelimit_headroom", "route", "/users/@me"), 0.75,
                            1e-9);
    /* A response without both headers leaves no series. */
    struct argus_event ev = rest("/gateway/bot", 200, 590000);
    feed(&ev);
    ck_assert_ptr_null(point("discord_ratelimit_headroom", "route", "/gateway/bot", NULL));
    stop();
}
END_TEST

START_TEST(invalid_requests_count_the_last_ten_minutes_but_shared_429s)
{
    start();
    struct argus_event ev = rest("/guilds/{guild_id}", 403, 1000); /* 599 s ago */
    feed(&ev);
    ev = rest("/guilds/{guild_id}", 401, 300000);
    feed(&ev);
    ev = rest("/guilds/{guild_id}", 404, 300000); /* not an invalid request */
    feed(&ev);
    ev = rest("/channels/{channel_id}/messages", 429, 400000);
    feed(&ev);
    snprintf(ev.u.rest.scope, sizeof(ev.u.rest.scope), "shared");
    feed(&ev);
    ck_assert_int_eq(gauge("discord_invalid_requests"), 3);
    stop();
}
END_TEST

START_TEST(a_429_that_is_not_discords_json_is_cloudflares)
{
    start();
    struct argus_event ev = rest("/channels/{channel_id}/messages", 429, 1000);
    ev.u.rest.body_foreign = true; /* text/html, no rate-limit headers */
    feed(&ev);
    ev.u.rest.has_remaining = true; /* Discord's own, whatever its body */
    feed(&ev);
    const struct reg_point *pt =
        point("discord_ratelimits_total", "route", "/channels/{channel_id}/messages", "scope",
              "cloudflare", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_uint_eq(pt->value.u64, 1);
    pt = point("discord_ratelimits_total", "route", "/channels/{channel_id}/messages", "scope",
               "user", NULL);
    ck_assert_ptr_nonnull(pt);
    ck_assert_uint_eq(pt->value.u64, 1);
    stop();
}
END_TEST

START_TEST(gateway_bot_sets_the_identify_budget)
{
    start();
    ck_assert_int_eq(gauge("discord_gateway_session_starts_remaining"), -1);
    struct argus_event ev = rest("/gateway/bot", 200, 1000);
    ev.u.rest.shards_recommended = 3;
    ev.u.rest.session_starts_total = 1000;
    ev.u.rest.session_starts_remaining = 997;
    feed(&ev);
    ck_assert_int_eq(gauge("discord_gateway_session_starts_remaining"), 997);
    ck_assert_int_eq(gauge("discord_gateway_session_starts_total"), 1000);
    ck_assert_int_eq(gauge("discord_gateway_shards_recommended"), 3);
    stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lc_catalogue");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, users_count_once_across_guilds_and_leave_with_their_last_guild);
    tcase_add_test(tc, users_past_the_cap_are_refused_and_the_rest_stay_exact);
    tcase_add_test(tc, caches_follow_guild_create_members_and_updates);
    tcase_add_test(tc, dm_channels_come_from_ready_and_channel_create);
    tcase_add_test(tc, voice_clients_are_the_bots_voice_states_or_voice_connections);
    tcase_add_test(tc, a_shard_at_its_send_cap_reads_ratelimited_for_a_minute);
    tcase_add_test(tc, loop_lag_is_how_late_heartbeats_leave);
    tcase_add_test(tc, headroom_is_the_lowest_remaining_over_limit_of_the_last_minute);
    tcase_add_test(tc, invalid_requests_count_the_last_ten_minutes_but_shared_429s);
    tcase_add_test(tc, a_429_that_is_not_discords_json_is_cloudflares);
    tcase_add_test(tc, gateway_bot_sets_the_identify_budget);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
