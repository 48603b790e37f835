/*
 * url.h - the few things the configuration needs to know of a URL: where
 * its parts begin, whether it is an http(s) URL with a host, and how to show
 * it in a log line without its secrets (userinfo, query values, fragment).
 * Pure functions on NUL-terminated strings; no allocation.
 */
#ifndef ARGUS_URL_H
#define ARGUS_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Where the parts of a URL begin, as offsets into it: the authority (after
 * "scheme://", or 0 when the value has no scheme), the path, and the query or
 * fragment (the length of the URL when there is neither). A "://" that comes
 * after a '/', '?' or '#' is inside the path or query, not a scheme. */
struct url_parts {
    size_t authority, path, tail;
};

struct url_parts url_split(const char *url);

/* The offset just past the userinfo's last '@', or the authority's own offset
 * when there is none. */
size_t url_host(const char *url, struct url_parts u);

/* Copies url into out (NUL-terminated, truncated at size) for a log line:
 * userinfo becomes "<elided>@", each query value "<elided>" (a parameter
 * without '=' is elided whole), and a fragment "#<elided>". Returns out. */
const char *url_shown(const char *url, char *out, size_t size);

/* An http:// or https:// URL with a host and no blanks. */
bool url_is_http(const char *url);

#endif
