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
#include <time.h>

#include "clock.h"
#include "gw.h"
#include "lc_map.h"
#include "lc_users.h"
#include "log.h"

#define LC_GW_OP_DISPATCH 0
#define LC_GW_OP_HEARTBEAT 1
#define LC_GW_OP_IDENTIFY 2
#define LC_GW_OP_RESUME 6
#define LC_GW_OP_HELLO 10
#define LC_GW_OP_HEARTBEAT_ACK 11

#define LC_GW_NS_PER_S 1000000000ull
#define LC_GW_SEND_WINDOW_NS (60ull * LC_GW_NS_PER_S)
#define LC_GW_LAG_WINDOW_NS (60ull * LC_GW_NS_PER_S)
#define LC_GW_DM_CHANNEL 1
#define LC_GW_GROUP_DM_CHANNEL 3

struct lc_gw_conn {
    uint64_t conn_id;
    int shard; /* -1 until IDENTIFY, RESUME or READY says */
    bool up;
    bool disconnect_counted;
    bool heartbeat_pending;
    uint64_t heartbeat_sent_ns;
    bool has_early_latency; /* an ACK came before the shard was known */
    double early_latency_s;
    uint32_t heartbeat_interval_ms; /* from HELLO; 0 until seen */
    uint64_t last_beat_ns;          /* the last HEARTBEAT written, or HELLO read */
    /* The write times of the last LC_GW_SEND_CAP payloads, a ring indexed
     * by n_sent: the cap is reached when the oldest of them is younger than
     * 60 s. */
    uint64_t n_sent;
    uint64_t sent_ns[LC_GW_SEND_CAP];
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

    /* The library's caches (README, "Caches"). A guild's value in `guilds`
     * packs its emoji count (high 16 bits) and sticker count (low 16). */
    bool caches_seen; /* a GUILD_CREATE arrived */
    uint64_t emojis, stickers;
    struct lc_users users;
    uint64_t bot_user_id;                /* READY's user */
    uint32_t ready_dms;                  /* private_channels of the last READY */
    uint64_t dropped_users, dropped_dms; /* not yet added to `dropped` */
    struct lc_map dms;                   /* DM channel ids from CHANNEL_CREATE */
    struct lc_map voice_guilds;          /* guilds where the bot's voice state has a channel */
    struct lc_map voice_conns;           /* open connections to *.discord.media */
    /* Heartbeat lateness: the largest sample of the trailing minute, or the
     * last sample when none is that recent. */
    bool has_lag;
    double lag_last_s, lag_max_s;
    uint64_t lag_max_ns;

    struct reg_metric *disconnects;
    struct reg_metric *reconnects;
    struct reg_metric *dropped;
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

/* Sets a guild's emoji and sticker counts (-1: unchanged; a guild not in
 * the set counts nothing) and keeps the totals. */
static void lc_gw_set_caches_unlocked(struct lc_gw *gw, uint64_t guild, int32_t emojis,
                                      int32_t stickers)
{
    uint32_t packed = 0;
    if (!lc_map_get(&gw->guilds, guild, &packed))
        return;
    uint32_t e = packed >> 16, s = packed & 0xffffu;
    gw->emojis -= e;
    gw->stickers -= s;
    if (emojis >= 0)
        e = emojis > 0xffff ? 0xffff : (uint32_t)emojis;
    if (stickers >= 0)
        s = stickers > 0xffff ? 0xffff : (uint32_t)stickers;
    gw->emojis += e;
    gw->stickers += s;
    lc_map_put(&gw->guilds, guild, e << 16 | s);
}

static void lc_gw_add_members_unlocked(struct lc_gw *gw, const struct ev_gw *e)
{
    const struct ev_guild *g = &e->u.guild;
    struct gw_members it;
    uint64_t user;
    if (e->members == NULL || gw_members_begin(&it, e->members, e->members_len) < 0)
        return;
    while (gw_members_next(&it, &user) == 1) {
        if (lc_users_add(&gw->users, g->guild_id, user) == -ENOSPC)
            gw->dropped_users++;
    }
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
        if (g->u.ready.user_id != 0)
            gw->bot_user_id = g->u.ready.user_id;
        /* Discord sends DMs to shard 0 only. */
        if (id == 0)
            gw->ready_dms = g->u.ready.private_channels;
        lc_gw_set_up_unlocked(gw, c);
    } else if (strcmp(g->t, "RESUMED") == 0) {
        if (c->shard < 0)
            lc_gw_bind_unlocked(gw, c, lc_gw_resume_shard_unlocked(gw));
        lc_gw_set_up_unlocked(gw, c);
    } else if (strcmp(g->t, "GUILD_CREATE") == 0) {
        gw->guilds_seen = true;
        gw->caches_seen = true;
        uint32_t old = 0;
        bool had = lc_map_get(&gw->guilds, g->u.guild.guild_id, &old);
        int rc = lc_map_put(&gw->guilds, g->u.guild.guild_id, old);
        if (rc == -ENOSPC)
            argus_log_once(&gw->said_guilds_full, ARGUS_LOG_WARN,
                           "%s: more than %u guilds; discord_guilds stops growing", __func__,
                           LC_GW_MAX_GUILDS);
        if (rc == 0 || had) {
            lc_gw_set_caches_unlocked(gw, g->u.guild.guild_id, g->u.guild.emojis,
                                      g->u.guild.stickers);
            lc_gw_add_members_unlocked(gw, g);
        }
    } else if (strcmp(g->t, "GUILD_DELETE") == 0 && !g->u.guild.unavailable) {
        /* A removal (an outage says unavailable:true and keeps the guild). */
        lc_gw_set_caches_unlocked(gw, g->u.guild.guild_id, 0, 0);
        lc_users_remove_guild(&gw->users, g->u.guild.guild_id);
        lc_map_del(&gw->voice_guilds, g->u.guild.guild_id);
        if (lc_map_del(&gw->guilds, g->u.guild.guild_id) && c->shard >= 0) {
            struct lc_gw_shard *s = lc_gw_shard_unlocked(gw, c->shard);
            if (s && s->ready_guilds > 0)
                s->ready_guilds--;
        }
    } else if (strcmp(g->t, "GUILD_MEMBERS_CHUNK") == 0) {
        lc_gw_add_members_unlocked(gw, g);
    } else if (strcmp(g->t, "GUILD_MEMBER_ADD") == 0) {
        if (lc_users_add(&gw->users, g->u.guild.guild_id, g->u.guild.user_id) == -ENOSPC)
            gw->dropped_users++;
    } else if (strcmp(g->t, "GUILD_MEMBER_REMOVE") == 0) {
        lc_users_remove(&gw->users, g->u.guild.guild_id, g->u.guild.user_id);
    } else if (strcmp(g->t, "GUILD_EMOJIS_UPDATE") == 0) {
        lc_gw_set_caches_unlocked(gw, g->u.guild.guild_id, g->u.guild.emojis, -1);
    } else if (strcmp(g->t, "GUILD_STICKERS_UPDATE") == 0) {
        lc_gw_set_caches_unlocked(gw, g->u.guild.guild_id, -1, g->u.guild.stickers);
    } else if (strcmp(g->t, "CHANNEL_CREATE") == 0 || strcmp(g->t, "CHANNEL_DELETE") == 0) {
        if (g->u.channel.type != LC_GW_DM_CHANNEL && g->u.channel.type != LC_GW_GROUP_DM_CHANNEL)
            return;
        if (strcmp(g->t, "CHANNEL_DELETE") == 0)
            lc_map_del(&gw->dms, g->u.channel.id);
        else if (lc_map_put(&gw->dms, g->u.channel.id, 0) == -ENOSPC)
            gw->dropped_dms++;
    } else if (strcmp(g->t, "VOICE_STATE_UPDATE") == 0) {
        if (g->u.voice.user_id == 0 || g->u.voice.user_id != gw->bot_user_id)
            return;
        if (g->u.voice.channel_id == 0)
            lc_map_del(&gw->voice_guilds, g->u.voice.guild_id);
        else
            lc_map_put(&gw->voice_guilds, g->u.voice.guild_id, 0);
    }
}

/* Whether a payload can change what lc_gw tracks: the beats, IDENTIFYs and
 * RESUMEs the bot writes; the ACKs and the few dispatches about sessions and
 * guilds it reads. Every other dispatch passes without taking the lock. */
static bool lc_gw_is_relevant(const struct argus_event *ev)
{
    const struct ev_gw *g = &ev->u.gw;
    if (ev->kind != EV_GW_RECV)
        return true; /* every payload written counts against the send cap */
    if (g->op == LC_GW_OP_HEARTBEAT_ACK || g->op == LC_GW_OP_HELLO)
        return true;
    return g->op == LC_GW_OP_DISPATCH &&
           (strcmp(g->t, "READY") == 0 || strcmp(g->t, "RESUMED") == 0 || gw_is_guild_event(g->t) ||
            strcmp(g->t, "CHANNEL_CREATE") == 0 || strcmp(g->t, "CHANNEL_DELETE") == 0 ||
            strcmp(g->t, "VOICE_STATE_UPDATE") == 0);
}

/* A HEARTBEAT written: how late it left. Both libraries beat from the
 * event loop, interval after the previous beat (discord.py's first beat
 * goes at HELLO, discord.js' after a random part of the interval: early,
 * never late), so time past the interval is time the loop was busy. A beat
 * Discord asked for (op 1 read) comes early and reads as 0. */
static void lc_gw_on_beat_unlocked(struct lc_gw *gw, struct lc_gw_conn *c, uint64_t t_ns)
{
    uint64_t interval_ns = (uint64_t)c->heartbeat_interval_ms * 1000000ull;
    if (interval_ns > 0 && c->last_beat_ns > 0 && t_ns >= c->last_beat_ns) {
        uint64_t gap = t_ns - c->last_beat_ns;
        double late = gap > interval_ns ? (double)(gap - interval_ns) / 1e9 : 0.0;
        if (!gw->has_lag || late >= gw->lag_max_s || t_ns - gw->lag_max_ns > LC_GW_LAG_WINDOW_NS) {
            gw->lag_max_s = late;
            gw->lag_max_ns = t_ns;
        }
        gw->lag_last_s = late;
        gw->has_lag = true;
    }
    c->last_beat_ns = t_ns;
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
    /* Heartbeats are exempt from the libraries' own send caps. */
    if (ev->kind == EV_GW_SEND && g->op != LC_GW_OP_HEARTBEAT)
        c->sent_ns[c->n_sent++ % LC_GW_SEND_CAP] = ev->t_ns;
    switch (g->op) {
    case LC_GW_OP_HEARTBEAT:
        if (ev->kind != EV_GW_SEND)
            break; /* Discord asking for a beat: the answer is what counts */
        /* A second beat before the ACK restarts the measurement, as the
         * libraries' own timers do. */
        c->heartbeat_pending = true;
        c->heartbeat_sent_ns = ev->t_ns;
        lc_gw_on_beat_unlocked(gw, c, ev->t_ns);
        break;
    case LC_GW_OP_HELLO:
        c->heartbeat_interval_ms = g->u.hello.heartbeat_interval_ms;
        c->last_beat_ns = ev->t_ns;
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
    uint64_t dropped_users = gw->dropped_users, dropped_dms = gw->dropped_dms;
    gw->dropped_users = gw->dropped_dms = 0;
    pthread_mutex_unlock(&gw->mu);

    if (dropped_users > 0)
        reg_counter_add(gw->dropped, REG_ATTRS({"table", "users"}), dropped_users);
    if (dropped_dms > 0)
        reg_counter_add(gw->dropped, REG_ATTRS({"table", "dm_channels"}), dropped_dms);

    if (new_shard >= 0)
        lc_gw_record_shard(gw->reconnects, new_shard, NULL, 0);
    if (reconnect_shard >= 0)
        lc_gw_record_shard(gw->reconnects, reconnect_shard, NULL, 1);
}

void lc_gw_on_kind(struct lc_gw *gw, const struct argus_event *ev)
{
    if (!gw || ev->kind != EV_CONN_KIND || ev->conn_kind != CONN_KIND_VOICE)
        return;
    pthread_mutex_lock(&gw->mu);
    lc_map_put(&gw->voice_conns, ev->conn_id, 0);
    pthread_mutex_unlock(&gw->mu);
}

void lc_gw_on_close(struct lc_gw *gw, const struct argus_event *ev)
{
    int disconnect_shard = -1;
    int code = ev->u.close.code > 0 ? ev->u.close.code : 1006;
    if (!gw || (ev->kind != EV_WS_CLOSE && ev->kind != EV_CONN_CLOSE))
        return;

    pthread_mutex_lock(&gw->mu);
    if (ev->kind == EV_CONN_CLOSE)
        lc_map_del(&gw->voice_conns, ev->conn_id);
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

struct reg_metric *lc_gw_dropped(struct lc_gw *gw)
{
    return gw ? gw->dropped : NULL;
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

/* Whether c wrote LC_GW_SEND_CAP payloads in the minute before now. */
static bool lc_gw_conn_capped(const struct lc_gw_conn *c, uint64_t now)
{
    if (c->n_sent < LC_GW_SEND_CAP)
        return false;
    uint64_t oldest = c->sent_ns[c->n_sent % LC_GW_SEND_CAP];
    return now < oldest + LC_GW_SEND_WINDOW_NS;
}

static void lc_gw_observe_ratelimited(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    uint64_t now = clock_now_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&gw->mu);
    for (unsigned i = 0; i < gw->n_shards; i++) {
        const struct lc_gw_shard *s = &gw->shards[i];
        bool capped = false;
        char shard_s[12];
        for (unsigned j = 0; j < gw->n_conns && !capped; j++)
            capped = gw->conns[j].shard == s->id && lc_gw_conn_capped(&gw->conns[j], now);
        snprintf(shard_s, sizeof(shard_s), "%d", s->id);
        reg_observe_u64(obs, REG_ATTRS({"shard", shard_s}), capped);
    }
    pthread_mutex_unlock(&gw->mu);
}

static void lc_gw_observe_lag(struct reg_observer *obs, void *arg)
{
    struct lc_gw *gw = arg;
    uint64_t now = clock_now_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&gw->mu);
    bool has = gw->has_lag;
    double lag = now <= gw->lag_max_ns + LC_GW_LAG_WINDOW_NS ? gw->lag_max_s : gw->lag_last_s;
    pthread_mutex_unlock(&gw->mu);
    if (has)
        reg_observe(obs, REG_NO_ATTRS, lag);
}

/* The cache gauges: which count each one reads. */
enum lc_gw_cache {
    LC_GW_CACHE_USERS,
    LC_GW_CACHE_EMOJIS,
    LC_GW_CACHE_STICKERS,
    LC_GW_CACHE_DMS,
    LC_GW_CACHE_VOICE,
};

static void lc_gw_observe_cache(struct reg_observer *obs, struct lc_gw *gw, enum lc_gw_cache what)
{
    uint64_t n = 0;
    bool seen;
    pthread_mutex_lock(&gw->mu);
    seen = what == LC_GW_CACHE_DMS || what == LC_GW_CACHE_VOICE ? gw->guilds_seen : gw->caches_seen;
    switch (what) {
    case LC_GW_CACHE_USERS:
        n = lc_users_count(&gw->users);
        break;
    case LC_GW_CACHE_EMOJIS:
        n = gw->emojis;
        break;
    case LC_GW_CACHE_STICKERS:
        n = gw->stickers;
        break;
    case LC_GW_CACHE_DMS:
        n = (uint64_t)gw->ready_dms + lc_map_count(&gw->dms);
        break;
    case LC_GW_CACHE_VOICE: {
        /* Each voice client is one voice state with a channel and one
         * connection to a voice gateway; either may be seen first. */
        uint32_t states = lc_map_count(&gw->voice_guilds), conns = lc_map_count(&gw->voice_conns);
        n = states > conns ? states : conns;
        seen = seen || conns > 0;
        break;
    }
    }
    pthread_mutex_unlock(&gw->mu);
    if (seen)
        reg_observe_u64(obs, REG_NO_ATTRS, n);
}

static void lc_gw_observe_users(struct reg_observer *obs, void *arg)
{
    lc_gw_observe_cache(obs, arg, LC_GW_CACHE_USERS);
}

static void lc_gw_observe_emojis(struct reg_observer *obs, void *arg)
{
    lc_gw_observe_cache(obs, arg, LC_GW_CACHE_EMOJIS);
}

static void lc_gw_observe_stickers(struct reg_observer *obs, void *arg)
{
    lc_gw_observe_cache(obs, arg, LC_GW_CACHE_STICKERS);
}

static void lc_gw_observe_dms(struct reg_observer *obs, void *arg)
{
    lc_gw_observe_cache(obs, arg, LC_GW_CACHE_DMS);
}

static void lc_gw_observe_voice(struct reg_observer *obs, void *arg)
{
    lc_gw_observe_cache(obs, arg, LC_GW_CACHE_VOICE);
}

/* ---- create / destroy ---------------------------------------------------- */

struct lc_gw *lc_gw_create(struct reg *reg, const char *ns)
{
    char name[REG_NAME_MAX];
    struct lc_gw *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return NULL;
    gw->commands_registered = -1;
    pthread_mutex_init(&gw->mu, NULL);
    if (lc_map_init(&gw->guilds, LC_GW_MAX_GUILDS) < 0 ||
        lc_users_init(&gw->users, LC_GW_MAX_MEMBERSHIPS) < 0 ||
        lc_map_init(&gw->dms, LC_GW_MAX_DMS) < 0 ||
        lc_map_init(&gw->voice_guilds, LC_GW_MAX_GUILDS) < 0 ||
        lc_map_init(&gw->voice_conns, LC_GW_MAX_CONNS) < 0) {
        lc_gw_destroy(gw);
        return NULL;
    }

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
    gw->dropped = reg_counter(reg, "argus_state_dropped_total",
                              "Ids not kept because their table was full (users, dm_channels, "
                              "routes): the gauge built on it is then a lower bound",
                              "{id}", REG_NUMBER_U64);
    reg_counter_add(gw->dropped, REG_ATTRS({"table", "users"}), 0);
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
        {"shard_ws_ratelimited",
         "1 while the shard wrote its client's cap of gateway payloads in the last 60 s", "",
         REG_NUMBER_U64, 0, lc_gw_observe_ratelimited},
        {"event_loop_lag_seconds",
         "How late the bot's heartbeats left against HELLO's interval (largest in the last "
         "minute; a lower bound sampled at heartbeat cadence)",
         "s", REG_NUMBER_DOUBLE, REG_F_CLUSTER, lc_gw_observe_lag},
        {"cached_users", "Distinct users among the members the gateway sent", "{user}",
         REG_NUMBER_U64, REG_F_CLUSTER, lc_gw_observe_users},
        {"emojis", "Custom emojis of the bot's guilds", "{emoji}", REG_NUMBER_U64, REG_F_CLUSTER,
         lc_gw_observe_emojis},
        {"stickers", "Custom stickers of the bot's guilds", "{sticker}", REG_NUMBER_U64,
         REG_F_CLUSTER, lc_gw_observe_stickers},
        {"private_channels", "DM channels from READY and CHANNEL_CREATE", "{channel}",
         REG_NUMBER_U64, REG_F_CLUSTER, lc_gw_observe_dms},
        {"voice_clients", "Voice connections the bot holds", "{connection}", REG_NUMBER_U64,
         REG_F_CLUSTER, lc_gw_observe_voice},
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
    lc_users_fini(&gw->users);
    lc_map_fini(&gw->dms);
    lc_map_fini(&gw->voice_guilds);
    lc_map_fini(&gw->voice_conns);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}
