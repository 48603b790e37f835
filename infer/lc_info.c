/*
 * lc_info.c - discord_bot_info (lc_info.h).
 *
 * The info metric holds one attribute set, replaced whole, so the fields are
 * kept here and published together; a READY after a library was learned (a
 * new session) keeps the library, and the reverse.
 */
#include "lc_info.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "argus_build.h"

void lc_info_init(struct lc_info *i, struct reg_metric *metric)
{
    *i = (struct lc_info){.metric = metric};
}

static void lc_info_publish(const struct lc_info *i)
{
    reg_info_set(i->metric,
                 REG_ATTRS({"bot_id", i->bot_id}, {"bot_name", i->bot_name},
                           {"library", i->library}, {"library_version", i->library_version},
                           {"runtime", i->runtime}, {"argus_version", ARGUS_VERSION}));
}

void lc_info_on_ready(struct lc_info *i, uint64_t user_id, const char *username)
{
    snprintf(i->bot_id, sizeof(i->bot_id), "%" PRIu64, user_id);
    snprintf(i->bot_name, sizeof(i->bot_name), "%s", username);
    lc_info_publish(i);
}

/* HTTP clients whose User-Agent stands in for the bot library's on some
 * calls. */
static bool lc_info_is_http_client(const char *library)
{
    static const char *const clients[] = {"aiohttp",         "undici", "node-fetch", "axios",
                                          "python-requests", "httpx",  "Python",     "Node.js"};
    for (size_t k = 0; k < sizeof(clients) / sizeof(clients[0]); k++) {
        if (strcmp(library, clients[k]) == 0)
            return true;
    }
    return false;
}

void lc_info_on_rest(struct lc_info *i, const struct ev_rest *r)
{
    if (!r->library[0] || strcmp(i->library, r->library) == 0)
        return;
    if (i->library[0] &&
        (!lc_info_is_http_client(i->library) || lc_info_is_http_client(r->library)))
        return;
    snprintf(i->library, sizeof(i->library), "%s", r->library);
    snprintf(i->library_version, sizeof(i->library_version), "%s", r->library_version);
    snprintf(i->runtime, sizeof(i->runtime), "%s", r->runtime);
    lc_info_publish(i);
}
