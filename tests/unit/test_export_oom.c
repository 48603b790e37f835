/*
 * test_export_oom.c - every allocation of the export path, failed in turn.
 *
 * Runs one scenario (registry, instruments, recording, a delta and a
 * cumulative reader, collection, OTLP encoding of metrics and spans, the span
 * queue) again and again, with allocation number N failing, for N = 1, 2, ...
 * until a run sees no failure. Each failing run must end cleanly: no crash,
 * and (under AddressSanitizer, as CI runs the unit tests) no leak and no use
 * of freed memory.
 *
 * The failure is injected by tests/support/alloc_fail.h, which wraps the
 * executable's allocations at link time, so it runs under ASan and TSan too.
 * It is armed only around the scenario.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "otlp.h"
#include "reg.h"
#include "resource.h"
#include "spans.h"
#include "alloc_fail.h"
#include "check_run.h"

/* ---- the scenario ----------------------------------------------------------- */

static void observe(struct reg_observer *obs, void *arg)
{
    (void)arg;
    reg_observe_u64(obs, REG_ATTRS({"dir", "read"}), 5);
    reg_observe_u64(obs, REG_ATTRS({"dir", "write"}), 7);
}

static int collect_and_encode(struct reg_reader *rd, const struct resource *res)
{
    struct reg_snapshot *snap = NULL;
    uint8_t *buf = NULL;
    size_t len;
    int rc = reg_collect(rd, &snap);
    if (rc == 0)
        rc = otlp_encode_metrics(snap, res, &buf, &len);
    free(buf);
    reg_snapshot_destroy(snap);
    return rc == -ENODATA ? 0 : rc;
}

/* Returns 0 when everything succeeded, else a negative errno; frees all. */
static int scenario(const struct resource *res)
{
    static const double bounds[] = {0.1, 1};
    int rc = -ENOMEM;
    struct reg_reader *cum = NULL, *del = NULL;
    struct spanq *q = NULL;
    uint8_t *buf = NULL;
    size_t len;
    struct reg *r = reg_create(0, "c");
    if (r == NULL)
        goto out;
    struct reg_metric *c = reg_counter(r, "x_total", "d", "1", REG_NUMBER_U64);
    struct reg_metric *h = reg_histogram(r, "h_seconds", "d", "s", bounds, 2);
    struct reg_metric *o = reg_observable_counter(r, "o_total", "", "By", REG_NUMBER_U64,
                                                  REG_F_CLUSTER, observe, NULL);
    struct reg_metric *info = reg_info(r, "bot_info", "");
    if (c == NULL || h == NULL || o == NULL || info == NULL)
        goto out;
    /* Recording under allocation failure may lose a measurement, never more. */
    reg_counter_add(c, REG_ATTRS({"k", "a"}), 1);
    reg_counter_add(c, REG_ATTRS({"k", "b"}), 2);
    reg_histogram_record(h, REG_ATTRS({"k", "a"}), 0.5);
    reg_info_set(info, REG_ATTRS({"name", "n"}));
    cum = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    del = reg_reader_create(r, ARGUS_TEMPORALITY_DELTA);
    if (cum == NULL || del == NULL)
        goto out;
    if ((rc = collect_and_encode(del, res)) != 0 || (rc = collect_and_encode(cum, res)) != 0)
        goto out;
    reg_counter_add(c, REG_ATTRS({"k", "c"}), 3);
    if ((rc = collect_and_encode(del, res)) != 0)
        goto out;

    rc = -ENOMEM;
    q = spanq_create(4, 2);
    if (q == NULL)
        goto out;
    struct span s;
    span_init(&s, "discord.command", SPAN_KIND_SERVER, 1);
    span_set_str(&s, "discord.command", "ping");
    span_add_event(&s, 2, "e");
    if (spanq_push(q, &s) != 0)
        goto out;
    struct span out_span;
    if (spanq_pop(q, &out_span, 1) != 1)
        goto out;
    rc = otlp_encode_spans(&out_span, 1, res, &buf, &len);
out:
    free(buf);
    spanq_destroy(q);
    reg_reader_destroy(cum);
    reg_reader_destroy(del);
    reg_destroy(r);
    return rc;
}

START_TEST(every_allocation_failure_is_clean)
{
    struct argus_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.service_name = "oom";
    struct resource res;
    resource_build(&res, &cfg);
    ck_assert_int_eq(scenario(&res), 0); /* the scenario works when nothing fails */

    long n;
    for (n = 1; n < 100000; n++) {
        alloc_fail_nth(n);
        int rc = scenario(&res);
        long failures = alloc_failures();
        alloc_fail_nth(0);
        if (failures == 0) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        /* A failure may be absorbed (a lost measurement) or reported. */
        ck_assert(rc == 0 || rc == -ENOMEM);
    }
    ck_assert_int_gt(n, 20); /* the scenario really allocates: the injection worked */
}
END_TEST

static Suite *oom_suite(void)
{
    Suite *s = suite_create("export_oom");
    TCase *tc = tcase_create("export_oom");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_allocation_failure_is_clean);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(oom_suite());
}
