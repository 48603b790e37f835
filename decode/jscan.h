/*
 * jscan.h - a no-allocation JSON skimmer for the few fields decoding needs.
 *
 * Owns nothing: every function works on a caller-owned buffer holding one
 * complete JSON text (or, for the counter, a stream of chunks) and returns
 * spans (offset + length) into that buffer. It never allocates, never
 * recurses, and never reads outside [buf, buf + len), whatever the bytes.
 *
 * Why not jansson everywhere: most gateway payloads need only top-level "op",
 * "t" and "s", GUILD_CREATE can be megabytes of which we want two fields, and
 * IDENTIFY/RESUME carry the bot token, which a DOM parser would copy onto the
 * heap. Skimming keys and skipping values is a linear scan with no copies.
 *
 * The skimmer is lenient where leniency cannot mislead (it does not validate
 * numbers or UTF-8), and strict where it must be: an unterminated string or
 * container, or a number or literal that runs to the end of the buffer, is
 * an error, so a truncated message never yields a field that was cut in
 * half.
 *
 * Threads: any; no shared state. Returns: iterators give 1 (an item), 0 (end
 * of the container) or -EINVAL (malformed or truncated); value helpers give
 * 0 or -EINVAL.
 */
#ifndef ARGUS_JSCAN_H
#define ARGUS_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A raw value or key: for strings, the bytes between the quotes, escapes
 * left as they are; for anything else, the value's text. */
struct jscan_span {
    const char *p;
    size_t len;
    bool is_string;
};

struct jscan_iter {
    const char *buf;
    size_t len;
    size_t pos;
    bool first;
};

/* Starts iterating the object (or array) whose '{' ('[') is the first
 * non-space byte of span `v` (a value span from another iterator, or the
 * whole text). -EINVAL if it is not one. */
int jscan_object(struct jscan_iter *it, const char *buf, size_t len);
int jscan_array(struct jscan_iter *it, const char *buf, size_t len);

/* Next member: fills *key and *val. */
int jscan_object_next(struct jscan_iter *it, struct jscan_span *key, struct jscan_span *val);
/* Next element: fills *val. */
int jscan_array_next(struct jscan_iter *it, struct jscan_span *val);

/* Convenience: finds member `name` (raw key comparison) of the object in
 * [buf, buf + len). Returns 1 and fills *val, 0 if absent, -EINVAL. */
int jscan_find(const char *buf, size_t len, const char *name, struct jscan_span *val);

/* Key equality on the raw key (a key with escapes never matches). Inline so
 * the length of a literal name folds to a constant on the hot path. */
static inline bool jscan_key_is(const struct jscan_span *key, const char *name)
{
    size_t n = __builtin_strlen(name);

    return key->len == n && __builtin_memcmp(key->p, name, n) == 0;
}

/* Value helpers. A snowflake may be a JSON string of digits or a number. */
int jscan_u64(const struct jscan_span *v, uint64_t *out);
int jscan_i64(const struct jscan_span *v, int64_t *out);
int jscan_bool(const struct jscan_span *v, bool *out);
bool jscan_is_null(const struct jscan_span *v);

/* Unescapes a string value into out (cap bytes, NUL-terminated, truncated at
 * a UTF-8 boundary when it does not fit). Returns the bytes written
 * (excluding the NUL), or -EINVAL if v is not a string or has a bad escape. */
int jscan_string(const struct jscan_span *v, char *out, size_t cap);

/* Streaming counter of the elements of a top-level JSON array, fed in
 * arbitrary chunks (used for the command-sync response, whose body can be
 * large and compressed). Zero-fill, then feed. count is valid once done. */
struct jscan_counter {
    uint32_t depth;
    uint8_t in_string, escaped, saw_value, done, error;
    uint64_t count;
};

void jscan_counter_feed(struct jscan_counter *c, const uint8_t *buf, size_t len);

#endif
