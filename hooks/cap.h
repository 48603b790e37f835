/*
 * cap.h - the interposed OpenSSL calls and the capture state they use.
 *
 * The preload exports exactly five names: SSL_read, SSL_read_ex, SSL_write,
 * SSL_write_ex and SSL_free (defined in cap.c). The same bodies also serve,
 * unexported, the OpenSSL built into an executable, whose entries patch.c
 * rewrites to jump to them (cap_patched_hooks below). Each calls the real function
 * of the libssl its caller is bound to (sym.h), saves errno at once, and, for
 * a successful call on a connection of the primary libssl, looks the SSL* up
 * in the connection table: an ignored connection returns at once; a Discord
 * one gets a copy of exactly the bytes transferred pushed to the ring; a new
 * one is classified once (classify.h). errno is restored before returning,
 * the return value and out-parameters are the real call's, and nothing
 * touches OpenSSL's error queue.
 *
 * The state below is set up by the preload (preload.c): cap_init() in the
 * constructor, cap_set_ring() when Argus activates, cap_off() when the core
 * cannot run, cap_fork_child() in a forked child. The connection table is
 * mapped by the first hooked call of a primary SSL* (a process that never
 * uses TLS maps nothing).
 *
 * Threads: hooks run on any bot thread; the setters on the thread named by
 * the preload, with atomics so a hook racing with them sees either state.
 */
#ifndef ARGUS_CAP_H
#define ARGUS_CAP_H

#include <stdbool.h>

struct argus_config;
struct cap_stats;
struct ring;

/* Directions of struct cap_stats.captured_bytes[], equal to enum ring_dir. */
#define CAP_DIR_READ 0
#define CAP_DIR_WRITE 1

/* enabled = false (OTEL_SDK_DISABLED): every hook is a pure pass-through. */
void cap_init(const struct argus_config *cfg, struct cap_stats *stats, bool enabled);

/* Publishes the ring records go to; called once per process by the
 * activation, before the first record exists. */
void cap_set_ring(struct ring *ring);

/* From now on every hook is a pure pass-through (the core failed to load or
 * start, or the ring could not be mapped). */
void cap_off(void);

/* The hooks for the OpenSSL built into an object (patch.h): the same as the
 * exported ones, except that their real functions are those of
 * patch_libs[slot] rather than of the caller's libssl. */
struct cap_hook_set {
    void *read, *read_ex, *write, *write_ex, *free;
};
void cap_patched_hooks(unsigned slot, struct cap_hook_set *out);

/* fork() child: abandon the parent's table and ring (never unmapped: another
 * thread of the parent may have been inside them) and go dormant again. */
void cap_fork_child(void);

#endif
