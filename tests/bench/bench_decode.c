/*
 * bench_decode.c - decode throughput on a realistic capture mix, one core.
 *
 * The mix, built in memory before timing: one zlib-stream gateway connection
 * as discord.py receives it (HELLO, READY, GUILD_CREATE x 40 of ~40 KB, then
 * 100,000 MESSAGE_CREATE of ~1 KB with TYPING_START and PRESENCE_UPDATE
 * mixed in, heartbeats out), cut into reads of at most
 * 16 KiB like TLS records; plus a keep-alive REST connection with JSON
 * requests and chunked responses. The timed loop is stream_table_feed()
 * over all records, repeated.
 *
 * The same mix is then run again as plain JSON text frames (discord.js'
 * default).
 *
 * Reported: MB/s of decompressed gateway JSON, MESSAGE_CREATE events/s, and
 * the ratio to a baseline measured in the same run: inflating the same
 * zlib stream alone (the least any zlib-stream decoder must do).
 *
 *   usage: bench_decode [seconds]   (default 3)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "../unit/decode_fixture.h"
#include "config.h"
#include "stream.h"

struct rec {
    uint64_t conn;
    uint8_t type, dir;
    size_t off, len; /* into the arena */
};

static struct fx_buf arena;
static struct rec *recs;
static size_t n_recs, cap_recs;

static void add_rec(uint64_t conn, uint8_t type, uint8_t dir, const void *data, size_t len)
{
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? cap_recs * 2 : 1024;
        recs = realloc(recs, cap_recs * sizeof(*recs));
        if (recs == NULL)
            exit(1);
    }
    recs[n_recs++] = (struct rec){conn, type, dir, arena.len, len};
    fx_put(&arena, data, len);
}

/* Appends bytes to a direction, cut into reads of at most 16 KiB. */
static void add_stream(uint64_t conn, uint8_t dir, const uint8_t *data, size_t len)
{
    for (size_t at = 0; at < len; at += 16384)
        add_rec(conn, RING_DATA, dir, data + at, len - at < 16384 ? len - at : 16384);
}

static z_stream gz;
static bool plain_json;           /* discord.js' default: text frames, no compression */
static struct fx_buf zstream_all; /* the whole compressed stream, for the baseline */
static uint64_t json_bytes, n_message_create;

static void send_gateway(struct fx_buf *wire, const char *json, size_t len)
{
    uint8_t out[1 << 16];
    struct fx_buf c = {0};

    json_bytes += len;
    if (plain_json) {
        fx_ws_frame(wire, 1, 1, 0, 0, json, len);
        return;
    }
    gz.next_in = (Bytef *)(uintptr_t)json;
    gz.avail_in = (uInt)len;
    do {
        gz.next_out = out;
        gz.avail_out = sizeof(out);
        deflate(&gz, Z_SYNC_FLUSH);
        fx_put(&c, out, sizeof(out) - gz.avail_out);
    } while (gz.avail_out == 0);
    fx_ws_frame(wire, 2, 1, 0, 0, c.p, c.len);
    fx_put(&zstream_all, c.p, c.len);
    free(c.p);
}

static int message_create(char *out, size_t cap, unsigned i, unsigned seq)
{
    return snprintf(
        out, cap,
        "{\"t\":\"MESSAGE_CREATE\",\"s\":%u,\"op\":0,\"d\":{\"type\":0,\"tts\":false,"
        "\"timestamp\":\"2026-11-25T18:00:%02u.%06u+00:00\",\"referenced_message\":null,"
        "\"pinned\":false,\"nonce\":\"13%017u\",\"mentions\":[],\"mention_roles\":[],"
        "\"mention_everyone\":false,\"member\":{\"roles\":[\"1100000000000000%03u\"],"
        "\"premium_since\":null,\"pending\":false,\"nick\":null,\"mute\":false,"
        "\"joined_at\":\"2024-01-01T00:00:00.000000+00:00\",\"flags\":0,\"deaf\":false,"
        "\"communication_disabled_until\":null,\"banner\":null,\"avatar\":null},"
        "\"id\":\"12%017u\",\"flags\":0,\"embeds\":[],\"edited_timestamp\":null,"
        "\"content\":\"%s message number %u with some ordinary chat text \\u2014 ok\","
        "\"components\":[],\"channel_type\":0,\"channel_id\":\"11%017u\",\"author\":{"
        "\"username\":\"user%u\",\"public_flags\":0,\"id\":\"10%017u\",\"global_name\":"
        "\"User %u\",\"discriminator\":\"0\",\"clan\":null,\"avatar_decoration_data\":null,"
        "\"avatar\":\"0123456789abcdef0123456789abcdef\"},\"attachments\":[],"
        "\"guild_id\":\"9%018u\"}}",
        seq, i % 60, i, i, i % 1000, i, i % 50 == 0 ? "!ping" : "hello", i, i % 20, i % 5000,
        i % 5000, i % 5000, i % 40);
}

static void build_mix(unsigned n_messages)
{
    struct fx_buf wire = {0}, guild = {0};
    char msg[4096];
    unsigned seq = 1;

    deflateInit(&gz, Z_DEFAULT_COMPRESSION);
    /* Gateway connection 1. */
    add_rec(1, RING_OPEN, 0, "gateway.discord.gg", 18);
    int n = snprintf(msg, sizeof(msg),
                     "GET /?v=10&encoding=json%s HTTP/1.1\r\nHost: gateway.discord.gg\r\n"
                     "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                     plain_json ? "" : "&compress=zlib-stream");
    add_rec(1, RING_DATA, RING_DIR_WRITE, msg, (size_t)n);
    fx_put(&wire, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 56);
    n = snprintf(msg, sizeof(msg),
                 "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250}}");
    send_gateway(&wire, msg, (size_t)n);
    n = snprintf(msg, sizeof(msg),
                 "{\"t\":\"READY\",\"s\":%u,\"op\":0,\"d\":{\"v\":10,\"user\":{\"id\":\"1\","
                 "\"username\":\"bench\",\"bot\":true},\"guilds\":[],\"application\":{\"id\":"
                 "\"2\"}}}",
                 seq++);
    send_gateway(&wire, msg, (size_t)n);
    for (unsigned g = 0; g < 40; g++) {
        guild.len = 0;
        n = snprintf(msg, sizeof(msg),
                     "{\"t\":\"GUILD_CREATE\",\"s\":%u,\"op\":0,\"d\":{\"members\":[", seq++);
        fx_put(&guild, msg, (size_t)n);
        for (unsigned m = 0; m < 250; m++) {
            n = snprintf(msg, sizeof(msg),
                         "%s{\"user\":{\"username\":\"member%u\",\"id\":\"10%017u\",\"bot\":false},"
                         "\"roles\":[],\"joined_at\":\"2024-01-01T00:00:00+00:00\"}",
                         m ? "," : "", m, g * 1000 + m);
            fx_put(&guild, msg, (size_t)n);
        }
        n = snprintf(msg, sizeof(msg), "],\"name\":\"guild %u\",\"id\":\"9%018u\"}}", g, g);
        fx_put(&guild, msg, (size_t)n);
        send_gateway(&wire, (const char *)guild.p, guild.len);
    }
    add_stream(1, RING_DIR_READ, wire.p, wire.len);
    wire.len = 0;
    for (unsigned i = 0; i < n_messages; i++) {
        if (i % 10 == 3) {
            n = snprintf(msg, sizeof(msg),
                         "{\"t\":\"TYPING_START\",\"s\":%u,\"op\":0,\"d\":{\"user_id\":\"10%017u\","
                         "\"timestamp\":1764093600,\"channel_id\":\"11%017u\",\"guild_id\":"
                         "\"9%018u\"}}",
                         seq++, i, i % 20, i % 40);
            send_gateway(&wire, msg, (size_t)n);
        }
        if (i % 10 == 7) {
            n = snprintf(msg, sizeof(msg),
                         "{\"t\":\"PRESENCE_UPDATE\",\"s\":%u,\"op\":0,\"d\":{\"user\":{\"id\":"
                         "\"10%017u\"},\"status\":\"online\",\"guild_id\":\"9%018u\","
                         "\"client_status\":{\"desktop\":\"online\"},\"activities\":[]}}",
                         seq++, i, i % 40);
            send_gateway(&wire, msg, (size_t)n);
        }
        n = message_create(msg, sizeof(msg), i, seq++);
        send_gateway(&wire, msg, (size_t)n);
        n_message_create++;
        if (wire.len > 16384) {
            add_stream(1, RING_DIR_READ, wire.p, wire.len);
            wire.len = 0;
        }
        if (i % 500 == 0) {
            struct fx_buf hb = {0};
            fx_ws_frame(&hb, 1, 1, 0, 1, "{\"op\":1,\"d\":12}", 15);
            add_rec(1, RING_DATA, RING_DIR_WRITE, hb.p, hb.len);
            free(hb.p);
        }
    }
    add_stream(1, RING_DIR_READ, wire.p, wire.len);
    /* REST connection 2: 1 exchange per 20 messages. */
    add_rec(2, RING_OPEN, 0, "discord.com", 11);
    for (unsigned i = 0; i < n_messages / 20; i++) {
        n = snprintf(msg, sizeof(msg),
                     "POST /api/v10/channels/11%017u/messages HTTP/1.1\r\nHost: discord.com\r\n"
                     "User-Agent: DiscordBot (https://github.com/Rapptz/discord.py 2.2.2) "
                     "Python/3.11 aiohttp/3.8.4\r\nAuthorization: Bot x.y.z\r\n"
                     "Content-Type: application/json\r\nContent-Length: 61\r\n\r\n",
                     i % 20);
        add_rec(2, RING_DATA, RING_DIR_WRITE, msg, (size_t)n);
        add_rec(2, RING_DATA, RING_DIR_WRITE,
                "{\"content\":\"pong\",\"message_reference\":{\"message_id\":\"1\"}}", 61);
        static const char resp[] =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "X-RateLimit-Bucket: 80c17d2f203122d936070c88c8d10f33\r\nX-RateLimit-Remaining: 4\r\n"
            "X-RateLimit-Reset-After: 5.000\r\nVia: 1.1 google\r\n\r\n"
            "1c\r\n{\"id\":\"1\",\"content\":\"pong\"}\r\n0\r\n\r\n";
        add_rec(2, RING_DATA, RING_DIR_READ, resp, sizeof(resp) - 1);
    }
    add_rec(1, RING_CLOSE, 0, NULL, 0);
    add_rec(2, RING_CLOSE, 0, NULL, 0);
    deflateEnd(&gz);
    free(wire.p);
    free(guild.p);
}

static uint64_t events_seen, message_creates_seen;

static void on_event(const struct argus_event *ev, void *arg)
{
    (void)arg;
    events_seen++;
    if (ev->kind == EV_GW_RECV && ev->u.gw.t[0] == 'M' && strcmp(ev->u.gw.t, "MESSAGE_CREATE") == 0)
        message_creates_seen++;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void decode_once(const struct argus_config *cfg)
{
    struct stream_table *t = stream_table_create(cfg, on_event, NULL);

    for (size_t i = 0; i < n_recs; i++) {
        struct ring_record r = {.conn_id = recs[i].conn,
                                .t_ns = i,
                                .type = recs[i].type,
                                .dir = recs[i].dir,
                                .len = (uint32_t)recs[i].len,
                                .data = arena.p + recs[i].off};
        stream_table_feed(t, &r);
    }
    stream_table_destroy(t);
}

static void inflate_once(void)
{
    static uint8_t out[1 << 16];
    z_stream z;

    memset(&z, 0, sizeof(z));
    inflateInit(&z);
    z.next_in = zstream_all.p;
    z.avail_in = (uInt)zstream_all.len;
    do {
        z.next_out = out;
        z.avail_out = sizeof(out);
    } while (inflate(&z, Z_SYNC_FLUSH) == Z_OK && z.avail_in > 0);
    inflateEnd(&z);
}

/* Builds one mix, decodes it for `seconds`, prints its line. */
static int run_mix(bool plain, double seconds, const struct argus_config *cfg)
{
    unsigned runs = 0, base_runs = 0;
    double t0, t_decode, t_base = 0;

    plain_json = plain;
    n_recs = arena.len = zstream_all.len = 0;
    json_bytes = n_message_create = message_creates_seen = 0;
    build_mix(100000);
    decode_once(cfg); /* warm-up, and a check that it decodes */
    if (message_creates_seen != n_message_create) {
        fprintf(stderr, "bench_decode: decoded %llu MESSAGE_CREATE of %llu\n",
                (unsigned long long)message_creates_seen, (unsigned long long)n_message_create);
        return 1;
    }
    t0 = now_s();
    do {
        decode_once(cfg);
        runs++;
    } while (now_s() - t0 < seconds);
    t_decode = (now_s() - t0) / runs;
    printf("%s gateway mix: %zu records, %.1f MB captured, %.1f MB gateway JSON, "
           "%llu MESSAGE_CREATE\n",
           plain ? "plain JSON" : "zlib-stream", n_recs, arena.len / 1e6, json_bytes / 1e6,
           (unsigned long long)n_message_create);
    printf("  decode: %.0f MB/s of decompressed gateway JSON, %.0f MESSAGE_CREATE events/s "
           "(%.1f ms per pass, %u passes)\n",
           json_bytes / 1e6 / t_decode, n_message_create / t_decode, t_decode * 1e3, runs);
    if (!plain) {
        t0 = now_s();
        do {
            inflate_once();
            base_runs++;
        } while (now_s() - t0 < seconds / 3);
        t_base = (now_s() - t0) / base_runs;
        printf("  baseline (zlib inflate of the same stream alone): %.0f MB/s; decode/inflate "
               "time ratio %.2f\n",
               json_bytes / 1e6 / t_base, t_decode / t_base);
    }
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 3.0;
    struct argus_config cfg;
    int rc;

    if (seconds <= 0 || seconds > 600)
        seconds = 3.0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_connections = 64;
    cfg.max_message_bytes = 8u << 20;
    static const char *const bang[] = {"!"};
    cfg.prefixes = (struct argus_list){bang, 1};
    rc = run_mix(false, seconds, &cfg);
    if (rc == 0)
        rc = run_mix(true, seconds, &cfg);
    free(arena.p);
    free(recs);
    free(zstream_all.p);
    return rc;
}
