/*
 * arena.h - a grow-only allocator for objects that die together.
 *
 * A registry snapshot and an OTLP message graph are built from many small
 * allocations and freed all at once; an arena makes that one free and keeps
 * the failure handling in one place. Not thread-safe: one arena belongs to one
 * thread at a time. arena_alloc() returns max_align_t-aligned memory, or NULL
 * when malloc fails (the arena stays usable and arena_fini() frees what was
 * allocated before). Blocks are ARENA_BLOCK bytes unless a request is larger.
 */
#ifndef ARGUS_ARENA_H
#define ARGUS_ARENA_H

#include <stddef.h>

#define ARENA_BLOCK 65536u

struct arena_block;

struct arena {
    struct arena_block *blocks;
};

static inline void arena_init(struct arena *a)
{
    a->blocks = NULL;
}
void arena_fini(struct arena *a);

void *arena_alloc(struct arena *a, size_t size); /* uninitialized */
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

#endif
