/*
 * test_prom_negotiate.c - the format from Accept and gzip from
 * Accept-Encoding, as scrapers send them.
 */
#include "prom_negotiate.h"

#include <check.h>
#include <stddef.h>
#include "check_run.h"

/* ---- negotiation ------------------------------------------------------------ */

START_TEST(negotiation_prefers_what_the_scraper_prefers)
{
    /* What Prometheus 2.42 sends. */
    ck_assert_int_eq(
        prom_negotiate_format("application/openmetrics-text;version=1.0.0,application/"
                              "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0."
                              "4;q=0.5,*/*;q=0.1"),
        PROM_TEXT_OPENMETRICS_1_0);
    ck_assert_int_eq(prom_negotiate_format(NULL), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate_format(""), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate_format("*/*"), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate_format("text/plain;version=0.0.4"), PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate_format("application/openmetrics-text"),
                     PROM_TEXT_OPENMETRICS_1_0);
    ck_assert_int_eq(prom_negotiate_format("application/openmetrics-text; version=1.0.0; q=0.4, "
                                           "text/plain; q=0.5"),
                     PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate_format("application/openmetrics-text;version=2.0.0"),
                     PROM_TEXT_0_0_4);
    ck_assert_int_eq(prom_negotiate_format("application/openmetrics-text;q=0"), PROM_TEXT_0_0_4);
    ck_assert_str_eq(prom_negotiate_content_type(PROM_TEXT_0_0_4),
                     "text/plain; version=0.0.4; charset=utf-8");
}
END_TEST

START_TEST(gzip_only_when_accepted)
{
    ck_assert(prom_negotiate_gzip("gzip"));
    ck_assert(prom_negotiate_gzip("deflate, GZIP;q=0.1"));
    ck_assert(prom_negotiate_gzip("*"));
    ck_assert(!prom_negotiate_gzip(NULL));
    ck_assert(!prom_negotiate_gzip("identity"));
    ck_assert(!prom_negotiate_gzip("deflate, gzip;q=0"));
    ck_assert(!prom_negotiate_gzip("gzipx"));
}
END_TEST

static Suite *prom_negotiate_suite(void)
{
    Suite *s = suite_create("prom_negotiate");
    TCase *tc = tcase_create("negotiation");

    tcase_add_test(tc, negotiation_prefers_what_the_scraper_prefers);
    tcase_add_test(tc, gzip_only_when_accepted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(prom_negotiate_suite());
}
