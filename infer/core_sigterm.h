/*
 * core_sigterm.h - the SIGTERM hand-off: a bot stopped by `docker stop` or
 * systemd still gets its final export, and still dies of SIGTERM.
 *
 * With the default action, SIGTERM kills the process without running exit
 * handlers, losing the last interval and the spans held for late answers.
 * core_sigterm_install() takes over SIGTERM only where it would end the
 * process that way: SIG_DFL, or a one-shot handler (SA_RESETHAND, as Node
 * installs in every process) that re-raises. A program's own lasting handler,
 * or SIG_IGN, is left alone, and a handler the program installs later
 * replaces ours. On SIGTERM a thread of ours runs the flush, bounded by the
 * caller (ARGUS_SHUTDOWN_TIMEOUT_MS), then puts the previous action back and
 * sends SIGTERM to the process again: the program ends as it would have, and
 * with the default action the exit status stays 143.
 *
 * Threads: core_sigterm_install() once per process image, on Argus' thread,
 * never in the constructor (Python reads the handlers at start and would take
 * a foreign one for the program's); core_sigterm_fork_child() in a forked
 * child. flush and mark_thread (NULL: none) must stay callable for the life of
 * the process; flush must be safe to call twice.
 */
#ifndef ARGUS_CORE_SIGTERM_H
#define ARGUS_CORE_SIGTERM_H

/* mark_thread is called first thing on the hand-off thread (argus_host's
 * mark_argus_thread: Argus' TLS is never captured). Failures (no semaphore,
 * no thread) leave SIGTERM as it was. */
void core_sigterm_install(void (*flush)(void), void (*mark_thread)(void));

/* A forked child has the handler but not the thread: puts the previous action
 * back if the handler is still ours. */
void core_sigterm_fork_child(void);

#endif
