/*
 * lc_users.c - memberships in an open-addressing table, users by refcount.
 *
 * The membership table is what makes a GUILD_DELETE or a GUILD_MEMBER_REMOVE
 * exact: a user leaves the count only when the last guild holding them lets
 * go. A per-user refcount alone could not say which users a deleted guild
 * held, and a per-guild list would allocate per guild. Linear probing with
 * backward-shift deletion (as lc_map.c, Knuth's Algorithm R), so removing a
 * whole guild by a scan needs no tombstones: after a deletion at i, slot i
 * is examined again, since the shift may have moved a later member there.
 *
 * Rejected: an approximate distinct counter (HyperLogLog). It cannot forget
 * a user who left, and the gauge must go down when members leave.
 */
#include "lc_users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define LC_USERS_MIN_SLOTS 16u

static uint64_t lc_users_mix(uint64_t guild, uint64_t user)
{
    return lc_map_mix(guild * 0x9e3779b97f4a7c15ull ^ user);
}

int lc_users_init(struct lc_users *u, uint32_t max_pairs)
{
    *u = (struct lc_users){0};
    if (max_pairs == 0 || max_pairs > (1u << 29))
        return -EINVAL;
    u->max_slots = lc_map_max_slots(max_pairs);
    u->max_pairs = max_pairs;
    return lc_map_init(&u->refs, max_pairs);
}

void lc_users_fini(struct lc_users *u)
{
    free(u->slots);
    lc_map_fini(&u->refs);
    *u = (struct lc_users){0};
}

/* The slot holding (guild, user), or the empty slot where it would go. */
static uint32_t lc_users_find(const struct lc_users_pair *slots, uint32_t n_slots, uint64_t guild,
                              uint64_t user)
{
    uint32_t mask = n_slots - 1;
    uint32_t i = (uint32_t)lc_users_mix(guild, user) & mask;
    while (slots[i].user != 0 && !(slots[i].guild == guild && slots[i].user == user))
        i = (i + 1) & mask;
    return i;
}

static int lc_users_grow(struct lc_users *u)
{
    uint32_t n_slots = u->n_slots ? u->n_slots * 2 : LC_USERS_MIN_SLOTS;
    struct lc_users_pair *slots = calloc(n_slots, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < u->n_slots; i++) {
        const struct lc_users_pair *p = &u->slots[i];
        if (p->user != 0)
            slots[lc_users_find(slots, n_slots, p->guild, p->user)] = *p;
    }
    free(u->slots);
    u->slots = slots;
    u->n_slots = n_slots;
    return 0;
}

/* Takes one reference off user, who leaves the count at zero. */
static void lc_users_unref(struct lc_users *u, uint64_t user)
{
    uint32_t n = 0;
    if (!lc_map_get(&u->refs, user, &n))
        return;
    if (n <= 1)
        lc_map_del(&u->refs, user);
    else
        lc_map_put(&u->refs, user, n - 1);
}

int lc_users_add(struct lc_users *u, uint64_t guild, uint64_t user)
{
    int rc = 0;
    uint32_t refs = 0;
    if (guild == 0 || user == 0) {
        rc = -EINVAL;
        goto out;
    }
    if (u->n_slots > 0 && u->slots[lc_users_find(u->slots, u->n_slots, guild, user)].user != 0)
        goto out;
    if (u->n_pairs == u->max_pairs) {
        rc = -ENOSPC;
        goto out;
    }
    if ((u->n_pairs + 1) * 2 > u->n_slots && u->n_slots < u->max_slots &&
        (rc = lc_users_grow(u)) < 0)
        goto out;
    /* A new user needs room in refs too; refs holds at most max_pairs users,
     * one per membership, so it cannot be fuller than the table. */
    lc_map_get(&u->refs, user, &refs);
    if ((rc = lc_map_put(&u->refs, user, refs + 1)) < 0)
        goto out;
    u->slots[lc_users_find(u->slots, u->n_slots, guild, user)] =
        (struct lc_users_pair){.guild = guild, .user = user};
    u->n_pairs++;
out:
    return rc;
}

/* Empties slot i and shifts the rest of its probe run back. */
static void lc_users_delete_at(struct lc_users *u, uint32_t i)
{
    uint32_t mask = u->n_slots - 1;
    uint32_t hole = i;
    lc_users_unref(u, u->slots[i].user);
    u->slots[i] = (struct lc_users_pair){0};
    u->n_pairs--;
    for (uint32_t j = (hole + 1) & mask; u->slots[j].user != 0; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)lc_users_mix(u->slots[j].guild, u->slots[j].user) & mask;
        /* j may move into the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        u->slots[hole] = u->slots[j];
        u->slots[j] = (struct lc_users_pair){0};
        hole = j;
    }
}

void lc_users_remove(struct lc_users *u, uint64_t guild, uint64_t user)
{
    if (u->n_slots == 0 || user == 0)
        return;
    uint32_t i = lc_users_find(u->slots, u->n_slots, guild, user);
    if (u->slots[i].user != 0)
        lc_users_delete_at(u, i);
}

void lc_users_remove_guild(struct lc_users *u, uint64_t guild)
{
    for (uint32_t i = 0; i < u->n_slots; i++) {
        while (u->slots[i].user != 0 && u->slots[i].guild == guild)
            lc_users_delete_at(u, i);
    }
}
