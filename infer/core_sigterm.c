/*
 * core_sigterm.c - the SIGTERM hand-off (core_sigterm.h).
 *
 * The handler does one async-signal-safe thing: sem_post() to a thread of
 * ours that waits for it. Flushing inside the handler was rejected: the
 * export takes locks, allocates and talks HTTP, none of which a signal
 * handler may do, and the signal may land on a thread that holds those locks.
 * The thread blocks every signal, so SIGTERM is always delivered to a bot
 * thread (process-directed signals pick a thread that does not block them).
 *
 * A forked child inherits the handler but not the thread, so the handler
 * compares getpid() with the pid that installed it; in a child it restores
 * the default action and re-raises at once.
 */
#include "core_sigterm.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static sem_t core_sigterm_sem;
static _Atomic pid_t core_sigterm_owner; /* the pid whose thread waits on the semaphore */
static void (*core_sigterm_flush)(void);
static void (*core_sigterm_mark_thread)(void);

static void core_sigterm_on_signal(int sig)
{
    int saved_errno = errno;
    if (getpid() != atomic_load(&core_sigterm_owner)) {
        /* A forked child: no thread waits here. Die as SIGTERM would. */
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        sem_post(&core_sigterm_sem);
    }
    errno = saved_errno;
}

static bool core_sigterm_handler_is(void (*handler)(int))
{
    struct sigaction cur;
    return sigaction(SIGTERM, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
           cur.sa_handler == handler;
}

static void *core_sigterm_main(void *arg)
{
    (void)arg;
    if (core_sigterm_mark_thread != NULL)
        core_sigterm_mark_thread();
    pthread_setname_np(pthread_self(), "argus-sigterm");
    while (sem_wait(&core_sigterm_sem) != 0 && errno == EINTR)
        ;
    core_sigterm_flush();
    /* Only if the program has not put its own handler in meanwhile. */
    if (core_sigterm_handler_is(core_sigterm_on_signal)) {
        signal(SIGTERM, SIG_DFL);
        kill(getpid(), SIGTERM); /* process-directed: lands on a bot thread */
    }
    return NULL;
}

/* Starts the waiting thread with every signal blocked; 0 or an errno. */
static int core_sigterm_start_thread(void)
{
    sigset_t all, old;
    pthread_t t;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&t, NULL, core_sigterm_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err == 0)
        pthread_detach(t);
    return err;
}

void core_sigterm_install(void (*flush)(void), void (*mark_thread)(void))
{
    if (!core_sigterm_handler_is(SIG_DFL))
        return; /* the program has its own (or ignores it): leave it alone */
    if (sem_init(&core_sigterm_sem, 0, 0) != 0)
        return;
    core_sigterm_flush = flush;
    core_sigterm_mark_thread = mark_thread;
    atomic_store(&core_sigterm_owner, getpid());
    if (core_sigterm_start_thread() != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = core_sigterm_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    /* Re-check: install only over the default action. */
    if (core_sigterm_handler_is(SIG_DFL))
        sigaction(SIGTERM, &sa, NULL);
}

void core_sigterm_fork_child(void)
{
    if (core_sigterm_handler_is(core_sigterm_on_signal))
        signal(SIGTERM, SIG_DFL);
}
