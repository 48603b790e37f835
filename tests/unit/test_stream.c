/*
 * test_stream.c - the decode pipeline end to end: ring records in, events
 * out. Each session is built from readable JSON, encoded as the libraries
 * put it on the wire, and then fed whole, one byte per record, and split
 * into two records at every position: the event log must be identical.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "decode_fixture.h"
#include "config.h"
#include "stream.h"
#include "tokhash.h"

#define BOT_TOKEN "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.not-a-real-token-but-shaped-like-one"
#define ITOKEN "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OkZBS0VUT0tFTg"

/* One direction's bytes of one connection, in capture order. */
struct seg {
    uint64_t conn;
    int type; /* enum ring_type */
    int dir;  /* enum ring_dir */
    struct fx_buf bytes;
};

struct session {
    struct seg segs[64];
    int n;
};

static struct seg *add_seg(struct session *s, uint64_t conn, int type, int dir)
{
    ck_assert_int_lt(s->n, 64);
    struct seg *g = &s->segs[s->n++];
    memset(g, 0, sizeof(*g));
    g->conn = conn;
    g->type = type;
    g->dir = dir;
    return g;
}

static void add_text(struct session *s, uint64_t conn, int dir, const char *text)
{
    fx_puts(&add_seg(s, conn, RING_DATA, dir)->bytes, text);
}

static void session_free(struct session *s)
{
    for (int i = 0; i < s->n; i++)
        fx_free(&s->segs[i].bytes);
}

/* ---- event log ---- */

struct log {
    struct fx_buf text;
    struct argus_event events[256];
    int n;
};

static void on_event(const struct argus_event *ev, void *arg)
{
    struct log *l = arg;
    char line[512];
    int n = 0;

    if (l->n < 256)
        l->events[l->n++] = *ev;
    switch (ev->kind) {
    case EV_CONN_OPEN:
        n = snprintf(line, sizeof(line), "%llu open\n", (unsigned long long)ev->conn_id);
        break;
    case EV_CONN_KIND:
        n = snprintf(line, sizeof(line), "%llu kind %d\n", (unsigned long long)ev->conn_id,
                     ev->conn_kind);
        break;
    case EV_CONN_CLOSE:
        n = snprintf(line, sizeof(line), "%llu close %d\n", (unsigned long long)ev->conn_id,
                     ev->u.close.code);
        break;
    case EV_REST: {
        const struct ev_rest *r = &ev->u.rest;
        n = snprintf(
            line, sizeof(line),
            "%llu rest %s %s v%d %d code=%d cb=%d ref=%llu sync=%d iid=%llu tok=%d "
            "wh=%llu orig=%d react=%d bucket=%s rem=%lld lib=%s/%s rt=%s\n",
            (unsigned long long)ev->conn_id, r->method, r->route, r->api_version, r->status,
            r->discord_error_code, r->callback_type, (unsigned long long)r->ref_message_id,
            r->commands_synced, (unsigned long long)r->interaction_id, r->token_hash != 0,
            (unsigned long long)r->webhook_id, r->is_original_edit, r->is_reaction, r->bucket,
            (long long)r->remaining, r->library, r->library_version, r->runtime);
        break;
    }
    case EV_GW_RECV:
    case EV_GW_SEND:
        n = snprintf(line, sizeof(line), "%llu gw %s op=%d s=%lld t=%s\n",
                     (unsigned long long)ev->conn_id, ev->kind == EV_GW_RECV ? "in" : "out",
                     ev->u.gw.op, (long long)ev->u.gw.seq, ev->u.gw.t);
        break;
    case EV_WS_CLOSE:
        n = snprintf(line, sizeof(line), "%llu wsclose %d dir=%d\n",
                     (unsigned long long)ev->conn_id, ev->u.close.code, ev->u.close.direction);
        break;
    case EV_DECODE_ERROR:
        n = snprintf(line, sizeof(line), "%llu error %s %s\n", (unsigned long long)ev->conn_id,
                     ev->u.decode_error.stage, ev->u.decode_error.reason);
        break;
    }
    fx_put(&l->text, line, (size_t)n);
}

static struct argus_config test_config(void)
{
    struct argus_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_connections = 16;
    cfg.max_message_bytes = 1 << 20;
    static const char *const bang[] = {"!"};
    cfg.prefixes = (struct argus_list){bang, 1};
    return cfg;
}

/* ARGUS_MAX_MESSAGE_BYTES for run(): a test that lowers it runs in a
 * process of its own (Check's fork mode). */
static uint32_t run_max_message = 1 << 20;

/* Feeds the session with every DATA segment cut at the given piece size
 * (0 = whole), or, with split_at >= 0, each segment cut at that offset. */
static void run(const struct session *s, size_t piece, long split_at, struct log *l)
{
    struct argus_config cfg = test_config();

    cfg.max_message_bytes = run_max_message;
    struct stream_table *t = stream_table_create(&cfg, on_event, l);
    uint64_t now = 1000;

    ck_assert_ptr_nonnull(t);
    memset(l, 0, sizeof(*l));
    for (int i = 0; i < s->n; i++) {
        const struct seg *g = &s->segs[i];
        struct fx_guard guard = fx_guarded(g->bytes.p, g->bytes.len);
        struct ring_record rec = {
            .conn_id = g->conn, .type = (uint8_t)g->type, .dir = (uint8_t)g->dir};
        size_t len = g->bytes.len;
        if (g->type != RING_DATA || len == 0) {
            rec.t_ns = now++;
            rec.data = guard.data;
            rec.len = (uint32_t)len;
            stream_table_feed(t, &rec);
        } else {
            /* Each piece gets its own guarded copy, so a read past the
             * end of any record faults. */
            struct fx_slicer slices =
                fx_slicer(guard.data, len, piece, split_at > 0 ? (size_t)split_at : 0);
            const uint8_t *piece_data;
            size_t n;
            while (fx_next_slice(&slices, &piece_data, &n)) {
                rec.t_ns = now;
                rec.data = piece_data;
                rec.len = (uint32_t)n;
                stream_table_feed(t, &rec);
            }
            now++;
        }
        fx_unguard(&guard);
    }
    stream_table_destroy(t);
}

static size_t max_seg(const struct session *s)
{
    size_t m = 0;

    for (int i = 0; i < s->n; i++)
        if (s->segs[i].bytes.len > m)
            m = s->segs[i].bytes.len;
    return m;
}

/* Whole, byte by byte, and split at every position: one event log. */
static void check_all_splits(const struct session *s, struct log *whole)
{
    struct log *other = malloc(sizeof(*other));

    ck_assert_ptr_nonnull(other);
    run(s, 0, -1, whole);
    run(s, 1, -1, other);
    fx_put(&whole->text, "", 1);
    fx_put(&other->text, "", 1);
    ck_assert_str_eq((char *)other->text.p, (char *)whole->text.p);
    fx_free(&other->text);
    for (size_t at = 1; at < max_seg(s); at++) {
        run(s, 0, (long)at, other);
        fx_put(&other->text, "", 1);
        ck_assert_msg(strcmp((char *)other->text.p, (char *)whole->text.p) == 0,
                      "split at %zu differs:\n%s\nvs whole:\n%s", at, (char *)other->text.p,
                      (char *)whole->text.p);
        fx_free(&other->text);
    }
    free(other);
}

static void assert_no_secret(const struct log *l, const char *secret)
{
    for (int i = 0; i < l->n; i++)
        ck_assert_ptr_null(memmem(&l->events[i], sizeof(l->events[i]), secret, strlen(secret)));
    ck_assert_ptr_null(memmem(l->text.p, l->text.len, secret, strlen(secret)));
}

/* ---- sessions ---- */

static const char rest_conn_reqs[] =
    "GET /api/v10/users/@me HTTP/1.1\r\nHost: discord.com\r\n"
    "User-Agent: DiscordBot (https://github.com/Rapptz/discord.py 2.2.2) Python/3.11 "
    "aiohttp/3.8.4\r\nAuthorization: Bot " BOT_TOKEN "\r\nAccept: */*\r\n"
    "Accept-Encoding: gzip, deflate\r\n\r\n";

static void build_rest_session(struct session *s)
{
    memset(s, 0, sizeof(*s));
    fx_puts(&add_seg(s, 1, RING_OPEN, 0)->bytes, "discord.com");
    add_text(s, 1, RING_DIR_WRITE, rest_conn_reqs);
    add_text(s, 1, RING_DIR_READ,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
             "X-RateLimit-Bucket: abcd1234\r\nX-RateLimit-Remaining: 4\r\n"
             "X-RateLimit-Reset-After: 1.5\r\nVia: 1.1 google\r\n\r\n{\"id\":\"8000000\"}\n");
    /* An interaction callback with a JSON body in a second write. */
    add_text(s, 1, RING_DIR_WRITE,
             "POST /api/v10/interactions/1100000000000000001/" ITOKEN "/callback HTTP/1.1\r\n"
             "Host: discord.com\r\nUser-Agent: Python/3.11 aiohttp/3.8.4\r\n"
             "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n");
    add_text(s, 1, RING_DIR_WRITE, "{\"type\":5}");
    add_text(s, 1, RING_DIR_READ, "HTTP/1.1 204 No Content\r\n\r\n");
    /* A chunked 404 error body. */
    add_text(s, 1, RING_DIR_WRITE,
             "PATCH /api/v10/webhooks/1000000000000000002/" ITOKEN "/messages/@original "
             "HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    add_text(s, 1, RING_DIR_READ,
             "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n1a\r\n{\"message\":\"Unknown intera\r\n"
             "17\r\nction\",\"code\": 10062}\n\r\n0\r\n\r\n");
    /* A reply with a message reference, and a reaction. */
    add_text(s, 1, RING_DIR_WRITE,
             "POST /api/v10/channels/1200000000000000003/messages HTTP/1.1\r\n"
             "Content-Type: application/json\r\nContent-Length: 83\r\n\r\n"
             "{\"content\":\"pong\",\"message_reference\":{\"message_id\":\"1300000000000000004\"},"
             "\"tts\":0}");
    add_text(s, 1, RING_DIR_READ,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    add_text(s, 1, RING_DIR_WRITE,
             "PUT /api/v10/channels/1200000000000000003/messages/1300000000000000004/reactions/"
             "%F0%9F%91%8D/@me HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    add_text(s, 1, RING_DIR_READ,
             "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
             "Retry-After: 2\r\nX-RateLimit-Scope: user\r\nContent-Length: 70\r\n\r\n"
             "{\"message\":\"You are being rate limited.\",\"retry_after\":1.5,\"global\":0}");
    /* A command sync whose gzip response lists three commands. */
    add_text(s, 1, RING_DIR_WRITE,
             "PUT /api/v10/applications/1400000000000000005/commands HTTP/1.1\r\n"
             "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n[]");
    {
        const char *json =
            "[{\"name\":\"a\",\"options\":[1,2]},{\"name\":\"b,]\"},{\"name\":\"c\"}]";
        uint8_t gz[256];
        size_t gzlen = fx_deflate_body(15 + 16, json, strlen(json), gz, sizeof(gz));
        char head[200];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 gzlen);
        struct seg *g = add_seg(s, 1, RING_DATA, RING_DIR_READ);
        fx_puts(&g->bytes, head);
        fx_put(&g->bytes, gz, gzlen);
    }
    /* A request that never got its answer. */
    add_text(s, 1, RING_DIR_WRITE,
             "POST /api/v10/channels/1200000000000000003/typing HTTP/1.1\r\n"
             "Content-Length: 0\r\n\r\n");
    add_seg(s, 1, RING_CLOSE, 0);
}

START_TEST(rest_exchanges_decode_identically_at_every_split)
{
    struct session s;
    struct log *l = malloc(sizeof(*l));

    build_rest_session(&s);
    check_all_splits(&s, l);
    const char *expected =
        "1 open\n"
        "1 kind 1\n"
        "1 rest GET /users/@me v10 200 code=0 cb=-1 ref=0 sync=-1 iid=0 tok=0 wh=0 orig=0 "
        "react=0 bucket=abcd1234 rem=4 lib=discord.py/2.2.2 rt=Python/3.11\n"
        "1 rest POST /interactions/{id}/{token}/callback v10 204 code=0 cb=5 ref=0 sync=-1 "
        "iid=1100000000000000001 tok=1 wh=0 orig=0 react=0 bucket= rem=0 lib=/ rt=Python/3.11\n"
        "1 rest PATCH /webhooks/{webhook_id}/{token}/messages/@original v10 404 code=10062 cb=-1 "
        "ref=0 sync=-1 iid=0 tok=1 wh=1000000000000000002 orig=1 react=0 bucket= rem=0 lib=/ "
        "rt=\n"
        "1 rest POST /channels/{channel_id}/messages v10 200 code=0 cb=-1 "
        "ref=1300000000000000004 sync=-1 iid=0 tok=0 wh=0 orig=0 react=0 bucket= rem=0 lib=/ "
        "rt=\n"
        "1 rest PUT /channels/{channel_id}/messages/{id}/reactions/{emoji}/@me v10 429 code=0 "
        "cb=-1 ref=0 sync=-1 iid=0 tok=0 wh=0 orig=0 react=1 bucket= rem=0 lib=/ rt=\n"
        "1 rest PUT /applications/{id}/commands v10 200 code=0 cb=-1 ref=0 sync=3 iid=0 tok=0 "
        "wh=0 orig=0 react=0 bucket= rem=0 lib=/ rt=\n"
        "1 rest POST /channels/{channel_id}/typing v10 0 code=0 cb=-1 ref=0 sync=-1 iid=0 tok=0 "
        "wh=0 orig=0 react=0 bucket= rem=0 lib=/ rt=\n"
        "1 close 0\n";
    ck_assert_str_eq((char *)l->text.p, expected);
    /* Rate-limit values not in the text log. */
    for (int i = 0; i < l->n; i++) {
        if (l->events[i].kind == EV_REST && l->events[i].u.rest.status == 429) {
            ck_assert(l->events[i].u.rest.retry_after_s == 2.0);
            ck_assert_str_eq(l->events[i].u.rest.scope, "user");
        }
        if (l->events[i].kind == EV_REST && l->events[i].u.rest.status == 200 &&
            strcmp(l->events[i].u.rest.route, "/users/@me") == 0)
            ck_assert(l->events[i].u.rest.reset_after_s == 1.5);
    }
    assert_no_secret(l, BOT_TOKEN);
    assert_no_secret(l, ITOKEN);
    fx_free(&l->text);
    free(l);
    session_free(&s);
}
END_TEST

enum gw_flavour { GW_PLAIN, GW_ZLIB, GW_ZSTD, GW_PMD };

static const char *const gw_inbound[] = {
    "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250,\"_trace\":[\"x\"]}}",
    "{\"t\":null,\"s\":null,\"op\":11,\"d\":null}",
    "{\"t\":\"READY\",\"s\":1,\"op\":0,\"d\":{\"v\":10,\"user\":{\"id\":\"900000000000000001\","
    "\"username\":\"argus\",\"bot\":true},\"session_id\":\"secret-session\",\"guilds\":[{\"id\":"
    "\"1\",\"unavailable\":true},{\"id\":\"2\",\"unavailable\":true}],\"shard\":[0,1],"
    "\"application\":{\"id\":\"900000000000000002\",\"flags\":0}}}",
    "{\"t\":\"GUILD_CREATE\",\"s\":2,\"op\":0,\"d\":{\"name\":\"has \\\"op\\\":7 inside\","
    "\"channels\":[{\"id\":\"5\",\"name\":\"{[\"}],\"id\":\"1000000000000000010\"}}",
    "{\"t\":\"INTERACTION_CREATE\",\"s\":3,\"op\":0,\"d\":{\"type\":2,\"token\":\"" ITOKEN
    "\",\"id\":\"1100000000000000001\",\"application_id\":\"900000000000000002\","
    "\"channel_id\":\"1200000000000000003\",\"data\":{\"name\":\"admin\",\"options\":[{"
    "\"name\":\"stats\",\"type\":1,\"options\":[{\"name\":\"full\",\"type\":5,\"value\":true}]}]"
    "}}}",
    "{\"t\":\"MESSAGE_CREATE\",\"s\":4,\"op\":0,\"d\":{\"id\":\"1300000000000000004\","
    "\"channel_id\":\"1200000000000000003\",\"author\":{\"id\":\"77\",\"bot\":false},"
    "\"content\":\"!ping \\u00e9\"}}",
    "{\"op\":0,\"d\":{\"id\":\"1\"},\"s\":5,\"t\":\"TYPING_START\"}",
};

static const char *const gw_outbound[] = {
    "{\"op\":1,\"d\":null}",
    "{\"op\":2,\"d\":{\"token\":\"" BOT_TOKEN "\",\"properties\":{\"os\":\"linux\"},"
    "\"shard\":[0,1],\"intents\":3276541}}",
};

/* A gateway connection: upgrade, HELLO in the same read as the 101, then
 * the inbound messages interleaved with outbound ones, then close 4000. */
static void build_gateway_session(struct session *s, enum gw_flavour fl)
{
    struct fx_deflater in_z, out_z;
    ZSTD_CCtx *zc = NULL;
    char req[512];

    memset(s, 0, sizeof(*s));
    fx_puts(&add_seg(s, 7, RING_OPEN, 0)->bytes, "gateway.discord.gg");
    snprintf(req, sizeof(req),
             "GET /?v=10&encoding=json%s HTTP/1.1\r\nHost: gateway.discord.gg\r\n"
             "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
             fl == GW_ZLIB   ? "&compress=zlib-stream"
             : fl == GW_ZSTD ? "&compress=zstd-stream"
                             : "");
    add_text(s, 7, RING_DIR_WRITE, req);
    struct seg *first = add_seg(s, 7, RING_DATA, RING_DIR_READ);
    fx_puts(&first->bytes, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: upgrade\r\n");
    if (fl == GW_PMD)
        fx_puts(&first->bytes, "Sec-WebSocket-Extensions: permessage-deflate; "
                               "client_max_window_bits=15\r\n");
    fx_puts(&first->bytes, "\r\n");
    fx_deflater_init(&in_z, fl == GW_PMD ? -15 : 15);
    fx_deflater_init(&out_z, -15);
    if (fl == GW_ZSTD)
        zc = ZSTD_createCCtx();

    size_t n_in = sizeof(gw_inbound) / sizeof(gw_inbound[0]);
    for (size_t i = 0; i < n_in; i++) {
        struct seg *g = i == 0 ? first : add_seg(s, 7, RING_DATA, RING_DIR_READ);
        const char *m = gw_inbound[i];
        struct fx_buf c = {0};
        switch (fl) {
        case GW_PLAIN:
            fx_ws_frame(&g->bytes, 1, 1, 0, 0, m, strlen(m));
            break;
        case GW_ZLIB:
            /* Split one compressed message over two WS messages, as the
             * zlib-stream docs allow. */
            fx_deflate_msg(&in_z, &c, m, strlen(m));
            if (i == 2) {
                fx_ws_frame(&g->bytes, 2, 1, 0, 0, c.p, c.len / 2);
                fx_ws_frame(&g->bytes, 2, 1, 0, 0, c.p + c.len / 2, c.len - c.len / 2);
            } else {
                fx_ws_frame(&g->bytes, 2, 1, 0, 0, c.p, c.len);
            }
            break;
        case GW_ZSTD:
            fx_zstd_msg(zc, &c, m, strlen(m));
            fx_ws_frame(&g->bytes, 2, 1, 0, 0, c.p, c.len);
            break;
        case GW_PMD:
            fx_deflate_msg(&in_z, &c, m, strlen(m));
            ck_assert_int_ge(c.len, 4);
            /* Fragmented, with a ping between the fragments. */
            fx_ws_frame(&g->bytes, 1, 0, 1, 0, c.p, (c.len - 4) / 2);
            fx_ws_frame(&g->bytes, 9, 1, 0, 0, "hi", 2);
            fx_ws_frame(&g->bytes, 0, 1, 0, 0, c.p + (c.len - 4) / 2, c.len - 4 - (c.len - 4) / 2);
            break;
        }
        fx_free(&c);
        if (i < sizeof(gw_outbound) / sizeof(gw_outbound[0])) {
            const char *o = gw_outbound[i];
            struct seg *w = add_seg(s, 7, RING_DATA, RING_DIR_WRITE);
            if (fl == GW_PMD) {
                struct fx_buf oc = {0};
                fx_deflate_msg(&out_z, &oc, o, strlen(o));
                fx_ws_frame(&w->bytes, 1, 1, 1, 1, oc.p, oc.len - 4);
                fx_free(&oc);
            } else {
                fx_ws_frame(&w->bytes, 1, 1, 0, 1, o, strlen(o));
            }
        }
    }
    struct seg *w = add_seg(s, 7, RING_DATA, RING_DIR_WRITE);
    fx_ws_frame(&w->bytes, 8, 1, 0, 1, "\x0f\xa0", 2);
    add_seg(s, 7, RING_CLOSE, 0);
    fx_deflater_fini(&in_z);
    fx_deflater_fini(&out_z);
    ZSTD_freeCCtx(zc);
}

static const char gw_expected[] = "7 open\n"
                                  "7 kind 2\n"
                                  "7 gw in op=10 s=-1 t=\n"
                                  "7 gw out op=1 s=-1 t=\n"
                                  "7 gw in op=11 s=-1 t=\n"
                                  "7 gw out op=2 s=-1 t=\n"
                                  "7 gw in op=0 s=1 t=READY\n"
                                  "7 gw in op=0 s=2 t=GUILD_CREATE\n"
                                  "7 gw in op=0 s=3 t=INTERACTION_CREATE\n"
                                  "7 gw in op=0 s=4 t=MESSAGE_CREATE\n"
                                  "7 gw in op=0 s=5 t=TYPING_START\n"
                                  "7 wsclose 4000 dir=1\n"
                                  "7 close 4000\n";

static void check_gateway_fields(const struct log *l)
{
    int seen = 0;

    for (int i = 0; i < l->n; i++) {
        const struct argus_event *ev = &l->events[i];
        const struct ev_gw *g = &ev->u.gw;
        if (ev->kind != EV_GW_RECV && ev->kind != EV_GW_SEND)
            continue;
        if (g->op == 10) {
            ck_assert_uint_eq(g->u.hello.heartbeat_interval_ms, 41250);
            seen++;
        } else if (g->op == 2) {
            ck_assert_int_eq(g->u.identify.shard_id, 0);
            ck_assert_int_eq(g->u.identify.shard_count, 1);
            ck_assert_uint_eq(g->u.identify.intents, 3276541);
            seen++;
        } else if (strcmp(g->t, "READY") == 0) {
            ck_assert_uint_eq(g->u.ready.user_id, 900000000000000001ull);
            ck_assert_uint_eq(g->u.ready.application_id, 900000000000000002ull);
            ck_assert_str_eq(g->u.ready.username, "argus");
            ck_assert_int_eq(g->u.ready.guild_count, 2);
            seen++;
        } else if (strcmp(g->t, "GUILD_CREATE") == 0) {
            ck_assert_uint_eq(g->u.guild.guild_id, 1000000000000000010ull);
            ck_assert(!g->u.guild.unavailable);
            seen++;
        } else if (strcmp(g->t, "INTERACTION_CREATE") == 0) {
            ck_assert_uint_eq(g->u.interaction.id, 1100000000000000001ull);
            ck_assert_int_eq(g->u.interaction.type, 2);
            ck_assert_str_eq(g->u.interaction.name, "admin stats");
            ck_assert_uint_eq(g->u.interaction.token_hash, tokhash(ITOKEN, strlen(ITOKEN)));
            seen++;
        } else if (strcmp(g->t, "MESSAGE_CREATE") == 0) {
            ck_assert_uint_eq(g->u.message.author_id, 77);
            ck_assert_uint_eq(g->u.message.content_len, 8);
            ck_assert(memcmp(g->u.message.content_head, "!ping \xc3\xa9", 8) == 0);
            seen++;
        }
    }
    ck_assert_int_eq(seen, 6);
}

static void gateway_case(enum gw_flavour fl)
{
    struct session s;
    struct log *l = malloc(sizeof(*l));

    build_gateway_session(&s, fl);
    check_all_splits(&s, l);
    ck_assert_str_eq((char *)l->text.p, gw_expected);
    check_gateway_fields(l);
    assert_no_secret(l, BOT_TOKEN);
    assert_no_secret(l, ITOKEN);
    assert_no_secret(l, "secret-session");
    fx_free(&l->text);
    free(l);
    session_free(&s);
}

START_TEST(plain_json_gateway_decodes_identically_at_every_split)
{
    gateway_case(GW_PLAIN);
}
END_TEST

START_TEST(zlib_stream_gateway_decodes_identically_at_every_split)
{
    gateway_case(GW_ZLIB);
}
END_TEST

START_TEST(zstd_stream_gateway_decodes_identically_at_every_split)
{
    gateway_case(GW_ZSTD);
}
END_TEST

START_TEST(permessage_deflate_gateway_decodes_identically_at_every_split)
{
    gateway_case(GW_PMD);
}
END_TEST

START_TEST(gap_abandons_the_connection_once)
{
    struct session s;
    struct log l;
    struct argus_config cfg = test_config();
    struct stream_table *t;

    build_gateway_session(&s, GW_ZLIB);
    t = stream_table_create(&cfg, on_event, &l);
    memset(&l, 0, sizeof(l));
    for (int i = 0; i < s.n; i++) {
        struct ring_record rec = {.conn_id = s.segs[i].conn,
                                  .t_ns = (uint64_t)i,
                                  .type = (uint8_t)s.segs[i].type,
                                  .dir = (uint8_t)s.segs[i].dir,
                                  .len = (uint32_t)s.segs[i].bytes.len,
                                  .data = s.segs[i].bytes.p};
        if (i == 5)
            continue; /* dropped by the ring */
        if (i == 6)
            rec.flags = RING_F_GAP;
        stream_table_feed(t, &rec);
    }
    stream_table_destroy(t);
    fx_put(&l.text, "", 1);
    ck_assert_ptr_nonnull(strstr((char *)l.text.p, "7 error capture gap\n"));
    ck_assert_ptr_null(strstr((char *)l.text.p, "READY"));
    ck_assert_ptr_nonnull(strstr((char *)l.text.p, "7 close 1006\n"));
    fx_free(&l.text);
    session_free(&s);
}
END_TEST

/* Feeds s, dropping record `drop` and flagging the one after it. */
static void run_with_gap(const struct session *s, int drop, struct log *l)
{
    struct argus_config cfg = test_config();
    struct stream_table *t = stream_table_create(&cfg, on_event, l);

    memset(l, 0, sizeof(*l));
    for (int i = 0; i < s->n; i++) {
        struct ring_record rec = {.conn_id = s->segs[i].conn,
                                  .t_ns = (uint64_t)i,
                                  .type = (uint8_t)s->segs[i].type,
                                  .dir = (uint8_t)s->segs[i].dir,
                                  .flags = i == drop + 1 ? RING_F_GAP : 0,
                                  .len = (uint32_t)s->segs[i].bytes.len,
                                  .data = s->segs[i].bytes.p};
        if (i != drop)
            stream_table_feed(t, &rec);
    }
    stream_table_destroy(t);
    fx_put(&l->text, "", 1);
}

START_TEST(rest_resumes_at_the_next_request_after_a_gap)
{
    struct session s;
    struct log *l = malloc(sizeof(*l));

    build_rest_session(&s);
    /* Record 3 (the callback's head) is lost; 4 (its body) carries the gap;
     * 5 (its 204) must be skipped; 6 (PATCH) starts a request again. */
    run_with_gap(&s, 3, l);
    const char *text = (char *)l->text.p;
    ck_assert_ptr_nonnull(strstr(text, "1 rest GET /users/@me v10 200"));
    ck_assert_ptr_nonnull(strstr(text, "1 error capture gap\n"));
    ck_assert_ptr_null(strstr(text, "/callback"));
    ck_assert_ptr_nonnull(
        strstr(text, "1 rest PATCH /webhooks/{webhook_id}/{token}/messages/@original v10 404"));
    ck_assert_ptr_nonnull(strstr(text, "1 rest PUT /applications/{id}/commands v10 200"));
    ck_assert_ptr_nonnull(strstr(text, "1 close 0\n"));
    fx_free(&l->text);
    free(l);
    session_free(&s);
}
END_TEST

START_TEST(a_connection_first_seen_mid_response_waits_for_a_request)
{
    struct session s;
    struct log l;

    memset(&s, 0, sizeof(s));
    add_text(&s, 4, RING_DIR_READ, "ength: 3\r\n\r\nabc");
    add_text(&s, 4, RING_DIR_WRITE, "GET /api/v10/gateway/bot HTTP/1.1\r\n\r\n");
    add_text(&s, 4, RING_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    add_seg(&s, 4, RING_CLOSE, 0);
    run_with_gap(&s, -1, &l);
    ck_assert_str_eq((char *)l.text.p, "4 open\n4 error capture gap\n4 kind 1\n"
                                       "4 rest GET /gateway/bot v10 200 code=0 cb=-1 ref=0 "
                                       "sync=-1 iid=0 tok=0 wh=0 orig=0 react=0 bucket= rem=0 "
                                       "lib=/ rt=\n4 close 0\n");
    fx_free(&l.text);
    session_free(&s);
}
END_TEST

START_TEST(garbage_is_abandoned_and_counted)
{
    struct session s;
    struct log l;

    memset(&s, 0, sizeof(s));
    add_text(&s, 3, RING_DIR_WRITE, "\x16\x03\x01 not http at all\r\n\r\n");
    add_text(&s, 3, RING_DIR_WRITE, "GET / HTTP/1.1\r\n\r\n");
    add_seg(&s, 3, RING_CLOSE, 0);
    run(&s, 0, -1, &l);
    fx_put(&l.text, "", 1);
    ck_assert_str_eq((char *)l.text.p, "3 open\n3 error http bad_method\n3 close 0\n");
    fx_free(&l.text);
    session_free(&s);
}
END_TEST

START_TEST(connection_cap_evicts_the_quietest)
{
    struct argus_config cfg = test_config();
    struct log l;
    struct stream_table *t;

    cfg.max_connections = 2;
    memset(&l, 0, sizeof(l));
    t = stream_table_create(&cfg, on_event, &l);
    for (uint64_t id = 1; id <= 3; id++) {
        struct ring_record rec = {.conn_id = id, .t_ns = id, .type = RING_OPEN};
        stream_table_feed(t, &rec);
    }
    stream_table_destroy(t);
    fx_put(&l.text, "", 1);
    ck_assert_str_eq((char *)l.text.p,
                     "1 open\n2 open\n1 error capture evicted\n1 close 0\n3 open\n");
    fx_free(&l.text);
}
END_TEST

/* An upgraded plain-JSON gateway connection, id 9, ready for messages. */
static struct seg *gateway_upgrade(struct session *s, const char *query)
{
    char req[160];

    memset(s, 0, sizeof(*s));
    snprintf(req, sizeof(req), "GET /?v=10&encoding=json%s HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
             query);
    add_text(s, 9, RING_DIR_WRITE, req);
    struct seg *g = add_seg(s, 9, RING_DATA, RING_DIR_READ);
    fx_puts(&g->bytes, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    return g;
}

/* A MESSAGE_CREATE of at least `len` bytes whose content is a run of 'x'. */
static void big_message_create(struct fx_buf *m, int seq, size_t len)
{
    char head[96];

    snprintf(head, sizeof(head),
             "{\"t\":\"MESSAGE_CREATE\",\"s\":%d,\"op\":0,\"d\":{\"id\":\"5\",\"content\":\"", seq);
    fx_puts(m, head);
    while (m->len + 3 < len)
        fx_puts(m, "x");
    fx_puts(m, "\"}}");
}

static const char next_message[] = "{\"t\":\"TYPING_START\",\"s\":3,\"op\":0,\"d\":{}}";

/* Issue 14: a message past the cap was parsed from its first bytes and
 * counted as an event. It is counted as cut, and the next one decodes. */
START_TEST(an_oversized_message_is_cut_and_the_next_decodes)
{
    struct session s;
    struct log l;
    struct fx_buf big = {0};

    struct seg *g = gateway_upgrade(&s, "");
    fx_puts(&big, "{\"t\":\"GUILD_CREATE\",\"s\":9,\"op\":0,\"d\":{\"members\":\"");
    while (big.len < (2u << 20))
        fx_puts(&big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    fx_puts(&big, "\",\"id\":\"5\"}}");
    fx_ws_frame(&g->bytes, 1, 1, 0, 0, big.p, big.len);
    fx_ws_frame(&add_seg(&s, 9, RING_DATA, RING_DIR_READ)->bytes, 1, 1, 0, 0, next_message,
                strlen(next_message));
    run(&s, 0, -1, &l);
    fx_put(&l.text, "", 1);
    ck_assert_str_eq((char *)l.text.p, "9 open\n9 kind 2\n9 error gateway too_large\n"
                                       "9 gw in op=0 s=3 t=TYPING_START\n");
    fx_free(&l.text);
    fx_free(&big);
    session_free(&s);
}
END_TEST

START_TEST(a_message_over_a_small_cap_is_cut_at_every_split)
{
    struct session s;
    struct log *l = malloc(sizeof(*l));
    struct fx_buf at_cap = {0}, over = {0};

    run_max_message = 4096;
    big_message_create(&at_cap, 1, 4096);
    ck_assert_uint_eq(at_cap.len, 4096);
    big_message_create(&over, 2, 4097);
    ck_assert_uint_eq(over.len, 4097);
    struct seg *g = gateway_upgrade(&s, "");
    fx_ws_frame(&g->bytes, 1, 1, 0, 0, at_cap.p, at_cap.len);
    g = add_seg(&s, 9, RING_DATA, RING_DIR_READ);
    /* Fragmented: the cap applies to the message, not to a frame. */
    fx_ws_frame(&g->bytes, 1, 0, 0, 0, over.p, 3000);
    fx_ws_frame(&g->bytes, 0, 1, 0, 0, over.p + 3000, over.len - 3000);
    fx_ws_frame(&g->bytes, 1, 1, 0, 0, next_message, strlen(next_message));
    check_all_splits(&s, l);
    ck_assert_str_eq((char *)l->text.p, "9 open\n9 kind 2\n9 gw in op=0 s=1 t=MESSAGE_CREATE\n"
                                        "9 error gateway too_large\n"
                                        "9 gw in op=0 s=3 t=TYPING_START\n");
    fx_free(&l->text);
    free(l);
    fx_free(&at_cap);
    fx_free(&over);
    session_free(&s);
}
END_TEST

/* A zlib-stream message a few hundred bytes long that inflates to 1 MiB,
 * past a 64 KiB cap: cut, and the shared stream still inflates the next. */
START_TEST(a_zlib_stream_bomb_is_cut_and_the_stream_stays_in_sync)
{
    struct session s;
    struct log *l = malloc(sizeof(*l));
    struct fx_buf bomb = {0}, packed = {0}, next = {0};
    struct fx_deflater z;

    run_max_message = 65536;
    big_message_create(&bomb, 2, 1u << 20);
    fx_deflater_init(&z, 15);
    fx_deflate_msg(&z, &packed, bomb.p, bomb.len);
    fx_deflate_msg(&z, &next, next_message, strlen(next_message));
    fx_deflater_fini(&z);
    ck_assert_uint_lt(packed.len, 4096);
    struct seg *g = gateway_upgrade(&s, "&compress=zlib-stream");
    fx_ws_frame(&g->bytes, 2, 1, 0, 0, packed.p, packed.len);
    g = add_seg(&s, 9, RING_DATA, RING_DIR_READ);
    fx_ws_frame(&g->bytes, 2, 1, 0, 0, next.p, next.len);
    check_all_splits(&s, l);
    ck_assert_str_eq((char *)l->text.p, "9 open\n9 kind 2\n9 error gateway too_large\n"
                                        "9 gw in op=0 s=3 t=TYPING_START\n");
    fx_free(&l->text);
    free(l);
    fx_free(&bomb);
    fx_free(&packed);
    fx_free(&next);
    session_free(&s);
}
END_TEST

/* REST bodies past the cap: a callback request body, then a gzip error
 * body that inflates to 1 MiB. Neither exchange is reported (what the body
 * would have said is unknown); each is counted once, and the next exchange
 * on the connection decodes. */
START_TEST(rest_bodies_over_the_cap_are_cut_and_the_next_exchange_decodes)
{
    struct session s;
    struct log *l = malloc(sizeof(*l));
    struct fx_buf body = {0}, error = {0};
    char head[256];
    size_t gz_cap = 1u << 20;
    uint8_t *gz = malloc(gz_cap);

    ck_assert_ptr_nonnull(gz);
    run_max_message = 4096;
    memset(&s, 0, sizeof(s));
    fx_puts(&add_seg(&s, 1, RING_OPEN, 0)->bytes, "discord.com");
    fx_puts(&body, "{\"type\":4,\"data\":{\"content\":\"");
    while (body.len < 5000)
        fx_puts(&body, "y");
    fx_puts(&body, "\"}}");
    snprintf(head, sizeof(head),
             "POST /api/v10/interactions/1100000000000000001/" ITOKEN "/callback HTTP/1.1\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             body.len);
    struct seg *w = add_seg(&s, 1, RING_DATA, RING_DIR_WRITE);
    fx_puts(&w->bytes, head);
    fx_put(&w->bytes, body.p, body.len);
    add_text(&s, 1, RING_DIR_READ, "HTTP/1.1 204 No Content\r\n\r\n");

    add_text(&s, 1, RING_DIR_WRITE,
             "POST /api/v10/channels/1200000000000000003/messages HTTP/1.1\r\n"
             "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    fx_puts(&error, "{\"code\":50035,\"message\":\"");
    while (error.len < (1u << 20))
        fx_puts(&error, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    fx_puts(&error, "\"}");
    size_t gzlen = fx_deflate_body(15 + 16, error.p, error.len, gz, gz_cap);
    ck_assert_uint_lt(gzlen, 4096);
    snprintf(head, sizeof(head),
             "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
             "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
             gzlen);
    struct seg *r = add_seg(&s, 1, RING_DATA, RING_DIR_READ);
    fx_puts(&r->bytes, head);
    fx_put(&r->bytes, gz, gzlen);

    add_text(&s, 1, RING_DIR_WRITE, "GET /api/v10/users/@me HTTP/1.1\r\n\r\n");
    add_text(&s, 1, RING_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    add_seg(&s, 1, RING_CLOSE, 0);
    check_all_splits(&s, l);
    ck_assert_str_eq((char *)l->text.p,
                     "1 open\n1 kind 1\n1 error http too_large\n1 error http too_large\n"
                     "1 rest GET /users/@me v10 200 code=0 cb=-1 ref=0 sync=-1 iid=0 tok=0 wh=0 "
                     "orig=0 react=0 bucket= rem=0 lib=/ rt=\n"
                     "1 close 0\n");
    assert_no_secret(l, ITOKEN);
    fx_free(&l->text);
    free(l);
    free(gz);
    fx_free(&body);
    fx_free(&error);
    session_free(&s);
}
END_TEST

/* ---- freed memory ----
 * While a test arms it, tests/support/alloc_fail.h looks for a secret in
 * every block the executable frees: a buffer that held a token must be wiped
 * before it goes back to the allocator, whose next malloc() may hand it to
 * anyone. It wraps the allocator at link time, so this runs under every
 * sanitizer too. */
/* Feeds s with `secret` armed and asserts it reached no freed block. */
static void run_watching_frees(const struct session *s, const char *secret)
{
    struct argus_config cfg = test_config();
    struct log *l = calloc(1, sizeof(*l));
    struct stream_table *t;

    ck_assert_ptr_nonnull(l);
    alloc_watch_frees(secret);
    t = stream_table_create(&cfg, on_event, l);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < s->n; i++) {
        struct ring_record rec = {.conn_id = s->segs[i].conn,
                                  .t_ns = (uint64_t)i,
                                  .type = (uint8_t)s->segs[i].type,
                                  .dir = (uint8_t)s->segs[i].dir,
                                  .len = (uint32_t)s->segs[i].bytes.len,
                                  .data = s->segs[i].bytes.p};
        stream_table_feed(t, &rec);
    }
    stream_table_destroy(t);
    int secret_blocks = alloc_freed_secret_blocks();
    alloc_watch_frees(NULL);
    ck_assert_int_eq(secret_blocks, 0);
    assert_no_secret(l, secret);
    fx_free(&l->text);
    free(l);
}

START_TEST(a_request_head_cut_by_close_is_wiped)
{
    struct session s;

    memset(&s, 0, sizeof(s));
    fx_puts(&add_seg(&s, 2, RING_OPEN, 0)->bytes, "discord.com");
    add_text(&s, 2, RING_DIR_WRITE,
             "POST /api/v10/channels/1200000000000000003/messages HTTP/1.1\r\n"
             "Authorization: Bot " BOT_TOKEN "\r\n");
    add_seg(&s, 2, RING_CLOSE, 0);
    run_watching_frees(&s, BOT_TOKEN);
    session_free(&s);
}
END_TEST

START_TEST(a_malformed_request_head_is_wiped)
{
    struct session s;

    memset(&s, 0, sizeof(s));
    add_text(&s, 2, RING_DIR_WRITE,
             "GET /api/v10/users/@me HTTP/1.1\r\nAuthorization: Bot " BOT_TOKEN
             "\r\n folded\r\n\r\n");
    add_seg(&s, 2, RING_CLOSE, 0);
    run_watching_frees(&s, BOT_TOKEN);
    session_free(&s);
}
END_TEST

START_TEST(an_identify_cut_by_close_is_wiped)
{
    struct session s;

    memset(&s, 0, sizeof(s));
    add_text(&s, 9, RING_DIR_WRITE,
             "GET /?v=10&encoding=json HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    add_text(&s, 9, RING_DIR_READ, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    struct seg *w = add_seg(&s, 9, RING_DATA, RING_DIR_WRITE);
    const char *identify = gw_outbound[1];
    /* The first fragment of a message that never ends. */
    fx_ws_frame(&w->bytes, 1, 0, 0, 1, identify, strlen(identify));
    add_seg(&s, 9, RING_CLOSE, 0);
    run_watching_frees(&s, BOT_TOKEN);
    session_free(&s);
}
END_TEST

/* Issue 14, secrets at rest: an inbound MESSAGE_CREATE's content stayed in
 * the reused message buffer until the next message overwrote it, which on a
 * quiet connection may be hours. Once its event is out, no live block the
 * decoder allocated holds it. The content is past what content_head keeps. */
#define CONTENT_SECRET "c0ntent-past-the-head-that-must-not-linger"
START_TEST(message_content_is_wiped_once_its_event_is_out)
{
    struct argus_config cfg = test_config();
    struct log *l = calloc(1, sizeof(*l));
    struct session s;
    char msg[512];

    ck_assert_ptr_nonnull(l);
    memset(&s, 0, sizeof(s));
    add_text(&s, 9, RING_DIR_WRITE,
             "GET /?v=10&encoding=json HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    add_text(&s, 9, RING_DIR_READ, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    int n = snprintf(
        msg, sizeof(msg),
        "{\"t\":\"MESSAGE_CREATE\",\"s\":1,\"op\":0,\"d\":{\"id\":\"1\","
        "\"channel_id\":\"2\",\"author\":{\"id\":\"3\"},\"content\":\"%0*d " CONTENT_SECRET "\"}}",
        EV_CONTENT_HEAD, 0);
    fx_ws_frame(&add_seg(&s, 9, RING_DATA, RING_DIR_READ)->bytes, 1, 1, 0, 0, msg, (size_t)n);

    alloc_watch_frees(CONTENT_SECRET);
    struct stream_table *t = stream_table_create(&cfg, on_event, l);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < s.n; i++) {
        struct ring_record rec = {.conn_id = s.segs[i].conn,
                                  .t_ns = (uint64_t)i,
                                  .type = (uint8_t)s.segs[i].type,
                                  .dir = (uint8_t)s.segs[i].dir,
                                  .len = (uint32_t)s.segs[i].bytes.len,
                                  .data = s.segs[i].bytes.p};
        stream_table_feed(t, &rec);
    }
    fx_put(&l->text, "", 1);
    ck_assert_ptr_nonnull(strstr((char *)l->text.p, "gw in op=0 s=1 t=MESSAGE_CREATE"));
    int live = alloc_live_secret_blocks();
    stream_table_destroy(t);
    alloc_watch_frees(NULL);
    ck_assert_int_eq(live, 0);
    assert_no_secret(l, CONTENT_SECRET);
    fx_free(&l->text);
    free(l);
    session_free(&s);
}
END_TEST

/* The decompression window holds the last inflated bytes: zlib and zstd
 * allocate it through zs.c's wiping allocator, so it is freed wiped, and
 * (being allocated from Argus' own code) the freed-block check sees it. */
static void compressed_content_session(struct session *s, bool zstd)
{
    const char *msg =
        "{\"t\":\"MESSAGE_CREATE\",\"s\":1,\"op\":0,\"d\":{\"id\":\"1\","
        "\"channel_id\":\"2\",\"author\":{\"id\":\"3\"},\"content\":\"hi " CONTENT_SECRET "\"}}";
    struct fx_buf c = {0};

    memset(s, 0, sizeof(*s));
    add_text(s, 9, RING_DIR_WRITE,
             zstd ? "GET /?v=10&encoding=json&compress=zstd-stream HTTP/1.1\r\n"
                    "Upgrade: websocket\r\n\r\n"
                  : "GET /?v=10&encoding=json&compress=zlib-stream HTTP/1.1\r\n"
                    "Upgrade: websocket\r\n\r\n");
    add_text(s, 9, RING_DIR_READ, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    if (zstd) {
        ZSTD_CCtx *zc = ZSTD_createCCtx();
        fx_zstd_msg(zc, &c, msg, strlen(msg));
        ZSTD_freeCCtx(zc);
    } else {
        struct fx_deflater d;
        fx_deflater_init(&d, 15);
        fx_deflate_msg(&d, &c, msg, strlen(msg));
        fx_deflater_fini(&d);
    }
    fx_ws_frame(&add_seg(s, 9, RING_DATA, RING_DIR_READ)->bytes, 2, 1, 0, 0, c.p, c.len);
    add_seg(s, 9, RING_CLOSE, 0);
    fx_free(&c);
}

START_TEST(a_compressed_streams_window_is_freed_wiped)
{
    struct session s;

    for (int zstd = 0; zstd < 2; zstd++) {
        compressed_content_session(&s, zstd);
        run_watching_frees(&s, CONTENT_SECRET);
        session_free(&s);
    }
}
END_TEST

START_TEST(a_growing_interaction_buffer_leaves_no_token_behind)
{
    struct session s;
    struct fx_buf big = {0};

    memset(&s, 0, sizeof(s));
    add_text(&s, 9, RING_DIR_WRITE,
             "GET /?v=10&encoding=json HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    add_text(&s, 9, RING_DIR_READ, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    /* Larger than the message buffer's first allocation, token first. */
    fx_puts(&big,
            "{\"t\":\"INTERACTION_CREATE\",\"s\":1,\"op\":0,\"d\":{\"token\":\"" ITOKEN
            "\",\"id\":\"1100000000000000001\",\"type\":2,\"data\":{\"name\":\"x\",\"pad\":\"");
    while (big.len < 200 * 1024)
        fx_puts(&big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    fx_puts(&big, "\"}}}");
    fx_ws_frame(&add_seg(&s, 9, RING_DATA, RING_DIR_READ)->bytes, 1, 1, 0, 0, big.p, big.len);
    add_seg(&s, 9, RING_CLOSE, 0);
    run_watching_frees(&s, ITOKEN);
    fx_free(&big);
    session_free(&s);
}
END_TEST

/* GET /gateway/bot's budget, X-RateLimit-Limit, a Cloudflare 429 (HTML, no
 * rate-limit headers), and a voice gateway that is counted, never decoded:
 * the same at every split. */
START_TEST(gateway_bot_limits_cloudflare_and_voice)
{
    struct session s;
    struct log whole;

    memset(&s, 0, sizeof(s));
    fx_puts(&add_seg(&s, 1, RING_OPEN, 0)->bytes, "discord.com");
    add_text(&s, 1, RING_DIR_WRITE,
             "GET /api/v10/gateway/bot HTTP/1.1\r\nHost: discord.com\r\n\r\n");
    static const char body[] =
        "{\"url\":\"wss://gateway.discord.gg\",\"shards\":2,\"session_start_limit\":"
        "{\"total\":1000,\"remaining\":987,\"reset_after\":14400000,\"max_concurrency\":1}}";
    char resp[512];
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "X-RateLimit-Limit: 5\r\nX-RateLimit-Remaining: 0\r\n\r\n%s",
             strlen(body), body);
    add_text(&s, 1, RING_DIR_READ, resp);
    add_text(&s, 1, RING_DIR_WRITE, "GET /api/v10/users/@me HTTP/1.1\r\nHost: discord.com\r\n\r\n");
    add_text(&s, 1, RING_DIR_READ,
             "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/html\r\nContent-Length: 6\r\n"
             "\r\n<html>");
    fx_puts(&add_seg(&s, 2, RING_OPEN, 0)->bytes, "c-iad05-abcd.discord.media");
    add_text(&s, 2, RING_DIR_WRITE,
             "GET /?v=4 HTTP/1.1\r\nHost: c-iad05-abcd.discord.media\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    add_text(&s, 2, RING_DIR_READ,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n\r\n\x81\x05{\"op\"");
    add_seg(&s, 2, RING_CLOSE, 0);
    run(&s, 0, -1, &whole);
    int rest = 0, voice_kind = 0, voice_other = 0;
    for (int i = 0; i < whole.n; i++) {
        const struct argus_event *ev = &whole.events[i];
        if (ev->conn_id == 2) {
            if (ev->kind == EV_CONN_KIND && ev->conn_kind == CONN_KIND_VOICE)
                voice_kind++;
            else if (ev->kind != EV_CONN_OPEN && ev->kind != EV_CONN_CLOSE)
                voice_other++;
            continue;
        }
        if (ev->kind != EV_REST)
            continue;
        const struct ev_rest *r = &ev->u.rest;
        if (rest++ == 0) {
            ck_assert_str_eq(r->route, "/gateway/bot");
            ck_assert_int_eq(r->shards_recommended, 2);
            ck_assert_int_eq(r->session_starts_total, 1000);
            ck_assert_int_eq(r->session_starts_remaining, 987);
            ck_assert(r->has_limit && r->limit == 5);
            ck_assert(r->has_remaining && r->remaining == 0);
            ck_assert(!r->body_foreign);
        } else {
            ck_assert_int_eq(r->status, 429);
            ck_assert(r->body_foreign);
            ck_assert(!r->has_remaining && !r->has_limit);
            ck_assert_int_eq(r->session_starts_remaining, -1);
        }
    }
    ck_assert_int_eq(rest, 2);
    ck_assert_int_eq(voice_kind, 1);
    ck_assert_int_eq(voice_other, 0);
    fx_free(&whole.text);
    check_all_splits(&s, &whole);
    fx_free(&whole.text);
    session_free(&s);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rest_exchanges_decode_identically_at_every_split);
    tcase_add_test(tc, plain_json_gateway_decodes_identically_at_every_split);
    tcase_add_test(tc, zlib_stream_gateway_decodes_identically_at_every_split);
    tcase_add_test(tc, zstd_stream_gateway_decodes_identically_at_every_split);
    tcase_add_test(tc, permessage_deflate_gateway_decodes_identically_at_every_split);
    tcase_add_test(tc, gap_abandons_the_connection_once);
    tcase_add_test(tc, rest_resumes_at_the_next_request_after_a_gap);
    tcase_add_test(tc, a_connection_first_seen_mid_response_waits_for_a_request);
    tcase_add_test(tc, garbage_is_abandoned_and_counted);
    tcase_add_test(tc, connection_cap_evicts_the_quietest);
    tcase_add_test(tc, an_oversized_message_is_cut_and_the_next_decodes);
    tcase_add_test(tc, a_message_over_a_small_cap_is_cut_at_every_split);
    tcase_add_test(tc, a_zlib_stream_bomb_is_cut_and_the_stream_stays_in_sync);
    tcase_add_test(tc, rest_bodies_over_the_cap_are_cut_and_the_next_exchange_decodes);
    tcase_add_test(tc, a_request_head_cut_by_close_is_wiped);
    tcase_add_test(tc, a_malformed_request_head_is_wiped);
    tcase_add_test(tc, an_identify_cut_by_close_is_wiped);
    tcase_add_test(tc, a_growing_interaction_buffer_leaves_no_token_behind);
    tcase_add_test(tc, gateway_bot_limits_cloudflare_and_voice);
    tcase_add_test(tc, message_content_is_wiped_once_its_event_is_out);
    tcase_add_test(tc, a_compressed_streams_window_is_freed_wiped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(stream_suite());
}
