/*
 * lc_warn.c - rate-limit headroom, invalid requests, IDENTIFY budget
 * (lc_warn.h).
 *
 * The headroom is kept as a minimum with its time rather than as every
 * sample: a new sample replaces the minimum when it is as low or lower, or
 * when the minimum is older than a minute. The gauge then shows the minimum
 * while it is recent and the last sample otherwise, so a route that touched
 * 0 keeps showing 0 for at least a minute (longer than one export interval
 * by default), and recovers after.
 *
 * The invalid-request window is a ring of 600 one-second counts keyed by
 * monotonic second: a bucket whose second is older than the window reads as
 * 0 and is reused. Rejected: a ring of timestamps, which would need 10,000
 * entries to reach Discord's threshold.
 */
#include "lc_warn.h"
#include "clock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LC_WARN_NS_PER_S 1000000000ull
#define LC_WARN_HEADROOM_WINDOW_NS (60ull * LC_WARN_NS_PER_S)

struct lc_warn_route {
    char route[EV_ROUTE_MAX];
    double min, last;
    uint64_t min_ns, last_ns;
};

struct lc_warn {
    pthread_mutex_t mu;
    struct lc_warn_route routes[LC_WARN_MAX_ROUTES];
    unsigned n_routes;
    uint64_t bucket_s[LC_WARN_WINDOW_S]; /* monotonic second of each bucket */
    uint32_t bucket_n[LC_WARN_WINDOW_S];
    bool saw_rest;
    int64_t starts_remaining, starts_total, shards_recommended; /* -1: not seen */
    struct reg_metric *dropped;
};

/* ---- recording (decode thread) ------------------------------------------ */

/* The route's entry, or a recycled one (*evicted set) when the table is full. */
static struct lc_warn_route *lc_warn_route_unlocked(struct lc_warn *w, const char *route,
                                                    bool *evicted)
{
    struct lc_warn_route *oldest = NULL;
    for (unsigned i = 0; i < w->n_routes; i++) {
        if (strcmp(w->routes[i].route, route) == 0)
            return &w->routes[i];
        if (!oldest || w->routes[i].last_ns < oldest->last_ns)
            oldest = &w->routes[i];
    }
    struct lc_warn_route *r = oldest;
    if (w->n_routes < LC_WARN_MAX_ROUTES)
        r = &w->routes[w->n_routes++];
    else
        *evicted = true;
    memset(r, 0, sizeof(*r));
    snprintf(r->route, sizeof(r->route), "%s", route);
    r->min = 2; /* above any sample: the first one replaces it */
    return r;
}

static void lc_warn_headroom_unlocked(struct lc_warn *w, const struct ev_rest *r, uint64_t t_ns,
                                      bool *evicted)
{
    if (!r->has_remaining || !r->has_limit || r->limit <= 0 || r->route[0] == '\0')
        return;
    double h = (double)r->remaining / (double)r->limit;
    if (h > 1)
        h = 1;
    struct lc_warn_route *e = lc_warn_route_unlocked(w, r->route, evicted);
    if (h <= e->min || t_ns > e->min_ns + LC_WARN_HEADROOM_WINDOW_NS) {
        e->min = h;
        e->min_ns = t_ns;
    }
    e->last = h;
    e->last_ns = t_ns;
}

/* Discord's count (discord-wire.md §7): 401, 403, and 429 except those of a
 * shared bucket, which Discord does not hold against the client. */
static bool lc_warn_is_invalid(const struct ev_rest *r)
{
    if (r->status == 401 || r->status == 403)
        return true;
    return r->status == 429 && strcmp(r->scope, "shared") != 0;
}

void lc_warn_on_rest(struct lc_warn *w, const struct ev_rest *r, uint64_t t_ns)
{
    bool evicted = false;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->saw_rest = true;
    lc_warn_headroom_unlocked(w, r, t_ns, &evicted);
    if (lc_warn_is_invalid(r)) {
        uint64_t sec = t_ns / LC_WARN_NS_PER_S;
        unsigned i = (unsigned)(sec % LC_WARN_WINDOW_S);
        if (w->bucket_s[i] != sec) {
            w->bucket_s[i] = sec;
            w->bucket_n[i] = 0;
        }
        w->bucket_n[i]++;
    }
    if (r->session_starts_remaining >= 0)
        w->starts_remaining = r->session_starts_remaining;
    if (r->session_starts_total >= 0)
        w->starts_total = r->session_starts_total;
    if (r->shards_recommended >= 0)
        w->shards_recommended = r->shards_recommended;
    pthread_mutex_unlock(&w->mu);
    if (evicted)
        reg_counter_add(w->dropped, REG_ATTRS({"table", "routes"}), 1);
}

/* ---- gauges (reader threads) -------------------------------------------- */

static void lc_warn_observe_headroom(struct reg_observer *obs, void *arg)
{
    struct lc_warn *w = arg;
    uint64_t now = clock_now_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&w->mu);
    for (unsigned i = 0; i < w->n_routes; i++) {
        const struct lc_warn_route *e = &w->routes[i];
        double h = now <= e->min_ns + LC_WARN_HEADROOM_WINDOW_NS ? e->min : e->last;
        reg_observe(obs, REG_ATTRS({"route", e->route}), h);
    }
    pthread_mutex_unlock(&w->mu);
}

static void lc_warn_observe_invalid(struct reg_observer *obs, void *arg)
{
    struct lc_warn *w = arg;
    uint64_t now_s = clock_now_ns(CLOCK_MONOTONIC) / LC_WARN_NS_PER_S, n = 0;
    pthread_mutex_lock(&w->mu);
    bool seen = w->saw_rest;
    for (unsigned i = 0; i < LC_WARN_WINDOW_S; i++) {
        if (w->bucket_n[i] > 0 && w->bucket_s[i] + LC_WARN_WINDOW_S > now_s)
            n += w->bucket_n[i];
    }
    pthread_mutex_unlock(&w->mu);
    if (seen)
        reg_observe_u64(obs, REG_NO_ATTRS, n);
}

/* The three /gateway/bot gauges: each reads one field, -1 until seen. */
static void lc_warn_observe_field(struct reg_observer *obs, struct lc_warn *w, const int64_t *field)
{
    pthread_mutex_lock(&w->mu);
    int64_t v = *field;
    pthread_mutex_unlock(&w->mu);
    if (v >= 0)
        reg_observe_u64(obs, REG_NO_ATTRS, (uint64_t)v);
}

static void lc_warn_observe_starts_remaining(struct reg_observer *obs, void *arg)
{
    struct lc_warn *w = arg;
    lc_warn_observe_field(obs, w, &w->starts_remaining);
}

static void lc_warn_observe_starts_total(struct reg_observer *obs, void *arg)
{
    struct lc_warn *w = arg;
    lc_warn_observe_field(obs, w, &w->starts_total);
}

static void lc_warn_observe_shards(struct reg_observer *obs, void *arg)
{
    struct lc_warn *w = arg;
    lc_warn_observe_field(obs, w, &w->shards_recommended);
}

/* ---- create / destroy ---------------------------------------------------- */

struct lc_warn *lc_warn_create(void)
{
    struct lc_warn *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->starts_remaining = w->starts_total = w->shards_recommended = -1;
    return w;
}

void lc_warn_define(struct lc_warn *w, struct reg *reg, const char *ns, struct reg_metric *dropped)
{
    char name[REG_NAME_MAX];
    w->dropped = dropped;
    /* Units as lc_gw.c: never "1" on a gauge (Prometheus would add _ratio). */
    const struct {
        const char *suffix, *description, *unit;
        enum reg_number number;
        unsigned flags;
        reg_observe_fn fn;
    } gauges[] = {
        {"ratelimit_headroom",
         "Lowest X-RateLimit-Remaining / X-RateLimit-Limit of the route in the last minute; 0: "
         "the next request gets a 429",
         "", REG_NUMBER_DOUBLE, REG_F_CLUSTER, lc_warn_observe_headroom},
        {"invalid_requests",
         "401, 403 and non-shared 429 responses in the last 10 minutes; Discord bans the IP at "
         "10000",
         "{response}", REG_NUMBER_U64, REG_F_CLUSTER, lc_warn_observe_invalid},
        {"gateway_session_starts_remaining",
         "IDENTIFYs left today (GET /gateway/bot session_start_limit.remaining)", "{session}",
         REG_NUMBER_U64, REG_F_CLUSTER, lc_warn_observe_starts_remaining},
        {"gateway_session_starts_total",
         "IDENTIFYs allowed per day (GET /gateway/bot session_start_limit.total)", "{session}",
         REG_NUMBER_U64, REG_F_CLUSTER, lc_warn_observe_starts_total},
        {"gateway_shards_recommended", "Shards Discord recommends (GET /gateway/bot shards)",
         "{shard}", REG_NUMBER_U64, REG_F_CLUSTER, lc_warn_observe_shards},
    };
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        snprintf(name, sizeof(name), "%s_%s", ns, gauges[i].suffix);
        reg_gauge(reg, name, gauges[i].description, gauges[i].unit, gauges[i].number,
                  gauges[i].flags, gauges[i].fn, w);
    }
}

void lc_warn_destroy(struct lc_warn *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}
