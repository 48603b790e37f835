/*
 * test_ws.c - RFC 6455 framing: lengths, masking, fragmentation with
 * control frames in between, and the §5.2 protocol errors; every input fed
 * whole, per byte and split everywhere with one result.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_fixture.h"
#include "ws.h"

/* Logs "start op fin rsv1 len / payload / end" per frame. */
static void run(const uint8_t *in, size_t len, size_t piece, size_t split, bool allow_rsv1,
                struct fx_buf *log)
{
    struct ws_decoder d;
    struct fx_slicer slices = fx_slicer(in, len, piece, split);
    const uint8_t *buf;
    size_t left;
    char line[128];

    memset(&d, 0, sizeof(d));
    d.allow_rsv1 = allow_rsv1;
    memset(log, 0, sizeof(*log));
    while (fx_next_slice(&slices, &buf, &left)) {
        size_t used;
        struct ws_chunk c;
        for (bool more = true; more;) {
            enum ws_status st = ws_decode(&d, buf, left, &used, &c);
            buf += used;
            left -= used;
            switch (st) {
            case WS_NEED_MORE:
                more = false;
                break;
            case WS_FRAME_START:
                snprintf(line, sizeof(line),
                         "[op=%d fin=%d rsv1=%d msg=%d len=%llu:", d.frame.opcode, d.frame.fin,
                         d.frame.rsv1, d.frame.msg_opcode, (unsigned long long)d.frame.length);
                fx_puts(log, line);
                break;
            case WS_PAYLOAD: {
                uint8_t *plain = malloc(c.len);
                ck_assert_ptr_nonnull(plain);
                ws_unmask(&d.frame, &c, plain);
                fx_put(log, plain, c.len);
                free(plain);
                break;
            }
            case WS_FRAME_END:
                fx_puts(log, "]");
                break;
            case WS_ERROR:
                snprintf(line, sizeof(line), "error %s", d.error);
                fx_puts(log, line);
                more = false;
                left = 0;
                break;
            }
        }
    }
    fx_put(log, "", 1);
}

struct ws_input {
    const struct fx_buf *wire;
    bool allow_rsv1;
};

/* An fx_feed_fn over run(). */
static void feed(const void *arg, size_t piece, size_t split, struct fx_buf *log)
{
    const struct ws_input *in = arg;

    run(in->wire->p, in->wire->len, piece, split, in->allow_rsv1, log);
}

static void check_splits(const struct fx_buf *wire, bool allow_rsv1, const char *expected)
{
    struct ws_input in = {wire, allow_rsv1};

    fx_check_feeds(feed, &in, wire->len, expected);
}

START_TEST(masked_and_unmasked_frames_of_every_length_form)
{
    struct fx_buf in = {0}, expected = {0};
    char big[70000];

    memset(big, 'z', sizeof(big));
    fx_ws_frame(&in, 1, 1, 0, 1, "{\"op\":1,\"d\":null}", 17);
    fx_ws_frame(&in, 2, 1, 0, 0, big, 300);
    fx_ws_frame(&in, 2, 1, 0, 1, big, sizeof(big));
    fx_ws_frame(&in, 1, 1, 0, 0, "", 0);
    fx_puts(&expected, "[op=1 fin=1 rsv1=0 msg=1 len=17:{\"op\":1,\"d\":null}]");
    fx_puts(&expected, "[op=2 fin=1 rsv1=0 msg=2 len=300:");
    fx_put(&expected, big, 300);
    fx_puts(&expected, "][op=2 fin=1 rsv1=0 msg=2 len=70000:");
    fx_put(&expected, big, sizeof(big));
    fx_puts(&expected, "][op=1 fin=1 rsv1=0 msg=1 len=0:]");
    fx_put(&expected, "", 1);
    /* Splitting 70 KB everywhere is slow under ASan; the big frame is checked
     * whole and per byte, the splits run on the small frames. */
    struct ws_input whole = {&in, false};
    fx_check_whole_and_bytes(feed, &whole, (char *)expected.p);
    in.len = 2 + 4 + 17 + 4 + 300;
    expected.len = strlen("[op=1 fin=1 rsv1=0 msg=1 len=17:{\"op\":1,\"d\":null}]") +
                   strlen("[op=2 fin=1 rsv1=0 msg=2 len=300:") + 300;
    fx_puts(&expected, "]");
    fx_put(&expected, "", 1);
    check_splits(&in, false, (char *)expected.p);
    fx_free(&in);
    fx_free(&expected);
}
END_TEST

START_TEST(fragments_carry_the_message_opcode_across_control_frames)
{
    struct fx_buf in = {0};

    fx_ws_frame(&in, 1, 0, 1, 0, "ab", 2);
    fx_ws_frame(&in, 9, 1, 0, 0, "p", 1);
    fx_ws_frame(&in, 0, 0, 0, 0, "cd", 2);
    fx_ws_frame(&in, 8, 1, 0, 0, "\x03\xe8", 2);
    fx_ws_frame(&in, 0, 1, 0, 0, "e", 1);
    check_splits(&in, true,
                 "[op=1 fin=0 rsv1=1 msg=1 len=2:ab][op=9 fin=1 rsv1=0 msg=1 len=1:p]"
                 "[op=0 fin=0 rsv1=0 msg=1 len=2:cd][op=8 fin=1 rsv1=0 msg=1 len=2:\x03\xe8]"
                 "[op=0 fin=1 rsv1=0 msg=1 len=1:e]");
    fx_free(&in);
}
END_TEST

START_TEST(protocol_violations_are_errors)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *error;
    } bad[] = {
        {"\x83\x00", 2, "reserved_opcode"},
        {"\xa1\x00", 2, "rsv2_rsv3_set"},
        {"\xc1\x00", 2, "rsv1_without_extension"},
        {"\x80\x00", 2, "continuation_outside_message"},
        {"\x09\x00", 2, "bad_control_frame"},
        {"\x89\x7e\x00\x7e", 4, "bad_control_frame"},
        {"\x01\x00\x01\x00", 4, "data_frame_inside_message"},
        {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, "length_msb_set"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fx_buf log;
        char want[64];
        run((const uint8_t *)bad[i].bytes, bad[i].len, 0, 0, false, &log);
        snprintf(want, sizeof(want), "error %s", bad[i].error);
        ck_assert_msg(strstr((char *)log.p, want) != NULL, "case %zu: %s", i, (char *)log.p);
        fx_free(&log);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ws");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, masked_and_unmasked_frames_of_every_length_form);
    tcase_add_test(tc, fragments_carry_the_message_opcode_across_control_frames);
    tcase_add_test(tc, protocol_violations_are_errors);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
