/*
 * test_stream_oom.c - the decode pipeline with the Nth allocation failing.
 *
 * Every allocation the decoder makes (not those inside zlib, zstd or brotli,
 * which are shared libraries) goes through tests/support/alloc_fail.h, which
 * fails the Nth one. For
 * N = 1, 2, ... a whole REST + zlib-stream gateway session is decoded until
 * a run needs no failure; every run must finish without a crash, and (under
 * ASan, as CI runs it) without a leak or an invalid access. Each failing run
 * must still end every connection it opened.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/decode_fixture.h"
#include "alloc_fail.h"
#include "config.h"
#include "stream.h"

struct counts {
    int opens, closes, events;
};

static void on_event(const struct argus_event *ev, void *arg)
{
    struct counts *c = arg;

    c->events++;
    c->opens += ev->kind == EV_CONN_OPEN;
    c->closes += ev->kind == EV_CONN_CLOSE;
}

struct rec {
    uint64_t conn;
    uint8_t type, dir;
    struct fx_buf bytes;
};

static struct rec recs[64];
static int n_recs;

static struct fx_buf *add(uint64_t conn, uint8_t type, uint8_t dir)
{
    recs[n_recs] = (struct rec){.conn = conn, .type = type, .dir = dir};
    return &recs[n_recs++].bytes;
}

static void build_session(void)
{
    static const char *const msgs[] = {
        "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250}}",
        "{\"t\":\"READY\",\"s\":1,\"op\":0,\"d\":{\"user\":{\"id\":\"1\"},\"guilds\":[]}}",
        "{\"t\":\"MESSAGE_CREATE\",\"s\":2,\"op\":0,\"d\":{\"content\":\"!ping\"}}",
    };
    struct fx_deflater z;

    fx_puts(add(1, RING_OPEN, 0), "discord.com");
    fx_puts(add(1, RING_DATA, RING_DIR_WRITE),
            "POST /api/v10/interactions/1/aW50ZXJhY3Rpb246eA/callback HTTP/1.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"type\":5}");
    fx_puts(add(1, RING_DATA, RING_DIR_READ),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
            "\r\n{\"code\":10062}\n");
    fx_puts(add(2, RING_OPEN, 0), "gateway.discord.gg");
    fx_puts(add(2, RING_DATA, RING_DIR_WRITE),
            "GET /?v=10&encoding=json&compress=zlib-stream HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    struct fx_buf *in = add(2, RING_DATA, RING_DIR_READ);
    fx_puts(in, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    fx_deflater_init(&z, 15);
    for (size_t i = 0; i < 3; i++) {
        struct fx_buf c = {0};
        fx_deflate_msg(&z, &c, msgs[i], strlen(msgs[i]));
        fx_ws_frame(in, 2, 1, 0, 0, c.p, c.len);
        fx_free(&c);
    }
    fx_deflater_fini(&z);
    fx_ws_frame(add(2, RING_DATA, RING_DIR_WRITE), 1, 1, 0, 1, "{\"op\":1,\"d\":1}", 14);
    add(1, RING_CLOSE, 0);
    add(2, RING_CLOSE, 0);
}

/* One decode of the session with allocation `n` failing (-1: none).
 * Returns the number of injected failures. */
static int decode_with_failure(long n, struct counts *c)
{
    struct argus_config cfg;
    struct stream_table *t;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_connections = 8;
    cfg.max_message_bytes = 1 << 20;
    memset(c, 0, sizeof(*c));
    alloc_fail_nth(n);
    t = stream_table_create(&cfg, on_event, c);
    for (int i = 0; t != NULL && i < n_recs; i++) {
        struct ring_record r = {.conn_id = recs[i].conn,
                                .t_ns = (uint64_t)i,
                                .type = recs[i].type,
                                .dir = recs[i].dir,
                                .len = (uint32_t)recs[i].bytes.len,
                                .data = recs[i].bytes.p};
        stream_table_feed(t, &r);
    }
    stream_table_destroy(t);
    long failures = alloc_failures();
    alloc_fail_nth(0);
    return (int)failures;
}

START_TEST(every_allocation_failure_is_survived)
{
    struct counts c, clean;
    long n;

    build_session();
    ck_assert_int_eq(decode_with_failure(-1, &clean), 0);
    ck_assert_int_eq(clean.opens, 2);
    ck_assert_int_eq(clean.closes, 2);
    for (n = 1; n < 10000; n++) {
        if (decode_with_failure(n, &c) == 0)
            break; /* the session needs fewer than n allocations */
        ck_assert_int_eq(c.opens, c.closes);
        ck_assert_int_le(c.events, clean.events + 2);
    }
    ck_assert_int_gt(n, 10); /* the session does allocate: the wrap is in effect */
    ck_assert_int_lt(n, 10000);
    for (int i = 0; i < n_recs; i++)
        fx_free(&recs[i].bytes);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stream_oom");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, every_allocation_failure_is_survived);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
