/*
 * fork_gate.c - see fork_gate.h. One mutex: the atfork prepare handler locks
 * it like any Argus thread would, and the forking thread unlocks it on both
 * sides (in the child it is the only thread, and the owner).
 */
#include "fork_gate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

static pthread_mutex_t fork_gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool fork_gate_installed;

void fork_gate_enter(void)
{
    pthread_mutex_lock(&fork_gate_mutex);
}

void fork_gate_leave(void)
{
    pthread_mutex_unlock(&fork_gate_mutex);
}

int fork_gate_install(void)
{
    if (atomic_exchange(&fork_gate_installed, true))
        return 0;
    int err = pthread_atfork(fork_gate_enter, fork_gate_leave, fork_gate_leave);
    if (err != 0) {
        atomic_store(&fork_gate_installed, false);
        return -err;
    }
    return 0;
}
