/*
 * strbuf.h - appending formatted text to a fixed buffer (NUL-terminated,
 * truncated at its size), for the configuration's description and the
 * URLs it shows. No allocation: the preload runs before main.
 */
#ifndef ARGUS_STRBUF_H
#define ARGUS_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 4, 5))) static inline void
text_add(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    va_list ap;

    if (*used >= size)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < size - *used ? (size_t)n : size - *used - 1;
}

#endif
