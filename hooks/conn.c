/*
 * conn.c - the connection table (see conn.h for the contract).
 *
 * DESIGN
 *
 * Open addressing over 2 x max_connections slots (a power of two), each slot
 * a key (the SSL* pointer) and a state word, both atomic. An SSL* may only
 * live in the CONN_WINDOW slots starting at its hash, so a lookup reads at
 * most that many slots, whatever the history of the table: no tombstones, no
 * unbounded probe chains, deletion is storing 0. With the table at most half
 * full the window is rarely crowded; when it is, the insert evicts.
 *
 * A slot changes hands in three steps, each visible to readers: CAS key from
 * its current value to CONN_KEY_BUSY (claims it; a racing insert or remove of
 * the old key loses its CAS), store the new word, store the new key
 * (release). A reader that matched the key loads the word and checks the key
 * again, so it never returns a word that belonged to another SSL*.
 *
 * Rejected: a lock (the hooks must never block), and chaining (allocates).
 */
#include "conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "core_api.h"

#define CONN_WINDOW 8u
#define CONN_KEY_BUSY ((uintptr_t)1) /* being rewritten; no SSL* is odd */
#define CONN_INSERT_ATTEMPTS 4

struct conn_slot {
    _Atomic uintptr_t key;
    _Atomic uint64_t word;
};

struct conn_table {
    _Atomic uint64_t next_id;
    _Atomic uint32_t live;
    uint32_t max_live;
    uint64_t mask;
    size_t map_bytes;
    struct cap_stats *stats;
    struct conn_slot slots[];
};

struct conn_table *conn_table_create(uint32_t max_connections, struct cap_stats *stats)
{
    if (max_connections < CONN_WINDOW)
        max_connections = CONN_WINDOW;
    uint64_t n = CONN_WINDOW;
    while (n < 2ull * max_connections)
        n <<= 1;
    size_t map_bytes = sizeof(struct conn_table) + n * sizeof(struct conn_slot);
    void *p = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct conn_table *t = p; /* zero-filled: every slot empty, ids start at 1 */
    t->max_live = max_connections;
    t->mask = n - 1;
    t->map_bytes = map_bytes;
    t->stats = stats;
    return t;
}

uint64_t conn_next_id(struct conn_table *t)
{
    return atomic_fetch_add_explicit(&t->next_id, 1, memory_order_relaxed) + 1;
}

static inline uint64_t conn_hash(const struct conn_table *t, uintptr_t key)
{
    /* SSL objects are heap blocks: the low 4 bits carry no information. */
    return ((key >> 4) * 0x9E3779B97F4A7C15ull) >> 20 & t->mask;
}

static inline struct conn_slot *conn_slot_at(struct conn_table *t, uint64_t base, unsigned i)
{
    return &t->slots[(base + i) & t->mask];
}

struct conn_slot *conn_find(struct conn_table *t, const void *ssl, uint64_t *word)
{
    uintptr_t key = (uintptr_t)ssl;
    uint64_t base = conn_hash(t, key);
    for (unsigned i = 0; i < CONN_WINDOW; i++) {
        struct conn_slot *s = conn_slot_at(t, base, i);
        if (atomic_load_explicit(&s->key, memory_order_acquire) != key)
            continue;
        uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
        if (atomic_load_explicit(&s->key, memory_order_acquire) != key)
            break; /* evicted under us: treat as absent */
        *word = w;
        return s;
    }
    *word = 0;
    return NULL;
}

/* Claims slot s, which held `old_key`, for key/word, and stores in *old_word
 * the word it replaced. Returns false if another thread changed the slot
 * first. The old word is exchanged, not taken from an earlier load: the
 * owner of an evicted entry may have changed it (cleared CONN_F_NEED_OPEN
 * after pushing its OPEN) until the claim, and whether a CLOSE is owed
 * depends on the word as it was at the eviction. */
static bool conn_claim(struct conn_slot *s, uintptr_t old_key, uintptr_t key, uint64_t word,
                       uint64_t *old_word)
{
    if (!atomic_compare_exchange_strong_explicit(&s->key, &old_key, CONN_KEY_BUSY,
                                                 memory_order_acquire, memory_order_relaxed))
        return false;
    *old_word = atomic_exchange_explicit(&s->word, word, memory_order_acq_rel);
    atomic_store_explicit(&s->key, key, memory_order_release);
    return true;
}

/* Picks the slot of the window to evict: an ignored entry if there is one
 * (losing it only costs a re-classification), else the first live one. */
static struct conn_slot *conn_victim(struct conn_table *t, uint64_t base, uintptr_t *victim_key)
{
    struct conn_slot *victim = NULL;
    for (unsigned i = 0; i < CONN_WINDOW; i++) {
        struct conn_slot *s = conn_slot_at(t, base, i);
        uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == 0 || k == CONN_KEY_BUSY)
            continue;
        uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
        if (victim == NULL || (w & CONN_F_IGNORED) != 0) {
            victim = s;
            *victim_key = k;
            if ((w & CONN_F_IGNORED) != 0)
                break;
        }
    }
    return victim;
}

int conn_insert(struct conn_table *t, const void *ssl, uint64_t word, uint64_t *evicted)
{
    uintptr_t key = (uintptr_t)ssl;
    uint64_t base = conn_hash(t, key);
    *evicted = 0;

    for (int attempt = 0; attempt < CONN_INSERT_ATTEMPTS; attempt++) {
        bool full = atomic_load_explicit(&t->live, memory_order_relaxed) >= t->max_live;
        if (!full) {
            for (unsigned i = 0; i < CONN_WINDOW; i++) {
                struct conn_slot *s = conn_slot_at(t, base, i);
                uint64_t stale_word;
                if (atomic_load_explicit(&s->key, memory_order_relaxed) == 0 &&
                    conn_claim(s, 0, key, word, &stale_word)) {
                    atomic_fetch_add_explicit(&t->live, 1, memory_order_relaxed);
                    return 0;
                }
            }
        }
        uintptr_t victim_key = 0;
        struct conn_slot *victim = conn_victim(t, base, &victim_key);
        if (victim != NULL && conn_claim(victim, victim_key, key, word, evicted)) {
            if (t->stats != NULL)
                atomic_fetch_add_explicit(&t->stats->connections_evicted, 1, memory_order_relaxed);
            return 0;
        }
    }
    return -EBUSY;
}

int conn_update(struct conn_slot *slot, uint64_t expected, uint64_t word)
{
    if (atomic_compare_exchange_strong_explicit(&slot->word, &expected, word, memory_order_release,
                                                memory_order_relaxed))
        return 0;
    return -ESTALE;
}

uint64_t conn_remove(struct conn_table *t, const void *ssl)
{
    uint64_t word = 0;
    struct conn_slot *s = conn_find(t, ssl, &word);
    if (s == NULL)
        return 0;
    uintptr_t key = (uintptr_t)ssl;
    if (!atomic_compare_exchange_strong_explicit(&s->key, &key, 0, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0; /* evicted meanwhile: the evictor accounted for it */
    atomic_fetch_sub_explicit(&t->live, 1, memory_order_relaxed);
    return word;
}
