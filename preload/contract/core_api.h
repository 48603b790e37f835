/*
 * core_api.h - the contract between libargus_preload.so and libargus_core.so.
 *
 * The preload (libc only) owns configuration, the capture ring, the connection
 * table and Argus' thread. On that thread it dlopen()s the core (RTLD_LOCAL) and
 * looks up one symbol, ARGUS_CORE_ENTRY, which returns a struct of function
 * pointers. Both structs below carry an ABI version and their size, so either
 * side can refuse a partner it does not understand instead of misreading it.
 *
 * Threads: every function of struct argus_core_ops is called on Argus' own
 * thread, except exit_flush (called from the exiting thread by the preload's
 * exit path) and fork_child (called in the child of fork(), before it returns).
 * The core parses no environment and keeps no log of its own: the parsed
 * configuration and the log writer both come from the preload, here.
 * Ownership: everything in struct argus_host belongs to the preload and lives as
 * long as the process (the core borrows it); the core owns what it allocates.
 */
#ifndef ARGUS_CORE_API_H
#define ARGUS_CORE_API_H

#include <stdatomic.h>
#include <stdint.h>

#include "log.h"

#define ARGUS_CORE_ABI_VERSION 3u /* 3: struct argus_config carries parsed lists */
#define ARGUS_CORE_ENTRY "argus_core_entry"

struct argus_config;
struct ring;

/* Counters the bot's threads bump with relaxed atomics; the core reads them
 * at export time as observable counters. */
struct cap_stats {
    atomic_uint_fast64_t captured_bytes[2]; /* [CAP_DIR_READ], [CAP_DIR_WRITE] */
    atomic_uint_fast64_t dropped_bytes;     /* ring full */
    atomic_uint_fast64_t dropped_records;
    atomic_uint_fast64_t connections_evicted;    /* connection table full */
    atomic_uint_fast64_t instrumentation_errors; /* e.g. no real OpenSSL function found */
    atomic_uint_fast64_t foreign_ssl_calls;      /* calls routed to another libssl copy */
    atomic_uint_fast64_t connections_ignored;    /* classified once as not Discord */
};

struct argus_host {
    uint32_t abi_version; /* ARGUS_CORE_ABI_VERSION */
    uint32_t struct_size; /* sizeof(struct argus_host) */
    const struct argus_config *config;
    struct ring *ring; /* the core's decode loop is its only consumer */
    struct cap_stats *stats;
    const char *libssl_path;   /* the libssl the hooks bound to, for the debug line */
    uint64_t process_start_ns; /* CLOCK_REALTIME when the preload was loaded */
    /* Marks the calling thread as Argus' own so the hooks never capture its
     * TLS (libcurl to an https collector). The core calls it first thing on
     * every thread it creates (Argus' decode thread is already marked). */
    void (*mark_argus_thread)(void);
    /* The process' one log (log.h): the core's lines go through it, so the
     * level the preload set from OTEL_LOG_LEVEL governs them too. */
    argus_log_fn *log;
};

struct argus_core_ops {
    uint32_t abi_version;
    uint32_t struct_size;
    /* Starts the core: registry, export thread, exit flush and SIGTERM hand-off.
     * Returns 0, or a negative errno; on failure the preload goes pass-through. */
    int (*start)(const struct argus_host *host);
    /* Runs the decode loop on the calling thread until exit_flush asks it to
     * stop. */
    void (*run)(void);
    /* Final export, bounded by ARGUS_SHUTDOWN_TIMEOUT_MS. Safe to call twice and
     * from any thread; in a forked child whose core never started it returns at
     * once. */
    void (*exit_flush)(void);
    /* Called in a fork()ed child: abandon (never free or close) everything the
     * parent's core had, so a later start() begins afresh. */
    void (*fork_child)(void);
};

typedef const struct argus_core_ops *(*argus_core_entry_fn)(uint32_t abi_version);

#endif
