/* Unit tests for hooks/ring/ring.c: record round trip, order, wrap-around with
 * padding, drops when full (counted), release freeing space, the consumer's
 * sleep and wake, and several producer threads against one consumer. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_api.h"
#include "ring.h"
#include "check_run.h"

#define SMALL_RING (64u * 1024u)

static struct cap_stats stats;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

START_TEST(a_record_comes_out_as_it_went_in)
{
    struct ring *r = ring_create(0, &stats);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ring_push(r, 7, RING_DATA, RING_DIR_WRITE, RING_F_GAP, 123, "hello", 5), 0);
    struct ring_record rec;
    ck_assert_int_eq(ring_pop(r, &rec), 1);
    ck_assert_uint_eq(rec.conn_id, 7);
    ck_assert_uint_eq(rec.t_ns, 123);
    ck_assert_uint_eq(rec.type, RING_DATA);
    ck_assert_uint_eq(rec.dir, RING_DIR_WRITE);
    ck_assert_uint_eq(rec.flags, RING_F_GAP);
    ck_assert_uint_eq(rec.len, 5);
    ck_assert_mem_eq(rec.data, "hello", 5);
    ring_release(r, &rec);
    ck_assert_int_eq(ring_pop(r, &rec), 0);
}
END_TEST

START_TEST(empty_records_carry_no_data)
{
    struct ring *r = ring_create(0, &stats);
    ck_assert_int_eq(ring_push(r, 1, RING_CLOSE, 0, 0, 1, NULL, 0), 0);
    struct ring_record rec;
    ck_assert_int_eq(ring_pop(r, &rec), 1);
    ck_assert_uint_eq(rec.type, RING_CLOSE);
    ck_assert_uint_eq(rec.len, 0);
}
END_TEST

START_TEST(records_keep_their_order_across_many_wraps)
{
    struct ring *r = ring_create(SMALL_RING, &stats);
    static uint8_t buf[20000];
    uint64_t next_out = 0;
    struct ring_record rec;
    /* Odd sizes so records land at every alignment before the end. */
    for (uint64_t i = 0; i < 5000; i++) {
        uint32_t len = (uint32_t)((i * 7919) % sizeof(buf));
        memset(buf, (int)(i & 0xff), len);
        while (ring_push(r, i, RING_DATA, 0, 0, i, buf, len) != 0) {
            ck_assert_int_eq(ring_pop(r, &rec), 1);
            ck_assert_uint_eq(rec.conn_id, next_out);
            ck_assert_uint_eq(rec.len, (next_out * 7919) % sizeof(buf));
            if (rec.len > 0) {
                ck_assert_uint_eq(rec.data[0], next_out & 0xff);
                ck_assert_uint_eq(rec.data[rec.len - 1], next_out & 0xff);
            }
            ring_release(r, &rec);
            next_out++;
        }
    }
    while (ring_pop(r, &rec)) {
        ck_assert_uint_eq(rec.conn_id, next_out++);
        ring_release(r, &rec);
    }
    ck_assert_uint_eq(next_out, 5000);
}
END_TEST

START_TEST(a_full_ring_drops_and_counts)
{
    memset(&stats, 0, sizeof(stats));
    struct ring *r = ring_create(SMALL_RING, &stats);
    static uint8_t buf[16384];
    int pushed = 0;
    while (ring_push(r, 1, RING_DATA, 0, 0, 0, buf, sizeof(buf)) == 0)
        pushed++;
    ck_assert_int_eq(pushed, 3); /* 4 x (16 KiB + header) do not fit in 64 KiB */
    ck_assert_uint_eq(atomic_load(&stats.dropped_bytes), sizeof(buf));
    ck_assert_uint_eq(atomic_load(&stats.dropped_records), 1);
    ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, buf, SMALL_RING + 1), -ENOSPC);
    ck_assert_uint_eq(atomic_load(&stats.dropped_records), 2);

    /* Releasing records makes room again (two here: the next record pads to
     * the end of the area, and data may not take the control reserve). */
    struct ring_record rec;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ring_pop(r, &rec), 1);
        ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, buf, sizeof(buf)), -ENOSPC);
        ring_release(r, &rec);
    }
    ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, buf, sizeof(buf)), 0);
}
END_TEST

/* With the largest ring (ARGUS_RING_BYTES = 4 GiB) a payload just under
 * 4 GiB fits the size check, but its header pushes the record's size past
 * 32 bits (or to exactly 4 GiB, which the record's 32-bit size cannot
 * hold): it must be refused, not reserved with a wrapped-around size. */
/* A burst of data fills the ring, yet a connection's OPEN and CLOSE still
 * reach the decoder (the reserve in ring_impl.h), so its table stays right. */
START_TEST(open_and_close_fit_in_a_ring_full_of_data)
{
    memset(&stats, 0, sizeof(stats));
    struct ring *r = ring_create(SMALL_RING, &stats);
    static uint8_t buf[1000];
    while (ring_push(r, 1, RING_DATA, 0, 0, 0, buf, sizeof(buf)) == 0)
        ;
    ck_assert_uint_eq(atomic_load(&stats.dropped_records), 1);
    ck_assert_int_eq(ring_push(r, 2, RING_OPEN, 0, 0, 0, "discord.com", 11), 0);
    ck_assert_int_eq(ring_push(r, 1, RING_CLOSE, 0, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(ring_push(r, 2, RING_DATA, 0, 0, 0, buf, 1), -ENOSPC);
    ck_assert_uint_eq(atomic_load(&stats.dropped_records), 2);
}
END_TEST

START_TEST(a_record_too_big_for_the_largest_ring_is_refused)
{
    memset(&stats, 0, sizeof(stats));
    struct ring *r = ring_create(1ull << 32, &stats);
    ck_assert_ptr_nonnull(r);
    static uint8_t buf[64];
    ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, buf, UINT32_MAX - 7), -ENOSPC);
    ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, buf, UINT32_MAX - 39), -ENOSPC);
    ck_assert_uint_eq(atomic_load(&stats.dropped_records), 2);
    struct ring_record rec;
    ck_assert_int_eq(ring_pop(r, &rec), 0);
}
END_TEST

START_TEST(popped_records_stay_valid_until_released)
{
    struct ring *r = ring_create(SMALL_RING, &stats);
    ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, "aaaa", 4), 0);
    ck_assert_int_eq(ring_push(r, 2, RING_DATA, 0, 0, 0, "bbbb", 4), 0);
    struct ring_record a, b;
    ck_assert_int_eq(ring_pop(r, &a), 1);
    ck_assert_int_eq(ring_pop(r, &b), 1);
    ck_assert_mem_eq(a.data, "aaaa", 4);
    ck_assert_mem_eq(b.data, "bbbb", 4);
    ring_release(r, &a);
    ring_release(r, &b);
    ck_assert_int_eq(ring_pop(r, &a), 0);
}
END_TEST

/* Issue 14: a record may carry a token or message content; once released
 * its bytes must not wait in the ring for the next lap to overwrite them. */
START_TEST(a_released_record_is_wiped)
{
    static const char secret[] = "Authorization: Bot abc.def.ghi";
    struct ring *r = ring_create(SMALL_RING, &stats);
    ck_assert_int_eq(ring_push(r, 1, RING_DATA, 0, 0, 0, secret, sizeof(secret) - 1), 0);
    struct ring_record rec;
    ck_assert_int_eq(ring_pop(r, &rec), 1);
    const uint8_t *bytes = rec.data; /* still mapped: the ring is never unmapped */
    ring_release(r, &rec);
    for (size_t i = 0; i < sizeof(secret) - 1; i++)
        ck_assert_uint_eq(bytes[i], 0);
}
END_TEST

START_TEST(wait_returns_at_once_when_records_are_ready)
{
    struct ring *r = ring_create(0, &stats);
    ring_push(r, 1, RING_DATA, 0, 0, 0, "x", 1);
    uint64_t t0 = now_ms();
    ring_wait(r, 10000);
    ck_assert_uint_lt(now_ms() - t0, 5000);
}
END_TEST

static void *push_later(void *arg)
{
    struct ring *r = arg;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL); /* lets the consumer go to sleep first; not a synchronisation */
    ring_push(r, 9, RING_DATA, 0, 0, 0, "y", 1);
    return NULL;
}

START_TEST(a_push_wakes_a_sleeping_consumer)
{
    struct ring *r = ring_create(0, &stats);
    pthread_t t;
    pthread_create(&t, NULL, push_later, r);
    uint64_t t0 = now_ms();
    struct ring_record rec;
    while (!ring_pop(r, &rec))
        ring_wait(r, 20000); /* would take 20 s if the wake were lost */
    ck_assert_uint_lt(now_ms() - t0, 10000);
    ck_assert_uint_eq(rec.conn_id, 9);
    pthread_join(t, NULL);
}
END_TEST

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct producer {
    struct ring *ring;
    uint64_t id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    uint8_t buf[300];
    for (uint64_t seq = 0; seq < PER_PRODUCER; seq++) {
        uint32_t len = 9 + (uint32_t)(seq % 290);
        memcpy(buf, &seq, 8);
        memset(buf + 8, (int)(p->id * 31 + seq), len - 8);
        while (ring_push(p->ring, p->id, RING_DATA, 0, 0, seq, buf, len) != 0)
            ; /* full: the consumer is draining; retry (a test may wait, a hook may not) */
    }
    return NULL;
}

START_TEST(several_producers_one_consumer_lose_and_reorder_nothing)
{
    memset(&stats, 0, sizeof(stats));
    struct ring *r = ring_create(SMALL_RING, &stats);
    pthread_t threads[PRODUCERS];
    struct producer prod[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (struct producer){r, (uint64_t)i};
        pthread_create(&threads[i], NULL, produce, &prod[i]);
    }
    uint64_t next_seq[PRODUCERS] = {0};
    uint64_t total = 0;
    struct ring_record rec;
    while (total < (uint64_t)PRODUCERS * PER_PRODUCER) {
        if (!ring_pop(r, &rec)) {
            ring_wait(r, 1000);
            continue;
        }
        ck_assert_uint_lt(rec.conn_id, PRODUCERS);
        uint64_t seq;
        memcpy(&seq, rec.data, 8);
        /* Per producer, records come out in the order they were pushed. */
        ck_assert_uint_eq(seq, next_seq[rec.conn_id]);
        ck_assert_uint_eq(rec.t_ns, seq);
        ck_assert_uint_eq(rec.len, 9 + seq % 290);
        ck_assert_uint_eq(rec.data[rec.len - 1], (uint8_t)(rec.conn_id * 31 + seq));
        next_seq[rec.conn_id]++;
        total++;
        ring_release(r, &rec);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(ring_pop(r, &rec), 0);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");
    tcase_add_test(tc, a_record_comes_out_as_it_went_in);
    tcase_add_test(tc, empty_records_carry_no_data);
    tcase_add_test(tc, records_keep_their_order_across_many_wraps);
    tcase_add_test(tc, a_full_ring_drops_and_counts);
    tcase_add_test(tc, open_and_close_fit_in_a_ring_full_of_data);
    tcase_add_test(tc, a_record_too_big_for_the_largest_ring_is_refused);
    tcase_add_test(tc, popped_records_stay_valid_until_released);
    tcase_add_test(tc, a_released_record_is_wiped);
    tcase_add_test(tc, wait_returns_at_once_when_records_are_ready);
    tcase_add_test(tc, a_push_wakes_a_sleeping_consumer);
    tcase_add_test(tc, several_producers_one_consumer_lose_and_reorder_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run_suite(ring_suite());
}
