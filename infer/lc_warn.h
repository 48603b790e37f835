/*
 * lc_warn.h - the three warnings read from REST responses: rate-limit
 * headroom per route, the invalid-request count behind Discord's IP ban,
 * and the daily IDENTIFY budget.
 *
 * It owns the state behind the gauges (ns is cfg->ns):
 *   - <ns>_ratelimit_headroom{route}: the lowest X-RateLimit-Remaining /
 *     X-RateLimit-Limit seen on the route template in the last minute (0 to
 *     1; when no response came in the last minute, the last one seen). At 0
 *     the next request on that bucket gets a 429;
 *   - <ns>_invalid_requests: 401, 403 and 429 responses in the trailing 10
 *     minutes, not counting 429s with X-RateLimit-Scope: shared. Discord
 *     restricts an IP at 10,000 of them per 10 minutes (discord-wire.md §7).
 *     Counted in one-second buckets, so the window is exact to a second;
 *   - <ns>_gateway_session_starts_remaining, _session_starts_total and
 *     <ns>_gateway_shards_recommended: the last GET /gateway/bot answer.
 *
 * Bounds: LC_WARN_MAX_ROUTES route templates; a new route past that replaces
 * the one updated longest ago, counted in argus_state_dropped_total
 * {table="routes"}. The invalid-request window is 600 fixed buckets.
 *
 * Threads: lc_warn_on_rest() is the decode thread's; the gauge callbacks run
 * on reader threads; both take lc_warn's own mutex around memory updates.
 * Ownership: lc_warn_create() returns a heap object or NULL (out of memory)
 * and defines nothing; lc_warn_define() (cannot fail: a gauge the registry
 * refuses is left out) borrows `dropped` (may be NULL) and defines the gauges
 * in reg, which then keeps callbacks into w: after it, lc_warn_destroy()
 * (accepts NULL) only once no reader will collect reg again.
 */
#ifndef ARGUS_LC_WARN_H
#define ARGUS_LC_WARN_H

#include "event.h"
#include "reg.h"

#define LC_WARN_MAX_ROUTES 256
#define LC_WARN_WINDOW_S 600 /* Discord's invalid-request window */

struct lc_warn;

struct lc_warn *lc_warn_create(void);
void lc_warn_define(struct lc_warn *w, struct reg *reg, const char *ns, struct reg_metric *dropped);
void lc_warn_destroy(struct lc_warn *w);

/* One REST exchange (EV_REST), completed at t_ns (CLOCK_MONOTONIC). */
void lc_warn_on_rest(struct lc_warn *w, const struct ev_rest *r, uint64_t t_ns);

#endif
