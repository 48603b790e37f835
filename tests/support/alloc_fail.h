/*
 * alloc_fail.h - allocation-failure injection and freed-block inspection for
 * unit tests (style.md: every create path with the Nth allocation failing;
 * invariant 3: a buffer that held a secret is wiped before it is freed).
 *
 * A test executable that links alloc_fail_dep is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free: every call the
 * objects linked into it make (Argus' own code from the test archive, and the
 * test) passes here first and then goes on to whatever allocator the process
 * has, libc's or a sanitizer's. Replacing malloc itself cannot be combined
 * with ASan or TSan, which own it; this can, so the failure paths run under
 * every sanitizer. What shared libraries allocate inside themselves (libcurl,
 * zlib, zstd) is not seen: their own failure handling is theirs.
 *
 * Any thread may allocate while armed; the counters are atomic.
 */
#ifndef ARGUS_ALLOC_FAIL_H
#define ARGUS_ALLOC_FAIL_H

#include <stdbool.h>

/* n >= 1: the nth allocation from now (1: the next) returns NULL, once, and
 * the failure count restarts at 0. n <= 0 disarms. */
void alloc_fail_nth(long n);

/* Failures injected since the last alloc_fail_nth(). */
long alloc_failures(void);

/* While a secret is set, every block freed is searched for it, and realloc
 * always moves (so the block it gives up is searched too). NULL stops. */
void alloc_watch_frees(const char *secret);

/* Freed blocks that held the watched secret since alloc_watch_frees(). */
int alloc_freed_secret_blocks(void);

/* Blocks allocated since alloc_watch_frees() and not yet freed that hold the
 * watched secret now: a buffer that is reused rather than freed (invariant
 * 3: kept no longer than the parse needs). At most ALLOC_LIVE_MAX blocks are
 * tracked; past that it returns -1, so a test asserting 0 fails. */
#define ALLOC_LIVE_MAX 4096
int alloc_live_secret_blocks(void);

#endif
