/*
 * log.h - Argus' own diagnostics on stderr.
 *
 * One line per call, prefixed "argus: ", written with a single write(2) from a
 * stack buffer: no allocation, no stdio lock, safe from any Argus thread.
 * Lines above the level set by OTEL_LOG_LEVEL (argus_log_set_level) are
 * skipped. Never pass a secret (token, header value, message content).
 * argus_log_once() keeps a caller-owned flag so a recurring condition is said
 * once per process.
 */
#ifndef ARGUS_LOG_H
#define ARGUS_LOG_H

#include <stdatomic.h>
#include "config.h"

void argus_log_set_level(enum argus_log_level level);
enum argus_log_level argus_log_get_level(void);

__attribute__((format(printf, 2, 3))) void argus_log(enum argus_log_level level, const char *fmt,
                                                     ...);

/* Logs only the first time *said is false, then sets it. */
__attribute__((format(printf, 3, 4))) void
argus_log_once(atomic_bool *said, enum argus_log_level level, const char *fmt, ...);

#define argus_log_error(...) argus_log(ARGUS_LOG_ERROR, __VA_ARGS__)
#define argus_log_warn(...) argus_log(ARGUS_LOG_WARN, __VA_ARGS__)
#define argus_log_info(...) argus_log(ARGUS_LOG_INFO, __VA_ARGS__)
#define argus_log_debug(...) argus_log(ARGUS_LOG_DEBUG, __VA_ARGS__)

#endif
