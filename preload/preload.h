/*
 * preload.h - the preload's entry: activation and Argus' own threads.
 *
 * preload.c holds the process-wide state (configuration, counters, Argus'
 * thread, the loaded core). The hooks call argus_activate() on the first
 * Discord connection; it does, once per process and on the calling bot
 * thread, everything that must exist before the first record is pushed: map
 * the ring and start Argus' thread (which then loads the core itself).
 *
 * argus_on_argus_thread is true on every thread Argus runs (its own and, via
 * argus_host.mark_argus_thread, the core's), so the hooks never capture
 * Argus' own TLS, such as libcurl talking to an https collector.
 */
#ifndef ARGUS_PRELOAD_H
#define ARGUS_PRELOAD_H

#include <stdbool.h>

/* initial-exec: the preload is loaded at process start, so its TLS is in the
 * static block and reading this flag is one load, not a __tls_get_addr call. */
__attribute__((visibility("hidden"))) extern __thread bool argus_on_argus_thread
    __attribute__((tls_model("initial-exec")));

/* Bot thread, first Discord connection. Returns 0 once the ring is
 * published (cap_set_ring), or a negative errno if Argus cannot run (the
 * hooks are then switched off). Threads racing here wait for the winner:
 * this is the one blocking step, once per process. */
int argus_activate(void);

/* Marks the calling thread as Argus' own. */
void argus_mark_thread(void);

#endif
