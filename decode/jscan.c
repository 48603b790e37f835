/*
 * jscan.c - skimming JSON without building it.
 *
 * Skipping a value is the hot path (a MESSAGE_CREATE-heavy gateway spends
 * most of its decode time here), so strings are skipped with memchr() for the
 * closing quote and a look back over backslashes, and containers with one
 * byte loop that only cares about quotes and brackets. Containers are skipped
 * by counting depth rather than recursing, so a hostile "[[[[..." costs
 * nothing but time linear in its length.
 */
#include "jscan.h"

#include <errno.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *p, size_t len, size_t i)
{
    while (i < len && is_space(p[i]))
        i++;
    return i;
}

/* p[i] is the opening quote. Returns the index just past the closing quote,
 * or 0 if the string does not end inside the buffer. */
static size_t skip_string(const char *p, size_t len, size_t i)
{
    size_t at = i + 1;

    for (;;) {
        const char *q = at < len ? memchr(p + at, '"', len - at) : NULL;
        if (q == NULL)
            return 0;
        size_t end = (size_t)(q - p);
        size_t backslashes = 0;
        while (end - backslashes > i + 1 && p[end - backslashes - 1] == '\\')
            backslashes++;
        if (backslashes % 2 == 0)
            return end + 1;
        at = end + 1;
    }
}

/* Skips the value starting at p[i] (no leading space). Returns the index just
 * past it, or 0 if it is malformed or does not end inside the buffer. */
static size_t skip_value(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (p[i] == '"')
        return skip_string(p, len, i);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = p[i];
            if (c == '"') {
                i = skip_string(p, len, i);
                if (i == 0)
                    return 0;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
                if (depth == 0)
                    return i + 1;
            }
            i++;
        }
        return 0;
    }
    /* A number, true, false or null: up to the next delimiter, which must be
     * inside the buffer. Values are only taken inside a container, so a
     * scalar that runs to the end was cut ("op":10 read as "op":1). */
    size_t start = i;
    while (i < len && p[i] != ',' && p[i] != '}' && p[i] != ']' && !is_space(p[i]) && p[i] != ':')
        i++;
    return i > start && i < len ? i : 0;
}

static int begin(struct jscan_iter *it, const char *buf, size_t len, char open)
{
    size_t i = skip_space(buf, len, 0);

    if (i >= len || buf[i] != open)
        return -EINVAL;
    it->buf = buf;
    it->len = len;
    it->pos = i + 1;
    it->first = true;
    return 0;
}

int jscan_object(struct jscan_iter *it, const char *buf, size_t len)
{
    return begin(it, buf, len, '{');
}

int jscan_array(struct jscan_iter *it, const char *buf, size_t len)
{
    return begin(it, buf, len, '[');
}

/* Moves past the separator before the next item. Returns 1 if an item
 * follows, 0 at the closing bracket, -EINVAL otherwise. */
static int next_item(struct jscan_iter *it, char close)
{
    size_t i = skip_space(it->buf, it->len, it->pos);

    if (i >= it->len)
        return -EINVAL;
    if (it->buf[i] == close) {
        it->pos = i + 1;
        return 0;
    }
    if (!it->first) {
        if (it->buf[i] != ',')
            return -EINVAL;
        i = skip_space(it->buf, it->len, i + 1);
        if (i >= it->len)
            return -EINVAL;
    }
    it->first = false;
    it->pos = i;
    return 1;
}

static int take_value(struct jscan_iter *it, struct jscan_span *val)
{
    size_t start = skip_space(it->buf, it->len, it->pos);
    size_t end = skip_value(it->buf, it->len, start);

    if (end == 0)
        return -EINVAL;
    val->is_string = it->buf[start] == '"';
    val->p = it->buf + start + (val->is_string ? 1 : 0);
    val->len = end - start - (val->is_string ? 2 : 0);
    it->pos = end;
    return 1;
}

int jscan_object_next(struct jscan_iter *it, struct jscan_span *key, struct jscan_span *val)
{
    int rc = next_item(it, '}');

    if (rc <= 0)
        return rc;
    if (it->buf[it->pos] != '"')
        return -EINVAL;
    size_t kend = skip_string(it->buf, it->len, it->pos);
    if (kend == 0)
        return -EINVAL;
    key->p = it->buf + it->pos + 1;
    key->len = kend - it->pos - 2;
    key->is_string = true;
    size_t colon = skip_space(it->buf, it->len, kend);
    if (colon >= it->len || it->buf[colon] != ':')
        return -EINVAL;
    it->pos = colon + 1;
    return take_value(it, val);
}

int jscan_array_next(struct jscan_iter *it, struct jscan_span *val)
{
    int rc = next_item(it, ']');

    if (rc <= 0)
        return rc;
    return take_value(it, val);
}

int jscan_find(const char *buf, size_t len, const char *name, struct jscan_span *val)
{
    struct jscan_iter it;
    struct jscan_span key;
    int rc = jscan_object(&it, buf, len);

    while (rc >= 0) {
        rc = jscan_object_next(&it, &key, val);
        if (rc <= 0)
            break;
        if (jscan_key_is(&key, name))
            return 1;
    }
    return rc;
}

int jscan_u64(const struct jscan_span *v, uint64_t *out)
{
    uint64_t x = 0;

    if (v->len == 0 || v->len > 20)
        return -EINVAL;
    for (size_t i = 0; i < v->len; i++) {
        unsigned d = (unsigned)(v->p[i] - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return -EINVAL;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

int jscan_i64(const struct jscan_span *v, int64_t *out)
{
    struct jscan_span digits = *v;
    bool negative = v->len > 0 && v->p[0] == '-';
    uint64_t x;

    if (v->is_string)
        return -EINVAL;
    if (negative) {
        digits.p++;
        digits.len--;
    }
    if (jscan_u64(&digits, &x) < 0 || x > (uint64_t)INT64_MAX)
        return -EINVAL;
    *out = negative ? -(int64_t)x : (int64_t)x;
    return 0;
}

int jscan_bool(const struct jscan_span *v, bool *out)
{
    if (!v->is_string && v->len == 4 && memcmp(v->p, "true", 4) == 0) {
        *out = true;
        return 0;
    }
    if (!v->is_string && v->len == 5 && memcmp(v->p, "false", 5) == 0) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

bool jscan_is_null(const struct jscan_span *v)
{
    return !v->is_string && v->len == 4 && memcmp(v->p, "null", 4) == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_u16_escape(const char *p, size_t avail, uint32_t *out)
{
    uint32_t x = 0;

    if (avail < 4)
        return -EINVAL;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -EINVAL;
        x = x << 4 | (uint32_t)h;
    }
    *out = x;
    return 0;
}

static size_t utf8_encode(uint32_t cp, char buf[4])
{
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xc0 | cp >> 6);
        buf[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xe0 | cp >> 12);
        buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        buf[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    buf[0] = (char)(0xf0 | cp >> 18);
    buf[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    buf[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    buf[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

int jscan_string(const struct jscan_span *v, char *out, size_t cap)
{
    size_t w = 0;

    if (!v->is_string || cap == 0)
        return -EINVAL;
    for (size_t i = 0; i < v->len;) {
        char enc[4];
        size_t n = 1;
        char c = v->p[i];
        if (c != '\\') {
            enc[0] = c;
            i++;
        } else {
            if (i + 1 >= v->len)
                return -EINVAL;
            char e = v->p[i + 1];
            i += 2;
            switch (e) {
            case 'n':
                enc[0] = '\n';
                break;
            case 't':
                enc[0] = '\t';
                break;
            case 'r':
                enc[0] = '\r';
                break;
            case 'b':
                enc[0] = '\b';
                break;
            case 'f':
                enc[0] = '\f';
                break;
            case '"':
            case '\\':
            case '/':
                enc[0] = e;
                break;
            case 'u': {
                uint32_t cp, lo;
                if (parse_u16_escape(v->p + i, v->len - i, &cp) < 0)
                    return -EINVAL;
                i += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= v->len && v->p[i] == '\\' &&
                    v->p[i + 1] == 'u' && parse_u16_escape(v->p + i + 2, 4, &lo) == 0 &&
                    lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
                n = utf8_encode(cp, enc);
                break;
            }
            default:
                return -EINVAL;
            }
        }
        if (w + n >= cap) {
            /* Does not fit: stop here, which never splits an escape, and
             * drop the last UTF-8 sequence copied from raw bytes only if it
             * is incomplete (a complete one is kept). */
            size_t tail = 0;
            while (tail < w && tail < 3 && ((unsigned char)out[w - 1 - tail] & 0xc0) == 0x80)
                tail++;
            if (tail < w) {
                unsigned char lead = (unsigned char)out[w - 1 - tail];
                size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
                if (need > tail + 1)
                    w -= tail + 1;
            }
            break;
        }
        memcpy(out + w, enc, n);
        w += n;
    }
    out[w] = '\0';
    return (int)w;
}

void jscan_counter_feed(struct jscan_counter *c, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len && !c->done && !c->error; i++) {
        uint8_t b = buf[i];
        if (c->in_string) {
            if (c->escaped)
                c->escaped = 0;
            else if (b == '\\')
                c->escaped = 1;
            else if (b == '"')
                c->in_string = 0;
            continue;
        }
        if (b == ' ' || b == '\t' || b == '\n' || b == '\r')
            continue;
        if (c->depth == 0) {
            /* Only an array at the top level is counted. */
            if (b != '[')
                c->error = 1;
            c->depth = 1;
            continue;
        }
        if (c->depth == 1 && b != ']' && b != ',' && !c->saw_value) {
            c->saw_value = 1;
            c->count++;
        }
        if (b == '"') {
            c->in_string = 1;
        } else if (b == '[' || b == '{') {
            if (c->depth == UINT32_MAX)
                c->error = 1;
            c->depth++;
        } else if (b == ']' || b == '}') {
            c->depth--;
            if (c->depth == 0)
                c->done = 1;
        } else if (b == ',' && c->depth == 1) {
            c->saw_value = 0;
        }
    }
}
