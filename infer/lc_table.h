/*
 * lc_table.h - the open lifecycles: a fixed table of slots kept in opening
 * order, found by key and by token hash, and the keys of those that ended
 * lately.
 *
 * It owns the slots (struct lc_entry, lc_entry.h), allocated once at init
 * with the cap the caller gives (ARGUS_MAX_OPEN_LIFECYCLES), and two indexes
 * sized to the same cap: by key (the interaction id, or the prefix command's
 * message id; snowflakes never collide across the two) and by token hash
 * (interactions only: follow-ups and @original edits name the interaction by
 * its token, not its id). It also remembers the keys of the last
 * LC_TABLE_ENDED_KEYS lifecycles that ended, so that a dispatch replayed after
 * a RESUME opens nothing and a second reply answers no other command.
 *
 * Promises: lc_table_open() never evicts. When lc_table_full() says so, the
 * caller ends the oldest lifecycle first (lc_table_oldest()), because only the
 * caller knows whether that means an outcome or an eviction to count. Every
 * entry pointer stays valid until lc_table_close() of that entry.
 *
 * Threads: the decode thread only. Ownership: lc_table_init()/lc_table_fini()
 * on an embedded struct; fini accepts a zeroed or half-built table. int
 * functions return 0 or a negative errno.
 */
#ifndef ARGUS_LC_TABLE_H
#define ARGUS_LC_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lc_entry.h"
#include "lc_map.h"

#define LC_TABLE_ENDED_KEYS 256

struct lc_table {
    struct lc_entry *entries;
    uint32_t capacity;
    uint32_t n_used;     /* slots [0, n_used) have been handed out at least once */
    uint32_t head, tail; /* open list, oldest first */
    uint32_t free_head;  /* slots freed since, for reuse first */
    struct lc_map by_key;
    struct lc_map by_token;
    uint64_t ended_keys[LC_TABLE_ENDED_KEYS];
    unsigned ended_next;
    atomic_bool said_index_full;
};

/* capacity >= 1. Returns 0 or -ENOMEM. */
int lc_table_init(struct lc_table *t, uint32_t capacity);
void lc_table_fini(struct lc_table *t);

bool lc_table_full(const struct lc_table *t);

/* The open lifecycles in opening order: lc_table_oldest() is the first (NULL
 * when none is open), lc_table_next() the one opened after e (NULL after the
 * newest). To close entries while walking, take next before closing. */
struct lc_entry *lc_table_oldest(struct lc_table *t);
struct lc_entry *lc_table_next(struct lc_table *t, const struct lc_entry *e);

/* Opens the newest lifecycle for key (and token_hash, 0 for none) and returns
 * its slot, all zero but for key, token_hash and the list links. NULL when key
 * is 0 or already open, when the table is full, or when an index could not
 * grow (said once). A token hash already taken (a 64-bit collision) stays
 * with its older owner: the new entry is then found by key only. */
struct lc_entry *lc_table_open(struct lc_table *t, uint64_t key, uint64_t token_hash);

/* Ends e: its slot goes back to the table and its key joins the ended keys. */
void lc_table_close(struct lc_table *t, struct lc_entry *e);

/* Whether key is open or among the last LC_TABLE_ENDED_KEYS that ended. */
bool lc_table_seen(const struct lc_table *t, uint64_t key);

/* The open lifecycle of that kind with that key, or with that token hash;
 * NULL for 0 or none. */
struct lc_entry *lc_table_find(struct lc_table *t, uint64_t key, enum lc_kind kind);
struct lc_entry *lc_table_find_token(struct lc_table *t, uint64_t token_hash, enum lc_kind kind);

#endif
