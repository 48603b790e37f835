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
 * The failure is injected by defining malloc/calloc/realloc in this
 * executable, which interposes on every caller in the process, and forwarding
 * to the next definition (libc's, or the sanitizer's) found with
 * dlsym(RTLD_NEXT). It is armed only around the scenario.
 */
#include <check.h>
#include <dlfcn.h>
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
#include "check_run.h"

/* ---- allocation failure injection --------------------------------------- */

static atomic_long countdown = -1; /* < 0: disarmed; reaching 0 fails that call */
static atomic_long failures;

/* clang links the sanitizer runtime into the executable, where a malloc of
 * our own cannot reach it (dlsym(RTLD_NEXT) skips it, and it refuses memory
 * it did not hand out), so under clang's ASan the injection is off and only
 * the no-failure run happens. gcc's libasan is a shared object that
 * RTLD_NEXT finds: there the failure paths run under ASan too. */
#if defined(__clang__) && defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OOM_NO_INJECTION 1
#endif
#endif

#ifndef OOM_NO_INJECTION
static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);

/* dlsym may itself call calloc before next_calloc is known. */
static _Alignas(max_align_t) char bootstrap[4096];
static size_t bootstrap_used;
static atomic_bool resolving;

static void resolve(void)
{
    if (next_malloc != NULL || atomic_exchange(&resolving, true))
        return;
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
}

static bool inject(void)
{
    if (atomic_load(&countdown) < 0)
        return false;
    if (atomic_fetch_sub(&countdown, 1) == 1) {
        atomic_fetch_add(&failures, 1);
        return true;
    }
    return false;
}

void *malloc(size_t n)
{
    resolve();
    if (inject())
        return NULL;
    return next_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (next_calloc == NULL) {
        resolve();
        if (next_calloc == NULL) {
            /* Called from inside dlsym: a bump allocation that is never freed. */
            size_t need = (n * size + 15) & ~(size_t)15;
            if (bootstrap_used + need > sizeof(bootstrap))
                return NULL;
            void *p = bootstrap + bootstrap_used;
            bootstrap_used += need;
            return memset(p, 0, n * size);
        }
    }
    if (inject())
        return NULL;
    return next_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (inject())
        return NULL;
    return next_realloc(p, n);
}
#endif

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

#ifdef OOM_NO_INJECTION
    return;
#endif
    long n;
    for (n = 1; n < 100000; n++) {
        atomic_store(&failures, 0);
        atomic_store(&countdown, n);
        int rc = scenario(&res);
        atomic_store(&countdown, -1);
        if (atomic_load(&failures) == 0) {
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
