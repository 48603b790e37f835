/*
 * log.h - Argus' own diagnostics on stderr, one log for both objects.
 *
 * One line per call, prefixed "argus: ", written with a single write(2) from a
 * stack buffer: no allocation, no stdio lock, safe from any Argus thread.
 * Lines above the level OTEL_LOG_LEVEL sets are skipped. Never pass a secret
 * (token, header value, query string, message content).
 *
 * The level and the writer live in the preload (preload/log.c). The core has
 * no log of its own: its argus_log() forwards to the preload's argus_log_v,
 * which the preload hands over in struct argus_host (core_api.h), so a level
 * set once governs every line of the process. Each object links exactly one
 * definition of the functions below.
 *
 * argus_log_once() keeps a caller-owned flag so a recurring condition is said
 * once per process; the flag is set only if the line passes the level.
 */
#ifndef ARGUS_LOG_H
#define ARGUS_LOG_H

#include <stdarg.h>
#include <stdatomic.h>

enum argus_log_level {
    ARGUS_LOG_NONE = 0,
    ARGUS_LOG_ERROR,
    ARGUS_LOG_WARN,
    ARGUS_LOG_INFO,
    ARGUS_LOG_DEBUG,
};

/* The one writer. once may be NULL; otherwise the line is written only if
 * *once was false, and *once is then set. */
typedef void argus_log_fn(atomic_bool *once, enum argus_log_level level, const char *fmt,
                          va_list ap);

__attribute__((format(printf, 2, 3))) void argus_log(enum argus_log_level level, const char *fmt,
                                                     ...);
__attribute__((format(printf, 3, 4))) void
argus_log_once(atomic_bool *said, enum argus_log_level level, const char *fmt, ...);

/* The preload's alone (the core does not link them): the level, set once
 * from the configuration in the constructor, and the writer behind
 * argus_log(), handed to the core in struct argus_host. */
void argus_log_set_level(enum argus_log_level level);
enum argus_log_level argus_log_get_level(void);
argus_log_fn argus_log_v;

#define argus_log_error(...) argus_log(ARGUS_LOG_ERROR, __VA_ARGS__)
#define argus_log_warn(...) argus_log(ARGUS_LOG_WARN, __VA_ARGS__)
#define argus_log_info(...) argus_log(ARGUS_LOG_INFO, __VA_ARGS__)
#define argus_log_debug(...) argus_log(ARGUS_LOG_DEBUG, __VA_ARGS__)

#endif
