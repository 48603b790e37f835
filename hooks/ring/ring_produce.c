/*
 * ring_produce.c - the producers' half of the capture ring (ring_impl.h has
 * the design): mapping the ring and pushing records. Runs on the bot's
 * threads: no lock, no allocation, and a syscall only to wake a sleeping
 * consumer.
 */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core_api.h"
#include "ring_impl.h"

struct ring *ring_create(size_t bytes, struct cap_stats *stats)
{
    uint64_t size = RING_MIN_BYTES;
    while (size < bytes && size < RING_MAX_BYTES)
        size <<= 1;

    size_t map_bytes = sizeof(struct ring) + size;
    /* MAP_NORESERVE: pages are committed as the ring is first filled, so a
     * bot with little traffic pays for what it uses, not for the ring size. */
    void *p = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct ring *r = p; /* the mapping is zero-filled: positions start at 0 */
    r->size = size;
    r->mask = size - 1;
    r->data_limit = size - size / 16;
    r->map_bytes = map_bytes;
    r->stats = stats;
    return r;
}

/* dropped_bytes counts the bot's traffic (DATA payloads) only. */
static void ring_count_drop(struct ring *r, uint8_t type, uint32_t len)
{
    if (r->stats == NULL)
        return;
    if (type == RING_DATA)
        atomic_fetch_add_explicit(&r->stats->dropped_bytes, len, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->stats->dropped_records, 1, memory_order_relaxed);
}

static void ring_wake_if_sleeping(struct ring *r)
{
    /* Pairs with the fence in ring_wait(): either the consumer sees our
     * commit on its re-check, or we see its announcement here. */
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t sleeping = atomic_load_explicit(&r->sleeping, memory_order_relaxed);
    if (sleeping == RING_AWAKE)
        return;
    if (sleeping == RING_SLEEP_NAP) {
        uint64_t used = atomic_load_explicit(&r->head, memory_order_relaxed) -
                        atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (used < r->size / 4)
            return;
    }
    if (atomic_exchange_explicit(&r->sleeping, RING_AWAKE, memory_order_acq_rel) != RING_AWAKE)
        syscall(SYS_futex, &r->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int ring_push(struct ring *r, uint64_t conn_id, uint8_t type, uint8_t dir, uint8_t flags,
              uint64_t t_ns, const void *data, uint32_t len)
{
    uint64_t total = ring_total(len);
    if (total > r->size || total > UINT32_MAX) {
        ring_count_drop(r, type, len);
        return -ENOSPC;
    }

    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t pad, start;
    for (;;) {
        uint64_t to_end = r->size - (h & r->mask);
        pad = to_end < total ? to_end : 0;
        start = h + pad;
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (start + total - tail > (type == RING_DATA ? r->data_limit : r->size)) {
            ring_count_drop(r, type, len);
            return -ENOSPC;
        }
        if (atomic_compare_exchange_weak_explicit(&r->head, &h, start + total, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }

    if (pad != 0) {
        /* A gap too small for a header is left unwritten: the consumer
         * recognises it by its size alone (see ring_next_record). */
        if (pad >= sizeof(struct ring_hdr)) {
            struct ring_hdr *ph = ring_hdr_at(r, h);
            ph->type = RING_TYPE_PAD;
            ph->total = (uint32_t)pad;
            ph->len = 0;
            atomic_store_explicit(&ph->commit, h | 1u, memory_order_release);
        }
    }

    struct ring_hdr *hdr = ring_hdr_at(r, start);
    hdr->conn_id = conn_id;
    hdr->t_ns = t_ns;
    hdr->len = len;
    hdr->total = (uint32_t)total;
    hdr->type = type;
    hdr->dir = dir;
    hdr->flags = flags;
    if (len != 0)
        memcpy(hdr + 1, data, len);
    atomic_store_explicit(&hdr->commit, start | 1u, memory_order_release);

    ring_wake_if_sleeping(r);
    return 0;
}
