/*
 * lc_map.c - linear probing with backward-shift deletion.
 *
 * Keys are mixed with the 64-bit finalizer of MurmurHash3 (fmix64) before
 * masking: snowflakes carry their entropy in the low bits only partly (the
 * worker and sequence fields are often zero), so the raw low bits of a burst
 * of ids collide badly.
 *
 * Deletion shifts later members of the probe run back into the hole (Knuth,
 * TAOCP vol. 3, 6.4, Algorithm R) instead of leaving tombstones, so lookups
 * stay short however long the map lives and however often keys come and go.
 */
#include "lc_map.h"

#include <errno.h>
#include <stdlib.h>

#define LC_MAP_MIN_SLOTS 16u

int lc_map_init(struct lc_map *m, uint32_t max_entries)
{
    *m = (struct lc_map){0};
    if (max_entries == 0 || max_entries > (1u << 30))
        return -EINVAL;
    m->max_slots = lc_map_max_slots(max_entries);
    m->max_entries = max_entries;
    return 0;
}

void lc_map_fini(struct lc_map *m)
{
    free(m->keys);
    free(m->values);
    *m = (struct lc_map){0};
}

/* Places key without checking for presence or load; the slot array must have
 * room. */
static void lc_map_place(uint64_t *keys, uint32_t *values, uint32_t n_slots, uint64_t key,
                         uint32_t value)
{
    uint32_t mask = n_slots - 1;
    uint32_t i = (uint32_t)lc_map_mix(key) & mask;
    while (keys[i] != 0)
        i = (i + 1) & mask;
    keys[i] = key;
    values[i] = value;
}

static int lc_map_grow(struct lc_map *m)
{
    int rc = 0;
    uint32_t n_slots = m->n_slots ? m->n_slots * 2 : LC_MAP_MIN_SLOTS;
    uint64_t *keys = calloc(n_slots, sizeof(*keys));
    uint32_t *values = calloc(n_slots, sizeof(*values));
    if (!keys || !values) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < m->n_slots; i++) {
        if (m->keys[i] != 0)
            lc_map_place(keys, values, n_slots, m->keys[i], m->values[i]);
    }
    /* Swap the new arrays in; the old ones are released below. */
    uint64_t *old_keys = m->keys;
    uint32_t *old_values = m->values;
    m->keys = keys;
    m->values = values;
    m->n_slots = n_slots;
    keys = old_keys;
    values = old_values;
out:
    free(keys);
    free(values);
    return rc;
}

static bool lc_map_find(const struct lc_map *m, uint64_t key, uint32_t *slot)
{
    if (m->n_slots == 0 || key == 0)
        return false;
    uint32_t mask = m->n_slots - 1;
    for (uint32_t i = (uint32_t)lc_map_mix(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) {
            *slot = i;
            return true;
        }
        if (m->keys[i] == 0)
            return false;
    }
}

int lc_map_put(struct lc_map *m, uint64_t key, uint32_t value)
{
    int rc = 0;
    uint32_t slot;
    if (key == 0) {
        rc = -EINVAL;
        goto out;
    }
    if (lc_map_find(m, key, &slot)) {
        m->values[slot] = value;
        goto out;
    }
    if (m->n_entries >= m->max_entries) {
        rc = -ENOSPC;
        goto out;
    }
    if (2 * (m->n_entries + 1) > m->n_slots && m->n_slots < m->max_slots) {
        rc = lc_map_grow(m);
        if (rc < 0)
            goto out;
    }
    lc_map_place(m->keys, m->values, m->n_slots, key, value);
    m->n_entries++;
out:
    return rc;
}

bool lc_map_get(const struct lc_map *m, uint64_t key, uint32_t *value)
{
    uint32_t slot;
    if (!lc_map_find(m, key, &slot))
        return false;
    if (value)
        *value = m->values[slot];
    return true;
}

bool lc_map_del(struct lc_map *m, uint64_t key)
{
    uint32_t hole;
    if (!lc_map_find(m, key, &hole))
        return false;
    uint32_t mask = m->n_slots - 1;
    /* Walk the rest of the run; a member whose home slot lies cyclically
     * outside (hole, i] can move back into the hole without becoming
     * unreachable. */
    for (uint32_t i = (hole + 1) & mask; m->keys[i] != 0; i = (i + 1) & mask) {
        uint32_t home = (uint32_t)lc_map_mix(m->keys[i]) & mask;
        bool home_in_gap = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (home_in_gap)
            continue;
        m->keys[hole] = m->keys[i];
        m->values[hole] = m->values[i];
        hole = i;
    }
    m->keys[hole] = 0;
    m->values[hole] = 0;
    m->n_entries--;
    return true;
}
