/* Unit tests for hooks/conn.c: insert/find/remove, unique ids, the bound
 * (eviction counted, ignored entries evicted first), stale updates refused,
 * and concurrent threads each working on their own SSL pointers. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "core_api.h"
#include "check_run.h"

static struct cap_stats stats;

/* Fake SSL* values: aligned like heap blocks, never dereferenced. */
static const void *fake_ssl(uintptr_t i)
{
    return (const void *)(0x100000 + i * 0x40);
}

START_TEST(an_entry_is_found_until_removed)
{
    struct conn_table *t = conn_table_create(64, &stats);
    ck_assert_ptr_nonnull(t);
    uint64_t word, evicted;
    ck_assert_ptr_null(conn_find(t, fake_ssl(1), &word));
    ck_assert_uint_eq(word, 0);
    uint64_t w = CONN_WORD(conn_next_id(t), CONN_F_CAPTURED);
    ck_assert_int_eq(conn_insert(t, fake_ssl(1), w, &evicted), 0);
    ck_assert_uint_eq(evicted, 0);
    ck_assert_ptr_nonnull(conn_find(t, fake_ssl(1), &word));
    ck_assert_uint_eq(word, w);
    ck_assert_ptr_null(conn_find(t, fake_ssl(2), &word));
    ck_assert_uint_eq(conn_remove(t, fake_ssl(1)), w);
    ck_assert_ptr_null(conn_find(t, fake_ssl(1), &word));
    ck_assert_uint_eq(conn_remove(t, fake_ssl(1)), 0);
}
END_TEST

START_TEST(ids_are_unique_and_never_zero)
{
    struct conn_table *t = conn_table_create(8, &stats);
    uint64_t a = conn_next_id(t), b = conn_next_id(t);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_eq(CONN_WORD_ID(CONN_WORD(b, CONN_F_CAPTURED | CONN_F_BROKEN)), b);
}
END_TEST

START_TEST(the_table_is_bounded_and_counts_evictions)
{
    memset(&stats, 0, sizeof(stats));
    const uint32_t max = 32;
    struct conn_table *t = conn_table_create(max, &stats);
    uint64_t evicted;
    for (uintptr_t i = 0; i < 1000; i++)
        ck_assert_int_eq(conn_insert(t, fake_ssl(i), CONN_F_IGNORED, &evicted), 0);
    unsigned live = 0;
    uint64_t word;
    for (uintptr_t i = 0; i < 1000; i++)
        live += conn_find(t, fake_ssl(i), &word) != NULL;
    ck_assert_uint_le(live, max);
    ck_assert_uint_ge(live, 1);
    ck_assert_uint_eq(atomic_load(&stats.connections_evicted), 1000 - live);
    /* The most recent insert is always there. */
    ck_assert_ptr_nonnull(conn_find(t, fake_ssl(999), &word));
}
END_TEST

START_TEST(eviction_prefers_ignored_entries_and_reports_captured_ones)
{
    memset(&stats, 0, sizeof(stats));
    struct conn_table *t = conn_table_create(8, &stats);
    uint64_t evicted, word;
    /* A full table of captured entries: one more evicts a captured entry,
     * and the caller learns its id so it can close that stream. */
    for (uintptr_t i = 0; i < 8; i++)
        conn_insert(t, fake_ssl(i), CONN_WORD(i + 1, CONN_F_CAPTURED), &evicted);
    ck_assert_int_eq(conn_insert(t, fake_ssl(100), CONN_F_IGNORED, &evicted), 0);
    ck_assert(evicted & CONN_F_CAPTURED);
    ck_assert_uint_ge(CONN_WORD_ID(evicted), 1);
    ck_assert_uint_le(CONN_WORD_ID(evicted), 8);

    /* One captured entry among a stream of ignored ones survives: every
     * eviction finds an ignored entry to take instead. */
    t = conn_table_create(8, &stats);
    uint64_t kept = CONN_WORD(77, CONN_F_CAPTURED);
    conn_insert(t, fake_ssl(500), kept, &evicted);
    for (uintptr_t i = 0; i < 200; i++) {
        ck_assert_int_eq(conn_insert(t, fake_ssl(1000 + i), CONN_F_IGNORED, &evicted), 0);
        ck_assert_uint_ne(evicted, kept);
    }
    ck_assert_ptr_nonnull(conn_find(t, fake_ssl(500), &word));
    ck_assert_uint_eq(word, kept);
}
END_TEST

START_TEST(an_update_of_an_evicted_entry_is_refused)
{
    struct conn_table *t = conn_table_create(8, &stats);
    uint64_t evicted, word;
    uint64_t w = CONN_WORD(5, CONN_F_CAPTURED);
    conn_insert(t, fake_ssl(1), w, &evicted);
    struct conn_slot *slot = conn_find(t, fake_ssl(1), &word);
    ck_assert_int_eq(conn_update(slot, w, w | CONN_F_BROKEN), 0);
    ck_assert_ptr_nonnull(conn_find(t, fake_ssl(1), &word));
    ck_assert_uint_eq(word, w | CONN_F_BROKEN);
    ck_assert_int_eq(conn_update(slot, w, w), -ESTALE);
}
END_TEST

#define THREADS 4
#define ROUNDS 20000

struct worker {
    struct conn_table *t;
    uintptr_t base;
    int errors;
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    uint64_t evicted, word;
    for (uintptr_t i = 0; i < ROUNDS; i++) {
        const void *ssl = fake_ssl(w->base + (i % 16));
        uint64_t mine = CONN_WORD(w->base + i + 1, CONN_F_CAPTURED);
        if (conn_insert(w->t, ssl, mine, &evicted) != 0)
            continue;
        /* Found either with our own word, or evicted: never another's. */
        if (conn_find(w->t, ssl, &word) != NULL && word != mine)
            w->errors++;
        uint64_t removed = conn_remove(w->t, ssl);
        if (removed != 0 && removed != mine)
            w->errors++;
    }
    return NULL;
}

START_TEST(concurrent_threads_never_see_each_others_entries)
{
    struct conn_table *t = conn_table_create(16, &stats);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){t, (uintptr_t)(i + 1) * 1000000, 0};
        pthread_create(&th[i], NULL, churn, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
    }
}
END_TEST

static Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("conn");
    tcase_add_test(tc, an_entry_is_found_until_removed);
    tcase_add_test(tc, ids_are_unique_and_never_zero);
    tcase_add_test(tc, the_table_is_bounded_and_counts_evictions);
    tcase_add_test(tc, eviction_prefers_ignored_entries_and_reports_captured_ones);
    tcase_add_test(tc, an_update_of_an_evicted_entry_is_refused);
    tcase_add_test(tc, concurrent_threads_never_see_each_others_entries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(conn_suite());
}
