/*
 * prom_negotiate.c - Accept and Accept-Encoding, as far as /metrics needs.
 *
 * Both headers are comma-separated lists of "token *(;param)" (RFC 9110
 * §12.5.1 and §12.5.3), so one walker splits them and reads the two
 * parameters that matter here, q and version; the callers only compare
 * tokens. A full RFC 9110 parser (quoted strings, wildcard precedence by
 * specificity) was rejected: Prometheus, the OpenTelemetry Collector and
 * curl send plain lists, and a misread header costs only the text format.
 */
#include "prom_negotiate.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One element of a list header. */
struct list_item {
    const char *token; /* trimmed, not NUL-terminated */
    size_t len;
    double q; /* 1 when absent or unreadable */
    char version[16];
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*s)[*len - 1]))
        (*len)--;
}

/* Reads "q=0.5" and "version=..." out of one element's parameters. */
static void read_params(const char *params, size_t len, struct list_item *it)
{
    size_t i = 0;

    while (i < len) {
        while (i < len && (params[i] == ';' || is_blank(params[i])))
            i++;
        size_t start = i;
        while (i < len && params[i] != ';')
            i++;
        const char *p = params + start;
        size_t plen = i - start;
        trim(&p, &plen);
        if (plen > 2 && strncasecmp(p, "q=", 2) == 0) {
            char num[16];
            snprintf(num, sizeof(num), "%.*s", (int)(plen - 2 < 15 ? plen - 2 : 15), p + 2);
            char *end;
            double v = strtod(num, &end);
            if (end != num && *end == '\0' && v >= 0 && v <= 1)
                it->q = v;
        } else if (plen > 8 && strncasecmp(p, "version=", 8) == 0) {
            snprintf(it->version, sizeof(it->version), "%.*s", (int)(plen - 8), p + 8);
        }
    }
}

/* Reads the element starting at *list into it and moves *list past it (to
 * NULL after the last). Returns false when there is nothing left. */
static bool list_next(const char **list, struct list_item *it)
{
    const char *p = *list;

    if (p == NULL || *p == '\0')
        return false;
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *semi = memchr(p, ';', len);

    *it = (struct list_item){.token = p, .len = semi ? (size_t)(semi - p) : len, .q = 1.0};
    trim(&it->token, &it->len);
    if (semi)
        read_params(semi, len - (size_t)(semi - p), it);
    *list = end ? end + 1 : NULL;
    return true;
}

static bool token_is(const struct list_item *it, const char *name)
{
    return it->len == strlen(name) && strncasecmp(it->token, name, it->len) == 0;
}

enum prom_text_format prom_negotiate_format(const char *accept)
{
    double q_text = -1, q_om = -1;
    struct list_item it;

    /* Prometheus 2.x sends, for example:
     *   application/openmetrics-text;version=1.0.0,application/openmetrics-text;
     *   version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*\/\*;q=0.1 */
    while (list_next(&accept, &it)) {
        if (token_is(&it, "application/openmetrics-text")) {
            bool known = !it.version[0] || strcmp(it.version, "1.0.0") == 0 ||
                         strcmp(it.version, "0.0.1") == 0;
            if (known && it.q > q_om)
                q_om = it.q;
        } else if (token_is(&it, "text/plain") || token_is(&it, "text/*") || token_is(&it, "*/*")) {
            if (it.q > q_text)
                q_text = it.q;
        }
    }
    return q_om > 0 && q_om > q_text ? PROM_TEXT_OPENMETRICS_1_0 : PROM_TEXT_0_0_4;
}

const char *prom_negotiate_content_type(enum prom_text_format format)
{
    return format == PROM_TEXT_OPENMETRICS_1_0
               ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
               : "text/plain; version=0.0.4; charset=utf-8";
}

bool prom_negotiate_gzip(const char *accept_encoding)
{
    struct list_item it;
    bool accepted = false;

    while (!accepted && list_next(&accept_encoding, &it))
        accepted = (token_is(&it, "gzip") || token_is(&it, "*")) && it.q > 0;
    return accepted;
}
