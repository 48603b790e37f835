/*
 * test_spans.c - span building limits, ids, the sampler, and the bounded
 * queue (drops and counts when full; a full batch wakes the exporter).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spans.h"
#include "check_run.h"

START_TEST(attributes_beyond_the_limit_are_counted_not_kept)
{
    static const char *keys[SPAN_MAX_ATTRS + 2];
    static char names[SPAN_MAX_ATTRS + 2][16];
    struct span s;
    span_init(&s, "n", SPAN_KIND_SERVER, 1);
    for (int i = 0; i < SPAN_MAX_ATTRS + 2; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        keys[i] = names[i];
        int rc = span_set_int(&s, keys[i], i);
        ck_assert_int_eq(rc, i < SPAN_MAX_ATTRS ? 0 : -ENOSPC);
    }
    ck_assert_uint_eq(s.n_attrs, SPAN_MAX_ATTRS);
    ck_assert_uint_eq(s.dropped_attributes_count, 2);
    /* Overwriting an existing key needs no new slot. */
    ck_assert_int_eq(span_set_str(&s, keys[0], "v"), 0);
    ck_assert_int_eq(s.attrs[0].type, SPAN_ATTR_STRING);
    ck_assert_int_eq(memcmp(span_attr_str(&s, &s.attrs[0]), "v", 1), 0);
    for (int i = 0; i < SPAN_MAX_EVENTS; i++)
        ck_assert_int_eq(span_add_event(&s, 2, "e"), i);
    ck_assert_int_eq(span_add_event(&s, 2, "e"), -ENOSPC);
    ck_assert_uint_eq(s.dropped_events_count, 1);
    ck_assert_int_eq(span_event_set_int(&s, 99, "k", 1), -EINVAL);
}
END_TEST

START_TEST(long_strings_are_truncated)
{
    char big[SPAN_STR_MAX * 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct span s;
    span_init(&s, big, SPAN_KIND_CLIENT, 1);
    ck_assert_uint_eq(strlen(s.name), SPAN_NAME_MAX - 1);
    ck_assert_int_eq(span_set_str(&s, "k", big), 0);
    ck_assert_uint_eq(s.attrs[0].v.str.len, SPAN_STR_MAX - 1);
}
END_TEST

START_TEST(ids_are_random_and_never_zero)
{
    uint8_t a[16], b[16], zero[16] = {0};
    span_new_trace_id(a);
    span_new_trace_id(b);
    ck_assert(memcmp(a, b, 16) != 0);
    ck_assert(memcmp(a, zero, 16) != 0);
    struct span s1, s2;
    span_init(&s1, "a", SPAN_KIND_SERVER, 1);
    span_init(&s2, "a", SPAN_KIND_SERVER, 1);
    ck_assert(memcmp(s1.span_id, s2.span_id, 8) != 0);
}
END_TEST

START_TEST(traceidratio_uses_the_low_56_bits)
{
    uint8_t id[16] = {0};
    ck_assert(span_sampled(ARGUS_SAMPLER_ALWAYS_ON, 0, id));
    ck_assert(!span_sampled(ARGUS_SAMPLER_ALWAYS_OFF, 1, id));
    /* Randomness 0: below every threshold but ratio 1. */
    ck_assert(!span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 0.5, id));
    ck_assert(span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 1.0, id));
    /* Bytes 9..15 = 0x80 00.. : R = 2^55 = exactly the threshold for 0.5. */
    id[9] = 0x80;
    ck_assert(span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 0.5, id));
    ck_assert(!span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 0.25, id));
    /* The high bytes are not part of the randomness. */
    memset(id, 0xff, 9);
    id[9] = 0;
    ck_assert(!span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 0.5, id));
    ck_assert(!span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 0.0, id));
    /* Over many random ids the sampled fraction is near the ratio. */
    int hits = 0;
    for (int i = 0; i < 4000; i++) {
        span_new_trace_id(id);
        hits += span_sampled(ARGUS_SAMPLER_TRACEIDRATIO, 0.25, id);
    }
    ck_assert_int_gt(hits, 800);
    ck_assert_int_lt(hits, 1200);
}
END_TEST

START_TEST(full_queue_drops_and_counts)
{
    struct spanq *q = spanq_create(3, 2);
    struct span s, out[4];
    span_init(&s, "a", SPAN_KIND_SERVER, 1);
    span_set_str(&s, "k", "v");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(spanq_push(q, &s), i < 3 ? 0 : -ENOSPC);
    ck_assert_uint_eq(spanq_len(q), 3);
    ck_assert_uint_eq(spanq_dropped(q), 2);
    ck_assert_uint_eq(spanq_pop(q, out, 2), 2);
    ck_assert_str_eq(out[0].name, "a");
    ck_assert_int_eq(memcmp(span_attr_str(&out[0], &out[0].attrs[0]), "v", 1), 0);
    ck_assert_uint_eq(spanq_pop(q, out, 4), 1);
    ck_assert_uint_eq(spanq_pop(q, out, 4), 0);
    ck_assert_int_eq(spanq_push(q, &s), 0); /* room again after the pops */
    spanq_destroy(q);
}
END_TEST

static void *push_two(void *arg)
{
    struct span s;
    span_init(&s, "b", SPAN_KIND_SERVER, 1);
    spanq_push(arg, &s);
    spanq_push(arg, &s);
    return NULL;
}

START_TEST(a_full_batch_wakes_the_waiter)
{
    struct spanq *q = spanq_create(8, 2);
    pthread_t t;
    pthread_create(&t, NULL, push_two, q);
    /* Without the batch wake-up this would sleep the full minute (and the
     * test time out); with it, it returns once two spans are queued. */
    size_t n = 0;
    while (n < 2)
        n = spanq_wait(q, 60000);
    pthread_join(t, NULL);
    ck_assert_uint_eq(n, 2);
    spanq_destroy(q);
}
END_TEST

static Suite *spans_suite(void)
{
    Suite *s = suite_create("spans");
    TCase *tc = tcase_create("spans");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, attributes_beyond_the_limit_are_counted_not_kept);
    tcase_add_test(tc, long_strings_are_truncated);
    tcase_add_test(tc, ids_are_random_and_never_zero);
    tcase_add_test(tc, traceidratio_uses_the_low_56_bits);
    tcase_add_test(tc, full_queue_drops_and_counts);
    tcase_add_test(tc, a_full_batch_wakes_the_waiter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(spans_suite());
}
