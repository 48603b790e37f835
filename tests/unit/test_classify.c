/* Unit tests for hooks/classify.c: the built-in Discord names, configured
 * hosts with and without ports, SNI vs Host header, and request heads that
 * are malformed, cut short or not HTTP/1.x at all. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "classify.h"
#include "config.h"
#include "check_run.h"

static struct argus_config cfg;
static char host[CLASSIFY_HOST_MAX];

static void with_hosts(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.discord_hosts[0] = (struct argus_discord_host){"127.0.0.1", 8443};
    cfg.discord_hosts[1] = (struct argus_discord_host){"proxy.internal", 0};
    cfg.discord_hosts[2] = (struct argus_discord_host){"tls-proxy", 443};
    cfg.n_discord_hosts = 3;
}

static size_t req(const char *head)
{
    return classify_request(&cfg, (const uint8_t *)head, strlen(head), host);
}

START_TEST(builtin_names_match_by_sni)
{
    with_hosts();
    ck_assert_uint_eq(classify_sni(&cfg, "discord.com", host), 11);
    ck_assert_str_eq(host, "discord.com");
    ck_assert_uint_ne(classify_sni(&cfg, "DiscordApp.com", host), 0);
    ck_assert_str_eq(host, "discordapp.com");
    ck_assert_uint_ne(classify_sni(&cfg, "gateway.discord.gg", host), 0);
    ck_assert_uint_ne(classify_sni(&cfg, "gateway-us-east1-b.discord.gg", host), 0);
    ck_assert_uint_ne(classify_sni(&cfg, "canary.discord.com", host), 0);
    /* Voice gateways: counted as voice clients, never decoded. */
    ck_assert_uint_ne(classify_sni(&cfg, "c-iad05-abcd.discord.media", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "discord.media.example.com", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "notdiscord.media", host), 0);
}
END_TEST

START_TEST(lookalike_names_do_not_match)
{
    with_hosts();
    ck_assert_uint_eq(classify_sni(&cfg, NULL, host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "notdiscord.com", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "discord.com.evil.org", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "discord.gg", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "cdn.discordapp.com", host), 0);
    ck_assert_uint_eq(classify_sni(&cfg, "example.org", host), 0);
}
END_TEST

START_TEST(configured_hosts_match_sni_only_without_a_foreign_port)
{
    with_hosts();
    ck_assert_uint_ne(classify_sni(&cfg, "proxy.internal", host), 0); /* any port */
    ck_assert_uint_ne(classify_sni(&cfg, "tls-proxy", host), 0);      /* port 443 */
    /* SNI carries no port: 127.0.0.1:8443 is left to the Host header. */
    ck_assert_uint_eq(classify_sni(&cfg, "127.0.0.1", host), 0);
}
END_TEST

START_TEST(the_host_header_decides_without_sni)
{
    with_hosts();
    ck_assert_uint_eq(req("GET /api/v10/users/@me HTTP/1.1\r\nHost: discord.com\r\n\r\n"), 11);
    ck_assert_str_eq(host, "discord.com");
    ck_assert_uint_ne(req("GET /?v=10 HTTP/1.1\r\nUser-Agent: x\r\nhOsT:  Gateway.Discord.gg \r\n"
                          "\r\n"),
                      0);
    ck_assert_str_eq(host, "gateway.discord.gg");
    ck_assert_uint_ne(req("POST / HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n"), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(req("POST / HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n"), 0);
    ck_assert_uint_eq(req("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0); /* means 443 */
    ck_assert_uint_ne(req("GET / HTTP/1.1\r\nHost: proxy.internal:1234\r\n\r\n"), 0);
    ck_assert_uint_ne(req("GET / HTTP/1.0\nHost: discord.com:443\n\n"), 0);
}
END_TEST

START_TEST(non_http_and_malformed_heads_are_not_discord)
{
    with_hosts();
    ck_assert_uint_eq(req("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0);
    ck_assert_uint_eq(req("get / HTTP/1.1\r\nHost: discord.com\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / SPDY/3\r\nHost: discord.com\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nX-Host: discord.com\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\n\r\nHost: discord.com\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nHost: discord.com"), 0); /* cut short */
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nHost: disc ord.com\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nHost: discord.com:99999\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nHost: discord.com:\r\n\r\n"), 0);
    ck_assert_uint_eq(req(""), 0);
    const uint8_t binary[] = {0x16, 0x03, 0x01, 0x00, '\n', 0xff};
    ck_assert_uint_eq(classify_request(&cfg, binary, sizeof(binary), host), 0);
}
END_TEST

START_TEST(only_a_bounded_head_is_looked_at)
{
    with_hosts();
    size_t pad = CLASSIFY_HEAD_MAX;
    char *head = malloc(pad + 200);
    int n = snprintf(head, 64, "GET / HTTP/1.1\r\nX-Pad: ");
    memset(head + n, 'a', pad);
    strcpy(head + n + pad, "\r\nHost: discord.com\r\n\r\n");
    ck_assert_uint_eq(req(head), 0);
    free(head);
}
END_TEST

START_TEST(an_ipv6_host_header_is_split_correctly)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.discord_hosts[0] = (struct argus_discord_host){"::1", 8443};
    cfg.n_discord_hosts = 1;
    ck_assert_uint_ne(req("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nHost: [::1]:8444\r\n\r\n"), 0);
    ck_assert_uint_eq(req("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 0);
}
END_TEST

/* Every prefix of a valid head, placed so that its last byte is the last
 * readable one before a PROT_NONE page: a read past len would crash. */
START_TEST(no_byte_past_the_input_is_read)
{
    with_hosts();
    const char *head = "GET /api/v10/users/@me HTTP/1.1\r\nHost: discord.com:443\r\n\r\n";
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    ck_assert_int_eq(mprotect(map + page, page, PROT_NONE), 0);
    size_t full = strlen(head);
    for (size_t len = 0; len <= full; len++) {
        uint8_t *at = map + page - len;
        memcpy(at, head, len);
        size_t got = classify_request(&cfg, at, len, host);
        /* Only a head that reached the end of the Host line is Discord. */
        bool complete = len >= (size_t)(strstr(head, "443\r\n") - head) + 5;
        ck_assert_uint_eq(got != 0, complete);
    }
    munmap(map, 2 * page);
}
END_TEST

START_TEST(a_request_start_is_told_from_mid_stream_bytes)
{
    const char *req = "GET /api/v10/gateway/bot HTTP/1.1\r\nHost: discord.com\r\n\r\n";
    ck_assert(classify_starts_request((const uint8_t *)req, strlen(req)));
    const char *body = "{\"op\":1,\"d\":42}";
    ck_assert(!classify_starts_request((const uint8_t *)body, strlen(body)));
    const uint8_t ws_frame[] = {0x81, 0x85, 1, 2, 3, 4, 'a', 'b', 'c', 'd', '\n'};
    ck_assert(!classify_starts_request(ws_frame, sizeof(ws_frame)));
    ck_assert(!classify_starts_request((const uint8_t *)"GET / HTTP/1.1", 14)); /* no end */
}
END_TEST

static Suite *classify_suite(void)
{
    Suite *s = suite_create("classify");
    TCase *tc = tcase_create("classify");
    tcase_add_test(tc, builtin_names_match_by_sni);
    tcase_add_test(tc, lookalike_names_do_not_match);
    tcase_add_test(tc, configured_hosts_match_sni_only_without_a_foreign_port);
    tcase_add_test(tc, the_host_header_decides_without_sni);
    tcase_add_test(tc, non_http_and_malformed_heads_are_not_discord);
    tcase_add_test(tc, only_a_bounded_head_is_looked_at);
    tcase_add_test(tc, an_ipv6_host_header_is_split_correctly);
    tcase_add_test(tc, no_byte_past_the_input_is_read);
    tcase_add_test(tc, a_request_start_is_told_from_mid_stream_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(classify_suite());
}
