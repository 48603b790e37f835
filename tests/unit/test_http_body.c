/*
 * test_http_body.c - Content-Encoding decoding into a capped body buffer:
 * each coding, the keep cap, the decoded limit and zstd's window bound.
 */
#include <check.h>
#include <string.h>

#include "decode_fixture.h"
#include "http_body.h"

START_TEST(bodies_decode_gzip_deflate_and_br_within_the_cap)
{
    const char *json = "[{\"id\":1},{\"id\":2},\"],\",{\"x\":[3]}]";
    uint8_t packed[256];

    for (int mode = 0; mode < 3; mode++) {
        int wbits = mode == 0 ? 15 + 16 : mode == 1 ? 15 : -15;
        size_t n = fx_deflate_body(wbits, json, strlen(json), packed, sizeof(packed));
        struct http_body b;
        ck_assert_int_eq(
            http_body_init(&b, mode == 0 ? HTTP_ENC_GZIP : HTTP_ENC_DEFLATE, 10, 1 << 20), 0);
        for (size_t i = 0; i < n; i++)
            http_body_feed(&b, packed + i, 1);
        ck_assert(!b.failed);
        ck_assert(b.truncated);
        ck_assert_uint_eq(b.len, 10);
        ck_assert(memcmp(b.buf, json, 10) == 0);
        ck_assert(b.array.done);
        ck_assert_uint_eq(b.array.count, 4);
        http_body_fini(&b);
    }
    /* Brotli: "{}" as BrotliEncoderCompress(quality 0, lgwin 22) writes it. */
    static const uint8_t br[] = {0x8b, 0x00, 0x80, 0x7b, 0x7d, 0x03};
    struct http_body b;
    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_BR, 64, 1 << 20), 0);
    http_body_feed(&b, br, sizeof(br));
    ck_assert(!b.failed);
    ck_assert_uint_eq(b.len, 2);
    ck_assert(memcmp(b.buf, "{}", 2) == 0);
    http_body_fini(&b);
    /* A bomb stops at the decoded limit. */
    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_IDENTITY, 4, 8), 0);
    http_body_feed(&b, (const uint8_t *)"0123456789", 10);
    ck_assert(b.failed);
    http_body_fini(&b);
}
END_TEST

START_TEST(a_zstd_body_decodes_and_a_wide_window_is_refused)
{
    /* aiohttp >= 3.12 offers zstd when zstandard is importable (the
     * discord.py[speed] extra), so error bodies may come back zstd-encoded. */
    const char *json = "{\"message\":\"Unknown interaction\",\"code\":10062}";
    uint8_t packed[256];
    size_t n = ZSTD_compress(packed, sizeof(packed), json, strlen(json), 3);
    struct http_body b;
    const char *v;
    size_t vlen;
    struct http_parser p;

    ck_assert(!ZSTD_isError(n));
    memset(&p, 0, sizeof(p));
    p.kind = HTTP_RESPONSE;
    const char *head = "HTTP/1.1 404 Not Found\r\nContent-Encoding: zstd\r\n\r\n";
    size_t used;
    struct http_slice body;
    ck_assert_int_eq(http_parse(&p, (const uint8_t *)head, strlen(head), &used, &body),
                     HTTP_HEAD_DONE);
    ck_assert(http_head_get(&p, "content-encoding", &v, &vlen));
    ck_assert_int_eq(http_head_encoding(&p), HTTP_ENC_ZSTD);

    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_ZSTD, 64, 1 << 20), 0);
    for (size_t i = 0; i < n; i++)
        http_body_feed(&b, packed + i, 1);
    ck_assert(!b.failed);
    ck_assert_uint_eq(b.len, strlen(json));
    ck_assert(memcmp(b.buf, json, b.len) == 0);
    http_body_fini(&b);

    /* RFC 9659 §3: a window above 8 MiB may be refused; memory stays bounded. */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ck_assert_ptr_nonnull(cc);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27);
    ZSTD_outBuffer ob = {packed, sizeof(packed), 0};
    ZSTD_inBuffer ib = {json, strlen(json), 0};
    /* Flushing before the end writes a header without a content size, so
     * the frame keeps its 128 MiB window. */
    ck_assert(!ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_flush)));
    ck_assert(!ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end)));
    ZSTD_freeCCtx(cc);
    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_ZSTD, 64, 1 << 20), 0);
    http_body_feed(&b, packed, ob.pos);
    ck_assert(b.failed);
    http_body_fini(&b);
}
END_TEST

/* too_large says the limit stopped decoding, as against corrupt input:
 * at the limit a body is whole; one byte past it, or a gzip bomb, is not. */
START_TEST(a_body_past_its_decoded_limit_is_too_large)
{
    struct http_body b;
    static uint8_t zeros[1 << 20];
    static uint8_t packed[1 << 16];
    size_t n = fx_deflate_body(15 + 16, zeros, sizeof(zeros), packed, sizeof(packed));

    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_IDENTITY, 4, 8), 0);
    http_body_feed(&b, (const uint8_t *)"01234567", 8);
    ck_assert(!b.failed);
    ck_assert(!b.too_large);
    http_body_feed(&b, (const uint8_t *)"8", 1);
    ck_assert(b.failed);
    ck_assert(b.too_large);
    http_body_fini(&b);

    ck_assert_uint_lt(n, 4096);
    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_GZIP, 64, 65536), 0);
    http_body_feed(&b, packed, n);
    ck_assert(b.too_large);
    ck_assert_uint_le(b.decoded_bytes, 65536 + 16384);
    http_body_fini(&b);

    ck_assert_int_eq(http_body_init(&b, HTTP_ENC_GZIP, 64, 65536), 0);
    http_body_feed(&b, (const uint8_t *)"not gzip", 8);
    ck_assert(b.failed);
    ck_assert(!b.too_large);
    http_body_fini(&b);
}
END_TEST

static Suite *http_body_suite(void)
{
    Suite *s = suite_create("http_body");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, bodies_decode_gzip_deflate_and_br_within_the_cap);
    tcase_add_test(tc, a_zstd_body_decodes_and_a_wide_window_is_refused);
    tcase_add_test(tc, a_body_past_its_decoded_limit_is_too_large);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(http_body_suite());
}
