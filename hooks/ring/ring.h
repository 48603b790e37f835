/*
 * ring.h - the capture ring: bot threads produce, the decode thread consumes.
 *
 * A fixed-size byte ring of variable-length records, mapped once per process
 * (ARGUS_RING_BYTES). Any bot thread may push; a push never blocks, never
 * allocates and makes no syscall, except one futex wake when the consumer
 * has announced it is asleep. When a record does not fit, the push drops it,
 * counts it (a DATA record's payload in stats->dropped_bytes, every record
 * in stats->dropped_records) and returns -ENOSPC; the caller then
 * marks the connection broken (the next record of that connection carries
 * RING_F_GAP), because a compressed gateway stream cannot resume mid-way.
 * DATA records may not take the last sixteenth of the ring, which is kept
 * for OPEN and CLOSE: a data burst never costs the decoder a connection's
 * open or close.
 *
 * Only the decode thread pops. Records come out in the order their space was
 * reserved; a record whose producer has reserved but not yet committed holds
 * back the ones after it (the producer is in a bounded memcpy). A popped
 * record's bytes stay valid until ring_release() of that record, which wipes
 * them.
 */
#ifndef ARGUS_RING_H
#define ARGUS_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring;
struct cap_stats;

enum ring_type {
    RING_DATA = 0,  /* plaintext bytes of one successful SSL_read/SSL_write */
    RING_OPEN = 1,  /* a connection was classified as Discord; data = host name */
    RING_CLOSE = 2, /* SSL_free on a captured connection; no data */
};

enum ring_dir {
    RING_DIR_READ = 0,  /* bytes the bot read (server -> bot) */
    RING_DIR_WRITE = 1, /* bytes the bot wrote (bot -> server) */
};

#define RING_F_GAP 0x1u /* records of this connection were dropped before this one */

struct ring_record {
    uint64_t conn_id; /* unique per connection for the process' life */
    uint64_t t_ns;    /* CLOCK_MONOTONIC at capture */
    uint8_t type;     /* enum ring_type */
    uint8_t dir;      /* enum ring_dir (RING_DATA only) */
    uint8_t flags;    /* RING_F_* */
    uint32_t len;
    const uint8_t *data; /* len bytes, owned by the ring until ring_release() */
};

/* Maps a ring of `bytes` (rounded up to a power of two, at least 64 KiB).
 * Returns NULL if mmap fails. Called once per process (and again in a forked
 * child, which abandons the parent's ring). */
struct ring *ring_create(size_t bytes, struct cap_stats *stats);

/* Any thread (ring_produce.c, in the preload). 0 on success, -ENOSPC when
 * dropped (counted). */
int ring_push(struct ring *r, uint64_t conn_id, uint8_t type, uint8_t dir, uint8_t flags,
              uint64_t t_ns, const void *data, uint32_t len);

/* The functions below are ring_consume.c, in the core. */

/* Decode thread only. Returns 1 and fills *rec, or 0 when nothing is ready. */
int ring_pop(struct ring *r, struct ring_record *rec);
void ring_release(struct ring *r, const struct ring_record *rec);

/* Decode thread only: sleeps until a record is pushed, ring_wake() is called,
 * or timeout_ms passes. Returns at once if records are ready. Right after
 * work it only naps (at most 10 ms, woken early only if the ring is a
 * quarter full), so steady traffic costs producers no wake syscall; once a
 * nap finds nothing, the next push wakes it at once. Records keep their
 * capture time, so the nap delays decoding, never a measurement. */
void ring_wait(struct ring *r, uint32_t timeout_ms);

/* Any thread: wakes a sleeping consumer (used at exit). */
void ring_wake(struct ring *r);

#endif
