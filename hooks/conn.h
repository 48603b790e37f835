/*
 * conn.h - the connection table: what Argus knows about each SSL*.
 *
 * One entry per SSL object the hooks have classified, keyed by the SSL*
 * pointer: ignored (not Discord, costs one lookup per call from then on) or
 * captured (a Discord connection with a process-unique conn_id, and a broken
 * flag set when the ring dropped one of its records). The table is one
 * anonymous mapping sized at creation for max_connections live entries; it
 * never grows and never allocates afterwards.
 *
 * Threads: any bot thread may find, insert, update and remove, without locks.
 * OpenSSL forbids using one SSL object from two threads at once, so an entry
 * is only ever written by the thread using its SSL* or by another thread
 * evicting it; the state word is read and changed with atomics so an eviction
 * racing with the owner is detected rather than torn.
 *
 * Bounds: when max_connections entries are live, or an entry's probe window is
 * full, an insert evicts one entry of that window (an ignored one first), counts
 * it in stats->connections_evicted and hands its state back so the caller can
 * close a captured stream. A forked child abandons its parent's table (never
 * unmaps it) and creates its own.
 */
#ifndef ARGUS_CONN_H
#define ARGUS_CONN_H

#include <stdatomic.h>
#include <stdint.h>

struct cap_stats;
struct conn_table;
struct conn_slot;

/* The state word of an entry: flags in the low 8 bits, conn_id above. A word
 * of 0 means "no entry". */
#define CONN_F_IGNORED 0x1u
#define CONN_F_CAPTURED 0x2u
#define CONN_F_BROKEN 0x4u    /* the ring dropped a record; the next one carries RING_F_GAP */
#define CONN_F_NEED_OPEN 0x8u /* its RING_OPEN was dropped: send it before the next record */
#define CONN_ID_SHIFT 8
#define CONN_WORD(conn_id, flags) (((uint64_t)(conn_id) << CONN_ID_SHIFT) | (flags))
#define CONN_WORD_ID(word) ((word) >> CONN_ID_SHIFT)

/* Maps a table for max_connections live entries (at least 8). Returns NULL if
 * mmap fails. */
struct conn_table *conn_table_create(uint32_t max_connections, struct cap_stats *stats);

/* Returns a fresh conn_id, unique for the table's (the process') life, never 0. */
uint64_t conn_next_id(struct conn_table *t);

/* Finds ssl: returns its slot and stores its state word in *word, or returns
 * NULL (and *word = 0) if ssl has no entry. Lock-free, no syscall. */
struct conn_slot *conn_find(struct conn_table *t, const void *ssl, uint64_t *word);

/* Adds ssl with the given state word (non-zero). If that needed an eviction,
 * *evicted receives the evicted entry's word (else 0). Returns 0, or -EBUSY
 * when concurrent inserts kept taking every candidate slot (nothing stored;
 * the caller simply classifies again next time). */
int conn_insert(struct conn_table *t, const void *ssl, uint64_t word, uint64_t *evicted);

/* Replaces the state word of a slot returned by conn_find, if it still holds
 * `expected` (it does not if the entry was evicted meanwhile). Returns 0 or
 * -ESTALE. */
int conn_update(struct conn_slot *slot, uint64_t expected, uint64_t word);

/* Removes ssl (SSL_free). Returns the removed entry's word, or 0 if none. */
uint64_t conn_remove(struct conn_table *t, const void *ssl);

#endif
