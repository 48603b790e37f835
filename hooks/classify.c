/*
 * classify.c - Discord recognition (see classify.h for the rules).
 *
 * This runs on the bot's thread, once per connection, so it is written as a
 * bounded scan of the caller's bytes: no copy of the request beyond the host
 * name, no allocation, at most CLASSIFY_HEAD_MAX bytes looked at. Anything
 * that does not look like an HTTP/1.x request head (HTTP/2's binary preface,
 * a protocol that is not HTTP at all) is simply not Discord.
 */
#include "classify.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define CLASSIFY_HTTPS_PORT 443

static char classify_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Copies name[0..len) lower-cased into out; false if it cannot be a host
 * name (empty, too long, or holding characters no host name has). */
static bool classify_copy_host(const char *name, size_t len, char *out)
{
    if (len == 0 || len >= CLASSIFY_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = classify_lower(name[i]);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == ':' || c == '_';
        if (!ok)
            return false;
        out[i] = c;
    }
    out[len] = '\0';
    return true;
}

static bool classify_ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len > n && memcmp(s + len - n, suffix, n) == 0;
}

static bool classify_builtin(const char *host, size_t len)
{
    return strcmp(host, "discord.com") == 0 || strcmp(host, "discordapp.com") == 0 ||
           classify_ends_with(host, len, ".discord.gg") ||
           classify_ends_with(host, len, ".discord.com") ||
           /* Voice gateways: counted by the core, never decoded. */
           classify_ends_with(host, len, ".discord.media");
}

/* port < 0: unknown (SNI). */
static bool classify_configured(const struct argus_config *cfg, const char *host, long port)
{
    for (unsigned i = 0; i < cfg->n_discord_hosts; i++) {
        const struct argus_discord_host *h = &cfg->discord_hosts[i];
        if (strcmp(h->host, host) != 0)
            continue;
        if (h->port == 0)
            return true;
        if (port < 0 ? h->port == CLASSIFY_HTTPS_PORT : h->port == port)
            return true;
    }
    return false;
}

size_t classify_sni(const struct argus_config *cfg, const char *sni, char *host_out)
{
    if (sni == NULL)
        return 0;
    size_t len = strnlen(sni, CLASSIFY_HOST_MAX);
    if (!classify_copy_host(sni, len, host_out))
        return 0;
    if (classify_builtin(host_out, len) || classify_configured(cfg, host_out, -1))
        return len;
    return 0;
}

/* Splits a Host header value "name[:port]" or "[v6]:port" and matches it. */
static size_t classify_host_value(const struct argus_config *cfg, const char *v, size_t len,
                                  char *host_out)
{
    const char *name = v;
    size_t name_len = len;
    const char *port_str = NULL;
    size_t port_len = 0;

    if (len > 0 && v[0] == '[') {
        const char *close = memchr(v, ']', len);
        if (close == NULL)
            return 0;
        name = v + 1;
        name_len = (size_t)(close - name);
        if (close + 1 < v + len) {
            if (close[1] != ':')
                return 0;
            port_str = close + 2;
            port_len = (size_t)(v + len - port_str);
        }
    } else {
        const char *colon = memchr(v, ':', len);
        if (colon != NULL) {
            name_len = (size_t)(colon - v);
            port_str = colon + 1;
            port_len = (size_t)(v + len - port_str);
        }
    }

    long port = CLASSIFY_HTTPS_PORT;
    if (port_str != NULL) {
        if (port_len == 0 || port_len > 5)
            return 0;
        port = 0;
        for (size_t i = 0; i < port_len; i++) {
            if (port_str[i] < '0' || port_str[i] > '9')
                return 0;
            port = port * 10 + (port_str[i] - '0');
        }
        if (port > 65535)
            return 0;
    }
    if (!classify_copy_host(name, name_len, host_out))
        return 0;
    if (classify_builtin(host_out, name_len) || classify_configured(cfg, host_out, port))
        return name_len;
    return 0;
}

/* The request line: METHOD SP target SP HTTP/1.x, the method in capitals. */
static bool classify_request_line(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && p[i] >= 'A' && p[i] <= 'Z')
        i++;
    if (i == 0 || i >= len || p[i] != ' ')
        return false;
    const char *sp = memchr(p + i + 1, ' ', len - i - 1);
    if (sp == NULL)
        return false;
    size_t rest = len - (size_t)(sp + 1 - p);
    return rest >= 8 && memcmp(sp + 1, "HTTP/1.", 7) == 0;
}

bool classify_starts_request(const uint8_t *buf, size_t len)
{
    const char *p = (const char *)buf;
    size_t n = len < CLASSIFY_HEAD_MAX ? len : CLASSIFY_HEAD_MAX;
    const char *eol = memchr(p, '\n', n);
    return eol != NULL && classify_request_line(p, (size_t)(eol - p));
}

size_t classify_request(const struct argus_config *cfg, const uint8_t *buf, size_t len,
                        char *host_out)
{
    const char *p = (const char *)buf;
    const char *end = p + (len < CLASSIFY_HEAD_MAX ? len : CLASSIFY_HEAD_MAX);

    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL || !classify_request_line(p, (size_t)(eol - p)))
        return 0;

    for (const char *line = eol + 1; line < end; line = eol + 1) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            return 0; /* the head goes on past what we look at */
        size_t n = (size_t)(eol - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            return 0; /* end of the head without a Host header */
        if (n < 5 || strncasecmp(line, "host:", 5) != 0)
            continue;
        const char *v = line + 5;
        const char *v_end = line + n;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        return classify_host_value(cfg, v, (size_t)(v_end - v), host_out);
    }
    return 0;
}
