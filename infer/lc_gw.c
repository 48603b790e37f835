/*
 * lc_gw.c - gateway connections, shards and guilds, and their gauges.
 *
 * State is per connection (what a shard's current socket has done: its
 * shard, whether it is up, the heartbeat in flight) and per shard (what the
 * gauges show: up, last latency, ordering of outages). Both tables are small
 * arrays searched linearly: a process runs at most a few hundred shards, and
 * only heartbeats, READY/RESUMED, guild events and closes come here, not
 * every dispatch.
 *
 * The mutex exists for the reader threads: the decode thread is the only
 * writer, so it holds the lock only while it changes something a gauge reads,
 * and it records counters after releasing it (the registry has its own lock;
 * never nest them, so no ordering question arises).
 *
 * Rejected: deriving shard_up from the last close code or from heartbeats
 * missing ACKs. Both libraries decide zombie connections with their own
 * timers; on the wire, READY/RESUMED and the end of the socket are the only
 * facts.
 */
#include "lc_gw.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_map.h"
#include "log.h"

#define LC_GW_OP_DISPATCH 0
#define LC_GW_OP_HEARTBEAT 1
#define LC_GW_OP_IDENTIFY 2
#define LC_GW_OP_RESUME 6
#define LC_GW_OP_HEARTBEAT_ACK 11

struct lc_gw_conn {
    uint64_t conn_id;
    int shard; /* -1 until IDENTIFY, RESUME or READY says */
    bool up;
    bool disconnect_counted;
    bool heartbeat_pending;
    uint64_t heartbeat_sent_ns;
    bool has_early_latency; /* an ACK came before the shard was known */
    double early_latency_s;
};

struct lc_gw_shard {
    int id;
    unsigned up_conns; /* connections of this shard that saw READY/RESUMED and are open */
    bool was_up;
    bool has_latency;
    double latency_s;
    uint64_t down_order; /* larger = went down more recently */
    uint32_t ready_guilds;
    bool reconnects_zeroed; /* its reconnects series exists, at 0 or more */
};

struct lc_gw {
    pthread_mutex_t mu; /* guards everything below except the instruments */
    struct lc_gw_conn conns[LC_GW_MAX_CONNS];
    unsigned n_conns;
    struct lc_gw_shard shards[LC_GW_MAX_SHARDS];
    unsigned n_shards;
    uint64_t down_counter;
    int shard_count; /* from IDENTIFY/READY; 0 until seen */
    bool guilds_seen;
    struct lc_map guilds;    /* guild id -> unused */
    int commands_registered; /* -1 until a sync is seen */
    atomic_bool said_conns_full, said_shards_full, said_guilds_full;

    struct reg_metric *disconnects;
    struct reg_metric *reconnects;
};

/* ---- tables (caller holds mu) ------------------------------------------- */

static struct lc_gw_shard *lc_gw_shard_unlocked(struct lc_gw *gw, int id)
{
    for (unsigned i = 0; i < gw->n_shards; i++) {
        if (gw->shards[i].id == id)
            return &gw->shards[i];
    }
    if (gw->n_shards == LC_GW_MAX_SHARDS) {
        argus_log_once(&gw->said_shards_full, ARGUS_LOG_WARN,
                       "%s: more than %d shards in one process; the rest are not tracked", __func__,
                       LC_GW_MAX_SHARDS);
        return NULL;
    }
    struct lc_gw_shard *s = &gw->shards[gw->n_shards++];
    *s = (struct lc_gw_shard){.id = id};
    return s;
}

static struct lc_gw_conn *lc_gw_conn_unlocked(struct lc_gw *gw, uint64_t conn_id, bool create)
{
    for (unsigned i = 0; i < gw->n_conns; i++) {
        if (gw->conns[i].conn_id == conn_id)
            return &gw->conns[i];
    }
    if (!create)
        return NULL;
    if (gw->n_conns == LC_GW_MAX_CONNS) {
        /* Connections close in practice long before this; if they do not
         * (lost close events), the oldest entry is the stalest. */
        argus_log_once(&gw->said_conns_full, ARGUS_LOG_WARN,
                       "%s: more than %d gateway connections open; forgetting the oldest", __func__,
                       LC_GW_MAX_CONNS);
        memmove(&gw->conns[0], &gw->conns[1], (gw->n_conns - 1) * sizeof(gw->conns[0]));
        gw->n_conns--;
    }
    struct lc_gw_conn *c = &gw->conns[gw->n_conns++];
    *c = (struct lc_gw_conn){.conn_id = conn_id, .shard = -1};
    return c;
}

static void lc_gw_conn_remove_unlocked(struct lc_gw *gw, struct lc_gw_conn *c)
{
    unsigned i = (unsigned)(c - gw->conns);
    memmove(&gw->conns[i], &gw->conns[i + 1], (gw->n_conns - i - 1) * sizeof(gw->conns[0]));
    gw->n_conns--;
}

/* Binds a connection to its shard; an ACK that came first now counts. */
static struct lc_gw_shard *lc_gw_bind_unlocked(struct lc_gw *gw, struct lc_gw_conn *c, int id)
{
    c->shard = id < 0 ? 0 : id;
    struct lc_gw_shard *s = lc_gw_shard_unlocked(gw, c->shard);
    if (s && c->has_early_latency) {
        s->has_latency = true;
        s->latency_s = c->early_latency_s;
        c->has_early_latency = false;
    }
    return s;
}

static void lc_gw_set_up_unlocked(struct lc_gw *gw, struct lc_gw_conn *c)
{
    if (c->up || c->shard < 0)
        return;
    struct lc_gw_shard *s = lc_gw_shard_unlocked(gw, c->shard);
    if (!s)
        return;
    c->up = true;
    s->up_conns++;
    s->was_up = true;
}

static void lc_gw_set_down_unlocked(struct lc_gw *gw, struct lc_gw_conn *c)
{
    if (!c->up)
        return;
    c->up = false;
    c->heartbeat_pending = false;
    struct lc_gw_shard *s = lc_gw_shard_unlocked(gw, c->shard);
    if (s && s->up_conns > 0 && --s->up_conns == 0)
        s->down_order = ++gw->down_counter;
}

/* The shard a RESUME is for: the most recently downed shard that is not up. */
static int lc_gw_resume_shard_unlocked(const struct lc_gw *gw)
{
    int best = 0;
    uint64_t best_order = 0;
    for (unsigned i = 0; i < gw->n_shards; i++) {
        const struct lc_gw_shard *s = &gw->shards[i];
        if (s->up_conns == 0 && s->was_up && s->down_order >= best_order) {
            best = s->id;
            best_order = s->down_order;
        }
    }
    return best;
}

/* ---- events (decode thread) --------------------------------------------- */

/* Adds n (0 creates the series) to a counter by shard, and close code when
 * code is not NULL. */
static void lc_gw_record_shard(struct reg_metric *m, int shard, const char *code, uint64_t n)
{
    char shard_s[12];
    snprintf(shard_s, sizeof(shard_s), "%d", shard);
    if (code)
        reg_counter_add(m, REG_ATTRS({"shard", shard_s}, {"code", code}), n);
    else
        reg_counter_add(m, REG_ATTRS({"shard", shard_s}), n);
}

static void lc_gw_on_dispatch_unlocked(struct lc_gw *gw, struct lc_gw_conn *c,
                                       const struct ev_gw *g)
{
    if (strcmp(g->t, "READY") == 0) {
        int id = g->u.ready.shard_id >= 0 ? g->u.ready.shard_id : (c->shard >= 0 ? c->shard : 0);
        struct lc_gw_shard *s = lc_gw_bind_unlocked(gw, c, id);
        if (g->u.ready.shard_count > 0)
            gw->shard_count = g->u.ready.shard_count;
        else if (gw->shard_count == 0)
            gw->shard_count = 1;
        if (s)
            s->ready_guilds = g->u.ready.guild_count > 0 ? (uint32_t)g->u.ready.guild_count : 0;
        gw->guilds_seen = true;
        lc_gw_set_up_unlocked(gw, c);
    } else if (strcmp(g->t, "RESUMED") == 0) {
        if (c->shard < 0)
            lc_gw_bind_unlocked(gw, c, lc_gw_resume_shard_unlocked(gw));
        lc_gw_set_up_unlocked(gw, c);
    } else if (strcmp(g->t, "GUILD_CREATE") == 0) {
        gw->guilds_seen = true;
        int rc = lc_map_put(&gw->guilds, g->u.guild.guild_id, 0);
        if (rc == -ENOSPC)
            argus_log_once(&gw->said_guilds_full, ARGUS_LOG_WARN,
                           "%s: more than %u guilds; discord_guilds stops growing", __func__,
                           LC_GW_MAX_GUILDS);
    } else if (strcmp(g->t, "GUILD_DELETE") == 0 && !g->u.guild.unavailable) {
        /* A removal (an outage says unavailable:true and keeps the guild). */
        if (lc_map_del(&gw->guilds, g->u.guild.guild_id) && c->shard >= 0) {
            struct lc_gw_shard *s = lc_gw_shard_unlocked(gw, c->shard);
            if (s && s->ready_guilds > 0)
                s->ready_guilds--;
        }
    }
}

/* Whether a payload can change what lc_gw tracks: the beats, IDENTIFYs and
 * RESUMEs the bot writes; the ACKs and the few dispatches about sessions and
 * guilds it reads. Every other dispatch passes without taking the lock. */
static bool lc_gw_is_relevant(const struct argus_event *ev)
{
    const struct ev_gw *g = &ev->u.gw;
    if (ev->kind != EV_GW_RECV)
        return g->op == LC_GW_OP_HEARTBEAT || g->op == LC_GW_OP_IDENTIFY ||
               g->op == LC_GW_OP_RESUME;
    if (g->op == LC_GW_OP_HEARTBEAT_ACK)
        return true;
    return g->op == LC_GW_OP_DISPATCH &&
           (strcmp(g->t, "READY") == 0 || strcmp(g->t, "RESUMED") == 0 ||
            strcmp(g->t, "GUILD_CREATE") == 0 || strcmp(g->t, "GUILD_DELETE") == 0);
}

static void lc_gw_on_ack_unlocked(struct lc_gw *gw, struct lc_gw_conn *c, uint64_t t_ns)
{
    if (c->heartbeat_pending && t_ns >= c->heartbeat_sent_ns) {
        double latency = (double)(t_ns - c->heartbeat_sent_ns) / 1e9;
        struct lc_gw_shard *s = c->shard >= 0 ? lc_gw_shard_unlocked(gw, c->shard) : NULL;
        if (s) {
            s->has_latency = true;
            s->latency_s = latency;
        } else {
            c->has_early_latency = true;
            c->early_latency_s = latency;
        }
    }
    c->heartbeat_pending = false;
}

/* Returns the shard whose reconnect this IDENTIFY is (it was up before), or
 * -1. */
static int lc_gw_on_identify_unlocked(struct lc_gw *gw, struct lc_gw_conn *c, const struct ev_gw *g)
{
    struct lc_gw_shard *s = lc_gw_bind_unlocked(gw, c, g->u.identify.shard_id);
    if (g->u.identify.shard_count > 0)
        gw->shard_count = g->u.identify.shard_count;
    else if (gw->shard_count == 0)
        gw->shard_count = 1;
    return s && s->was_up ? s->id : -1;
}

/* The shard of c when its reconnects series is still to be created (once per
 * shard, at its first IDENTIFY, READY or RESUME), else -1. */
static int lc_gw_new_shard_unlocked(struct lc_gw *gw, const struct lc_gw_conn *c)
{
    struct lc_gw_shard *s = c->shard >= 0 ? lc_gw_shard_unlocked(gw, c->shard) : NULL;
    if (!s || s->reconnects_zeroed)
        return -1;
    s->reconnects_zeroed = true;
    return s->id;
}

void lc_gw_on_payload(struct lc_gw *gw, const struct argus_event *ev)
{
    const struct ev_gw *g = &ev->u.gw;
    int reconnect_shard = -1;
    if (!gw || !lc_gw_is_relevant(ev))
        return;

    pthread_mutex_lock(&gw->mu);
    struct lc_gw_conn *c = lc_gw_conn_unlocked(gw, ev->conn_id, true);
    switch (g->op) {
    case LC_GW_OP_HEARTBEAT:
        /* A second beat before the ACK restarts the measurement, as the
         * libraries' own timers do. */
        c->heartbeat_pending = true;
        c->heartbeat_sent_ns = ev->t_ns;
        break;
    case LC_GW_OP_HEARTBEAT_ACK:
        lc_gw_on_ack_unlocked(gw, c, ev->t_ns);
        break;
    case LC_GW_OP_IDENTIFY:
        reconnect_shard = lc_gw_on_identify_unlocked(gw, c, g);
        break;
    case LC_GW_OP_RESUME:
        if (c->shard < 0)
            lc_gw_bind_unlocked(gw, c, lc_gw_resume_shard_unlocked(gw));
        reconnect_shard = c->shard;
        break;
    case LC_GW_OP_DISPATCH:
        lc_gw_on_dispatch_unlocked(gw, c, g);
        break;
    }
    int new_shard = lc_gw_new_shard_unlocked(gw, c);
    pthread_mutex_unlock(&gw->mu);

    if (new_shard >= 0)
        lc_gw_record_shard(gw->reconnects, new_shard, NULL, 0);
    if (reconnect_shard >= 0)
        lc_gw_record_shard(gw->reconnects, reconnect_shard, NULL, 1);
}

void lc_gw_on_close(struct lc_gw *gw, const struct argus_event *ev)
{
    int disconnect_shard = -1;
    int code = ev->u.close.code > 0 ? ev->u.close.code : 1006;
    if (!gw || (ev->kind != EV_WS_CLOSE && ev->kind != EV_CONN_CLOSE))
        return;

    pthread_mutex_lock(&gw->mu);
    struct lc_gw_conn *c = lc_gw_conn_unlocked(gw, ev->conn_id, false);
    if (c) {
        /* Only a connection that identified or resumed belongs to a shard;
         * a socket that failed before that is not a shard disconnect. */
        if (!c->disconnect_counted && c->shard >= 0) {
            c->disconnect_counted = true;
            disconnect_shard = c->shard;
        }
        lc_gw_set_down_unlocked(gw, c);
        if (ev->kind == EV_CONN_CLOSE)
            lc_gw_conn_remove_unlocked(gw, c);
    }
    pthread_mutex_unlock(&gw->mu);

    if (disconnect_shard >= 0) {
        char code_s[12];
        snprintf(code_s, sizeof(code_s), "%d", code);
        lc_gw_record_shard(gw->disconnects, disconnect_shard, code_s, 1);
    }
}

void lc_gw_set_commands_registered(struct lc_gw *gw, int n)
{
    if (!gw || n < 0)
        return;
    pthread_mutex_lock(&gw->mu);
    gw->commands_registered = n;
    pthread_mutex_unlock(&gw->mu);
}

/* ---- gauges (reader threads) ------------------------------------------- */

static void lc_gw_observe_latency(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    pthread_mutex_lock(&gw->mu);
    for (unsigned i = 0; i < gw->n_shards; i++) {
        const struct lc_gw_shard *s = &gw->shards[i];
        char shard_s[12];
        if (!s->has_latency)
            continue;
        snprintf(shard_s, sizeof(shard_s), "%d", s->id);
        reg_observe(obs, REG_ATTRS({"shard", shard_s}), s->latency_s);
    }
    pthread_mutex_unlock(&gw->mu);
}

static void lc_gw_observe_up(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    pthread_mutex_lock(&gw->mu);
    for (unsigned i = 0; i < gw->n_shards; i++) {
        const struct lc_gw_shard *s = &gw->shards[i];
        char shard_s[12];
        snprintf(shard_s, sizeof(shard_s), "%d", s->id);
        reg_observe_u64(obs, REG_ATTRS({"shard", shard_s}), s->up_conns > 0);
    }
    pthread_mutex_unlock(&gw->mu);
}

static void lc_gw_observe_connected(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    uint64_t up = 0;
    pthread_mutex_lock(&gw->mu);
    bool any = gw->n_shards > 0;
    for (unsigned i = 0; i < gw->n_shards; i++)
        up += gw->shards[i].up_conns > 0;
    pthread_mutex_unlock(&gw->mu);
    if (any)
        reg_observe_u64(obs, REG_NO_ATTRS, up);
}

static void lc_gw_observe_configured(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    pthread_mutex_lock(&gw->mu);
    int count = gw->shard_count;
    pthread_mutex_unlock(&gw->mu);
    if (count > 0)
        reg_observe_u64(obs, REG_NO_ATTRS, (uint64_t)count);
}

static void lc_gw_observe_guilds(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    uint64_t from_ready = 0;
    pthread_mutex_lock(&gw->mu);
    bool seen = gw->guilds_seen;
    uint64_t in_set = lc_map_count(&gw->guilds);
    for (unsigned i = 0; i < gw->n_shards; i++)
        from_ready += gw->shards[i].ready_guilds;
    pthread_mutex_unlock(&gw->mu);
    if (seen)
        reg_observe_u64(obs, REG_NO_ATTRS, in_set > from_ready ? in_set : from_ready);
}

static void lc_gw_observe_registered(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    pthread_mutex_lock(&gw->mu);
    int n = gw->commands_registered;
    pthread_mutex_unlock(&gw->mu);
    if (n >= 0)
        reg_observe_u64(obs, REG_NO_ATTRS, (uint64_t)n);
}

/* ---- create / destroy ---------------------------------------------------- */

struct lc_gw *lc_gw_create(struct reg *reg, const char *ns)
{
    char name[REG_NAME_MAX];
    struct lc_gw *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return NULL;
    gw->commands_registered = -1;
    if (lc_map_init(&gw->guilds, LC_GW_MAX_GUILDS) < 0) {
        free(gw);
        return NULL;
    }
    pthread_mutex_init(&gw->mu, NULL);

    /* Nothing fails from here on: the registry keeps gw as the gauges'
     * argument, so gw must never be freed while the registry can collect. A
     * definition the registry refuses (NULL) leaves that one metric out; the
     * recorders accept NULL. Units follow otlp-notes.md §9: seconds for the
     * latency, annotations or nothing for counts, so the Prometheus names come
     * out as argus-dpy's (never "1" on a gauge, which would add _ratio). */
    snprintf(name, sizeof(name), "%s_shard_disconnects_total", ns);
    gw->disconnects =
        reg_counter(reg, name, "Gateway connections of a shard that ended, by close code",
                    "{disconnect}", REG_NUMBER_U64);
    snprintf(name, sizeof(name), "%s_shard_reconnects_total", ns);
    gw->reconnects = reg_counter(reg, name, "RESUMEs, and IDENTIFYs of a shard that was up before",
                                 "{reconnect}", REG_NUMBER_U64);
    const struct {
        const char *suffix, *description, *unit;
        enum reg_number number;
        unsigned flags;
        reg_observe_fn fn;
    } gauges[] = {
        {"shard_latency_seconds", "Gateway heartbeat round trip (HEARTBEAT to ACK) per shard", "s",
         REG_NUMBER_DOUBLE, 0, lc_gw_observe_latency},
        {"shard_up", "1 while the shard's gateway session is ready or resumed", "", REG_NUMBER_U64,
         0, lc_gw_observe_up},
        {"shards_connected", "Shards of this process with a live gateway session", "{shard}",
         REG_NUMBER_U64, REG_F_CLUSTER, lc_gw_observe_connected},
        {"shards_configured", "Shard count the bot identified with", "{shard}", REG_NUMBER_U64,
         REG_F_CLUSTER, lc_gw_observe_configured},
        {"guilds", "Guilds the bot is in, as the gateway reported them", "{guild}", REG_NUMBER_U64,
         REG_F_CLUSTER, lc_gw_observe_guilds},
        {"app_commands_registered", "Application commands in the last command sync", "{command}",
         REG_NUMBER_U64, REG_F_CLUSTER, lc_gw_observe_registered},
    };
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        snprintf(name, sizeof(name), "%s_%s", ns, gauges[i].suffix);
        reg_gauge(reg, name, gauges[i].description, gauges[i].unit, gauges[i].number,
                  gauges[i].flags, gauges[i].fn, gw);
    }
    return gw;
}

void lc_gw_destroy(struct lc_gw *gw)
{
    if (!gw)
        return;
    lc_map_fini(&gw->guilds);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}
