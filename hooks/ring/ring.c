/*
 * ring.c - the capture ring (see ring.h for the contract).
 *
 * DESIGN
 *
 * One anonymous mapping holds the control block and a power-of-two byte area.
 * Three 64-bit positions only ever grow (they never wrap; at 10 GB/s they
 * would take 58 years to overflow):
 *
 *   head      next byte to reserve       (producers, CAS)
 *   read_pos  next record to pop         (consumer only)
 *   tail      first byte still in use    (consumer stores, producers load)
 *
 * A producer reserves [h, h + total) with one CAS on head, after checking
 * that h + total - tail <= size. A record never straddles the end of the
 * area: if it would, the producer reserves the rest of the area as well and
 * writes a PAD record there, so the consumer always reads a record from one
 * contiguous span and hands the bot's bytes out as a plain pointer.
 *
 * Commit without a per-slot reset. Each record starts with a 64-bit commit
 * word, stored last (release) as (position of the record | 1). Positions are
 * 8-byte aligned and unique for the life of the ring, so stale bytes left by
 * an earlier lap can never look committed at the current position, and the
 * consumer never has to clear what it released. A record that is reserved
 * but not committed holds back the ones after it; its producer is in a
 * bounded memcpy.
 *
 * Sleeping. The consumer announces sleep by storing a non-zero `sleeping`,
 * then re-checks the next record (seq_cst on both sides: the classic
 * store/load handshake), then futex-waits on `sleeping`. A producer, after
 * committing, loads `sleeping`; only when it must wake the consumer does it
 * exchange it to 0 and make the one futex wake. There are two ways to sleep:
 *
 *   RING_SLEEP_NAP   the consumer found the ring empty right after work. It
 *                    naps RING_NAP_MS and producers leave it alone unless
 *                    the ring is a quarter full. During steady traffic the
 *                    consumer thus polls every few milliseconds and the bot's
 *                    threads make no syscall at all (a wake per record was
 *                    measured at about 2 us per captured call on this VM).
 *   RING_SLEEP_DEEP  a nap ended with the ring still empty: the bot is idle.
 *                    The next push wakes it at once.
 *
 * Records carry their capture time, so the few milliseconds a nap adds to
 * decoding latency change no measurement.
 *
 * Size. ARGUS_RING_BYTES defaults to 4 MiB. What a Discord bot pushes is
 * still compressed (zlib-stream or zstd-stream gateway traffic is inflated on
 * the decode thread, after the ring), and its worst burst is the READY +
 * GUILD_CREATE storm of a shard: about 2500 guilds, tens of MiB of JSON,
 * roughly a tenth of that on the wire, spread over seconds. 4 MiB holds that
 * burst's wire bytes even if the decode thread is descheduled for a while,
 * costs a 16 KiB write only a fraction of the ring, and is resident only
 * once traffic has cycled through it (MAP_NORESERVE, touched on first use).
 * Smaller rings (64 KiB is the minimum) work and simply drop more.
 *
 * Rejected: a lock (a bot thread could block behind a preempted holder); a
 * double-mapped area (two mmaps and a memfd per process just to let records
 * wrap); per-thread SPSC rings (merging them would lose the cross-thread order
 * a connection shared by threads relies on).
 */
#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core_api.h"

#define RING_MIN_BYTES (64u * 1024u)
#define RING_MAX_BYTES (1ull << 32)
#define RING_ALIGN 8u
#define RING_TYPE_PAD 0xffu /* fills the end of the area before a wrap */
#define RING_NAP_MS 10u

enum ring_sleep {
    RING_AWAKE = 0,
    RING_SLEEP_NAP = 1,
    RING_SLEEP_DEEP = 2,
};

/* Keeps producers' head and the consumer's fields on separate cache lines. */
#define RING_CACHELINE 64

struct ring_hdr {
    _Atomic uint64_t commit; /* (position | 1) once the record is complete */
    uint64_t conn_id;
    uint64_t t_ns;
    uint32_t len;   /* payload bytes */
    uint32_t total; /* bytes this record occupies, header included, aligned */
    uint8_t type;
    uint8_t dir;
    uint8_t flags;
    uint8_t unused[5];
};

struct ring {
    /* Written by producers. */
    _Alignas(RING_CACHELINE) _Atomic uint64_t head;
    /* Written by the consumer, read by producers. */
    _Alignas(RING_CACHELINE) _Atomic uint64_t tail;
    _Atomic uint32_t sleeping; /* futex word: enum ring_sleep */
    /* Consumer only. */
    _Alignas(RING_CACHELINE) uint64_t read_pos;
    bool idle; /* the last nap found nothing: the next sleep is deep */
    /* Immutable after ring_create. */
    _Alignas(RING_CACHELINE) uint64_t size;
    uint64_t mask;
    size_t map_bytes;
    struct cap_stats *stats;
    _Alignas(RING_CACHELINE) uint8_t area[];
};

/* 64-bit: with the largest ring (4 GiB) a payload just under 4 GiB passes
 * len <= size, and its header carries the size past what the record's
 * 32-bit total can hold; ring_push refuses such a record. */
static inline uint64_t ring_total(uint32_t len)
{
    return (sizeof(struct ring_hdr) + (uint64_t)len + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

static inline struct ring_hdr *ring_hdr_at(struct ring *r, uint64_t pos)
{
    return (struct ring_hdr *)(void *)(r->area + (pos & r->mask));
}

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
        if (start + total - tail > r->size) {
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
