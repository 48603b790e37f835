/*
 * text.c - UTF-8 validation and the sanitizing copy.
 *
 * Replacement is per byte: an invalid byte becomes one U+FFFD and the next
 * byte is examined afresh. Unicode's "maximal subpart" practice would give
 * one U+FFFD for a truncated sequence such as E2 82; per byte is simpler and
 * as safe (the output is valid either way, and a reader still sees that
 * something was replaced). Rejected: dropping bad bytes silently (nobody
 * could tell the value was damaged) and escaping them as \xNN (the escape
 * would read as the bot's own text).
 *
 * text_copy reads at most cap + 3 bytes of src: each byte read yields at
 * least one byte written, so no more can be needed to fill cap - 1 bytes and
 * to check the last sequence, however long the hostile input is.
 */
#include "text.h"

#include <string.h>

size_t text_utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t need;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 2; /* C0 and C1 would only give overlong forms */
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 3;
        lo = s[0] == 0xE0 ? 0xA0 : lo; /* E0 80..9F: overlong */
        hi = s[0] == 0xED ? 0x9F : hi; /* ED A0..BF: surrogates D800..DFFF */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 4;
        lo = s[0] == 0xF0 ? 0x90 : lo; /* F0 80..8F: overlong */
        hi = s[0] == 0xF4 ? 0x8F : hi; /* F4 90..: above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0, C1, F5..FF */
    }
    if (avail < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return need;
}

bool text_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, seq = 1;

    while (i < len && seq != 0) {
        seq = text_utf8_seq(p + i, len - i);
        i += seq;
    }
    return i >= len;
}

size_t text_copy(char *dst, size_t cap, const char *src)
{
    const unsigned char *p = (const unsigned char *)(src != NULL ? src : "");
    size_t left = strnlen((const char *)p, cap + 3), n = 0;

    while (left > 0) {
        size_t seq = text_utf8_seq(p, left);
        const void *from = seq != 0 ? (const void *)p : TEXT_REPLACEMENT;
        size_t out = seq != 0 ? seq : sizeof(TEXT_REPLACEMENT) - 1;

        if (n + out >= cap)
            break;
        memcpy(dst + n, from, out);
        n += out;
        seq = seq != 0 ? seq : 1;
        p += seq;
        left -= seq;
    }
    dst[n] = '\0';
    return n;
}
