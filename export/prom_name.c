/*
 * prom_name.c - otlptranslator's names, in C.
 *
 * Where otlptranslator's code and the specification's prose differ (the
 * specification collapses "__" in label names, the code does not), the code
 * wins: it is what produces the names users actually have. The tables and
 * steps below keep the Go functions' names in their comments so the two can
 * be compared side by side when otlptranslator changes.
 */
#include "prom_name.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PROM_NAME_MAX_TOKENS 160 /* a 255-byte name has at most 128 tokens, plus suffixes */

struct unit_word {
    const char *ucum;
    const char *word;
};

/* unit_namer.go unitMap (spec-correct mapping: TiBy is tebibytes). */
static const struct unit_word unit_words[] = {
    {"d", "days"},
    {"h", "hours"},
    {"min", "minutes"},
    {"s", "seconds"},
    {"ms", "milliseconds"},
    {"us", "microseconds"},
    {"ns", "nanoseconds"},
    {"By", "bytes"},
    {"KiBy", "kibibytes"},
    {"MiBy", "mebibytes"},
    {"GiBy", "gibibytes"},
    {"TiBy", "tebibytes"},
    {"KBy", "kilobytes"},
    {"MBy", "megabytes"},
    {"GBy", "gigabytes"},
    {"TBy", "terabytes"},
    {"m", "meters"},
    {"V", "volts"},
    {"A", "amperes"},
    {"J", "joules"},
    {"W", "watts"},
    {"g", "grams"},
    {"Cel", "celsius"},
    {"Hz", "hertz"},
    {"1", ""},
    {"%", "percent"},
};

/* perUnitMap: "By/s" is bytes per second, singular. */
static const struct unit_word per_unit_words[] = {
    {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
    {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

static bool is_metric_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *lookup_word(const struct unit_word *table, size_t n, const char *ucum,
                               size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].ucum) == len && memcmp(table[i].ucum, ucum, len) == 0)
            return table[i].word;
    }
    return NULL;
}

/* Trims ASCII white space (Go's strings.TrimSpace, for the units we meet). */
static void trim_span(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\n' ||
                        (*s)[*len - 1] == '\r'))
        (*len)--;
}

static bool has_brace(const char *s, size_t len)
{
    return memchr(s, '{', len) != NULL || memchr(s, '}', len) != NULL;
}

/* cleanUpUnit: invalid characters become '_', runs of '_' collapse, one
 * leading '_' goes. Returns -ENAMETOOLONG if out is too small. */
static int clean_unit(const char *in, char *out, size_t cap)
{
    size_t n = 0;

    for (const char *p = in; *p; p++) {
        char c = is_metric_char(*p) ? *p : '_';
        if (c == '_' && n > 0 && out[n - 1] == '_')
            continue;
        if (n + 1 >= cap)
            return -ENAMETOOLONG;
        out[n++] = c;
    }
    out[n] = '\0';
    if (out[0] == '_')
        memmove(out, out + 1, n); /* includes the NUL */
    return 0;
}

/* buildUnitSuffixes followed by cleanUpUnit on each part: main gets the unit
 * word ("seconds"), per gets "per_" + the per word ("per_second"). */
static int unit_suffixes(const char *unit, char *main_out, char *per_out, size_t cap)
{
    char raw[PROM_NAME_MAX];
    const char *slash = unit ? strchr(unit, '/') : NULL;
    const char *m = unit ? unit : "";
    size_t mlen = slash ? (size_t)(slash - m) : strlen(m);
    int rc;

    raw[0] = '\0';
    trim_span(&m, &mlen);
    if (mlen > 0 && !has_brace(m, mlen)) {
        const char *w =
            lookup_word(unit_words, sizeof(unit_words) / sizeof(unit_words[0]), m, mlen);
        if (!w && mlen >= sizeof(raw))
            return -ENAMETOOLONG;
        snprintf(raw, sizeof(raw), "%.*s", w ? (int)strlen(w) : (int)mlen, w ? w : m);
    }
    rc = clean_unit(raw, main_out, cap);
    if (rc < 0)
        return rc;

    raw[0] = '\0';
    if (slash && slash[1] != '\0') {
        const char *p = slash + 1;
        size_t plen = strlen(p);
        trim_span(&p, &plen);
        if (plen > 0 && !has_brace(p, plen)) {
            const char *w = lookup_word(
                per_unit_words, sizeof(per_unit_words) / sizeof(per_unit_words[0]), p, plen);
            if (!w && plen + 5 >= sizeof(raw))
                return -ENAMETOOLONG;
            snprintf(raw, sizeof(raw), "per_%.*s", w ? (int)strlen(w) : (int)plen, w ? w : p);
        }
    }
    return clean_unit(raw, per_out, cap);
}

struct token {
    const char *s;
    size_t len;
};

static bool tokens_contain(const struct token *t, unsigned n, const char *word)
{
    size_t len = strlen(word);

    for (unsigned i = 0; i < n; i++) {
        if (t[i].len == len && memcmp(t[i].s, word, len) == 0)
            return true;
    }
    return false;
}

static unsigned tokens_remove(struct token *t, unsigned n, const char *word)
{
    size_t len = strlen(word);
    unsigned kept = 0;

    for (unsigned i = 0; i < n; i++) {
        if (!(t[i].len == len && memcmp(t[i].s, word, len) == 0))
            t[kept++] = t[i];
    }
    return kept;
}

static void strip_trailing_underscore(char *s)
{
    size_t len = strlen(s);

    if (len > 0 && s[len - 1] == '_')
        s[len - 1] = '\0';
}

/* The name's words: split at every character outside [A-Za-z0-9:], '_'
 * included, which is how runs of '_' collapse (strings.FieldsFunc). Leaves
 * room for three more tokens (unit, per-unit, type suffix). Returns the
 * count or -ENAMETOOLONG. */
static int name_tokens(const char *name, struct token *tokens)
{
    unsigned n = 0;

    for (const char *p = name; *p;) {
        while (*p && !is_metric_char(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && is_metric_char(*p))
            p++;
        if (n >= PROM_NAME_MAX_TOKENS - 3)
            return -ENAMETOOLONG;
        tokens[n++] = (struct token){start, (size_t)(p - start)};
    }
    return (int)n;
}

/* addUnitTokens: the unit words not already among the name's tokens. The
 * tokens added point into main_word and per_word. Returns the new count. */
static unsigned add_unit_tokens(struct token *tokens, unsigned n, char *main_word, char *per_word)
{
    if (tokens_contain(tokens, n, main_word))
        main_word[0] = '\0';
    if (strcmp(per_word, "per_") == 0) {
        per_word[0] = '\0';
    } else {
        strip_trailing_underscore(per_word);
        if (tokens_contain(tokens, n, per_word))
            per_word[0] = '\0';
    }
    if (per_word[0])
        strip_trailing_underscore(main_word);
    if (main_word[0])
        tokens[n++] = (struct token){main_word, strlen(main_word)};
    if (per_word[0])
        tokens[n++] = (struct token){per_word, strlen(per_word)};
    return n;
}

/* The type's suffix moved to the end, once: "total" for monotonic counters,
 * "ratio" for gauges of unit "1". Returns the new count. */
static unsigned add_type_suffix(struct token *tokens, unsigned n, const char *unit,
                                enum prom_name_type type)
{
    const char *suffix = NULL;

    if (type == PROM_NAME_MONOTONIC_COUNTER)
        suffix = "total";
    else if (type == PROM_NAME_GAUGE && unit && strcmp(unit, "1") == 0)
        suffix = "ratio";
    if (suffix) {
        n = tokens_remove(tokens, n, suffix);
        tokens[n++] = (struct token){suffix, strlen(suffix)};
    }
    return n;
}

/* Joins the tokens with '_', behind a '_' when the first starts with a digit. */
static int join_tokens(const struct token *tokens, unsigned n, char *out, size_t cap)
{
    size_t len = 0;

    if (n > 0 && is_digit(tokens[0].s[0])) {
        if (len + 1 >= cap)
            return -ENAMETOOLONG;
        out[len++] = '_';
    }
    for (unsigned i = 0; i < n; i++) {
        if (len + tokens[i].len + 1 + (i > 0) > cap)
            return -ENAMETOOLONG;
        if (i > 0)
            out[len++] = '_';
        memcpy(out + len, tokens[i].s, tokens[i].len);
        len += tokens[i].len;
    }
    out[len] = '\0';
    if (strspn(out, "_") == len) /* empty, or nothing but '_' */
        return -EINVAL;
    return (int)len;
}

int prom_name_metric(const char *name, const char *unit, enum prom_name_type type, char *out,
                     size_t cap)
{
    struct token tokens[PROM_NAME_MAX_TOKENS];
    char main_word[PROM_NAME_MAX], per_word[PROM_NAME_MAX];
    int rc = -EINVAL;

    if (!name || !out || cap == 0)
        goto out;
    rc = name_tokens(name, tokens);
    if (rc < 0)
        goto out;
    unsigned n = (unsigned)rc;
    rc = unit_suffixes(unit, main_word, per_word, sizeof(main_word));
    if (rc < 0)
        goto out;
    n = add_unit_tokens(tokens, n, main_word, per_word);
    n = add_type_suffix(tokens, n, unit, type);
    rc = join_tokens(tokens, n, out, cap);
out:
    return rc;
}

int prom_name_unit(const char *unit, char *out, size_t cap)
{
    char main_word[PROM_NAME_MAX], per_word[PROM_NAME_MAX];
    int rc = unit_suffixes(unit, main_word, per_word, sizeof(main_word));
    int len;

    if (rc < 0)
        return rc;
    if (main_word[0] && per_word[0])
        len = snprintf(out, cap, "%s_%s", main_word, per_word);
    else
        len = snprintf(out, cap, "%s", main_word[0] ? main_word : per_word);
    if (len < 0 || (size_t)len >= cap)
        return -ENAMETOOLONG;
    if (len > 0 && out[0] == '_')
        memmove(out, out + 1, (size_t)len--);
    if (len > 0 && out[len - 1] == '_')
        out[--len] = '\0';
    return len;
}

static bool is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

int prom_name_label(const char *key, char *out, size_t cap)
{
    char escaped[PROM_NAME_MAX];
    size_t n = 0;
    const char *prefix = "";
    int len;

    if (!key || !*key || !out)
        return -EINVAL;
    /* sanitizeLabelName: one '_' per invalid character, where Go's regexp
     * sees characters (runes), so a UTF-8 sequence becomes one '_'. */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (n + 1 >= sizeof(escaped))
            return -ENAMETOOLONG;
        if (*p >= 0xC0) {
            while ((p[1] & 0xC0) == 0x80)
                p++;
        }
        escaped[n++] = is_label_char((char)*p) ? (char)*p : '_';
    }
    escaped[n] = '\0';
    if (is_digit(escaped[0]))
        prefix = "key_";
    else if (escaped[0] == '_' && escaped[1] != '_')
        prefix = "key";
    len = snprintf(out, cap, "%s%s", prefix, escaped);
    if (len < 0 || (size_t)len >= cap)
        return -ENAMETOOLONG;
    if (strspn(out, "_") == (size_t)len && strcmp(out, key) != 0)
        return -EINVAL;
    return len;
}
