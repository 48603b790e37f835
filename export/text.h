/*
 * text.h - strings on their way into an export: valid UTF-8 and bounded.
 *
 * Owns the one rule of invariant 9 (issue 14): every string that reaches a
 * metric label, an attribute, a span name or the Prometheus text is valid
 * UTF-8 (RFC 3629) and fits its field, whatever bytes the wire carried. A
 * protobuf `string` holding one invalid byte makes a collector reject the
 * whole request, and a cumulative series never leaves, so one bad gateway
 * event name would otherwise refuse every later export.
 *
 * The registry's attribute intake, the span setters and the resource copy
 * every string through text_copy(); nothing downstream checks again (the
 * Prometheus renderer does, for text it did not get from those).
 *
 * All functions are pure, allocate nothing and may be called from any thread.
 */
#ifndef ARGUS_TEXT_H
#define ARGUS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* U+FFFD REPLACEMENT CHARACTER, what each invalid byte becomes. */
#define TEXT_REPLACEMENT "\xEF\xBF\xBD"

/* Copies the C string src (NULL counts as "") into dst of cap >= 1 bytes as
 * valid UTF-8: each byte that does not start a well-formed sequence (stray
 * continuation, overlong form, surrogate, above U+10FFFF, or a sequence cut
 * short) becomes U+FFFD. Stops before a character that would not fit in
 * cap - 1 bytes, so a cut never splits one. Always terminates dst; returns
 * the bytes written before the NUL. */
size_t text_copy(char *dst, size_t cap, const char *src);

/* The length (1 to 4) of the well-formed UTF-8 sequence that starts s, of
 * which avail >= 1 bytes may be read, or 0 when there is none. */
size_t text_utf8_seq(const unsigned char *s, size_t avail);

/* True when s[0, len) is entirely well-formed UTF-8 (NUL bytes included:
 * U+0000 is a character). */
bool text_utf8_valid(const char *s, size_t len);

#endif
