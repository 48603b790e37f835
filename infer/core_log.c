/*
 * core_log.c - the core's log lines go to the preload's writer.
 *
 * The core links no log of its own (contract/log.h): a second copy would
 * have its own level, and OTEL_LOG_LEVEL=none would not silence the core.
 * core_start() binds the writer from struct argus_host before anything else
 * can log; a line logged before that (there is none today) is dropped.
 */
#include "core_log.h"

#include <stddef.h>

static argus_log_fn *core_log_sink;

void core_log_bind(argus_log_fn *sink)
{
    core_log_sink = sink;
}

void argus_log(enum argus_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (core_log_sink == NULL)
        return;
    va_start(ap, fmt);
    core_log_sink(NULL, level, fmt, ap);
    va_end(ap);
}

void argus_log_once(atomic_bool *said, enum argus_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (core_log_sink == NULL)
        return;
    va_start(ap, fmt);
    core_log_sink(said, level, fmt, ap);
    va_end(ap);
}
