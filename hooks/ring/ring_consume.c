/*
 * ring_consume.c - the consumer's half of the capture ring (ring_impl.h has
 * the design): popping, releasing, sleeping and waking. Only the core's
 * decode thread pops and releases. A released record's bytes are wiped: they
 * may hold a token or message content (invariant 3), and the ring is reused
 * lap after lap.
 */
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ring_impl.h"

/*
 * Returns the committed header at *pos, skipping a pad (moving *pos past
 * it), or NULL if the record at *pos is not committed yet. A gap too small
 * for a header can only sit right before the end of the area (positions are
 * aligned and a producer pads whenever a record does not fit before the
 * end), and it is skipped without being read.
 */
static struct ring_hdr *ring_next_record(struct ring *r, uint64_t *pos)
{
    for (;;) {
        uint64_t to_end = r->size - (*pos & r->mask);
        if (to_end < sizeof(struct ring_hdr)) {
            if (atomic_load_explicit(&r->head, memory_order_acquire) <= *pos)
                return NULL;
            *pos += to_end;
            continue;
        }
        struct ring_hdr *hdr = ring_hdr_at(r, *pos);
        if (atomic_load_explicit(&hdr->commit, memory_order_acquire) != (*pos | 1u))
            return NULL;
        if (hdr->type != RING_TYPE_PAD)
            return hdr;
        *pos += hdr->total;
    }
}

int ring_pop(struct ring *r, struct ring_record *rec)
{
    uint64_t pos = r->read_pos;
    struct ring_hdr *hdr = ring_next_record(r, &pos);
    if (hdr == NULL)
        return 0;
    rec->conn_id = hdr->conn_id;
    rec->t_ns = hdr->t_ns;
    rec->type = hdr->type;
    rec->dir = hdr->dir;
    rec->flags = hdr->flags;
    rec->len = hdr->len;
    rec->data = (const uint8_t *)(hdr + 1);
    r->read_pos = pos + hdr->total;
    return 1;
}

void ring_release(struct ring *r, const struct ring_record *rec)
{
    /* Records are released in the order they were popped, so the record
     * being released is the first one at or after tail (pads skipped). */
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct ring_hdr *hdr = ring_next_record(r, &pos);
    if (hdr == NULL || (const uint8_t *)(hdr + 1) != rec->data)
        return; /* not the oldest popped record: a caller bug, ignore it */
    explicit_bzero(hdr + 1, hdr->len);
    atomic_store_explicit(&r->tail, pos + hdr->total, memory_order_release);
}

static bool ring_ready(struct ring *r)
{
    uint64_t pos = r->read_pos;
    return ring_next_record(r, &pos) != NULL;
}

void ring_wait(struct ring *r, uint32_t timeout_ms)
{
    uint32_t how = r->idle ? RING_SLEEP_DEEP : RING_SLEEP_NAP;
    if (how == RING_SLEEP_NAP && timeout_ms > RING_NAP_MS)
        timeout_ms = RING_NAP_MS;
    atomic_store_explicit(&r->sleeping, how, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!ring_ready(r)) {
        struct timespec ts = {
            .tv_sec = timeout_ms / 1000u,
            .tv_nsec = (long)(timeout_ms % 1000u) * 1000000L,
        };
        /* Returns at once if a producer already reset the word. */
        syscall(SYS_futex, &r->sleeping, FUTEX_WAIT_PRIVATE, how, &ts, NULL, 0);
    }
    atomic_store_explicit(&r->sleeping, RING_AWAKE, memory_order_relaxed);
    r->idle = !ring_ready(r);
}

void ring_wake(struct ring *r)
{
    atomic_store_explicit(&r->sleeping, RING_AWAKE, memory_order_seq_cst);
    syscall(SYS_futex, &r->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
