/*
 * test_reg.c - the metric registry: arithmetic, bucket edges, overflow,
 * temporality per reader, start times, callbacks.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg.h"
#include "check_run.h"

/* The point of metric `name` whose attribute `key` is `value` (or the only
 * point when key is NULL). */
static const struct reg_point *find_point(const struct reg_snapshot *s, const char *name,
                                          const char *key, const char *value,
                                          const struct reg_metric_snapshot **metric)
{
    for (size_t i = 0; i < s->n_metrics; i++) {
        const struct reg_metric_snapshot *m = &s->metrics[i];
        if (strcmp(m->name, name) != 0)
            continue;
        if (metric != NULL)
            *metric = m;
        for (size_t j = 0; j < m->n_points; j++) {
            const struct reg_point *p = &m->points[j];
            if (key == NULL)
                return p;
            for (unsigned k = 0; k < p->n_attrs; k++) {
                if (strcmp(p->attrs[k].key, key) == 0 && strcmp(p->attrs[k].value, value) == 0)
                    return p;
            }
        }
    }
    return NULL;
}

static const char *attr_of(const struct reg_point *p, const char *key)
{
    for (unsigned k = 0; k < p->n_attrs; k++) {
        if (strcmp(p->attrs[k].key, key) == 0)
            return p->attrs[k].value;
    }
    return NULL;
}

START_TEST(counter_adds_per_attribute_set_in_any_order)
{
    struct reg *r = reg_create(0, "c1");
    struct reg_metric *c = reg_counter(r, "x_total", "d", "1", REG_NUMBER_U64);
    ck_assert_ptr_nonnull(c);
    reg_counter_add(c, REG_ATTRS({"a", "1"}, {"b", "2"}), 3);
    reg_counter_add(c, REG_ATTRS({"b", "2"}, {"a", "1"}), 4); /* same set, other order */
    reg_counter_add(c, REG_ATTRS({"a", "9"}), 1);
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    const struct reg_metric_snapshot *m = NULL;
    const struct reg_point *p = find_point(s, "x_total", "b", "2", &m);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->value.u64, 7);
    ck_assert_str_eq(attr_of(p, "cluster"), "c1");
    ck_assert_int_eq(m->n_points, 2);
    ck_assert_int_eq(m->temporality, REG_TEMPORALITY_CUMULATIVE);
    ck_assert(m->monotonic);
    /* Attributes come sorted by key, cluster merged in. */
    ck_assert_str_eq(p->attrs[0].key, "a");
    ck_assert_str_eq(p->attrs[1].key, "b");
    ck_assert_str_eq(p->attrs[2].key, "cluster");
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    ck_assert_int_eq(reg_destroy(r), 0);
}
END_TEST

START_TEST(histogram_bucket_edges_are_upper_inclusive)
{
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    struct reg *r = reg_create(0, NULL);
    struct reg_metric *h = reg_histogram(r, "d_seconds", "", "s", bounds, 8);
    ck_assert_ptr_nonnull(h);
    /* 0.05 -> bucket 0 (-inf, 0.05]; 0.0500001 -> bucket 1; 10 -> bucket 7;
     * 10.5 -> bucket 8 (10, +inf); -1 -> bucket 0. */
    double values[] = {0.05, 0.0500001, 10, 10.5, -1};
    for (size_t i = 0; i < 5; i++)
        reg_histogram_record(h, REG_NO_ATTRS, values[i]);
    reg_histogram_record(h, REG_NO_ATTRS, NAN); /* ignored */
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    const struct reg_metric_snapshot *m = NULL;
    const struct reg_point *p = find_point(s, "d_seconds", NULL, NULL, &m);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(m->n_bounds, 8);
    ck_assert_uint_eq(p->count, 5);
    ck_assert_double_eq_tol(p->sum, 0.05 + 0.0500001 + 10 + 10.5 - 1, 1e-9);
    ck_assert_double_eq(p->min, -1);
    ck_assert_double_eq(p->max, 10.5);
    uint64_t expect[9] = {2, 1, 0, 0, 0, 0, 0, 1, 1};
    uint64_t total = 0;
    for (int i = 0; i < 9; i++) {
        ck_assert_uint_eq(p->bucket_counts[i], expect[i]);
        total += p->bucket_counts[i];
    }
    ck_assert_uint_eq(total, p->count);
    ck_assert_str_eq(attr_of(p, "cluster"), "default");
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    reg_destroy(r);
}
END_TEST

START_TEST(histogram_rejects_unsorted_bounds)
{
    static const double bad[] = {1, 1};
    struct reg *r = reg_create(0, NULL);
    ck_assert_ptr_null(reg_histogram(r, "h", "", "s", bad, 2));
    ck_assert_ptr_null(reg_counter(r, "9bad", "", "", REG_NUMBER_U64));
    ck_assert_ptr_nonnull(reg_counter(r, "ok", "", "", REG_NUMBER_U64));
    ck_assert_ptr_null(reg_counter(r, "OK", "", "", REG_NUMBER_U64)); /* names are case-blind */
    reg_counter_add(NULL, REG_NO_ATTRS, 1);                           /* must not crash */
    reg_destroy(r);
}
END_TEST

START_TEST(overflow_series_takes_new_sets_past_the_cap)
{
    struct reg *r = reg_create(4, NULL); /* 3 regular series + the overflow one */
    struct reg_metric *c = reg_counter(r, "x_total", "", "", REG_NUMBER_U64);
    char v[16];
    for (int i = 0; i < 10; i++) {
        snprintf(v, sizeof(v), "%d", i);
        reg_counter_add(c, REG_ATTRS({"k", v}), 1);
    }
    reg_counter_add(c, REG_ATTRS({"k", "0"}), 5); /* an existing set still lands in place */
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    const struct reg_metric_snapshot *m = NULL;
    ck_assert_ptr_nonnull(find_point(s, "x_total", NULL, NULL, &m));
    ck_assert_int_eq(m->n_points, 4);
    uint64_t total = 0, overflow = 0;
    for (size_t i = 0; i < m->n_points; i++) {
        total += m->points[i].value.u64;
        if (m->points[i].overflow) {
            overflow = m->points[i].value.u64;
            ck_assert_ptr_null(attr_of(&m->points[i], "k"));
        }
    }
    ck_assert_uint_eq(total, 15); /* nothing lost, nothing counted twice */
    ck_assert_uint_eq(overflow, 7);
    ck_assert_uint_eq(find_point(s, "x_total", "k", "0", NULL)->value.u64, 6);
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    reg_destroy(r);
}
END_TEST

START_TEST(delta_and_cumulative_readers_coexist)
{
    static const double bounds[] = {1, 2};
    struct reg *r = reg_create(0, NULL);
    struct reg_metric *c = reg_counter(r, "x_total", "", "", REG_NUMBER_U64);
    struct reg_metric *h = reg_histogram(r, "h", "", "s", bounds, 2);
    struct reg_reader *cum = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_reader *del = reg_reader_create(r, ARGUS_TEMPORALITY_DELTA);
    ck_assert_ptr_nonnull(del);
    struct reg_snapshot *s;

    reg_counter_add(c, REG_NO_ATTRS, 5);
    reg_histogram_record(h, REG_NO_ATTRS, 3);
    ck_assert_int_eq(reg_collect(del, &s), 0);
    const struct reg_metric_snapshot *m = NULL;
    ck_assert_uint_eq(find_point(s, "x_total", NULL, NULL, &m)->value.u64, 5);
    ck_assert_int_eq(m->temporality, REG_TEMPORALITY_DELTA);
    uint64_t first_delta_time = s->time_ns;
    reg_snapshot_destroy(s);

    reg_counter_add(c, REG_NO_ATTRS, 2);
    reg_histogram_record(h, REG_NO_ATTRS, 0.5);
    /* The cumulative reader sees totals, undisturbed by the delta reader. */
    ck_assert_int_eq(reg_collect(cum, &s), 0);
    const struct reg_point *p = find_point(s, "x_total", NULL, NULL, NULL);
    ck_assert_uint_eq(p->value.u64, 7);
    uint64_t cum_start = p->start_ns;
    p = find_point(s, "h", NULL, NULL, NULL);
    ck_assert_uint_eq(p->count, 2);
    ck_assert_double_eq(p->min, 0.5);
    ck_assert_double_eq(p->max, 3);
    reg_snapshot_destroy(s);

    ck_assert_int_eq(reg_collect(del, &s), 0);
    p = find_point(s, "x_total", NULL, NULL, NULL);
    ck_assert_uint_eq(p->value.u64, 2);
    ck_assert_uint_eq(p->start_ns, first_delta_time); /* starts at the previous collection */
    p = find_point(s, "h", NULL, NULL, NULL);
    ck_assert_uint_eq(p->count, 1);
    ck_assert_double_eq(p->sum, 0.5);
    ck_assert_double_eq(p->min, 0.5); /* min/max of this interval only */
    ck_assert_double_eq(p->max, 0.5);
    ck_assert_uint_eq(p->bucket_counts[0], 1);
    ck_assert_uint_eq(p->bucket_counts[2], 0);
    reg_snapshot_destroy(s);

    /* Nothing new: a delta reader sends no point; cumulative repeats its start. */
    ck_assert_int_eq(reg_collect(del, &s), 0);
    ck_assert_uint_eq(s->n_points, 0);
    reg_snapshot_destroy(s);
    ck_assert_int_eq(reg_collect(cum, &s), 0);
    ck_assert_uint_eq(find_point(s, "x_total", NULL, NULL, NULL)->start_ns, cum_start);
    reg_snapshot_destroy(s);

    ck_assert_int_eq(reg_destroy(r), -EBUSY); /* readers still exist */
    reg_reader_destroy(cum);
    reg_reader_destroy(del);
    ck_assert_int_eq(reg_destroy(r), 0);
}
END_TEST

static uint64_t observed_total;

static void observe_two(struct reg_observer *obs, void *arg)
{
    int *calls = arg;
    (*calls)++;
    reg_observe_u64(obs, REG_ATTRS({"dir", "read"}), observed_total);
    reg_observe_u64(obs, REG_ATTRS({"dir", "write"}), 2 * observed_total);
}

START_TEST(observable_counter_reads_at_collection_time)
{
    int calls = 0;
    struct reg *r = reg_create(0, NULL);
    reg_observable_counter(r, "bytes_total", "", "By", REG_NUMBER_U64, REG_F_CLUSTER, observe_two,
                           &calls);
    struct reg_reader *cum = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_reader *low = reg_reader_create(r, ARGUS_TEMPORALITY_LOWMEMORY);
    struct reg_reader *del = reg_reader_create(r, ARGUS_TEMPORALITY_DELTA);
    struct reg_snapshot *s;
    const struct reg_metric_snapshot *m = NULL;

    observed_total = 10;
    ck_assert_int_eq(reg_collect(del, &s), 0);
    ck_assert_uint_eq(find_point(s, "bytes_total", "dir", "write", NULL)->value.u64, 20);
    reg_snapshot_destroy(s);
    observed_total = 15;
    ck_assert_int_eq(reg_collect(del, &s), 0);
    ck_assert_uint_eq(find_point(s, "bytes_total", "dir", "write", NULL)->value.u64, 10);
    reg_snapshot_destroy(s);
    ck_assert_int_eq(reg_collect(low, &s), 0); /* lowmemory: async counters cumulative */
    ck_assert_uint_eq(find_point(s, "bytes_total", "dir", "read", &m)->value.u64, 15);
    ck_assert_int_eq(m->temporality, REG_TEMPORALITY_CUMULATIVE);
    ck_assert_str_eq(attr_of(find_point(s, "bytes_total", "dir", "read", NULL), "cluster"),
                     "default");
    reg_snapshot_destroy(s);
    ck_assert_int_eq(reg_collect(cum, &s), 0);
    ck_assert_uint_eq(find_point(s, "bytes_total", "dir", "read", NULL)->value.u64, 15);
    reg_snapshot_destroy(s);
    ck_assert_int_eq(calls, 4);
    reg_reader_destroy(cum);
    reg_reader_destroy(low);
    reg_reader_destroy(del);
    reg_destroy(r);
}
END_TEST

static void observe_shards(struct reg_observer *obs, void *arg)
{
    int *n = arg;
    char shard[16];
    for (int i = 0; i < *n; i++) {
        snprintf(shard, sizeof(shard), "%d", i);
        reg_observe(obs, REG_ATTRS({"shard", shard}), 0.25 * i);
    }
}

START_TEST(gauge_reports_only_this_collections_samples)
{
    int n = 3;
    struct reg *r = reg_create(0, NULL);
    reg_gauge(r, "latency_seconds", "", "s", REG_NUMBER_DOUBLE, 0, observe_shards, &n);
    struct reg_metric *info = reg_info(r, "bot_info", "");
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_DELTA);
    struct reg_snapshot *s;
    const struct reg_metric_snapshot *m = NULL;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    ck_assert_ptr_nonnull(find_point(s, "latency_seconds", NULL, NULL, &m));
    ck_assert_int_eq(m->n_points, 3);
    ck_assert_int_eq(m->temporality, REG_TEMPORALITY_NONE);
    ck_assert_ptr_null(find_point(s, "bot_info", NULL, NULL, NULL)); /* not set yet */
    ck_assert_ptr_null(attr_of(&m->points[0], "cluster"));           /* no REG_F_CLUSTER */
    reg_snapshot_destroy(s);
    n = 1;
    reg_info_set(info, REG_ATTRS({"bot_name", "b"}));
    reg_info_set(info, REG_ATTRS({"bot_name", "c"}));
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    find_point(s, "latency_seconds", NULL, NULL, &m);
    ck_assert_int_eq(m->n_points, 1);
    const struct reg_point *p = find_point(s, "bot_info", NULL, NULL, &m);
    ck_assert_int_eq(m->n_points, 1);
    ck_assert_str_eq(attr_of(p, "bot_name"), "c");
    ck_assert_uint_eq(p->value.u64, 1);
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    reg_destroy(r);
}
END_TEST

START_TEST(long_values_are_truncated_not_refused)
{
    char big[400];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct reg *r = reg_create(0, NULL);
    struct reg_metric *c = reg_counter(r, "x_total", "", "", REG_NUMBER_U64);
    reg_counter_add(c, REG_ATTRS({"k", big}), 1);
    big[REG_VALUE_MAX] = '\0'; /* differs only beyond the kept bytes: same series */
    reg_counter_add(c, REG_ATTRS({"k", big}), 1);
    struct reg_reader *rd = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *s;
    ck_assert_int_eq(reg_collect(rd, &s), 0);
    const struct reg_metric_snapshot *m = NULL;
    const struct reg_point *p = find_point(s, "x_total", NULL, NULL, &m);
    ck_assert_int_eq(m->n_points, 1);
    ck_assert_uint_eq(p->value.u64, 2);
    ck_assert_uint_eq(strlen(attr_of(p, "k")), REG_VALUE_MAX - 1);
    reg_snapshot_destroy(s);
    reg_reader_destroy(rd);
    reg_destroy(r);
}
END_TEST

#define WRITES 200000

struct writer_arg {
    struct reg_metric *c, *h;
    atomic_bool done;
};

static void *writer(void *arg)
{
    struct writer_arg *w = arg;
    for (int i = 0; i < WRITES; i++) {
        reg_counter_add(w->c, REG_ATTRS({"k", i % 2 ? "odd" : "even"}), 1);
        reg_histogram_record(w->h, REG_NO_ATTRS, 1.0);
    }
    atomic_store(&w->done, true);
    return NULL;
}

/* Sums the counter's points and returns the histogram's count. */
static uint64_t totals(const struct reg_snapshot *s, uint64_t *hist_count)
{
    uint64_t sum = 0;
    *hist_count = 0;
    for (size_t i = 0; i < s->n_metrics; i++) {
        for (size_t j = 0; j < s->metrics[i].n_points; j++) {
            const struct reg_point *p = &s->metrics[i].points[j];
            if (s->metrics[i].kind == REG_HISTOGRAM) {
                *hist_count += p->count;
                /* A consistent snapshot: the buckets add up to the count. */
                ck_assert_uint_eq(p->bucket_counts[0] + p->bucket_counts[1], p->count);
                ck_assert_double_eq(p->sum, (double)p->count);
            } else {
                sum += p->value.u64;
            }
        }
    }
    return sum;
}

START_TEST(readers_during_writes_lose_and_double_nothing)
{
    static const double bounds[] = {1};
    struct reg *r = reg_create(0, NULL);
    struct writer_arg w = {.c = reg_counter(r, "x_total", "", "", REG_NUMBER_U64),
                           .h = reg_histogram(r, "h", "", "s", bounds, 1)};
    struct reg_reader *cum = reg_reader_create(r, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_reader *del = reg_reader_create(r, ARGUS_TEMPORALITY_DELTA);
    pthread_t t;
    pthread_create(&t, NULL, writer, &w);
    uint64_t delta_sum = 0, delta_hist = 0, h;
    bool last = false;
    while (!last) {
        last = atomic_load(&w.done);
        struct reg_snapshot *s;
        ck_assert_int_eq(reg_collect(del, &s), 0);
        delta_sum += totals(s, &h);
        delta_hist += h;
        reg_snapshot_destroy(s);
        ck_assert_int_eq(reg_collect(cum, &s), 0);
        uint64_t cum_sum = totals(s, &h);
        ck_assert_uint_le(cum_sum, WRITES);
        ck_assert_uint_ge(cum_sum, delta_sum); /* cumulative is read after the delta */
        reg_snapshot_destroy(s);
    }
    pthread_join(t, NULL);
    ck_assert_uint_eq(delta_sum, WRITES);
    ck_assert_uint_eq(delta_hist, WRITES);
    reg_reader_destroy(cum);
    reg_reader_destroy(del);
    reg_destroy(r);
}
END_TEST

static Suite *reg_suite(void)
{
    Suite *s = suite_create("reg");
    TCase *tc = tcase_create("reg");
    tcase_add_test(tc, counter_adds_per_attribute_set_in_any_order);
    tcase_add_test(tc, histogram_bucket_edges_are_upper_inclusive);
    tcase_add_test(tc, histogram_rejects_unsorted_bounds);
    tcase_add_test(tc, overflow_series_takes_new_sets_past_the_cap);
    tcase_add_test(tc, delta_and_cumulative_readers_coexist);
    tcase_add_test(tc, observable_counter_reads_at_collection_time);
    tcase_add_test(tc, gauge_reports_only_this_collections_samples);
    tcase_add_test(tc, long_values_are_truncated_not_refused);
    tcase_add_test(tc, readers_during_writes_lose_and_double_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(reg_suite());
}
