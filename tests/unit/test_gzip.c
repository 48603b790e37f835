/*
 * test_gzip.c - one-shot gzip: what it writes inflates back to the input.
 */
#include "gzip.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "check_run.h"

/* Repetitive enough that gzip must shrink it. */
static const char input[] = "# HELP discord_commands_total Commands\n"
                            "discord_commands_total{command=\"ping\"} 1\n"
                            "discord_commands_total{command=\"pong\"} 2\n"
                            "discord_commands_total{command=\"help\"} 3\n";

START_TEST(gzip_round_trips)
{
    uint8_t *gz = NULL;
    size_t gz_len = 0;
    char back[sizeof(input)];
    z_stream z = {0};

    ck_assert_int_eq(gzip_compress(input, sizeof(input) - 1, &gz, &gz_len), 0);
    ck_assert_uint_lt(gz_len, sizeof(input));
    ck_assert_int_eq((unsigned char)gz[0], 0x1f); /* gzip magic (RFC 1952 §2.3.1) */
    ck_assert_int_eq((unsigned char)gz[1], 0x8b);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = (Bytef *)back;
    z.avail_out = sizeof(back);
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, sizeof(input) - 1);
    ck_assert_int_eq(memcmp(back, input, z.total_out), 0);
    inflateEnd(&z);
    free(gz);
}
END_TEST

START_TEST(empty_input_gives_a_valid_stream)
{
    uint8_t *gz = NULL;
    size_t gz_len = 0;
    char back[8];
    z_stream z = {0};

    ck_assert_int_eq(gzip_compress("", 0, &gz, &gz_len), 0);
    ck_assert_uint_gt(gz_len, 0);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = (Bytef *)back;
    z.avail_out = sizeof(back);
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, 0);
    inflateEnd(&z);
    free(gz);
}
END_TEST

static Suite *gzip_suite(void)
{
    Suite *s = suite_create("gzip");
    TCase *tc = tcase_create("gzip");

    tcase_add_test(tc, gzip_round_trips);
    tcase_add_test(tc, empty_input_gives_a_valid_stream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(gzip_suite());
}
