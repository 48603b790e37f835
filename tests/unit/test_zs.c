/*
 * test_zs.c - transport and per-message decompression: message boundaries
 * for zlib-stream and zstd-stream, permessage-deflate with and without
 * context takeover, corrupt input, and the sink's cap.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_fixture.h"
#include "zs.h"

struct out {
    struct fx_buf text;
    size_t stop_after; /* 0 = never */
};

static int sink(void *arg, const uint8_t *data, size_t len)
{
    struct out *o = arg;

    fx_put(&o->text, data, len);
    return o->stop_after > 0 && o->text.len >= o->stop_after;
}

static const char *const msgs[] = {
    "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250}}",
    "{\"op\":11}",
    "{\"t\":\"MESSAGE_CREATE\",\"s\":2,\"op\":0,\"d\":{\"content\":\"hello hello hello\"}}",
};

/* Compressed messages, each fed in `piece`-byte slices; logs every
 * completed message as "<text>|". */
static void run(enum zs_mode mode, bool nct, const struct fx_buf *wire, const size_t *msg_len,
                size_t n_msgs, size_t piece, struct fx_buf *log)
{
    struct zs z;
    struct out o = {0};
    size_t at = 0;

    ck_assert_int_eq(zs_init(&z, mode, nct), 0);
    memset(log, 0, sizeof(*log));
    for (size_t m = 0; m < n_msgs; m++) {
        struct fx_slicer slices = fx_slicer(wire->p + at, msg_len[m], piece, 0);
        const uint8_t *buf;
        size_t n;
        while (fx_next_slice(&slices, &buf, &n))
            ck_assert_int_eq(zs_feed(&z, buf, n, sink, &o), ZS_OK);
        at += msg_len[m];
        enum zs_status st = zs_end_message(&z, sink, &o);
        if (st == ZS_COMPLETE) {
            fx_put(log, o.text.p, o.text.len);
            fx_puts(log, "|");
            o.text.len = 0;
        } else {
            ck_assert_int_eq(st, ZS_OK);
        }
    }
    fx_put(log, "", 1);
    fx_free(&o.text);
    zs_fini(&z);
}

static const char expected[] =
    "{\"t\":null,\"s\":null,\"op\":10,\"d\":{\"heartbeat_interval\":41250}}|{\"op\":11}|"
    "{\"t\":\"MESSAGE_CREATE\",\"s\":2,\"op\":0,\"d\":{\"content\":\"hello hello hello\"}}|";

static void check_pieces(enum zs_mode mode, bool nct, const struct fx_buf *wire, const size_t *lens,
                         size_t n)
{
    for (size_t piece = 0; piece <= 9; piece++) {
        struct fx_buf log;
        run(mode, nct, wire, lens, n, piece, &log);
        ck_assert_str_eq((char *)log.p, expected);
        fx_free(&log);
    }
}

START_TEST(zlib_stream_messages_end_on_the_sync_flush)
{
    struct fx_deflater d;
    struct fx_buf wire = {0};
    size_t lens[4], n = 0;

    fx_deflater_init(&d, 15);
    for (size_t i = 0; i < 3; i++) {
        size_t before = wire.len;
        fx_deflate_msg(&d, &wire, msgs[i], strlen(msgs[i]));
        if (i == 2) {
            /* One gateway message spread over two WS messages, the cut
             * inside the 00 00 ff ff marker. */
            size_t total = wire.len - before;
            lens[n++] = total - 2;
            lens[n++] = 2;
        } else {
            lens[n++] = wire.len - before;
        }
    }
    check_pieces(ZS_ZLIB_STREAM, false, &wire, lens, n);
    fx_deflater_fini(&d);
    fx_free(&wire);
}
END_TEST

START_TEST(zstd_stream_gives_one_message_per_ws_message)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    struct fx_buf wire = {0};
    size_t lens[3];

    for (size_t i = 0; i < 3; i++) {
        size_t before = wire.len;
        fx_zstd_msg(c, &wire, msgs[i], strlen(msgs[i]));
        lens[i] = wire.len - before;
    }
    check_pieces(ZS_ZSTD_STREAM, false, &wire, lens, 3);
    ZSTD_freeCCtx(c);
    fx_free(&wire);
}
END_TEST

START_TEST(permessage_deflate_with_and_without_context_takeover)
{
    for (int nct = 0; nct < 2; nct++) {
        struct fx_deflater d;
        struct fx_buf wire = {0};
        size_t lens[3];
        fx_deflater_init(&d, -15);
        for (size_t i = 0; i < 3; i++) {
            size_t before = wire.len;
            if (nct)
                deflateReset(&d.z);
            fx_deflate_msg(&d, &wire, msgs[i], strlen(msgs[i]));
            wire.len -= 4; /* RFC 7692 §7.2.1: strip 00 00 ff ff */
            lens[i] = wire.len - before;
        }
        check_pieces(ZS_PMD, nct != 0, &wire, lens, 3);
        fx_deflater_fini(&d);
        fx_free(&wire);
    }
}
END_TEST

START_TEST(corrupt_input_and_a_full_sink_stop_decoding)
{
    struct zs z;
    struct out o = {0};
    static const uint8_t junk[] = {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0x00};
    struct fx_deflater d;
    struct fx_buf wire = {0};

    ck_assert_int_eq(zs_init(&z, ZS_ZLIB_STREAM, false), 0);
    ck_assert_int_eq(zs_feed(&z, junk, sizeof(junk), sink, &o), ZS_ERROR);
    zs_fini(&z);
    ck_assert_int_eq(zs_init(&z, ZS_ZSTD_STREAM, false), 0);
    ck_assert_int_eq(zs_feed(&z, junk, sizeof(junk), sink, &o), ZS_ERROR);
    zs_fini(&z);

    fx_deflater_init(&d, 15);
    fx_deflate_msg(&d, &wire, msgs[2], strlen(msgs[2]));
    ck_assert_int_eq(zs_init(&z, ZS_ZLIB_STREAM, false), 0);
    o.stop_after = 5;
    ck_assert_int_eq(zs_feed(&z, wire.p, wire.len, sink, &o), ZS_STOPPED);
    zs_fini(&z);
    zs_fini(&z); /* fini twice is harmless */
    fx_deflater_fini(&d);
    fx_free(&wire);
    fx_free(&o.text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("zs");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, zlib_stream_messages_end_on_the_sync_flush);
    tcase_add_test(tc, zstd_stream_gives_one_message_per_ws_message);
    tcase_add_test(tc, permessage_deflate_with_and_without_context_takeover);
    tcase_add_test(tc, corrupt_input_and_a_full_sink_stop_decoding);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
