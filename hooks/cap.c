/*
 * cap.c - the interposed OpenSSL calls (see cap.h for the contract).
 *
 * DESIGN
 *
 * Every hook has the same shape:
 *
 *   lib = sym_for_caller(return address)   hash + 1-2 loads (cached per site)
 *   ret = lib->real(...)                   the bot's call, untouched
 *   saved_errno = errno
 *   cap_after(...)                         the fast path, below
 *   errno = saved_errno; return ret
 *
 * cap_after() is inline and does, for a successful call that moved bytes on
 * a primary-libssl SSL*: one load of the mode, one of the table pointer, and
 * a lookup of at most CONN_WINDOW slots. An ignored connection returns there.
 * Everything else (a captured connection's push, a new connection's
 * classification, the table's first mapping) is in the noinline cap_slow(),
 * so the common case stays a few instructions with one unlikely branch.
 *
 * Measured (scripts/bench, hooks section: medians of alternated runs over a
 * memory BIO pair, against the same loop without the preload; 2-core VM
 * shared with builds, so +-10 ns is noise):
 *
 *                      ignored connection     captured connection
 *   64-byte records    +10 ns per call        +85 ns (copy alone ~60 ns)
 *   16 KiB records     +3..+36 ns             +1.2..1.4 us (copy alone ~0.6 us;
 *                                             the rest we attribute to the cache
 *                                             lines the copy evicts; not profiled)
 *
 * On the patched path (patch.h: the OpenSSL built into an executable) the
 * entry's jmp, the relay's jmp and the trampoline replace sym_for_caller():
 * with 64-byte records, +2..+8 ns per call on an ignored connection and
 * +26..+30 ns on a captured one, beside +32..+35 and +2..+13 ns for the
 * dynamic path in the same run (scripts/bench hooks, 9 alternated runs; the
 * 16 KiB cases drowned in +-1.5 us of noise on the shared VM that day).
 *
 * What the bot's thread never does here: malloc, take a lock, log, touch the
 * OpenSSL error queue (SSL_get_servername and SSL_is_server do not), or make
 * a syscall. The exceptions are bounded and said here: once per process
 * (mapping the table, activation, and the loader calls of sym.c's slow path,
 * once per call site), the futex wake when Argus' thread sleeps deeply or a
 * quarter of the ring is full (ring.c), and the one line logged when no real
 * OpenSSL function exists at all (cap_missing). clock_gettime(CLOCK_MONOTONIC)
 * is served by the vDSO.
 */
#include "cap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "config.h"
#include "conn.h"
#include "core_api.h"
#include "log.h"
#include "patch.h"
#include "preload.h"
#include "ring.h"
#include "spin.h"
#include "sym.h"

#define CAP_EXPORT __attribute__((visibility("default")))
#define CAP_NOINLINE __attribute__((noinline))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define CAP_TLSEXT_NAMETYPE_HOST_NAME 0 /* TLSEXT_NAMETYPE_host_name */

enum cap_mode {
    CAP_MODE_OFF = 0, /* pure pass-through */
    CAP_MODE_ON = 1,  /* classify, and capture Discord connections */
};

enum cap_table_state {
    CAP_TABLE_NONE = 0,
    CAP_TABLE_MAPPING,
    CAP_TABLE_READY,
    CAP_TABLE_FAILED,
};

static _Atomic int cap_mode = CAP_MODE_OFF;
static bool cap_enabled; /* what cap_init was told; a fork child returns to it */
static const struct argus_config *cap_cfg;
/* Counted into until cap_init runs: libraries initialised before the
 * preload could, in theory, call a hook first. */
static struct cap_stats cap_stats_before_init;
static struct cap_stats *cap_stats = &cap_stats_before_init;
static _Atomic int cap_table_state;
static struct conn_table *_Atomic cap_table;
static struct ring *_Atomic cap_ring;
static atomic_bool cap_said_missing;

void cap_init(const struct argus_config *cfg, struct cap_stats *stats, bool enabled)
{
    cap_cfg = cfg;
    cap_stats = stats;
    cap_enabled = enabled;
    atomic_store_explicit(&cap_mode, enabled ? CAP_MODE_ON : CAP_MODE_OFF, memory_order_release);
}

void cap_set_ring(struct ring *ring)
{
    atomic_store_explicit(&cap_ring, ring, memory_order_release);
}

void cap_off(void)
{
    atomic_store_explicit(&cap_mode, CAP_MODE_OFF, memory_order_release);
}

void cap_fork_child(void)
{
    atomic_store_explicit(&cap_table, NULL, memory_order_relaxed);
    atomic_store_explicit(&cap_table_state, CAP_TABLE_NONE, memory_order_relaxed);
    atomic_store_explicit(&cap_ring, NULL, memory_order_relaxed);
    atomic_store_explicit(&cap_mode, cap_enabled ? CAP_MODE_ON : CAP_MODE_OFF,
                          memory_order_release);
}

static uint64_t cap_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The table is mapped by the first thread that needs it; a thread racing
 * with it waits the few microseconds an mmap takes (once per process). */
static struct conn_table *cap_table_get(void)
{
    int expected = CAP_TABLE_NONE;
    if (atomic_compare_exchange_strong_explicit(&cap_table_state, &expected, CAP_TABLE_MAPPING,
                                                memory_order_acq_rel, memory_order_acquire)) {
        struct conn_table *t = conn_table_create(cap_cfg->max_connections, cap_stats);
        atomic_store_explicit(&cap_table, t, memory_order_release);
        atomic_store_explicit(&cap_table_state, t ? CAP_TABLE_READY : CAP_TABLE_FAILED,
                              memory_order_release);
        if (t == NULL)
            cap_off();
        return t;
    }
    while (atomic_load_explicit(&cap_table_state, memory_order_acquire) == CAP_TABLE_MAPPING)
        spin_pause();
    return atomic_load_explicit(&cap_table, memory_order_acquire);
}

/* Counts bytes of the bot's traffic that were not offered to the ring. */
static void cap_count_drop(size_t n)
{
    atomic_fetch_add_explicit(&cap_stats->dropped_bytes, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&cap_stats->dropped_records, 1, memory_order_relaxed);
}

/* A CLOSE is owed for a captured connection whose OPEN reached the ring. */
static bool cap_owes_close(uint64_t word)
{
    return (word & (CONN_F_CAPTURED | CONN_F_NEED_OPEN)) == CONN_F_CAPTURED;
}

/* Pushes one record of a captured connection, keeping its broken flag. If
 * the connection's OPEN was dropped (ring full when it was classified), the
 * OPEN goes first, naming the SNI host if there is one (the request head it
 * may have been classified from is gone), and the data carries RING_F_GAP. */
static void cap_push_data(const struct sym_ssl *lib, void *ssl, struct ring *ring,
                          struct conn_slot *slot, uint64_t word, int dir, const void *buf, size_t n)
{
    if (word & CONN_F_NEED_OPEN) {
        const char *sni = NULL;
        if (lib->get_servername != NULL)
            sni = lib->get_servername(ssl, CAP_TLSEXT_NAMETYPE_HOST_NAME);
        uint32_t sni_len = sni ? (uint32_t)strnlen(sni, CLASSIFY_HOST_MAX - 1) : 0;
        if (ring_push(ring, CONN_WORD_ID(word), RING_OPEN, 0, 0, cap_now_ns(), sni, sni_len) != 0) {
            cap_count_drop(n);
            return;
        }
        uint64_t opened = word & ~(uint64_t)CONN_F_NEED_OPEN;
        if (conn_update(slot, word, opened) != 0) {
            /* Evicted meanwhile, by an evictor that saw CONN_F_NEED_OPEN and
             * so pushed no CLOSE for the OPEN we just pushed. */
            ring_push(ring, CONN_WORD_ID(word), RING_CLOSE, 0, 0, cap_now_ns(), NULL, 0);
            cap_count_drop(n);
            return;
        }
        word = opened;
    }
    uint8_t flags = (word & CONN_F_BROKEN) ? RING_F_GAP : 0;
    int rc = -ENOSPC;
    if (n <= UINT32_MAX)
        rc = ring_push(ring, CONN_WORD_ID(word), RING_DATA, (uint8_t)dir, flags, cap_now_ns(), buf,
                       (uint32_t)n);
    else
        cap_count_drop(n);
    if (rc == 0) {
        atomic_fetch_add_explicit(&cap_stats->captured_bytes[dir], n, memory_order_relaxed);
        if (word & CONN_F_BROKEN)
            conn_update(slot, word, word & ~(uint64_t)CONN_F_BROKEN);
    } else if (!(word & CONN_F_BROKEN)) {
        conn_update(slot, word, word | CONN_F_BROKEN);
    }
}

/* Classifies a connection seen for the first time (on a successful call).
 * Returns true if it is Discord and host_out holds the matched name. */
static bool cap_is_discord(const struct sym_ssl *lib, void *ssl, int dir, const void *buf, size_t n,
                           char *host_out)
{
    if (argus_on_argus_thread)
        return false;
    if (lib->is_server != NULL && lib->is_server(ssl) == 1)
        return false;
    const char *sni = NULL;
    if (lib->get_servername != NULL)
        sni = lib->get_servername(ssl, CAP_TLSEXT_NAMETYPE_HOST_NAME);
    if (classify_sni(cap_cfg, sni, host_out) != 0)
        return true;
    if (dir == CAP_DIR_WRITE)
        return classify_request(cap_cfg, buf, n, host_out) != 0;
    return false; /* a client that reads before writing is not an HTTP client */
}

static void cap_new_connection(struct conn_table *t, const struct sym_ssl *lib, void *ssl, int dir,
                               const void *buf, size_t n)
{
    char host[CLASSIFY_HOST_MAX];
    uint64_t evicted = 0;

    if (!cap_is_discord(lib, ssl, dir, buf, n, host) || argus_activate() != 0) {
        /* Argus' own connections (libcurl to the collector) are not the
         * bot's, so they are not counted as ignored either. */
        if (conn_insert(t, ssl, CONN_F_IGNORED, &evicted) == 0 && !argus_on_argus_thread)
            atomic_fetch_add_explicit(&cap_stats->connections_ignored, 1, memory_order_relaxed);
        goto out;
    }

    struct ring *ring = atomic_load_explicit(&cap_ring, memory_order_acquire);
    uint64_t id = conn_next_id(t);
    uint64_t word = CONN_WORD(id, CONN_F_CAPTURED);
    /* A Discord client's first bytes are a request. Anything else means we
     * join mid-stream (its entry was evicted, or Argus started late): the
     * first record then carries RING_F_GAP so the decoder waits for a
     * boundary instead of misreading. */
    if (dir != CAP_DIR_WRITE || !classify_starts_request(buf, n))
        word |= CONN_F_BROKEN;
    /* An OPEN that does not fit is owed: the connection is captured from
     * its next record on, which then carries RING_F_GAP (cap_push_data).
     * Leaving it ignored instead would lose a gateway connection for its
     * whole life because of one burst. */
    if (ring_push(ring, id, RING_OPEN, 0, 0, cap_now_ns(), host, (uint32_t)strlen(host)) != 0)
        word |= CONN_F_NEED_OPEN | CONN_F_BROKEN;
    if (conn_insert(t, ssl, word, &evicted) != 0) {
        if (cap_owes_close(word))
            ring_push(ring, id, RING_CLOSE, 0, 0, cap_now_ns(), NULL, 0);
        cap_count_drop(n);
        goto out;
    }
    if (word & CONN_F_NEED_OPEN) {
        cap_count_drop(n);
        goto out;
    }
    uint64_t now_word = 0;
    struct conn_slot *slot = conn_find(t, ssl, &now_word);
    if (slot != NULL)
        cap_push_data(lib, ssl, ring, slot, now_word, dir, buf, n);
    else
        cap_count_drop(n); /* evicted already, its CLOSE pushed by the evictor */

out:
    if (cap_owes_close(evicted)) {
        ring = atomic_load_explicit(&cap_ring, memory_order_acquire);
        if (ring != NULL)
            ring_push(ring, CONN_WORD_ID(evicted), RING_CLOSE, 0, 0, cap_now_ns(), NULL, 0);
    }
}

/* Everything but the ignored-connection case. t may be NULL (first call). */
static CAP_NOINLINE void cap_slow(struct conn_table *t, struct conn_slot *slot, uint64_t word,
                                  const struct sym_ssl *lib, void *ssl, int dir, const void *buf,
                                  size_t n)
{
    if (t == NULL) {
        t = cap_table_get();
        if (t == NULL)
            return;
        slot = conn_find(t, ssl, &word);
    }
    if (word == 0) {
        cap_new_connection(t, lib, ssl, dir, buf, n);
        return;
    }
    if ((word & CONN_F_CAPTURED) == 0)
        return;
    struct ring *ring = atomic_load_explicit(&cap_ring, memory_order_acquire);
    if (ring != NULL)
        cap_push_data(lib, ssl, ring, slot, word, dir, buf, n);
}

/* The fast path, after a successful real call that moved n > 0 bytes. */
static inline void cap_after(const struct sym_ssl *lib, void *ssl, int dir, const void *buf,
                             size_t n)
{
    if (unlikely(!lib->primary)) {
        atomic_fetch_add_explicit(&cap_stats->foreign_ssl_calls, 1, memory_order_relaxed);
        return;
    }
    /* Relaxed is enough, on arm64 too: the mode publishes nothing. cap_cfg
     * and cap_stats are written by the constructor, before any other thread
     * can run a hook (pthread_create, or the loader's lock for a late
     * dlopen, orders them), and what activation publishes (the table, the
     * ring) is read below with acquire. A stale ON after cap_off() costs
     * one more capture into a ring nobody drains. */
    if (atomic_load_explicit(&cap_mode, memory_order_relaxed) != CAP_MODE_ON)
        return;
    struct conn_table *t = atomic_load_explicit(&cap_table, memory_order_acquire);
    struct conn_slot *slot = NULL;
    uint64_t word = 0;
    if (likely(t != NULL)) {
        slot = conn_find(t, ssl, &word);
        if (likely((word & CONN_F_IGNORED) != 0))
            return;
    }
    cap_slow(t, slot, word, lib, ssl, dir, buf, n);
}

/* No real function could be found for this caller: fail the call the way a
 * broken syscall would (errno ENOSYS), never crash, count it, say it once. */
static CAP_NOINLINE void cap_missing(const char *name)
{
    atomic_fetch_add_explicit(&cap_stats->instrumentation_errors, 1, memory_order_relaxed);
    argus_log_once(&cap_said_missing, ARGUS_LOG_ERROR,
                   "no real %s found in any loaded libssl; failing the call", name);
    errno = ENOSYS;
}

/* The bodies of the hooks, for a caller bound to lib: the exported names
 * below (dynamic interposition, lib from sym_for_caller) and the hooks of
 * patched objects (lib is their patch_libs[] slot) share them. */
#define CAP_HOOK static inline __attribute__((always_inline))

CAP_HOOK int cap_read(const struct sym_ssl *lib, void *ssl, void *buf, int num)
{
    if (unlikely(lib == NULL || lib->read == NULL)) {
        cap_missing("SSL_read");
        return -1;
    }
    int ret = lib->read(ssl, buf, num);
    int saved_errno = errno;
    if (ret > 0)
        cap_after(lib, ssl, CAP_DIR_READ, buf, (size_t)ret);
    errno = saved_errno;
    return ret;
}

CAP_HOOK int cap_read_ex(const struct sym_ssl *lib, void *ssl, void *buf, size_t num,
                         size_t *readbytes)
{
    if (unlikely(lib == NULL || lib->read_ex == NULL)) {
        cap_missing("SSL_read_ex");
        if (readbytes != NULL)
            *readbytes = 0;
        return 0;
    }
    int ret = lib->read_ex(ssl, buf, num, readbytes);
    int saved_errno = errno;
    if (ret > 0 && readbytes != NULL)
        cap_after(lib, ssl, CAP_DIR_READ, buf, *readbytes);
    errno = saved_errno;
    return ret;
}

CAP_HOOK int cap_write(const struct sym_ssl *lib, void *ssl, const void *buf, int num)
{
    if (unlikely(lib == NULL || lib->write == NULL)) {
        cap_missing("SSL_write");
        return -1;
    }
    int ret = lib->write(ssl, buf, num);
    int saved_errno = errno;
    if (ret > 0)
        cap_after(lib, ssl, CAP_DIR_WRITE, buf, (size_t)ret);
    errno = saved_errno;
    return ret;
}

CAP_HOOK int cap_write_ex(const struct sym_ssl *lib, void *ssl, const void *buf, size_t num,
                          size_t *written)
{
    if (unlikely(lib == NULL || lib->write_ex == NULL)) {
        cap_missing("SSL_write_ex");
        if (written != NULL)
            *written = 0;
        return 0;
    }
    int ret = lib->write_ex(ssl, buf, num, written);
    int saved_errno = errno;
    if (ret > 0 && written != NULL)
        cap_after(lib, ssl, CAP_DIR_WRITE, buf, *written);
    errno = saved_errno;
    return ret;
}

CAP_HOOK void cap_free(const struct sym_ssl *lib, void *ssl)
{
    if (unlikely(lib == NULL || lib->free == NULL)) {
        /* Leaking one SSL object is the only safe answer without its library. */
        int saved = errno;
        cap_missing("SSL_free");
        errno = saved;
        return;
    }
    struct conn_table *t = atomic_load_explicit(&cap_table, memory_order_acquire);
    if (ssl != NULL && lib->primary && t != NULL) {
        /* Before the real free: once freed, another thread may get the same
         * address from SSL_new and must not find this entry. */
        int saved_errno = errno;
        uint64_t word = conn_remove(t, ssl);
        struct ring *ring = atomic_load_explicit(&cap_ring, memory_order_acquire);
        if (cap_owes_close(word) && ring != NULL &&
            atomic_load_explicit(&cap_mode, memory_order_relaxed) == CAP_MODE_ON)
            ring_push(ring, CONN_WORD_ID(word), RING_CLOSE, 0, 0, cap_now_ns(), NULL, 0);
        errno = saved_errno;
    }
    lib->free(ssl);
}

#define CAP_CALLER_LIB sym_for_caller(__builtin_return_address(0))

CAP_EXPORT int SSL_read(void *ssl, void *buf, int num)
{
    return cap_read(CAP_CALLER_LIB, ssl, buf, num);
}

CAP_EXPORT int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes)
{
    return cap_read_ex(CAP_CALLER_LIB, ssl, buf, num, readbytes);
}

CAP_EXPORT int SSL_write(void *ssl, const void *buf, int num)
{
    return cap_write(CAP_CALLER_LIB, ssl, buf, num);
}

CAP_EXPORT int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
    return cap_write_ex(CAP_CALLER_LIB, ssl, buf, num, written);
}

CAP_EXPORT void SSL_free(void *ssl)
{
    cap_free(CAP_CALLER_LIB, ssl);
}

/* One set of hooks per patch_libs[] slot: the entry of a patched function
 * jumps here with the bot's arguments untouched, so the slot must be known
 * from the hook itself, not from an argument. */
#define CAP_PATCHED_SET(n)                                                                         \
    static int cap_patched_read_##n(void *ssl, void *buf, int num)                                 \
    {                                                                                              \
        return cap_read(&patch_libs[n], ssl, buf, num);                                            \
    }                                                                                              \
    static int cap_patched_read_ex_##n(void *ssl, void *buf, size_t num, size_t *readbytes)        \
    {                                                                                              \
        return cap_read_ex(&patch_libs[n], ssl, buf, num, readbytes);                              \
    }                                                                                              \
    static int cap_patched_write_##n(void *ssl, const void *buf, int num)                          \
    {                                                                                              \
        return cap_write(&patch_libs[n], ssl, buf, num);                                           \
    }                                                                                              \
    static int cap_patched_write_ex_##n(void *ssl, const void *buf, size_t num, size_t *written)   \
    {                                                                                              \
        return cap_write_ex(&patch_libs[n], ssl, buf, num, written);                               \
    }                                                                                              \
    static void cap_patched_free_##n(void *ssl)                                                    \
    {                                                                                              \
        cap_free(&patch_libs[n], ssl);                                                             \
    }

CAP_PATCHED_SET(0)
CAP_PATCHED_SET(1)
CAP_PATCHED_SET(2)
CAP_PATCHED_SET(3)

_Static_assert(PATCH_MAX_OBJECTS == 4, "one CAP_PATCHED_SET per patch_libs[] slot");

void cap_patched_hooks(unsigned slot, struct cap_hook_set *out)
{
#define CAP_SET_CASE(n)                                                                            \
    case n:                                                                                        \
        out->read = (void *)cap_patched_read_##n;                                                  \
        out->read_ex = (void *)cap_patched_read_ex_##n;                                            \
        out->write = (void *)cap_patched_write_##n;                                                \
        out->write_ex = (void *)cap_patched_write_ex_##n;                                          \
        out->free = (void *)cap_patched_free_##n;                                                  \
        break;
    switch (slot) {
        CAP_SET_CASE(0)
        CAP_SET_CASE(1)
        CAP_SET_CASE(2)
        CAP_SET_CASE(3)
    default:
        memset(out, 0, sizeof(*out));
        break;
    }
#undef CAP_SET_CASE
}
