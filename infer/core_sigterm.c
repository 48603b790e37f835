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
 * What counts as "the default action". SIG_DFL, and also a one-shot handler
 * (SA_RESETHAND): the kernel puts SIG_DFL back as it runs it, which is the
 * idiom of a handler that tidies up and re-raises to die of the signal. Node
 * installs exactly that for SIGTERM in every process (it restores the
 * terminal, then re-raises), so a discord.js bot without a
 * process.on('SIGTERM') of its own dies of SIGTERM without exit handlers: its
 * last interval, and the spans held for late answers, were lost. Ours goes in
 * front of such a handler and, after the flush, puts it back and sends SIGTERM
 * again, so it runs exactly as it would have. A handler that stays installed
 * (no SA_RESETHAND: libuv's for process.on('SIGTERM'), Python's) is the
 * program's decision about SIGTERM and is never wrapped; those programs exit
 * through exit(), which runs the exit flush.
 *
 * A forked child inherits the handler but not the thread, so the handler
 * compares getpid() with the pid that installed it; in a child it puts the
 * previous action back and re-raises at once.
 *
 * The signal is never swallowed (issue 14). A program may install its own
 * SIGTERM handler while the flush runs, after our handler took the signal.
 * The thread once checked "is the handler still ours?" and, if not, did
 * nothing: the program's handler never saw the SIGTERM and the process
 * kept running. Now, after the flush, SIGTERM is always sent again, to
 * whatever action is in force then: ours swapped for the previous one (the
 * program dies as it would have), or the program's new handler, which runs
 * once, as if the SIGTERM had arrived just after it was installed. When
 * our handler goes in, as when it goes out, the check and the change are one
 * sigaction() call (an atomic swap), so a handler installed between a check
 * and a change cannot be overwritten; if the swap took out the program's
 * handler, it is put straight back (and if the program changed it again
 * between the swap and that, its newer one).
 * What remains: a program that changes SIGTERM's action twice within those
 * few system calls keeps the first of the two changes (README, "Known
 * limits"). Tested by tests/e2e export_handler_during_flush.
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
static _Atomic pid_t core_sigterm_owner;   /* the pid whose thread waits on the semaphore */
static struct sigaction core_sigterm_prev; /* SIG_DFL or a one-shot handler; put back after */
static void (*core_sigterm_flush)(void);
static void (*core_sigterm_mark_thread)(void);

/* Puts the previous action back and sends SIGTERM to the process; what
 * happens next is what would have happened without Argus. Async-signal-safe. */
static void core_sigterm_pass_on(void)
{
    sigaction(SIGTERM, &core_sigterm_prev, NULL);
    kill(getpid(), SIGTERM); /* process-directed: lands on a bot thread */
}

static void core_sigterm_on_signal(int sig)
{
    int saved_errno = errno;
    (void)sig;
    if (getpid() != atomic_load(&core_sigterm_owner))
        core_sigterm_pass_on(); /* a forked child: no thread waits here */
    else
        sem_post(&core_sigterm_sem);
    errno = saved_errno;
}

static bool core_sigterm_current(struct sigaction *cur)
{
    return sigaction(SIGTERM, NULL, cur) == 0;
}

static bool core_sigterm_ours(const struct sigaction *act)
{
    return !(act->sa_flags & SA_SIGINFO) && act->sa_handler == core_sigterm_on_signal;
}

static bool core_sigterm_is_ours(void)
{
    struct sigaction cur;
    return core_sigterm_current(&cur) && core_sigterm_ours(&cur);
}

/* SIG_DFL, or a one-shot handler (see the top of this file); never SIG_IGN. */
static bool core_sigterm_ends_like_default(const struct sigaction *act)
{
    if (act->sa_flags & SA_SIGINFO)
        return (act->sa_flags & SA_RESETHAND) != 0;
    if (act->sa_handler == SIG_DFL)
        return true;
    return act->sa_handler != SIG_IGN && (act->sa_flags & SA_RESETHAND);
}

/* The same handler; flags are not compared, since the kernel hands back
 * ones the caller never set (glibc's SA_RESTORER). */
static bool core_sigterm_same(const struct sigaction *a, const struct sigaction *b)
{
    if ((a->sa_flags & SA_SIGINFO) != (b->sa_flags & SA_SIGINFO))
        return false;
    if (a->sa_flags & SA_SIGINFO)
        return a->sa_sigaction == b->sa_sigaction;
    return a->sa_handler == b->sa_handler;
}

/* After the flush: the previous action goes back in the place of ours, and
 * SIGTERM goes to whatever is in force (see the top of this file). */
static void core_sigterm_deliver(void)
{
    struct sigaction was, mid;
    if (sigaction(SIGTERM, &core_sigterm_prev, &was) == 0 && !core_sigterm_ours(&was)) {
        /* The program installed its own during the flush: give it back. */
        if (sigaction(SIGTERM, &was, &mid) == 0 && !core_sigterm_same(&mid, &core_sigterm_prev))
            sigaction(SIGTERM, &mid, NULL);
    }
    kill(getpid(), SIGTERM); /* process-directed: lands on a bot thread */
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
    core_sigterm_deliver();
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
    if (!core_sigterm_current(&core_sigterm_prev) ||
        !core_sigterm_ends_like_default(&core_sigterm_prev))
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
    /* Install only over the action just judged. The swap and the check are
     * one call, as in core_sigterm_deliver(): if the program installed its
     * own since core_sigterm_prev was read, it goes straight back (and its
     * newer one, if it changed it again meanwhile). Our thread then waits
     * for a signal that never comes, which costs nothing. */
    struct sigaction was, mid;
    if (sigaction(SIGTERM, &sa, &was) == 0 && !core_sigterm_same(&was, &core_sigterm_prev)) {
        if (sigaction(SIGTERM, &was, &mid) == 0 && !core_sigterm_ours(&mid))
            sigaction(SIGTERM, &mid, NULL);
    }
}

void core_sigterm_fork_child(void)
{
    if (core_sigterm_is_ours())
        sigaction(SIGTERM, &core_sigterm_prev, NULL);
}
