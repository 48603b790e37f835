/*
 * url.c - see url.h. Collectors that take credentials in the URL get them
 * there, so nothing after the scheme but the host and path is ever shown.
 */
#include "url.h"

#include <string.h>
#include <strings.h>

#include "strbuf.h"

struct url_parts url_split(const char *url)
{
    struct url_parts u = {0, 0, 0};
    size_t scheme = strcspn(url, ":/?#");

    if (strncmp(url + scheme, "://", 3) == 0)
        u.authority = scheme + 3;
    u.path = u.authority + strcspn(url + u.authority, "/?#");
    u.tail = u.path + strcspn(url + u.path, "?#");
    return u;
}

/* The userinfo (user:password@) of a URL's authority, as the offset just
 * past its '@' (the last one), or the authority's own offset when none. */
size_t url_host(const char *url, struct url_parts u)
{
    size_t host = u.authority;

    for (size_t i = u.authority; i < u.path; i++)
        if (url[i] == '@')
            host = i + 1;
    return host;
}

/* Copies url into out for a log line: userinfo becomes "<elided>@", each
 * query value "<elided>" (a parameter without '=' is elided whole), and a
 * fragment "#<elided>". Collectors that take credentials in the URL get them
 * there. A value that is not a URL at all is treated as if it had no scheme. */
const char *url_shown(const char *url, char *out, size_t size)
{
    struct url_parts u = url_split(url);
    size_t host = url_host(url, u), used = 0;
    const char *q = url + u.tail;

    out[0] = '\0';
    text_add(out, size, &used, "%.*s%s%.*s", (int)u.authority, url,
             host > u.authority ? "<elided>@" : "", (int)(u.tail - host), url + host);
    if (*q == '?') {
        text_add(out, size, &used, "?");
        for (q++; *q && *q != '#';) {
            size_t len = strcspn(q, "&#");
            const char *eq = memchr(q, '=', len);
            if (eq != NULL)
                text_add(out, size, &used, "%.*s=<elided>", (int)(eq - q), q);
            else if (len > 0)
                text_add(out, size, &used, "<elided>");
            q += len;
            if (*q == '&') {
                text_add(out, size, &used, "&");
                q++;
            }
        }
    }
    if (*q == '#')
        text_add(out, size, &used, "#<elided>");
    return out;
}

bool url_is_http(const char *url)
{
    struct url_parts u = url_split(url);

    return (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) &&
           url_host(url, u) < u.path && !strpbrk(url, " \t\r\n");
}
