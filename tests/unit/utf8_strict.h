/*
 * utf8_strict.h - an independent strict UTF-8 check for tests (issue 14).
 *
 * Decodes each code point and then judges it (overlong, surrogate, above
 * U+10FFFF), rather than checking byte ranges as export/text.c does, so a
 * mistake in one is unlikely to be repeated in the other. Static inline and
 * free of Check calls: any test may include it.
 */
#ifndef ARGUS_TEST_UTF8_STRICT_H
#define ARGUS_TEST_UTF8_STRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool utf8_strict_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xE  ? 3
                   : (c >> 3) == 0x1E ? 4
                                      : 0;
        static const uint32_t min_for[5] = {0, 0, 0x80, 0x800, 0x10000};
        uint32_t cp;

        if (n == 0 || i + n > len)
            return false;
        cp = n == 1 ? c : (uint32_t)(c & (0xFF >> (n + 1)));
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] >> 6) != 0x2)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min_for[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        i += n;
    }
    return true;
}

#endif
