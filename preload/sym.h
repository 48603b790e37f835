/*
 * sym.h - the real OpenSSL functions behind the hooks, per calling object.
 *
 * A process may hold more than one libssl: the system one (the primary, the
 * one Argus captures from) and renamed private copies bundled by Python
 * wheels (auditwheel's libssl-<hash>.so.3). Our unversioned SSL_read
 * intercepts the callers of every copy, and handing one copy's SSL* to
 * another copy would crash the bot. So each hook asks sym_for_caller() with
 * its return address which library that call site is bound to:
 *
 *   - the calling object is found with dladdr1(); a handle on it is asked for
 *     SSL_read (dlsym on a handle searches that object's own dependency tree,
 *     not the global scope, so it lands on the libssl the caller linked);
 *   - the main program, a caller whose tree has no libssl, and any answer
 *     that is our own hook fall back to the primary;
 *   - the primary is found lazily: dlsym(RTLD_NEXT), else the libssl that is
 *     loaded under a known soname (dlopen(..., RTLD_NOLOAD): CPython loads
 *     libssl RTLD_LOCAL through _ssl, where RTLD_NEXT sees nothing).
 *
 * The answer is cached per call site in a fixed, lock-free table, so the hot
 * path is a hash and one or two loads. Only the first call from each site
 * takes the slow path (dladdr1/dlopen/dlsym: the dynamic loader's lock, once
 * per call site, never again).
 *
 * Threads: any. Ownership: the libraries are static and live as long as the
 * process; fork keeps them valid (same address space).
 */
#ifndef ARGUS_SYM_H
#define ARGUS_SYM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYM_MAX_LIBS 8    /* distinct libssl copies; calls bound to a ninth fail (ENOSYS) */
#define SYM_SITES 512     /* cached call sites (power of two) */
#define SYM_SITE_PROBES 8 /* slots looked at per lookup */
#define SYM_PATH_MAX 256

/* One libssl. Function pointers are NULL when that library lacks the symbol
 * (e.g. SSL_read_ex before OpenSSL 1.1.1). */
struct sym_ssl {
    int (*read)(void *ssl, void *buf, int num);
    int (*read_ex)(void *ssl, void *buf, size_t num, size_t *readbytes);
    int (*write)(void *ssl, const void *buf, int num);
    int (*write_ex)(void *ssl, const void *buf, size_t num, size_t *written);
    void (*free)(void *ssl);
    const char *(*get_servername)(const void *ssl, int type);
    int (*is_server)(const void *ssl);
    bool primary; /* captured: the system libssl, or an OpenSSL patched into an object (patch.h) */
    const void *base;
    char path[SYM_PATH_MAX];
};

/* A cached call site: the return address in the low 56 bits (user-space
 * addresses fit in 47 bits on x86-64, 48 or 52 on arm64; the hooks pass
 * __builtin_return_address(0), which on arm64 is the address with any
 * pointer-authentication code stripped) and the library index + 1 in the top
 * 8. Written once. */
#define SYM_SITE_ADDR_MASK ((UINT64_C(1) << 56) - 1)
#define SYM_SITE_LIB_SHIFT 56

__attribute__((visibility("hidden"))) extern _Atomic uint64_t sym_sites[SYM_SITES];
__attribute__((visibility("hidden"))) extern struct sym_ssl sym_libs[SYM_MAX_LIBS];

/* Slow path: resolves and caches the library for this call site. Returns
 * NULL if no libssl can be found at all, or if the site needs a copy not
 * seen before while the resolution lock stays taken (sym.c). */
const struct sym_ssl *sym_resolve_site(const void *ret_addr);

/* The library the code at ret_addr is bound to (see above), or NULL if none
 * can be found (the hook then fails the call cleanly and counts it). */
static inline const struct sym_ssl *sym_for_caller(const void *ret_addr)
{
    uint64_t addr = (uint64_t)(uintptr_t)ret_addr;
    uint64_t h = (addr * UINT64_C(0x9E3779B97F4A7C15)) >> 40;
    for (unsigned i = 0; i < SYM_SITE_PROBES; i++) {
        uint64_t w =
            atomic_load_explicit(&sym_sites[(h + i) & (SYM_SITES - 1)], memory_order_acquire);
        if ((w & SYM_SITE_ADDR_MASK) == addr)
            return &sym_libs[(w >> SYM_SITE_LIB_SHIFT) - 1];
        if (w == 0)
            break;
    }
    return sym_resolve_site(ret_addr);
}

/* The primary libssl, resolving it if needed; NULL if none is loaded yet. */
const struct sym_ssl *sym_primary(void);

/* fork() child: another thread of the parent may have held the resolution
 * lock at the fork; it no longer exists, so the lock is released. What it was
 * resolving is redone by the next new call site (resolution is idempotent). */
void sym_fork_child(void);

#endif
