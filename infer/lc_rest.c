/*
 * lc_rest.c - the REST metrics (lc_rest.h).
 *
 * A request that ended without a response (status 0) is counted but gets no
 * duration: the time to a dropped connection says nothing about Discord.
 */
#include "lc_rest.h"

#include <stdbool.h>
#include <stdio.h>

void lc_rest_record(const struct lc_metrics *m, const struct ev_rest *r)
{
    char status[12];
    snprintf(status, sizeof(status), "%d", r->status);
    reg_counter_add(m->http_requests,
                    REG_ATTRS({"method", r->method}, {"route", r->route}, {"status", status}), 1);
    if (r->status > 0 && r->response_ns >= r->request_ns)
        reg_histogram_record(m->http_duration,
                             REG_ATTRS({"method", r->method}, {"route", r->route}),
                             lc_metrics_seconds(r->request_ns, r->response_ns));
    if (r->status == 429) {
        /* Discord answers its 429s in JSON with rate-limit headers; a 429
         * with neither is Cloudflare's, which bans the IP (discord-wire.md
         * §7, "invalid requests"). */
        bool cloudflare = r->body_foreign && !r->has_remaining && !r->scope[0] && !r->global;
        const char *scope = r->scope[0]  ? r->scope
                            : r->global  ? "global"
                            : cloudflare ? "cloudflare"
                                         : "user";
        reg_counter_add(m->ratelimits, REG_ATTRS({"route", r->route}, {"scope", scope}), 1);
    }
}
