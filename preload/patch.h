/*
 * patch.h - hooking the OpenSSL built into an executable, by patching it.
 *
 * The official Node builds (nodejs.org, nvm, NodeSource, the node:* images)
 * link OpenSSL into the executable and export its SSL_* functions, but call
 * them directly, so symbol interposition (cap.c's exported SSL_*) never sees
 * those calls. patch_init() finds, in the main executable and in every other
 * loaded object that defines SSL_read without being a libssl, the functions
 * the hooks need (GNU hash look-up in the object's own dynamic symbol table,
 * no file I/O, no loader call), and patches each entry with a jump to a hook
 * of cap.c whose "real" function is a trampoline holding the relocated first
 * instructions (x86_insn.h or a64_insn.h decides what can be relocated).
 * Implemented for x86-64 and arm64 (patch_arch.h); elsewhere, and on arm64
 * when no page for the relays can be had within branch reach (+-128 MiB) of
 * the functions, the object is refused (said at debug) and left alone.
 *
 * Promises:
 *   - all or nothing per object: SSL_read, SSL_write, SSL_free and, where
 *     they exist, SSL_read_ex and SSL_write_ex are all patched, or none is
 *     (a write hooked without its read would produce half-connections);
 *   - nothing is ever mapped writable and executable at once, and any
 *     failure before the switch leaves the program byte for byte as it was;
 *   - each refusal is said once, at debug, with the reason;
 *   - a landing pad at an entry (endbr64, bti, or paciasp, which becomes
 *     bti jc) stays a landing pad, and guarded (BTI) code stays guarded;
 *   - a process with no such object pays a few hash look-ups per loaded
 *     object (the Bloom filter rejects almost all of them).
 *
 * Threads: patch_init() only from the preload's constructor, while the
 * process has one thread. Afterwards patch_libs[] and patch_n_libs are
 * read-only and any thread may read them. Nothing is ever unpatched: the
 * trampolines live as long as the process, and a fork child keeps them.
 */
#ifndef ARGUS_PATCH_H
#define ARGUS_PATCH_H

#include <stddef.h>

#include "sym.h"

#define PATCH_MAX_OBJECTS 4

/* One per patched object, in the order patched. Each is marked primary: its
 * connections are captured like those of the system libssl. path is the
 * object's file (for the executable, /proc/self/exe resolved). */
__attribute__((visibility("hidden"))) extern struct sym_ssl patch_libs[PATCH_MAX_OBJECTS];
__attribute__((visibility("hidden"))) extern unsigned patch_n_libs;

/* Constructor only (see above). Returns the number of objects patched. */
unsigned patch_init(void);

/* "the OpenSSL built into PATH (OpenSSL 3.5.9)" for patch_libs[i], into buf.
 * Calls that object's OpenSSL_version(), which only returns a constant. */
void patch_describe(unsigned i, char *buf, size_t size);

#endif
