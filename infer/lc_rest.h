/*
 * lc_rest.h - the REST metrics: every request the bot made, its duration, and
 * every 429.
 *
 * Records discord_http_requests_total{method,route,status},
 * discord_http_request_duration_seconds{method,route} (only for requests that
 * got a response) and discord_ratelimits_total{route,scope} into the
 * instruments of lc_metrics.h. route is the decoder's template, never an id
 * or a token; scope is X-RateLimit-Scope, "global" when only
 * X-RateLimit-Global says so, else "user".
 *
 * Threads: the decode thread. Borrows m and r for the call.
 */
#ifndef ARGUS_LC_REST_H
#define ARGUS_LC_REST_H

#include "event.h"
#include "lc_metrics.h"

void lc_rest_record(const struct lc_metrics *m, const struct ev_rest *r);

#endif
