/* Unit tests for infer/lc_map.c: the bounded u64 -> u32 map behind the
 * lifecycle indexes and the guild set. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "lc_map.h"
#include "check_run.h"

START_TEST(put_get_and_overwrite)
{
    struct lc_map m;
    uint32_t v = 0;
    ck_assert_int_eq(lc_map_init(&m, 8), 0);
    ck_assert(!lc_map_get(&m, 42, &v));
    ck_assert_int_eq(lc_map_put(&m, 42, 7), 0);
    ck_assert(lc_map_get(&m, 42, &v));
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(lc_map_put(&m, 42, 9), 0);
    ck_assert(lc_map_get(&m, 42, &v));
    ck_assert_uint_eq(v, 9);
    ck_assert_uint_eq(lc_map_count(&m), 1);
    lc_map_fini(&m);
}
END_TEST

START_TEST(key_zero_is_refused)
{
    struct lc_map m;
    ck_assert_int_eq(lc_map_init(&m, 8), 0);
    ck_assert_int_eq(lc_map_put(&m, 0, 1), -EINVAL);
    ck_assert(!lc_map_get(&m, 0, NULL));
    ck_assert_int_eq(lc_map_init(&m, 0), -EINVAL);
    lc_map_fini(&m);
}
END_TEST

START_TEST(cap_refuses_new_keys_but_allows_overwrites)
{
    struct lc_map m;
    ck_assert_int_eq(lc_map_init(&m, 3), 0);
    for (uint64_t k = 1; k <= 3; k++)
        ck_assert_int_eq(lc_map_put(&m, k, (uint32_t)k), 0);
    ck_assert_int_eq(lc_map_put(&m, 4, 4), -ENOSPC);
    ck_assert_int_eq(lc_map_put(&m, 2, 20), 0);
    ck_assert(lc_map_del(&m, 1));
    ck_assert_int_eq(lc_map_put(&m, 4, 4), 0);
    ck_assert_uint_eq(lc_map_count(&m), 3);
    lc_map_fini(&m);
}
END_TEST

/* Many keys in a small table make long probe runs; deleting every other key
 * must leave each remaining key reachable (backward-shift deletion). */
START_TEST(deletion_keeps_every_other_key_reachable)
{
    enum { N = 5000 };
    struct lc_map m;
    uint32_t v;
    ck_assert_int_eq(lc_map_init(&m, N), 0);
    /* Snowflake-like keys: same timestamp, sequence in the low bits. */
    for (uint32_t i = 0; i < N; i++)
        ck_assert_int_eq(lc_map_put(&m, (1234567ull << 22) | i, i), 0);
    for (uint32_t i = 0; i < N; i += 2)
        ck_assert(lc_map_del(&m, (1234567ull << 22) | i));
    ck_assert_uint_eq(lc_map_count(&m), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        bool present = lc_map_get(&m, (1234567ull << 22) | i, &v);
        ck_assert_int_eq(present, i % 2 == 1);
        if (present)
            ck_assert_uint_eq(v, i);
    }
    ck_assert(!lc_map_del(&m, (1234567ull << 22) | 0));
    lc_map_fini(&m);
}
END_TEST

START_TEST(fini_accepts_a_map_never_used)
{
    struct lc_map m = {0};
    lc_map_fini(&m);
    ck_assert_int_eq(lc_map_init(&m, 4), 0);
    lc_map_fini(&m);
    ck_assert_ptr_null(m.keys);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lc_map");
    TCase *tc = tcase_create("lc_map");
    tcase_add_test(tc, put_get_and_overwrite);
    tcase_add_test(tc, key_zero_is_refused);
    tcase_add_test(tc, cap_refuses_new_keys_but_allows_overwrites);
    tcase_add_test(tc, deletion_keeps_every_other_key_reachable);
    tcase_add_test(tc, fini_accepts_a_map_never_used);
    suite_add_tcase(s, tc);
    return check_run_suite(s);
}
