/*
 * sym.c - resolving the real OpenSSL functions (see sym.h for the why).
 *
 * DESIGN
 *
 * sym_libs[] is append-only: slot 0 is the primary, slots 1.. the other
 * copies in the order they were first called. A slot is filled completely
 * before its index is published (a release store of n_libs, or of a call
 * site that names it), and never changes afterwards, so readers need no lock.
 *
 * The slow path takes sym_lock, a spin flag, around the whole resolution:
 * it runs once per call site (a handful per process), its critical section
 * is a few loader calls, and it keeps two threads from appending the same
 * library twice. Loader calls need the loader lock anyway. The wait for
 * sym_lock is bounded (see sym_lock_take) so that it can never complete a
 * cycle with the loader lock.
 *
 * If the primary cannot be found yet (a process whose first SSL call comes
 * from a private copy, before anything loaded the system libssl), nothing is
 * remembered about the primary, and a later new call site tries again.
 */
#include "spin.h"
#include "sym.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

_Atomic uint64_t sym_sites[SYM_SITES];
struct sym_ssl sym_libs[SYM_MAX_LIBS];

static _Atomic unsigned sym_n_libs;   /* slots filled; slot 0 counts only once primary */
static _Atomic bool sym_have_primary; /* slot 0 holds the primary */
static atomic_flag sym_lock = ATOMIC_FLAG_INIT;

#define SYM_PRIMARY (-1)
#define SYM_NONE (-2)

/* Known sonames of the system libssl, newest first. */
static const char *const sym_sonames[] = {"libssl.so.3", "libssl.so.1.1", "libssl.so"};

/* Gives up after SYM_LOCK_PATIENCE_NS: the holder may be waiting for the
 * loader lock that the caller holds (a hook called from a destructor during
 * dlclose), and waiting for each other would hang the bot. The caller then
 * answers from the libraries already known, without the cache, or fails the
 * call (sym_resolve_site). */
#define SYM_LOCK_PATIENCE_NS 100000000ull

static uint64_t sym_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool sym_lock_take(void)
{
    uint64_t deadline = 0;
    for (unsigned spins = 0;; spins++) {
        if (!atomic_flag_test_and_set_explicit(&sym_lock, memory_order_acquire))
            return true;
        if ((spins & 1023) != 1023) {
            spin_pause();
            continue;
        }
        uint64_t now = sym_now_ns();
        if (deadline == 0)
            deadline = now + SYM_LOCK_PATIENCE_NS;
        else if (now > deadline)
            return false;
        sched_yield(); /* the holder may need this CPU */
    }
}

static void sym_lock_drop(void)
{
    atomic_flag_clear_explicit(&sym_lock, memory_order_release);
}

void sym_fork_child(void)
{
    sym_lock_drop();
}

/* Fills *lib from a handle on one libssl. Returns false if the handle does
 * not look like libssl at all. */
static bool sym_fill(struct sym_ssl *lib, void *handle, bool primary)
{
    memset(lib, 0, sizeof(*lib));
    *(void **)&lib->read = dlsym(handle, "SSL_read");
    *(void **)&lib->read_ex = dlsym(handle, "SSL_read_ex");
    *(void **)&lib->write = dlsym(handle, "SSL_write");
    *(void **)&lib->write_ex = dlsym(handle, "SSL_write_ex");
    *(void **)&lib->free = dlsym(handle, "SSL_free");
    *(void **)&lib->get_servername = dlsym(handle, "SSL_get_servername");
    *(void **)&lib->is_server = dlsym(handle, "SSL_is_server");
    if (lib->read == NULL && lib->write == NULL)
        return false;
    Dl_info info;
    void *any = lib->read != NULL ? *(void **)&lib->read : *(void **)&lib->write;
    if (dladdr(any, &info) != 0) {
        lib->base = info.dli_fbase;
        snprintf(lib->path, sizeof(lib->path), "%s", info.dli_fname ? info.dli_fname : "?");
    }
    lib->primary = primary;
    return true;
}

/* Our own base address: a lookup that lands here found a hook, not OpenSSL. */
static const void *sym_self_base(void)
{
    Dl_info info;
    if (dladdr((void *)sym_self_base, &info) == 0)
        return NULL;
    return info.dli_fbase;
}

static const void *sym_base_of(const void *fn)
{
    Dl_info info;
    if (fn == NULL || dladdr(fn, &info) == 0)
        return NULL;
    return info.dli_fbase;
}

/* Caller holds sym_lock. */
static void sym_find_primary_locked(void)
{
    if (atomic_load_explicit(&sym_have_primary, memory_order_relaxed))
        return;
    void *handle = NULL;
    void *next = dlsym(RTLD_NEXT, "SSL_read");
    Dl_info info;
    if (next != NULL && dladdr(next, &info) != 0 && info.dli_fname != NULL)
        handle = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    for (size_t i = 0; handle == NULL && i < sizeof(sym_sonames) / sizeof(sym_sonames[0]); i++)
        handle = dlopen(sym_sonames[i], RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL)
        return;
    /* Slot 0 is reserved for the primary; foreign copies start at 1. */
    if (sym_fill(&sym_libs[0], handle, true))
        atomic_store_explicit(&sym_have_primary, true, memory_order_release);
    dlclose(handle); /* NOLOAD took a reference; the library stays loaded */
}

const struct sym_ssl *sym_primary(void)
{
    if (!atomic_load_explicit(&sym_have_primary, memory_order_acquire)) {
        if (!sym_lock_take())
            return NULL;
        sym_find_primary_locked();
        sym_lock_drop();
        if (!atomic_load_explicit(&sym_have_primary, memory_order_acquire))
            return NULL;
    }
    return &sym_libs[0];
}

/* The library the object containing ret_addr is bound to. Returns an index
 * into sym_libs, SYM_PRIMARY when the caller's own dependencies hold no
 * libssl (the main program, a dlsym'd pointer), or SYM_NONE when it needs a
 * copy there is no room to remember (or, without sym_lock, a copy not
 * remembered yet): handing that copy's SSL* to another libssl could crash
 * the bot, so the call fails. Only a caller holding sym_lock may append. */
static int sym_library_of_caller(const void *ret_addr, bool locked)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (dladdr1(ret_addr, &info, (void **)&lm, RTLD_DL_LINKMAP) == 0 || lm == NULL)
        return SYM_PRIMARY;
    /* The main program's handle is the global scope, which holds our hooks. */
    if (lm->l_name == NULL || lm->l_name[0] == '\0')
        return SYM_PRIMARY;
    void *caller = dlopen(lm->l_name, RTLD_NOW | RTLD_NOLOAD);
    if (caller == NULL)
        return SYM_PRIMARY;
    void *fn = dlsym(caller, "SSL_read");
    dlclose(caller);
    const void *base = sym_base_of(fn);
    if (base == NULL || base == sym_self_base())
        return SYM_PRIMARY;
    if (atomic_load_explicit(&sym_have_primary, memory_order_acquire) && base == sym_libs[0].base)
        return 0;

    unsigned n = atomic_load_explicit(&sym_n_libs, memory_order_acquire);
    for (unsigned i = 1; i < n; i++)
        if (sym_libs[i].base == base)
            return (int)i;
    if (!locked)
        return SYM_NONE;
    if (n == 0)
        n = 1; /* slot 0 stays reserved for the primary */
    if (n >= SYM_MAX_LIBS)
        return SYM_NONE;
    Dl_info lib_info;
    if (dladdr(fn, &lib_info) == 0 || lib_info.dli_fname == NULL)
        return SYM_NONE;
    void *handle = dlopen(lib_info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL)
        return SYM_NONE;
    bool ok = sym_fill(&sym_libs[n], handle, false);
    dlclose(handle);
    if (!ok)
        return SYM_NONE;
    atomic_store_explicit(&sym_n_libs, n + 1, memory_order_release);
    return (int)n;
}

static void sym_cache_site_locked(uint64_t addr, int lib)
{
    uint64_t h = (addr * UINT64_C(0x9E3779B97F4A7C15)) >> 40;
    uint64_t word = addr | ((uint64_t)(lib + 1) << SYM_SITE_LIB_SHIFT);
    for (unsigned i = 0; i < SYM_SITE_PROBES; i++) {
        _Atomic uint64_t *slot = &sym_sites[(h + i) & (SYM_SITES - 1)];
        uint64_t w = atomic_load_explicit(slot, memory_order_relaxed);
        if ((w & SYM_SITE_ADDR_MASK) == addr)
            return;
        if (w == 0) {
            atomic_store_explicit(slot, word, memory_order_release);
            return;
        }
    }
    /* Every probe slot is taken: this site stays uncached and takes the slow
     * path each time. With 512 slots and a handful of call sites per
     * process this does not happen in practice. */
}

/* Without sym_lock (sym_lock_take gave up), the site is still answered from
 * the libraries already known, only not cached: failing the bot's call is
 * kept for a library never seen before. The loader calls this makes are
 * safe in the deadlock sym_lock_take avoids, since the loader lock the
 * caller holds there is recursive. */
const struct sym_ssl *sym_resolve_site(const void *ret_addr)
{
    const struct sym_ssl *lib = NULL;
    bool locked = sym_lock_take();
    if (locked)
        sym_find_primary_locked();
    int idx = sym_library_of_caller(ret_addr, locked);
    if (idx == SYM_PRIMARY && atomic_load_explicit(&sym_have_primary, memory_order_acquire))
        idx = 0;
    if (idx >= 0) {
        lib = &sym_libs[idx];
        /* A site bound to "the primary" only because none other was found is
         * cached too: its answer cannot change once the primary exists. */
        if (locked)
            sym_cache_site_locked((uint64_t)(uintptr_t)ret_addr, idx);
    }
    if (locked)
        sym_lock_drop();
    return lib;
}
