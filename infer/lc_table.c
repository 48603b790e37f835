/*
 * lc_table.c - the open lifecycles (lc_table.h).
 *
 * One array of slots, allocated once with calloc and handed out in order, so
 * the untouched tail of a large table costs no resident memory. Open slots
 * form a doubly linked list in opening order (eviction takes the head, the
 * oldest); freed slots form a singly linked free list that is reused before
 * the untouched tail. The indexes map a key to a slot number, never to a
 * pointer, so nothing dangles when the list changes.
 *
 * The ended keys are a plain ring searched linearly: lc_table_seen() runs once
 * per opening candidate, and 256 compares are cheaper than a second map that
 * would need its own eviction.
 */
#include "lc_table.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

#define LC_TABLE_NONE UINT32_MAX

int lc_table_init(struct lc_table *t, uint32_t capacity)
{
    int rc = 0;
    *t = (struct lc_table){.capacity = capacity,
                           .head = LC_TABLE_NONE,
                           .tail = LC_TABLE_NONE,
                           .free_head = LC_TABLE_NONE};
    t->entries = calloc(capacity, sizeof(*t->entries));
    if (!t->entries || lc_map_init(&t->by_key, capacity) < 0 ||
        lc_map_init(&t->by_token, capacity) < 0)
        rc = -ENOMEM;
    return rc;
}

void lc_table_fini(struct lc_table *t)
{
    lc_map_fini(&t->by_token);
    lc_map_fini(&t->by_key);
    free(t->entries);
    t->entries = NULL;
}

bool lc_table_full(const struct lc_table *t)
{
    return t->free_head == LC_TABLE_NONE && t->n_used == t->capacity;
}

static struct lc_entry *lc_table_at(struct lc_table *t, uint32_t i)
{
    return i == LC_TABLE_NONE ? NULL : &t->entries[i];
}

struct lc_entry *lc_table_oldest(struct lc_table *t)
{
    return lc_table_at(t, t->head);
}

struct lc_entry *lc_table_next(struct lc_table *t, const struct lc_entry *e)
{
    return lc_table_at(t, e->next);
}

/* Puts key (and token_hash) into the indexes for slot i; on failure neither
 * holds it. */
static int lc_table_index(struct lc_table *t, uint64_t key, uint64_t token_hash, uint32_t i)
{
    int rc = lc_map_put(&t->by_key, key, i);
    if (rc == 0 && token_hash)
        rc = lc_map_put(&t->by_token, token_hash, i);
    if (rc < 0) {
        /* Only allocation can fail here: both maps are sized to the table. */
        lc_map_del(&t->by_key, key);
        argus_log_once(&t->said_index_full, ARGUS_LOG_WARN,
                       "%s: out of memory indexing lifecycles; some are not tracked", __func__);
    }
    return rc;
}

struct lc_entry *lc_table_open(struct lc_table *t, uint64_t key, uint64_t token_hash)
{
    struct lc_entry *e = NULL;
    if (key == 0 || lc_map_get(&t->by_key, key, NULL) || lc_table_full(t))
        goto out;
    if (token_hash && lc_map_get(&t->by_token, token_hash, NULL))
        token_hash = 0;
    uint32_t i = t->free_head != LC_TABLE_NONE ? t->free_head : t->n_used;
    if (lc_table_index(t, key, token_hash, i) < 0)
        goto out;
    e = &t->entries[i];
    if (i == t->free_head)
        t->free_head = e->next;
    else
        t->n_used++;
    *e = (struct lc_entry){
        .key = key, .token_hash = token_hash, .prev = t->tail, .next = LC_TABLE_NONE};
    if (t->tail != LC_TABLE_NONE)
        t->entries[t->tail].next = i;
    else
        t->head = i;
    t->tail = i;
out:
    return e;
}

static void lc_table_unlink(struct lc_table *t, struct lc_entry *e)
{
    if (e->prev != LC_TABLE_NONE)
        t->entries[e->prev].next = e->next;
    else
        t->head = e->next;
    if (e->next != LC_TABLE_NONE)
        t->entries[e->next].prev = e->prev;
    else
        t->tail = e->prev;
}

void lc_table_close(struct lc_table *t, struct lc_entry *e)
{
    t->ended_keys[t->ended_next] = e->key;
    t->ended_next = (t->ended_next + 1) % LC_TABLE_ENDED_KEYS;
    lc_table_unlink(t, e);
    lc_map_del(&t->by_key, e->key);
    if (e->token_hash)
        lc_map_del(&t->by_token, e->token_hash);
    e->key = 0;
    e->next = t->free_head;
    t->free_head = (uint32_t)(e - t->entries);
}

bool lc_table_seen(const struct lc_table *t, uint64_t key)
{
    if (key == 0)
        return false; /* "none", and what the ring holds before it fills */
    if (lc_map_get(&t->by_key, key, NULL))
        return true;
    for (unsigned i = 0; i < LC_TABLE_ENDED_KEYS; i++) {
        if (t->ended_keys[i] == key)
            return true;
    }
    return false;
}

static struct lc_entry *lc_table_lookup(struct lc_table *t, const struct lc_map *map, uint64_t key,
                                        enum lc_kind kind)
{
    uint32_t i;
    if (!key || !lc_map_get(map, key, &i))
        return NULL;
    return t->entries[i].kind == kind ? &t->entries[i] : NULL;
}

struct lc_entry *lc_table_find(struct lc_table *t, uint64_t key, enum lc_kind kind)
{
    return lc_table_lookup(t, &t->by_key, key, kind);
}

struct lc_entry *lc_table_find_token(struct lc_table *t, uint64_t token_hash, enum lc_kind kind)
{
    return lc_table_lookup(t, &t->by_token, token_hash, kind);
}
