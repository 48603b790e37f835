/*
 * lc_map.h - a bounded hash map from non-zero 64-bit keys to 32-bit values.
 *
 * The lifecycle tracker finds open lifecycles by interaction id, by token
 * hash and by message id, and keeps the set of guild ids; all of them are
 * 64-bit keys that are already well spread (snowflakes, SipHash outputs) or
 * cheap to mix. This map is open addressing with linear probing and
 * backward-shift deletion (no tombstones, so a long-lived map never degrades).
 *
 * It promises a cap: it holds at most max_entries keys, set at init, and an
 * insertion beyond that fails with -ENOSPC (the caller decides what to evict
 * and counts it). The slot array starts small and doubles while the load
 * exceeds one half, up to the power of two that keeps max_entries at half
 * load, so a map that is never filled never touches its worst-case memory.
 *
 * Key 0 is reserved (the events use 0 for "none") and is never stored.
 * Threads: a map belongs to one thread (or to the caller's lock). Ownership:
 * lc_map_init()/lc_map_fini() on an embedded struct; fini accepts a zeroed or
 * half-built map. int functions return 0 or a negative errno.
 */
#ifndef ARGUS_LC_MAP_H
#define ARGUS_LC_MAP_H

#include <stdbool.h>
#include <stdint.h>

/* The tables' one hash (and lc_users.c's): a 64-bit finaliser, so
 * sequential ids and snowflakes spread over every bit. */
static inline uint64_t lc_map_mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* The most slots an open-addressing table of max_entries may grow to: the
 * first power of two of at least 16 and twice the entries (load <= 1/2). */
static inline uint32_t lc_map_max_slots(uint32_t max_entries)
{
    uint32_t slots = 16;
    while (slots < 2 * max_entries)
        slots *= 2;
    return slots;
}

struct lc_map {
    uint64_t *keys;   /* 0 = empty slot */
    uint32_t *values; /* parallel to keys */
    uint32_t n_slots; /* a power of two, or 0 before the first insertion */
    uint32_t max_slots;
    uint32_t n_entries;
    uint32_t max_entries;
};

/* max_entries >= 1. Allocates nothing yet. Returns 0 or -EINVAL. */
int lc_map_init(struct lc_map *m, uint32_t max_entries);
void lc_map_fini(struct lc_map *m);

/* Inserts key or overwrites its value. Returns 0, -EINVAL for key 0, -ENOSPC
 * when the map holds max_entries keys, -ENOMEM when growing failed. */
int lc_map_put(struct lc_map *m, uint64_t key, uint32_t value);

/* Returns true and sets *value (when value is not NULL) if key is present. */
bool lc_map_get(const struct lc_map *m, uint64_t key, uint32_t *value);

/* Removes key; returns true if it was present. */
bool lc_map_del(struct lc_map *m, uint64_t key);

static inline uint32_t lc_map_count(const struct lc_map *m)
{
    return m->n_entries;
}

#endif
