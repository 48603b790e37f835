/*
 * text.h - bounded copies of C strings into fixed-size fields.
 *
 * text_copy() copies at most cap - 1 bytes of src (NULL counts as "") and
 * always terminates dst; cap must be at least 1. It cuts at a byte count, so
 * a cut may fall inside a UTF-8 sequence: fine for identifiers and names an
 * exporter re-encodes, not for text shown to users.
 */
#ifndef ARGUS_TEXT_H
#define ARGUS_TEXT_H

#include <stddef.h>

/* A byte loop rather than strnlen + memcpy: inlined with a string literal
 * as src, gcc's -Wstringop-overread takes the bound for a read past it. */
static inline size_t text_copy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;

    while (src != NULL && n + 1 < cap && src[n] != '\0') {
        dst[n] = src[n];
        n++;
    }
    dst[n] = '\0';
    return n;
}

#endif
