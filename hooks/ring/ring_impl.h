/*
 * ring_impl.h - the capture ring's layout, shared by its two halves:
 * ring_produce.c (create and push; linked into the preload, where the bot's
 * threads push) and ring_consume.c (pop, release, wait, wake; linked into the
 * core, whose decode thread is the only consumer). See ring.h for the
 * contract.
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
 * Reserve. DATA records may fill the ring only up to size - size/16; the
 * rest is kept for OPEN and CLOSE records (a few dozen bytes each). When a
 * burst of data overflows the ring, the bytes are dropped and counted as
 * always, but the decoder still learns of every connection that opens and
 * closes meanwhile, so its table stays right. A 4 MiB ring keeps 256 KiB,
 * room for about 5,000 control records in a ring full of data.
 *
 * Rejected: a lock (a bot thread could block behind a preempted holder); a
 * double-mapped area (two mmaps and a memfd per process just to let records
 * wrap); per-thread SPSC rings (merging them would lose the cross-thread order
 * a connection shared by threads relies on).
 */
#ifndef ARGUS_RING_IMPL_H
#define ARGUS_RING_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

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
    uint64_t data_limit; /* DATA may fill the ring up to here: see below */
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

#endif
