/*
 * log.c - the process' one log: one write(2) per line from a stack buffer.
 *
 * stdio is avoided on purpose: fprintf(stderr) takes the stream lock the bot's
 * own threads may hold, and buffers could interleave with the bot's output.
 * A single write() of a whole line, newline included, is atomic enough for a
 * terminal or a pipe, so a line never starts in the middle of another; control
 * characters inside a line become '?', so a line is never split either.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static atomic_int log_level = ARGUS_LOG_INFO;

void argus_log_set_level(enum argus_log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum argus_log_level argus_log_get_level(void)
{
    return (enum argus_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void argus_log_v(atomic_bool *once, enum argus_log_level level, const char *fmt, va_list ap)
{
    static const char *const level_names[] = {
        [ARGUS_LOG_NONE] = "", [ARGUS_LOG_ERROR] = "error: ", [ARGUS_LOG_WARN] = "warning: ",
        [ARGUS_LOG_INFO] = "", [ARGUS_LOG_DEBUG] = "debug: ",
    };
    if (level <= ARGUS_LOG_NONE || level > ARGUS_LOG_DEBUG || level > argus_log_get_level())
        return;
    if (once != NULL && atomic_exchange(once, true))
        return;
    char line[1024];
    int saved_errno = errno;
    int n = snprintf(line, sizeof(line), "argus: %s", level_names[level]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);

    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* A value echoed from the environment may hold a line break: it must not
     * start a line that is not Argus' own, or glue two lines together. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = '?';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    errno = saved_errno;
}

void argus_log(enum argus_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    argus_log_v(NULL, level, fmt, ap);
    va_end(ap);
}

void argus_log_once(atomic_bool *said, enum argus_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    argus_log_v(said, level, fmt, ap);
    va_end(ap);
}
