/*
 * lc_users.h - the users a bot's cache holds, counted once across guilds.
 *
 * discord.py's len(bot.users) and discord.js' client.users.cache.size count
 * each user once, however many guilds they share with the bot. This module
 * keeps the (guild id, user id) memberships the gateway announced
 * (GUILD_CREATE and GUILD_MEMBERS_CHUNK members, GUILD_MEMBER_ADD) minus
 * those it withdrew (GUILD_MEMBER_REMOVE, a GUILD_DELETE that is a removal),
 * and per user the number of guilds holding them. It keeps ids only, never
 * names.
 *
 * Bounds: at most max_pairs memberships, and as many users. A membership
 * past the cap is not kept and lc_users_add() says so (-ENOSPC): the caller
 * counts it, and the user count is then a lower bound. Memory grows with
 * use, to at most 32 bytes per membership and 24 per user at the cap.
 *
 * Threads: one owner (lc_gw, under its lock). Ownership: lc_users_init() /
 * lc_users_fini() on an embedded struct; fini accepts a zeroed or half-built
 * one. int functions return 0 or a negative errno.
 */
#ifndef ARGUS_LC_USERS_H
#define ARGUS_LC_USERS_H

#include <stdint.h>

#include "lc_map.h"

struct lc_users_pair {
    uint64_t guild, user; /* user 0: an empty slot */
};

struct lc_users {
    struct lc_users_pair *slots;
    uint32_t n_slots; /* a power of two, or 0 before the first insertion */
    uint32_t max_slots;
    uint32_t n_pairs;
    uint32_t max_pairs;
    struct lc_map refs; /* user id -> guilds holding the user */
};

/* 1 <= max_pairs <= 2^29. Allocates nothing yet. 0 or -EINVAL. */
int lc_users_init(struct lc_users *u, uint32_t max_pairs);
void lc_users_fini(struct lc_users *u);

/* Records that user is a member of guild (again: no change). 0, -EINVAL for
 * a zero id, -ENOSPC past the cap, -ENOMEM. */
int lc_users_add(struct lc_users *u, uint64_t guild, uint64_t user);

/* Forgets one membership, or every membership of guild (a scan of the
 * table: GUILD_DELETE is rare). */
void lc_users_remove(struct lc_users *u, uint64_t guild, uint64_t user);
void lc_users_remove_guild(struct lc_users *u, uint64_t guild);

/* Distinct users with at least one membership. */
static inline uint32_t lc_users_count(const struct lc_users *u)
{
    return lc_map_count(&u->refs);
}

static inline uint32_t lc_users_pairs(const struct lc_users *u)
{
    return u->n_pairs;
}

#endif
