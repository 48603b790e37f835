/*
 * fork_gate.h - no Argus thread is inside libcurl (and so inside OpenSSL or
 * a libc lock it takes) when the program forks (invariant 10).
 *
 * Argus' threads call into libcurl only between fork_gate_enter() and
 * fork_gate_leave(). Each such section is one step that does not wait on the
 * network: curl_global_init, one curl_multi_perform (non-blocking sockets),
 * or removing and cleaning up a handle. Waiting (curl_multi_poll, backoff
 * sleeps) happens outside the gate. A pthread_atfork() prepare handler takes
 * the gate, so a fork() waits for the step in progress, and no step starts
 * until the fork is done; the parent and child handlers give it back. A child
 * therefore never inherits an OpenSSL lock that an Argus thread held (the
 * reported hang: exit() -> OPENSSL_cleanup -> a lock taken by libcurl's
 * initialisation on Argus' thread), and exits as it would without Argus.
 *
 * The cost lands on the bot's fork(): at most one step's CPU work (well under
 * a millisecond for a perform step; a TLS handshake's crypto or loading the
 * CA file once per connection at worst), paid only while Argus is exporting.
 *
 * fork_gate_install() is called once per process image by core_start(), on
 * Argus' thread; calling it again does nothing. The gate must not be taken
 * around anything that can fork or block indefinitely.
 */
#ifndef ARGUS_FORK_GATE_H
#define ARGUS_FORK_GATE_H

/* 0, or a negative errno if pthread_atfork failed (the gate then still
 * serialises Argus' threads, but forks do not wait for it). */
int fork_gate_install(void);

void fork_gate_enter(void);
void fork_gate_leave(void);

#endif
